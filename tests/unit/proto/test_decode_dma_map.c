/* SPDX-License-Identifier: MIT */
/* DMA_MAP and DMA_UNMAP requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

#define PAGE 4096u
#define RW   (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

static struct uvf_why why;

static int map_ext(const struct uvf_msg_dma_map *map, size_t len, size_t nfds, uint64_t pgsizes, bool allow_ext)
{
	uint8_t *payload = wire_copy(map, sizeof(*map), len);
	struct uvf_msg_dma_map out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_map(payload, len, nfds, pgsizes, allow_ext, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, map, sizeof(out));
	wire_free(payload);
	return ret;
}

static int map(const struct uvf_msg_dma_map *m, size_t nfds)
{
	return map_ext(m, sizeof(*m), nfds, PAGE, false);
}

static struct uvf_msg_dma_map good_map(void)
{
	struct uvf_msg_dma_map m = {.argsz = 32, .flags = RW, .offset = 0, .address = 0x100000, .size = 0x10000};

	return m;
}

static void test_dma_map_length(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	assert_int_equal(map_ext(&m, 32, 0, PAGE, false), 0);
	assert_refused(map_ext(&m, 31, 0, PAGE, false), -EINVAL, why, "DMA_MAP");
	assert_refused(map_ext(&m, 33, 0, PAGE, false), -EINVAL, why, "DMA_MAP");
}

static void test_dma_map_argsz_is_32(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.argsz = 33;
	assert_refused(map(&m, 0), -EINVAL, why, "argsz 33");
	m.argsz = 24;
	assert_refused(map(&m, 0), -EINVAL, why, "argsz 24");
}

static void test_dma_map_base_flags(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.flags = UVF_DMA_MAP_FLAG_READ;
	assert_int_equal(map(&m, 0), 0);
	m.flags = 0;
	assert_int_equal(map(&m, 0), 0);
	m.flags = RW | 0x10;
	assert_refused(map(&m, 0), -EINVAL, why, "0x10");
}

static void test_dma_map_ext_flags_need_allow_ext(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.flags = RW | UVF_DMA_MAP_FLAG_MMAP;
	assert_refused(map_ext(&m, 32, 1, PAGE, false), -EINVAL, why, "unknown flags 0x4");
	assert_int_equal(map_ext(&m, 32, 1, PAGE, true), 0);
	m.flags = RW | UVF_DMA_MAP_FLAG_FILE_IO;
	assert_refused(map_ext(&m, 32, 1, PAGE, false), -EINVAL, why, "unknown flags 0x8");
	assert_int_equal(map_ext(&m, 32, 1, PAGE, true), 0);
	m.flags = RW | 0x10;
	assert_refused(map_ext(&m, 32, 1, PAGE, true), -EINVAL, why, "unknown flags 0x10");
}

static void test_dma_map_ext_mode_needs_fd(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.flags = RW | UVF_DMA_MAP_FLAG_FILE_IO;
	assert_refused(map_ext(&m, 32, 0, PAGE, true), -EINVAL, why, "without fd");
	m.flags = RW | UVF_DMA_MAP_FLAG_MMAP;
	assert_refused(map_ext(&m, 32, 0, PAGE, true), -EINVAL, why, "without fd");
}

static void test_dma_map_ext_one_mode_only(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.flags = RW | UVF_DMA_MAP_FLAG_MMAP | UVF_DMA_MAP_FLAG_FILE_IO;
	assert_refused(map_ext(&m, 32, 1, PAGE, true), -EINVAL, why, "both MMAP and FILE_IO");
}

static void test_dma_map_size_not_zero(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.size = 0;
	assert_refused(map(&m, 0), -EINVAL, why, "size 0");
}

static void test_dma_map_address_must_not_wrap(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.address = UINT64_MAX - 2 * PAGE + 1;
	m.size = PAGE;
	assert_int_equal(map(&m, 0), 0);
	m.size = 2 * PAGE;
	assert_refused(map(&m, 0), -EINVAL, why, "wraps");
}

static void test_dma_map_offset_must_not_wrap(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.offset = UINT64_MAX - 0x10000;
	assert_int_equal(map(&m, 1), 0);
	m.offset = UINT64_MAX - 0xfffe;
	assert_refused(map(&m, 1), -EINVAL, why, "offset");
}

static void test_dma_map_fd_count(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	assert_int_equal(map(&m, 0), 0);
	assert_int_equal(map(&m, 1), 0);
	assert_refused(map(&m, 2), -EINVAL, why, "2 file descriptors");
}

static void test_dma_map_offset_only_with_fd(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.offset = 0x2000;
	assert_int_equal(map(&m, 1), 0);
	assert_refused(map(&m, 0), -EINVAL, why, "without fd");
}

static void test_dma_map_alignment_to_smallest_page(void **state)
{
	struct uvf_msg_dma_map m = good_map();

	m.address = 0x1800;
	assert_refused(map(&m, 0), -EINVAL, why, "not aligned");
	m.address = 0x1000;
	m.size = 0x800;
	assert_refused(map(&m, 0), -EINVAL, why, "not aligned");
	/* 4 KiB | 2 MiB: the smallest page rules */
	m.size = 0x1000;
	assert_int_equal(map_ext(&m, 32, 0, 0x201000, false), 0);
	/* 2 MiB only */
	assert_refused(map_ext(&m, 32, 0, 0x200000, false), -EINVAL, why, "0x200000");
	m.address = 0x200000;
	m.size = 0x400000;
	assert_int_equal(map_ext(&m, 32, 0, 0x200000, false), 0);
	/* no page size at all: the protocol default */
	m.address = 0x1000;
	m.size = 0x1000;
	assert_int_equal(map_ext(&m, 32, 0, 0, false), 0);
	m.address = 0x800;
	assert_refused(map_ext(&m, 32, 0, 0, false), -EINVAL, why, "not aligned");
}

/* -------------------------------------------------------------- DMA_UNMAP */

static int unmap_len(const struct uvf_msg_dma_unmap *u, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(u, sizeof(*u), len);
	struct uvf_msg_dma_unmap out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_dma_unmap(payload, len, nfds, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, u, sizeof(out));
	wire_free(payload);
	return ret;
}

static int unmap(const struct uvf_msg_dma_unmap *u)
{
	return unmap_len(u, sizeof(*u), 0);
}

static struct uvf_msg_dma_unmap good_unmap(void)
{
	struct uvf_msg_dma_unmap u = {.argsz = 24, .flags = 0, .address = 0x100000, .size = 0x10000};

	return u;
}

static void test_dma_unmap_length(void **state)
{
	struct uvf_msg_dma_unmap u = good_unmap();

	assert_int_equal(unmap_len(&u, 24, 0), 0);
	assert_refused(unmap_len(&u, 23, 0), -EINVAL, why, "DMA_UNMAP");
	assert_refused(unmap_len(&u, 40, 0), -EINVAL, why, "DMA_UNMAP");
}

static void test_dma_unmap_argsz(void **state)
{
	struct uvf_msg_dma_unmap u = good_unmap();

	u.argsz = 4096;
	assert_int_equal(unmap(&u), 0);
	u.argsz = 23;
	assert_refused(unmap(&u), -EINVAL, why, "argsz 23");
}

static void test_dma_unmap_flags(void **state)
{
	struct uvf_msg_dma_unmap u = good_unmap();

	u.flags = UVF_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	assert_refused(unmap(&u), -EINVAL, why, "flags 0x1");
	u.flags = UVF_DMA_UNMAP_FLAG_VADDR;
	assert_refused(unmap(&u), -EINVAL, why, "flags 0x4");
	u.flags = UVF_DMA_UNMAP_FLAG_ALL | UVF_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	u.address = 0;
	u.size = 0;
	assert_refused(unmap(&u), -EINVAL, why, "flags 0x3");
}

static void test_dma_unmap_all_needs_zero_range(void **state)
{
	struct uvf_msg_dma_unmap u = {.argsz = 24, .flags = UVF_DMA_UNMAP_FLAG_ALL};

	assert_int_equal(unmap(&u), 0);
	u.address = 0x1000;
	assert_refused(unmap(&u), -EINVAL, why, "ALL");
	u.address = 0;
	u.size = 0x1000;
	assert_refused(unmap(&u), -EINVAL, why, "ALL");
}

static void test_dma_unmap_range_size_and_wrap(void **state)
{
	struct uvf_msg_dma_unmap u = good_unmap();

	u.size = 0;
	assert_refused(unmap(&u), -EINVAL, why, "size 0");
	u.address = UINT64_MAX - 0xfff;
	u.size = 0xfff;
	assert_int_equal(unmap(&u), 0);
	u.size = 0x1000; /* ends exactly at 2^64: fine */
	assert_int_equal(unmap(&u), 0);
	u.address = 0xfef00000; /* as QEMU with a virtual IOMMU sends it */
	u.size = 0xffffffff01100000ull;
	assert_int_equal(unmap(&u), 0);
	u.size = 0xffffffff01100001ull;
	assert_refused(unmap(&u), -EINVAL, why, "wraps");
}

static void test_dma_unmap_refuses_fds(void **state)
{
	struct uvf_msg_dma_unmap u = good_unmap();

	assert_refused(unmap_len(&u, 24, 1), -EINVAL, why, "DMA_UNMAP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_map_length),
		cmocka_unit_test(test_dma_map_argsz_is_32),
		cmocka_unit_test(test_dma_map_base_flags),
		cmocka_unit_test(test_dma_map_ext_flags_need_allow_ext),
		cmocka_unit_test(test_dma_map_ext_mode_needs_fd),
		cmocka_unit_test(test_dma_map_ext_one_mode_only),
		cmocka_unit_test(test_dma_map_size_not_zero),
		cmocka_unit_test(test_dma_map_address_must_not_wrap),
		cmocka_unit_test(test_dma_map_offset_must_not_wrap),
		cmocka_unit_test(test_dma_map_fd_count),
		cmocka_unit_test(test_dma_map_offset_only_with_fd),
		cmocka_unit_test(test_dma_map_alignment_to_smallest_page),
		cmocka_unit_test(test_dma_unmap_length),
		cmocka_unit_test(test_dma_unmap_argsz),
		cmocka_unit_test(test_dma_unmap_flags),
		cmocka_unit_test(test_dma_unmap_all_needs_zero_range),
		cmocka_unit_test(test_dma_unmap_range_size_and_wrap),
		cmocka_unit_test(test_dma_unmap_refuses_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
