/* SPDX-License-Identifier: MIT */
/* vfio-dmatest's checks of a working device: DMA both ways, every interrupt
 * vector, BAR4 mapped into this process, and a device reset (vfio-dmatest.c
 * opens the device and runs them). */
#include "vfio-dmatest.h"

/* Type1 mode: where the buffers go in the device's address space. Buffer B
 * lies above 4 GiB so that the high address registers are exercised. */
static const uint64_t type1_iova[] = {0x10000000, 0x100000000, 0x10002000};

/* DMA                                                                  */
/* ------------------------------------------------------------------ */

bool setup_buffers(struct dev *d)
{
	struct check c;

	check_begin(&c, "dma-buffers");
	for (unsigned i = 0; i < 3; i++) {
		struct dma_buf *b = &d->buf[i];
		void *va = mmap(NULL, DMA_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
		if (!expect(&c, va != MAP_FAILED, "mmap: %s", strerror(errno)))
			return check_end(&c);
		b->va = va;
		memset(b->va, 0, DMA_PAGE); /* resident and private before asking where it is */
		if (d->noiommu) {
			int ret = virt_to_phys(b->va, &b->iova);
			if (!expect(&c, ret == 0, "pagemap: %s%s", strerror(-ret),
				    ret == -EPERM ? " (PFNs hidden: needs root)" : ""))
				return check_end(&c);
		} else {
			struct vfio_iommu_type1_dma_map map = {
				.argsz = sizeof(map),
				.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
				.vaddr = (uintptr_t)b->va,
				.iova = type1_iova[i],
				.size = DMA_PAGE,
			};
			if (!expect(&c, ioctl(d->container, VFIO_IOMMU_MAP_DMA, &map) == 0,
				    "VFIO_IOMMU_MAP_DMA iova 0x%" PRIx64 ": %s", type1_iova[i], strerror(errno)))
				return check_end(&c);
			b->iova = type1_iova[i];
			b->mapped = true;
		}
		info("buffer %c at device address 0x%" PRIx64, 'A' + i, b->iova);
	}
	d->bufs_ok = check_end(&c);
	return d->bufs_ok;
}

void release_buffers(struct dev *d)
{
	for (unsigned i = 0; i < 3; i++) {
		struct dma_buf *b = &d->buf[i];
		if (b->mapped) {
			struct vfio_iommu_type1_dma_unmap unmap = {
				.argsz = sizeof(unmap), .iova = b->iova, .size = DMA_PAGE};
			if (ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
				info("VFIO_IOMMU_UNMAP_DMA 0x%" PRIx64 ": %s", b->iova, strerror(errno));
		}
		if (b->va)
			munmap(b->va, DMA_PAGE);
	}
}

uint32_t rng_state = 2463534242u;

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 17;
		rng_state ^= rng_state << 5;
		p[i] = (uint8_t)rng_state;
	}
}

/* Offset of the first byte of p[0..len) that differs from want (a buffer,
 * or NULL for the byte value fill), or -1. */
static long first_mismatch(const uint8_t *p, const uint8_t *want, uint8_t fill, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != (want ? want[i] : fill))
			return (long)i;
	}
	return -1;
}

/* Copy A to B (device reads A, writes B). */
void check_copy(struct dev *d, const char *name)
{
	uint8_t *a = d->buf[0].va, *b = d->buf[1].va;
	uint32_t status = 0;
	struct check c;
	int ret;
	long at;

	check_begin(&c, "%s", name);
	fill_random(a, DMA_PAGE);
	memset(b, 0, DMA_PAGE);
	ret = run_command(d, DT_CMD_COPY, d->buf[0].iova, d->buf[1].iova, DMA_PAGE, 0, &status);
	if (expect(&c, ret == 0, "COPY: %s", strerror(-ret)) &&
	    expect(&c, status == 0, "COPY: STATUS %u (%s)", status, strerror((int)status))) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the device wrote behind the compiler's back */
		at = first_mismatch(b, a, 0, DMA_PAGE);
		expect(&c, at < 0, "B differs from A at byte %ld (0x%02x, want 0x%02x)", at, at < 0 ? 0 : b[at],
		       at < 0 ? 0 : a[at]);
	}
	check_end(&c);
}

/* Fill most of C; the tail must stay as it was. */
void check_fill(struct dev *d)
{
	const uint32_t len = DMA_PAGE - 256;
	uint8_t *p = d->buf[2].va;
	uint32_t status = 0;
	struct check c;
	long at;
	int ret;

	check_begin(&c, "dma-fill");
	memset(p, 0x11, DMA_PAGE);
	/* only the low byte of PATTERN is the fill value */
	ret = run_command(d, DT_CMD_FILL, 0, d->buf[2].iova, len, 0xdeadbec3u, &status);
	if (expect(&c, ret == 0, "FILL: %s", strerror(-ret)) &&
	    expect(&c, status == 0, "FILL: STATUS %u (%s)", status, strerror((int)status))) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		at = first_mismatch(p, NULL, 0xc3, len);
		expect(&c, at < 0, "byte %ld is 0x%02x, want 0xc3", at, at < 0 ? 0 : p[at]);
		at = first_mismatch(p + len, NULL, 0x11, DMA_PAGE - len);
		expect(&c, at < 0, "byte %ld beyond LEN was overwritten (0x%02x)", at + (long)len,
		       at < 0 ? 0 : p[len + (size_t)at]);
	}
	check_end(&c);
}

/* Type1 only: an IOVA nobody mapped must fail the command, not the guest. */
void check_unmapped(struct dev *d)
{
	uint32_t status = 0;
	struct check c;
	int ret;

	check_begin(&c, "dma-unmapped");
	ret = run_command(d, DT_CMD_FILL, 0, TYPE1_UNMAPPED_IOVA, 64, 0x5a, &status);
	if (expect(&c, ret == 0, "FILL: %s", strerror(-ret)))
		expect(&c, status == EFAULT, "STATUS %u (%s), want EFAULT", status, strerror((int)status));
	check_end(&c);
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

/* A small command whose completion interrupt is what is being tested. */
static int poke(struct dev *d, uint32_t *status)
{
	return run_command(d, DT_CMD_FILL, 0, d->buf[2].iova, 64, 0x3c, status);
}

/*
 * Attach one eventfd per vector of `index`, then for each vector make the
 * device complete a command on it and check that exactly that eventfd
 * fired. `vectors`: how many to attach (and test).
 */
static void check_vectors(struct dev *d, unsigned index, const char *label, unsigned vectors)
{
	int *fds = malloc(vectors * sizeof(*fds));
	uint64_t *counts = calloc(vectors, sizeof(*counts));
	struct check c;
	int ret = 0;

	check_begin(&c, "irq-%s-enable", label);
	if (expect(&c, fds && counts, "out of memory")) {
		for (unsigned v = 0; v < vectors; v++) {
			fds[v] = ret ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (!ret && fds[v] < 0)
				ret = -errno;
		}
		if (expect_ok(&c, ret, "eventfd"))
			expect_ok(&c, set_irq_eventfds(d, index, vectors, fds), "VFIO_DEVICE_SET_IRQS %u x %s", vectors,
				  label);
	}
	if (check_end(&c)) {
		for (unsigned v = 0; v < vectors; v++) {
			uint32_t status = 0;
			char strays[160];

			check_begin(&c, "irq-%s-vector-%u", label, v);
			drain_eventfds(fds, vectors, NULL);
			if (expect_ok(&c, select_vector(d, v), "selecting vector %u", v) &&
			    expect_ok(&c, poke(d, &status), "command") &&
			    expect(&c, status == 0, "command STATUS %u", status)) {
				ret = wait_vector(fds, vectors, v, WAIT_MS, SETTLE_MS, counts);
				describe_strays(counts, vectors, v, strays, sizeof(strays));
				expect(&c, ret == 0, "no interrupt on vector %u within %u ms%s%s", v, WAIT_MS,
				       strays[0] ? "; fired instead: " : "", strays);
				expect(&c, ret != 0 || !strays[0], "other vectors fired too: %s", strays);
				expect(&c, ret != 0 || counts[v] == 1,
				       "vector %u fired %" PRIu64 " times for one command", v, counts[v]);
			}
			check_end(&c);
		}
		select_vector(d, 0);

		check_begin(&c, "irq-%s-disable", label);
		expect_ok(&c, set_irq_none(d, index, VFIO_IRQ_SET_ACTION_TRIGGER, 0),
			  "VFIO_DEVICE_SET_IRQS disabling %s", label);
		check_end(&c);
	}
	for (unsigned v = 0; fds && counts && v < vectors; v++) {
		if (fds[v] >= 0)
			close(fds[v]);
	}
	free(fds);
	free(counts);
}

/*
 * INTx: vfio masks the line when it delivers an interrupt. A command that
 * completes while the line is masked must be held back and delivered by
 * the unmask; after that, one more unmask and command, one more interrupt.
 */
static void check_intx(struct dev *d)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t count = 0;
	uint32_t status = 0;
	struct check c;
	bool ok;
	int ret;

	check_begin(&c, "irq-intx");
	if (!expect(&c, fd >= 0, "eventfd: %s", strerror(errno)) ||
	    !expect_ok(&c, set_irq_eventfds(d, VFIO_PCI_INTX_IRQ_INDEX, 1, &fd), "VFIO_DEVICE_SET_IRQS INTx")) {
		check_end(&c);
		if (fd >= 0)
			close(fd);
		return;
	}
	drain_eventfds(&fd, 1, NULL);
	if (expect_ok(&c, poke(d, &status), "command")) {
		ret = wait_vector(&fd, 1, 0, WAIT_MS, SETTLE_MS, &count);
		expect(&c, ret == 0, "no INTx within %u ms", WAIT_MS);
		expect(&c, ret != 0 || count == 1, "INTx fired %" PRIu64 " times for one command", count);
	}
	ok = check_end(&c);

	check_begin(&c, "irq-intx-masked");
	if (expect(&c, ok, "no first interrupt, so the line is not masked") &&
	    expect_ok(&c, poke(d, &status), "command")) {
		ret = wait_vector(&fd, 1, 0, 2 * SETTLE_MS, 0, &count);
		ok = expect(&c, ret == -ETIMEDOUT, "INTx fired while masked");
	}
	ok = check_end(&c) && ok;

	check_begin(&c, "irq-intx-unmask");
	if (expect(&c, ok, "nothing held back to release") &&
	    expect_ok(&c, set_irq_none(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1), "unmasking INTx")) {
		ret = wait_vector(&fd, 1, 0, WAIT_MS, SETTLE_MS, &count);
		expect(&c, ret == 0, "the interrupt held back while masked did not come within %u ms of the unmask",
		       WAIT_MS);
	}
	check_end(&c);

	check_begin(&c, "irq-intx-again");
	if (expect_ok(&c, set_irq_none(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1), "unmasking INTx") &&
	    expect_ok(&c, poke(d, &status), "command")) {
		ret = wait_vector(&fd, 1, 0, WAIT_MS, SETTLE_MS, &count);
		expect(&c, ret == 0, "no INTx within %u ms after unmasking", WAIT_MS);
		expect(&c, ret != 0 || count == 1, "INTx fired %" PRIu64 " times for one command", count);
	}
	set_irq_none(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1);
	expect_ok(&c, set_irq_none(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0),
		  "VFIO_DEVICE_SET_IRQS disabling INTx");
	check_end(&c);
	close(fd);
}

void check_interrupts(struct dev *d)
{
	/* One vector per MSI-X entry. MSI: vector 0 only, since an x86 guest
	 * without interrupt remapping gives a function a single MSI. */
	if (d->irq_ok[VFIO_PCI_MSIX_IRQ_INDEX] && d->irq[VFIO_PCI_MSIX_IRQ_INDEX].count) {
		unsigned n = d->irq[VFIO_PCI_MSIX_IRQ_INDEX].count;
		check_vectors(d, VFIO_PCI_MSIX_IRQ_INDEX, "msix", n < MAX_VECTORS ? n : MAX_VECTORS);
	}
	if (d->irq_ok[VFIO_PCI_MSI_IRQ_INDEX] && d->irq[VFIO_PCI_MSI_IRQ_INDEX].count)
		check_vectors(d, VFIO_PCI_MSI_IRQ_INDEX, "msi", 1);
	if (d->irq_ok[VFIO_PCI_INTX_IRQ_INDEX] && d->irq[VFIO_PCI_INTX_IRQ_INDEX].count)
		check_intx(d);
}

/* ------------------------------------------------------------------ */
/* Mapped BAR4                                                          */
/* ------------------------------------------------------------------ */

static uint32_t fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = DT_FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * DT_FNV_PRIME;
	return h;
}

/* Loads of BAR4 through the mapping, 32 bits each (it is device memory:
 * no string instructions), into out. */
static void bar4_load(const struct dev *d, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len / 4; i++) {
		uint32_t v = d->bar4[i];
		memcpy(out + 4 * i, &v, 4);
	}
}

/* SUM over the first len bytes of BAR4; *sum receives the register. */
static int run_sum(struct dev *d, uint32_t len, uint32_t *status, uint32_t *sum)
{
	int ret = run_command(d, DT_CMD_SUM, 0, 0, len, 0, status);
	return ret < 0 ? ret : reg_read(d, DT_REG_SUM, sum);
}

/*
 * BAR4 through the guest's vfio mapping: stores and loads are plain memory
 * accesses. QEMU maps the device's shared memory straight into the guest,
 * so they must reach the device without any message: BAR4_WRITES (writes
 * that came by REGION_WRITE) stays 0 after 64 KiB of stores, and the
 * device's checksum of BAR4 matches what was stored.
 *
 * With MSI-X on: QEMU traps every BAR of a vfio-user-pci device from its
 * first INTx interrupt until INTx is disabled (it turns the mappings off
 * to catch the EOI, and unlike vfio-pci it has no timer, no
 * x-intx-mmap-timeout-ms, to turn them back on). Enabling MSI-X disables
 * its INTx emulation, which turns the mappings back on.
 */
void check_mapped_bar(struct dev *d)
{
	const struct vfio_region_info *r = &d->region[VFIO_PCI_BAR4_REGION_INDEX];
	static uint8_t want[DT_BAR4_SIZE], got[DT_BAR4_SIZE];
	uint32_t status = 0, sum = 0, writes = 0;
	uint64_t fired = 0;
	struct check c;
	long at;
	int ret, irq;

	check_begin(&c, "bar4-region");
	if (expect(&c, d->region_ok[VFIO_PCI_BAR4_REGION_INDEX], "no BAR4 region")) {
		expect(&c, r->size == DT_BAR4_SIZE, "BAR4 size 0x%llx, declared 0x%x", (unsigned long long)r->size,
		       DT_BAR4_SIZE);
		expect(&c, r->flags & VFIO_REGION_INFO_FLAG_MMAP, "BAR4 region flags 0x%x lack MMAP", r->flags);
	}
	if (!check_end(&c))
		return;

	check_begin(&c, "bar4-mmap");
	void *va = mmap(NULL, DT_BAR4_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, (off_t)r->offset);
	if (expect(&c, va != MAP_FAILED, "mmap of BAR4 (offset 0x%llx): %s", (unsigned long long)r->offset,
		   strerror(errno)))
		d->bar4 = va;
	if (!check_end(&c))
		return;
	info("BAR4 mapped at %p", va);

	check_begin(&c, "bar4-msix");
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (expect(&c, irq >= 0, "eventfd: %s", strerror(errno)) &&
	    expect_ok(&c, set_irq_eventfds(d, VFIO_PCI_MSIX_IRQ_INDEX, 1, &irq), "VFIO_DEVICE_SET_IRQS 1 x msix"))
		expect_ok(&c, select_vector(d, 0), "selecting vector 0");
	if (!check_end(&c)) {
		if (irq >= 0)
			close(irq);
		return;
	}

	/* plain stores, then the device checksums what it sees */
	check_begin(&c, "bar4-store-sum");
	fill_random(want, sizeof(want));
	for (size_t i = 0; i < sizeof(want) / 4; i++) {
		uint32_t v;
		memcpy(&v, want + 4 * i, 4);
		d->bar4[i] = v;
	}
	if (expect_ok(&c, reg_read(d, DT_REG_BAR4_WRITES, &writes), "reading BAR4_WRITES"))
		expect(&c, writes == 0, "%u BAR4 writes reached the device as messages: the mapping is trapped",
		       writes);
	ret = run_sum(d, DT_BAR4_SIZE, &status, &sum);
	if (expect_ok(&c, ret, "SUM") && expect(&c, status == 0, "SUM: STATUS %u (%s)", status, strerror((int)status)))
		expect(&c, sum == fnv1a(want, sizeof(want)), "SUM 0x%08x, stored bytes sum to 0x%08x", sum,
		       fnv1a(want, sizeof(want)));
	/* LEN counts: an odd length sums only those bytes */
	ret = run_sum(d, 4093, &status, &sum);
	if (expect_ok(&c, ret, "SUM of 4093 bytes") &&
	    expect(&c, status == 0, "SUM of 4093 bytes: STATUS %u (%s)", status, strerror((int)status)))
		expect(&c, sum == fnv1a(want, 4093), "SUM of 4093 bytes 0x%08x, want 0x%08x", sum, fnv1a(want, 4093));
	bar4_load(d, got, sizeof(got));
	at = first_mismatch(got, want, 0, sizeof(got));
	expect(&c, at < 0, "BAR4 reads back 0x%02x at byte %ld, stored 0x%02x", at < 0 ? 0 : got[at], at,
	       at < 0 ? 0 : want[at]);
	check_end(&c);

	/* device stores show through the mapping; the tail keeps our bytes */
	check_begin(&c, "bar4-barfill");
	const uint32_t len = DT_BAR4_SIZE / 2 + 4;
	drain_eventfds(&irq, 1, NULL);
	ret = run_command(d, DT_CMD_BARFILL, 0, 0, len, 0x1234565au, &status);
	if (expect_ok(&c, ret, "BARFILL") &&
	    expect(&c, status == 0, "BARFILL: STATUS %u (%s)", status, strerror((int)status))) {
		/* it completes like the other commands */
		ret = wait_vector(&irq, 1, 0, WAIT_MS, SETTLE_MS, &fired);
		expect(&c, ret == 0 && fired == 1, "BARFILL: completion interrupt fired %" PRIu64 " times", fired);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		bar4_load(d, got, sizeof(got));
		at = first_mismatch(got, NULL, 0x5a, len);
		expect(&c, at < 0, "BAR4 byte %ld is 0x%02x after BARFILL, want 0x5a", at, at < 0 ? 0 : got[at]);
		at = first_mismatch(got + len, want + len, 0, sizeof(got) - len);
		expect(&c, at < 0, "BAR4 byte %ld beyond LEN changed (0x%02x)", at + (long)len,
		       at < 0 ? 0 : got[len + (size_t)at]);
	}
	check_end(&c);

	/* more than BAR4 holds: refused, SUM unchanged */
	check_begin(&c, "bar4-len-limit");
	ret = run_command(d, DT_CMD_SUM, 0, 0, DT_BAR4_SIZE + 1, 0, &status);
	if (expect_ok(&c, ret, "SUM of 0x%x bytes", DT_BAR4_SIZE + 1))
		expect(&c, status == EINVAL, "SUM of 0x%x bytes: STATUS %u (%s), want EINVAL", DT_BAR4_SIZE + 1,
		       status, strerror((int)status));
	check_end(&c);

	set_irq_none(d, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0);
	close(irq);
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

void check_reset(struct dev *d)
{
	static const struct {
		uint32_t reg;
		const char *name;
		uint32_t dirty; /* written before the reset (0: read-only) */
	} regs[] = {
		{DT_REG_SRC_LO, "SRC_LO", 0x12345678},
		{DT_REG_SRC_HI, "SRC_HI", 0x9abcdef0},
		{DT_REG_DST_LO, "DST_LO", 0x0fedcba9},
		{DT_REG_DST_HI, "DST_HI", 0x87654321},
		{DT_REG_LEN, "LEN", 0x100},
		{DT_REG_PATTERN, "PATTERN", 0xa5},
		{DT_REG_STATUS, "STATUS", 0},
		{DT_REG_IRQ_COUNT, "IRQ_COUNT", 0},
		{DT_REG_CMD_COUNT, "CMD_COUNT", 0},
		{DT_REG_SUM, "SUM", 0},
		{DT_REG_BAR4_WRITES, "BAR4_WRITES", 0},
#if DT_REG_IRQ_VECTOR >= 0
		{DT_REG_IRQ_VECTOR, "IRQ_VECTOR", 0}, /* dirtied by select_vector */
#endif
	};
	uint32_t val = 0;
	struct check c;

	check_begin(&c, "reset");
	if (!expect(&c, d->info.flags & VFIO_DEVICE_FLAGS_RESET,
		    "vfio offers no reset for %s (no FLR, PM or bus reset method: put the device alone behind a "
		    "PCIe root port or PCI bridge)",
		    d->bdf)) {
		check_end(&c);
		return;
	}
	/* registers away from their reset values, so the check can fail */
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (regs[i].dirty)
			expect_ok(&c, reg_write(d, regs[i].reg, regs[i].dirty), "writing %s", regs[i].name);
	}
	select_vector(d, 1);
	expect(&c, reg_read(d, DT_REG_CMD_COUNT, &val) == 0 && val != 0, "CMD_COUNT is 0 before the reset");
	if (expect(&c, ioctl(d->fd, VFIO_DEVICE_RESET) == 0, "VFIO_DEVICE_RESET: %s", strerror(errno)))
		info("VFIO_DEVICE_RESET done");
	bool reset_ok = check_end(&c);

	/* the kernel restores config space after the reset; make sure */
	enable_device(d, "reset-enable");

	check_begin(&c, "reset-registers");
	if (expect(&c, reset_ok, "no reset happened")) {
		if (expect_ok(&c, reg_read(d, DT_REG_ID, &val), "reading ID"))
			expect(&c, val == DT_ID, "ID 0x%08x after reset", val);
		if (expect_ok(&c, reg_read(d, DT_REG_VERSION, &val), "reading VERSION"))
			expect(&c, val == DT_VERSION, "VERSION 0x%08x after reset", val);
		for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
			if (expect_ok(&c, reg_read(d, regs[i].reg, &val), "reading %s", regs[i].name))
				expect(&c, val == 0, "%s is 0x%08x after reset, want 0", regs[i].name, val);
		}
	}
	check_end(&c);

	/* BAR4 is cleared; the mapping outlives the reset */
	if (d->bar4) {
		static uint8_t got[DT_BAR4_SIZE];
		check_begin(&c, "reset-bar4");
		if (expect(&c, reset_ok, "no reset happened")) {
			bar4_load(d, got, sizeof(got));
			long at = first_mismatch(got, NULL, 0, sizeof(got));
			expect(&c, at < 0, "BAR4 byte %ld is 0x%02x after reset, want 0", at, at < 0 ? 0 : got[at]);
		}
		check_end(&c);
	}

	/* DMA mappings outlive a device reset */
	if (d->bufs_ok)
		check_copy(d, "reset-dma");
}

