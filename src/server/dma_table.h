/* SPDX-License-Identifier: MIT */
/*
 * The DMA table: the ranges of client memory the device may reach
 * (DMA_MAP/DMA_UNMAP), their lookup from any thread, and dirty-page
 * logging over them. It knows nothing of devices, sockets or callbacks:
 * dma.c decides what goes in and tells the device; this file keeps the
 * ranges, the tree and the bitmaps.
 *
 * Threads: one thread (the device's dispatch thread) changes the table;
 * any thread looks up inside a read-side section (uvf__dma_table_enter,
 * dma_readers.h), which takes no lock. The changing thread may look up
 * without one. What a change removes (mappings, tree nodes, bitmaps) is
 * freed only after every section that could see it has been left.
 */
#ifndef UVF_SERVER_DMA_TABLE_H
#define UVF_SERVER_DMA_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "server/dma_readers.h"
#include "uvf/proto.h"

struct uvf_dma_mapping {
	uint64_t address;
	uint64_t size;     /* > 0, address + size - 1 does not wrap */
	uint32_t prot;     /* UVF_DMA_MAP_FLAG_READ | WRITE */
	bool has_fd;       /* mapped from an fd (closed once mapped); else by message */
	uint64_t offset;   /* in fd */
	dev_t st_dev;      /* identity of the backing file, for duplicates */
	ino_t st_ino;
	void *map_base;    /* what mmap returned, NULL without fd */
	size_t map_len;
	uint8_t *vaddr;    /* address of `address` in this process, or NULL */
	/* dirty logging (fd-backed mappings, while logging is on): one bit per
	 * logging page from address >> shift, u64 words changed with atomic
	 * OR/AND by any thread. The pointer is atomic: set by the changing
	 * thread, freed by it after a grace period (dirty_old meanwhile). */
	uint64_t *dirty;
	uint64_t *dirty_old;
	struct uvf_dma_mapping *prev, *next; /* the table's list, newest first */
};

struct uvf_dma_node;

struct uvf_dma_table {
	struct uvf_dma_node *root;    /* atomic: a B+tree of the mappings by address */
	unsigned height;              /* levels of the tree, 0 when empty */
	struct uvf_dma_node *retired; /* replaced nodes, reused after a grace period */
	size_t nr_retired;
	struct uvf_dma_node *pool;    /* spare nodes: what changes take (dma_table.c) */
	size_t nr_pool;
	struct uvf_dma_mapping *list; /* the same mappings, newest first */
	size_t count;
	uint64_t gen;                 /* atomic: changes whenever a mapping goes (lookup cache) */
	/* dirty logging: switched by the changing thread */
	bool logging;                 /* atomic */
	unsigned shift;               /* atomic: log2 of the logging page size */
	struct uvf_msg_dma_logging_range *ranges; /* sorted; NULL/0 = everything */
	uint32_t nr_ranges;
};

/* An empty table: 0 (nothing can fail today). */
int uvf__dma_table_init(struct uvf_dma_table *t);
/* Free every mapping still held (no one is told) and the tree. */
void uvf__dma_table_destroy(struct uvf_dma_table *t);

/* A read-side section (dma_readers.h): the calling thread's record, or
 * NULL when out of memory (the first section of a thread). */
static inline struct uvf_dma_reader *uvf__dma_table_enter(void)
{
	return uvf__dma_read_enter();
}
static inline void uvf__dma_table_leave(struct uvf_dma_reader *r)
{
	uvf__dma_read_leave(r);
}

/* The tree walk behind uvf__dma_table_find_in (which see). */
const struct uvf_dma_mapping *uvf__dma_table_walk(const struct uvf_dma_table *t, struct uvf_dma_reader *r,
						  uint64_t addr, uint64_t gen);

/* The mapping holding addr, or NULL, inside the section whose record is r.
 * The last hit of each reader is remembered in r, named by the table and
 * its generation (which changes whenever a mapping goes): a hit checked
 * inside a section cannot be freed before the section ends. */
static inline const struct uvf_dma_mapping *uvf__dma_table_find_in(const struct uvf_dma_table *t,
								   struct uvf_dma_reader *r, uint64_t addr)
{
	uint64_t gen = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
	const struct uvf_dma_mapping *m = r->last_m;

	if (r->last_table == t && r->last_gen == gen && m && addr >= m->address && addr - m->address <= m->size - 1)
		return m;
	return uvf__dma_table_walk(t, r, addr, gen);
}
/* The address in this process of [addr, addr + len) (len > 0) when it lies
 * in the reader's last mapping, which allows prot and is fd-backed; else
 * NULL (look up then). Inside the section whose record is r. */
static inline uint8_t *uvf__dma_table_hit(const struct uvf_dma_table *t, const struct uvf_dma_reader *r,
					  uint64_t addr, uint64_t len, uint32_t prot)
{
	uint64_t off = addr - r->last_address;

	if (r->last_table == t && r->last_gen == __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE) &&
	    addr >= r->last_address && off <= r->last_size - 1 && len - 1 <= r->last_size - 1 - off &&
	    (r->last_prot & prot) == prot && r->last_vaddr)
		return r->last_vaddr + off;
	return NULL;
}

/* The same for the changing thread. */
const struct uvf_dma_mapping *uvf__dma_table_find(const struct uvf_dma_table *t, uint64_t addr);
/* A mapping overlapping [addr, addr + size) (size > 0, no wrap), or NULL. */
const struct uvf_dma_mapping *uvf__dma_table_overlap(const struct uvf_dma_table *t, uint64_t addr, uint64_t size);

/* Add m (not overlapping anything: the caller checked); changing thread,
 * O(log n). While logging is on, an fd-backed m must already have its
 * bitmap (uvf__dma_table_new_bitmap). 0, or -ENOMEM with m not added. */
int uvf__dma_table_insert(struct uvf_dma_table *t, struct uvf_dma_mapping *m);
/* Take every mapping overlapping [addr, addr + size) out; returns them as
 * a list through ->next, NULL when none, once no section can see them
 * any more (changing thread, not inside a section). */
struct uvf_dma_mapping *uvf__dma_table_take_range(struct uvf_dma_table *t, uint64_t addr, uint64_t size);
/* Empty the table; returns the list of every mapping, newest first, once
 * no section can see them any more. */
struct uvf_dma_mapping *uvf__dma_table_take_all(struct uvf_dma_table *t);
/* Unmap and free a mapping taken out of the table. */
void uvf__dma_mapping_free(struct uvf_dma_mapping *m);

/* The address in this process of [addr, addr + len) inside one fd-backed
 * mapping allowing prot, or NULL. Any thread (its own section). */
void *uvf__dma_table_ptr(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot);
/* [addr, addr + len) as iovecs over adjacent fd-backed mappings allowing
 * prot (adjacent pieces merged): the count, -EFAULT (a gap, a mapping
 * without fd, or a range that wraps), -EACCES (prot), -ENOSPC (more than
 * max_iov pieces), -ENOMEM (no section). Any thread (its own section). */
int uvf__dma_table_sg(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot, struct iovec *iov,
		      int max_iov);

/* ---- dirty logging ---- */
bool uvf__dma_table_logging(const struct uvf_dma_table *t);
/* Log at 2^shift-byte pages the ranges (sorted, not overlapping; nr 0 =
 * everything); ranges is taken (freed by stop or on failure). -ENOMEM. */
int uvf__dma_table_log_start(struct uvf_dma_table *t, unsigned shift, struct uvf_msg_dma_logging_range *ranges,
			     uint32_t nr);
void uvf__dma_table_log_stop(struct uvf_dma_table *t);
/* Whether [iova, last] lies inside one logged range (always, when
 * everything is logged). */
bool uvf__dma_table_log_covers(const struct uvf_dma_table *t, uint64_t iova, uint64_t last);
/* The bitmap a new fd-backed mapping needs while logging is on (changing
 * thread, before insert): 0 or -ENOMEM. Nothing to do when logging is off. */
int uvf__dma_table_new_bitmap(const struct uvf_dma_table *t, struct uvf_dma_mapping *m);
/* Read and clear [iova, iova + length) into bitmap (zeroed by the caller),
 * one bit per 2^shift bytes from iova (changing thread, logging on). */
void uvf__dma_table_log_report(struct uvf_dma_table *t, uint64_t iova, uint64_t length, unsigned shift,
			       uint64_t *bitmap);
/* Set the bits of [addr, addr + len) in dirty, m's bitmap. */
void uvf__dma_table_log_bits(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m, uint64_t *dirty,
			     uint64_t addr, uint64_t len);
/* [addr, addr + len) of mapping m was written (any thread, inside a
 * section, or the changing thread). */
static inline void uvf__dma_table_log_mark(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m,
					   uint64_t addr, uint64_t len)
{
	/* the bitmap is published after the shift it was sized with */
	uint64_t *dirty = __atomic_load_n(&m->dirty, __ATOMIC_ACQUIRE);

	if (dirty && len)
		uvf__dma_table_log_bits(t, m, dirty, addr, len);
}
/* [addr, addr + len) was written, wherever it lies (any thread, its own
 * section; nothing when logging is off; parts outside every mapping are
 * ignored). */
void uvf__dma_table_log_mark_range(struct uvf_dma_table *t, uint64_t addr, size_t len);

/* For tests: NULL when the tree is sound (sorted, not overlapping, every
 * node but the root at least a quarter full, leaves at one depth, count
 * and height right), else what is wrong. Changing thread. */
const char *uvf__dma_table_check(const struct uvf_dma_table *t);

#endif /* UVF_SERVER_DMA_TABLE_H */
