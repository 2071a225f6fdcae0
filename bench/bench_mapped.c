/* SPDX-License-Identifier: MIT */
/*
 * Fast region access without messages (issue 5, items 3 and 4):
 *  - a mapped BAR (UVF_BAR_MEMORY | UVF_BAR_MMAP) reached from the client
 *    with uvf_client_access_write/access_read, and through a pointer that
 *    uvf_client_region_ptr looks up for each access, vs loads and stores
 *    of the same size in a local buffer. (A load or store through a
 *    pointer looked up once runs no uvf code at all: it is not measured.)
 *  - ioeventfd doorbells (uvf_client_access_write on a uvf_device_add_ioeventfd
 *    range) vs posted REGION_WRITEs: doorbells per second as the device
 *    counts them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* BAR0 of the doorbell device: a memory BAR (not mappable). */
#define DOORBELL 0x100u /* ioeventfd, 4 bytes */
#define POSTED	 0x200u /* plain register, write callback */
#define COUNTS	 0x800u /* device-maintained: doorbells, ioeventfd wake-ups, posted writes */

static uint64_t *counts; /* in the server's BAR memory */

static int mapped_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP};
	(void)arg;
	return uvf_device_set_bar(dev, 0, &bar0);
}

static void doorbell(struct uvf_device *dev, void *data, uint64_t count)
{
	(void)dev, (void)data;
	counts[0] += count;
	counts[1]++;
}

static int posted_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)buf, (void)len;
	if (offset == POSTED)
		counts[2]++;
	return 0;
}

static int doorbell_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY, .write = posted_write};
	struct uvf_ioeventfd_desc io = {
		.version = UVF_IOEVENTFD_DESC_VERSION, .bar = 0, .offset = DOORBELL, .size = 4, .fn = doorbell};
	(void)arg;
	int ret = uvf_device_set_bar(dev, 0, &bar0);
	if (ret < 0)
		return ret;
	counts = (uint64_t *)((uint8_t *)uvf_device_bar_memory(dev, 0, NULL) + COUNTS);
	ret = uvf_device_add_ioeventfd(dev, &io);
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------ */
/* Item 3                                                               */
/* ------------------------------------------------------------------ */

enum access { BAR_WRITE, BAR_READ, PTR_STORE, PTR_LOAD };

static double local_rate(volatile uint8_t *buf, enum access a, size_t len, uint64_t iters)
{
	struct bench_timer t;
	bool store = a == BAR_WRITE || a == PTR_STORE;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++) {
		volatile uint8_t *p = buf + 8 * (i & 7);
		if (len == 4) {
			if (store)
				*(volatile uint32_t *)p = (uint32_t)i;
			else
				(void)*(volatile uint32_t *)p;
		} else {
			if (store)
				*(volatile uint64_t *)p = i;
			else
				(void)*(volatile uint64_t *)p;
		}
	}
	return bench_timer_floor(&t, (double)iters, "local load/store");
}

static double uvf_rate(struct uvf_client *c, enum access a, size_t len, uint64_t iters)
{
	struct bench_timer t;
	uint64_t v = 0;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t off = 8 * (i & 7);
		volatile uint8_t *p;
		switch (a) {
		case BAR_WRITE:
			v = i;
			bench_check(BENCH_UVF(uvf_client_access_write(c, 0, off, &v, len)), "uvf_client_access_write");
			break;
		case BAR_READ:
			bench_check(BENCH_UVF(uvf_client_access_read(c, 0, off, &v, len)), "uvf_client_access_read");
			break;
		case PTR_STORE:
		case PTR_LOAD:
			p = BENCH_UVF(uvf_client_region_ptr(c, 0, off, len));
			if (!p)
				bench_check(-EFAULT, "uvf_client_region_ptr");
			if (a == PTR_STORE && len == 4)
				*(volatile uint32_t *)p = (uint32_t)i;
			else if (a == PTR_STORE)
				*(volatile uint64_t *)p = i;
			else if (len == 4)
				v = *(volatile uint32_t *)p;
			else
				v = *(volatile uint64_t *)p;
			break;
		}
	}
	bench_use(&v);
	return bench_timer_uvf(&t, (double)iters, iters, "mapped BAR access");
}

static void bench_mapped_bar(void)
{
	static const char *const names[] = {"uvf_client_access_write", "uvf_client_access_read",
					    "uvf_client_region_ptr, then store", "uvf_client_region_ptr, then load"};
	bench_table_header("Mapped BAR (UVF_BAR_MEMORY | UVF_BAR_MMAP) from the client vs the same access to local "
			   "memory");
	struct bench_server_spec spec = {
		.cpu = bench_cpu.server_same, .setup = mapped_setup, .opts = UVF_SERVE_OPTS_INIT};
	struct bench_server s;
	bench_server_start(&s, &spec);
	struct uvf_client *c = bench_connect(&s, 0);
	int ret = uvf_client_region_map(c, 0);
	void *mapped = ret < 0 ? NULL : uvf_client_region_ptr(c, 0, 0, 64);
	if (!mapped) {
		char why[96];
		snprintf(why, sizeof(why), "BAR0 not mapped: %s", ret < 0 ? uvf_strerror(ret) : "no pointer");
		bench_row_missing("mapped BAR access", "client", why);
	} else {
		static uint8_t local[64] __attribute__((aligned(64)));
		uint64_t iters = bench_iters(2000000);
		for (int a = BAR_WRITE; a <= PTR_LOAD; a++) {
			for (size_t len = 4; len <= 8; len += 4) {
				double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
				char name[80];
				char floor_name[64];
				uvf_rate(c, (enum access)a, len, iters / 10);
				for (int r = 0; r < bench_reps; r++) {
					floor[r] = local_rate(local, (enum access)a, len, iters);
					val[r] = uvf_rate(c, (enum access)a, len, iters);
				}
				snprintf(name, sizeof(name), "%s %zu B", names[a], len);
				snprintf(floor_name, sizeof(floor_name), "volatile %s of %zu B, local buffer",
					 a == BAR_WRITE || a == PTR_STORE ? "store" : "load", len);
				bench_row(name, floor_name, "client", BENCH_OPS, floor, val, 0);
			}
		}
	}
	uvf_client_close(c);
	bench_server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Item 4                                                               */
/* ------------------------------------------------------------------ */

static uint64_t device_count(struct uvf_client *c, unsigned which)
{
	uint64_t v;
	bench_check(BENCH_UVF(uvf_client_region_read(c, 0, COUNTS + 8 * which, &v, sizeof(v))),
		    "uvf_client_region_read");
	return v;
}

/* N doorbells, then wait (reading the device's count) until it saw them. */
static double doorbell_rate(struct uvf_client *c, uint64_t iters)
{
	uint64_t target = device_count(c, 0) + iters;
	uint32_t v = 1;
	struct bench_timer t;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_access_write(c, 0, DOORBELL, &v, sizeof(v))),
			    "uvf_client_access_write");
	while (device_count(c, 0) < target)
		;
	return bench_timer_uvf(&t, (double)iters, iters, "ioeventfd doorbell");
}

static double posted_rate(struct uvf_client *c, uint64_t iters)
{
	uint64_t target = device_count(c, 2) + iters;
	uint32_t v = 1;
	struct bench_timer t;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_write_posted(c, 0, POSTED, &v, sizeof(v))),
			    "uvf_client_region_write_posted");
	bench_check(BENCH_UVF(uvf_client_flush(c)), "uvf_client_flush");
	double rate = bench_timer_uvf(&t, (double)iters, iters + 1, "posted REGION_WRITE");
	if (device_count(c, 2) != target)
		bench_check(-EIO, "posted writes lost");
	return rate;
}

static void bench_doorbells(void)
{
	char notes[2][96] = {"", ""};
	bench_table_header("ioeventfd doorbells (uvf_client_access_write) vs posted REGION_WRITE: doorbells the device "
			   "counted per second");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		if (cpu < 0)
			continue;
		struct bench_server_spec spec = {.cpu = cpu, .setup = doorbell_setup, .opts = UVF_SERVE_OPTS_INIT};
		struct bench_server s;
		const char *cpus = other ? "different" : "same";
		bench_server_start(&s, &spec);
		struct uvf_client *c = bench_connect(&s, 0);
		struct uvf_client_ioeventfd io;
		size_t nio = 0;
		bench_check(uvf_client_region_map(c, 0), "uvf_client_region_map");
		if (uvf_client_region_io_fds(c, 0, &io, sizeof(struct uvf_client_ioeventfd), 1, &nio) < 0 || nio == 0) {
			bench_row_missing("ioeventfd doorbell 4 B", cpus, "the client got no ioeventfd");
		} else {
			uint64_t iters = bench_iters(30000);
			double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
			posted_rate(c, iters / 10);
			doorbell_rate(c, iters / 10);
			uint64_t wakeups0 = device_count(c, 1), bells0 = device_count(c, 0);
			for (int r = 0; r < bench_reps; r++) {
				floor[r] = posted_rate(c, iters);
				val[r] = doorbell_rate(c, iters);
			}
			bench_row("ioeventfd doorbell 4 B", "uvf posted REGION_WRITE 4 B, then flush", cpus, BENCH_OPS,
				  floor, val, 0);
			uint64_t wakeups = device_count(c, 1) - wakeups0, bells = device_count(c, 0) - bells0;
			snprintf(notes[other], sizeof(notes[other]), "%s CPUs: %.1f doorbells per device wake-up; ",
				 cpus, wakeups ? (double)bells / (double)wakeups : 0.0);
		}
		uvf_client_close(c);
		bench_server_stop(&s);
	}
	if (notes[0][0] || notes[1][0])
		bench_note("\n%s%s(the eventfd counter adds up doorbells that come while the device is busy).",
			   notes[0], notes[1]);
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-mapped");
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-mapped\n");
		return 2;
	}
	bench_pin(bench_cpu.client);
	bench_mapped_bar();
	bench_doorbells();
	return 0;
}
