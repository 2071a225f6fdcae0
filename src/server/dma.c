/* SPDX-License-Identifier: MIT */
/*
 * DMA from the device's side: DMA_MAP and DMA_UNMAP put client memory in
 * the DMA table (dma_table.c) and tell the device; uvf_dma_read/write,
 * uvf_dma_ptr and uvf_dma_sg reach it, directly for fd-backed ranges and
 * with DMA_READ/DMA_WRITE messages otherwise (dma_message.c, twin.c).
 *
 * Threads: only the dispatch thread changes the table; device threads read
 * it inside read-side sections (dma_readers.h), which take no lock. A
 * removed mapping leaves the table first, and once no section can still
 * be copying through it, the device's dma_unmap callback runs (it may
 * wait for device threads), and only then is the memory unmapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/dma_copy.h"
#include "server/server_internal.h"
#include "util.h"

/* Tell the device (unless quietly), unmap, free. The mapping is out of the
 * table already and no lock is held. */
static void release_mapping(struct uvf_device *dev, struct uvf_dma_mapping *m, bool notify)
{
	if (notify && dev->cb.dma_unmap) {
		struct uvf_dma_range r = {m->address, m->size, m->prot, m->vaddr};
		dev->cb.dma_unmap(dev, dev->cb_data, &r);
	}
	uvf__dma_mapping_free(m);
}

int uvf__dma_map(struct uvf_device *dev, const struct uvf_msg_dma_map *req, int fd)
{
	struct uvf_dma_mapping *m;
	struct stat st;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->address = req->address;
	m->size = req->size;
	m->prot = req->flags & (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE);
	m->has_fd = fd >= 0;
	m->offset = req->offset;

	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			dev_warn(dev, "DMA_MAP: cannot stat the fd: %s", uvf_strerror(ret));
			goto fail;
		}
		/* A mapping past the end of a file would SIGBUS on first touch. */
		if (S_ISREG(st.st_mode) &&
		    (req->offset > (uint64_t)st.st_size || req->size > (uint64_t)st.st_size - req->offset)) {
			dev_warn(dev,
				 "DMA_MAP: range 0x%" PRIx64 "+0x%" PRIx64 " at fd offset 0x%" PRIx64
				 " is beyond the file size 0x%" PRIx64,
				 req->address, req->size, req->offset, (uint64_t)st.st_size);
			ret = -EINVAL;
			goto fail;
		}
		m->st_dev = st.st_dev;
		m->st_ino = st.st_ino;
	}

	/* Overlap rules (docs/protocol.md section 9 #5). No lock for reading: the
	 * dispatch thread (this one) is the only writer. */
	const struct uvf_dma_mapping *o = uvf__dma_table_overlap(&dev->dma, m->address, m->size);
	if (o) {
		bool same_backing = (!m->has_fd && !o->has_fd) ||
				    (m->has_fd && o->has_fd && o->st_dev == m->st_dev && o->st_ino == m->st_ino);
		if (o->address == m->address && o->size == m->size && o->prot == m->prot && o->offset == m->offset &&
		    same_backing) {
			dev_debug(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " already mapped identically", m->address,
				  m->size);
			free(m);
			if (fd >= 0)
				close(fd);
			return 0;
		}
		dev_warn(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " overlaps the mapping 0x%" PRIx64 "+0x%" PRIx64,
			 m->address, m->size, o->address, o->size);
		ret = -EEXIST;
		goto fail;
	}
	if (dev->dma.count >= dev->opts.max_dma_maps) {
		dev_warn(dev, "DMA_MAP: already %zu mappings, the advertised maximum", dev->dma.count);
		ret = -ENOSPC;
		goto fail;
	}

	if (fd >= 0) {
		long page = sysconf(_SC_PAGESIZE);
		uint64_t delta = m->offset % (uint64_t)page;
		if (m->size > SIZE_MAX - delta) {
			dev_warn(dev, "DMA_MAP: size 0x%" PRIx64 " too large for this process", m->size);
			ret = -ENOMEM;
			goto fail;
		}
		int prot = ((m->prot & UVF_DMA_MAP_FLAG_READ) ? PROT_READ : 0) |
			   ((m->prot & UVF_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0);
		m->map_len = (size_t)(m->size + delta);
		void *p = mmap(NULL, m->map_len, prot ? prot : PROT_NONE, MAP_SHARED, fd, (off_t)(m->offset - delta));
		if (p == MAP_FAILED) {
			ret = -errno;
			dev_warn(dev, "DMA_MAP: mmap of 0x%" PRIx64 " bytes at fd offset 0x%" PRIx64 " failed: %s",
				 m->size, m->offset, uvf_strerror(ret));
			goto fail;
		}
		m->map_base = p;
		m->vaddr = (uint8_t *)p + delta;
		/* logging on: the new mapping is logged from its first write.
		 * Only this (dispatch) thread switches logging. */
		ret = uvf__dma_table_new_bitmap(&dev->dma, m);
		if (ret < 0) {
			dev_warn(dev, "DMA_MAP: no memory for the dirty bitmap of 0x%" PRIx64 "+0x%" PRIx64, m->address,
				 m->size);
			goto fail_unmap;
		}
	}

	if (dev->cb.dma_map) {
		struct uvf_dma_range r = {m->address, m->size, m->prot, m->vaddr};
		ret = dev->cb.dma_map(dev, dev->cb_data, &r);
		if (ret < 0) {
			dev_warn(dev, "DMA_MAP: refused by the device: %s", uvf_strerror(ret));
			goto fail_unmap;
		}
	}
	if (uvf__dma_table_insert(&dev->dma, m) < 0) {
		/* the device accepted it: take it back the way it knows */
		release_mapping(dev, m, true);
		return -ENOMEM; /* fd stays with the caller */
	}
	/* The memory stays mapped without the fd: keeping one fd per mapping
	 * would run out of fds long before max_dma_maps. */
	if (fd >= 0)
		close(fd);
	dev_debug(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " %s%s %s", m->address, m->size,
		  (m->prot & UVF_DMA_MAP_FLAG_READ) ? "r" : "-", (m->prot & UVF_DMA_MAP_FLAG_WRITE) ? "w" : "-",
		  fd >= 0 ? "mapped" : "by message");
	return 0;

fail_unmap:
	if (m->map_base)
		munmap(m->map_base, m->map_len);
fail:
	free(m->dirty);
	free(m);
	return ret; /* fd stays with the caller, which closes it */
}

int uvf__dma_unmap(struct uvf_device *dev, const struct uvf_msg_dma_unmap *req)
{
	if (req->flags & UVF_DMA_UNMAP_FLAG_ALL) {
		uvf__dma_unmap_all(dev);
		return 0;
	}
	/*
	 * The protocol asks for an exact match. A client with a virtual IOMMU
	 * (QEMU) also unmaps whole IOVA ranges holding several mappings or
	 * none, as kernel VFIO allows: every mapping inside the range goes, so
	 * the device never keeps access the guest revoked. A mapping cut by
	 * the range's edges is refused, nothing removed: only the mappings
	 * holding the first and the last byte can be cut.
	 */
	uint64_t last = uvf__range_last(req->address, req->size); /* the range may end at 2^64 */
	const struct uvf_dma_mapping *edge[2] = {uvf__dma_table_find(&dev->dma, req->address),
						 uvf__dma_table_find(&dev->dma, last)};
	for (unsigned i = 0; i < 2; i++) {
		const struct uvf_dma_mapping *m = edge[i];
		if (m && (m->address < req->address || uvf__range_last(m->address, m->size) > last)) {
			dev_warn(dev,
				 "DMA_UNMAP: 0x%" PRIx64 "+0x%" PRIx64 " cuts the mapping 0x%" PRIx64 "+0x%" PRIx64,
				 req->address, req->size, m->address, m->size);
			return -EINVAL;
		}
	}
	struct uvf_dma_mapping *taken = uvf__dma_table_take_range(&dev->dma, req->address, req->size);
	if (!taken) {
		/* routine with a virtual IOMMU, so not a warning */
		dev_debug(dev, "DMA_UNMAP: no mapping in 0x%" PRIx64 "+0x%" PRIx64, req->address, req->size);
		return -ENOENT;
	}
	while (taken) {
		struct uvf_dma_mapping *m = taken;
		taken = m->next;
		release_mapping(dev, m, true);
	}
	return 0;
}

void uvf__dma_unmap_all(struct uvf_device *dev)
{
	struct uvf_dma_mapping *m = uvf__dma_table_take_all(&dev->dma);

	/* newest first */
	while (m) {
		struct uvf_dma_mapping *next = m->next;
		release_mapping(dev, m, true);
		m = next;
	}
}

void uvf__dma_free(struct uvf_device *dev)
{
	struct uvf_dma_mapping *m = uvf__dma_table_take_all(&dev->dma);

	while (m) {
		struct uvf_dma_mapping *next = m->next;
		release_mapping(dev, m, false);
		m = next;
	}
}

/* ------------------------------------------------------------------ */
/* Device-side access                                                   */
/* ------------------------------------------------------------------ */

void uvf_dma_mark_dirty(struct uvf_device *dev, uint64_t addr, size_t len)
{
	if (dev)
		uvf__dma_table_log_mark_range(&dev->dma, addr, len);
}

void *uvf_dma_ptr(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot)
{
	if (!dev || uvf__migration_quiesced(dev))
		return NULL;
	return uvf__dma_table_ptr(&dev->dma, addr, len, prot);
}

int uvf_dma_sg(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot, struct iovec *iov, int max_iov)
{
	if (!dev || (!iov && max_iov > 0) || max_iov < 0)
		return -EINVAL;
	if (uvf__migration_quiesced(dev))
		return -EBUSY; /* stopped for migration */
	return uvf__dma_table_sg(&dev->dma, addr, len, prot, iov, max_iov);
}

/* ------------------------------------------------------------------ */
/* Copies                                                               */
/* ------------------------------------------------------------------ */

static int dma_copy(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	uint32_t need = is_write ? UVF_DMA_MAP_FLAG_WRITE : UVF_DMA_MAP_FLAG_READ;
	int ret = 0;

	if (!dev || (!buf && len))
		return -EINVAL;
	if (!__atomic_load_n(&dev->client_live, __ATOMIC_ACQUIRE))
		return -ENOTCONN;
	if (uvf__migration_quiesced(dev))
		return -EBUSY; /* stopped for migration: no DMA */
	if (addr + len < addr)
		return -EFAULT;
	struct uvf_dma_reader *r = uvf__dma_table_enter();
	if (!r)
		return -ENOMEM;
	/* the usual case: all of it in the mapping this thread used last */
	uint8_t *hit = len ? uvf__dma_table_hit(&dev->dma, r, addr, len, need) : NULL;
	if (hit) {
		if (is_write) {
			uvf__dma_copy(hit, buf, len);
			uvf__dma_table_log_mark(&dev->dma, r->last_m, addr, len);
		} else {
			uvf__dma_copy(buf, hit, len);
		}
		uvf__dma_table_leave(r);
		return 0;
	}
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_table_find_in(&dev->dma, r, addr);
		if (!m) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": not mapped by the client", is_write ? "write" : "read",
				 addr);
			ret = -EFAULT;
			break;
		}
		if (!(m->prot & need)) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": the mapping does not allow it",
				 is_write ? "write" : "read", addr);
			ret = -EACCES;
			break;
		}
		uint64_t avail = uvf__range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t n = avail < len - 1 ? (size_t)avail + 1 : len;
		if (m->vaddr) {
			uint8_t *p = m->vaddr + (addr - m->address);
			if (is_write) {
				uvf__dma_copy(p, buf, n);
				uvf__dma_table_log_mark(&dev->dma, m, addr, n);
			} else {
				uvf__dma_copy(buf, p, n);
			}
		} else {
			/* no section while waiting for the client: DMA_MAP/UNMAP
			 * must go on meanwhile */
			uvf__dma_table_leave(r);
			ret = uvf__dma_message(dev, addr, buf, n, is_write);
			if (ret < 0)
				return ret;
			if (!(r = uvf__dma_table_enter()))
				return -ENOMEM;
		}
		addr += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	uvf__dma_table_leave(r);
	return ret;
}

int uvf_dma_read(struct uvf_device *dev, uint64_t addr, void *buf, size_t len)
{
	return dma_copy(dev, addr, buf, len, false);
}

int uvf_dma_write(struct uvf_device *dev, uint64_t addr, const void *buf, size_t len)
{
	return dma_copy(dev, addr, (void *)buf, len, true);
}
