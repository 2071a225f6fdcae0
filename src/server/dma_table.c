/* SPDX-License-Identifier: MIT */
/*
 * The DMA table (dma_table.h): a balanced tree (glibc's tsearch, a
 * red-black tree) whose comparator calls two ranges equal when they
 * overlap. Stored ranges never overlap, so a lookup of one address, or of
 * a whole range, lands on a mapping it overlaps in O(log n), and the
 * insertion check for overlaps costs one such lookup. A list of the same
 * mappings serves walks (logging, emptying).
 *
 * Dirty logging: while it is on, each fd-backed mapping carries a bitmap
 * with one bit per logging page; writes set bits with atomic OR from any
 * thread, and a report takes them with atomic AND-NOT, so a write racing a
 * report is seen by this report or the next one, never lost.
 * Message-based mappings have no bitmap: the client sees those writes
 * itself.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "server/dma_table.h"
#include "util.h"

/* Overlapping ranges are "equal": see the top of the file. */
static int compare_ranges(const void *a, const void *b)
{
	const struct uvf_dma_mapping *x = a, *y = b;

	if (uvf__range_last(x->address, x->size) < y->address)
		return -1;
	if (uvf__range_last(y->address, y->size) < x->address)
		return 1;
	return 0;
}

int uvf__dma_table_init(struct uvf_dma_table *t)
{
	pthread_rwlockattr_t attr;
	int ret;

	*t = (struct uvf_dma_table){.tree = NULL};
	if ((ret = pthread_rwlockattr_init(&attr)) != 0)
		return -ret;
	/* A device thread taking the read lock again and again must not keep
	 * the dispatch thread's DMA_UNMAP waiting. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -ret;
}

void uvf__dma_table_destroy(struct uvf_dma_table *t)
{
	struct uvf_dma_mapping *m = uvf__dma_table_take_all(t);

	while (m) {
		struct uvf_dma_mapping *next = m->next;
		uvf__dma_mapping_free(m);
		m = next;
	}
	free(t->ranges);
	t->ranges = NULL;
	pthread_rwlock_destroy(&t->lock);
}

void uvf__dma_table_read_lock(struct uvf_dma_table *t)
{
	pthread_rwlock_rdlock(&t->lock);
}

void uvf__dma_table_unlock(struct uvf_dma_table *t)
{
	pthread_rwlock_unlock(&t->lock);
}

const struct uvf_dma_mapping *uvf__dma_table_overlap(const struct uvf_dma_table *t, uint64_t addr, uint64_t size)
{
	struct uvf_dma_mapping key = {.address = addr, .size = size};
	void *node = tfind(&key, &t->tree, compare_ranges);
	return node ? *(struct uvf_dma_mapping **)node : NULL;
}

/*
 * The last mapping each thread found: DMA tends to stay in one mapping
 * (a queue, a buffer). A generation number from one counter for every
 * table of the process names the table's state; it changes whenever a
 * mapping is removed, so a hit with the same table and generation is a
 * mapping still in the table (read under the lock, or by the only
 * writer).
 */
static uint64_t g_table_gen;

static _Thread_local struct {
	const struct uvf_dma_table *table;
	uint64_t gen;
	const struct uvf_dma_mapping *m;
} t_last;

static void new_generation(struct uvf_dma_table *t)
{
	t->gen = __atomic_add_fetch(&g_table_gen, 1, __ATOMIC_RELAXED);
}

const struct uvf_dma_mapping *uvf__dma_table_find(const struct uvf_dma_table *t, uint64_t addr)
{
	const struct uvf_dma_mapping *m = t_last.m;

	if (t_last.table == t && t_last.gen == t->gen && m && addr >= m->address &&
	    addr <= uvf__range_last(m->address, m->size))
		return m;
	m = uvf__dma_table_overlap(t, addr, 1);
	if (m) {
		t_last.table = t;
		t_last.gen = t->gen;
		t_last.m = m;
	}
	return m;
}

static void list_remove(struct uvf_dma_table *t, struct uvf_dma_mapping *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		t->list = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
}

int uvf__dma_table_insert(struct uvf_dma_table *t, struct uvf_dma_mapping *m)
{
	void *node;

	pthread_rwlock_wrlock(&t->lock);
	/* a fresh table's generation 0 could be a freed one's */
	if (!t->gen)
		new_generation(t);
	node = tsearch(m, &t->tree, compare_ranges);
	if (node) {
		m->prev = NULL;
		m->next = t->list;
		if (m->next)
			m->next->prev = m;
		t->list = m;
		t->count++;
	}
	pthread_rwlock_unlock(&t->lock);
	return node ? 0 : -ENOMEM;
}

struct uvf_dma_mapping *uvf__dma_table_take_range(struct uvf_dma_table *t, uint64_t addr, uint64_t size)
{
	struct uvf_dma_mapping *taken = NULL, *m;

	pthread_rwlock_wrlock(&t->lock);
	while ((m = (struct uvf_dma_mapping *)uvf__dma_table_overlap(t, addr, size))) {
		tdelete(m, &t->tree, compare_ranges);
		list_remove(t, m);
		t->count--;
		m->next = taken;
		taken = m;
	}
	new_generation(t);
	pthread_rwlock_unlock(&t->lock);
	return taken;
}

static void forget_node(void *node)
{
	(void)node; /* the mappings live on in the list */
}

struct uvf_dma_mapping *uvf__dma_table_take_all(struct uvf_dma_table *t)
{
	pthread_rwlock_wrlock(&t->lock);
	struct uvf_dma_mapping *all = t->list;
	tdestroy(t->tree, forget_node);
	t->tree = NULL;
	t->list = NULL;
	t->count = 0;
	new_generation(t);
	pthread_rwlock_unlock(&t->lock);
	return all;
}

void uvf__dma_mapping_free(struct uvf_dma_mapping *m)
{
	if (m->map_base)
		munmap(m->map_base, m->map_len);
	free(m->dirty);
	free(m);
}

void *uvf__dma_table_ptr(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot)
{
	void *p = NULL;

	if (!len || addr + len < addr)
		return NULL;
	uvf__dma_table_read_lock(t);
	const struct uvf_dma_mapping *m = uvf__dma_table_find(t, addr);
	if (m && m->vaddr && (m->prot & prot) == prot && len - 1 <= uvf__range_last(m->address, m->size) - addr)
		p = m->vaddr + (addr - m->address);
	uvf__dma_table_unlock(t);
	return p;
}

int uvf__dma_table_sg(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot, struct iovec *iov,
		      int max_iov)
{
	int n = 0, ret = 0;

	if (!len)
		return 0;
	if (len - 1 > UINT64_MAX - addr)
		return -EFAULT;
	uvf__dma_table_read_lock(t);
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find(t, addr);
		if (!m || !m->vaddr) {
			ret = -EFAULT;
			break;
		}
		if ((m->prot & prot) != prot) {
			ret = -EACCES;
			break;
		}
		uint64_t avail = uvf__range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t piece = avail < len - 1 ? (size_t)avail + 1 : len;
		uint8_t *p = m->vaddr + (addr - m->address);
		if (n > 0 && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
			iov[n - 1].iov_len += piece; /* contiguous here too: one piece */
		} else if (n == max_iov) {
			ret = -ENOSPC;
			break;
		} else {
			iov[n].iov_base = p;
			iov[n].iov_len = piece;
			n++;
		}
		len -= piece;
		addr += piece; /* may wrap to 0 exactly when len reaches 0 */
	}
	uvf__dma_table_unlock(t);
	return ret < 0 ? ret : n;
}

/* ------------------------------------------------------------------ */
/* Dirty logging                                                        */
/* ------------------------------------------------------------------ */

bool uvf__dma_table_logging(const struct uvf_dma_table *t)
{
	return __atomic_load_n(&t->logging, __ATOMIC_ACQUIRE);
}

/* Bits lo..hi (0..63) of a word. */
static uint64_t bit_span(unsigned lo, unsigned hi)
{
	uint64_t upto = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;
	return upto & (~0ull << lo);
}

/* Set bits first..last of words: atomic OR, or a plain one. */
static void set_bit_range(uint64_t *words, uint64_t first, uint64_t last, bool atomic)
{
	for (uint64_t w = first / 64;; w++) {
		unsigned lo = w == first / 64 ? (unsigned)(first % 64) : 0;
		unsigned hi = w == last / 64 ? (unsigned)(last % 64) : 63;
		uint64_t mask = bit_span(lo, hi);
		if (!atomic)
			words[w] |= mask;
		else if ((__atomic_load_n(&words[w], __ATOMIC_RELAXED) & mask) != mask)
			__atomic_fetch_or(&words[w], mask, __ATOMIC_RELEASE); /* skip when set: less cache traffic */
		if (w == last / 64)
			break;
	}
}

static size_t bitmap_words(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m)
{
	unsigned sh = t->shift;
	uint64_t pages = (uvf__range_last(m->address, m->size) >> sh) - (m->address >> sh) + 1;
	return (size_t)((pages + 63) / 64); /* the mapping is mmapped: its pages fit size_t */
}

int uvf__dma_table_new_bitmap(const struct uvf_dma_table *t, struct uvf_dma_mapping *m)
{
	if (!m->vaddr || !uvf__dma_table_logging(t))
		return 0;
	m->dirty = calloc(bitmap_words(t, m), sizeof(uint64_t));
	return m->dirty ? 0 : -ENOMEM;
}

void uvf__dma_table_log_mark(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m, uint64_t addr,
			     uint64_t len)
{
	if (!len || !m->dirty)
		return;
	unsigned sh = t->shift;
	uint64_t base = m->address >> sh;
	set_bit_range(m->dirty, (addr >> sh) - base, (uvf__range_last(addr, len) >> sh) - base, true);
}

void uvf__dma_table_log_mark_range(struct uvf_dma_table *t, uint64_t addr, size_t len)
{
	if (!len || !uvf__dma_table_logging(t))
		return;
	if (len - 1 > UINT64_MAX - addr)
		len = (size_t)(UINT64_MAX - addr) + 1;
	uvf__dma_table_read_lock(t);
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find(t, addr);
		if (!m)
			break; /* not client memory: nothing to log */
		uint64_t avail = uvf__range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t n = avail < len - 1 ? (size_t)avail + 1 : len;
		uvf__dma_table_log_mark(t, m, addr, n);
		len -= n;
		addr += n;
	}
	uvf__dma_table_unlock(t);
}

static void free_bitmaps_locked(struct uvf_dma_table *t)
{
	for (struct uvf_dma_mapping *m = t->list; m; m = m->next) {
		free(m->dirty);
		m->dirty = NULL;
	}
}

int uvf__dma_table_log_start(struct uvf_dma_table *t, unsigned shift, struct uvf_msg_dma_logging_range *ranges,
			     uint32_t nr)
{
	int ret = 0;

	pthread_rwlock_wrlock(&t->lock);
	t->shift = shift;
	for (struct uvf_dma_mapping *m = t->list; m && !ret; m = m->next) {
		if (!m->vaddr)
			continue;
		m->dirty = calloc(bitmap_words(t, m), sizeof(uint64_t));
		if (!m->dirty)
			ret = -ENOMEM;
	}
	if (ret < 0) {
		free_bitmaps_locked(t);
		free(ranges);
	} else {
		t->ranges = ranges;
		t->nr_ranges = nr;
		__atomic_store_n(&t->logging, true, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

void uvf__dma_table_log_stop(struct uvf_dma_table *t)
{
	if (!uvf__dma_table_logging(t))
		return;
	pthread_rwlock_wrlock(&t->lock);
	__atomic_store_n(&t->logging, false, __ATOMIC_RELEASE);
	free_bitmaps_locked(t);
	free(t->ranges);
	t->ranges = NULL;
	t->nr_ranges = 0;
	pthread_rwlock_unlock(&t->lock);
}

bool uvf__dma_table_log_covers(const struct uvf_dma_table *t, uint64_t iova, uint64_t last)
{
	if (!t->nr_ranges)
		return true;
	for (uint32_t i = 0; i < t->nr_ranges; i++) {
		const struct uvf_msg_dma_logging_range *r = &t->ranges[i];
		if (iova >= r->iova && last <= r->iova + (r->length - 1))
			return true;
	}
	return false;
}

/*
 * Take the dirty pages of m inside [iova, last] and set the report units
 * (2^shift bytes from iova) they touch. Pages wholly inside the range are
 * cleared; a page the range only cuts keeps its bit (reported again later)
 * because the rest of it was not reported.
 */
static void report_mapping(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m, uint64_t iova,
			   uint64_t last, unsigned shift, uint64_t *bitmap)
{
	unsigned sh = t->shift;
	uint64_t mlast = uvf__range_last(m->address, m->size);
	uint64_t lo = m->address > iova ? m->address : iova;
	uint64_t hi = mlast < last ? mlast : last;
	uint64_t base = m->address >> sh, pfirst = lo >> sh, plast = hi >> sh;
	uint64_t page_mask = (1ull << sh) - 1;
	/* the mapping's part of the first/last page reaches outside the range */
	bool first_cut = (m->address > (pfirst << sh) ? m->address : (pfirst << sh)) < iova;
	bool last_cut = (mlast < ((plast << sh) | page_mask) ? mlast : ((plast << sh) | page_mask)) > last;

	for (uint64_t p = pfirst;;) {
		uint64_t b = p - base, w = b / 64;
		unsigned lo_bit = (unsigned)(b % 64);
		uint64_t span = 63 - lo_bit;
		uint64_t pend = plast - p < span ? plast : p + span;
		uint64_t mask = bit_span(lo_bit, lo_bit + (unsigned)(pend - p));
		uint64_t keep = 0;
		if (first_cut && pfirst >= p && pfirst <= pend)
			keep |= 1ull << (lo_bit + (pfirst - p));
		if (last_cut && plast >= p && plast <= pend)
			keep |= 1ull << (lo_bit + (plast - p));
		uint64_t clear = mask & ~keep;
		uint64_t got = clear ? __atomic_fetch_and(&m->dirty[w], ~clear, __ATOMIC_ACQ_REL) & clear : 0;
		if (keep)
			got |= __atomic_load_n(&m->dirty[w], __ATOMIC_ACQUIRE) & keep;
		while (got) {
			unsigned bit = (unsigned)__builtin_ctzll(got);
			got &= got - 1;
			uint64_t page = base + w * 64 + bit;
			uint64_t a = page << sh, z = a | page_mask;
			if (a < lo)
				a = lo;
			if (z > hi)
				z = hi;
			set_bit_range(bitmap, (a - iova) >> shift, (z - iova) >> shift, false);
		}
		if (pend == plast)
			break;
		p = pend + 1;
	}
}

void uvf__dma_table_log_report(struct uvf_dma_table *t, uint64_t iova, uint64_t length, unsigned shift,
			       uint64_t *bitmap)
{
	uint64_t last = uvf__range_last(iova, length);

	/* the changing thread (this one) alone changes the table: no lock */
	for (const struct uvf_dma_mapping *m = t->list; m; m = m->next)
		if (m->dirty && uvf__range_last(m->address, m->size) >= iova && m->address <= last)
			report_mapping(t, m, iova, last, shift, bitmap);
}
