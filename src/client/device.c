/* SPDX-License-Identifier: MIT */
/*
 * Device discovery (DEVICE_GET_INFO, DEVICE_GET_REGION_INFO,
 * DEVICE_GET_IRQ_INFO), region access (REGION_READ/WRITE, config space
 * helpers) and DEVICE_RESET.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client_internal.h"

/* First argsz of DEVICE_GET_REGION_INFO: the fixed part, a TYPE capability
 * and a full sparse-mmap capability, so that most regions need one round
 * trip; the server asks for more when its chain is longer. */
#define REGION_INFO_FIRST_ARGSZ                                                                                        \
	(sizeof(struct uvf_msg_region_info) + sizeof(struct uvf_msg_region_cap_type) +                                 \
	 sizeof(struct uvf_msg_region_cap_sparse_mmap) +                                                               \
	 UVF_CLIENT_MAX_SPARSE_AREAS * sizeof(struct uvf_msg_region_sparse_area))

/* A server that keeps asking for a bigger argsz is broken. */
#define REGION_INFO_MAX_TRIES 3

/* ------------------------------------------------------------------ */
/* Discovery                                                            */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_device_info(struct uvf_client *client, struct uvf_msg_device_info *out)
{
	struct uvf_msg_device_info req = {.argsz = sizeof(req)};
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	struct uvf_client_reply reply;
	struct uvf_msg_device_info info;
	struct uvf_why why = {{0}};
	int rc;

	rc = uvf__client_request(client, UVF_CMD_DEVICE_GET_INFO, &iov, 1, NULL, 0, &reply);
	if (rc)
		return rc;
	rc = uvf__decode_device_info_reply(reply.payload, reply.len, reply.nfds, UVF_CLIENT_MAX_REGIONS,
					   UVF_CLIENT_MAX_IRQS, &info, &why);
	uvf__client_reply_done(client);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "bad DEVICE_GET_INFO reply: %s", why.text);
		return -EPROTO;
	}
	pthread_mutex_lock(&client->lock);
	client->device_info = info;
	client->have_device_info = true;
	pthread_mutex_unlock(&client->lock);
	if (out)
		*out = info;
	return 0;
}

int uvf__client_ensure_device_info(struct uvf_client *client)
{
	if (uvf__client_cached_device_info(client, NULL))
		return 0;
	return uvf_client_device_info(client, NULL);
}

/* Keep fd (now ours) as the mmap fd of region index, replacing and closing
 * an older one: the newest reply describes the region. fd -1 forgets it.
 * Called with client->lock held. */
static int store_region_fd_locked(struct uvf_client *client, uint32_t index, int fd)
{
	struct uvf_client_region_fd *grown;

	for (size_t i = 0; i < client->nregion_fds; i++) {
		if (client->region_fds[i].index != index)
			continue;
		close(client->region_fds[i].fd);
		if (fd >= 0) {
			client->region_fds[i].fd = fd;
		} else {
			client->region_fds[i] = client->region_fds[client->nregion_fds - 1];
			client->nregion_fds--;
		}
		return 0;
	}
	if (fd < 0)
		return 0;
	grown = realloc(client->region_fds, (client->nregion_fds + 1) * sizeof(*grown));
	if (grown == NULL) {
		close(fd);
		return -ENOMEM;
	}
	client->region_fds = grown;
	client->region_fds[client->nregion_fds].index = index;
	client->region_fds[client->nregion_fds].fd = fd;
	client->nregion_fds++;
	return 0;
}

static void fill_region(struct uvf_client *client, const struct uvf_region_info_view *view,
			struct uvf_client_region *out)
{
	uint32_t n = view->nr_sparse_areas;

	memset(out, 0, sizeof(*out));
	out->index = view->info.index;
	out->flags = view->info.flags;
	out->size = view->info.size;
	out->offset = view->info.offset;
	out->fd = -1;
	if (n > UVF_CLIENT_MAX_SPARSE_AREAS) {
		/* Mapping fewer areas is safe: the rest is reached by
		 * REGION_READ/WRITE. */
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: %u sparse areas, only the first %u are used",
			   (unsigned)out->index, (unsigned)n, UVF_CLIENT_MAX_SPARSE_AREAS);
		n = UVF_CLIENT_MAX_SPARSE_AREAS;
	}
	if (n > 0)
		memcpy(out->sparse_areas, view->sparse_areas, n * sizeof(out->sparse_areas[0]));
	out->nr_sparse_areas = n;
	out->has_type = view->has_type;
	out->type = view->type;
	out->subtype = view->subtype;
}

/* The first version of struct uvf_client_region ends with `subtype`: a
 * caller's argsz must cover at least that much. */
#define CLIENT_REGION_MIN_ARGSZ (offsetof(struct uvf_client_region, subtype) + sizeof(uint32_t))

UVF_API int uvf_client_region_info(struct uvf_client *client, uint32_t index, struct uvf_client_region *out)
{
	uint32_t argsz = REGION_INFO_FIRST_ARGSZ;
	struct uvf_msg_device_info dev;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (out == NULL)
		return -EINVAL;
	if (out->argsz < CLIENT_REGION_MIN_ARGSZ) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: struct uvf_client_region argsz %u below %u",
			   (unsigned)index, (unsigned)out->argsz, (unsigned)CLIENT_REGION_MIN_ARGSZ);
		return -EINVAL;
	}
	if (uvf__client_cached_device_info(client, &dev) && index >= dev.num_regions) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: the device has %u regions", (unsigned)index,
			   (unsigned)dev.num_regions);
		return -EINVAL;
	}
	for (int attempt = 0; attempt < REGION_INFO_MAX_TRIES; attempt++) {
		struct uvf_msg_region_info req = {.argsz = argsz, .index = index};
		struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
		struct uvf_region_info_view view;
		struct uvf_client_reply reply;
		struct uvf_why why = {{0}};
		struct uvf_client_region full;
		int fd = -1;

		rc = uvf__client_request(client, UVF_CMD_DEVICE_GET_REGION_INFO, &iov, 1, NULL, 0, &reply);
		if (rc)
			return rc;
		rc = uvf__decode_region_info_reply(reply.payload, reply.len, reply.nfds, index, &view, &why);
		if (rc) {
			uvf__client_reply_done(client);
			CLIENT_LOG(client, UVF_LOG_WARNING, "bad DEVICE_GET_REGION_INFO reply: %s", why.text);
			return -EPROTO;
		}
		if (view.truncated) {
			uint32_t need = view.info.argsz;

			/* Any fd that came with the short reply is closed here. */
			uvf__client_reply_done(client);
			if (need <= argsz || need > UVF_CLIENT_REGION_INFO_MAX_ARGSZ) {
				CLIENT_LOG(client, UVF_LOG_WARNING,
					   "region %u: server asks for argsz %u after %u (limit %u)", (unsigned)index,
					   (unsigned)need, (unsigned)argsz, UVF_CLIENT_REGION_INFO_MAX_ARGSZ);
				return -EPROTO;
			}
			argsz = need;
			continue;
		}
		fill_region(client, &view, &full);
		if (reply.nfds == 1)
			uvf__client_reply_take_fds(&reply, &fd, 1);
		uvf__client_reply_done(client);
		pthread_mutex_lock(&client->lock);
		rc = store_region_fd_locked(client, index, fd);
		pthread_mutex_unlock(&client->lock);
		if (rc)
			return rc;
		full.fd = fd;
		/* Only what the caller's struct holds (it may predate ours). */
		full.argsz = out->argsz < sizeof(full) ? out->argsz : (uint32_t)sizeof(full);
		memcpy(out, &full, full.argsz);
		return 0;
	}
	CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: server keeps asking for a bigger argsz", (unsigned)index);
	return -EPROTO;
}

UVF_API int uvf_client_irq_info(struct uvf_client *client, uint32_t index, struct uvf_msg_irq_info *out)
{
	struct uvf_msg_irq_info req = {.argsz = sizeof(req), .index = index};
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	struct uvf_client_reply reply;
	struct uvf_msg_irq_info info;
	struct uvf_msg_device_info dev;
	struct uvf_why why = {{0}};
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (out == NULL)
		return -EINVAL;
	if (uvf__client_cached_device_info(client, &dev) && index >= dev.num_irqs) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "IRQ index %u: the device has %u", (unsigned)index,
			   (unsigned)dev.num_irqs);
		return -EINVAL;
	}
	rc = uvf__client_request(client, UVF_CMD_DEVICE_GET_IRQ_INFO, &iov, 1, NULL, 0, &reply);
	if (rc)
		return rc;
	rc = uvf__decode_irq_info_reply(reply.payload, reply.len, reply.nfds, index, &info, &why);
	uvf__client_reply_done(client);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "bad DEVICE_GET_IRQ_INFO reply: %s", why.text);
		return -EPROTO;
	}
	*out = info;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Region access                                                        */
/* ------------------------------------------------------------------ */

static int check_access(struct uvf_client *client, const char *what, uint32_t region, uint64_t offset, const void *buf,
			size_t len)
{
	struct uvf_msg_device_info dev;
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	if ((buf == NULL && len > 0) || offset + len < offset) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "%s region %u: offset 0x%llx + %zu wraps or no buffer", what,
			   (unsigned)region, (unsigned long long)offset, len);
		return -EINVAL;
	}
	if (uvf__client_cached_device_info(client, &dev) && region >= dev.num_regions) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "%s region %u: the device has %u regions", what, (unsigned)region,
			   (unsigned)dev.num_regions);
		return -EINVAL;
	}
	return 0;
}

UVF_API int uvf_client_region_read(struct uvf_client *client, uint32_t region, uint64_t offset, void *buf, size_t len)
{
	uint32_t chunk;
	size_t done = 0;
	int rc;

	rc = check_access(client, "REGION_READ", region, offset, buf, len);
	if (rc)
		return rc;
	/* The server takes at most its limit per request, and we receive at
	 * most ours per reply. */
	chunk = client->caps.max_data_xfer_size < client->our_max_xfer ? client->caps.max_data_xfer_size
								       : client->our_max_xfer;
	while (done < len) {
		uint32_t n = len - done < chunk ? (uint32_t)(len - done) : chunk;
		struct uvf_msg_region_access req = {.offset = offset + done, .region = region, .count = n};
		struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
		struct uvf_region_access_view view;
		struct uvf_client_reply reply;
		struct uvf_why why = {{0}};

		rc = uvf__client_request(client, UVF_CMD_REGION_READ, &iov, 1, NULL, 0, &reply);
		if (rc)
			return rc;
		rc = uvf__decode_region_read_reply(reply.payload, reply.len, reply.nfds, &req, &view, &why);
		if (rc == 0)
			memcpy((uint8_t *)buf + done, view.data, n);
		uvf__client_reply_done(client);
		if (rc) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "bad REGION_READ reply: %s", why.text);
			return -EPROTO;
		}
		done += n;
	}
	return 0;
}

UVF_API int uvf_client_region_write(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
				    size_t len)
{
	uint32_t chunk;
	size_t done = 0;
	int rc;

	rc = check_access(client, "REGION_WRITE", region, offset, buf, len);
	if (rc)
		return rc;
	chunk = client->caps.max_data_xfer_size;
	while (done < len) {
		uint32_t n = len - done < chunk ? (uint32_t)(len - done) : chunk;
		struct uvf_msg_region_access req = {.offset = offset + done, .region = region, .count = n};
		struct iovec iov[2] = {
			{.iov_base = &req, .iov_len = sizeof(req)},
			{.iov_base = (uint8_t *)buf + done, .iov_len = n},
		};
		struct uvf_client_reply reply;
		struct uvf_why why = {{0}};

		rc = uvf__client_request(client, UVF_CMD_REGION_WRITE, iov, 2, NULL, 0, &reply);
		if (rc)
			return rc;
		rc = uvf__decode_region_write_reply(reply.payload, reply.len, reply.nfds, &req, &why);
		uvf__client_reply_done(client);
		if (rc) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "bad REGION_WRITE reply: %s", why.text);
			return -EPROTO;
		}
		done += n;
	}
	return 0;
}

UVF_API int uvf_client_config_read8(struct uvf_client *client, uint32_t offset, uint8_t *value)
{
	if (value == NULL)
		return -EINVAL;
	return uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, offset, value, sizeof(*value));
}

UVF_API int uvf_client_config_read16(struct uvf_client *client, uint32_t offset, uint16_t *value)
{
	uint16_t le;
	int rc;

	if (value == NULL)
		return -EINVAL;
	rc = uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, offset, &le, sizeof(le));
	if (rc == 0)
		*value = le16toh(le);
	return rc;
}

UVF_API int uvf_client_config_read32(struct uvf_client *client, uint32_t offset, uint32_t *value)
{
	uint32_t le;
	int rc;

	if (value == NULL)
		return -EINVAL;
	rc = uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, offset, &le, sizeof(le));
	if (rc == 0)
		*value = le32toh(le);
	return rc;
}

UVF_API int uvf_client_config_write8(struct uvf_client *client, uint32_t offset, uint8_t value)
{
	return uvf_client_region_write(client, UVF_PCI_CONFIG_REGION, offset, &value, sizeof(value));
}

UVF_API int uvf_client_config_write16(struct uvf_client *client, uint32_t offset, uint16_t value)
{
	uint16_t le = htole16(value);

	return uvf_client_region_write(client, UVF_PCI_CONFIG_REGION, offset, &le, sizeof(le));
}

UVF_API int uvf_client_config_write32(struct uvf_client *client, uint32_t offset, uint32_t value)
{
	uint32_t le = htole32(value);

	return uvf_client_region_write(client, UVF_PCI_CONFIG_REGION, offset, &le, sizeof(le));
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_reset(struct uvf_client *client)
{
	struct uvf_msg_device_info dev;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	rc = uvf__client_ensure_device_info(client);
	if (rc)
		return rc;
	uvf__client_cached_device_info(client, &dev);
	if (!(dev.flags & UVF_DEVICE_FLAG_RESET)) {
		CLIENT_LOG(client, UVF_LOG_INFO, "DEVICE_RESET: the device does not support reset");
		return -ENOTSUP;
	}
	return uvf__client_simple(client, UVF_CMD_DEVICE_RESET, NULL, 0, NULL, 0, 0);
}
