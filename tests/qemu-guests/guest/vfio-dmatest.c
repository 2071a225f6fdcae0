/* SPDX-License-Identifier: MIT */
/*
 * vfio-dmatest: runs inside an end-to-end guest and drives the uvf dmatest
 * device (devices/dmatest/dmatest.h), which QEMU presents as a vfio-user-pci
 * device, through the guest kernel's vfio-pci driver. It checks what vfio
 * reports (regions, IRQs, config space) against what dmatest declares, runs
 * DMA both ways, checks every interrupt vector, BAR4 mapped into this
 * process (stores and loads that must reach the device without messages)
 * and a device reset.
 *
 * Usage: vfio-dmatest [--no-reset] [BDF]
 *        vfio-dmatest --host-selftest
 *
 *   BDF               the device, e.g. 0000:00:04.0, already bound to
 *                     vfio-pci; default: the first 1de0:0002 in sysfs
 *   --no-reset        skip the reset checks (when the guest has no reset
 *                     method for the device, see README.md)
 *   --host-selftest   check the helpers that need no device (pagemap,
 *                     eventfd waiting, capability walk) on any Linux host
 *
 * IOMMU: no-IOMMU vfio (/dev/vfio/noiommu-N, the device sees guest
 * physical addresses found through /proc/self/pagemap) when the guest
 * kernel offers it, else the type1 IOMMU of a virtual IOMMU (/dev/vfio/N,
 * buffers mapped at IOVAs chosen here, one of them above 4 GiB).
 *
 * Output, one line per check: "UVF-E2E: PASS name" or
 * "UVF-E2E: FAIL name: why"; other lines start with "vfio-dmatest: ".
 * Exit status 0 only when every check passed. Every wait is bounded.
 *
 * Build (static, for the guest's initramfs; not part of the meson build):
 *   gcc -static -Wall -Wextra -O2 -o vfio-dmatest vfio-dmatest.c vfio-dmatest-checks.c
 */
#include "vfio-dmatest.h"

/* BAR sizes: BAR0 registers, BAR2 the MSI-X table and PBA, BAR4 (64-bit,
 * so BAR5 is its upper half) shared scratch memory the client may map. */
static const uint64_t dt_bar_size[6] = {4096, 0, 4096, 0, 65536, 0};

unsigned nr_passed, nr_failed;


void check_begin(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->name, sizeof(c->name), fmt, ap);
	va_end(ap);
	c->why[0] = '\0';
	c->failures = 0;
}

/* Record a failure unless ok; only the first reason is printed. */

bool expect(struct check *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	if (!c->failures++) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Record a failed operation (ret < 0) as "what: error". */

bool expect_ok(struct check *c, int ret, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (ret >= 0)
		return true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return expect(c, false, "%s: %s", what, strerror(-ret));
}

/* Print the result line; returns whether the check passed. */
bool check_end(struct check *c)
{
	if (!c->failures) {
		printf("UVF-E2E: PASS %s\n", c->name);
		nr_passed++;
		return true;
	}
	if (c->failures > 1)
		printf("UVF-E2E: FAIL %s: %s (and %u more)\n", c->name, c->why, c->failures - 1);
	else
		printf("UVF-E2E: FAIL %s: %s\n", c->name, c->why);
	nr_failed++;
	return false;
}


void info(const char *fmt, ...)
{
	va_list ap;

	fputs("vfio-dmatest: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Helpers that need no device (also run by --host-selftest)            */
/* ------------------------------------------------------------------ */

/* Physical address of a resident page of ours: /proc/self/pagemap has one
 * 64-bit entry per virtual page, PFN in bits 0-54, present in bit 63. The
 * kernel shows PFN 0 to readers without CAP_SYS_ADMIN. */
int virt_to_phys(const void *va, uint64_t *pa)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t entry, pfn;
	int fd, err = 0;
	ssize_t n;

	if (page <= 0)
		return -EINVAL;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)va / (uintptr_t)page * sizeof(entry)));
	if (n < 0)
		err = -errno;
	else if (n != (ssize_t)sizeof(entry))
		err = -EIO;
	close(fd);
	if (err)
		return err;
	if (!(entry >> 63))
		return -ENOENT;
	pfn = entry & ((UINT64_C(1) << 55) - 1);
	if (!pfn)
		return -EPERM;
	*pa = pfn * (uint64_t)page + (uintptr_t)va % (uintptr_t)page;
	return 0;
}

/* Capabilities found in a config space image. */

/* Walk the capability list of a 256-byte config image; -EINVAL with why
 * filled in for a malformed chain (bad pointer, loop, too long). */
static int walk_caps(const uint8_t *cfg, struct caps *caps, char *why, size_t why_len)
{
	bool seen[256] = {false};
	unsigned pos, steps = 0;
	size_t used = 0;

	memset(caps, 0, sizeof(*caps));
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return 0;
	pos = cfg[PCI_CAPABILITY_LIST] & ~3u;
	while (pos) {
		if (pos < PCI_STD_HEADER_SIZEOF || pos > 256 - 4) {
			snprintf(why, why_len, "capability pointer 0x%02x outside 0x40..0xfc", pos);
			return -EINVAL;
		}
		if (seen[pos] || ++steps > CAP_WALK_LIMIT) {
			snprintf(why, why_len, "capability list loops at 0x%02x", pos);
			return -EINVAL;
		}
		seen[pos] = true;
		uint8_t id = cfg[pos + PCI_CAP_LIST_ID];
		if (!caps->at[id])
			caps->at[id] = (uint8_t)pos;
		caps->count++;
		if (used < sizeof(caps->list)) {
			int n = snprintf(caps->list + used, sizeof(caps->list) - used, "%s%02x@%02x", used ? " " : "",
					 id, pos);
			used += n > 0 ? (size_t)n : 0;
		}
		pos = cfg[pos + PCI_CAP_LIST_NEXT] & ~3u;
	}
	return 0;
}

/* Read and clear eventfds that have fired (non-blocking fds). */
void drain_eventfds(const int *fds, unsigned n, uint64_t *counts)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = 0;
		if (read(fds[i], &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		if (counts)
			counts[i] = v;
	}
}

/*
 * Wait up to timeout_ms for eventfd `expected` to fire, then settle_ms more
 * for any other, and return every counter in counts (and clear them).
 * Returns 0 when `expected` fired, -ETIMEDOUT when it did not (counts still
 * tell what else fired), -errno when poll fails.
 */
int wait_vector(const int *fds, unsigned n, unsigned expected, unsigned timeout_ms, unsigned settle_ms,
		       uint64_t *counts)
{
	uint64_t deadline = now_ms() + timeout_ms;
	bool fired = false;
	int err = 0;

	if (expected >= n)
		return -EINVAL;
	while (!fired) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		/* only the expected one ends the wait: a stray one is
		 * reported from its counter afterwards */
		struct pollfd one = {.fd = fds[expected], .events = POLLIN};
		int r = poll(&one, 1, (int)(deadline - now));
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		fired = r > 0 && (one.revents & POLLIN);
	}
	if (fired && settle_ms)
		sleep_ms(settle_ms);
	drain_eventfds(fds, n, counts);
	if (err)
		return err;
	return fired ? 0 : -ETIMEDOUT;
}

/* Describe what fired besides `expected` (empty when nothing did). */
void describe_strays(const uint64_t *counts, unsigned n, unsigned expected, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < n && used < len; i++) {
		if (i == expected || !counts[i])
			continue;
		int r = snprintf(buf + used, len - used, "%svector %u x%" PRIu64, used ? ", " : "", i, counts[i]);
		used += r > 0 ? (size_t)r : 0;
	}
}

static bool bdf_valid(const char *s)
{
	/* dddd:bb:dd.f, hex: also keeps the string safe inside sysfs paths */
	static const char shape[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !strchr("0123456789abcdef", s[i]) || !s[i] : s[i] != shape[i])
			return false;
	}
	return s[11] <= '7';
}

/* ------------------------------------------------------------------ */
static int region_rw(struct dev *d, unsigned index, uint64_t off, void *buf, size_t len, bool write)
{
	if (index >= VFIO_PCI_NUM_REGIONS || !d->region_ok[index] || off > d->region[index].size ||
	    len > d->region[index].size - off)
		return -ERANGE;
	off_t at = (off_t)(d->region[index].offset + off);
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(d->fd, (const uint8_t *)buf + done, len - done, at + (off_t)done)
				  : pread(d->fd, (uint8_t *)buf + done, len - done, at + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Config space and BAR0 registers: little-endian, as is the x86 guest. */
static int cfg_read(struct dev *d, unsigned off, void *buf, size_t len)
{
	return region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len, false);
}

static int cfg_write(struct dev *d, unsigned off, const void *buf, size_t len)
{
	return region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, off, (void *)buf, len, true);
}

int reg_read(struct dev *d, uint32_t reg, uint32_t *val)
{
	return region_rw(d, VFIO_PCI_BAR0_REGION_INDEX, reg, val, sizeof(*val), false);
}

int reg_write(struct dev *d, uint32_t reg, uint32_t val)
{
	return region_rw(d, VFIO_PCI_BAR0_REGION_INDEX, reg, &val, sizeof(val), true);
}

/* Point the completion interrupt at `vector` (see DT_REG_IRQ_VECTOR). */
int select_vector(struct dev *d, unsigned vector)
{
#if DT_REG_IRQ_VECTOR >= 0
	return reg_write(d, DT_REG_IRQ_VECTOR, vector);
#else
	(void)d;
	return vector == 0 ? 0 : -EOPNOTSUPP;
#endif
}

/*
 * Program and run one command, then wait for CMD_COUNT to move (a posted
 * MMIO write may complete before the device ran it). *status receives the
 * STATUS register. Returns 0, -ETIMEDOUT, or -errno of a register access.
 */
int run_command(struct dev *d, uint32_t cmd, uint64_t src, uint64_t dst, uint32_t len, uint32_t pattern,
		       uint32_t *status)
{
	uint32_t before, count;
	int ret;

	if ((ret = reg_read(d, DT_REG_CMD_COUNT, &before)) < 0 ||
	    (ret = reg_write(d, DT_REG_SRC_LO, (uint32_t)src)) < 0 ||
	    (ret = reg_write(d, DT_REG_SRC_HI, (uint32_t)(src >> 32))) < 0 ||
	    (ret = reg_write(d, DT_REG_DST_LO, (uint32_t)dst)) < 0 ||
	    (ret = reg_write(d, DT_REG_DST_HI, (uint32_t)(dst >> 32))) < 0 ||
	    (ret = reg_write(d, DT_REG_LEN, len)) < 0 || (ret = reg_write(d, DT_REG_PATTERN, pattern)) < 0 ||
	    (ret = reg_write(d, DT_REG_CMD, cmd)) < 0)
		return ret;
	for (uint64_t deadline = now_ms() + WAIT_MS;;) {
		if ((ret = reg_read(d, DT_REG_CMD_COUNT, &count)) < 0)
			return ret;
		if (count != before)
			break;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
	return reg_read(d, DT_REG_STATUS, status);
}

int set_irq_eventfds(struct dev *d, unsigned index, unsigned count, const int *fds)
{
	size_t size = sizeof(struct vfio_irq_set) + (size_t)count * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, size);
	int ret = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)size;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = 0;
	set->count = count;
	memcpy(set->data, fds, (size_t)count * sizeof(int32_t));
	if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
	free(set);
	return ret;
}

/* DATA_NONE with an action: count 0 disables the index (trigger), count 1
 * unmasks vector 0 (INTx). */
int set_irq_none(struct dev *d, unsigned index, uint32_t action, unsigned count)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set), .flags = VFIO_IRQ_SET_DATA_NONE | action, .index = index, .count = count};

	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set) < 0 ? -errno : 0;
}

static int sysfs_link_name(const char *bdf, const char *link, char *out, size_t len)
{
	char path[128], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

static unsigned long sysfs_hex(const char *bdf, const char *attr)
{
	char path[128], text[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "re");
	if (!f)
		return ULONG_MAX;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	return text[0] ? strtoul(text, NULL, 16) : ULONG_MAX;
}

/* The first 1de0:0002 function in sysfs, in directory order. */
static int find_device(char bdf[static 16])
{
	DIR *dir = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int ret = -ENODEV;

	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (!bdf_valid(e->d_name))
			continue;
		if (sysfs_hex(e->d_name, "vendor") == DT_VENDOR_ID && sysfs_hex(e->d_name, "device") == DT_DEVICE_ID) {
			memcpy(bdf, e->d_name, strlen(e->d_name) + 1); /* fits: bdf_valid */
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

/* Group, container, IOMMU model, device fd; a failure ends the run. */
static bool open_device(struct dev *d)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	char driver[64] = "none", group[32], path[64];
	struct check c;
	int ret;

	check_begin(&c, "vfio-open");
	ret = sysfs_link_name(d->bdf, "driver", driver, sizeof(driver));
	if (!expect(&c, ret == 0,
		    "%s is bound to no driver (vfio-pci refuses a device without an IOMMU group: "
		    "the guest needs a virtual IOMMU or no-IOMMU vfio, see README.md)",
		    d->bdf) ||
	    !expect(&c, !strcmp(driver, "vfio-pci"), "%s is bound to %s, not vfio-pci", d->bdf, driver))
		return check_end(&c);
	ret = sysfs_link_name(d->bdf, "iommu_group", group, sizeof(group));
	if (!expect(&c, ret == 0, "%s has no IOMMU group: %s", d->bdf, strerror(-ret)))
		return check_end(&c);
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", group);
	d->noiommu = access(path, F_OK) == 0;
	if (!d->noiommu)
		snprintf(path, sizeof(path), "/dev/vfio/%s", group);

	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (!expect(&c, d->container >= 0, "open /dev/vfio/vfio: %s", strerror(errno)))
		return check_end(&c);
	ret = ioctl(d->container, VFIO_GET_API_VERSION);
	if (!expect(&c, ret == VFIO_API_VERSION, "VFIO_GET_API_VERSION: %d, want %d", ret, VFIO_API_VERSION))
		return check_end(&c);
	d->group = open(path, O_RDWR | O_CLOEXEC);
	if (!expect(&c, d->group >= 0, "open %s: %s", path, strerror(errno)))
		return check_end(&c);
	if (!expect(&c, ioctl(d->group, VFIO_GROUP_GET_STATUS, &status) == 0, "VFIO_GROUP_GET_STATUS: %s",
		    strerror(errno)) ||
	    !expect(&c, status.flags & VFIO_GROUP_FLAGS_VIABLE,
		    "group %s not viable: another device of the group is not bound to vfio-pci", group))
		return check_end(&c);
	if (!expect(&c, ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) == 0, "VFIO_GROUP_SET_CONTAINER: %s",
		    strerror(errno)))
		return check_end(&c);

	int model = VFIO_NOIOMMU_IOMMU;
	if (!d->noiommu)
		model = ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
											  : VFIO_TYPE1_IOMMU;
	if (!expect(&c, ioctl(d->container, VFIO_CHECK_EXTENSION, model) > 0, "IOMMU model %d not offered", model) ||
	    !expect(&c, ioctl(d->container, VFIO_SET_IOMMU, model) == 0, "VFIO_SET_IOMMU %d: %s", model,
		    strerror(errno)))
		return check_end(&c);
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (!expect(&c, d->fd >= 0, "VFIO_GROUP_GET_DEVICE_FD %s: %s", d->bdf, strerror(errno)))
		return check_end(&c);
	info("%s: group %s, %s", d->bdf, path,
	     d->noiommu ? "no-IOMMU (device sees guest physical addresses)" : "type1 IOMMU (device sees IOVAs)");
	return check_end(&c);
}

/* Device, region and IRQ infos, and the config space image. */
static void check_device_info(struct dev *d)
{
	struct check c;

	check_begin(&c, "vfio-device-info");
	d->info.argsz = sizeof(d->info);
	if (expect(&c, ioctl(d->fd, VFIO_DEVICE_GET_INFO, &d->info) == 0, "VFIO_DEVICE_GET_INFO: %s",
		   strerror(errno))) {
		expect(&c, d->info.flags & VFIO_DEVICE_FLAGS_PCI, "flags 0x%x lack PCI", d->info.flags);
		expect(&c, d->info.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1, "%u regions, want at least %u",
		       d->info.num_regions, VFIO_PCI_CONFIG_REGION_INDEX + 1);
		expect(&c, d->info.num_irqs >= VFIO_PCI_MSIX_IRQ_INDEX + 1, "%u IRQ indexes, want at least %u",
		       d->info.num_irqs, VFIO_PCI_MSIX_IRQ_INDEX + 1);
	}
	for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS && i < d->info.num_regions; i++) {
		d->region[i] = (struct vfio_region_info){.argsz = sizeof(d->region[i]), .index = i};
		/* the VGA region fails for a device that is not VGA */
		d->region_ok[i] = ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &d->region[i]) == 0;
		if (!d->region_ok[i] && i != VFIO_PCI_VGA_REGION_INDEX)
			expect(&c, false, "VFIO_DEVICE_GET_REGION_INFO %u: %s", i, strerror(errno));
	}
	for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS && i < d->info.num_irqs; i++) {
		d->irq[i] = (struct vfio_irq_info){.argsz = sizeof(d->irq[i]), .index = i};
		d->irq_ok[i] = ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &d->irq[i]) == 0;
		/* the error IRQ exists for PCI Express functions only */
		if (!d->irq_ok[i] && i != VFIO_PCI_ERR_IRQ_INDEX)
			expect(&c, false, "VFIO_DEVICE_GET_IRQ_INFO %u: %s", i, strerror(errno));
	}
	check_end(&c);

	check_begin(&c, "vfio-config-region");
	const struct vfio_region_info *r = &d->region[VFIO_PCI_CONFIG_REGION_INDEX];
	if (expect(&c, d->region_ok[VFIO_PCI_CONFIG_REGION_INDEX], "no config region")) {
		expect(&c, r->size >= 256, "config region size %llu < 256", (unsigned long long)r->size);
		expect(&c,
		       (r->flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) ==
			       (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
		       "config region flags 0x%x lack read/write", r->flags);
		int ret = cfg_read(d, 0, d->cfg, sizeof(d->cfg));
		expect(&c, ret == 0, "reading config space: %s", strerror(-ret));
	}
	check_end(&c);
}

static uint16_t cfg16(const uint8_t *cfg, unsigned off)
{
	return (uint16_t)(cfg[off] | cfg[off + 1] << 8);
}

static uint32_t cfg32(const uint8_t *cfg, unsigned off)
{
	return (uint32_t)cfg16(cfg, off) | (uint32_t)cfg16(cfg, off + 2) << 16;
}

static void check_config(struct dev *d)
{
	const uint8_t *cfg = d->cfg;
	char why[160] = "";
	struct check c;

	check_begin(&c, "config-ids");
	expect(&c, cfg16(cfg, PCI_VENDOR_ID) == DT_VENDOR_ID, "vendor %04x", cfg16(cfg, PCI_VENDOR_ID));
	expect(&c, cfg16(cfg, PCI_DEVICE_ID) == DT_DEVICE_ID, "device %04x", cfg16(cfg, PCI_DEVICE_ID));
	expect(&c, cfg16(cfg, PCI_SUBSYSTEM_VENDOR_ID) == DT_VENDOR_ID, "subsystem vendor %04x",
	       cfg16(cfg, PCI_SUBSYSTEM_VENDOR_ID));
	expect(&c, cfg16(cfg, PCI_SUBSYSTEM_ID) == DT_DEVICE_ID, "subsystem %04x", cfg16(cfg, PCI_SUBSYSTEM_ID));
	expect(&c, cfg32(cfg, PCI_CLASS_REVISION) >> 8 == DT_CLASS, "class %06x", cfg32(cfg, PCI_CLASS_REVISION) >> 8);
	expect(&c, cfg[PCI_REVISION_ID] == DT_REVISION, "revision %u", cfg[PCI_REVISION_ID]);
	expect(&c, (cfg[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_NORMAL, "header type 0x%02x", cfg[PCI_HEADER_TYPE]);
	expect(&c, cfg[PCI_INTERRUPT_PIN] == 1, "interrupt pin %u, want 1 (INTA)", cfg[PCI_INTERRUPT_PIN]);
	check_end(&c);

	check_begin(&c, "config-capabilities");
	if (expect(&c, walk_caps(cfg, &d->caps, why, sizeof(why)) == 0, "%s", why)) {
		info("capabilities (id@offset): %s", d->caps.count ? d->caps.list : "none");
		expect(&c, d->caps.at[PCI_CAP_ID_PM], "no Power Management capability");
		expect(&c, d->caps.at[PCI_CAP_ID_EXP], "no PCI Express capability");
		expect(&c, (d->caps.at[PCI_CAP_ID_MSI] != 0) == (DT_MSI_VECTORS > 0), "MSI capability %s",
		       d->caps.at[PCI_CAP_ID_MSI] ? "present, not declared" : "missing");
		expect(&c, (d->caps.at[PCI_CAP_ID_MSIX] != 0) == (DT_MSIX_VECTORS > 0), "MSI-X capability %s",
		       d->caps.at[PCI_CAP_ID_MSIX] ? "present, not declared" : "missing");
	}
	check_end(&c);

	if (d->caps.at[PCI_CAP_ID_PM]) {
		unsigned pm = d->caps.at[PCI_CAP_ID_PM], ctrl = cfg16(cfg, pm + PCI_PM_CTRL);
		check_begin(&c, "config-pm");
		expect(&c, (ctrl & PCI_PM_CTRL_STATE_MASK) == 0, "power state D%u, want D0",
		       ctrl & PCI_PM_CTRL_STATE_MASK);
		expect(&c, ctrl & PCI_PM_CTRL_NO_SOFT_RESET, "No_Soft_Reset clear (control 0x%04x)", ctrl);
		expect(&c, cfg16(cfg, pm + PCI_PM_PMC) & PCI_PM_CAP_VER_MASK, "no PM version (PMC 0x%04x)",
		       cfg16(cfg, pm + PCI_PM_PMC));
		check_end(&c);
	}
	if (d->caps.at[PCI_CAP_ID_EXP]) {
		unsigned exp = d->caps.at[PCI_CAP_ID_EXP];
		unsigned type = (cfg16(cfg, exp + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4;
		uint64_t size = d->region[VFIO_PCI_CONFIG_REGION_INDEX].size;
		check_begin(&c, "config-pcie");
		/* QEMU makes an endpoint on its root bus an integrated one */
		expect(&c, type == PCI_EXP_TYPE_ENDPOINT || type == PCI_EXP_TYPE_RC_END,
		       "port type %u, not an endpoint", type);
		expect(&c, cfg32(cfg, exp + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLR, "no FLR (device capabilities 0x%08x)",
		       cfg32(cfg, exp + PCI_EXP_DEVCAP));
		expect(&c, size == DT_CONFIG_SIZE, "config region of %" PRIu64 " bytes, declared %u", size,
		       DT_CONFIG_SIZE);
		check_end(&c);
	}
	if (d->caps.at[PCI_CAP_ID_MSI]) {
		unsigned ctrl = cfg16(cfg, d->caps.at[PCI_CAP_ID_MSI] + PCI_MSI_FLAGS);
		check_begin(&c, "config-msi");
		expect(&c, 1u << ((ctrl & PCI_MSI_FLAGS_QMASK) >> 1) == DT_MSI_VECTORS,
		       "multiple message capable %u vectors, want %u", 1u << ((ctrl & PCI_MSI_FLAGS_QMASK) >> 1),
		       DT_MSI_VECTORS);
		expect(&c, ctrl & PCI_MSI_FLAGS_64BIT, "not 64-bit (control 0x%04x)", ctrl);
		expect(&c, ctrl & PCI_MSI_FLAGS_MASKBIT, "no per-vector masking (control 0x%04x)", ctrl);
		expect(&c, !(ctrl & PCI_MSI_FLAGS_ENABLE), "enabled before anyone asked (control 0x%04x)", ctrl);
		check_end(&c);
	}
	if (d->caps.at[PCI_CAP_ID_MSIX]) {
		unsigned ctrl = cfg16(cfg, d->caps.at[PCI_CAP_ID_MSIX] + PCI_MSIX_FLAGS);
		uint32_t table = cfg32(cfg, d->caps.at[PCI_CAP_ID_MSIX] + PCI_MSIX_TABLE);
		uint32_t pba = cfg32(cfg, d->caps.at[PCI_CAP_ID_MSIX] + PCI_MSIX_PBA);
		unsigned n = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
		unsigned tbir = table & PCI_MSIX_TABLE_BIR, pbir = pba & PCI_MSIX_PBA_BIR;
		uint64_t toff = table & PCI_MSIX_TABLE_OFFSET, poff = pba & PCI_MSIX_PBA_OFFSET;

		check_begin(&c, "config-msix");
		expect(&c, n == DT_MSIX_VECTORS, "table size %u, want %u", n, DT_MSIX_VECTORS);
		expect(&c, tbir == DT_MSIX_BAR && toff == DT_MSIX_TABLE,
		       "table at BAR%u + 0x%" PRIx64 ", declared BAR%u + 0x%x", tbir, toff, DT_MSIX_BAR, DT_MSIX_TABLE);
		expect(&c, pbir == DT_MSIX_BAR && poff == DT_MSIX_PBA,
		       "PBA at BAR%u + 0x%" PRIx64 ", declared BAR%u + 0x%x", pbir, poff, DT_MSIX_BAR, DT_MSIX_PBA);
		expect(&c, !(ctrl & PCI_MSIX_FLAGS_ENABLE), "enabled before anyone asked (control 0x%04x)", ctrl);
		if (expect(&c, tbir < 6 && d->region_ok[tbir], "table in BAR%u, which does not exist", tbir))
			expect(&c, toff + 16ull * n <= d->region[tbir].size,
			       "table at 0x%" PRIx64 " + %u entries beyond BAR%u (size 0x%llx)", toff, n, tbir,
			       (unsigned long long)d->region[tbir].size);
		if (expect(&c, pbir < 6 && d->region_ok[pbir], "PBA in BAR%u, which does not exist", pbir))
			expect(&c, poff + 8ull * ((n + 63) / 64) <= d->region[pbir].size,
			       "PBA at 0x%" PRIx64 " beyond BAR%u (size 0x%llx)", poff, pbir,
			       (unsigned long long)d->region[pbir].size);
		check_end(&c);
	}
}

/* Size a BAR through config space the way firmware does: all ones, read
 * back, restore. vfio emulates BAR registers, so the device never sees it. */
static int size_bar(struct dev *d, unsigned reg, uint32_t *mask)
{
	uint32_t orig, ones = 0xffffffffu;
	int ret;

	if ((ret = cfg_read(d, reg, &orig, 4)) < 0 || (ret = cfg_write(d, reg, &ones, 4)) < 0 ||
	    (ret = cfg_read(d, reg, mask, 4)) < 0)
		return ret;
	return cfg_write(d, reg, &orig, 4);
}

static void check_bars(struct dev *d)
{
	struct check c;

	check_begin(&c, "bar-sizes");
	for (unsigned i = 0; i < 6; i++) {
		uint32_t lo = 0, hi = 0;
		uint64_t size = 0;
		unsigned reg = PCI_BASE_ADDRESS_0 + 4 * i;
		int ret = size_bar(d, reg, &lo);
		if (!expect(&c, ret == 0, "sizing BAR%u: %s", i, strerror(-ret)))
			continue;
		bool is64 = !(lo & PCI_BASE_ADDRESS_SPACE_IO) &&
			    (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
		if (is64 && i < 5) {
			ret = size_bar(d, reg + 4, &hi);
			expect(&c, ret == 0, "sizing BAR%u: %s", i + 1, strerror(-ret));
		}
		if (lo & PCI_BASE_ADDRESS_SPACE_IO) /* the upper 16 bits may read 0 */
			size = (uint32_t)(~(lo & PCI_BASE_ADDRESS_IO_MASK) + 1u) & (lo >> 16 ? 0xffffffffu : 0xffffu);
		else if (is64 && (lo || hi))
			size = ~((uint64_t)hi << 32 | (lo & PCI_BASE_ADDRESS_MEM_MASK)) + 1;
		else if (lo)
			size = (uint32_t)(~(lo & PCI_BASE_ADDRESS_MEM_MASK) + 1u);
		uint64_t region = d->region_ok[i] ? d->region[i].size : 0;
		expect(&c, size == region, "BAR%u: config space sizes it 0x%" PRIx64 ", vfio region 0x%" PRIx64, i,
		       size, region);
		expect(&c, region == dt_bar_size[i], "BAR%u size 0x%" PRIx64 ", declared 0x%" PRIx64, i, region,
		       dt_bar_size[i]);
		if (dt_bar_size[i]) {
			expect(&c, !(lo & PCI_BASE_ADDRESS_SPACE_IO), "BAR%u is I/O, declared memory", i);
			expect(&c,
			       (d->region[i].flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) ==
				       (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
			       "BAR%u region flags 0x%x lack read/write", i, d->region[i].flags);
		}
		if (is64 && i < 5) {
			i++; /* the upper half has no region of its own */
			expect(&c, dt_bar_size[i] == 0, "BAR%u is the upper half of a 64-bit BAR, declared a BAR", i);
		}
	}
	check_end(&c);

	/* dmatest declares no expansion ROM */
	check_begin(&c, "rom-absent");
	uint32_t rom = 0;
	int ret = size_bar(d, PCI_ROM_ADDRESS, &rom);
	if (expect(&c, ret == 0, "sizing the ROM BAR: %s", strerror(-ret)))
		expect(&c, (rom & PCI_ROM_ADDRESS_MASK) == 0, "ROM BAR sizes as 0x%08x", rom);
	uint64_t size = d->region_ok[VFIO_PCI_ROM_REGION_INDEX] ? d->region[VFIO_PCI_ROM_REGION_INDEX].size : 0;
	expect(&c, size == 0, "vfio ROM region of 0x%" PRIx64 " bytes", size);
	check_end(&c);
}

static void check_irq_info(struct dev *d)
{
	static const struct {
		unsigned index;
		const char *name;
		unsigned want;
	} want[] = {
		{VFIO_PCI_INTX_IRQ_INDEX, "INTx", 1},
		{VFIO_PCI_MSI_IRQ_INDEX, "MSI", DT_MSI_VECTORS},
		{VFIO_PCI_MSIX_IRQ_INDEX, "MSI-X", DT_MSIX_VECTORS},
	};
	struct check c;

	check_begin(&c, "irq-info");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct vfio_irq_info *irq = &d->irq[want[i].index];
		if (!d->irq_ok[want[i].index])
			continue; /* already reported by vfio-device-info */
		expect(&c, irq->count == want[i].want, "%s: vfio reports %u vectors, declared %u", want[i].name,
		       irq->count, want[i].want);
		if (irq->count)
			expect(&c, irq->flags & VFIO_IRQ_INFO_EVENTFD, "%s: flags 0x%x lack EVENTFD", want[i].name,
			       irq->flags);
	}
	if (d->irq_ok[VFIO_PCI_INTX_IRQ_INDEX] && d->irq[VFIO_PCI_INTX_IRQ_INDEX].count)
		expect(&c,
		       (d->irq[VFIO_PCI_INTX_IRQ_INDEX].flags & (VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED)) ==
			       (VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED),
		       "INTx: flags 0x%x lack MASKABLE|AUTOMASKED", d->irq[VFIO_PCI_INTX_IRQ_INDEX].flags);
	/* what config space says must agree with vfio */
	if (d->caps.at[PCI_CAP_ID_MSI] && d->irq_ok[VFIO_PCI_MSI_IRQ_INDEX]) {
		unsigned n =
			1u << ((cfg16(d->cfg, d->caps.at[PCI_CAP_ID_MSI] + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QMASK) >> 1);
		expect(&c, d->irq[VFIO_PCI_MSI_IRQ_INDEX].count == n, "MSI: vfio %u vectors, capability %u",
		       d->irq[VFIO_PCI_MSI_IRQ_INDEX].count, n);
	}
	if (d->caps.at[PCI_CAP_ID_MSIX] && d->irq_ok[VFIO_PCI_MSIX_IRQ_INDEX]) {
		unsigned n = (cfg16(d->cfg, d->caps.at[PCI_CAP_ID_MSIX] + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1u;
		expect(&c, d->irq[VFIO_PCI_MSIX_IRQ_INDEX].count == n, "MSI-X: vfio %u vectors, capability %u",
		       d->irq[VFIO_PCI_MSIX_IRQ_INDEX].count, n);
	}
	check_end(&c);
}

/* Memory decode and bus master on: vfio-pci refuses BAR access without
 * the first, and the device must not DMA without the second. */
bool enable_device(struct dev *d, const char *name)
{
	uint16_t cmd = 0, back = 0;
	struct check c;

	check_begin(&c, "%s", name);
	if (!expect_ok(&c, cfg_read(d, PCI_COMMAND, &cmd, 2), "reading the command register"))
		return check_end(&c);
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (expect_ok(&c, cfg_write(d, PCI_COMMAND, &cmd, 2), "writing the command register") &&
	    expect_ok(&c, cfg_read(d, PCI_COMMAND, &back, 2), "reading the command register"))
		expect(&c,
		       (back & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) == (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
		       "command 0x%04x after writing 0x%04x", back, cmd);
	return check_end(&c);
}

static bool check_identity(struct dev *d)
{
	uint32_t id = 0, version = 0;
	struct check c;

	check_begin(&c, "bar0-identity");
	if (expect_ok(&c, reg_read(d, DT_REG_ID, &id), "reading ID") &&
	    expect_ok(&c, reg_read(d, DT_REG_VERSION, &version), "reading VERSION")) {
		expect(&c, id == DT_ID, "ID 0x%08x, want 0x%08x", id, DT_ID);
		expect(&c, version == DT_VERSION, "VERSION 0x%08x, want 0x%08x", version, DT_VERSION);
	}
	return check_end(&c);
}

/* ------------------------------------------------------------------ */
/* ------------------------------------------------------------------ */
/* Host self-test of the device-free helpers                           */
/* ------------------------------------------------------------------ */

static int host_selftest(void)
{
	struct check c;
	char why[160];

	check_begin(&c, "selftest-pagemap");
	{
		uint8_t *p = mmap(NULL, 2 * DMA_PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		uint64_t pa0 = 0, pa1 = 0, pa_mid = 0;
		if (expect(&c, p != MAP_FAILED, "mmap: %s", strerror(errno))) {
			memset(p, 1, 2 * DMA_PAGE);
			int r0 = virt_to_phys(p, &pa0), r1 = virt_to_phys(p + DMA_PAGE, &pa1);
			int rm = virt_to_phys(p + 123, &pa_mid);
			expect(&c, r0 == 0 && r1 == 0 && rm == 0, "virt_to_phys: %s",
			       strerror(-(r0   ? r0
					  : r1 ? r1
					       : rm)));
			expect(&c, pa0 && pa1 && pa0 != pa1, "pages at 0x%" PRIx64 " and 0x%" PRIx64, pa0, pa1);
			expect(&c, pa0 % DMA_PAGE == 0 && pa_mid == pa0 + 123,
			       "offset kept: 0x%" PRIx64 " / 0x%" PRIx64, pa0, pa_mid);
			munmap(p, 2 * DMA_PAGE);
		}
		/* a page never touched is not present */
		p = mmap(NULL, DMA_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (expect(&c, p != MAP_FAILED, "mmap: %s", strerror(errno))) {
			expect(&c, virt_to_phys(p, &pa0) == -ENOENT, "an untouched page has a physical address");
			munmap(p, DMA_PAGE);
		}
	}
	check_end(&c);

	check_begin(&c, "selftest-wait-vector");
	{
		int fds[4];
		uint64_t counts[4];
		char strays[160];
		for (int i = 0; i < 4; i++)
			fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		eventfd_write(fds[2], 1);
		expect(&c, wait_vector(fds, 4, 2, 1000, 10, counts) == 0, "vector 2 not seen");
		expect(&c, counts[2] == 1 && !counts[0] && !counts[1] && !counts[3], "counts %" PRIu64 "/%" PRIu64,
		       counts[2], counts[1]);
		eventfd_write(fds[1], 1);
		eventfd_write(fds[3], 2);
		uint64_t t0 = now_ms();
		expect(&c, wait_vector(fds, 4, 0, 200, 10, counts) == -ETIMEDOUT, "vector 0 seen but never fired");
		expect(&c, now_ms() - t0 >= 200 && now_ms() - t0 < 1000, "timeout not honoured");
		describe_strays(counts, 4, 0, strays, sizeof(strays));
		expect(&c, !strcmp(strays, "vector 1 x1, vector 3 x2"), "strays \"%s\"", strays);
		eventfd_write(fds[0], 1);
		eventfd_write(fds[3], 1);
		expect(&c, wait_vector(fds, 4, 0, 1000, 10, counts) == 0 && counts[3] == 1, "stray after the expected");
		for (int i = 0; i < 4; i++)
			close(fds[i]);
	}
	check_end(&c);

	check_begin(&c, "selftest-caps");
	{
		uint8_t cfg[256] = {0};
		struct caps caps;
		cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
		cfg[PCI_CAPABILITY_LIST] = 0x40;
		cfg[0x40] = PCI_CAP_ID_MSI;
		cfg[0x41] = 0x5b; /* low bits are reserved: 0x58 */
		cfg[0x58] = PCI_CAP_ID_MSIX;
		expect(&c, walk_caps(cfg, &caps, why, sizeof(why)) == 0, "valid chain refused: %s", why);
		expect(&c, caps.at[PCI_CAP_ID_MSI] == 0x40 && caps.at[PCI_CAP_ID_MSIX] == 0x58 && caps.count == 2,
		       "msi %02x msix %02x count %u", caps.at[PCI_CAP_ID_MSI], caps.at[PCI_CAP_ID_MSIX], caps.count);
		expect(&c, !strcmp(caps.list, "05@40 11@58"), "list \"%s\"", caps.list);
		cfg[0x59] = 0x40; /* loop */
		expect(&c, walk_caps(cfg, &caps, why, sizeof(why)) == -EINVAL, "loop accepted");
		cfg[0x59] = 0x20; /* into the header */
		expect(&c, walk_caps(cfg, &caps, why, sizeof(why)) == -EINVAL, "pointer into the header accepted");
		cfg[PCI_STATUS] = 0;
		expect(&c, walk_caps(cfg, &caps, why, sizeof(why)) == 0 && caps.count == 0, "list without status bit");
	}
	check_end(&c);

	check_begin(&c, "selftest-bdf");
	expect(&c, bdf_valid("0000:00:04.0") && bdf_valid("0000:1f:1f.7"), "valid BDF refused");
	expect(&c,
	       !bdf_valid("0000:00:04.8") && !bdf_valid("0000:00:04") && !bdf_valid("../../../etc") &&
		       !bdf_valid("0000:00:0G.0") && !bdf_valid("0000:00:04.0/"),
	       "invalid BDF accepted");
	check_end(&c);

	printf("vfio-dmatest: %u passed, %u failed\n", nr_passed, nr_failed);
	return nr_failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct dev d = {.container = -1, .group = -1, .fd = -1};
	bool no_reset = false;
	const char *bdf = NULL;
	struct check c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--host-selftest"))
			return host_selftest();
		else if (!strcmp(argv[i], "--no-reset"))
			no_reset = true;
		else if (argv[i][0] != '-' && !bdf)
			bdf = argv[i];
		else {
			fprintf(stderr, "usage: vfio-dmatest [--no-reset] [BDF] | --host-selftest\n");
			return 2;
		}
	}

	check_begin(&c, "vfio-find-device");
	if (bdf) {
		expect(&c, bdf_valid(bdf), "\"%s\" is not a PCI address like 0000:00:04.0", bdf);
		snprintf(d.bdf, sizeof(d.bdf), "%s", bdf);
	} else {
		int ret = find_device(d.bdf);
		expect(&c, ret == 0, "no %04x:%04x device in /sys/bus/pci/devices: %s", DT_VENDOR_ID, DT_DEVICE_ID,
		       strerror(-ret));
	}
	if (!check_end(&c) || !open_device(&d))
		return 1;
	rng_state ^= (uint32_t)now_ms(); /* fresh data every run */

	check_device_info(&d);
	check_config(&d);
	check_bars(&d);
	check_irq_info(&d);
	if (enable_device(&d, "config-enable") && check_identity(&d) && setup_buffers(&d)) {
		check_copy(&d, "dma-copy");
		check_fill(&d);
		if (!d.noiommu)
			check_unmapped(&d);
		check_interrupts(&d);
		check_mapped_bar(&d);
		if (!no_reset)
			check_reset(&d);
	}
	release_buffers(&d);
	if (d.bar4)
		munmap((void *)d.bar4, DT_BAR4_SIZE);
	close(d.fd);
	close(d.group);
	close(d.container);
	printf("vfio-dmatest: %u passed, %u failed\n", nr_passed, nr_failed);
	return nr_failed ? 1 : 0;
}
