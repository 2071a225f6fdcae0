/* SPDX-License-Identifier: MIT */
/* REGION_READ/WRITE, REGION_WRITE_MULTI and DMA_READ/WRITE, requests and replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define MAX_XFER 4096u

static struct uvf_why why;

/* A fixed part followed by data bytes, as built by a sender. */
static uint8_t msg[8 + 24 * 1100];

static void region_msg(uint64_t offset, uint32_t region, uint32_t count)
{
	struct uvf_msg_region_access access = {.offset = offset, .region = region, .count = count};
	size_t i;

	memcpy(msg, &access, sizeof(access));
	for (i = sizeof(access); i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
}

static void dma_msg(uint64_t address, uint64_t count)
{
	struct uvf_msg_dma_access access = {.address = address, .count = count};
	size_t i;

	memcpy(msg, &access, sizeof(access));
	for (i = sizeof(access); i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
}

typedef int (*region_decoder)(const void *, size_t, size_t, uint32_t, struct uvf_region_access_view *,
			      struct uvf_why *);

static int region_req(region_decoder decoder, size_t len, size_t nfds, uint32_t max_xfer)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_region_access_view view;
	int ret;

	why.text[0] = '\0';
	ret = decoder(payload, len, nfds, max_xfer, &view, &why);
	if (ret == 0) {
		assert_memory_equal(&view.access, msg, sizeof(view.access));
		if (view.data != NULL)
			assert_ptr_equal(view.data, payload + 16);
	}
	wire_free(payload);
	return ret;
}

/* ------------------------------------------------------------ REGION_READ */

static void test_region_read_req_length(void **state)
{
	region_msg(0, 7, 4);
	assert_int_equal(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), 0);
	assert_refused(region_req(uvf__decode_region_read_req, 15, 0, MAX_XFER), -EINVAL, why, "REGION_READ");
	assert_refused(region_req(uvf__decode_region_read_req, 20, 0, MAX_XFER), -EINVAL, why, "REGION_READ");
}

static void test_region_read_req_count_limit(void **state)
{
	region_msg(0, 0, MAX_XFER);
	assert_int_equal(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), 0);
	region_msg(0, 0, 0);
	assert_int_equal(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), 0);
	region_msg(0, 0, MAX_XFER + 1);
	assert_refused(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), -E2BIG, why, "count 4097");
}

static void test_region_read_req_offset_must_not_wrap(void **state)
{
	region_msg(UINT64_MAX - 4, 0, 4);
	assert_int_equal(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), 0);
	region_msg(UINT64_MAX - 3, 0, 4);
	assert_refused(region_req(uvf__decode_region_read_req, 16, 0, MAX_XFER), -EINVAL, why, "wraps");
}

static void test_region_read_req_refuses_fds(void **state)
{
	region_msg(0, 0, 4);
	assert_refused(region_req(uvf__decode_region_read_req, 16, 1, MAX_XFER), -EINVAL, why, "REGION_READ");
}

/* ----------------------------------------------------------- REGION_WRITE */

static void test_region_write_req_payload_matches_count(void **state)
{
	region_msg(0x10, 0, 100);
	assert_int_equal(region_req(uvf__decode_region_write_req, 116, 0, MAX_XFER), 0);
	assert_refused(region_req(uvf__decode_region_write_req, 40, 0, MAX_XFER), -EINVAL, why,
		       "REGION_WRITE: payload 40 bytes, expected 16 + count 100");
	assert_refused(region_req(uvf__decode_region_write_req, 117, 0, MAX_XFER), -EINVAL, why, "REGION_WRITE");
	assert_refused(region_req(uvf__decode_region_write_req, 15, 0, MAX_XFER), -EINVAL, why, "REGION_WRITE");
}

static void test_region_write_req_count_limit(void **state)
{
	region_msg(0, 0, MAX_XFER);
	assert_int_equal(region_req(uvf__decode_region_write_req, 16 + MAX_XFER, 0, MAX_XFER), 0);
	region_msg(0, 0, MAX_XFER + 1);
	assert_refused(region_req(uvf__decode_region_write_req, 16 + MAX_XFER + 1, 0, MAX_XFER), -E2BIG, why,
		       "REGION_WRITE");
}

static void test_region_write_req_offset_must_not_wrap(void **state)
{
	region_msg(UINT64_MAX - 1, 0, 1);
	assert_int_equal(region_req(uvf__decode_region_write_req, 17, 0, MAX_XFER), 0);
	region_msg(UINT64_MAX - 1, 0, 2);
	assert_refused(region_req(uvf__decode_region_write_req, 18, 0, MAX_XFER), -EINVAL, why, "wraps");
}

static void test_region_write_req_refuses_fds(void **state)
{
	region_msg(0, 0, 1);
	assert_refused(region_req(uvf__decode_region_write_req, 17, 1, MAX_XFER), -EINVAL, why, "REGION_WRITE");
}

static void test_region_write_req_points_at_data(void **state)
{
	uint8_t *payload;
	struct uvf_region_access_view view;

	region_msg(8, 1, 4);
	payload = wire_copy(msg, sizeof(msg), 20);
	assert_int_equal(uvf__decode_region_write_req(payload, 20, 0, MAX_XFER, &view, &why), 0);
	assert_memory_equal(view.data, msg + 16, 4);
	wire_free(payload);
}

/* ------------------------------------------------ REGION_READ/WRITE reply */

static const struct uvf_msg_region_access request = {.offset = 0x100, .region = 2, .count = 8};

static int read_reply(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_region_access_view view;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_region_read_reply(payload, len, nfds, &request, &view, &why);
	if (ret == 0) {
		assert_ptr_equal(view.data, payload + 16);
		assert_memory_equal(&view.access, &request, sizeof(request));
	}
	wire_free(payload);
	return ret;
}

static void test_region_read_reply_echo(void **state)
{
	region_msg(0x100, 2, 8);
	assert_int_equal(read_reply(24, 0), 0);
	region_msg(0x108, 2, 8);
	assert_refused(read_reply(24, 0), -EINVAL, why, "REGION_READ reply");
	region_msg(0x100, 3, 8);
	assert_refused(read_reply(24, 0), -EINVAL, why, "REGION_READ reply");
}

static void test_region_read_reply_count_must_match_request(void **state)
{
	region_msg(0x100, 2, 4);
	assert_refused(read_reply(20, 0), -EINVAL, why, "count 4, expected 8");
	region_msg(0x100, 2, 9);
	assert_refused(read_reply(25, 0), -EINVAL, why, "count 9, expected 8");
}

static void test_region_read_reply_length(void **state)
{
	region_msg(0x100, 2, 8);
	assert_refused(read_reply(23, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(read_reply(32, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(read_reply(15, 0), -EINVAL, why, "REGION_READ reply");
}

static void test_region_read_reply_refuses_fds(void **state)
{
	region_msg(0x100, 2, 8);
	assert_refused(read_reply(24, 1), -EINVAL, why, "REGION_READ reply");
}

static int write_reply(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_region_write_reply(payload, len, nfds, &request, &why);
	wire_free(payload);
	return ret;
}

static void test_region_write_reply_echo(void **state)
{
	region_msg(0x100, 2, 8);
	assert_int_equal(write_reply(16, 0), 0);
	region_msg(0x100, 2, 4);
	assert_refused(write_reply(16, 0), -EINVAL, why, "REGION_WRITE reply");
	region_msg(0, 2, 8);
	assert_refused(write_reply(16, 0), -EINVAL, why, "REGION_WRITE reply");
	region_msg(0x100, 0, 8);
	assert_refused(write_reply(16, 0), -EINVAL, why, "REGION_WRITE reply");
}

static void test_region_write_reply_length_and_fds(void **state)
{
	region_msg(0x100, 2, 8);
	assert_refused(write_reply(24, 0), -EINVAL, why, "REGION_WRITE reply");
	assert_refused(write_reply(15, 0), -EINVAL, why, "REGION_WRITE reply");
	assert_refused(write_reply(16, 1), -EINVAL, why, "REGION_WRITE reply");
}

/* ----------------------------------------------------- REGION_WRITE_MULTI */

static void multi_msg(uint64_t wr_cnt, uint32_t entries)
{
	uint32_t i;

	memcpy(msg, &wr_cnt, sizeof(wr_cnt));
	for (i = 0; i < entries; i++) {
		struct uvf_msg_write_multi_entry entry = {.offset = 4 * i, .region = 0, .count = 4};

		memset(entry.data, (int)i, sizeof(entry.data));
		memcpy(msg + 8 + 24 * i, &entry, sizeof(entry));
	}
}

static void set_entry(uint32_t i, uint64_t offset, uint32_t count)
{
	struct uvf_msg_write_multi_entry entry = {.offset = offset, .region = 1, .count = count};

	memcpy(msg + 8 + 24 * i, &entry, sizeof(entry));
}

static int write_multi(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_write_multi_view view;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_write_multi(payload, len, nfds, &view, &why);
	if (ret == 0) {
		assert_memory_equal(&view.wr_cnt, msg, 8);
		assert_ptr_equal(view.entries, payload + 8);
	}
	wire_free(payload);
	return ret;
}

static void test_write_multi_entry_count(void **state)
{
	multi_msg(1, 1);
	assert_int_equal(write_multi(32, 0), 0);
	multi_msg(UVF_WRITE_MULTI_MAX_ENTRIES, UVF_WRITE_MULTI_MAX_ENTRIES);
	assert_int_equal(write_multi(8 + 24 * UVF_WRITE_MULTI_MAX_ENTRIES, 0), 0);
	multi_msg(0, 0);
	assert_refused(write_multi(8, 0), -EINVAL, why, "wr_cnt 0");
	multi_msg(UVF_WRITE_MULTI_MAX_ENTRIES + 1, UVF_WRITE_MULTI_MAX_ENTRIES + 1);
	assert_refused(write_multi(8 + 24 * (UVF_WRITE_MULTI_MAX_ENTRIES + 1), 0), -EINVAL, why, "wr_cnt 1025");
	multi_msg(UINT64_MAX, 1);
	assert_refused(write_multi(32, 0), -EINVAL, why, "REGION_WRITE_MULTI");
}

static void test_write_multi_length_matches_wr_cnt(void **state)
{
	multi_msg(3, 3);
	assert_int_equal(write_multi(8 + 72, 0), 0);
	assert_refused(write_multi(8 + 71, 0), -EINVAL, why, "expected 8 + 24 * wr_cnt 3");
	assert_refused(write_multi(8 + 73, 0), -EINVAL, why, "expected 8 + 24 * wr_cnt 3");
	assert_refused(write_multi(8 + 48, 0), -EINVAL, why, "expected 8 + 24 * wr_cnt 3");
	assert_refused(write_multi(7, 0), -EINVAL, why, "REGION_WRITE_MULTI");
}

static void test_write_multi_entry_count_1_to_8(void **state)
{
	multi_msg(2, 2);
	set_entry(1, 0, 8);
	assert_int_equal(write_multi(56, 0), 0);
	set_entry(1, 0, 1);
	assert_int_equal(write_multi(56, 0), 0);
	set_entry(1, 0, 0);
	assert_refused(write_multi(56, 0), -EINVAL, why, "entry 1 count 0");
	set_entry(1, 0, 9);
	assert_refused(write_multi(56, 0), -EINVAL, why, "entry 1 count 9");
}

static void test_write_multi_entry_offset_must_not_wrap(void **state)
{
	multi_msg(2, 2);
	set_entry(0, UINT64_MAX - 8, 8);
	assert_int_equal(write_multi(56, 0), 0);
	set_entry(0, UINT64_MAX - 7, 8);
	assert_refused(write_multi(56, 0), -EINVAL, why, "entry 0");
}

static void test_write_multi_refuses_fds(void **state)
{
	multi_msg(1, 1);
	assert_refused(write_multi(32, 1), -EINVAL, why, "REGION_WRITE_MULTI");
}

/* ------------------------------------------------ DMA_READ/WRITE requests */

typedef int (*dma_decoder)(const void *, size_t, size_t, uint32_t, struct uvf_dma_access_view *, struct uvf_why *);

static int dma_req(dma_decoder decoder, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_dma_access_view view;
	int ret;

	why.text[0] = '\0';
	ret = decoder(payload, len, nfds, MAX_XFER, &view, &why);
	if (ret == 0) {
		assert_memory_equal(&view.access, msg, sizeof(view.access));
		if (view.data != NULL)
			assert_ptr_equal(view.data, payload + 16);
	}
	wire_free(payload);
	return ret;
}

static void test_dma_read_req_length(void **state)
{
	dma_msg(0x1000, 8);
	assert_int_equal(dma_req(uvf__decode_dma_read_req, 16, 0), 0);
	assert_refused(dma_req(uvf__decode_dma_read_req, 24, 0), -EINVAL, why, "DMA_READ");
	assert_refused(dma_req(uvf__decode_dma_read_req, 12, 0), -EINVAL, why, "DMA_READ");
}

static void test_dma_read_req_count_range(void **state)
{
	dma_msg(0x1000, MAX_XFER);
	assert_int_equal(dma_req(uvf__decode_dma_read_req, 16, 0), 0);
	dma_msg(0x1000, 0);
	assert_refused(dma_req(uvf__decode_dma_read_req, 16, 0), -EINVAL, why, "count 0");
	dma_msg(0x1000, MAX_XFER + 1);
	assert_refused(dma_req(uvf__decode_dma_read_req, 16, 0), -E2BIG, why, "DMA_READ");
	dma_msg(0x1000, UINT64_MAX);
	assert_refused(dma_req(uvf__decode_dma_read_req, 16, 0), -E2BIG, why, "DMA_READ");
}

static void test_dma_read_req_address_must_not_wrap(void **state)
{
	dma_msg(UINT64_MAX - 8, 8);
	assert_int_equal(dma_req(uvf__decode_dma_read_req, 16, 0), 0);
	dma_msg(UINT64_MAX - 7, 8);
	assert_refused(dma_req(uvf__decode_dma_read_req, 16, 0), -EINVAL, why, "wraps");
}

static void test_dma_read_req_refuses_fds(void **state)
{
	dma_msg(0x1000, 8);
	assert_refused(dma_req(uvf__decode_dma_read_req, 16, 1), -EINVAL, why, "DMA_READ");
}

static void test_dma_write_req_payload_matches_count(void **state)
{
	dma_msg(0x1000, 8);
	assert_int_equal(dma_req(uvf__decode_dma_write_req, 24, 0), 0);
	assert_refused(dma_req(uvf__decode_dma_write_req, 23, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(dma_req(uvf__decode_dma_write_req, 25, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(dma_req(uvf__decode_dma_write_req, 15, 0), -EINVAL, why, "DMA_WRITE");
}

static void test_dma_write_req_count_range(void **state)
{
	dma_msg(0x1000, MAX_XFER);
	assert_int_equal(dma_req(uvf__decode_dma_write_req, 16 + MAX_XFER, 0), 0);
	dma_msg(0x1000, 0);
	assert_refused(dma_req(uvf__decode_dma_write_req, 16, 0), -EINVAL, why, "count 0");
	dma_msg(0x1000, MAX_XFER + 1);
	assert_refused(dma_req(uvf__decode_dma_write_req, 16 + MAX_XFER + 1, 0), -E2BIG, why, "DMA_WRITE");
}

static void test_dma_write_req_address_must_not_wrap(void **state)
{
	dma_msg(UINT64_MAX - 4, 4);
	assert_int_equal(dma_req(uvf__decode_dma_write_req, 20, 0), 0);
	dma_msg(UINT64_MAX - 3, 4);
	assert_refused(dma_req(uvf__decode_dma_write_req, 20, 0), -EINVAL, why, "wraps");
}

static void test_dma_write_req_refuses_fds(void **state)
{
	dma_msg(0x1000, 4);
	assert_refused(dma_req(uvf__decode_dma_write_req, 20, 1), -EINVAL, why, "DMA_WRITE");
}

/* ------------------------------------------------- DMA_READ/WRITE replies */

static const struct uvf_msg_dma_access dma_request = {.address = 0x2000, .count = 8};

static int dma_read_reply(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_dma_access_view view;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_read_reply(payload, len, nfds, &dma_request, &view, &why);
	if (ret == 0) {
		assert_memory_equal(&view.access, &dma_request, sizeof(dma_request));
		assert_ptr_equal(view.data, payload + 16);
	}
	wire_free(payload);
	return ret;
}

static void test_dma_read_reply_echo(void **state)
{
	dma_msg(0x2000, 8);
	assert_int_equal(dma_read_reply(24, 0), 0);
	dma_msg(0x3000, 8);
	assert_refused(dma_read_reply(24, 0), -EINVAL, why, "address 0x3000, expected 0x2000");
}

static void test_dma_read_reply_short_count_is_eio(void **state)
{
	dma_msg(0x2000, 7);
	assert_refused(dma_read_reply(23, 0), -EIO, why, "short count 7 of 8");
	dma_msg(0x2000, 4);
	assert_refused(dma_read_reply(20, 0), -EIO, why, "short count 4 of 8");
	dma_msg(0x2000, 0);
	assert_refused(dma_read_reply(16, 0), -EIO, why, "DMA_READ reply");
}

static void test_dma_read_reply_long_count_is_einval(void **state)
{
	dma_msg(0x2000, 9);
	assert_refused(dma_read_reply(25, 0), -EINVAL, why, "count 9");
}

static void test_dma_read_reply_length(void **state)
{
	dma_msg(0x2000, 8);
	assert_refused(dma_read_reply(23, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(dma_read_reply(25, 0), -EINVAL, why, "expected 16 + count 8");
	assert_refused(dma_read_reply(15, 0), -EINVAL, why, "DMA_READ reply");
}

static void test_dma_read_reply_refuses_fds(void **state)
{
	dma_msg(0x2000, 8);
	assert_refused(dma_read_reply(24, 1), -EINVAL, why, "DMA_READ reply");
}

static int dma_write_reply(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_write_reply(payload, len, nfds, &dma_request, &why);
	wire_free(payload);
	return ret;
}

static void test_dma_write_reply_echo(void **state)
{
	dma_msg(0x2000, 8);
	assert_int_equal(dma_write_reply(16, 0), 0);
	dma_msg(0x2000, 4);
	assert_refused(dma_write_reply(16, 0), -EINVAL, why, "DMA_WRITE reply");
	dma_msg(0x2008, 8);
	assert_refused(dma_write_reply(16, 0), -EINVAL, why, "DMA_WRITE reply");
}

static void test_dma_write_reply_accepts_bare_header(void **state)
{
	assert_int_equal(dma_write_reply(0, 0), 0);
	assert_int_equal(uvf__decode_dma_write_reply(NULL, 0, 0, &dma_request, &why), 0);
}

static void test_dma_write_reply_length(void **state)
{
	dma_msg(0x2000, 8);
	assert_refused(dma_write_reply(12, 0), -EINVAL, why, "DMA_WRITE reply");
	assert_refused(dma_write_reply(8, 0), -EINVAL, why, "DMA_WRITE reply");
	assert_refused(dma_write_reply(24, 0), -EINVAL, why, "DMA_WRITE reply");
}

static void test_dma_write_reply_refuses_fds(void **state)
{
	dma_msg(0x2000, 8);
	assert_refused(dma_write_reply(16, 1), -EINVAL, why, "DMA_WRITE reply");
	assert_refused(dma_write_reply(0, 1), -EINVAL, why, "DMA_WRITE reply");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_read_req_length),
		cmocka_unit_test(test_region_read_req_count_limit),
		cmocka_unit_test(test_region_read_req_offset_must_not_wrap),
		cmocka_unit_test(test_region_read_req_refuses_fds),
		cmocka_unit_test(test_region_write_req_payload_matches_count),
		cmocka_unit_test(test_region_write_req_count_limit),
		cmocka_unit_test(test_region_write_req_offset_must_not_wrap),
		cmocka_unit_test(test_region_write_req_refuses_fds),
		cmocka_unit_test(test_region_write_req_points_at_data),
		cmocka_unit_test(test_region_read_reply_echo),
		cmocka_unit_test(test_region_read_reply_count_must_match_request),
		cmocka_unit_test(test_region_read_reply_length),
		cmocka_unit_test(test_region_read_reply_refuses_fds),
		cmocka_unit_test(test_region_write_reply_echo),
		cmocka_unit_test(test_region_write_reply_length_and_fds),
		cmocka_unit_test(test_write_multi_entry_count),
		cmocka_unit_test(test_write_multi_length_matches_wr_cnt),
		cmocka_unit_test(test_write_multi_entry_count_1_to_8),
		cmocka_unit_test(test_write_multi_entry_offset_must_not_wrap),
		cmocka_unit_test(test_write_multi_refuses_fds),
		cmocka_unit_test(test_dma_read_req_length),
		cmocka_unit_test(test_dma_read_req_count_range),
		cmocka_unit_test(test_dma_read_req_address_must_not_wrap),
		cmocka_unit_test(test_dma_read_req_refuses_fds),
		cmocka_unit_test(test_dma_write_req_payload_matches_count),
		cmocka_unit_test(test_dma_write_req_count_range),
		cmocka_unit_test(test_dma_write_req_address_must_not_wrap),
		cmocka_unit_test(test_dma_write_req_refuses_fds),
		cmocka_unit_test(test_dma_read_reply_echo),
		cmocka_unit_test(test_dma_read_reply_short_count_is_eio),
		cmocka_unit_test(test_dma_read_reply_long_count_is_einval),
		cmocka_unit_test(test_dma_read_reply_length),
		cmocka_unit_test(test_dma_read_reply_refuses_fds),
		cmocka_unit_test(test_dma_write_reply_echo),
		cmocka_unit_test(test_dma_write_reply_accepts_bare_header),
		cmocka_unit_test(test_dma_write_reply_length),
		cmocka_unit_test(test_dma_write_reply_refuses_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
