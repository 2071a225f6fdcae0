/* SPDX-License-Identifier: MIT */
/*
 * Soak: mixed traffic against an in-process dmatest device for a bounded
 * time, with a reconnect every round: region I/O, posted writes, DMA both
 * ways (fd-backed and by message), completion interrupts, DMA map/unmap
 * churn and BAR mapping. At the end the process has exactly the fds it
 * had after warm-up and its heap has not grown beyond a small slack.
 *
 * UVF_SOAK_SECONDS sets the duration (default 45 s, 20 s under
 * AddressSanitizer).
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define UVF_SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UVF_SOAK_ASAN 1
#endif
#endif

#ifdef UVF_SOAK_ASAN
/* from the sanitizer runtime (its header is not always installed) */
size_t __sanitizer_get_current_allocated_bytes(void);
#define DEFAULT_SECONDS 20
#else
#define DEFAULT_SECONDS 45
#endif

#define MAPPED_IOVA  0x100000ull  /* fd-backed, 64 KiB */
#define MESSAGE_IOVA 0x200000ull  /* by message, 64 KiB */
#define CHURN_IOVA   0x1000000ull /* small ranges mapped and unmapped */
#define DMA_SIZE     0x10000u
#define HEAP_SLACK   (512u << 10)
#define RSS_SLACK    (16u << 20)

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes of heap in use, every thread's. */
static size_t heap_in_use(void)
{
#ifdef UVF_SOAK_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks; /* one arena: see main() */
#endif
}

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static uint32_t reg_read(struct uvf_client *c, uint32_t reg)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, reg, &v, 4), 0);
	return v;
}

static void reg_write(struct uvf_client *c, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, reg, &v, 4), 0);
}

/* Run a dmatest command and wait for it (our reads serve its DMA). */
static void run_cmd(struct uvf_client *c, uint32_t cmd, uint64_t src, uint64_t dst, uint32_t len, uint8_t pattern)
{
	uint32_t before = reg_read(c, UVF_DMATEST_REG_CMD_COUNT);
	reg_write(c, UVF_DMATEST_REG_SRC_LO, (uint32_t)src);
	reg_write(c, UVF_DMATEST_REG_SRC_HI, (uint32_t)(src >> 32));
	reg_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)dst);
	reg_write(c, UVF_DMATEST_REG_DST_HI, (uint32_t)(dst >> 32));
	reg_write(c, UVF_DMATEST_REG_LEN, len);
	reg_write(c, UVF_DMATEST_REG_PATTERN, pattern);
	reg_write(c, UVF_DMATEST_REG_CMD, cmd);
	int64_t t0 = now_ms();
	while (reg_read(c, UVF_DMATEST_REG_CMD_COUNT) == before)
		assert_true(now_ms() - t0 < 10000);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_STATUS), 0);
}

static void one_round(struct harness *h, unsigned round, uint8_t *message_mem)
{
	struct uvf_client *c = harness_connect(h);
	uint8_t *mapped;
	uint8_t buf[4096];
	uint8_t p = (uint8_t)(round * 7 + 1);

	/* region I/O, by message and through the mapped BAR */
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	memset(buf, p, sizeof(buf));
	assert_int_equal(uvf_client_region_write(c, UVF_DMATEST_BAR4, 0, buf, sizeof(buf)), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uvf_client_region_read(c, UVF_DMATEST_BAR4, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[4095], p);
	if (round % 2 == 0) {
		assert_int_equal(uvf_client_region_map(c, UVF_DMATEST_BAR4), 0);
		uint32_t v = 0;
		assert_int_equal(uvf_client_access_read(c, UVF_DMATEST_BAR4, 4092, &v, 4), 0);
		assert_int_equal(v & 0xff, p);
	}

	/* posted writes, corked half the time */
	if (round % 3 == 0)
		assert_int_equal(uvf_client_cork(c, true), 0);
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(uvf_client_region_write_posted(c, UVF_DMATEST_BAR4, 8192 + i * 8, &i, 4), 0);
	if (round % 3 == 0)
		assert_int_equal(uvf_client_cork(c, false), 0);
	assert_int_equal(uvf_client_flush(c), 0);

	/* completion interrupts on MSI vector 0 */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 1, &efd), 0);

	/* DMA both ways: fill mapped memory, copy it by message into ours
	 * and back */
	assert_int_equal(uvf_client_dma_alloc(c, MAPPED_IOVA, DMA_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mapped),
			 0);
	assert_int_equal(uvf_client_dma_register(c, MESSAGE_IOVA, message_mem, DMA_SIZE,
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	run_cmd(c, UVF_DMATEST_CMD_FILL, 0, MAPPED_IOVA, DMA_SIZE, p);
	assert_int_equal(mapped[DMA_SIZE - 1], p);
	run_cmd(c, UVF_DMATEST_CMD_COPY, MAPPED_IOVA, MESSAGE_IOVA, DMA_SIZE, 0);
	assert_int_equal(message_mem[0], p);
	assert_int_equal(message_mem[DMA_SIZE - 1], p);
	message_mem[100] = (uint8_t)~p;
	run_cmd(c, UVF_DMATEST_CMD_COPY, MESSAGE_IOVA, MAPPED_IOVA, DMA_SIZE, 0);
	assert_int_equal(mapped[100], (uint8_t)~p);
	assert_true(harness_wait_eventfd(efd, 2000) >= 1);

	/* map/unmap churn */
	for (unsigned i = 0; i < 16; i++) {
		void *ptr;
		uint64_t iova = CHURN_IOVA + (uint64_t)((round + i) % 32) * 0x10000;
		assert_int_equal(uvf_client_dma_alloc(c, iova, 0x1000, UVF_DMA_MAP_FLAG_READ, &ptr), 0);
		if (i % 2)
			assert_int_equal(uvf_client_dma_unregister(c, iova, 0x1000), 0);
	}
	if (round % 2)
		assert_int_equal(uvf_client_dma_unregister_all(c), 0);
	if (round % 4 == 1)
		assert_int_equal(uvf_client_reset(c), 0);

	/* leave with everything held half the time: the server cleans up */
	if (round % 2 == 0) {
		assert_int_equal(uvf_client_irq_disable(c, UVF_PCI_MSI_IRQ), 0);
		assert_int_equal(uvf_client_region_unmap(c, UVF_DMATEST_BAR4), 0);
	}
	uvf_client_close(c);
	close(efd);
}

/* The server has seen the client go and released what it held. */
static void wait_server_idle(struct harness *h)
{
	int64_t t0 = now_ms();
	while (uvf_device_client_connected(h->dev)) {
		assert_true(now_ms() - t0 < 5000);
		usleep(1000);
	}
	usleep(20000); /* the drop ends after the flag goes */
}

static void test_mixed_traffic_leaks_nothing(void **state)
{
	(void)state;
	struct harness h;
	struct uvf_device *dev;
	const char *env = getenv("UVF_SOAK_SECONDS");
	int seconds = env ? atoi(env) : DEFAULT_SECONDS;
	if (seconds < 1)
		seconds = 1;

	harness_prepare(&h);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	harness_start(&h, dev, NULL);
	uint8_t *message_mem = calloc(1, DMA_SIZE);
	assert_non_null(message_mem);

	int64_t start = now_ms(), end = start + (int64_t)seconds * 1000;
	int64_t warm_until = start + (int64_t)seconds * 1000 / 5;
	bool warm = false;
	int fds_warm = 0;
	size_t heap_warm = 0, rss_warm = 0;
	unsigned round = 0;
	while (now_ms() < end || !warm) {
		one_round(&h, round++, message_mem);
		wait_server_idle(&h);
		if (!warm && now_ms() >= warm_until) {
			warm = true;
			fds_warm = harness_count_fds();
			heap_warm = heap_in_use();
			rss_warm = rss_bytes();
		}
	}
	int fds_end = harness_count_fds();
	size_t heap_end = heap_in_use(), rss_end = rss_bytes();
	printf("soak: %u rounds in %d s; fds %d -> %d, heap %zu -> %zu bytes, rss %zu -> %zu KiB\n", round,
	       (int)((now_ms() - start) / 1000), fds_warm, fds_end, heap_warm, heap_end, rss_warm >> 10, rss_end >> 10);
	assert_int_equal(fds_end, fds_warm);
	assert_true(heap_end <= heap_warm + HEAP_SLACK);
#ifndef UVF_SOAK_ASAN
	/* (AddressSanitizer's quarantine grows the RSS by design) */
	assert_true(rss_end <= rss_warm + RSS_SLACK);
#endif
	free(message_mem);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_traffic_leaks_nothing),
	};
#ifndef UVF_SOAK_ASAN
	/* every thread in one arena, so mallinfo2() sees the server's heap too */
	mallopt(M_ARENA_MAX, 1);
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
