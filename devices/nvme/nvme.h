/* SPDX-License-Identifier: MIT */
/*
 * An NVMe 1.4 controller with one namespace, built on the public uvf server
 * API. Used by the uvf-nvme program and, in-process, by integration tests.
 *
 * Live migration (always on; PRE_COPY offered and empty, the whole state
 * goes in STOP_COPY). The namespace is NOT in the stream: source and
 * destination must open the same backing file (a RAM namespace does not
 * survive migration); a stream from a controller with another namespace
 * size or number of I/O queue pairs is refused. Stream: the envelope of
 * devices/common/devmig.h, tag "NVME", version 4 (version 1 streams, with
 * one completion record per SQ in another layout and no shadow doorbells,
 * and version 3 streams, which end after the shadow doorbells, are still
 * read; version 2 was never released and is refused), payload
 * (little-endian):
 * u32 I/O queue pairs, u64 namespace bytes, u32 8192 + BAR0 bytes
 * 0..0x1fff (CAP, VS, INTMS, CC, CSTS, AQA, ASQ, ACQ, doorbells), u8
 * enabled, u32 CSTS, u32 interrupt mask, u32 features (arbitration, power
 * management, volatile write cache, interrupt coalescing, async event
 * configuration), u64 SMART counters (units read, units written, read
 * commands, write commands), u32 held asynchronous event requests + u16
 * command id each, then per queue id 0..queues: SQ (u8 valid, u16
 * CQ id, u32 size, head, tail, u64 base, u32 commands recorded at
 * quiesce (at most 64; 1 for the admin SQ), each: u8 kind (1 post,
 * 2 repost, 3 run again), u16 status, u16 command id, u32 dw0, u32 CQ
 * slot, 4 x u32 completion entry, 16 x u32 submission entry) and CQ (u8
 * valid, u8 interrupts enabled, u8 phase, u16 vector, u32 size, head,
 * tail, u64 base), then the shadow doorbells (u8 configured, u64 shadow
 * doorbell page, u64 EventIdx page; 0 when not configured), then (version
 * 4) 2 x u64 Coalescing Disable bits of vectors 0..queues, u8 error events
 * waiting for delivery (bit 0 Invalid Doorbell Register, bit 1 Invalid
 * Doorbell Write Value), u8 error events masked, u64 error log entries,
 * u16 queue id of the last. Queue shapes, ids, vectors, slots, event bits
 * and the pages' alignment are checked before anything is applied
 * (-EINVAL).
 *
 * I/O in flight. An I/O SQ keeps up to 64 commands in flight. Message-based
 * DMA is asynchronous and its completion is delivered by the dispatch
 * thread, the one running the migration callback: quiesce cannot wait for
 * it. I/O on the backing file can be waited for, and is. Then quiesce
 * stops fetching and records each command in flight: still moving data
 * (nothing done yet: reads and writes are idempotent, and admin commands
 * act only when their completion is decided), it is run again on resume
 * from its recorded entry; its completion decided (being written, or
 * waiting for room in a full CQ, or its file I/O just drained), the
 * completion is recorded and posted on resume. Entries still being
 * fetched are fetched again (the SQ head had not moved past them). On
 * resume (source or destination) recorded commands are finished, INTx is
 * driven from the CQs, and after a load every CQ holding unconsumed
 * entries is signalled
 * once (a spurious interrupt is harmless; one the source had latched is
 * not lost). Doorbells written while stopped are kept and served on
 * resume. Config space, the MSI-X table and IRQ wiring are the VMM's.
 *
 * Workers: the I/O queue pairs are spread over workers (opts.workers),
 * each with its own lock and I/O engine (devices/nvme/worker.c); the
 * engine's threads run their queues' completions, the dispatch thread
 * MMIO doorbells, admin commands and message-based DMA replies, the
 * shadow doorbell poller new shadow tails. A RAM namespace has no engine:
 * its I/O runs on whichever of those threads starts it.
 *
 * Interrupt coalescing: the aggregation threshold and time (Set Features
 * 08h), and Coalescing Disable per vector (09h); see coalesce.c.
 * Asynchronous events: error status events for doorbell writes the
 * controller cannot take; see events.c.
 *
 * Shadow doorbells (Doorbell Buffer Config, Identify OACS bit 8): taken
 * only in client memory mapped with an fd; on private memory the command
 * fails with Invalid Field and the host keeps MMIO doorbells. A poller
 * thread reads the shadow SQ tails while I/O flows and goes back to
 * doorbell writes (and sleeps) when idle. See dbbuf.c.
 */
#ifndef UVF_DEVICES_NVME_H
#define UVF_DEVICES_NVME_H

#include <stdint.h>

#include "uvf/server.h"

#define UVF_NVME_VENDOR_ID   0x1de0
#define UVF_NVME_DEVICE_ID   0x0010
#define UVF_NVME_MAX_QUEUES  64 /* I/O queue pairs */
#define UVF_NVME_MAX_WORKERS 16

struct uvf_nvme_opts {
	const char *backing; /* file or block device, or NULL for RAM */
	uint64_t size;	     /* bytes of RAM when backing is NULL */
	unsigned queues;     /* I/O queue pairs, 1..UVF_NVME_MAX_QUEUES */
	const char *serial;  /* up to 20 characters; NULL = "uvf0001" */
	int shadow_poll_us;  /* shadow doorbells: poll them this long after the last
			      * new submission (microseconds, at most 10000000);
			      * 0 = the default (1000), -1 = no polling */
	unsigned workers;    /* workers the I/O queue pairs are spread over, each with
			      * its own lock and engine threads, at most
			      * UVF_NVME_MAX_WORKERS and the queue count;
			      * 0 = one per CPU, at most one per queue pair */
	const char *state_file; /* the crash record (devices/nvme/crash.c), or NULL:
				 * when the controller that last used it was
				 * enabled, this one starts with CSTS.CFS and RDY
				 * set, for the host to reset it */
};

/*
 * The model, in the shape of every uvf device model (devices/):
 * uvf_nvme_create() makes the controller and its device, described but
 * not listening; go on with uvf_device_listen() or uvf_device_listen_fd()
 * on uvf_nvme_device(), then serve it. The device owns the controller:
 * uvf_nvme_destroy(), or uvf_device_free() on its device, frees both,
 * after flushing the backing; NULL is fine. The device's user data
 * pointer stays free for the caller. create returns 0, -EINVAL for bad
 * opts (required), or a negative errno.
 */
struct uvf_nvme;

int uvf_nvme_create(struct uvf_nvme **out, const struct uvf_nvme_opts *opts);
struct uvf_device *uvf_nvme_device(struct uvf_nvme *n);
void uvf_nvme_destroy(struct uvf_nvme *n);

/* fsync the backing file (no-op for RAM). */
int uvf_nvme_flush(struct uvf_nvme *n);

#endif /* UVF_DEVICES_NVME_H */
