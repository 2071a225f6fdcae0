/* SPDX-License-Identifier: MIT */
/* DEVICE_GET_REGION_IO_FDS requests (server) and replies (client). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define REGION_SIZE 0x1000u
#define MAX_ARGSZ   65536u

static struct uvf_why why;

/* ------------------------------------------------------------------ request */

static int request(uint32_t argsz, uint32_t flags, uint32_t index, uint32_t count, size_t len, size_t nfds,
		   struct uvf_msg_region_io_fds *out)
{
	struct uvf_msg_region_io_fds req = {.argsz = argsz, .flags = flags, .index = index, .count = count};
	struct uvf_msg_region_io_fds local;
	uint8_t *payload = wire_copy(&req, sizeof(req), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_region_io_fds_req(payload, len, nfds, out ? out : &local, &why);
	wire_free(payload);
	return ret;
}

static void test_io_fds_req_accepts_a_plain_request(void **state)
{
	struct uvf_msg_region_io_fds out;

	assert_int_equal(request(16 + 40 * 8, 0, 2, 0, 16, 0, &out), 0);
	assert_int_equal(out.argsz, 16 + 40 * 8);
	assert_int_equal(out.index, 2);
	assert_int_equal(request(16, 0, UVF_PCI_NUM_REGIONS - 1, 0, 16, 0, NULL), 0);
}

static void test_io_fds_req_length(void **state)
{
	assert_refused(request(16, 0, 0, 0, 15, 0, NULL), -EINVAL, why, "payload 15 bytes");
	assert_refused(request(16, 0, 0, 0, 17, 0, NULL), -EINVAL, why, "payload 17 bytes");
	assert_refused(request(16, 0, 0, 0, 0, 0, NULL), -EINVAL, why, "DEVICE_GET_REGION_IO_FDS");
}

static void test_io_fds_req_refuses_fds(void **state)
{
	assert_refused(request(16, 0, 0, 0, 16, 1, NULL), -EINVAL, why, "1 fds");
}

static void test_io_fds_req_refuses_small_argsz_flags_and_count(void **state)
{
	assert_refused(request(15, 0, 0, 0, 16, 0, NULL), -EINVAL, why, "argsz 15");
	assert_refused(request(16, 1, 0, 0, 16, 0, NULL), -EINVAL, why, "flags 0x1");
	assert_refused(request(16, 0x80000000u, 0, 0, 16, 0, NULL), -EINVAL, why, "flags 0x80000000");
	assert_refused(request(16, 0, 0, 1, 16, 0, NULL), -EINVAL, why, "count 1");
}

static void test_io_fds_req_refuses_unknown_region(void **state)
{
	assert_refused(request(16, 0, UVF_PCI_NUM_REGIONS, 0, 16, 0, NULL), -EINVAL, why, "no region 9");
	assert_refused(request(16, 0, UINT32_MAX, 0, 16, 0, NULL), -EINVAL, why, "no region 4294967295");
}

/* -------------------------------------------------------------------- reply */

static uint8_t msg[16 + 64 * 48];
static size_t msg_len;

/* Start a reply: header with count entries of stride bytes (argsz to match
 * unless argsz is given). */
static void reply_head(uint32_t index, uint32_t count, size_t stride, uint32_t argsz)
{
	struct uvf_msg_region_io_fds head = {
		.argsz = argsz ? argsz : (uint32_t)(16 + count * stride), .index = index, .count = count};

	memset(msg, 0xee, sizeof(msg));
	memcpy(msg, &head, sizeof(head));
	msg_len = 16 + count * stride;
}

static void reply_entry(uint32_t i, size_t stride, uint64_t offset, uint64_t size, uint32_t fd_index, uint32_t type,
			uint32_t flags, uint64_t datamatch)
{
	struct uvf_msg_io_fd_entry e = {
		.offset = offset, .size = size, .fd_index = fd_index, .type = type, .flags = flags};
	uint8_t *p = msg + 16 + i * stride;

	memcpy(p, &e, offsetof(struct uvf_msg_io_fd_entry, datamatch));
	memcpy(p + stride - 8, &datamatch, 8);
}

static int reply(size_t len, size_t nfds, uint32_t asked_argsz, struct uvf_region_io_fds_view *view)
{
	struct uvf_msg_region_io_fds req = {.argsz = asked_argsz, .index = 2};
	struct uvf_region_io_fds_view local;
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_region_io_fds_reply(payload, len, nfds, &req, MAX_ARGSZ, REGION_SIZE, view, &why);
	if (ret == 0 && !view->truncated && view->head.count != 0) {
		assert_ptr_equal(view->entries, payload + 16);
		/* read every entry while the copy lives: ASan checks the bounds */
		for (uint32_t i = 0; i < view->head.count; i++) {
			struct uvf_msg_io_fd_entry e;
			uvf__io_fds_entry(view, i, &e);
			assert_true(e.fd_index < nfds);
		}
	}
	view->entries = NULL; /* the copy is freed below */
	wire_free(payload);
	return ret;
}

static void test_io_fds_reply_spec_layout(void **state)
{
	struct uvf_region_io_fds_view view;
	struct uvf_msg_io_fd_entry e;

	reply_head(2, 2, 40, 0);
	reply_entry(0, 40, 0x40, 4, 1, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	reply_entry(1, 40, 0x10, 2, 0, UVF_IO_FD_TYPE_IOEVENTFD, UVF_IOEVENTFD_FLAG_DATAMATCH, 0x5a5a);
	assert_int_equal(reply(msg_len, 2, 1024, &view), 0);
	assert_false(view.truncated);
	assert_int_equal(view.stride, 40);
	assert_int_equal(view.head.count, 2);
	/* entries are read from a copy of the buffer with the same layout */
	view.entries = msg + 16;
	uvf__io_fds_entry(&view, 1, &e);
	assert_int_equal(e.offset, 0x10);
	assert_int_equal(e.size, 2);
	assert_int_equal(e.fd_index, 0);
	assert_int_equal(e.flags, UVF_IOEVENTFD_FLAG_DATAMATCH);
	assert_int_equal(e.datamatch, 0x5a5a);
}

static void test_io_fds_reply_libvfio_user_layout(void **state)
{
	struct uvf_region_io_fds_view view;
	struct uvf_msg_io_fd_entry e;

	reply_head(2, 3, 48, 0);
	for (uint32_t i = 0; i < 3; i++)
		reply_entry(i, 48, 0x100 * i, 8, i, UVF_IO_FD_TYPE_IOEVENTFD, UVF_IOEVENTFD_FLAG_DATAMATCH, 0x77 + i);
	assert_int_equal(reply(msg_len, 3, 1024, &view), 0);
	assert_int_equal(view.stride, 48);
	view.entries = msg + 16;
	uvf__io_fds_entry(&view, 2, &e);
	assert_int_equal(e.offset, 0x200);
	assert_int_equal(e.datamatch, 0x79); /* the last 8 bytes of the 48 */
}

static void test_io_fds_reply_without_entries(void **state)
{
	struct uvf_region_io_fds_view view;

	reply_head(2, 0, 40, 0);
	assert_int_equal(reply(16, 0, 1024, &view), 0);
	assert_int_equal(view.head.count, 0);
	assert_false(view.truncated);
	/* fds with no entry are unused, not an error: the caller closes them */
	assert_int_equal(reply(16, 2, 1024, NULL), 0);
}

static void test_io_fds_reply_short_or_for_another_region(void **state)
{
	reply_head(2, 0, 40, 0);
	assert_refused(reply(15, 0, 1024, NULL), -EINVAL, why, "payload 15 bytes");
	assert_refused(reply(0, 0, 1024, NULL), -EINVAL, why, "DEVICE_GET_REGION_IO_FDS reply");
	reply_head(3, 0, 40, 0);
	assert_refused(reply(16, 0, 1024, NULL), -EINVAL, why, "for region 3 (asked 2)");
	reply_head(2, 0, 40, 15);
	assert_refused(reply(16, 0, 1024, NULL), -EINVAL, why, "argsz 15");
}

static void test_io_fds_reply_truncated_asks_again(void **state)
{
	struct uvf_region_io_fds_view view;

	reply_head(2, 30, 40, 0); /* argsz 1216, only the header sent */
	assert_int_equal(reply(16, 0, 1024, &view), 0);
	assert_true(view.truncated);
	assert_int_equal(view.head.argsz, 16 + 30 * 40);
	/* not larger than asked: a server that would loop */
	assert_refused(reply(16, 0, 16 + 30 * 40, NULL), -EINVAL, why, "beyond the 16 bytes received");
	/* beyond what we accept */
	reply_head(2, 30, 40, MAX_ARGSZ + 1);
	assert_refused(reply(16, 0, 1024, NULL), -EINVAL, why, "argsz 65537");
	/* fds with a truncated reply: the server sent what it said it left out */
	reply_head(2, 30, 40, 0);
	assert_refused(reply(16, 1, 1024, NULL), -EINVAL, why, "1 fds");
	/* entries cut short */
	reply_head(2, 2, 40, 0);
	assert_refused(reply(16 + 79, 2, 16 + 80, NULL), -EINVAL, why, "argsz 96 beyond the 95 bytes");
}

static void test_io_fds_reply_count_and_stride(void **state)
{
	/* 3 entries in 100 bytes: not a whole stride */
	reply_head(2, 3, 40, 16 + 100);
	msg_len = 16 + 100;
	assert_refused(reply(msg_len, 3, 1024, NULL), -EINVAL, why, "3 entries in 100 bytes");
	/* a whole stride, but neither 40 nor 48 */
	reply_head(2, 2, 32, 0);
	assert_refused(reply(msg_len, 2, 1024, NULL), -EINVAL, why, "entries of 32 bytes");
	reply_head(2, 1, 56, 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "entries of 56 bytes");
	/* count * entry beyond the limit, even when argsz divides */
	reply_head(2, UVF_IO_FDS_MAX_ENTRIES + 1, 40, 16 + (UVF_IO_FDS_MAX_ENTRIES + 1) * 40);
	assert_refused(reply(16 + (UVF_IO_FDS_MAX_ENTRIES + 1) * 40, 0, UINT32_MAX, NULL), -EINVAL, why,
		       "1025 entries");
	/* a huge count whose product with 40 would wrap 32 bits: stride 0 */
	reply_head(2, 0x80000000u, 40, 16 + 80);
	assert_refused(reply(16 + 80, 2, 1024, NULL), -EINVAL, why, "2147483648 entries in 80 bytes");
}

static void test_io_fds_reply_entry_fd_index(void **state)
{
	reply_head(2, 2, 40, 0);
	reply_entry(0, 40, 0x40, 4, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	reply_entry(1, 40, 0x44, 4, 1, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_int_equal(reply(msg_len, 2, 1024, NULL), 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "entry 1 (offset 0x44, size 4, fd 1 of 1)");
	assert_refused(reply(msg_len, 0, 1024, NULL), -EINVAL, why, "entry 0");
	reply_entry(1, 40, 0x44, 4, UINT32_MAX, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_refused(reply(msg_len, 2, 1024, NULL), -EINVAL, why, "fd 4294967295 of 2");
}

static void test_io_fds_reply_entry_inside_region(void **state)
{
	reply_head(2, 1, 40, 0);
	reply_entry(0, 40, REGION_SIZE - 8, 8, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_int_equal(reply(msg_len, 1, 1024, NULL), 0);
	reply_entry(0, 40, REGION_SIZE - 4, 8, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "outside the region");
	reply_entry(0, 40, REGION_SIZE, 0, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "outside the region");
	/* offset + size would wrap 64 bits */
	reply_entry(0, 40, 8, UINT64_MAX - 4, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "outside the region");
	reply_entry(0, 40, UINT64_MAX, 2, 0, UVF_IO_FD_TYPE_IOEVENTFD, 0, 0);
	assert_refused(reply(msg_len, 1, 1024, NULL), -EINVAL, why, "outside the region");
}

static void test_io_fds_reply_leaves_kinds_to_the_caller(void **state)
{
	struct uvf_region_io_fds_view view;

	/* type, flags and access size are the caller's choice, not refusals */
	reply_head(2, 2, 40, 0);
	reply_entry(0, 40, 0x40, 3, 0, UVF_IO_FD_TYPE_IOREGIONFD, 0xff, 0);
	reply_entry(1, 40, 0x44, 0, 1, 77, UVF_IOEVENTFD_FLAG_DATAMATCH, 0);
	assert_int_equal(reply(msg_len, 2, 1024, &view), 0);
	assert_int_equal(view.head.count, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_fds_req_accepts_a_plain_request),
		cmocka_unit_test(test_io_fds_req_length),
		cmocka_unit_test(test_io_fds_req_refuses_fds),
		cmocka_unit_test(test_io_fds_req_refuses_small_argsz_flags_and_count),
		cmocka_unit_test(test_io_fds_req_refuses_unknown_region),
		cmocka_unit_test(test_io_fds_reply_spec_layout),
		cmocka_unit_test(test_io_fds_reply_libvfio_user_layout),
		cmocka_unit_test(test_io_fds_reply_without_entries),
		cmocka_unit_test(test_io_fds_reply_short_or_for_another_region),
		cmocka_unit_test(test_io_fds_reply_truncated_asks_again),
		cmocka_unit_test(test_io_fds_reply_count_and_stride),
		cmocka_unit_test(test_io_fds_reply_entry_fd_index),
		cmocka_unit_test(test_io_fds_reply_entry_inside_region),
		cmocka_unit_test(test_io_fds_reply_leaves_kinds_to_the_caller),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
