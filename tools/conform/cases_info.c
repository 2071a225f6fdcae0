/* SPDX-License-Identifier: MIT */
/*
 * Device, region and IRQ information: valid queries with checks of what
 * comes back (argsz, index echo, capability chain bounds, fds), and bad
 * argsz, indexes and payload sizes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conform.h"

static void run_device_info(struct ctx *x, const struct conform_case *k, struct result *r)
{
	struct uvf_msg_device_info in = {.argsz = (uint32_t)k->arg};
	struct msg m;
	size_t len = k->arg2 ? k->arg2 : sizeof(in);
	uint8_t p[64] = {0};
	memcpy(p, &in, sizeof(in));
	if (xact(x, r, UVF_CMD_DEVICE_GET_INFO, 0, p, len, NULL, 0, &m) != OUT_OK)
		return;
	if (m.len != sizeof(in)) {
		r_decide(r, V_FAIL, "reply payload %zu bytes, expected 16 (4.4)", m.len);
	} else {
		struct uvf_msg_device_info out;
		memcpy(&out, m.payload, sizeof(out));
		r_did(r, "argsz %u flags 0x%x regions %u irqs %u", out.argsz, out.flags, out.num_regions, out.num_irqs);
		if (out.argsz != 16)
			r_decide(r, V_FAIL, "reply argsz %u, expected 16", out.argsz);
		if (!(out.flags & UVF_DEVICE_FLAG_PCI))
			r_decide(r, V_FAIL, "PCI flag not set (4.4)");
		if (out.num_regions < 9)
			r_decide(r, V_FAIL, "num_regions %u below 9 (4.4)", out.num_regions);
		if (out.num_irqs != 5)
			r_decide(r, V_WARN, "num_irqs %u, PCI has 5 (4.4, 5.3)", out.num_irqs);
		if (k->arg < 16)
			r_decide(r, V_WARN, "answered although argsz %llu cannot hold the reply (1.6)",
				 (unsigned long long)k->arg);
	}
	msg_free(&m);
}

/* Walks a region capability chain inside the reply; fails on any offset
 * outside argsz or the payload, a loop, or a truncated capability. */
static void check_caps(struct result *r, const struct msg *m, const struct uvf_msg_region_info *ri)
{
	uint32_t off = ri->cap_offset;
	int n = 0;
	if (!(ri->flags & UVF_REGION_FLAG_CAPS)) {
		if (off)
			r_decide(r, V_WARN, "cap_offset %u without the CAPS flag", off);
		return;
	}
	if (!off) {
		r_decide(r, V_FAIL, "CAPS flag with cap_offset 0 (4.5)");
		return;
	}
	while (off) {
		if (off < 32 || off > ri->argsz || (uint64_t)off + 8 > m->len) {
			r_decide(r, V_FAIL, "capability at %u outside the reply (argsz %u, payload %zu) (4.5)", off,
				 ri->argsz, m->len);
			return;
		}
		struct uvf_msg_region_cap_header h;
		memcpy(&h, m->payload + off, sizeof(h));
		if (h.id == UVF_REGION_CAP_SPARSE_MMAP) {
			struct uvf_msg_region_cap_sparse_mmap sp;
			if ((uint64_t)off + sizeof(sp) > m->len) {
				r_decide(r, V_FAIL, "sparse mmap capability truncated");
				return;
			}
			memcpy(&sp, m->payload + off, sizeof(sp));
			uint64_t end = (uint64_t)off + sizeof(sp) + (uint64_t)sp.nr_areas * 16;
			if (end > m->len || end > ri->argsz) {
				r_decide(r, V_FAIL, "sparse mmap with %u areas runs past the reply", sp.nr_areas);
				return;
			}
			for (uint32_t i = 0; i < sp.nr_areas; i++) {
				struct uvf_msg_region_sparse_area a;
				memcpy(&a, m->payload + off + sizeof(sp) + 16 * i, sizeof(a));
				if (a.offset > ri->size || a.size > ri->size - a.offset)
					r_decide(r, V_FAIL, "sparse area %u (0x%llx+0x%llx) outside the region", i,
						 (unsigned long long)a.offset, (unsigned long long)a.size);
			}
		}
		if (++n > 64 || h.next == off) {
			r_decide(r, V_FAIL, "capability chain loops");
			return;
		}
		off = h.next;
	}
	r_did(r, "%d capabilities, chain inside argsz", n);
}

static void run_region_info(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint32_t index = (uint32_t)k->arg;
	struct uvf_msg_region_info ri = {.argsz = 32, .index = index};
	struct msg m;

	if (index >= x->facts->info.num_regions) {
		r_decide(r, V_SKIP, "device has %u regions", x->facts->info.num_regions);
		return;
	}
	if (xact(x, r, UVF_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0, &m) != OUT_OK)
		return;
	struct uvf_msg_region_info out;
	if (m.len < sizeof(out)) {
		r_decide(r, V_FAIL, "reply payload %zu bytes (4.5)", m.len);
		msg_free(&m);
		return;
	}
	memcpy(&out, m.payload, sizeof(out));
	r_did(r, "flags 0x%x size 0x%llx argsz %u", out.flags, (unsigned long long)out.size, out.argsz);
	if (out.index != index)
		r_decide(r, V_FAIL, "index %u not echoed (got %u)", index, out.index);
	if (out.argsz < 32)
		r_decide(r, V_FAIL, "reply argsz %u below 32", out.argsz);
	if (m.len > 32)
		r_decide(r, V_FAIL, "reply of %zu bytes exceeds the requested argsz 32 (1.6)", m.len);
	if (index == UVF_PCI_CONFIG_REGION && out.size != 256 && out.size != 4096)
		r_decide(r, V_FAIL, "config space size 0x%llx, must be 256 or 4096 (5.1)",
			 (unsigned long long)out.size);
	if (out.size == 0 && (out.flags & (UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS)))
		r_decide(r, V_WARN, "an absent region (size 0) with flags 0x%x", out.flags);
	msg_free(&m);
	if (out.argsz > 32) {
		/* retry with the size asked for: the full chain and the fd */
		if (out.argsz > (1u << 20)) {
			r_decide(r, V_FAIL, "needs argsz %u", out.argsz);
			return;
		}
		ri.argsz = out.argsz;
		struct result again = {0};
		if (xact(x, &again, UVF_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0, &m) != OUT_OK) {
			r_decide(r, V_FAIL, "retry with argsz %u: %s", ri.argsz, again.did);
			return;
		}
		if (m.len < sizeof(out)) {
			r_decide(r, V_FAIL, "retry with argsz %u: reply payload %zu bytes (4.5)", ri.argsz, m.len);
			msg_free(&m);
			return;
		}
		memcpy(&out, m.payload, sizeof(out));
		check_caps(r, &m, &out);
		if ((out.flags & UVF_REGION_FLAG_MMAP) && m.nfds != 1)
			r_decide(r, V_WARN, "MMAP region answered with %d fds (4.5: one)", m.nfds);
		msg_free(&m);
	} else if (out.flags & UVF_REGION_FLAG_CAPS) {
		r_decide(r, V_FAIL, "CAPS flag but argsz 32 leaves no room for a chain");
	}
	if (index >= 9 && out.size && !(out.flags & UVF_REGION_FLAG_CAPS))
		r_decide(r, V_FAIL, "device-specific region without a TYPE capability (5.1)");
}

/* A request with a tweaked argsz, index or payload length (arg2 = length,
 * 0 for the standard 32 bytes); index ~0u+1 means "num_regions". */
static void run_region_info_bad(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[64] = {0};
	uint32_t index = k->arg >> 32 == 1 ? x->facts->info.num_regions : (uint32_t)(k->arg >> 32);
	struct uvf_msg_region_info ri = {.argsz = (uint32_t)k->arg, .index = index};
	if (k->arg >> 32 == 2)
		ri.index = UVF_PCI_CONFIG_REGION;
	memcpy(p, &ri, sizeof(ri));
	struct msg m;
	if (xact(x, r, UVF_CMD_DEVICE_GET_REGION_INFO, 0, p, k->arg2 ? k->arg2 : 32, NULL, 0, &m) == OUT_OK) {
		if (m.len > 32 && m.len > ri.argsz)
			r_decide(r, V_FAIL, "reply of %zu bytes exceeds argsz %u (1.6)", m.len, ri.argsz);
		msg_free(&m);
	}
}

static void run_irq_info(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[32] = {0};
	struct uvf_msg_irq_info ii = {.argsz = (uint32_t)(k->arg2 >> 8 ? k->arg2 >> 8 : 16), .index = (uint32_t)k->arg};
	memcpy(p, &ii, sizeof(ii));
	size_t len = k->arg2 & 0xff ? k->arg2 & 0xff : 16;
	struct msg m;
	if (xact(x, r, UVF_CMD_DEVICE_GET_IRQ_INFO, 0, p, len, NULL, 0, &m) != OUT_OK)
		return;
	if (m.len != 16) {
		r_decide(r, V_FAIL, "reply payload %zu bytes, expected 16 (4.7)", m.len);
		msg_free(&m);
		return;
	}
	struct uvf_msg_irq_info out;
	memcpy(&out, m.payload, sizeof(out));
	msg_free(&m);
	r_did(r, "flags 0x%x count %u", out.flags, out.count);
	if (out.index != ii.index)
		r_decide(r, V_FAIL, "index not echoed");
	switch (ii.index) {
	case UVF_PCI_INTX_IRQ:
	case UVF_PCI_ERR_IRQ:
	case UVF_PCI_REQ_IRQ:
		if (out.count > 1)
			r_decide(r, V_FAIL, "count %u, at most 1 for this index (5.3)", out.count);
		break;
	case UVF_PCI_MSI_IRQ:
		if (out.count & (out.count - 1) || out.count > 32)
			r_decide(r, V_WARN, "MSI count %u is not 0,1,2,4..32 (5.3)", out.count);
		break;
	case UVF_PCI_MSIX_IRQ:
		if (out.count > 2048)
			r_decide(r, V_FAIL, "MSI-X count %u above 2048 (5.3)", out.count);
		break;
	default:
		break;
	}
	if (ii.argsz < 16)
		r_decide(r, V_WARN, "answered although argsz %u cannot hold the reply (1.6)", ii.argsz);
}

static void run_io_fds(struct ctx *x, const struct conform_case *k, struct result *r)
{
	struct uvf_msg_region_io_fds q = {.argsz = (uint32_t)k->arg2, .index = (uint32_t)k->arg};
	if (k->arg == 0xfffe) {
		int bar = first_bar(x->facts);
		q.index = bar < 0 ? 0 : (uint32_t)bar;
		q.count = 3;
	}
	struct msg m;
	if (xact(x, r, UVF_CMD_DEVICE_GET_REGION_IO_FDS, 0, &q, sizeof(q), NULL, 0, &m) != OUT_OK)
		return;
	struct uvf_msg_region_io_fds out;
	if (m.len < sizeof(out)) {
		r_decide(r, V_FAIL, "reply payload %zu bytes (4.6)", m.len);
		msg_free(&m);
		return;
	}
	memcpy(&out, m.payload, sizeof(out));
	r_did(r, "count %u argsz %u, %d fds", out.count, out.argsz, m.nfds);
	if (m.len > 16 && m.len > q.argsz)
		r_decide(r, V_FAIL, "reply of %zu bytes exceeds argsz %u", m.len, q.argsz);
	if (out.count && m.len > 16) {
		size_t stride = (m.len - 16) / out.count;
		if (stride != 40 && stride != 48) {
			r_decide(r, V_FAIL, "entry stride %zu (40 or 48, 9 #2)", stride);
		} else {
			for (uint32_t i = 0; i < out.count; i++) {
				struct uvf_msg_io_fd_entry e;
				memcpy(&e, m.payload + 16 + stride * i, 24);
				uint64_t rsize = out.index < FACT_REGIONS ? x->facts->region[out.index].size : 0;
				if (e.fd_index >= (uint32_t)m.nfds)
					r_decide(r, V_FAIL, "entry %u: fd_index %u of %d fds", i, e.fd_index, m.nfds);
				if (rsize && (e.offset > rsize || e.size > rsize - e.offset))
					r_decide(r, V_FAIL, "entry %u outside the region", i);
			}
		}
	}
	if (k->arg == 0xfffe)
		r_decide(r, V_WARN, "accepted a request count of 3 (4.6: 0)");
	msg_free(&m);
}

#define D(name_, sec, req, fn, a, b, pass_, warn_)                                                                     \
	{                                                                                                              \
		"info/" name_, sec, req, fn, a, b, pass_, warn_, 0, 0, NULL                                            \
	}
#define RI(i)                                                                                                          \
	D("region-info-" #i, "4.5, 5.1", "region " #i ": index echoed, argsz fits, caps chain inside argsz",           \
	  run_region_info, i, 0, O_OK, 0)
#define II(i, what, warn_)                                                                                             \
	D("irq-info-" #i, "4.7, 5.3", "IRQ index " #i " (" what "): a sane count and flags", run_irq_info, i, 0, O_OK, \
	  warn_)
#define RIB(name_, sec, req, kind, argsz, len)                                                                         \
	D(name_, sec, req, run_region_info_bad, ((uint64_t)(kind) << 32) | (argsz), len, O_REJECT, O_OK)

static const struct conform_case cases[] = {
	D("device-info", "4.4", "argsz 16: reply argsz 16, PCI flag, >= 9 regions, 5 IRQ indexes", run_device_info, 16,
	  0, O_OK, 0),
	D("device-info-argsz-large", "1.6, 4.4", "argsz 4096: still a 16-byte reply", run_device_info, 4096, 0, O_OK,
	  0),
	D("device-info-argsz-max", "1.6, 4.4", "argsz 0xffffffff: still a 16-byte reply", run_device_info, 0xffffffffu,
	  0, O_OK, O_ERROR),
	D("device-info-argsz-8", "1.6", "argsz 8 cannot hold the reply: refused", run_device_info, 8, 0, O_REJECT,
	  O_OK),
	D("device-info-argsz-0", "1.6", "argsz 0 cannot hold the reply: refused", run_device_info, 0, 0, O_REJECT,
	  O_OK),
	D("device-info-payload-4", "1.11", "a 4-byte payload is shorter than the struct: EINVAL", run_device_info, 16,
	  4, O_REJECT, 0),
	RI(0),
	RI(1),
	RI(2),
	RI(3),
	RI(4),
	RI(5),
	RI(6),
	RI(7),
	RI(8),
	RIB("region-info-index-num-regions", "4.5", "index = num_regions is out of range: EINVAL", 1, 32, 0),
	RIB("region-info-index-1000", "4.5", "index 1000 is out of range: EINVAL", 1000, 32, 0),
	RIB("region-info-index-max", "4.5", "index 0xffffffff is out of range: EINVAL", 0xffffffffu, 32, 0),
	RIB("region-info-argsz-16", "1.6, 4.5", "argsz 16 cannot hold the 32-byte reply: refused", 2, 16, 0),
	RIB("region-info-argsz-0", "1.6, 4.5", "argsz 0 cannot hold the reply: refused", 2, 0, 0),
	RIB("region-info-payload-16", "1.11", "a 16-byte payload is shorter than the struct: EINVAL", 2, 32, 16),
	D("region-info-argsz-max", "1.6, 4.5", "argsz 0xffffffff: the reply is the size needed, not argsz",
	  run_region_info_bad, (2ull << 32) | 0xffffffffu, 0, O_OK, O_ERROR),
	II(0, "INTx", 0),
	II(1, "MSI", 0),
	II(2, "MSI-X", 0),
	/* 5.3 says count 0; kernel VFIO answers EINVAL for an absent ERR/REQ */
	II(3, "ERR", O_ERROR),
	II(4, "REQ", O_ERROR),
	D("irq-info-index-5", "4.7", "IRQ index 5 is out of range: EINVAL", run_irq_info, 5, 0, O_REJECT, 0),
	D("irq-info-index-max", "4.7", "IRQ index 0xffffffff is out of range: EINVAL", run_irq_info, 0xffffffffu, 0,
	  O_REJECT, 0),
	D("irq-info-argsz-8", "1.6, 4.7", "argsz 8 cannot hold the reply: refused", run_irq_info, 0, 8 << 8, O_REJECT,
	  O_OK),
	D("irq-info-payload-8", "1.11", "an 8-byte payload is shorter than the struct: EINVAL", run_irq_info, 0, 8,
	  O_REJECT, 0),
	D("io-fds-config", "4.6", "IO_FDS on config space: a consistent reply or a refusal (optional command)",
	  run_io_fds, UVF_PCI_CONFIG_REGION, 4096, O_OK | O_ERROR, 0),
	D("io-fds-bar0", "4.6", "IO_FDS on BAR0: entries inside the region, fd_index valid", run_io_fds, 0, 4096,
	  O_OK | O_ERROR, 0),
	D("io-fds-small-argsz", "4.6", "IO_FDS with argsz 16: no entries beyond argsz", run_io_fds, 0, 16,
	  O_OK | O_ERROR, 0),
	D("io-fds-bad-index", "4.6", "IO_FDS on index 0xffffffff: refused", run_io_fds, 0xffffffffu, 4096, O_REJECT, 0),
	D("io-fds-request-count", "4.6", "IO_FDS request count must be 0: refused otherwise", run_io_fds, 0xfffe, 4096,
	  O_REJECT, O_OK),
};

const struct case_table conform_info_table = {"info", cases, sizeof(cases) / sizeof(cases[0])};
