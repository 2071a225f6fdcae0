/* SPDX-License-Identifier: MIT */
/*
 * ioeventfds: BAR writes the device wants as a signal on an eventfd rather
 * than as a region access. The client learns of them with
 * DEVICE_GET_REGION_IO_FDS and writes the eventfd itself; a REGION_WRITE
 * that matches one is turned into the same signal here, so the device sees
 * one path whatever the client does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/server_internal.h"

static void ioeventfd_fired(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);

static bool valid_size(uint32_t size)
{
	return size == 0 || size == 1 || size == 2 || size == 4 || size == 8;
}

/* Two ioeventfds at the same place that one write could both match
 * (KVM's rule: same offset, sizes equal or either "any", values equal or
 * either without DATAMATCH). */
static bool collide(const struct uvf_ioeventfd *a, const struct uvf_ioeventfd_desc *b)
{
	if (a->bar != b->bar || a->offset != b->offset)
		return false;
	if (a->size && b->size && a->size != b->size)
		return false;
	if ((a->flags & UVF_IOEVENTFD_DATAMATCH) && (b->flags & UVF_IOEVENTFD_DATAMATCH) &&
	    a->datamatch != b->datamatch)
		return false;
	return true;
}

/* Whether [offset, offset + len) touches the MSI-X table or PBA declared so
 * far: the library serves those, a doorbell there would steal their writes. */
static bool in_msix(const struct uvf_device *dev, unsigned bar, uint64_t offset, uint64_t len)
{
	const struct uvf_config_msix *m = &dev->cfg_desc.msix;
	if (!m->count)
		return false;
	uint64_t t = m->table_offset, te = t + 16ull * m->count;
	uint64_t p = m->pba_offset, pe = p + 8ull * ((m->count + 63) / 64);
	return (bar == m->table_bar && offset < te && t < offset + len) ||
	       (bar == m->pba_bar && offset < pe && p < offset + len);
}

int uvf_device_add_ioeventfd(struct uvf_device *dev, const struct uvf_ioeventfd_desc *desc)
{
	if (!dev || !desc || desc->version < 1 || desc->version > UVF_IOEVENTFD_DESC_VERSION)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	uint32_t known = UVF_IOEVENTFD_DATAMATCH | (desc->version >= 2 ? UVF_IOEVENTFD_DEVICE_FD : 0);
	if (desc->bar > 5 || !dev->bars[desc->bar].size || !valid_size(desc->size) || (desc->flags & ~known) ||
	    ((desc->flags & UVF_IOEVENTFD_DEVICE_FD) && desc->fd < 0))
		return -EINVAL;
	const struct uvf_bar *bar = &dev->bars[desc->bar];
	uint64_t len = desc->size ? desc->size : 1;
	if (desc->offset > bar->size || len > bar->size - desc->offset) {
		dev_log(dev, UVF_LOG_ERROR,
			"ioeventfd: BAR%u offset 0x%" PRIx64 " + %u outside the BAR (size 0x%" PRIx64 ")", desc->bar,
			desc->offset, desc->size, bar->size);
		return -EINVAL;
	}
	if (desc->flags & UVF_IOEVENTFD_DATAMATCH) {
		/* a value wider than the write could never match */
		if (!desc->size || (desc->size < 8 && desc->datamatch >> (8 * desc->size)))
			return -EINVAL;
	}
	if (in_msix(dev, desc->bar, desc->offset, len)) {
		dev_log(dev, UVF_LOG_ERROR, "ioeventfd: BAR%u offset 0x%" PRIx64 " lies in the MSI-X table or PBA",
			desc->bar, desc->offset);
		return -EINVAL;
	}
	for (unsigned i = 0; i < dev->nr_ioeventfds; i++) {
		if (collide(&dev->ioeventfds[i], desc)) {
			dev_log(dev, UVF_LOG_ERROR, "ioeventfd: BAR%u offset 0x%" PRIx64 " overlaps ioeventfd %u",
				desc->bar, desc->offset, i);
			return -EINVAL;
		}
	}
	if (dev->nr_ioeventfds >= UVF_SERVER_MAX_IOEVENTFDS)
		return -ENOSPC;

	struct uvf_ioeventfd *grown = realloc(dev->ioeventfds, (dev->nr_ioeventfds + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	dev->ioeventfds = grown;
	/* a version 1 desc ends before fd */
	bool own_fd = desc->flags & UVF_IOEVENTFD_DEVICE_FD;
	int fd = own_fd ? desc->fd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	unsigned id = dev->nr_ioeventfds;
	struct uvf_watch *watch = NULL;
	if (desc->fn) {
		/* watched from now on: a signal before listen waits in the counter */
		watch = calloc(1, sizeof(*watch));
		int err = watch ? uvf__watch(dev, watch, fd, ioeventfd_fired, true) : -ENOMEM;
		if (err < 0) {
			free(watch);
			if (!own_fd)
				close(fd);
			return err;
		}
		watch->id = id;
	}
	dev->ioeventfds[id] = (struct uvf_ioeventfd){
		.bar = desc->bar,
		.offset = desc->offset,
		.size = desc->size,
		.flags = desc->flags,
		.datamatch = desc->datamatch,
		.fn = desc->fn,
		.data = desc->data,
		.fd = fd,
		.watch = watch,
	};
	dev->nr_ioeventfds++;
	return (int)id;
}

int uvf_device_ioeventfd_fd(struct uvf_device *dev, int id)
{
	if (!dev || id < 0 || (unsigned)id >= dev->nr_ioeventfds)
		return -ENOENT;
	return dev->ioeventfds[id].fd;
}

static uint64_t little_endian_value(const uint8_t *buf, uint32_t count)
{
	uint64_t v = 0;
	for (uint32_t i = count; i-- > 0;)
		v = (v << 8) | buf[i];
	return v;
}

static void signal_fd(struct uvf_device *dev, const struct uvf_ioeventfd *e)
{
	uint64_t one = 1;
	/* Only a counter at its maximum refuses the write: it is signalled
	 * already. */
	if (write(e->fd, &one, sizeof(one)) != sizeof(one))
		dev_debug(dev, "ioeventfd BAR%u + 0x%" PRIx64 ": counter full", e->bar, e->offset);
}

bool uvf__ioeventfd_write(struct uvf_device *dev, uint32_t region, uint64_t offset, const void *buf, uint32_t count)
{
	if (region > UVF_PCI_BAR5_REGION || count > 8)
		return false;
	for (unsigned i = 0; i < dev->nr_ioeventfds; i++) {
		const struct uvf_ioeventfd *e = &dev->ioeventfds[i];
		if (e->bar != region || e->offset != offset || (e->size && e->size != count))
			continue;
		if ((e->flags & UVF_IOEVENTFD_DATAMATCH) && little_endian_value(buf, count) != e->datamatch)
			continue;
		signal_fd(dev, e);
		return true;
	}
	return false;
}

bool uvf__ioeventfd_on_bar(const struct uvf_device *dev, uint32_t bar)
{
	return uvf__ioeventfd_count(dev, bar) > 0;
}

unsigned uvf__ioeventfd_count(const struct uvf_device *dev, uint32_t index)
{
	unsigned n = 0;
	for (unsigned i = 0; i < dev->nr_ioeventfds; i++)
		n += dev->ioeventfds[i].bar == index;
	return n;
}

void uvf__ioeventfd_entries(const struct uvf_device *dev, uint32_t index, unsigned max,
			    struct uvf_msg_io_fd_entry *entries, int *fds)
{
	bool pio = index <= UVF_PCI_BAR5_REGION && (dev->bars[index].flags & UVF_BAR_IO);
	unsigned n = 0;

	for (unsigned i = 0; i < dev->nr_ioeventfds && n < max; i++) {
		const struct uvf_ioeventfd *e = &dev->ioeventfds[i];
		if (e->bar != index)
			continue;
		memset(&entries[n], 0, sizeof(entries[n]));
		entries[n].offset = e->offset;
		entries[n].size = e->size;
		entries[n].fd_index = n;
		entries[n].type = UVF_IO_FD_TYPE_IOEVENTFD;
		entries[n].flags = ((e->flags & UVF_IOEVENTFD_DATAMATCH) ? UVF_IOEVENTFD_FLAG_DATAMATCH : 0) |
				   (pio ? UVF_IOEVENTFD_FLAG_PIO : 0);
		entries[n].datamatch = (e->flags & UVF_IOEVENTFD_DATAMATCH) ? e->datamatch : 0;
		fds[n] = e->fd;
		n++;
	}
}

/* The loop saw ioeventfd w->id signalled: run its callback. */
static void ioeventfd_fired(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	uint64_t count;

	(void)round;
	if (w->id >= dev->nr_ioeventfds)
		return;
	const struct uvf_ioeventfd *e = &dev->ioeventfds[w->id];
	/* non-blocking: another reader (or an earlier event) may have
	 * drained it */
	if (read(e->fd, &count, sizeof(count)) != sizeof(count) || !count || !e->fn)
		return;
	e->fn(dev, e->data, count);
}

void uvf__ioeventfds_free(struct uvf_device *dev)
{
	for (unsigned i = 0; i < dev->nr_ioeventfds; i++) {
		close(dev->ioeventfds[i].fd); /* leaves the epoll set with it */
		free(dev->ioeventfds[i].watch);
	}
	free(dev->ioeventfds);
	dev->ioeventfds = NULL;
	dev->nr_ioeventfds = 0;
}
