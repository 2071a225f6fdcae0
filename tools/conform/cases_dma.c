/* SPDX-License-Identifier: MIT */
/*
 * DMA_MAP / DMA_UNMAP: valid mappings with and without an fd, overlaps,
 * duplicates, sizes and addresses that are zero, wrap or are unaligned, fds
 * smaller than the mapping, unmaps that match nothing, bad flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

#define RW (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

/* Sends one DMA_MAP; fd_size 0 = no fd, else a memfd of that size. */
static enum outcome map(struct ctx *x, struct result *r, uint32_t flags, uint64_t offset, uint64_t address,
			uint64_t size, size_t fd_size, uint32_t argsz, size_t len)
{
	struct uvf_msg_dma_map mp = {
		.argsz = argsz ? argsz : 32, .flags = flags, .offset = offset, .address = address, .size = size};
	int fd = fd_size ? make_memfd(fd_size) : -1;
	enum outcome o = xact(x, r, UVF_CMD_DMA_MAP, 0, &mp, len ? len : sizeof(mp), &fd, fd >= 0 ? 1 : 0, NULL);
	if (fd >= 0)
		close(fd);
	return o;
}

/* A first mapping the case builds on; failure makes the case FAIL. */
static bool setup_map(struct ctx *x, struct result *r, uint64_t address, uint64_t size, bool with_fd)
{
	struct result s = {0};
	if (map(x, &s, RW, 0, address, size, with_fd ? size : 0, 0, 0) == OUT_OK)
		return true;
	r_decide(r, V_FAIL, "set-up: DMA_MAP of 0x%llx+0x%llx failed: %s", (unsigned long long)address,
		 (unsigned long long)size, s.did);
	return false;
}

enum dma_kind {
	MAP_FD,
	MAP_NO_FD,
	MAP_OVERLAP,
	MAP_DUPLICATE,
	MAP_CONTAINED,
	MAP_ADJACENT,
	MAP_ZERO,
	MAP_WRAP,
	MAP_UNALIGNED_ADDR,
	MAP_UNALIGNED_SIZE,
	MAP_UNALIGNED_OFFSET,
	MAP_FD_SMALL,
	MAP_OFFSET_BEYOND_FD,
	MAP_OFFSET_WRAP,
	MAP_BAD_FLAGS,
	MAP_NO_PERM,
	MAP_ARGSZ_16,
	MAP_PAYLOAD_24,
	MAP_TWO_FDS,
	MAP_253_FDS,
	MAP_PIPE_FD,
	MAP_HUGE_NO_FD,
	MAP_MANY,
	MAP_FILE_IO_NO_FD,
	MAP_NO_REPLY,
	UNMAP_VALID,
	UNMAP_NEVER,
	UNMAP_PARTIAL,
	UNMAP_SUPERSET,
	UNMAP_ALL,
	UNMAP_ALL_WITH_ADDR,
	UNMAP_VADDR,
	UNMAP_UNKNOWN_FLAG,
	UNMAP_DIRTY_BITMAP,
	UNMAP_ARGSZ_16,
	UNMAP_ZERO,
	UNMAP_TWICE,
	REMAP_AFTER_UNMAP,
	MAP_READ_ONLY_FD,
};

static void run_dma(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const uint64_t pg = dma_page(x->facts);
	const uint64_t base = DMA_BASE;
	struct uvf_msg_dma_unmap um = {.argsz = 24, .address = base, .size = pg};
	struct msg m;

	switch ((enum dma_kind)k->arg) {
	case MAP_FD:
		map(x, r, RW, 0, base, 4 * pg, 4 * pg, 0, 0);
		break;
	case MAP_NO_FD:
		map(x, r, RW, 0, base, 4 * pg, 0, 0, 0);
		break;
	case MAP_OVERLAP:
		if (setup_map(x, r, base, 2 * pg, true))
			map(x, r, RW, 0, base + pg, 2 * pg, 2 * pg, 0, 0);
		break;
	case MAP_DUPLICATE:
		if (setup_map(x, r, base, 2 * pg, false))
			map(x, r, RW, 0, base, 2 * pg, 0, 0, 0);
		break;
	case MAP_CONTAINED:
		if (setup_map(x, r, base, 4 * pg, false))
			map(x, r, RW, 0, base + pg, pg, 0, 0, 0);
		break;
	case MAP_ADJACENT:
		if (setup_map(x, r, base, 2 * pg, false))
			map(x, r, RW, 0, base + 2 * pg, 2 * pg, 0, 0, 0);
		break;
	case MAP_ZERO:
		map(x, r, RW, 0, base, 0, pg, 0, 0);
		break;
	case MAP_WRAP:
		map(x, r, RW, 0, 0 - pg, 2 * pg, 0, 0, 0);
		break;
	case MAP_UNALIGNED_ADDR:
		map(x, r, RW, 0, base + 0x800, pg, 2 * pg, 0, 0);
		break;
	case MAP_UNALIGNED_SIZE:
		map(x, r, RW, 0, base, pg + 0x800, 2 * pg, 0, 0);
		break;
	case MAP_UNALIGNED_OFFSET:
		map(x, r, RW, 0x800, base, pg, 2 * pg, 0, 0);
		break;
	case MAP_FD_SMALL:
		/* touching past the end of the file would be SIGBUS in the server */
		map(x, r, RW, 0, base, 64 * pg, pg, 0, 0);
		break;
	case MAP_OFFSET_BEYOND_FD:
		map(x, r, RW, 256 * pg, base, pg, pg, 0, 0);
		break;
	case MAP_OFFSET_WRAP:
		map(x, r, RW, 0 - pg, base, 2 * pg, pg, 0, 0);
		break;
	case MAP_BAD_FLAGS:
		map(x, r, RW | 0x80, 0, base, pg, pg, 0, 0);
		break;
	case MAP_NO_PERM:
		map(x, r, 0, 0, base, pg, pg, 0, 0);
		break;
	case MAP_ARGSZ_16:
		map(x, r, RW, 0, base, pg, 0, 16, 0);
		break;
	case MAP_PAYLOAD_24:
		map(x, r, RW, 0, base, pg, 0, 0, 24);
		break;
	case MAP_TWO_FDS: {
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = RW, .address = base, .size = pg};
		int fds[2] = {make_memfd(pg), make_memfd(pg)};
		xact(x, r, UVF_CMD_DMA_MAP, 0, &mp, sizeof(mp), fds, 2, NULL);
		close(fds[0]);
		close(fds[1]);
		break;
	}
	case MAP_253_FDS: {
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = RW, .address = base, .size = pg};
		int fds[253];
		fds[0] = make_memfd(pg);
		for (int i = 1; i < 253; i++)
			fds[i] = make_eventfd();
		xact(x, r, UVF_CMD_DMA_MAP, 0, &mp, sizeof(mp), fds, 253, NULL);
		for (int i = 0; i < 253; i++)
			close(fds[i]);
		break;
	}
	case MAP_PIPE_FD: {
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = RW, .address = base, .size = pg};
		struct fd_probe p;
		if (fd_probe_open(&p) < 0)
			break;
		xact(x, r, UVF_CMD_DMA_MAP, 0, &mp, sizeof(mp), &p.write_end, 1, NULL);
		fd_probe_close(&p);
		break;
	}
	case MAP_READ_ONLY_FD: {
		/* a read-only fd asked to back a writable mapping */
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = RW, .address = base, .size = pg};
		int fd = make_memfd(pg);
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		int ro = open(path, O_RDONLY | O_CLOEXEC);
		close(fd);
		xact(x, r, UVF_CMD_DMA_MAP, 0, &mp, sizeof(mp), &ro, ro >= 0 ? 1 : 0, NULL);
		if (ro >= 0)
			close(ro);
		break;
	}
	case MAP_HUGE_NO_FD:
		map(x, r, RW, 0, 1ull << 62, 1ull << 61, 0, 0, 0);
		break;
	case MAP_MANY: {
		uint32_t n = x->facts->max_dma_maps < 64 ? x->facts->max_dma_maps : 64;
		for (uint32_t i = 0; i < n; i++) {
			struct result one = {0};
			if (map(x, &one, RW, 0, base + 2 * pg * i, pg, 0, 0, 0) != OUT_OK) {
				r->out = one.out;
				r->err = one.err;
				r_did(r, "mapping %u of %u: %s", i + 1, n, one.did);
				r_decide(r, V_FAIL, "refused a mapping below max_dma_maps %u (2.3)",
					 x->facts->max_dma_maps);
				return;
			}
		}
		r->out = OUT_OK;
		r_did(r, "%u mappings accepted", n);
		if (do_dma_unmap(x, 0, 0, UVF_DMA_UNMAP_FLAG_ALL) < 0)
			for (uint32_t i = 0; i < n; i++)
				do_dma_unmap(x, base + 2 * pg * i, pg, 0);
		break;
	}
	case MAP_FILE_IO_NO_FD:
		map(x, r, RW | UVF_DMA_MAP_FLAG_FILE_IO, 0, base, pg, 0, 0, 0);
		break;
	case MAP_NO_REPLY: {
		struct uvf_msg_dma_map mp = {.argsz = 32, .flags = RW, .address = base, .size = pg};
		xact_no_reply(x, r, UVF_CMD_DMA_MAP, &mp, sizeof(mp), NULL, 0);
		if (r->out == OUT_SILENT && do_dma_unmap(x, base, pg, 0) < 0)
			r_decide(r, V_FAIL, "the posted DMA_MAP did not take effect: unmap failed");
		break;
	}
	case UNMAP_VALID:
		if (!setup_map(x, r, base, pg, true))
			break;
		if (xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, &m) == OUT_OK) {
			struct uvf_msg_dma_unmap back = {0};
			if (m.len != 24)
				r_decide(r, V_FAIL, "reply of %zu bytes (4.3: 24-byte echo)", m.len);
			else if (memcpy(&back, m.payload, 24), back.address != base || back.size != pg)
				r_decide(r, V_FAIL, "reply does not echo address and size");
			msg_free(&m);
		}
		break;
	case UNMAP_NEVER:
		xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		break;
	case UNMAP_PARTIAL:
		if (setup_map(x, r, base, 2 * pg, false))
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		break;
	case UNMAP_SUPERSET:
		if (setup_map(x, r, base + pg, pg, false)) {
			um.size = 4 * pg;
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		}
		break;
	case UNMAP_ALL:
		if (setup_map(x, r, base, pg, true) && setup_map(x, r, base + 4 * pg, pg, false)) {
			um.flags = UVF_DMA_UNMAP_FLAG_ALL;
			um.address = um.size = 0;
			if (xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL) == OUT_OK &&
			    do_dma_unmap(x, base, pg, 0) == 0)
				r_decide(r, V_FAIL, "a mapping survived unmap-all");
		}
		break;
	case UNMAP_ALL_WITH_ADDR:
		if (setup_map(x, r, base, pg, false)) {
			um.flags = UVF_DMA_UNMAP_FLAG_ALL;
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		}
		break;
	case UNMAP_VADDR:
	case UNMAP_UNKNOWN_FLAG:
	case UNMAP_DIRTY_BITMAP:
		if (setup_map(x, r, base, pg, false)) {
			um.flags = k->arg == UNMAP_VADDR	  ? UVF_DMA_UNMAP_FLAG_VADDR
				   : k->arg == UNMAP_UNKNOWN_FLAG ? 0x80u
								  : UVF_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
			uint8_t buf[40] = {0};
			struct uvf_msg_dma_unmap_bitmap bm = {.pgsize = pg, .size = 8};
			memcpy(buf, &um, 24);
			memcpy(buf + 24, &bm, 16);
			um.argsz = 24 + 16 + 8;
			memcpy(buf, &um, 24);
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, buf, k->arg == UNMAP_DIRTY_BITMAP ? 40 : 24, NULL, 0, NULL);
		}
		break;
	case UNMAP_ARGSZ_16:
		if (setup_map(x, r, base, pg, false)) {
			um.argsz = 16;
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		}
		break;
	case UNMAP_ZERO:
		um.size = 0;
		xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		break;
	case UNMAP_TWICE:
		if (setup_map(x, r, base, pg, true) && do_dma_unmap(x, base, pg, 0) == 0)
			xact(x, r, UVF_CMD_DMA_UNMAP, 0, &um, sizeof(um), NULL, 0, NULL);
		break;
	case REMAP_AFTER_UNMAP:
		if (setup_map(x, r, base, pg, true) && do_dma_unmap(x, base, pg, 0) == 0)
			map(x, r, RW, 0, base, 2 * pg, 2 * pg, 0, 0);
		break;
	}
}

#define M(name_, sec, req, kind, pass_, warn_)                                                                         \
	{                                                                                                              \
		"dma/" name_, sec, req, run_dma, kind, 0, pass_, warn_, 0, 0, NULL                                     \
	}
#define ME(name_, sec, req, kind, pass_, warn_, errno_)                                                                \
	{                                                                                                              \
		"dma/" name_, sec, req, run_dma, kind, 0, pass_, warn_, errno_, 0, NULL                                \
	}

static const struct conform_case cases[] = {
	M("map-memfd", "4.2", "a mapping backed by a memfd is accepted", MAP_FD, O_OK, 0),
	M("map-no-fd", "4.2", "a mapping without fd (message-based DMA) is accepted", MAP_NO_FD, O_OK, O_ERROR),
	ME("map-overlap", "4.2, 9 #5", "a partial overlap fails with EEXIST", MAP_OVERLAP, O_ERROR, 0, EEXIST),
	M("map-duplicate", "4.2, 9 #5", "an exact duplicate succeeds (or EEXIST)", MAP_DUPLICATE, O_OK | O_ERROR, 0),
	ME("map-contained", "4.2, 9 #5", "a mapping inside an existing one fails with EEXIST", MAP_CONTAINED, O_ERROR,
	   0, EEXIST),
	M("map-adjacent", "4.2", "a mapping right after an existing one is accepted", MAP_ADJACENT, O_OK, 0),
	M("map-zero-size", "4.2, 1.1", "a mapping of size 0 is refused", MAP_ZERO, O_REJECT, 0),
	M("map-wrap", "4.2, 1.1", "address + size wrapping past 2^64 is refused", MAP_WRAP, O_REJECT, 0),
	M("map-unaligned-address", "2.3, 4.2", "an address not aligned to pgsizes is refused", MAP_UNALIGNED_ADDR,
	  O_REJECT, 0),
	M("map-unaligned-size", "2.3, 4.2", "a size not aligned to pgsizes is refused", MAP_UNALIGNED_SIZE, O_REJECT,
	  0),
	M("map-unaligned-offset", "4.2", "an fd offset that cannot be mmapped is refused", MAP_UNALIGNED_OFFSET,
	  O_REJECT, O_OK),
	M("map-fd-smaller-than-size", "4.2, 1.1", "a mapping larger than its memfd is refused (SIGBUS otherwise)",
	  MAP_FD_SMALL, O_REJECT, 0),
	M("map-offset-beyond-fd", "4.2, 1.1", "an fd offset beyond the end of the memfd is refused",
	  MAP_OFFSET_BEYOND_FD, O_REJECT, 0),
	M("map-offset-wrap", "4.2, 1.1", "fd offset + size wrapping past 2^64 is refused", MAP_OFFSET_WRAP, O_REJECT,
	  0),
	M("map-unknown-flag", "4.2", "an unknown flag bit (0x80) is refused", MAP_BAD_FLAGS, O_REJECT, O_OK),
	M("map-no-permission", "4.2", "a mapping with neither READ nor WRITE is accepted or refused", MAP_NO_PERM,
	  O_OK | O_ERROR, 0),
	M("map-argsz-16", "1.6, 4.2", "DMA_MAP argsz must be 32: 16 is refused", MAP_ARGSZ_16, O_REJECT, O_OK),
	M("map-payload-24", "1.11", "a 24-byte DMA_MAP payload is refused", MAP_PAYLOAD_24, O_REJECT, 0),
	M("map-two-fds", "1.8, 4.2", "DMA_MAP takes 0 or 1 fd: two are refused", MAP_TWO_FDS, O_REJECT, O_OK),
	M("map-253-fds", "1.7, 1.8", "253 fds (above max_msg_fds) on DMA_MAP: refused, all closed", MAP_253_FDS,
	  O_REJECT, 0),
	M("map-pipe-fd", "4.2", "an fd that cannot be mapped (a pipe) is refused", MAP_PIPE_FD, O_REJECT, O_OK),
	M("map-read-only-fd", "4.2", "a read-only fd backing a writable mapping is refused", MAP_READ_ONLY_FD, O_REJECT,
	  O_OK),
	M("map-huge-no-fd", "4.2", "a 2^61-byte mapping without fd is accepted or refused", MAP_HUGE_NO_FD,
	  O_OK | O_ERROR, 0),
	M("map-many", "2.3", "64 mappings (or max_dma_maps) are accepted", MAP_MANY, O_OK, 0),
	M("map-file-io-no-fd", "8.1", "the FILE_IO access mode without an fd is refused", MAP_FILE_IO_NO_FD, O_REJECT,
	  0),
	M("map-no-reply", "1.5", "DMA_MAP with NO_REPLY takes effect without a reply", MAP_NO_REPLY, O_SILENT, O_ERROR),
	M("unmap", "4.3", "unmapping a mapping is answered with a 24-byte echo", UNMAP_VALID, O_OK, 0),
	ME("unmap-never-mapped", "4.3", "unmapping what was never mapped fails (ENOENT)", UNMAP_NEVER, O_ERROR, 0,
	   ENOENT),
	M("unmap-partial", "4.3", "unmapping part of a mapping is refused (no splitting)", UNMAP_PARTIAL, O_ERROR, 0),
	M("unmap-superset", "4.3", "unmapping a range larger than the mapping is refused", UNMAP_SUPERSET, O_ERROR,
	  O_OK),
	M("unmap-all", "4.3, 9 #4", "flag 0x2 with address and size 0 removes every mapping", UNMAP_ALL, O_OK, O_ERROR),
	M("unmap-all-with-address", "4.3", "unmap-all with a non-zero address is refused", UNMAP_ALL_WITH_ADDR, O_ERROR,
	  0),
	M("unmap-vaddr-flag", "4.3", "the kernel-only VADDR flag is refused", UNMAP_VADDR, O_ERROR, 0),
	M("unmap-unknown-flag", "4.3", "an unknown flag bit (0x80) is refused", UNMAP_UNKNOWN_FLAG, O_ERROR, 0),
	M("unmap-dirty-bitmap", "4.3, 9 #4", "GET_DIRTY_BITMAP without dirty logging is refused", UNMAP_DIRTY_BITMAP,
	  O_ERROR, O_OK),
	M("unmap-argsz-16", "1.6, 4.3", "argsz 16 cannot hold the 24-byte reply: refused", UNMAP_ARGSZ_16, O_ERROR,
	  O_OK),
	M("unmap-zero-size", "4.3", "an unmap of size 0 is refused", UNMAP_ZERO, O_ERROR, 0),
	M("unmap-twice", "4.3", "the second unmap of the same mapping fails", UNMAP_TWICE, O_ERROR, 0),
	M("remap-after-unmap", "4.2, 4.3", "an address is mappable again after its unmap", REMAP_AFTER_UNMAP, O_OK, 0),
};

const struct case_table conform_dma_table = {"dma", cases, sizeof(cases) / sizeof(cases[0])};
