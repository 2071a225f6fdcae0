/* SPDX-License-Identifier: MIT */
/*
 * Shadow doorbells (Doorbell Buffer Config, admin opcode 0x7c).
 *
 * The host gives two pages: the shadow doorbells (SQ y tail at 8 * y, CQ
 * y head at 8 * y + 4) which it writes before it would write the MMIO
 * doorbell, and the EventIdx page (same layout) which the controller
 * writes. The host then writes the MMIO doorbell only when the new value
 * passes the EventIdx of that queue (Linux: nvme_dbbuf_need_event), so
 * the controller decides with EventIdx whether it wants doorbell writes.
 * The admin queue keeps MMIO doorbells (Linux does not write its shadow).
 *
 * Only pages the client mapped with an fd are used: the controller reads
 * and writes them directly through uvf_dma_ptr(). Without such a mapping
 * (private guest RAM) the command is refused with Invalid Field, and the
 * host goes on with MMIO doorbells.
 *
 * Adaptive polling. A poller thread reads the shadow SQ tails while I/O
 * flows, and for poll_us after the last change it keeps each SQ EventIdx
 * one behind the tail it saw before the last one (see `lag`): the host
 * does not pass it, so it does not ring. The poller starts what a new
 * tail brings itself, under the lock of the queue's worker (worker.c),
 * having let go of its own lock first. When nothing moved for poll_us,
 * the poller sets each EventIdx to the tail it has seen (the next
 * submission rings), issues a full barrier, reads the tails again (the
 * host writes the tail, then a full barrier, then reads EventIdx: one of
 * the two sides sees the other's write), and sleeps until an MMIO
 * doorbell wakes it. With poll_us 0 there is no thread: the controller
 * keeps each EventIdx at the tail it took, so every submission that finds
 * the controller idle rings.
 *
 * CQ heads: the controller reads the shadow head when a completion finds
 * its CQ full, and keeps the CQ EventIdx one behind the head it
 * knows (no doorbell needed) except while a completion waits for room or
 * INTx is in use (level interrupts must be lowered when the host catches
 * up): then EventIdx is the known head, so the host rings.
 *
 * Every shadow value is checked like an MMIO doorbell: one outside its
 * queue is ignored, logged and reported (an Invalid Doorbell Write Value
 * event, events.c) once until a valid one is seen.
 *
 * Ownership: the SQ EventIdx slots are written under `lock` while a
 * poller runs (by the poller, or by a completion that took a new tail;
 * without poller, by whoever holds the queue's worker lock), the CQ EventIdx slots
 * under the queue's worker lock. Pointers and the configuration change
 * only on the dispatch thread, with every worker lock held and under
 * `lock`, which the poller holds while it uses them; the dma_unmap
 * callback drops them, and they are looked up again when the client maps
 * memory again. Lock order: worker locks, then `lock`; the poller never
 * holds `lock` while it takes a worker lock.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_int.h"

#define NQ_SLOTS (UVF_NVME_MAX_QUEUES + 1)

struct nvme_dbbuf {
	struct nvme_ctrl *c;
	uint64_t poll_ns;
	pthread_t thread;
	bool has_thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* changed on the dispatch thread, under lock */
	bool on;
	uint64_t dbs, eis;	    /* guest addresses of the two pages */
	uint32_t *db, *ei;	    /* mapped pages, NULL while not mapped with an fd */
	uint32_t sq_size[NQ_SLOTS]; /* 0: no such I/O SQ */
	bool paused;		    /* stopped for migration: no access to guest memory */
	bool stop;
	/* poller state, under lock */
	bool active; /* polling; also read without lock (atomic) */
	bool wake;   /* an MMIO doorbell reported activity */
	uint32_t seen[NQ_SLOTS];
	/* The tail seen before the last one. Polling, EventIdx is one behind
	 * it, not behind the last: the host that wrote the last tail may not
	 * have read EventIdx yet, and its window [previous, last) holds
	 * last - 1 but not lag - 1. */
	uint32_t lag[NQ_SLOTS];
	uint32_t asked[NQ_SLOTS]; /* the tails the last hand-over covered */
	bool work[NQ_SLOTS];	  /* scan: a tail nobody took nor was handed */
	/* the tail the controller last took per SQ (atomic) */
	uint32_t taken[NQ_SLOTS];
	/* under the queue's worker lock */
	bool warned_sq[NQ_SLOTS], warned_cq[NQ_SLOTS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sequentially consistent: an EventIdx store and a later shadow load
 * are not reordered (a full barrier between them, as the host has
 * between its shadow store and its EventIdx load). */
static uint32_t shadow_load(const uint32_t *p)
{
	return le32toh(__atomic_load_n(p, __ATOMIC_SEQ_CST));
}

static void eventidx_store(struct nvme_dbbuf *d, unsigned slot, uint32_t v)
{
	(void)__atomic_exchange_n(&d->ei[slot], htole32(v), __ATOMIC_SEQ_CST);
	uvf_dma_mark_dirty(d->c->dev, d->eis + slot * 4u, 4);
}

/* One behind the tail (mod the queue size): a host that submits never
 * passes it, so it does not ring. */
static uint32_t behind(uint32_t v, uint32_t size)
{
	return v ? v - 1 : size - 1;
}

bool nvme_dbbuf_active(const struct nvme_ctrl *c)
{
	return c->dbbuf && c->dbbuf->on && c->dbbuf->db;
}

/* ---- poller ---- */

/* Set every SQ EventIdx: polling (no doorbell wanted) or not. */
static void sq_eventidx_all(struct nvme_dbbuf *d, bool polling)
{
	for (unsigned q = 1; q < NQ_SLOTS; q++)
		if (d->sq_size[q])
			eventidx_store(d, 2 * q, polling ? behind(d->lag[q], d->sq_size[q]) : d->seen[q]);
}

/* Read the shadow tails. Returns whether one changed since the last
 * scan; *work: whether one holds a tail the controller has neither taken
 * nor been handed. */
static bool scan(struct nvme_dbbuf *d, bool *work)
{
	bool changed = false;

	*work = false;
	for (unsigned q = 1; q < NQ_SLOTS; q++) {
		d->work[q] = false;
		if (!d->sq_size[q])
			continue;
		uint32_t v = shadow_load(&d->db[2 * q]);
		if (v != d->seen[q]) {
			changed = true;
			d->lag[q] = d->seen[q];
			/* polling: move EventIdx along, or the host would ring
			 * when its tail comes round to it */
			if (d->active)
				eventidx_store(d, 2 * q, behind(d->lag[q], d->sq_size[q]));
		}
		d->seen[q] = v;
		d->work[q] = v != __atomic_load_n(&d->taken[q], __ATOMIC_ACQUIRE) && v != d->asked[q];
		if (d->work[q])
			*work = true;
	}
	return changed;
}

/* Start what the new tails bring. Called with lock held, which it lets go
 * of meanwhile: the kicks take the queues' worker locks. A tail the
 * controller refuses (outside its queue) is not handed over again until
 * it changes. Stopped for migration or reset meanwhile, the kicks find
 * nothing to do; resume and the next configuration read the tails. */
static void hand_over(struct nvme_dbbuf *d)
{
	bool kick[NQ_SLOTS];

	memcpy(kick, d->work, sizeof(kick));
	memcpy(d->asked, d->seen, sizeof(d->asked));
	pthread_mutex_unlock(&d->lock);
	for (unsigned q = 1; q < NQ_SLOTS; q++) {
		if (!kick[q])
			continue;
		struct nvme_group *g = nvme_lock_sq(d->c, (uint16_t)q);
		nvme_kick(d->c, (uint16_t)q);
		nvme_batch_end(d->c, g); /* the I/O that started goes to the engine */
		nvme_unlock_group(g);
	}
	pthread_mutex_lock(&d->lock);
}

static void *poller(void *arg)
{
	struct nvme_dbbuf *d = arg;
	uint64_t last = 0;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		bool usable = d->on && d->db && !d->paused;
		if (!usable || (!d->active && !d->wake)) {
			if (!usable && d->active)
				__atomic_store_n(&d->active, false, __ATOMIC_RELEASE);
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		uint64_t now = now_ns();
		bool work;
		if (d->wake) {
			d->wake = false;
			last = now;
			if (!d->active) {
				__atomic_store_n(&d->active, true, __ATOMIC_RELEASE);
				sq_eventidx_all(d, true);
			}
		}
		if (scan(d, &work))
			last = now;
		if (work)
			hand_over(d);
		if (now - last >= d->poll_ns) {
			/* idle: ask for doorbells, then look once more (the
			 * host writes its tail before it reads EventIdx) */
			sq_eventidx_all(d, false);
			if (!scan(d, &work)) {
				__atomic_store_n(&d->active, false, __ATOMIC_RELEASE);
				continue;
			}
			last = now;
			sq_eventidx_all(d, true);
			if (work)
				hand_over(d);
		}
		pthread_mutex_unlock(&d->lock);
		sched_yield(); /* polling: leave the CPU to whoever needs it */
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- under the queues' worker locks ---- */

/* Note activity (an MMIO doorbell of an I/O queue): start polling. */
static void wake_poller(struct nvme_dbbuf *d)
{
	if (!d->has_thread || __atomic_load_n(&d->active, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&d->lock);
	d->wake = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void nvme_dbbuf_doorbell(struct nvme_ctrl *c, uint16_t qid)
{
	if (qid && nvme_dbbuf_active(c))
		wake_poller(c->dbbuf);
}

static uint32_t cq_eventidx(const struct nvme_ctrl *c, uint16_t cqid)
{
	const struct nvme_cq *cq = &c->cq[cqid];

	if (cq->wait || uvf_irq_mode(c->dev) == UVF_PCI_INTX_IRQ)
		return cq->head;
	return behind(cq->head, cq->size);
}

/* A completion took a new tail while the poller runs: move EventIdx along
 * as scan() would, or the host rings when its tail comes round to an
 * EventIdx nobody moved; and count it as activity, so the poller keeps
 * polling while I/O flows through the completion path alone. Under the
 * poller's lock, so it cannot interleave with the poller's switch to
 * doorbells (after which `active` is false here). */
static void took_while_polling(struct nvme_dbbuf *d, uint16_t sqid, uint32_t v)
{
	pthread_mutex_lock(&d->lock);
	if (d->active && v != d->seen[sqid]) {
		d->lag[sqid] = d->seen[sqid];
		d->seen[sqid] = v;
		eventidx_store(d, 2u * sqid, behind(d->lag[sqid], d->sq_size[sqid]));
		d->wake = true;
	}
	pthread_mutex_unlock(&d->lock);
}

void nvme_dbbuf_sq_refresh(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_dbbuf *d = c->dbbuf;
	struct nvme_sq *sq = &c->sq[sqid];

	if (!sqid || !nvme_dbbuf_active(c) || !sq->valid)
		return;
	uint32_t v = shadow_load(&d->db[2 * sqid]);
	if (!d->has_thread) {
		/* no poller: the next submission must ring; look again after
		 * publishing that (the host writes, then reads EventIdx) */
		for (int i = 0; i < 4; i++) {
			eventidx_store(d, 2u * sqid, v);
			uint32_t again = shadow_load(&d->db[2 * sqid]);
			if (again == v)
				break;
			v = again;
		}
	}
	if (v >= sq->size) {
		if (!d->warned_sq[sqid]) {
			uvf_device_log(c->dev, UVF_LOG_WARNING,
				       "nvme: shadow doorbell of SQ %u: tail %" PRIu32 " outside the queue of %" PRIu32
				       " entries, ignored",
				       sqid, v, sq->size);
			nvme_event_raise(c, sqid, NVME_EVENT_INVALID_DB_VALUE);
		}
		d->warned_sq[sqid] = true;
		return;
	}
	d->warned_sq[sqid] = false;
	if (d->has_thread && v != __atomic_load_n(&d->taken[sqid], __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&d->active, __ATOMIC_ACQUIRE))
		took_while_polling(d, sqid, v);
	sq->tail = v;
	__atomic_store_n(&d->taken[sqid], v, __ATOMIC_RELEASE);
}

bool nvme_dbbuf_cq_refresh(struct nvme_ctrl *c, uint16_t cqid)
{
	struct nvme_dbbuf *d = c->dbbuf;
	struct nvme_cq *cq = &c->cq[cqid];

	if (!cqid || !nvme_dbbuf_active(c) || !cq->valid)
		return false;
	uint32_t before = cq->head;
	for (int i = 0; i < 4; i++) {
		uint32_t v = shadow_load(&d->db[2 * cqid + 1]);
		if (v >= cq->size) {
			if (!d->warned_cq[cqid]) {
				uvf_device_log(c->dev, UVF_LOG_WARNING,
					       "nvme: shadow doorbell of CQ %u: head %" PRIu32
					       " outside the queue of %" PRIu32 " entries, ignored",
					       cqid, v, cq->size);
				nvme_event_raise(c, cqid, NVME_EVENT_INVALID_DB_VALUE);
			}
			d->warned_cq[cqid] = true;
			break;
		}
		d->warned_cq[cqid] = false;
		cq->head = v;
		/* publish what we want, then look again (see the top) */
		eventidx_store(d, 2u * cqid + 1, cq_eventidx(c, cqid));
		if (shadow_load(&d->db[2 * cqid + 1]) == v)
			break;
	}
	return cq->head != before;
}

void nvme_dbbuf_cq_eventidx(struct nvme_ctrl *c, uint16_t cqid)
{
	if (cqid && nvme_dbbuf_active(c) && c->cq[cqid].valid)
		eventidx_store(c->dbbuf, 2u * cqid + 1, cq_eventidx(c, cqid));
}

/* Look the pages up again (after a map, a config, a load). */
static void resolve(struct nvme_dbbuf *d)
{
	uint32_t *db = NULL, *ei = NULL;

	if (d->on) {
		db = uvf_dma_ptr(d->c->dev, d->dbs, NVME_PAGE, UVF_DMA_MAP_FLAG_READ);
		ei = uvf_dma_ptr(d->c->dev, d->eis, NVME_PAGE, UVF_DMA_MAP_FLAG_WRITE);
		if (!db || !ei)
			db = ei = NULL;
	}
	pthread_mutex_lock(&d->lock);
	d->db = db;
	d->ei = ei;
	pthread_mutex_unlock(&d->lock);
}

/* Publish EventIdx for every queue from the controller state and start
 * polling: after a config, a resume, a map. */
static void restart(struct nvme_ctrl *c)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!nvme_dbbuf_active(c) || c->stopped)
		return;
	pthread_mutex_lock(&d->lock);
	for (unsigned q = 1; q <= c->nq; q++) {
		d->sq_size[q] = c->sq[q].valid ? c->sq[q].size : 0;
		d->seen[q] = d->lag[q] = d->asked[q] = c->sq[q].tail;
		__atomic_store_n(&d->taken[q], c->sq[q].tail, __ATOMIC_RELEASE);
		if (c->sq[q].valid)
			eventidx_store(d, 2 * q, d->has_thread ? behind(c->sq[q].tail, c->sq[q].size) : c->sq[q].tail);
		if (c->cq[q].valid)
			eventidx_store(d, 2 * q + 1, cq_eventidx(c, (uint16_t)q));
	}
	d->wake = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	/* tails written while the controller did not look are taken now */
	for (unsigned q = 1; q <= c->nq; q++)
		nvme_kick(c, (uint16_t)q);
	nvme_batch_end(c, NULL); /* the I/O that started goes to the engine */
}

void nvme_dbbuf_queue_changed(struct nvme_ctrl *c, uint16_t qid)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!qid || !d || !d->on)
		return;
	pthread_mutex_lock(&d->lock);
	d->sq_size[qid] = c->sq[qid].valid ? c->sq[qid].size : 0;
	d->seen[qid] = d->lag[qid] = d->asked[qid] = c->sq[qid].tail;
	__atomic_store_n(&d->taken[qid], c->sq[qid].tail, __ATOMIC_RELEASE);
	if (d->ei && c->sq[qid].valid)
		eventidx_store(d, 2u * qid, c->sq[qid].tail); /* ring for the first command */
	if (d->ei && c->cq[qid].valid)
		eventidx_store(d, 2u * qid + 1, cq_eventidx(c, qid));
	d->warned_sq[qid] = d->warned_cq[qid] = false;
	pthread_mutex_unlock(&d->lock);
}

uint16_t nvme_dbbuf_config(struct nvme_ctrl *c, uint64_t dbs, uint64_t eis)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d)
		return NVME_SC_INVALID_OPCODE;
	if (dbs % NVME_PAGE || eis % NVME_PAGE || dbs == eis) {
		uvf_device_log(c->dev, UVF_LOG_WARNING,
			       "nvme: Doorbell Buffer Config refused: buffers at 0x%" PRIx64 " and 0x%" PRIx64
			       " must be distinct 4 KiB pages",
			       dbs, eis);
		return NVME_SC_INVALID_FIELD;
	}
	if (!uvf_dma_ptr(c->dev, dbs, NVME_PAGE, UVF_DMA_MAP_FLAG_READ) ||
	    !uvf_dma_ptr(c->dev, eis, NVME_PAGE, UVF_DMA_MAP_FLAG_WRITE)) {
		/* expected with private guest RAM: not a warning */
		uvf_device_log(c->dev, UVF_LOG_INFO,
			       "nvme: Doorbell Buffer Config refused: 0x%" PRIx64 " and 0x%" PRIx64
			       " are not both in client memory mapped with an fd (shadow doorbells need shared memory)",
			       dbs, eis);
		return NVME_SC_INVALID_FIELD;
	}
	nvme_dbbuf_clear(c);
	pthread_mutex_lock(&d->lock);
	d->on = true;
	d->dbs = dbs;
	d->eis = eis;
	pthread_mutex_unlock(&d->lock);
	resolve(d);
	uvf_device_log(c->dev, UVF_LOG_INFO, "nvme: shadow doorbells at 0x%" PRIx64 ", EventIdx at 0x%" PRIx64 " (%s)",
		       dbs, eis, d->has_thread ? "polled while I/O flows" : "not polled");
	restart(c);
	return NVME_SC_SUCCESS;
}

void nvme_dbbuf_clear(struct nvme_ctrl *c)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d || !d->on)
		return;
	pthread_mutex_lock(&d->lock);
	d->on = false;
	d->dbs = d->eis = 0;
	d->db = d->ei = NULL;
	memset(d->sq_size, 0, sizeof(d->sq_size));
	pthread_mutex_unlock(&d->lock);
	memset(d->warned_sq, 0, sizeof(d->warned_sq));
	memset(d->warned_cq, 0, sizeof(d->warned_cq));
}

void nvme_dbbuf_unmap(struct nvme_ctrl *c, uint64_t addr, uint64_t size)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d || !d->on || !d->db)
		return;
	uint64_t last = addr + size - 1;
	if ((d->dbs <= last && d->dbs + NVME_PAGE - 1 >= addr) || (d->eis <= last && d->eis + NVME_PAGE - 1 >= addr)) {
		pthread_mutex_lock(&d->lock);
		d->db = d->ei = NULL;
		pthread_mutex_unlock(&d->lock);
	}
}

void nvme_dbbuf_mapped(struct nvme_ctrl *c)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d || !d->on || d->db)
		return;
	resolve(d);
	restart(c);
}

void nvme_dbbuf_pause(struct nvme_ctrl *c, bool paused)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->paused = paused;
	pthread_mutex_unlock(&d->lock);
	if (!paused) {
		if (d->on && !d->db)
			resolve(d);
		restart(c);
	}
}

bool nvme_dbbuf_get(const struct nvme_ctrl *c, uint64_t *dbs, uint64_t *eis)
{
	const struct nvme_dbbuf *d = c->dbbuf;

	*dbs = d && d->on ? d->dbs : 0;
	*eis = d && d->on ? d->eis : 0;
	return d && d->on;
}

void nvme_dbbuf_set(struct nvme_ctrl *c, uint64_t dbs, uint64_t eis)
{
	struct nvme_dbbuf *d = c->dbbuf;

	nvme_dbbuf_clear(c);
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->on = true;
	d->dbs = dbs;
	d->eis = eis;
	pthread_mutex_unlock(&d->lock);
	/* the pages are looked up on resume, when the client has mapped them */
}

int nvme_dbbuf_create(struct nvme_ctrl *c, unsigned poll_us)
{
	struct nvme_dbbuf *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->c = c;
	d->poll_ns = (uint64_t)poll_us * 1000u;
	if ((ret = pthread_mutex_init(&d->lock, NULL)) != 0) {
		free(d);
		return -ret;
	}
	if ((ret = pthread_cond_init(&d->cond, NULL)) != 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -ret;
	}
	if (poll_us) {
		if ((ret = pthread_create(&d->thread, NULL, poller, d)) != 0) {
			pthread_cond_destroy(&d->cond);
			pthread_mutex_destroy(&d->lock);
			free(d);
			return -ret;
		}
		d->has_thread = true;
	}
	c->dbbuf = d;
	return 0;
}

void nvme_dbbuf_destroy(struct nvme_ctrl *c)
{
	struct nvme_dbbuf *d = c->dbbuf;

	if (!d)
		return;
	if (d->has_thread) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_signal(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	c->dbbuf = NULL;
}
