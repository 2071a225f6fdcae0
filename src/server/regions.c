/* SPDX-License-Identifier: MIT */
/*
 * Regions of a PCI device: BARs (with the MSI-X table and PBA carved out
 * for the library), expansion ROM, config space, VGA (absent); and the
 * function reset that puts them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

#define MMAP_PAGE 4096u

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

int uvf__region_info(struct uvf_device *dev, uint32_t index, struct uvf_msg_region_info *out)
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
				     ((bar->write || (bar->flags & UVF_BAR_MEMORY) || bar_has_msix_table(dev, index) ||
				       uvf__ioeventfd_on_bar(dev, index))
					      ? UVF_REGION_FLAG_WRITE
					      : 0);
		/* the whole memfd is the BAR: areas are mapped at their own offset */
		if (bar->flags & UVF_BAR_MMAP)
			out->offset = bar->mem_fd_offset;
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

int uvf_device_set_config_access(struct uvf_device *dev, uint32_t start, uint32_t end, uvf_config_access_fn fn,
				 void *data)
{
	if (!dev || !fn || start >= end || end > 4096)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	unsigned n = dev->nr_cfg_hooks, at = 0;
	while (at < n && dev->cfg_hooks[at].start < start)
		at++;
	if ((at > 0 && dev->cfg_hooks[at - 1].end > start) || (at < n && dev->cfg_hooks[at].start < end))
		return -EINVAL;
	if (n == UVF_SERVER_MAX_CONFIG_HOOKS)
		return -ENOSPC;
	memmove(&dev->cfg_hooks[at + 1], &dev->cfg_hooks[at], (n - at) * sizeof(dev->cfg_hooks[0]));
	dev->cfg_hooks[at] = (struct uvf_config_hook){.start = start, .end = end, .fn = fn, .data = data};
	dev->nr_cfg_hooks = n + 1;
	return 0;
}

static int config_access_emulated(struct uvf_device *dev, uint64_t offset, void *buf, uint32_t count,
				  bool is_write);

/* Config space: the parts in the device's ranges go to its callbacks, the
 * rest to the emulation, in address order. */
static int config_access(struct uvf_device *dev, uint64_t offset, void *buf, uint32_t count, bool is_write)
{
	if (!dev->nr_cfg_hooks)
		return config_access_emulated(dev, offset, buf, count, is_write);
	uint64_t at = offset, end = offset + count;
	unsigned h = 0;
	while (at < end) {
		while (h < dev->nr_cfg_hooks && dev->cfg_hooks[h].end <= at)
			h++;
		const struct uvf_config_hook *hook = h < dev->nr_cfg_hooks ? &dev->cfg_hooks[h] : NULL;
		uint8_t *part = (uint8_t *)buf + (at - offset);
		int ret;
		if (hook && hook->start <= at) {
			uint64_t stop = hook->end < end ? hook->end : end;
			ret = hook->fn(dev, hook->data, (uint32_t)at, part, (size_t)(stop - at), is_write);
			at = stop;
		} else {
			uint64_t stop = hook && hook->start < end ? hook->start : end;
			ret = config_access_emulated(dev, at, part, (uint32_t)(stop - at), is_write);
			at = stop;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int config_access_emulated(struct uvf_device *dev, uint64_t offset, void *buf, uint32_t count,
				  bool is_write)
{
	/* irq_lock: device threads change interrupt bits of config space */
	if (!is_write) {
		uvf__irq_lock(dev);
		uvf__config_read(&dev->cfg, (uint32_t)offset, buf, count);
		uvf__irq_unlock(dev);
		return 0;
	}
	struct uvf_config_effects fx;
	memset(&fx, 0, sizeof(fx));
	uvf__irq_lock(dev);
	uvf__config_write(&dev->cfg, (uint32_t)offset, buf, count, &fx);
	uvf__irq_unlock(dev);
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
	if ((bar->flags & UVF_BAR_MEMORY) && !(bar->flags & UVF_BAR_ACCESS_CALLBACKS)) {
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
			uvf__irq_lock(dev); /* device threads read masks, set PBA bits */
			uvf__msix_access(&dev->msix, region, offset, buf, (size_t)piece, is_write);
			uvf__irq_unlock(dev);
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
	struct uvf_msg_region_info info;
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
	/* A doorbell write takes the same path as the client's eventfd write. */
	if (is_write && dev->nr_ioeventfds && uvf__ioeventfd_write(dev, region, offset, buf, count))
		return 0;
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
		if (dev->bars[i].mem && !dev->bars[i].device_file)
			memset(dev->bars[i].mem, 0, (size_t)dev->bars[i].size);
}

int uvf__function_reset(struct uvf_device *dev, enum uvf_reset_reason reason)
{
	uvf__irq_lock(dev); /* config space and MSI-X table: see irq.c */
	uvf__regions_reset(dev);
	uvf__msix_reset(&dev->msix);
	uvf__irq_unlock(dev);
	uvf__irqs_reset(dev);
	if (dev->cb.reset)
		return dev->cb.reset(dev, dev->cb_data, reason);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Library BAR memory and mappable areas                                */
/* ------------------------------------------------------------------ */

int uvf__bar_memory_alloc(struct uvf_bar *bar, unsigned index, uint64_t size, uint32_t flags)
{
	if (size > SIZE_MAX)
		return -ENOMEM;
	if (!(flags & UVF_BAR_MMAP)) {
		bar->mem = calloc(1, (size_t)size);
		return bar->mem ? 0 : -ENOMEM;
	}
	if (size % MMAP_PAGE)
		return -EINVAL;

	char name[16];
	snprintf(name, sizeof(name), "uvf-bar%u", index);
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed size: a client holding the fd must not be able to truncate
	 * it under our mapping (we would die of SIGBUS on the next access). */
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	void *mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		int err = -errno;
		close(fd);
		return err;
	}
	bar->mem = mem; /* a fresh memfd reads as zeros */
	bar->mem_fd = fd;
	return 0;
}

int uvf_device_set_bar_fd(struct uvf_device *dev, unsigned index, int fd, uint64_t offset)
{
	struct stat st;

	if (!dev || index > 5 || fd < 0)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	struct uvf_bar *bar = &dev->bars[index];
	if (!bar->size || !(bar->flags & UVF_BAR_MMAP) || offset % MMAP_PAGE)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* a file shorter than the BAR would fault (SIGBUS) on access */
	if (st.st_size < 0 || offset > (uint64_t)st.st_size || bar->size > (uint64_t)st.st_size - offset)
		return -EINVAL;
	void *mem = mmap(NULL, (size_t)bar->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (mem == MAP_FAILED)
		return -errno;
	munmap(bar->mem, (size_t)bar->size);
	close(bar->mem_fd);
	bar->mem = mem;
	bar->mem_fd = fd;
	bar->mem_fd_offset = offset;
	bar->device_file = true;
	return 0;
}

void uvf__bars_free(struct uvf_device *dev)
{
	for (unsigned i = 0; i < 6; i++) {
		struct uvf_bar *bar = &dev->bars[i];
		if (!bar->mem)
			continue;
		if (bar->flags & UVF_BAR_MMAP) {
			munmap(bar->mem, (size_t)bar->size);
			close(bar->mem_fd);
			bar->mem_fd = -1;
		} else {
			free(bar->mem);
		}
		bar->mem = NULL;
	}
}

/* The pages [start, end) of BAR `index` holding the MSI-X table and the
 * PBA, when they lie there; returns how many ranges (0..2) were filled,
 * sorted by start. */
static unsigned msix_pages(const struct uvf_device *dev, unsigned index, uint64_t start[2], uint64_t end[2])
{
	const struct uvf_config_msix *m = &dev->cfg_desc.msix;
	unsigned n = 0;

	if (!m->count)
		return 0;
	if (m->table_bar == index) {
		start[n] = m->table_offset & ~(uint64_t)(MMAP_PAGE - 1);
		end[n] = ((uint64_t)m->table_offset + 16ull * m->count + MMAP_PAGE - 1) & ~(uint64_t)(MMAP_PAGE - 1);
		n++;
	}
	if (m->pba_bar == index) {
		start[n] = m->pba_offset & ~(uint64_t)(MMAP_PAGE - 1);
		end[n] = ((uint64_t)m->pba_offset + 8ull * ((m->count + 63) / 64) + MMAP_PAGE - 1) &
			 ~(uint64_t)(MMAP_PAGE - 1);
		n++;
	}
	if (n == 2 && start[1] < start[0]) {
		uint64_t s = start[0], e = end[0];
		start[0] = start[1], end[0] = end[1];
		start[1] = s, end[1] = e;
	}
	return n;
}

static bool overlaps_msix(const struct uvf_device *dev, unsigned index, uint64_t offset, uint64_t size)
{
	uint64_t start[2], end[2];
	unsigned n = msix_pages(dev, index, start, end);
	for (unsigned i = 0; i < n; i++)
		if (offset < end[i] && start[i] < offset + size)
			return true;
	return false;
}

int uvf_device_set_bar_mmap_areas(struct uvf_device *dev, unsigned index, const struct uvf_mmap_area *areas,
				  unsigned count)
{
	if (!dev || index > 5 || !areas)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	struct uvf_bar *bar = &dev->bars[index];
	if (!(bar->flags & UVF_BAR_MMAP) || count < 1 || count > UVF_SERVER_MAX_MMAP_AREAS)
		return -EINVAL;
	uint64_t next = 0; /* sorted and apart: each area starts at or after the end of the last */
	for (unsigned i = 0; i < count; i++) {
		const struct uvf_mmap_area *a = &areas[i];
		if (!a->size || a->offset % MMAP_PAGE || a->size % MMAP_PAGE || a->offset > bar->size ||
		    a->size > bar->size - a->offset || a->offset < next) {
			dev_log(dev, UVF_LOG_ERROR,
				"BAR%u mappable area %u: 0x%" PRIx64 " + 0x%" PRIx64
				" is not page aligned, not inside the BAR (size 0x%" PRIx64 ") or not after the last",
				index, i, a->offset, a->size, bar->size);
			return -EINVAL;
		}
		if (overlaps_msix(dev, index, a->offset, a->size)) {
			dev_log(dev, UVF_LOG_ERROR,
				"BAR%u mappable area %u: 0x%" PRIx64 " + 0x%" PRIx64
				" covers a page of the MSI-X table or PBA",
				index, i, a->offset, a->size);
			return -EINVAL;
		}
		next = a->offset + a->size;
	}
	memcpy(bar->mmap_areas, areas, count * sizeof(*areas));
	bar->nr_mmap_areas = count;
	return 0;
}

unsigned uvf__region_mmap_areas(struct uvf_device *dev, uint32_t index, struct uvf_msg_region_sparse_area *out)
{
	if (index > UVF_PCI_BAR5_REGION)
		return 0;
	const struct uvf_bar *bar = &dev->bars[index];
	if (!(bar->flags & UVF_BAR_MMAP) || !bar->mem)
		return 0;

	unsigned n = 0;
	if (bar->nr_mmap_areas) {
		/* MSI-X may have been declared after the areas: its pages stay
		 * trapped whatever the areas say */
		for (unsigned i = 0; i < bar->nr_mmap_areas; i++) {
			const struct uvf_mmap_area *a = &bar->mmap_areas[i];
			if (overlaps_msix(dev, index, a->offset, a->size)) {
				dev_warn(dev,
					 "BAR%u: mappable area 0x%" PRIx64 " + 0x%" PRIx64
					 " covers the MSI-X table or PBA: not offered",
					 index, a->offset, a->size);
				continue;
			}
			out[n].offset = a->offset;
			out[n].size = a->size;
			n++;
		}
		return n;
	}

	/* the whole BAR, with holes for the MSI-X pages (at most 3 pieces) */
	uint64_t start[2], end[2];
	unsigned holes = msix_pages(dev, index, start, end);
	uint64_t at = 0;
	for (unsigned i = 0; i <= holes; i++) {
		uint64_t until = i < holes ? start[i] : bar->size;
		if (until > at) {
			out[n].offset = at;
			out[n].size = until - at;
			n++;
		}
		if (i < holes && end[i] > at)
			at = end[i];
	}
	return n;
}
