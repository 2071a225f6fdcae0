/* SPDX-License-Identifier: MIT */
/* Admin commands. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "nvme_int.h"

enum {
	ADM_DELETE_SQ = 0x00,
	ADM_CREATE_SQ = 0x01,
	ADM_GET_LOG = 0x02,
	ADM_DELETE_CQ = 0x04,
	ADM_CREATE_CQ = 0x05,
	ADM_IDENTIFY = 0x06,
	ADM_ABORT = 0x08,
	ADM_SET_FEATURES = 0x09,
	ADM_GET_FEATURES = 0x0a,
	ADM_AER = 0x0c,
	ADM_DBBUF = 0x7c, /* Doorbell Buffer Config */
};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* ASCII, space padded, as Identify strings are. */
static void put_str(uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);
	memset(p, ' ', n);
	memcpy(p, s, l < n ? l : n);
}

static void done(struct nvme_ctrl *c, struct nvme_job *job, uint16_t status)
{
	job->status = status;
	nvme_complete(c, job);
}

static void sent(struct nvme_ctrl *c, struct nvme_job *job)
{
	done(c, job, NVME_SC_SUCCESS);
}

/* Send a zeroed, filled-in buffer of len bytes to the host. */
static uint8_t *out_buf(struct nvme_ctrl *c, struct nvme_job *job, size_t len)
{
	job->buf = calloc(1, len);
	if (!job->buf)
		done(c, job, NVME_SC_DATA_XFER);
	return job->buf;
}

static void nguid(const struct nvme_ctrl *c, uint8_t *p)
{
	/* stable per serial number */
	uint64_t h = 1469598103934665603ull;
	for (const char *s = c->serial; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	put64(p, h);
	put64(p + 8, h ^ 0x75766601ull);
}

static void identify(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t cns = job->sqe[10] & 0xff;
	uint32_t nsid = job->sqe[1];
	uint8_t *d;

	if (cns > 3) {
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	if ((cns == 0 || cns == 3) && nsid != 1) {
		done(c, job, NVME_SC_INVALID_NS);
		return;
	}
	if (!(d = out_buf(c, job, NVME_PAGE)))
		return;
	uint64_t nlb = c->store.size / NVME_LBA;
	switch (cns) {
	case 0:
		put64(d + 0, nlb);  /* NSZE */
		put64(d + 8, nlb);  /* NCAP */
		put64(d + 16, nlb); /* NUSE */
		d[33] = 0x01;	    /* DLFEAT: deallocated blocks read as zeros */
		nguid(c, d + 104);
		put32(d + 128, 9u << 16); /* LBAF0: 512-byte blocks */
		break;
	case 1:
		put16(d + 0, UVF_NVME_VENDOR_ID);
		put16(d + 2, UVF_NVME_VENDOR_ID);
		put_str(d + 4, 20, c->serial);
		put_str(d + 24, 40, "uvf NVMe controller");
		put_str(d + 64, 8, "1.0");
		d[77] = NVME_MDTS;
		put16(d + 78, 1);	   /* CNTLID */
		put32(d + 80, 0x00010400); /* VER */
		put16(d + 256, 1u << 8);   /* OACS: Doorbell Buffer Config */
		d[258] = 3;		   /* ACL */
		d[259] = NVME_AERL;
		d[260] = 0x03;		 /* FRMW: one slot, read-only */
		d[512] = 0x66;		 /* SQES */
		d[513] = 0x44;		 /* CQES */
		put32(d + 516, 1);	 /* NN */
		put16(d + 520, 0x0c);	 /* ONCS: DSM, Write Zeroes */
		d[525] = 1;		 /* VWC */
		put16(d + 2048, 0x09c4); /* PSD0 max power */
		/* SUBNQN (NVMe 1.4 expects one): unique by serial */
		snprintf((char *)d + 768, 256, "nqn.2026-11.dev.uvf:nvme:%s", c->serial);
		break;
	case 2:
		if (nsid < 1)
			put32(d, 1);
		break;
	case 3:
		d[0] = 2; /* NGUID */
		d[1] = 16;
		nguid(c, d + 4);
		break;
	}
	nvme_transfer(c, job, NVME_PAGE, true, sent);
}

/* The error log reached the host: error events may come again, unless
 * it asked to retain them (RAE), after this command's completion. */
static void error_log_sent(struct nvme_ctrl *c, struct nvme_job *job)
{
	bool retain = job->sqe[10] >> 15 & 1;

	done(c, job, NVME_SC_SUCCESS);
	nvme_events_log_read(c, retain);
}

static void get_log(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t lid = job->sqe[10] & 0xff;
	uint64_t numd = ((uint64_t)(job->sqe[11] & 0xffff) << 16 | job->sqe[10] >> 16) + 1;
	uint64_t off = (uint64_t)job->sqe[13] << 32 | job->sqe[12];
	uint8_t log[512] = {0};
	size_t loglen;

	switch (lid) {
	case 1: /* error information: the last error (a doorbell write), or none */
		loglen = 64;
		if (c->err_count) {
			put64(log, c->err_count);
			put16(log + 8, c->err_sqid);
			put16(log + 10, 0xffff); /* no command */
			put16(log + 14, 0xffff); /* no parameter */
		}
		break;
	case 2: /* SMART / health */
		loglen = 512;
		put16(log + 1, 323); /* 50 C in kelvin */
		log[3] = 100;	     /* available spare */
		log[4] = 10;	     /* threshold */
		memcpy(log + 32, &(uint64_t){(__atomic_load_n(&c->units_read, __ATOMIC_RELAXED) + 999) / 1000}, 8);
		memcpy(log + 48, &(uint64_t){(__atomic_load_n(&c->units_written, __ATOMIC_RELAXED) + 999) / 1000}, 8);
		memcpy(log + 64, &(uint64_t){__atomic_load_n(&c->cmds_read, __ATOMIC_RELAXED)}, 8);
		memcpy(log + 80, &(uint64_t){__atomic_load_n(&c->cmds_written, __ATOMIC_RELAXED)}, 8);
		break;
	case 3: /* firmware slots */
		loglen = 512;
		log[0] = 1;
		put_str(log + 8, 8, "1.0");
		break;
	default:
		done(c, job, NVME_SC_INVALID_LOG);
		return;
	}
	if (numd * 4 > NVME_MAX_XFER || off % 4 || off > loglen) {
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	size_t len = (size_t)numd * 4;
	uint8_t *d = out_buf(c, job, len);
	if (!d)
		return;
	size_t n = loglen - (size_t)off < len ? loglen - (size_t)off : len;
	memcpy(d, log + off, n);
	nvme_transfer(c, job, len, true, lid == 1 ? error_log_sent : sent);
}

static void features(struct nvme_ctrl *c, struct nvme_job *job, bool set)
{
	uint32_t fid = job->sqe[10] & 0xff;
	uint32_t v = job->sqe[11];
	uint32_t *slot;

	if (!set && (job->sqe[10] >> 8 & 7) == 3) { /* SEL = supported capabilities */
		job->dw0 = (fid == 0x06 || fid == 0x07 || fid == 0x08 || fid == 0x09 || fid == 0x0b || fid == 0x01 ||
			    fid == 0x02)
				   ? 0x4
				   : 0;
		done(c, job, job->dw0 ? NVME_SC_SUCCESS : NVME_SC_INVALID_FIELD);
		return;
	}
	switch (fid) {
	case 0x01:
		slot = &c->feat_arb;
		break;
	case 0x02:
		slot = &c->feat_pm;
		v &= 0x1f;
		if (set && v) {
			done(c, job, NVME_SC_INVALID_FIELD); /* only power state 0 */
			return;
		}
		break;
	case 0x06:
		slot = &c->feat_vwc;
		v &= 1;
		break;
	case 0x07: /* number of queues: always what we have (0-based) */
		if (set && ((v & 0xffff) == 0xffff || v >> 16 == 0xffff)) {
			done(c, job, NVME_SC_INVALID_FIELD);
			return;
		}
		job->dw0 = (c->nq - 1) << 16 | (c->nq - 1);
		done(c, job, NVME_SC_SUCCESS);
		return;
	case 0x08:
		slot = &c->feat_coal;
		v &= 0xffff;
		if (set && v >> 8 && nvme_coal_start(c) < 0) {
			/* no timer for the aggregation time: keep what we had */
			uvf_device_log(c->dev, UVF_LOG_ERROR, "nvme: no thread for the interrupt aggregation time");
			done(c, job, NVME_SC_INTERNAL);
			return;
		}
		break;
	case 0x09: { /* Interrupt Vector Configuration: IV, Coalescing Disable */
		uint32_t iv = v & 0xffff;
		if (iv > c->nq) {
			done(c, job, NVME_SC_INVALID_FIELD);
			return;
		}
		uint64_t *word = &c->coal_disabled[iv / 64], bit = 1ull << (iv % 64);
		if (set)
			*word = v >> 16 & 1 ? *word | bit : *word & ~bit;
		job->dw0 = iv | (*word & bit ? 1u << 16 : 0);
		done(c, job, NVME_SC_SUCCESS);
		return;
	}
	case 0x0b:
		slot = &c->feat_aec;
		break;
	default:
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	if (set)
		*slot = v;
	job->dw0 = *slot;
	done(c, job, NVME_SC_SUCCESS);
}

static void create_cq(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t qid = job->sqe[10] & 0xffff, qsize = job->sqe[10] >> 16;
	uint32_t flags = job->sqe[11], iv = job->sqe[11] >> 16;
	uint64_t base = (uint64_t)job->sqe[7] << 32 | job->sqe[6];

	if (qid == 0 || qid > c->nq || c->cq[qid].valid)
		done(c, job, NVME_SC_QID_INVALID);
	else if (qsize == 0 || qsize > NVME_MQES)
		done(c, job, NVME_SC_QSIZE_INVALID);
	else if (!(flags & 1) || base % NVME_PAGE)
		done(c, job, NVME_SC_INVALID_FIELD);
	else if (iv > c->nq)
		done(c, job, NVME_SC_IV_INVALID);
	else {
		struct nvme_cq *cq = &c->cq[qid];
		memset(cq, 0, sizeof(*cq));
		cq->valid = true;
		cq->ien = flags & 2;
		cq->iv = (uint16_t)iv;
		cq->size = qsize + 1;
		cq->phase = true;
		cq->base = base;
		nvme_dbbuf_queue_changed(c, (uint16_t)qid);
		done(c, job, NVME_SC_SUCCESS);
	}
}

static void create_sq(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t qid = job->sqe[10] & 0xffff, qsize = job->sqe[10] >> 16;
	uint32_t flags = job->sqe[11], cqid = job->sqe[11] >> 16;
	uint64_t base = (uint64_t)job->sqe[7] << 32 | job->sqe[6];

	if (qid == 0 || qid > c->nq || c->sq[qid].valid)
		done(c, job, NVME_SC_QID_INVALID);
	else if (cqid == 0 || cqid > c->nq || !c->cq[cqid].valid)
		done(c, job, NVME_SC_CQ_INVALID);
	else if (qsize == 0 || qsize > NVME_MQES)
		done(c, job, NVME_SC_QSIZE_INVALID);
	else if (!(flags & 1) || base % NVME_PAGE)
		done(c, job, NVME_SC_INVALID_FIELD);
	else {
		struct nvme_sq *sq = &c->sq[qid];
		unsigned epoch = sq->epoch + 1;
		memset(sq, 0, sizeof(*sq));
		sq->epoch = epoch;
		sq->valid = true;
		sq->cqid = (uint16_t)cqid;
		sq->size = qsize + 1;
		sq->base = base;
		/* the SQ runs in its CQ's worker (every lock is held here) */
		__atomic_store_n(&c->sq_group[qid], (uint8_t)nvme_cq_group(c, (uint16_t)cqid)->index, __ATOMIC_RELAXED);
		nvme_dbbuf_queue_changed(c, (uint16_t)qid);
		done(c, job, NVME_SC_SUCCESS);
	}
}

static void delete_sq(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t qid = job->sqe[10] & 0xffff;

	if (qid == 0 || qid > c->nq || !c->sq[qid].valid) {
		done(c, job, NVME_SC_QID_INVALID);
		return;
	}
	/* commands in flight on it are dropped (their jobs see the new epoch) */
	nvme_sq_forget(c, (uint16_t)qid);
	done(c, job, NVME_SC_SUCCESS);
}

static void delete_cq(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t qid = job->sqe[10] & 0xffff;

	if (qid == 0 || qid > c->nq || !c->cq[qid].valid) {
		done(c, job, NVME_SC_QID_INVALID);
		return;
	}
	for (unsigned i = 1; i <= c->nq; i++) {
		if (c->sq[i].valid && c->sq[i].cqid == qid) {
			done(c, job, NVME_SC_QDEL_INVALID);
			return;
		}
	}
	memset(&c->cq[qid], 0, sizeof(c->cq[qid]));
	done(c, job, NVME_SC_SUCCESS);
}

void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint8_t opc = job->sqe[0] & 0xff;

	if (job->sqe[0] >> 14 & 3) { /* PSDT: SGLs are not supported */
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	switch (opc) {
	case ADM_IDENTIFY:
		identify(c, job);
		break;
	case ADM_GET_LOG:
		get_log(c, job);
		break;
	case ADM_SET_FEATURES:
	case ADM_GET_FEATURES:
		features(c, job, opc == ADM_SET_FEATURES);
		break;
	case ADM_CREATE_CQ:
		create_cq(c, job);
		break;
	case ADM_CREATE_SQ:
		create_sq(c, job);
		break;
	case ADM_DELETE_SQ:
		delete_sq(c, job);
		break;
	case ADM_DELETE_CQ:
		delete_cq(c, job);
		break;
	case ADM_DBBUF:
		done(c, job,
		     nvme_dbbuf_config(c, (uint64_t)job->sqe[7] << 32 | job->sqe[6],
				       (uint64_t)job->sqe[9] << 32 | job->sqe[8]));
		break;
	case ADM_ABORT:
		job->dw0 = 1; /* not aborted: commands run to completion */
		done(c, job, NVME_SC_SUCCESS);
		break;
	case ADM_AER:
		if (c->aer_pending > NVME_AERL) {
			done(c, job, NVME_SC_AER_LIMIT);
			break;
		}
		/* Held: no event source yet. Forget the job, free the SQ for
		 * further commands; a controller reset drops them. */
		c->aer_cid[c->aer_pending] = (uint16_t)(job->sqe[0] >> 16);
		c->aer_pending++;
		nvme_job_forget(c, job);
		nvme_events_deliver(c); /* an event may wait for it */
		break;
	default:
		done(c, job, NVME_SC_INVALID_OPCODE);
		break;
	}
}
