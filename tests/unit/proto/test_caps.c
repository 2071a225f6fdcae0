/* SPDX-License-Identifier: MIT */
/* VERSION capabilities: parsing the peer's JSON and encoding ours. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "proto_test.h"

/* What QEMU's client sends (docs/protocol.md 2.5). */
static const char qemu_request[] = "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
				   "\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true,"
				   "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456}}}";

static struct uvf_why why;

/* Parse text (without its NUL) from an exact-size, unterminated heap copy. */
static int parse(const char *text, struct uvf_caps *caps)
{
	size_t len = strlen(text);
	uint8_t *copy = wire_copy(text, len, len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__caps_parse((const char *)copy, len, caps, &why);
	wire_free(copy);
	return ret;
}

/* Parse "{\"capabilities\":{<members>}}". */
static int parse_caps(const char *members, struct uvf_caps *caps)
{
	char text[UVF_CAPS_JSON_MAX];

	snprintf(text, sizeof(text), "{\"capabilities\":{%s}}", members);
	return parse(text, caps);
}

static void assert_caps_are_defaults(const struct uvf_caps *caps)
{
	assert_int_equal(caps->max_msg_fds, UVF_DEFAULT_MAX_MSG_FDS);
	assert_int_equal(caps->max_data_xfer_size, UVF_DEFAULT_MAX_DATA_XFER_SIZE);
	assert_int_equal(caps->max_dma_maps, UVF_DEFAULT_MAX_DMA_MAPS);
	assert_int_equal(caps->pgsizes, UVF_DEFAULT_PGSIZES);
	assert_false(caps->twin_socket);
	assert_false(caps->twin_socket_has_index);
	assert_false(caps->write_multiple);
	assert_false(caps->migration);
	assert_false(caps->has_max_msg_fds);
	assert_false(caps->has_max_data_xfer_size);
	assert_false(caps->has_max_dma_maps);
	assert_false(caps->has_pgsizes);
}

static void test_caps_defaults_match_protocol(void **state)
{
	struct uvf_caps caps;

	memset(&caps, 0xff, sizeof(caps));
	uvf__caps_defaults(&caps);
	assert_caps_are_defaults(&caps);
	assert_int_equal(caps.max_msg_fds, 1);
	assert_int_equal(caps.max_data_xfer_size, 1048576);
	assert_int_equal(caps.max_dma_maps, 65535);
	assert_int_equal(caps.pgsizes, 4096);
}

static void test_caps_empty_object_gives_defaults(void **state)
{
	struct uvf_caps caps;

	memset(&caps, 0xff, sizeof(caps));
	assert_int_equal(parse("{}", &caps), 0);
	assert_caps_are_defaults(&caps);
	memset(&caps, 0xff, sizeof(caps));
	assert_int_equal(parse("{\"capabilities\":{}}", &caps), 0);
	assert_caps_are_defaults(&caps);
}

static void test_caps_parses_qemu_handshake(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse(qemu_request, &caps), 0);
	assert_int_equal(caps.max_msg_fds, 16);
	assert_true(caps.has_max_msg_fds);
	assert_int_equal(caps.max_data_xfer_size, 1048576);
	assert_true(caps.has_max_data_xfer_size);
	assert_int_equal(caps.pgsizes, 4096);
	assert_true(caps.has_pgsizes);
	assert_int_equal(caps.max_dma_maps, 65535);
	assert_true(caps.has_max_dma_maps);
	assert_true(caps.write_multiple);
	assert_true(caps.migration);
	assert_int_equal(caps.migration_pgsize, 4096);
	assert_int_equal(caps.migration_max_bitmap_size, 268435456);
	assert_false(caps.twin_socket);
}

static void test_caps_accepts_text_with_or_without_nul_in_len(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(uvf__caps_parse(qemu_request, sizeof(qemu_request), &caps, &why), 0);
	assert_int_equal(caps.max_msg_fds, 16);
	assert_int_equal(uvf__caps_parse(qemu_request, sizeof(qemu_request) - 1, &caps, &why), 0);
	assert_int_equal(caps.max_msg_fds, 16);
}

static void test_caps_parses_each_key(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"max_msg_fds\":8", &caps), 0);
	assert_int_equal(caps.max_msg_fds, 8);
	assert_true(caps.has_max_msg_fds);
	assert_false(caps.has_max_data_xfer_size);

	assert_int_equal(parse_caps("\"max_data_xfer_size\":65536", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 65536);
	assert_true(caps.has_max_data_xfer_size);
	assert_false(caps.has_max_msg_fds);

	assert_int_equal(parse_caps("\"max_dma_maps\":100", &caps), 0);
	assert_int_equal(caps.max_dma_maps, 100);
	assert_true(caps.has_max_dma_maps);

	assert_int_equal(parse_caps("\"pgsizes\":2101248", &caps), 0); /* 4 KiB | 2 MiB */
	assert_int_equal(caps.pgsizes, 0x201000);
	assert_true(caps.has_pgsizes);

	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true}", &caps), 0);
	assert_true(caps.twin_socket);
	assert_false(caps.twin_socket_has_index);

	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true,\"fd_index\":3}", &caps), 0);
	assert_true(caps.twin_socket);
	assert_true(caps.twin_socket_has_index);
	assert_int_equal(caps.twin_socket_fd_index, 3);

	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":false}", &caps), 0);
	assert_false(caps.twin_socket);

	assert_int_equal(parse_caps("\"write_multiple\":true", &caps), 0);
	assert_true(caps.write_multiple);
	assert_int_equal(parse_caps("\"write_multiple\":false", &caps), 0);
	assert_false(caps.write_multiple);

	assert_int_equal(parse_caps("\"migration\":{\"pgsize\":4096}", &caps), 0);
	assert_true(caps.migration);
	assert_int_equal(caps.migration_pgsize, 4096);
	assert_int_equal(caps.migration_max_bitmap_size, 0);
}

static void test_caps_ignores_unknown_keys(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse("{\"vendor\":[1,{\"x\":null}],\"capabilities\":{\"sparse_mmap_fds\":true,"
			       "\"future\":{\"a\":[1.5,\"s\"]},\"max_msg_fds\":4,"
			       "\"twin_socket\":{\"supported\":true,\"extra\":\"x\"}}}",
			       &caps),
			 0);
	assert_int_equal(caps.max_msg_fds, 4);
	assert_true(caps.twin_socket);
}

static void test_caps_refuses_wrong_types(void **state)
{
	static const char *const wrong[] = {
		"\"max_msg_fds\":\"16\"",
		"\"max_msg_fds\":16.0",
		"\"max_msg_fds\":1e1",
		"\"max_msg_fds\":true",
		"\"max_msg_fds\":null",
		"\"max_data_xfer_size\":[1048576]",
		"\"max_dma_maps\":{}",
		"\"pgsizes\":\"4096\"",
		"\"twin_socket\":true",
		"\"twin_socket\":{\"supported\":1}",
		"\"twin_socket\":{\"supported\":true,\"fd_index\":\"0\"}",
		"\"write_multiple\":1",
		"\"write_multiple\":\"true\"",
		"\"migration\":true",
		"\"migration\":{\"pgsize\":\"4096\"}",
		"\"migration\":{\"max_bitmap_size\":1.5}",
	};
	struct uvf_caps caps;
	size_t i;

	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		print_message("refusing %s\n", wrong[i]);
		assert_refused(parse_caps(wrong[i], &caps), -EINVAL, why, "VERSION");
	}
	assert_refused(parse("{\"capabilities\":[]}", &caps), -EINVAL, why, "capabilities");
	assert_refused(parse("{\"capabilities\":7}", &caps), -EINVAL, why, "capabilities");
}

static void test_caps_refuses_negative_numbers(void **state)
{
	struct uvf_caps caps;

	assert_refused(parse_caps("\"max_msg_fds\":-1", &caps), -EINVAL, why, "negative");
	assert_refused(parse_caps("\"max_data_xfer_size\":-1048576", &caps), -EINVAL, why, "negative");
	assert_refused(parse_caps("\"pgsizes\":-4096", &caps), -EINVAL, why, "negative");
	assert_refused(parse_caps("\"max_dma_maps\":-99999999999999999999", &caps), -EINVAL, why, "negative");
	assert_refused(parse_caps("\"twin_socket\":{\"supported\":true,\"fd_index\":-1}", &caps), -EINVAL, why,
		       "fd_index");
	assert_int_equal(parse_caps("\"max_msg_fds\":-0", &caps), 0);
	assert_int_equal(caps.max_msg_fds, 0);
}

static void test_caps_max_msg_fds_limit(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"max_msg_fds\":1024", &caps), 0);
	assert_int_equal(caps.max_msg_fds, 1024);
	assert_int_equal(parse_caps("\"max_msg_fds\":0", &caps), 0);
	assert_int_equal(caps.max_msg_fds, 0);
	assert_refused(parse_caps("\"max_msg_fds\":1025", &caps), -EINVAL, why, "max_msg_fds");
	assert_refused(parse_caps("\"max_msg_fds\":4294967297", &caps), -EINVAL, why, "max_msg_fds");
}

static void test_caps_max_data_xfer_size_clamped_above_64mib(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"max_data_xfer_size\":67108864", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 64u << 20);
	assert_int_equal(parse_caps("\"max_data_xfer_size\":67108865", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 64u << 20);
	assert_int_equal(parse_caps("\"max_data_xfer_size\":4294967296", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 64u << 20);
	assert_int_equal(parse_caps("\"max_data_xfer_size\":99999999999999999999999", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 64u << 20);
	assert_true(caps.has_max_data_xfer_size);
}

static void test_caps_max_data_xfer_size_refused_below_minimum(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"max_data_xfer_size\":512", &caps), 0);
	assert_int_equal(caps.max_data_xfer_size, 512);
	assert_refused(parse_caps("\"max_data_xfer_size\":511", &caps), -EINVAL, why, "max_data_xfer_size");
	assert_refused(parse_caps("\"max_data_xfer_size\":0", &caps), -EINVAL, why, "max_data_xfer_size");
}

static void test_caps_max_dma_maps_range(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"max_dma_maps\":1", &caps), 0);
	assert_int_equal(caps.max_dma_maps, 1);
	assert_int_equal(parse_caps("\"max_dma_maps\":4294967295", &caps), 0);
	assert_int_equal(caps.max_dma_maps, UINT32_MAX);
	assert_refused(parse_caps("\"max_dma_maps\":0", &caps), -EINVAL, why, "max_dma_maps");
	assert_refused(parse_caps("\"max_dma_maps\":4294967296", &caps), -EINVAL, why, "max_dma_maps");
}

static void test_caps_pgsizes_needs_a_page_of_4k_or_more(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"pgsizes\":4096", &caps), 0);
	assert_int_equal(parse_caps("\"pgsizes\":6144", &caps), 0); /* 4 KiB | 2 KiB: one real page */
	assert_int_equal(caps.pgsizes, 6144);
	assert_int_equal(parse_caps("\"pgsizes\":9223372036854775808", &caps), 0); /* bit 63 */
	assert_int_equal(caps.pgsizes, 1ull << 63);
	assert_refused(parse_caps("\"pgsizes\":0", &caps), -EINVAL, why, "pgsizes");
	assert_refused(parse_caps("\"pgsizes\":2048", &caps), -EINVAL, why, "pgsizes");
	assert_refused(parse_caps("\"pgsizes\":4095", &caps), -EINVAL, why, "pgsizes");
	/* json-c saturates larger numbers to 2^64-1: refused as out of range */
	assert_refused(parse_caps("\"pgsizes\":18446744073709551615", &caps), -EINVAL, why, "pgsizes");
	assert_refused(parse_caps("\"pgsizes\":36893488147419103232", &caps), -EINVAL, why, "pgsizes");
}

static void test_caps_twin_socket_fd_index_range(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true,\"fd_index\":0}", &caps), 0);
	assert_int_equal(caps.twin_socket_fd_index, 0);
	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true,\"fd_index\":4294967295}", &caps), 0);
	assert_int_equal(caps.twin_socket_fd_index, UINT32_MAX);
	assert_refused(parse_caps("\"twin_socket\":{\"supported\":true,\"fd_index\":4294967296}", &caps), -EINVAL, why,
		       "fd_index");
}

static void test_caps_refuses_non_object_root(void **state)
{
	struct uvf_caps caps;

	assert_refused(parse("[]", &caps), -EINVAL, why, "VERSION");
	assert_refused(parse("\"capabilities\"", &caps), -EINVAL, why, "VERSION");
	assert_refused(parse("null", &caps), -EINVAL, why, "VERSION");
	assert_refused(parse("7", &caps), -EINVAL, why, "VERSION");
}

static void test_caps_refuses_invalid_json(void **state)
{
	static const char *const invalid[] = {
		"{",
		"{\"capabilities\":",
		"{\"capabilities\":{\"max_msg_fds\":}}",
		"{\"max_msg_fds\":1,}",
		"{\"max_msg_fds\":01}",
		"nonsense",
		"{\"k\":\"\xff\xfe\"}",
		"   ",
	};
	struct uvf_caps caps;
	size_t i;

	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		print_message("refusing %s\n", invalid[i]);
		assert_refused(parse(invalid[i], &caps), -EINVAL, why, "VERSION");
	}
}

static void test_caps_refuses_empty_text(void **state)
{
	struct uvf_caps caps;

	assert_refused(uvf__caps_parse("", 0, &caps, &why), -EINVAL, why, "empty");
	assert_refused(uvf__caps_parse("", 1, &caps, &why), -EINVAL, why, "empty");
}

static void test_caps_refuses_trailing_garbage(void **state)
{
	struct uvf_caps caps;

	assert_refused(parse("{}x", &caps), -EINVAL, why, "VERSION");
	assert_refused(parse("{}{}", &caps), -EINVAL, why, "VERSION");
	assert_refused(parse("{\"capabilities\":{}}]", &caps), -EINVAL, why, "VERSION");
	/* whitespace around the value is not garbage */
	assert_int_equal(parse(" \n{\"capabilities\":{\"max_msg_fds\":2}}\r\n\t ", &caps), 0);
	assert_int_equal(caps.max_msg_fds, 2);
}

static void test_caps_refuses_nul_inside_text(void **state)
{
	static const char text[] = "{}\0{\"capabilities\":{\"max_msg_fds\":2000}}";
	struct uvf_caps caps;

	assert_refused(uvf__caps_parse(text, sizeof(text), &caps, &why), -EINVAL, why, "NUL");
	assert_refused(uvf__caps_parse(text, sizeof(text) - 1, &caps, &why), -EINVAL, why, "NUL");
	assert_int_equal(uvf__caps_parse(text, 3, &caps, &why), 0);
}

static void test_caps_length_limit(void **state)
{
	char text[UVF_CAPS_JSON_MAX + 2];
	struct uvf_caps caps;

	/* leading whitespace pads a valid object to exactly the limit */
	memset(text, ' ', sizeof(text));
	memcpy(text + UVF_CAPS_JSON_MAX - 2, "{}", 3);
	assert_int_equal(strlen(text), UVF_CAPS_JSON_MAX);
	assert_int_equal(parse(text, &caps), 0);
	assert_int_equal(uvf__caps_parse(text, UVF_CAPS_JSON_MAX + 1, &caps, &why), 0);

	memset(text, ' ', sizeof(text));
	memcpy(text + UVF_CAPS_JSON_MAX - 1, "{}", 3);
	assert_refused(parse(text, &caps), -EINVAL, why, "4097");
}

static void test_caps_refuses_deep_nesting(void **state)
{
	char text[200];
	struct uvf_caps caps;
	size_t i, n = 0;

	n += (size_t)snprintf(text, sizeof(text), "{\"x\":");
	for (i = 0; i < 40; i++)
		text[n++] = '[';
	for (i = 0; i < 40; i++)
		text[n++] = ']';
	text[n++] = '}';
	text[n] = '\0';
	assert_refused(parse(text, &caps), -EINVAL, why, "VERSION");
}

static void test_caps_failure_leaves_caps_untouched(void **state)
{
	struct uvf_caps caps, before;

	uvf__caps_defaults(&caps);
	caps.max_msg_fds = 77;
	before = caps;
	assert_refused(parse_caps("\"max_msg_fds\":5,\"max_dma_maps\":0", &caps), -EINVAL, why, "max_dma_maps");
	assert_memory_equal(&caps, &before, sizeof(caps));
}

static void test_caps_parse_accepts_null_why(void **state)
{
	struct uvf_caps caps;

	assert_int_equal(uvf__caps_parse("[]", 2, &caps, NULL), -EINVAL);
}

static void test_caps_encode_defaults_is_compact(void **state)
{
	struct uvf_caps caps;
	char buf[UVF_CAPS_JSON_MAX];
	int n;

	uvf__caps_defaults(&caps);
	n = uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_string_equal(buf, "{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":1048576}}");
	assert_int_equal(n, strlen(buf) + 1);
}

static void test_caps_encode_emits_optional_keys(void **state)
{
	struct uvf_caps caps;
	char buf[UVF_CAPS_JSON_MAX];
	int n;

	uvf__caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.max_dma_maps = 1000;
	caps.has_max_dma_maps = true;
	caps.pgsizes = 0x201000;
	caps.has_pgsizes = true;
	caps.twin_socket = true;
	caps.twin_socket_has_index = true;
	caps.twin_socket_fd_index = 0;
	caps.write_multiple = true;
	n = uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_string_equal(buf, "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
				 "\"max_dma_maps\":1000,\"pgsizes\":2101248,"
				 "\"twin_socket\":{\"supported\":true,\"fd_index\":0},\"write_multiple\":true}}");
	assert_int_equal(n, strlen(buf) + 1);
	assert_null(strchr(buf, ' '));

	caps.twin_socket_has_index = false;
	uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"twin_socket\":{\"supported\":true}"));
	caps.twin_socket = false;
	caps.twin_socket_has_index = true;
	uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_null(strstr(buf, "twin_socket"));
}

static void test_caps_encode_parse_round_trip(void **state)
{
	struct uvf_caps caps, back;
	char buf[UVF_CAPS_JSON_MAX];
	int n;

	uvf__caps_defaults(&caps);
	caps.max_msg_fds = 1024;
	caps.max_data_xfer_size = 64u << 20;
	caps.max_dma_maps = UINT32_MAX;
	caps.pgsizes = 0xfffff000ull;
	caps.twin_socket = true;
	caps.twin_socket_has_index = true;
	caps.twin_socket_fd_index = 5;
	caps.write_multiple = true;
	caps.has_max_msg_fds = caps.has_max_data_xfer_size = caps.has_max_dma_maps = caps.has_pgsizes = true;
	n = uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvf__caps_parse(buf, (size_t)n, &back, &why), 0);
	assert_int_equal(back.max_msg_fds, caps.max_msg_fds);
	assert_int_equal(back.max_data_xfer_size, caps.max_data_xfer_size);
	assert_int_equal(back.max_dma_maps, caps.max_dma_maps);
	assert_int_equal(back.pgsizes, caps.pgsizes);
	assert_true(back.twin_socket);
	assert_true(back.twin_socket_has_index);
	assert_int_equal(back.twin_socket_fd_index, 5);
	assert_true(back.write_multiple);
	assert_false(back.migration);
	assert_true(back.has_max_msg_fds && back.has_max_data_xfer_size && back.has_max_dma_maps && back.has_pgsizes);
}

static void test_caps_encode_reports_enospc(void **state)
{
	struct uvf_caps caps;
	char buf[UVF_CAPS_JSON_MAX];
	char small[8];
	int n;

	uvf__caps_defaults(&caps);
	n = uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvf__caps_encode(&caps, buf, (size_t)n), n);
	assert_int_equal(uvf__caps_encode(&caps, buf, (size_t)n - 1), -ENOSPC);
	assert_int_equal(uvf__caps_encode(&caps, small, sizeof(small)), -ENOSPC);
	assert_int_equal(small[0], '\0');
	assert_int_equal(uvf__caps_encode(&caps, small, 1), -ENOSPC);
	assert_int_equal(uvf__caps_encode(&caps, small, 0), -ENOSPC);
}

/* QEMU refuses a VERSION reply longer than its own request. */
static void test_caps_encoded_server_reply_fits_qemu_request(void **state)
{
	struct uvf_caps caps;
	char buf[UVF_CAPS_JSON_MAX];
	int n;

	uvf__caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.max_data_xfer_size = 1048576;
	caps.max_dma_maps = 65535;
	caps.has_max_dma_maps = true;
	caps.pgsizes = 4096;
	caps.has_pgsizes = true;
	caps.write_multiple = true;
	n = uvf__caps_encode(&caps, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n <= sizeof(qemu_request));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_defaults_match_protocol),
		cmocka_unit_test(test_caps_empty_object_gives_defaults),
		cmocka_unit_test(test_caps_parses_qemu_handshake),
		cmocka_unit_test(test_caps_accepts_text_with_or_without_nul_in_len),
		cmocka_unit_test(test_caps_parses_each_key),
		cmocka_unit_test(test_caps_ignores_unknown_keys),
		cmocka_unit_test(test_caps_refuses_wrong_types),
		cmocka_unit_test(test_caps_refuses_negative_numbers),
		cmocka_unit_test(test_caps_max_msg_fds_limit),
		cmocka_unit_test(test_caps_max_data_xfer_size_clamped_above_64mib),
		cmocka_unit_test(test_caps_max_data_xfer_size_refused_below_minimum),
		cmocka_unit_test(test_caps_max_dma_maps_range),
		cmocka_unit_test(test_caps_pgsizes_needs_a_page_of_4k_or_more),
		cmocka_unit_test(test_caps_twin_socket_fd_index_range),
		cmocka_unit_test(test_caps_refuses_non_object_root),
		cmocka_unit_test(test_caps_refuses_invalid_json),
		cmocka_unit_test(test_caps_refuses_empty_text),
		cmocka_unit_test(test_caps_refuses_trailing_garbage),
		cmocka_unit_test(test_caps_refuses_nul_inside_text),
		cmocka_unit_test(test_caps_length_limit),
		cmocka_unit_test(test_caps_refuses_deep_nesting),
		cmocka_unit_test(test_caps_failure_leaves_caps_untouched),
		cmocka_unit_test(test_caps_parse_accepts_null_why),
		cmocka_unit_test(test_caps_encode_defaults_is_compact),
		cmocka_unit_test(test_caps_encode_emits_optional_keys),
		cmocka_unit_test(test_caps_encode_parse_round_trip),
		cmocka_unit_test(test_caps_encode_reports_enospc),
		cmocka_unit_test(test_caps_encoded_server_reply_fits_qemu_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
