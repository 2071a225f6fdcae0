/* SPDX-License-Identifier: MIT */
/*
 * The DMA table: ranges of client memory the client allowed the device to
 * access (DMA_MAP/DMA_UNMAP), and the device-side helpers that copy to and
 * from them, directly for fd-backed ranges and with DMA_READ/DMA_WRITE
 * messages otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

static uint64_t range_end(uint64_t addr, uint64_t size)
{
	return addr + size; /* callers guarantee no wrap (decoder checked) */
}

/* Index of the first mapping whose end is above addr (may be nr_maps). */
static size_t lower_bound(const struct uvf_device *dev, uint64_t addr)
{
	size_t lo = 0, hi = dev->nr_maps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (range_end(dev->maps[mid].address, dev->maps[mid].size) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void release_mapping(struct uvf_device *dev, struct uvf_dma_mapping *m, bool notify)
{
	if (notify && dev->cb.dma_unmap) {
		struct uvf_dma_range r = {m->address, m->size, m->prot, m->vaddr};
		dev->cb.dma_unmap(dev, dev->cb_data, &r);
	}
	if (m->map_base)
		munmap(m->map_base, m->map_len);
	if (m->fd >= 0)
		close(m->fd);
}

int uvf__dma_map(struct uvf_device *dev, const struct uvf_dma_map *req, int fd)
{
	struct uvf_dma_mapping m;
	struct stat st;
	int ret;

	memset(&m, 0, sizeof(m));
	m.address = req->address;
	m.size = req->size;
	m.prot = req->flags & (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE);
	m.fd = -1;
	m.offset = req->offset;

	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			dev_warn(dev, "DMA_MAP: cannot stat the fd: %s", uvf_strerror(ret));
			return ret;
		}
		/* A mapping past the end of a file would SIGBUS on first touch. */
		if (S_ISREG(st.st_mode) &&
		    (req->offset > (uint64_t)st.st_size || req->size > (uint64_t)st.st_size - req->offset)) {
			dev_warn(dev, "DMA_MAP: range 0x%" PRIx64 "+0x%" PRIx64 " at fd offset 0x%" PRIx64
				      " is beyond the file size 0x%" PRIx64,
				 req->address, req->size, req->offset, (uint64_t)st.st_size);
			return -EINVAL;
		}
		m.st_dev = st.st_dev;
		m.st_ino = st.st_ino;
	}

	/* Overlap rules (PROTOCOL.md section 9 #5). */
	size_t pos = lower_bound(dev, m.address);
	if (pos < dev->nr_maps && dev->maps[pos].address < range_end(m.address, m.size)) {
		struct uvf_dma_mapping *o = &dev->maps[pos];
		bool same_backing = (fd < 0 && o->fd < 0) ||
				    (fd >= 0 && o->fd >= 0 && o->st_dev == m.st_dev && o->st_ino == m.st_ino);
		if (o->address == m.address && o->size == m.size && o->prot == m.prot && o->offset == m.offset &&
		    same_backing) {
			dev_debug(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " already mapped identically", m.address,
				  m.size);
			if (fd >= 0)
				close(fd);
			return 0;
		}
		dev_warn(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " overlaps the mapping 0x%" PRIx64 "+0x%" PRIx64,
			 m.address, m.size, o->address, o->size);
		return -EEXIST;
	}
	if (dev->nr_maps >= dev->opts.max_dma_maps) {
		dev_warn(dev, "DMA_MAP: already %zu mappings, the advertised maximum", dev->nr_maps);
		return -ENOSPC;
	}
	if (dev->nr_maps == dev->maps_cap) {
		size_t cap = dev->maps_cap ? dev->maps_cap * 2 : 16;
		struct uvf_dma_mapping *n = realloc(dev->maps, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		dev->maps = n;
		dev->maps_cap = cap;
	}

	if (fd >= 0) {
		long page = sysconf(_SC_PAGESIZE);
		uint64_t delta = m.offset % (uint64_t)page;
		if (m.size > SIZE_MAX - delta) {
			dev_warn(dev, "DMA_MAP: size 0x%" PRIx64 " too large for this process", m.size);
			return -ENOMEM;
		}
		int prot = ((m.prot & UVF_DMA_MAP_FLAG_READ) ? PROT_READ : 0) |
			   ((m.prot & UVF_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0);
		m.map_len = (size_t)(m.size + delta);
		void *p = mmap(NULL, m.map_len, prot ? prot : PROT_NONE, MAP_SHARED, fd, (off_t)(m.offset - delta));
		if (p == MAP_FAILED) {
			ret = -errno;
			dev_warn(dev, "DMA_MAP: mmap of 0x%" PRIx64 " bytes at fd offset 0x%" PRIx64 " failed: %s",
				 m.size, m.offset, uvf_strerror(ret));
			return ret;
		}
		m.map_base = p;
		m.vaddr = (uint8_t *)p + delta;
		m.fd = fd;
	}

	if (dev->cb.dma_map) {
		struct uvf_dma_range r = {m.address, m.size, m.prot, m.vaddr};
		ret = dev->cb.dma_map(dev, dev->cb_data, &r);
		if (ret < 0) {
			if (m.map_base)
				munmap(m.map_base, m.map_len);
			dev_warn(dev, "DMA_MAP: refused by the device: %s", uvf_strerror(ret));
			return ret; /* fd stays with the caller, which closes it */
		}
	}
	memmove(&dev->maps[pos + 1], &dev->maps[pos], (dev->nr_maps - pos) * sizeof(*dev->maps));
	dev->maps[pos] = m;
	dev->nr_maps++;
	dev_debug(dev, "DMA_MAP: 0x%" PRIx64 "+0x%" PRIx64 " %s%s %s", m.address, m.size,
		  (m.prot & UVF_DMA_MAP_FLAG_READ) ? "r" : "-", (m.prot & UVF_DMA_MAP_FLAG_WRITE) ? "w" : "-",
		  fd >= 0 ? "mapped" : "by message");
	return 0;
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
	 * the range's edges is refused, nothing removed.
	 */
	uint64_t last = req->address + (req->size - 1); /* the range may end at 2^64 */
	size_t first = lower_bound(dev, req->address), end = first;
	for (; end < dev->nr_maps && dev->maps[end].address <= last; end++) {
		const struct uvf_dma_mapping *m = &dev->maps[end];
		if (m->address < req->address || m->address + (m->size - 1) > last) {
			dev_warn(dev, "DMA_UNMAP: 0x%" PRIx64 "+0x%" PRIx64 " cuts the mapping 0x%" PRIx64 "+0x%" PRIx64,
				 req->address, req->size, m->address, m->size);
			return -EINVAL;
		}
	}
	if (end == first) {
		/* routine with a virtual IOMMU, so not a warning */
		dev_debug(dev, "DMA_UNMAP: no mapping in 0x%" PRIx64 "+0x%" PRIx64, req->address, req->size);
		return -ENOENT;
	}
	for (size_t i = first; i < end; i++)
		release_mapping(dev, &dev->maps[i], true);
	memmove(&dev->maps[first], &dev->maps[end], (dev->nr_maps - end) * sizeof(*dev->maps));
	dev->nr_maps -= end - first;
	return 0;
}

void uvf__dma_unmap_all(struct uvf_device *dev)
{
	/* last to first, so a callback sees a consistent table */
	while (dev->nr_maps) {
		dev->nr_maps--;
		release_mapping(dev, &dev->maps[dev->nr_maps], true);
	}
}

void uvf__dma_free(struct uvf_device *dev)
{
	for (size_t i = 0; i < dev->nr_maps; i++)
		release_mapping(dev, &dev->maps[i], false);
	free(dev->maps);
	dev->maps = NULL;
	dev->nr_maps = dev->maps_cap = 0;
}

/* ------------------------------------------------------------------ */
/* Device-side access                                                   */
/* ------------------------------------------------------------------ */

const struct uvf_dma_mapping *uvf__dma_find(const struct uvf_device *dev, uint64_t addr)
{
	size_t pos = lower_bound(dev, addr);
	if (pos < dev->nr_maps && dev->maps[pos].address <= addr)
		return &dev->maps[pos];
	return NULL;
}

void *uvf_dma_ptr(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot)
{
	if (!dev || !len || addr + len < addr)
		return NULL;
	const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
	if (!m || !m->vaddr || (m->prot & prot) != prot || addr + len > range_end(m->address, m->size))
		return NULL;
	return m->vaddr + (addr - m->address);
}

/*
 * Wait for the reply to our request `id`. Client commands that arrive in
 * between are queued and run after the current one: the protocol lets them
 * interleave on one socket. Returns 0 with wait_rx holding the reply (the
 * caller releases it), or a negative errno.
 */
static int wait_dma_reply(struct uvf_device *dev, uint16_t id, uint16_t command)
{
	struct uvf_why why = {{0}};
	/* Inside a command the main receiver holds that command: read with
	 * the second one. Outside, the main one may hold a partial message
	 * and must go on from where it is. */
	struct uvf_rx *rx = dev->in_command ? &dev->wait_rx : &dev->rx;

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

uint64_t uvf__dma_chunk_max(const struct uvf_device *dev)
{
	uint64_t chunk = dev->client_caps.max_data_xfer_size;
	/* our own receive limit bounds DMA_READ replies */
	return chunk < dev->opts.max_data_xfer_size ? chunk : dev->opts.max_data_xfer_size;
}

int uvf__dma_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_dma_access *req,
			  const void *data)
{
	struct uvf_msg_header hdr;
	struct iovec iov[3];
	int iovcnt = 2;

	uvf__msg_header_init(&hdr, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ,
			     (uint32_t)(sizeof(hdr) + sizeof(*req) + (is_write ? req->count : 0)), UVF_MSG_TYPE_COMMAND,
			     0);
	iov[0] = (struct iovec){&hdr, sizeof(hdr)};
	iov[1] = (struct iovec){(void *)req, sizeof(*req)};
	if (is_write)
		iov[iovcnt++] = (struct iovec){(void *)data, (size_t)req->count};
	return uvf__send_to_client(dev, iov, iovcnt, NULL, 0);
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

/* Synchronous transfer by messages: send each chunk and wait for its reply. */
static int dma_message(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	struct uvf_rx *rx = dev->in_command ? &dev->wait_rx : &dev->rx;
	uint64_t chunk_max = uvf__dma_chunk_max(dev);

	while (len) {
		struct uvf_dma_access req = {.address = addr, .count = len < chunk_max ? len : chunk_max};
		uint16_t id = dev->next_dma_id++;
		int ret = uvf__dma_send_request(dev, id, is_write, &req, buf);
		if (ret < 0)
			return ret;
		ret = wait_dma_reply(dev, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ);
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

static int dma_copy(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	uint32_t need = is_write ? UVF_DMA_MAP_FLAG_WRITE : UVF_DMA_MAP_FLAG_READ;

	if (!dev || (!buf && len))
		return -EINVAL;
	if (dev->conn_fd < 0 || !dev->negotiated)
		return -ENOTCONN;
	if (addr + len < addr)
		return -EFAULT;
	while (len) {
		const struct uvf_dma_mapping *m = uvf__dma_find(dev, addr);
		if (!m) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": not mapped by the client", is_write ? "write" : "read",
				 addr);
			return -EFAULT;
		}
		if (!(m->prot & need)) {
			dev_warn(dev, "DMA %s at 0x%" PRIx64 ": the mapping does not allow it",
				 is_write ? "write" : "read", addr);
			return -EACCES;
		}
		uint64_t avail = range_end(m->address, m->size) - addr;
		size_t n = avail < len ? (size_t)avail : len;
		if (m->vaddr) {
			uint8_t *p = m->vaddr + (addr - m->address);
			if (is_write)
				memcpy(p, buf, n);
			else
				memcpy(buf, p, n);
		} else {
			int ret = dma_message(dev, addr, buf, n, is_write);
			if (ret < 0)
				return ret;
		}
		addr += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	return 0;
}

int uvf_dma_read(struct uvf_device *dev, uint64_t addr, void *buf, size_t len)
{
	return dma_copy(dev, addr, buf, len, false);
}

int uvf_dma_write(struct uvf_device *dev, uint64_t addr, const void *buf, size_t len)
{
	return dma_copy(dev, addr, (void *)buf, len, true);
}
