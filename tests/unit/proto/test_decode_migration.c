/* SPDX-License-Identifier: MIT */
/* DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define MAX_XFER 4096u

static struct uvf_why why;
static uint8_t msg[8 + MAX_XFER + 8];

/* ---------------------------------------------------------- DEVICE_FEATURE */

static void feature_msg(uint32_t argsz, uint32_t flags)
{
	struct uvf_msg_device_feature feature = {.argsz = argsz, .flags = flags};
	size_t i;

	memcpy(msg, &feature, sizeof(feature));
	for (i = sizeof(feature); i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
}

static int feature(size_t len, size_t nfds, struct uvf_device_feature_view *view)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_device_feature_view local;
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_device_feature(payload, len, nfds, view, &why);
	if (ret == 0) {
		assert_memory_equal(&view->feature, msg, sizeof(view->feature));
		assert_int_equal(view->data_len, len - 8);
		if (len > 8)
			assert_ptr_equal(view->data, payload + 8);
		else
			assert_null(view->data);
		view->data = NULL; /* the copy is freed below */
	}
	wire_free(payload);
	return ret;
}

static void test_device_feature_length(void **state)
{
	struct uvf_device_feature_view view;

	feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION);
	assert_int_equal(feature(8, 0, &view), 0);
	assert_int_equal(view.index, UVF_FEATURE_MIGRATION);
	assert_refused(feature(7, 0, NULL), -EINVAL, why, "DEVICE_FEATURE");
	assert_refused(feature(0, 0, NULL), -EINVAL, why, "DEVICE_FEATURE");
}

static void test_device_feature_refuses_unknown_bits(void **state)
{
	feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE | 0x80000);
	assert_refused(feature(8, 0, NULL), -EINVAL, why, "0x80000");
	feature_msg(16, UVF_FEATURE_GET | 0xffff);
	assert_int_equal(feature(8, 0, NULL), 0);
}

static void test_device_feature_needs_an_operation(void **state)
{
	feature_msg(16, UVF_FEATURE_MIGRATION);
	assert_refused(feature(8, 0, NULL), -EINVAL, why, "none of GET, SET, PROBE");
	feature_msg(16, UVF_FEATURE_PROBE | UVF_FEATURE_MIGRATION);
	assert_int_equal(feature(8, 0, NULL), 0);
}

static void test_device_feature_get_and_set_only_with_probe(void **state)
{
	feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_refused(feature(16, 0, NULL), -EINVAL, why, "GET and SET");
	feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_PROBE | UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_int_equal(feature(16, 0, NULL), 0);
}

static void test_device_feature_set_and_probe_argsz_cover_payload(void **state)
{
	struct uvf_device_feature_view view;

	feature_msg(16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_int_equal(feature(16, 0, &view), 0);
	assert_int_equal(view.index, UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_int_equal(view.data_len, 8);
	feature_msg(15, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_refused(feature(16, 0, NULL), -EINVAL, why, "argsz 15");
	feature_msg(15, UVF_FEATURE_PROBE | UVF_FEATURE_MIGRATION_DEVICE_STATE);
	assert_refused(feature(16, 0, NULL), -EINVAL, why, "argsz 15");
	/* GET only needs room for its reply, which the server checks */
	feature_msg(8, UVF_FEATURE_GET | UVF_FEATURE_DMA_LOGGING_REPORT);
	assert_int_equal(feature(32, 0, NULL), 0);
}

static void test_device_feature_refuses_fds(void **state)
{
	feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION);
	assert_refused(feature(8, 1, NULL), -EINVAL, why, "DEVICE_FEATURE");
}

/* ------------------------------------------------------------ MIG_DATA_* */

static void mig_msg(uint32_t argsz, uint32_t size)
{
	struct uvf_msg_migration_data mig = {.argsz = argsz, .size = size};
	size_t i;

	memcpy(msg, &mig, sizeof(mig));
	for (i = sizeof(mig); i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
}

static int mig_read(size_t len, size_t nfds, uint32_t max_xfer)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_msg_migration_data out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_mig_data_read(payload, len, nfds, max_xfer, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, msg, sizeof(out));
	wire_free(payload);
	return ret;
}

static void test_mig_data_read_length(void **state)
{
	mig_msg(8 + 100, 100);
	assert_int_equal(mig_read(8, 0, MAX_XFER), 0);
	assert_refused(mig_read(7, 0, MAX_XFER), -EINVAL, why, "MIG_DATA_READ");
	assert_refused(mig_read(9, 0, MAX_XFER), -EINVAL, why, "MIG_DATA_READ");
}

static void test_mig_data_read_argsz_covers_size(void **state)
{
	mig_msg(8 + 100, 100);
	assert_int_equal(mig_read(8, 0, MAX_XFER), 0);
	mig_msg(8 + 99, 100);
	assert_refused(mig_read(8, 0, MAX_XFER), -EINVAL, why, "argsz 107 below 8 + size 100");
	/* 8 + size computed without 32-bit wrap */
	mig_msg(UINT32_MAX, UINT32_MAX);
	assert_refused(mig_read(8, 0, UINT32_MAX), -EINVAL, why, "argsz 4294967295");
}

static void test_mig_data_read_size_limit(void **state)
{
	mig_msg(8 + MAX_XFER, MAX_XFER);
	assert_int_equal(mig_read(8, 0, MAX_XFER), 0);
	mig_msg(8 + MAX_XFER + 1, MAX_XFER + 1);
	assert_refused(mig_read(8, 0, MAX_XFER), -E2BIG, why, "MIG_DATA_READ");
}

static void test_mig_data_read_refuses_fds(void **state)
{
	mig_msg(16, 8);
	assert_refused(mig_read(8, 1, MAX_XFER), -EINVAL, why, "MIG_DATA_READ");
}

static int mig_write(size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	struct uvf_msg_migration_data out;
	const uint8_t *data = (const uint8_t *)"unset";
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_mig_data_write(payload, len, nfds, MAX_XFER, &out, &data, &why);
	if (ret == 0) {
		assert_memory_equal(&out, msg, sizeof(out));
		if (out.size != 0)
			assert_ptr_equal(data, payload + 8);
		else
			assert_null(data);
	}
	wire_free(payload);
	return ret;
}

static void test_mig_data_write_payload_matches_size(void **state)
{
	mig_msg(8 + 100, 100);
	assert_int_equal(mig_write(108, 0), 0);
	assert_refused(mig_write(107, 0), -EINVAL, why, "expected 8 + size 100");
	assert_refused(mig_write(109, 0), -EINVAL, why, "expected 8 + size 100");
	assert_refused(mig_write(7, 0), -EINVAL, why, "MIG_DATA_WRITE");
	mig_msg(8, 0);
	assert_int_equal(mig_write(8, 0), 0);
}

static void test_mig_data_write_size_limit(void **state)
{
	mig_msg(8 + MAX_XFER, MAX_XFER);
	assert_int_equal(mig_write(8 + MAX_XFER, 0), 0);
	mig_msg(8 + MAX_XFER + 1, MAX_XFER + 1);
	assert_refused(mig_write(8 + MAX_XFER + 1, 0), -E2BIG, why, "MIG_DATA_WRITE");
}

static void test_mig_data_write_argsz_covers_size(void **state)
{
	mig_msg(4096, 100);
	assert_int_equal(mig_write(108, 0), 0);
	mig_msg(107, 100);
	assert_refused(mig_write(108, 0), -EINVAL, why, "argsz 107");
}

static void test_mig_data_write_refuses_fds(void **state)
{
	mig_msg(108, 100);
	assert_refused(mig_write(108, 1), -EINVAL, why, "MIG_DATA_WRITE");
}

static void test_mig_data_write_accepts_null_data_pointer(void **state)
{
	uint8_t *payload;
	struct uvf_msg_migration_data out;

	mig_msg(12, 4);
	payload = wire_copy(msg, sizeof(msg), 12);
	assert_int_equal(uvf__decode_mig_data_write(payload, 12, 0, MAX_XFER, &out, NULL, &why), 0);
	assert_int_equal(out.size, 4);
	wire_free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_feature_length),
		cmocka_unit_test(test_device_feature_refuses_unknown_bits),
		cmocka_unit_test(test_device_feature_needs_an_operation),
		cmocka_unit_test(test_device_feature_get_and_set_only_with_probe),
		cmocka_unit_test(test_device_feature_set_and_probe_argsz_cover_payload),
		cmocka_unit_test(test_device_feature_refuses_fds),
		cmocka_unit_test(test_mig_data_read_length),
		cmocka_unit_test(test_mig_data_read_argsz_covers_size),
		cmocka_unit_test(test_mig_data_read_size_limit),
		cmocka_unit_test(test_mig_data_read_refuses_fds),
		cmocka_unit_test(test_mig_data_write_payload_matches_size),
		cmocka_unit_test(test_mig_data_write_size_limit),
		cmocka_unit_test(test_mig_data_write_argsz_covers_size),
		cmocka_unit_test(test_mig_data_write_refuses_fds),
		cmocka_unit_test(test_mig_data_write_accepts_null_data_pointer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
