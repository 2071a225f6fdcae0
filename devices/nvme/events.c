/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous events: the controller's error status events for doorbell
 * writes it cannot take, reported to the host through the Asynchronous
 * Event Requests it holds, and the Error Information log behind them.
 *
 * - Invalid Doorbell Register (event information 00h): an MMIO doorbell
 *   of a queue that does not exist;
 * - Invalid Doorbell Write Value (01h): an MMIO or shadow doorbell value
 *   outside its queue (a tail or head at or past the queue's size).
 *
 * The write itself is ignored, as before. A source (under a worker's
 * lock, on any thread) sets the event's bit and asks the dispatch thread
 * to deliver it (a zero-length asynchronous DMA is the public way to run
 * a function there); delivery, under every lock, completes a held AER
 * with type 0 (error status), the information and log page 01h. Then
 * error events are masked until the host reads log page 01h (without
 * Retain Asynchronous Event), as NVMe asks; an event that finds no AER
 * held or the mask set waits, one per kind.
 */
#include <inttypes.h>

#include "nvme_int.h"

#define AER_TYPE_ERROR 0u
#define LOG_ERROR_INFO 0x01u

static void deliver_cb(struct uvf_device *dev, void *data, int result)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	(void)result; /* run either way: what matters is the bits */
	nvme_lock_all(c);
	nvme_events_deliver(c);
	nvme_unlock_all(c);
}

void nvme_event_raise(struct nvme_ctrl *c, uint16_t qid, unsigned info)
{
	unsigned bit = 1u << info;

	__atomic_store_n(&c->event_qid, qid, __ATOMIC_RELAXED);
	if (__atomic_fetch_or(&c->event_raised, bit, __ATOMIC_SEQ_CST) & bit)
		return; /* already on its way */
	/* refused without client or while stopped for migration: the next
	 * AER, log page read or resume delivers it */
	(void)uvf_dma_read_async(c->dev, 0, NULL, 0, deliver_cb, c);
}

void nvme_events_deliver(struct nvme_ctrl *c)
{
	uint32_t raised = __atomic_exchange_n(&c->event_raised, 0, __ATOMIC_SEQ_CST);

	if (!c->enabled) {
		c->aer_events = 0; /* a reset forgets them */
		return;
	}
	if (raised) {
		c->aer_events |= (uint8_t)raised;
		c->err_count++;
		c->err_sqid = __atomic_load_n(&c->event_qid, __ATOMIC_RELAXED);
	}
	if (c->stopped || c->aer_masked || !c->aer_events || !c->aer_pending)
		return;
	unsigned info = (unsigned)__builtin_ctz(c->aer_events);
	c->aer_events &= (uint8_t) ~(1u << info);
	c->aer_masked = true;
	uint16_t cid = c->aer_cid[--c->aer_pending];
	uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: asynchronous event: error status, information %02x", info);
	nvme_post_completion(c, 0, cid, NVME_SC_SUCCESS, AER_TYPE_ERROR | info << 8 | LOG_ERROR_INFO << 16);
}

void nvme_events_log_read(struct nvme_ctrl *c, bool retain)
{
	if (retain)
		return;
	c->aer_masked = false;
	nvme_events_deliver(c);
}

void nvme_events_reset(struct nvme_ctrl *c)
{
	(void)__atomic_exchange_n(&c->event_raised, 0, __ATOMIC_SEQ_CST);
	c->aer_events = 0;
	c->aer_masked = false;
}
