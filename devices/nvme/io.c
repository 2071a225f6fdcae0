/* SPDX-License-Identifier: MIT */
/* NVM command set on namespace 1. */
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

static void read_sent(struct nvme_ctrl *c, struct nvme_job *job)
{
	c->cmds_read++;
	c->units_read += job->len / NVME_LBA;
	done(c, job, NVME_SC_SUCCESS);
}

static void write_fetched(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (nvme_backing_write(&c->store, off_of(job), job->buf, job->len) < 0) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	c->cmds_written++;
	c->units_written += job->len / NVME_LBA;
	done(c, job, NVME_SC_SUCCESS);
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
		done(c, job, nvme_backing_flush(&c->store) < 0 ? NVME_SC_DATA_XFER : NVME_SC_SUCCESS);
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
	job->buf = malloc(len);
	if (!job->buf) {
		done(c, job, NVME_SC_DATA_XFER);
		return;
	}
	if (opc == IO_READ) {
		if (nvme_backing_read(&c->store, slba * NVME_LBA, job->buf, len) < 0) {
			done(c, job, NVME_SC_DATA_XFER);
			return;
		}
		nvme_transfer(c, job, len, true, read_sent);
	} else {
		nvme_transfer(c, job, len, false, write_fetched);
	}
}
