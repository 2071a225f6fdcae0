/* SPDX-License-Identifier: MIT */
/*
 * Submission and completion queues, and PRP data transfers. Every access to
 * host memory is asynchronous: with message-based DMA the client answers our
 * DMA only after we answered its register access, so nothing here waits.
 * Each SQ runs one command at a time: fetch, execute, post the completion,
 * interrupt, then the next entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

/* Whether the job still belongs to the live controller and queue. */
static bool job_live(struct nvme_ctrl *c, const struct nvme_job *job)
{
	return job->generation == c->generation && c->sq[job->sqid].valid && c->sq[job->sqid].epoch == job->sq_epoch;
}

static void job_free(struct nvme_job *job)
{
	free(job->buf);
	free(job->segs);
	free(job);
}

/* Drop a job whose queue or controller went away, or whose host memory
 * vanished (the command is lost, as on a real bus error). */
static void job_drop(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (job_live(c, job)) {
		c->sq[job->sqid].busy = false;
		c->sq[job->sqid].current = NULL;
	}
	job_free(job);
}

void nvme_update_intx(struct nvme_ctrl *c)
{
	bool pending = false;

	/* stopped: no interrupt; the level is computed again on resume */
	if (c->stopped || uvf_irq_mode(c->dev) != UVF_PCI_INTX_IRQ)
		return;
	/* level: asserted while an interrupting CQ holds unconsumed entries */
	for (unsigned i = 0; i <= c->nq; i++) {
		const struct nvme_cq *cq = &c->cq[i];
		if (cq->valid && cq->ien && cq->head != cq->tail)
			pending = true;
	}
	(void)uvf_irq_set_intx_level(c->dev, pending && !(c->intms & 1));
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
		nvme_update_intx(c);
}

static void posted(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;
	struct nvme_ctrl *c = job->c;

	(void)dev;
	if (!job_live(c, job) || result < 0) {
		job_drop(c, job);
		return;
	}
	struct nvme_sq *sq = &c->sq[job->sqid];
	uint16_t sqid = job->sqid;
	raise_cq(c, &c->cq[sq->cqid]);
	sq->busy = false;
	sq->current = NULL;
	job_free(job);
	nvme_kick(c, sqid);
}

/* Post the completion if its CQ has room (false otherwise). */
static bool try_post(struct nvme_ctrl *c, struct nvme_job *job)
{
	struct nvme_sq *sq = &c->sq[job->sqid];
	struct nvme_cq *cq = &c->cq[sq->cqid];

	if (!cq->valid)
		return false;
	if ((cq->tail + 1) % cq->size == cq->head &&
	    !(nvme_dbbuf_cq_refresh(c, sq->cqid) && (cq->tail + 1) % cq->size != cq->head))
		return false;
	job->cqe[0] = job->dw0;
	job->cqe[1] = 0;
	job->cqe[2] = (uint32_t)job->sqid << 16 | sq->head;
	job->cqe[3] = (uint32_t)job->status << 17 | (uint32_t)cq->phase << 16 | (job->sqe[0] >> 16);
	uint64_t addr = cq->base + (uint64_t)cq->tail * 16;
	job->posting = true;
	job->cq_slot = cq->tail;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	if (uvf_dma_write_async(c->dev, addr, job->cqe, 16, posted, job) < 0)
		job_drop(c, job);
	return true;
}

void nvme_complete(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!job_live(c, job)) {
		job_drop(c, job);
		return;
	}
	if (job->status)
		job->status |= NVME_SC_DNR;
	if (!try_post(c, job)) {
		uint16_t cqid = c->sq[job->sqid].cqid;
		c->sq[job->sqid].waiting = job; /* the SQ stays busy until the host frees CQ entries */
		/* shadow doorbells: ask for the head doorbell; if the head moved meanwhile, post now */
		if (nvme_dbbuf_cq_refresh(c, cqid))
			nvme_cq_doorbell(c, cqid, c->cq[cqid].head);
	}
}

static void fetched(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;
	struct nvme_ctrl *c = job->c;

	(void)dev;
	if (!job_live(c, job) || result < 0) {
		if (result < 0 && job_live(c, job))
			uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: cannot fetch from SQ %u: %s", job->sqid,
				       uvf_strerror(result));
		job_drop(c, job);
		return;
	}
	struct nvme_sq *sq = &c->sq[job->sqid];
	sq->head = (sq->head + 1) % sq->size;
	if (job->sqid == 0)
		nvme_admin_exec(c, job);
	else
		nvme_io_exec(c, job);
}

void nvme_kick(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_sq *sq = &c->sq[sqid];

	if (c->stopped || !c->enabled || !sq->valid || sq->busy)
		return;
	nvme_dbbuf_sq_refresh(c, sqid);
	if (sq->head == sq->tail)
		return;
	struct nvme_job *job = calloc(1, sizeof(*job));
	if (!job)
		return; /* retried at the next doorbell */
	job->c = c;
	job->generation = c->generation;
	job->sqid = sqid;
	job->sq_epoch = sq->epoch;
	job->slot = sq->head;
	sq->busy = true;
	sq->current = job;
	if (uvf_dma_read_async(c->dev, sq->base + (uint64_t)sq->head * 64, job->sqe, 64, fetched, job) < 0)
		job_drop(c, job);
}

void nvme_sq_doorbell(struct nvme_ctrl *c, uint16_t sqid, uint32_t tail)
{
	struct nvme_sq *sq = &c->sq[sqid];

	if (!sq->valid || tail >= sq->size)
		return; /* an invalid doorbell write is ignored */
	sq->tail = tail;
	nvme_dbbuf_doorbell(c, sqid);
	nvme_kick(c, sqid);
}

void nvme_cq_doorbell(struct nvme_ctrl *c, uint16_t cqid, uint32_t head)
{
	struct nvme_cq *cq = &c->cq[cqid];

	if (!cq->valid || head >= cq->size)
		return;
	cq->head = head;
	nvme_update_intx(c);
	if (c->stopped)
		return; /* nothing waits: quiesce turned waiting jobs into records */
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		if (sq->valid && sq->cqid == cqid && sq->waiting) {
			struct nvme_job *job = sq->waiting;
			if (!try_post(c, job))
				break;
			sq->waiting = NULL;
		}
	}
	nvme_dbbuf_cq_eventidx(c, cqid);
}

void nvme_queues_reset(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i <= UVF_NVME_MAX_QUEUES; i++) {
		struct nvme_sq *sq = &c->sq[i];
		unsigned epoch = sq->epoch + 1;
		if (sq->waiting)
			job_free(sq->waiting);
		memset(sq, 0, sizeof(*sq));
		sq->epoch = epoch;
		memset(&c->cq[i], 0, sizeof(c->cq[i]));
	}
}

/* A job for SQ sqid outside the fetch path (resume), marked in progress. */
static struct nvme_job *resume_job(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_sq *sq = &c->sq[sqid];
	struct nvme_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->c = c;
	job->generation = c->generation;
	job->sqid = sqid;
	job->sq_epoch = sq->epoch;
	sq->busy = true;
	sq->current = job;
	return job;
}

/*
 * Completions reach us on the dispatch thread that runs the migration
 * callback, so commands in flight cannot be waited for here. Instead each
 * SQ's command in flight is recorded: still being fetched or moving data
 * (no effect yet: reads and writes are idempotent, admin commands act
 * only when their completion is decided) -> the SQ head goes back to it
 * and it is fetched again on resume; completion decided -> its completion
 * is kept in sq->resume and posted on resume. The jobs still in the
 * library belong to an older generation from now on and are dropped when
 * their transfers return.
 */
void nvme_queues_quiesce(struct nvme_ctrl *c)
{
	c->stopped = true;
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		struct nvme_job *job = sq->current;
		if (!sq->valid || !sq->busy)
			continue;
		if (sq->waiting) {
			job = sq->waiting;
			sq->resume = (struct nvme_resume){.kind = NVME_RESUME_POST,
							  .status = job->status,
							  .cid = (uint16_t)(job->sqe[0] >> 16),
							  .dw0 = job->dw0};
			sq->waiting = NULL;
			job_free(job); /* not in the library: ours to free */
			uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: quiesce: SQ %u: completion waits for CQ room", i);
		} else if (job && job->posting) {
			sq->resume = (struct nvme_resume){.kind = NVME_RESUME_REPOST, .cq_slot = job->cq_slot};
			memcpy(sq->resume.cqe, job->cqe, sizeof(job->cqe));
			uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: quiesce: SQ %u: completion being posted", i);
		} else if (job) {
			sq->head = job->slot;
			uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: quiesce: SQ %u: entry %u runs again on resume", i,
				       job->slot);
		}
		sq->busy = false;
		sq->current = NULL;
	}
	c->generation++;
}

/* Run again: finish the recorded completions, raise what is pending,
 * fetch from every SQ. */
void nvme_queues_resume(struct nvme_ctrl *c)
{
	c->stopped = false;
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		struct nvme_resume rec = sq->resume;
		memset(&sq->resume, 0, sizeof(sq->resume));
		if (!sq->valid || rec.kind == NVME_RESUME_NONE)
			continue;
		struct nvme_job *job = resume_job(c, (uint16_t)i);
		if (!job) {
			sq->busy = false;
			sq->current = NULL;
			uvf_device_log(c->dev, UVF_LOG_ERROR, "nvme: out of memory: a completion of SQ %u is lost", i);
			continue;
		}
		if (rec.kind == NVME_RESUME_POST) {
			job->status = rec.status;
			job->dw0 = rec.dw0;
			job->sqe[0] = (uint32_t)rec.cid << 16;
			nvme_complete(c, job);
		} else {
			const struct nvme_cq *cq = &c->cq[sq->cqid];
			memcpy(job->cqe, rec.cqe, sizeof(job->cqe));
			job->posting = true;
			job->cq_slot = rec.cq_slot;
			if (uvf_dma_write_async(c->dev, cq->base + (uint64_t)rec.cq_slot * 16, job->cqe, 16, posted,
						job) < 0)
				job_drop(c, job);
		}
	}
	nvme_update_intx(c);
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
}

/* ---- PRP transfers ---- */

static void finish_transfer(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!job_live(c, job)) {
		job_drop(c, job);
		return;
	}
	if (job->dma_error) {
		job->status = NVME_SC_DATA_XFER;
		nvme_complete(c, job);
		return;
	}
	job->after(c, job);
}

static void seg_done(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;

	(void)dev;
	if (result < 0 && !job->dma_error)
		job->dma_error = result;
	if (--job->outstanding == 0)
		finish_transfer(job->c, job);
}

static void move_data(struct nvme_ctrl *c, struct nvme_job *job)
{
	size_t off = 0;

	/* all segments at once: transfers progress in the order started */
	job->outstanding = 1; /* held until every transfer is started */
	for (size_t i = 0; i < job->nseg && !job->dma_error; i++) {
		const struct nvme_seg *s = &job->segs[i];
		int ret = job->to_host ? uvf_dma_write_async(c->dev, s->addr, job->buf + off, s->len, seg_done, job)
				       : uvf_dma_read_async(c->dev, s->addr, job->buf + off, s->len, seg_done, job);
		if (ret < 0)
			job->dma_error = ret;
		else
			job->outstanding++;
		off += s->len;
	}
	if (--job->outstanding == 0)
		finish_transfer(c, job);
}

static int add_seg(struct nvme_job *job, uint64_t addr, size_t len)
{
	if (job->nseg == job->segcap) {
		size_t cap = job->segcap ? job->segcap * 2 : 16;
		struct nvme_seg *s = realloc(job->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		job->segs = s;
		job->segcap = cap;
	}
	if (addr > UINT64_MAX - len)
		return -EFAULT;
	job->segs[job->nseg].addr = addr;
	job->segs[job->nseg].len = (uint32_t)len;
	job->nseg++;
	job->mapped += len;
	return 0;
}

static void fail(struct nvme_ctrl *c, struct nvme_job *job, uint16_t status)
{
	job->status = status;
	nvme_complete(c, job);
}

static void read_list(struct nvme_ctrl *c, struct nvme_job *job);

static size_t list_count(const struct nvme_job *job)
{
	size_t slots = (NVME_PAGE - job->prp_list % NVME_PAGE) / 8;
	return job->prp_left < slots ? job->prp_left : slots;
}

static void list_read(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;
	struct nvme_ctrl *c = job->c;

	(void)dev;
	if (!job_live(c, job)) {
		job_drop(c, job);
		return;
	}
	if (result < 0) {
		fail(c, job, NVME_SC_DATA_XFER);
		return;
	}
	size_t cnt = list_count(job);
	bool more = job->prp_left > cnt; /* the last slot chains to the next list page */
	size_t data_entries = more ? cnt - 1 : cnt;
	for (size_t i = 0; i < data_entries; i++) {
		uint64_t e = job->prp_tmp[i];
		size_t n = job->len - job->mapped < NVME_PAGE ? job->len - job->mapped : NVME_PAGE;
		if (e % NVME_PAGE) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		if (add_seg(job, e, n) < 0) {
			fail(c, job, NVME_SC_DATA_XFER);
			return;
		}
	}
	job->prp_left -= data_entries;
	if (more) {
		job->prp_list = job->prp_tmp[cnt - 1];
		/* a chained list starts a page: every list page then adds
		 * entries, so a list pointing at itself cannot loop for ever */
		if (job->prp_list % NVME_PAGE || data_entries == 0) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		read_list(c, job);
		return;
	}
	move_data(c, job);
}

static void read_list(struct nvme_ctrl *c, struct nvme_job *job)
{
	size_t cnt = list_count(job);
	if (uvf_dma_read_async(c->dev, job->prp_list, job->prp_tmp, cnt * 8, list_read, job) < 0)
		fail(c, job, NVME_SC_DATA_XFER);
}

void nvme_transfer(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after)
{
	uint64_t prp1 = (uint64_t)job->sqe[7] << 32 | job->sqe[6];
	uint64_t prp2 = (uint64_t)job->sqe[9] << 32 | job->sqe[8];

	job->len = len;
	job->to_host = to_host;
	job->after = after;
	job->nseg = 0;
	job->mapped = 0;
	job->dma_error = 0;
	if (prp1 % 4) {
		fail(c, job, NVME_SC_PRP_OFFSET);
		return;
	}
	size_t first = NVME_PAGE - prp1 % NVME_PAGE;
	if (first > len)
		first = len;
	if (add_seg(job, prp1, first) < 0) {
		fail(c, job, NVME_SC_DATA_XFER);
		return;
	}
	size_t rest = len - first;
	if (rest == 0) {
		move_data(c, job);
		return;
	}
	size_t entries = (rest + NVME_PAGE - 1) / NVME_PAGE;
	if (entries == 1) {
		if (prp2 % NVME_PAGE) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		if (add_seg(job, prp2, rest) < 0) {
			fail(c, job, NVME_SC_DATA_XFER);
			return;
		}
		move_data(c, job);
		return;
	}
	if (prp2 % 8) {
		fail(c, job, NVME_SC_PRP_OFFSET);
		return;
	}
	job->prp_list = prp2;
	job->prp_left = entries;
	read_list(c, job);
}
