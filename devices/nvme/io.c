/* SPDX-License-Identifier: MIT */
/* NVM command set on namespace 1. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

enum {
	IO_FLUSH = 0x00,
	IO_WRITE = 0x01,
	IO_READ = 0x02,
	IO_WRITE_ZEROES = 0x08,
	IO_DSM = 0x09,
};

static void done(struct nvme_ctrl *c, struct nvme_job *job, uint16_t status)
{
	job->status = status;
	nvme_complete(c, job);
}

static uint64_t slba_of(const struct nvme_job *job)
{
	return (uint64_t)job->sqe[11] << 32 | job->sqe[10];
}

static uint64_t off_of(const struct nvme_job *job)
{
	return slba_of(job) * NVME_LBA;
}

#define NVME_INLINE_MAX (64u << 10)

static struct nvme_job *job_of(struct nvme_aio_req *req)
{
	return (struct nvme_job *)(void *)((uint8_t *)req - offsetof(struct nvme_job, aio));
}

/* Run op on the backing store between iov and the command's LBAs, then
 * done (under the job's worker lock): queued on the worker's engine for a
 * file, at once for a RAM namespace. */
static void backing_io(struct nvme_ctrl *c, struct nvme_job *job, enum nvme_aio_op op, const struct iovec *iov,
		       int iovcnt, void (*done_fn)(struct nvme_aio_req *req))
{
	struct nvme_aio_req *req = &job->aio;

	memset(req, 0, sizeof(*req));
	req->op = op;
	req->fd = c->store.fd;
	req->off = off_of(job);
	req->iov = iov;
	req->iovcnt = iovcnt;
	req->len = job->len;
	req->done = done_fn;
	/* Alone on its queue, nothing behind it in the SQ and the engine
	 * idle (queue depth 1): a small transfer runs here, as two thread
	 * hand-offs would cost more than the page-cache copy. With more in
	 * flight or queued, the engine runs them side by side. */
	const struct nvme_sq *sq = &c->sq[job->sqid];
	struct nvme_aio *aio = job->grp ? job->grp->aio : NULL;
	if (aio && (op == NVME_AIO_FLUSH || job->len > NVME_INLINE_MAX || sq->inflight > 1 || sq->head != sq->tail ||
		    !nvme_aio_idle(aio))) {
		nvme_aio_submit(aio, req);
		return;
	}
	if (aio) {
		req->result = nvme_aio_run_here(req);
		done_fn(req);
		return;
	}
	req->result =
		op == NVME_AIO_FLUSH ? 0 : nvme_backing_iov(&c->store, op == NVME_AIO_WRITE, req->off, iov, iovcnt);
	done_fn(req);
}

/* The job came back from the engine: whether to go on with it. */
static bool back(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!nvme_job_live(c, job)) {
		nvme_job_drop(c, job);
		return false;
	}
	return true;
}

static void read_sent(struct nvme_ctrl *c, struct nvme_job *job)
{
	/* workers count side by side */
	__atomic_fetch_add(&c->cmds_read, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->units_read, job->len / NVME_LBA, __ATOMIC_RELAXED);
	done(c, job, NVME_SC_SUCCESS);
}

/* A read came back from the backing store: its job when the data is there
 * to go on with, NULL when the job was dropped or failed (done already). */
static struct nvme_job *read_back(struct nvme_aio_req *req)
{
	struct nvme_job *job = job_of(req);
	struct nvme_ctrl *c = job->c;

	if (!back(c, job))
		return NULL;
	if (req->result < 0) {
		done(c, job, NVME_SC_DATA_XFER);
		return NULL;
	}
	return job;
}

/* zero copy: the data is in the guest's pages */
static void read_direct_done(struct nvme_aio_req *req)
{
	struct nvme_job *job = read_back(req);

	if (!job)
		return;
	nvme_mark_dirty(job->c, job);
	read_sent(job->c, job);
}

static void read_bounce_done(struct nvme_aio_req *req)
{
	struct nvme_job *job = read_back(req);

	if (!job)
		return;
	struct nvme_ctrl *c = job->c;
	if (c->stopped) {
		job->parked = true; /* quiescing: the command runs again on resume */
		return;
	}
	nvme_move_data(c, job, read_sent);
}

static void read_mapped(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (job->niov) {
		backing_io(c, job, NVME_AIO_READ, job->iov, job->niov, read_direct_done);
		return;
	}
	/* guest memory by message: read into a buffer, then DMA it out */
	job->buf = malloc(job->len);
	if (!job->buf || !(job->iov = job->iov ? job->iov : malloc(sizeof(*job->iov)))) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	job->iov[0] = (struct iovec){job->buf, job->len};
	backing_io(c, job, NVME_AIO_READ, job->iov, 1, read_bounce_done);
}

static void write_done(struct nvme_aio_req *req)
{
	struct nvme_job *job = job_of(req);
	struct nvme_ctrl *c = job->c;

	if (!back(c, job))
		return;
	if (req->result < 0) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	__atomic_fetch_add(&c->cmds_written, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->units_written, job->len / NVME_LBA, __ATOMIC_RELAXED);
	done(c, job, NVME_SC_SUCCESS);
}

/* the data came by message into job->buf */
static void write_fetched(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!job->iov && !(job->iov = malloc(sizeof(*job->iov)))) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	job->iov[0] = (struct iovec){job->buf, job->len};
	backing_io(c, job, NVME_AIO_WRITE, job->iov, 1, write_done);
}

static void write_mapped(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (job->niov) {
		backing_io(c, job, NVME_AIO_WRITE, job->iov, job->niov, write_done);
		return;
	}
	job->buf = malloc(job->len);
	if (!job->buf) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	nvme_move_data(c, job, write_fetched);
}

static void flush_done(struct nvme_aio_req *req)
{
	struct nvme_job *job = job_of(req);
	struct nvme_ctrl *c = job->c;

	if (back(c, job))
		done(c, job, req->result < 0 ? NVME_SC_DATA_XFER : NVME_SC_SUCCESS);
}

static void dsm_fetched(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint64_t nlb_total = c->store.size / NVME_LBA;
	size_t nr = job->len / 16;

	/* validate every range before touching any */
	for (size_t i = 0; i < nr; i++) {
		uint32_t nlb;
		uint64_t slba;
		memcpy(&nlb, job->buf + i * 16 + 4, 4);
		memcpy(&slba, job->buf + i * 16 + 8, 8);
		if (slba > nlb_total || nlb > nlb_total - slba) {
			done(c, job, NVME_SC_LBA_RANGE);
			return;
		}
	}
	for (size_t i = 0; i < nr; i++) {
		uint32_t nlb;
		uint64_t slba;
		memcpy(&nlb, job->buf + i * 16 + 4, 4);
		memcpy(&slba, job->buf + i * 16 + 8, 8);
		if (nlb && nvme_backing_zero(&c->store, slba * NVME_LBA, (uint64_t)nlb * NVME_LBA, true) < 0) {
			done(c, job, NVME_SC_DATA_XFER);
			return;
		}
	}
	done(c, job, NVME_SC_SUCCESS);
}

void nvme_io_exec(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint8_t opc = job->sqe[0] & 0xff;
	uint64_t nlb_total = c->store.size / NVME_LBA;

	if (job->sqe[0] >> 14 & 3) {
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	if (opc != IO_FLUSH && opc != IO_WRITE && opc != IO_READ && opc != IO_WRITE_ZEROES && opc != IO_DSM) {
		done(c, job, NVME_SC_INVALID_OPCODE);
		return;
	}
	if (job->sqe[1] != 1 && !(opc == IO_FLUSH && job->sqe[1] == 0xffffffffu)) {
		done(c, job, NVME_SC_INVALID_NS);
		return;
	}
	if (opc == IO_FLUSH) {
		/* writes completed before it were written to the file before
		 * their completion was posted: fdatasync covers them */
		job->len = 0;
		backing_io(c, job, NVME_AIO_FLUSH, NULL, 0, flush_done);
		return;
	}
	if (opc == IO_DSM) {
		size_t nr = (job->sqe[10] & 0xff) + 1;
		if (!(job->sqe[11] & 4)) { /* no deallocate: only hints, nothing to do */
			done(c, job, NVME_SC_SUCCESS);
			return;
		}
		job->buf = malloc(nr * 16);
		if (!job->buf) {
			done(c, job, NVME_SC_DATA_XFER);
			return;
		}
		nvme_transfer(c, job, nr * 16, false, dsm_fetched);
		return;
	}
	uint64_t slba = slba_of(job);
	uint64_t nlb = (job->sqe[12] & 0xffff) + 1u;
	if (slba > nlb_total || nlb > nlb_total - slba) {
		done(c, job, NVME_SC_LBA_RANGE);
		return;
	}
	if (opc == IO_WRITE_ZEROES) {
		int ret = nvme_backing_zero(&c->store, slba * NVME_LBA, nlb * NVME_LBA, job->sqe[12] >> 25 & 1);
		done(c, job, ret < 0 ? NVME_SC_DATA_XFER : NVME_SC_SUCCESS);
		return;
	}
	size_t len = (size_t)nlb * NVME_LBA;
	if (len > NVME_MAX_XFER) {
		done(c, job, NVME_SC_INVALID_FIELD);
		return;
	}
	if (opc == IO_READ)
		nvme_transfer_map(c, job, len, true, read_mapped);
	else
		nvme_transfer_map(c, job, len, false, write_mapped);
}
