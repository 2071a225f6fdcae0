/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous DMA: a device starts a transfer and returns at once; the
 * library moves the data (directly for fd-backed ranges, with DMA_READ and
 * DMA_WRITE messages otherwise) while it keeps serving the client, and
 * calls the device back when the transfer is done.
 *
 * This is what lets a device do message-based DMA while the client's vCPU
 * is blocked on a register read of the same device: the client can only
 * answer our DMA request after we answered its read.
 *
 * Transfers live on dev->dma_ops and are touched only by the dispatch
 * thread. Device threads start theirs through dev->dma_submitted (under
 * sub_lock), which dispatch moves to dma_ops; a device thread's
 * synchronous message-based transfer without twin socket is such a
 * transfer, waited for on sub_cond.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"
#include "util.h"

struct uvf_dma_op {
	struct uvf_dma_op *next;
	bool is_write;
	uint64_t addr; /* next byte to move */
	uint8_t *buf;  /* next byte in the device's buffer */
	size_t left;   /* bytes still to move */
	uvf_dma_done_fn done;
	void *data;
	int result; /* first error */
	bool finished;
	/* the message in flight, if any */
	bool waiting;
	uint16_t id;
	struct uvf_msg_dma_access req;
	uint64_t deadline_ms;
};

static void kick(struct uvf_device *dev)
{
	uvf__kick(dev);
}

/* Arm the timer for the earliest deadline of a message in flight. */
static void arm_timer(struct uvf_device *dev)
{
	uint64_t earliest = 0;
	for (struct uvf_dma_op *op = dev->dma_ops; op; op = op->next)
		if (op->waiting && (!earliest || op->deadline_ms < earliest))
			earliest = op->deadline_ms;
	struct itimerspec its = {{0, 0}, {0, 0}};
	if (earliest) {
		uint64_t now = (uint64_t)uvf__now_ms();
		uint64_t delay = earliest > now ? earliest - now : 1;
		its.it_value.tv_sec = (time_t)(delay / 1000u);
		its.it_value.tv_nsec = (long)(delay % 1000u) * 1000000L;
	}
	timerfd_settime(dev->loop.dma_timer_fd, 0, &its, NULL);
}

static int start(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write, uvf_dma_done_fn done,
		 void *data)
{
	if (!dev || !done || (!buf && len))
		return -EINVAL;
	if (addr + len < addr)
		return -EFAULT;
	if (uvf__migration_quiesced(dev))
		return -EBUSY; /* stopped for migration: no new DMA */
	struct uvf_dma_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->is_write = is_write;
	op->addr = addr;
	op->buf = buf;
	op->left = len;
	op->done = done;
	op->data = data;
	/* Append: transfers progress in the order they were started. Off the
	 * dispatch thread, through the submission list; the client check is
	 * made under the same lock as a disconnect clears it, so a transfer
	 * never outlives its client unseen. */
	pthread_mutex_lock(&dev->sub_lock);
	if (!__atomic_load_n(&dev->client_live, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&dev->sub_lock);
		free(op);
		return -ENOTCONN;
	}
	struct uvf_dma_op **tail = uvf__on_dispatch_thread(dev) ? &dev->dma_ops : &dev->dma_submitted;
	while (*tail)
		tail = &(*tail)->next;
	*tail = op;
	pthread_mutex_unlock(&dev->sub_lock);
	kick(dev); /* the work (and the callback) happens in dispatch */
	return 0;
}

/* A device thread's synchronous transfer handed to dispatch. */
struct handover {
	bool done;
	int result;
};

static void handover_done(struct uvf_device *dev, void *data, int result)
{
	struct handover *h = data;

	pthread_mutex_lock(&dev->sub_lock);
	h->result = result;
	h->done = true;
	pthread_cond_broadcast(&dev->sub_cond);
	pthread_mutex_unlock(&dev->sub_lock);
}

int uvf__dma_async_wait(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	struct handover h = {false, 0};
	int ret = start(dev, addr, buf, len, is_write, handover_done, &h);

	if (ret < 0)
		return ret;
	/* done is always called: by the transfer, a disconnect or free */
	pthread_mutex_lock(&dev->sub_lock);
	while (!h.done)
		pthread_cond_wait(&dev->sub_cond, &dev->sub_lock);
	pthread_mutex_unlock(&dev->sub_lock);
	return h.result;
}

/* Move transfers device threads started to the end of dma_ops. */
static void take_submitted(struct uvf_device *dev)
{
	pthread_mutex_lock(&dev->sub_lock);
	struct uvf_dma_op *list = dev->dma_submitted;
	dev->dma_submitted = NULL;
	pthread_mutex_unlock(&dev->sub_lock);
	if (!list)
		return;
	struct uvf_dma_op **tail = &dev->dma_ops;
	while (*tail)
		tail = &(*tail)->next;
	*tail = list;
}

int uvf_dma_read_async(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, uvf_dma_done_fn done, void *data)
{
	return start(dev, addr, buf, len, false, done, data);
}

int uvf_dma_write_async(struct uvf_device *dev, uint64_t addr, const void *buf, size_t len, uvf_dma_done_fn done,
			void *data)
{
	return start(dev, addr, (void *)buf, len, true, done, data);
}

static void finish(struct uvf_dma_op *op, int result)
{
	op->finished = true;
	op->waiting = false;
	if (!op->result)
		op->result = result;
}

/* Move as much of op as possible without waiting: direct copies, then at
 * most one message. */
static void advance(struct uvf_device *dev, struct uvf_dma_op *op)
{
	uint32_t need = op->is_write ? UVF_DMA_MAP_FLAG_WRITE : UVF_DMA_MAP_FLAG_READ;

	while (!op->finished && !op->waiting) {
		/* stopped for migration: transfers started before wait, and
		 * go on when the device runs again */
		if (uvf__migration_quiesced(dev))
			return;
		if (!op->left) {
			finish(op, 0);
			return;
		}
		const struct uvf_dma_mapping *m = uvf__dma_table_find(&dev->dma, op->addr);
		if (!m) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": not mapped by the client",
				 op->is_write ? "write" : "read", op->addr);
			finish(op, -EFAULT);
			return;
		}
		if (!(m->prot & need)) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": the mapping does not allow it",
				 op->is_write ? "write" : "read", op->addr);
			finish(op, -EACCES);
			return;
		}
		uint64_t avail = m->address + m->size - op->addr;
		size_t n = avail < op->left ? (size_t)avail : op->left;
		if (m->vaddr) {
			uint8_t *p = m->vaddr + (op->addr - m->address);
			if (op->is_write) {
				memcpy(p, op->buf, n);
				uvf__dma_table_log_mark(&dev->dma, m, op->addr, n);
			} else {
				memcpy(op->buf, p, n);
			}
		} else {
			uint64_t chunk = uvf__dma_chunk_max(dev);
			op->req.address = op->addr;
			op->req.count = n < chunk ? n : chunk;
			op->id = __atomic_fetch_add(&dev->next_dma_id, 1, __ATOMIC_RELAXED);
			int ret = uvf__dma_send_request(dev, op->id, op->is_write, &op->req, op->buf);
			if (ret < 0) {
				finish(op, ret);
				return;
			}
			op->waiting = true;
			op->deadline_ms =
				(uint64_t)uvf__now_ms() + (uint64_t)(dev->opts.dma_timeout_ms > 0 ? dev->opts.dma_timeout_ms : 5000);
			return;
		}
		op->addr += n;
		op->buf += n;
		op->left -= n;
	}
}

bool uvf__dma_async_reply(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, size_t nfds)
{
	for (struct uvf_dma_op *op = dev->dma_ops; op; op = op->next) {
		if (!op->waiting || op->id != hdr->msg_id ||
		    hdr->command != (op->is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ))
			continue;
		op->waiting = false;
		int ret = uvf__dma_take_reply(dev, hdr, body, nfds, op->is_write, &op->req, op->buf);
		if (ret < 0) {
			finish(op, ret);
		} else {
			op->addr += op->req.count;
			op->buf += op->req.count;
			op->left -= (size_t)op->req.count;
		}
		kick(dev);
		return true;
	}
	return false;
}

void uvf__dma_async_run(struct uvf_device *dev)
{
	uint64_t expirations, now = (uint64_t)uvf__now_ms();

	take_submitted(dev);
	if (!dev->dma_ops)
		return; /* no timer armed either: disarmed when the list emptied */
	if (read(dev->loop.dma_timer_fd, &expirations, sizeof(expirations)) < 0)
		expirations = 0; /* not expired: nothing to drain */
	for (struct uvf_dma_op *op = dev->dma_ops; op; op = op->next) {
		if (op->waiting && op->deadline_ms <= now) {
			dev_warn(dev, "%s id %u at 0x%" PRIx64 ": no reply from the client in %d ms",
				 op->is_write ? "DMA_WRITE" : "DMA_READ", op->id, op->req.address,
				 dev->opts.dma_timeout_ms);
			finish(op, -ETIMEDOUT);
		}
		advance(dev, op);
	}
	/* Unlink finished operations first, then call back: a callback may
	 * start new transfers. */
	struct uvf_dma_op *done_list = NULL, **link = &dev->dma_ops, **done_tail = &done_list;
	while (*link) {
		struct uvf_dma_op *op = *link;
		if (op->finished) {
			*link = op->next;
			op->next = NULL;
			*done_tail = op;
			done_tail = &op->next;
		} else {
			link = &op->next;
		}
	}
	arm_timer(dev);
	while (done_list) {
		struct uvf_dma_op *op = done_list;
		done_list = op->next;
		op->done(dev, op->data, op->result);
		free(op);
	}
}

void uvf__dma_async_cancel(struct uvf_device *dev, int err)
{
	take_submitted(dev);
	for (struct uvf_dma_op *op = dev->dma_ops; op; op = op->next)
		finish(op, err);
	/* waiting flags are clear now: run completes every one of them */
	uvf__dma_async_run(dev);
}
