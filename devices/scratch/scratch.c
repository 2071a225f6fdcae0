/* SPDX-License-Identifier: MIT */
/* The scratch model (the register map is in scratch.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/devmig.h"
#include "scratch/scratch.h"

#define SCRATCH_VENDOR_ID 0x1de0
#define SCRATCH_DEVICE_ID 0x0001

enum scratch_reg {
	REG_ID = 0x000,
	REG_VERSION = 0x004,
	REG_SCRATCH0 = 0x010,
	REG_SCRATCH15 = 0x04c,
	REG_GPIO_OUT = 0x050,
	REG_GPIO_IN = 0x054,
	REG_IRQ_RAISE = 0x060,
	REG_IRQ_STATUS = 0x064,
	REG_IRQ_COUNT = 0x068,
	REG_IRQ_ERROR = 0x06c,
	REG_DMA_ADDR_LO = 0x070,
	REG_DMA_ADDR_HI = 0x074,
	REG_DMA_LEN = 0x078,
	REG_DMA_CMD = 0x07c,
	REG_DMA_STATUS = 0x080,
};

#define SCRATCH_ID	0x53465655u
#define SCRATCH_VERSION 0x00010000u
#define SCRATCH_NR_MSI	4u
#define IRQ_BIT_INTX	(1u << 16)
#define DMA_CMD_READ	1u
#define DMA_CMD_WRITE	2u
#define BAR0_SIZE	4096u
#define WINDOW_OFFSET	0x800u
#define WINDOW_SIZE	(BAR0_SIZE - WINDOW_OFFSET)
#define BAR2_SIZE	32u

/* BAR2 register n (offset 4n) is BAR0 register io_map[n]. */
static const uint32_t io_map[BAR2_SIZE / 4] = {
	REG_ID, REG_VERSION, REG_SCRATCH0, REG_GPIO_OUT, REG_GPIO_IN, REG_IRQ_RAISE, REG_IRQ_STATUS, REG_IRQ_COUNT,
};

struct uvf_scratch {
	struct uvf_device *dev; /* owns this state (free_data) */
	uint32_t scratch[16];
	uint32_t gpio_out;
	uint32_t irq_status;
	uint32_t irq_count;
	uint32_t irq_error;
	uint64_t dma_addr;
	uint32_t dma_len;
	uint32_t dma_status;
	uint8_t window[WINDOW_SIZE];
	struct devmig mig; /* the migration stream, in or out */
};

static uint32_t reg_read(const struct uvf_scratch *s, uint32_t reg)
{
	switch (reg) {
	case REG_ID:
		return SCRATCH_ID;
	case REG_VERSION:
		return SCRATCH_VERSION;
	case REG_GPIO_OUT:
	case REG_GPIO_IN: /* loopback wiring */
		return s->gpio_out;
	case REG_IRQ_STATUS:
		return s->irq_status;
	case REG_IRQ_COUNT:
		return s->irq_count;
	case REG_IRQ_ERROR:
		return s->irq_error;
	case REG_DMA_ADDR_LO:
		return (uint32_t)s->dma_addr;
	case REG_DMA_ADDR_HI:
		return (uint32_t)(s->dma_addr >> 32);
	case REG_DMA_LEN:
		return s->dma_len;
	case REG_DMA_STATUS:
		return s->dma_status;
	default:
		if (reg >= REG_SCRATCH0 && reg <= REG_SCRATCH15)
			return s->scratch[(reg - REG_SCRATCH0) / 4];
		return 0; /* IRQ_RAISE, DMA_CMD and holes */
	}
}

static void log_gpio(struct uvf_device *dev, uint32_t old, uint32_t now)
{
	char leds[9];

	for (unsigned i = 0; i < 8; i++)
		leds[i] = (now >> i) & 1 ? '#' : '.';
	leds[8] = '\0';
	uvf_device_log(dev, UVF_LOG_INFO, "GPIO_OUT 0x%08x -> 0x%08x, LEDs 0-7 [%s]", old, now, leds);
}

static void raise_irqs(struct uvf_device *dev, struct uvf_scratch *s, uint32_t bits)
{
	for (unsigned bit = 0; bit < 32; bit++) {
		if (!(bits & (1u << bit)))
			continue;
		int ret;
		if ((1u << bit) == IRQ_BIT_INTX)
			ret = uvf_irq_trigger(dev, UVF_PCI_INTX_IRQ, 0);
		else if (bit < SCRATCH_NR_MSI)
			ret = uvf_irq_trigger(dev, UVF_PCI_MSI_IRQ, bit);
		else
			continue; /* no interrupt behind this bit */
		if (ret < 0) {
			s->irq_error = (uint32_t)-ret;
			uvf_device_log(dev, UVF_LOG_INFO, "IRQ_RAISE bit %u: %s", bit, strerror(-ret));
			continue;
		}
		s->irq_status |= 1u << bit;
		s->irq_count++;
	}
}

static void dma_command(struct uvf_device *dev, struct uvf_scratch *s, uint32_t cmd)
{
	int ret;

	if (cmd != DMA_CMD_READ && cmd != DMA_CMD_WRITE)
		ret = -EINVAL;
	else if (s->dma_len > WINDOW_SIZE)
		ret = -EINVAL;
	else if (s->dma_len > UINT64_MAX - s->dma_addr)
		ret = -EINVAL; /* the range would wrap around */
	else if (cmd == DMA_CMD_READ)
		ret = uvf_dma_read(dev, s->dma_addr, s->window, s->dma_len);
	else
		ret = uvf_dma_write(dev, s->dma_addr, s->window, s->dma_len);
	s->dma_status = (uint32_t)-ret;
	uvf_device_log(dev, UVF_LOG_INFO, "DMA_CMD %u: %u bytes at 0x%llx: %s", cmd, s->dma_len,
		       (unsigned long long)s->dma_addr, ret < 0 ? strerror(-ret) : "done");
}

/* Write the bytes of reg selected by mask (value already in place). */
static void reg_write(struct uvf_device *dev, struct uvf_scratch *s, uint32_t reg, uint32_t value, uint32_t mask)
{
	uint32_t old = reg_read(s, reg), merged = (old & ~mask) | (value & mask);

	switch (reg) {
	case REG_GPIO_OUT:
		s->gpio_out = merged;
		if (merged != old)
			log_gpio(dev, old, merged);
		break;
	case REG_IRQ_RAISE:
		raise_irqs(dev, s, value & mask);
		break;
	case REG_IRQ_STATUS:
		s->irq_status &= ~(value & mask);
		break;
	case REG_DMA_ADDR_LO:
		s->dma_addr = (s->dma_addr & ~(uint64_t)UINT32_MAX) | merged;
		break;
	case REG_DMA_ADDR_HI:
		s->dma_addr = (s->dma_addr & UINT32_MAX) | (uint64_t)merged << 32;
		break;
	case REG_DMA_LEN:
		s->dma_len = merged;
		break;
	case REG_DMA_CMD:
		/* the command is the low byte: act once per write of it */
		if (mask & 0xff)
			dma_command(dev, s, value & mask);
		break;
	default:
		if (reg >= REG_SCRATCH0 && reg <= REG_SCRATCH15)
			s->scratch[(reg - REG_SCRATCH0) / 4] = merged;
		break; /* read-only registers and holes ignore writes */
	}
}

/* Access n bytes (n <= 4 - shift) at byte `shift` of register reg. */
static void reg_access(struct uvf_device *dev, struct uvf_scratch *s, uint32_t reg, unsigned shift, uint8_t *bytes,
		       size_t n, bool is_write)
{
	if (!is_write) {
		uint32_t v = reg_read(s, reg);
		for (size_t i = 0; i < n; i++)
			bytes[i] = (uint8_t)(v >> (8 * (shift + i)));
		return;
	}
	uint32_t value = 0, mask = 0;
	for (size_t i = 0; i < n; i++) {
		value |= (uint32_t)bytes[i] << (8 * (shift + i));
		mask |= 0xffu << (8 * (shift + i));
	}
	reg_write(dev, s, reg, value, mask);
}

static int bar0_access(struct uvf_device *dev, struct uvf_scratch *s, uint64_t offset, uint8_t *buf, size_t len,
		       bool is_write)
{
	/* The library checks this already; the window copy relies on it. */
	if (offset > BAR0_SIZE || len > BAR0_SIZE - offset)
		return -EINVAL;
	while (len) {
		size_t n;
		if (offset >= WINDOW_OFFSET) {
			n = len;
			if (is_write)
				memcpy(s->window + (offset - WINDOW_OFFSET), buf, n);
			else
				memcpy(buf, s->window + (offset - WINDOW_OFFSET), n);
		} else {
			unsigned shift = offset & 3;
			n = 4 - shift < len ? 4 - shift : len;
			reg_access(dev, s, (uint32_t)(offset - shift), shift, buf, n, is_write);
		}
		offset += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static int bar0_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	return bar0_access(dev, data, offset, buf, len, false);
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	/* bar0_access only reads buf when is_write */
	return bar0_access(dev, data, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

static int bar2_access(struct uvf_device *dev, struct uvf_scratch *s, uint64_t offset, uint8_t *buf, size_t len,
		       bool is_write)
{
	/* The library checks this already; io_map[] relies on it. */
	if (offset > BAR2_SIZE || len > BAR2_SIZE - offset)
		return -EINVAL;
	while (len) {
		unsigned shift = offset & 3;
		size_t n = 4 - shift < len ? 4 - shift : len;
		reg_access(dev, s, io_map[offset / 4], shift, buf, n, is_write);
		offset += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static int bar2_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	return bar2_access(dev, data, offset, buf, len, false);
}

static int bar2_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	return bar2_access(dev, data, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct uvf_scratch *s = data;

	(void)reason;
	devmig_clear(&s->mig);
	memset(s, 0, sizeof(*s));
	s->dev = dev;
	uvf_device_log(dev, UVF_LOG_INFO, "device reset: registers cleared");
	return 0;
}

/* ---- Migration (format above) ---- */

#define SCRATCH_MIG_TAG	    0x54524353u /* "SCRT" */
#define SCRATCH_MIG_VERSION 1u

static int save_state(struct uvf_scratch *s)
{
	struct devmig_writer w;
	uint8_t *stream;
	size_t len;

	devmig_writer_begin(&w, SCRATCH_MIG_TAG, SCRATCH_MIG_VERSION);
	for (unsigned i = 0; i < 16; i++)
		devmig_put_u32(&w, s->scratch[i]);
	devmig_put_u32(&w, s->gpio_out);
	devmig_put_u32(&w, s->irq_status);
	devmig_put_u32(&w, s->irq_count);
	devmig_put_u32(&w, s->irq_error);
	devmig_put_u64(&w, s->dma_addr);
	devmig_put_u32(&w, s->dma_len);
	devmig_put_u32(&w, s->dma_status);
	devmig_put_u32(&w, WINDOW_SIZE);
	devmig_put_bytes(&w, s->window, WINDOW_SIZE);
	int ret = devmig_writer_finish(&w, &stream, &len);
	if (ret == 0)
		devmig_save_begin(&s->mig, stream, len);
	return ret;
}

/* Check everything, then apply: a refused stream changes nothing. */
static int load_state(struct uvf_scratch *s)
{
	struct devmig_reader r;
	struct uvf_scratch next = {0};
	uint32_t version;

	if (devmig_load_finish(&s->mig, SCRATCH_MIG_TAG, SCRATCH_MIG_VERSION, &r, &version) < 0) {
		uvf_device_log(s->dev, UVF_LOG_WARNING,
			       "migration stream refused: truncated, corrupted or not a uvf-scratch v1 stream");
		return -EINVAL;
	}
	for (unsigned i = 0; i < 16; i++)
		next.scratch[i] = devmig_get_u32(&r);
	next.gpio_out = devmig_get_u32(&r);
	next.irq_status = devmig_get_u32(&r);
	next.irq_count = devmig_get_u32(&r);
	next.irq_error = devmig_get_u32(&r);
	next.dma_addr = devmig_get_u64(&r);
	next.dma_len = devmig_get_u32(&r);
	next.dma_status = devmig_get_u32(&r);
	if (devmig_get_u32(&r) != WINDOW_SIZE) {
		uvf_device_log(s->dev, UVF_LOG_WARNING, "migration stream refused: window size");
		return -EINVAL;
	}
	devmig_get_bytes(&r, next.window, WINDOW_SIZE);
	if (devmig_reader_end(&r) < 0) {
		uvf_device_log(s->dev, UVF_LOG_WARNING, "migration stream refused: length does not match the fields");
		return -EINVAL;
	}
	log_gpio(s->dev, s->gpio_out, next.gpio_out);
	next.dev = s->dev;
	next.mig = s->mig;
	*s = next;
	return 0;
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct uvf_scratch *s = data;
	int ret = 0;

	(void)dev;
	if (to == UVF_MIGRATION_STATE_STOP_COPY)
		return save_state(s);
	if (to == UVF_MIGRATION_STATE_RESUMING) {
		devmig_load_begin(&s->mig, 64u << 10);
		return 0;
	}
	if (from == UVF_MIGRATION_STATE_RESUMING && to == UVF_MIGRATION_STATE_STOP)
		ret = load_state(s);
	devmig_clear(&s->mig);
	return ret;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct uvf_scratch *s = data;

	(void)dev;
	return devmig_save(&s->mig, buf, len);
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	struct uvf_scratch *s = data;

	(void)dev;
	return devmig_load(&s->mig, buf, len);
}

static int describe(struct uvf_device *dev, struct uvf_scratch *s)
{
	static const struct uvf_pci_ids ids = {
		.vendor_id = SCRATCH_VENDOR_ID,
		.device_id = SCRATCH_DEVICE_ID,
		.subsystem_vendor_id = SCRATCH_VENDOR_ID,
		.subsystem_id = SCRATCH_DEVICE_ID,
		.class_code = 0xff0000,
		.revision = 1,
	};
	/* PMC: version 3, D1/D2 and PME unsupported; PMCSR: D0, NoSoftRst
	 * (a D3hot -> D0 transition keeps the registers). The power state
	 * bits are the only writable ones. */
	static const uint8_t pm_body[6] = {0x03, 0x00, 0x08, 0x00, 0x00, 0x00};
	static const uint8_t pm_writable[6] = {0x00, 0x00, 0x03, 0x00, 0x00, 0x00};
	/* Vendor specific: length of the whole capability (12), then a
	 * layout version and a tag a driver can check. */
	static const uint8_t vendor_body[10] = {12, 1, 'u', 'v', 'f', 's', 'c', 'r', 't', 0};
	const struct uvf_bar_desc bar0 = {
		.size = BAR0_SIZE, .flags = 0, .read = bar0_read, .write = bar0_write, .data = s};
	const struct uvf_bar_desc bar2 = {
		.size = BAR2_SIZE, .flags = UVF_BAR_IO, .read = bar2_read, .write = bar2_write, .data = s};
	const struct uvf_migration_callbacks mig = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};
	int ret;

	if ((ret = uvf_device_set_pci_ids(dev, &ids)) < 0 || (ret = uvf_device_set_bar(dev, 0, &bar0)) < 0 ||
	    (ret = uvf_device_set_bar(dev, 2, &bar2)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, SCRATCH_NR_MSI)) < 0 ||
	    (ret = uvf_device_set_migration(dev, &mig, s, UVF_MIGRATION_PRE_COPY)) < 0)
		return ret;
	ret = uvf_device_add_capability(dev, 0x01, pm_body, sizeof(pm_body), pm_writable);
	if (ret < 0)
		return ret;
	ret = uvf_device_add_capability(dev, 0x09, vendor_body, sizeof(vendor_body), NULL);
	return ret < 0 ? ret : 0;
}

/* The device's free_data: runs last in uvf_device_free(). */
static void free_model(void *data)
{
	struct uvf_scratch *s = data;

	devmig_clear(&s->mig);
	free(s);
}

int uvf_scratch_create(struct uvf_scratch **out)
{
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_device *dev = NULL;
	struct uvf_scratch *s;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = uvf_device_new(&dev);
	if (ret < 0) {
		free(s);
		return ret;
	}
	cb.reset = on_reset;
	cb.free_data = free_model;
	ret = uvf_device_set_callbacks(dev, &cb, s);
	if (ret < 0) {
		uvf_device_free(dev);
		free(s);
		return ret;
	}
	/* From here on the device owns s. */
	s->dev = dev;
	ret = describe(dev, s);
	if (ret < 0) {
		uvf_device_free(dev);
		return ret;
	}
	*out = s;
	return 0;
}

struct uvf_device *uvf_scratch_device(struct uvf_scratch *s)
{
	return s ? s->dev : NULL;
}

void uvf_scratch_destroy(struct uvf_scratch *s)
{
	if (s)
		uvf_device_free(s->dev);
}
