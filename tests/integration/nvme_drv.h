/* SPDX-License-Identifier: MIT */
/* The tests' tiny NVMe driver over uvf's client: register access, the
 * admin queue and I/O queue rings in a guest memory the test owns, and
 * MSI-X wired to eventfds (nvme_drv.c). test_nvme.c and
 * test_migration_nvme.c drive uvf-nvme with it. */
#ifndef UVF_TEST_NVME_DRV_H
#define UVF_TEST_NVME_DRV_H

#include <stdbool.h>
#include <stdint.h>

#include <uvf/client.h>

#define DRV_QUEUES  5u /* the admin queue and up to four I/O queue pairs */
#define DRV_VECTORS 3u /* MSI-X vectors wired to eventfds: admin and two I/O */
#define DRV_QDEPTH 16u /* entries of every ring, unless cq_size says other */

struct drv {
	struct uvf_client *c;
	uint8_t *mem;		  /* guest memory as the test sees it */
	uint64_t iova;		  /* where mem starts for the device */
	const uint32_t *sq_offs;  /* each SQ's ring, as an offset in mem */
	const uint32_t *cq_offs;  /* each CQ's ring */
	uint32_t cq_size[DRV_QUEUES]; /* a CQ's entries; 0 is DRV_QDEPTH */
	bool own_mem;		  /* registered without fd: ours to free */
	uint32_t sq_tail[DRV_QUEUES], cq_head[DRV_QUEUES];
	bool phase[DRV_QUEUES];
	uint16_t cid;
	int efd[DRV_VECTORS];
};

uint32_t drv_rd32(struct drv *d, uint32_t reg);
void drv_wr32(struct drv *d, uint32_t reg, uint32_t v);
void drv_wr64(struct drv *d, uint32_t reg, uint64_t v);
/* The config-space offset of capability id (fails the test if absent). */
uint32_t drv_find_cap(struct uvf_client *c, uint8_t id);

/* MSI-X on and an eventfd per vector on client c: what a VMM sets up. */
void drv_wire(struct drv *d, struct uvf_client *c);
void drv_unwire(struct drv *d);

/* Empty rings: tails and heads at 0, phase 1. */
void drv_reset_rings(struct drv *d);
/* AQA, ASQ, ACQ, then CC.EN: the controller must say ready. */
void drv_enable_regs(struct drv *d);

/* Put a command in SQ q without ringing; returns its command id. */
uint16_t drv_queue(struct drv *d, unsigned q, uint32_t *sqe);
void drv_ring(struct drv *d, unsigned q);
/* Whether the next CQE of CQ q is there, trying up to tries times
 * (reading a register in between lets the client serve the device's DMA
 * messages); copies it to cqe. */
bool drv_peek(struct drv *d, unsigned q, uint32_t *cqe, int tries);
/* Take the next completion of CQ q, which must be cid's; returns its status
 * (SCT << 8 | SC), dw0 (if not NULL) its first dword. */
uint16_t drv_wait(struct drv *d, unsigned q, uint16_t cid, uint32_t *dw0);
/* The same for whichever command completes next (commands in flight
 * complete in any order); *cid is its id. */
uint16_t drv_wait_any(struct drv *d, unsigned q, uint16_t *cid);
/* Submit on queue q and wait for the completion. */
uint16_t drv_cmd(struct drv *d, unsigned q, uint32_t *sqe, uint32_t *dw0);
uint16_t drv_admin(struct drv *d, uint8_t opc, uint32_t nsid, uint64_t prp1, uint32_t c10, uint32_t c11,
		   uint32_t *dw0);
/* Create I/O queue pair q: CQ q (contiguous, interrupts on vector) at
 * cq_offs[q], then SQ q on it at sq_offs[q], DRV_QDEPTH entries each, both
 * of which must succeed. The rings start empty: q's tail, head and phase
 * are reset and the CQ ring's memory is cleared. */
void drv_create_io_pair(struct drv *d, unsigned q, unsigned vector);

#endif
