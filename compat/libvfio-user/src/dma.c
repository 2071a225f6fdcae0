/* SPDX-License-Identifier: MIT */
/*
 * dma.c - DMA registration callbacks and the scatter-gather API of the
 * libvfio-user API on uvf.
 *
 * uvf keeps the mappings and moves the data (uvf_dma_sg(), uvf_dma_read/
 * write(), thread-safe); this file keeps a table of the client's ranges
 * for vfu_addr_to_sgl() to cut a span into entries, one per range, as
 * libvfio-user does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"

VFU_EXPORT size_t dma_sg_size(void)
{
	return sizeof(struct dma_sg);
}

VFU_EXPORT int vfu_setup_device_dma(vfu_ctx_t *ctx, vfu_dma_register_cb_t *dma_register,
				    vfu_dma_unregister_cb_t *dma_unregister)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	ctx->dma_register = dma_register;
	ctx->dma_unregister = dma_unregister;
	ctx->dma_enabled = true;
	return 0;
}

static void fill_info(vfu_dma_info_t *info, const struct vfu_dma_range *r)
{
	memset(info, 0, sizeof(*info));
	info->iova.iov_base = (void *)(uintptr_t)r->iova;
	info->iova.iov_len = r->size;
	if (r->vaddr) {
		info->vaddr = r->vaddr;
		info->mapping.iov_base = r->vaddr;
		info->mapping.iov_len = r->size;
		info->page_size = (size_t)sysconf(_SC_PAGESIZE);
		info->prot = r->prot;
	}
}

/* Index of the first range ending after addr (the one holding it, if any). */
static unsigned find_range(const vfu_ctx_t *ctx, uint64_t addr)
{
	unsigned lo = 0, hi = ctx->nr_dma;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (ctx->dma[mid].iova + ctx->dma[mid].size <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vfu__dma_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	vfu_ctx_t *ctx = data;
	struct vfu_dma_range r = {
		.iova = range->address,
		.size = range->size,
		.vaddr = range->vaddr,
		.prot = ((range->prot & UVF_DMA_MAP_FLAG_READ) ? PROT_READ : 0) |
			((range->prot & UVF_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0),
	};
	(void)dev;

	int ret = vfu__quiesce(ctx);
	if (ret < 0)
		return ret;
	pthread_rwlock_wrlock(&ctx->dma_lock);
	if (ctx->nr_dma == ctx->dma_cap) {
		unsigned cap = ctx->dma_cap ? ctx->dma_cap * 2 : 16;
		struct vfu_dma_range *grown = realloc(ctx->dma, cap * sizeof(*grown));
		if (!grown) {
			pthread_rwlock_unlock(&ctx->dma_lock);
			return -ENOMEM;
		}
		ctx->dma = grown;
		ctx->dma_cap = cap;
	}
	/* uvf refuses overlaps: the ranges stay apart and sorted */
	unsigned at = find_range(ctx, r.iova);
	memmove(&ctx->dma[at + 1], &ctx->dma[at], (ctx->nr_dma - at) * sizeof(ctx->dma[0]));
	ctx->dma[at] = r;
	ctx->nr_dma++;
	pthread_rwlock_unlock(&ctx->dma_lock);

	if (ctx->dma_register) {
		vfu_dma_info_t info;
		fill_info(&info, &r);
		ctx->dma_register(ctx, &info);
	}
	return 0;
}

void vfu__dma_unmap(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	vfu_ctx_t *ctx = data;
	(void)dev;

	if (vfu__quiesce(ctx) < 0)
		vfu__err(ctx, "quiesce before DMA unmap failed: the range goes all the same");
	pthread_rwlock_wrlock(&ctx->dma_lock);
	unsigned at = find_range(ctx, range->address);
	bool found = at < ctx->nr_dma && ctx->dma[at].iova == range->address;
	struct vfu_dma_range r = found ? ctx->dma[at] : (struct vfu_dma_range){0};
	if (found) {
		memmove(&ctx->dma[at], &ctx->dma[at + 1], (ctx->nr_dma - at - 1) * sizeof(ctx->dma[0]));
		ctx->nr_dma--;
	}
	pthread_rwlock_unlock(&ctx->dma_lock);
	if (found && ctx->dma_unregister) {
		vfu_dma_info_t info;
		fill_info(&info, &r);
		ctx->dma_unregister(ctx, &info);
	}
}

void vfu__dma_free(vfu_ctx_t *ctx)
{
	free(ctx->dma);
	ctx->dma = NULL;
	ctx->nr_dma = ctx->dma_cap = 0;
}

VFU_EXPORT int vfu_addr_to_sgl(vfu_ctx_t *ctx, vfu_dma_addr_t dma_addr, size_t len, dma_sg_t *sgl,
			       size_t max_nr_sgs, int prot)
{
	uint64_t addr = (uint64_t)(uintptr_t)dma_addr;
	int count = 0, err = 0;

	if (!ctx || !ctx->dma_enabled || (!sgl && max_nr_sgs))
		return vfu__fail(EINVAL);
	if (len > UINT64_MAX - addr)
		return vfu__fail(ENOENT);
	pthread_rwlock_rdlock(&ctx->dma_lock);
	unsigned i = find_range(ctx, addr);
	uint64_t at = addr, end = addr + len;
	while (at < end) {
		const struct vfu_dma_range *r = i < ctx->nr_dma ? &ctx->dma[i] : NULL;
		if (!r || r->iova > at) {
			err = ENOENT;
			break;
		}
		if ((prot & PROT_WRITE) && !(r->prot & PROT_WRITE)) {
			err = EACCES;
			break;
		}
		uint64_t stop = r->iova + r->size < end ? r->iova + r->size : end;
		if ((size_t)count < max_nr_sgs) {
			struct dma_sg *sg = &sgl[count];
			sg->dma_addr = at;
			sg->length = stop - at;
			sg->region = (int)i;
			sg->writeable = prot & PROT_WRITE;
			sg->mappable = r->vaddr != NULL;
		}
		if (count == INT32_MAX - 1) {
			err = EINVAL;
			break;
		}
		count++;
		at = stop;
		i++;
	}
	pthread_rwlock_unlock(&ctx->dma_lock);
	if (err)
		return vfu__fail(err);
	if ((size_t)count > max_nr_sgs) {
		/* libvfio-user: -(entries needed) - 1, errno 0 */
		errno = 0;
		return -count - 1;
	}
	return count;
}

VFU_EXPORT int vfu_sgl_get(vfu_ctx_t *ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt, int flags)
{
	if (!ctx || !ctx->dma_unregister || flags != 0 || (!sgl && cnt) || (!iov && cnt))
		return vfu__fail(EINVAL);
	for (size_t i = 0; i < cnt; i++) {
		const struct dma_sg *sg = &sgl[i];
		if (!sg->mappable)
			return vfu__fail(EFAULT);
		uint32_t prot = UVF_DMA_MAP_FLAG_READ | (sg->writeable ? UVF_DMA_MAP_FLAG_WRITE : 0);
		int ret = uvf_dma_sg(ctx->dev, sg->dma_addr, sg->length, prot, &iov[i], 1);
		if (ret != 1)
			return vfu__fail(ret < 0 ? -ret : EFAULT);
	}
	return 0;
}

VFU_EXPORT void vfu_sgl_mark_dirty(vfu_ctx_t *ctx, dma_sg_t *sgl, size_t cnt)
{
	if (!ctx || !ctx->dma_unregister || !sgl)
		return;
	for (size_t i = 0; i < cnt; i++)
		if (sgl[i].writeable)
			uvf_dma_mark_dirty(ctx->dev, sgl[i].dma_addr, sgl[i].length);
}

VFU_EXPORT void vfu_sgl_put(vfu_ctx_t *ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt)
{
	(void)iov; /* nothing to unmap: the pointers stay valid until DMA_UNMAP */
	vfu_sgl_mark_dirty(ctx, sgl, cnt);
}

static int sgl_copy(vfu_ctx_t *ctx, dma_sg_t *sgl, size_t cnt, void *data, bool write)
{
	if (!ctx || !sgl || !data)
		return vfu__fail(EINVAL);
	if (cnt != 1)
		return vfu__fail(ENOTSUP);
	if (write && !sgl->writeable)
		return vfu__fail(EPERM);
	int ret = write ? uvf_dma_write(ctx->dev, sgl->dma_addr, data, sgl->length)
			: uvf_dma_read(ctx->dev, sgl->dma_addr, data, sgl->length);
	return ret < 0 ? vfu__fail(-ret) : 0;
}

VFU_EXPORT int vfu_sgl_read(vfu_ctx_t *ctx, dma_sg_t *sgl, size_t cnt, void *data)
{
	return sgl_copy(ctx, sgl, cnt, data, false);
}

VFU_EXPORT int vfu_sgl_write(vfu_ctx_t *ctx, dma_sg_t *sgl, size_t cnt, void *data)
{
	return sgl_copy(ctx, sgl, cnt, data, true);
}

VFU_EXPORT bool vfu_sg_is_mappable(vfu_ctx_t *ctx, dma_sg_t *sg)
{
	return ctx && sg && sg->mappable;
}
