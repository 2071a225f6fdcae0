/* SPDX-License-Identifier: MIT */
/*
 * uvf-nvme migrates: a source and a destination server of this process, a
 * small NVMe driver in the test whose state moves with the device; I/O in
 * flight, completions waiting for room, doorbells rung while stopped and
 * shadow doorbells go on at the destination; broken streams are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/devmig.h"
#include "dmatest/dmatest.h"
#include "harness.h"
#include "idio16/idio16.h"
#include "nvme/nvme.h"

#include "migration_pair.h"
#include "nvme_drv.h"

/* ------------------------------------------------------------------ */
/* nvme                                                                 */
/* ------------------------------------------------------------------ */

#define NSIZE	 (4u << 20)
#define NQ	 2u
#define QDEPTH	 DRV_QDEPTH
#define ASQ_OFF	 0x0000u
#define ACQ_OFF	 0x1000u
#define BUF_OFF	 0x6000u
#define DATA_OFF 0x10000u

static const uint32_t sq_offs[DRV_QUEUES] = {ASQ_OFF, 0x2000, 0x4000};
static const uint32_t cq_offs[DRV_QUEUES] = {ACQ_OFF, 0x3000, 0x5000};

static void io_sqe(uint32_t *sqe, uint8_t opc, uint64_t slba, uint32_t off)
{
	memset(sqe, 0, 64);
	sqe[0] = opc;
	sqe[1] = 1;
	sqe[6] = (uint32_t)(IOVA + off);
	sqe[7] = (uint32_t)((IOVA + off) >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	sqe[12] = 7; /* 8 blocks: one page */
}

/* Write then read back one page at slba through queue q. */
static void page_roundtrip(struct drv *d, unsigned q, uint64_t slba, uint8_t fill)
{
	uint32_t sqe[16];
	uint32_t off = DATA_OFF + q * 0x1000u;
	memset(d->mem + off, fill, 4096);
	io_sqe(sqe, 0x01, slba, off);
	assert_int_equal(drv_cmd(d, q, sqe, NULL), 0);
	memset(d->mem + off, 0, 4096);
	io_sqe(sqe, 0x02, slba, off);
	assert_int_equal(drv_cmd(d, q, sqe, NULL), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d->mem[off + i], fill);
}

struct nvme_pair {
	struct server src, dst;
	char backing[64];
	uint8_t *mem;
};

static void start_nvme_pair_polled(struct nvme_pair *p, uint64_t dst_size, int poll_us)
{
	struct uvf_device *a, *b;
	strcpy(p->backing, "/tmp/uvf-mig-nvme-XXXXXX");
	int fd = mkstemp(p->backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	struct uvf_nvme_opts opts = {
		.backing = p->backing, .queues = NQ, .serial = "MIGTEST", .shadow_poll_us = poll_us};
	struct uvf_nvme *nvme_a;
	assert_int_equal(uvf_nvme_create(&nvme_a, &opts), 0);
	a = uvf_nvme_device(nvme_a);
	server_start(&p->src, a, NULL, "src");
	if (dst_size != NSIZE) {
		opts.backing = NULL; /* another namespace */
		opts.size = dst_size;
	}
	struct uvf_nvme *nvme_b;
	assert_int_equal(uvf_nvme_create(&nvme_b, &opts), 0);
	b = uvf_nvme_device(nvme_b);
	server_start(&p->dst, b, NULL, "dst");
	p->mem = share_memory(&p->src, &p->dst);
}

static void start_nvme_pair(struct nvme_pair *p, uint64_t dst_size)
{
	start_nvme_pair_polled(p, dst_size, 0);
}

static void stop_nvme_pair(struct nvme_pair *p)
{
	munmap(p->mem, MEM_SIZE);
	server_stop(&p->dst);
	server_stop(&p->src);
	unlink(p->backing);
}

/* A driver on the pair's shared guest memory, not yet wired. */
static void drv_init(struct drv *d, uint8_t *mem)
{
	memset(d, 0, sizeof(*d));
	d->mem = mem;
	d->iova = IOVA;
	d->sq_offs = sq_offs;
	d->cq_offs = cq_offs;
}

/* Enable, create two I/O queue pairs (CQ n on vector n), do some I/O. */
static void drv_bring_up(struct drv *d)
{
	drv_reset_rings(d);
	drv_enable_regs(d);
	for (unsigned q = 1; q <= NQ; q++)
		drv_create_io_pair(d, q, q);
}

static void nvme_continues_on_the_destination_in_the_next_slot(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t dw0 = 0, sqe[16];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c); /* the destination VMM's wiring, done up front */
	drv_bring_up(&d);
	/* features: coalescing and volatile write cache */
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 0x0305, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x06, 1, NULL), 0);
	/* heads and tails mid-ring: 5 round trips on queue 1, 3 on queue 2 */
	for (unsigned i = 0; i < 5; i++)
		page_roundtrip(&d, 1, 8 * i, (uint8_t)(0x10 + i));
	for (unsigned i = 0; i < 3; i++)
		page_roundtrip(&d, 2, 800 + 8 * i, (uint8_t)(0x20 + i));
	/* four asynchronous event requests, held (the controller's limit) */
	uint32_t aer[16] = {0x0c};
	for (unsigned i = 0; i < 4; i++) {
		memset(aer, 0, sizeof(aer));
		aer[0] = 0x0c;
		(void)drv_queue(&d, 0, aer);
	}
	drv_ring(&d, 0);
	/* an admin command after them completes: the AERs were taken */
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x08, 0, &dw0), 0);
	assert_int_equal(dw0, 0x0305);
	uint32_t regs[16];
	for (unsigned i = 0; i < 16; i++)
		regs[i] = drv_rd32(&d, i * 4);
	/* a write rung just before the stop: in flight during the migration */
	memset(d.mem + DATA_OFF + 0x8000, 0x77, 4096);
	io_sqe(sqe, 0x01, 2000, DATA_OFF + 0x8000);
	uint16_t inflight = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);

	migrate(&p.src, &p.dst);

	/* the destination driver is the source's, on the other client */
	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned i = 0; i < 16; i++) /* CAP, VS, INTMS, CC, CSTS, AQA, ASQ, ACQ */
		assert_int_equal(drv_rd32(&moved, i * 4), regs[i]);
	assert_int_equal(drv_rd32(&moved, 0x1c) & 3, 1); /* ready, no fatal status */
	/* the command in flight completes there, in the slot and phase expected */
	assert_int_equal(drv_wait(&moved, 1, inflight, NULL), 0);
	/* and the next commands use the next slots: 20 more on queue 1 wrap
	 * its rings and flip the phase */
	for (unsigned i = 0; i < 10; i++)
		page_roundtrip(&moved, 1, 100 + 8 * i, (uint8_t)(0x40 + i));
	assert_false(moved.phase[1]);
	page_roundtrip(&moved, 2, 900, 0x55);
	/* data written before the move is there (the backing file is shared) */
	io_sqe(sqe, 0x02, 2000, DATA_OFF + 0x9000);
	assert_int_equal(drv_cmd(&moved, 2, sqe, NULL), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + 0x9000 + i], 0x77);
	io_sqe(sqe, 0x02, 8, DATA_OFF + 0x9000);
	assert_int_equal(drv_cmd(&moved, 1, sqe, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF + 0x9000], 0x11);
	/* features migrated */
	assert_int_equal(drv_admin(&moved, 0x0a, 0, 0, 0x08, 0, &dw0), 0);
	assert_int_equal(dw0, 0x0305);
	assert_int_equal(drv_admin(&moved, 0x0a, 0, 0, 0x06, 0, &dw0), 0);
	assert_int_equal(dw0, 1);
	/* the four held AERs came along: a fifth is over the limit */
	memset(aer, 0, sizeof(aer));
	aer[0] = 0x0c;
	assert_int_equal(drv_cmd(&moved, 0, aer, NULL), 0x105);
	/* SMART counters went on from the source's: 5 + 3 + 10 + 1 + 2 reads */
	assert_int_equal(drv_admin(&moved, 0x02, 0, IOVA + BUF_OFF, 2 | 127u << 16, 0, NULL), 0);
	uint64_t reads = 0, writes = 0;
	memcpy(&reads, d.mem + BUF_OFF + 64, 8);
	memcpy(&writes, d.mem + BUF_OFF + 80, 8);
	assert_int_equal(reads, 5 + 3 + 10 + 1 + 2);
	assert_int_equal(writes, 5 + 3 + 1 + 10 + 1);
	/* the interrupts of the moved queues work */
	assert_true(harness_wait_eventfd(moved.efd[1], FIRES_MS) > 0);

	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* Shadow doorbells: the host writes the tail (or head) in its shadow page
 * and rings only when the new value passes EventIdx (Linux's rule). */
#define DBS_OFF 0x7000u
#define EIS_OFF 0x8000u

static bool shadow_publish(struct drv *d, uint32_t slot, uint32_t value)
{
	uint32_t *db = (uint32_t *)(void *)(d->mem + DBS_OFF + slot * 4);
	const uint32_t *ei = (const uint32_t *)(const void *)(d->mem + EIS_OFF + slot * 4);
	/* sequentially consistent: a full barrier between store and load */
	uint16_t old = (uint16_t)__atomic_exchange_n(db, value, __ATOMIC_SEQ_CST);
	uint16_t event_idx = (uint16_t)__atomic_load_n(ei, __ATOMIC_SEQ_CST);
	if ((uint16_t)((uint16_t)value - event_idx - 1) >= (uint16_t)((uint16_t)value - old))
		return false;
	drv_wr32(d, 0x1000 + slot * 4, value);
	return true;
}

/* One page written and read back on queue q through the shadow doorbells;
 * counts the doorbells rung. */
static void shadow_page_roundtrip(struct drv *d, unsigned q, uint64_t slba, uint8_t fill, unsigned *rings)
{
	uint32_t sqe[16], off = DATA_OFF + q * 0x1000u;
	for (int pass = 0; pass < 2; pass++) {
		memset(d->mem + off, pass ? 0 : fill, 4096);
		io_sqe(sqe, pass ? 0x02 : 0x01, slba, off);
		uint16_t cid = drv_queue(d, q, sqe);
		*rings += shadow_publish(d, 2 * q, d->sq_tail[q]);
		const uint8_t *slot = d->mem + cq_offs[q] + d->cq_head[q] * 16;
		int i;
		for (i = 0; i < 20000; i++) {
			uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(slot + 12), __ATOMIC_ACQUIRE);
			if ((bool)(dw3 >> 16 & 1) == d->phase[q])
				break;
			(void)drv_rd32(d, 0x1c);
		}
		assert_true(i < 20000);
		uint32_t cqe[4];
		memcpy(cqe, slot, 16);
		assert_int_equal(cqe[3] & 0xffff, cid);
		assert_int_equal(cqe[3] >> 17 & 0x7ff, 0);
		if (++d->cq_head[q] == QDEPTH) {
			d->cq_head[q] = 0;
			d->phase[q] = !d->phase[q];
		}
		*rings += shadow_publish(d, 2 * q + 1, d->cq_head[q]);
	}
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d->mem[off + i], fill);
}

/* The shadow doorbell pages travel: the destination polls them, and a
 * host that writes only the shadow doorbells goes on there. */
static void nvme_shadow_doorbells_go_on_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	unsigned rings = 0;
	(void)state;

	start_nvme_pair_polled(&p, NSIZE, 10000000); /* polled longer than the test runs */
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	uint32_t sqe[16] = {0x7c};
	sqe[6] = (uint32_t)(IOVA + DBS_OFF);
	sqe[7] = (uint32_t)((IOVA + DBS_OFF) >> 32);
	sqe[8] = (uint32_t)(IOVA + EIS_OFF);
	sqe[9] = (uint32_t)((IOVA + EIS_OFF) >> 32);
	assert_int_equal(drv_cmd(&d, 0, sqe, NULL), 0);
	for (unsigned i = 0; i < 5; i++)
		shadow_page_roundtrip(&d, 1, 8 * i, (uint8_t)(0x10 + i), &rings);
	assert_int_equal(rings, 0);

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned i = 0; i < 12; i++) {
		shadow_page_roundtrip(&moved, 1, 100 + 8 * i, (uint8_t)(0x40 + i), &rings);
		shadow_page_roundtrip(&moved, 2, 300 + 8 * i, (uint8_t)(0x60 + i), &rings);
	}
	assert_int_equal(rings, 0);

	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* With DMA by message every step of a command is a round trip: commands
 * rung (posted) right before the stop are caught mid-way, each at some
 * step, and complete on the destination exactly once, in order. */
static void nvme_io_in_flight_at_the_stop_completes_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	uint16_t cid[NQ + 1][3];
	struct uvf_device *a, *b;
	(void)state;

	/* like start_nvme_pair(), with memory by message */
	strcpy(p.backing, "/tmp/uvf-mig-nvme-XXXXXX");
	int fd = mkstemp(p.backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	struct uvf_nvme_opts opts = {.backing = p.backing, .queues = NQ, .serial = "MIGTEST"};
	struct uvf_nvme *nvme_a;
	assert_int_equal(uvf_nvme_create(&nvme_a, &opts), 0);
	a = uvf_nvme_device(nvme_a);
	server_start(&p.src, a, NULL, "src");
	struct uvf_nvme *nvme_b;
	assert_int_equal(uvf_nvme_create(&nvme_b, &opts), 0);
	b = uvf_nvme_device(nvme_b);
	server_start(&p.dst, b, NULL, "dst");
	p.mem = share_memory_by(&p.src, &p.dst, true);

	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x61);
	/* three commands per I/O queue, in flight together: write, read of
	 * what the round trip wrote, write */
	for (unsigned q = 1; q <= NQ; q++) {
		uint32_t off = DATA_OFF + 0x4000u * q;
		memset(d.mem + off, (int)(0x70 + q), 4096);
		io_sqe(sqe, 0x01, 3000 + 8 * q, off);
		cid[q][0] = drv_queue(&d, q, sqe);
		io_sqe(sqe, 0x02, 0, off + 0x1000);
		cid[q][1] = drv_queue(&d, q, sqe);
		io_sqe(sqe, 0x01, 3100 + 8 * q, off);
		cid[q][2] = drv_queue(&d, q, sqe);
	}
	for (unsigned q = 1; q <= NQ; q++) {
		uint32_t tail = d.sq_tail[q];
		assert_int_equal(uvf_client_region_write_posted(d.c, 0, 0x1000 + 8 * q, &tail, 4), 0);
	}

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned q = 1; q <= NQ; q++) {
		bool seen[3] = {false, false, false};
		for (unsigned k = 0; k < 3; k++) {
			uint16_t got;
			assert_int_equal(drv_wait_any(&moved, q, &got), 0);
			unsigned which = got == cid[q][0] ? 0 : got == cid[q][1] ? 1 : got == cid[q][2] ? 2 : 3;
			assert_true(which < 3);
			assert_false(seen[which]); /* each completes once */
			seen[which] = true;
		}
		for (unsigned i = 0; i < 4096; i++)
			assert_int_equal(d.mem[DATA_OFF + 0x4000u * q + 0x1000 + i], 0x61);
	}
	/* nothing more comes: each ran once */
	usleep(20000);
	for (unsigned q = 1; q <= NQ; q++) {
		const uint8_t *slot = d.mem + cq_offs[q] + moved.cq_head[q] * 16;
		assert_int_not_equal((bool)(slot[14] & 1), moved.phase[q]);
	}
	page_roundtrip(&moved, 2, 3200, 0x62);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* A completion that waits for room in a full CQ when the stop comes is
 * posted on the destination once the host frees an entry there. */
static void nvme_completion_waiting_for_cq_room_is_posted_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	uint16_t cid[QDEPTH];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	/* fill CQ 1 (15 entries) without consuming any */
	for (unsigned k = 0; k < QDEPTH - 1; k++) {
		io_sqe(sqe, 0x02, 8 * k, DATA_OFF);
		cid[k] = drv_queue(&d, 1, sqe);
	}
	drv_ring(&d, 1);
	const uint8_t *last = d.mem + cq_offs[1] + (QDEPTH - 2) * 16;
	for (int i = 0; i < 20000 && !(last[14] & 1); i++)
		(void)drv_rd32(&d, 0x1c);
	assert_true(last[14] & 1);
	/* one more: executed, its completion has nowhere to go */
	io_sqe(sqe, 0x02, 800, DATA_OFF);
	cid[QDEPTH - 1] = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);
	for (int i = 0; i < 50; i++)
		(void)drv_rd32(&d, 0x1c);

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	/* the first 15 in any order (they ran together), the waiting one last */
	bool seen[QDEPTH] = {false};
	for (unsigned n = 0; n < QDEPTH - 1; n++) {
		uint16_t got;
		assert_int_equal(drv_wait_any(&moved, 1, &got), 0);
		unsigned k = 0;
		while (k < QDEPTH - 1 && cid[k] != got)
			k++;
		assert_true(k < QDEPTH - 1);
		assert_false(seen[k]);
		seen[k] = true;
	}
	assert_int_equal(drv_wait(&moved, 1, cid[QDEPTH - 1], NULL), 0);
	assert_false(moved.phase[1]); /* the ring wrapped */
	page_roundtrip(&moved, 1, 900, 0x63);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

static void nvme_doorbell_rung_while_stopped_is_served_after_resume(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x99);
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_STOP), 0);
	io_sqe(sqe, 0x02, 0, DATA_OFF + 0x8000);
	uint16_t cid = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);
	usleep(50000);
	assert_int_equal(d.mem[DATA_OFF + 0x8000], 0); /* stopped: no DMA */
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(drv_wait(&d, 1, cid, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF + 0x8000], 0x99);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

static void nvme_refuses_broken_streams_and_the_source_runs_on(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream;
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x31);
	size_t len = save_stream(d.c, &stream);
	broken_streams_are_refused(&p.src, &p.dst, stream, len);
	free(stream);
	page_roundtrip(&d, 1, 8, 0x32);
	page_roundtrip(&d, 2, 16, 0x33);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

static void nvme_refuses_a_stream_for_another_namespace(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream;
	(void)state;

	start_nvme_pair(&p, NSIZE * 2);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	size_t len = save_stream(d.c, &stream);
	assert_int_equal(load_stream(p.dst.c, stream, len), -EINVAL);
	free(stream);
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_RUNNING), 0);
	page_roundtrip(&d, 1, 0, 0x44);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

/* A copy of n bytes from the reader into the writer. */
static void copy_bytes(struct devmig_reader *r, struct devmig_writer *w, size_t n)
{
	assert_true(r->len - r->pos >= n);
	devmig_put_bytes(w, r->p + r->pos, n);
	r->pos += n;
}

/* The fields version 4 adds at the end: Coalescing Disable bits, events
 * waiting, mask, error log entries and queue. */
#define V4_TAIL (8 + 8 + 1 + 1 + 8 + 2)

/*
 * The version 4 stream of an idle controller rewritten in the version 1
 * layout (each SQ carries one completion record (kind 0: none) instead of
 * a list, no shadow doorbell fields) or the version 3 one (without the
 * version 4 tail). *out is malloc'ed.
 */
static size_t nvme_stream_as(uint32_t version, const uint8_t *v4, size_t len, uint8_t **out)
{
	struct devmig r_env;
	struct devmig_reader r;
	struct devmig_writer w;
	uint32_t read_version;
	size_t out_len;

	memset(&r_env, 0, sizeof(r_env));
	devmig_load_begin(&r_env, 1u << 20);
	assert_int_equal(devmig_load(&r_env, v4, len), 0);
	assert_int_equal(devmig_load_finish(&r_env, 0x454d564eu, 4, &r, &read_version), 0);
	assert_int_equal(read_version, 4);
	devmig_writer_begin(&w, 0x454d564eu, version);
	if (version == 3) {
		assert_true(r.len - r.pos >= V4_TAIL);
		copy_bytes(&r, &w, r.len - r.pos - V4_TAIL);
		static const uint8_t idle_tail[V4_TAIL];
		assert_memory_equal(r.p + r.pos, idle_tail, V4_TAIL);
		assert_int_equal(devmig_writer_finish(&w, out, &out_len), 0);
		devmig_clear(&r_env);
		return out_len;
	}
	uint32_t nq = devmig_get_u32(&r);
	devmig_put_u32(&w, nq);
	copy_bytes(&r, &w, 8); /* namespace bytes */
	uint32_t nregs = devmig_get_u32(&r);
	devmig_put_u32(&w, nregs);
	copy_bytes(&r, &w, nregs);
	copy_bytes(&r, &w, 1 + 4 * 7 + 8 * 4); /* enabled, CSTS, INTMS, features, SMART */
	uint32_t aer = devmig_get_u32(&r);
	devmig_put_u32(&w, aer);
	copy_bytes(&r, &w, 2 * (size_t)aer);
	for (unsigned i = 0; i <= nq; i++) {
		copy_bytes(&r, &w, 1 + 2 + 4 * 3 + 8);	 /* the SQ */
		assert_int_equal(devmig_get_u32(&r), 0); /* idle: nothing recorded */
		static const uint8_t none[1 + 2 + 2 + 4 + 4 + 16];
		devmig_put_bytes(&w, none, sizeof(none));
		copy_bytes(&r, &w, 3 + 2 + 4 * 3 + 8); /* the CQ */
	}
	assert_int_equal(devmig_get_u8(&r), 0); /* no shadow doorbells */
	assert_int_equal(devmig_get_u64(&r), 0);
	assert_int_equal(devmig_get_u64(&r), 0);
	static const uint8_t idle_tail[V4_TAIL];
	assert_true(r.len - r.pos == V4_TAIL);
	assert_memory_equal(r.p + r.pos, idle_tail, V4_TAIL);
	r.pos += V4_TAIL;
	assert_int_equal(devmig_reader_end(&r), 0);
	assert_int_equal(devmig_writer_finish(&w, out, &out_len), 0);
	devmig_clear(&r_env);
	return out_len;
}

/* The stream with its version replaced (CRC made right again). */
static void set_version(uint8_t *buf, size_t len, uint32_t version)
{
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(version >> (8 * i));
	uint32_t crc = devmig_crc32(0, buf, len - 4);
	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/* A version 1 stream (released before commands in flight and shadow
 * doorbells) and a version 3 one (before events and Coalescing Disable)
 * load and the destination runs on; a version 2 one (never released, in
 * either of its layouts) is refused. */
static void nvme_reads_versions_1_and_3_and_refuses_version_2(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream, *v1, *v3;
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x51);
	page_roundtrip(&d, 2, 8, 0x52);
	size_t len = save_stream(d.c, &stream);
	size_t v1_len = nvme_stream_as(1, stream, len, &v1);
	size_t v3_len = nvme_stream_as(3, stream, len, &v3);
	/* version 2 with either body: refused, the destination stays usable */
	set_version(stream, len, 2);
	assert_int_equal(load_stream(p.dst.c, stream, len), -EINVAL);
	assert_int_equal(uvf_client_reset(p.dst.c), 0);
	set_version(v1, v1_len, 2);
	assert_int_equal(load_stream(p.dst.c, v1, v1_len), -EINVAL);
	assert_int_equal(uvf_client_reset(p.dst.c), 0);
	assert_int_equal(load_stream(p.dst.c, v3, v3_len), 0);
	assert_int_equal(uvf_client_reset(p.dst.c), 0);
	set_version(v1, v1_len, 1);
	assert_int_equal(load_stream(p.dst.c, v1, v1_len), 0);
	free(stream);
	free(v1);
	free(v3);
	assert_int_equal(uvf_client_set_migration_state(p.src.c, UVF_MIGRATION_STATE_STOP), 0);
	assert_int_equal(uvf_client_set_migration_state(p.dst.c, UVF_MIGRATION_STATE_RUNNING), 0);
	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	assert_int_equal(drv_rd32(&moved, 0x1c) & 3, 1); /* ready, no fatal status */
	page_roundtrip(&moved, 1, 16, 0x53);
	page_roundtrip(&moved, 2, 24, 0x54);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* An error event no AER was held for, the error log and Coalescing
 * Disable on vector 1 move with the controller. */
static void nvme_event_and_coalescing_disable_go_on_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t dw0 = 0;
	(void)state;

	start_nvme_pair(&p, NSIZE);
	drv_init(&d, p.mem);
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x09, 1u | 1u << 16, NULL), 0);
	drv_wr32(&d, 0x1000 + 8 * 1, QDEPTH); /* SQ 1 tail past the queue: an event, no AER held */
	page_roundtrip(&d, 1, 0, 0x61);	   /* the queue is unharmed */

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	assert_int_equal(drv_admin(&moved, 0x0a, 0, 0, 0x09, 1, &dw0), 0);
	assert_int_equal(dw0, 1u | 1u << 16);
	uint32_t aer[16] = {0x0c};
	uint16_t cid = drv_queue(&moved, 0, aer);
	drv_ring(&moved, 0);
	assert_int_equal(drv_wait(&moved, 0, cid, &dw0), 0);
	assert_int_equal(dw0, 0x010100u); /* error status, Invalid Doorbell Write Value, log 01h */
	memset(d.mem + BUF_OFF, 0, 64);
	assert_int_equal(drv_admin(&moved, 0x02, 0, IOVA + BUF_OFF, 1 | 15u << 16, 0, NULL), 0);
	uint64_t count = 0;
	uint16_t sqid = 0;
	memcpy(&count, d.mem + BUF_OFF, 8);
	memcpy(&sqid, d.mem + BUF_OFF + 8, 2);
	assert_int_equal(count, 1);
	assert_int_equal(sqid, 1);
	page_roundtrip(&moved, 1, 8, 0x62);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(nvme_continues_on_the_destination_in_the_next_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_shadow_doorbells_go_on_on_the_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_io_in_flight_at_the_stop_completes_on_the_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_completion_waiting_for_cq_room_is_posted_on_the_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_doorbell_rung_while_stopped_is_served_after_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_refuses_broken_streams_and_the_source_runs_on, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_refuses_a_stream_for_another_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_reads_versions_1_and_3_and_refuses_version_2, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_event_and_coalescing_disable_go_on_on_the_destination, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
