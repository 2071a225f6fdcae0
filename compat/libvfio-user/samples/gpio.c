/* SPDX-License-Identifier: MIT */
/*
 * vfu-gpio: a 16-line GPIO card written against the libvfio-user API.
 *
 * BAR2 (I/O, 32 bytes):
 *   0x00  INPUT    (ro) the levels on the input lines; they walk one step
 *                        each time the register is read, as if a test
 *                        pattern generator drove them
 *   0x04  OUTPUT   (rw) the output latch
 *   0x08  IRQ_EN   (rw) bit n: interrupt when input line n changes
 *   0x0c  IRQ_STAT (rw1c) lines that changed with their interrupt enabled
 * One INTx line, raised while IRQ_STAT & IRQ_EN is not zero.
 */
#include <stdint.h>

#include "sample_common.h"

struct gpio {
	uint16_t input, output, irq_en, irq_stat;
	unsigned step;
};

static void gpio_update_irq(vfu_ctx_t *ctx, struct gpio *g)
{
	if ((g->irq_stat & g->irq_en) && vfu_irq_trigger(ctx, 0) < 0 && errno != ENOENT)
		vfu_log(ctx, LOG_ERR, "vfu_irq_trigger: %s", strerror(errno));
}

static ssize_t gpio_bar2(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	struct gpio *g = vfu_get_private(ctx);
	uint32_t v = 0;

	if (offset < 0 || offset > 0x1c || count > 4 || (size_t)offset % 4 + count > 4) {
		errno = EINVAL;
		return -1;
	}
	unsigned reg = (unsigned)offset & ~3u, shift = 8 * ((unsigned)offset & 3u);
	if (!is_write) {
		switch (reg) {
		case 0x00: {
			uint16_t before = g->input;
			g->input = (uint16_t)(1u << (g->step++ % 16));
			g->irq_stat |= (uint16_t)(before ^ g->input) & g->irq_en;
			v = before;
			gpio_update_irq(ctx, g);
			break;
		}
		case 0x04:
			v = g->output;
			break;
		case 0x08:
			v = g->irq_en;
			break;
		case 0x0c:
			v = g->irq_stat;
			break;
		}
		v >>= shift;
		memcpy(buf, &v, count);
		return (ssize_t)count;
	}
	memcpy(&v, buf, count);
	v <<= shift;
	switch (reg) {
	case 0x04:
		g->output = (uint16_t)v;
		break;
	case 0x08:
		g->irq_en = (uint16_t)v;
		gpio_update_irq(ctx, g);
		break;
	case 0x0c:
		g->irq_stat &= (uint16_t)~v;
		break;
	default:
		break; /* INPUT and the spare registers ignore writes */
	}
	return (ssize_t)count;
}

static int gpio_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct gpio *g = vfu_get_private(ctx);
	if (type != VFU_RESET_LOST_CONN)
		*g = (struct gpio){0};
	return 0;
}

int main(int argc, char **argv)
{
	struct gpio g = {0};
	int level;
	const char *path = sample_args(argc, argv, &level);

	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, 0, &g, VFU_DEV_TYPE_PCI);
	if (!ctx) {
		fprintf(stderr, "vfu_create_ctx: %s\n", strerror(errno));
		return 1;
	}
	if (vfu_setup_log(ctx, sample_log, level) < 0 ||
	    vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0) < 0)
		goto fail;
	/* an ACCES-like vendor id for a sample; class "other system peripheral" */
	vfu_pci_set_id(ctx, 0x494f, 0x0dc8, 0x494f, 0x0001);
	vfu_pci_set_class(ctx, 0x08, 0x80, 0x00);
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR2_REGION_IDX, 32, gpio_bar2, VFU_REGION_FLAG_RW, NULL, 0, -1, 0) < 0 ||
	    vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0 || vfu_setup_device_reset_cb(ctx, gpio_reset) < 0 ||
	    vfu_realize_ctx(ctx) < 0)
		goto fail;
	int ret = sample_serve(ctx);
	vfu_destroy_ctx(ctx);
	return ret;
fail:
	fprintf(stderr, "vfu-gpio: setup failed: %s\n", strerror(errno));
	vfu_destroy_ctx(ctx);
	return 1;
}
