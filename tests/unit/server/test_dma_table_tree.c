/* SPDX-License-Identifier: MIT */
/*
 * The DMA table's B+tree under many random inserts and removals, checked
 * against a plain array of the same mappings: every lookup and overlap
 * answer, the mappings each removal returns, and the tree's invariants
 * (order, fill, depth, count) after each step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/dma_table.h"

#define SLOTS  6000u   /* enough for four levels */
#define STRIDE 0x3000u /* slot k: a mapping inside [BASE + k * STRIDE, + STRIDE) */
#define BASE   0x7000000000ull

struct model {
	const struct uvf_dma_mapping *m[SLOTS]; /* what the table should hold */
	size_t count;
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void check_tree(const struct uvf_dma_table *t, const struct model *md)
{
	const char *why = uvf__dma_table_check(t);

	if (why)
		fail_msg("tree broken: %s", why);
	assert_int_equal(t->count, md->count);
}

/* Random addresses (inside a slot's mapping, or not) against the model. */
static void check_lookups(const struct uvf_dma_table *t, const struct model *md, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned k = (unsigned)(next_random() % SLOTS);
		uint64_t addr = BASE + (uint64_t)k * STRIDE + next_random() % STRIDE;
		const struct uvf_dma_mapping *want = md->m[k];
		if (want && (addr < want->address || addr - want->address >= want->size))
			want = NULL;
		assert_ptr_equal(uvf__dma_table_find(t, addr), want);
		/* a range from addr over the next slot overlaps the first mapping there */
		uint64_t len = STRIDE + next_random() % STRIDE;
		const struct uvf_dma_mapping *o = uvf__dma_table_overlap(t, addr, len);
		bool any = false;
		for (unsigned j = k; j < SLOTS && j <= k + 2; j++) {
			const struct uvf_dma_mapping *m = md->m[j];
			if (m && m->address <= addr + len - 1 && m->address + m->size - 1 >= addr) {
				any = true;
				assert_non_null(o);
				break;
			}
		}
		if (!any)
			assert_null(o);
		if (o)
			assert_true(o->address <= addr + len - 1 && o->address + o->size - 1 >= addr);
	}
}

static void insert_slot(struct uvf_dma_table *t, struct model *md, unsigned k)
{
	struct uvf_dma_mapping *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	uint64_t size = 1 + next_random() % STRIDE;
	m->address = BASE + (uint64_t)k * STRIDE + next_random() % (STRIDE - size + 1);
	m->size = size;
	m->prot = UVF_DMA_MAP_FLAG_READ;
	assert_null(uvf__dma_table_overlap(t, m->address, m->size));
	assert_int_equal(uvf__dma_table_insert(t, m), 0);
	md->m[k] = m;
	md->count++;
}

/* Take slots [a, b] out: exactly the model's mappings there come back. */
static void take_slots(struct uvf_dma_table *t, struct model *md, unsigned a, unsigned b)
{
	size_t want = 0, got = 0;

	for (unsigned k = a; k <= b; k++)
		want += md->m[k] != NULL;
	struct uvf_dma_mapping *taken =
		uvf__dma_table_take_range(t, BASE + (uint64_t)a * STRIDE, (uint64_t)(b - a + 1) * STRIDE);
	while (taken) {
		struct uvf_dma_mapping *next = taken->next;
		unsigned k = (unsigned)((taken->address - BASE) / STRIDE);
		assert_true(k >= a && k <= b);
		assert_ptr_equal(md->m[k], taken);
		md->m[k] = NULL;
		got++;
		uvf__dma_mapping_free(taken);
		taken = next;
	}
	assert_int_equal(got, want);
	md->count -= got;
}

static void test_random_inserts_and_removals(void **state)
{
	static struct model md;
	struct uvf_dma_table t;
	(void)state;

	memset(&md, 0, sizeof(md));
	assert_int_equal(uvf__dma_table_init(&t), 0);
	/* grow to most slots, shrink to few, grow again: every shape of
	 * split, merge and redistribution on the way */
	for (unsigned phase = 0; phase < 4; phase++) {
		bool grow = phase % 2 == 0;
		for (unsigned step = 0; step < 12000; step++) {
			unsigned k = (unsigned)(next_random() % SLOTS);
			bool insert = grow ? next_random() % 8 != 0 : next_random() % 8 == 0;
			if (insert && !md.m[k]) {
				insert_slot(&t, &md, k);
			} else if (!insert) {
				unsigned span = next_random() % 4 == 0 ? (unsigned)(next_random() % 64) : 0;
				take_slots(&t, &md, k, k + span < SLOTS ? k + span : SLOTS - 1);
			}
			if (step % 256 == 0) {
				check_tree(&t, &md);
				check_lookups(&t, &md, 64);
			}
		}
		check_tree(&t, &md);
		check_lookups(&t, &md, 4096);
		if (grow)
			assert_true(t.height >= 3);
	}
	/* in order, both ways: the sequential patterns of a VMM */
	take_slots(&t, &md, 0, SLOTS - 1);
	check_tree(&t, &md);
	assert_int_equal(t.height, 0);
	for (unsigned k = 0; k < SLOTS; k++)
		insert_slot(&t, &md, k);
	check_tree(&t, &md);
	check_lookups(&t, &md, 4096);
	for (unsigned k = SLOTS; k-- > 0;) {
		take_slots(&t, &md, k, k);
		if (k % 500 == 0)
			check_tree(&t, &md);
	}
	assert_int_equal(t.count, 0);
	for (unsigned k = 0; k < SLOTS; k += 2)
		insert_slot(&t, &md, k);
	struct uvf_dma_mapping *all = uvf__dma_table_take_all(&t);
	while (all) {
		struct uvf_dma_mapping *next = all->next;
		uvf__dma_mapping_free(all);
		all = next;
	}
	memset(&md, 0, sizeof(md));
	check_tree(&t, &md);
	uvf__dma_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_inserts_and_removals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
