/* SPDX-License-Identifier: MIT */
/*
 * Decoders for the DMA logging features of DEVICE_FEATURE (docs/protocol.md
 * 4.15, 6): START, STOP and REPORT feature data as the server receives
 * them, and the START and REPORT replies as the client receives them.
 * "data" is the feature data after the 8-byte DEVICE_FEATURE header.
 */
#include "proto/decode_internal.h"
#include "util.h"

/* A range is usable when it is not empty and ends at or below 2^64. */
static bool range_ok(uint64_t iova, uint64_t length)
{
	return length != 0 && length - 1 <= UINT64_MAX - iova;
}

/* Bytes of the bitmap (whole 64-bit words) for length bytes in pages of
 * 2^shift: one bit per page, the last page possibly partial. No sum here
 * can wrap: units <= 2^64 - 1, so words * 8 <= 2^61. */
static uint64_t bitmap_bytes(uint64_t length, unsigned shift)
{
	uint64_t units = length ? ((length - 1) >> shift) + 1 : 0;

	return (units / 64 + (units % 64 != 0)) * 8;
}

/* ------------------------------------------------------------------ */
/* Server side: requests                                                */
/* ------------------------------------------------------------------ */

int uvf__decode_dma_logging_start(const void *data, size_t len, struct uvf_dma_logging_start_view *out,
				  struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE: DMA_LOGGING_START";
	struct uvf_msg_dma_logging_control ctl;
	const uint8_t *ranges;
	size_t ranges_len;

	if (len < sizeof(ctl))
		return uvf__why(why, -EINVAL, "%s: %zu data bytes, expected at least %zu", what, len, sizeof(ctl));
	memcpy(&ctl, data, sizeof(ctl));
	if (ctl.num_ranges > UVF_DMA_LOGGING_MAX_RANGES)
		return uvf__why(why, -E2BIG, "%s: %" PRIu32 " ranges, at most %u", what, ctl.num_ranges,
				UVF_DMA_LOGGING_MAX_RANGES);
	/* num_ranges <= 2^16: the product cannot wrap */
	ranges_len = (size_t)ctl.num_ranges * sizeof(struct uvf_msg_dma_logging_range);
	if (len != sizeof(ctl) + ranges_len)
		return uvf__why(why, -EINVAL, "%s: %zu data bytes for %" PRIu32 " ranges, expected %zu", what, len,
				ctl.num_ranges, sizeof(ctl) + ranges_len);
	/* The size is a hint: 0 means "yours", anything else a power of two. */
	if (ctl.page_size != 0 && !uvf__is_pow2(ctl.page_size))
		return uvf__why(why, -EINVAL, "%s: page size 0x%" PRIx64 " is not a power of two", what, ctl.page_size);
	ranges = (const uint8_t *)data + sizeof(ctl);
	for (uint32_t i = 0; i < ctl.num_ranges; i++) {
		struct uvf_msg_dma_logging_range r;

		memcpy(&r, ranges + (size_t)i * sizeof(r), sizeof(r));
		if (!range_ok(r.iova, r.length))
			return uvf__why(why, -EINVAL,
					"%s: range 0x%" PRIx64 "+0x%" PRIx64 " is empty, wraps, or overlaps another",
					what, r.iova, r.length);
	}
	out->control = ctl;
	out->ranges = ctl.num_ranges != 0 ? ranges : NULL;
	return 0;
}

/* Heapsort by iova, in place: O(n log n) for any input and, unlike qsort,
 * certain not to allocate. */
static void sift_down(struct uvf_msg_dma_logging_range *r, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && r[child + 1].iova > r[child].iova)
			child++;
		if (r[root].iova >= r[child].iova)
			return;
		struct uvf_msg_dma_logging_range t = r[root];
		r[root] = r[child];
		r[child] = t;
		root = child;
	}
}

static void sort_by_iova(struct uvf_msg_dma_logging_range *r, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(r, i, n);
	for (size_t end = n; end-- > 1;) {
		struct uvf_msg_dma_logging_range t = r[0];
		r[0] = r[end];
		r[end] = t;
		sift_down(r, 0, end);
	}
}

int uvf__dma_logging_sort_ranges(const struct uvf_dma_logging_start_view *view,
				 struct uvf_msg_dma_logging_range *sorted, struct uvf_why *why)
{
	uint32_t n = view->control.num_ranges;

	if (n == 0)
		return 0;
	memcpy(sorted, view->ranges, (size_t)n * sizeof(*sorted));
	sort_by_iova(sorted, n);
	/* each range is known not to wrap, so last = iova + length - 1 fits */
	for (uint32_t i = 1; i < n; i++)
		if (sorted[i - 1].iova + (sorted[i - 1].length - 1) >= sorted[i].iova)
			return uvf__why(why, -EINVAL,
					"DEVICE_FEATURE: DMA_LOGGING_START: range 0x%" PRIx64 "+0x%" PRIx64
					" is empty, wraps, or overlaps another",
					sorted[i].iova, sorted[i].length);
	return 0;
}

int uvf__decode_dma_logging_stop(const void *data, size_t len, struct uvf_why *why)
{
	(void)data;
	if (len != 0)
		return uvf__why(why, -EINVAL, "DEVICE_FEATURE: DMA_LOGGING_STOP: %zu data bytes, expected none", len);
	return 0;
}

int uvf__decode_dma_logging_report(const void *data, size_t len, uint32_t argsz, uint64_t max_xfer,
				   struct uvf_dma_logging_report_view *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE: DMA_LOGGING_REPORT";
	struct uvf_msg_dma_logging_report r;
	uint64_t bytes, need;
	unsigned shift;

	if (len < sizeof(r))
		return uvf__why(why, -EINVAL, "%s: %zu data bytes, expected at least %zu", what, len, sizeof(r));
	memcpy(&r, data, sizeof(r));
	if (!range_ok(r.iova, r.length))
		return uvf__why(why, -EINVAL, "%s: range 0x%" PRIx64 "+0x%" PRIx64 " is empty or wraps", what, r.iova,
				r.length);
	if (!uvf__is_pow2(r.page_size) || r.page_size < UVF_DMA_LOGGING_MIN_PAGE_SIZE)
		return uvf__why(why, -EINVAL, "%s: page size 0x%" PRIx64 " is not a power of two >= %u", what,
				r.page_size, UVF_DMA_LOGGING_MIN_PAGE_SIZE);
	shift = uvf__log2(r.page_size);
	bytes = bitmap_bytes(r.length, shift);
	/* the reply's bitmap is data the client receives: at most its limit */
	if (bytes > max_xfer)
		return uvf__why(why, -E2BIG,
				"%s: a %" PRIu64 "-byte bitmap is above max_data_xfer_size %" PRIu64
				": report smaller ranges",
				what, bytes, max_xfer);
	need = sizeof(struct uvf_msg_device_feature) + sizeof(r) + bytes;
	if (argsz < need)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " below %" PRIu64, what, argsz, need);
	out->report = r;
	out->page_shift = shift;
	out->bitmap_bytes = bytes;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Client side: replies                                                 */
/* ------------------------------------------------------------------ */

int uvf__decode_dma_logging_start_reply(const void *payload, size_t len, size_t nfds,
					const struct uvf_msg_device_feature *request,
					const struct uvf_msg_dma_logging_control *control,
					const struct uvf_msg_dma_logging_range *ranges, uint64_t *page_size,
					struct uvf_why *why)
{
	static const char what[] = "DMA_LOGGING_START reply";
	struct uvf_msg_dma_logging_control echo;
	struct uvf_msg_device_feature got;
	uint64_t expected = sizeof(got) + sizeof(echo) + (uint64_t)control->num_ranges * sizeof(*ranges);
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0)
		return ret;
	if (len != expected)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected %" PRIu64, what, len, expected);
	memcpy(&got, payload, sizeof(got));
	memcpy(&echo, (const uint8_t *)payload + sizeof(got), sizeof(echo));
	/* The echo, except that the server may pick its own page size. */
	if (memcmp(&got, request, sizeof(got)) != 0 || echo.num_ranges != control->num_ranges || echo.reserved != 0 ||
	    (control->num_ranges != 0 && memcmp((const uint8_t *)payload + sizeof(got) + sizeof(echo), ranges,
						(size_t)control->num_ranges * sizeof(*ranges)) != 0))
		return uvf__why(why, -EINVAL, "%s: does not echo the request", what);
	if (!uvf__is_pow2(echo.page_size))
		return uvf__why(why, -EINVAL, "%s: page size 0x%" PRIx64 " is not a power of two", what,
				echo.page_size);
	*page_size = echo.page_size;
	return 0;
}

int uvf__decode_dma_logging_report_reply(const void *payload, size_t len, size_t nfds,
					 const struct uvf_msg_dma_logging_report *request,
					 struct uvf_dma_logging_bitmap_view *out, struct uvf_why *why)
{
	static const char what[] = "DMA_LOGGING_REPORT reply";
	struct uvf_feature_reply_view v;
	struct uvf_msg_dma_logging_report echo;
	uint64_t bytes, argsz;
	int ret;

	if (!uvf__is_pow2(request->page_size))
		return uvf__why(why, -EINVAL, "%s: asked page size 0x%" PRIx64 " is not a power of two", what,
				request->page_size);
	bytes = bitmap_bytes(request->length, uvf__log2(request->page_size));
	argsz = sizeof(struct uvf_msg_device_feature) + sizeof(echo) + bytes;
	if ((ret = uvf__decode_feature_reply(payload, len, nfds, UVF_FEATURE_DMA_LOGGING_REPORT, &v, why)) < 0)
		return ret;
	if (len != argsz || v.feature.argsz != argsz)
		return uvf__why(why, -EINVAL, "%s: %zu bytes, argsz %" PRIu32 " (expected %" PRIu64 ")", what, len,
				v.feature.argsz, argsz);
	memcpy(&echo, v.data, sizeof(echo));
	if (memcmp(&echo, request, sizeof(echo)) != 0)
		return uvf__why(why, -EINVAL,
				"%s: about 0x%" PRIx64 " + 0x%" PRIx64 ", page 0x%" PRIx64 " (asked 0x%" PRIx64
				" + 0x%" PRIx64 ")",
				what, echo.iova, echo.length, echo.page_size, request->iova, request->length);
	out->report = echo;
	out->bitmap = v.data + sizeof(echo);
	out->bitmap_bytes = (size_t)bytes;
	return 0;
}
