/* SPDX-License-Identifier: MIT */
/* The tests' tiny NVMe driver (nvme_drv.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvme_drv.h"

uint32_t drv_rd32(struct drv *d, uint32_t reg)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(d->c, 0, reg, &v, 4), 0);
	return v;
}

void drv_wr32(struct drv *d, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(d->c, 0, reg, &v, 4), 0);
}

void drv_wr64(struct drv *d, uint32_t reg, uint64_t v)
{
	assert_int_equal(uvf_client_region_write(d->c, 0, reg, &v, 8), 0);
}

uint32_t drv_find_cap(struct uvf_client *c, uint8_t id)
{
	uint8_t at = 0, cap = 0;
	assert_int_equal(uvf_client_config_read8(c, 0x34, &at), 0);
	for (int hops = 0; at && hops < 48; hops++) {
		assert_int_equal(uvf_client_config_read8(c, at, &cap), 0);
		if (cap == id)
			return at;
		assert_int_equal(uvf_client_config_read8(c, at + 1u, &at), 0);
	}
	fail_msg("capability 0x%02x not found", id);
	return 0;
}

void drv_wire(struct drv *d, struct uvf_client *c)
{
	d->c = c;
	uint32_t cap = drv_find_cap(c, 0x11);
	assert_int_equal(uvf_client_config_write16(c, cap + 2, 0x8000), 0);
	for (unsigned i = 0; i < DRV_VECTORS; i++) {
		d->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(d->efd[i] >= 0);
	}
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, DRV_VECTORS, d->efd), 0);
}

void drv_unwire(struct drv *d)
{
	for (unsigned i = 0; i < DRV_VECTORS; i++)
		close(d->efd[i]);
}

void drv_reset_rings(struct drv *d)
{
	for (unsigned q = 0; q < DRV_QUEUES; q++) {
		d->sq_tail[q] = d->cq_head[q] = 0;
		d->phase[q] = true;
	}
}

void drv_enable_regs(struct drv *d)
{
	drv_wr32(d, 0x24, (DRV_QDEPTH - 1) << 16 | (DRV_QDEPTH - 1));
	drv_wr64(d, 0x28, d->iova + d->sq_offs[0]);
	drv_wr64(d, 0x30, d->iova + d->cq_offs[0]);
	drv_wr32(d, 0x14, 1u | 6u << 16 | 4u << 20);
	assert_int_equal(drv_rd32(d, 0x1c) & 3, 1); /* RDY, no CFS */
}

uint16_t drv_queue(struct drv *d, unsigned q, uint32_t *sqe)
{
	uint16_t cid = ++d->cid;
	sqe[0] = (sqe[0] & 0xffff) | (uint32_t)cid << 16;
	memcpy(d->mem + d->sq_offs[q] + d->sq_tail[q] * 64, sqe, 64);
	d->sq_tail[q] = (d->sq_tail[q] + 1) % DRV_QDEPTH;
	return cid;
}

void drv_ring(struct drv *d, unsigned q)
{
	drv_wr32(d, 0x1000 + 8 * q, d->sq_tail[q]);
}

bool drv_peek(struct drv *d, unsigned q, uint32_t *cqe, int tries)
{
	for (int i = 0; i < tries; i++) {
		const uint8_t *slot = d->mem + d->cq_offs[q] + d->cq_head[q] * 16;
		/* the phase word first (acquire), then the rest of the entry */
		uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(slot + 12), __ATOMIC_ACQUIRE);

		if ((bool)(dw3 >> 16 & 1) == d->phase[q]) {
			memcpy(cqe, slot, 16);
			return true;
		}
		(void)drv_rd32(d, 0x1c);
	}
	return false;
}

/* Take the CQE that drv_peek() found: head on, head doorbell rung. */
static uint16_t consume(struct drv *d, unsigned q, const uint32_t *cqe)
{
	uint32_t size = d->cq_size[q] ? d->cq_size[q] : DRV_QDEPTH;

	assert_int_equal(cqe[2] >> 16, q);
	if (++d->cq_head[q] == size) {
		d->cq_head[q] = 0;
		d->phase[q] = !d->phase[q];
	}
	drv_wr32(d, 0x1004 + 8 * q, d->cq_head[q]);
	return (uint16_t)(cqe[3] >> 17 & 0x7ff);
}

uint16_t drv_wait(struct drv *d, unsigned q, uint16_t cid, uint32_t *dw0)
{
	uint32_t cqe[4];
	assert_true(drv_peek(d, q, cqe, 20000));
	assert_int_equal(cqe[3] & 0xffff, cid);
	if (dw0)
		*dw0 = cqe[0];
	return consume(d, q, cqe);
}

uint16_t drv_wait_any(struct drv *d, unsigned q, uint16_t *cid)
{
	uint32_t cqe[4];
	assert_true(drv_peek(d, q, cqe, 20000));
	*cid = (uint16_t)(cqe[3] & 0xffff);
	return consume(d, q, cqe);
}

uint16_t drv_cmd(struct drv *d, unsigned q, uint32_t *sqe, uint32_t *dw0)
{
	uint16_t cid = drv_queue(d, q, sqe);
	drv_ring(d, q);
	return drv_wait(d, q, cid, dw0);
}

uint16_t drv_admin(struct drv *d, uint8_t opc, uint32_t nsid, uint64_t prp1, uint32_t c10, uint32_t c11,
		   uint32_t *dw0)
{
	uint32_t sqe[16] = {opc, nsid};
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[10] = c10;
	sqe[11] = c11;
	return drv_cmd(d, 0, sqe, dw0);
}

void drv_create_io_pair(struct drv *d, unsigned q, unsigned vector)
{
	d->sq_tail[q] = d->cq_head[q] = 0;
	d->phase[q] = true;
	memset(d->mem + d->cq_offs[q], 0, DRV_QDEPTH * 16);
	/* CQ: contiguous (PC), interrupts enabled (IEN) on vector */
	assert_int_equal(
		drv_admin(d, 0x05, 0, d->iova + d->cq_offs[q], (DRV_QDEPTH - 1) << 16 | q, vector << 16 | 3, NULL), 0);
	/* SQ on CQ q: contiguous */
	assert_int_equal(drv_admin(d, 0x01, 0, d->iova + d->sq_offs[q], (DRV_QDEPTH - 1) << 16 | q, q << 16 | 1, NULL),
			 0);
}
