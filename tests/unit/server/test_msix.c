/* SPDX-License-Identifier: MIT */
/* Unit tests of the MSI-X table and pending bit array. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/msix.h"

static struct uvf_msix m;

static int teardown(void **state)
{
	uvf__msix_free(&m);
	return 0;
}

/* Table at BAR0 + 0x1000, PBA at BAR0 + 0x1800 unless said otherwise. */
static void init(uint32_t count)
{
	assert_int_equal(uvf__msix_init(&m, count, 0, 0x1000, 0, 0x1800), 0);
}

static uint32_t rd32(unsigned bar, uint64_t off)
{
	uint8_t b[4];
	uvf__msix_access(&m, bar, off, b, 4, false);
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void wr32(unsigned bar, uint64_t off, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	uvf__msix_access(&m, bar, off, b, 4, true);
}

static void init_refuses_bad_counts(void **state)
{
	assert_int_equal(uvf__msix_init(&m, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(uvf__msix_init(&m, 2049, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(uvf__msix_init(&m, 2048, 0, 0, 1, 0), 0);
	assert_int_equal(uvf__msix_pba_size(&m), 256);
	uvf__msix_free(&m);
	assert_int_equal(m.count, 0);
}

static void entries_start_masked_and_zero(void **state)
{
	init(4);
	for (uint32_t v = 0; v < 4; v++) {
		assert_true(uvf__msix_entry_masked(&m, v));
		assert_int_equal(rd32(0, 0x1000 + 16 * v), 0);
		assert_int_equal(rd32(0, 0x1000 + 16 * v + 4), 0);
		assert_int_equal(rd32(0, 0x1000 + 16 * v + 8), 0);
		assert_int_equal(rd32(0, 0x1000 + 16 * v + 12), 1);
	}
	assert_false(m.table_written);
	assert_int_equal(rd32(0, 0x1800), 0);
}

static void entry_fields_keep_only_writable_bits(void **state)
{
	init(2);
	wr32(0, 0x1010, 0xfee0100fu);
	wr32(0, 0x1014, 0xffffffffu);
	wr32(0, 0x1018, 0x12345678u);
	wr32(0, 0x101c, 0xfffffffeu);
	assert_int_equal(rd32(0, 0x1010), 0xfee0100cu); /* dword aligned address */
	assert_int_equal(rd32(0, 0x1014), 0xffffffffu);
	assert_int_equal(rd32(0, 0x1018), 0x12345678u);
	assert_int_equal(rd32(0, 0x101c), 0); /* only the mask bit */
	assert_false(uvf__msix_entry_masked(&m, 1));
	assert_true(uvf__msix_entry_masked(&m, 0)); /* untouched */
	wr32(0, 0x101c, 0xffffffffu);
	assert_int_equal(rd32(0, 0x101c), 1);
	assert_true(uvf__msix_entry_masked(&m, 1));
	/* a qword access covers address and upper address at once */
	uint8_t q[8] = {0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00};
	uvf__msix_access(&m, 0, 0x1000, q, 8, true);
	assert_int_equal(rd32(0, 0x1000), 0xfffffffcu);
	assert_int_equal(rd32(0, 0x1004), 1);
}

static void table_written_set_by_writes_only(void **state)
{
	init(2);
	(void)rd32(0, 0x1000);
	assert_false(m.table_written);
	(void)rd32(0, 0x1800);
	wr32(0, 0x1800, 0xffffffffu); /* the PBA is not the table */
	assert_false(m.table_written);
	wr32(0, 0x1008, 0);
	assert_true(m.table_written);
	uvf__msix_reset(&m);
	assert_false(m.table_written);
}

static void pba_reflects_pending_bits_and_ignores_writes(void **state)
{
	init(100); /* two PBA words */
	assert_int_equal(uvf__msix_pba_size(&m), 16);
	uvf__msix_set_pending(&m, 0, true);
	uvf__msix_set_pending(&m, 33, true);
	uvf__msix_set_pending(&m, 99, true);
	uvf__msix_set_pending(&m, 100, true); /* beyond the count: ignored */
	assert_int_equal(rd32(0, 0x1800), 0x00000001u);
	assert_int_equal(rd32(0, 0x1804), 0x00000002u);
	assert_int_equal(rd32(0, 0x1808), 0);
	assert_int_equal(rd32(0, 0x180c), 0x00000008u); /* bit 99 = word 1 bit 35 */
	assert_true(uvf__msix_pending(&m, 33));
	assert_false(uvf__msix_pending(&m, 32));
	assert_false(uvf__msix_pending(&m, 100));
	wr32(0, 0x1800, 0);
	assert_int_equal(rd32(0, 0x1800), 1);
	uvf__msix_set_pending(&m, 0, false);
	assert_int_equal(rd32(0, 0x1800), 0);
	uvf__msix_reset(&m);
	assert_int_equal(rd32(0, 0x180c), 0);
}

static void split_separates_device_table_and_pba_pieces(void **state)
{
	bool ours;

	init(4); /* table 0x1000..0x1040, PBA 0x1800..0x1808 */
	assert_int_equal(uvf__msix_split(&m, 0, 0x0ff8, 0x20, &ours), 8);
	assert_false(ours);
	assert_int_equal(uvf__msix_split(&m, 0, 0x1000, 0x100, &ours), 0x40);
	assert_true(ours);
	assert_int_equal(uvf__msix_split(&m, 0, 0x1030, 4, &ours), 4);
	assert_true(ours);
	assert_int_equal(uvf__msix_split(&m, 0, 0x1040, 0x1000, &ours), 0x7c0);
	assert_false(ours);
	assert_int_equal(uvf__msix_split(&m, 0, 0x1804, 0x10, &ours), 4);
	assert_true(ours);
	assert_int_equal(uvf__msix_split(&m, 0, 0x1808, 0x10, &ours), 0x10);
	assert_false(ours);
	/* another BAR is all the device's */
	assert_int_equal(uvf__msix_split(&m, 1, 0x1000, 0x100, &ours), 0x100);
	assert_false(ours);
}

static void split_with_table_and_pba_in_different_bars(void **state)
{
	bool ours;

	assert_int_equal(uvf__msix_init(&m, 8, 2, 0x0, 4, 0x100), 0);
	assert_int_equal(uvf__msix_split(&m, 2, 0x0, 0x200, &ours), 0x80);
	assert_true(ours);
	assert_int_equal(uvf__msix_split(&m, 2, 0x80, 0x200, &ours), 0x200);
	assert_false(ours);
	assert_int_equal(uvf__msix_split(&m, 4, 0x0, 0x200, &ours), 0x100);
	assert_false(ours);
	assert_int_equal(uvf__msix_split(&m, 4, 0x100, 0x200, &ours), 8);
	assert_true(ours);
	uvf__msix_set_pending(&m, 7, true);
	assert_int_equal(rd32(4, 0x100), 0x80);
	wr32(2, 0x7c, 0); /* entry 7's vector control */
	assert_false(uvf__msix_entry_masked(&m, 7));
}

static void out_of_range_vectors_are_masked_and_not_pending(void **state)
{
	init(2);
	assert_true(uvf__msix_entry_masked(&m, 2));
	uvf__msix_set_pending(&m, 2, true);
	assert_false(uvf__msix_pending(&m, 2));
	/* no table: nothing is ours */
	uvf__msix_free(&m);
	bool ours;
	assert_int_equal(uvf__msix_split(&m, 0, 0x1000, 16, &ours), 16);
	assert_false(ours);
	assert_true(uvf__msix_entry_masked(&m, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(init_refuses_bad_counts, teardown),
		cmocka_unit_test_teardown(entries_start_masked_and_zero, teardown),
		cmocka_unit_test_teardown(entry_fields_keep_only_writable_bits, teardown),
		cmocka_unit_test_teardown(table_written_set_by_writes_only, teardown),
		cmocka_unit_test_teardown(pba_reflects_pending_bits_and_ignores_writes, teardown),
		cmocka_unit_test_teardown(split_separates_device_table_and_pba_pieces, teardown),
		cmocka_unit_test_teardown(split_with_table_and_pba_in_different_bars, teardown),
		cmocka_unit_test_teardown(out_of_range_vectors_are_masked_and_not_pending, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
