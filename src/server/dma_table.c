/* SPDX-License-Identifier: MIT */
/*
 * The DMA table (dma_table.h): a B+tree of the mappings, keyed by their
 * first address, that readers walk without a lock. Stored ranges never
 * overlap, so the mapping holding an address is the one with the largest
 * first address not above it: one descent, a few cache lines per level.
 *
 * Readers and the changing thread: a change never writes a node a reader
 * may see. It copies the nodes on its path (path copying), links the
 * copies, and publishes the new root with one release store; the old
 * nodes are retired and freed (or reused) after a grace period
 * (dma_readers.h). Inserts and removals cost O(log n) node copies; every
 * node but the root holds at least MIN_FILL entries, so the tree's height
 * stays O(log n) however mappings come and go.
 *
 * Nodes come from a pool the table keeps stocked: an insert first tops it
 * up (the only step that can fail with -ENOMEM), so that the insert and
 * the removals after it never allocate; a removal never adds nodes, so the
 * nodes it retires, reused after a grace period, keep the pool stocked.
 * A list of the same mappings serves walks (logging, emptying).
 *
 * Dirty logging: while it is on, each fd-backed mapping carries a bitmap
 * with one bit per logging page; writes set bits with atomic OR from any
 * thread, and a report takes them with atomic AND-NOT, so a write racing a
 * report is seen by this report or the next one, never lost.
 * Message-based mappings have no bitmap: the client sees those writes
 * itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/dma_table.h"
#include "util.h"

#define FAN	 16 /* entries per node */
#define MIN_FILL 4  /* entries in every node but the root, at least */
/* retired nodes kept before an insert waits for a grace period to reuse them */
#define RETIRED_MAX 1024

struct uvf_dma_node {
	uint32_t count;
	bool leaf;
	struct uvf_dma_node *link; /* changing thread only: pool and retired lists */
	uint64_t key[FAN];         /* leaf: first address of each mapping; inner: of each subtree */
	void *ptr[FAN];            /* leaf: mappings; inner: children */
};

/* ------------------------------------------------------------------ */
/* Lookups (any thread inside a section, or the changing thread)        */
/* ------------------------------------------------------------------ */

/* How many keys of n are <= addr. */
static inline unsigned keys_at_most(const struct uvf_dma_node *n, uint64_t addr)
{
	const uint64_t *k = n->key;
	unsigned len = n->count;

	if (!len)
		return 0;
	while (len > 1) {
		unsigned half = len / 2;
		k = k[half] <= addr ? k + half : k;
		len -= half;
	}
	return (unsigned)(k - n->key) + (*k <= addr);
}

/* The mapping with the largest first address <= addr, or NULL. */
static const struct uvf_dma_mapping *tree_floor(const struct uvf_dma_table *t, uint64_t addr)
{
	const struct uvf_dma_node *n = __atomic_load_n(&t->root, __ATOMIC_ACQUIRE);

	if (!n)
		return NULL;
	for (;;) {
		unsigned i = keys_at_most(n, addr);
		if (!i)
			return NULL;
		if (n->leaf)
			return n->ptr[i - 1];
		n = n->ptr[i - 1];
	}
}

const struct uvf_dma_mapping *uvf__dma_table_overlap(const struct uvf_dma_table *t, uint64_t addr, uint64_t size)
{
	/* the last mapping starting inside or before the range: if any
	 * mapping overlaps the range, this one does */
	const struct uvf_dma_mapping *m = tree_floor(t, uvf__range_last(addr, size));
	return m && uvf__range_last(m->address, m->size) >= addr ? m : NULL;
}

static inline bool holds(const struct uvf_dma_mapping *m, uint64_t addr)
{
	return addr >= m->address && addr - m->address <= m->size - 1;
}

/* One counter for every table of the process names a table's state (the
 * readers' cache, uvf__dma_table_find_in): a table at the address of a
 * freed one never shows that one's generation. */
static uint64_t g_table_gen;

static void new_generation(struct uvf_dma_table *t)
{
	__atomic_store_n(&t->gen, __atomic_add_fetch(&g_table_gen, 1, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
}

const struct uvf_dma_mapping *uvf__dma_table_walk(const struct uvf_dma_table *t, struct uvf_dma_reader *r,
						  uint64_t addr, uint64_t gen)
{
	const struct uvf_dma_mapping *m = tree_floor(t, addr);

	if (!m || !holds(m, addr))
		return NULL;
	r->last_table = t;
	r->last_gen = gen;
	r->last_m = m;
	r->last_address = m->address;
	r->last_size = m->size;
	r->last_vaddr = m->vaddr;
	r->last_prot = m->prot;
	return m;
}

const struct uvf_dma_mapping *uvf__dma_table_find(const struct uvf_dma_table *t, uint64_t addr)
{
	const struct uvf_dma_mapping *m = tree_floor(t, addr);
	return m && holds(m, addr) ? m : NULL;
}

/* ------------------------------------------------------------------ */
/* Changes (the changing thread)                                        */
/* ------------------------------------------------------------------ */

/* Nodes needed by one insert or one removal at height h, at most: a
 * removal copies a node and rebuilds two per level, an insert copies one
 * and splits it in two per level, plus a new root. */
static size_t nodes_per_change(unsigned h)
{
	return 3 * (size_t)h + 2;
}

static struct uvf_dma_node *node_new(struct uvf_dma_table *t, bool leaf)
{
	struct uvf_dma_node *n = t->pool;

	if (!n) {
		/* the pool is stocked for every change (top of file) */
		fprintf(stderr, "uvf: DMA table node pool empty\n");
		abort();
	}
	t->pool = n->link;
	t->nr_pool--;
	n->count = 0;
	n->leaf = leaf;
	n->link = NULL;
	return n;
}

static void node_retire(struct uvf_dma_table *t, struct uvf_dma_node *n)
{
	n->link = t->retired;
	t->retired = n;
	t->nr_retired++;
}

static void free_node_list(struct uvf_dma_node *n)
{
	while (n) {
		struct uvf_dma_node *next = n->link;
		free(n);
		n = next;
	}
}

/* After a grace period: the retired nodes back into the pool. */
static void recycle_retired(struct uvf_dma_table *t)
{
	if (!t->retired)
		return;
	uvf__dma_synchronize();
	while (t->retired) {
		struct uvf_dma_node *n = t->retired;
		t->retired = n->link;
		n->link = t->pool;
		t->pool = n;
		t->nr_pool++;
	}
	t->nr_retired = 0;
}

static int stock_pool(struct uvf_dma_table *t, size_t want)
{
	if (t->nr_pool < want && t->nr_retired >= RETIRED_MAX)
		recycle_retired(t);
	while (t->nr_pool < want) {
		struct uvf_dma_node *n = malloc(sizeof(*n));
		if (!n)
			return -ENOMEM;
		n->link = t->pool;
		t->pool = n;
		t->nr_pool++;
	}
	return 0;
}

/* Up to two nodes' worth of entries, being rebuilt. */
struct entries {
	unsigned n;
	uint64_t key[2 * FAN];
	void *ptr[2 * FAN];
};

static void entries_append(struct entries *e, const struct uvf_dma_node *n)
{
	memcpy(&e->key[e->n], n->key, n->count * sizeof(n->key[0]));
	memcpy(&e->ptr[e->n], n->ptr, n->count * sizeof(n->ptr[0]));
	e->n += n->count;
}

static void entries_put(struct entries *e, unsigned at, uint64_t key, void *ptr)
{
	memmove(&e->key[at + 1], &e->key[at], (e->n - at) * sizeof(e->key[0]));
	memmove(&e->ptr[at + 1], &e->ptr[at], (e->n - at) * sizeof(e->ptr[0]));
	e->key[at] = key;
	e->ptr[at] = ptr;
	e->n++;
}

static void entries_del(struct entries *e, unsigned at)
{
	memmove(&e->key[at], &e->key[at + 1], (e->n - at - 1) * sizeof(e->key[0]));
	memmove(&e->ptr[at], &e->ptr[at + 1], (e->n - at - 1) * sizeof(e->ptr[0]));
	e->n--;
}

static struct uvf_dma_node *build(struct uvf_dma_table *t, bool leaf, const struct entries *e, unsigned from,
				  unsigned count)
{
	struct uvf_dma_node *n = node_new(t, leaf);

	memcpy(n->key, &e->key[from], count * sizeof(n->key[0]));
	memcpy(n->ptr, &e->ptr[from], count * sizeof(n->ptr[0]));
	n->count = count;
	return n;
}

/* e as one node in *a, or two halves in *a and *b when it overflows. */
static void build_split(struct uvf_dma_table *t, bool leaf, const struct entries *e, struct uvf_dma_node **a,
			struct uvf_dma_node **b)
{
	*b = NULL;
	if (e->n <= FAN) {
		*a = build(t, leaf, e, 0, e->n);
		return;
	}
	*a = build(t, leaf, e, 0, e->n / 2);
	*b = build(t, leaf, e, e->n / 2, e->n - e->n / 2);
}

/* Insert (key, ptr) into a copy of the subtree n: its new root in *a, and
 * in *b the right half when it split. */
static void insert_below(struct uvf_dma_table *t, struct uvf_dma_node *n, uint64_t key, void *ptr,
			 struct uvf_dma_node **a, struct uvf_dma_node **b)
{
	struct entries e = {0};
	unsigned i = keys_at_most(n, key);

	entries_append(&e, n);
	if (n->leaf) {
		entries_put(&e, i, key, ptr);
	} else {
		unsigned c = i ? i - 1 : 0; /* below every key: the first subtree */
		struct uvf_dma_node *ca, *cb;
		insert_below(t, n->ptr[c], key, ptr, &ca, &cb);
		e.key[c] = ca->key[0];
		e.ptr[c] = ca;
		if (cb)
			entries_put(&e, c + 1, cb->key[0], cb);
	}
	node_retire(t, n);
	build_split(t, n->leaf, &e, a, b);
}

int uvf__dma_table_insert(struct uvf_dma_table *t, struct uvf_dma_mapping *m)
{
	struct uvf_dma_node *a, *b = NULL;

	/* this insert, then a removal one level higher, from the pool */
	if (stock_pool(t, nodes_per_change(t->height) + nodes_per_change(t->height + 1)) < 0)
		return -ENOMEM;
	/* a fresh table's generation 0 could be a freed one's */
	if (!t->gen)
		new_generation(t);
	if (!t->root) {
		struct entries e = {1, {m->address}, {m}};
		a = build(t, true, &e, 0, 1);
		t->height = 1;
	} else {
		insert_below(t, t->root, m->address, m, &a, &b);
	}
	if (b) {
		struct entries e = {2, {a->key[0], b->key[0]}, {a, b}};
		a = build(t, false, &e, 0, 2);
		t->height++;
	}
	__atomic_store_n(&t->root, a, __ATOMIC_RELEASE);
	m->prev = NULL;
	m->next = t->list;
	if (m->next)
		m->next->prev = m;
	t->list = m;
	t->count++;
	return 0;
}

/* Remove (key, m) from a copy of the subtree n (which holds it): its new
 * root in *out. The copy may hold fewer than MIN_FILL entries: the parent
 * rebalances it with a sibling. */
static void remove_below(struct uvf_dma_table *t, struct uvf_dma_node *n, uint64_t key,
			 struct uvf_dma_node **out)
{
	struct entries e = {0};
	unsigned c = keys_at_most(n, key) - 1;

	entries_append(&e, n);
	if (n->leaf) {
		entries_del(&e, c);
	} else {
		struct uvf_dma_node *nc;
		remove_below(t, n->ptr[c], key, &nc);
		if (nc->count >= MIN_FILL || n->count < 2) {
			e.key[c] = nc->key[0];
			e.ptr[c] = nc;
		} else {
			/* too few: merge with a sibling, or share evenly with it */
			unsigned lo = c > 0 ? c - 1 : c;
			struct uvf_dma_node *sib = n->ptr[lo == c ? c + 1 : lo], *a, *b;
			struct entries pair = {0};
			entries_append(&pair, lo == c ? nc : sib);
			entries_append(&pair, lo == c ? sib : nc);
			node_retire(t, sib);
			node_retire(t, nc); /* never published: reused like the rest */
			build_split(t, nc->leaf, &pair, &a, &b);
			entries_del(&e, lo + 1);
			e.key[lo] = a->key[0];
			e.ptr[lo] = a;
			if (b)
				entries_put(&e, lo + 1, b->key[0], b);
		}
	}
	node_retire(t, n);
	*out = build(t, n->leaf, &e, 0, e.n);
}

/* Take m (in the table) out of the tree; its memory stays. */
static void tree_remove(struct uvf_dma_table *t, const struct uvf_dma_mapping *m)
{
	struct uvf_dma_node *root;

	/* the pool covers one removal; the nodes retired since the last
	 * grace period cover the rest (a removal never adds nodes) */
	if (t->nr_pool < nodes_per_change(t->height))
		recycle_retired(t);
	remove_below(t, t->root, m->address, &root);
	while (root->count == 1 && !root->leaf) {
		node_retire(t, root);
		root = root->ptr[0];
		t->height--;
	}
	if (!root->count) {
		node_retire(t, root);
		root = NULL;
		t->height = 0;
	}
	__atomic_store_n(&t->root, root, __ATOMIC_RELEASE);
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

struct uvf_dma_mapping *uvf__dma_table_take_range(struct uvf_dma_table *t, uint64_t addr, uint64_t size)
{
	struct uvf_dma_mapping *taken = NULL, *m;

	while ((m = (struct uvf_dma_mapping *)uvf__dma_table_overlap(t, addr, size))) {
		tree_remove(t, m);
		list_remove(t, m);
		t->count--;
		m->next = taken;
		taken = m;
	}
	if (taken) {
		new_generation(t);
		/* no section sees them any more once this returns */
		recycle_retired(t);
	}
	return taken;
}

static void retire_tree(struct uvf_dma_table *t, struct uvf_dma_node *n)
{
	if (!n->leaf)
		for (unsigned i = 0; i < n->count; i++)
			retire_tree(t, n->ptr[i]);
	node_retire(t, n);
}

struct uvf_dma_mapping *uvf__dma_table_take_all(struct uvf_dma_table *t)
{
	struct uvf_dma_mapping *all = t->list;
	struct uvf_dma_node *root = t->root;

	__atomic_store_n(&t->root, NULL, __ATOMIC_RELEASE);
	if (root)
		retire_tree(t, root);
	t->height = 0;
	t->list = NULL;
	t->count = 0;
	new_generation(t);
	recycle_retired(t);
	return all;
}

int uvf__dma_table_init(struct uvf_dma_table *t)
{
	*t = (struct uvf_dma_table){.root = NULL};
	return 0;
}

void uvf__dma_table_destroy(struct uvf_dma_table *t)
{
	struct uvf_dma_mapping *m = uvf__dma_table_take_all(t);

	while (m) {
		struct uvf_dma_mapping *next = m->next;
		uvf__dma_mapping_free(m);
		m = next;
	}
	free_node_list(t->pool);
	t->pool = NULL;
	t->nr_pool = 0;
	free(t->ranges);
	t->ranges = NULL;
}

void uvf__dma_mapping_free(struct uvf_dma_mapping *m)
{
	if (m->map_base)
		munmap(m->map_base, m->map_len);
	free(m->dirty);
	free(m->dirty_old);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Device-side access (any thread)                                      */
/* ------------------------------------------------------------------ */

void *uvf__dma_table_ptr(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot)
{
	void *p = NULL;

	if (!len || addr + len < addr)
		return NULL;
	struct uvf_dma_reader *r = uvf__dma_table_enter();
	if (!r)
		return NULL;
	p = uvf__dma_table_hit(t, r, addr, len, prot);
	if (!p) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find_in(t, r, addr);
		if (m && m->vaddr && (m->prot & prot) == prot &&
		    len - 1 <= uvf__range_last(m->address, m->size) - addr)
			p = m->vaddr + (addr - m->address);
	}
	uvf__dma_table_leave(r);
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
	struct uvf_dma_reader *r = uvf__dma_table_enter();
	if (!r)
		return -ENOMEM;
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find_in(t, r, addr);
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
	uvf__dma_table_leave(r);
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
	m->dirty = calloc(bitmap_words(t, m), sizeof(uint64_t)); /* not in the table yet */
	return m->dirty ? 0 : -ENOMEM;
}

void uvf__dma_table_log_bits(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m, uint64_t *dirty,
			     uint64_t addr, uint64_t len)
{
	unsigned sh = __atomic_load_n(&t->shift, __ATOMIC_RELAXED);
	uint64_t base = m->address >> sh;
	set_bit_range(dirty, (addr >> sh) - base, (uvf__range_last(addr, len) >> sh) - base, true);
}

void uvf__dma_table_log_mark_range(struct uvf_dma_table *t, uint64_t addr, size_t len)
{
	if (!len || !uvf__dma_table_logging(t))
		return;
	if (len - 1 > UINT64_MAX - addr)
		len = (size_t)(UINT64_MAX - addr) + 1;
	struct uvf_dma_reader *r = uvf__dma_table_enter();
	if (!r)
		return; /* no memory for this thread's record: no section, no access */
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find_in(t, r, addr);
		if (!m)
			break; /* not client memory: nothing to log */
		uint64_t avail = uvf__range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t n = avail < len - 1 ? (size_t)avail + 1 : len;
		uvf__dma_table_log_mark(t, m, addr, n);
		len -= n;
		addr += n;
	}
	uvf__dma_table_leave(r);
}

/* Unpublish every bitmap; free them once no section can hold one. */
static void free_bitmaps(struct uvf_dma_table *t)
{
	for (struct uvf_dma_mapping *m = t->list; m; m = m->next) {
		m->dirty_old = m->dirty;
		__atomic_store_n(&m->dirty, NULL, __ATOMIC_RELEASE);
	}
	uvf__dma_synchronize();
	for (struct uvf_dma_mapping *m = t->list; m; m = m->next) {
		free(m->dirty_old);
		m->dirty_old = NULL;
	}
}

int uvf__dma_table_log_start(struct uvf_dma_table *t, unsigned shift, struct uvf_msg_dma_logging_range *ranges,
			     uint32_t nr)
{
	int ret = 0;

	/* logging is off: no bitmap is published, none is in use */
	__atomic_store_n(&t->shift, shift, __ATOMIC_RELAXED);
	for (struct uvf_dma_mapping *m = t->list; m && !ret; m = m->next) {
		if (!m->vaddr)
			continue;
		m->dirty_old = calloc(bitmap_words(t, m), sizeof(uint64_t));
		if (!m->dirty_old)
			ret = -ENOMEM;
	}
	if (ret < 0) {
		for (struct uvf_dma_mapping *m = t->list; m; m = m->next) {
			free(m->dirty_old);
			m->dirty_old = NULL;
		}
		free(ranges);
		return ret;
	}
	/* every bitmap at once, then logging on: from here every write marks */
	for (struct uvf_dma_mapping *m = t->list; m; m = m->next) {
		__atomic_store_n(&m->dirty, m->dirty_old, __ATOMIC_RELEASE);
		m->dirty_old = NULL;
	}
	t->ranges = ranges;
	t->nr_ranges = nr;
	__atomic_store_n(&t->logging, true, __ATOMIC_RELEASE);
	/* a write that found no bitmap has ended before the start is answered */
	uvf__dma_synchronize();
	return 0;
}

void uvf__dma_table_log_stop(struct uvf_dma_table *t)
{
	if (!uvf__dma_table_logging(t))
		return;
	__atomic_store_n(&t->logging, false, __ATOMIC_RELEASE);
	free_bitmaps(t);
	free(t->ranges);
	t->ranges = NULL;
	t->nr_ranges = 0;
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

/* ------------------------------------------------------------------ */
/* Invariants (for tests)                                               */
/* ------------------------------------------------------------------ */

/* The leaf depth of n (all equal), or -1 with *why set. */
static int check_node(const struct uvf_dma_node *n, bool root, uint64_t *prev, bool *have_prev, size_t *count,
		      const char **why)
{
	int depth = -2;

	if (!n->count || n->count > FAN || (!root && n->count < MIN_FILL)) {
		*why = "a node's entry count is out of bounds";
		return -1;
	}
	for (unsigned i = 0; i < n->count; i++) {
		if (n->leaf) {
			const struct uvf_dma_mapping *m = n->ptr[i];
			if (n->key[i] != m->address) {
				*why = "a leaf key is not its mapping's address";
				return -1;
			}
			if (*have_prev && m->address <= *prev) {
				*why = "mappings out of order or overlapping";
				return -1;
			}
			*prev = uvf__range_last(m->address, m->size);
			*have_prev = true;
			(*count)++;
			continue;
		}
		const struct uvf_dma_node *c = n->ptr[i];
		if (n->key[i] != c->key[0]) {
			*why = "an inner key is not its subtree's first address";
			return -1;
		}
		int d = check_node(c, false, prev, have_prev, count, why);
		if (d < 0)
			return -1;
		if (depth != -2 && d != depth) {
			*why = "leaves at different depths";
			return -1;
		}
		depth = d;
	}
	return n->leaf ? 1 : depth + 1;
}

const char *uvf__dma_table_check(const struct uvf_dma_table *t)
{
	const char *why = NULL;
	uint64_t prev = 0;
	bool have_prev = false;
	size_t count = 0;

	if (!t->root)
		return t->count || t->height ? "an empty tree with a count or a height" : NULL;
	int depth = check_node(t->root, true, &prev, &have_prev, &count, &why);
	if (depth < 0)
		return why;
	if (!t->root->leaf && t->root->count < 2)
		return "an inner root with one child";
	if ((unsigned)depth != t->height)
		return "the height is wrong";
	if (count != t->count)
		return "the count is wrong";
	return NULL;
}
