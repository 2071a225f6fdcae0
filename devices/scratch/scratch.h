/* SPDX-License-Identifier: MIT */
/*
 * scratch: a scratch register and GPIO bank, the smallest real PCI
 * device built on uvf's server API (the first sample to read), served by
 * the uvf-scratch program (main.c).
 *
 * PCI identity: vendor 0x1de0, device 0x0001, subsystem 0x1de0:0x0001,
 * class 0xff0000 (unassigned), revision 1. 0x1de0:0x0001 (and 0x0002 for
 * uvf-dmatest) are placeholder ids for the uvf samples, not assigned ids:
 * do not ship a product with them.
 *
 * Interrupts: INTx (pin A) and 4 MSI vectors. Capabilities: MSI (added by
 * the library), power management (D0/D3hot, no PME), vendor specific.
 *
 * BAR0: 4 KiB memory, 32-bit, non-prefetchable. Little-endian 32-bit
 * registers; any access size and alignment works (a wide access touches
 * each register it covers; unused bytes read 0, writes to them are dropped).
 *
 *   0x000  ID           RO    0x53465655 ("UVFS")
 *   0x004  VERSION      RO    0x00010000 (1.0)
 *   0x010  SCRATCH[16]  RW    0x010 .. 0x04c, plain storage
 *   0x050  GPIO_OUT     RW    output pins (LEDs 0-7 are the low byte);
 *                             changes are logged with -v
 *   0x054  GPIO_IN      RO    input pins, wired back to the outputs:
 *                             reads GPIO_OUT
 *   0x060  IRQ_RAISE    WO    bit n (0..3): raise MSI vector n;
 *                             bit 16: assert INTx; reads 0
 *   0x064  IRQ_STATUS   RW1C  bit set when the interrupt of the same bit
 *                             in IRQ_RAISE was delivered or latched
 *   0x068  IRQ_COUNT    RO    interrupts delivered or latched since reset
 *   0x06c  IRQ_ERROR    RO    positive errno of the last failed raise
 *                             (ENOENT: the client attached no eventfd)
 *   0x070  DMA_ADDR_LO  RW    client DMA address, low 32 bits
 *   0x074  DMA_ADDR_HI  RW    client DMA address, high 32 bits
 *   0x078  DMA_LEN      RW    bytes to transfer, at most 2048
 *   0x07c  DMA_CMD      WO    1: read DMA_LEN bytes of client memory at
 *                             DMA_ADDR into WINDOW; 2: write WINDOW to
 *                             client memory; reads 0
 *   0x080  DMA_STATUS   RO    0, or positive errno of the last DMA_CMD
 *   0x800  WINDOW       RW    0x800 .. 0xfff, 2 KiB buffer for DMA_CMD
 *
 * BAR2: 32 bytes of I/O ports mirroring BAR0 registers:
 *
 *   0x00 ID  0x04 VERSION  0x08 SCRATCH[0]  0x0c GPIO_OUT  0x10 GPIO_IN
 *   0x14 IRQ_RAISE  0x18 IRQ_STATUS  0x1c IRQ_COUNT
 *
 * DEVICE_RESET clears every register and the window. A client disconnect
 * is not a reset: the next client finds the registers as they were.
 *
 * Live migration (always on): the whole state goes in STOP_COPY (PRE_COPY
 * is offered and sends nothing) as the envelope of common/devmig.h, tag
 * "SCRT", version 1, payload: SCRATCH[16], GPIO_OUT, IRQ_STATUS,
 * IRQ_COUNT, IRQ_ERROR (u32 each), DMA_ADDR (u64), DMA_LEN, DMA_STATUS
 * (u32), WINDOW (u32 2048 + bytes). Nothing runs in the background, so
 * quiescing has nothing to wait for; while stopped a DMA_CMD fails with
 * EBUSY and IRQ_RAISE is latched by the library until the device runs.
 */
#ifndef UVF_DEVICES_SCRATCH_H
#define UVF_DEVICES_SCRATCH_H

#include "uvf/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The model, in the shape of every uvf device model (devices/):
 * uvf_scratch_create() makes the model and its device, described (ids,
 * BARs, capabilities, IRQs, callbacks) but not listening; go on with
 * uvf_device_listen() or uvf_device_listen_fd() on uvf_scratch_device(),
 * then serve it. The device owns the model: uvf_scratch_destroy(), or
 * uvf_device_free() on its device, frees both; NULL is fine. The device's
 * user data pointer stays free for the caller. create returns 0 or a
 * negative errno. The model logs through the device's logger.
 */
struct uvf_scratch;

int uvf_scratch_create(struct uvf_scratch **out);
struct uvf_device *uvf_scratch_device(struct uvf_scratch *s);
void uvf_scratch_destroy(struct uvf_scratch *s);

#ifdef __cplusplus
}
#endif

#endif /* UVF_DEVICES_SCRATCH_H */
