/* SPDX-License-Identifier: MIT */
/*
 * Regions, config space, capabilities, interrupts and ioeventfds of the
 * libvfio-user API on uvf, each seen from uvf's client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "compat_util.h"
#include "uvf/client.h"

static uint8_t g_bar0[4096];
static uint8_t g_cfg_regs[16];

static ssize_t bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx;
	if (offset == 0x100) {
		errno = EPERM;
		return -1;
	}
	if (offset == 0x104)
		return 1; /* short */
	if (is_write)
		memcpy(g_bar0 + offset, buf, count);
	else
		memcpy(buf, g_bar0 + offset, count);
	compat_event("bar0(%s,%#llx,%zu)", is_write ? "w" : "r", (unsigned long long)offset, count);
	return (ssize_t)count;
}

static ssize_t io_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx, (void)is_write;
	memset(buf, 0x5a + (int)offset, count);
	return (ssize_t)count;
}

static ssize_t rom_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx, (void)is_write;
	for (size_t i = 0; i < count; i++)
		buf[i] = (char)((offset + (loff_t)i) & 0xff);
	return (ssize_t)count;
}

static ssize_t cfg_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx;
	compat_event("cfg(%s,%#llx,%zu)", is_write ? "w" : "r", (unsigned long long)offset, count);
	size_t at = (size_t)offset % sizeof(g_cfg_regs);
	if (at + count > sizeof(g_cfg_regs))
		count = sizeof(g_cfg_regs) - at;
	if (is_write)
		memcpy(g_cfg_regs + at, buf, count);
	else
		memcpy(buf, g_cfg_regs + at, count);
	return (ssize_t)count;
}

static void irq_state(vfu_ctx_t *ctx, uint32_t start, uint32_t count, bool mask)
{
	(void)ctx;
	compat_event("irq(%u,%u,%d)", start, count, mask);
}

static struct uvf_client *connect(struct vfu_server *s)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	opts.log_level = UVF_LOG_ERROR;
	assert_int_equal(uvf_client_connect(&c, s->path, &opts), 0);
	return c;
}

/* A new libvfio-user context in s, at a fresh socket path, logging quietly. */
static void new_device(struct vfu_server *s)
{
	compat_path(s);
	s->ctx = vfu_create_ctx(VFU_TRANS_SOCK, s->path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL, VFU_DEV_TYPE_PCI);
	assert_non_null(s->ctx);
	vfu_setup_log(s->ctx, compat_quiet_log, LOG_DEBUG);
}

/* BAR0: 4 KiB of memory served by bar0_access. */
static int setup_bar0(vfu_ctx_t *ctx)
{
	return vfu_setup_region(ctx, 0, 4096, bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0);
}

/* Config space read-write through cfg_access, with extra_flags besides. */
static int setup_config(vfu_ctx_t *ctx, int extra_flags)
{
	return vfu_setup_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, 0, cfg_access, VFU_REGION_FLAG_RW | extra_flags, NULL,
				0, -1, 0);
}

/* Realize the device, serve it and connect uvf's client to it. */
static struct uvf_client *realize_and_connect(struct vfu_server *s)
{
	assert_int_equal(vfu_realize_ctx(s->ctx), 0);
	compat_serve(s);
	return connect(s);
}

static void regions_are_refused_as_libvfio_user_refuses(void **state)
{
	struct vfu_server s;
	struct iovec area = {.iov_base = 0, .iov_len = 4096};
	(void)state;
	new_device(&s);
	/* flags */
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, bar0_access, 0, NULL, 0, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, bar0_access, VFU_REGION_FLAG_RW | 0x10, NULL, 0, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, NULL, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_ALWAYS_CB, NULL,
					  0, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	/* mmap areas without fd, count without areas */
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, bar0_access, VFU_REGION_FLAG_RW, &area, 1, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, bar0_access, VFU_REGION_FLAG_RW, NULL, 1, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	/* index */
	assert_int_equal(vfu_setup_region(s.ctx, -1, 4096, bar0_access, VFU_REGION_FLAG_RW, NULL, 0, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_region(s.ctx, VFU_PCI_DEV_NUM_REGIONS, 4096, bar0_access, VFU_REGION_FLAG_RW, NULL,
					  0, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	/* config space: read-write, not memory */
	assert_int_equal(vfu_setup_region(s.ctx, VFU_PCI_DEV_CFG_REGION_IDX, 0, cfg_access, VFU_REGION_FLAG_READ, NULL,
					  0, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	/* a size uvf cannot serve as a BAR */
	assert_int_equal(vfu_setup_region(s.ctx, 0, 3000, bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL,
					  0, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	/* no VGA in uvf */
	assert_int_equal(vfu_setup_region(s.ctx, VFU_PCI_DEV_VGA_REGION_IDX, 4096, bar0_access, VFU_REGION_FLAG_RW,
					  NULL, 0, -1, 0),
			 -1);
	assert_int_equal(errno, ENOTSUP);
	assert_int_equal(setup_bar0(s.ctx), 0);
	assert_int_equal(setup_bar0(s.ctx), -1);
	assert_int_equal(errno, EEXIST);
	/* IRQs */
	assert_int_equal(vfu_setup_device_nr_irqs(s.ctx, VFU_DEV_NUM_IRQS, 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_device_nr_irqs(s.ctx, VFU_DEV_INTX_IRQ, 2), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_irq_state_callback(s.ctx, VFU_DEV_NUM_IRQS, irq_state), -1);
	assert_int_equal(errno, EINVAL);
	/* ioeventfds */
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(vfu_create_ioeventfd(s.ctx, 0, efd, 0x10, 4, 0, 0, 3, 0), -1);
	assert_int_equal(errno, ENOTSUP);
	assert_int_equal(vfu_create_ioeventfd(s.ctx, 1, efd, 0x10, 4, 0, 0, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_create_ioeventfd(s.ctx, 0, efd, 0x2000, 4, 0, 0, -1, 0), -1);
	assert_int_equal(errno, EINVAL);
	close(efd);
	vfu_pci_set_id(s.ctx, 0x4e58, 3, 0, 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	/* after realize */
	assert_int_equal(vfu_setup_region(s.ctx, 1, 4096, bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL,
					  0, -1, 0),
			 -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(vfu_setup_device_nr_irqs(s.ctx, VFU_DEV_INTX_IRQ, 1), -1);
	assert_int_equal(errno, EBUSY);
	compat_stop(&s);
}

static void regions_reach_their_callbacks(void **state)
{
	struct vfu_server s;
	char ev[512];
	(void)state;
	new_device(&s);
	assert_int_equal(vfu_pci_init(s.ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0), 0);
	assert_int_equal(vfu_pci_init(s.ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0), -1);
	assert_int_equal(errno, EEXIST);
	vfu_pci_set_id(s.ctx, 0x4e58, 0x0004, 0x1af4, 0x1100);
	vfu_pci_set_class(s.ctx, 0xff, 0x00, 0x00);
	vfu_pci_get_config_space(s.ctx)->hdr.rid = 0x07;
	assert_int_equal(setup_bar0(s.ctx), 0);
	assert_int_equal(vfu_setup_region(s.ctx, 1, 16, io_access, VFU_REGION_FLAG_READ, NULL, 0, -1, 0), 0);
	assert_int_equal(vfu_setup_region(s.ctx, VFU_PCI_DEV_ROM_REGION_IDX, 2048, rom_access, VFU_REGION_FLAG_READ,
					  NULL, 0, -1, 0),
			 0);
	assert_int_equal(setup_config(s.ctx, 0), 0);
	struct uvf_client *c = realize_and_connect(&s);

	/* identity */
	uint32_t id = 0, cc = 0, ss = 0;
	assert_int_equal(uvf_client_config_read32(c, 0, &id), 0);
	assert_int_equal(id, 0x00044e58);
	assert_int_equal(uvf_client_config_read32(c, 8, &cc), 0);
	assert_int_equal(cc, 0xff000007);
	assert_int_equal(uvf_client_config_read32(c, 0x2c, &ss), 0);
	assert_int_equal(ss, 0x11001af4);
	/* BAR0 through its callback, with the callback's errno */
	compat_events_clear();
	uint32_t v = 0xfeedf00d, r = 0;
	assert_int_equal(uvf_client_region_write(c, 0, 0x40, &v, 4), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 0x40, &r, 4), 0);
	assert_int_equal(r, v);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "bar0(w,0x40,4) bar0(r,0x40,4)");
	assert_int_equal(uvf_client_region_read(c, 0, 0x100, &r, 4), -EPERM);
	assert_int_equal(uvf_client_region_read(c, 0, 0x104, &r, 4), -EINVAL);
	/* BAR1: read-only I/O */
	uint8_t b[4] = {0};
	assert_int_equal(uvf_client_region_read(c, 1, 2, b, 2), 0);
	assert_int_equal(b[0], 0x5c);
	assert_int_not_equal(uvf_client_region_write(c, 1, 0, b, 2), 0);
	struct uvf_client_region info = {.argsz = sizeof(info)};
	assert_int_equal(uvf_client_region_info(c, 1, &info), 0);
	assert_int_equal(info.size, 16);
	/* ROM read through the callback at realize */
	assert_int_equal(uvf_client_region_read(c, VFU_PCI_DEV_ROM_REGION_IDX, 0x10, b, 4), 0);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[3], 0x13);
	/* config space beyond the header: the callback */
	compat_events_clear();
	uint32_t cv = 0xa1b2c3d4, cr = 0;
	assert_int_equal(uvf_client_config_write32(c, 0x80, cv), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x80, &cr), 0);
	assert_int_equal(cr, cv);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "cfg(w,0x80,4) cfg(r,0x80,4)");
	/* the header is the library's: no callback */
	compat_events_clear();
	assert_int_equal(uvf_client_config_read32(c, 0, &id), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "");
	/* the live config space as the device reads it */
	assert_int_equal(vfu_pci_get_config_space(s.ctx)->hdr.id.did, 4);
	uvf_client_close(c);
	compat_stop(&s);
}

/* A BAR with a file, mmap areas and a callback: as in libvfio-user, the
 * client's REGION_READ and REGION_WRITE go to the callback, not to the
 * file, which is what the client maps. A mapped BAR without a callback
 * is served from its file. */
static uint8_t g_mapped_regs[4096];

static ssize_t mapped_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx;
	compat_event("mapped(%s,%#llx,%zu)", is_write ? "w" : "r", (unsigned long long)offset, count);
	if (is_write)
		memcpy(g_mapped_regs + offset, buf, count);
	else
		memcpy(buf, g_mapped_regs + offset, count);
	return (ssize_t)count;
}

static void mapped_bar_accesses_reach_the_callback(void **state)
{
	struct vfu_server s;
	struct iovec area = {.iov_base = 0, .iov_len = 4096};
	char ev[256];
	(void)state;
	compat_path(&s);
	int fd0 = memfd_create("bar0", MFD_CLOEXEC), fd2 = memfd_create("bar2", MFD_CLOEXEC);
	assert_true(fd0 >= 0 && fd2 >= 0);
	assert_int_equal(ftruncate(fd0, 4096), 0);
	assert_int_equal(ftruncate(fd2, 4096), 0);
	uint32_t in_file = 0x11111111;
	assert_int_equal(pwrite(fd0, &in_file, 4, 0x20), 4);
	assert_int_equal(pwrite(fd2, &in_file, 4, 0x20), 4);
	s.ctx = vfu_create_ctx(VFU_TRANS_SOCK, s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL, VFU_DEV_TYPE_PCI);
	vfu_setup_log(s.ctx, compat_quiet_log, LOG_DEBUG);
	assert_int_equal(vfu_pci_init(s.ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0), 0);
	vfu_pci_set_id(s.ctx, 0x4e58, 0x0005, 0, 0);
	assert_int_equal(vfu_setup_region(s.ctx, 0, 4096, mapped_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM,
					  &area, 1, fd0, 0),
			 0);
	assert_int_equal(vfu_setup_region(s.ctx, 2, 4096, NULL, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, &area, 1,
					  fd2, 0),
			 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);

	memset(g_mapped_regs, 0, sizeof(g_mapped_regs));
	g_mapped_regs[0x20] = 0x42;
	compat_events_clear();
	uint32_t v = 0, w = 0xcafe0001;
	/* the callback's bytes, not the file's */
	assert_int_equal(uvf_client_region_read(c, 0, 0x20, &v, 4), 0);
	assert_int_equal(v, 0x42);
	assert_int_equal(uvf_client_region_write(c, 0, 0x30, &w, 4), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "mapped(r,0x20,4) mapped(w,0x30,4)");
	uint32_t stored = 0;
	memcpy(&stored, g_mapped_regs + 0x30, 4);
	assert_int_equal(stored, w);
	/* the file holds what the device put there: the write went to the
	 * callback only */
	uint32_t f = 0;
	assert_int_equal(pread(fd0, &f, 4, 0x30), 4);
	assert_int_equal(f, 0);
	/* the client's mapping is the file */
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	volatile uint32_t *p = uvf_client_region_ptr(c, 0, 0x20, 4);
	assert_non_null(p);
	assert_int_equal(*p, in_file);

	/* no callback: REGION_READ/WRITE are served from the file */
	compat_events_clear();
	assert_int_equal(uvf_client_region_read(c, 2, 0x20, &v, 4), 0);
	assert_int_equal(v, in_file);
	assert_int_equal(uvf_client_region_write(c, 2, 0x30, &w, 4), 0);
	assert_int_equal(pread(fd2, &f, 4, 0x30), 4);
	assert_int_equal(f, w);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "");
	uvf_client_close(c);
	compat_stop(&s);
}

static void always_callback_takes_all_of_config_space(void **state)
{
	struct vfu_server s;
	char ev[256];
	(void)state;
	new_device(&s);
	vfu_pci_set_id(s.ctx, 0x4e58, 5, 0, 0);
	assert_int_equal(setup_config(s.ctx, VFU_REGION_FLAG_ALWAYS_CB), 0);
	struct uvf_client *c = realize_and_connect(&s);
	memcpy(g_cfg_regs, "\x11\x22\x33\x44", 4);
	compat_events_clear();
	uint32_t id = 0;
	assert_int_equal(uvf_client_config_read32(c, 0, &id), 0);
	assert_int_equal(id, 0x44332211);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "cfg(r,0,4)");
	uvf_client_close(c);
	compat_stop(&s);
}

static void capabilities_are_placed_found_and_guarded(void **state)
{
	struct vfu_server s;
	(void)state;
	new_device(&s);
	assert_int_equal(vfu_pci_init(s.ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL, 0), 0);
	vfu_pci_set_id(s.ctx, 0x4e58, 6, 0, 0);
	assert_int_equal(vfu_setup_region(s.ctx, 0, 0x4000, bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL,
					  0, -1, 0),
			 0);
	struct pmcap pm = {.hdr.id = PCI_CAP_ID_PM, .pc.vs = 3};
	struct msixcap msix = {.hdr.id = PCI_CAP_ID_MSIX, .mxc.ts = 3, .mtab = {.tbir = 0, .to = 0x2000 >> 3},
			       .mpba = {.pbir = 0, .pbao = 0x3000 >> 3}};
	struct pxcap px = {.hdr.id = PCI_CAP_ID_EXP, .pxcaps.ver = 2, .pxdcap.flrc = 1};
	uint8_t vsc_buf[8] = {PCI_CAP_ID_VNDR, 0, 8, 1, 2, 3, 4, 5};
	uint8_t vsc_ro[6] = {PCI_CAP_ID_VNDR, 0, 6, 9, 9, 9};
	struct dsncap dsn = {.hdr = {.id = PCI_EXT_CAP_ID_DSN, .version = 1}, .sn_lo = 0x12345678, .sn_hi = 0x9abcdef0};
	uint8_t unknown[4] = {PCI_CAP_ID_AGP, 0, 0, 0};

	/* refused */
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, 0x8, &pm), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, VFU_CAP_FLAG_CALLBACK, &pm), -1);
	assert_int_equal(errno, EINVAL); /* no config space callback */
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, 0, unknown), -1);
	assert_int_equal(errno, ENOTSUP);
	/* placed by uvf, at the offset returned */
	ssize_t pm_at = vfu_pci_add_capability(s.ctx, 0, 0, &pm);
	assert_int_equal(pm_at, 0x40);
	ssize_t msix_at = vfu_pci_add_capability(s.ctx, 0, 0, &msix);
	assert_true(msix_at > pm_at);
	ssize_t px_at = vfu_pci_add_capability(s.ctx, 0, 0, &px);
	assert_true(px_at > msix_at);
	ssize_t vsc_at = vfu_pci_add_capability(s.ctx, 0, 0, vsc_buf);
	assert_true(vsc_at > px_at);
	ssize_t ro_at = vfu_pci_add_capability(s.ctx, 0, VFU_CAP_FLAG_READONLY, vsc_ro);
	assert_true(ro_at > vsc_at);
	ssize_t dsn_at = vfu_pci_add_capability(s.ctx, 0, VFU_CAP_FLAG_EXTENDED, &dsn);
	assert_int_equal(dsn_at, 0x100);
	/* a library capability after a vendor one, a position uvf does not use */
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, 0, &pm), -1);
	assert_int_equal(errno, EBUSY);
	/* found before realize */
	assert_int_equal(vfu_pci_find_capability(s.ctx, false, PCI_CAP_ID_MSIX), (size_t)msix_at);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, false, (size_t)vsc_at, PCI_CAP_ID_VNDR), (size_t)ro_at);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, false, (size_t)ro_at, PCI_CAP_ID_VNDR), 0);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, false, 0x41, PCI_CAP_ID_VNDR), 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_find_capability(s.ctx, true, PCI_EXT_CAP_ID_DSN), 0x100);
	assert_int_equal(vfu_setup_device_nr_irqs(s.ctx, VFU_DEV_MSIX_IRQ, 4), 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, 0, vsc_buf), -1);
	assert_int_equal(errno, EBUSY);
	/* found after realize, in the live chain */
	assert_int_equal(vfu_pci_find_capability(s.ctx, false, PCI_CAP_ID_PM), 0x40);
	assert_int_equal(vfu_pci_find_capability(s.ctx, false, PCI_CAP_ID_VNDR), (size_t)vsc_at);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, false, (size_t)vsc_at, PCI_CAP_ID_VNDR), (size_t)ro_at);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, false, (size_t)ro_at, PCI_CAP_ID_VNDR), 0);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(vfu_pci_find_capability(s.ctx, false, PCI_CAP_ID_AGP), 0);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(vfu_pci_find_capability(s.ctx, true, PCI_EXT_CAP_ID_DSN), 0x100);
	assert_int_equal(vfu_pci_find_capability(s.ctx, true, PCI_EXT_CAP_ID_VNDR), 0);
	assert_int_equal(errno, ENOENT);

	compat_serve(&s);
	struct uvf_client *c = connect(&s);
	uint8_t b = 0;
	uint32_t w = 0;
	/* vendor capability: body writable unless read-only */
	assert_int_equal(uvf_client_config_read8(c, (uint32_t)vsc_at + 3, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(uvf_client_config_write8(c, (uint32_t)vsc_at + 3, 0x77), 0);
	assert_int_equal(uvf_client_config_read8(c, (uint32_t)vsc_at + 3, &b), 0);
	assert_int_equal(b, 0x77);
	uvf_client_config_write8(c, (uint32_t)ro_at + 3, 0x77);
	assert_int_equal(uvf_client_config_read8(c, (uint32_t)ro_at + 3, &b), 0);
	assert_int_equal(b, 9);
	/* the length byte is not the client's */
	uvf_client_config_write8(c, (uint32_t)vsc_at + 2, 0x30);
	assert_int_equal(uvf_client_config_read8(c, (uint32_t)vsc_at + 2, &b), 0);
	assert_int_equal(b, 8);
	/* DSN */
	assert_int_equal(uvf_client_config_read32(c, 0x104, &w), 0);
	assert_int_equal(w, 0x12345678);
	/* MSI-X table size */
	uint16_t ctrl = 0;
	assert_int_equal(uvf_client_config_read16(c, (uint32_t)msix_at + 2, &ctrl), 0);
	assert_int_equal(ctrl & 0x7ff, 3);
	uvf_client_close(c);
	compat_stop(&s);
}

static void callback_capability_goes_to_the_config_callback(void **state)
{
	struct vfu_server s;
	char ev[256];
	(void)state;
	new_device(&s);
	vfu_pci_set_id(s.ctx, 0x4e58, 7, 0, 0);
	assert_int_equal(setup_config(s.ctx, 0), 0);
	uint8_t vsc_buf[8] = {PCI_CAP_ID_VNDR, 0, 8, 1, 2, 3, 4, 5};
	ssize_t at = vfu_pci_add_capability(s.ctx, 0, VFU_CAP_FLAG_CALLBACK, vsc_buf);
	assert_int_equal(at, 0x40);
	struct uvf_client *c = realize_and_connect(&s);
	memcpy(g_cfg_regs, "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7", 8);
	compat_events_clear();
	uint8_t b = 0;
	assert_int_equal(uvf_client_config_read8(c, 0x44, &b), 0);
	assert_int_equal(b, 0xa4);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "cfg(r,0x44,1)");
	uvf_client_close(c);
	compat_stop(&s);
}

/* Capabilities at the positions the device asks for: vendor-specific and
 * extended ones, dword aligned, each after those before it; the chain
 * links them in that order. The library's own are placed by uvf. */
static void capabilities_at_explicit_positions(void **state)
{
	struct vfu_server s;
	(void)state;
	compat_path(&s);
	s.ctx = vfu_create_ctx(VFU_TRANS_SOCK, s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL, VFU_DEV_TYPE_PCI);
	vfu_setup_log(s.ctx, compat_quiet_log, LOG_DEBUG);
	assert_int_equal(vfu_pci_init(s.ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL, 0), 0);
	vfu_pci_set_id(s.ctx, 0x4e58, 9, 0, 0);
	struct pxcap px = {.hdr.id = PCI_CAP_ID_EXP, .pxcaps.ver = 2};
	uint8_t vsc_buf[8] = {PCI_CAP_ID_VNDR, 0, 8, 1, 2, 3, 4, 5};
	struct dsncap dsn = {.hdr = {.id = PCI_EXT_CAP_ID_DSN, .version = 1}, .sn_lo = 0x12345678};
	uint8_t evsc[16] = {0};
	struct pcie_ext_cap_vsc_hdr *eh = (struct pcie_ext_cap_vsc_hdr *)evsc;
	eh->hdr.id = PCI_EXT_CAP_ID_VNDR;
	eh->hdr.version = 1;
	eh->id = 0x1234;
	eh->len = sizeof(evsc);
	evsc[8] = 0xee;

	/* the library's: where uvf puts it */
	ssize_t px_at = vfu_pci_add_capability(s.ctx, 0, 0, &px);
	assert_true(px_at >= 0x40 && px_at < 0x80);
	/* inside the PCI Express capability, unaligned */
	assert_int_equal(vfu_pci_add_capability(s.ctx, (size_t)px_at + 4, 0, vsc_buf), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0xa2, 0, vsc_buf), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0xa0, 0, vsc_buf), 0xa0);
	/* the next free one follows it; before it is refused */
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0, 0, vsc_buf), 0xa8);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0x90, 0, vsc_buf), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0xf8, 0, vsc_buf), 0xf8);
	/* extended: the chain starts at 0x100 */
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0x180, VFU_CAP_FLAG_EXTENDED, &dsn), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0x100, VFU_CAP_FLAG_EXTENDED, &dsn), 0x100);
	assert_int_equal(vfu_pci_add_capability(s.ctx, 0x200, VFU_CAP_FLAG_EXTENDED, evsc), 0x200);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);

	/* the chain, as the client walks it */
	uint8_t b = 0;
	assert_int_equal(uvf_client_config_read8(c, (uint32_t)px_at + 1, &b), 0);
	assert_int_equal(b, 0xa0);
	assert_int_equal(uvf_client_config_read8(c, 0xa1, &b), 0);
	assert_int_equal(b, 0xa8);
	assert_int_equal(uvf_client_config_read8(c, 0xa9, &b), 0);
	assert_int_equal(b, 0xf8);
	assert_int_equal(uvf_client_config_read8(c, 0xf8, &b), 0);
	assert_int_equal(b, PCI_CAP_ID_VNDR);
	assert_int_equal(uvf_client_config_read8(c, 0xf9, &b), 0);
	assert_int_equal(b, 0);
	uint32_t h = 0;
	assert_int_equal(uvf_client_config_read32(c, 0x100, &h), 0);
	assert_int_equal(h & 0xffff, PCI_EXT_CAP_ID_DSN);
	assert_int_equal(h >> 20, 0x200);
	assert_int_equal(uvf_client_config_read32(c, 0x200, &h), 0);
	assert_int_equal(h & 0xffff, PCI_EXT_CAP_ID_VNDR);
	assert_int_equal(h >> 20, 0);
	assert_int_equal(uvf_client_config_read8(c, 0x208, &b), 0);
	assert_int_equal(b, 0xee);
	assert_int_equal(vfu_pci_find_next_capability(s.ctx, true, 0x100, PCI_EXT_CAP_ID_VNDR), 0x200);
	uvf_client_close(c);
	compat_stop(&s);
}

static void interrupts_state_and_trigger(void **state)
{
	struct vfu_server s;
	char ev[256];
	(void)state;
	new_device(&s);
	vfu_pci_set_id(s.ctx, 0x4e58, 8, 0, 0);
	assert_int_equal(setup_bar0(s.ctx), 0);
	assert_int_equal(vfu_setup_device_nr_irqs(s.ctx, VFU_DEV_INTX_IRQ, 1), 0);
	assert_int_equal(vfu_setup_irq_state_callback(s.ctx, VFU_DEV_INTX_IRQ, irq_state), 0);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(vfu_create_ioeventfd(s.ctx, 0, efd, 0x20, 4, 1, 0x99, -1, 0), 0);
	/* before realize */
	assert_int_equal(vfu_irq_trigger(s.ctx, 0), -1);
	assert_int_equal(errno, EINVAL);
	struct uvf_client *c = realize_and_connect(&s);
	/* no eventfd attached */
	assert_int_equal(vfu_irq_trigger(s.ctx, 0), -1);
	assert_int_equal(errno, ENOENT);
	int irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, VFU_DEV_INTX_IRQ, 0, 1, &irq), 0);
	assert_int_equal(vfu_irq_trigger(s.ctx, 0), 0);
	uint64_t n = 0;
	assert_int_equal(read(irq, &n, sizeof(n)), (ssize_t)sizeof(n));
	assert_int_equal(n, 1);
	assert_int_equal(vfu_irq_trigger(s.ctx, 1), -1);
	assert_int_equal(errno, EINVAL);
	/* mask and unmask reach the IRQ state callback */
	compat_events_clear();
	assert_int_equal(uvf_client_irq_mask(c, VFU_DEV_INTX_IRQ, 0, 1, true), 0);
	assert_int_equal(uvf_client_irq_mask(c, VFU_DEV_INTX_IRQ, 0, 1, false), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "irq(0,1,1) irq(0,1,0)");
	/* the ioeventfd: the value it matches signals it, others reach BAR0 */
	uint32_t v = 0x99;
	assert_int_equal(uvf_client_region_write(c, 0, 0x20, &v, 4), 0);
	assert_int_equal(read(efd, &n, sizeof(n)), (ssize_t)sizeof(n));
	assert_int_equal(n, 1);
	v = 0x98;
	assert_int_equal(uvf_client_region_write(c, 0, 0x20, &v, 4), 0);
	assert_int_equal(read(efd, &n, sizeof(n)), -1);
	assert_int_equal(g_bar0[0x20], 0x98);
	uvf_client_close(c);
	close(irq);
	compat_stop(&s); /* closes efd: the library owns it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regions_are_refused_as_libvfio_user_refuses),
		cmocka_unit_test(regions_reach_their_callbacks),
		cmocka_unit_test(mapped_bar_accesses_reach_the_callback),
		cmocka_unit_test(always_callback_takes_all_of_config_space),
		cmocka_unit_test(capabilities_are_placed_found_and_guarded),
		cmocka_unit_test(callback_capability_goes_to_the_config_callback),
		cmocka_unit_test(capabilities_at_explicit_positions),
		cmocka_unit_test(interrupts_state_and_trigger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
