/* SPDX-License-Identifier: MIT */
/*
 * vfu-sgl-check: runs inside the end-to-end guest and drives vfu-sgl-dma
 * (compat/libvfio-user/samples/sgl_dma.c, a device written against the
 * libvfio-user API) through its BAR0, with no driver: the registers are
 * reached through sysfs resource0, and the device's DMA goes to guest
 * physical addresses (pc, no IOMMU) found in /proc/self/pagemap.
 *
 * Build (static, for the initramfs):
 *   gcc -static -Wall -Wextra -O2 -o vfu-sgl-check vfu-sgl-check.c
 *
 * Usage: vfu-sgl-check [--private] BDF       (e.g. 0000:00:04.0)
 *
 * --private: guest RAM is private, so the device reaches it by
 * DMA_READ/DMA_WRITE messages, and the sample sends them from inside its
 * CMD write callback and waits. QEMU serves them only while no vCPU waits
 * in an access to the device (it holds its big lock meanwhile), so a
 * STATUS read right after CMD would stall both sides until a timeout.
 * With --private the program waits for a FILL to show in its own memory
 * before it reads STATUS, and leaves SUM out (nothing in guest memory
 * tells when it ended).
 *
 * Prints on stdout (the serial console), one line each:
 *   UVF-E2E: PASS <name>  /  UVF-E2E: FAIL <name>: <why>  /  UVF-E2E: INFO <text>
 * Checks, in order: bar0-map, bus-master, registers, page, fill, sum,
 * hugepage, fill-pages, sum-64k, refused-len-0, refused-len-big,
 * refused-addr, fill-after-refused (13; 11 with --private: no sum,
 * sum-64k). Last line "vfu-sgl-check: N passed,
 * M failed"; exit status 0 when all passed.
 */
#define _GNU_SOURCE /* MAP_HUGETLB */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "e2e-report.h"

/* vfu-sgl-dma's BAR0 registers (see sgl_dma.c) */
#define REG_ADDR_LO 0x00
#define REG_ADDR_HI 0x04
#define REG_LEN     0x08
#define REG_CMD     0x0c
#define REG_STATUS  0x10
#define REG_RESULT  0x14
#define REG_PATTERN 0x18
#define CMD_FILL    1
#define CMD_SUM     2
#define MAX_LEN     (64u * 1024u)

#define PAGE      4096u
#define HUGE_SIZE (2u << 20)

/* how long a FILL may take to show in memory with --private */
#define FILL_WAIT_S 60

static volatile uint32_t *bar0;
static int private_ram;

static uint32_t rd(unsigned reg)
{
	return bar0[reg / 4];
}

static void wr(unsigned reg, uint32_t v)
{
	bar0[reg / 4] = v;
}

/* Start one command over [addr, addr + len); the caller reads STATUS. */
static void command(uint64_t addr, uint32_t len, uint32_t cmd, uint8_t pattern)
{
	wr(REG_ADDR_LO, (uint32_t)addr);
	wr(REG_ADDR_HI, (uint32_t)(addr >> 32));
	wr(REG_LEN, len);
	wr(REG_PATTERN, pattern);
	wr(REG_CMD, cmd);
}

/* With --private: wait, touching only guest memory, until the byte at p
 * reads v (the last one a FILL writes). 0 when it did. */
static int wait_byte(const volatile uint8_t *p, uint8_t v)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*p != v) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > FILL_WAIT_S)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* The guest physical address of the byte at p (mapped and locked). */
static uint64_t phys_of(const void *p)
{
	uint64_t entry = 0;
	uintptr_t va = (uintptr_t)p;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, sizeof(entry), (off_t)(va / PAGE * sizeof(entry))) != (ssize_t)sizeof(entry))
		entry = 0;
	close(fd);
	/* bit 63: present; bits 0-54: the page frame number */
	if (!(entry >> 63) || !(entry & ((1ull << 55) - 1)))
		return 0;
	return (entry & ((1ull << 55) - 1)) * PAGE + va % PAGE;
}

/* Memory command and bus master on: the device's DMA by message goes
 * through QEMU's bus master address space. */
static int enable(const char *bdf)
{
	char path[128];
	uint16_t cmd = 0, back = 0;
	int fd, ok;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	ok = pread(fd, &cmd, 2, 4) == 2;
	cmd |= 0x6;
	ok = ok && pwrite(fd, &cmd, 2, 4) == 2 && pread(fd, &back, 2, 4) == 2;
	close(fd);
	if (!ok)
		return -EIO;
	return (back & 0x6) == 0x6 ? 0 : -ENXIO;
}

/* Bytes [from, to) of buf are all v; else the first offset that is not. */
static long first_not(const uint8_t *buf, size_t from, size_t to, uint8_t v)
{
	for (size_t i = from; i < to; i++)
		if (buf[i] != v)
			return (long)i;
	return -1;
}

/* FILL [off, off + len) of buf (physical base pa, size total) with pat:
 * those bytes must change, the ones around must keep the guard value. */
static void check_fill(const char *name, uint8_t *buf, uint64_t pa, size_t total, size_t off, uint32_t len, uint8_t pat)
{
	const uint8_t guard = (uint8_t)~pat;
	uint32_t st;
	long at;

	memset(buf, guard, total);
	command(pa + off, len, CMD_FILL, pat);
	if (private_ram && wait_byte(buf + off + len - 1, pat)) {
		fail(name, "the last byte of the FILL did not change in %d s", FILL_WAIT_S);
		return;
	}
	/* the device wrote guest memory behind the compiler's back */
	__asm__ __volatile__("" ::: "memory");
	st = rd(REG_STATUS);
	if (st) {
		fail(name, "STATUS %u (%s) for FILL of %u bytes at %#llx", st, strerror((int)st), len,
		     (unsigned long long)(pa + off));
	} else if ((at = first_not(buf, off, off + len, pat)) >= 0) {
		fail(name, "byte %ld is %#x, the device should have filled it with %#x", at, buf[at], pat);
	} else if ((at = first_not(buf, 0, off, guard)) >= 0 || (at = first_not(buf, off + len, total, guard)) >= 0) {
		fail(name, "byte %ld outside [%zu, %zu) changed to %#x", at, off, off + len, buf[at]);
	} else {
		pass(name);
	}
}

/* SUM [off, off + len) of buf: RESULT must be the sum of those bytes. */
static void check_sum(const char *name, uint8_t *buf, uint64_t pa, size_t total, size_t off, uint32_t len)
{
	uint32_t want = 0, st, got;
	uint32_t x = 0x2545f491u;

	for (size_t i = 0; i < total; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	for (size_t i = off; i < off + len; i++)
		want += buf[i];
	command(pa + off, len, CMD_SUM, 0);
	st = rd(REG_STATUS);
	got = rd(REG_RESULT);
	if (st)
		fail(name, "STATUS %u (%s) for SUM of %u bytes", st, strerror((int)st), len);
	else if (got != want)
		fail(name, "RESULT %#x, the bytes sum to %#x", got, want);
	else
		pass(name);
}

static void check_refused(const char *name, uint64_t addr, uint32_t len, uint32_t want)
{
	uint32_t st;

	command(addr, len, CMD_FILL, 0x11);
	st = rd(REG_STATUS);

	if (want ? st == want : st != 0)
		pass(name);
	else
		fail(name, "STATUS %u for FILL of %u bytes at %#llx, want %s%u", st, len, (unsigned long long)addr,
		     want ? "" : "not ", want);
}

int main(int argc, char **argv)
{
	char path[128];
	uint8_t *page, *huge;
	uint64_t pa, hpa;
	const char *bdf;
	int fd, rc;

	private_ram = argc == 3 && !strcmp(argv[1], "--private");
	if (argc != 2 + private_ram) {
		fprintf(stderr, "usage: %s [--private] BDF\n", argv[0]);
		return 2;
	}
	bdf = argv[argc - 1];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	bar0 = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar0 == MAP_FAILED) {
		fail("bar0-map", "%s: %s", path, strerror(errno));
		goto out;
	}
	pass("bar0-map");
	rc = enable(bdf);
	if (rc)
		fail("bus-master", "cannot set memory and bus master in the command register: %s", strerror(-rc));
	else
		pass("bus-master");

	/* the registers keep what is written (each access a message) */
	wr(REG_ADDR_LO, 0x89abcdefu);
	wr(REG_ADDR_HI, 0x01234567u);
	wr(REG_LEN, 0x1234u);
	wr(REG_PATTERN, 0x5au);
	if (rd(REG_ADDR_LO) == 0x89abcdefu && rd(REG_ADDR_HI) == 0x01234567u && rd(REG_LEN) == 0x1234u &&
	    rd(REG_PATTERN) == 0x5au)
		pass("registers");
	else
		fail("registers", "read back ADDR %#x:%#x LEN %#x PATTERN %#x", rd(REG_ADDR_HI), rd(REG_ADDR_LO),
		     rd(REG_LEN), rd(REG_PATTERN));

	/* one locked page of guest RAM */
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
	pa = page == MAP_FAILED ? 0 : phys_of(page);
	if (!pa) {
		fail("page", "no locked page with a physical address (%s)", strerror(errno));
		goto out;
	}
	info("page at guest physical %#llx", (unsigned long long)pa);
	pass("page");
	check_fill("fill", page, pa, PAGE, 100, 3000, 0x5a);
	if (!private_ram)
		check_sum("sum", page, pa, PAGE, 7, 4000);

	/* a huge page: physically contiguous, so commands may cross pages */
	fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) != 2)
			info("nr_hugepages: %s", strerror(errno));
		close(fd);
	}
	huge = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_LOCKED | MAP_POPULATE, -1, 0);
	hpa = huge == MAP_FAILED ? 0 : phys_of(huge);
	if (!hpa || phys_of(huge + HUGE_SIZE - PAGE) != hpa + HUGE_SIZE - PAGE) {
		fail("hugepage", "no 2 MiB huge page at a known physical address (%s)",
		     huge == MAP_FAILED ? strerror(errno) : "pagemap");
	} else {
		info("huge page at guest physical %#llx", (unsigned long long)hpa);
		pass("hugepage");
		/* 3 pages and a bit, from 500 bytes before a page boundary */
		check_fill("fill-pages", huge, hpa, 8 * PAGE, PAGE - 500, 3 * PAGE + 1000, 0xc3);
		/* the longest command, over 17 pages */
		if (!private_ram)
			check_sum("sum-64k", huge, hpa, MAX_LEN + 2 * PAGE, 1000, MAX_LEN);
	}

	/* refused commands leave the device working */
	check_refused("refused-len-0", pa, 0, EINVAL);
	check_refused("refused-len-big", pa, MAX_LEN + 1, EINVAL);
	/* far above the 512 MiB of guest RAM: no DMA range holds it */
	check_refused("refused-addr", 0x7f0000000000ull, PAGE, 0);
	check_fill("fill-after-refused", page, pa, PAGE, 0, PAGE, 0xa5);
out:
	printf("vfu-sgl-check: %d passed, %d failed\n", passes, failures);
	return failures != 0;
}
