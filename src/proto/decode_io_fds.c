/* SPDX-License-Identifier: MIT */
/* Decoders for DEVICE_GET_REGION_IO_FDS requests and replies. */
#include "proto/decode_internal.h"

/* Entry layouts: the spec's 40 bytes and libvfio-user's 48 (docs/protocol.md
 * errata 9 #2). Both start with the spec's fields up to datamatch and end
 * with datamatch. */
#define IO_FD_ENTRY_SPEC 40u
#define IO_FD_ENTRY_LVFU 48u
#define IO_FD_ENTRY_HEAD offsetof(struct uvf_msg_io_fd_entry, datamatch)

int uvf__decode_region_io_fds_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_region_io_fds *out,
				  struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_REGION_IO_FDS";
	struct uvf_msg_region_io_fds req;

	if (len != sizeof(req) || nfds != 0)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, %zu fds", what, len, nfds);
	memcpy(&req, payload, sizeof(req));
	if (req.argsz < sizeof(req) || req.count != 0 || req.flags != 0)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 ", flags 0x%" PRIx32 ", count %" PRIu32, what,
				req.argsz, req.flags, req.count);
	if (req.index >= UVF_PCI_NUM_REGIONS)
		return uvf__why(why, -EINVAL, "%s: no region %" PRIu32, what, req.index);
	*out = req;
	return 0;
}

void uvf__io_fds_entry(const struct uvf_region_io_fds_view *view, uint32_t i, struct uvf_msg_io_fd_entry *out)
{
	const uint8_t *p = view->entries + (size_t)i * view->stride;

	memset(out, 0, sizeof(*out));
	memcpy(out, p, IO_FD_ENTRY_HEAD);
	memcpy(&out->datamatch, p + view->stride - sizeof(out->datamatch), sizeof(out->datamatch));
}

int uvf__decode_region_io_fds_reply(const void *payload, size_t len, size_t nfds,
				    const struct uvf_msg_region_io_fds *request, uint32_t max_argsz,
				    uint64_t region_size, struct uvf_region_io_fds_view *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_REGION_IO_FDS reply";
	struct uvf_region_io_fds_view v = {.stride = 0};
	uint32_t entries_len;

	if (len < sizeof(v.head))
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected at least %zu", what, len,
				sizeof(v.head));
	memcpy(&v.head, payload, sizeof(v.head));
	if (v.head.index != request->index || v.head.argsz < sizeof(v.head))
		return uvf__why(why, -EINVAL, "%s: for region %" PRIu32 " (asked %" PRIu32 "), argsz %" PRIu32, what,
				v.head.index, request->index, v.head.argsz);
	if (v.head.count == 0) {
		/* no ioeventfds: any fds that came along are unused */
		*out = v;
		return 0;
	}
	if (v.head.argsz > len) {
		/* The server left the entries (and fds) out: the argsz to retry with. */
		if (nfds == 0 && v.head.argsz > request->argsz && v.head.argsz <= max_argsz) {
			v.truncated = true;
			*out = v;
			return 0;
		}
		return uvf__why(why, -EINVAL,
				"%s: argsz %" PRIu32 " beyond the %zu bytes received (asked %" PRIu32 ", %zu fds)",
				what, v.head.argsz, len, request->argsz, nfds);
	}
	entries_len = v.head.argsz - (uint32_t)sizeof(v.head);
	if (v.head.count > UVF_IO_FDS_MAX_ENTRIES || entries_len % v.head.count != 0)
		return uvf__why(why, -EINVAL, "%s: %" PRIu32 " entries in %" PRIu32 " bytes", what, v.head.count,
				entries_len);
	v.stride = entries_len / v.head.count;
	if (v.stride != IO_FD_ENTRY_SPEC && v.stride != IO_FD_ENTRY_LVFU)
		return uvf__why(why, -EINVAL, "%s: entries of %zu bytes, expected 40 or 48", what, v.stride);
	v.entries = (const uint8_t *)payload + sizeof(v.head);
	for (uint32_t i = 0; i < v.head.count; i++) {
		struct uvf_msg_io_fd_entry e;

		uvf__io_fds_entry(&v, i, &e);
		if (e.fd_index >= nfds || e.offset >= region_size || e.size > region_size - e.offset)
			return uvf__why(why, -EINVAL,
					"%s: entry %" PRIu32 " (offset 0x%" PRIx64 ", size %" PRIu64 ", fd %" PRIu32
					" of %zu) outside the region (size 0x%" PRIx64 ") or its fds",
					what, i, e.offset, e.size, e.fd_index, nfds, region_size);
	}
	*out = v;
	return 0;
}
