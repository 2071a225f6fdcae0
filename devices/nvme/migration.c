/* SPDX-License-Identifier: MIT */
/*
 * Live migration of the controller: quiesce and resume (queue.c does the
 * queues), and the state stream (format in nvme.h). The namespace is not
 * copied: both sides open the same backing file, and a stream from a
 * controller with another namespace size or queue count is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/devmig.h"
#include "nvme_int.h"

/* Version 4: version 3 (a list of commands in flight per SQ, and the
 * shadow doorbell buffers) and then Coalescing Disable per vector and the
 * asynchronous event state. 1 (one recorded completion per SQ, no shadow
 * doorbells) and 3 are still read; 2 was never released (two different
 * layouts had it) and is refused. */
#define NVME_MIG_TAG	 0x454d564eu /* "NVME" */
#define NVME_MIG_VERSION 4u
#define NVME_MIG_REGS	 NVME_MSIX_TABLE /* registers and doorbells; the MSI-X table is the library's */
#define NVME_MIG_MAX	 (1u << 20)	 /* the largest stream is about 420 KiB */
#define NVME_QUEUE_MAX	 4096u		 /* admin queues go up to 4096 entries, I/O queues to MQES + 1 */

static struct devmig *mig_of(struct nvme_ctrl *c)
{
	return c->mig;
}

static void put_queues(struct devmig_writer *w, const struct nvme_ctrl *c)
{
	for (unsigned i = 0; i <= c->nq; i++) {
		const struct nvme_sq *sq = &c->sq[i];
		const struct nvme_cq *cq = &c->cq[i];
		devmig_put_u8(w, sq->valid);
		devmig_put_u16(w, sq->cqid);
		devmig_put_u32(w, sq->size);
		devmig_put_u32(w, sq->head);
		devmig_put_u32(w, sq->tail);
		devmig_put_u64(w, sq->base);
		devmig_put_u32(w, sq->nresume);
		for (unsigned n = 0; n < sq->nresume; n++) {
			const struct nvme_resume *rec = &sq->resume[n];
			devmig_put_u8(w, rec->kind);
			devmig_put_u16(w, rec->status);
			devmig_put_u16(w, rec->cid);
			devmig_put_u32(w, rec->dw0);
			devmig_put_u32(w, rec->cq_slot);
			for (unsigned k = 0; k < 4; k++)
				devmig_put_u32(w, rec->cqe[k]);
			for (unsigned k = 0; k < 16; k++)
				devmig_put_u32(w, rec->sqe[k]);
		}
		devmig_put_u8(w, cq->valid);
		devmig_put_u8(w, cq->ien);
		devmig_put_u8(w, cq->phase);
		devmig_put_u16(w, cq->iv);
		devmig_put_u32(w, cq->size);
		devmig_put_u32(w, cq->head);
		devmig_put_u32(w, cq->tail);
		devmig_put_u64(w, cq->base);
	}
}

static int build_stream(struct nvme_ctrl *c)
{
	struct devmig_writer w;
	uint8_t *stream;
	size_t len;

	devmig_writer_begin(&w, NVME_MIG_TAG, NVME_MIG_VERSION);
	devmig_put_u32(&w, c->nq);
	devmig_put_u64(&w, c->store.size);
	devmig_put_u32(&w, NVME_MIG_REGS);
	devmig_put_bytes(&w, c->regs, NVME_MIG_REGS);
	devmig_put_u8(&w, c->enabled);
	devmig_put_u32(&w, c->csts);
	devmig_put_u32(&w, c->intms);
	devmig_put_u32(&w, c->feat_arb);
	devmig_put_u32(&w, c->feat_pm);
	devmig_put_u32(&w, c->feat_vwc);
	devmig_put_u32(&w, c->feat_coal);
	devmig_put_u32(&w, c->feat_aec);
	devmig_put_u64(&w, c->units_read);
	devmig_put_u64(&w, c->units_written);
	devmig_put_u64(&w, c->cmds_read);
	devmig_put_u64(&w, c->cmds_written);
	devmig_put_u32(&w, c->aer_pending);
	for (unsigned i = 0; i < c->aer_pending; i++)
		devmig_put_u16(&w, c->aer_cid[i]);
	put_queues(&w, c);
	uint64_t dbs, eis;
	devmig_put_u8(&w, nvme_dbbuf_get(c, &dbs, &eis));
	devmig_put_u64(&w, dbs);
	devmig_put_u64(&w, eis);
	devmig_put_u64(&w, c->coal_disabled[0]);
	devmig_put_u64(&w, c->coal_disabled[1]);
	devmig_put_u8(&w, c->aer_events);
	devmig_put_u8(&w, c->aer_masked);
	devmig_put_u64(&w, c->err_count);
	devmig_put_u16(&w, c->err_sqid);
	int ret = devmig_writer_finish(&w, &stream, &len);
	if (ret == 0)
		devmig_save_begin(mig_of(c), stream, len);
	return ret;
}

/* The controller state a stream describes, checked before it is applied. */
struct nvme_image {
	const uint8_t *regs;
	bool enabled;
	uint32_t csts, intms, feat_arb, feat_pm, feat_vwc, feat_coal, feat_aec, aer_pending;
	uint64_t units_read, units_written, cmds_read, cmds_written;
	uint16_t aer_cid[NVME_AERL + 1];
	struct nvme_sq sq[UVF_NVME_MAX_QUEUES + 1];
	struct nvme_cq cq[UVF_NVME_MAX_QUEUES + 1];
	bool dbbuf; /* shadow doorbells configured at these two pages */
	uint64_t dbs, eis;
	uint64_t coal_disabled[2];
	uint8_t aer_events;
	bool aer_masked;
	uint64_t err_count;
	uint16_t err_sqid;
};

static bool get_bool(struct devmig_reader *r, bool *ok)
{
	uint8_t v = devmig_get_u8(r);
	if (v > 1)
		*ok = false;
	return v == 1;
}

static bool queue_shape_ok(uint32_t size, uint32_t head, uint32_t tail, uint64_t base)
{
	return size >= 2 && size <= NVME_QUEUE_MAX && head < size && tail < size && base % NVME_PAGE == 0;
}

/* Version 1: one completion recorded per SQ (kind 0 none, 1 post, 2
 * repost), no submission entry; read into a list of at most one. */
static const char *get_v1_record(struct devmig_reader *r, struct nvme_sq *sq)
{
	struct nvme_resume *rec = &sq->resume[0];

	memset(rec, 0, sizeof(*rec));
	rec->kind = devmig_get_u8(r);
	rec->status = devmig_get_u16(r);
	rec->cid = devmig_get_u16(r);
	rec->dw0 = devmig_get_u32(r);
	rec->cq_slot = devmig_get_u32(r);
	for (unsigned k = 0; k < 4; k++)
		rec->cqe[k] = devmig_get_u32(r);
	if (rec->kind > NVME_RESUME_REPOST)
		return "unknown recorded completion";
	sq->nresume = rec->kind != NVME_RESUME_NONE;
	return NULL;
}

static const char *get_queues(struct devmig_reader *r, const struct nvme_ctrl *c, struct nvme_image *im,
			      uint32_t version)
{
	bool ok = true;

	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &im->sq[i];
		struct nvme_cq *cq = &im->cq[i];
		sq->valid = get_bool(r, &ok);
		sq->cqid = devmig_get_u16(r);
		sq->size = devmig_get_u32(r);
		sq->head = devmig_get_u32(r);
		sq->tail = devmig_get_u32(r);
		sq->base = devmig_get_u64(r);
		if (version == 1) {
			const char *why = get_v1_record(r, sq);
			if (why)
				return why;
		}
		uint32_t nresume = version == 1 ? sq->nresume : devmig_get_u32(r);
		if (nresume > NVME_SQ_INFLIGHT)
			return "too many commands recorded";
		sq->nresume = nresume;
		for (unsigned n = 0; n < nresume && version != 1; n++) {
			struct nvme_resume *rec = &sq->resume[n];
			rec->kind = devmig_get_u8(r);
			rec->status = devmig_get_u16(r);
			rec->cid = devmig_get_u16(r);
			rec->dw0 = devmig_get_u32(r);
			rec->cq_slot = devmig_get_u32(r);
			for (unsigned k = 0; k < 4; k++)
				rec->cqe[k] = devmig_get_u32(r);
			for (unsigned k = 0; k < 16; k++)
				rec->sqe[k] = devmig_get_u32(r);
			if (rec->kind == NVME_RESUME_NONE || rec->kind > NVME_RESUME_RERUN)
				return "unknown recorded command";
		}
		cq->valid = get_bool(r, &ok);
		cq->ien = get_bool(r, &ok);
		cq->phase = get_bool(r, &ok);
		cq->iv = devmig_get_u16(r);
		cq->size = devmig_get_u32(r);
		cq->head = devmig_get_u32(r);
		cq->tail = devmig_get_u32(r);
		cq->base = devmig_get_u64(r);
		if (!ok)
			return "bad flag";
		if (cq->valid && (!queue_shape_ok(cq->size, cq->head, cq->tail, cq->base) || cq->iv > c->nq))
			return "bad completion queue";
		if (sq->valid && !queue_shape_ok(sq->size, sq->head, sq->tail, sq->base))
			return "bad submission queue";
		if (!sq->valid && sq->nresume)
			return "command recorded for an absent queue";
		if (i == 0 && sq->nresume > 1)
			return "more than one admin command recorded";
	}
	/* a second pass: an SQ refers to a CQ that may come after it */
	for (unsigned i = 0; i <= c->nq; i++) {
		const struct nvme_sq *sq = &im->sq[i];
		if (!sq->valid)
			continue;
		if (sq->cqid > c->nq || (i == 0) != (sq->cqid == 0) || !im->cq[sq->cqid].valid)
			return "submission queue bound to a bad completion queue";
		for (unsigned n = 0; n < sq->nresume; n++)
			if (sq->resume[n].kind == NVME_RESUME_REPOST && sq->resume[n].cq_slot >= im->cq[sq->cqid].size)
				return "recorded completion outside its queue";
	}
	if (im->enabled != (im->sq[0].valid && im->cq[0].valid))
		return "admin queues do not match the enable state";
	for (unsigned i = 1; i <= c->nq && !im->enabled; i++)
		if (im->sq[i].valid || im->cq[i].valid)
			return "I/O queues on a disabled controller";
	return NULL;
}

static int parse_stream(struct nvme_ctrl *c, struct nvme_image *im)
{
	struct devmig_reader r;
	uint32_t version;
	const char *why = NULL;
	bool ok = true;

	if (devmig_load_finish(mig_of(c), NVME_MIG_TAG, NVME_MIG_VERSION, &r, &version) < 0) {
		uvf_device_log(
			c->dev, UVF_LOG_WARNING,
			"nvme: migration stream refused: truncated, corrupted or not an nvme v1, v3 or v4 stream "
			"(%zu bytes)",
			mig_of(c)->in_len);
		return -EINVAL;
	}
	if (version == 2) {
		uvf_device_log(c->dev, UVF_LOG_WARNING,
			       "nvme: migration stream refused: version 2 was never released (1, 3 and %u are read)",
			       NVME_MIG_VERSION);
		return -EINVAL;
	}
	uint32_t nq = devmig_get_u32(&r);
	uint64_t size = devmig_get_u64(&r);
	if (nq != c->nq) {
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: migration stream refused: %u I/O queue pairs, here %u",
			       nq, c->nq);
		return -EINVAL;
	}
	if (size != c->store.size) {
		uvf_device_log(c->dev, UVF_LOG_WARNING,
			       "nvme: migration stream refused: namespace of %llu bytes, here %llu (both sides must "
			       "open the same backing file)",
			       (unsigned long long)size, (unsigned long long)c->store.size);
		return -EINVAL;
	}
	if (devmig_get_u32(&r) != NVME_MIG_REGS || r.len - r.pos < NVME_MIG_REGS) {
		why = "bad register block";
		goto bad;
	}
	im->regs = r.p + r.pos;
	r.pos += NVME_MIG_REGS;
	im->enabled = get_bool(&r, &ok);
	im->csts = devmig_get_u32(&r);
	im->intms = devmig_get_u32(&r);
	im->feat_arb = devmig_get_u32(&r);
	im->feat_pm = devmig_get_u32(&r);
	im->feat_vwc = devmig_get_u32(&r);
	im->feat_coal = devmig_get_u32(&r);
	im->feat_aec = devmig_get_u32(&r);
	im->units_read = devmig_get_u64(&r);
	im->units_written = devmig_get_u64(&r);
	im->cmds_read = devmig_get_u64(&r);
	im->cmds_written = devmig_get_u64(&r);
	im->aer_pending = devmig_get_u32(&r);
	if (!ok || im->aer_pending > NVME_AERL + 1 || (im->aer_pending && !im->enabled)) {
		why = "bad controller fields";
		goto bad;
	}
	for (unsigned i = 0; i < im->aer_pending; i++)
		im->aer_cid[i] = devmig_get_u16(&r);
	why = get_queues(&r, c, im, version);
	if (!why && version >= 3) {
		im->dbbuf = get_bool(&r, &ok);
		im->dbs = devmig_get_u64(&r);
		im->eis = devmig_get_u64(&r);
		if (!ok ||
		    (im->dbbuf && (im->dbs % NVME_PAGE || im->eis % NVME_PAGE || im->dbs == im->eis || !im->enabled)) ||
		    (!im->dbbuf && (im->dbs || im->eis)))
			why = "bad shadow doorbell buffers";
	}
	if (!why && version >= 4) {
		im->coal_disabled[0] = devmig_get_u64(&r);
		im->coal_disabled[1] = devmig_get_u64(&r);
		im->aer_events = devmig_get_u8(&r);
		im->aer_masked = get_bool(&r, &ok);
		im->err_count = devmig_get_u64(&r);
		im->err_sqid = devmig_get_u16(&r);
		/* vectors 0..queues; the two doorbell events */
		uint64_t vectors_hi = c->nq == 64 ? 1 : 0;
		if (!ok || (c->nq < 63 && im->coal_disabled[0] >> (c->nq + 1)) || im->coal_disabled[1] & ~vectors_hi ||
		    im->aer_events & ~3u || ((im->aer_events || im->aer_masked) && !im->enabled) ||
		    im->err_sqid > c->nq)
			why = "bad event or vector fields";
	}
	if (!why && devmig_reader_end(&r) < 0)
		why = "length does not match the fields";
	if (!why)
		return 0;
bad:
	uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: migration stream refused: %s", why);
	return -EINVAL;
}

static void apply_image(struct nvme_ctrl *c, const struct nvme_image *im)
{
	/* whatever this side had (jobs, waiting completions) is dropped;
	 * the epochs go on from here so stale jobs stay stale */
	c->generation++;
	nvme_queues_reset(c);
	memcpy(c->regs, im->regs, NVME_MIG_REGS);
	c->enabled = im->enabled;
	c->csts = im->csts;
	c->intms = im->intms;
	c->feat_arb = im->feat_arb;
	c->feat_pm = im->feat_pm;
	c->feat_vwc = im->feat_vwc;
	c->feat_coal = im->feat_coal;
	c->feat_aec = im->feat_aec;
	c->units_read = im->units_read;
	c->units_written = im->units_written;
	c->cmds_read = im->cmds_read;
	c->cmds_written = im->cmds_written;
	c->aer_pending = im->aer_pending;
	memcpy(c->aer_cid, im->aer_cid, sizeof(c->aer_cid));
	for (unsigned i = 0; i <= c->nq; i++) {
		struct nvme_sq *sq = &c->sq[i];
		const struct nvme_sq *from = &im->sq[i];
		if (from->valid) {
			sq->valid = true;
			sq->cqid = from->cqid;
			sq->size = from->size;
			sq->head = from->head;
			sq->tail = from->tail;
			sq->base = from->base;
			__atomic_store_n(&c->sq_group[i], (uint8_t)(i ? nvme_cq_group(c, from->cqid)->index : 0),
					 __ATOMIC_RELAXED);
			sq->nresume = from->nresume;
			memcpy(sq->resume, from->resume, from->nresume * sizeof(from->resume[0]));
		}
		if (im->cq[i].valid)
			c->cq[i] = im->cq[i];
	}
	memcpy(c->coal_disabled, im->coal_disabled, sizeof(c->coal_disabled));
	nvme_events_reset(c);
	c->aer_events = im->aer_events;
	c->aer_masked = im->aer_masked;
	c->err_count = im->err_count;
	c->err_sqid = im->err_sqid;
	if (im->dbbuf)
		nvme_dbbuf_set(c, im->dbs, im->eis);
	else
		nvme_dbbuf_clear(c);
	c->reraise = true;
	nvme_regs_sync(c);
}

static int transition(struct nvme_ctrl *c, enum uvf_migration_state from, enum uvf_migration_state to);

/* The workers stop at every lock; quiesce waits for their engines. */
static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	nvme_lock_all(c);
	int ret = transition(c, from, to);
	nvme_unlock_all(c);
	return ret;
}

static int transition(struct nvme_ctrl *c, enum uvf_migration_state from, enum uvf_migration_state to)
{
	struct devmig *m = mig_of(c);
	int ret = 0;

	if ((from == UVF_MIGRATION_STATE_RUNNING || from == UVF_MIGRATION_STATE_PRE_COPY) &&
	    (to == UVF_MIGRATION_STATE_STOP || to == UVF_MIGRATION_STATE_STOP_COPY)) {
		nvme_dbbuf_pause(c, true); /* no more EventIdx writes */
		nvme_queues_quiesce(c);
		nvme_events_deliver(c); /* stopped: takes what was raised, delivers nothing */
	}
	switch (to) {
	case UVF_MIGRATION_STATE_STOP_COPY:
		/* the namespace travels through the shared backing file: make
		 * what was written visible to a destination on another host */
		ret = nvme_backing_flush(&c->store);
		if (ret < 0)
			uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: cannot flush the backing file: %s",
				       uvf_strerror(ret));
		return ret < 0 ? ret : build_stream(c); /* all of it: the state is small */
	case UVF_MIGRATION_STATE_RESUMING:
		devmig_load_begin(m, NVME_MIG_MAX);
		return 0;
	case UVF_MIGRATION_STATE_STOP:
		if (from == UVF_MIGRATION_STATE_RESUMING) {
			struct nvme_image *im = calloc(1, sizeof(*im));
			ret = im ? parse_stream(c, im) : -ENOMEM;
			if (ret == 0)
				apply_image(c, im);
			free(im);
		}
		break;
	case UVF_MIGRATION_STATE_RUNNING:
		if (from == UVF_MIGRATION_STATE_STOP) {
			nvme_queues_resume(c);
			nvme_dbbuf_pause(c, false); /* the shadow tails written meanwhile are taken */
			nvme_events_deliver(c);	    /* raised while stopped */
		}
		break;
	default: /* PRE_COPY sends nothing before the final copy */
		break;
	}
	devmig_clear(m);
	return ret;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	return devmig_save(mig_of(c), buf, len);
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	return devmig_load(mig_of(c), buf, len);
}

static uint64_t mig_pending(struct uvf_device *dev, void *data)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	return devmig_save_pending(mig_of(c));
}

int nvme_migration_setup(struct nvme_ctrl *c)
{
	const struct uvf_migration_callbacks cb = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
		.pending = mig_pending,
	};

	c->mig = calloc(1, sizeof(struct devmig));
	if (!c->mig)
		return -ENOMEM;
	return uvf_device_set_migration(c->dev, &cb, c, UVF_MIGRATION_PRE_COPY);
}

/* DEVICE_RESET: the library is back to RUNNING, whatever the state was. */
void nvme_migration_reset(struct nvme_ctrl *c)
{
	c->stopped = false;
	c->reraise = false;
	nvme_dbbuf_pause(c, false);
	if (c->mig)
		devmig_clear(c->mig);
}

void nvme_migration_free(struct nvme_ctrl *c)
{
	if (c->mig) {
		devmig_clear(c->mig);
		free(c->mig);
		c->mig = NULL;
	}
}
