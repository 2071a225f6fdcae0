/* SPDX-License-Identifier: MIT */
/* Controller registers, enable/reset, and the PCI description. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

#define CC_EN	       0x1u
#define CC_SHN(cc)     ((cc) >> 14 & 3)
#define CSTS_RDY       0x1u
#define CSTS_CFS       0x2u
#define CSTS_SHST_DONE (2u << 2)

static uint32_t load32(const struct nvme_ctrl *c, uint32_t reg)
{
	uint32_t v;
	memcpy(&v, c->regs + reg, 4);
	return v;
}

static void store32(struct nvme_ctrl *c, uint32_t reg, uint32_t v)
{
	memcpy(c->regs + reg, &v, 4);
}

static uint64_t load64(const struct nvme_ctrl *c, uint32_t reg)
{
	return (uint64_t)load32(c, reg + 4) << 32 | load32(c, reg);
}

static uint64_t cap_value(void)
{
	return (uint64_t)NVME_MQES /* MQES */
	       | 1ull << 16	   /* CQR: contiguous queues required */
	       | 20ull << 24	   /* TO: 10 s in 500 ms units */
	       | 1ull << 37;	   /* CSS: NVM command set */
				   /* DSTRD 0, MPSMIN 0, MPSMAX 0: 4 KiB pages only */
}

/* Put back what the host may not change. */
static void sync_read_only(struct nvme_ctrl *c)
{
	uint64_t cap = cap_value();
	memcpy(c->regs + NVME_REG_CAP, &cap, 8);
	store32(c, NVME_REG_VS, 0x00010400);
	store32(c, NVME_REG_INTMS, c->intms);
	store32(c, NVME_REG_INTMC, c->intms);
	store32(c, NVME_REG_CSTS, c->csts);
	store32(c, 0x20, 0); /* NSSR: subsystem reset not supported */
}

void nvme_regs_sync(struct nvme_ctrl *c)
{
	sync_read_only(c);
}

/* Drop every queue and command; registers other than CC/AQA/ASQ/ACQ stay. */
static void ctrl_reset(struct nvme_ctrl *c)
{
	c->generation++;
	nvme_dbbuf_clear(c);
	nvme_queues_reset(c);
	/* I/O on the backing file finishes before the reset is done (it may
	 * be writing into guest memory); what comes back belongs to the old
	 * generation and is dropped */
	nvme_io_drain(c);
	c->enabled = false;
	nvme_crash_note(c);
	c->aer_pending = 0;
	nvme_events_reset(c);
	c->intms = 0;
	c->csts &= ~(CSTS_RDY | CSTS_CFS);
	nvme_update_intx(c, NULL);
}

static void ctrl_enable(struct nvme_ctrl *c)
{
	uint32_t cc = load32(c, NVME_REG_CC);
	uint32_t aqa = load32(c, NVME_REG_AQA);
	uint64_t asq = load64(c, NVME_REG_ASQ), acq = load64(c, NVME_REG_ACQ);
	uint32_t asqs = (aqa & 0xfff) + 1, acqs = (aqa >> 16 & 0xfff) + 1;

	/* MPS 4 KiB, NVM command set, admin queues of 2..4096 entries, aligned */
	if ((cc >> 7 & 0xf) != 0 || (cc >> 4 & 7) != 0 || asqs < 2 || acqs < 2 || asq % NVME_PAGE || acq % NVME_PAGE) {
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: bad controller configuration, not enabling");
		c->csts |= CSTS_CFS;
		return;
	}
	c->sq[0].valid = true;
	c->sq[0].epoch++;
	c->sq[0].size = asqs;
	c->sq[0].base = asq;
	c->cq[0].valid = true;
	c->cq[0].size = acqs;
	c->cq[0].base = acq;
	c->cq[0].phase = true;
	c->cq[0].ien = true;
	c->enabled = true;
	c->csts = CSTS_RDY;
	nvme_crash_note(c);
}

static void cc_written(struct nvme_ctrl *c)
{
	uint32_t cc = load32(c, NVME_REG_CC);

	if ((cc & CC_EN) && !c->enabled && !(c->csts & CSTS_CFS))
		ctrl_enable(c);
	else if (!(cc & CC_EN) && (c->enabled || c->csts & CSTS_CFS))
		ctrl_reset(c);
	if (CC_SHN(cc) && !(c->csts & CSTS_SHST_DONE)) {
		nvme_io_drain(c);    /* writes in flight reach the file before it is flushed */
		nvme_dbbuf_clear(c); /* the host sets it again after a shutdown */
		(void)nvme_backing_flush(&c->store);
		c->csts |= CSTS_SHST_DONE;
	} else if (!CC_SHN(cc)) {
		c->csts &= ~(3u << 2);
	}
}

static bool overlaps(uint64_t off, size_t len, uint32_t reg, uint32_t size)
{
	return off < reg + size && off + len > reg;
}

/* An I/O queue's doorbell: only its group is locked, so the other
 * workers go on meanwhile. */
static void io_doorbell(struct nvme_ctrl *c, unsigned idx, uint32_t val)
{
	uint16_t qid = (uint16_t)(idx / 2);

	if (idx % 2) {
		struct nvme_group *g = nvme_cq_group(c, qid);
		nvme_lock_group(g);
		nvme_cq_doorbell(c, qid, val & 0xffff);
		nvme_unlock_group(g);
	} else {
		struct nvme_group *g = nvme_lock_sq(c, qid);
		nvme_sq_doorbell(c, qid, val & 0xffff);
		nvme_unlock_group(g);
	}
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	(void)buf; /* the library already stored it in BAR memory */
	uint64_t end = NVME_DOORBELL + 8ull * (c->nq + 1);
	if (offset >= NVME_DOORBELL + 8 && offset + len <= end) {
		/* I/O doorbells only (enabled is changed on this thread) */
		for (uint64_t reg = NVME_DOORBELL + (offset - NVME_DOORBELL) / 4 * 4; reg < offset + len && c->enabled;
		     reg += 4)
			io_doorbell(c, (unsigned)(reg - NVME_DOORBELL) / 4, load32(c, (uint32_t)reg));
		return 0;
	}
	nvme_lock_all(c);
	/* INTMS sets mask bits, INTMC clears them; both read back the mask */
	if (overlaps(offset, len, NVME_REG_INTMS, 4))
		c->intms |= load32(c, NVME_REG_INTMS) & ~c->intms;
	if (overlaps(offset, len, NVME_REG_INTMC, 4))
		c->intms &= ~(load32(c, NVME_REG_INTMC) & c->intms);
	if (overlaps(offset, len, NVME_REG_INTMS, 8))
		nvme_update_intx(c, NULL);
	if (overlaps(offset, len, NVME_REG_CC, 4))
		cc_written(c);
	/* doorbells: one 32-bit register per queue and direction */
	if (offset >= NVME_DOORBELL && offset < end && c->enabled) {
		for (uint64_t reg = NVME_DOORBELL + (offset - NVME_DOORBELL) / 4 * 4; reg < offset + len && reg < end;
		     reg += 4) {
			unsigned idx = (unsigned)(reg - NVME_DOORBELL) / 4;
			uint32_t val = load32(c, (uint32_t)reg);
			if (idx % 2)
				nvme_cq_doorbell(c, (uint16_t)(idx / 2), val & 0xffff);
			else
				nvme_sq_doorbell(c, (uint16_t)(idx / 2), val & 0xffff);
		}
	}
	/* the doorbell of a queue the controller cannot have */
	if (offset + len > end && offset < NVME_MSIX_TABLE && c->enabled) {
		uint64_t first = offset > end ? offset : end;
		uvf_device_log(c->dev, UVF_LOG_WARNING, "nvme: doorbell write at 0x%llx: no such queue, ignored",
			       (unsigned long long)first);
		nvme_event_raise(c, (uint16_t)((first - NVME_DOORBELL) / 8), NVME_EVENT_INVALID_DB_REG);
	}
	sync_read_only(c);
	nvme_unlock_all(c);
	return 0;
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	nvme_lock_all(c);
	if (reason == UVF_RESET_CLIENT)
		nvme_migration_reset(c); /* the library leaves any migration state for RUNNING */
	/* the library zeroed BAR memory: CC, AQA, ASQ, ACQ are 0 again */
	ctrl_reset(c);
	c->csts = 0;
	sync_read_only(c);
	nvme_unlock_all(c);
	return 0;
}

/* The public handle: the controller is its first member, so a pointer
 * to either converts to the other (C11 6.7.2.1). */
struct uvf_nvme {
	struct nvme_ctrl ctrl;
};

static int on_dma_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	(void)dev;
	(void)range;
	nvme_lock_all(data);
	nvme_dbbuf_mapped(data);
	nvme_unlock_all(data);
	return 0;
}

/* Guest memory is going away: the shadow doorbells stop pointing into it,
 * the workers are between two steps (they use pointers into guest memory
 * only under their lock), and the engines stop using the iovecs into it
 * (the library keeps the mapping until this returns). */
static void on_dma_unmap(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	struct nvme_ctrl *c = data;

	(void)dev;
	nvme_lock_all(c);
	nvme_dbbuf_unmap(c, range->address, range->size);
	for (unsigned i = 0; i < c->nworkers; i++) {
		if (c->group[i].aio) {
			nvme_aio_kick(c->group[i].aio);
			nvme_aio_wait_idle(c->group[i].aio);
		}
	}
	nvme_unlock_all(c);
}

static void free_ctrl(void *data)
{
	struct nvme_ctrl *c = data;

	nvme_dbbuf_destroy(c); /* first: its thread stops */
	nvme_coal_stop(c);
	if (c->nworkers) {
		nvme_lock_all(c);
		c->generation++;
		nvme_queues_reset(c);
		nvme_io_drain(c);
		nvme_unlock_all(c);
	}
	nvme_workers_free(c); /* their threads stop */
	nvme_migration_free(c);
	nvme_crash_close(c); /* the record stays as it is: a restart is a crash to the host */
	nvme_backing_close(&c->store);
	free((struct uvf_nvme *)c);
}

static int describe(struct uvf_device *dev, struct nvme_ctrl *c)
{
	const struct uvf_pci_ids ids = {
		.vendor_id = UVF_NVME_VENDOR_ID,
		.device_id = UVF_NVME_DEVICE_ID,
		.subsystem_vendor_id = UVF_NVME_VENDOR_ID,
		.subsystem_id = UVF_NVME_DEVICE_ID,
		.class_code = 0x010802,
		.revision = 1,
	};
	const struct uvf_bar_desc bar0 = {
		.size = NVME_BAR_SIZE, .flags = UVF_BAR_MEMORY | UVF_BAR_64BIT, .write = bar0_write, .data = c};
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	size_t size = 0;
	int ret;

	pcie.flr = true;
	if ((ret = uvf_device_set_pci_ids(dev, &ids)) < 0 || (ret = uvf_device_set_bar(dev, 0, &bar0)) < 0 ||
	    (ret = uvf_device_set_pm(dev, 0)) < 0 || (ret = uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_msix(dev, c->nq + 1, 0, NVME_MSIX_TABLE, 0, NVME_MSIX_PBA)) < 0 ||
	    (ret = uvf_device_set_pcie(dev, &pcie)) < 0 || (ret = nvme_migration_setup(c)) < 0)
		return ret;
	c->regs = uvf_device_bar_memory(dev, 0, &size);
	if (!c->regs || size < NVME_BAR_SIZE)
		return -EIO;
	sync_read_only(c);
	return 0;
}

int uvf_nvme_create(struct uvf_nvme **out, const struct uvf_nvme_opts *opts)
{
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_device *dev = NULL;
	struct uvf_nvme *n;
	struct nvme_ctrl *c;
	int ret;

	if (!out || !opts || opts->queues < 1 || opts->queues > UVF_NVME_MAX_QUEUES || opts->shadow_poll_us < -1 ||
	    opts->workers > UVF_NVME_MAX_WORKERS || opts->shadow_poll_us > 10000000 ||
	    (opts->serial && (strlen(opts->serial) > 20 || !*opts->serial)))
		return -EINVAL;
	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	c = &n->ctrl;
	c->nq = opts->queues;
	strcpy(c->serial, opts->serial ? opts->serial : "uvf0001");
	ret = nvme_backing_open(&c->store, opts->backing, opts->size);
	if (ret < 0) {
		free(n);
		return ret;
	}
	ret = nvme_dbbuf_create(c, opts->shadow_poll_us < 0 ? 0
				   : opts->shadow_poll_us   ? (unsigned)opts->shadow_poll_us
							    : NVME_DBBUF_POLL_US_DEFAULT);
	if (ret < 0) {
		nvme_backing_close(&c->store);
		free(n);
		return ret;
	}
	if (opts->state_file) {
		bool was_enabled;
		ret = nvme_crash_open(c, opts->state_file, &was_enabled);
		if (ret < 0) {
			nvme_dbbuf_destroy(c);
			nvme_backing_close(&c->store);
			free(n);
			return ret;
		}
		/* what the host saw of the controller it had enabled: ready,
		 * and now failed, until the host clears CC.EN */
		if (was_enabled)
			c->csts = CSTS_RDY | CSTS_CFS;
	}
	ret = uvf_device_new(&dev);
	if (ret < 0) {
		nvme_crash_close(c);
		nvme_dbbuf_destroy(c);
		nvme_backing_close(&c->store);
		free(n);
		return ret;
	}
	c->dev = dev;
	ret = nvme_workers_init(c, opts->workers);
	if (ret < 0) {
		uvf_device_free(dev);
		nvme_crash_close(c);
		nvme_dbbuf_destroy(c);
		nvme_backing_close(&c->store);
		free(n);
		return ret;
	}
	cb.reset = on_reset;
	cb.dma_map = on_dma_map;
	cb.dma_unmap = on_dma_unmap;
	cb.free_data = free_ctrl;
	ret = uvf_device_set_callbacks(dev, &cb, c);
	if (ret < 0) {
		uvf_device_free(dev);
		nvme_crash_close(c);
		nvme_dbbuf_destroy(c);
		nvme_workers_free(c);
		nvme_backing_close(&c->store);
		free(n);
		return ret;
	}
	/* from here the device owns c */
	ret = describe(dev, c);
	if (ret < 0) {
		uvf_device_free(dev);
		return ret;
	}
	if (c->csts & CSTS_CFS)
		uvf_device_log(dev, UVF_LOG_WARNING,
			       "nvme: the controller %s records was enabled when its process ended: reporting "
			       "Controller Fatal Status until the host resets the controller",
			       opts->state_file);
	*out = n;
	return 0;
}

struct uvf_device *uvf_nvme_device(struct uvf_nvme *n)
{
	return n ? n->ctrl.dev : NULL;
}

void uvf_nvme_destroy(struct uvf_nvme *n)
{
	if (n)
		uvf_device_free(n->ctrl.dev);
}

int uvf_nvme_flush(struct uvf_nvme *n)
{
	if (!n)
		return -EINVAL;
	for (unsigned i = 0; i < n->ctrl.nworkers; i++)
		if (n->ctrl.group[i].aio)
			nvme_aio_wait_idle(n->ctrl.group[i].aio);
	return nvme_backing_flush(&n->ctrl.store);
}
