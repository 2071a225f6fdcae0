/* SPDX-License-Identifier: MIT */
/*
 * The MSI-X table and pending bit array (internal): pure state, no I/O.
 *
 * Both live in BARs of the device; the server routes REGION_READ/WRITE
 * pieces that fall in their ranges here (uvf__msix_split tells which).
 * Table entries are 16 bytes: message address (low bits 1:0 read 0), upper
 * address, data, vector control (only the mask bit, bit 0, is writable);
 * each entry starts masked with address and data 0. The PBA is read-only:
 * its bits are set and cleared by the interrupt code.
 */
#ifndef UVF_SERVER_MSIX_H
#define UVF_SERVER_MSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UVF_MSIX_ENTRY_SIZE 16u

struct uvf_msix {
	uint32_t count; /* 0: no MSI-X capability */
	unsigned table_bar, pba_bar;
	uint64_t table_offset, pba_offset;
	uint8_t *table;	    /* count entries, little-endian */
	uint64_t *pba;	    /* (count + 63) / 64 words of pending bits */
	bool table_written; /* the client wrote the table (since reset or connect) */
};

/* Allocate a table of count (1..2048) vectors placed as described, and
 * reset it. -EINVAL for a count out of range, -ENOMEM. */
int uvf__msix_init(struct uvf_msix *m, uint32_t count, unsigned table_bar, uint64_t table_offset, unsigned pba_bar,
		   uint64_t pba_offset);
void uvf__msix_free(struct uvf_msix *m);

/* Every entry masked, address and data 0, no pending bit, table_written
 * false: the state after a function reset. */
void uvf__msix_reset(struct uvf_msix *m);

/* Size in bytes of the PBA (whole 64-bit words). */
uint64_t uvf__msix_pba_size(const struct uvf_msix *m);

/* Of an access at [offset, offset + len) (len > 0) of BAR `bar`: the
 * length of its leading piece that lies entirely inside or entirely
 * outside the table and the PBA, and whether that piece is theirs. */
uint64_t uvf__msix_split(const struct uvf_msix *m, unsigned bar, uint64_t offset, uint64_t len, bool *ours);

/* Read or write a piece uvf__msix_split() called ours. Table writes go
 * through the entry masks and set table_written; PBA writes are ignored. */
void uvf__msix_access(struct uvf_msix *m, unsigned bar, uint64_t offset, void *buf, size_t len, bool is_write);

/* The mask bit of entry v's vector control (true for v out of range). */
bool uvf__msix_entry_masked(const struct uvf_msix *m, uint32_t v);

/* Set or clear pending bit v (ignored out of range). */
void uvf__msix_set_pending(struct uvf_msix *m, uint32_t v, bool pending);
bool uvf__msix_pending(const struct uvf_msix *m, uint32_t v);

#endif /* UVF_SERVER_MSIX_H */
