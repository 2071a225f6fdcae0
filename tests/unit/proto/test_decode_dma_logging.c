/* SPDX-License-Identifier: MIT */
/* DMA logging feature data: START, STOP and REPORT requests (server) and the
 * START and REPORT replies (client). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

static struct uvf_why why;
static uint8_t msg[8 + 16 + 16 * 8 + 4096];

/* ------------------------------------------------------------------- START */

struct range {
	uint64_t iova, length;
};

static size_t start_data(uint64_t page_size, uint32_t num_ranges, const struct range *ranges, size_t n)
{
	struct uvf_msg_dma_logging_control ctl = {.page_size = page_size, .num_ranges = num_ranges};

	memset(msg, 0, sizeof(msg));
	memcpy(msg, &ctl, sizeof(ctl));
	for (size_t i = 0; i < n; i++) {
		struct uvf_msg_dma_logging_range r = {.iova = ranges[i].iova, .length = ranges[i].length};
		memcpy(msg + sizeof(ctl) + i * sizeof(r), &r, sizeof(r));
	}
	return sizeof(ctl) + n * 16;
}

static int start(size_t len, struct uvf_dma_logging_start_view *view)
{
	struct uvf_dma_logging_start_view local;
	uint8_t *data = wire_copy(msg, sizeof(msg), len);
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_dma_logging_start(data, len, view, &why);
	if (ret == 0 && view->control.num_ranges != 0) {
		struct uvf_msg_dma_logging_range sorted[8];
		assert_ptr_equal(view->ranges, data + 16);
		assert_true(view->control.num_ranges <= 8);
		ret = uvf__dma_logging_sort_ranges(view, sorted, &why);
		if (ret == 0)
			for (uint32_t i = 1; i < view->control.num_ranges; i++)
				assert_true(sorted[i - 1].iova < sorted[i].iova);
	}
	view->ranges = NULL; /* the copy is freed below */
	wire_free(data);
	return ret;
}

static void test_start_accepts_all_memory_and_ranges(void **state)
{
	struct uvf_dma_logging_start_view view;
	const struct range two[] = {{0x200000, 0x1000}, {0x100000, 0x1000}};
	const struct range top[] = {{UINT64_MAX - 0xfff, 0x1000}}; /* ends exactly at 2^64 */

	assert_int_equal(start(start_data(4096, 0, NULL, 0), &view), 0);
	assert_int_equal(view.control.num_ranges, 0);
	assert_int_equal(start(start_data(0, 2, two, 2), &view), 0); /* page size 0: the server's choice */
	assert_int_equal(view.control.num_ranges, 2);
	assert_int_equal(start(start_data(1ull << 40, 1, top, 1), NULL), 0);
}

static void test_start_short_payload(void **state)
{
	const struct range one[] = {{0x100000, 0x1000}};

	start_data(4096, 0, NULL, 0);
	assert_refused(start(15, NULL), -EINVAL, why, "15 data bytes, expected at least 16");
	assert_refused(start(0, NULL), -EINVAL, why, "DMA_LOGGING_START");
	/* num_ranges 1 but the range is cut */
	assert_refused(start(start_data(4096, 1, one, 1) - 1, NULL), -EINVAL, why, "31 data bytes for 1 ranges");
	/* a range too many */
	assert_refused(start(start_data(4096, 0, one, 1), NULL), -EINVAL, why, "32 data bytes for 0 ranges");
}

static void test_start_range_count_limit(void **state)
{
	/* num_ranges * 16 would not fit 32 bits: refused before any product */
	start_data(4096, UINT32_MAX, NULL, 0);
	assert_refused(start(16, NULL), -E2BIG, why, "4294967295 ranges, at most 65536");
	start_data(4096, UVF_DMA_LOGGING_MAX_RANGES + 1, NULL, 0);
	assert_refused(start(16, NULL), -E2BIG, why, "65537 ranges");
	/* at the limit, the length must still match */
	start_data(4096, UVF_DMA_LOGGING_MAX_RANGES, NULL, 0);
	assert_refused(start(16, NULL), -EINVAL, why, "expected 1048592");
}

static void test_start_page_size(void **state)
{
	assert_refused(start(start_data(4097, 0, NULL, 0), NULL), -EINVAL, why, "page size 0x1001 is not a power");
	assert_refused(start(start_data(UINT64_MAX, 0, NULL, 0), NULL), -EINVAL, why, "not a power of two");
	assert_int_equal(start(start_data(1, 0, NULL, 0), NULL), 0); /* a hint: the server rounds it */
}

static void test_start_bad_ranges(void **state)
{
	const struct range empty[] = {{0x100000, 0x1000}, {0x300000, 0}};
	const struct range wraps[] = {{UINT64_MAX - 0xfff, 0x1001}};
	const struct range overlap[] = {{0x100000, 0x2000}, {0x101000, 0x1000}};
	const struct range touching[] = {{0x101000, 0x1000}, {0x100000, 0x1000}};
	const struct range same_start[] = {{0x100000, 0x1000}, {0x100000, 0x1000}};

	assert_refused(start(start_data(4096, 2, empty, 2), NULL), -EINVAL, why, "range 0x300000+0x0 is empty");
	assert_refused(start(start_data(4096, 1, wraps, 1), NULL), -EINVAL, why, "wraps");
	assert_refused(start(start_data(4096, 2, overlap, 2), NULL), -EINVAL, why, "0x101000+0x1000");
	assert_refused(start(start_data(4096, 2, same_start, 2), NULL), -EINVAL, why, "overlaps another");
	assert_int_equal(start(start_data(4096, 2, touching, 2), NULL), 0);
}

static void test_start_sorts_many_ranges(void **state)
{
	enum { N = 200 };
	struct range ranges[N];
	struct uvf_msg_dma_logging_range sorted[N];
	struct uvf_dma_logging_start_view view;
	uint8_t *data;
	size_t len;

	/* ranges 0x1000 apart, in a scrambled order (37 is prime to N) */
	for (size_t i = 0; i < N; i++)
		ranges[i] = (struct range){0x100000 + ((i * 37) % N) * 0x2000, 0x1000};
	len = start_data(4096, N, ranges, N);
	data = wire_copy(msg, sizeof(msg), len);
	assert_int_equal(uvf__decode_dma_logging_start(data, len, &view, &why), 0);
	assert_int_equal(uvf__dma_logging_sort_ranges(&view, sorted, &why), 0);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(sorted[i].iova, 0x100000 + i * 0x2000);
	wire_free(data);

	/* one range grown into its neighbour, wherever it sits in the input */
	ranges[N / 2].length = 0x2001;
	len = start_data(4096, N, ranges, N);
	data = wire_copy(msg, sizeof(msg), len);
	assert_int_equal(uvf__decode_dma_logging_start(data, len, &view, &why), 0);
	assert_refused(uvf__dma_logging_sort_ranges(&view, sorted, &why), -EINVAL, why, "overlaps another");
	wire_free(data);
}

static void test_stop_takes_no_data(void **state)
{
	why.text[0] = '\0';
	assert_int_equal(uvf__decode_dma_logging_stop(NULL, 0, &why), 0);
	assert_refused(uvf__decode_dma_logging_stop(msg, 8, &why), -EINVAL, why, "DMA_LOGGING_STOP: 8 data bytes");
}

/* ------------------------------------------------------------------ REPORT */

static int report(uint64_t iova, uint64_t length, uint64_t page_size, size_t len, uint32_t argsz, uint64_t max_xfer,
		  struct uvf_dma_logging_report_view *view)
{
	struct uvf_msg_dma_logging_report r = {.iova = iova, .length = length, .page_size = page_size};
	struct uvf_dma_logging_report_view local;
	uint8_t *data = wire_copy(&r, sizeof(r), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_logging_report(data, len, argsz, max_xfer, view ? view : &local, &why);
	wire_free(data);
	return ret;
}

static void test_report_bitmap_size(void **state)
{
	struct uvf_dma_logging_report_view view;

	/* 64 pages: one word */
	assert_int_equal(report(0x100000, 64 * 4096, 4096, 24, 8 + 24 + 8, 4096, &view), 0);
	assert_int_equal(view.bitmap_bytes, 8);
	assert_int_equal(view.page_shift, 12);
	/* 65 pages, the last one partial: two words */
	assert_int_equal(report(0x100000, 64 * 4096 + 1, 4096, 24, 8 + 24 + 16, 4096, &view), 0);
	assert_int_equal(view.bitmap_bytes, 16);
	/* one byte: one page, one word */
	assert_int_equal(report(0x100000, 1, 1 << 21, 24, 40, 4096, &view), 0);
	assert_int_equal(view.bitmap_bytes, 8);
	/* the whole 64-bit space in 4 KiB pages: 2^52 bits, no wrap on the way */
	assert_refused(report(0, UINT64_MAX, 4096, 24, UINT32_MAX, UINT32_MAX, &view), -E2BIG, why,
		       "a 562949953421312-byte bitmap");
}

static void test_report_bitmap_limit_and_argsz(void **state)
{
	/* 4096 * 8 pages need 4096 bytes: at the limit */
	assert_int_equal(report(0, 4096ull * 8 * 4096, 4096, 24, 8 + 24 + 4096, 4096, NULL), 0);
	assert_refused(report(0, 4096ull * 8 * 4096 + 1, 4096, 24, UINT32_MAX, 4096, NULL), -E2BIG, why,
		       "4104-byte bitmap is above max_data_xfer_size 4096");
	assert_refused(report(0, 64 * 4096, 4096, 24, 8 + 24 + 7, 4096, NULL), -EINVAL, why, "argsz 39 below 40");
}

static void test_report_short_payload(void **state)
{
	assert_refused(report(0, 4096, 4096, 23, 40, 4096, NULL), -EINVAL, why, "23 data bytes");
	assert_refused(report(0, 4096, 4096, 0, 40, 4096, NULL), -EINVAL, why, "DMA_LOGGING_REPORT");
	assert_int_equal(report(0, 4096, 4096, 32, 40, 4096, NULL), 0); /* extra bytes are not looked at */
}

static void test_report_range_and_page_size(void **state)
{
	assert_refused(report(0x1000, 0, 4096, 24, 40, 4096, NULL), -EINVAL, why, "is empty or wraps");
	assert_refused(report(UINT64_MAX - 0xfff, 0x1001, 4096, 24, 40, 4096, NULL), -EINVAL, why, "wraps");
	assert_int_equal(report(UINT64_MAX - 0xfff, 0x1000, 4096, 24, 40, 4096, NULL), 0);
	assert_refused(report(0, 4096, 2048, 24, 40, 4096, NULL), -EINVAL, why, "page size 0x800");
	assert_refused(report(0, 4096, 0x3000, 24, 40, 4096, NULL), -EINVAL, why, "page size 0x3000");
	assert_refused(report(0, 4096, 0, 24, 40, 4096, NULL), -EINVAL, why, "page size 0x0");
}

/* ----------------------------------------------------------- START reply */

static int start_reply(size_t len, size_t nfds, uint64_t *page)
{
	struct uvf_msg_device_feature hdr = {.argsz = 8 + 16 + 32,
					     .flags = UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET};
	struct uvf_msg_dma_logging_control ctl = {.page_size = 4096, .num_ranges = 2};
	const struct uvf_msg_dma_logging_range ranges[2] = {{0x100000, 0x1000}, {0x300000, 0x2000}};
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_logging_start_reply(payload, len, nfds, &hdr, &ctl, ranges, page, &why);
	wire_free(payload);
	return ret;
}

/* Our request echoed, with the server's page size and optional damage at
 * byte `poke`. */
static size_t start_echo(uint64_t page, size_t poke)
{
	struct uvf_msg_device_feature hdr = {.argsz = 8 + 16 + 32,
					     .flags = UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET};
	struct uvf_msg_dma_logging_control ctl = {.page_size = page, .num_ranges = 2};
	const struct uvf_msg_dma_logging_range ranges[2] = {{0x100000, 0x1000}, {0x300000, 0x2000}};

	memset(msg, 0, sizeof(msg));
	memcpy(msg, &hdr, 8);
	memcpy(msg + 8, &ctl, 16);
	memcpy(msg + 24, ranges, 32);
	if (poke)
		msg[poke] ^= 1;
	return 56;
}

static void test_start_reply_echo(void **state)
{
	uint64_t page = 0;

	assert_int_equal(start_reply(start_echo(4096, 0), 0, &page), 0);
	assert_int_equal(page, 4096);
	assert_int_equal(start_reply(start_echo(1 << 21, 0), 0, &page), 0); /* the server's choice */
	assert_int_equal(page, 1 << 21);
	assert_refused(start_reply(start_echo(4096, 0), 1, &page), -EINVAL, why, "file descriptors");
	assert_refused(start_reply(55, 0, &page), -EINVAL, why, "payload 55 bytes, expected 56");
	assert_refused(start_reply(57, 0, &page), -EINVAL, why, "payload 57 bytes");
	assert_refused(start_reply(start_echo(4096, 0) - 48, 0, &page), -EINVAL, why, "payload 8 bytes");
	assert_refused(start_reply(start_echo(4096, 4), 0, &page), -EINVAL, why, "does not echo");  /* flags */
	assert_refused(start_reply(start_echo(4096, 16), 0, &page), -EINVAL, why, "does not echo"); /* num_ranges */
	assert_refused(start_reply(start_echo(4096, 20), 0, &page), -EINVAL, why, "does not echo"); /* reserved */
	assert_refused(start_reply(start_echo(4096, 40), 0, &page), -EINVAL, why, "does not echo"); /* range 2 */
	assert_refused(start_reply(start_echo(0x3000, 0), 0, &page), -EINVAL, why, "page size 0x3000");
	assert_refused(start_reply(start_echo(0, 0), 0, &page), -EINVAL, why, "page size 0x0");
}

/* ---------------------------------------------------------- REPORT reply */

static int report_reply(const struct uvf_msg_dma_logging_report *req, size_t len, size_t nfds,
			struct uvf_dma_logging_bitmap_view *view)
{
	struct uvf_dma_logging_bitmap_view local;
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_dma_logging_report_reply(payload, len, nfds, req, view, &why);
	if (ret == 0) {
		assert_ptr_equal(view->bitmap, payload + 32);
		assert_int_equal(len, 32 + view->bitmap_bytes);
	}
	view->bitmap = NULL;
	wire_free(payload);
	return ret;
}

static size_t report_echo(const struct uvf_msg_dma_logging_report *req, uint32_t argsz, uint32_t flags)
{
	struct uvf_msg_device_feature hdr = {.argsz = argsz, .flags = flags};

	memset(msg, 0xa5, sizeof(msg));
	memcpy(msg, &hdr, 8);
	memcpy(msg + 8, req, 24);
	return argsz;
}

static void test_report_reply(void **state)
{
	const uint32_t get = UVF_FEATURE_DMA_LOGGING_REPORT | UVF_FEATURE_GET;
	struct uvf_msg_dma_logging_report req = {.iova = 0x100000, .length = 65 * 4096, .page_size = 4096};
	struct uvf_msg_dma_logging_report other = req;
	struct uvf_dma_logging_bitmap_view view;

	assert_int_equal(report_reply(&req, report_echo(&req, 48, get), 0, &view), 0);
	assert_int_equal(view.bitmap_bytes, 16);
	assert_int_equal(view.report.length, 65 * 4096);
	/* a bitmap of the wrong size, in argsz or in the message */
	assert_refused(report_reply(&req, report_echo(&req, 40, get), 0, NULL), -EINVAL, why, "(expected 48)");
	report_echo(&req, 48, get);
	assert_refused(report_reply(&req, 40, 0, NULL), -EINVAL, why, "40 bytes, argsz 48");
	assert_refused(report_reply(&req, 56, 0, NULL), -EINVAL, why, "56 bytes");
	assert_refused(report_reply(&req, 7, 0, NULL), -EINVAL, why, "payload 7 bytes");
	assert_refused(report_reply(&req, 48, 1, NULL), -EINVAL, why, "file descriptors");
	/* about another feature or another range */
	assert_refused(
		report_reply(&req, report_echo(&req, 48, UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_GET), 0, NULL),
		-EINVAL, why, "about feature 6");
	other.iova += 4096;
	assert_refused(report_reply(&req, report_echo(&other, 48, get), 0, NULL), -EINVAL, why, "about 0x101000");
	/* a page size of ours that is not a power of two is refused, not divided by */
	other = req;
	other.page_size = 0;
	assert_refused(report_reply(&other, report_echo(&other, 48, get), 0, NULL), -EINVAL, why, "asked page size");
	/* a range whose bitmap could not be a message: no wrap, just refused */
	other.page_size = 1;
	other.length = UINT64_MAX;
	assert_refused(report_reply(&other, report_echo(&other, 48, get), 0, NULL), -EINVAL, why, "expected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_accepts_all_memory_and_ranges),
		cmocka_unit_test(test_start_short_payload),
		cmocka_unit_test(test_start_range_count_limit),
		cmocka_unit_test(test_start_page_size),
		cmocka_unit_test(test_start_bad_ranges),
		cmocka_unit_test(test_start_sorts_many_ranges),
		cmocka_unit_test(test_stop_takes_no_data),
		cmocka_unit_test(test_report_bitmap_size),
		cmocka_unit_test(test_report_bitmap_limit_and_argsz),
		cmocka_unit_test(test_report_short_payload),
		cmocka_unit_test(test_report_range_and_page_size),
		cmocka_unit_test(test_start_reply_echo),
		cmocka_unit_test(test_report_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
