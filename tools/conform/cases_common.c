/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the case tables: send a command and classify what the
 * server did, NO_REPLY checks with a fence, and valid set-up steps.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

__attribute__((format(printf, 3, 0))) static void vappend(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t n = strlen(buf);
	if (n && n + 2 < size) {
		strcpy(buf + n, "; ");
		n += 2;
	}
	if (n < size)
		vsnprintf(buf + n, size - n, fmt, ap);
}

void r_did(struct result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vappend(r->did, sizeof(r->did), fmt, ap);
	va_end(ap);
}

void r_decide(struct result *r, enum verdict v, const char *fmt, ...)
{
	va_list ap;
	/* the worst verdict wins: FAIL over WARN over PASS */
	if (r->verdict == V_NONE || v == V_FAIL || (v == V_WARN && r->verdict == V_PASS) || v == V_SKIP)
		r->verdict = v;
	va_start(ap, fmt);
	vappend(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static enum outcome set_out(struct result *r, enum outcome o)
{
	r->out = o;
	return o;
}

enum outcome fence(struct ctx *x, struct result *r)
{
	struct uvf_msg_device_info in = {.argsz = sizeof(in)};
	uint16_t id = conn_id(&x->conn);
	struct msg m;

	if (conn_send(&x->conn, id, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0) < 0)
		return set_out(r, OUT_CLOSED);
	int ret = conn_recv(&x->conn, &m, x->opts->timeout_ms);
	if (ret == 0) {
		r_did(r, "no reply, and no answer to a following DEVICE_GET_INFO within %d ms (hang)",
		      x->opts->timeout_ms);
		return set_out(r, OUT_HANG);
	}
	if (ret == -EPIPE)
		return set_out(r, OUT_CLOSED);
	if (ret < 0)
		return set_out(r, OUT_BAD_REPLY);
	bool ok = m.hdr.msg_id == id && m.hdr.command == UVF_CMD_DEVICE_GET_INFO;
	if (!ok)
		r_did(r, "late message id %u command %u while waiting for the fence", m.hdr.msg_id, m.hdr.command);
	msg_free(&m);
	return set_out(r, ok ? OUT_SILENT : OUT_BAD_REPLY);
}

/* Classifies one received message as the answer to id/cmd. */
static enum outcome classify(struct ctx *x, struct result *r, uint16_t id, uint16_t cmd, struct msg *m,
			     struct msg *reply)
{
	uint32_t type = m->hdr.flags & UVF_MSG_TYPE_BITS;

	if (type != UVF_MSG_TYPE_REPLY) {
		r_did(r, "server sent a message of type %u (command %u, id %u) instead of a reply", type,
		      m->hdr.command, m->hdr.msg_id);
		msg_free(m);
		return set_out(r, OUT_BAD_REPLY);
	}
	if (m->hdr.msg_id != id || m->hdr.command != cmd) {
		r_did(r, "reply with id %u command %u, expected id %u command %u", m->hdr.msg_id, m->hdr.command, id,
		      cmd);
		msg_free(m);
		return set_out(r, OUT_BAD_REPLY);
	}
	if (m->hdr.flags & UVF_MSG_FLAG_ERROR) {
		r->err = m->hdr.error;
		if (r->err == 0) {
			r_did(r, "error reply with errno 0 (read as EINVAL, 9 #9)");
			r->err = EINVAL;
		} else {
			r_did(r, "error reply %s (%d)", errno_name(r->err), r->err);
		}
		if (m->len)
			r_did(r, "the error reply carries %zu payload bytes (1.5: header only)", m->len);
		if (m->nfds)
			r_did(r, "the error reply carries %d fds", m->nfds);
		msg_free(m);
		return set_out(r, OUT_ERROR);
	}
	(void)x;
	r_did(r, "reply ok");
	if (reply)
		*reply = *m;
	else
		msg_free(m);
	return set_out(r, OUT_OK);
}

enum outcome await_reply(struct ctx *x, struct result *r, uint16_t id, uint16_t cmd, int wait_ms, struct msg *reply)
{
	struct msg m;
	int ret = conn_recv(&x->conn, &m, wait_ms);

	if (reply)
		memset(reply, 0, sizeof(*reply));
	if (ret == 0) {
		enum outcome o = fence(x, r);
		if (o == OUT_SILENT)
			r_did(r, "no reply within %d ms (the connection still serves)", wait_ms);
		if (o == OUT_CLOSED)
			r_did(r, "no reply, then disconnect");
		return o;
	}
	if (ret == -EPIPE) {
		r_did(r, "disconnect");
		return set_out(r, OUT_CLOSED);
	}
	if (ret < 0) {
		r_did(r, "malformed reply: %s", conn_error_text(ret));
		msg_free(&m);
		return set_out(r, OUT_BAD_REPLY);
	}
	return classify(x, r, id, cmd, &m, reply);
}

enum outcome xact(struct ctx *x, struct result *r, uint16_t cmd, uint32_t flags, const void *p, size_t len,
		  const int *fds, int nfds, struct msg *reply)
{
	uint16_t id = conn_id(&x->conn);
	if (reply)
		memset(reply, 0, sizeof(*reply));
	int ret = conn_send(&x->conn, id, cmd, flags, p, len, fds, nfds);
	if (ret == -ETIMEDOUT) {
		/* the server stopped reading: whatever it sent before tells why */
		r_did(r, "the server stopped reading the message");
		enum outcome o = await_no_fence(x, r, id, cmd, x->opts->quiet_ms);
		return o == OUT_SILENT ? set_out(r, OUT_HANG) : o;
	}
	if (ret < 0) {
		r_did(r, "disconnect (send failed)");
		return set_out(r, OUT_CLOSED);
	}
	return await_reply(x, r, id, cmd, x->opts->timeout_ms, reply);
}

enum outcome xact_no_reply(struct ctx *x, struct result *r, uint16_t cmd, const void *p, size_t len, const int *fds,
			   int nfds)
{
	struct uvf_msg_device_info in = {.argsz = sizeof(in)};
	uint16_t id = conn_id(&x->conn), fid = conn_id(&x->conn);
	struct msg m;

	if (conn_send(&x->conn, id, cmd, UVF_MSG_FLAG_NO_REPLY, p, len, fds, nfds) < 0 ||
	    conn_send(&x->conn, fid, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0) < 0) {
		r_did(r, "disconnect (send failed)");
		return set_out(r, OUT_CLOSED);
	}
	int ret = conn_recv(&x->conn, &m, x->opts->timeout_ms);
	if (ret == 0) {
		r_did(r, "no reply to the command nor to a following DEVICE_GET_INFO within %d ms",
		      x->opts->timeout_ms);
		return set_out(r, OUT_HANG);
	}
	if (ret == -EPIPE) {
		r_did(r, "disconnect");
		return set_out(r, OUT_CLOSED);
	}
	if (ret < 0) {
		r_did(r, "malformed message: %s", conn_error_text(ret));
		return set_out(r, OUT_BAD_REPLY);
	}
	if (m.hdr.msg_id == fid && m.hdr.command == UVF_CMD_DEVICE_GET_INFO &&
	    (m.hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_REPLY) {
		msg_free(&m);
		r_did(r, "no reply (NO_REPLY honoured); the next command was answered");
		return set_out(r, OUT_SILENT);
	}
	enum outcome o = classify(x, r, id, cmd, &m, NULL);
	if (o == OUT_OK || o == OUT_ERROR) {
		r_did(r, "%s despite NO_REPLY", o == OUT_OK ? "success reply" : "error reply");
		struct result dummy = {0};
		await_reply(x, &dummy, fid, UVF_CMD_DEVICE_GET_INFO, x->opts->timeout_ms, NULL);
	}
	return o;
}

int do_region_read(struct ctx *x, uint32_t region, uint64_t offset, uint32_t count, void *data)
{
	struct uvf_msg_region_access a = {.offset = offset, .region = region, .count = count};
	struct result r = {0};
	struct msg m;

	enum outcome o = xact(x, &r, UVF_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0, &m);
	if (o == OUT_ERROR)
		return -r.err;
	if (o != OUT_OK)
		return -EPROTO;
	int ret = 0;
	struct uvf_msg_region_access back;
	if (m.len < sizeof(back) + count) {
		ret = -EPROTO;
	} else {
		memcpy(&back, m.payload, sizeof(back));
		if (back.count != count)
			ret = -EPROTO;
		else if (data)
			memcpy(data, m.payload + sizeof(back), count);
	}
	msg_free(&m);
	return ret;
}

int do_region_write(struct ctx *x, uint32_t region, uint64_t offset, uint32_t count, const void *data)
{
	uint8_t buf[16 + 64];
	struct uvf_msg_region_access a = {.offset = offset, .region = region, .count = count};
	struct result r = {0};

	if (count > 64)
		return -EINVAL;
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, count);
	enum outcome o = xact(x, &r, UVF_CMD_REGION_WRITE, 0, buf, sizeof(a) + count, NULL, 0, NULL);
	if (o == OUT_ERROR)
		return -r.err;
	return o == OUT_OK ? 0 : -EPROTO;
}

int do_dma_map(struct ctx *x, uint64_t address, uint64_t size, int fd, uint64_t offset)
{
	struct uvf_msg_dma_map mp = {.argsz = sizeof(mp),
				     .flags = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
				     .offset = offset,
				     .address = address,
				     .size = size};
	struct result r = {0};
	enum outcome o = xact(x, &r, UVF_CMD_DMA_MAP, 0, &mp, sizeof(mp), &fd, fd >= 0 ? 1 : 0, NULL);
	if (o == OUT_ERROR)
		return -r.err;
	return o == OUT_OK ? 0 : -EPROTO;
}

int do_dma_unmap(struct ctx *x, uint64_t address, uint64_t size, uint32_t flags)
{
	struct uvf_msg_dma_unmap um = {.argsz = sizeof(um), .flags = flags, .address = address, .size = size};
	struct result r = {0};
	enum outcome o = xact(x, &r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
	if (o == OUT_ERROR)
		return -r.err;
	return o == OUT_OK ? 0 : -EPROTO;
}

int first_bar(const struct server_facts *f)
{
	for (int i = 0; i < 6; i++)
		if (f->region[i].size && (f->region[i].flags & UVF_REGION_FLAG_READ))
			return i;
	return -1;
}

int irq_with_vectors(const struct server_facts *f)
{
	static const int order[] = {UVF_PCI_MSIX_IRQ, UVF_PCI_MSI_IRQ, UVF_PCI_INTX_IRQ};
	for (size_t i = 0; i < 3; i++)
		if (f->irq[order[i]].count)
			return order[i];
	return -1;
}

uint64_t dma_page(const struct server_facts *f)
{
	uint64_t p = f->pgsizes ? f->pgsizes & -f->pgsizes : 4096;
	return p < 4096 ? 4096 : p;
}

enum outcome await_no_fence(struct ctx *x, struct result *r, uint16_t id, uint16_t cmd, int wait_ms)
{
	struct msg m;
	int ret = conn_recv(&x->conn, &m, wait_ms);

	if (ret == 0) {
		r_did(r, "no reply within %d ms", wait_ms);
		return set_out(r, OUT_SILENT);
	}
	if (ret == -EPIPE) {
		r_did(r, "disconnect");
		return set_out(r, OUT_CLOSED);
	}
	if (ret < 0) {
		r_did(r, "malformed reply: %s", conn_error_text(ret));
		msg_free(&m);
		return set_out(r, OUT_BAD_REPLY);
	}
	return classify(x, r, id, cmd, &m, NULL);
}
