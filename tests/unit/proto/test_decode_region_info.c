/* SPDX-License-Identifier: MIT */
/* DEVICE_GET_REGION_INFO reply: fixed part and capability chain. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define REGION_SIZE 0x10000u

static struct uvf_why why;
static uint8_t msg[1024];
static struct uvf_region_info_view view;

/* Reply for region 2 with room for argsz bytes of chain in msg. */
static void reply_init(uint32_t flags, uint32_t argsz, uint32_t cap_offset)
{
	struct uvf_msg_region_info info = {
		.argsz = argsz,
		.flags = flags,
		.index = 2,
		.cap_offset = cap_offset,
		.size = REGION_SIZE,
		.offset = 0x40000,
	};

	memset(msg, 0, sizeof(msg));
	memcpy(msg, &info, sizeof(info));
}

static void put_header(uint32_t at, uint16_t id, uint32_t next)
{
	struct uvf_msg_region_cap_header header = {.id = id, .version = 1, .next = next};

	memcpy(msg + at, &header, sizeof(header));
}

/* SPARSE_MMAP at `at` with the given areas (offset, size pairs). */
static void put_sparse(uint32_t at, uint32_t next, uint32_t nr_areas, const uint64_t *areas, uint32_t nr_written)
{
	struct uvf_msg_region_cap_sparse_mmap cap = {.nr_areas = nr_areas};
	uint32_t i;

	cap.header.id = UVF_REGION_CAP_SPARSE_MMAP;
	cap.header.version = 1;
	cap.header.next = next;
	memcpy(msg + at, &cap, sizeof(cap));
	for (i = 0; i < nr_written; i++) {
		struct uvf_msg_region_sparse_area area = {.offset = areas[2 * i], .size = areas[2 * i + 1]};

		memcpy(msg + at + sizeof(cap) + i * sizeof(area), &area, sizeof(area));
	}
}

static void put_type(uint32_t at, uint32_t next, uint32_t type, uint32_t subtype)
{
	struct uvf_msg_region_cap_type cap = {.type = type, .subtype = subtype};

	cap.header.id = UVF_REGION_CAP_TYPE;
	cap.header.version = 1;
	cap.header.next = next;
	memcpy(msg + at, &cap, sizeof(cap));
}

/* Decode len bytes of msg from an exact-size heap copy. */
static int decode(size_t len, size_t nfds, uint32_t expected_index)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	memset(&view, 0xa5, sizeof(view));
	why.text[0] = '\0';
	ret = uvf__decode_region_info_reply(payload, len, nfds, expected_index, &view, &why);
	if (ret == 0) {
		assert_memory_equal(&view.info, msg, sizeof(view.info));
		if (view.sparse_areas != NULL) {
			const uint8_t *at = (const uint8_t *)view.sparse_areas;

			assert_true(at >= payload + 32 && at + view.nr_sparse_areas * 16 <= payload + len);
			view.sparse_areas = (const void *)(msg + (at - payload)); /* the copy is freed below */
		}
	}
	wire_free(payload);
	return ret;
}

#define RW	     (UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE)
#define RW_MMAP_CAPS (RW | UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS)

static void test_region_reply_plain(void **state)
{
	reply_init(RW, 32, 0);
	assert_int_equal(decode(32, 0, 2), 0);
	assert_false(view.truncated);
	assert_null(view.sparse_areas);
	assert_int_equal(view.nr_sparse_areas, 0);
	assert_false(view.has_type);
	assert_int_equal(view.info.size, REGION_SIZE);
}

static void test_region_reply_refuses_short_payload(void **state)
{
	reply_init(RW, 32, 0);
	assert_refused(decode(31, 0, 2), -EINVAL, why, "DEVICE_GET_REGION_INFO reply");
	assert_refused(decode(0, 0, 2), -EINVAL, why, "DEVICE_GET_REGION_INFO reply");
}

static void test_region_reply_index_must_echo(void **state)
{
	reply_init(RW, 32, 0);
	assert_refused(decode(32, 0, 3), -EINVAL, why, "index 2, expected 3");
}

static void test_region_reply_flags(void **state)
{
	reply_init(UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP, 32, 0);
	assert_int_equal(decode(32, 1, 2), 0);
	reply_init(RW | 0x10, 32, 0);
	assert_refused(decode(32, 0, 2), -EINVAL, why, "0x10");
}

static void test_region_reply_fd_only_with_mmap(void **state)
{
	reply_init(RW | UVF_REGION_FLAG_MMAP, 32, 0);
	assert_int_equal(decode(32, 1, 2), 0);
	assert_int_equal(decode(32, 0, 2), 0);
	assert_refused(decode(32, 2, 2), -EINVAL, why, "2 file descriptors");
	reply_init(RW, 32, 0);
	assert_refused(decode(32, 1, 2), -EINVAL, why, "without MMAP");
}

static void test_region_reply_refuses_argsz_below_32(void **state)
{
	reply_init(RW, 31, 0);
	assert_refused(decode(32, 0, 2), -EINVAL, why, "argsz 31");
}

static void test_region_reply_truncated_skips_caps(void **state)
{
	/* argsz beyond the payload: chain not delivered, even if cap_offset is junk */
	reply_init(RW_MMAP_CAPS, 64, 7);
	assert_int_equal(decode(32, 1, 2), 0);
	assert_true(view.truncated);
	assert_null(view.sparse_areas);
	assert_int_equal(view.info.argsz, 64);
}

static void test_region_reply_ignores_cap_offset_without_caps_flag(void **state)
{
	reply_init(RW, 64, 7);
	assert_int_equal(decode(64, 0, 2), 0);
	assert_false(view.truncated);
}

static void test_region_reply_cap_offset_at_least_32(void **state)
{
	static const uint64_t area[] = {0, REGION_SIZE};

	reply_init(RW_MMAP_CAPS, 64, 32);
	put_sparse(32, 0, 1, area, 1);
	assert_int_equal(decode(64, 1, 2), 0);
	reply_init(RW_MMAP_CAPS, 64, 0);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "cap_offset 0");
	reply_init(RW_MMAP_CAPS, 64, 16);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "cap_offset 16");
}

static void test_region_reply_sparse_mmap_areas(void **state)
{
	static const uint64_t areas[] = {0, 0x1000, 0x3000, 0xd000};
	struct uvf_msg_region_sparse_area area;

	reply_init(RW_MMAP_CAPS, 32 + 16 + 32, 32);
	put_sparse(32, 0, 2, areas, 2);
	assert_int_equal(decode(80, 1, 2), 0);
	assert_non_null(view.sparse_areas);
	assert_int_equal(view.nr_sparse_areas, 2);
	memcpy(&area, &view.sparse_areas[1], sizeof(area));
	assert_int_equal(area.offset, 0x3000);
	assert_int_equal(area.size, 0xd000);
}

static void test_region_reply_sparse_mmap_without_areas(void **state)
{
	reply_init(RW_MMAP_CAPS, 48, 32);
	put_sparse(32, 0, 0, NULL, 0);
	assert_int_equal(decode(48, 1, 2), 0);
	assert_non_null(view.sparse_areas);
	assert_int_equal(view.nr_sparse_areas, 0);
}

static void test_region_reply_caps_must_lie_inside_argsz(void **state)
{
	static const uint64_t areas[] = {0, 0x1000, 0x2000, 0x1000};

	/* header straddles argsz */
	reply_init(RW_MMAP_CAPS, 36, 32);
	put_header(32, 99, 0);
	assert_refused(decode(64, 0, 2), -EINVAL, why, "beyond argsz 36");
	reply_init(RW_MMAP_CAPS, 40, 32);
	put_header(32, 99, 0);
	assert_int_equal(decode(64, 0, 2), 0);

	/* sparse body larger than argsz: two areas announced, room for one */
	reply_init(RW_MMAP_CAPS, 64, 32);
	put_sparse(32, 0, 2, areas, 2);
	assert_refused(decode(96, 1, 2), -EINVAL, why, "beyond argsz 64");
	/* sparse fixed part cut by argsz */
	reply_init(RW_MMAP_CAPS, 44, 32);
	put_sparse(32, 0, 0, NULL, 0);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "beyond argsz 44");
	/* a huge area count must not overflow the size computation */
	reply_init(RW_MMAP_CAPS, 1024, 32);
	put_sparse(32, 0, UINT32_MAX, areas, 2);
	assert_refused(decode(1024, 1, 2), -EINVAL, why, "4294967295 areas");
	/* TYPE cut by argsz */
	reply_init(RW | UVF_REGION_FLAG_CAPS, 44, 32);
	put_type(32, 0, 1, 1);
	assert_refused(decode(64, 0, 2), -EINVAL, why, "TYPE at 32 beyond argsz 44");
}

static void test_region_reply_sparse_area_inside_region(void **state)
{
	uint64_t areas[] = {0x8000, 0x8000};

	reply_init(RW_MMAP_CAPS, 64, 32);
	put_sparse(32, 0, 1, areas, 1);
	assert_int_equal(decode(64, 1, 2), 0);
	areas[1] = 0x8001;
	put_sparse(32, 0, 1, areas, 1);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "beyond region size");
	areas[0] = UINT64_MAX - 0xfff;
	areas[1] = 0x1000;
	put_sparse(32, 0, 1, areas, 1);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "sparse area 0");
}

static void test_region_reply_type_cap(void **state)
{
	reply_init(RW | UVF_REGION_FLAG_CAPS, 48, 32);
	put_type(32, 0, UVF_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086, 5);
	assert_int_equal(decode(48, 0, 2), 0);
	assert_true(view.has_type);
	assert_int_equal(view.type, 0x80008086u);
	assert_int_equal(view.subtype, 5);
	assert_null(view.sparse_areas);
}

static void test_region_reply_walks_chain(void **state)
{
	static const uint64_t area[] = {0, 0x1000};

	/* TYPE at 32 -> unknown id 77 at 48 -> SPARSE at 56 */
	reply_init(RW_MMAP_CAPS, 88, 32);
	put_type(32, 48, 3, 1);
	put_header(48, 77, 56);
	put_sparse(56, 0, 1, area, 1);
	assert_int_equal(decode(88, 1, 2), 0);
	assert_true(view.has_type);
	assert_int_equal(view.nr_sparse_areas, 1);
}

static void test_region_reply_refuses_duplicate_caps(void **state)
{
	reply_init(RW_MMAP_CAPS, 64, 32);
	put_sparse(32, 48, 0, NULL, 0);
	put_sparse(48, 0, 0, NULL, 0);
	assert_refused(decode(64, 1, 2), -EINVAL, why, "second SPARSE_MMAP");
	reply_init(RW | UVF_REGION_FLAG_CAPS, 64, 32);
	put_type(32, 48, 1, 1);
	put_type(48, 0, 1, 1);
	assert_refused(decode(64, 0, 2), -EINVAL, why, "second TYPE");
}

static void test_region_reply_next_must_increase(void **state)
{
	reply_init(RW | UVF_REGION_FLAG_CAPS, 64, 32);
	put_header(32, 99, 40);
	put_header(40, 99, 0);
	assert_int_equal(decode(64, 0, 2), 0);
	put_header(40, 99, 40); /* points at itself */
	assert_refused(decode(64, 0, 2), -EINVAL, why, "next 40");
	put_header(40, 99, 32); /* loops back */
	assert_refused(decode(64, 0, 2), -EINVAL, why, "next 32");
	put_header(40, 99, 4); /* points into the fixed part */
	assert_refused(decode(64, 0, 2), -EINVAL, why, "next 4,");
}

static void test_region_reply_at_most_16_caps(void **state)
{
	uint32_t i;

	reply_init(RW | UVF_REGION_FLAG_CAPS, 32 + 17 * 8, 32);
	for (i = 0; i < 16; i++)
		put_header(32 + 8 * i, 200, i == 15 ? 0 : 32 + 8 * (i + 1));
	assert_int_equal(decode(32 + 17 * 8, 0, 2), 0);
	put_header(32 + 8 * 15, 200, 32 + 8 * 16);
	put_header(32 + 8 * 16, 200, 0);
	assert_refused(decode(32 + 17 * 8, 0, 2), -EINVAL, why, "more than 16");
}

static void test_region_reply_chain_bounded_by_argsz_not_len(void **state)
{
	/* payload is longer than argsz; the cap beyond argsz is refused */
	reply_init(RW | UVF_REGION_FLAG_CAPS, 40, 32);
	put_header(32, 99, 40);
	put_header(40, 99, 0);
	assert_refused(decode(64, 0, 2), -EINVAL, why, "header at 40 beyond argsz 40");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_reply_plain),
		cmocka_unit_test(test_region_reply_refuses_short_payload),
		cmocka_unit_test(test_region_reply_index_must_echo),
		cmocka_unit_test(test_region_reply_flags),
		cmocka_unit_test(test_region_reply_fd_only_with_mmap),
		cmocka_unit_test(test_region_reply_refuses_argsz_below_32),
		cmocka_unit_test(test_region_reply_truncated_skips_caps),
		cmocka_unit_test(test_region_reply_ignores_cap_offset_without_caps_flag),
		cmocka_unit_test(test_region_reply_cap_offset_at_least_32),
		cmocka_unit_test(test_region_reply_sparse_mmap_areas),
		cmocka_unit_test(test_region_reply_sparse_mmap_without_areas),
		cmocka_unit_test(test_region_reply_caps_must_lie_inside_argsz),
		cmocka_unit_test(test_region_reply_sparse_area_inside_region),
		cmocka_unit_test(test_region_reply_type_cap),
		cmocka_unit_test(test_region_reply_walks_chain),
		cmocka_unit_test(test_region_reply_refuses_duplicate_caps),
		cmocka_unit_test(test_region_reply_next_must_increase),
		cmocka_unit_test(test_region_reply_at_most_16_caps),
		cmocka_unit_test(test_region_reply_chain_bounded_by_argsz_not_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
