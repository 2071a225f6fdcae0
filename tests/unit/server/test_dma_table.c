/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the DMA table on its own, with no device: insertion and
 * overlap lookups, the per-thread lookup cache across removals, range and
 * whole-table removal, pointers and scatter-gather over adjacent mappings,
 * and dirty logging (marks, reports, covered ranges, bitmaps of mappings
 * added while logging).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "server/dma_table.h"

#define PAGE 4096u
#define RW   (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

/* A mapping over plain heap memory standing in for client memory (the
 * table does not care where vaddr points; map_base stays NULL so nothing
 * is unmapped). */
static struct uvf_dma_mapping *mapping(uint64_t address, uint64_t size, uint32_t prot, uint8_t *vaddr)
{
	struct uvf_dma_mapping *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->address = address;
	m->size = size;
	m->prot = prot;
	m->vaddr = vaddr;
	m->has_fd = vaddr != NULL;
	return m;
}

static void free_list(struct uvf_dma_mapping *m)
{
	while (m) {
		struct uvf_dma_mapping *next = m->next;
		uvf__dma_mapping_free(m);
		m = next;
	}
}

static size_t list_length(const struct uvf_dma_mapping *m)
{
	size_t n = 0;

	for (; m; m = m->next)
		n++;
	return n;
}

static void test_insert_find_overlap(void **state)
{
	struct uvf_dma_table t;
	(void)state;

	assert_int_equal(uvf__dma_table_init(&t), 0);
	assert_null(uvf__dma_table_find(&t, 0));
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(uvf__dma_table_insert(&t, mapping(i * 2 * PAGE, PAGE, RW, NULL)), 0);
	assert_int_equal(t.count, 100);
	for (uint64_t i = 0; i < 100; i++) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find(&t, i * 2 * PAGE + PAGE - 1);
		assert_non_null(m);
		assert_int_equal(m->address, i * 2 * PAGE);
		assert_null(uvf__dma_table_find(&t, i * 2 * PAGE + PAGE)); /* the gaps */
	}
	/* a range reaching into a mapping overlaps it; one inside a gap does not */
	assert_non_null(uvf__dma_table_overlap(&t, PAGE, PAGE + 1));
	assert_null(uvf__dma_table_overlap(&t, PAGE, PAGE));
	/* the top of the address space */
	assert_int_equal(uvf__dma_table_insert(&t, mapping(UINT64_MAX - PAGE + 1, PAGE, RW, NULL)), 0);
	assert_non_null(uvf__dma_table_find(&t, UINT64_MAX));
	uvf__dma_table_destroy(&t);
}

static void test_cache_forgets_removed_mappings(void **state)
{
	struct uvf_dma_table t;
	(void)state;

	assert_int_equal(uvf__dma_table_init(&t), 0);
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x10000, PAGE, RW, NULL)), 0);
	uint64_t gen = t.gen;
	assert_non_null(uvf__dma_table_find(&t, 0x10000)); /* now cached */
	free_list(uvf__dma_table_take_range(&t, 0x10000, PAGE));
	assert_int_not_equal(t.gen, gen);
	assert_null(uvf__dma_table_find(&t, 0x10000));
	/* a new mapping at the same place is found, not the freed one */
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x10000, 2 * PAGE, RW, NULL)), 0);
	const struct uvf_dma_mapping *m = uvf__dma_table_find(&t, 0x10000 + PAGE);
	assert_non_null(m);
	assert_int_equal(m->size, 2 * PAGE);
	uvf__dma_table_destroy(&t);
}

static void test_take_range_and_all(void **state)
{
	struct uvf_dma_table t;
	(void)state;

	assert_int_equal(uvf__dma_table_init(&t), 0);
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(uvf__dma_table_insert(&t, mapping(i * PAGE, PAGE, RW, NULL)), 0);
	/* [2, 5] pages go; 0, 1, 6, 7 stay */
	struct uvf_dma_mapping *taken = uvf__dma_table_take_range(&t, 2 * PAGE + 1, 3 * PAGE);
	assert_int_equal(list_length(taken), 4);
	free_list(taken);
	assert_int_equal(t.count, 4);
	assert_null(uvf__dma_table_find(&t, 3 * PAGE));
	assert_non_null(uvf__dma_table_find(&t, 6 * PAGE));
	assert_null(uvf__dma_table_take_range(&t, 3 * PAGE, PAGE));
	/* newest first */
	struct uvf_dma_mapping *all = uvf__dma_table_take_all(&t);
	assert_int_equal(list_length(all), 4);
	assert_int_equal(all->address, 7 * PAGE);
	free_list(all);
	assert_int_equal(t.count, 0);
	assert_null(t.list);
	uvf__dma_table_destroy(&t);
}

static void test_ptr_and_sg(void **state)
{
	struct uvf_dma_table t;
	static uint8_t mem[4 * PAGE];
	struct iovec iov[4];
	(void)state;

	assert_int_equal(uvf__dma_table_init(&t), 0);
	/* guest-adjacent, and adjacent here too: one piece */
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x100000, PAGE, RW, mem)), 0);
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x101000, PAGE, RW, mem + PAGE)), 0);
	/* guest-adjacent, elsewhere here: a second piece */
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x102000, PAGE, UVF_DMA_MAP_FLAG_READ, mem + 3 * PAGE)), 0);
	/* by message: no pointer */
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x200000, PAGE, RW, NULL)), 0);

	assert_ptr_equal(uvf__dma_table_ptr(&t, 0x100010, 16, RW), mem + 16);
	assert_null(uvf__dma_table_ptr(&t, 0x100ff0, 32, RW)); /* crosses into the next mapping */
	assert_null(uvf__dma_table_ptr(&t, 0x200000, 1, 0));
	assert_null(uvf__dma_table_ptr(&t, 0x102000, 1, UVF_DMA_MAP_FLAG_WRITE));
	assert_null(uvf__dma_table_ptr(&t, UINT64_MAX, 2, 0)); /* wraps */

	assert_int_equal(uvf__dma_table_sg(&t, 0x100800, 2 * PAGE, UVF_DMA_MAP_FLAG_READ, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, mem + 0x800);
	assert_int_equal(iov[0].iov_len, 2 * PAGE - 0x800);
	assert_ptr_equal(iov[1].iov_base, mem + 3 * PAGE);
	assert_int_equal(iov[1].iov_len, 0x800);
	assert_int_equal(uvf__dma_table_sg(&t, 0x100800, 2 * PAGE, UVF_DMA_MAP_FLAG_READ, iov, 1), -ENOSPC);
	assert_int_equal(uvf__dma_table_sg(&t, 0x100800, 2 * PAGE, RW, iov, 4), -EACCES);
	assert_int_equal(uvf__dma_table_sg(&t, 0x102800, 2 * PAGE, UVF_DMA_MAP_FLAG_READ, iov, 4), -EFAULT);
	assert_int_equal(uvf__dma_table_sg(&t, 0x200000, 8, 0, iov, 4), -EFAULT);
	assert_int_equal(uvf__dma_table_sg(&t, UINT64_MAX, 2, 0, iov, 4), -EFAULT);
	assert_int_equal(uvf__dma_table_sg(&t, 0x100000, 0, 0, iov, 4), 0);
	uvf__dma_table_destroy(&t);
}

static void test_dirty_logging(void **state)
{
	struct uvf_dma_table t;
	static uint8_t mem[8 * PAGE];
	uint64_t bitmap[2];
	(void)state;

	assert_int_equal(uvf__dma_table_init(&t), 0);
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x400000, 4 * PAGE, RW, mem)), 0);
	assert_int_equal(uvf__dma_table_insert(&t, mapping(0x500000, PAGE, RW, NULL)), 0); /* by message */
	assert_false(uvf__dma_table_logging(&t));
	uvf__dma_table_log_mark_range(&t, 0x400000, PAGE); /* off: nothing to do, no bitmap */
	assert_null(t.list->next->dirty);

	struct uvf_msg_dma_logging_range *ranges = calloc(1, sizeof(*ranges));
	assert_non_null(ranges);
	ranges[0].iova = 0x400000;
	ranges[0].length = 0x100000;
	assert_int_equal(uvf__dma_table_log_start(&t, 12, ranges, 1), 0);
	assert_true(uvf__dma_table_logging(&t));
	assert_true(uvf__dma_table_log_covers(&t, 0x400000, 0x4fffff));
	assert_false(uvf__dma_table_log_covers(&t, 0x400000, 0x500000));
	assert_null(t.list->dirty); /* the message-based mapping has no bitmap */

	/* a mapping added while logging gets its bitmap before it goes in */
	struct uvf_dma_mapping *late = mapping(0x600000, 2 * PAGE, RW, mem + 4 * PAGE);
	assert_int_equal(uvf__dma_table_new_bitmap(&t, late), 0);
	assert_non_null(late->dirty);
	assert_int_equal(uvf__dma_table_insert(&t, late), 0);

	/* bytes in pages 1 and 3 of the first mapping, one byte in page 1 of
	 * the late one, and outside every mapping (ignored) */
	uvf__dma_table_log_mark_range(&t, 0x401ff0, 0x20); /* pages 1 and 2 */
	uvf__dma_table_log_mark_range(&t, 0x403000, 1);
	uvf__dma_table_log_mark_range(&t, 0x601000, 1);
	uvf__dma_table_log_mark_range(&t, 0x900000, PAGE);

	memset(bitmap, 0, sizeof(bitmap));
	uvf__dma_table_log_report(&t, 0x400000, 4 * PAGE, 12, bitmap);
	assert_int_equal(bitmap[0], 0xe); /* pages 1, 2, 3 */
	memset(bitmap, 0, sizeof(bitmap));
	uvf__dma_table_log_report(&t, 0x400000, 4 * PAGE, 12, bitmap);
	assert_int_equal(bitmap[0], 0); /* read and cleared */
	/* a coarser report unit: 8 KiB */
	memset(bitmap, 0, sizeof(bitmap));
	uvf__dma_table_log_report(&t, 0x600000, 2 * PAGE, 13, bitmap);
	assert_int_equal(bitmap[0], 1);

	uvf__dma_table_log_stop(&t);
	assert_false(uvf__dma_table_logging(&t));
	assert_null(late->dirty);
	assert_null(t.ranges);
	uvf__dma_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_find_overlap),
		cmocka_unit_test(test_cache_forgets_removed_mappings),
		cmocka_unit_test(test_take_range_and_all),
		cmocka_unit_test(test_ptr_and_sg),
		cmocka_unit_test(test_dirty_logging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
