/* SPDX-License-Identifier: MIT */
/*
 * vfio-dmatest's shared declarations: what the dmatest device declares,
 * the limits of the program, check results, the device as opened through
 * vfio, and the functions vfio-dmatest.c (set-up, helpers, main) and
 * vfio-dmatest-checks.c (DMA, interrupts, mapped BAR4, reset) share.
 */
#ifndef VFIO_DMATEST_H
#define VFIO_DMATEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

/* ------------------------------------------------------------------ */
/* What dmatest declares: a copy of devices/dmatest/dmatest.h, since    */
/* this program is built for the guest without the uvf headers.         */
/* ------------------------------------------------------------------ */

#define DT_VENDOR_ID 0x1de0
#define DT_DEVICE_ID 0x0002
#define DT_CLASS     0xff0000u
#define DT_REVISION  1


#define DT_ID	   0x54414d44u /* "DMAT" */
#define DT_VERSION 0x00010000u

#define DT_REG_ID	 0x00
#define DT_REG_VERSION	 0x04
#define DT_REG_SRC_LO	 0x08
#define DT_REG_SRC_HI	 0x0c
#define DT_REG_DST_LO	 0x10
#define DT_REG_DST_HI	 0x14
#define DT_REG_LEN	 0x18
#define DT_REG_PATTERN	 0x1c
#define DT_REG_CMD	 0x20
#define DT_REG_STATUS	 0x24
#define DT_REG_IRQ_COUNT 0x28
#define DT_REG_CMD_COUNT 0x2c
#define DT_REG_SUM	 0x34
#define DT_REG_BAR4_WRITES 0x38 /* BAR4 writes that came as REGION_WRITE messages */

#define DT_CMD_COPY    1u
#define DT_CMD_FILL    2u
#define DT_CMD_SUM     3u /* FNV-1a 32-bit of the first LEN bytes of BAR4 into SUM */
#define DT_CMD_BARFILL 4u /* the first LEN bytes of BAR4 = PATTERN */

#define DT_BAR4_SIZE   65536u
#define DT_FNV_OFFSET  0x811c9dc5u
#define DT_FNV_PRIME   0x01000193u

/* Capabilities: Power Management, MSI, MSI-X, PCI Express (with FLR). */
#define DT_CONFIG_SIZE 4096u
#define DT_MSIX_BAR    2u
#define DT_MSIX_TABLE  0x000u
#define DT_MSIX_PBA    0x800u

/* Interrupts (INTx pin A is always there). -D overrides them, to try a
 * device under development. */
#ifndef DT_MSI_VECTORS
#define DT_MSI_VECTORS 1
#endif
#ifndef DT_MSIX_VECTORS
#define DT_MSIX_VECTORS 4
#endif

/*
 * Completion vector: the register that picks the MSI-X vector a command
 * completes on (IRQ_VECTOR). -1: the device has none and always uses
 * vector 0. Only select_vector() and the reset check depend on it.
 */
#ifndef DT_REG_IRQ_VECTOR
#define DT_REG_IRQ_VECTOR 0x30
#endif

/* ------------------------------------------------------------------ */
/* Limits of this program                                               */
/* ------------------------------------------------------------------ */

#define WAIT_MS	       5000 /* any wait for the device or an interrupt */
#define SETTLE_MS      100  /* after the expected interrupt, for strays */
#define DMA_PAGE       4096u
#define MAX_VECTORS    2048 /* the PCI limit of MSI-X */
#define CAP_WALK_LIMIT 48   /* (256 - 64) / 4 capabilities at most */

/* Type1 mode: an address of the device's space where no buffer is mapped. */
#define TYPE1_UNMAPPED_IOVA 0x20000000ull

/* ------------------------------------------------------------------ */
/* Results                                                              */
/* ------------------------------------------------------------------ */

extern unsigned nr_passed, nr_failed;

struct check {
	char name[64];
	char why[240]; /* the first failure */
	unsigned failures;
};


struct caps {
	uint8_t at[256]; /* offset of the first capability of each id, 0 = absent */
	unsigned count;
	char list[160]; /* "05@40 11@50" */
};

/* The device through vfio                                              */
/* ------------------------------------------------------------------ */

struct dma_buf {
	uint8_t *va;
	uint64_t iova; /* what the device is told */
	bool mapped;   /* type1: mapped in the container */
};

struct dev {
	char bdf[16];
	bool noiommu;
	int container, group, fd;
	struct vfio_device_info info;
	struct vfio_region_info region[VFIO_PCI_NUM_REGIONS];
	bool region_ok[VFIO_PCI_NUM_REGIONS];
	struct vfio_irq_info irq[VFIO_PCI_NUM_IRQS];
	bool irq_ok[VFIO_PCI_NUM_IRQS];
	uint8_t cfg[256]; /* config space as first read */
	struct caps caps;
	struct dma_buf buf[3]; /* A (copy source), B (copy destination), C (fill) */
	bool bufs_ok;
	volatile uint32_t *bar4; /* BAR4 mapped through vfio, or NULL */
};

/* vfio-dmatest.c */
void check_begin(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool expect(struct check *c, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool expect_ok(struct check *c, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool check_end(struct check *c);
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int virt_to_phys(const void *va, uint64_t *pa);
void drain_eventfds(const int *fds, unsigned n, uint64_t *counts);
int wait_vector(const int *fds, unsigned n, unsigned expected, unsigned timeout_ms, unsigned settle_ms,
		uint64_t *counts);
void describe_strays(const uint64_t *counts, unsigned n, unsigned expected, char *buf, size_t len);
int reg_read(struct dev *d, uint32_t reg, uint32_t *val);
int reg_write(struct dev *d, uint32_t reg, uint32_t val);
int select_vector(struct dev *d, unsigned vector);
int run_command(struct dev *d, uint32_t cmd, uint64_t src, uint64_t dst, uint32_t len, uint32_t pattern,
		uint32_t *status);
int set_irq_eventfds(struct dev *d, unsigned index, unsigned count, const int *fds);
int set_irq_none(struct dev *d, unsigned index, uint32_t action, unsigned count);
bool enable_device(struct dev *d, const char *name);

/* vfio-dmatest-checks.c */
extern uint32_t rng_state; /* fill_random()'s generator, seeded by main() */
bool setup_buffers(struct dev *d);
void release_buffers(struct dev *d);
void check_copy(struct dev *d, const char *name);
void check_fill(struct dev *d);
void check_unmapped(struct dev *d);
void check_interrupts(struct dev *d);
void check_mapped_bar(struct dev *d);
void check_reset(struct dev *d);

#endif
