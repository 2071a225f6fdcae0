/* SPDX-License-Identifier: MIT */
/* Decoders for DMA_MAP and DMA_UNMAP requests. */
#include "proto/decode_internal.h"

#define UVF_DMA_MAP_FLAGS_BASE (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)
#define UVF_DMA_MAP_FLAGS_MODE (UVF_DMA_MAP_FLAG_MMAP | UVF_DMA_MAP_FLAG_FILE_IO)

int uvf__decode_dma_map(const void *payload, size_t len, size_t nfds, uint64_t pgsizes, bool allow_ext,
			struct uvf_msg_dma_map *out, struct uvf_why *why)
{
	static const char what[] = "DMA_MAP";
	uint32_t known = UVF_DMA_MAP_FLAGS_BASE | (allow_ext ? UVF_DMA_MAP_FLAGS_MODE : 0);
	struct uvf_msg_dma_map map;
	uint64_t page;
	int ret;

	if (nfds > 1)
		return uvf__why(why, -EINVAL, "%s: %zu file descriptors, at most 1", what, nfds);
	if ((ret = uvf__expect_len(what, len, sizeof(map), why)) < 0)
		return ret;
	memcpy(&map, payload, sizeof(map));
	if (map.argsz != sizeof(map))
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 ", expected 32", what, map.argsz);
	if (map.flags & ~known)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " unknown flags 0x%" PRIx32, what, map.address,
				map.flags & ~known);
	/* An access mode names how to use the fd: it needs one, and only one mode. */
	if ((map.flags & UVF_DMA_MAP_FLAGS_MODE) == UVF_DMA_MAP_FLAGS_MODE)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " both MMAP and FILE_IO in flags 0x%" PRIx32,
				what, map.address, map.flags);
	if ((map.flags & UVF_DMA_MAP_FLAGS_MODE) && nfds == 0)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " access mode in flags 0x%" PRIx32 " without fd",
				what, map.address, map.flags);
	if (map.size == 0)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " size 0", what, map.address);
	if (uvf__wraps64(map.address, map.size))
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " + size 0x%" PRIx64 " wraps", what, map.address,
				map.size);
	if (uvf__wraps64(map.offset, map.size))
		return uvf__why(why, -EINVAL, "%s: offset 0x%" PRIx64 " + size 0x%" PRIx64 " wraps", what, map.offset,
				map.size);
	if (nfds == 0 && map.offset != 0)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " offset 0x%" PRIx64 " without fd", what,
				map.address, map.offset);
	/* Smallest advertised page; no bit at all falls back to the default. */
	page = pgsizes != 0 ? (uint64_t)1 << __builtin_ctzll(pgsizes) : UVF_DEFAULT_PGSIZES;
	if ((map.address | map.size) & (page - 1))
		return uvf__why(why, -EINVAL,
				"%s: address 0x%" PRIx64 " size 0x%" PRIx64 " not aligned to page size 0x%" PRIx64,
				what, map.address, map.size, page);
	*out = map;
	return 0;
}

int uvf__decode_dma_unmap(const void *payload, size_t len, size_t nfds, struct uvf_msg_dma_unmap *out,
			  struct uvf_why *why)
{
	static const char what[] = "DMA_UNMAP";
	struct uvf_msg_dma_unmap unmap;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(unmap), why)) < 0)
		return ret;
	memcpy(&unmap, payload, sizeof(unmap));
	if ((ret = uvf__expect_min_argsz(what, unmap.argsz, sizeof(unmap), why)) < 0)
		return ret;
	/* GET_DIRTY_BITMAP is legacy and VADDR kernel-only: both refused. */
	if (unmap.flags != 0 && unmap.flags != UVF_DMA_UNMAP_FLAG_ALL)
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 ", expected 0 or ALL (0x2)", what, unmap.flags);
	if (unmap.flags == UVF_DMA_UNMAP_FLAG_ALL) {
		if (unmap.address != 0 || unmap.size != 0)
			return uvf__why(why, -EINVAL,
					"%s: ALL with address 0x%" PRIx64 " size 0x%" PRIx64 ", expected 0", what,
					unmap.address, unmap.size);
	} else {
		if (unmap.size == 0)
			return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " size 0", what, unmap.address);
		/* A range may end exactly at 2^64: QEMU unmaps the top of the
		 * IOVA space that way. Only beyond it is a wrap. */
		if (unmap.size - 1 > UINT64_MAX - unmap.address)
			return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " + size 0x%" PRIx64 " wraps", what,
					unmap.address, unmap.size);
	}
	*out = unmap;
	return 0;
}
