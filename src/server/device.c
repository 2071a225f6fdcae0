/* SPDX-License-Identifier: MIT */
/*
 * The device: its life cycle (new, free) and its description (PCI ids,
 * BARs, ROM, interrupts, capabilities, callbacks), all set before listen.
 * Serving (listen, the connection, the event loop) is serve.c; command
 * handling dispatch.c, regions regions.c, DMA dma.c, interrupts irq.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util.h"

/*
 * The locks of the threading contract (the DMA table has none: its
 * readers never block DMA_MAP and DMA_UNMAP, see dma_readers.h).
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
	dev->twin.fd = -1;
	dev->cb.version = UVF_DEVICE_CALLBACKS_VERSION;
	struct uvf_serve_opts defaults = UVF_SERVE_OPTS_INIT;
	dev->opts = defaults;
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++)
		dev->irqs[i].unmask_fd = -1;
	ret = uvf__serve_init(dev);
	if (ret < 0) {
		uvf_device_free(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

void uvf_device_free(struct uvf_device *dev)
{
	if (!dev)
		return;
	uvf__serve_close(dev); /* the client goes first: its DMA and interrupts end */
	uvf__dma_free(dev);
	uvf__irqs_free(dev);
	uvf__msix_free(&dev->msix);
	uvf__ioeventfds_free(dev);
	uvf__bars_free(dev);
	free(dev->rom);
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
	const uint32_t known =
		UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH | UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_ACCESS_CALLBACKS;
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
	/* memory the callbacks serve: they must be there to */
	if ((desc->flags & UVF_BAR_ACCESS_CALLBACKS) && (!(desc->flags & UVF_BAR_MEMORY) || !desc->read))
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
	return uvf_device_add_capability_at(dev, 0, cap_id, body, len, writable);
}

int uvf_device_add_capability_at(struct uvf_device *dev, uint16_t offset, uint8_t cap_id, const void *body,
				 size_t len, const void *writable)
{
	if (!dev || (!body && len) || len > sizeof(dev->cfg_desc.user_caps[0].body) || (offset && offset < 0x40) ||
	    offset > 0xfc)
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (dev->cfg_desc.nr_user_caps >= UVF_CONFIG_MAX_USER_CAPS)
		return -ENOSPC;
	struct uvf_config_user_cap *cap = &dev->cfg_desc.user_caps[dev->cfg_desc.nr_user_caps];
	memset(cap, 0, sizeof(*cap));
	cap->id = cap_id;
	cap->len = (uint8_t)len;
	cap->at = (uint8_t)offset;
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
	return uvf_device_add_ext_capability_at(dev, 0, id, version, body, len, writable);
}

int uvf_device_add_ext_capability_at(struct uvf_device *dev, uint16_t offset, uint16_t id, uint8_t version,
				     const void *body, size_t len, const void *writable)
{
	struct uvf_config_desc *desc = dev ? &dev->cfg_desc : NULL;

	if (!dev || (!body && len) || id == 0 || id == 0xffff || version > 15 || !desc->pcie.present ||
	    (offset && (offset < 0x100 || offset > 0xffc)))
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	if (desc->nr_ext_caps >= UVF_CONFIG_MAX_EXT_CAPS || len > UVF_CONFIG_EXT_SPACE - desc->ext_pool_used)
		return -ENOSPC;
	struct uvf_config_ext_cap *cap = &desc->ext_caps[desc->nr_ext_caps];
	cap->id = id;
	cap->version = version;
	cap->len = (uint16_t)len;
	cap->at = offset;
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

/* Before listen: where the layout so far puts the first capability with
 * this id (the offsets do not move when more are added). */
static int find_capability_in_layout(struct uvf_device *dev, uint16_t cap_id, bool extended)
{
	struct uvf_config_layout lay;
	const struct uvf_config_desc *d = &dev->cfg_desc;
	int ret = uvf__config_layout(d, &lay);
	if (ret < 0)
		return ret;
	if (extended) {
		for (unsigned i = 0; i < d->nr_ext_caps; i++)
			if (d->ext_caps[i].id == cap_id)
				return lay.ext[i];
		return -ENOENT;
	}
	if (cap_id == UVF_CAP_ID_PM && lay.pm)
		return lay.pm;
	if (cap_id == UVF_CAP_ID_MSI && lay.msi)
		return lay.msi;
	if (cap_id == UVF_CAP_ID_MSIX && lay.msix)
		return lay.msix;
	if (cap_id == UVF_CAP_ID_EXP && lay.pcie)
		return lay.pcie;
	for (unsigned i = 0; i < d->nr_user_caps; i++)
		if (d->user_caps[i].id == cap_id)
			return lay.user[i];
	return -ENOENT;
}

int uvf_device_find_capability(struct uvf_device *dev, uint16_t cap_id, bool extended)
{
	if (!dev || (!extended && cap_id > 0xff))
		return -EINVAL;
	if (!dev->frozen)
		return find_capability_in_layout(dev, cap_id, extended);
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
	if (!dev || !cb || cb->version < 1 || cb->version > UVF_DEVICE_CALLBACKS_VERSION)
		return -EINVAL;
	/* a version 1 struct ends before irq_set */
	memset(&dev->cb, 0, sizeof(dev->cb));
	memcpy(&dev->cb, cb, cb->version == 1 ? offsetof(struct uvf_device_callbacks, irq_set) : sizeof(*cb));
	dev->cb_data = data;
	return 0;
}

int uvf__device_build(struct uvf_device *dev)
{
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
	return 0;
}
