/* SPDX-License-Identifier: MIT */
/*
 * Handshake cases: VERSION variants (valid, hostile JSON and numbers,
 * truncated, with fds), commands before VERSION, a second VERSION, clients
 * that leave early.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conform.h"

struct version_variant {
	uint16_t major, minor;
	const char *json; /* NULL: no JSON at all */
	bool no_nul;	  /* leave the terminating NUL out */
	int special;	  /* built at run time, below */
};

enum { SP_NONE, SP_DEEP, SP_HUGE, SP_EMBEDDED_NUL, SP_FD, SP_EMPTY, SP_TWO_BYTES, SP_BAD_UTF8 };

static const struct version_variant variants[] = {
	/* 0 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}"},
	/* 1 */ {0, 0, NULL},
	/* 2 */ {0, 0, "{}"},
	/* 3 */ {0, 99, "{}"},
	/* 4 */ {1, 0, "{}"},
	/* 5 */ {0xffff, 0, "{}"},
	/* 6 */ {0, 0, "{\"capabilities\":"},
	/* 7 */ {0, 0, "[1,2,3]"},
	/* 8 */ {0, 0, "{\"capabilities\":5}"},
	/* 9 */ {0, 0, "{}", true},
	/* 10 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":4294967296}}"},
	/* 11 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":-1}}"},
	/* 12 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":4294967296}}"},
	/* 13 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":0}}"},
	/* 14 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":-1}}"},
	/* 15 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":\"big\"}}"},
	/* 16 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":1e30}}"},
	/* 17 */ {0, 0, "{\"frobnicate\":[1,{}],\"capabilities\":{\"frobnicate\":true,\"max_msg_fds\":1}}"},
	/* 18 */ {0, 0, NULL, false, SP_DEEP},
	/* 19 */ {0, 0, NULL, false, SP_HUGE},
	/* 20 */ {0, 0, "{\"capabilities\":{\"twin_socket\":{\"supported\":true},\"max_msg_fds\":4}}"},
	/* 21 */ {0, 0, "{}", false, SP_FD},
	/* 22 */ {0, 0, NULL, false, SP_EMPTY},
	/* 23 */ {0, 0, NULL, false, SP_TWO_BYTES},
	/* 24 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":2000}}"},
	/* 25 */ {0, 0, "{\"capabilities\":{\"pgsizes\":0,\"max_dma_maps\":0}}"},
	/* 26 */ {0, 0, "{\"capabilities\":{\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456}}}"},
	/* 27 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":true}}"},
	/* 28 */ {0, 0, NULL, false, SP_EMBEDDED_NUL},
	/* 29 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":1,\"max_msg_fds\":4}}"},
	/* 30 */ {0, 0xffff, "{}"},
	/* 31 */ {0, 0, NULL, false, SP_BAD_UTF8},
	/* 32 */ {0, 0, "{\"capabilities\":{\"max_data_xfer_size\":1}}"},
	/* 33 */ {0, 0, "{\"capabilities\":{\"write_multiple\":true,\"max_msg_fds\":16}}"},
	/* 34 */ {0, 0, "{\"capabilities\":{\"max_msg_fds\":0}}"},
};

/* Checks an accepted VERSION reply and that the session then works. */
static void check_version_reply(struct ctx *x, struct result *r, const struct version_variant *v, struct msg *m)
{
	struct uvf_msg_version back;

	if (m->len < sizeof(back)) {
		r_decide(r, V_FAIL, "VERSION reply payload of %zu bytes", m->len);
		return;
	}
	memcpy(&back, m->payload, sizeof(back));
	r_did(r, "accepted: replied %u.%u", back.major, back.minor);
	if (back.major != v->major)
		r_decide(r, V_FAIL, "reply major %u differs from the proposed %u (2.2)", back.major, v->major);
	if (back.minor > v->minor)
		r_decide(r, V_FAIL, "reply minor %u above the proposed %u (2.2)", back.minor, v->minor);
	size_t jl = m->len - sizeof(back);
	const char *json = (const char *)m->payload + sizeof(back);
	if (jl) {
		if (json[jl - 1] != 0) {
			r_decide(r, V_FAIL, "reply JSON is not NUL-terminated (2.1)");
		} else {
			json_object *root = json_tokener_parse(json), *caps, *twin, *sup, *idx;
			if (!root || !json_object_is_type(root, json_type_object)) {
				r_decide(r, V_FAIL, "reply JSON is not an object: %.60s", json);
			} else if (json_object_object_get_ex(root, "capabilities", &caps) &&
				   json_object_object_get_ex(caps, "twin_socket", &twin) &&
				   json_object_object_get_ex(twin, "supported", &sup) && json_object_get_boolean(sup)) {
				/* 1.10: supported true needs a valid fd_index into the reply's fds */
				if (!json_object_object_get_ex(twin, "fd_index", &idx) ||
				    json_object_get_int64(idx) < 0 || json_object_get_int64(idx) >= m->nfds)
					r_decide(r, V_FAIL,
						 "twin_socket supported without a valid fd_index (%d fds, 1.10)",
						 m->nfds);
				else
					r_did(r, "twin socket enabled (fd_index valid)");
			}
			if (root)
				json_object_put(root);
		}
	}
	if (m->nfds && !(v->json && strstr(v->json, "twin_socket")))
		r_decide(r, V_FAIL, "VERSION reply carries %d fds without a twin socket request", m->nfds);
	/* the accepted session must be usable */
	uint8_t cfg[4];
	struct uvf_msg_device_info in = {.argsz = sizeof(in)};
	struct result s = {0};
	if (xact(x, &s, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0, NULL) != OUT_OK)
		r_decide(r, V_FAIL, "session unusable after the accepted VERSION: DEVICE_GET_INFO: %s", s.did);
	else if (x->facts->region[UVF_PCI_CONFIG_REGION].size &&
		 do_region_read(x, UVF_PCI_CONFIG_REGION, 0, 4, cfg) < 0)
		r_decide(r, V_FAIL, "session unusable after the accepted VERSION: config read of 4 bytes failed");
}

static void run_version(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const struct version_variant *v = &variants[k->arg];
	size_t cap = 70000;
	uint8_t *buf = malloc(cap);
	size_t n = 0;
	int fds[1], nfds = 0;
	struct fd_probe probe = {-1, -1};

	if (!buf)
		return;
	switch (v->special) {
	case SP_DEEP: {
		/* a recursive parser without a depth limit overflows its stack */
		size_t depth = 30000;
		struct uvf_msg_version h = {0, 0};
		memcpy(buf, &h, sizeof(h));
		n = sizeof(h);
		n += (size_t)sprintf((char *)buf + n, "{\"x\":");
		memset(buf + n, '[', depth);
		n += depth;
		memset(buf + n, ']', depth);
		n += depth;
		buf[n++] = '}';
		buf[n++] = 0;
		break;
	}
	case SP_HUGE: {
		struct uvf_msg_version h = {0, 0};
		memcpy(buf, &h, sizeof(h));
		n = sizeof(h);
		n += (size_t)sprintf((char *)buf + n, "{\"padding\":\"");
		memset(buf + n, 'a', 60000);
		n += 60000;
		n += (size_t)sprintf((char *)buf + n, "\",\"capabilities\":{}}");
		buf[n++] = 0;
		break;
	}
	case SP_EMBEDDED_NUL: {
		static const char text[] = "{}\0{\"capabilities\":";
		struct uvf_msg_version h = {0, 0};
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), text, sizeof(text));
		n = sizeof(h) + sizeof(text);
		break;
	}
	case SP_BAD_UTF8: {
		static const char text[] = "{\"\xff\xfe\xc3\":\"\xed\xa0\x80\",\"capabilities\":{}}";
		struct uvf_msg_version h = {0, 0};
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), text, sizeof(text));
		n = sizeof(h) + sizeof(text);
		break;
	}
	case SP_EMPTY:
		n = 0;
		break;
	case SP_TWO_BYTES:
		buf[0] = 0;
		buf[1] = 0;
		n = 2;
		break;
	default:
		n = version_payload(buf, cap, v->major, v->minor, v->json, !v->no_nul);
		break;
	}
	if (v->special == SP_FD && fd_probe_open(&probe) == 0) {
		fds[0] = probe.write_end;
		nfds = 1;
	}
	uint16_t id = conn_id(&x->conn);
	struct msg m;
	int ret = conn_send(&x->conn, id, UVF_CMD_VERSION, 0, buf, n, fds, nfds);
	free(buf);
	fd_probe_sent(&probe);
	if (ret < 0) {
		r_did(r, "disconnect while sending");
		r->out = OUT_CLOSED;
	} else if (await_reply(x, r, id, UVF_CMD_VERSION, x->opts->timeout_ms, &m) == OUT_OK) {
		check_version_reply(x, r, v, &m);
		msg_free(&m);
	}
	if (v->special == SP_FD) {
		if (fd_probe_released(&probe, 200))
			r_did(r, "the unexpected fd was closed");
		else {
			conn_close(&x->conn);
			if (fd_probe_released(&probe, 1000))
				r_decide(r, V_WARN, "the unexpected fd was kept until the client left (1.8)");
			else
				r_decide(r, V_FAIL, "the unexpected fd was never closed (1.8)");
		}
		fd_probe_close(&probe);
	}
}

/* A command other than VERSION as the first message. */
static void run_before_version(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[64] = {0};
	size_t len = 16;
	int fds[1] = {-1}, nfds = 0;

	switch (k->arg) {
	case UVF_CMD_DEVICE_GET_INFO: {
		struct uvf_msg_device_info in = {.argsz = 16};
		memcpy(p, &in, sizeof(in));
		break;
	}
	case UVF_CMD_REGION_READ: {
		struct uvf_msg_region_access a = {.region = UVF_PCI_CONFIG_REGION, .count = 4};
		memcpy(p, &a, sizeof(a));
		break;
	}
	case UVF_CMD_DMA_MAP: {
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = 3, .address = DMA_BASE, .size = 4096};
		memcpy(p, &mp, sizeof(mp));
		len = sizeof(mp);
		fds[0] = make_memfd(4096);
		nfds = fds[0] >= 0;
		break;
	}
	case UVF_CMD_DEVICE_SET_IRQS: {
		struct uvf_msg_irq_set s = {.argsz = 20, .flags = UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER};
		memcpy(p, &s, sizeof(s));
		len = sizeof(s);
		break;
	}
	case UVF_CMD_DEVICE_RESET:
		len = 0;
		break;
	default:
		break;
	}
	xact(x, r, (uint16_t)k->arg, 0, p, len, fds, nfds, NULL);
	if (nfds)
		close(fds[0]);
}

static void run_second_version(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64];
	size_t n = version_payload(buf, sizeof(buf), 0, 0, "{}", true);
	struct msg m;
	if (xact(x, r, UVF_CMD_VERSION, 0, buf, n, NULL, 0, &m) == OUT_OK) {
		msg_free(&m);
		r_did(r, "renegotiated");
	}
}

/* Connect and leave: arg 0 nothing sent, else that many header bytes. */
static void run_leave_early(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64] = {0};
	struct uvf_msg_header h = {.msg_id = 1, .command = UVF_CMD_VERSION, .msg_size = 16 + 4 + 3};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + 16, "\0\0\0\0{}", 7);
	if (k->arg)
		conn_send_raw(&x->conn, buf, k->arg, NULL, 0);
	r_did(r, k->arg ? "client sent %llu bytes and left" : "client connected and left", (unsigned long long)k->arg);
	r_decide(r, V_PASS, "judged by recovery");
}

static void run_version_flags(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[128];
	size_t n = version_payload(buf, sizeof(buf), 0, 0, "{}", true);
	uint16_t id = (uint16_t)(k->arg2 ? k->arg2 : conn_id(&x->conn));
	struct uvf_msg_header h = {.msg_id = id,
				   .command = UVF_CMD_VERSION,
				   .msg_size = (uint32_t)(16 + n),
				   .flags = (uint32_t)k->arg,
				   .error = k->arg == 0 && !k->arg2 ? 5 : 0};
	uint8_t all[160];
	struct msg m;

	memcpy(all, &h, sizeof(h));
	memcpy(all + sizeof(h), buf, n);
	if (conn_send_raw(&x->conn, all, sizeof(h) + n, NULL, 0) < 0) {
		r->out = OUT_CLOSED;
		return;
	}
	int wait = (k->arg & UVF_MSG_FLAG_NO_REPLY) || (k->arg & UVF_MSG_TYPE_BITS) ? x->opts->quiet_ms
										    : x->opts->timeout_ms;
	int ret = conn_recv(&x->conn, &m, wait);
	if (ret == 0) {
		r->out = OUT_SILENT;
		r_did(r, "no reply within %d ms", wait);
		return;
	}
	if (ret < 0) {
		r->out = ret == -EPIPE ? OUT_CLOSED : OUT_BAD_REPLY;
		r_did(r, ret == -EPIPE ? "disconnect" : "malformed reply");
		return;
	}
	if ((m.hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_REPLY || m.hdr.msg_id != id ||
	    m.hdr.command != UVF_CMD_VERSION) {
		r->out = OUT_BAD_REPLY;
		r_did(r, "reply id %u command %u flags 0x%x (sent id %u)", m.hdr.msg_id, m.hdr.command, m.hdr.flags,
		      id);
	} else if (m.hdr.flags & UVF_MSG_FLAG_ERROR) {
		r->out = OUT_ERROR;
		r->err = m.hdr.error ? (int)m.hdr.error : EINVAL;
		r_did(r, "error reply %s", errno_name(r->err));
	} else {
		r->out = OUT_OK;
		r_did(r, "reply ok, id %u echoed", id);
	}
	msg_free(&m);
}

static void run_slow_client(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64];
	size_t n = version_payload(buf, sizeof(buf), 0, 0, "{}", true);
	struct msg m;
	usleep(300 * 1000);
	if (xact(x, r, UVF_CMD_VERSION, 0, buf, n, NULL, 0, &m) == OUT_OK)
		msg_free(&m);
}

#define V(name_, sec, req, arg_, pass_, warn_)                                                                         \
	{                                                                                                              \
		"handshake/" name_, sec, req, run_version, arg_, 0, pass_, warn_, 0, CASE_RAW, NULL                    \
	}

static const struct conform_case cases[] = {
	V("version-valid", "2.1, 2.2", "VERSION 0.0 with capabilities is answered 0.x with NUL-terminated JSON", 0,
	  O_OK, 0),
	V("version-no-json", "2.1", "the JSON is optional: VERSION with only major/minor is accepted", 1, O_OK, 0),
	V("version-empty-object", "2.1", "VERSION with {} (no capabilities) is accepted", 2, O_OK, 0),
	V("version-minor-high", "2.2", "a higher proposed minor is answered with a minor <= the proposed", 3, O_OK, 0),
	V("version-minor-ffff", "2.2", "minor 0xffff is answered with a minor <= the proposed", 30, O_OK, 0),
	V("version-major-1", "2.2", "an unsupported major is refused (error reply or close)", 4, O_REJECT, 0),
	V("version-major-ffff", "2.2", "an unsupported major is refused (error reply or close)", 5, O_REJECT, 0),
	V("version-bad-json", "4.1", "unparsable JSON is refused", 6, O_REJECT, O_OK),
	V("version-json-array", "2.1", "the JSON must be an object", 7, O_REJECT, O_OK),
	V("version-caps-not-object", "2.1, 4.1", "capabilities of the wrong JSON type are refused", 8, O_REJECT, O_OK),
	V("version-no-nul", "2.1, 4.1", "JSON must be NUL-terminated inside the message", 9, O_REJECT, O_OK),
	V("version-fds-2^32", "2.3", "max_msg_fds 2^32 is refused or bounded, never truncated into nonsense", 10,
	  O_REJECT | O_OK, 0),
	V("version-fds-negative", "2.3", "a negative max_msg_fds is refused", 11, O_REJECT, O_OK),
	V("version-fds-2000", "2.3", "max_msg_fds 2000 is refused or bounded", 24, O_REJECT | O_OK, 0),
	V("version-fds-zero", "2.3", "max_msg_fds 0 (client takes no fds) is accepted", 34, O_OK, O_REJECT),
	V("version-fds-wrong-type", "4.1", "max_msg_fds of the wrong JSON type is refused", 27, O_REJECT, O_OK),
	V("version-xfer-2^32", "2.3", "max_data_xfer_size 2^32 is refused or bounded (never truncated to 0)", 12,
	  O_REJECT | O_OK, 0),
	V("version-xfer-zero", "2.3", "max_data_xfer_size 0 is refused", 13, O_REJECT, O_OK),
	V("version-xfer-one", "2.3", "max_data_xfer_size 1 is refused or honoured", 32, O_REJECT | O_OK, 0),
	V("version-xfer-negative", "2.3", "a negative max_data_xfer_size is refused", 14, O_REJECT, O_OK),
	V("version-xfer-string", "4.1", "max_data_xfer_size as a string is refused", 15, O_REJECT, O_OK),
	V("version-xfer-float", "4.1", "max_data_xfer_size 1e30 is refused", 16, O_REJECT, O_OK),
	V("version-unknown-keys", "2.1, 9 #7", "unknown keys are ignored", 17, O_OK, 0),
	V("version-deep-nesting", "1.1", "30000 nested arrays are refused or parsed without a crash", 18,
	  O_REJECT | O_OK, 0),
	V("version-huge-json", "1.7", "60 KB of JSON is refused or parsed", 19, O_REJECT | O_OK, 0),
	V("version-twin-socket", "1.10", "a twin socket request is declined, or granted with a valid fd_index", 20,
	  O_OK, 0),
	V("version-with-fd", "1.8, 4.1", "a VERSION carrying an fd fails and the fd is closed", 21, O_REJECT, O_OK),
	V("version-empty-payload", "1.11, 2.1", "a VERSION without payload is refused", 22, O_REJECT, 0),
	V("version-two-bytes", "1.11, 2.1", "a VERSION payload shorter than 4 bytes is refused", 23, O_REJECT, 0),
	V("version-pgsizes-zero", "2.3", "pgsizes/max_dma_maps from a client are ignored or refused", 25,
	  O_OK | O_REJECT, 0),
	V("version-legacy-migration", "2.3, 2.5", "the legacy migration object QEMU sends is ignored", 26, O_OK,
	  O_REJECT),
	V("version-write-multiple", "2.3, 2.5", "write_multiple from a client (as QEMU sends) is accepted", 33, O_OK,
	  O_REJECT),
	V("version-embedded-nul", "2.1", "text after an early NUL is refused or ignored", 28, O_REJECT | O_OK, 0),
	V("version-duplicate-keys", "2.1", "duplicate keys are refused or parsed", 29, O_REJECT | O_OK, 0),
	V("version-bad-utf8", "2.1", "invalid UTF-8 in the JSON is refused or parsed", 31, O_REJECT | O_OK, 0),
	{"handshake/get-info-before-version", "2.1", "no command is valid before VERSION", run_before_version,
	 UVF_CMD_DEVICE_GET_INFO, 0, O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/region-read-before-version", "2.1", "no command is valid before VERSION", run_before_version,
	 UVF_CMD_REGION_READ, 0, O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/dma-map-before-version", "2.1", "no command is valid before VERSION (the fd is closed)",
	 run_before_version, UVF_CMD_DMA_MAP, 0, O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/set-irqs-before-version", "2.1", "no command is valid before VERSION", run_before_version,
	 UVF_CMD_DEVICE_SET_IRQS, 0, O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/reset-before-version", "2.1", "no command is valid before VERSION", run_before_version,
	 UVF_CMD_DEVICE_RESET, 0, O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/unknown-before-version", "2.1", "no command is valid before VERSION", run_before_version, 99, 0,
	 O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/second-version", "4.1", "VERSION after the handshake is refused", run_second_version, 0, 0, O_ERROR,
	 O_CLOSED | O_OK, 0, 0, NULL},
	{"handshake/connect-close", "1.12", "a client that connects and leaves does not end the server",
	 run_leave_early, 0, 0, 0, 0, 0, CASE_RAW, NULL},
	{"handshake/close-mid-header", "1.11, 1.12", "a client leaving inside the VERSION header is survived",
	 run_leave_early, 8, 0, 0, 0, 0, CASE_RAW, NULL},
	{"handshake/close-mid-version", "1.11, 1.12", "a client leaving inside the VERSION body is survived",
	 run_leave_early, 19, 0, 0, 0, 0, CASE_RAW, NULL},
	{"handshake/version-as-reply", "1.3, 2.1", "a VERSION flagged as a reply is not a handshake", run_version_flags,
	 UVF_MSG_TYPE_REPLY, 0, O_REJECT, O_SILENT, 0, CASE_RAW, NULL},
	{"handshake/version-no-reply-flag", "1.5, 9 #10", "VERSION with NO_REPLY: answered or honoured, no crash",
	 run_version_flags, UVF_MSG_FLAG_NO_REPLY, 0, O_OK | O_SILENT | O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/version-error-field", "1.2", "the reserved error field of a command is ignored or refused",
	 run_version_flags, 0, 0, O_OK | O_REJECT, 0, 0, CASE_RAW, NULL},
	{"handshake/version-id-ffff", "1.4", "msg_id 0xffff is echoed in the reply", run_version_flags, 0, 0xffff, O_OK,
	 0, 0, CASE_RAW, NULL},
	{"handshake/slow-client", "2.1", "a client waiting 300 ms before VERSION is still served", run_slow_client, 0,
	 0, O_OK, 0, 0, CASE_RAW, NULL},
};

const struct case_table conform_handshake_table = {"handshake", cases, sizeof(cases) / sizeof(cases[0])};
