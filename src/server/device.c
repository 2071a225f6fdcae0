/* SPDX-License-Identifier: MIT */
/*
 * Device context: description, listening, the connection and the event
 * loop. Command handling lives in dispatch.c, regions in regions.c, DMA in
 * dma.c, interrupts in irq.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"
#include "util.h"

/* epoll tags */
enum { TAG_LISTEN = 1, TAG_CONN = 2, TAG_STOP = 3, TAG_INTX_UNMASK = 4, TAG_KICK = 5, TAG_DMA_TIMER = 6, TAG_TWIN = 7,
       TAG_HANDSHAKE = 8 };

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * The locks of the threading contract. The DMA table's rwlock prefers
 * writers: device threads copying in a loop must not starve DMA_MAP and
 * DMA_UNMAP (nobody takes it for reading twice in a row, so this cannot
 * deadlock).
 */
static int init_locks(struct uvf_device *dev)
{
	int ret = uvf__dma_table_init(&dev->dma);

	if (ret < 0)
		return ret;
	if ((ret = pthread_mutex_init(&dev->irq_lock, NULL)) != 0)
		goto no_irq;
	if ((ret = pthread_mutex_init(&dev->twin.lock, NULL)) != 0)
		goto no_twin;
	if ((ret = pthread_mutex_init(&dev->sub_lock, NULL)) != 0)
		goto no_sub;
	if ((ret = pthread_cond_init(&dev->sub_cond, NULL)) != 0)
		goto no_cond;
	return 0;
no_cond:
	pthread_mutex_destroy(&dev->sub_lock);
no_sub:
	pthread_mutex_destroy(&dev->twin.lock);
no_twin:
	pthread_mutex_destroy(&dev->irq_lock);
no_irq:
	uvf__dma_table_destroy(&dev->dma);
	return -ret;
}

static void destroy_locks(struct uvf_device *dev)
{
	pthread_cond_destroy(&dev->sub_cond);
	pthread_mutex_destroy(&dev->sub_lock);
	pthread_mutex_destroy(&dev->twin.lock);
	pthread_mutex_destroy(&dev->irq_lock);
	uvf__dma_table_destroy(&dev->dma);
}

int uvf_device_new(struct uvf_device **out)
{
	struct uvf_device *dev;

	if (!out)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	int ret = init_locks(dev);
	if (ret < 0) {
		free(dev);
		return ret;
	}
	uvf__logger_init(&dev->log, NULL, NULL, UVF_LOG_WARNING);
	dev->listen_fd = -1;
	dev->conn_fd = -1;
	dev->stop_fd = -1;
	dev->kick_fd = -1;
	dev->dma_timer_fd = -1;
	dev->handshake_timer_fd = -1;
	dev->twin.fd = -1;
	dev->cb.version = UVF_DEVICE_CALLBACKS_VERSION;
	struct uvf_serve_opts defaults = UVF_SERVE_OPTS_INIT;
	dev->opts = defaults;
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++)
		dev->irqs[i].unmask_fd = -1;
	dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->dma_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	dev->handshake_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (dev->epoll_fd < 0 || dev->stop_fd < 0 || dev->kick_fd < 0 || dev->dma_timer_fd < 0 ||
	    dev->handshake_timer_fd < 0) {
		int err = -errno;
		uvf_device_free(dev);
		return err;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_STOP};
	struct epoll_event kick = {.events = EPOLLIN, .data.u64 = TAG_KICK};
	if (epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->stop_fd, &ev) < 0 ||
	    epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->kick_fd, &kick) < 0 ||
	    epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->dma_timer_fd,
		      &(struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_DMA_TIMER}) < 0 ||
	    epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->handshake_timer_fd,
		      &(struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_HANDSHAKE}) < 0) {
		int err = -errno;
		uvf_device_free(dev);
		return err;
	}
	*out = dev;
	return 0;
}

static void drop_client(struct uvf_device *dev, const char *why);
static void handshake_timer(struct uvf_device *dev, int ms);

void uvf_device_free(struct uvf_device *dev)
{
	if (!dev)
		return;
	if (dev->conn_fd >= 0)
		drop_client(dev, "device freed");
	uvf__dma_async_cancel(dev, -ECANCELED);
	close_fd(&dev->listen_fd);
	if (dev->socket_path) {
		unlink(dev->socket_path);
		free(dev->socket_path);
	}
	close_fd(&dev->epoll_fd);
	close_fd(&dev->stop_fd);
	close_fd(&dev->kick_fd);
	close_fd(&dev->dma_timer_fd);
	close_fd(&dev->handshake_timer_fd);
	uvf__rx_destroy(&dev->rx);
	uvf__rx_destroy(&dev->wait_rx);
	uvf__rx_ahead_reset(&dev->ahead);
	uvf__dma_free(dev);
	uvf__irqs_free(dev);
	uvf__msix_free(&dev->msix);
	uvf__ioeventfds_free(dev);
	uvf__bars_free(dev);
	free(dev->rom);
	free(dev->queue);
	/* last: no callback can run any more */
	if (dev->cb.free_data)
		dev->cb.free_data(dev->cb_data);
	uvf__rx_destroy(&dev->twin.rx);
	destroy_locks(dev);
	free(dev);
}

void uvf_device_set_user_data(struct uvf_device *dev, void *data)
{
	dev->user_data = data;
}

void *uvf_device_user_data(struct uvf_device *dev)
{
	return dev->user_data;
}

void uvf_device_set_log(struct uvf_device *dev, uvf_log_fn fn, void *data, enum uvf_log_level max_level)
{
	uvf__logger_init(&dev->log, fn, data, max_level);
}

void uvf_device_log(struct uvf_device *dev, enum uvf_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!dev || level > dev->log.max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	uvf__log(&dev->log, level, "%s", line);
}

int uvf_device_set_pci_ids(struct uvf_device *dev, const struct uvf_pci_ids *ids)
{
	if (!dev || !ids)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (ids->vendor_id == 0 || ids->vendor_id == 0xffff || ids->class_code > 0xffffff)
		return -EINVAL;
	dev->ids = *ids;
	dev->ids_set = true;
	return 0;
}

int uvf_device_set_bar(struct uvf_device *dev, unsigned index, const struct uvf_bar_desc *desc)
{
	if (!dev || !desc || index > 5)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	const uint32_t known = UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH | UVF_BAR_MEMORY | UVF_BAR_MMAP;
	bool io = desc->flags & UVF_BAR_IO;
	bool is64 = desc->flags & UVF_BAR_64BIT;

	if ((desc->flags & ~known) || !uvf__is_pow2(desc->size))
		return -EINVAL;
	if (io && (is64 || (desc->flags & UVF_BAR_PREFETCH) || desc->size < 4 || desc->size > 256))
		return -EINVAL;
	if (!io && desc->size < 16)
		return -EINVAL;
	if (!is64 && !io && desc->size > (1ull << 31))
		return -EINVAL;
	if (!(desc->flags & UVF_BAR_MEMORY) && !desc->read)
		return -EINVAL;
	/* mappable memory is whole pages of library memory */
	if ((desc->flags & UVF_BAR_MMAP) && (io || !(desc->flags & UVF_BAR_MEMORY) || desc->size % 4096))
		return -EINVAL;
	if (is64 && index == 5)
		return -EINVAL;
	/* the slot (and its partner) must be free */
	if (dev->bars[index].size || (index > 0 && (dev->bars[index - 1].flags & UVF_BAR_64BIT)))
		return -EINVAL;
	if (is64 && dev->bars[index + 1].size)
		return -EINVAL;

	struct uvf_bar *bar = &dev->bars[index];
	if (desc->flags & UVF_BAR_MEMORY) {
		int ret = uvf__bar_memory_alloc(bar, index, desc->size, desc->flags);
		if (ret < 0)
			return ret;
	}
	bar->size = desc->size;
	bar->flags = desc->flags;
	bar->read = desc->read;
	bar->write = desc->write;
	bar->data = desc->data;
	return 0;
}

void *uvf_device_bar_memory(struct uvf_device *dev, unsigned index, size_t *size)
{
	if (!dev || index > 5 || !dev->bars[index].mem)
		return NULL;
	if (size)
		*size = (size_t)dev->bars[index].size;
	return dev->bars[index].mem;
}

int uvf_device_set_rom(struct uvf_device *dev, const void *image, size_t size)
{
	if (!dev || (!image && size))
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (size > (16u << 20))
		return -EINVAL;
	uint64_t rsize = 2048;
	while (rsize < size)
		rsize <<= 1;
	uint8_t *rom = malloc(rsize);
	if (!rom)
		return -ENOMEM;
	memset(rom, 0xff, rsize);
	if (size)
		memcpy(rom, image, size);
	free(dev->rom);
	dev->rom = rom;
	dev->rom_size = size ? rsize : 0;
	if (!size) {
		free(rom);
		dev->rom = NULL;
	}
	return 0;
}

/* Library capabilities precede the device's own: once the device added
 * one, adding, removing or resizing a library capability would move the
 * offsets uvf_device_add_capability() returned. */
static bool layout_fixed(const struct uvf_device *dev)
{
	return dev->cfg_desc.nr_user_caps > 0;
}

int uvf_device_set_irq_count(struct uvf_device *dev, unsigned index, uint32_t count)
{
	if (!dev || index >= UVF_PCI_NUM_IRQS)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	switch (index) {
	case UVF_PCI_INTX_IRQ:
	case UVF_PCI_ERR_IRQ:
	case UVF_PCI_REQ_IRQ:
		if (count > 1)
			return -EINVAL;
		break;
	case UVF_PCI_MSI_IRQ:
		if (count > 32 || (count && !uvf__is_pow2(count)))
			return -EINVAL;
		if (layout_fixed(dev) && (count > 0) != (dev->irq_count[index] > 0))
			return -EBUSY;
		dev->cfg_desc.msi_count = count;
		break;
	case UVF_PCI_MSIX_IRQ:
		if (count > 2048)
			return -EINVAL;
		/* the capability's table has its own size */
		if (dev->cfg_desc.msix.count && count != dev->cfg_desc.msix.count)
			return -EBUSY;
		break;
	}
	dev->irq_count[index] = count;
	return 0;
}

int uvf_device_set_pm(struct uvf_device *dev, uint32_t flags)
{
	if (!dev || (flags & ~UVF_PM_NO_SOFT_RESET))
		return -EINVAL;
	if (dev->frozen || (layout_fixed(dev) && !dev->cfg_desc.pm))
		return -EBUSY;
	dev->cfg_desc.pm = true;
	dev->cfg_desc.pm_no_soft_reset = flags & UVF_PM_NO_SOFT_RESET;
	return 0;
}

int uvf_device_set_msi_flags(struct uvf_device *dev, uint32_t flags)
{
	if (!dev || (flags & ~(UVF_MSI_32BIT | UVF_MSI_NO_MASK)))
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	/* the capability's size depends on the flags */
	if (layout_fixed(dev) && dev->cfg_desc.msi_count && flags != dev->cfg_desc.msi_flags)
		return -EBUSY;
	dev->cfg_desc.msi_flags = flags;
	return 0;
}

static void desc_bars(const struct uvf_device *dev, struct uvf_config_bar bars[6])
{
	for (unsigned i = 0; i < 6; i++) {
		bars[i].size = dev->bars[i].size;
		bars[i].flags = dev->bars[i].flags & (UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH);
	}
}

int uvf_device_set_msix(struct uvf_device *dev, uint32_t count, unsigned table_bar, uint32_t table_offset,
			unsigned pba_bar, uint32_t pba_offset)
{
	if (!dev || table_bar > 5 || pba_bar > 5)
		return -EINVAL;
	if (dev->frozen || (layout_fixed(dev) && !dev->cfg_desc.msix.count))
		return -EBUSY;
	struct uvf_config_msix msix = {.count = count,
				       .table_bar = (uint8_t)table_bar,
				       .pba_bar = (uint8_t)pba_bar,
				       .table_offset = table_offset,
				       .pba_offset = pba_offset};
	struct uvf_config_bar bars[6];
	desc_bars(dev, bars);
	if (uvf__config_check_msix(&msix, bars) < 0) {
		dev_log(dev, UVF_LOG_ERROR,
			"MSI-X: %u vectors with table at BAR%u + 0x%x and PBA at BAR%u + 0x%x do not fit the BARs",
			count, table_bar, table_offset, pba_bar, pba_offset);
		return -EINVAL;
	}
	dev->cfg_desc.msix = msix;
	dev->irq_count[UVF_PCI_MSIX_IRQ] = count;
	return 0;
}

int uvf_device_set_pcie(struct uvf_device *dev, const struct uvf_pcie_opts *opts)
{
	struct uvf_pcie_opts defaults = UVF_PCIE_OPTS_INIT;

	if (!dev)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	if (opts->version != UVF_PCIE_OPTS_VERSION)
		return -EINVAL;
	struct uvf_config_pcie pcie = {.present = true,
				       .port_type = opts->port_type,
				       .max_payload = opts->max_payload,
				       .flr = opts->flr,
				       .link_speed = opts->link_speed,
				       .link_width = opts->link_width};
	if (uvf__config_check_pcie(&pcie) < 0)
		return -EINVAL;
	if (dev->frozen || (layout_fixed(dev) && !dev->cfg_desc.pcie.present))
		return -EBUSY;
	dev->cfg_desc.pcie = pcie;
	return 0;
}

int uvf_device_add_capability(struct uvf_device *dev, uint8_t cap_id, const void *body, size_t len,
			      const void *writable)
{
	if (!dev || (!body && len) || len > sizeof(dev->cfg_desc.user_caps[0].body))
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (dev->cfg_desc.nr_user_caps >= UVF_CONFIG_MAX_USER_CAPS)
		return -ENOSPC;
	struct uvf_config_user_cap *cap = &dev->cfg_desc.user_caps[dev->cfg_desc.nr_user_caps];
	memset(cap, 0, sizeof(*cap));
	cap->id = cap_id;
	cap->len = (uint8_t)len;
	if (len)
		memcpy(cap->body, body, len);
	if (writable && len)
		memcpy(cap->writable, writable, len);

	/* Lay the chain out now so the caller learns the offset (and ENOSPC). */
	dev->cfg_desc.nr_user_caps++;
	struct uvf_config_layout lay;
	int ret = uvf__config_layout(&dev->cfg_desc, &lay);
	if (ret < 0) {
		dev->cfg_desc.nr_user_caps--;
		return ret;
	}
	return lay.user[dev->cfg_desc.nr_user_caps - 1];
}

int uvf_device_add_vendor_capability(struct uvf_device *dev, const void *data, size_t len, const void *writable)
{
	uint8_t body[254] = {0}, mask[254] = {0};

	/* The length byte counts the id, next and itself. */
	if (!dev || (!data && len) || len > sizeof(body) - 1)
		return -EINVAL;
	body[0] = (uint8_t)(len + 3);
	if (len)
		memcpy(body + 1, data, len);
	if (writable && len)
		memcpy(mask + 1, writable, len);
	return uvf_device_add_capability(dev, UVF_CAP_ID_VNDR, body, len + 1, mask);
}

int uvf_device_add_ext_capability(struct uvf_device *dev, uint16_t id, uint8_t version, const void *body, size_t len,
				  const void *writable)
{
	struct uvf_config_desc *desc = dev ? &dev->cfg_desc : NULL;

	if (!dev || (!body && len) || id == 0 || id == 0xffff || version > 15 || !desc->pcie.present)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (desc->nr_ext_caps >= UVF_CONFIG_MAX_EXT_CAPS || len > UVF_CONFIG_EXT_SPACE - desc->ext_pool_used)
		return -ENOSPC;
	struct uvf_config_ext_cap *cap = &desc->ext_caps[desc->nr_ext_caps];
	cap->id = id;
	cap->version = version;
	cap->len = (uint16_t)len;
	cap->pool = desc->ext_pool_used;
	if (len)
		memcpy(&desc->ext_body[cap->pool], body, len);
	memset(&desc->ext_writable[cap->pool], 0, len);
	if (writable && len)
		memcpy(&desc->ext_writable[cap->pool], writable, len);

	desc->nr_ext_caps++;
	struct uvf_config_layout lay;
	int ret = uvf__config_layout(desc, &lay);
	if (ret < 0) {
		desc->nr_ext_caps--;
		return ret;
	}
	desc->ext_pool_used = (uint16_t)(desc->ext_pool_used + len);
	return lay.ext[desc->nr_ext_caps - 1];
}

int uvf_device_find_capability(struct uvf_device *dev, uint16_t cap_id, bool extended)
{
	if (!dev || !dev->frozen || (!extended && cap_id > 0xff))
		return -EINVAL;
	uint32_t at = extended ? uvf__config_find_ext_cap(&dev->cfg, cap_id)
			       : uvf__config_find_cap(&dev->cfg, (uint8_t)cap_id);
	return at ? (int)at : -ENOENT;
}

int uvf_device_config_read(struct uvf_device *dev, uint32_t offset, void *buf, size_t len)
{
	if (!dev || !buf || !dev->frozen)
		return -EINVAL;
	if (offset > dev->cfg.size || len > dev->cfg.size - offset)
		return -EINVAL;
	uvf__irq_lock(dev); /* interrupt bits change from device threads */
	uvf__config_read(&dev->cfg, offset, buf, len);
	uvf__irq_unlock(dev);
	return 0;
}

int uvf_device_set_callbacks(struct uvf_device *dev, const struct uvf_device_callbacks *cb, void *data)
{
	if (!dev || !cb || cb->version != UVF_DEVICE_CALLBACKS_VERSION)
		return -EINVAL;
	dev->cb = *cb;
	dev->cb_data = data;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Freezing and listening                                               */
/* ------------------------------------------------------------------ */

static int freeze(struct uvf_device *dev, const struct uvf_serve_opts *opts)
{
	if (dev->frozen)
		return -EBUSY;
	if (!dev->ids_set) {
		dev_log(dev, UVF_LOG_ERROR, "device has no PCI ids: call uvf_device_set_pci_ids first");
		return -EINVAL;
	}
	if (opts) {
		if (opts->version != 1 && opts->version != UVF_SERVE_OPTS_VERSION)
			return -EINVAL;
		if (opts->max_data_xfer_size < UVF_CAPS_MIN_XFER || opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT ||
		    opts->max_msg_fds > UVF_SERVER_MAX_MSG_FDS || opts->max_dma_maps == 0 ||
		    opts->max_dma_maps > 65535)
			return -EINVAL;
		if (opts->version >= 2 &&
		    (opts->poll_us > 1000000 ||
		     (opts->peer_check & ~(UVF_PEER_SAME_UID | UVF_PEER_UID | UVF_PEER_GID)) ||
		     opts->handshake_timeout_ms < -1))
			return -EINVAL;
		/* a version 1 struct ends before the version 2 fields */
		struct uvf_serve_opts o = UVF_SERVE_OPTS_INIT;
		o.socket_mode = opts->socket_mode;
		o.max_data_xfer_size = opts->max_data_xfer_size;
		o.max_msg_fds = opts->max_msg_fds;
		o.max_dma_maps = opts->max_dma_maps;
		o.dma_timeout_ms = opts->dma_timeout_ms;
		if (opts->version >= 2) {
			o.poll_us = opts->poll_us;
			o.no_twin_socket = opts->no_twin_socket;
			o.socket_group = opts->socket_group;
			o.peer_check = opts->peer_check;
			o.peer_uid = opts->peer_uid;
			o.peer_gid = opts->peer_gid;
			if (opts->handshake_timeout_ms)
				o.handshake_timeout_ms = opts->handshake_timeout_ms;
		}
		dev->opts = o;
	}

	struct uvf_config_desc *desc = &dev->cfg_desc;
	desc->ids = dev->ids;
	desc_bars(dev, desc->bars);
	desc->rom_size = dev->rom_size;
	desc->intx = dev->irq_count[UVF_PCI_INTX_IRQ] > 0;
	desc->msi_count = dev->irq_count[UVF_PCI_MSI_IRQ];
	int ret = uvf__config_build(&dev->cfg, desc);
	if (ret < 0) {
		dev_log(dev, UVF_LOG_ERROR, "config space cannot be built: %s", uvf_strerror(ret));
		return ret;
	}
	ret = uvf__irqs_init(dev);
	if (ret < 0)
		return ret;
	uvf__msix_free(&dev->msix); /* from an earlier, failed listen */
	if (desc->msix.count) {
		ret = uvf__msix_init(&dev->msix, desc->msix.count, desc->msix.table_bar, desc->msix.table_offset,
				     desc->msix.pba_bar, desc->msix.pba_offset);
		if (ret < 0)
			return ret;
	}

	/* Largest message we accept: a full REGION_WRITE, or VERSION JSON. */
	dev->max_msg_size = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_region_access) + dev->opts.max_data_xfer_size;
	if (dev->max_msg_size < UVF_MSG_HEADER_SIZE + 4 + UVF_CAPS_JSON_MAX + 1)
		dev->max_msg_size = UVF_MSG_HEADER_SIZE + 4 + UVF_CAPS_JSON_MAX + 1;
	/* ... or the largest REGION_WRITE_MULTI we accept */
	if (dev->max_msg_size < UVF_MSG_HEADER_SIZE + sizeof(struct uvf_write_multi) +
					 UVF_WRITE_MULTI_MAX_ENTRIES * sizeof(struct uvf_write_multi_entry))
		dev->max_msg_size = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_write_multi) +
				    UVF_WRITE_MULTI_MAX_ENTRIES * sizeof(struct uvf_write_multi_entry);
	uvf__rx_init(&dev->rx, dev->max_msg_size);
	uvf__rx_init(&dev->wait_rx, dev->max_msg_size);
	dev->rx.ahead = dev->wait_rx.ahead = &dev->ahead;
	dev->frozen = true;
	return 0;
}

static int watch(struct uvf_device *dev, int fd, uint64_t tag, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	if (epoll_ctl(dev->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		return -errno;
	return 0;
}

static int start_listening(struct uvf_device *dev, int fd)
{
	int ret = watch(dev, fd, TAG_LISTEN, true);
	if (ret < 0) {
		dev->frozen = false;
		return ret; /* fd stays with the caller */
	}
	dev->listen_fd = fd;
	dev->listen_watched = true;
	return 0;
}

int uvf_device_listen(struct uvf_device *dev, const char *path, const struct uvf_serve_opts *opts)
{
	struct uvf_why why = {{0}};
	int fd, ret;

	if (!dev || !path)
		return -EINVAL;
	ret = freeze(dev, opts);
	if (ret < 0)
		return ret;
	ret = uvf__sock_listen_group(path, dev->opts.socket_mode ? dev->opts.socket_mode : 0600, dev->opts.socket_group,
				     &fd, &why);
	if (ret < 0) {
		dev_log(dev, UVF_LOG_ERROR, "cannot listen on %s: %s", path, why.text[0] ? why.text : uvf_strerror(ret));
		dev->frozen = false;
		return ret;
	}
	dev->socket_path = strdup(path);
	if (!dev->socket_path) {
		close(fd);
		unlink(path);
		dev->frozen = false;
		return -ENOMEM;
	}
	ret = start_listening(dev, fd);
	if (ret < 0) {
		close(fd);
		unlink(path);
		free(dev->socket_path);
		dev->socket_path = NULL;
		return ret;
	}
	dev_info(dev, "listening on %s", path);
	return 0;
}

int uvf_device_listen_fd(struct uvf_device *dev, int fd, const struct uvf_serve_opts *opts)
{
	if (!dev || fd < 0)
		return -EINVAL;
	int ret = freeze(dev, opts);
	if (ret < 0)
		return ret;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		dev->frozen = false;
		return -errno;
	}
	return start_listening(dev, fd);
}

int uvf_device_poll_fd(struct uvf_device *dev)
{
	return dev ? dev->epoll_fd : -EINVAL;
}

bool uvf_device_client_connected(struct uvf_device *dev)
{
	return dev && __atomic_load_n(&dev->client_live, __ATOMIC_ACQUIRE);
}

bool uvf__on_dispatch_thread(struct uvf_device *dev)
{
	if (!__atomic_load_n(&dev->dispatch_known, __ATOMIC_ACQUIRE))
		return true; /* nothing dispatched yet: no client either */
	pthread_t t;
	__atomic_load(&dev->dispatch_thread, &t, __ATOMIC_ACQUIRE);
	return pthread_equal(t, pthread_self());
}

/* Remember the dispatch thread; a store only when it changes. */
static void note_dispatch_thread(struct uvf_device *dev)
{
	pthread_t self = pthread_self();

	if (__atomic_load_n(&dev->dispatch_known, __ATOMIC_RELAXED) && pthread_equal(dev->dispatch_thread, self))
		return;
	/* a different thread dispatches from now on (the application's
	 * choice: never two at once) */
	__atomic_store_n(&dev->dispatch_known, false, __ATOMIC_RELEASE);
	__atomic_store(&dev->dispatch_thread, &self, __ATOMIC_RELEASE);
	__atomic_store_n(&dev->dispatch_known, true, __ATOMIC_RELEASE);
}

void uvf__kick(struct uvf_device *dev)
{
	uint64_t one = 1;
	ssize_t n = write(dev->kick_fd, &one, sizeof(one));
	(void)n; /* a full counter already means "run" */
}

void uvf_device_stop(struct uvf_device *dev)
{
	uint64_t one = 1;
	/* write(2) is async-signal-safe; the result does not matter: a full
	 * counter already means "stop". */
	if (dev && dev->stop_fd >= 0) {
		ssize_t n = write(dev->stop_fd, &one, sizeof(one));
		(void)n;
	}
}

/* ------------------------------------------------------------------ */
/* The connection                                                       */
/* ------------------------------------------------------------------ */

int uvf__send_to_client(struct uvf_device *dev, struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	if (dev->conn_fd < 0)
		return -ENOTCONN;
	int ret = uvf__msg_sendv(dev->conn_fd, iov, iovcnt, fds, nfds, dev->opts.dma_timeout_ms);
	if (ret < 0) {
		dev_warn(dev, "sending to the client failed: %s", uvf_strerror(ret));
		dev->drop_requested = true;
	}
	return ret;
}

static void queue_clear(struct uvf_device *dev)
{
	for (size_t i = dev->queue_head; i < dev->queue_len; i++) {
		struct uvf_queued_msg *q = &dev->queue[i];
		for (size_t f = 0; f < q->nfds; f++)
			if (q->fds[f] >= 0)
				close(q->fds[f]);
		free(q->body);
	}
	dev->queue_len = dev->queue_head = dev->queue_bytes = 0;
}

int uvf__queue_push(struct uvf_device *dev, struct uvf_rx *rx)
{
	size_t len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;

	if (dev->queue_len - dev->queue_head >= UVF_SERVER_QUEUE_MAX ||
	    dev->queue_bytes + len > UVF_SERVER_QUEUE_BYTES)
		return -ENOBUFS;
	if (dev->queue_head == dev->queue_len)
		dev->queue_head = dev->queue_len = 0;
	if (!dev->queue) {
		dev->queue = calloc(UVF_SERVER_QUEUE_MAX, sizeof(*dev->queue));
		if (!dev->queue)
			return -ENOMEM;
	}
	if (dev->queue_len == UVF_SERVER_QUEUE_MAX) {
		/* compact */
		size_t live = dev->queue_len - dev->queue_head;
		memmove(dev->queue, dev->queue + dev->queue_head, live * sizeof(*dev->queue));
		dev->queue_head = 0;
		dev->queue_len = live;
	}
	struct uvf_queued_msg *q = &dev->queue[dev->queue_len];
	memset(q, 0, sizeof(*q));
	q->hdr = rx->hdr;
	if (len) {
		q->body = malloc(len);
		if (!q->body)
			return -ENOMEM;
		memcpy(q->body, rx->body, len);
	}
	q->nfds = uvf__rx_take_fds(rx, q->fds, UVF_SERVER_MAX_MSG_FDS);
	q->fds_overflow = rx->fds_overflow || rx->nfds > q->nfds;
	dev->queue_len++;
	dev->queue_bytes += len;
	/* make the poll fd readable: the queue must run even if the socket
	 * has nothing more to say */
	uint64_t one = 1;
	ssize_t n = write(dev->kick_fd, &one, sizeof(one));
	(void)n;
	return 0;
}

int uvf__twin_attach(struct uvf_device *dev, int fd)
{
	pthread_mutex_lock(&dev->twin.lock);
	dev->twin.fd = fd;
	uvf__twin_reset_locked(dev);
	pthread_mutex_unlock(&dev->twin.lock);
	return watch(dev, fd, TAG_TWIN, true);
}

static void twin_detach(struct uvf_device *dev)
{
	if (dev->twin.fd < 0)
		return;
	/* wake a device thread waiting for a reply there: it lets go of the
	 * lock at once instead of at its timeout */
	shutdown(dev->twin.fd, SHUT_RDWR);
	pthread_mutex_lock(&dev->twin.lock);
	watch(dev, dev->twin.fd, TAG_TWIN, false);
	close_fd(&dev->twin.fd);
	uvf__twin_reset_locked(dev);
	pthread_mutex_unlock(&dev->twin.lock);
}

static void drop_client(struct uvf_device *dev, const char *why)
{
	if (dev->conn_fd < 0)
		return;
	dev_info(dev, "client disconnected: %s", why);
	/* device threads start no more DMA for this client (see dma_async.c) */
	pthread_mutex_lock(&dev->sub_lock);
	__atomic_store_n(&dev->client_live, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->sub_lock);
	twin_detach(dev);
	handshake_timer(dev, -1);
	bool was_negotiated = dev->negotiated;
	watch(dev, dev->conn_fd, TAG_CONN, false);
	close_fd(&dev->conn_fd);
	dev->negotiated = false;
	dev->drop_requested = false;
	/* forget any half-received message of the departed client */
	uvf__rx_destroy(&dev->rx);
	uvf__rx_destroy(&dev->wait_rx);
	uvf__rx_ahead_reset(&dev->ahead);
	uvf__rx_init(&dev->rx, dev->max_msg_size);
	uvf__rx_init(&dev->wait_rx, dev->max_msg_size);
	dev->rx.ahead = dev->wait_rx.ahead = &dev->ahead;
	queue_clear(dev);
	/* transfers in flight end before their memory goes away */
	uvf__dma_async_cancel(dev, -ENOTCONN);
	uvf__migration_client_gone(dev); /* logging off, streams dropped */
	uvf__dma_unmap_all(dev);
	uvf__irqs_drop_client(dev);
	if (dev->listen_fd >= 0 && !dev->listen_watched && watch(dev, dev->listen_fd, TAG_LISTEN, true) == 0)
		dev->listen_watched = true;
	if (was_negotiated && dev->cb.client)
		dev->cb.client(dev, dev->cb_data, false);
}

/* Arm (ms >= 0) or disarm (ms < 0) the VERSION deadline. */
static void handshake_timer(struct uvf_device *dev, int ms)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (ms >= 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
		if (ms == 0)
			its.it_value.tv_nsec = 1; /* zero would disarm it */
	}
	timerfd_settime(dev->handshake_timer_fd, 0, &its, NULL);
}

/* The peer checks of the serve options: whether the process at the other
 * end of fd may be served. Refusals are logged with who it was. */
static bool peer_allowed(struct uvf_device *dev, int fd)
{
	uint32_t checks = dev->opts.peer_check;
	pid_t pid;
	uid_t uid;
	gid_t gid;

	if (!checks)
		return true;
	int ret = uvf__sock_peer_cred(fd, &pid, &uid, &gid);
	if (ret < 0) {
		dev_warn(dev, "refusing a client whose credentials cannot be read: %s", uvf_strerror(ret));
		return false;
	}
	if (((checks & UVF_PEER_SAME_UID) && uid == geteuid()) || ((checks & UVF_PEER_UID) && uid == dev->opts.peer_uid) ||
	    ((checks & UVF_PEER_GID) && gid == dev->opts.peer_gid))
		return true;
	dev_warn(dev, "refusing a client: pid %ld uid %lu gid %lu fails the peer check", (long)pid, (unsigned long)uid,
		 (unsigned long)gid);
	return false;
}

static int accept_client(struct uvf_device *dev)
{
	int fd;
	int ret = uvf__sock_accept(dev->listen_fd, &fd);

	if (ret == -EAGAIN || ret == -EINTR || ret == -ECONNABORTED)
		return 0;
	if (ret < 0) {
		dev_log(dev, UVF_LOG_ERROR, "accept failed: %s", uvf_strerror(ret));
		/* EMFILE and friends are transient; only a dead socket is fatal */
		return (ret == -EBADF || ret == -EINVAL || ret == -ENOTSOCK) ? ret : 0;
	}
	if (!peer_allowed(dev, fd)) {
		close(fd);
		return 0; /* the listening socket stays watched for the next one */
	}
	dev->conn_fd = fd;
	dev->negotiated = false;
	dev->drop_requested = false;
	__atomic_store_n(&dev->next_dma_id, 1, __ATOMIC_RELAXED); /* device threads take ids */
	ret = watch(dev, fd, TAG_CONN, true);
	if (ret < 0) {
		close_fd(&dev->conn_fd);
		return 0;
	}
	/* one client at a time: others wait in the backlog */
	if (dev->listen_watched && watch(dev, dev->listen_fd, TAG_LISTEN, false) == 0)
		dev->listen_watched = false;
	handshake_timer(dev, dev->opts.handshake_timeout_ms);
	dev_info(dev, "client connected");
	return 0;
}

/* Run one message held by rx, then release it. */
static void run_rx_message(struct uvf_device *dev, struct uvf_rx *rx)
{
	bool was_negotiated = dev->negotiated;
	dev->in_command = true;
	int ret = uvf__handle_message(dev, &rx->hdr, rx->body, rx->fds, rx->nfds, rx->fds_overflow);
	dev->in_command = false;
	/* handlers that keep an fd set its slot to -1; release closes the rest */
	uvf__rx_release(rx);
	if (ret < 0)
		dev->drop_requested = true;
	else if (!was_negotiated && dev->negotiated) {
		handshake_timer(dev, -1);
		if (dev->cb.client)
			dev->cb.client(dev, dev->cb_data, true);
	}
}

static void run_queued(struct uvf_device *dev)
{
	while (dev->conn_fd >= 0 && !dev->drop_requested && dev->queue_head < dev->queue_len) {
		struct uvf_queued_msg q = dev->queue[dev->queue_head++];
		dev->queue_bytes -= q.hdr.msg_size - UVF_MSG_HEADER_SIZE;
		dev->in_command = true;
		int ret = uvf__handle_message(dev, &q.hdr, q.body, q.fds, q.nfds, q.fds_overflow);
		dev->in_command = false;
		for (size_t f = 0; f < q.nfds; f++)
			if (q.fds[f] >= 0)
				close(q.fds[f]);
		free(q.body);
		if (ret < 0)
			dev->drop_requested = true;
	}
}

/* Read and run client messages: every complete one (drain) or the next
 * one only (uvf_device_run: the next epoll_wait tells whether more came,
 * which saves a read that finds nothing). Returns whether one ran. */
static bool service_connection(struct uvf_device *dev, bool drain)
{
	struct uvf_why why = {{0}};
	bool ran = false;

	run_queued(dev);
	while (dev->conn_fd >= 0 && !dev->drop_requested) {
		int ret = uvf__rx_read(&dev->rx, dev->conn_fd, &why);
		if (ret == 0)
			break;
		if (ret < 0) {
			if (ret == -ECONNRESET)
				drop_client(dev, "connection closed by the client");
			else {
				dev_warn(dev, "dropping client: %s", why.text[0] ? why.text : uvf_strerror(ret));
				drop_client(dev, "malformed message");
			}
			return ran;
		}
		run_rx_message(dev, &dev->rx);
		ran = true;
		run_queued(dev);
		/* move DMA a command started (or a reply let go on) before the
		 * next command, so the client sees its effect in order */
		if (dev->dma_ops)
			uvf__dma_async_run(dev);
		/* bytes already read ahead will not wake epoll again */
		if (!drain && !uvf__rx_buffered(&dev->rx))
			break;
	}
	if (dev->drop_requested)
		drop_client(dev, "protocol error");
	return ran;
}

/* Handle what epoll reported. With drain (uvf_device_dispatch) the
 * connection is read whatever was reported. Returns 1 once stopped, a
 * negative errno for a fatal error, else 0; *ran tells whether a client
 * message ran. */
static int process_events(struct uvf_device *dev, const struct epoll_event *events, int n, bool drain, bool *ran)
{
	bool timer_fired = false, kicked = false, conn_ready = drain, twin_ready = drain;
	uint64_t counter;

	note_dispatch_thread(dev);
	*ran = false;
	for (int i = 0; i < n; i++) {
		switch (events[i].data.u64) {
		case TAG_STOP:
			if (read(dev->stop_fd, &counter, sizeof(counter)) == sizeof(counter))
				dev->stopping = true;
			break;
		case TAG_LISTEN:
			if (dev->conn_fd < 0) {
				int ret = accept_client(dev);
				if (ret < 0)
					return ret;
			}
			break;
		case TAG_CONN:
			conn_ready = true;
			break;
		case TAG_KICK:
			if (read(dev->kick_fd, &counter, sizeof(counter)) < 0)
				counter = 0; /* already drained */
			/* queued commands, DMA to start, or replies a device
			 * thread read on the twin socket */
			kicked = conn_ready = true;
			break;
		case TAG_TWIN:
			twin_ready = true;
			break;
		case TAG_INTX_UNMASK:
			uvf__irq_intx_resample(dev);
			break;
		case TAG_DMA_TIMER:
			timer_fired = true; /* drained by uvf__dma_async_run */
			break;
		case TAG_HANDSHAKE:
			if (read(dev->handshake_timer_fd, &counter, sizeof(counter)) == sizeof(counter) &&
			    dev->conn_fd >= 0 && !dev->negotiated) {
				dev_warn(dev, "client did not complete VERSION within %d ms", dev->opts.handshake_timeout_ms);
				drop_client(dev, "handshake timeout");
			}
			break;
		default:
			if (events[i].data.u64 >= UVF__EPOLL_TAG_IOEVENTFD)
				uvf__ioeventfd_fired(dev, events[i].data.u64 - UVF__EPOLL_TAG_IOEVENTFD);
			break;
		}
	}
	if ((twin_ready || kicked) && dev->twin.fd >= 0 && uvf__twin_service(dev, twin_ready) < 0)
		drop_client(dev, "twin socket failed");
	if (dev->conn_fd >= 0 && conn_ready)
		*ran = service_connection(dev, drain);
	if (dev->dma_ops || timer_fired || kicked)
		uvf__dma_async_run(dev);
	/* e.g. an asynchronous DMA request that could not be sent */
	if (dev->drop_requested && dev->conn_fd >= 0)
		drop_client(dev, "protocol error");
	if (dev->stopping) {
		dev->stopping = false;
		return 1;
	}
	return 0;
}

int uvf_device_dispatch(struct uvf_device *dev)
{
	struct epoll_event events[8];
	bool ran;

	if (!dev || !dev->frozen || dev->listen_fd < 0)
		return -EINVAL;
	int n = epoll_wait(dev->epoll_fd, events, 8, 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	return process_events(dev, events, n < 0 ? 0 : n, true, &ran);
}

/*
 * Sleep in epoll_wait itself (one system call per wake-up). With poll_us,
 * after a client message the loop polls without sleeping until poll_us
 * passed with nothing to do: a client answering quickly then finds us
 * awake, at the price of a busy CPU.
 */
int uvf_device_run(struct uvf_device *dev)
{
	struct epoll_event events[8];
	uint64_t poll_ns, deadline = 0;
	bool polling = false;

	if (!dev || !dev->frozen || dev->listen_fd < 0)
		return -EINVAL;
	poll_ns = (uint64_t)dev->opts.poll_us * 1000u;
	for (;;) {
		int n = epoll_wait(dev->epoll_fd, events, 8, polling ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			if (polling && uvf__now_ns() >= deadline)
				polling = false;
			continue;
		}
		bool ran;
		int ret = process_events(dev, events, n, false, &ran);
		if (ret < 0)
			return ret;
		if (ret == 1)
			return 0;
		if (ran && poll_ns) {
			polling = true;
			deadline = uvf__now_ns() + poll_ns;
		}
	}
}

int uvf__watch_intx_unmask(struct uvf_device *dev, int fd, bool on)
{
	return watch(dev, fd, TAG_INTX_UNMASK, on);
}
