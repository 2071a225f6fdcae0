/* SPDX-License-Identifier: MIT */
/*
 * Command dispatch: validate each client message with the pure decoders of
 * src/proto, run it against the device, and answer (or not, for NO_REPLY).
 * Every failure is logged here once, with the reason, and becomes an error
 * reply carrying the errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_internal.h"

void uvf__reply_add(struct uvf_reply *reply, const void *buf, size_t len)
{
	if (!len)
		return;
	reply->iov[reply->iovcnt].iov_base = (void *)buf;
	reply->iov[reply->iovcnt].iov_len = len;
	reply->iovcnt++;
}

void uvf__reply_add_small(struct uvf_reply *reply, const void *buf, size_t len)
{
	size_t used = 0;
	for (int i = 1; i < reply->iovcnt; i++)
		if (reply->iov[i].iov_base >= (void *)reply->small &&
		    reply->iov[i].iov_base < (void *)(reply->small + sizeof(reply->small)))
			used += reply->iov[i].iov_len;
	memcpy(reply->small + used, buf, len);
	uvf__reply_add(reply, reply->small + used, len);
}

/* ------------------------------------------------------------------ */
/* VERSION                                                              */
/* ------------------------------------------------------------------ */

/* Create the twin socket: keep our end, put the client's in the reply
 * (fd index 0, closed once the reply is sent). */
static int offer_twin_socket(struct uvf_device *dev, struct uvf_reply *reply)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int err = -errno;
		dev_warn(dev, "VERSION: no twin socket: socketpair failed: %s", uvf_strerror(err));
		return err;
	}
	/* our end is non-blocking like the main socket; the client's end is
	 * left as socketpair made it, blocking, for the client to choose */
	int flags = fcntl(sv[0], F_GETFL);
	int ret = (flags < 0 || fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) < 0) ? -errno : 0;
	/* DMA requests go out on it: the same room as the main socket's */
	uvf__sock_grow_send_buffer(sv[0]);
	if (ret == 0)
		ret = uvf__twin_attach(dev, sv[0]);
	if (ret < 0) {
		dev_warn(dev, "VERSION: no twin socket: %s", uvf_strerror(ret));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	reply->fds[0] = sv[1];
	reply->nfds = 1;
	reply->fds_owned = true;
	return 0;
}

static int handle_version(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body,
			  size_t len, size_t nfds, struct uvf_reply *reply, char *json, size_t json_cap)
{
	struct uvf_why why = {{0}};
	struct uvf_version_view v;
	int ret;

	ret = uvf__decode_version(body, len, nfds, 0, &v, &why);
	if (ret < 0)
		goto refuse;
	if (v.major != UVF_PROTO_MAJOR) {
		ret = uvf__why(&why, -EINVAL, "VERSION: client speaks major %u, we speak %u", v.major,
			       UVF_PROTO_MAJOR);
		goto refuse;
	}
	struct uvf_caps peer;
	if (v.json)
		ret = uvf__caps_parse(v.json, v.json_len, &peer, &why);
	else
		uvf__caps_defaults(&peer), ret = 0;
	if (ret < 0)
		goto refuse;
	dev->client_caps = peer;

	/* Our answer: what we accept. QEMU's client reads the reply into a
	 * buffer the size of its request, so when the full answer is longer,
	 * keys whose values are the protocol defaults are left out (the peer
	 * then assumes the same values). Keys with other values always stay. */
	struct uvf_caps ours;
	uvf__caps_defaults(&ours);
	ours.max_msg_fds = dev->opts.max_msg_fds;
	ours.max_data_xfer_size = dev->opts.max_data_xfer_size;
	ours.max_dma_maps = dev->opts.max_dma_maps;
	ours.has_max_dma_maps = true;
	ours.pgsizes = UVF_DEFAULT_PGSIZES;
	ours.has_pgsizes = true;
	ours.write_multiple = true; /* we accept REGION_WRITE_MULTI */
	/* Twin socket (docs/protocol.md 1.10): only when offered, allowed, and the
	 * reply may carry its fd (which a NO_REPLY VERSION would not). */
	if (peer.twin_socket && !dev->opts.no_twin_socket && peer.max_msg_fds >= 1 &&
	    !(hdr->flags & UVF_MSG_FLAG_NO_REPLY)) {
		ret = offer_twin_socket(dev, reply);
		if (ret == 0) {
			ours.twin_socket = true;
			ours.twin_socket_has_index = true;
			ours.twin_socket_fd_index = 0;
		}
	}
	ret = uvf__caps_encode(&ours, json, json_cap);
	if (ret >= 0 && sizeof(struct uvf_msg_version) + (size_t)ret > len) {
		ours.has_pgsizes = false;
		ours.has_max_dma_maps = ours.max_dma_maps != UVF_DEFAULT_MAX_DMA_MAPS;
		ret = uvf__caps_encode(&ours, json, json_cap);
	}
	if (ret < 0)
		return ret; /* our own bug: the buffer is sized for every key */
	/* minor: the lower of the two (ours is the lowest there is, 0) */
	struct uvf_msg_version ver_reply = {.major = UVF_PROTO_MAJOR, .minor = UVF_PROTO_MINOR};
	uvf__reply_add_small(reply, &ver_reply, sizeof(ver_reply));
	uvf__reply_add(reply, json, (size_t)ret);
	dev->negotiated = true;
	/* for device threads: our DMA_READ/WRITE size, then "connected" */
	uint32_t chunk = peer.max_data_xfer_size;
	if (chunk > dev->opts.max_data_xfer_size)
		chunk = dev->opts.max_data_xfer_size; /* our receive limit bounds DMA_READ replies */
	__atomic_store_n(&dev->dma_chunk, chunk, __ATOMIC_RELAXED);
	uvf__dma_inflight_set(dev);
	__atomic_store_n(&dev->client_live, true, __ATOMIC_RELEASE);
	dev_info(dev, "VERSION: client %u.%u, max_data_xfer_size %u, max_msg_fds %u%s%s", v.major, v.minor,
		 peer.max_data_xfer_size, peer.max_msg_fds, peer.write_multiple ? ", write_multiple" : "",
		 ours.twin_socket ? ", twin socket" : "");
	return 0;

refuse:
	dev_warn(dev, "%s", why.text);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The other commands                                                   */
/* ------------------------------------------------------------------ */

static int handle_dma_map(struct uvf_device *dev, const uint8_t *body, size_t len, int *fds, size_t nfds,
			  struct uvf_why *why)
{
	struct uvf_msg_dma_map map;
	int ret = uvf__decode_dma_map(body, len, nfds, 4096, false, &map, why);
	if (ret < 0)
		return ret;
	int fd = nfds ? fds[0] : -1;
	ret = uvf__dma_map(dev, &map, fd);
	if (ret >= 0 && fd >= 0)
		fds[0] = -1; /* kept (or already closed) by the DMA table */
	return ret;
}

static int handle_dma_unmap(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			    struct uvf_reply *reply, struct uvf_why *why)
{
	struct uvf_msg_dma_unmap unmap;
	int ret = uvf__decode_dma_unmap(body, len, nfds, &unmap, why);
	if (ret < 0)
		return ret;
	ret = uvf__dma_unmap(dev, &unmap);
	if (ret < 0)
		return ret;
	unmap.argsz = sizeof(unmap);
	uvf__reply_add_small(reply, &unmap, sizeof(unmap));
	return 0;
}

static int handle_device_info(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, struct uvf_why *why)
{
	struct uvf_msg_device_info info;
	int ret = uvf__decode_device_info_req(body, len, nfds, &info, why);
	if (ret < 0)
		return ret;
	info.argsz = sizeof(info);
	info.flags = UVF_DEVICE_FLAG_PCI | UVF_DEVICE_FLAG_RESET;
	info.num_regions = UVF_PCI_NUM_REGIONS;
	info.num_irqs = UVF_PCI_NUM_IRQS;
	uvf__reply_add_small(reply, &info, sizeof(info));
	return 0;
}

static int handle_region_info(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, uint8_t **caps_out, struct uvf_why *why)
{
	struct uvf_msg_region_info req, info;
	int ret = uvf__decode_region_info_req(body, len, nfds, &req, why);
	if (ret < 0)
		return ret;
	ret = uvf__region_info(dev, req.index, &info);
	if (ret < 0)
		return uvf__why(why, ret, "DEVICE_GET_REGION_INFO: no region %u (device has %u)", req.index,
				UVF_PCI_NUM_REGIONS);

	/* A mappable BAR: its memfd goes with a sparse-mmap capability, and
	 * only when the whole reply fits the client's argsz (otherwise the
	 * client learns the argsz to retry with) and it accepts an fd. */
	struct uvf_msg_region_sparse_area areas[UVF_SERVER_MAX_MMAP_AREAS];
	unsigned n = dev->client_caps.max_msg_fds ? uvf__region_mmap_areas(dev, req.index, areas) : 0;
	if (!n) {
		uvf__reply_add_small(reply, &info, sizeof(info));
		return 0;
	}
	size_t caps_len = sizeof(struct uvf_msg_region_cap_sparse_mmap) + n * sizeof(areas[0]);
	info.argsz = (uint32_t)(sizeof(info) + caps_len);
	if (req.argsz < info.argsz) {
		uvf__reply_add_small(reply, &info, sizeof(info));
		return 0;
	}
	uint8_t *caps = malloc(caps_len);
	if (!caps)
		return -ENOMEM;
	struct uvf_msg_region_cap_sparse_mmap cap = {
		.header = {.id = UVF_REGION_CAP_SPARSE_MMAP, .version = 1, .next = 0},
		.nr_areas = n,
	};
	memcpy(caps, &cap, sizeof(cap));
	memcpy(caps + sizeof(cap), areas, n * sizeof(areas[0]));
	info.flags |= UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS;
	info.cap_offset = sizeof(info);
	uvf__reply_add_small(reply, &info, sizeof(info));
	uvf__reply_add(reply, caps, caps_len);
	/* the device keeps its memfd: the sender only copies it */
	reply->fds[0] = dev->bars[req.index].mem_fd;
	reply->nfds = 1;
	*caps_out = caps;
	return 0;
}

static int handle_io_fds(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			 struct uvf_reply *reply, uint8_t **entries_out, struct uvf_why *why)
{
	struct uvf_msg_region_io_fds req;
	int ret = uvf__decode_region_io_fds_req(body, len, nfds, &req, why);
	if (ret < 0)
		return ret;

	/* One fd per ioeventfd, and no more fds than the client accepts: the
	 * ones left out still work, as REGION_WRITEs that we signal. */
	unsigned total = uvf__ioeventfd_count(dev, req.index);
	unsigned limit = dev->client_caps.max_msg_fds < UVF_SERVER_MAX_MSG_FDS ? dev->client_caps.max_msg_fds
										: UVF_SERVER_MAX_MSG_FDS;
	unsigned n = total < limit ? total : limit;
	if (n < total)
		dev_info(dev, "DEVICE_GET_REGION_IO_FDS: region %u has %u ioeventfds, the client takes %u fds: "
			      "the others stay reachable by REGION_WRITE", req.index, total, limit);
	size_t entries_len = (size_t)n * sizeof(struct uvf_msg_io_fd_entry);
	uint32_t needed = (uint32_t)(sizeof(req) + entries_len);
	bool fits = req.argsz >= needed;
	req.argsz = needed;
	req.count = n;
	uvf__reply_add_small(reply, &req, sizeof(req));
	if (!n || !fits)
		return 0; /* too small: the count and argsz to retry with, no entries, no fds */
	struct uvf_msg_io_fd_entry *entries = malloc(entries_len);
	if (!entries)
		return -ENOMEM;
	uvf__ioeventfd_entries(dev, req.index, n, entries, reply->fds);
	reply->nfds = n;
	uvf__reply_add(reply, entries, entries_len);
	*entries_out = (uint8_t *)entries;
	return 0;
}

static int handle_irq_info(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			   struct uvf_reply *reply, struct uvf_why *why)
{
	struct uvf_msg_irq_info info;
	int ret = uvf__decode_irq_info_req(body, len, nfds, &info, why);
	if (ret < 0)
		return ret;
	uint32_t index = info.index;
	ret = uvf__irq_info(dev, index, &info);
	if (ret < 0 && (index == UVF_PCI_ERR_IRQ || index == UVF_PCI_REQ_IRQ)) {
		/* an ordinary question with a "no" for an answer */
		dev_debug(dev, "DEVICE_GET_IRQ_INFO: the device has no %s interrupt",
			  index == UVF_PCI_ERR_IRQ ? "ERR" : "REQ");
		return ret;
	}
	if (ret < 0)
		return uvf__why(why, ret, "DEVICE_GET_IRQ_INFO: no IRQ index %u", index);
	uvf__reply_add_small(reply, &info, sizeof(info));
	return 0;
}

static int handle_set_irqs(struct uvf_device *dev, const uint8_t *body, size_t len, int *fds, size_t nfds,
			   bool fds_overflow, struct uvf_why *why)
{
	struct uvf_irq_set_view view;
	if (fds_overflow)
		return uvf__why(why, -EINVAL, "DEVICE_SET_IRQS: more fds than we accept (max %u)",
				dev->opts.max_msg_fds);
	if (nfds > dev->opts.max_msg_fds)
		return uvf__why(why, -EINVAL, "DEVICE_SET_IRQS: %zu fds, we advertised at most %u", nfds,
				dev->opts.max_msg_fds);
	int ret = uvf__decode_irq_set(body, len, nfds, &view, why);
	if (ret < 0)
		return ret;
	return uvf__irq_set(dev, &view, fds, nfds);
}

static int handle_region_read(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, uint8_t **data_out, struct uvf_why *why)
{
	struct uvf_region_access_view v;
	int ret = uvf__decode_region_read_req(body, len, nfds, dev->opts.max_data_xfer_size, &v, why);
	if (ret < 0)
		return ret;
	/* a register-sized read is answered from the reply's own storage:
	 * no allocation per request */
	uint8_t small[sizeof(reply->small) - sizeof(v.access)];
	bool is_small = v.access.count <= sizeof(small);
	uint8_t *data = is_small ? small : malloc(v.access.count);
	if (!data)
		return -ENOMEM;
	ret = uvf__region_access(dev, v.access.region, v.access.offset, data, v.access.count, false,
				 "REGION_READ");
	if (ret < 0) {
		if (!is_small)
			free(data);
		return ret;
	}
	uvf__reply_add_small(reply, &v.access, sizeof(v.access));
	if (is_small) {
		uvf__reply_add_small(reply, data, v.access.count);
		return 0;
	}
	uvf__reply_add(reply, data, v.access.count);
	*data_out = data;
	return 0;
}

static int handle_region_write(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			       struct uvf_reply *reply, struct uvf_why *why)
{
	struct uvf_region_access_view v;
	int ret = uvf__decode_region_write_req(body, len, nfds, dev->opts.max_data_xfer_size, &v, why);
	if (ret < 0)
		return ret;
	ret = uvf__region_access(dev, v.access.region, v.access.offset, (void *)v.data, v.access.count, true,
				 "REGION_WRITE");
	if (ret < 0)
		return ret;
	uvf__reply_add_small(reply, &v.access, sizeof(v.access));
	return 0;
}

static int handle_write_multi(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, struct uvf_why *why)
{
	struct uvf_write_multi_view v;
	int ret = uvf__decode_write_multi(body, len, nfds, &v, why);
	if (ret < 0)
		return ret;
	/* applied in order; the first failure stops and is reported */
	for (uint64_t i = 0; i < v.wr_cnt; i++) {
		struct uvf_msg_write_multi_entry e;
		memcpy(&e, (const uint8_t *)v.entries + i * sizeof(e), sizeof(e));
		ret = uvf__region_access(dev, e.region, e.offset, e.data, e.count, true, "REGION_WRITE_MULTI");
		if (ret < 0)
			return uvf__why(why, ret, "REGION_WRITE_MULTI: entry %llu of %llu failed, the ones before applied",
					(unsigned long long)i, (unsigned long long)v.wr_cnt);
	}
	struct uvf_msg_write_multi out = {.wr_cnt = v.wr_cnt};
	uvf__reply_add_small(reply, &out, sizeof(out));
	return 0;
}

static int handle_reset(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			struct uvf_why *why)
{
	int ret = uvf__decode_device_reset(body, len, nfds, why);
	if (ret < 0)
		return ret;
	/* the reset callback still sees the migration state it resets from */
	ret = uvf__function_reset(dev, UVF_RESET_CLIENT);
	if (ret < 0)
		return uvf__why(why, ret, "DEVICE_RESET: the device's reset failed: %s", uvf_strerror(ret));
	uvf__migration_reset(dev); /* RUNNING, streams dropped; the only way out of ERROR */
	dev_info(dev, "DEVICE_RESET done");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entry point                                                          */
/* ------------------------------------------------------------------ */

static int send_reply(struct uvf_device *dev, const struct uvf_msg_header *req, struct uvf_reply *reply, int err)
{
	struct uvf_msg_header hdr;
	size_t size = UVF_MSG_HEADER_SIZE;

	if (err) {
		uvf__msg_error_reply(&hdr, req, -err);
		reply->iovcnt = 1;
		reply->nfds = 0;
	} else {
		for (int i = 1; i < reply->iovcnt; i++)
			size += reply->iov[i].iov_len;
		uvf__msg_header_init(&hdr, req->msg_id, req->command, (uint32_t)size, UVF_MSG_TYPE_REPLY, 0);
	}
	reply->iov[0].iov_base = &hdr;
	reply->iov[0].iov_len = sizeof(hdr);
	return uvf__send_to_client(dev, reply->iov, reply->iovcnt, reply->fds, reply->nfds);
}

int uvf__handle_message(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, int *fds,
			size_t nfds, bool fds_overflow)
{
	struct uvf_why why = {{0}};
	struct uvf_reply reply;
	char json[UVF_CAPS_JSON_MAX];
	uint8_t *read_data = NULL; /* reply payload a handler allocated, freed once sent */
	size_t len = hdr->msg_size - UVF_MSG_HEADER_SIZE;
	int ret;
	bool fatal = false;

	memset(&reply, 0, sizeof(reply));
	reply.iovcnt = 1;

	if ((hdr->flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_REPLY) {
		/* a reply to an asynchronous DMA request of ours, or else a
		 * late or stray one */
		if (uvf__dma_async_reply(dev, hdr, body, nfds))
			return 0;
		dev_warn(dev, "ignoring a %s reply (id %u) that answers nothing outstanding",
			 uvf__cmd_name(hdr->command), hdr->msg_id);
		return 0;
	}

	if (!dev->negotiated && hdr->command != UVF_CMD_VERSION) {
		uvf__why(&why, -EINVAL, "%s before VERSION", uvf__cmd_name(hdr->command));
		ret = -EINVAL;
		fatal = true;
		goto out;
	}
	if (fds_overflow && hdr->command != UVF_CMD_DEVICE_SET_IRQS) {
		ret = uvf__why(&why, -EINVAL, "%s: too many file descriptors attached", uvf__cmd_name(hdr->command));
		goto out;
	}
	/* commands the migration state does not admit (docs/migration.md) */
	ret = uvf__migration_gate(dev, hdr->command, &why);
	if (ret < 0)
		goto out;

	switch (hdr->command) {
	case UVF_CMD_VERSION:
		if (dev->negotiated) {
			ret = uvf__why(&why, -EINVAL, "VERSION: already negotiated");
			break;
		}
		ret = handle_version(dev, hdr, body, len, nfds, &reply, json, sizeof(json));
		if (ret < 0) {
			fatal = true; /* no protocol without an agreed version */
			why.text[0] = '\0';
		}
		break;
	case UVF_CMD_DMA_MAP:
		ret = handle_dma_map(dev, body, len, fds, nfds, &why);
		break;
	case UVF_CMD_DMA_UNMAP:
		ret = handle_dma_unmap(dev, body, len, nfds, &reply, &why);
		break;
	case UVF_CMD_DEVICE_GET_INFO:
		ret = handle_device_info(dev, body, len, nfds, &reply, &why);
		break;
	case UVF_CMD_DEVICE_GET_REGION_INFO:
		ret = handle_region_info(dev, body, len, nfds, &reply, &read_data, &why);
		break;
	case UVF_CMD_DEVICE_GET_REGION_IO_FDS:
		ret = handle_io_fds(dev, body, len, nfds, &reply, &read_data, &why);
		break;
	case UVF_CMD_DEVICE_GET_IRQ_INFO:
		ret = handle_irq_info(dev, body, len, nfds, &reply, &why);
		break;
	case UVF_CMD_DEVICE_SET_IRQS:
		ret = handle_set_irqs(dev, body, len, fds, nfds, fds_overflow, &why);
		break;
	case UVF_CMD_REGION_READ:
		ret = handle_region_read(dev, body, len, nfds, &reply, &read_data, &why);
		break;
	case UVF_CMD_REGION_WRITE:
		ret = handle_region_write(dev, body, len, nfds, &reply, &why);
		break;
	case UVF_CMD_DEVICE_RESET:
		ret = handle_reset(dev, body, len, nfds, &why);
		break;
	case UVF_CMD_REGION_WRITE_MULTI:
		/* allowed because we advertise write_multiple (whatever the client's caps say) */
		ret = handle_write_multi(dev, body, len, nfds, &reply, &why);
		break;
	case UVF_CMD_DMA_READ:
	case UVF_CMD_DMA_WRITE:
		ret = uvf__why(&why, -EINVAL, "%s: a server-to-client command sent by the client",
			       uvf__cmd_name(hdr->command));
		break;
	case UVF_CMD_DEVICE_FEATURE:
		ret = uvf__handle_device_feature(dev, body, len, nfds, &reply, &read_data, &why);
		break;
	case UVF_CMD_MIGRATION_DATA_READ:
		ret = uvf__handle_mig_data_read(dev, body, len, nfds, &reply, &read_data, &why);
		break;
	case UVF_CMD_MIGRATION_DATA_WRITE:
		ret = uvf__handle_mig_data_write(dev, body, len, nfds, &why);
		break;
	default:
		ret = uvf__why(&why, -ENOSYS, "unknown command %u", hdr->command);
		break;
	}

out:
	if (ret < 0 && why.text[0])
		dev_warn(dev, "%s", why.text);
	size_t reply_nfds = reply.nfds; /* an error reply sends none */
	if (!(hdr->flags & UVF_MSG_FLAG_NO_REPLY) && dev->conn_fd >= 0) {
		if (send_reply(dev, hdr, &reply, ret < 0 ? ret : 0) < 0)
			fatal = true;
	}
	if (reply.fds_owned)
		for (size_t i = 0; i < reply_nfds; i++)
			close(reply.fds[i]);
	free(read_data);
	return fatal ? (ret < 0 ? ret : -EPIPE) : 0;
}
