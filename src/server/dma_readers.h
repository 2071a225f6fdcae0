/* SPDX-License-Identifier: MIT */
/*
 * Read-side sections over the DMA tables, without a shared lock. Each
 * thread that reads a table announces itself in a record of its own (a
 * cache line only it writes): entering stores the grace-period counter
 * there, leaving stores 0. A thread that removes something from a table
 * unpublishes it first, then waits for a grace period: until every thread
 * that was inside a section when the removal became visible has left it.
 * Only then is the memory freed or unmapped.
 *
 * Entering and leaving cost a plain store each: the grace period pays for
 * the ordering instead, with membarrier(2) (MEMBARRIER_CMD_PRIVATE_EXPEDITED)
 * on every CPU running a thread of this process. Where the kernel lacks it,
 * readers pay a full fence on entry instead.
 *
 * Sections nest, may be entered on any thread, and must be short: no
 * waiting for the client inside one. A grace period must not be waited for
 * from inside a section (it would wait for itself).
 */
#ifndef UVF_SERVER_DMA_READERS_H
#define UVF_SERVER_DMA_READERS_H

#include <stdbool.h>
#include <stdint.h>

struct uvf_dma_table;
struct uvf_dma_mapping;

/* One per thread that ever read a table; recycled when the thread exits. */
struct uvf_dma_reader {
	uint64_t ctr;   /* atomic: 0 outside sections, else the grace-period counter at entry */
	unsigned nest;  /* sections entered and not left; this thread only */
	/* the last mapping this thread found (uvf__dma_table_find_in), and
	 * copies of its fields: a hit needs no load through last_m */
	const struct uvf_dma_table *last_table;
	uint64_t last_gen;
	const struct uvf_dma_mapping *last_m;
	uint64_t last_address;
	uint64_t last_size;
	uint8_t *last_vaddr;
	uint32_t last_prot;
	/* the registry of records, under its mutex */
	bool in_use;
	struct uvf_dma_reader *next;
} __attribute__((aligned(64)));

/* A full barrier. ThreadSanitizer does not model fences (and gcc warns
 * about them there): a sequentially consistent exchange does the same. */
#if defined(__SANITIZE_THREAD__)
#define UVF__DMA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UVF__DMA_TSAN 1
#endif
#endif
#ifdef UVF__DMA_TSAN
static inline void uvf__dma_full_barrier(void)
{
	static int dummy;
	__atomic_exchange_n(&dummy, 0, __ATOMIC_SEQ_CST);
}
#else
static inline void uvf__dma_full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
#endif

/* Inline below, for the DMA calls; private to dma_readers.c otherwise. */
#define UVF__DMA_HIDDEN __attribute__((visibility("hidden")))
/* Whether readers must fence on entry (no membarrier): set once, before any
 * section is entered. */
extern UVF__DMA_HIDDEN bool uvf__dma_readers_fence;
/* The grace-period counter (atomic). */
extern UVF__DMA_HIDDEN uint64_t uvf__dma_gp_ctr;
/* This thread's record, NULL before its first section (initial-exec: no
 * __tls_get_addr on the DMA path). */
extern UVF__DMA_HIDDEN _Thread_local struct uvf_dma_reader *uvf__dma_self __attribute__((tls_model("initial-exec")));
/* The calling thread's first record, or NULL (no memory). */
struct uvf_dma_reader *uvf__dma_reader_register(void);

/* The calling thread's record inside a new (or nested) section, or NULL
 * (no memory for the first record of this thread). */
static inline struct uvf_dma_reader *uvf__dma_read_enter(void)
{
	struct uvf_dma_reader *r = uvf__dma_self;

	if (__builtin_expect(!r, 0) && !(r = uvf__dma_reader_register()))
		return NULL;
	if (r->nest++ == 0) {
		/* release (free on x86): a grace period that reads this value
		 * also comes after this thread's earlier sections */
		__atomic_store_n(&r->ctr, __atomic_load_n(&uvf__dma_gp_ctr, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
		/* the store above before the table's loads: a grace period's
		 * membarrier does it for us, else a fence */
		if (uvf__dma_readers_fence)
			uvf__dma_full_barrier();
		else
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	return r;
}

/* Leave the section entered by uvf__dma_read_enter() that returned r. */
static inline void uvf__dma_read_leave(struct uvf_dma_reader *r)
{
	if (--r->nest == 0)
		__atomic_store_n(&r->ctr, 0, __ATOMIC_RELEASE); /* orders the section's accesses before */
}

/* Wait until every section that was open when this call began has been
 * left (a grace period). Any thread, outside a section. */
void uvf__dma_synchronize(void);

/* For tests: fences on the reader side, as without membarrier. Before
 * the process's first section or grace period. */
void uvf__dma_readers_use_fences(void);

#endif /* UVF_SERVER_DMA_READERS_H */
