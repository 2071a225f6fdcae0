/* SPDX-License-Identifier: MIT */
/* The dmatest device logic (register map in dmatest.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmatest.h"

struct dmatest {
	uint8_t *regs; /* BAR0 memory, owned by the device */
	uint32_t status;
	uint32_t irq_count;
	uint32_t cmd_count;
	uint8_t bounce[UVF_DMATEST_CHUNK];
};

/* Registers are little-endian, as is every host uvf runs on (PROTOCOL.md 0). */
static uint32_t load32(const struct dmatest *t, uint32_t reg)
{
	uint32_t v;
	memcpy(&v, t->regs + reg, sizeof(v));
	return v;
}

static void store32(struct dmatest *t, uint32_t reg, uint32_t v)
{
	memcpy(t->regs + reg, &v, sizeof(v));
}

static uint64_t load64(const struct dmatest *t, uint32_t reg_lo)
{
	return (uint64_t)load32(t, reg_lo + 4) << 32 | load32(t, reg_lo);
}

/* The client may have written over read-only registers: put them back. */
static void sync_read_only(struct dmatest *t)
{
	store32(t, UVF_DMATEST_REG_ID, UVF_DMATEST_ID);
	store32(t, UVF_DMATEST_REG_VERSION, UVF_DMATEST_VERSION);
	store32(t, UVF_DMATEST_REG_CMD, 0);
	store32(t, UVF_DMATEST_REG_STATUS, t->status);
	store32(t, UVF_DMATEST_REG_IRQ_COUNT, t->irq_count);
	store32(t, UVF_DMATEST_REG_CMD_COUNT, t->cmd_count);
}

static size_t chunk_of(uint64_t remaining)
{
	return remaining < UVF_DMATEST_CHUNK ? (size_t)remaining : UVF_DMATEST_CHUNK;
}

static int copy(struct uvf_device *dev, struct dmatest *t, uint64_t src, uint64_t dst, uint64_t len)
{
	/* Destination above an overlapping source: copy from the end, so
	 * every chunk is read before it is overwritten. */
	bool backward = dst > src && dst - src < len;
	uint64_t done = 0;

	while (done < len) {
		size_t n = chunk_of(len - done);
		uint64_t off = backward ? len - done - n : done;
		int ret = uvf_dma_read(dev, src + off, t->bounce, n);
		if (ret < 0)
			return ret;
		ret = uvf_dma_write(dev, dst + off, t->bounce, n);
		if (ret < 0)
			return ret;
		done += n;
	}
	return 0;
}

static int fill(struct uvf_device *dev, struct dmatest *t, uint64_t dst, uint64_t len, uint8_t pattern)
{
	memset(t->bounce, pattern, chunk_of(len));
	for (uint64_t done = 0; done < len;) {
		size_t n = chunk_of(len - done);
		int ret = uvf_dma_write(dev, dst + done, t->bounce, n);
		if (ret < 0)
			return ret;
		done += n;
	}
	return 0;
}

static int run_command(struct uvf_device *dev, struct dmatest *t, uint32_t cmd)
{
	uint64_t src = load64(t, UVF_DMATEST_REG_SRC_LO);
	uint64_t dst = load64(t, UVF_DMATEST_REG_DST_LO);
	uint32_t len = load32(t, UVF_DMATEST_REG_LEN);

	if (len > UVF_DMATEST_MAX_LEN || len > UINT64_MAX - dst)
		return -EINVAL;
	switch (cmd) {
	case UVF_DMATEST_CMD_COPY:
		if (len > UINT64_MAX - src)
			return -EINVAL;
		return copy(dev, t, src, dst, len);
	case UVF_DMATEST_CMD_FILL:
		return fill(dev, t, dst, len, (uint8_t)load32(t, UVF_DMATEST_REG_PATTERN));
	default:
		return -EINVAL;
	}
}

static void raise_completion(struct uvf_device *dev, struct dmatest *t)
{
	int ret;

	if (uvf_irq_enabled(dev, UVF_PCI_MSI_IRQ, 0))
		ret = uvf_irq_trigger(dev, UVF_PCI_MSI_IRQ, 0);
	else
		ret = uvf_irq_trigger(dev, UVF_PCI_INTX_IRQ, 0);
	/* -ENOENT: the client wired no interrupt; it polls CMD_COUNT. */
	if (ret == 0)
		t->irq_count++;
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct dmatest *t = data;

	(void)buf; /* already copied into the BAR memory by the library */
	if (offset < UVF_DMATEST_REG_CMD + 4 && offset + len > UVF_DMATEST_REG_CMD) {
		uint32_t cmd = load32(t, UVF_DMATEST_REG_CMD);
		if (cmd) {
			t->status = (uint32_t)-run_command(dev, t, cmd);
			t->cmd_count++;
			/* registers first, so the interrupt handler sees them */
			sync_read_only(t);
			raise_completion(dev, t);
		}
	}
	sync_read_only(t);
	return 0;
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct dmatest *t = data;

	(void)dev;
	(void)reason;
	/* the library has zeroed the BAR memory */
	t->status = 0;
	t->irq_count = 0;
	t->cmd_count = 0;
	sync_read_only(t);
	return 0;
}

static int describe(struct uvf_device *dev, struct dmatest *t)
{
	static const struct uvf_pci_ids ids = {
		.vendor_id = UVF_DMATEST_VENDOR_ID,
		.device_id = UVF_DMATEST_DEVICE_ID,
		.subsystem_vendor_id = UVF_DMATEST_VENDOR_ID,
		.subsystem_id = UVF_DMATEST_DEVICE_ID,
		.class_code = 0xff0000,
		.revision = 1,
	};
	const struct uvf_bar_desc bar0 = {
		.size = UVF_DMATEST_BAR_SIZE, .flags = UVF_BAR_MEMORY, .write = bar0_write, .data = t};
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	size_t size = 0;
	int ret;

	cb.reset = on_reset;
	if ((ret = uvf_device_set_pci_ids(dev, &ids)) < 0 || (ret = uvf_device_set_bar(dev, 0, &bar0)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_callbacks(dev, &cb, t)) < 0)
		return ret;
	t->regs = uvf_device_bar_memory(dev, 0, &size);
	if (!t->regs || size < UVF_DMATEST_BAR_SIZE)
		return -EIO; /* the library broke its contract */
	sync_read_only(t);
	return 0;
}

int uvf_dmatest_create(struct uvf_device **out)
{
	struct uvf_device *dev = NULL;
	struct dmatest *t;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	ret = uvf_device_new(&dev);
	if (ret < 0) {
		free(t);
		return ret;
	}
	uvf_device_set_user_data(dev, t);
	ret = describe(dev, t);
	if (ret < 0) {
		uvf_dmatest_free(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

void uvf_dmatest_free(struct uvf_device *dev)
{
	struct dmatest *t;

	if (!dev)
		return;
	t = uvf_device_user_data(dev);
	/* the device first: no callback may run once the state is gone */
	uvf_device_free(dev);
	free(t);
}
