/* SPDX-License-Identifier: MIT */
/*
 * REGION_READ / REGION_WRITE: a valid access to every region, the config
 * header, read-only IDs, and offsets, counts and indexes out of range.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

static const char *need_config(const struct server_facts *f)
{
	return f->region[UVF_PCI_CONFIG_REGION].size >= 64 ? NULL : "no config space region";
}

static const char *need_bar(const struct server_facts *f)
{
	return first_bar(f) < 0 ? "no readable BAR" : NULL;
}

static const char *need_absent(const struct server_facts *f)
{
	for (int i = 0; i < FACT_REGIONS; i++)
		if (!f->region[i].size)
			return NULL;
	return "every region is implemented";
}

static const char *need_ro_rom(const struct server_facts *f)
{
	const uint32_t fl = f->region[UVF_PCI_ROM_REGION].flags;
	return f->region[UVF_PCI_ROM_REGION].size && !(fl & UVF_REGION_FLAG_WRITE) ? NULL : "no read-only ROM";
}

/* A valid read (arg2 0) or read-back write (arg2 1) at offset 0 of region arg. */
static void run_valid(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint32_t index = (uint32_t)k->arg;
	uint64_t size = x->facts->region[index].size;
	uint32_t flags = x->facts->region[index].flags;
	uint32_t count = size < 4 ? (uint32_t)size : 4;
	uint8_t data[4] = {0};

	if (!size) {
		r_decide(r, V_SKIP, "region %u not implemented", index);
		return;
	}
	if (!(flags & UVF_REGION_FLAG_READ)) {
		r_decide(r, V_SKIP, "region %u is not readable", index);
		return;
	}
	struct uvf_msg_region_access a = {.offset = 0, .region = index, .count = count};
	struct msg m;
	if (xact(x, r, UVF_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0, &m) != OUT_OK)
		return;
	struct uvf_msg_region_access back;
	if (m.len != sizeof(back) + count) {
		r_decide(r, V_FAIL, "read reply of %zu bytes for count %u (4.9)", m.len, count);
		msg_free(&m);
		return;
	}
	memcpy(&back, m.payload, sizeof(back));
	memcpy(data, m.payload + sizeof(back), count);
	msg_free(&m);
	if (back.count != count || back.region != index || back.offset != 0)
		r_decide(r, V_FAIL, "read reply echoes offset 0x%llx region %u count %u",
			 (unsigned long long)back.offset, back.region, back.count);
	r_did(r, "read %u bytes: %02x %02x %02x %02x", count, data[0], data[1], data[2], data[3]);
	if (!k->arg2)
		return;
	/* write the same bytes back: a valid write that changes nothing */
	uint8_t buf[20];
	a.count = count;
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, count);
	struct result w = {0};
	enum outcome o = xact(x, &w, UVF_CMD_REGION_WRITE, 0, buf, sizeof(a) + count, NULL, 0, &m);
	r->out = o;
	r->err = w.err;
	r_did(r, "write back: %s", w.did[0] ? w.did : outcome_name(o));
	if (o == OUT_OK) {
		if (m.len != sizeof(back)) {
			r_decide(r, V_FAIL, "write reply of %zu bytes (4.10: 16)", m.len);
		} else {
			memcpy(&back, m.payload, sizeof(back));
			if (back.count != count)
				r_decide(r, V_FAIL, "write reply count %u, wrote %u", back.count, count);
		}
		if (!(flags & UVF_REGION_FLAG_WRITE))
			r_decide(r, V_WARN, "a write to a region without the WRITE flag succeeded");
		msg_free(&m);
	} else if (o == OUT_ERROR && !(flags & UVF_REGION_FLAG_WRITE)) {
		r_decide(r, V_PASS, "region is read-only");
	}
}

static void run_config_header(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint64_t size = x->facts->region[UVF_PCI_CONFIG_REGION].size;
	uint8_t *cfg = calloc(1, 4096);
	if (!cfg)
		return;
	int ret = do_region_read(x, UVF_PCI_CONFIG_REGION, 0, (uint32_t)size, cfg);
	if (ret < 0) {
		r->out = ret == -EPROTO ? OUT_BAD_REPLY : OUT_ERROR;
		r->err = -ret;
		r_did(r, "reading %llu bytes of config space failed: %s", (unsigned long long)size, errno_name(-ret));
		free(cfg);
		return;
	}
	r->out = OUT_OK;
	uint16_t vendor = (uint16_t)(cfg[0] | cfg[1] << 8), device = (uint16_t)(cfg[2] | cfg[3] << 8);
	uint16_t status = (uint16_t)(cfg[6] | cfg[7] << 8);
	r_did(r, "%04x:%04x, header type 0x%02x", vendor, device, cfg[0x0e]);
	switch (k->arg) {
	case 0: /* IDs and header type */
		if (vendor == 0 || vendor == 0xffff)
			r_decide(r, V_FAIL, "vendor id 0x%04x (5.2)", vendor);
		if ((cfg[0x0e] & 0x7f) != 0)
			r_decide(r, V_FAIL, "header type 0x%02x is not a type-0 header (5.2)", cfg[0x0e]);
		break;
	case 1: { /* capability list */
		if (!(status & 0x10)) {
			r_did(r, "no capability list");
			break;
		}
		unsigned ptr = cfg[0x34] & 0xfc, n = 0;
		while (ptr) {
			if (ptr < 0x40 || ptr + 2 > 256) {
				r_decide(r, V_FAIL, "capability pointer 0x%02x outside 0x40..0xff (5.2)", ptr);
				break;
			}
			if (++n > 48) {
				r_decide(r, V_FAIL, "capability list loops");
				break;
			}
			ptr = cfg[ptr + 1] & 0xfc;
		}
		if (size == 4096 && n <= 48) {
			unsigned ext = 0x100, m = 0;
			while (ext) {
				uint32_t h = (uint32_t)(cfg[ext] | cfg[ext + 1] << 8 | cfg[ext + 2] << 16 |
							(uint32_t)cfg[ext + 3] << 24);
				if (h == 0)
					break;
				if (++m > 960) {
					r_decide(r, V_FAIL, "extended capability list loops");
					break;
				}
				unsigned next = (h >> 20) & 0xffc;
				if (next && next < 0x100) {
					r_decide(r, V_FAIL, "extended capability next 0x%x below 0x100", next);
					break;
				}
				ext = next;
			}
			r_did(r, "%u capabilities, %u extended", n, m);
		} else {
			r_did(r, "%u capabilities", n);
		}
		break;
	}
	case 2: /* BAR type bits against region sizes */
		for (int i = 0; i < 6; i++) {
			uint32_t bar = (uint32_t)(cfg[0x10 + 4 * i] | cfg[0x11 + 4 * i] << 8 | cfg[0x12 + 4 * i] << 16 |
						  (uint32_t)cfg[0x13 + 4 * i] << 24);
			bool mem64 = !(bar & 1) && ((bar >> 1) & 3) == 2;
			if (mem64 && i < 5) {
				if (x->facts->region[i + 1].size)
					r_decide(r, V_FAIL, "BAR%d is 64-bit but region %d has size 0x%llx (5.1)", i,
						 i + 1, (unsigned long long)x->facts->region[i + 1].size);
				i++;
			} else if (!x->facts->region[i].size && bar) {
				r_decide(r, V_WARN, "BAR%d register 0x%08x for an absent region", i, bar);
			}
		}
		break;
	case 3: /* interrupt pin */
		if (x->facts->irq[UVF_PCI_INTX_IRQ].count && cfg[0x3d] == 0)
			r_decide(r, V_WARN, "INTx has a vector but the interrupt pin is 0 (5.2)");
		if (!x->facts->irq[UVF_PCI_INTX_IRQ].count && cfg[0x3d])
			r_decide(r, V_WARN, "interrupt pin %u but INTx has no vector (5.2)", cfg[0x3d]);
		break;
	default:
		break;
	}
	free(cfg);
}

/* Writes a changed value to a read-only config field: ignored or refused. */
static void run_write_ro(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint32_t off = (uint32_t)k->arg, count = (uint32_t)k->arg2;
	uint8_t old[4], now[4], val[4];
	if (do_region_read(x, UVF_PCI_CONFIG_REGION, off, count, old) < 0) {
		r_decide(r, V_FAIL, "set-up: config read failed");
		return;
	}
	for (uint32_t i = 0; i < count; i++)
		val[i] = (uint8_t)~old[i];
	int ret = do_region_write(x, UVF_PCI_CONFIG_REGION, off, count, val);
	r->out = ret == 0 ? OUT_OK : ret == -EPROTO ? OUT_BAD_REPLY : OUT_ERROR;
	r->err = -ret;
	r_did(r, ret == 0 ? "write accepted" : "write refused (%s)", errno_name(-ret));
	if (do_region_read(x, UVF_PCI_CONFIG_REGION, off, count, now) < 0) {
		r_decide(r, V_FAIL, "read-back failed");
		return;
	}
	if (memcmp(now, old, count)) {
		r_decide(r, V_FAIL, "read-only field at 0x%x changed (5.2)", off);
		do_region_write(x, UVF_PCI_CONFIG_REGION, off, count, old);
	} else {
		r_did(r, "value unchanged");
	}
}

/* Region selectors and offsets resolved at run time. */
#define R_CONFIG  0x1000u
#define R_BAR	  0x1001u
#define R_NUM	  0x1002u
#define R_ABSENT  0x1003u
#define OF_END_M2 0xfffffffffffff001ull
#define OF_END	  0xfffffffffffff002ull
#define CN_MAX_P1 0xfffff001u

struct access_variant {
	uint32_t region;
	uint64_t offset;
	uint32_t count;
	int data; /* write: bytes sent; -1 = count; read: extra payload bytes */
	bool write;
	int payload; /* 0: standard; else the payload length (short requests) */
};

static const struct access_variant accesses[] = {
	/* 0 */ {R_CONFIG, 0xfffffffffffffffcull, 8, 0, false, 0},
	/* 1 */ {R_CONFIG, OF_END_M2, 4, 0, false, 0},
	/* 2 */ {R_CONFIG, OF_END, 1, 0, false, 0},
	/* 3 */ {R_BAR, OF_END_M2, 4, 0, false, 0},
	/* 4 */ {R_BAR, 1ull << 63, 4, 0, false, 0},
	/* 5 */ {R_CONFIG, 0, 0, 0, false, 0},
	/* 6 */ {R_CONFIG, 0x3c, 0, 0, true, 0},
	/* 7 */ {R_CONFIG, 0, CN_MAX_P1, 0, false, 0},
	/* 8 */ {R_CONFIG, 0, 0xffffffffu, 0, false, 0},
	/* 9 */ {R_CONFIG, 0, CN_MAX_P1, -1, true, 0},
	/* 10 */ {R_CONFIG, 0x3c, 8, 4, true, 0},
	/* 11 */ {R_CONFIG, 0x3c, 4, 8, true, 0},
	/* 12 */ {R_CONFIG, 0x3c, 0xffffffffu, 4, true, 0},
	/* 13 */ {R_CONFIG, 0xfffffffffffffffdull, 4, -1, true, 0},
	/* 14 */ {R_CONFIG, OF_END_M2, 4, -1, true, 0},
	/* 15 */ {R_NUM, 0, 4, 0, false, 0},
	/* 16 */ {0xffffffffu, 0, 4, 0, false, 0},
	/* 17 */ {R_ABSENT, 0, 4, 0, false, 0},
	/* 18 */ {0xffffffffu, 0, 4, -1, true, 0},
	/* 19 */ {R_CONFIG, 0, 4, 0, false, 8},
	/* 20 */ {R_CONFIG, 0, 4, 8, false, 0},
	/* 21 */ {R_CONFIG, 0, 3, 0, false, 0},
	/* 22 */ {R_CONFIG, 1, 2, 0, false, 0},
	/* 23 */ {R_CONFIG, 0, 5, 0, false, 0},
	/* 24 */ {UVF_PCI_ROM_REGION, 0, 4, -1, true, 0},
	/* 25 */ {R_ABSENT, 0, 4, -1, true, 0},
	/* 26 */ {R_CONFIG, 0x3c, 4, -1, true, 12},
	/* 27 */ {R_BAR, OF_END, 1, -1, true, 0},
	/* 28 */ {R_CONFIG, 0x3e, 3, 0, false, 0},
	/* 29 */ {R_CONFIG, 0x3c, 3, -1, true, 0},
};

static void run_access(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const struct access_variant *v = &accesses[k->arg];
	const struct server_facts *f = x->facts;
	struct uvf_msg_region_access a = {.offset = v->offset, .count = v->count};

	switch (v->region) {
	case R_CONFIG:
		a.region = UVF_PCI_CONFIG_REGION;
		break;
	case R_BAR:
		a.region = (uint32_t)first_bar(f);
		break;
	case R_NUM:
		a.region = f->info.num_regions;
		break;
	case R_ABSENT:
		for (int i = FACT_REGIONS - 1; i >= 0; i--)
			if (!f->region[i].size)
				a.region = (uint32_t)i;
		break;
	default:
		a.region = v->region;
		break;
	}
	uint64_t size = a.region < FACT_REGIONS ? f->region[a.region].size : 0;
	if (v->offset == OF_END_M2)
		a.offset = size - 2;
	else if (v->offset == OF_END)
		a.offset = size;
	if (v->count == CN_MAX_P1)
		a.count = f->max_data_xfer_size + 1;
	size_t data = v->data < 0 ? a.count : (size_t)v->data;
	size_t len = sizeof(a) + data;
	uint8_t *buf = calloc(1, len);
	if (!buf)
		return;
	memcpy(buf, &a, sizeof(a));
	if (v->write && a.region == UVF_PCI_CONFIG_REGION && a.offset == 0x3c && data >= 1) {
		/* keep the interrupt line as it is, whatever else happens */
		uint8_t line = 0;
		if (do_region_read(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, &line) == 0)
			buf[sizeof(a)] = line;
	}
	if (v->payload)
		len = (size_t)v->payload;
	struct msg m;
	enum outcome o = xact(x, r, v->write ? UVF_CMD_REGION_WRITE : UVF_CMD_REGION_READ, 0, buf, len, NULL, 0, &m);
	free(buf);
	r_did(r, "(region %u offset 0x%llx count %u, %zu payload bytes)", a.region, (unsigned long long)a.offset,
	      a.count, len);
	if (o != OUT_OK)
		return;
	struct uvf_msg_region_access back = {0};
	if (m.len >= sizeof(back))
		memcpy(&back, m.payload, sizeof(back));
	if (!v->write && m.len != sizeof(back) + back.count && !(a.count == 0 && m.len == 0))
		r_decide(r, V_FAIL, "read reply of %zu bytes for count %u (4.9)", m.len, back.count);
	else if (back.count < a.count && k->pass & O_REJECT)
		r_decide(r, V_WARN, "short %s of %u bytes instead of an error (4.9)", v->write ? "write" : "read",
			 back.count);
	if (back.count > a.count)
		r_decide(r, V_FAIL, "reply count %u above the requested %u", back.count, a.count);
	msg_free(&m);
}

/* Many reads in one write: replies in order, data identical. */
static void run_pipelined_reads(struct ctx *x, const struct conform_case *k, struct result *r)
{
	enum { N = 32 };
	uint8_t buf[N * 32];
	for (int i = 0; i < N; i++) {
		struct uvf_msg_header h = {
			.msg_id = (uint16_t)(0x200 + i), .command = UVF_CMD_REGION_READ, .msg_size = 32};
		struct uvf_msg_region_access a = {
			.offset = (uint64_t)(4 * (i % 16)), .region = UVF_PCI_CONFIG_REGION, .count = 4};
		memcpy(buf + 32 * i, &h, 16);
		memcpy(buf + 32 * i + 16, &a, 16);
	}
	conn_send_raw(&x->conn, buf, sizeof(buf), NULL, 0);
	for (int i = 0; i < N; i++) {
		struct result one = {0};
		struct msg m;
		enum outcome o =
			await_reply(x, &one, (uint16_t)(0x200 + i), UVF_CMD_REGION_READ, x->opts->timeout_ms, &m);
		if (o != OUT_OK) {
			r->out = o;
			r->err = one.err;
			r_did(r, "read %d of %d: %s", i + 1, N, one.did);
			return;
		}
		msg_free(&m);
	}
	r->out = OUT_OK;
	r_did(r, "%d replies in order", N);
}

/* The largest read allowed: min(region size, max_data_xfer_size). */
static void run_big_read(struct ctx *x, const struct conform_case *k, struct result *r)
{
	int best = -1;
	for (int i = 0; i < FACT_REGIONS; i++)
		if ((x->facts->region[i].flags & UVF_REGION_FLAG_READ) &&
		    (best < 0 || x->facts->region[i].size > x->facts->region[best].size))
			best = i;
	if (best < 0) {
		r_decide(r, V_SKIP, "no readable region");
		return;
	}
	uint64_t n = x->facts->region[best].size;
	if (n > x->facts->max_data_xfer_size)
		n = x->facts->max_data_xfer_size;
	struct uvf_msg_region_access a = {.region = (uint32_t)best, .count = (uint32_t)n};
	struct msg m;
	if (xact(x, r, UVF_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0, &m) == OUT_OK) {
		r_did(r, "read %llu bytes of region %d", (unsigned long long)n, best);
		if (m.len != 16 + n)
			r_decide(r, V_FAIL, "reply of %zu bytes", m.len);
		msg_free(&m);
	}
}

#define RV(i)                                                                                                          \
	{"region/read-" #i,                                                                                            \
	 "4.9",                                                                                                        \
	 "region " #i ": a 4-byte read at offset 0 returns count and data",                                            \
	 run_valid,                                                                                                    \
	 i,                                                                                                            \
	 0,                                                                                                            \
	 O_OK,                                                                                                         \
	 0,                                                                                                            \
	 0,                                                                                                            \
	 0,                                                                                                            \
	 NULL},                                                                                                        \
	{                                                                                                              \
		"region/write-" #i, "4.10",                                                                            \
			"region " #i ": writing back what was read is answered with a 16-byte echo", run_valid, i, 1,  \
			O_OK, 0, 0, 0, NULL                                                                            \
	}
#define A(name_, sec, req, n, pass_, warn_, skip_)                                                                     \
	{                                                                                                              \
		"region/" name_, sec, req, run_access, n, 0, pass_, warn_, 0, 0, skip_                                 \
	}

static const struct conform_case cases[] = {
	RV(0),
	RV(1),
	RV(2),
	RV(3),
	RV(4),
	RV(5),
	RV(6),
	RV(7),
	RV(8),
	{"region/config-header", "5.2", "config space reads whole; vendor id valid, type-0 header", run_config_header,
	 0, 0, O_OK, 0, 0, 0, need_config},
	{"region/config-capabilities", "5.2", "the capability lists stay inside config space and end",
	 run_config_header, 1, 0, O_OK, 0, 0, 0, need_config},
	{"region/config-bars", "5.1, 5.2", "a 64-bit BAR's upper region has size 0", run_config_header, 2, 0, O_OK, 0,
	 0, 0, need_config},
	{"region/config-interrupt-pin", "5.2", "interrupt pin set exactly when INTx has a vector", run_config_header, 3,
	 0, O_OK, 0, 0, 0, need_config},
	{"region/write-vendor-id", "5.2", "a write to the read-only vendor id is ignored or refused", run_write_ro, 0,
	 2, O_OK | O_ERROR, 0, 0, 0, need_config},
	{"region/write-device-id", "5.2", "a write to the read-only device id is ignored or refused", run_write_ro, 2,
	 2, O_OK | O_ERROR, 0, 0, 0, need_config},
	{"region/write-class-code", "5.2", "a write to the read-only class code is ignored or refused", run_write_ro,
	 0x0a, 2, O_OK | O_ERROR, 0, 0, 0, need_config},
	{"region/write-revision", "5.2", "a write to the read-only revision is ignored or refused", run_write_ro, 0x08,
	 1, O_OK | O_ERROR, 0, 0, 0, need_config},
	A("read-offset-overflow", "4.9, 1.1", "offset 2^64-4 + count 8 wraps: refused", 0, O_REJECT, 0, need_config),
	A("read-past-end", "4.9", "a read crossing the end of config space: refused", 1, O_REJECT, 0, need_config),
	A("read-at-end", "4.9", "a read starting at the end of config space: refused", 2, O_REJECT, 0, need_config),
	A("bar-read-past-end", "4.9", "a read crossing the end of a BAR: refused", 3, O_REJECT, 0, need_bar),
	A("bar-read-offset-2^63", "4.9", "a read at offset 2^63 of a BAR: refused", 4, O_REJECT, 0, need_bar),
	A("bar-write-at-end", "4.10", "a write starting at the end of a BAR: refused", 27, O_REJECT, 0, need_bar),
	A("read-count-0", "4.9", "a read of count 0 is answered (header-only data) or refused", 5, O_OK | O_ERROR, 0,
	  need_config),
	A("write-count-0", "4.10", "a write of count 0 is answered or refused", 6, O_OK | O_ERROR, 0, need_config),
	A("read-count-over-max", "1.7, 4.9", "count max_data_xfer_size + 1: refused", 7, O_REJECT, 0, need_config),
	A("read-count-u32-max", "1.7, 4.9", "count 0xffffffff: refused", 8, O_REJECT, 0, need_config),
	A("write-count-over-max", "1.7, 4.10", "a write of max_data_xfer_size + 1 bytes: refused", 9, O_REJECT, 0,
	  need_config),
	A("write-count-above-data", "4.10", "count 8 with 4 data bytes: refused", 10, O_REJECT, 0, need_config),
	A("write-count-below-data", "4.10", "count 4 with 8 data bytes: refused", 11, O_REJECT, 0, need_config),
	A("write-count-u32-max", "4.10, 1.1", "count 0xffffffff with 4 data bytes: refused", 12, O_REJECT, 0,
	  need_config),
	A("write-offset-overflow", "4.10, 1.1", "offset 2^64-3 + count 4 wraps: refused", 13, O_REJECT, 0, need_config),
	A("write-past-end", "4.10", "a write crossing the end of config space: refused", 14, O_REJECT, 0, need_config),
	A("read-region-num-regions", "4.9", "region index = num_regions: refused", 15, O_REJECT, 0, NULL),
	A("read-region-max", "4.9", "region index 0xffffffff: refused", 16, O_REJECT, 0, NULL),
	A("read-absent-region", "4.9, 5.1", "a read of a region of size 0: refused", 17, O_REJECT, 0, need_absent),
	A("write-region-max", "4.10", "a write to region 0xffffffff: refused", 18, O_REJECT, 0, NULL),
	A("write-absent-region", "4.10, 5.1", "a write to a region of size 0: refused", 25, O_REJECT, 0, need_absent),
	A("read-payload-8", "1.11", "a REGION_READ payload of 8 bytes: refused", 19, O_REJECT, 0, NULL),
	A("write-payload-12", "1.11", "a REGION_WRITE payload of 12 bytes: refused", 26, O_REJECT, 0, need_config),
	A("read-with-data", "1.11", "a REGION_READ carrying 8 stray bytes: answered or refused", 20, O_OK | O_ERROR, 0,
	  need_config),
	A("config-read-3-bytes", "5.2", "a 3-byte config read is answered or refused, never fatal", 21, O_OK | O_ERROR,
	  0, need_config),
	A("config-read-3-bytes-at-3e", "5.2", "a 3-byte config read at 0x3e is answered or refused", 28, O_OK | O_ERROR,
	  0, need_config),
	A("config-write-3-bytes", "5.2", "a 3-byte config write is answered or refused, never fatal", 29,
	  O_OK | O_ERROR, 0, need_config),
	A("config-read-unaligned", "5.2", "a 2-byte config read at offset 1 is answered or refused", 22, O_OK | O_ERROR,
	  0, need_config),
	A("config-read-5-bytes", "5.2", "a 5-byte config read is answered or refused", 23, O_OK | O_ERROR, 0,
	  need_config),
	A("write-read-only-rom", "4.10, 5.1", "a write to a ROM without the WRITE flag: refused", 24, O_REJECT, O_OK,
	  need_ro_rom),
	{"region/pipelined-reads", "1.9", "32 config reads in one write: 32 replies in order", run_pipelined_reads, 0,
	 0, O_OK, 0, 0, 0, need_config},
	{"region/read-max-xfer", "1.7, 4.9", "a read of min(region size, max_data_xfer_size) bytes works", run_big_read,
	 0, 0, O_OK, 0, 0, 0, NULL},
};

const struct case_table conform_region_table = {"region", cases, sizeof(cases) / sizeof(cases[0])};
