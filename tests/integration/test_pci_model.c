/* SPDX-License-Identifier: MIT */
/*
 * The PCI device model a guest driver relies on, through our client over a
 * real socket: library capabilities (PM, MSI, MSI-X, PCI Express, extended
 * capabilities), the MSI-X table and PBA served by the library, interrupts
 * raised in the mode the "guest" enabled in config space, INTx as a level,
 * function resets (FLR, D3hot -> D0, DEVICE_RESET), free_data, and the
 * dmatest device driven with MSI-X and through its mapped BAR4.
 */
#include <errno.h>
#include <sys/socket.h>
#include <poll.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"

/* ------------------------------------------------------------------ */
/* The device under test                                                */
/* ------------------------------------------------------------------ */

/*
 * BAR0: 8 KiB of callback registers, 32-bit memory. The MSI-X table (8
 * vectors) sits at 0x1000, its PBA at 0x1800; everything else is the
 * device's: scratch bytes, plus these registers:
 *   0x00 magic (read-only)      0x04 raise: uvf_irq_raise(value)
 *   0x08 result of the last raise/level/trigger (int32)
 *   0x0c INTx level (1 assert, 0 deassert)
 *   0x10 trigger: index << 16 | vector
 *   0x14 mode: uvf_irq_mode() (read)
 * IRQs: INTx, 4 MSI, 8 MSI-X. Capabilities: PM (soft reset on D3hot -> D0),
 * MSI, MSI-X, PCI Express with FLR, a vendor capability, and a device
 * serial number extended capability.
 */
#define MAGIC	     0x6d6f646cu
#define REG_RAISE    0x04
#define REG_RESULT   0x08
#define REG_LEVEL    0x0c
#define REG_TRIGGER  0x10
#define REG_MODE     0x14
#define REG_SCRATCH  0x20
#define TABLE	     0x1000u
#define PBA	     0x1800u
#define MSIX_VECTORS 8u
#define MSI_VECTORS  4u

struct model {
	uint8_t bytes[8192];
	int32_t result;
	int msix_range_calls; /* callbacks that saw table or PBA bytes */
	int resets[4];	      /* by reason */
	enum uvf_reset_reason last_reason;
	uint32_t last_irq_set[4]; /* index, start, count, flags of the last SET_IRQS */
};

static struct model g_m;
static struct harness g_h;

static bool hits_msix(uint64_t offset, size_t len)
{
	return (offset < TABLE + 16 * MSIX_VECTORS && offset + len > TABLE) || (offset < PBA + 8 && offset + len > PBA);
}

static int bar0_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct model *m = data;
	uint32_t v;

	if (hits_msix(offset, len))
		m->msix_range_calls++;
	v = MAGIC;
	memcpy(m->bytes, &v, 4);
	memcpy(m->bytes + REG_RESULT, &m->result, 4);
	v = (uint32_t)uvf_irq_mode(dev);
	memcpy(m->bytes + REG_MODE, &v, 4);
	memcpy(buf, m->bytes + offset, len);
	return 0;
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct model *m = data;
	uint32_t v = 0;

	if (hits_msix(offset, len))
		m->msix_range_calls++;
	memcpy(m->bytes + offset, buf, len);
	if (len != 4)
		return 0;
	memcpy(&v, buf, 4);
	switch (offset) {
	case REG_RAISE:
		m->result = uvf_irq_raise(dev, v);
		break;
	case REG_LEVEL:
		m->result = uvf_irq_set_intx_level(dev, v != 0);
		break;
	case REG_TRIGGER:
		m->result = uvf_irq_trigger(dev, v >> 16, v & 0xffff);
		break;
	default:
		break;
	}
	return 0;
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct model *m = data;
	(void)dev;
	memset(m->bytes, 0, sizeof(m->bytes));
	if ((unsigned)reason < 4)
		m->resets[reason]++;
	m->last_reason = reason;
	return 0;
}

static void on_irq_set(struct uvf_device *dev, void *data, unsigned index, uint32_t start, uint32_t count,
		       uint32_t flags)
{
	struct model *m = data;
	(void)dev;
	m->last_irq_set[0] = index;
	m->last_irq_set[1] = start;
	m->last_irq_set[2] = count;
	m->last_irq_set[3] = flags;
}

static struct uvf_device *make_model(struct model *m)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fe, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 8192, .read = bar0_read, .write = bar0_write, .data = m};
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	static const uint8_t vendor[5] = {'u', 'v', 'f', 0, 1};
	static const uint8_t serial[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	memset(m, 0, sizeof(*m));
	pcie.flr = true;
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_pm(dev, 0), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, MSI_VECTORS), 0);
	assert_int_equal(uvf_device_set_msix(dev, MSIX_VECTORS, 0, TABLE, 0, PBA), 0);
	assert_int_equal(uvf_device_set_pcie(dev, &pcie), 0);
	assert_int_equal(uvf_device_add_vendor_capability(dev, vendor, sizeof(vendor), NULL), 0xa8);
	assert_int_equal(uvf_device_add_ext_capability(dev, 0x0003, 1, serial, sizeof(serial), NULL), 0x100);
	cb.reset = on_reset;
	cb.irq_set = on_irq_set;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, m), 0);
	return dev;
}

static int setup(void **state)
{
	harness_prepare(&g_h);
	harness_start(&g_h, make_model(&g_m), NULL);
	*state = &g_h;
	return 0;
}

static int teardown(void **state)
{
	harness_stop(*state);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static uint16_t cfg16(struct uvf_client *c, uint32_t off)
{
	uint16_t v = 0;
	assert_int_equal(uvf_client_config_read16(c, off, &v), 0);
	return v;
}

static uint32_t cfg32(struct uvf_client *c, uint32_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_config_read32(c, off, &v), 0);
	return v;
}

static void set_cfg16(struct uvf_client *c, uint32_t off, uint16_t v)
{
	assert_int_equal(uvf_client_config_write16(c, off, v), 0);
}

/* Walk the capability chain as a guest does. */
static uint32_t find_cap(struct uvf_client *c, uint8_t id)
{
	uint8_t at = 0, cap = 0;
	assert_int_equal(uvf_client_config_read8(c, 0x34, &at), 0);
	for (int hops = 0; at && hops < 48; hops++) {
		assert_int_equal(uvf_client_config_read8(c, at, &cap), 0);
		if (cap == id)
			return at;
		assert_int_equal(uvf_client_config_read8(c, at + 1u, &at), 0);
	}
	fail_msg("capability 0x%02x not found", id);
	return 0;
}

static uint32_t bar0_read32(struct uvf_client *c, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, off, &v, 4), 0);
	return v;
}

static void bar0_write32(struct uvf_client *c, uint64_t off, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, off, &v, 4), 0);
}

/* Make the device call uvf_irq_raise(vector); returns its result. */
static int dev_raise(struct uvf_client *c, uint32_t vector)
{
	bar0_write32(c, REG_RAISE, vector);
	return (int)bar0_read32(c, REG_RESULT);
}

static void dev_level(struct uvf_client *c, bool asserted)
{
	bar0_write32(c, REG_LEVEL, asserted);
	assert_int_equal((int)bar0_read32(c, REG_RESULT), 0);
}

static int dev_trigger(struct uvf_client *c, uint32_t index, uint32_t vector)
{
	bar0_write32(c, REG_TRIGGER, index << 16 | vector);
	return (int)bar0_read32(c, REG_RESULT);
}

static int dev_mode(struct uvf_client *c)
{
	return (int)bar0_read32(c, REG_MODE);
}

static void open_eventfds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(fds[i] >= 0);
	}
}

static void close_eventfds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* Delivery happens before the server answers the access that caused it,
 * so a short wait is enough to tell "not delivered". */
static bool fired(int fd)
{
	return harness_wait_eventfd(fd, 2000) != 0;
}

static bool quiet(int fd)
{
	return harness_wait_eventfd(fd, 30) == 0;
}

static void msix_entry(struct uvf_client *c, uint32_t v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
	uint32_t e[4] = {(uint32_t)addr, (uint32_t)(addr >> 32), data, ctrl};
	assert_int_equal(uvf_client_region_write(c, 0, TABLE + 16 * v, e, sizeof(e)), 0);
}

static void msix_ctrl(struct uvf_client *c, uint32_t v, uint32_t ctrl)
{
	bar0_write32(c, TABLE + 16 * v + 12, ctrl);
}

static uint64_t pba(struct uvf_client *c)
{
	uint64_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, PBA, &v, 8), 0);
	return v;
}

static uint32_t msix_cap(struct uvf_client *c)
{
	return find_cap(c, 0x11);
}

/* ------------------------------------------------------------------ */
/* Config space                                                         */
/* ------------------------------------------------------------------ */

static void config_is_4k_with_library_caps_and_ext_chain(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, UVF_PCI_CONFIG_REGION, &r), 0);
	assert_int_equal(r.size, 4096);
	assert_int_equal(cfg16(c, 0x06) & 0x10, 0x10);
	assert_int_equal(find_cap(c, 0x01), 0x40);
	assert_int_equal(find_cap(c, 0x05), 0x48);
	assert_int_equal(find_cap(c, 0x11), 0x60);
	assert_int_equal(find_cap(c, 0x10), 0x6c);
	assert_int_equal(find_cap(c, 0x09), 0xa8);
	assert_int_equal(cfg32(c, 0xa8) & 0xffff00ffu, 0x75080009u); /* id, len 8, 'u' */
	assert_int_equal(cfg16(c, 0x42) & 7, 3);		     /* PM version 3 */
	assert_int_equal(cfg16(c, 0x62), MSIX_VECTORS - 1);
	assert_int_equal(cfg32(c, 0x64), TABLE | 0);
	assert_int_equal(cfg32(c, 0x68), PBA | 0);
	assert_int_equal(cfg16(c, 0x6e), 0x0002);
	/* extended chain: the serial number capability alone */
	assert_int_equal(cfg32(c, 0x100), 0x00010003u);
	assert_int_equal(cfg32(c, 0x104), 0x04030201u);
	assert_int_equal(cfg32(c, 0xffc), 0);
	assert_int_equal(uvf_device_find_capability(g_h.dev, 0x10, false), 0x6c);
	assert_int_equal(uvf_device_find_capability(g_h.dev, 0x0003, true), 0x100);
	assert_int_equal(uvf_device_find_capability(g_h.dev, 0x0001, true), -ENOENT);
	assert_int_equal(uvf_device_find_capability(g_h.dev, 0x12, false), -ENOENT);
	/* beyond 4 KiB: refused */
	uint32_t v;
	assert_int_not_equal(uvf_client_config_read32(c, 0x1000, &v), 0);
	uvf_client_close(c);
}

static void bar_sizing_and_command_decode_on_a_pcie_function(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	assert_int_equal(uvf_client_config_write32(c, 0x10, 0xffffffffu), 0);
	assert_int_equal(cfg32(c, 0x10), 0xffffe000u); /* 8 KiB, 32-bit, non-prefetchable */
	assert_int_equal(uvf_client_config_write32(c, 0x10, 0xfe000000u), 0);
	assert_int_equal(cfg32(c, 0x10), 0xfe000000u);
	assert_int_equal(cfg32(c, 0x14), 0); /* absent */
	set_cfg16(c, 0x04, 0xffff);
	assert_int_equal(cfg16(c, 0x04), 0x0546); /* memory, master, parity, SERR, INTx disable */
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* MSI-X                                                                */
/* ------------------------------------------------------------------ */

static void msix_vectors_fire_when_enabled_in_config(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[MSIX_VECTORS];
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);
	assert_int_equal(dev_mode(c), UVF_PCI_INTX_IRQ);
	set_cfg16(c, msix_cap(c) + 2, 0x8000);
	assert_int_equal(dev_mode(c), UVF_PCI_MSIX_IRQ);
	for (uint32_t v = 0; v < MSIX_VECTORS; v++) {
		assert_int_equal(dev_raise(c, v), 0);
		assert_true(fired(fds[v]));
	}
	assert_int_equal(dev_raise(c, MSIX_VECTORS), -EINVAL);
	assert_int_equal(pba(c), 0);
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);
}

static void msix_masked_entry_latches_in_pba_until_table_unmask(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[MSIX_VECTORS];
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);
	set_cfg16(c, msix_cap(c) + 2, 0x8000);
	/* the guest programs vectors 2 and 3, 3 masked */
	msix_entry(c, 2, 0xfee00000u, 0x4022, 0);
	msix_entry(c, 3, 0xfee00000u, 0x4023, 1);
	assert_int_equal(dev_raise(c, 2), 0);
	assert_true(fired(fds[2]));
	assert_int_equal(dev_raise(c, 3), 0);
	assert_true(quiet(fds[3]));
	assert_int_equal(pba(c), 1u << 3);
	/* vector 5 was never programmed: its entry is masked since reset */
	assert_int_equal(dev_raise(c, 5), 0);
	assert_true(quiet(fds[5]));
	assert_int_equal(pba(c), 1u << 3 | 1u << 5);
	/* unmasking through the table's vector control delivers it */
	msix_ctrl(c, 3, 0);
	assert_true(fired(fds[3]));
	assert_int_equal(pba(c), 1u << 5);
	assert_true(quiet(fds[5]));
	msix_ctrl(c, 5, 0);
	assert_true(fired(fds[5]));
	assert_int_equal(pba(c), 0);
	/* one latched delivery, however many raises */
	msix_ctrl(c, 2, 1);
	assert_int_equal(dev_raise(c, 2), 0);
	assert_int_equal(dev_raise(c, 2), 0);
	msix_ctrl(c, 2, 0);
	assert_int_equal(harness_wait_eventfd(fds[2], 2000), 1);
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);
}

static void msix_function_mask_holds_every_vector(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[MSIX_VECTORS];
	uint32_t cap = msix_cap(c);
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);
	set_cfg16(c, cap + 2, 0xc000); /* enable + function mask, as Linux sets up */
	assert_int_equal(dev_raise(c, 1), 0);
	assert_int_equal(dev_raise(c, 6), 0);
	assert_true(quiet(fds[1]));
	assert_true(quiet(fds[6]));
	assert_int_equal(pba(c), 1u << 1 | 1u << 6);
	set_cfg16(c, cap + 2, 0x8000);
	assert_true(fired(fds[1]));
	assert_true(fired(fds[6]));
	assert_int_equal(pba(c), 0);
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);
}

static void msix_table_ignored_until_the_client_writes_it(void **state)
{
	/* A client that emulates the table itself (QEMU) never writes ours:
	 * its reset state (all masked) must not hold the vectors. */
	struct uvf_client *c = harness_connect(*state);
	int fds[MSIX_VECTORS];
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);
	set_cfg16(c, msix_cap(c) + 2, 0x8000);
	assert_int_equal(bar0_read32(c, TABLE + 12), 1); /* masked, per spec */
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(fired(fds[0]));
	/* a write to the table makes its mask bits count */
	msix_ctrl(c, 7, 1);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(quiet(fds[0]));
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);

	/* the next client starts over: ignored again until it writes */
	c = harness_connect(*state);
	open_eventfds(fds, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 1, fds), 0);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(fired(fds[0]));
	close_eventfds(fds, 1);
	uvf_client_close(c);
}

static void msix_client_mask_and_table_mask_both_hold(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[MSIX_VECTORS];
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);
	set_cfg16(c, msix_cap(c) + 2, 0x8000);
	msix_entry(c, 4, 0xfee00000u, 1, 0);
	/* SET_IRQS mask alone */
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, 4, 1, true), 0);
	/* the device heard of it with the request's range and flags */
	assert_int_equal(g_m.last_irq_set[0], UVF_PCI_MSIX_IRQ);
	assert_int_equal(g_m.last_irq_set[1], 4);
	assert_int_equal(g_m.last_irq_set[2], 1);
	assert_int_equal(g_m.last_irq_set[3], UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_MASK);
	assert_int_equal(dev_raise(c, 4), 0);
	assert_true(quiet(fds[4]));
	assert_int_equal(pba(c), 1u << 4);
	/* the table does not override the client's mask, nor the reverse */
	msix_ctrl(c, 4, 1);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, 4, 1, false), 0);
	assert_true(quiet(fds[4]));
	assert_int_equal(pba(c), 1u << 4);
	msix_ctrl(c, 4, 0);
	assert_true(fired(fds[4]));
	assert_int_equal(pba(c), 0);
	/* SET_IRQS mask does not show in the table */
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, 4, 1, true), 0);
	assert_int_equal(bar0_read32(c, TABLE + 16 * 4 + 12), 0);
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);
}

static void msix_table_and_pba_are_served_by_the_library(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t buf[64];

	/* fields through their masks */
	msix_entry(c, 1, 0xfee0100fu, 0xdeadbeef, 0xffffffffu);
	assert_int_equal(bar0_read32(c, TABLE + 16), 0xfee0100cu);
	assert_int_equal(bar0_read32(c, TABLE + 20), 0);
	assert_int_equal(bar0_read32(c, TABLE + 24), 0xdeadbeefu);
	assert_int_equal(bar0_read32(c, TABLE + 28), 1);
	/* the PBA is read-only */
	bar0_write32(c, PBA, 0xffffffffu);
	assert_int_equal(pba(c), 0);
	/* an access across the device's bytes and the table is split */
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(uvf_client_region_write(c, 0, TABLE - 32, buf, sizeof(buf)), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uvf_client_region_read(c, 0, TABLE - 32, buf, sizeof(buf)), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(buf[i], 0x5a); /* the device's scratch */
	assert_int_equal(buf[32], 0x58);	/* table: address low bits 1:0 read 0 */
	assert_int_equal(buf[32 + 12], 0);	/* vector control: only the mask bit */
	assert_int_equal(buf[32 + 16 + 12], 0);
	/* the rest of the BAR is the device's */
	bar0_write32(c, TABLE + 16 * MSIX_VECTORS, 0x12345678u);
	assert_int_equal(bar0_read32(c, TABLE + 16 * MSIX_VECTORS), 0x12345678u);
	bar0_write32(c, PBA + 8, 0x87654321u);
	assert_int_equal(bar0_read32(c, PBA + 8), 0x87654321u);
	assert_int_equal(g_m.msix_range_calls, 0);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Mode resolution and MSI                                              */
/* ------------------------------------------------------------------ */

static void raise_follows_the_mode_the_guest_enabled(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int intx, msi[MSI_VECTORS], msix[MSIX_VECTORS];
	uint32_t msi_at = find_cap(c, 0x05), msix_at = msix_cap(c);

	open_eventfds(&intx, 1);
	open_eventfds(msi, MSI_VECTORS);
	open_eventfds(msix, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, MSI_VECTORS, msi), 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, msix), 0);

	/* nothing enabled: INTx, whatever vector (one shared line) */
	assert_int_equal(dev_mode(c), UVF_PCI_INTX_IRQ);
	assert_int_equal(dev_raise(c, 3), 0);
	assert_true(fired(intx));
	assert_true(quiet(msi[3]));
	assert_int_equal(dev_raise(c, MSIX_VECTORS), -EINVAL);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);

	/* MSI with 2 of its 4 vectors */
	set_cfg16(c, msi_at + 2, 0x0011);
	assert_int_equal(dev_mode(c), UVF_PCI_MSI_IRQ);
	assert_int_equal(dev_raise(c, 1), 0);
	assert_true(fired(msi[1]));
	assert_int_equal(dev_raise(c, 2), -EINVAL);
	assert_true(quiet(intx));

	/* MSI-X takes precedence */
	set_cfg16(c, msix_at + 2, 0x8000);
	assert_int_equal(dev_mode(c), UVF_PCI_MSIX_IRQ);
	assert_int_equal(dev_raise(c, 6), 0);
	assert_true(fired(msix[6]));
	assert_true(quiet(msi[1]));

	/* and back */
	set_cfg16(c, msix_at + 2, 0x0000);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(fired(msi[0]));
	set_cfg16(c, msi_at + 2, 0x0000);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(fired(intx));

	close(intx);
	close_eventfds(msi, MSI_VECTORS);
	close_eventfds(msix, MSIX_VECTORS);
	uvf_client_close(c);
}

static void msi_mask_bit_latches_and_shows_in_pending_register(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[MSI_VECTORS];
	uint32_t at = find_cap(c, 0x05);
	open_eventfds(fds, MSI_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, MSI_VECTORS, fds), 0);
	set_cfg16(c, at + 2, 0x0021); /* 4 vectors */
	assert_int_equal(uvf_client_config_write32(c, at + 0x10, 0x4), 0);
	assert_int_equal(dev_raise(c, 2), 0);
	assert_true(quiet(fds[2]));
	assert_int_equal(cfg32(c, at + 0x14), 0x4);
	assert_int_equal(uvf_client_config_write32(c, at + 0x10, 0x0), 0);
	assert_true(fired(fds[2]));
	assert_int_equal(cfg32(c, at + 0x14), 0);
	close_eventfds(fds, MSI_VECTORS);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* INTx                                                                 */
/* ------------------------------------------------------------------ */

static void intx_level_sets_status_and_fires_again_on_unmask(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd;
	open_eventfds(&fd, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &fd), 0);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0);
	dev_level(c, true);
	assert_true(fired(fd));
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0x08);
	/* asserting again is no new edge */
	dev_level(c, true);
	assert_true(quiet(fd));
	/* EOI while still asserted: fires again (automasked again) */
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_true(fired(fd));
	/* the handler quiets the device, then EOI: nothing more */
	dev_level(c, false);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_true(quiet(fd));
	/* asserted then deasserted while masked: nothing pending */
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, true), 0);
	dev_level(c, true);
	dev_level(c, false);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_true(quiet(fd));
	close(fd);
	uvf_client_close(c);
}

static void intx_disable_holds_the_level_until_enabled(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd;
	open_eventfds(&fd, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &fd), 0);
	set_cfg16(c, 0x04, 0x0400);
	dev_level(c, true);
	assert_true(quiet(fd));
	/* the status bit shows the device's request even while disabled */
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0x08);
	set_cfg16(c, 0x04, 0x0000);
	assert_true(fired(fd));
	/* disabled again, EOI: still held */
	set_cfg16(c, 0x04, 0x0400);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_true(quiet(fd));
	dev_level(c, false);
	set_cfg16(c, 0x04, 0x0000);
	assert_true(quiet(fd));
	close(fd);
	uvf_client_close(c);
}

static void intx_trigger_status_lasts_until_the_client_unmasks(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd;
	open_eventfds(&fd, 1);
	assert_int_equal(dev_trigger(c, UVF_PCI_INTX_IRQ, 0), -ENOENT);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0); /* nobody was told */
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &fd), 0);
	assert_int_equal(dev_trigger(c, UVF_PCI_INTX_IRQ, 0), 0);
	assert_true(fired(fd));
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0x08);
	assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0);
	assert_true(quiet(fd));
	close(fd);
	uvf_client_close(c);
}

static void intx_level_fires_again_on_resample_eventfd(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd, resample;
	open_eventfds(&fd, 1);
	open_eventfds(&resample, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &fd), 0);
	uint8_t payload[20];
	struct uvf_msg_irq_set set = {.argsz = 20,
				      .flags = UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_UNMASK,
				      .index = UVF_PCI_INTX_IRQ,
				      .start = 0,
				      .count = 1};
	memcpy(payload, &set, 20);
	assert_int_equal(uvf_client_call(c, UVF_CMD_DEVICE_SET_IRQS, payload, 20, &resample, 1, NULL, 0, NULL), 0);
	dev_level(c, true);
	assert_true(fired(fd));
	uint64_t one = 1;
	assert_int_equal(write(resample, &one, 8), 8);
	assert_true(fired(fd));
	dev_level(c, false);
	assert_int_equal(write(resample, &one, 8), 8);
	assert_true(quiet(fd));
	close(fd);
	close(resample);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Function resets                                                      */
/* ------------------------------------------------------------------ */

static void flr_through_device_control_resets_the_function(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t exp = find_cap(c, 0x10), msix_at = msix_cap(c);
	int fds[MSIX_VECTORS];
	open_eventfds(fds, MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, MSIX_VECTORS, fds), 0);

	assert_int_equal(cfg32(c, exp + 4) & (1u << 28), 1u << 28); /* FLR capable */
	set_cfg16(c, 0x04, 0x0006);
	set_cfg16(c, msix_at + 2, 0xc000);
	msix_entry(c, 0, 0xfee00000u, 7, 0);
	assert_int_equal(dev_raise(c, 0), 0); /* latched by the function mask */
	assert_int_equal(pba(c), 1);
	bar0_write32(c, REG_SCRATCH, 0xabcdef01u);
	dev_level(c, true);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0x08);

	set_cfg16(c, exp + 8, 0x8000 | cfg16(c, exp + 8));
	assert_int_equal(g_m.resets[UVF_RESET_FLR], 1);
	assert_int_equal(g_m.last_reason, UVF_RESET_FLR);
	assert_int_equal(cfg16(c, exp + 8), 0x2810); /* FLR reads 0, defaults back */
	assert_int_equal(cfg16(c, 0x04), 0);
	assert_int_equal(cfg16(c, 0x06) & 0x08, 0); /* level dropped */
	assert_int_equal(cfg16(c, msix_at + 2), MSIX_VECTORS - 1);
	assert_int_equal(bar0_read32(c, TABLE + 12), 1); /* masked again */
	assert_int_equal(bar0_read32(c, TABLE + 8), 0);
	assert_int_equal(pba(c), 0);
	assert_int_equal(bar0_read32(c, REG_SCRATCH), 0); /* the device's reset ran */
	/* nothing latched survives: re-enabling delivers nothing */
	set_cfg16(c, msix_at + 2, 0x8000);
	for (unsigned v = 0; v < MSIX_VECTORS; v++)
		assert_true(quiet(fds[v]));
	/* the eventfds stay wired (the client's business), and the table
	 * counts again only once written after the reset */
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(fired(fds[0]));
	msix_ctrl(c, 0, 1);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_true(quiet(fds[0]));
	close_eventfds(fds, MSIX_VECTORS);
	uvf_client_close(c);
}

static void d3hot_to_d0_resets_without_no_soft_reset(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t pm = find_cap(c, 0x01);
	assert_int_equal(cfg16(c, pm + 4) & 0x08, 0); /* No_Soft_Reset clear */
	set_cfg16(c, 0x04, 0x0002);
	set_cfg16(c, pm + 4, 0x0003);
	assert_int_equal(cfg16(c, pm + 4) & 3, 3);
	assert_int_equal(g_m.resets[UVF_RESET_PM], 0);
	set_cfg16(c, pm + 4, 0x0001); /* D1: not supported, no change */
	assert_int_equal(cfg16(c, pm + 4) & 3, 3);
	set_cfg16(c, pm + 4, 0x0000);
	assert_int_equal(g_m.resets[UVF_RESET_PM], 1);
	assert_int_equal(g_m.last_reason, UVF_RESET_PM);
	assert_int_equal(cfg16(c, pm + 4) & 3, 0);
	assert_int_equal(cfg16(c, 0x04), 0);
	uvf_client_close(c);
}

static void device_reset_clears_the_msix_table_and_pending_bits(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fd;
	open_eventfds(&fd, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 1, &fd), 0);
	set_cfg16(c, msix_cap(c) + 2, 0x8000);
	msix_entry(c, 0, 0xfee00000u, 3, 1);
	assert_int_equal(dev_raise(c, 0), 0);
	assert_int_equal(pba(c), 1);
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(g_m.resets[UVF_RESET_CLIENT], 1);
	assert_int_equal(pba(c), 0);
	assert_int_equal(bar0_read32(c, TABLE + 8), 0);
	assert_int_equal(bar0_read32(c, TABLE + 12), 1);
	assert_int_equal(dev_mode(c), UVF_PCI_INTX_IRQ);
	close(fd);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* The description API                                                  */
/* ------------------------------------------------------------------ */

static void ignore_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	(void)level;
	(void)line;
}

static void description_rules_for_library_capabilities(void **state)
{
	struct uvf_device *dev;
	struct uvf_bar_desc mem = {.size = 4096, .flags = UVF_BAR_MEMORY};
	struct uvf_bar_desc io = {.size = 32, .flags = UVF_BAR_IO | UVF_BAR_MEMORY};
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	uint8_t body[8] = {0};
	(void)state;

	assert_int_equal(uvf_device_new(&dev), 0);
	uvf_device_set_log(dev, ignore_log, NULL, UVF_LOG_ERROR); /* refusals are logged */
	/* MSI-X needs its BARs first, memory ones, and room for table + PBA */
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(uvf_device_set_bar(dev, 0, &mem), 0);
	assert_int_equal(uvf_device_set_bar(dev, 4, &io), 0);
	assert_int_equal(uvf_device_set_msix(dev, 4, 4, 0, 4, 0x10), -EINVAL);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 0, 0, 0x20), -EINVAL); /* overlap */
	assert_int_equal(uvf_device_set_msix(dev, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 0, 0, 0x800), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSIX_IRQ, 8), -EBUSY);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSIX_IRQ, 4), 0);
	/* options */
	assert_int_equal(uvf_device_set_pm(dev, 0x2), -EINVAL);
	assert_int_equal(uvf_device_set_msi_flags(dev, 0x4), -EINVAL);
	pcie.max_payload = 100;
	assert_int_equal(uvf_device_set_pcie(dev, &pcie), -EINVAL);
	pcie.max_payload = 256;
	pcie.version = 99;
	assert_int_equal(uvf_device_set_pcie(dev, &pcie), -EINVAL);
	/* extended capabilities need PCI Express */
	assert_int_equal(uvf_device_add_ext_capability(dev, 3, 1, body, 8, NULL), -EINVAL);
	assert_int_equal(uvf_device_set_pcie(dev, NULL), 0);
	assert_int_equal(uvf_device_add_ext_capability(dev, 0, 1, body, 8, NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability(dev, 3, 16, body, 8, NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability(dev, 3, 1, body, 8, NULL), 0x100);
	assert_int_equal(uvf_device_add_ext_capability(dev, 0xb, 1, body, 3, NULL), 0x10c);
	assert_int_equal(uvf_device_add_ext_capability(dev, 0xb, 1, NULL, 4000, NULL), -EINVAL);
	/* a user capability with a library capability's id */
	assert_int_equal(uvf_device_add_capability(dev, 0x11, body, 8, NULL), -EINVAL);
	/* PM is not declared: the device may bring its own (after MSI-X 0x40 and PCIe 0x4c) */
	assert_int_equal(uvf_device_add_capability(dev, 0x01, body, 6, NULL), 0x88);
	uvf_device_free(dev);
}

static void library_capabilities_precede_the_devices_own(void **state)
{
	struct uvf_device *dev;
	struct uvf_bar_desc mem = {.size = 4096, .flags = UVF_BAR_MEMORY};
	uint8_t body[6] = {0};
	(void)state;

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &mem), 0);
	assert_int_equal(uvf_device_set_pm(dev, UVF_PM_NO_SOFT_RESET), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 1), 0);
	assert_int_equal(uvf_device_add_capability(dev, 0x09, body, sizeof(body), NULL), 0x60);
	/* the offset handed out must not move */
	assert_int_equal(uvf_device_set_msix(dev, 1, 0, 0, 0, 0x800), -EBUSY);
	assert_int_equal(uvf_device_set_pcie(dev, NULL), -EBUSY);
	assert_int_equal(uvf_device_set_msi_flags(dev, UVF_MSI_32BIT), -EBUSY);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 0), -EBUSY);
	/* changing what keeps its size is fine */
	assert_int_equal(uvf_device_set_pm(dev, 0), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 4), 0);
	assert_int_equal(uvf_device_set_msi_flags(dev, 0), 0);
	assert_int_equal(uvf_device_add_vendor_capability(dev, body, 3, NULL), 0x68);
	/* before listen, the offsets handed out so far */
	assert_int_equal(uvf_device_find_capability(dev, 0x01, false), 0x40);
	assert_int_equal(uvf_device_find_capability(dev, 0x05, false), 0x48);
	assert_int_equal(uvf_device_find_capability(dev, 0x09, false), 0x60);
	assert_int_equal(uvf_device_find_capability(dev, 0x10, false), -ENOENT);
	assert_int_equal(uvf_device_find_capability(dev, 0x0003, true), -ENOENT);
	assert_int_equal(uvf_device_find_capability(dev, 0x100, false), -EINVAL);
	assert_int_equal(uvf_irq_mode(dev), -EINVAL);
	assert_int_equal(uvf_irq_raise(dev, 0), -EINVAL);
	assert_int_equal(uvf_irq_set_intx_level(dev, true), -EINVAL);
	uvf_device_free(dev);
}

/* ------------------------------------------------------------------ */
/* free_data                                                            */
/* ------------------------------------------------------------------ */

static char g_events[16];
static size_t g_nevents;

static void note(char what)
{
	if (g_nevents < sizeof(g_events) - 1)
		g_events[g_nevents++] = what;
}

static void on_client_note(struct uvf_device *dev, void *data, bool connected)
{
	(void)dev;
	assert_ptr_equal(data, &g_nevents);
	note(connected ? 'c' : 'd');
}

static void free_note(void *data)
{
	assert_ptr_equal(data, &g_nevents);
	note('f');
}

static void free_data_runs_once_after_every_other_callback(void **state)
{
	struct harness h;
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fd};
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	(void)state;

	memset(g_events, 0, sizeof(g_events));
	g_nevents = 0;
	/* never listening: still released */
	assert_int_equal(uvf_device_new(&dev), 0);
	cb.free_data = free_note;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, &g_nevents), 0);
	uvf_device_free(dev);
	assert_string_equal(g_events, "f");

	g_nevents = 0;
	memset(g_events, 0, sizeof(g_events));
	harness_prepare(&h);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	cb.client = on_client_note;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, &g_nevents), 0);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);
	uint16_t v;
	assert_int_equal(uvf_client_config_read16(c, 0, &v), 0);
	uvf_client_close(c);
	harness_stop(&h);
	assert_string_equal(g_events, "cdf");
}

/* ------------------------------------------------------------------ */
/* dmatest with MSI-X                                                   */
/* ------------------------------------------------------------------ */

static int setup_dmatest(void **state)
{
	struct uvf_device *dev;
	harness_prepare(&g_h);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	harness_start(&g_h, dev, NULL);
	*state = &g_h;
	return 0;
}

static uint32_t dt_read(struct uvf_client *c, uint32_t reg)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, reg, &v, 4), 0);
	return v;
}

static void dt_write(struct uvf_client *c, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, reg, &v, 4), 0);
}

static void dt_fill(struct uvf_client *c, uint64_t dst, uint32_t len, uint8_t pattern)
{
	dt_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)dst);
	dt_write(c, UVF_DMATEST_REG_DST_HI, (uint32_t)(dst >> 32));
	dt_write(c, UVF_DMATEST_REG_LEN, len);
	dt_write(c, UVF_DMATEST_REG_PATTERN, pattern);
	dt_write(c, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_FILL);
}

static void dmatest_completion_on_the_msix_vector_of_its_register(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int fds[UVF_DMATEST_MSIX_VECTORS];
	uint8_t *mem = NULL;
	struct uvf_client_region r = {.argsz = sizeof(r)};

	assert_int_equal(uvf_client_region_info(c, UVF_PCI_CONFIG_REGION, &r), 0);
	assert_int_equal(r.size, 4096);
	assert_int_equal(uvf_client_region_info(c, UVF_DMATEST_MSIX_BAR, &r), 0);
	assert_int_equal(r.size, 4096);
	assert_int_equal(cfg32(c, find_cap(c, 0x11) + 4), UVF_DMATEST_MSIX_TABLE | UVF_DMATEST_MSIX_BAR);
	assert_int_equal(cfg16(c, find_cap(c, 0x01) + 4) & 0x08, 0x08); /* No_Soft_Reset */

	assert_int_equal(
		uvf_client_dma_alloc(c, 0x100000, 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, (void **)&mem),
		0);
	open_eventfds(fds, UVF_DMATEST_MSIX_VECTORS);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, UVF_DMATEST_MSIX_VECTORS, fds), 0);
	set_cfg16(c, find_cap(c, 0x11) + 2, 0x8000);

	dt_write(c, UVF_DMATEST_REG_IRQ_VECTOR, 2);
	dt_fill(c, 0x100000, 64, 0xab);
	assert_true(fired(fds[2]));
	assert_true(quiet(fds[0]));
	assert_int_equal(mem[63], 0xab);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_STATUS), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_COUNT), 1);

	/* per job; only bits 1:0 are kept */
	dt_write(c, UVF_DMATEST_REG_IRQ_VECTOR, 7);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_VECTOR), 3);
	dt_fill(c, 0x100000, 16, 0xcd);
	assert_true(fired(fds[3]));

	/* masked in the table: latched in the PBA, delivered on unmask */
	uint32_t ctrl = 1;
	assert_int_equal(
		uvf_client_region_write(c, UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_TABLE + 16 * 3 + 12, &ctrl, 4), 0);
	dt_fill(c, 0x100000, 16, 0xce);
	assert_true(quiet(fds[3]));
	uint64_t bits = 0;
	assert_int_equal(uvf_client_region_read(c, UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_PBA, &bits, 8), 0);
	assert_int_equal(bits, 1u << 3);
	ctrl = 0;
	assert_int_equal(
		uvf_client_region_write(c, UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_TABLE + 16 * 3 + 12, &ctrl, 4), 0);
	assert_true(fired(fds[3]));
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_COUNT), 3);
	close_eventfds(fds, UVF_DMATEST_MSIX_VECTORS);
	uvf_client_close(c);
}

static void dmatest_without_msix_keeps_msi_then_intx(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	int msi, intx;
	uint8_t *mem = NULL;

	assert_int_equal(
		uvf_client_dma_alloc(c, 0x100000, 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, (void **)&mem),
		0);
	open_eventfds(&msi, 1);
	open_eventfds(&intx, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	dt_fill(c, 0x100000, 8, 1);
	assert_true(fired(intx));
	/* an MSI eventfd, without enabling MSI in config space: as before */
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 1, &msi), 0);
	dt_write(c, UVF_DMATEST_REG_IRQ_VECTOR, 1); /* ignored outside MSI-X */
	dt_fill(c, 0x100000, 8, 2);
	assert_true(fired(msi));
	assert_true(quiet(intx));
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_COUNT), 2);
	close(msi);
	close(intx);
	uvf_client_close(c);
}

static void dmatest_flr_clears_its_registers(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint32_t exp = find_cap(c, 0x10);
	assert_int_equal(cfg32(c, exp + 4) & (1u << 28), 1u << 28);
	dt_write(c, UVF_DMATEST_REG_IRQ_VECTOR, 3);
	dt_write(c, UVF_DMATEST_REG_CMD, 99); /* fails: EINVAL, counted */
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_CMD_COUNT), 1);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_STATUS), EINVAL);
	set_cfg16(c, exp + 8, 0x8000);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_CMD_COUNT), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_STATUS), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_VECTOR), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	/* D3hot and back keeps state (No_Soft_Reset) */
	uint32_t pm = find_cap(c, 0x01);
	dt_write(c, UVF_DMATEST_REG_LEN, 1234);
	set_cfg16(c, pm + 4, 3);
	set_cfg16(c, pm + 4, 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_LEN), 1234);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* dmatest's mappable BAR4                                              */
/* ------------------------------------------------------------------ */

/* Run a command on BAR4 (SUM or BARFILL); returns STATUS. */
static uint32_t dt_bar4_command(struct uvf_client *c, uint32_t cmd, uint32_t len, uint32_t pattern)
{
	dt_write(c, UVF_DMATEST_REG_LEN, len);
	dt_write(c, UVF_DMATEST_REG_PATTERN, pattern);
	dt_write(c, UVF_DMATEST_REG_CMD, cmd);
	return dt_read(c, UVF_DMATEST_REG_STATUS);
}

/* BAR4 mapped by the client; the pointer covers it whole. */
static uint8_t *dt_map_bar4(struct uvf_client *c)
{
	assert_int_equal(uvf_client_region_map(c, UVF_DMATEST_BAR4), 0);
	uint8_t *p = uvf_client_region_ptr(c, UVF_DMATEST_BAR4, 0, UVF_DMATEST_BAR4_SIZE);
	assert_non_null(p);
	return p;
}

/* The test's own FNV-1a, so a wrong uvf_dmatest_checksum() cannot agree
 * with itself. */
static uint32_t fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = 0x811c9dc5u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x01000193u;
	return h;
}

static void dmatest_checksum_is_fnv1a_32(void **state)
{
	(void)state;
	assert_int_equal(uvf_dmatest_checksum("", 0), 0x811c9dc5u);
	assert_int_equal(uvf_dmatest_checksum("a", 1), 0xe40c292cu); /* published FNV-1a test vector */
	assert_int_equal(uvf_dmatest_checksum("foobar", 6), 0xbf9cf968u);
}

static void dmatest_bar4_is_offered_whole_for_mapping(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	struct uvf_client_region r = {.argsz = sizeof(r)};

	assert_int_equal(uvf_client_region_info(c, UVF_DMATEST_BAR4, &r), 0);
	assert_int_equal(r.size, UVF_DMATEST_BAR4_SIZE);
	assert_int_equal(r.flags & (UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP),
			 UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP);
	assert_true(r.fd >= 0);
	assert_int_equal(r.nr_sparse_areas, 1);
	assert_int_equal(r.sparse_areas[0].offset, 0);
	assert_int_equal(r.sparse_areas[0].size, UVF_DMATEST_BAR4_SIZE);
	/* 64-bit memory BAR: BAR5 is its upper half, no region of its own */
	assert_int_equal(cfg32(c, 0x10 + 4 * UVF_DMATEST_BAR4) & 0x7, 0x4);
	assert_int_equal(uvf_client_region_info(c, UVF_DMATEST_BAR4 + 1, &r), 0);
	assert_int_equal(r.size, 0);
	/* the other BARs stay trapped */
	assert_int_equal(uvf_client_region_info(c, 0, &r), 0);
	assert_int_equal(r.flags & UVF_REGION_FLAG_MMAP, 0);
	uvf_client_close(c);
}

static void dmatest_sum_sees_client_stores_through_the_mapping(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	static uint8_t want[UVF_DMATEST_BAR4_SIZE];
	uint8_t *p = dt_map_bar4(c);

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + (i >> 9));
	memcpy(p, want, sizeof(want)); /* no message: BAR4_WRITES stays 0 */
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_BAR4_WRITES), 0);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, UVF_DMATEST_BAR4_SIZE, 0), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), fnv1a(want, sizeof(want)));
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_CMD_COUNT), 1);
	/* LEN counts, to the byte */
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, 4093, 0), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), fnv1a(want, 4093));
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, 0, 0), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), 0x811c9dc5u);
	/* a store after a SUM is seen by the next one */
	p[100] ^= 0xff;
	want[100] ^= 0xff;
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, 128, 0), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), fnv1a(want, 128));
	/* a REGION_WRITE reaches the same memory, and is counted */
	uint32_t v = 0xa5a5a5a5u;
	assert_int_equal(uvf_client_region_write(c, UVF_DMATEST_BAR4, 8, &v, 4), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_BAR4_WRITES), 1);
	assert_memory_equal(p + 8, &v, 4);
	uvf_client_close(c);
}

static void dmatest_barfill_shows_through_the_mapping(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t *p = dt_map_bar4(c);
	int intx;
	const uint32_t len = UVF_DMATEST_BAR4_SIZE / 2 + 3;

	open_eventfds(&intx, 1);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	memset(p, 0x11, UVF_DMATEST_BAR4_SIZE);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_BARFILL, len, 0xabcdef77u), 0);
	assert_true(fired(intx)); /* completes like the other commands */
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_CMD_COUNT), 1);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_IRQ_COUNT), 1);
	/* read through the pointer: only the low byte of PATTERN, only LEN */
	for (uint32_t i = 0; i < UVF_DMATEST_BAR4_SIZE; i++)
		if (p[i] != (i < len ? 0x77 : 0x11))
			fail_msg("BAR4 byte %u is 0x%02x after BARFILL of %u bytes", i, p[i], len);
	/* SRC and DST do not matter: no DMA, nothing mapped is needed */
	dt_write(c, UVF_DMATEST_REG_DST_LO, 0xdead0000u);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_BARFILL, UVF_DMATEST_BAR4_SIZE, 0x22), 0);
	assert_int_equal(p[UVF_DMATEST_BAR4_SIZE - 1], 0x22);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_BAR4_WRITES), 0);
	close(intx);
	uvf_client_close(c);
}

static void dmatest_bar4_commands_refuse_more_than_the_bar(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t *p = dt_map_bar4(c);

	memset(p, 0x33, UVF_DMATEST_BAR4_SIZE);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, UVF_DMATEST_BAR4_SIZE, 0), 0);
	uint32_t sum = dt_read(c, UVF_DMATEST_REG_SUM);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, UVF_DMATEST_BAR4_SIZE + 1, 0), EINVAL);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), sum); /* kept */
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_BARFILL, UVF_DMATEST_BAR4_SIZE + 1, 0x44), EINVAL);
	assert_int_equal(p[0], 0x33); /* untouched */
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_BARFILL, 0xffffffffu, 0x44), EINVAL);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_CMD_COUNT), 4); /* failures count */
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_BARFILL, UVF_DMATEST_BAR4_SIZE, 0x44), 0);
	assert_int_equal(p[UVF_DMATEST_BAR4_SIZE - 1], 0x44);
	uvf_client_close(c);
}

static void dmatest_reset_clears_bar4_under_the_mapping(void **state)
{
	struct uvf_client *c = harness_connect(*state);
	uint8_t *p = dt_map_bar4(c);
	uint32_t v = 1;

	memset(p, 0x55, UVF_DMATEST_BAR4_SIZE);
	assert_int_equal(uvf_client_region_write(c, UVF_DMATEST_BAR4, 0, &v, 4), 0);
	assert_int_equal(dt_bar4_command(c, UVF_DMATEST_CMD_SUM, 16, 0), 0);
	assert_int_not_equal(dt_read(c, UVF_DMATEST_REG_SUM), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_BAR4_WRITES), 1);
	assert_int_equal(uvf_client_reset(c), 0);
	/* the mapping survives; the memory under it is zeroed */
	for (uint32_t i = 0; i < UVF_DMATEST_BAR4_SIZE; i++)
		if (p[i])
			fail_msg("BAR4 byte %u is 0x%02x after DEVICE_RESET", i, p[i]);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_SUM), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_BAR4_WRITES), 0);
	assert_int_equal(dt_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
}

static void callbacks_of_version_1_and_2_are_accepted(void **state)
{
	struct uvf_device *dev;
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	(void)state;
	assert_int_equal(uvf_device_new(&dev), 0);
	cb.version = 0;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, NULL), -EINVAL);
	cb.version = UVF_DEVICE_CALLBACKS_VERSION + 1;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, NULL), -EINVAL);
	cb.version = 1;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, NULL), 0);
	cb.version = 2;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, NULL), 0);
	uvf_device_free(dev);
}

/* The device's own config space range: its bytes come from the
 * callback, writes reach it and not the image, straddling accesses are
 * split. */
struct cfg_hook_state {
	uint8_t regs[16];
	unsigned calls;
	uint32_t last_offset;
	size_t last_len;
};

static int cfg_hook(struct uvf_device *dev, void *data, uint32_t offset, void *buf, size_t len, bool is_write)
{
	struct cfg_hook_state *st = data;
	(void)dev;
	st->calls++;
	st->last_offset = offset;
	st->last_len = len;
	if (offset == 0xcc)
		return -EPERM;
	if (is_write)
		memcpy(st->regs + (offset - 0xc0), buf, len);
	else
		memcpy(buf, st->regs + (offset - 0xc0), len);
	return 0;
}

static void config_ranges_go_to_the_device(void **state)
{
	static struct cfg_hook_state st;
	struct harness h;
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fe, .class_code = 0xff0000};
	(void)state;

	memset(&st, 0, sizeof(st));
	for (unsigned i = 0; i < sizeof(st.regs); i++)
		st.regs[i] = (uint8_t)(0xa0 + i);
	harness_prepare(&h);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_config_access(dev, 0xc0, 0xc0, cfg_hook, &st), -EINVAL);
	assert_int_equal(uvf_device_set_config_access(dev, 0xc0, 4097, cfg_hook, &st), -EINVAL);
	assert_int_equal(uvf_device_set_config_access(dev, 0xc0, 0xd0, NULL, &st), -EINVAL);
	assert_int_equal(uvf_device_set_config_access(dev, 0xc0, 0xd0, cfg_hook, &st), 0);
	assert_int_equal(uvf_device_set_config_access(dev, 0xcf, 0xe0, cfg_hook, &st), -EINVAL); /* overlap */
	assert_int_equal(uvf_device_set_config_access(dev, 0xb0, 0xc1, cfg_hook, &st), -EINVAL); /* overlap */
	harness_start(&h, dev, NULL);
	assert_int_equal(uvf_device_set_config_access(h.dev, 0xe0, 0xf0, cfg_hook, &st), -EBUSY);
	struct uvf_client *c = harness_connect(&h);

	uint8_t b[4];
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0xc4, b, 4), 0);
	assert_int_equal(b[0], 0xa4);
	assert_int_equal(b[3], 0xa7);
	/* straddling: two emulated zero bytes, then two of the device's */
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0xbe, b, 4), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 0);
	assert_int_equal(b[2], 0xa0);
	assert_int_equal(b[3], 0xa1);
	assert_int_equal(st.last_offset, 0xc0);
	assert_int_equal(st.last_len, 2);
	/* ... and across the end of the range */
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0xce, b, 4), 0);
	assert_int_equal(b[0], 0xae);
	assert_int_equal(b[1], 0xaf);
	assert_int_equal(b[2], 0);
	assert_int_equal(st.last_offset, 0xce);
	assert_int_equal(st.last_len, 2);
	/* a write goes to the device, the image keeps its bytes */
	uint32_t v = 0x11223344;
	assert_int_equal(uvf_client_region_write(c, UVF_PCI_CONFIG_REGION, 0xc8, &v, 4), 0);
	assert_int_equal(st.regs[8], 0x44);
	uint8_t img[4];
	assert_int_equal(uvf_device_config_read(h.dev, 0xc8, img, 4), 0);
	assert_int_equal(img[0], 0);
	/* the device's errno reaches the client */
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0xcc, b, 4), -EPERM);
	/* the rest of config space is still emulated */
	uint16_t vid = 0;
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0, &vid, 2), 0);
	assert_int_equal(vid, 0x1de0);
	uvf_client_close(c);
	harness_stop(&h);
}

/* before_command: a command held with -EAGAIN gets no reply and stops
 * the ones after it, until uvf_device_resume(); then both run in order. */
static atomic_int g_hold; /* hold DEVICE_RESET while set */
static atomic_int g_asked;

static int hold_reset(struct uvf_device *dev, void *data, uint16_t command, const void *body, size_t len)
{
	(void)dev, (void)data, (void)body, (void)len;
	atomic_fetch_add(&g_asked, 1);
	return command == UVF_CMD_DEVICE_RESET && atomic_load(&g_hold) ? -EAGAIN : 0;
}

static int count_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	(void)dev, (void)reason;
	atomic_fetch_add((atomic_int *)data, 1);
	return 0;
}

static void held_command_waits_for_resume(void **state)
{
	static atomic_int resets;
	struct harness h;
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fe, .class_code = 0xff0000};
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	(void)state;
	atomic_store(&resets, 0);
	atomic_store(&g_hold, 1);
	atomic_store(&g_asked, 0);
	harness_prepare(&h);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	cb.before_command = hold_reset;
	cb.reset = count_reset;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, &resets), 0);
	uvf_device_resume(NULL);
	uvf_device_resume(dev); /* nothing held: nothing happens */
	harness_start(&h, dev, NULL);
	int sock = harness_raw_connect(&h);
	assert_int_equal(harness_raw_version(sock), 0);
	uint8_t reply[64];
	size_t rlen;
	/* the reset and a read behind it: no reply while held */
	struct uvf_msg_header reset = {.msg_id = 7, .command = UVF_CMD_DEVICE_RESET, .msg_size = 16};
	assert_int_equal(send(sock, &reset, sizeof(reset), MSG_NOSIGNAL), 16);
	struct pollfd p = {.fd = sock, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 200), 0);
	assert_int_equal(atomic_load(&resets), 0);
	assert_true(atomic_load(&g_asked) >= 1);
	atomic_store(&g_hold, 0);
	uvf_device_resume(h.dev);
	assert_int_equal(poll(&p, 1, 5000), 1);
	struct uvf_msg_header rh;
	assert_int_equal(recv(sock, &rh, sizeof(rh), MSG_WAITALL), (ssize_t)sizeof(rh));
	assert_int_equal(rh.msg_id, 7);
	assert_int_equal(rh.flags & UVF_MSG_FLAG_ERROR, 0);
	assert_int_equal(atomic_load(&resets), 1);
	/* and commands flow again */
	assert_int_equal(harness_raw_call(sock, 8, UVF_CMD_DEVICE_RESET, 0, NULL, 0, reply, sizeof(reply), &rlen), 0);
	assert_int_equal(atomic_load(&resets), 2);
	close(sock);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(callbacks_of_version_1_and_2_are_accepted),
		cmocka_unit_test(config_ranges_go_to_the_device),
		cmocka_unit_test(held_command_waits_for_resume),
		cmocka_unit_test_setup_teardown(config_is_4k_with_library_caps_and_ext_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(bar_sizing_and_command_decode_on_a_pcie_function, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_vectors_fire_when_enabled_in_config, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_masked_entry_latches_in_pba_until_table_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_function_mask_holds_every_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_table_ignored_until_the_client_writes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_client_mask_and_table_mask_both_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_table_and_pba_are_served_by_the_library, setup, teardown),
		cmocka_unit_test_setup_teardown(raise_follows_the_mode_the_guest_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(msi_mask_bit_latches_and_shows_in_pending_register, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_level_sets_status_and_fires_again_on_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_disable_holds_the_level_until_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_trigger_status_lasts_until_the_client_unmasks, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_level_fires_again_on_resample_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(flr_through_device_control_resets_the_function, setup, teardown),
		cmocka_unit_test_setup_teardown(d3hot_to_d0_resets_without_no_soft_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(device_reset_clears_the_msix_table_and_pending_bits, setup, teardown),
		cmocka_unit_test(description_rules_for_library_capabilities),
		cmocka_unit_test(library_capabilities_precede_the_devices_own),
		cmocka_unit_test(free_data_runs_once_after_every_other_callback),
		cmocka_unit_test_setup_teardown(dmatest_completion_on_the_msix_vector_of_its_register, setup_dmatest,
						teardown),
		cmocka_unit_test_setup_teardown(dmatest_without_msix_keeps_msi_then_intx, setup_dmatest, teardown),
		cmocka_unit_test_setup_teardown(dmatest_flr_clears_its_registers, setup_dmatest, teardown),
		cmocka_unit_test(dmatest_checksum_is_fnv1a_32),
		cmocka_unit_test_setup_teardown(dmatest_bar4_is_offered_whole_for_mapping, setup_dmatest, teardown),
		cmocka_unit_test_setup_teardown(dmatest_sum_sees_client_stores_through_the_mapping, setup_dmatest,
						teardown),
		cmocka_unit_test_setup_teardown(dmatest_barfill_shows_through_the_mapping, setup_dmatest, teardown),
		cmocka_unit_test_setup_teardown(dmatest_bar4_commands_refuse_more_than_the_bar, setup_dmatest,
						teardown),
		cmocka_unit_test_setup_teardown(dmatest_reset_clears_bar4_under_the_mapping, setup_dmatest, teardown),
	};
	return cmocka_run_group_tests_name("pci_model", tests, NULL, NULL);
}
