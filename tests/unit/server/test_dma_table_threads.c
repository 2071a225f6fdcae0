/* SPDX-License-Identifier: MIT */
/*
 * The DMA table's concurrency contract: one thread maps and unmaps (and
 * switches dirty logging) while other threads look up and copy through
 * the table. Mappings are real anonymous memory, filled with a pattern
 * derived from their DMA addresses; once a removal returns, the test
 * poisons the memory and unmaps it. A reader that copied from a removed
 * mapping after its removal returned (no grace period), or that was led
 * to the wrong memory (a broken tree), sees a wrong word and counts it; a
 * reader that touched unmapped memory crashes the test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "server/dma_table.h"

#define PAGE	4096u
#define SLOTS	64u
#define SPAN	(2 * PAGE) /* each slot's mapping */
#define BASE	0x40000000ull
#define KEY	0x5a5a5a5a00000000ull
#define READERS 2
#define CHANGES 1500u
#define RW	(UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

static struct uvf_dma_table table;
static bool stop;            /* atomic */
static uint64_t bad_words;   /* atomic */
static uint64_t copies_done; /* atomic */

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct uvf_dma_mapping *new_mapping(unsigned slot)
{
	struct uvf_dma_mapping *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->address = BASE + (uint64_t)slot * SPAN;
	m->size = SPAN;
	m->prot = RW;
	m->has_fd = true;
	m->map_len = SPAN;
	m->map_base = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m->map_base != MAP_FAILED);
	m->vaddr = m->map_base;
	uint64_t *w = m->map_base;
	for (size_t i = 0; i < SPAN / 8; i++)
		w[i] = (m->address + i * 8) ^ KEY;
	return m;
}

/* What a reader sees at addr (8-byte aligned) while the mapping is in. */
static unsigned count_bad(const uint64_t *words, uint64_t addr, size_t n)
{
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += words[i] != ((addr + i * 8) ^ KEY);
	return bad;
}

static void *reader(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
	uint64_t buf[PAGE / 8];
	struct iovec iov[4];

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t addr = BASE + (next_random(&seed) % (SLOTS * SPAN / 8)) * 8;
		size_t len = 8 * (1 + next_random(&seed) % (PAGE / 8));
		unsigned bad = 0;
		switch (next_random(&seed) % 3) {
		case 0: { /* what uvf_dma_read/write do: copy inside a section */
			struct uvf_dma_reader *r = uvf__dma_table_enter();
			assert_non_null(r);
			const struct uvf_dma_mapping *m = uvf__dma_table_find_in(&table, r, addr);
			if (m) {
				size_t n = len <= m->address + m->size - addr ? len : m->address + m->size - addr;
				memcpy(buf, m->vaddr + (addr - m->address), n);
				uvf__dma_table_log_mark(&table, m, addr, n);
				bad = count_bad(buf, addr, n / 8);
			}
			uvf__dma_table_leave(r);
			break;
		}
		case 1: { /* a pointer, used inside the caller's own section */
			struct uvf_dma_reader *r = uvf__dma_table_enter();
			const uint64_t *p = uvf__dma_table_ptr(&table, addr, 8, UVF_DMA_MAP_FLAG_READ);
			if (p)
				bad = count_bad(p, addr, 1);
			uvf__dma_table_leave(r);
			break;
		}
		default: { /* scatter-gather over neighbours, then dirty marks */
			struct uvf_dma_reader *r = uvf__dma_table_enter();
			int n = uvf__dma_table_sg(&table, addr, len, UVF_DMA_MAP_FLAG_READ, iov, 4);
			uint64_t a = addr;
			for (int i = 0; i < n; i++) {
				bad += count_bad(iov[i].iov_base, a, iov[i].iov_len / 8);
				a += iov[i].iov_len;
			}
			uvf__dma_table_leave(r);
			uvf__dma_table_log_mark_range(&table, addr, len);
			break;
		}
		}
		if (bad)
			__atomic_add_fetch(&bad_words, bad, __ATOMIC_RELAXED);
		__atomic_add_fetch(&copies_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Poison what a removal returned, then unmap it. */
static void poison_and_free(struct uvf_dma_mapping *m)
{
	while (m) {
		struct uvf_dma_mapping *next = m->next;
		memset(m->map_base, 0xdd, m->map_len);
		uvf__dma_mapping_free(m);
		m = next;
	}
}

static void test_map_unmap_while_reading(void **state)
{
	pthread_t threads[READERS];
	bool present[SLOTS] = {false};
	uint64_t seed = 42;
	(void)state;

	assert_int_equal(uvf__dma_table_init(&table), 0);
	for (uintptr_t i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, reader, (void *)i), 0);
	for (unsigned step = 0; step < CHANGES; step++) {
		unsigned slot = (unsigned)(next_random(&seed) % SLOTS);
		uint64_t what = next_random(&seed) % 64;
		if (what == 0) {
			/* dirty logging on or off under the readers' marks */
			if (uvf__dma_table_logging(&table)) {
				uvf__dma_table_log_stop(&table);
			} else {
				assert_int_equal(uvf__dma_table_log_start(&table, 12, NULL, 0), 0);
			}
		} else if (what == 1) {
			poison_and_free(uvf__dma_table_take_all(&table));
			memset(present, 0, sizeof(present));
		} else if (!present[slot]) {
			struct uvf_dma_mapping *m = new_mapping(slot);
			assert_int_equal(uvf__dma_table_new_bitmap(&table, m), 0);
			assert_int_equal(uvf__dma_table_insert(&table, m), 0);
			present[slot] = true;
		} else {
			/* this slot and maybe its neighbours */
			unsigned n = 1 + (unsigned)(next_random(&seed) % 3);
			if (slot + n > SLOTS)
				n = SLOTS - slot;
			poison_and_free(uvf__dma_table_take_range(&table, BASE + (uint64_t)slot * SPAN, n * SPAN));
			for (unsigned i = 0; i < n; i++)
				present[slot + i] = false;
		}
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(threads[i], NULL);
	uvf__dma_table_log_stop(&table);
	uvf__dma_table_destroy(&table);
	print_message("readers %s: %llu copies, %llu wrong words\n",
		      uvf__dma_readers_fence ? "fence" : "use membarrier", (unsigned long long)copies_done,
		      (unsigned long long)bad_words);
	assert_true(copies_done > 0);
	assert_int_equal(bad_words, 0);
}

int main(void)
{
	/* the second run: readers fence, as where membarrier is missing */
	if (getenv("UVF_TEST_DMA_FENCES"))
		uvf__dma_readers_use_fences();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_unmap_while_reading),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
