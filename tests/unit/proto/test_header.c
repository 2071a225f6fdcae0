/* SPDX-License-Identifier: MIT */
/* Header checks, error-reply helpers, reason texts and command names. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define MAX_MSG 4096u

static struct uvf_why why;

static int check(uint16_t command, uint32_t msg_size, uint32_t flags)
{
	struct uvf_msg_header hdr;

	uvf__msg_header_init(&hdr, 7, command, msg_size, flags, 0);
	why.text[0] = '\0';
	return uvf__msg_check_header(&hdr, MAX_MSG, &why);
}

static void test_header_accepts_msg_size_of_header_alone(void **state)
{
	assert_int_equal(check(UVF_CMD_DEVICE_RESET, 16, UVF_MSG_TYPE_COMMAND), 0);
}

static void test_header_refuses_msg_size_below_16(void **state)
{
	assert_refused(check(UVF_CMD_DEVICE_RESET, 15, UVF_MSG_TYPE_COMMAND), -EPROTO, why, "DEVICE_RESET");
	assert_refused(check(UVF_CMD_DEVICE_RESET, 0, UVF_MSG_TYPE_COMMAND), -EPROTO, why, "msg_size 0");
}

static void test_header_accepts_msg_size_at_limit(void **state)
{
	assert_int_equal(check(UVF_CMD_REGION_WRITE, MAX_MSG, UVF_MSG_TYPE_COMMAND), 0);
}

static void test_header_refuses_msg_size_above_limit(void **state)
{
	assert_refused(check(UVF_CMD_REGION_WRITE, MAX_MSG + 1, UVF_MSG_TYPE_COMMAND), -EMSGSIZE, why, "REGION_WRITE");
	assert_refused(check(UVF_CMD_REGION_WRITE, UINT32_MAX, UVF_MSG_TYPE_COMMAND), -EMSGSIZE, why, "4294967295");
}

static void test_header_accepts_command_and_reply_types(void **state)
{
	assert_int_equal(check(UVF_CMD_VERSION, 16, UVF_MSG_TYPE_COMMAND), 0);
	assert_int_equal(check(UVF_CMD_VERSION, 16, UVF_MSG_TYPE_REPLY), 0);
}

static void test_header_refuses_other_types(void **state)
{
	assert_refused(check(UVF_CMD_VERSION, 16, 2), -EPROTO, why, "VERSION");
	assert_refused(check(UVF_CMD_VERSION, 16, 0xf), -EPROTO, why, "type 15");
}

static void test_header_refuses_unknown_flag_bits(void **state)
{
	assert_refused(check(UVF_CMD_VERSION, 16, UVF_MSG_TYPE_COMMAND | 0x40), -EPROTO, why, "0x40");
	assert_refused(check(UVF_CMD_VERSION, 16, UVF_MSG_TYPE_REPLY | 0x80000000u), -EPROTO, why, "0x80000000");
}

static void test_header_accepts_no_reply_on_command(void **state)
{
	assert_int_equal(check(UVF_CMD_REGION_WRITE, 32, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY), 0);
}

static void test_header_refuses_no_reply_on_reply(void **state)
{
	assert_refused(check(UVF_CMD_REGION_WRITE, 32, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_NO_REPLY), -EPROTO, why,
		       "NO_REPLY");
}

static void test_header_accepts_error_on_reply(void **state)
{
	assert_int_equal(check(UVF_CMD_REGION_READ, 16, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR), 0);
}

static void test_header_refuses_error_on_command(void **state)
{
	assert_refused(check(UVF_CMD_REGION_READ, 16, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_ERROR), -EPROTO, why,
		       "ERROR");
}

static void test_header_leaves_unknown_commands_to_the_dispatcher(void **state)
{
	assert_int_equal(check(0, 16, UVF_MSG_TYPE_COMMAND), 0);
	assert_int_equal(check(UVF_CMD_RESERVED_14, 16, UVF_MSG_TYPE_COMMAND), 0);
	assert_int_equal(check(19, 16, UVF_MSG_TYPE_COMMAND), 0);
	assert_int_equal(check(UINT16_MAX, 16, UVF_MSG_TYPE_REPLY), 0);
}

static void test_header_check_accepts_null_why(void **state)
{
	struct uvf_msg_header hdr;

	uvf__msg_header_init(&hdr, 1, UVF_CMD_VERSION, 8, UVF_MSG_TYPE_COMMAND, 0);
	assert_int_equal(uvf__msg_check_header(&hdr, MAX_MSG, NULL), -EPROTO);
}

static uint32_t reply_errno(uint32_t error)
{
	struct uvf_msg_header hdr;

	uvf__msg_header_init(&hdr, 1, UVF_CMD_REGION_READ, 16, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR, error);
	return (uint32_t)uvf__msg_reply_errno(&hdr);
}

static void test_reply_errno_passes_valid_errno(void **state)
{
	assert_int_equal(reply_errno(ENOENT), ENOENT);
	assert_int_equal(reply_errno(1), 1);
	assert_int_equal(reply_errno(4095), 4095);
}

static void test_reply_errno_turns_zero_and_huge_into_einval(void **state)
{
	assert_int_equal(reply_errno(0), EINVAL);
	assert_int_equal(reply_errno(4096), EINVAL);
	assert_int_equal(reply_errno(UINT32_MAX), EINVAL);
}

static void test_header_init_fills_every_field(void **state)
{
	struct uvf_msg_header hdr;

	memset(&hdr, 0xa5, sizeof(hdr));
	uvf__msg_header_init(&hdr, 0x1234, UVF_CMD_DMA_MAP, 48, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0);
	assert_int_equal(hdr.msg_id, 0x1234);
	assert_int_equal(hdr.command, UVF_CMD_DMA_MAP);
	assert_int_equal(hdr.msg_size, 48);
	assert_int_equal(hdr.flags, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY);
	assert_int_equal(hdr.error, 0);
}

static void test_error_reply_echoes_request_with_error_flags(void **state)
{
	struct uvf_msg_header req, reply;

	uvf__msg_header_init(&req, 0xbeef, UVF_CMD_REGION_READ, 32, UVF_MSG_TYPE_COMMAND, 0);
	uvf__msg_error_reply(&reply, &req, ENOENT);
	assert_int_equal(reply.msg_id, 0xbeef);
	assert_int_equal(reply.command, UVF_CMD_REGION_READ);
	assert_int_equal(reply.msg_size, 16);
	assert_int_equal(reply.flags, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR);
	assert_int_equal(reply.error, ENOENT);
	/* what we send passes our own receive check */
	assert_int_equal(uvf__msg_check_header(&reply, 16, NULL), 0);
}

static void test_error_reply_never_sends_zero_or_negative(void **state)
{
	struct uvf_msg_header req, reply;

	uvf__msg_header_init(&req, 1, UVF_CMD_DMA_MAP, 48, UVF_MSG_TYPE_COMMAND, 0);
	uvf__msg_error_reply(&reply, &req, 0);
	assert_int_equal(reply.error, EINVAL);
	uvf__msg_error_reply(&reply, &req, -EEXIST);
	assert_int_equal(reply.error, EEXIST);
	uvf__msg_error_reply(&reply, &req, 5000);
	assert_int_equal(reply.error, EINVAL);
	uvf__msg_error_reply(&reply, &req, INT_MIN);
	assert_int_equal(reply.error, EINVAL);
}

static void test_why_formats_and_returns_err(void **state)
{
	struct uvf_why w;

	assert_int_equal(uvf__why(&w, -E2BIG, "%s: count %u", "REGION_READ", 9u), -E2BIG);
	assert_string_equal(w.text, "REGION_READ: count 9");
	assert_int_equal(uvf__why(NULL, -EINVAL, "ignored %d", 1), -EINVAL);
}

static void test_why_truncates_long_text(void **state)
{
	struct uvf_why w;
	char long_text[UVF_WHY_SIZE * 2];

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	uvf__why(&w, -EINVAL, "%s", long_text);
	assert_int_equal(strlen(w.text), UVF_WHY_SIZE - 1);
}

static void test_cmd_name_names_known_commands(void **state)
{
	assert_string_equal(uvf__cmd_name(UVF_CMD_VERSION), "VERSION");
	assert_string_equal(uvf__cmd_name(UVF_CMD_DEVICE_GET_REGION_INFO), "DEVICE_GET_REGION_INFO");
	assert_string_equal(uvf__cmd_name(UVF_CMD_REGION_WRITE_MULTI), "REGION_WRITE_MULTI");
	assert_string_equal(uvf__cmd_name(UVF_CMD_MIGRATION_DATA_WRITE), "MIG_DATA_WRITE");
}

static void test_cmd_name_numbers_unknown_commands(void **state)
{
	assert_string_equal(uvf__cmd_name(0), "command 0");
	assert_string_equal(uvf__cmd_name(UVF_CMD_RESERVED_14), "command 14");
	assert_string_equal(uvf__cmd_name(77), "command 77");
	assert_string_equal(uvf__cmd_name(UINT16_MAX), "command 65535");
}

static void test_feature_name_names_known_features(void **state)
{
	assert_string_equal(uvf__feature_name(UVF_FEATURE_MIGRATION), "MIGRATION");
	assert_string_equal(uvf__feature_name(UVF_FEATURE_MIGRATION_DEVICE_STATE), "MIG_DEVICE_STATE");
	assert_string_equal(uvf__feature_name(UVF_FEATURE_DMA_LOGGING_START), "DMA_LOGGING_START");
	assert_string_equal(uvf__feature_name(UVF_FEATURE_DMA_LOGGING_STOP), "DMA_LOGGING_STOP");
	assert_string_equal(uvf__feature_name(UVF_FEATURE_DMA_LOGGING_REPORT), "DMA_LOGGING_REPORT");
}

static void test_feature_name_is_null_for_unknown_features(void **state)
{
	assert_null(uvf__feature_name(0));
	assert_null(uvf__feature_name(3));
	assert_null(uvf__feature_name(9));
	/* the flag bits are not part of the index */
	assert_null(uvf__feature_name(UVF_FEATURE_GET | UVF_FEATURE_MIGRATION));
	assert_null(uvf__feature_name(UINT32_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_accepts_msg_size_of_header_alone),
		cmocka_unit_test(test_header_refuses_msg_size_below_16),
		cmocka_unit_test(test_header_accepts_msg_size_at_limit),
		cmocka_unit_test(test_header_refuses_msg_size_above_limit),
		cmocka_unit_test(test_header_accepts_command_and_reply_types),
		cmocka_unit_test(test_header_refuses_other_types),
		cmocka_unit_test(test_header_refuses_unknown_flag_bits),
		cmocka_unit_test(test_header_accepts_no_reply_on_command),
		cmocka_unit_test(test_header_refuses_no_reply_on_reply),
		cmocka_unit_test(test_header_accepts_error_on_reply),
		cmocka_unit_test(test_header_refuses_error_on_command),
		cmocka_unit_test(test_header_leaves_unknown_commands_to_the_dispatcher),
		cmocka_unit_test(test_header_check_accepts_null_why),
		cmocka_unit_test(test_reply_errno_passes_valid_errno),
		cmocka_unit_test(test_reply_errno_turns_zero_and_huge_into_einval),
		cmocka_unit_test(test_header_init_fills_every_field),
		cmocka_unit_test(test_error_reply_echoes_request_with_error_flags),
		cmocka_unit_test(test_error_reply_never_sends_zero_or_negative),
		cmocka_unit_test(test_why_formats_and_returns_err),
		cmocka_unit_test(test_why_truncates_long_text),
		cmocka_unit_test(test_cmd_name_names_known_commands),
		cmocka_unit_test(test_cmd_name_numbers_unknown_commands),
		cmocka_unit_test(test_feature_name_names_known_features),
		cmocka_unit_test(test_feature_name_is_null_for_unknown_features),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
