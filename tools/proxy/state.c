/* SPDX-License-Identifier: MIT */
/*
 * The session the proxy keeps for a restarted server, and its replay.
 * Recording looks only at requests the server accepted (its success
 * reply, or a NO_REPLY request sent); every length is checked here again,
 * as nothing above the wire has decoded these messages.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy.h"
#include "proxy/state.h"

#define PCI_COMMAND	    0x04u
#define PCI_STATUS	    0x06u /* RW1C bits: never written again */
#define PCI_CAPABILITY_LIST 0x34u
#define PCI_CAP_ID_MSIX	    0x11u

struct proxy_msg *proxy_msg_copy(const struct uvf_wire_msg *m, uint64_t seq, uint64_t now_ns)
{
	struct proxy_msg *c = malloc(sizeof(*c) + m->len);

	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->refs = 1;
	c->seq = seq;
	c->since_ns = now_ns;
	c->hdr = m->hdr;
	c->len = m->len;
	if (m->len)
		memcpy(c->payload, m->payload, m->len);
	for (size_t i = 0; i < m->nfds; i++) {
		c->fds[i] = fcntl_dupfd(m->fds[i]);
		if (c->fds[i] < 0) {
			c->nfds = i;
			proxy_msg_put(c);
			return NULL;
		}
	}
	c->nfds = m->nfds;
	return c;
}

void proxy_msg_get(struct proxy_msg *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void proxy_msg_put(struct proxy_msg *m)
{
	if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	free(m);
}

int proxy_state_init(struct proxy_state *st)
{
	memset(st, 0, sizeof(*st));
	st->relay_epoll = -1;
	st->relay_stop = -1;
	for (unsigned r = 0; r < UVF_PCI_NUM_REGIONS; r++)
		st->io[r] = (struct proxy_io_region){0};
	pthread_mutex_init(&st->relay_lock, NULL);
	return 0;
}

static void forget_io(struct proxy_io_region *io)
{
	for (size_t i = 0; i < io->nfds; i++) {
		close(io->fds[i].fd);
		if (io->fds[i].relay_to >= 0)
			close(io->fds[i].relay_to);
	}
	free(io->fds);
	io->fds = NULL;
	io->nfds = 0;
}

void proxy_state_destroy(struct proxy_state *st)
{
	proxy_relay_stop(st);
	free(st->version);
	while (st->dma) {
		struct proxy_dma_map *d = st->dma;

		st->dma = d->next;
		if (d->fd >= 0)
			close(d->fd);
		free(d);
	}
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		if (!st->irq_fds[i])
			continue;
		for (unsigned v = 0; v < PROXY_MAX_VECTORS; v++)
			if (st->irq_fds[i][v] >= 0)
				close(st->irq_fds[i][v]);
		free(st->irq_fds[i]);
	}
	free(st->bar_dwords);
	for (unsigned r = 0; r < UVF_PCI_NUM_REGIONS; r++)
		forget_io(&st->io[r]);
	pthread_mutex_destroy(&st->relay_lock);
}

/* ------------------------------------------------------------------ */
/* Recording                                                            */
/* ------------------------------------------------------------------ */

static void note_dma_map(struct proxy_state *st, const struct proxy_msg *req)
{
	struct proxy_dma_map *d;

	if (req->len != sizeof(struct uvf_msg_dma_map) || req->nfds > 1)
		return;
	d = calloc(1, sizeof(*d));
	if (!d) {
		proxy_log("no memory to keep a DMA mapping: it will not be replayed");
		return;
	}
	memcpy(&d->map, req->payload, sizeof(d->map));
	d->fd = req->nfds ? fcntl_dupfd(req->fds[0]) : -1;
	if (req->nfds && d->fd < 0) {
		proxy_log("cannot keep a DMA mapping's fd: it will not be replayed");
		free(d);
		return;
	}
	d->next = st->dma;
	st->dma = d;
	st->ndma++;
}

static void note_dma_unmap(struct proxy_state *st, const struct proxy_msg *req)
{
	struct uvf_msg_dma_unmap u;
	struct proxy_dma_map **at = &st->dma;

	if (req->len < sizeof(u))
		return;
	memcpy(&u, req->payload, sizeof(u));
	/* what the server removed: everything, the exact mapping, or every
	 * mapping inside the range (docs/design.md, DMA_UNMAP) */
	while (*at) {
		struct proxy_dma_map *d = *at;
		bool gone =
			(u.flags & UVF_DMA_UNMAP_FLAG_ALL) || (d->map.address >= u.address && d->map.size <= u.size &&
							       d->map.address - u.address <= u.size - d->map.size);

		if (gone) {
			*at = d->next;
			if (d->fd >= 0)
				close(d->fd);
			free(d);
			st->ndma--;
		} else {
			at = &d->next;
		}
	}
}

static void note_set_irqs(struct proxy_state *st, const struct proxy_msg *req)
{
	struct uvf_msg_irq_set set;
	uint32_t data, action;
	int **slot;

	if (req->len < sizeof(set))
		return;
	memcpy(&set, req->payload, sizeof(set));
	if (set.index >= UVF_PCI_NUM_IRQS || set.start > PROXY_MAX_VECTORS || set.count > PROXY_MAX_VECTORS - set.start)
		return;
	data = set.flags & UVF_IRQ_SET_DATA_BITS;
	action = set.flags & UVF_IRQ_SET_ACTION_BITS;
	slot = &st->irq_fds[set.index];
	if (data == UVF_IRQ_SET_DATA_NONE && action == UVF_IRQ_SET_ACTION_TRIGGER && set.count == 0) {
		/* the index switched off: its eventfds are gone */
		if (*slot)
			for (unsigned v = 0; v < PROXY_MAX_VECTORS; v++)
				if ((*slot)[v] >= 0) {
					close((*slot)[v]);
					(*slot)[v] = -1;
				}
		return;
	}
	if (data != UVF_IRQ_SET_DATA_EVENTFD || action != UVF_IRQ_SET_ACTION_TRIGGER)
		return;
	if (req->nfds != 0 && req->nfds != set.count)
		return;
	if (!*slot) {
		*slot = malloc(PROXY_MAX_VECTORS * sizeof(int));
		if (!*slot) {
			proxy_log("no memory to keep IRQ eventfds: they will not be replayed");
			return;
		}
		for (unsigned v = 0; v < PROXY_MAX_VECTORS; v++)
			(*slot)[v] = -1;
	}
	for (uint32_t i = 0; i < set.count; i++) {
		int *fd = &(*slot)[set.start + i];

		if (*fd >= 0)
			close(*fd);
		/* no fds: the vectors' eventfds are taken away */
		*fd = req->nfds ? fcntl_dupfd(req->fds[i]) : -1;
	}
}

/* The slot of a BAR dword in the kept table: its own, or the free one to
 * take, or NULL when the table is full and it is not there. */
static struct proxy_bar_dword *bar_dword(struct proxy_state *st, uint64_t key)
{
	size_t mask = PROXY_MAX_BAR_DWORDS * 2 - 1; /* at most half full */
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 40) & mask;

	for (;; i = (i + 1) & mask) {
		struct proxy_bar_dword *d = &st->bar_dwords[i];

		if (d->key == key)
			return d;
		if (d->key == 0) {
			if (st->nbar_dwords >= PROXY_MAX_BAR_DWORDS)
				return NULL;
			d->key = key;
			st->nbar_dwords++;
			return d;
		}
	}
}

/* A write of len bytes at offset of region that the device accepted. */
static void note_write(struct proxy_state *st, uint32_t region, uint64_t offset, const uint8_t *data, uint64_t len)
{
	if (region == UVF_PCI_CONFIG_REGION) {
		for (uint64_t i = 0; i < len && offset + i < UVF_PCIE_CONFIG_SIZE; i++) {
			st->config_value[offset + i] = data[i];
			st->config_written[offset + i] = 1;
		}
		return;
	}
	if (region > UVF_PCI_BAR5_REGION || offset >= (1ull << 48))
		return;
	if (!st->bar_dwords) {
		st->bar_dwords = calloc(PROXY_MAX_BAR_DWORDS * 2, sizeof(*st->bar_dwords));
		if (!st->bar_dwords)
			return;
	}
	for (uint64_t i = 0; i < len; i++) {
		uint64_t at = offset + i;
		struct proxy_bar_dword *d = bar_dword(st, ((uint64_t)(region + 1) << 56) | (at & ~3ull));
		unsigned byte = at & 3u;

		if (!d) {
			if (!st->bar_dwords_full)
				proxy_log("more than %u BAR dwords written: later ones are not replayed",
					  PROXY_MAX_BAR_DWORDS);
			st->bar_dwords_full = true;
			return;
		}
		d->value = (d->value & ~(0xffu << (8 * byte))) | ((uint32_t)data[i] << (8 * byte));
		d->written |= (uint8_t)(1u << byte);
	}
}

static void note_region_write(struct proxy_state *st, const struct proxy_msg *req)
{
	struct uvf_msg_region_access a;

	if (req->len < sizeof(a))
		return;
	memcpy(&a, req->payload, sizeof(a));
	if (a.count != req->len - sizeof(a) || a.offset > UINT64_MAX - a.count)
		return;
	note_write(st, a.region, a.offset, req->payload + sizeof(a), a.count);
}

static void note_write_multi(struct proxy_state *st, const struct proxy_msg *req)
{
	struct uvf_msg_write_multi w;

	if (req->len < sizeof(w))
		return;
	memcpy(&w, req->payload, sizeof(w));
	if (w.wr_cnt > (req->len - sizeof(w)) / sizeof(struct uvf_msg_write_multi_entry))
		return;
	for (uint64_t i = 0; i < w.wr_cnt; i++) {
		struct uvf_msg_write_multi_entry e;

		memcpy(&e, req->payload + sizeof(w) + i * sizeof(e), sizeof(e));
		if (e.count >= 1 && e.count <= UVF_WRITE_MULTI_MAX_DATA && e.offset <= UINT64_MAX - e.count)
			note_write(st, e.region, e.offset, e.data, e.count);
	}
}

/* The ioeventfds the server handed out for a region (the client keeps
 * them, we keep duplicates to relay from after a restart). */
static void note_io_fds(struct proxy_state *st, const struct proxy_msg *req, const struct uvf_wire_msg *reply)
{
	struct uvf_msg_region_io_fds head;
	struct proxy_io_region *io;
	size_t stride;

	if (req->len < sizeof(head) || reply->len < sizeof(head))
		return;
	memcpy(&head, reply->payload, sizeof(head));
	if (head.index >= UVF_PCI_NUM_REGIONS || head.count > 1024u)
		return;
	io = &st->io[head.index];
	io->asked = true;
	forget_io(io);
	if (head.count == 0)
		return;
	/* 40-byte entries (the spec's) or 48 (libvfio-user's) */
	stride = (reply->len - sizeof(head)) / head.count;
	if ((stride != 40 && stride != 48) || reply->len != sizeof(head) + stride * head.count)
		return;
	io->fds = calloc(head.count, sizeof(*io->fds));
	if (!io->fds)
		return;
	for (uint32_t i = 0; i < head.count; i++) {
		struct proxy_io_fd *f = &io->fds[io->nfds];
		const uint8_t *e = (const uint8_t *)reply->payload + sizeof(head) + i * stride;

		memcpy(&f->entry, e, 32);
		memcpy(&f->entry.datamatch, e + stride - 8, 8);
		if (f->entry.fd_index >= reply->nfds || reply->fds[f->entry.fd_index] < 0)
			continue;
		f->fd = fcntl_dupfd(reply->fds[f->entry.fd_index]);
		f->relay_to = -1;
		if (f->fd >= 0)
			io->nfds++;
	}
}

void proxy_state_posted(struct proxy_state *st, const struct proxy_msg *req)
{
	if (req->hdr.command == UVF_CMD_REGION_WRITE)
		note_region_write(st, req);
	else if (req->hdr.command == UVF_CMD_REGION_WRITE_MULTI)
		note_write_multi(st, req);
}

void proxy_state_reply(struct proxy_state *st, const struct proxy_msg *req, const struct uvf_wire_msg *reply)
{
	if ((reply->hdr.flags & UVF_MSG_FLAG_ERROR) || reply->hdr.command != req->hdr.command)
		return;
	switch (req->hdr.command) {
	case UVF_CMD_VERSION:
		free(st->version);
		st->version = malloc(req->len ? req->len : 1);
		if (st->version) {
			memcpy(st->version, req->payload, req->len);
			st->version_len = req->len;
		}
		break;
	case UVF_CMD_DMA_MAP:
		note_dma_map(st, req);
		break;
	case UVF_CMD_DMA_UNMAP:
		note_dma_unmap(st, req);
		break;
	case UVF_CMD_DEVICE_SET_IRQS:
		note_set_irqs(st, req);
		break;
	case UVF_CMD_REGION_WRITE:
		note_region_write(st, req);
		break;
	case UVF_CMD_REGION_WRITE_MULTI:
		note_write_multi(st, req);
		break;
	case UVF_CMD_DEVICE_GET_REGION_IO_FDS:
		note_io_fds(st, req, reply);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */
/* ------------------------------------------------------------------ */

/* Send one request and wait for its reply: 0, the reply's -errno, or
 * -errno of the connection (why says so). Server requests that come
 * meanwhile are refused: nothing may reach the client before the replay
 * is over. */
int proxy_call(struct proxy_caller *r, uint16_t command, const void *payload, size_t len, const int *fds, size_t nfds)
{
	struct uvf_msg_header hdr = {
		.msg_id = r->next_id++, .command = command, .msg_size = (uint32_t)(UVF_MSG_HEADER_SIZE + len)};
	uint64_t deadline = proxy_now_ns() + (uint64_t)r->timeout_ms * 1000000u;
	int rc = uvf_wire_send(r->w, &hdr, payload, len, fds, nfds);

	if (rc < 0) {
		snprintf(r->why, r->why_size, "sending %s: %s", uvf_wire_command_name(command),
			 uvf_wire_send_why(r->w));
		return rc;
	}
	for (;;) {
		struct pollfd pfd = {.fd = uvf_wire_fd(r->w), .events = POLLIN};
		uint64_t now;

		rc = uvf_wire_recv(r->w, &r->reply);
		if (rc < 0) {
			snprintf(r->why, r->why_size, "waiting for %s's reply: %s", uvf_wire_command_name(command),
				 uvf_wire_why(r->w));
			return rc;
		}
		if (rc == 1) {
			if ((r->reply.hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_COMMAND) {
				struct uvf_msg_header no = {.msg_id = r->reply.hdr.msg_id,
							    .command = r->reply.hdr.command,
							    .msg_size = UVF_MSG_HEADER_SIZE,
							    .flags = UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR,
							    .error = EAGAIN};

				if (!(r->reply.hdr.flags & UVF_MSG_FLAG_NO_REPLY))
					uvf_wire_send(r->w, &no, NULL, 0, NULL, 0);
				continue;
			}
			if (r->reply.hdr.msg_id != hdr.msg_id || r->reply.hdr.command != command) {
				snprintf(r->why, r->why_size, "%s id %u came in place of the reply to %s id %u",
					 uvf_wire_command_name(r->reply.hdr.command)
						 ? uvf_wire_command_name(r->reply.hdr.command)
						 : "a message",
					 (unsigned)r->reply.hdr.msg_id, uvf_wire_command_name(command),
					 (unsigned)hdr.msg_id);
				return -EPROTO;
			}
			if (r->reply.hdr.flags & UVF_MSG_FLAG_ERROR)
				return -(int)(r->reply.hdr.error ? r->reply.hdr.error : EINVAL);
			return 0;
		}
		now = proxy_now_ns();
		if (now >= deadline) {
			snprintf(r->why, r->why_size, "no reply to %s within %d ms", uvf_wire_command_name(command),
				 r->timeout_ms);
			return -ETIMEDOUT;
		}
		poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
	}
}

static int replay_version(struct proxy_state *st, struct proxy_caller *r, uint32_t *server_xfer)
{
	void *narrowed;
	size_t len;
	char why[200];
	int rc = proxy_call(r, UVF_CMD_VERSION, st->version, st->version_len, NULL, 0);

	if (rc < 0) {
		if (rc != -ECONNRESET && rc != -ETIMEDOUT && rc != -EPROTO)
			snprintf(r->why, r->why_size, "the restarted server refused VERSION: %s", strerror(-rc));
		return rc;
	}
	rc = proxy_caps_narrow_reply(r->reply.payload, r->reply.len, r->reply.nfds, &narrowed, &len, server_xfer, why,
				     sizeof(why));
	free(narrowed);
	if (rc < 0)
		snprintf(r->why, r->why_size, "%s", why);
	return rc;
}

/* Config space bytes the client wrote, as dwords where all four were
 * written, else byte by byte; the command register last, once the BARs
 * and capabilities are back. */
static int replay_config(struct proxy_state *st, struct proxy_caller *r)
{
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t dw = 0; dw < UVF_PCIE_CONFIG_SIZE; dw += 4) {
			bool command = dw == (PCI_COMMAND & ~3u);
			bool all = true, any = false;

			if ((pass == 0) == command)
				continue;
			for (unsigned i = 0; i < 4; i++) {
				bool w = st->config_written[dw + i] && !(command && dw + i >= PCI_STATUS);

				all &= w;
				any |= w;
			}
			if (!any)
				continue;
			for (unsigned i = 0; i < 4; i += all ? 4 : 1) {
				struct {
					struct uvf_msg_region_access a;
					uint8_t data[4];
				} msg;
				size_t n = all ? 4 : 1;
				int rc;

				if (!all && (!st->config_written[dw + i] || (command && dw + i >= PCI_STATUS)))
					continue;
				msg.a = (struct uvf_msg_region_access){
					.offset = dw + i, .region = UVF_PCI_CONFIG_REGION, .count = (uint32_t)n};
				memcpy(msg.data, &st->config_value[dw + i], n);
				rc = proxy_call(r, UVF_CMD_REGION_WRITE, &msg, sizeof(msg.a) + n, NULL, 0);
				if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO)
					return rc;
				if (rc < 0)
					proxy_log("replay: config write at 0x%x refused: %s", dw + i, strerror(-rc));
			}
		}
	}
	return 0;
}

/* Read n bytes of the restarted server's config space at offset. */
static int config_read(struct proxy_caller *r, uint32_t offset, void *out, uint32_t n)
{
	struct uvf_msg_region_access a = {.offset = offset, .region = UVF_PCI_CONFIG_REGION, .count = n};
	int rc = proxy_call(r, UVF_CMD_REGION_READ, &a, sizeof(a), NULL, 0);

	if (rc < 0)
		return rc;
	if (r->reply.len != sizeof(a) + n) {
		snprintf(r->why, r->why_size, "REGION_READ of config space: %zu bytes for %u", r->reply.len, n);
		return -EPROTO;
	}
	memcpy(out, (const uint8_t *)r->reply.payload + sizeof(a), n);
	return 0;
}

/* The BAR dwords the client wrote that lie in the restarted server's
 * MSI-X table (its capability tells where), written again. */
static int replay_msix(struct proxy_state *st, struct proxy_caller *r)
{
	uint8_t at = 0, cap[8] = {0};
	uint32_t table, size;
	uint16_t ctrl;
	int rc;

	if (!st->nbar_dwords)
		return 0;
	rc = config_read(r, PCI_CAPABILITY_LIST, &at, 1);
	for (int hops = 0; rc == 0 && at >= 0x40 && hops < 48; hops++) {
		rc = config_read(r, at & 0xfcu, cap, sizeof(cap));
		if (rc == 0 && cap[0] == PCI_CAP_ID_MSIX)
			break;
		at = cap[1];
	}
	if (rc < 0 || at < 0x40 || cap[0] != PCI_CAP_ID_MSIX)
		return rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO ? rc : 0;
	memcpy(&ctrl, &cap[2], 2);
	memcpy(&table, &cap[4], 4);
	size = ((ctrl & 0x7ffu) + 1u) * 16u;
	for (size_t i = 0; i < PROXY_MAX_BAR_DWORDS * 2; i++) {
		const struct proxy_bar_dword *d = &st->bar_dwords[i];
		uint64_t offset = d->key & ((1ull << 48) - 1);
		struct {
			struct uvf_msg_region_access a;
			uint8_t data[4];
		} msg;

		if (!d->key || (uint32_t)(d->key >> 56) - 1 != (table & 7u) || offset < (table & ~7u) ||
		    offset - (table & ~7u) >= size)
			continue;
		for (unsigned b = 0; b < 4; b++) {
			size_t n = d->written == 0xf ? 4 : 1;

			if (n == 1 && !(d->written & (1u << b)))
				continue;
			msg.a = (struct uvf_msg_region_access){
				.offset = offset + b, .region = table & 7u, .count = (uint32_t)n};
			memcpy(msg.data, (const uint8_t *)&d->value + b, n);
			rc = proxy_call(r, UVF_CMD_REGION_WRITE, &msg, sizeof(msg.a) + n, NULL, 0);
			if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO)
				return rc;
			if (rc < 0)
				proxy_log("replay: MSI-X table write at 0x%llx refused: %s",
					  (unsigned long long)(offset + b), strerror(-rc));
			if (n == 4)
				break;
		}
	}
	return 0;
}

static int replay_irqs(struct proxy_state *st, struct proxy_caller *r)
{
	for (uint32_t index = 0; index < UVF_PCI_NUM_IRQS; index++) {
		if (!st->irq_fds[index])
			continue;
		for (uint32_t v = 0; v < PROXY_MAX_VECTORS; v++) {
			struct uvf_msg_irq_set set = {.argsz = sizeof(set),
						      .flags = UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_TRIGGER,
						      .index = index,
						      .start = v,
						      .count = 1};
			int fd = st->irq_fds[index][v];
			int rc;

			if (fd < 0)
				continue;
			rc = proxy_call(r, UVF_CMD_DEVICE_SET_IRQS, &set, sizeof(set), &fd, 1);
			if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO)
				return rc;
			if (rc < 0)
				proxy_log("replay: eventfd of IRQ %u vector %u refused: %s", index, v, strerror(-rc));
		}
	}
	return 0;
}

/* Fetch the restarted server's ioeventfds and pair each with the one the
 * client holds (same offset, size, flags and value). */
static int replay_io_fds(struct proxy_state *st, struct proxy_caller *r)
{
	for (uint32_t index = 0; index < UVF_PCI_NUM_REGIONS; index++) {
		struct proxy_io_region *io = &st->io[index];
		struct uvf_msg_region_io_fds req = {.argsz = 16 + 1024 * 48, .index = index};
		struct uvf_msg_region_io_fds head;
		size_t stride;
		int rc;

		if (!io->asked || io->nfds == 0)
			continue;
		rc = proxy_call(r, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), NULL, 0);
		if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO)
			return rc;
		if (rc < 0 || r->reply.len < sizeof(head)) {
			proxy_log("replay: region %u's ioeventfds: %s", index, rc < 0 ? strerror(-rc) : "short reply");
			continue;
		}
		memcpy(&head, r->reply.payload, sizeof(head));
		if (head.count == 0 || head.count > 1024)
			continue;
		stride = (r->reply.len - sizeof(head)) / head.count;
		if ((stride != 40 && stride != 48) || r->reply.len != sizeof(head) + stride * head.count)
			continue;
		for (uint32_t i = 0; i < head.count; i++) {
			const uint8_t *e = (const uint8_t *)r->reply.payload + sizeof(head) + i * stride;
			struct uvf_msg_io_fd_entry entry;

			memcpy(&entry, e, 32);
			memcpy(&entry.datamatch, e + stride - 8, 8);
			if (entry.fd_index >= r->reply.nfds)
				continue;
			for (size_t k = 0; k < io->nfds; k++) {
				struct proxy_io_fd *f = &io->fds[k];

				if (f->entry.offset != entry.offset || f->entry.size != entry.size ||
				    f->entry.flags != entry.flags || f->entry.type != entry.type ||
				    f->entry.datamatch != entry.datamatch)
					continue;
				pthread_mutex_lock(&st->relay_lock);
				if (f->relay_to >= 0)
					close(f->relay_to);
				f->relay_to = fcntl_dupfd(r->reply.fds[entry.fd_index]);
				pthread_mutex_unlock(&st->relay_lock);
				break;
			}
		}
	}
	return proxy_relay_update(st);
}

int proxy_state_replay(struct proxy_state *st, struct uvf_wire *w, int timeout_ms, uint32_t *server_xfer, char *why,
		       size_t why_size, proxy_replay_hook hook, void *hook_arg)
{
	struct proxy_caller r = {.w = w, .timeout_ms = timeout_ms, .next_id = 0xf000, .why = why, .why_size = why_size};
	int rc;

	why[0] = '\0';
	*server_xfer = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	if (!st->version)
		return 0; /* nothing negotiated yet: the client's VERSION goes as it comes */
	rc = replay_version(st, &r, server_xfer);
	if (rc < 0)
		return rc;
	for (struct proxy_dma_map *d = st->dma; d; d = d->next) {
		rc = proxy_call(&r, UVF_CMD_DMA_MAP, &d->map, sizeof(d->map), &d->fd, d->fd >= 0 ? 1 : 0);
		if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EPROTO)
			return rc;
		if (rc < 0)
			proxy_log("replay: DMA_MAP iova 0x%llx size 0x%llx refused: %s",
				  (unsigned long long)d->map.address, (unsigned long long)d->map.size, strerror(-rc));
	}
	/* interrupts wired while the device runs, as a migrating VMM does */
	rc = replay_irqs(st, &r);
	if (rc == 0 && hook)
		rc = hook(&r, 0, hook_arg);
	if (rc == 0)
		rc = replay_config(st, &r);
	if (rc == 0)
		rc = replay_msix(st, &r);
	if (rc == 0 && hook)
		rc = hook(&r, 1, hook_arg);
	if (rc == 0)
		rc = replay_io_fds(st, &r);
	return rc;
}
