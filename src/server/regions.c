/* SPDX-License-Identifier: MIT */
/*
 * Regions of a PCI device: BARs (with the MSI-X table and PBA carved out
 * for the library), expansion ROM, config space, VGA (absent); and the
 * function reset that puts them back.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "server/server_internal.h"

static const char *region_name(uint32_t index)
{
	static const char *const names[] = {"BAR0", "BAR1", "BAR2", "BAR3", "BAR4",
					    "BAR5", "ROM",  "CONFIG", "VGA"};
	return index < UVF_PCI_NUM_REGIONS ? names[index] : "region";
}

/* The guest writes the MSI-X table even in an otherwise read-only BAR. */
static bool bar_has_msix_table(const struct uvf_device *dev, uint32_t index)
{
	return dev->msix.count && dev->msix.table_bar == index;
}

int uvf__region_info(struct uvf_device *dev, uint32_t index, struct uvf_region_info *out)
{
	if (index >= UVF_PCI_NUM_REGIONS)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->argsz = sizeof(*out);
	out->index = index;
	/* A fixed, distinct offset per region, as a kernel VFIO device has;
	 * meaningful once regions can be mapped. */
	out->offset = (uint64_t)index << 40;
	if (index <= UVF_PCI_BAR5_REGION) {
		const struct uvf_bar *bar = &dev->bars[index];
		out->size = bar->size;
		if (bar->size)
			out->flags = UVF_REGION_FLAG_READ |
				     ((bar->write || (bar->flags & UVF_BAR_MEMORY) || bar_has_msix_table(dev, index))
					      ? UVF_REGION_FLAG_WRITE
					      : 0);
	} else if (index == UVF_PCI_ROM_REGION) {
		out->size = dev->rom_size;
		out->flags = dev->rom_size ? UVF_REGION_FLAG_READ : 0;
	} else if (index == UVF_PCI_CONFIG_REGION) {
		out->size = dev->cfg.size;
		out->flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE;
	}
	if (!out->size)
		out->offset = 0;
	return 0;
}

static int config_access(struct uvf_device *dev, uint64_t offset, void *buf, uint32_t count, bool is_write)
{
	if (!is_write) {
		uvf__config_read(&dev->cfg, (uint32_t)offset, buf, count);
		return 0;
	}
	struct uvf_config_effects fx;
	memset(&fx, 0, sizeof(fx));
	uvf__config_write(&dev->cfg, (uint32_t)offset, buf, count, &fx);
	if (fx.flr || fx.pm_reset) {
		/* The write itself succeeded: a failing device reset is the
		 * device's problem, logged, not the client's. */
		enum uvf_reset_reason reason = fx.flr ? UVF_RESET_FLR : UVF_RESET_PM;
		int ret = uvf__function_reset(dev, reason);
		if (ret < 0)
			dev_warn(dev, "%s: the device's reset failed: %s", fx.flr ? "FLR" : "D3hot -> D0",
				 uvf_strerror(ret));
		else
			dev_info(dev, "%s: function reset", fx.flr ? "FLR" : "D3hot -> D0");
		return 0;
	}
	if (fx.command_changed || fx.msi_changed || fx.msix_changed)
		uvf__irq_config_changed(dev);
	return 0;
}

/* An access to the device's part of a BAR: its memory or its callbacks. */
static int bar_access(struct uvf_device *dev, struct uvf_bar *bar, uint64_t offset, void *buf, uint64_t count,
		      bool is_write)
{
	if (bar->flags & UVF_BAR_MEMORY) {
		if (!is_write) {
			memcpy(buf, bar->mem + offset, count);
			return 0;
		}
		memcpy(bar->mem + offset, buf, count);
		return bar->write ? bar->write(dev, bar->data, offset, buf, count) : 0;
	}
	if (is_write)
		return bar->write ? bar->write(dev, bar->data, offset, buf, count) : -EPERM;
	return bar->read(dev, bar->data, offset, buf, count);
}

/* A BAR holding the MSI-X table or PBA: the pieces in their ranges are the
 * library's, the rest the device's, in address order. */
static int split_bar_access(struct uvf_device *dev, uint32_t region, uint64_t offset, uint8_t *buf, uint64_t count,
			    bool is_write)
{
	bool table_touched = false;
	int ret = 0;

	while (count) {
		bool ours;
		uint64_t piece = uvf__msix_split(&dev->msix, region, offset, count, &ours);
		if (ours) {
			uvf__msix_access(&dev->msix, region, offset, buf, (size_t)piece, is_write);
			table_touched |= is_write;
		} else {
			ret = bar_access(dev, &dev->bars[region], offset, buf, piece, is_write);
			if (ret < 0)
				break;
		}
		offset += piece;
		buf += piece;
		count -= piece;
	}
	/* A mask bit may have been cleared: release what it held. */
	if (table_touched)
		uvf__irq_config_changed(dev);
	return ret;
}

int uvf__region_access(struct uvf_device *dev, uint32_t region, uint64_t offset, void *buf, uint32_t count,
		       bool is_write, const char *what)
{
	struct uvf_region_info info;
	int ret;

	if (uvf__region_info(dev, region, &info) < 0 || !info.size) {
		dev_warn(dev, "%s: region %u does not exist", what, region);
		return -EINVAL;
	}
	if (offset > info.size || count > info.size - offset) {
		dev_warn(dev, "%s: offset 0x%" PRIx64 " + %u beyond %s size 0x%" PRIx64, what, offset, count,
			 region_name(region), info.size);
		return -EINVAL;
	}
	if (is_write && !(info.flags & UVF_REGION_FLAG_WRITE)) {
		dev_warn(dev, "%s: %s is read-only", what, region_name(region));
		return -EPERM;
	}
	if (!count)
		return 0;

	if (region == UVF_PCI_CONFIG_REGION)
		return config_access(dev, offset, buf, count, is_write);
	if (region == UVF_PCI_ROM_REGION) {
		memcpy(buf, dev->rom + offset, count);
		return 0;
	}

	if (dev->msix.count && (region == dev->msix.table_bar || region == dev->msix.pba_bar))
		ret = split_bar_access(dev, region, offset, buf, count, is_write);
	else
		ret = bar_access(dev, &dev->bars[region], offset, buf, count, is_write);
	if (ret > 0)
		ret = 0;
	if (ret < 0)
		dev_warn(dev, "%s: %s offset 0x%" PRIx64 " + %u: device returned %s", what, region_name(region),
			 offset, count, uvf_strerror(ret));
	return ret;
}

void uvf__regions_reset(struct uvf_device *dev)
{
	uvf__config_reset(&dev->cfg);
	for (unsigned i = 0; i < 6; i++)
		if (dev->bars[i].mem)
			memset(dev->bars[i].mem, 0, (size_t)dev->bars[i].size);
}

int uvf__function_reset(struct uvf_device *dev, enum uvf_reset_reason reason)
{
	uvf__regions_reset(dev);
	uvf__msix_reset(&dev->msix);
	uvf__irqs_reset(dev);
	if (dev->cb.reset)
		return dev->cb.reset(dev, dev->cb_data, reason);
	return 0;
}
