/* SPDX-License-Identifier: MIT */
/*
 * The DMA table: ranges of client memory the client allowed the device to
 * access (DMA_MAP/DMA_UNMAP), and the device-side helpers that copy to and
 * from them, directly for fd-backed ranges and with DMA_READ/DMA_WRITE
 * messages otherwise.
 *
 * The table is a balanced tree (glibc's tsearch, a red-black tree) whose
 * comparator calls two ranges equal when they overlap: stored ranges never
 * overlap, so a lookup of one address, or of a whole range, lands on a
 * mapping it overlaps in O(log n), and the insertion check for overlaps
 * costs one such lookup.
 *
 * Threads: only the dispatch thread changes the table, under dma_lock
 * taken for writing; device threads read it under dma_lock taken for
 * reading. A removed mapping leaves the tree first, then the device's
 * dma_unmap callback runs with no lock held (it may wait for device threads
 * that are themselves waiting for dma_lock), and only then is the memory
 * unmapped.
 *
 * Dirty logging (DEVICE_FEATURE DMA_LOGGING_*): while the client logs,
 * each fd-backed mapping carries a bitmap with one bit per logging page;
 * writes through uvf_dma_write(), the asynchronous path and
 * uvf_dma_mark_dirty() set bits with atomic OR from any thread, and a
 * report takes them with atomic AND-NOT, so a write racing a report is
 * seen by this report or the next one, never lost. Message-based mappings
 * have no bitmap: the client sees those writes itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/server_internal.h"

static uint64_t range_last(uint64_t addr, uint64_t size)
{
	return addr + (size - 1); /* size > 0, no wrap (decoder checked) */
}

/* Overlapping ranges are "equal": see the top of the file. */
static int compare_ranges(const void *a, const void *b)
{
	const struct uvf_dma_mapping *x = a, *y = b;

	if (range_last(x->address, x->size) < y->address)
		return -1;
	if (range_last(y->address, y->size) < x->address)
		return 1;
	return 0;
}

/* A mapping overlapping [addr, addr + size), or NULL. */
static struct uvf_dma_mapping *find_overlap(const struct uvf_device *dev, uint64_t addr, uint64_t size)
{
	struct uvf_dma_mapping key = {.address = addr, .size = size};
	void *node = tfind(&key, &dev->map_tree, compare_ranges);
	return node ? *(struct uvf_dma_mapping **)node : NULL;
}

/*
 * The last mapping each thread found: DMA tends to stay in one mapping
 * (a queue, a buffer). A generation number from one counter for every
 * device of the process names the table's state; it changes whenever a
 * mapping is removed, so a hit with the same device and generation is a
 * mapping still in the table (read under dma_lock, or by the only
 * writer).
 */
static uint64_t g_map_gen;

static _Thread_local struct {
	const struct uvf_device *dev;
	uint64_t gen;
	const struct uvf_dma_mapping *m;
} t_last;

static void new_generation(struct uvf_device *dev)
{
	dev->map_gen = __atomic_add_fetch(&g_map_gen, 1, __ATOMIC_RELAXED);
}

const struct uvf_dma_mapping *uvf__dma_find(const struct uvf_device *dev, uint64_t addr)
{
	const struct uvf_dma_mapping *m = t_last.m;

	if (t_last.dev == dev && t_last.gen == dev->map_gen && m && addr >= m->address &&
	    addr <= range_last(m->address, m->size))
		return m;
	m = find_overlap(dev, addr, 1);
	if (m) {
		t_last.dev = dev;
		t_last.gen = dev->map_gen;
		t_last.m = m;
	}
	return m;
}

static void read_lock(struct uvf_device *dev)
{
	pthread_rwlock_rdlock(&dev->dma_lock);
}

static void unlock(struct uvf_device *dev)
{
	pthread_rwlock_unlock(&dev->dma_lock);
}

static void list_remove(struct uvf_device *dev, struct uvf_dma_mapping *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		dev->map_list = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
}

/* Tell the device (unless quietly), unmap, free. The mapping is out of the
 * table already and no lock is held. */
static void release_mapping(struct uvf_device *dev, struct uvf_dma_mapping *m, bool notify)
{
	if (notify && dev->cb.dma_unmap) {
		struct uvf_dma_range r = {m->address, m->size, m->prot, m->vaddr};
		dev->cb.dma_unmap(dev, dev->cb_data, &r);
	}
	if (m->map_base)
		munmap(m->map_base, m->map_len);
	free(m->dirty);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Dirty logging                                                        */
/* ------------------------------------------------------------------ */

static bool logging_on(const struct uvf_device *dev)
{
	return __atomic_load_n(&dev->dirty_logging, __ATOMIC_ACQUIRE);
}

/* Bits lo..hi (0..63) of a word. */
static uint64_t bit_span(unsigned lo, unsigned hi)
{
	uint64_t upto = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;
	return upto & (~0ull << lo);
}

/* Set bits first..last of words with op: atomic OR, or a plain one. */
static void set_bit_range(uint64_t *words, uint64_t first, uint64_t last, bool atomic)
{
	for (uint64_t w = first / 64;; w++) {
		unsigned lo = w == first / 64 ? (unsigned)(first % 64) : 0;
		unsigned hi = w == last / 64 ? (unsigned)(last % 64) : 63;
		uint64_t mask = bit_span(lo, hi);
		if (!atomic)
			words[w] |= mask;
		else if ((__atomic_load_n(&words[w], __ATOMIC_RELAXED) & mask) != mask)
			__atomic_fetch_or(&words[w], mask, __ATOMIC_RELEASE); /* skip when set: less cache traffic */
		if (w == last / 64)
			break;
	}
}

static size_t bitmap_words(const struct uvf_device *dev, const struct uvf_dma_mapping *m)
{
	unsigned sh = dev->dirty_shift;
	uint64_t pages = (range_last(m->address, m->size) >> sh) - (m->address >> sh) + 1;
	return (size_t)((pages + 63) / 64); /* the mapping is mmapped: its pages fit size_t */
}

/* [addr, addr + len) of m was written (len > 0, inside m). Any thread,
 * under dma_lock for reading, or the dispatch thread. */
static void mark_dirty(const struct uvf_device *dev, const struct uvf_dma_mapping *m, uint64_t addr, uint64_t len)
{
	if (!m->dirty)
		return;
	unsigned sh = dev->dirty_shift;
	uint64_t base = m->address >> sh;
	set_bit_range(m->dirty, (addr >> sh) - base, (range_last(addr, len) >> sh) - base, true);
}

void uvf__dirty_mark(const struct uvf_device *dev, const struct uvf_dma_mapping *m, uint64_t addr, uint64_t len)
{
	if (len)
		mark_dirty(dev, m, addr, len);
}

static void free_bitmaps_locked(struct uvf_device *dev)
{
	for (struct uvf_dma_mapping *m = dev->map_list; m; m = m->next) {
		free(m->dirty);
		m->dirty = NULL;
	}
}

int uvf__dirty_start(struct uvf_device *dev, unsigned shift, struct uvf_dma_logging_range *ranges, uint32_t nr)
{
	int ret = 0;

	pthread_rwlock_wrlock(&dev->dma_lock);
	dev->dirty_shift = shift;
	for (struct uvf_dma_mapping *m = dev->map_list; m && !ret; m = m->next) {
		if (!m->vaddr)
			continue;
		m->dirty = calloc(bitmap_words(dev, m), sizeof(uint64_t));
		if (!m->dirty)
			ret = -ENOMEM;
	}
	if (ret < 0) {
		free_bitmaps_locked(dev);
		free(ranges);
	} else {
		dev->dirty_ranges = ranges;
		dev->nr_dirty_ranges = nr;
		__atomic_store_n(&dev->dirty_logging, true, __ATOMIC_RELEASE);
	}
	unlock(dev);
	return ret;
}

void uvf__dirty_stop(struct uvf_device *dev)
{
	if (!logging_on(dev))
		return;
	pthread_rwlock_wrlock(&dev->dma_lock);
	__atomic_store_n(&dev->dirty_logging, false, __ATOMIC_RELEASE);
	free_bitmaps_locked(dev);
	free(dev->dirty_ranges);
	dev->dirty_ranges = NULL;
	dev->nr_dirty_ranges = 0;
	unlock(dev);
}

/*
 * Take the dirty pages of m inside [iova, last] and set the report units
 * (2^shift bytes from iova) they touch. Pages wholly inside the range are
 * cleared; a page the range only cuts keeps its bit (reported again later)
 * because the rest of it was not reported.
 */
static void report_mapping(const struct uvf_device *dev, const struct uvf_dma_mapping *m, uint64_t iova, uint64_t last,
			   unsigned shift, uint64_t *bitmap)
{
	unsigned sh = dev->dirty_shift;
	uint64_t mlast = range_last(m->address, m->size);
	uint64_t lo = m->address > iova ? m->address : iova;
	uint64_t hi = mlast < last ? mlast : last;
	uint64_t base = m->address >> sh, pfirst = lo >> sh, plast = hi >> sh;
	uint64_t page_mask = (1ull << sh) - 1;
	/* the mapping's part of the first/last page reaches outside the range */
	bool first_cut = (m->address > (pfirst << sh) ? m->address : (pfirst << sh)) < iova;
	bool last_cut = (mlast < ((plast << sh) | page_mask) ? mlast : ((plast << sh) | page_mask)) > last;

	for (uint64_t p = pfirst;;) {
		uint64_t b = p - base, w = b / 64;
		unsigned lo_bit = (unsigned)(b % 64);
		uint64_t span = 63 - lo_bit;
		uint64_t pend = plast - p < span ? plast : p + span;
		uint64_t mask = bit_span(lo_bit, lo_bit + (unsigned)(pend - p));
		uint64_t keep = 0;
		if (first_cut && pfirst >= p && pfirst <= pend)
			keep |= 1ull << (lo_bit + (pfirst - p));
		if (last_cut && plast >= p && plast <= pend)
			keep |= 1ull << (lo_bit + (plast - p));
		uint64_t clear = mask & ~keep;
		uint64_t got = clear ? __atomic_fetch_and(&m->dirty[w], ~clear, __ATOMIC_ACQ_REL) & clear : 0;
		if (keep)
			got |= __atomic_load_n(&m->dirty[w], __ATOMIC_ACQUIRE) & keep;
		while (got) {
			unsigned bit = (unsigned)__builtin_ctzll(got);
			got &= got - 1;
			uint64_t page = base + w * 64 + bit;
			uint64_t a = page << sh, z = a | page_mask;
			if (a < lo)
				a = lo;
			if (z > hi)
				z = hi;
			set_bit_range(bitmap, (a - iova) >> shift, (z - iova) >> shift, false);
		}
		if (pend == plast)
			break;
		p = pend + 1;
	}
}

void uvf__dirty_report(struct uvf_device *dev, uint64_t iova, uint64_t length, unsigned shift, uint64_t *bitmap)
{
	uint64_t last = range_last(iova, length);

	/* the dispatch thread (this one) alone changes the table: no lock */
	for (const struct uvf_dma_mapping *m = dev->map_list; m; m = m->next)
		if (m->dirty && range_last(m->address, m->size) >= iova && m->address <= last)
			report_mapping(dev, m, iova, last, shift, bitmap);
}

void uvf_dma_mark_dirty(struct uvf_device *dev, uint64_t addr, size_t len)
{
	if (!dev || !len || !logging_on(dev))
		return;
	if (len - 1 > UINT64_MAX - addr)
		len = (size_t)(UINT64_MAX - addr) + 1;
	read_lock(dev);
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
		if (!m)
			break; /* not client memory: nothing to log */
		uint64_t avail = range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t n = avail < len - 1 ? (size_t)avail + 1 : len;
		mark_dirty(dev, m, addr, n);
		len -= n;
		addr += n;
	}
	unlock(dev);
}

int uvf__dma_map(struct uvf_device *dev, const struct uvf_dma_map *req, int fd)
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

	/* Overlap rules (PROTOCOL.md section 9 #5). No lock for reading: the
	 * dispatch thread (this one) is the only writer. */
	const struct uvf_dma_mapping *o = find_overlap(dev, m->address, m->size);
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
	if (dev->nr_maps >= dev->opts.max_dma_maps) {
		dev_warn(dev, "DMA_MAP: already %zu mappings, the advertised maximum", dev->nr_maps);
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
		if (logging_on(dev)) {
			m->dirty = calloc(bitmap_words(dev, m), sizeof(uint64_t));
			if (!m->dirty) {
				dev_warn(dev, "DMA_MAP: no memory for the dirty bitmap of 0x%" PRIx64 "+0x%" PRIx64,
					 m->address, m->size);
				ret = -ENOMEM;
				goto fail_unmap;
			}
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
	pthread_rwlock_wrlock(&dev->dma_lock);
	/* a fresh device's generation 0 could be a freed one's */
	if (!dev->map_gen)
		new_generation(dev);
	void *node = tsearch(m, &dev->map_tree, compare_ranges);
	if (node) {
		m->next = dev->map_list;
		if (m->next)
			m->next->prev = m;
		dev->map_list = m;
		dev->nr_maps++;
	}
	unlock(dev);
	if (!node) {
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

/* Take every mapping overlapping [addr, addr + size) out of the table
 * (under the write lock) and return them as a list. */
static struct uvf_dma_mapping *take_range(struct uvf_device *dev, uint64_t addr, uint64_t size)
{
	struct uvf_dma_mapping *taken = NULL, *m;

	pthread_rwlock_wrlock(&dev->dma_lock);
	while ((m = find_overlap(dev, addr, size))) {
		tdelete(m, &dev->map_tree, compare_ranges);
		list_remove(dev, m);
		dev->nr_maps--;
		m->next = taken;
		taken = m;
	}
	new_generation(dev);
	unlock(dev);
	return taken;
}

int uvf__dma_unmap(struct uvf_device *dev, const struct uvf_dma_unmap *req)
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
	uint64_t last = range_last(req->address, req->size); /* the range may end at 2^64 */
	const struct uvf_dma_mapping *edge[2] = {uvf__dma_find(dev, req->address), uvf__dma_find(dev, last)};
	for (unsigned i = 0; i < 2; i++) {
		const struct uvf_dma_mapping *m = edge[i];
		if (m && (m->address < req->address || range_last(m->address, m->size) > last)) {
			dev_warn(dev,
				 "DMA_UNMAP: 0x%" PRIx64 "+0x%" PRIx64 " cuts the mapping 0x%" PRIx64 "+0x%" PRIx64,
				 req->address, req->size, m->address, m->size);
			return -EINVAL;
		}
	}
	struct uvf_dma_mapping *taken = take_range(dev, req->address, req->size);
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

static void forget_node(void *node)
{
	(void)node; /* the mappings live on in the list */
}

/* Empty the table; returns the list of every mapping. */
static struct uvf_dma_mapping *take_all(struct uvf_device *dev)
{
	pthread_rwlock_wrlock(&dev->dma_lock);
	struct uvf_dma_mapping *all = dev->map_list;
	tdestroy(dev->map_tree, forget_node);
	dev->map_tree = NULL;
	dev->map_list = NULL;
	dev->nr_maps = 0;
	new_generation(dev);
	unlock(dev);
	return all;
}

void uvf__dma_unmap_all(struct uvf_device *dev)
{
	struct uvf_dma_mapping *m = take_all(dev);

	/* newest first */
	while (m) {
		struct uvf_dma_mapping *next = m->next;
		release_mapping(dev, m, true);
		m = next;
	}
}

void uvf__dma_free(struct uvf_device *dev)
{
	struct uvf_dma_mapping *m = take_all(dev);

	while (m) {
		struct uvf_dma_mapping *next = m->next;
		release_mapping(dev, m, false);
		m = next;
	}
}

/* ------------------------------------------------------------------ */
/* Device-side access                                                   */
/* ------------------------------------------------------------------ */

void *uvf_dma_ptr(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot)
{
	void *p = NULL;

	if (!dev || !len || addr + len < addr || uvf__migration_quiesced(dev))
		return NULL;
	read_lock(dev);
	const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
	if (m && m->vaddr && (m->prot & prot) == prot && len - 1 <= range_last(m->address, m->size) - addr)
		p = m->vaddr + (addr - m->address);
	unlock(dev);
	return p;
}

int uvf_dma_sg(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot, struct iovec *iov, int max_iov)
{
	int n = 0, ret = 0;

	if (!dev || (!iov && max_iov > 0) || max_iov < 0)
		return -EINVAL;
	if (uvf__migration_quiesced(dev))
		return -EBUSY; /* stopped for migration */
	if (!len)
		return 0;
	if (len - 1 > UINT64_MAX - addr)
		return -EFAULT;
	read_lock(dev);
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
		if (!m || !m->vaddr) {
			ret = -EFAULT;
			break;
		}
		if ((m->prot & prot) != prot) {
			ret = -EACCES;
			break;
		}
		uint64_t avail = range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t piece = avail < len - 1 ? (size_t)avail + 1 : len;
		uint8_t *p = m->vaddr + (addr - m->address);
		if (n > 0 && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
			iov[n - 1].iov_len += piece; /* contiguous here too: one piece */
		} else if (n == max_iov) {
			ret = -ENOSPC;
			break;
		} else {
			iov[n].iov_base = p;
			iov[n].iov_len = piece;
			n++;
		}
		len -= piece;
		addr += piece; /* may wrap to 0 exactly when len reaches 0 */
	}
	unlock(dev);
	return ret < 0 ? ret : n;
}

uint64_t uvf__dma_chunk_max(const struct uvf_device *dev)
{
	return __atomic_load_n(&dev->dma_chunk, __ATOMIC_RELAXED);
}

static uint16_t next_id(struct uvf_device *dev)
{
	return __atomic_fetch_add(&dev->next_dma_id, 1, __ATOMIC_RELAXED);
}

/* The pieces of a DMA request (hdr is filled); returns the iov count. */
static int request_iov(struct uvf_msg_header *hdr, struct iovec iov[3], uint16_t id, bool is_write,
		       const struct uvf_dma_access *req, const void *data)
{
	int iovcnt = 2;

	uvf__msg_header_init(hdr, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ,
			     (uint32_t)(sizeof(*hdr) + sizeof(*req) + (is_write ? req->count : 0)),
			     UVF_MSG_TYPE_COMMAND, 0);
	iov[0] = (struct iovec){hdr, sizeof(*hdr)};
	iov[1] = (struct iovec){(void *)req, sizeof(*req)};
	if (is_write)
		iov[iovcnt++] = (struct iovec){(void *)data, (size_t)req->count};
	return iovcnt;
}

/* Send a DMA request on the twin socket (twin_lock held). */
static int send_twin(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_dma_access *req,
		     const void *data)
{
	struct uvf_msg_header hdr;
	struct iovec iov[3];
	int iovcnt = request_iov(&hdr, iov, id, is_write, req, data);
	return uvf__msg_sendv(dev->twin_fd, iov, iovcnt, NULL, 0, dev->opts.dma_timeout_ms);
}

/* Called on the dispatch thread by the asynchronous path. */
int uvf__dma_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_dma_access *req,
			  const void *data)
{
	if (dev->twin_fd < 0) {
		struct uvf_msg_header hdr;
		struct iovec iov[3];
		int iovcnt = request_iov(&hdr, iov, id, is_write, req, data);
		return uvf__send_to_client(dev, iov, iovcnt, NULL, 0);
	}
	/* device threads send on the twin socket too: one message at a time */
	pthread_mutex_lock(&dev->twin_lock);
	int ret = send_twin(dev, id, is_write, req, data);
	pthread_mutex_unlock(&dev->twin_lock);
	if (ret < 0) {
		dev_warn(dev, "sending on the twin socket failed: %s", uvf_strerror(ret));
		dev->drop_requested = true;
	}
	return ret;
}

int uvf__dma_take_reply(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, size_t nfds,
			bool is_write, const struct uvf_dma_access *req, void *buf)
{
	struct uvf_why why = {{0}};
	size_t rlen = hdr->msg_size - UVF_MSG_HEADER_SIZE;
	int ret;

	if (hdr->flags & UVF_MSG_FLAG_ERROR) {
		ret = -uvf__msg_reply_errno(hdr);
		dev_warn(dev, "%s 0x%" PRIx64 "+0x%" PRIx64 ": client answered %s", uvf__cmd_name(hdr->command),
			 req->address, req->count, uvf_strerror(ret));
		return ret;
	}
	if (is_write) {
		ret = uvf__decode_dma_write_reply(body, rlen, nfds, req, &why);
	} else {
		struct uvf_dma_access_view v;
		ret = uvf__decode_dma_read_reply(body, rlen, nfds, req, &v, &why);
		if (ret == 0)
			memcpy(buf, v.data, (size_t)req->count);
	}
	if (ret < 0 && why.text[0])
		dev_warn(dev, "%s", why.text);
	return ret;
}

/* ------------------------------------------------------------------ */
/* By message on the main socket (dispatch thread, no twin socket)      */
/* ------------------------------------------------------------------ */

/*
 * Wait for the reply to our request `id`. Client commands that arrive in
 * between are queued and run after the current one: the protocol lets them
 * interleave on one socket. Returns 0 with rx holding the reply (the
 * caller releases it), or a negative errno.
 */
static int wait_dma_reply(struct uvf_device *dev, struct uvf_rx *rx, uint16_t id, uint16_t command)
{
	struct uvf_why why = {{0}};

	for (;;) {
		int ret = uvf__rx_read_wait(rx, dev->conn_fd, dev->opts.dma_timeout_ms, &why);
		if (ret < 0) {
			dev_warn(dev, "%s: waiting for the client's reply: %s", uvf__cmd_name(command),
				 why.text[0] ? why.text : uvf_strerror(ret));
			/* a half-received message or a broken stream cannot be resumed */
			if (ret != -ETIMEDOUT || rx->hdr_got)
				dev->drop_requested = true;
			return ret;
		}
		if ((rx->hdr.flags & UVF_MSG_TYPE_MASK) == UVF_MSG_TYPE_REPLY) {
			if (rx->hdr.msg_id == id && rx->hdr.command == command)
				return 0;
			if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds))
				dev_warn(dev, "ignoring a %s reply (id %u) while waiting for %s id %u",
					 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id, uvf__cmd_name(command), id);
			uvf__rx_release(rx);
			continue;
		}
		ret = uvf__queue_push(dev, rx);
		uvf__rx_release(rx);
		if (ret < 0) {
			dev_warn(dev, "%s: too many client commands queued while waiting: %s", uvf__cmd_name(command),
				 uvf_strerror(ret));
			dev->drop_requested = true;
			return ret;
		}
	}
}

static int message_main(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	/* Inside a command the main receiver holds that command: read with
	 * the second one. Outside, the main one may hold a partial message
	 * and must go on from where it is. */
	struct uvf_rx *rx = dev->in_command ? &dev->wait_rx : &dev->rx;
	uint64_t chunk_max = uvf__dma_chunk_max(dev);

	if (dev->conn_fd < 0)
		return -ENOTCONN;
	while (len) {
		struct uvf_dma_access req = {.address = addr, .count = len < chunk_max ? len : chunk_max};
		uint16_t id = next_id(dev);
		int ret = uvf__dma_send_request(dev, id, is_write, &req, buf);
		if (ret < 0)
			return ret;
		ret = wait_dma_reply(dev, rx, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ);
		if (ret < 0)
			return ret;
		ret = uvf__dma_take_reply(dev, &rx->hdr, rx->body, rx->nfds, is_write, &req, buf);
		uvf__rx_release(rx);
		if (ret < 0)
			return ret;
		addr += req.count;
		buf = (uint8_t *)buf + req.count;
		len -= (size_t)req.count;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* By message on the twin socket (any thread, under twin_lock)          */
/* ------------------------------------------------------------------ */

void uvf__twin_reset_locked(struct uvf_device *dev)
{
	uvf__rx_destroy(&dev->twin_rx);
	uvf__rx_init(&dev->twin_rx, dev->max_msg_size);
	while (dev->twin_stray) {
		struct uvf_twin_stray *s = dev->twin_stray;
		dev->twin_stray = s->next;
		free(s);
	}
	dev->twin_failed = false;
}

/* A reply for an asynchronous transfer, read by a device thread: keep a
 * copy for the dispatch thread, which owns those transfers. */
static void stash_reply(struct uvf_device *dev, const struct uvf_rx *rx)
{
	size_t len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
	struct uvf_twin_stray **tail = &dev->twin_stray;
	size_t count = 0, bytes = len;

	/* A client could send replies nobody waits for: bound what is kept
	 * as the queue of commands held during a DMA wait is bounded. */
	while (*tail) {
		count++;
		bytes += (*tail)->hdr.msg_size;
		tail = &(*tail)->next;
	}
	if (count >= UVF_SERVER_QUEUE_MAX || bytes > UVF_SERVER_QUEUE_BYTES) {
		dev_warn(dev, "twin socket: more than %u replies (%zu bytes) waiting to be matched",
			 UVF_SERVER_QUEUE_MAX, bytes);
		dev->twin_failed = true;
		return;
	}
	struct uvf_twin_stray *s = malloc(sizeof(*s) + len);
	if (!s) {
		dev->twin_failed = true; /* a lost reply would stall its transfer */
		return;
	}
	s->next = NULL;
	s->hdr = rx->hdr;
	s->nfds = rx->nfds;
	memcpy(s->body, rx->body, len);
	*tail = s;
}

/*
 * Transfer by messages on the twin socket; twin_lock held. Only replies
 * come on this socket: ours is taken, any other belongs to an asynchronous
 * transfer. A client command here, or a broken stream, fails the twin
 * socket and the client is dropped by the dispatch thread.
 */
static int message_twin(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write, bool on_dispatch)
{
	struct uvf_rx *rx = &dev->twin_rx;
	uint64_t chunk_max = uvf__dma_chunk_max(dev);
	uint16_t command = is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ;
	int ret = 0;

	while (len && ret == 0) {
		struct uvf_why why = {{0}};
		struct uvf_dma_access req = {.address = addr, .count = len < chunk_max ? len : chunk_max};
		uint16_t id = next_id(dev);
		ret = send_twin(dev, id, is_write, &req, buf);
		if (ret < 0) {
			dev_warn(dev, "%s on the twin socket: sending failed: %s", uvf__cmd_name(command),
				 uvf_strerror(ret));
			dev->twin_failed = true;
			break;
		}
		for (;;) {
			ret = uvf__rx_read_wait(rx, dev->twin_fd, dev->opts.dma_timeout_ms, &why);
			if (ret < 0) {
				dev_warn(dev, "%s on the twin socket: waiting for the client's reply: %s",
					 uvf__cmd_name(command), why.text[0] ? why.text : uvf_strerror(ret));
				/* a late reply of ours would be taken for another's */
				dev->twin_failed = true;
				break;
			}
			if ((rx->hdr.flags & UVF_MSG_TYPE_MASK) != UVF_MSG_TYPE_REPLY) {
				dev_warn(dev, "a client command (%s) on the twin socket",
					 uvf__cmd_name(rx->hdr.command));
				uvf__rx_release(rx);
				dev->twin_failed = true;
				ret = -EPROTO;
				break;
			}
			if (rx->hdr.msg_id == id && rx->hdr.command == command) {
				ret = uvf__dma_take_reply(dev, &rx->hdr, rx->body, rx->nfds, is_write, &req, buf);
				uvf__rx_release(rx);
				break;
			}
			if (on_dispatch) {
				if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds))
					dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket",
						 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id);
			} else {
				stash_reply(dev, rx);
			}
			uvf__rx_release(rx);
		}
		addr += req.count;
		buf = (uint8_t *)buf + req.count;
		len -= (size_t)req.count;
	}
	if (dev->twin_failed || dev->twin_stray)
		uvf__kick(dev); /* dispatch drops the client, or takes the replies */
	return ret;
}

int uvf__twin_service(struct uvf_device *dev, bool read_socket)
{
	struct uvf_twin_stray *strays;
	int ret = 0;

	if (dev->twin_fd < 0)
		return 0;
	pthread_mutex_lock(&dev->twin_lock);
	strays = dev->twin_stray;
	dev->twin_stray = NULL;
	while (read_socket && !dev->twin_failed) {
		struct uvf_why why = {{0}};
		ret = uvf__rx_read(&dev->twin_rx, dev->twin_fd, &why);
		if (ret == 0)
			break;
		if (ret < 0) {
			dev_info(dev, "twin socket: %s", why.text[0] ? why.text : uvf_strerror(ret));
			dev->twin_failed = true;
			break;
		}
		struct uvf_rx *rx = &dev->twin_rx;
		if ((rx->hdr.flags & UVF_MSG_TYPE_MASK) != UVF_MSG_TYPE_REPLY) {
			dev_warn(dev, "a client command (%s) on the twin socket", uvf__cmd_name(rx->hdr.command));
			dev->twin_failed = true;
		} else if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds)) {
			dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket that answers nothing outstanding",
				 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id);
		}
		uvf__rx_release(rx);
	}
	ret = dev->twin_failed ? -EPROTO : 0;
	pthread_mutex_unlock(&dev->twin_lock);
	while (strays) {
		struct uvf_twin_stray *s = strays;
		strays = s->next;
		if (!uvf__dma_async_reply(dev, &s->hdr, s->body, s->nfds))
			dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket that answers nothing outstanding",
				 uvf__cmd_name(s->hdr.command), s->hdr.msg_id);
		free(s);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Copies                                                               */
/* ------------------------------------------------------------------ */

/* A message-based piece, from whichever thread. */
static int dma_message(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	bool on_dispatch = uvf__on_dispatch_thread(dev);
	int ret;

	if (on_dispatch && dev->twin_fd < 0)
		return message_main(dev, addr, buf, len, is_write);
	pthread_mutex_lock(&dev->twin_lock);
	if (dev->twin_fd >= 0 && !dev->twin_failed) {
		ret = message_twin(dev, addr, buf, len, is_write, on_dispatch);
		pthread_mutex_unlock(&dev->twin_lock);
		return ret;
	}
	bool failed = dev->twin_fd >= 0;
	pthread_mutex_unlock(&dev->twin_lock);
	if (failed)
		return -ENOTCONN; /* the client is about to be dropped */
	/* A device thread without twin socket: only the dispatch thread may
	 * talk on the main socket. */
	return uvf__dma_async_wait(dev, addr, buf, len, is_write);
}

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
	read_lock(dev);
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
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
		uint64_t avail = range_last(m->address, m->size) - addr; /* bytes left - 1 */
		size_t n = avail < len - 1 ? (size_t)avail + 1 : len;
		if (m->vaddr) {
			uint8_t *p = m->vaddr + (addr - m->address);
			if (is_write) {
				memcpy(p, buf, n);
				mark_dirty(dev, m, addr, n);
			} else {
				memcpy(buf, p, n);
			}
		} else {
			/* no lock while waiting for the client: DMA_MAP/UNMAP
			 * must go on meanwhile */
			unlock(dev);
			ret = dma_message(dev, addr, buf, n, is_write);
			if (ret < 0)
				return ret;
			read_lock(dev);
		}
		addr += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	unlock(dev);
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
