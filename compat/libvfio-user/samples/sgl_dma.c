/* SPDX-License-Identifier: MIT */
/*
 * vfu-sgl-dma: a DMA engine written against the libvfio-user API and its
 * scatter-gather calls.
 *
 * BAR0 (memory, 4 KiB):
 *   0x00  ADDR   (rw, 64-bit) client DMA address
 *   0x08  LEN    (rw) bytes, at most 64 KiB
 *   0x0c  CMD    (wo) 1 = FILL the range with PATTERN, 2 = SUM its bytes
 *   0x10  STATUS (ro) 0 done, else the errno of the last command
 *   0x14  RESULT (ro) the sum of SUM
 *   0x18  PATTERN (rw) the byte FILL writes
 * Mapped client memory is reached with vfu_sgl_get()/vfu_sgl_put(); the
 * rest with vfu_sgl_read()/vfu_sgl_write(). One MSI vector (else INTx) is
 * raised when a command ends.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "sample_common.h"

#define MAX_LEN (64u * 1024u)
#define MAX_SGS 16

struct sgl_dma {
	uint64_t addr;
	uint32_t len, status, result, pattern;
	unsigned ranges;
	dma_sg_t *sgl;
	uint8_t bounce[MAX_LEN];
};

/* FILL or SUM the bytes of one piece of client memory. */
static void apply(struct sgl_dma *d, uint32_t cmd, void *p, size_t len)
{
	if (cmd == 1) {
		memset(p, (int)d->pattern, len);
		return;
	}
	for (size_t k = 0; k < len; k++)
		d->result += ((const uint8_t *)p)[k];
}

/* Run a command over [addr, addr + len): 0 or an errno. Mapped memory
 * is used in place; otherwise the range is copied page by page (a page
 * lies in one DMA range, so each copy is one entry). */
static int run_command(vfu_ctx_t *ctx, struct sgl_dma *d, uint32_t cmd)
{
	int prot = cmd == 1 ? PROT_WRITE : PROT_READ;
	struct iovec iov[MAX_SGS];

	if ((cmd != 1 && cmd != 2) || !d->len || d->len > MAX_LEN)
		return EINVAL;
	d->result = 0;
	int n = vfu_addr_to_sgl(ctx, (vfu_dma_addr_t)(uintptr_t)d->addr, d->len, d->sgl, MAX_SGS, prot);
	if (n < 0)
		return errno ? errno : ENOSPC;
	bool mapped = true;
	for (int i = 0; i < n; i++)
		mapped = mapped && vfu_sg_is_mappable(ctx, (dma_sg_t *)((char *)d->sgl + (size_t)i * dma_sg_size()));
	if (mapped && vfu_sgl_get(ctx, d->sgl, iov, (size_t)n, 0) == 0) {
		for (int i = 0; i < n; i++)
			apply(d, cmd, iov[i].iov_base, iov[i].iov_len);
		vfu_sgl_put(ctx, d->sgl, iov, (size_t)n);
		return 0;
	}
	for (uint64_t at = d->addr, end = d->addr + d->len; at < end;) {
		uint64_t stop = (at | 4095u) + 1 < end ? (at | 4095u) + 1 : end;
		size_t len = (size_t)(stop - at);
		if (vfu_addr_to_sgl(ctx, (vfu_dma_addr_t)(uintptr_t)at, len, d->sgl, 1, prot) != 1)
			return errno ? errno : EFAULT;
		if (cmd == 1) {
			apply(d, cmd, d->bounce, len);
			if (vfu_sgl_write(ctx, d->sgl, 1, d->bounce) < 0)
				return errno;
		} else {
			if (vfu_sgl_read(ctx, d->sgl, 1, d->bounce) < 0)
				return errno;
			apply(d, cmd, d->bounce, len);
		}
		at = stop;
	}
	return 0;
}

static ssize_t bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	struct sgl_dma *d = vfu_get_private(ctx);
	uint8_t regs[0x20] = {0};

	if (offset < 0 || offset + (loff_t)count > 4096) {
		errno = EINVAL;
		return -1;
	}
	memcpy(regs + 0x00, &d->addr, 8);
	memcpy(regs + 0x08, &d->len, 4);
	memcpy(regs + 0x10, &d->status, 4);
	memcpy(regs + 0x14, &d->result, 4);
	memcpy(regs + 0x18, &d->pattern, 4);
	if (!is_write) {
		memset(buf, 0, count);
		if ((size_t)offset < sizeof(regs))
			memcpy(buf, regs + offset, count < sizeof(regs) - (size_t)offset ? count : sizeof(regs) - (size_t)offset);
		return (ssize_t)count;
	}
	if ((size_t)offset >= sizeof(regs) || count > sizeof(regs) - (size_t)offset)
		return (ssize_t)count; /* beyond the registers: ignored */
	memcpy(regs + offset, buf, count);
	memcpy(&d->addr, regs + 0x00, 8);
	memcpy(&d->len, regs + 0x08, 4);
	memcpy(&d->pattern, regs + 0x18, 4);
	if (offset <= 0x0c && offset + (loff_t)count > 0x0c) {
		uint32_t cmd;
		memcpy(&cmd, regs + 0x0c, 4);
		d->status = (uint32_t)run_command(ctx, d, cmd);
		if (vfu_irq_trigger(ctx, 0) < 0 && errno != ENOENT)
			vfu_log(ctx, LOG_DEBUG, "completion interrupt: %s", strerror(errno));
	}
	return (ssize_t)count;
}

static void dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	struct sgl_dma *d = vfu_get_private(ctx);
	d->ranges++;
	vfu_log(ctx, LOG_DEBUG, "DMA range %p + %#zx %s", info->iova.iov_base, info->iova.iov_len,
		info->vaddr ? "mapped" : "by message");
}

static void dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	struct sgl_dma *d = vfu_get_private(ctx);
	(void)info;
	/* no pointer from vfu_sgl_get() outlives a command: nothing to drop */
	d->ranges--;
}

static int sgl_dma_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct sgl_dma *d = vfu_get_private(ctx);
	(void)type;
	d->addr = 0;
	d->len = d->status = d->result = d->pattern = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static struct sgl_dma d;
	int level;
	const char *path = sample_args(argc, argv, &level);

	d.sgl = calloc(MAX_SGS, dma_sg_size());
	vfu_ctx_t *ctx = d.sgl ? vfu_create_ctx(VFU_TRANS_SOCK, path, 0, &d, VFU_DEV_TYPE_PCI) : NULL;
	if (!ctx) {
		fprintf(stderr, "vfu_create_ctx: %s\n", strerror(errno));
		return 1;
	}
	if (vfu_setup_log(ctx, sample_log, level) < 0 ||
	    vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0) < 0)
		goto fail;
	vfu_pci_set_id(ctx, 0x4e58, 0x0102, 0x4e58, 0x0102);
	vfu_pci_set_class(ctx, 0x08, 0x01, 0x00); /* DMA controller */
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 4096, bar0_access,
			     VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0) < 0 ||
	    vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0 ||
	    vfu_setup_device_nr_irqs(ctx, VFU_DEV_MSI_IRQ, 1) < 0 ||
	    vfu_setup_device_dma(ctx, dma_register, dma_unregister) < 0 ||
	    vfu_setup_device_reset_cb(ctx, sgl_dma_reset) < 0 || vfu_realize_ctx(ctx) < 0)
		goto fail;
	int ret = sample_serve(ctx);
	vfu_destroy_ctx(ctx);
	free(d.sgl);
	return ret;
fail:
	fprintf(stderr, "vfu-sgl-dma: setup failed: %s\n", strerror(errno));
	vfu_destroy_ctx(ctx);
	free(d.sgl);
	return 1;
}
