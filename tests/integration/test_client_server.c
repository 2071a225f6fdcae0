/* SPDX-License-Identifier: MIT */
/*
 * Our client against our server over a real UNIX socket: every command,
 * DMA both ways (mapped and by message), interrupts through eventfds,
 * reset, disconnect and reconnect, and hostile input on raw sockets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* The device under test                                                */
/* ------------------------------------------------------------------ */

/*
 * BAR0: 4 KiB library memory, 64-bit prefetchable; a write to 0xff8
 *       ("doorbell") runs a DMA job described at 0x000.. (see below).
 * BAR2: 256 bytes of callback registers, 32-bit memory:
 *       0x00 magic (read-only 0x75766621), 0x04.. scratch, 0x40 "raise
 *       IRQ": value = index << 16 | vector.
 * BAR4: 32 bytes of I/O ports mirroring BAR2's scratch registers.
 * ROM:  4 KiB image.
 * IRQs: INTx, 4 MSI, 8 MSI-X, 1 ERR.
 * DMA job in BAR0: 0x00 op (1 copy, 2 fill), 0x08 src, 0x10 dst, 0x18 len,
 *       0x20 fill byte; 0x28 result (0 or positive errno), then MSI 0.
 */
#define MAGIC 0x75766621u

struct testdev {
	uint32_t regs[64];
	int resets;
	int dma_maps, dma_unmaps;
	int connects, disconnects;
};

static int bar2_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct testdev *t = data;
	uint8_t bytes[256];
	memcpy(bytes, t->regs, sizeof(bytes));
	uint32_t magic = MAGIC;
	memcpy(bytes, &magic, 4);
	memcpy(buf, bytes + offset, len);
	(void)dev;
	return 0;
}

static int bar2_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct testdev *t = data;
	if (offset < 4)
		return -EPERM;
	memcpy((uint8_t *)t->regs + offset, buf, len);
	if (offset == 0x40 && len == 4) {
		uint32_t v;
		memcpy(&v, buf, 4);
		return uvf_irq_trigger(dev, v >> 16, v & 0xffff);
	}
	return 0;
}

static int bar4_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	return bar2_read(dev, data, offset + 4, buf, len);
}

static int bar4_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	return bar2_write(dev, data, offset + 4, buf, len);
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	uint8_t *mem = uvf_device_bar_memory(dev, 0, NULL);
	uint64_t op, src, dst, n, fill;
	(void)data;
	(void)buf;
	if (offset != 0xff8 || len != 8)
		return 0;
	memcpy(&op, mem, 8);
	memcpy(&src, mem + 8, 8);
	memcpy(&dst, mem + 0x10, 8);
	memcpy(&n, mem + 0x18, 8);
	memcpy(&fill, mem + 0x20, 8);
	int ret = -EINVAL;
	uint8_t *tmp = n <= (8u << 20) ? malloc(n ? n : 1) : NULL;
	if (tmp) {
		if (op == 1) {
			ret = uvf_dma_read(dev, src, tmp, n);
			if (ret == 0)
				ret = uvf_dma_write(dev, dst, tmp, n);
		} else if (op == 2) {
			memset(tmp, (int)fill, n);
			ret = uvf_dma_write(dev, dst, tmp, n);
		}
		free(tmp);
	}
	uint64_t result = (uint64_t)-ret;
	memcpy(mem + 0x28, &result, 8);
	uvf_irq_trigger(dev, UVF_PCI_MSI_IRQ, 0);
	return 0;
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct testdev *t = data;
	(void)dev;
	assert_int_equal(reason, UVF_RESET_CLIENT);
	memset(t->regs, 0, sizeof(t->regs));
	t->resets++;
	return 0;
}

static int on_dma_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *r)
{
	((struct testdev *)data)->dma_maps++;
	(void)dev;
	(void)r;
	return 0;
}

static void on_dma_unmap(struct uvf_device *dev, void *data, const struct uvf_dma_range *r)
{
	((struct testdev *)data)->dma_unmaps++;
	(void)dev;
	(void)r;
}

static void on_client(struct uvf_device *dev, void *data, bool connected)
{
	struct testdev *t = data;
	(void)dev;
	if (connected)
		t->connects++;
	else
		t->disconnects++;
}

static struct testdev g_t;
static struct harness g_h;

static struct uvf_device *make_device(struct testdev *t)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00ff, .subsystem_vendor_id = 0x1de0,
				  .subsystem_id = 0x1234, .class_code = 0xff0000, .revision = 3};
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY | UVF_BAR_64BIT | UVF_BAR_PREFETCH,
				    .write = bar0_write};
	struct uvf_bar_desc bar2 = {.size = 256, .read = bar2_read, .write = bar2_write, .data = t};
	struct uvf_bar_desc bar4 = {.size = 32, .flags = UVF_BAR_IO, .read = bar4_read, .write = bar4_write,
				    .data = t};
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	uint8_t rom[3000];

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof(rom); i++)
		rom[i] = (uint8_t)i;
	rom[0] = 0x55;
	rom[1] = 0xaa;
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar2), 0);
	assert_int_equal(uvf_device_set_bar(dev, 4, &bar4), 0);
	assert_int_equal(uvf_device_set_rom(dev, rom, sizeof(rom)), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 4), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSIX_IRQ, 8), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_ERR_IRQ, 1), 0);
	cb.reset = on_reset;
	cb.dma_map = on_dma_map;
	cb.dma_unmap = on_dma_unmap;
	cb.client = on_client;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, t), 0);
	return dev;
}

static int setup(void **state)
{
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(&g_t), NULL);
	*state = &g_h;
	return 0;
}

static int setup_small_xfer(void **state)
{
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.max_data_xfer_size = 1024;
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(&g_t), &opts);
	*state = &g_h;
	return 0;
}

static int teardown(void **state)
{
	harness_stop(*state);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Discovery                                                            */
/* ------------------------------------------------------------------ */

static void version_negotiates_our_limits(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	const struct uvf_server_caps *caps = uvf_client_server_caps(c);
	assert_int_equal(caps->major, 0);
	assert_int_equal(caps->minor, 0);
	assert_int_equal(caps->max_data_xfer_size, 1048576);
	assert_int_equal(caps->max_msg_fds, 8);
	uvf_client_close(c);
}

static void device_info_reports_pci_with_reset(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	struct uvf_msg_device_info info;
	assert_int_equal(uvf_client_device_info(c, &info), 0);
	assert_int_equal(info.flags, UVF_DEVICE_FLAG_PCI | UVF_DEVICE_FLAG_RESET);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(info.num_irqs, 5);
	uvf_client_close(c);
}

static void region_info_describes_every_region(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	struct uvf_client_region r = {.argsz = sizeof(r)};
	static const struct {
		uint64_t size;
		uint32_t flags;
	} want[9] = {
		{4096, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE},
		{0, 0}, /* upper half of BAR0 */
		{256, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE},
		{0, 0},
		{32, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE},
		{0, 0},
		{4096, UVF_REGION_FLAG_READ},
		{256, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE},
		{0, 0}, /* VGA */
	};
	for (uint32_t i = 0; i < 9; i++) {
		assert_int_equal(uvf_client_region_info(c, i, &r), 0);
		assert_int_equal(r.index, i);
		assert_int_equal(r.size, want[i].size);
		assert_int_equal(r.flags, want[i].flags);
		assert_int_equal(r.fd, -1);
	}
	assert_int_equal(uvf_client_region_info(c, 9, &r), -EINVAL);
	uvf_client_close(c);
}

static void irq_info_reports_counts_and_flags(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	struct uvf_msg_irq_info info;
	static const uint32_t counts[4] = {1, 4, 8, 1};
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(uvf_client_irq_info(c, i, &info), 0);
		assert_int_equal(info.index, i);
		assert_int_equal(info.count, counts[i]);
		if (counts[i])
			assert_true(info.flags & UVF_IRQ_INFO_EVENTFD);
	}
	assert_int_equal(uvf_client_irq_info(c, 0, &info), 0);
	assert_true(info.flags & UVF_IRQ_INFO_AUTOMASKED);
	/* REQ without vectors is not offered at all, as in kernel VFIO */
	assert_int_equal(uvf_client_irq_info(c, UVF_PCI_REQ_IRQ, &info), -EINVAL);
	assert_int_not_equal(uvf_client_irq_info(c, 5, &info), 0);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Config space                                                         */
/* ------------------------------------------------------------------ */

static void config_space_has_ids_and_read_only_fields(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint16_t v16;
	uint32_t v32;
	uint8_t v8;
	assert_int_equal(uvf_client_config_read16(c, 0x00, &v16), 0);
	assert_int_equal(v16, 0x1de0);
	assert_int_equal(uvf_client_config_read16(c, 0x02, &v16), 0);
	assert_int_equal(v16, 0x00ff);
	assert_int_equal(uvf_client_config_read32(c, 0x08, &v32), 0);
	assert_int_equal(v32, 0xff000003);
	assert_int_equal(uvf_client_config_read16(c, 0x2e, &v16), 0);
	assert_int_equal(v16, 0x1234);
	/* ids are read-only */
	assert_int_equal(uvf_client_config_write16(c, 0x00, 0xbeef), 0);
	assert_int_equal(uvf_client_config_read16(c, 0x00, &v16), 0);
	assert_int_equal(v16, 0x1de0);
	/* interrupt pin A, line writable */
	assert_int_equal(uvf_client_config_read8(c, 0x3d, &v8), 0);
	assert_int_equal(v8, 1);
	assert_int_equal(uvf_client_config_write8(c, 0x3c, 11), 0);
	assert_int_equal(uvf_client_config_read8(c, 0x3c, &v8), 0);
	assert_int_equal(v8, 11);
	/* capability list: MSI first */
	assert_int_equal(uvf_client_config_read16(c, 0x06, &v16), 0);
	assert_true(v16 & 0x10);
	assert_int_equal(uvf_client_config_read8(c, 0x34, &v8), 0);
	uint8_t cap = v8, id;
	assert_true(cap >= 0x40);
	assert_int_equal(uvf_client_config_read8(c, cap, &id), 0);
	assert_int_equal(id, 0x05);
	uvf_client_close(c);
}

static void config_bar_sizing_matches_regions(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t v;
	/* BAR0: 64-bit prefetchable 4 KiB */
	assert_int_equal(uvf_client_config_write32(c, 0x10, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x10, &v), 0);
	assert_int_equal(v, 0xfffff00c);
	assert_int_equal(uvf_client_config_write32(c, 0x14, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x14, &v), 0);
	assert_int_equal(v, 0xffffffff);
	/* BAR2: 32-bit 256 bytes */
	assert_int_equal(uvf_client_config_write32(c, 0x18, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x18, &v), 0);
	assert_int_equal(v, 0xffffff00);
	/* BAR4: I/O 32 bytes */
	assert_int_equal(uvf_client_config_write32(c, 0x20, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x20, &v), 0);
	assert_int_equal(v & 0xffff, 0xffe1);
	/* absent BAR5 */
	assert_int_equal(uvf_client_config_write32(c, 0x24, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x24, &v), 0);
	assert_int_equal(v, 0);
	/* program an address */
	assert_int_equal(uvf_client_config_write32(c, 0x18, 0xfebf1234), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x18, &v), 0);
	assert_int_equal(v, 0xfebf1200);
	/* ROM BAR: 4 KiB, enable bit */
	assert_int_equal(uvf_client_config_write32(c, 0x30, 0xfffff801), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x30, &v), 0);
	assert_int_equal(v, 0xfffff001);
	/* command register: memory, I/O, bus master */
	assert_int_equal(uvf_client_config_write32(c, 0x04, 0x0407), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x04, &v), 0);
	assert_int_equal(v & 0xffff, 0x0407);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Region access                                                        */
/* ------------------------------------------------------------------ */

static void bar_callbacks_and_memory_are_accessible(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 2, 0, &v, 4), 0);
	assert_int_equal(v, MAGIC);
	v = 0xa5a5f00d;
	assert_int_equal(uvf_client_region_write(c, 2, 8, &v, 4), 0);
	v = 0;
	assert_int_equal(uvf_client_region_read(c, 2, 8, &v, 4), 0);
	assert_int_equal(v, 0xa5a5f00d);
	/* the I/O BAR mirrors the scratch registers at -4 */
	v = 0;
	assert_int_equal(uvf_client_region_read(c, 4, 4, &v, 4), 0);
	assert_int_equal(v, 0xa5a5f00d);
	/* the device refuses a write to its read-only magic */
	assert_int_equal(uvf_client_region_write(c, 2, 0, &v, 4), -EPERM);
	/* library memory BAR */
	uint8_t buf[4096], back[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	assert_int_equal(uvf_client_region_write(c, 0, 0, buf, 0xff0), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 0, back, 0xff0), 0);
	assert_memory_equal(buf, back, 0xff0);
	assert_memory_equal(uvf_device_bar_memory(((struct harness *)*state)->dev, 0, NULL), buf, 0xff0);
	uvf_client_close(c);
}

static void rom_is_readable_and_read_only(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t buf[4096];
	assert_int_equal(uvf_client_region_read(c, 6, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 0x55);
	assert_int_equal(buf[1], 0xaa);
	assert_int_equal(buf[100], 100);
	assert_int_equal(buf[3500], 0xff); /* padding */
	assert_int_equal(uvf_client_region_write(c, 6, 0, buf, 4), -EPERM);
	uvf_client_close(c);
}

static void access_beyond_region_is_refused(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t buf[16];
	assert_int_equal(uvf_client_region_read(c, 2, 252, buf, 8), -EINVAL);
	assert_int_equal(uvf_client_region_read(c, 7, 256, buf, 1), -EINVAL);
	assert_int_equal(uvf_client_region_read(c, 0, UINT64_MAX - 2, buf, 8), -EINVAL);
	assert_int_equal(uvf_client_region_read(c, 1, 0, buf, 4), -EINVAL); /* absent */
	assert_int_equal(uvf_client_region_read(c, 8, 0, buf, 4), -EINVAL); /* VGA */
	/* the connection is still fine afterwards */
	uint32_t v;
	assert_int_equal(uvf_client_region_read(c, 2, 0, &v, 4), 0);
	uvf_client_close(c);
}

static void large_transfers_are_split_at_the_server_limit(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	assert_int_equal(uvf_client_server_caps(c)->max_data_xfer_size, 1024);
	uint8_t buf[4000], back[4000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(uvf_client_region_write(c, 0, 16, buf, sizeof(buf)), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 16, back, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* DMA                                                                  */
/* ------------------------------------------------------------------ */

static int run_job(struct uvf_client *c, uint64_t op, uint64_t src, uint64_t dst, uint64_t len, uint64_t fill)
{
	uint64_t job[5] = {op, src, dst, len, fill}, go = 1, result = 999;
	assert_int_equal(uvf_client_region_write(c, 0, 0, job, sizeof(job)), 0);
	assert_int_equal(uvf_client_region_write(c, 0, 0xff8, &go, 8), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 0x28, &result, 8), 0);
	return (int)result;
}

static void dma_through_shared_memory(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	uint8_t *mem = NULL;
	assert_int_equal(uvf_client_dma_alloc(c, 0x100000, 64 * 1024, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	assert_non_null(mem);
	assert_int_equal(g_t.dma_maps, 1);
	for (int i = 0; i < 8192; i++)
		mem[i] = (uint8_t)(i * 3);
	assert_int_equal(run_job(c, 1, 0x100000, 0x100000 + 32768, 8192, 0), 0);
	assert_memory_equal(mem, mem + 32768, 8192);
	assert_int_equal(run_job(c, 2, 0, 0x100000 + 60000, 5000, 0xab), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(mem[60000 + i], 0xab);
	/* beyond the mapping: the device sees EFAULT */
	assert_int_equal(run_job(c, 2, 0, 0x100000 + 65000, 1000, 1), EFAULT);
	/* overlapping map refused, exact duplicate tolerated by the server */
	assert_int_equal(uvf_client_dma_unregister(c, 0x100000, 64 * 1024), 0);
	assert_int_equal(g_t.dma_unmaps, 1);
	assert_int_equal(run_job(c, 2, 0, 0x100000, 16, 1), EFAULT);
	uvf_client_close(c);
}

static void dma_by_message_in_both_directions(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	size_t size = 3 * 1024 * 1024; /* larger than one message */
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(uvf_client_dma_register(c, 0x40000000, mem, size, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	for (size_t i = 0; i < size / 2; i++)
		mem[i] = (uint8_t)(i * 13 + 1);
	/* 1.5 MiB copy: chunks of at most the client's max_data_xfer_size */
	assert_int_equal(run_job(c, 1, 0x40000000, 0x40000000 + size / 2, size / 2, 0), 0);
	assert_memory_equal(mem, mem + size / 2, size / 2);
	assert_int_equal(uvf_client_dma_unregister(c, 0x40000000, size), 0);
	munmap(mem, size);
	uvf_client_close(c);
}

static void dma_mixed_mapped_and_message_ranges(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t *shared = NULL;
	uint8_t *plain = calloc(1, 16384);
	assert_int_equal(uvf_client_dma_alloc(c, 0x10000, 16384, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&shared),
			 0);
	assert_int_equal(uvf_client_dma_register(c, 0x20000, plain, 16384, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	memset(shared, 0x11, 16384);
	/* copy from the mapped range into the message range and back */
	assert_int_equal(run_job(c, 1, 0x10000, 0x20000, 16384, 0), 0);
	for (int i = 0; i < 16384; i++)
		assert_int_equal(plain[i], 0x11);
	memset(plain, 0x22, 4096);
	assert_int_equal(run_job(c, 1, 0x20000, 0x10000 + 4096, 4096, 0), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(shared[4096 + i], 0x22);
	assert_int_equal(uvf_client_dma_unregister_all(c), 0);
	assert_int_equal(g_t.dma_unmaps, 2);
	uvf_client_close(c);
	free(plain);
}

static void dma_read_only_mapping_refuses_device_writes(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t *mem = NULL;
	assert_int_equal(uvf_client_dma_alloc(c, 0x80000, 4096, UVF_DMA_MAP_FLAG_READ, (void **)&mem), 0);
	assert_int_equal(run_job(c, 2, 0, 0x80000, 16, 7), EACCES);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

static void raise_irq(struct uvf_client *c, uint32_t index, uint32_t vector)
{
	uint32_t v = index << 16 | vector;
	int ret = uvf_client_region_write(c, 2, 0x40, &v, 4);
	assert_true(ret == 0 || ret == -ENOENT);
}

static void msi_vectors_fire_their_eventfds(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 4, fds), 0);
	raise_irq(c, UVF_PCI_MSI_IRQ, 2);
	assert_int_equal(harness_wait_eventfd(fds[2], 2000), 1);
	assert_int_equal(harness_wait_eventfd(fds[0], 50), 0);
	/* masked: latched, delivered on unmask */
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSI_IRQ, 3, 1, true), 0);
	raise_irq(c, UVF_PCI_MSI_IRQ, 3);
	assert_int_equal(harness_wait_eventfd(fds[3], 100), 0);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSI_IRQ, 3, 1, false), 0);
	assert_int_equal(harness_wait_eventfd(fds[3], 2000), 1);
	/* loopback trigger from the client */
	assert_int_equal(uvf_client_irq_trigger(c, UVF_PCI_MSI_IRQ, 1, 1), 0);
	assert_int_equal(harness_wait_eventfd(fds[1], 2000), 1);
	/* out of range */
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 3, 2, fds), -EINVAL);
	/* disable: the device can no longer deliver */
	assert_int_equal(uvf_client_irq_disable(c, UVF_PCI_MSI_IRQ), 0);
	raise_irq(c, UVF_PCI_MSI_IRQ, 0);
	assert_int_equal(harness_wait_eventfd(fds[0], 100), 0);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	uvf_client_close(c);
}

static void msix_eventfds_are_sent_in_chunks(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = i == 5 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* vector 5 left unassigned */
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 8, fds), 0);
	for (uint32_t v = 0; v < 8; v++) {
		raise_irq(c, UVF_PCI_MSIX_IRQ, v);
		if (v != 5)
			assert_int_equal(harness_wait_eventfd(fds[v], 2000), 1);
	}
	for (int i = 0; i < 8; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	uvf_client_close(c);
}

static void intx_is_automasked_until_unmasked(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint16_t status;
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &fd), 0);
	raise_irq(c, UVF_PCI_INTX_IRQ, 0);
	assert_int_equal(harness_wait_eventfd(fd, 2000), 1);
	assert_int_equal(uvf_client_config_read16(c, 0x06, &status), 0);
	assert_true(status & 0x08); /* interrupt status */
	/* automasked: the second one waits for the unmask */
	raise_irq(c, UVF_PCI_INTX_IRQ, 0);
	assert_int_equal(harness_wait_eventfd(fd, 100), 0);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_int_equal(harness_wait_eventfd(fd, 2000), 1);
	/* INTx disable in the command register holds it back */
	assert_int_equal(uvf_client_config_write16(c, 0x04, 0x0400), 0);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	raise_irq(c, UVF_PCI_INTX_IRQ, 0);
	assert_int_equal(harness_wait_eventfd(fd, 100), 0);
	assert_int_equal(uvf_client_config_write16(c, 0x04, 0x0000), 0);
	assert_int_equal(harness_wait_eventfd(fd, 2000), 1);
	/* the resample eventfd unmasks too */
	int ufds[1] = {resample};
	uint8_t payload[20];
	struct uvf_msg_irq_set set = {.argsz = 20,
				      .flags = UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_UNMASK,
				      .index = UVF_PCI_INTX_IRQ,
				      .start = 0,
				      .count = 1};
	memcpy(payload, &set, 20);
	assert_int_equal(uvf_client_call(c, UVF_CMD_DEVICE_SET_IRQS, payload, 20, ufds, 1, NULL, 0, NULL), 0);
	raise_irq(c, UVF_PCI_INTX_IRQ, 0);
	assert_int_equal(harness_wait_eventfd(fd, 100), 0);
	uint64_t one = 1;
	assert_int_equal(write(resample, &one, 8), 8);
	assert_int_equal(harness_wait_eventfd(fd, 2000), 1);
	close(fd);
	close(resample);
	uvf_client_close(c);
}

static void dma_completion_raises_msi(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint8_t *mem = NULL;
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 1, &fd), 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x200000, 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	assert_int_equal(run_job(c, 2, 0, 0x200000, 100, 0x33), 0);
	assert_int_equal(harness_wait_eventfd(fd, 2000), 1);
	assert_int_equal(mem[99], 0x33);
	close(fd);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Reset, disconnect, reconnect                                         */
/* ------------------------------------------------------------------ */

static void reset_restores_config_and_calls_the_device(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t v = 0x12345678;
	uint16_t cmd;
	assert_int_equal(uvf_client_region_write(c, 2, 8, &v, 4), 0);
	assert_int_equal(uvf_client_config_write16(c, 0x04, 0x0006), 0);
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(g_t.resets, 1);
	assert_int_equal(uvf_client_region_read(c, 2, 8, &v, 4), 0);
	assert_int_equal(v, 0);
	assert_int_equal(uvf_client_config_read16(c, 0x04, &cmd), 0);
	assert_int_equal(cmd, 0);
	uvf_client_close(c);
}

static void reconnect_keeps_device_state_and_drops_client_resources(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	uint8_t *mem;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t v = 0xfeedbeef;
	assert_int_equal(uvf_client_region_write(c, 2, 12, &v, 4), 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x300000, 8192, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 1, &fd), 0);
	uvf_client_close(c);

	c = harness_connect(h); /* served once the first one is gone */
	v = 0;
	assert_int_equal(uvf_client_region_read(c, 2, 12, &v, 4), 0);
	assert_int_equal(v, 0xfeedbeef);
	assert_int_equal(g_t.dma_unmaps, 1);  /* the old mapping was dropped */
	assert_false(uvf_irq_enabled(h->dev, UVF_PCI_MSI_IRQ, 0));
	assert_int_equal(run_job(c, 2, 0, 0x300000, 16, 1), EFAULT);
	assert_int_equal(g_t.connects, 2);
	assert_int_equal(g_t.disconnects, 1);
	uvf_client_close(c);
	close(fd);
}

static void many_clients_in_sequence(void **state)
{
	for (int i = 0; i < 20; i++) {
		struct uvf_client *c = harness_connect(*state);
		uint32_t v;
		assert_int_equal(uvf_client_region_read(c, 2, 0, &v, 4), 0);
		assert_int_equal(v, MAGIC);
		uvf_client_close(c);
	}
}

/* ------------------------------------------------------------------ */
/* Hostile and odd input on a raw socket                                */
/* ------------------------------------------------------------------ */

static void command_before_version_costs_only_that_connection(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	struct uvf_msg_device_info info = {.argsz = 16};
	uint8_t reply[64];
	assert_int_equal(harness_raw_call(s, 1, UVF_CMD_DEVICE_GET_INFO, 0, &info, 16, reply, sizeof(reply), NULL),
			 -EINVAL);
	assert_true(harness_raw_closed(s));
	close(s);
	struct uvf_client *c = harness_connect(h);
	assert_int_equal(uvf_client_device_info(c, &info), 0);
	uvf_client_close(c);
}

static void bad_version_json_is_refused(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	uint8_t payload[4 + 16] = {0};
	uint8_t reply[64];
	memcpy(payload + 4, "{not json", 10);
	assert_int_equal(harness_raw_call(s, 1, UVF_CMD_VERSION, 0, payload, 4 + 10, reply, sizeof(reply), NULL),
			 -EINVAL);
	assert_true(harness_raw_closed(s));
	close(s);
	/* a client that connects and closes at once */
	s = harness_raw_connect(h);
	close(s);
	struct uvf_client *c = harness_connect(h);
	uvf_client_close(c);
}

static void oversized_message_closes_without_running_its_body(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	assert_int_equal(harness_raw_version(s), 0);
	/* header claims 64 MiB; the "body" is a valid DEVICE_RESET command
	 * that must never be executed */
	struct uvf_msg_header big = {.msg_id = 7, .command = UVF_CMD_REGION_WRITE, .msg_size = 64u << 20};
	struct uvf_msg_header reset = {.msg_id = 8, .command = UVF_CMD_DEVICE_RESET, .msg_size = 16};
	struct uvf_msg_header both[2] = {big, reset};
	assert_int_equal(send(s, both, sizeof(both), MSG_NOSIGNAL), sizeof(both));
	assert_true(harness_raw_closed(s));
	close(s);
	assert_int_equal(g_t.resets, 0);
	struct uvf_client *c = harness_connect(h);
	uvf_client_close(c);
}

static void unknown_and_wrong_direction_commands_get_errors(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	uint8_t reply[64];
	uint8_t junk[16] = {0};
	assert_int_equal(harness_raw_version(s), 0);
	assert_int_equal(harness_raw_call(s, 2, 14, 0, junk, 16, reply, sizeof(reply), NULL), -ENOSYS);
	assert_int_equal(harness_raw_call(s, 3, 99, 0, NULL, 0, reply, sizeof(reply), NULL), -ENOSYS);
	assert_int_equal(harness_raw_call(s, 4, UVF_CMD_DMA_READ, 0, junk, 16, reply, sizeof(reply), NULL), -EINVAL);
	assert_int_equal(harness_raw_call(s, 5, UVF_CMD_VERSION, 0, junk, 8, reply, sizeof(reply), NULL), -EINVAL);
	/* still serving this connection */
	struct uvf_msg_device_info info = {.argsz = 16};
	size_t rlen;
	assert_int_equal(harness_raw_call(s, 6, UVF_CMD_DEVICE_GET_INFO, 0, &info, 16, reply, sizeof(reply), &rlen),
			 0);
	assert_int_equal(rlen, 16);
	close(s);
}

static void no_reply_is_honoured_even_on_failure(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	uint8_t reply[64];
	size_t rlen;
	assert_int_equal(harness_raw_version(s), 0);
	/* a posted write that succeeds, one that fails, then a read */
	uint8_t w[20];
	struct uvf_msg_region_access a = {.offset = 16, .region = 2, .count = 4};
	uint32_t val = 0x01020304;
	memcpy(w, &a, 16);
	memcpy(w + 16, &val, 4);
	assert_int_equal(harness_raw_call(s, 10, UVF_CMD_REGION_WRITE, UVF_MSG_FLAG_NO_REPLY, w, 20, NULL, 0, NULL),
			 0);
	a.offset = 1000; /* out of range: fails silently */
	memcpy(w, &a, 16);
	assert_int_equal(harness_raw_call(s, 11, UVF_CMD_REGION_WRITE, UVF_MSG_FLAG_NO_REPLY, w, 20, NULL, 0, NULL),
			 0);
	a.offset = 16;
	assert_int_equal(harness_raw_call(s, 12, UVF_CMD_REGION_READ, 0, &a, 16, reply, sizeof(reply), &rlen), 0);
	assert_int_equal(rlen, 20);
	memcpy(&val, reply + 16, 4);
	assert_int_equal(val, 0x01020304);
	close(s);
}

static void malformed_payloads_get_einval_and_keep_the_connection(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	uint8_t reply[64];
	uint8_t p[64] = {0};
	assert_int_equal(harness_raw_version(s), 0);
	/* REGION_WRITE whose count disagrees with the message size */
	struct uvf_msg_region_access a = {.offset = 0, .region = 2, .count = 100};
	memcpy(p, &a, 16);
	assert_int_equal(harness_raw_call(s, 20, UVF_CMD_REGION_WRITE, 0, p, 20, reply, sizeof(reply), NULL), -EINVAL);
	/* DMA_MAP of size 0 */
	struct uvf_msg_dma_map m = {.argsz = 32, .flags = 3, .address = 0x1000, .size = 0};
	memcpy(p, &m, 32);
	assert_int_equal(harness_raw_call(s, 21, UVF_CMD_DMA_MAP, 0, p, 32, reply, sizeof(reply), NULL), -EINVAL);
	/* DMA_MAP wrapping past 2^64 */
	m.size = 0x2000;
	m.address = UINT64_MAX - 0xfff;
	memcpy(p, &m, 32);
	assert_int_equal(harness_raw_call(s, 22, UVF_CMD_DMA_MAP, 0, p, 32, reply, sizeof(reply), NULL), -EINVAL);
	/* DMA_UNMAP of what was never mapped */
	struct uvf_msg_dma_unmap u = {.argsz = 24, .address = 0x5000, .size = 0x1000};
	assert_int_equal(harness_raw_call(s, 23, UVF_CMD_DMA_UNMAP, 0, &u, 24, reply, sizeof(reply), NULL), -ENOENT);
	/* overlapping message-based maps */
	m = (struct uvf_msg_dma_map){.argsz = 32, .flags = 3, .address = 0x10000, .size = 0x4000};
	assert_int_equal(harness_raw_call(s, 24, UVF_CMD_DMA_MAP, 0, &m, 32, reply, sizeof(reply), NULL), 0);
	assert_int_equal(harness_raw_call(s, 25, UVF_CMD_DMA_MAP, 0, &m, 32, reply, sizeof(reply), NULL), 0);
	m.address = 0x12000;
	assert_int_equal(harness_raw_call(s, 26, UVF_CMD_DMA_MAP, 0, &m, 32, reply, sizeof(reply), NULL), -EEXIST);
	/* SET_IRQS with two actions */
	struct uvf_msg_irq_set set = {.argsz = 20, .flags = 0x1 | 0x8 | 0x10, .index = 1, .start = 0, .count = 1};
	assert_int_equal(harness_raw_call(s, 27, UVF_CMD_DEVICE_SET_IRQS, 0, &set, 20, reply, sizeof(reply), NULL),
			 -EINVAL);
	/* SET_IRQS on an index without vectors */
	set = (struct uvf_msg_irq_set){.argsz = 20, .flags = 0x1 | 0x20, .index = 4, .start = 0, .count = 1};
	assert_int_equal(harness_raw_call(s, 28, UVF_CMD_DEVICE_SET_IRQS, 0, &set, 20, reply, sizeof(reply), NULL),
			 -EINVAL);
	/* DEVICE_RESET with a payload */
	assert_int_equal(harness_raw_call(s, 29, UVF_CMD_DEVICE_RESET, 0, p, 4, reply, sizeof(reply), NULL), -EINVAL);
	/* still alive */
	size_t rlen;
	struct uvf_msg_device_info info = {.argsz = 16};
	assert_int_equal(harness_raw_call(s, 30, UVF_CMD_DEVICE_GET_INFO, 0, &info, 16, reply, sizeof(reply), &rlen),
			 0);
	close(s);
}

static void dma_unmap_of_a_range_removes_the_mappings_inside_it(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	uint8_t reply[64];
	assert_int_equal(harness_raw_version(s), 0);
	static const uint64_t at[3] = {0x10000, 0x11000, 0x20000};
	for (int i = 0; i < 3; i++) {
		struct uvf_msg_dma_map m = {.argsz = 32, .flags = 3, .address = at[i], .size = 0x1000};
		assert_int_equal(harness_raw_call(s, (uint16_t)(50 + i), UVF_CMD_DMA_MAP, 0, &m, 32, reply,
						  sizeof(reply), NULL),
				 0);
	}
	/* a range cutting a mapping is refused and removes nothing */
	struct uvf_msg_dma_unmap u = {.argsz = 24, .address = 0x10800, .size = 0x1000};
	assert_int_equal(harness_raw_call(s, 60, UVF_CMD_DMA_UNMAP, 0, &u, 24, reply, sizeof(reply), NULL), -EINVAL);
	assert_int_equal(g_t.dma_unmaps, 0);
	/* a range holding two mappings removes both (a virtual IOMMU does this) */
	u = (struct uvf_msg_dma_unmap){.argsz = 24, .address = 0x10000, .size = 0x8000};
	assert_int_equal(harness_raw_call(s, 61, UVF_CMD_DMA_UNMAP, 0, &u, 24, reply, sizeof(reply), NULL), 0);
	assert_int_equal(g_t.dma_unmaps, 2);
	/* nothing left there */
	assert_int_equal(harness_raw_call(s, 62, UVF_CMD_DMA_UNMAP, 0, &u, 24, reply, sizeof(reply), NULL), -ENOENT);
	/* up to the top of the address space */
	u = (struct uvf_msg_dma_unmap){.argsz = 24, .address = 0x1f000, .size = 0 - 0x1f000ull};
	assert_int_equal(harness_raw_call(s, 63, UVF_CMD_DMA_UNMAP, 0, &u, 24, reply, sizeof(reply), NULL), 0);
	assert_int_equal(g_t.dma_unmaps, 3);
	close(s);
}

static void message_split_across_writes_with_pauses(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	assert_int_equal(harness_raw_version(s), 0);
	struct {
		struct uvf_msg_header hdr;
		struct uvf_msg_region_access a;
	} msg = {{.msg_id = 40, .command = UVF_CMD_REGION_READ, .msg_size = 32}, {.offset = 0, .region = 2, .count = 4}};
	const uint8_t *bytes = (const uint8_t *)&msg;
	for (size_t i = 0; i < sizeof(msg); i++) {
		assert_int_equal(send(s, bytes + i, 1, MSG_NOSIGNAL), 1);
		usleep(2000);
	}
	uint8_t reply[36];
	size_t got = 0;
	while (got < sizeof(reply)) {
		ssize_t n = recv(s, reply + got, sizeof(reply) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	uint32_t magic;
	memcpy(&magic, reply + 32, 4);
	assert_int_equal(magic, MAGIC);
	close(s);
}

/* ------------------------------------------------------------------ */
/* Serving from the user's own event loop                               */
/* ------------------------------------------------------------------ */

struct own_loop {
	struct uvf_device *dev;
	volatile int stop;
	int dispatches;
};

static void *own_loop_thread(void *arg)
{
	struct own_loop *l = arg;
	while (!l->stop) {
		struct pollfd p = {.fd = uvf_device_poll_fd(l->dev), .events = POLLIN};
		if (poll(&p, 1, 20) == 1) {
			assert_true(uvf_device_dispatch(l->dev) >= 0);
			l->dispatches++;
		}
	}
	return NULL;
}

static void serves_from_a_user_event_loop(void **state)
{
	struct testdev t;
	struct own_loop l = {0};
	char dir[] = "/tmp/uvf-loop-XXXXXX", path[64];
	pthread_t thr;
	int before = harness_count_fds();
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	l.dev = make_device(&t);
	uvf_device_set_log(l.dev, NULL, NULL, UVF_LOG_ERROR);
	assert_int_equal(uvf_device_listen(l.dev, path, NULL), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* dispatch never blocks, even with nothing to do */
	assert_int_equal(uvf_device_dispatch(l.dev), 0);
	assert_int_equal(uvf_device_messages_handled(l.dev), 0);
	assert_int_equal(pthread_create(&thr, NULL, own_loop_thread, &l), 0);

	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, path, &opts), 0);
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 2, 0, &v, 4), 0);
	assert_int_equal(v, MAGIC);
	uvf_client_close(c);
	l.stop = 1;
	pthread_join(thr, NULL);
	assert_true(l.dispatches > 0);
	/* at least VERSION and the REGION_READ */
	assert_true(uvf_device_messages_handled(l.dev) >= 2);
	/* stop makes dispatch return 1 */
	uvf_device_stop(l.dev);
	assert_int_equal(uvf_device_dispatch(l.dev), 1);
	uvf_device_free(l.dev);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), before);
}

static void listen_refuses_to_replace_a_regular_file(void **state)
{
	struct testdev t;
	char dir[] = "/tmp/uvf-file-XXXXXX", path[64];
	int before = harness_count_fds();
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/not-a-socket", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	struct uvf_device *dev = make_device(&t);
	uvf_device_set_log(dev, NULL, NULL, UVF_LOG_ERROR);
	assert_int_equal(uvf_device_listen(dev, path, NULL), -EEXIST);
	uvf_device_free(dev);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 8);
	unlink(path);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(version_negotiates_our_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(device_info_reports_pci_with_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(region_info_describes_every_region, setup, teardown),
		cmocka_unit_test_setup_teardown(irq_info_reports_counts_and_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(config_space_has_ids_and_read_only_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(config_bar_sizing_matches_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(bar_callbacks_and_memory_are_accessible, setup, teardown),
		cmocka_unit_test_setup_teardown(rom_is_readable_and_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(access_beyond_region_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(large_transfers_are_split_at_the_server_limit, setup_small_xfer,
						teardown),
		cmocka_unit_test_setup_teardown(dma_through_shared_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_by_message_in_both_directions, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_mixed_mapped_and_message_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_read_only_mapping_refuses_device_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(msi_vectors_fire_their_eventfds, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_eventfds_are_sent_in_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_is_automasked_until_unmasked, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_completion_raises_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(reset_restores_config_and_calls_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(reconnect_keeps_device_state_and_drops_client_resources, setup,
						teardown),
		cmocka_unit_test_setup_teardown(many_clients_in_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(command_before_version_costs_only_that_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_version_json_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_message_closes_without_running_its_body, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_and_wrong_direction_commands_get_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(no_reply_is_honoured_even_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_payloads_get_einval_and_keep_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_unmap_of_a_range_removes_the_mappings_inside_it, setup, teardown),
		cmocka_unit_test_setup_teardown(message_split_across_writes_with_pauses, setup, teardown),
		cmocka_unit_test(serves_from_a_user_event_loop),
		cmocka_unit_test(listen_refuses_to_replace_a_regular_file),
	};
	return cmocka_run_group_tests_name("integration", tests, NULL, NULL);
}
