/* SPDX-License-Identifier: MIT */
/* Decoder of the DEVICE_GET_REGION_INFO reply and its capability chain. */
#include "proto/decode_internal.h"

#define UVF_REGION_FLAGS_KNOWN                                                                                         \
	(UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS)
/* Longest chain we walk; real servers send one or two capabilities. */
#define UVF_REGION_CAPS_MAX 16u

static const char what[] = "DEVICE_GET_REGION_INFO reply";

static int parse_sparse_mmap(const uint8_t *bytes, uint32_t argsz, uint32_t offset,
			     const struct uvf_msg_region_info *info, struct uvf_region_info_view *view,
			     struct uvf_why *why)
{
	struct uvf_msg_region_cap_sparse_mmap cap;
	struct uvf_msg_region_sparse_area area;
	uint64_t areas_start, areas_end;
	uint32_t i;

	if ((uint64_t)offset + sizeof(cap) > argsz)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " SPARSE_MMAP at %" PRIu32 " beyond argsz %" PRIu32,
				what, info->index, offset, argsz);
	if (view->sparse_areas != NULL)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " second SPARSE_MMAP capability at %" PRIu32, what,
				info->index, offset);
	memcpy(&cap, bytes + offset, sizeof(cap));
	/* 64-bit sums: offset < 2^32 and nr_areas * 16 < 2^36 cannot wrap. */
	areas_start = (uint64_t)offset + sizeof(cap);
	areas_end = areas_start + (uint64_t)cap.nr_areas * sizeof(area);
	if (areas_end > argsz)
		return uvf__why(why, -EINVAL,
				"%s: region %" PRIu32 " SPARSE_MMAP at %" PRIu32 " with %" PRIu32
				" areas ends at %" PRIu64 ", beyond argsz %" PRIu32,
				what, info->index, offset, cap.nr_areas, areas_end, argsz);
	for (i = 0; i < cap.nr_areas; i++) {
		memcpy(&area, bytes + areas_start + (uint64_t)i * sizeof(area), sizeof(area));
		if (uvf__wraps64(area.offset, area.size) || area.offset + area.size > info->size)
			return uvf__why(why, -EINVAL,
					"%s: region %" PRIu32 " sparse area %" PRIu32 " offset 0x%" PRIx64
					" + size 0x%" PRIx64 " beyond region size 0x%" PRIx64,
					what, info->index, i, area.offset, area.size, info->size);
	}
	/* Non-NULL even for zero areas: a cap without areas (nothing mappable)
	 * differs from no cap at all (whole region mappable). */
	view->sparse_areas = (const struct uvf_msg_region_sparse_area *)(bytes + areas_start);
	view->nr_sparse_areas = cap.nr_areas;
	return 0;
}

static int parse_type(const uint8_t *bytes, uint32_t argsz, uint32_t offset, const struct uvf_msg_region_info *info,
		      struct uvf_region_info_view *view, struct uvf_why *why)
{
	struct uvf_msg_region_cap_type cap;

	if ((uint64_t)offset + sizeof(cap) > argsz)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " TYPE at %" PRIu32 " beyond argsz %" PRIu32, what,
				info->index, offset, argsz);
	if (view->has_type)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " second TYPE capability at %" PRIu32, what,
				info->index, offset);
	memcpy(&cap, bytes + offset, sizeof(cap));
	view->has_type = true;
	view->type = cap.type;
	view->subtype = cap.subtype;
	return 0;
}

static int walk_caps(const uint8_t *bytes, const struct uvf_msg_region_info *info, struct uvf_region_info_view *view,
		     struct uvf_why *why)
{
	struct uvf_msg_region_cap_header header;
	uint32_t offset = info->cap_offset;
	unsigned count = 0;
	int ret;

	if (offset < sizeof(*info))
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " CAPS with cap_offset %" PRIu32 " below 32", what,
				info->index, offset);
	while (offset != 0) {
		if (count++ == UVF_REGION_CAPS_MAX)
			return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " more than %u capabilities", what,
					info->index, UVF_REGION_CAPS_MAX);
		if ((uint64_t)offset + sizeof(header) > info->argsz)
			return uvf__why(why, -EINVAL,
					"%s: region %" PRIu32 " capability header at %" PRIu32 " beyond argsz %" PRIu32,
					what, info->index, offset, info->argsz);
		memcpy(&header, bytes + offset, sizeof(header));
		switch (header.id) {
		case UVF_REGION_CAP_SPARSE_MMAP:
			ret = parse_sparse_mmap(bytes, info->argsz, offset, info, view, why);
			break;
		case UVF_REGION_CAP_TYPE:
			ret = parse_type(bytes, info->argsz, offset, info, view, why);
			break;
		default:
			/* Unknown capability: its size is unknown, skip it. */
			ret = 0;
			break;
		}
		if (ret < 0)
			return ret;
		/* Strictly increasing offsets rule out loops. */
		if (header.next != 0 && header.next <= offset)
			return uvf__why(why, -EINVAL,
					"%s: region %" PRIu32 " capability at %" PRIu32 " has next %" PRIu32
					", not beyond it",
					what, info->index, offset, header.next);
		offset = header.next;
	}
	return 0;
}

int uvf__decode_region_info_reply(const void *payload, size_t len, size_t nfds, uint32_t expected_index,
				  struct uvf_region_info_view *out, struct uvf_why *why)
{
	struct uvf_region_info_view view = {0};
	struct uvf_msg_region_info info;
	int ret;

	if ((ret = uvf__expect_min_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if (info.index != expected_index)
		return uvf__why(why, -EINVAL, "%s: index %" PRIu32 ", expected %" PRIu32, what, info.index,
				expected_index);
	if (info.flags & ~UVF_REGION_FLAGS_KNOWN)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " unknown flags 0x%" PRIx32, what, info.index,
				info.flags & ~UVF_REGION_FLAGS_KNOWN);
	if (nfds > 1)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " with %zu file descriptors, at most 1", what,
				info.index, nfds);
	if (nfds == 1 && !(info.flags & UVF_REGION_FLAG_MMAP))
		return uvf__why(why, -EINVAL,
				"%s: region %" PRIu32 " sent a file descriptor without MMAP (flags 0x%" PRIx32 ")",
				what, info.index, info.flags);
	if ((ret = uvf__expect_min_argsz(what, info.argsz, sizeof(info), why)) < 0)
		return ret;

	view.info = info;
	if (info.argsz > len) {
		/* The server needs a bigger buffer: only the fixed part came. */
		view.truncated = true;
	} else if (info.flags & UVF_REGION_FLAG_CAPS) {
		ret = walk_caps(payload, &info, &view, why);
		if (ret < 0)
			return ret;
	}
	*out = view;
	return 0;
}
