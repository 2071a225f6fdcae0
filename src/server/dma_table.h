/* SPDX-License-Identifier: MIT */
/*
 * The DMA table: the ranges of client memory the device may reach
 * (DMA_MAP/DMA_UNMAP), their lookup from any thread, and dirty-page
 * logging over them. It knows nothing of devices, sockets or callbacks:
 * dma.c decides what goes in and tells the device; this file keeps the
 * ranges, the lock and the bitmaps.
 *
 * Threads: one thread (the device's dispatch thread) changes the table,
 * under the write lock; any thread looks up under the read lock
 * (uvf__dma_table_read_lock). The changing thread may look up without it.
 */
#ifndef UVF_SERVER_DMA_TABLE_H
#define UVF_SERVER_DMA_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

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
	 * OR/AND by any thread; allocated and freed under the write lock */
	uint64_t *dirty;
	struct uvf_dma_mapping *prev, *next; /* the table's list, newest first */
};

struct uvf_dma_table {
	void *tree;                   /* tsearch tree; overlapping ranges compare equal */
	struct uvf_dma_mapping *list; /* the same mappings, newest first */
	size_t count;
	uint64_t gen;                 /* changes whenever a mapping goes (lookup cache) */
	pthread_rwlock_t lock;        /* writer-preferring */
	/* dirty logging: switched by the changing thread under the write lock */
	bool logging;                 /* atomic */
	unsigned shift;               /* log2 of the logging page size */
	struct uvf_msg_dma_logging_range *ranges; /* sorted; NULL/0 = everything */
	uint32_t nr_ranges;
};

/* An empty table: 0 or -errno (the lock). */
int uvf__dma_table_init(struct uvf_dma_table *t);
/* Free every mapping still held (no one is told) and the lock. */
void uvf__dma_table_destroy(struct uvf_dma_table *t);

void uvf__dma_table_read_lock(struct uvf_dma_table *t);
void uvf__dma_table_unlock(struct uvf_dma_table *t);

/* The mapping holding addr, or NULL (under the read lock, or by the
 * changing thread). The last hit of each thread is remembered. */
const struct uvf_dma_mapping *uvf__dma_table_find(const struct uvf_dma_table *t, uint64_t addr);
/* A mapping overlapping [addr, addr + size) (size > 0, no wrap), or NULL. */
const struct uvf_dma_mapping *uvf__dma_table_overlap(const struct uvf_dma_table *t, uint64_t addr, uint64_t size);

/* Add m (not overlapping anything: the caller checked) under the write
 * lock. While logging is on, an fd-backed m must already have its bitmap
 * (uvf__dma_table_new_bitmap). 0, or -ENOMEM with m not added. */
int uvf__dma_table_insert(struct uvf_dma_table *t, struct uvf_dma_mapping *m);
/* Take every mapping overlapping [addr, addr + size) out (write lock);
 * returns them as a list through ->next, NULL when none. */
struct uvf_dma_mapping *uvf__dma_table_take_range(struct uvf_dma_table *t, uint64_t addr, uint64_t size);
/* Empty the table; returns the list of every mapping, newest first. */
struct uvf_dma_mapping *uvf__dma_table_take_all(struct uvf_dma_table *t);
/* Unmap and free a mapping taken out of the table. */
void uvf__dma_mapping_free(struct uvf_dma_mapping *m);

/* The address in this process of [addr, addr + len) inside one fd-backed
 * mapping allowing prot, or NULL. Takes the read lock. */
void *uvf__dma_table_ptr(struct uvf_dma_table *t, uint64_t addr, size_t len, uint32_t prot);
/* [addr, addr + len) as iovecs over adjacent fd-backed mappings allowing
 * prot (adjacent pieces merged): the count, -EFAULT (a gap, a mapping
 * without fd, or a range that wraps), -EACCES (prot), -ENOSPC (more than
 * max_iov pieces). Takes the read lock. */
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
/* [addr, addr + len) of mapping m was written (any thread, under the read
 * lock, or the changing thread). */
void uvf__dma_table_log_mark(const struct uvf_dma_table *t, const struct uvf_dma_mapping *m, uint64_t addr,
			     uint64_t len);
/* [addr, addr + len) was written, wherever it lies (takes the read lock;
 * nothing when logging is off; parts outside every mapping are ignored). */
void uvf__dma_table_log_mark_range(struct uvf_dma_table *t, uint64_t addr, size_t len);

#endif /* UVF_SERVER_DMA_TABLE_H */
