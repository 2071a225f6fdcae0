/* SPDX-License-Identifier: MIT */
/*
 * Framing cases: msg_size out of range, truncated and split messages,
 * pipelining, header type bits and flags, unknown and reserved commands,
 * NO_REPLY on every kind of command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

static const char *need_config(const struct server_facts *f)
{
	return f->region[UVF_PCI_CONFIG_REGION].size >= 64 ? NULL : "no config space region";
}

/* A header with msg_size below 16. */
static void run_small_size(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint16_t id = conn_id(&x->conn);
	struct uvf_msg_header h = {.msg_id = id, .command = UVF_CMD_DEVICE_GET_INFO, .msg_size = (uint32_t)k->arg};
	conn_send_raw(&x->conn, &h, sizeof(h), NULL, 0);
	if (await_no_fence(x, r, id, UVF_CMD_DEVICE_GET_INFO, x->opts->timeout_ms) == OUT_SILENT)
		r->out = OUT_HANG;
}

/* A header announcing more than any limit, followed by bytes that form a
 * valid command: executing that command means the stream desynchronised. */
static void run_oversized(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64];
	uint16_t id = conn_id(&x->conn);
	uint32_t size = (uint32_t)k->arg;
	if (!size)
		size = 16 + 16 + x->facts->max_data_xfer_size + 4096 + 1;
	struct uvf_msg_header h = {.msg_id = id, .command = UVF_CMD_REGION_WRITE, .msg_size = size};
	struct uvf_msg_region_access a = {.region = UVF_PCI_CONFIG_REGION, .count = size - 32};
	struct uvf_msg_header inner = {.msg_id = 0x7777, .command = UVF_CMD_DEVICE_GET_INFO, .msg_size = 32};
	struct uvf_msg_device_info in = {.argsz = 16};
	memcpy(buf, &h, 16);
	memcpy(buf + 16, &a, 16);
	memcpy(buf + 32, &inner, 16);
	memcpy(buf + 48, &in, 16);
	conn_send_raw(&x->conn, buf, sizeof(buf), NULL, 0);
	for (int i = 0; i < 4; i++) {
		struct msg m;
		int ret = conn_recv(&x->conn, &m, x->opts->quiet_ms + x->opts->timeout_ms / 2);
		if (ret == 0) {
			if (r->out == OUT_NONE) {
				r->out = OUT_SILENT;
				r_did(r, "no reply, connection kept open (waiting for a %u-byte body)", size);
			}
			return;
		}
		if (ret < 0) {
			if (r->out == OUT_NONE)
				r->out = OUT_CLOSED;
			r_did(r, "disconnect");
			return;
		}
		if (m.hdr.msg_id == 0x7777 && m.hdr.command == UVF_CMD_DEVICE_GET_INFO)
			r_decide(r, V_FAIL, "executed the body of the oversized message as a command");
		else if (r->out == OUT_NONE && m.hdr.msg_id == id && (m.hdr.flags & UVF_MSG_FLAG_ERROR)) {
			r->out = OUT_ERROR;
			r->err = (int)m.hdr.error;
			r_did(r, "error reply %s", errno_name(r->err));
		} else if (r->out == OUT_NONE) {
			r->out = OUT_BAD_REPLY;
			r_did(r, "unexpected message id %u command %u", m.hdr.msg_id, m.hdr.command);
		}
		msg_free(&m);
	}
}

/* A message cut short, then the client leaves. */
static void run_truncated_close(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64] = {0};
	struct uvf_msg_header h = {.msg_id = conn_id(&x->conn), .command = UVF_CMD_DEVICE_GET_INFO, .msg_size = 32};
	struct uvf_msg_device_info in = {.argsz = 16};
	memcpy(buf, &h, 16);
	memcpy(buf + 16, &in, 16);
	conn_send_raw(&x->conn, buf, k->arg, NULL, 0);
	usleep(20000);
	r_did(r, "client sent %llu of 32 bytes and left", (unsigned long long)k->arg);
	r_decide(r, V_PASS, "judged by recovery");
}

/* One valid message written in pieces with pauses. */
static void run_split(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[32];
	uint16_t id = conn_id(&x->conn);
	struct uvf_msg_header h = {.msg_id = id, .command = UVF_CMD_DEVICE_GET_INFO, .msg_size = 32};
	struct uvf_msg_device_info in = {.argsz = 16};
	memcpy(buf, &h, 16);
	memcpy(buf + 16, &in, 16);
	static const size_t cuts[][4] = {
		{8, 32, 0, 0},	 /* header split */
		{16, 24, 32, 0}, /* body split twice */
		{0, 0, 0, 0},	 /* byte by byte */
		{1, 15, 16, 32}, /* odd cuts */
	};
	if (k->arg == 2) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			conn_send_raw(&x->conn, buf + i, 1, NULL, 0);
			usleep(2000);
		}
	} else {
		size_t at = 0;
		for (size_t i = 0; i < 4 && cuts[k->arg][i]; i++) {
			conn_send_raw(&x->conn, buf + at, cuts[k->arg][i] - at, NULL, 0);
			at = cuts[k->arg][i];
			usleep(40000);
		}
	}
	await_reply(x, r, id, UVF_CMD_DEVICE_GET_INFO, x->opts->timeout_ms, NULL);
}

/* n commands in one write; replies must come in order (1.9). */
static void run_pipelined(struct ctx *x, const struct conform_case *k, struct result *r)
{
	size_t n = k->arg;
	uint8_t *buf = calloc(n, 32);
	uint16_t base = 0x100;
	if (!buf)
		return;
	for (size_t i = 0; i < n; i++) {
		struct uvf_msg_header h = {.msg_id = (uint16_t)(k->arg2 ? base : base + i),
					   .command = UVF_CMD_DEVICE_GET_INFO,
					   .msg_size = 32};
		struct uvf_msg_device_info in = {.argsz = 16};
		memcpy(buf + 32 * i, &h, 16);
		memcpy(buf + 32 * i + 16, &in, 16);
	}
	conn_send_raw(&x->conn, buf, 32 * n, NULL, 0);
	free(buf);
	for (size_t i = 0; i < n; i++) {
		struct result one = {0};
		uint16_t id = (uint16_t)(k->arg2 ? base : base + i);
		enum outcome o = await_reply(x, &one, id, UVF_CMD_DEVICE_GET_INFO, x->opts->timeout_ms, NULL);
		if (o != OUT_OK) {
			r->out = o;
			r->err = one.err;
			r_did(r, "reply %zu of %zu: %s", i + 1, n, one.did);
			return;
		}
	}
	r->out = OUT_OK;
	r_did(r, "%zu replies in order", n);
}

struct header_variant {
	uint16_t id;
	uint32_t flags;
	uint32_t error;
	uint32_t len; /* payload bytes (a DEVICE_GET_INFO request, zero-padded) */
	bool quiet;   /* no reply may be the right answer: wait quiet_ms */
};
static const struct header_variant headers[] = {
	/* 0 */ {0, 0, 0, 16, false},
	/* 1 */ {0xffff, 0, 0, 16, false},
	/* 2 */ {7, 2, 0, 16, true},
	/* 3 */ {7, 0xf, 0, 16, true},
	/* 4 */ {7, UVF_MSG_TYPE_REPLY, 0, 16, true},
	/* 5 */ {7, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR, 5, 0, true},
	/* 6 */ {7, UVF_MSG_FLAG_ERROR, 5, 16, false},
	/* 7 */ {7, 0x40, 0, 16, false},
	/* 8 */ {7, 0x80000000u, 0, 16, false},
	/* 9 */ {7, 0, 22, 16, false},
	/* 10 */ {7, 0, 0, 0, false},
	/* 11 */ {7, 0, 0, 8, false},
	/* 12 */ {7, 0, 0, 32, false},
	/* 13 */ {7, 0, 0, 4096, false},
	/* 14 */ {7, UVF_MSG_TYPE_REPLY, 0, 24, true},
};

static void run_header(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const struct header_variant *v = &headers[k->arg];
	uint8_t *buf = calloc(1, 16 + v->len);
	struct uvf_msg_header h = {.msg_id = v->id,
				   .command = (uint16_t)(k->arg2 ? k->arg2 : UVF_CMD_DEVICE_GET_INFO),
				   .msg_size = 16 + v->len,
				   .flags = v->flags,
				   .error = v->error};
	struct uvf_msg_device_info in = {.argsz = 16};
	if (!buf)
		return;
	memcpy(buf, &h, 16);
	memcpy(buf + 16, &in, v->len < 16 ? v->len : 16);
	conn_send_raw(&x->conn, buf, 16 + v->len, NULL, 0);
	free(buf);
	await_reply(x, r, h.msg_id, h.command, v->quiet ? x->opts->quiet_ms : x->opts->timeout_ms, NULL);
}

static void run_unknown(struct ctx *x, const struct conform_case *k, struct result *r)
{
	size_t len = k->arg2;
	uint8_t *p = calloc(1, len + 1);
	if (!p)
		return;
	xact(x, r, (uint16_t)k->arg, 0, p, len, NULL, 0, NULL);
	free(p);
}

static void run_unknown_no_reply(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[16] = {0};
	xact_no_reply(x, r, (uint16_t)k->arg, p, sizeof(p), NULL, 0);
}

/* NO_REPLY on a command that answers with data (9 #10). */
static void run_no_reply_data(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[32] = {0};
	size_t len = 16;
	switch (k->arg) {
	case UVF_CMD_DEVICE_GET_INFO: {
		struct uvf_msg_device_info in = {.argsz = 16};
		memcpy(p, &in, sizeof(in));
		break;
	}
	case UVF_CMD_DEVICE_GET_REGION_INFO: {
		struct uvf_msg_region_info ri = {.argsz = 32, .index = UVF_PCI_CONFIG_REGION};
		memcpy(p, &ri, sizeof(ri));
		len = sizeof(ri);
		break;
	}
	case UVF_CMD_DEVICE_GET_IRQ_INFO: {
		struct uvf_msg_irq_info ii = {.argsz = 16, .index = 0};
		memcpy(p, &ii, sizeof(ii));
		break;
	}
	case UVF_CMD_REGION_READ: {
		struct uvf_msg_region_access a = {.region = UVF_PCI_CONFIG_REGION, .count = 4};
		memcpy(p, &a, sizeof(a));
		break;
	}
	case UVF_CMD_DEVICE_FEATURE: {
		struct uvf_msg_device_feature df = {.argsz = 16, .flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET};
		memcpy(p, &df, sizeof(df));
		len = sizeof(df);
		break;
	}
	case UVF_CMD_DMA_UNMAP: {
		struct uvf_msg_dma_unmap um = {.argsz = 24, .address = DMA_BASE, .size = 4096};
		memcpy(p, &um, sizeof(um));
		len = sizeof(um);
		break;
	}
	default:
		break;
	}
	xact_no_reply(x, r, (uint16_t)k->arg, p, len, NULL, 0);
}

/* A posted REGION_WRITE (arg 0 valid, 1 to a bad region). */
static void run_posted_write(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[20];
	uint8_t v = 0;
	struct uvf_msg_region_access a = {.offset = 0x3c, .region = UVF_PCI_CONFIG_REGION, .count = 1};
	if (k->arg)
		a.region = 0xffffff;
	else if (do_region_read(x, a.region, 0x3c, 1, &v) < 0) {
		r_decide(r, V_FAIL, "set-up: config read of offset 0x3c failed");
		return;
	}
	memcpy(buf, &a, sizeof(a));
	buf[16] = v;
	xact_no_reply(x, r, UVF_CMD_REGION_WRITE, buf, 17, NULL, 0);
}

/* A posted write is complete before the reply to a later read (1.9). */
static void run_posted_ordering(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t old = 0, now = 0, buf[20];
	struct uvf_msg_region_access a = {.offset = 0x3c, .region = UVF_PCI_CONFIG_REGION, .count = 1};
	if (do_region_read(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, &old) < 0) {
		r_decide(r, V_FAIL, "set-up: config read of offset 0x3c failed");
		return;
	}
	memcpy(buf, &a, sizeof(a));
	buf[16] = (uint8_t)(old ^ 0x5a);
	uint16_t wid = conn_id(&x->conn), rid = conn_id(&x->conn);
	conn_send(&x->conn, wid, UVF_CMD_REGION_WRITE, UVF_MSG_FLAG_NO_REPLY, buf, 17, NULL, 0);
	conn_send(&x->conn, rid, UVF_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0);
	struct msg m;
	if (await_reply(x, r, rid, UVF_CMD_REGION_READ, x->opts->timeout_ms, &m) != OUT_OK)
		return;
	if (m.len >= 17)
		now = m.payload[16];
	msg_free(&m);
	if (now == (uint8_t)(old ^ 0x5a))
		r_did(r, "the read saw the posted write");
	else
		r_decide(r, V_WARN, "the read returned 0x%02x, not the posted 0x%02x (register may be read-only)", now,
			 (uint8_t)(old ^ 0x5a));
	do_region_write(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, &old);
}

/* Pseudo-random bytes: whatever the server makes of them, it survives. */
static void run_garbage(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[4096];
	uint32_t s = (uint32_t)k->arg;
	for (size_t i = 0; i < sizeof(buf); i++) {
		s = s * 1103515245u + 12345u;
		buf[i] = (uint8_t)(s >> 16);
	}
	conn_send_raw(&x->conn, buf, sizeof(buf), NULL, 0);
	struct msg m;
	int ret = conn_recv(&x->conn, &m, x->opts->quiet_ms);
	if (ret == 1) {
		r_did(r, "answered with id %u command %u flags 0x%x", m.hdr.msg_id, m.hdr.command, m.hdr.flags);
		msg_free(&m);
	} else {
		r_did(r, ret == 0 ? "no reply" : "disconnect");
	}
	r_decide(r, V_PASS, "judged by recovery");
}

#define F(name_, sec, req, fn, a, b, pass_, warn_)                                                                     \
	{                                                                                                              \
		"framing/" name_, sec, req, fn, a, b, pass_, warn_, 0, 0, NULL                                         \
	}
#define FS(name_, sec, req, fn, a, b, pass_, warn_, skip_)                                                             \
	{                                                                                                              \
		"framing/" name_, sec, req, fn, a, b, pass_, warn_, 0, 0, skip_                                        \
	}

static const struct conform_case cases[] = {
	F("msg-size-0", "1.2, 1.11", "msg_size 0 (< 16) is refused", run_small_size, 0, 0, O_REJECT, 0),
	F("msg-size-8", "1.2, 1.11", "msg_size 8 (< 16) is refused", run_small_size, 8, 0, O_REJECT, 0),
	F("msg-size-15", "1.2, 1.11", "msg_size 15 (< 16) is refused", run_small_size, 15, 0, O_REJECT, 0),
	F("msg-size-4g", "1.7, 1.11, 9 #14", "msg_size 0xffffffff is refused and its body never executed",
	  run_oversized, 0xffffffffu, 0, O_REJECT, O_SILENT),
	F("msg-size-64m", "1.7, 1.11, 9 #14", "msg_size 64 MiB is refused and its body never executed", run_oversized,
	  64u << 20, 0, O_REJECT, O_SILENT),
	F("msg-size-over-xfer", "1.7, 9 #14", "a message above 32 + max_data_xfer_size + 4 KiB is refused",
	  run_oversized, 0, 0, O_REJECT, O_SILENT),
	F("truncated-header-close", "1.11, 1.12", "a client leaving after 10 header bytes is survived",
	  run_truncated_close, 10, 0, 0, 0),
	F("truncated-body-close", "1.11, 1.12", "a client leaving after 20 of 32 bytes is survived",
	  run_truncated_close, 20, 0, 0, 0),
	F("split-header", "1.2", "a header arriving in two writes 40 ms apart is read whole", run_split, 0, 0, O_OK, 0),
	F("split-body", "1.2", "a body arriving in two writes 40 ms apart is read whole", run_split, 1, 0, O_OK, 0),
	F("byte-by-byte", "1.2", "a message written one byte at a time is read whole", run_split, 2, 0, O_OK, 0),
	F("odd-cuts", "1.2", "a message cut at 1, 15 and 16 bytes is read whole", run_split, 3, 0, O_OK, 0),
	F("pipelined-2", "1.9", "two commands in one write get two replies in order", run_pipelined, 2, 0, O_OK, 0),
	F("pipelined-64", "1.9", "64 commands in one write get 64 replies in order", run_pipelined, 64, 0, O_OK, 0),
	F("msg-id-reuse", "1.4", "two pipelined commands with the same msg_id both get replies", run_pipelined, 2, 1,
	  O_OK, 0),
	F("msg-id-0", "1.4", "msg_id 0 is echoed", run_header, 0, 0, O_OK, 0),
	F("msg-id-ffff", "1.4", "msg_id 0xffff is echoed", run_header, 1, 0, O_OK, 0),
	F("type-2", "1.3, 1.11", "type bits 2 are invalid: refused", run_header, 2, 0, O_REJECT, O_SILENT),
	F("type-15", "1.3, 1.11", "type bits 15 are invalid: refused", run_header, 3, 0, O_REJECT, O_SILENT),
	F("reply-as-command", "1.3, 1.11", "a reply nobody asked for is not executed", run_header, 4, 0, O_REJECT,
	  O_SILENT),
	F("error-reply-as-command", "1.3, 1.11", "an error reply nobody asked for is not executed", run_header, 5, 0,
	  O_REJECT, O_SILENT),
	F("reply-for-dma-read", "1.9, 1.11", "a DMA_READ reply with no DMA_READ outstanding is not executed",
	  run_header, 14, UVF_CMD_DMA_READ, O_REJECT, O_SILENT),
	F("error-flag-on-command", "1.3", "ERROR is only meaningful in a reply: a command carrying it is refused",
	  run_header, 6, 0, O_REJECT, O_OK),
	F("reserved-flag-0x40", "1.3", "reserved flag bits in a command are ignored or refused", run_header, 7, 0,
	  O_OK | O_ERROR, O_CLOSED),
	F("reserved-flag-bit31", "1.3", "reserved flag bits in a command are ignored or refused", run_header, 8, 0,
	  O_OK | O_ERROR, O_CLOSED),
	F("error-field-on-command", "1.2", "the error field of a command is reserved: ignored or refused", run_header,
	  9, 0, O_OK | O_ERROR, O_CLOSED),
	F("empty-payload", "1.11", "DEVICE_GET_INFO without payload gets EINVAL", run_header, 10, 0, O_REJECT, 0),
	F("short-payload", "1.11", "DEVICE_GET_INFO with 8 payload bytes gets EINVAL", run_header, 11, 0, O_REJECT, 0),
	F("trailing-payload", "1.11", "DEVICE_GET_INFO with 16 extra bytes is answered or refused", run_header, 12, 0,
	  O_OK | O_ERROR, O_CLOSED),
	F("trailing-4k", "1.11", "DEVICE_GET_INFO with 4 KiB of payload is answered or refused", run_header, 13, 0,
	  O_OK | O_ERROR, O_CLOSED),
	F("command-0", "3, 1.11", "command 0 is unused: EINVAL or ENOSYS", run_unknown, 0, 0, O_ERROR, O_CLOSED),
	F("command-14-reserved", "3, 1.11", "reserved command 14 (ex DIRTY_PAGES) is refused", run_unknown, 14, 16,
	  O_ERROR, O_CLOSED),
	F("command-19", "3, 8.4", "command 19 (unmerged proposal) is refused", run_unknown, 19, 24, O_ERROR, O_CLOSED),
	F("command-100", "1.11", "an unknown command gets EINVAL or ENOSYS", run_unknown, 100, 0, O_ERROR, O_CLOSED),
	F("command-ffff", "1.11", "command 0xffff gets EINVAL or ENOSYS", run_unknown, 0xffff, 0, O_ERROR, O_CLOSED),
	F("command-100-payload", "1.11", "an unknown command with 1 KiB of payload is refused", run_unknown, 100, 1024,
	  O_ERROR, O_CLOSED),
	F("dma-read-to-server", "3, 4.11", "DMA_READ is server-to-client: refused from a client", run_unknown,
	  UVF_CMD_DMA_READ, 16, O_ERROR, O_CLOSED),
	F("dma-write-to-server", "3, 4.12", "DMA_WRITE is server-to-client: refused from a client", run_unknown,
	  UVF_CMD_DMA_WRITE, 24, O_ERROR, O_CLOSED),
	F("unknown-no-reply", "1.5, 9 #10", "an unknown command with NO_REPLY gets no reply", run_unknown_no_reply, 100,
	  0, O_SILENT, O_ERROR | O_CLOSED),
	F("no-reply-get-info", "9 #10", "NO_REPLY on DEVICE_GET_INFO is honoured", run_no_reply_data,
	  UVF_CMD_DEVICE_GET_INFO, 0, O_SILENT, O_OK | O_ERROR),
	F("no-reply-region-info", "9 #10", "NO_REPLY on DEVICE_GET_REGION_INFO is honoured", run_no_reply_data,
	  UVF_CMD_DEVICE_GET_REGION_INFO, 0, O_SILENT, O_OK | O_ERROR),
	F("no-reply-irq-info", "9 #10", "NO_REPLY on DEVICE_GET_IRQ_INFO is honoured", run_no_reply_data,
	  UVF_CMD_DEVICE_GET_IRQ_INFO, 0, O_SILENT, O_OK | O_ERROR),
	F("no-reply-region-read", "9 #10", "NO_REPLY on REGION_READ is honoured", run_no_reply_data,
	  UVF_CMD_REGION_READ, 0, O_SILENT, O_OK | O_ERROR),
	F("no-reply-feature", "9 #10", "NO_REPLY on DEVICE_FEATURE is honoured", run_no_reply_data,
	  UVF_CMD_DEVICE_FEATURE, 0, O_SILENT, O_OK | O_ERROR),
	F("no-reply-failing-unmap", "1.5, 9 #10", "a failing DMA_UNMAP with NO_REPLY gets no reply", run_no_reply_data,
	  UVF_CMD_DMA_UNMAP, 0, O_SILENT, O_ERROR),
	FS("posted-write", "1.5, 4.10", "REGION_WRITE with NO_REPLY is executed and never answered", run_posted_write,
	   0, 0, O_SILENT, O_ERROR, need_config),
	F("posted-write-bad-region", "1.5, 9 #10", "a failing posted write gets no reply (not even an error)",
	  run_posted_write, 1, 0, O_SILENT, O_ERROR),
	FS("posted-write-ordering", "1.9", "a posted write completes before the reply to a later read",
	   run_posted_ordering, 0, 0, O_OK, 0, need_config),
	F("garbage-1", "1.1, 1.11", "4 KiB of random bytes after VERSION are survived", run_garbage, 1, 0, 0, 0),
	F("garbage-2", "1.1, 1.11", "4 KiB of random bytes after VERSION are survived", run_garbage, 2, 0, 0, 0),
};

const struct case_table conform_framing_table = {"framing", cases, sizeof(cases) / sizeof(cases[0])};
