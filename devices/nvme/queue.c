/* SPDX-License-Identifier: MIT */
/*
 * Submission and completion queues. An I/O SQ keeps up to NVME_SQ_INFLIGHT
 * commands in flight and completes them in whatever order they finish; the
 * admin SQ runs one at a time. Entries and completions in mapped guest
 * memory are read and written directly; otherwise every access to host
 * memory is asynchronous: with message-based DMA the client answers our
 * DMA only after we answered its register access, so nothing here waits.
 * Everything here runs under the lock of the queue's group (worker.c),
 * or every lock for the admin queue and controller-wide changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

/* Whether the job still belongs to the live controller and queue. */
bool nvme_job_live(const struct nvme_ctrl *c, const struct nvme_job *job)
{
	return job->generation == c->generation && c->sq[job->sqid].valid && c->sq[job->sqid].epoch == job->sq_epoch;
}

void nvme_job_free(struct nvme_job *job)
{
	free(job->buf);
	free(job->segs);
	free(job->iov);
	free(job->prp_tmp);
	free(job);
}

/* Take a live job off its SQ's list. */
static void unlink_job(struct nvme_ctrl *c, struct nvme_job *job)
{
	struct nvme_sq *sq = &c->sq[job->sqid];

	if (job->prev)
		job->prev->next = job->next;
	else
		sq->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	job->prev = job->next = NULL;
	sq->inflight--;
}

static void link_job(struct nvme_ctrl *c, struct nvme_job *job)
{
	struct nvme_sq *sq = &c->sq[job->sqid];

	job->prev = NULL;
	job->next = sq->jobs;
	if (sq->jobs)
		sq->jobs->prev = job;
	sq->jobs = job;
	sq->inflight++;
}

/* Drop a job whose queue or controller went away, or whose host memory
 * vanished (the command is lost, as on a real bus error). */
void nvme_job_drop(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (nvme_job_live(c, job)) {
		uint16_t sqid = job->sqid;
		unlink_job(c, job);
		nvme_job_free(job);
		nvme_kick(c, sqid);
		return;
	}
	nvme_job_free(job);
}

/* A held command (AER): it leaves the SQ's count, no completion now. */
void nvme_job_forget(struct nvme_ctrl *c, struct nvme_job *job)
{
	nvme_job_drop(c, job);
}

/* The group of SQ sqid (NULL: the admin SQ), its lock held. */
static struct nvme_group *sq_group(struct nvme_ctrl *c, uint16_t sqid)
{
	return sqid ? &c->group[__atomic_load_n(&c->sq_group[sqid], __ATOMIC_RELAXED)] : NULL;
}

static bool in_group(struct nvme_ctrl *c, struct nvme_group *g, unsigned cqid)
{
	return !g || (cqid && nvme_cq_group(c, (uint16_t)cqid) == g);
}

/* INTx: the level is asserted while an interrupting CQ holds unconsumed
 * entries. Each group notes its CQs (g NULL: all); the level is computed
 * from every CQ's note under intx_lock, so the last one to set it saw
 * every change made before. */
void nvme_update_intx(struct nvme_ctrl *c, struct nvme_group *g)
{
	/* stopped: no interrupt; the level is computed again on resume */
	if (c->stopped || uvf_irq_mode(c->dev) != UVF_PCI_INTX_IRQ)
		return;
	for (unsigned i = 0; i <= c->nq; i++) {
		const struct nvme_cq *cq = &c->cq[i];
		if (!in_group(c, g, i))
			continue;
		uint64_t bit = 1ull << (i % 64);
		if (cq->valid && cq->ien && cq->head != cq->tail)
			__atomic_fetch_or(&c->cq_pending[i / 64], bit, __ATOMIC_SEQ_CST);
		else
			__atomic_fetch_and(&c->cq_pending[i / 64], ~bit, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_lock(&c->intx_lock);
	bool pending = __atomic_load_n(&c->cq_pending[0], __ATOMIC_SEQ_CST) ||
		       __atomic_load_n(&c->cq_pending[1], __ATOMIC_SEQ_CST);
	(void)uvf_irq_set_intx_level(c->dev, pending && !(c->intms & 1));
	pthread_mutex_unlock(&c->intx_lock);
}

static void raise_cq(struct nvme_ctrl *c, const struct nvme_cq *cq)
{
	int mode = uvf_irq_mode(c->dev);

	if (!cq->ien)
		return;
	if (mode == UVF_PCI_INTX_IRQ)
		nvme_dbbuf_cq_eventidx(c, (uint16_t)(cq - c->cq)); /* a level: the host must ring */
	if (mode == UVF_PCI_MSIX_IRQ)
		(void)uvf_irq_raise(c->dev, cq->iv);
	else if (mode == UVF_PCI_MSI_IRQ && !(c->intms & 1))
		(void)uvf_irq_raise(c->dev, 0); /* one MSI vector */
	else if (mode == UVF_PCI_INTX_IRQ)
		nvme_update_intx(c, nvme_cq_group(c, (uint16_t)(cq - c->cq)));
}

/* An entry was posted on CQ cqid: interrupt now, or when coalescing
 * lets it (coalesce.c). */
static void signal_cq(struct nvme_ctrl *c, uint16_t cqid)
{
	struct nvme_cq *cq = &c->cq[cqid];

	if (nvme_coal_post(c, cq, cqid))
		raise_cq(c, cq);
}

/*
 * The end of a batch of work (a doorbell, a set of finished I/Os, a DMA
 * reply): start the I/O queued on the engines in one go, and raise the
 * interrupts held back for coalescing that are due (without an
 * aggregation time, all of them: an idle device stays idle).
 */
void nvme_batch_end(struct nvme_ctrl *c, struct nvme_group *g)
{
	for (unsigned i = 0; i < c->nworkers; i++)
		if (c->group[i].aio && (!g || g == &c->group[i]))
			nvme_aio_kick(c->group[i].aio);
	if (c->stopped)
		return;
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_cq *cq = &c->cq[i];
		if (in_group(c, g, i) && cq->valid && nvme_coal_due(c, cq, (uint16_t)i))
			raise_cq(c, cq);
	}
}

void nvme_io_drain(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i < c->nworkers; i++) {
		struct nvme_aio *a = c->group[i].aio;
		if (!a)
			continue;
		/* the engine's threads do not wait for our locks (worker.c) */
		nvme_aio_kick(a);
		nvme_aio_wait_idle(a);
		nvme_aio_poll(a);
	}
}

static void posted(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;
	struct nvme_ctrl *c = job->c;
	struct nvme_group *g = job->grp;

	(void)dev;
	nvme_lock_job(c, job);
	if (!nvme_job_live(c, job) || result < 0) {
		nvme_job_drop(c, job);
	} else {
		uint16_t sqid = job->sqid, cqid = c->sq[sqid].cqid;
		unlink_job(c, job);
		nvme_job_free(job);
		signal_cq(c, cqid);
		nvme_kick(c, sqid);
	}
	nvme_batch_end(c, g);
	if (g)
		nvme_unlock_group(g);
	else
		nvme_unlock_all(c);
}

static bool cq_full(const struct nvme_cq *cq)
{
	return (cq->tail + 1) % cq->size == cq->head;
}

/* Whether CQ cqid has room. A full CQ first takes the head the host may
 * have written to its shadow doorbell (it rings for it only when asked). */
static bool cq_room(struct nvme_ctrl *c, uint16_t cqid)
{
	const struct nvme_cq *cq = &c->cq[cqid];

	return !cq_full(cq) || (nvme_dbbuf_cq_refresh(c, cqid) && !cq_full(cq));
}

/* Post the completion; its CQ has room. */
static void post(struct nvme_ctrl *c, struct nvme_job *job)
{
	struct nvme_sq *sq = &c->sq[job->sqid];
	struct nvme_cq *cq = &c->cq[sq->cqid];

	job->cqe[0] = job->dw0;
	job->cqe[1] = 0;
	job->cqe[2] = (uint32_t)job->sqid << 16 | sq->head;
	job->cqe[3] = (uint32_t)job->status << 17 | (uint32_t)cq->phase << 16 | (job->sqe[0] >> 16);
	uint64_t addr = cq->base + (uint64_t)cq->tail * 16;
	job->cq_slot = cq->tail;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	uint32_t *p = uvf_dma_ptr(c->dev, addr, 16, UVF_DMA_MAP_FLAG_WRITE);
	if (p) {
		/* the phase word last: the host polls it */
		memcpy(p, job->cqe, 12);
		__atomic_store_n(&p[3], job->cqe[3], __ATOMIC_RELEASE);
		uvf_dma_mark_dirty(c->dev, addr, 16);
		uint16_t sqid = job->sqid, cqid = sq->cqid;
		unlink_job(c, job);
		nvme_job_free(job);
		signal_cq(c, cqid);
		nvme_kick(c, sqid);
		return;
	}
	job->state = NVME_JOB_POSTING;
	if (uvf_dma_write_async(c->dev, addr, job->cqe, 16, posted, job) < 0)
		nvme_job_drop(c, job);
}

static void record(struct nvme_ctrl *c, struct nvme_job *job, uint8_t kind)
{
	struct nvme_sq *sq = &c->sq[job->sqid];

	if (sq->nresume >= NVME_SQ_INFLIGHT) { /* at most one per command in flight: cannot happen */
		uvf_device_log(c->dev, UVF_LOG_ERROR, "nvme: quiesce: SQ %u: too many commands to record", job->sqid);
		return;
	}
	struct nvme_resume *r = &sq->resume[sq->nresume++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->status = job->status;
	r->cid = (uint16_t)(job->sqe[0] >> 16);
	r->dw0 = job->dw0;
	r->cq_slot = job->cq_slot;
	memcpy(r->cqe, job->cqe, sizeof(r->cqe));
	memcpy(r->sqe, job->sqe, sizeof(r->sqe));
}

void nvme_complete(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!nvme_job_live(c, job)) {
		nvme_job_drop(c, job);
		return;
	}
	if (job->status)
		job->status |= NVME_SC_DNR;
	if (c->stopped) {
		/* finished while quiescing: posted on resume */
		record(c, job, NVME_RESUME_POST);
		unlink_job(c, job);
		nvme_job_free(job);
		return;
	}
	uint16_t cqid = c->sq[job->sqid].cqid;
	struct nvme_cq *cq = &c->cq[cqid];
	if (!cq->valid || cq->wait || !cq_room(c, cqid)) {
		/* held until the host frees CQ entries, in order */
		job->state = NVME_JOB_WAITING;
		job->wait_next = NULL;
		if (!cq->wait)
			cq->wait_tail = &cq->wait;
		*cq->wait_tail = job;
		cq->wait_tail = &job->wait_next;
		/* shadow doorbells: with a job waiting, EventIdx asks for the
		 * head doorbell; a head that moved meanwhile makes room now */
		if (nvme_dbbuf_cq_refresh(c, cqid))
			nvme_cq_doorbell(c, cqid, cq->head);
		return;
	}
	post(c, job);
}

static void exec_job(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (job->sqid == 0)
		nvme_admin_exec(c, job);
	else
		nvme_io_exec(c, job);
}

/* A live job for SQ sqid, counted in flight. */
static struct nvme_job *new_job(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->c = c;
	job->generation = c->generation;
	job->sqid = sqid;
	job->sq_epoch = c->sq[sqid].epoch;
	job->grp = sq_group(c, sqid);
	link_job(c, job);
	return job;
}

void nvme_post_completion(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct nvme_job *job = c->sq[sqid].valid ? new_job(c, sqid) : NULL;

	if (!job) {
		uvf_device_log(c->dev, UVF_LOG_ERROR, "nvme: cannot complete command %u of SQ %u", cid, sqid);
		return;
	}
	job->sqe[0] = (uint32_t)cid << 16;
	job->status = status;
	job->dw0 = dw0;
	nvme_complete(c, job);
}

/* Start the command in sqe (just fetched from the SQ head). */
static bool start_entry(struct nvme_ctrl *c, uint16_t sqid, const void *sqe)
{
	struct nvme_sq *sq = &c->sq[sqid];
	struct nvme_job *job = new_job(c, sqid);

	if (!job)
		return false; /* fetched again at the next doorbell */
	memcpy(job->sqe, sqe, 64);
	sq->head = (sq->head + 1) % sq->size;
	exec_job(c, job);
	return true;
}

struct fetch {
	struct nvme_ctrl *c;
	struct nvme_group *grp; /* NULL for the admin SQ */
	unsigned generation, sq_epoch;
	uint16_t sqid;
	uint32_t count;
	uint32_t sqes[]; /* count entries of 16 words */
};

static void fetched(struct uvf_device *dev, void *data, int result)
{
	struct fetch *f = data;
	struct nvme_ctrl *c = f->c;
	struct nvme_group *g = f->grp;
	struct nvme_sq *sq = &c->sq[f->sqid];

	(void)dev;
	if (g)
		nvme_lock_group(g);
	else
		nvme_lock_all(c);
	bool current = f->generation == c->generation && sq->valid && sq->epoch == f->sq_epoch;
	if (current)
		sq->fetching = false;
	if (!current) {
		free(f); /* a quiesce, reset or deletion came first */
	} else if (result < 0) {
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: cannot fetch from SQ %u: %s", f->sqid,
			       uvf_strerror(result));
		free(f);
	} else {
		for (uint32_t i = 0; i < f->count; i++) {
			if (f->generation != c->generation || !sq->valid || sq->epoch != f->sq_epoch ||
			    !start_entry(c, f->sqid, &f->sqes[i * 16]))
				break;
		}
		uint16_t sqid = f->sqid;
		free(f);
		nvme_kick(c, sqid);
		nvme_batch_end(c, g);
	}
	if (g)
		nvme_unlock_group(g);
	else
		nvme_unlock_all(c);
}

/* Fetch and start what SQ sqid holds, as far as its in-flight limit allows.
 * Returns when everything is started or a fetch by message is on its way. */
static void fetch_sq(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_sq *sq = &c->sq[sqid];
	unsigned generation = c->generation, epoch = sq->epoch;

	for (;;) {
		if (c->stopped || !c->enabled || !sq->valid || sq->fetching || generation != c->generation ||
		    epoch != sq->epoch)
			return;
		nvme_dbbuf_sq_refresh(c, sqid); /* shadow doorbells: the tail the host wrote there */
		unsigned limit = sqid == 0 ? 1 : (sq->size - 1 < NVME_SQ_INFLIGHT ? sq->size - 1 : NVME_SQ_INFLIGHT);
		uint32_t avail = (sq->tail + sq->size - sq->head) % sq->size;
		uint32_t n = sq->inflight < limit ? limit - sq->inflight : 0;
		if (avail < n)
			n = avail;
		if (sq->size - sq->head < n) /* up to the end of the ring */
			n = sq->size - sq->head;
		if (n == 0)
			return;
		uint64_t addr = sq->base + (uint64_t)sq->head * 64;
		const uint8_t *p = uvf_dma_ptr(c->dev, addr, (size_t)n * 64, UVF_DMA_MAP_FLAG_READ);
		if (p) {
			for (uint32_t i = 0; i < n; i++)
				if (generation != c->generation || epoch != sq->epoch || !sq->valid ||
				    !start_entry(c, sqid, p + (size_t)i * 64))
					return;
			continue;
		}
		/* by message: the n entries in one DMA_READ */
		struct fetch *f = malloc(sizeof(*f) + (size_t)n * 64);
		if (!f)
			return;
		f->c = c;
		f->grp = sq_group(c, sqid);
		f->generation = c->generation;
		f->sq_epoch = sq->epoch;
		f->sqid = sqid;
		f->count = n;
		sq->fetching = true;
		if (uvf_dma_read_async(c->dev, addr, f->sqes, (size_t)n * 64, fetched, f) < 0) {
			sq->fetching = false;
			free(f);
		}
		return;
	}
}

/* Start what SQ sqid holds. A kick from inside a kick (a command that
 * completed at once frees a slot) is deferred to the outer one, so the
 * stack does not grow with the queue depth. */
#define KICK_WORDS ((UVF_NVME_MAX_QUEUES + 32) / 32)

void nvme_kick(struct nvme_ctrl *c, uint16_t sqid)
{
	static __thread struct nvme_ctrl *kicking;
	static __thread uint32_t deferred[KICK_WORDS];

	deferred[sqid / 32] |= 1u << (sqid % 32);
	if (kicking)
		return; /* the outer kick (always of the same controller: one per thread) takes it */
	kicking = c;
	for (bool again = true; again;) {
		again = false;
		for (unsigned w = 0; w < KICK_WORDS; w++) {
			while (deferred[w]) {
				unsigned bit = (unsigned)__builtin_ctz(deferred[w]);
				deferred[w] &= ~(1u << bit);
				/* held already, but for a kick from the poller
				 * or from the admin queue */
				struct nvme_group *g = nvme_lock_sq(c, (uint16_t)(w * 32 + bit));
				fetch_sq(c, (uint16_t)(w * 32 + bit));
				if (g)
					nvme_unlock_group(g);
				else
					nvme_unlock_all(c);
				again = true;
			}
		}
	}
	kicking = NULL;
}

void nvme_sq_doorbell(struct nvme_ctrl *c, uint16_t sqid, uint32_t tail)
{
	struct nvme_sq *sq = &c->sq[sqid];

	if (!sq->valid || tail >= sq->size) {
		/* ignored, and reported */
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: SQ %u doorbell: %s (tail %u), ignored", sqid,
			       sq->valid ? "tail outside the queue" : "no such queue", tail);
		nvme_event_raise(c, sqid, sq->valid ? NVME_EVENT_INVALID_DB_VALUE : NVME_EVENT_INVALID_DB_REG);
		return;
	}
	sq->tail = tail;
	nvme_dbbuf_doorbell(c, sqid);
	nvme_kick(c, sqid);
	nvme_batch_end(c, sq_group(c, sqid));
}

void nvme_cq_doorbell(struct nvme_ctrl *c, uint16_t cqid, uint32_t head)
{
	struct nvme_cq *cq = &c->cq[cqid];

	if (!cq->valid || head >= cq->size) {
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: CQ %u doorbell: %s (head %u), ignored", cqid,
			       cq->valid ? "head outside the queue" : "no such queue", head);
		nvme_event_raise(c, cqid, cq->valid ? NVME_EVENT_INVALID_DB_VALUE : NVME_EVENT_INVALID_DB_REG);
		return;
	}
	cq->head = head;
	nvme_update_intx(c, nvme_cq_group(c, cqid));
	if (c->stopped)
		return; /* nothing waits: quiesce turned waiting jobs into records */
	while (cq->wait && cq_room(c, cqid)) {
		struct nvme_job *job = cq->wait;
		cq->wait = job->wait_next;
		job->state = NVME_JOB_RUNNING;
		post(c, job);
	}
	nvme_dbbuf_cq_eventidx(c, cqid);
	nvme_batch_end(c, nvme_cq_group(c, cqid));
}

/* Free the jobs of SQ sqid that nobody else holds (waiting for CQ room, or
 * parked), take them off their CQ's wait list, and forget the rest (they
 * belong to the library or the engine, and are dropped when they return
 * to a queue of another epoch or controller generation). */
static void release_jobs(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	struct nvme_cq *cq = sq->cqid <= UVF_NVME_MAX_QUEUES ? &c->cq[sq->cqid] : NULL;

	for (struct nvme_job *job = sq->jobs, *next; job; job = next) {
		next = job->next;
		if (job->state == NVME_JOB_WAITING && cq) {
			struct nvme_job **link = &cq->wait;
			while (*link && *link != job)
				link = &(*link)->wait_next;
			if (*link)
				*link = job->wait_next;
			if (!cq->wait)
				cq->wait_tail = &cq->wait;
			else if (cq->wait_tail == &job->wait_next)
				for (cq->wait_tail = &cq->wait; *cq->wait_tail;
				     cq->wait_tail = &(*cq->wait_tail)->wait_next)
					;
		}
		if (job->state == NVME_JOB_WAITING || job->parked)
			nvme_job_free(job);
	}
	sq->jobs = NULL;
	sq->inflight = 0;
}

void nvme_sq_forget(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_sq *sq = &c->sq[sqid];
	unsigned epoch = sq->epoch + 1;

	release_jobs(c, sq);
	memset(sq, 0, sizeof(*sq));
	sq->epoch = epoch;
	nvme_dma_purge(c);
	nvme_dbbuf_queue_changed(c, sqid);
}

void nvme_queues_reset(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i <= UVF_NVME_MAX_QUEUES; i++) {
		struct nvme_sq *sq = &c->sq[i];
		unsigned epoch = sq->epoch + 1;
		release_jobs(c, sq);
		memset(sq, 0, sizeof(*sq));
		sq->epoch = epoch;
		memset(&c->cq[i], 0, sizeof(c->cq[i]));
	}
	nvme_dma_purge(c);
}

/*
 * Message-based DMA completes on the dispatch thread that runs the
 * migration callback, so it cannot be waited for here (the client answers
 * it only after this callback). I/O on the backing file can be (every
 * worker lock is held; the engines' threads never wait for one): it is
 * drained first, and what it finished is recorded as completions
 * to post. Then each command still in flight becomes a record: completion
 * waiting for CQ room -> POST; completion being written -> REPOST; still
 * moving data -> RERUN (it had no effect yet: reads and writes are
 * idempotent, admin commands act only when their completion is decided).
 * A fetch on its way is dropped: the SQ head has not moved past it. The
 * jobs still in the library belong to an older generation from now on and
 * are dropped when their transfers return.
 */
void nvme_queues_quiesce(struct nvme_ctrl *c)
{
	c->stopped = true;
	nvme_io_drain(c);
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		if (!sq->valid)
			continue;
		sq->fetching = false;
		for (struct nvme_job *job = sq->jobs; job; job = job->next) {
			uint8_t kind = job->state == NVME_JOB_WAITING	? NVME_RESUME_POST
				       : job->state == NVME_JOB_POSTING ? NVME_RESUME_REPOST
									: NVME_RESUME_RERUN;
			record(c, job, kind);
		}
		if (sq->jobs)
			uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: quiesce: SQ %u: %u commands recorded", i,
				       sq->nresume);
		release_jobs(c, sq);
	}
	for (unsigned i = 0; i <= c->nq; i++)
		c->cq[i].wait = NULL;
	c->generation++;
	nvme_dma_purge(c);
}

/* Run again: finish the recorded commands, raise what is pending, fetch
 * from every SQ. */
void nvme_queues_resume(struct nvme_ctrl *c)
{
	c->stopped = false;
	for (unsigned i = 0; i < c->nworkers; i++)
		if (c->group[i].aio)
			nvme_aio_poll(c->group[i].aio); /* nothing should be left; cheap to be sure */
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		unsigned n = sq->nresume;
		sq->nresume = 0;
		for (unsigned k = 0; k < n && sq->valid; k++) {
			const struct nvme_resume *rec = &sq->resume[k];
			struct nvme_job *job = new_job(c, (uint16_t)i);
			if (!job) {
				uvf_device_log(c->dev, UVF_LOG_ERROR, "nvme: out of memory: a command of SQ %u is lost",
					       i);
				continue;
			}
			memcpy(job->sqe, rec->sqe, sizeof(job->sqe));
			if (rec->kind == NVME_RESUME_POST) {
				job->status = rec->status;
				job->dw0 = rec->dw0;
				job->sqe[0] = (job->sqe[0] & 0xffff) | (uint32_t)rec->cid << 16;
				nvme_complete(c, job);
			} else if (rec->kind == NVME_RESUME_REPOST) {
				const struct nvme_cq *cq = &c->cq[sq->cqid];
				memcpy(job->cqe, rec->cqe, sizeof(job->cqe));
				job->state = NVME_JOB_POSTING;
				job->cq_slot = rec->cq_slot;
				if (uvf_dma_write_async(c->dev, cq->base + (uint64_t)rec->cq_slot * 16, job->cqe, 16,
							posted, job) < 0)
					nvme_job_drop(c, job);
			} else {
				exec_job(c, job);
			}
		}
	}
	nvme_update_intx(c, NULL);
	if (c->reraise) {
		/* the interrupts the source had raised or held for entries
		 * the host has not consumed yet: signal them here too (a
		 * spurious one is harmless, the host checks the phase) */
		c->reraise = false;
		for (unsigned i = 0; i <= c->nq; i++)
			if (c->cq[i].valid && c->cq[i].head != c->cq[i].tail)
				raise_cq(c, &c->cq[i]);
	}
	for (unsigned i = 0; i <= c->nq; i++)
		nvme_kick(c, (uint16_t)i);
	nvme_batch_end(c, NULL);
}
