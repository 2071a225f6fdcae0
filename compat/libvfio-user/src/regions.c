/* SPDX-License-Identifier: MIT */
/*
 * regions.c - regions, interrupts and ioeventfds of the libvfio-user API
 * on uvf.
 *
 * A BAR is declared to uvf as soon as vfu_setup_region() describes it
 * (capabilities such as MSI-X refer to it); its 64-bit and prefetchable
 * bits come from the device's config space buffer at that moment. A BAR
 * with a file is uvf memory backed by that file (uvf_device_set_bar_fd()),
 * the others call the region callback for every access.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

/* ------------------------------------------------------------------ */
/* Region callbacks                                                     */
/* ------------------------------------------------------------------ */

static int call_region(struct vfu_region *r, uint64_t offset, void *buf, size_t len, bool is_write)
{
	vfu_ctx_t *ctx = r->ctx;

	if (!r->cb || !(r->flags & (is_write ? VFU_REGION_FLAG_WRITE : VFU_REGION_FLAG_READ))) {
		vfu__err(ctx, "region %d: %s at %#llx refused", r->index, is_write ? "write" : "read",
			 (unsigned long long)offset);
		return -EINVAL;
	}
	errno = 0;
	ssize_t ret = r->cb(ctx, buf, len, (loff_t)offset, is_write);
	if (ret < 0)
		return errno ? -errno : -EINVAL;
	if ((size_t)ret != len) {
		vfu__err(ctx, "region %d: %s of %zu bytes at %#llx did %zd", r->index, is_write ? "write" : "read",
			 len, (unsigned long long)offset, ret);
		return -EINVAL;
	}
	return 0;
}

static int region_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev;
	return call_region(data, offset, buf, len, false);
}

static int region_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev;
	/* libvfio-user's callbacks take a non-const buffer */
	return call_region(data, offset, (void *)buf, len, true);
}

int vfu__declare_bar(vfu_ctx_t *ctx, int index)
{
	struct vfu_region *r = &ctx->regions[index];
	const vfu_bar_t *bits = &vfu__cfg(ctx)->hdr.bars[index];
	struct uvf_bar_desc d = {.size = r->size, .data = r};

	if (!(r->flags & VFU_REGION_FLAG_MEM)) {
		d.flags = UVF_BAR_IO;
	} else {
		if (bits->mem.locatable == 2)
			d.flags |= UVF_BAR_64BIT;
		if (bits->mem.prefetchable)
			d.flags |= UVF_BAR_PREFETCH;
	}
	if (r->fd >= 0)
		d.flags |= UVF_BAR_MEMORY | UVF_BAR_MMAP;
	/* as in libvfio-user, the callback serves every REGION_READ/WRITE,
	 * of a mapped BAR too; a mapped BAR without one is served from its
	 * file */
	if (r->cb || r->fd < 0) {
		if (r->fd >= 0)
			d.flags |= UVF_BAR_ACCESS_CALLBACKS;
		d.read = region_read; /* refuses accesses when there is no callback */
		d.write = (r->flags & VFU_REGION_FLAG_WRITE) ? region_write : NULL;
	}
	int ret = uvf_device_set_bar(ctx->dev, (unsigned)index, &d);
	if (ret < 0) {
		vfu__err(ctx, "BAR%d of %#zx bytes (%s%s) refused: uvf needs a power of two, memory at least 16 "
			 "bytes (whole pages when mapped), I/O 4 to 256",
			 index, r->size, (r->flags & VFU_REGION_FLAG_MEM) ? "memory" : "I/O", r->fd >= 0 ? ", mapped" : "");
		return ret;
	}
	if (r->fd >= 0) {
		ret = uvf_device_set_bar_fd(ctx->dev, (unsigned)index, r->fd, r->offset);
		if (ret == 0 && r->nr_mmap_areas)
			ret = uvf_device_set_bar_mmap_areas(ctx->dev, (unsigned)index, r->mmap_areas, r->nr_mmap_areas);
		if (ret < 0) {
			vfu__err(ctx, "BAR%d: file or mmap areas refused: %s", index, strerror(-ret));
			return ret;
		}
	}
	r->declared = true;
	return 0;
}

VFU_EXPORT int vfu_setup_region(vfu_ctx_t *ctx, int region_idx, size_t size, vfu_region_access_cb_t *region_access,
				int flags, struct iovec *mmap_areas, uint32_t nr_mmap_areas, int fd, uint64_t offset)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	if ((flags & ~VFU_REGION_FLAG_MASK) || !(flags & VFU_REGION_FLAG_RW)) {
		vfu__err(ctx, "invalid region flags %#x", flags);
		return vfu__fail(EINVAL);
	}
	if ((flags & VFU_REGION_FLAG_ALWAYS_CB) && !region_access) {
		vfu__err(ctx, "VFU_REGION_FLAG_ALWAYS_CB needs a callback");
		return vfu__fail(EINVAL);
	}
	if ((mmap_areas == NULL) != (nr_mmap_areas == 0) || (mmap_areas && fd == -1)) {
		vfu__err(ctx, "invalid mappable region arguments");
		return vfu__fail(EINVAL);
	}
	if (region_idx < VFU_PCI_DEV_BAR0_REGION_IDX || region_idx >= VFU_PCI_DEV_NUM_REGIONS) {
		vfu__err(ctx, "invalid region index %d", region_idx);
		return vfu__fail(EINVAL);
	}
	if (region_idx == VFU_PCI_DEV_CFG_REGION_IDX &&
	    ((flags & VFU_REGION_FLAG_RW) != VFU_REGION_FLAG_RW || (flags & VFU_REGION_FLAG_MEM) || fd != -1))
		return vfu__fail(EINVAL);
	if (region_idx == VFU_PCI_DEV_VGA_REGION_IDX) {
		vfu__err(ctx, "uvf serves no VGA region");
		return vfu__fail(ENOTSUP);
	}
	for (uint32_t i = 0; i < nr_mmap_areas; i++) {
		uint64_t base = (uint64_t)(uintptr_t)mmap_areas[i].iov_base, len = mmap_areas[i].iov_len;
		if (base > size || len > size - base)
			return vfu__fail(EINVAL);
	}
	if (ctx->realized)
		return vfu__fail(EBUSY);
	struct vfu_region *r = &ctx->regions[region_idx];
	if (r->declared || r->size || r->cb) {
		vfu__err(ctx, "region %d is set up already", region_idx);
		return vfu__fail(EEXIST);
	}
	if (nr_mmap_areas) {
		r->mmap_areas = calloc(nr_mmap_areas, sizeof(*r->mmap_areas));
		if (!r->mmap_areas)
			return vfu__fail(ENOMEM);
		for (uint32_t i = 0; i < nr_mmap_areas; i++) {
			r->mmap_areas[i].offset = (uint64_t)(uintptr_t)mmap_areas[i].iov_base;
			r->mmap_areas[i].size = mmap_areas[i].iov_len;
		}
	}
	r->nr_mmap_areas = nr_mmap_areas;
	r->size = region_idx == VFU_PCI_DEV_CFG_REGION_IDX ? 0 : size;
	r->flags = flags;
	r->cb = region_access;
	r->fd = fd;
	r->offset = offset;
	if (region_idx <= VFU_PCI_DEV_BAR5_REGION_IDX) {
		int ret = vfu__declare_bar(ctx, region_idx);
		if (ret < 0) {
			free(r->mmap_areas);
			memset(r, 0, sizeof(*r));
			r->fd = -1;
			r->ctx = ctx;
			r->index = region_idx;
			/* the fd stays the caller's on failure */
			return vfu__fail(ret == -EBUSY ? EBUSY : EINVAL);
		}
		if (fd >= 0)
			r->fd = -1; /* uvf owns it now */
	}
	return 0;
}

/* The expansion ROM, read through its callback or file at realize. */
static int realize_rom(vfu_ctx_t *ctx)
{
	struct vfu_region *r = &ctx->regions[VFU_PCI_DEV_ROM_REGION_IDX];
	if (!r->size)
		return 0;
	if (r->size > (16u << 20)) {
		vfu__err(ctx, "ROM of %zu bytes: uvf takes at most 16 MiB", r->size);
		return -EINVAL;
	}
	uint8_t *image = malloc(r->size);
	if (!image)
		return -ENOMEM;
	int ret = 0;
	if (r->fd >= 0) {
		ssize_t n = pread(r->fd, image, r->size, (off_t)r->offset);
		ret = n == (ssize_t)r->size ? 0 : -EIO;
	} else {
		for (size_t at = 0; at < r->size && ret == 0; at += 4096) {
			size_t len = r->size - at < 4096 ? r->size - at : 4096;
			ret = call_region(r, at, image + at, len, false);
		}
	}
	if (ret == 0)
		ret = uvf_device_set_rom(ctx->dev, image, r->size);
	free(image);
	if (ret < 0)
		vfu__err(ctx, "ROM could not be read: %s", strerror(-ret));
	return ret;
}

int vfu__realize_regions(vfu_ctx_t *ctx)
{
	return realize_rom(ctx);
}

void vfu__regions_free(vfu_ctx_t *ctx)
{
	for (int i = 0; i < VFU_PCI_DEV_NUM_REGIONS; i++) {
		struct vfu_region *r = &ctx->regions[i];
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		free(r->mmap_areas);
		r->mmap_areas = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

VFU_EXPORT int vfu_setup_device_nr_irqs(vfu_ctx_t *ctx, enum vfu_dev_irq_type type, uint32_t count)
{
	if (!ctx || (unsigned)type >= VFU_DEV_NUM_IRQS) {
		vfu__err(ctx, "invalid IRQ type index %u", (unsigned)type);
		return vfu__fail(EINVAL);
	}
	if (ctx->realized)
		return vfu__fail(EBUSY);
	/* the MSI-X capability declared its vectors already */
	if (type == VFU_DEV_MSIX_IRQ && ctx->msix_declared && count == ctx->irq_count[type])
		return 0;
	int ret = uvf_device_set_irq_count(ctx->dev, (unsigned)type, count);
	if (ret < 0) {
		vfu__err(ctx, "%u vectors of IRQ type %u refused: %s", count, (unsigned)type, strerror(-ret));
		return vfu__fail(-ret);
	}
	ctx->irq_count[type] = count;
	return 0;
}

VFU_EXPORT int vfu_setup_irq_state_callback(vfu_ctx_t *ctx, enum vfu_dev_irq_type type, vfu_dev_irq_state_cb_t *cb)
{
	if (!ctx || (unsigned)type >= VFU_DEV_NUM_IRQS) {
		vfu__err(ctx, "invalid IRQ type index %u", (unsigned)type);
		return vfu__fail(EINVAL);
	}
	ctx->irq_state_cb[type] = cb;
	return 0;
}

VFU_EXPORT int vfu_irq_trigger(vfu_ctx_t *ctx, uint32_t subindex)
{
	if (!ctx || !ctx->realized)
		return vfu__fail(EINVAL);
	int ret = uvf_irq_raise(ctx->dev, subindex);
	return ret < 0 ? vfu__fail(-ret) : 0;
}

/* ------------------------------------------------------------------ */
/* ioeventfds                                                           */
/* ------------------------------------------------------------------ */

#define VFU_IOEVENTFD_FLAG_DATAMATCH 0x1u /* KVM's KVM_IOEVENTFD_FLAG_DATAMATCH */

VFU_EXPORT int vfu_create_ioeventfd(vfu_ctx_t *ctx, uint32_t region_idx, int fd, size_t gpa_offset, uint32_t size,
				    uint32_t flags, uint64_t datamatch, int shadow_fd, size_t shadow_offset)
{
	(void)shadow_offset;
	if (!ctx || fd < 0 || (flags & ~VFU_IOEVENTFD_FLAG_DATAMATCH))
		return vfu__fail(EINVAL);
	if (shadow_fd != -1) {
		vfu__err(ctx, "shadow ioeventfds are not supported");
		return vfu__fail(ENOTSUP);
	}
	if (region_idx > VFU_PCI_DEV_BAR5_REGION_IDX || !ctx->regions[region_idx].declared) {
		vfu__err(ctx, "ioeventfd on region %u: not a BAR set up", region_idx);
		return vfu__fail(EINVAL);
	}
	if (ctx->realized)
		return vfu__fail(EBUSY);
	struct uvf_ioeventfd_desc d = UVF_IOEVENTFD_DESC_INIT;
	d.bar = region_idx;
	d.offset = gpa_offset;
	d.size = size;
	d.flags = UVF_IOEVENTFD_DEVICE_FD | ((flags & VFU_IOEVENTFD_FLAG_DATAMATCH) ? UVF_IOEVENTFD_DATAMATCH : 0);
	d.datamatch = datamatch;
	d.fd = fd;
	int ret = uvf_device_add_ioeventfd(ctx->dev, &d);
	if (ret < 0) {
		vfu__err(ctx, "ioeventfd at region %u offset %#zx size %u refused: %s", region_idx, gpa_offset, size,
			 strerror(-ret));
		return vfu__fail(-ret);
	}
	return 0;
}
