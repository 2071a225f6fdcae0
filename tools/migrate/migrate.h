/* SPDX-License-Identifier: MIT */
/*
 * The migration driver behind uvf-migrate, kept apart from the program so
 * that tests can migrate devices of their own while a workload runs.
 * Built on the public client API only.
 *
 * The caller holds two connected clients, the source (a device running)
 * and the destination (a fresh device of the same type), with the guest
 * memory already mapped at the same DMA addresses on both (see
 * migrate_share_memory()). migrate_run() then:
 *   1. checks that both offer migration, show the same PCI identity, and
 *      are RUNNING or STOP (a stopped source skips pre-copy), and reads
 *      both config spaces (their size with REGION_INFO): everything it
 *      needs to know is learnt before either device changes state;
 *   2. puts the destination in RESUMING;
 *   3. starts DMA logging on the source over the guest memory;
 *   4. pre-copy (when the source offers PRE_COPY): rounds of reading the
 *      device's data and feeding it to the destination, and of reporting
 *      the pages the device dirtied (a VMM would copy them; here both
 *      servers map one memory, so they are only counted), until a round
 *      brings no more than the thresholds or max_rounds is reached;
 *   5. stop-and-copy: source STOP_COPY (the downtime starts), the rest of
 *      the data and the last dirty report, source STOP, destination STOP
 *      (it validates and applies the state), the source's config space
 *      copied to the destination by REGION_READ/REGION_WRITE, destination
 *      RUNNING (the downtime ends);
 *   6. DMA logging stopped on the source, which stays in STOP.
 * The commands sent in each state are the ones servers that follow
 * libvfio-user's rule accept (docs/migration.md): in STOP_COPY only
 * MIG_DATA_READ and DEVICE_FEATURE, in STOP only those and REGION_READ /
 * REGION_WRITE, in RESUMING only MIG_DATA_WRITE and DEVICE_FEATURE.
 * On any failure before the destination runs, the source is put back to
 * the state it was in (RUNNING, or STOP) with logging stopped, and the
 * destination is left as it is for the caller to discard (close it: its
 * state is half-loaded).
 */
#ifndef UVF_TOOLS_MIGRATE_H
#define UVF_TOOLS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uvf/client.h"

#define MIGRATE_MAX_ROUNDS 64

struct migrate_opts {
	uint64_t mem_iova;	 /* guest memory to log: [mem_iova, mem_iova + mem_size) */
	uint64_t mem_size;	 /* 0 = no memory, no logging */
	unsigned max_rounds;	 /* pre-copy rounds at most (1..MIGRATE_MAX_ROUNDS) */
	uint64_t converge_bytes; /* pre-copy ends after a round with at most this much data */
	uint64_t converge_pages; /* ... and at most this many dirty pages */
	unsigned round_delay_ms; /* pause between rounds (the time a VMM spends copying) */
	bool no_precopy;	 /* go straight to stop-and-copy */
	FILE *progress;		 /* one line per round, or NULL */
};

#define MIGRATE_OPTS_INIT                                                                                              \
	{                                                                                                              \
		0, 0, 8, 0, 0, 10, false, NULL                                                                         \
	}

struct migrate_result {
	bool precopy;	    /* the source offered PRE_COPY and it was used */
	bool logging;	    /* the source logged dirty pages */
	uint64_t page_size; /* logging granularity */
	unsigned rounds;    /* pre-copy rounds run */
	uint64_t round_bytes[MIGRATE_MAX_ROUNDS];
	uint64_t round_dirty[MIGRATE_MAX_ROUNDS];
	uint64_t precopy_bytes;	 /* device data moved during pre-copy */
	uint64_t stopcopy_bytes; /* ... and while stopped */
	uint64_t final_dirty;	 /* pages dirtied since the last round */
	uint64_t dirty_total;
	double downtime_ms; /* source STOP_COPY to destination RUNNING */
	double total_ms;
	char error[256]; /* what failed, when migrate_run() fails */
};

/*
 * Migrate as described above. Returns 0, or the negative errno of the
 * step that failed (result->error says which, in words).
 */
int migrate_run(struct uvf_client *src, struct uvf_client *dst, const struct migrate_opts *opts,
		struct migrate_result *result);

/*
 * Create size bytes of shared memory (a memfd), map it here (*ptr; owned by
 * the caller, munmap(*ptr, size)), and DMA_MAP it read-write at iova on
 * every client of clients[0..n). Returns 0 or a negative errno (nothing
 * left mapped here; the servers that got it keep it until their client
 * closes).
 */
int migrate_share_memory(struct uvf_client *const *clients, size_t n, uint64_t iova, size_t size, void **ptr);

#endif /* UVF_TOOLS_MIGRATE_H */
