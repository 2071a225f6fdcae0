/* SPDX-License-Identifier: MIT */
/*
 * dmatest: a DMA-capable test device, usable in-process (integration
 * tests) and as the uvf-dmatest program.
 *
 * PCI identity: vendor 0x1de0, device 0x0002, subsystem 0x1de0:0x0002,
 * class 0xff0000 (unassigned), revision 1 (placeholder ids of the uvf
 * samples, see devices/scratch/scratch.c).
 *
 * Config space (4 KiB, PCI Express): capabilities Power Management (D0 and
 * D3hot, No_Soft_Reset: state is kept across D3hot), MSI (1 vector,
 * 64-bit, maskable), MSI-X (UVF_DMATEST_MSIX_VECTORS vectors, table and
 * PBA in BAR2) and PCI Express endpoint (2.5 GT/s x1, max payload 256,
 * FLR offered: it resets the device like DEVICE_RESET). Interrupts: INTx
 * (pin A), MSI and MSI-X.
 *
 * BAR0: 4 KiB memory BAR (library-owned memory, UVF_BAR_MEMORY), 32-bit
 * little-endian registers. Read-only registers are restored after every
 * write, so writing them has no effect.
 *
 *   0x00  ID         RO  UVF_DMATEST_ID ("DMAT")
 *   0x04  VERSION    RO  UVF_DMATEST_VERSION
 *   0x08  SRC_LO     RW  source DMA address (client IOVA), low 32 bits
 *   0x0c  SRC_HI     RW  source DMA address, high 32 bits
 *   0x10  DST_LO     RW  destination DMA address, low 32 bits
 *   0x14  DST_HI     RW  destination DMA address, high 32 bits
 *   0x18  LEN        RW  bytes, at most UVF_DMATEST_MAX_LEN
 *   0x1c  PATTERN    RW  the low byte is the fill value
 *   0x20  CMD        WO  writing a non-zero value runs a command before the
 *                        write completes, then reads 0 again:
 *                        1 (COPY) copy LEN bytes from SRC to DST (overlap
 *                          handled like memmove);
 *                        2 (FILL) fill LEN bytes at DST with PATTERN;
 *                        3 (SUM) checksum of the first LEN bytes of BAR4
 *                          into SUM (LEN at most UVF_DMATEST_BAR4_SIZE);
 *                        4 (BARFILL) fill the first LEN bytes of BAR4 with
 *                          PATTERN (LEN at most UVF_DMATEST_BAR4_SIZE);
 *                        anything else fails with EINVAL.
 *                        COPY and FILL go through uvf_dma_read/uvf_dma_write
 *                        in chunks of UVF_DMATEST_CHUNK bytes, so they work
 *                        for fd-backed and for message-based DMA alike.
 *                        SUM and BARFILL touch only BAR4 and ignore SRC
 *                        and DST; they complete before the write does.
 *   0x24  STATUS     RO  0, or the positive errno of the last command
 *                        (EINVAL bad command/length/range, EFAULT unmapped,
 *                        EACCES wrong permission, ...)
 *   0x28  IRQ_COUNT  RO  completion interrupts delivered or latched
 *   0x2c  CMD_COUNT  RO  commands completed (successfully or not)
 *   0x30  IRQ_VECTOR RW  MSI-X vector of the completion interrupt; only
 *                        bits 1:0 are kept (vectors 0..3). Read when a
 *                        command completes, so it can change per job.
 *   0x34  SUM        RO  result of the last successful SUM: FNV-1a 32-bit
 *                        over the bytes (uvf_dmatest_checksum())
 *   0x38  BAR4_WRITES RO writes to BAR4 that reached the device as
 *                        REGION_WRITE messages. Stores through a mapping
 *                        of BAR4 are not counted: a client that maps BAR4
 *                        sees 0 here after writing it, which proves its
 *                        stores took the shared-memory path.
 *
 * BAR2: 4 KiB memory BAR: the MSI-X table (16 bytes per vector) at
 * UVF_DMATEST_MSIX_TABLE and the pending bit array at UVF_DMATEST_MSIX_PBA,
 * both emulated by the library; the rest reads 0 and keeps what is
 * written. Nothing else there, so BAR0 has no MSI-X page in it.
 *
 * BAR4: 64 KiB (UVF_DMATEST_BAR4_SIZE) of shared scratch memory,
 * UVF_BAR_MEMORY | UVF_BAR_MMAP, 64-bit non-prefetchable (so it takes
 * indexes 4 and 5; BAR5 is absent). The client may map it whole (one
 * sparse mmap area covering the BAR); REGION_READ/WRITE reach it too. The
 * device touches it only in SUM and BARFILL. Reset zeroes it.
 *
 * Every command ends with a completion interrupt: MSI-X vector IRQ_VECTOR
 * when MSI-X is enabled in its capability; otherwise MSI vector 0 when the
 * client attached an eventfd to it, INTx otherwise: a level, held until
 * the next command starts or the device is reset.
 * DEVICE_RESET, FLR and D3hot -> D0 clear every register (ID and VERSION
 * come back) and BAR4.
 *
 * Live migration (always on; PRE_COPY offered, but the pre-copy phase
 * sends nothing: the whole state goes in STOP_COPY, built when that state
 * is entered). The stream is the envelope of devices/common/devmig.h, tag
 * "DMAT", version 1, payload (little-endian): BAR0 (u32 4096 + bytes),
 * BAR4 (u32 65536 + bytes), STATUS, SUM, BAR4_WRITES, IRQ_COUNT,
 * CMD_COUNT (u32 each), INTx level held (u8), a command written while
 * stopped (u32, 0 = none), then the command in flight: u8 present, u32
 * command, u64 src, dst, len, bytes done, u8 step (0 reading a chunk, 1
 * writing it), u32 + bytes of the bounce buffer (the chunk being written).
 * A stream that is truncated, corrupted, of another device or version, or
 * describes an impossible command is refused (-EINVAL at RESUMING -> STOP)
 * before anything is applied.
 * Quiesce (RUNNING/PRE_COPY -> STOP/STOP_COPY) cannot wait for DMA in
 * flight: its completion is delivered by the dispatch thread that runs
 * the callback. The step in flight is recorded instead and started again
 * on resume, on this side or the destination (re-reading a chunk or
 * re-writing the bounce buffer is idempotent); the old transfer's callback
 * is ignored. A command written while stopped starts on resume. The INTx
 * level is asserted again on resume. Not in the stream (the library's or
 * the VMM's): config space, the MSI-X table and pending bits, IRQ wiring,
 * DMA mappings.
 */
#ifndef UVF_DEVICES_DMATEST_H
#define UVF_DEVICES_DMATEST_H

#include "uvf/server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UVF_DMATEST_VENDOR_ID 0x1de0
#define UVF_DMATEST_DEVICE_ID 0x0002
#define UVF_DMATEST_BAR_SIZE  4096u

#define UVF_DMATEST_ID	    0x54414d44u /* "DMAT" */
#define UVF_DMATEST_VERSION 0x00010000u

enum uvf_dmatest_reg {
	UVF_DMATEST_REG_ID = 0x00,
	UVF_DMATEST_REG_VERSION = 0x04,
	UVF_DMATEST_REG_SRC_LO = 0x08,
	UVF_DMATEST_REG_SRC_HI = 0x0c,
	UVF_DMATEST_REG_DST_LO = 0x10,
	UVF_DMATEST_REG_DST_HI = 0x14,
	UVF_DMATEST_REG_LEN = 0x18,
	UVF_DMATEST_REG_PATTERN = 0x1c,
	UVF_DMATEST_REG_CMD = 0x20,
	UVF_DMATEST_REG_STATUS = 0x24,
	UVF_DMATEST_REG_IRQ_COUNT = 0x28,
	UVF_DMATEST_REG_CMD_COUNT = 0x2c,
	UVF_DMATEST_REG_IRQ_VECTOR = 0x30,
	UVF_DMATEST_REG_SUM = 0x34,
	UVF_DMATEST_REG_BAR4_WRITES = 0x38,
};

#define UVF_DMATEST_MSIX_BAR	 2
#define UVF_DMATEST_MSIX_VECTORS 4u
#define UVF_DMATEST_MSIX_TABLE	 0x000u
#define UVF_DMATEST_MSIX_PBA	 0x800u

#define UVF_DMATEST_CMD_COPY 1u
#define UVF_DMATEST_CMD_FILL 2u
#define UVF_DMATEST_CMD_SUM 3u
#define UVF_DMATEST_CMD_BARFILL 4u

#define UVF_DMATEST_BAR4 4
#define UVF_DMATEST_BAR4_SIZE (64u << 10)

/* FNV-1a, 32-bit: h = 0x811c9dc5; for each byte b: h = (h ^ b) * 0x01000193
 * (mod 2^32). Over no bytes it is 0x811c9dc5. */
#define UVF_DMATEST_FNV_OFFSET 0x811c9dc5u
#define UVF_DMATEST_FNV_PRIME 0x01000193u

#define UVF_DMATEST_MAX_LEN (16u << 20) /* bound on the work one command does */
#define UVF_DMATEST_CHUNK   (64u << 10) /* bounce buffer size */

/*
 * The model, in the shape of every uvf device model (devices/):
 * uvf_dmatest_create() makes the model and its device, described (ids,
 * BARs, capabilities, IRQs, callbacks) but not listening; go on with
 * uvf_device_listen() or uvf_device_listen_fd() on uvf_dmatest_device(),
 * then serve it. The device owns the model (its callbacks' data; do not
 * replace the callbacks): uvf_dmatest_destroy(), or uvf_device_free() on
 * its device, frees both; NULL is fine. The device's user data pointer
 * stays free for the caller. create returns 0, or a negative errno
 * (-ENOMEM, or what the library refused).
 */
struct uvf_dmatest;

int uvf_dmatest_create(struct uvf_dmatest **out);
struct uvf_device *uvf_dmatest_device(struct uvf_dmatest *t);
void uvf_dmatest_destroy(struct uvf_dmatest *t);

/* The checksum SUM computes, for clients to compare with. */
uint32_t uvf_dmatest_checksum(const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* UVF_DEVICES_DMATEST_H */
