/* SPDX-License-Identifier: MIT */
/*
 * The NVMe controller in-process, driven by a tiny NVMe driver over our
 * client: with fd-backed DMA memory and with message-based DMA (the client
 * serves the device's DMA requests while it polls a register).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "nvme_drv.h"
#include "nvme/nvme.h"

#define IOVA	  0x100000ull
#define MEM_SIZE  0x40000u
#define ASQ_OFF	  0x0000u
#define ACQ_OFF	  0x1000u
#define IOSQ_OFF  0x2000u
#define IOCQ_OFF  0x3000u
#define BUF_OFF	  0x4000u /* identify / log data */
#define LIST_OFF  0x5000u /* a PRP list page */
#define IOSQ2_OFF 0x6000u
#define IOCQ2_OFF 0x7000u
#define DBS_OFF	  0x8000u /* shadow doorbells */
#define EIS_OFF	  0x9000u /* EventIdx */
#define DATA_OFF  0x10000u
#define QDEPTH	  DRV_QDEPTH
#define NSIZE	  (16u << 20)
#define NQ	  2u
#define WQ	  4u /* queue pairs of the workers' tests */
#define IOSQ3_OFF 0xa000u
#define IOCQ3_OFF 0xb000u
#define IOSQ4_OFF 0xc000u
#define IOCQ4_OFF 0xd000u

static const uint16_t sc_invalid_field = 0x2; /* status: Invalid Field in Command */

static struct harness g_h;

static int setup(void **state)
{
	struct uvf_nvme_opts opts = {.size = NSIZE, .queues = NQ, .serial = "UVFTEST123"};
	struct uvf_device *dev;

	harness_prepare(&g_h);
	struct uvf_nvme *nvme;
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	dev = uvf_nvme_device(nvme);
	harness_start(&g_h, dev, NULL);
	*state = &g_h;
	return 0;
}

/* The same device with shadow doorbells polled poll_us after activity. */
static int setup_poll(void **state, int poll_us)
{
	struct uvf_nvme_opts opts = {.size = NSIZE, .queues = NQ, .serial = "UVFTEST123", .shadow_poll_us = poll_us};
	struct uvf_nvme *nvme;

	harness_prepare(&g_h);
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	harness_start(&g_h, uvf_nvme_device(nvme), NULL);
	*state = &g_h;
	return 0;
}

/* Polled for 10 s: longer than any of these tests waits between commands. */
static int setup_poll_long(void **state)
{
	return setup_poll(state, 10000000);
}

static int setup_poll_short(void **state)
{
	return setup_poll(state, 2000);
}

static int setup_no_poll(void **state)
{
	return setup_poll(state, -1);
}

static int teardown(void **state)
{
	harness_stop(*state);
	return 0;
}

/* A namespace in a file, so reads and writes go through the I/O engine
 * (io_uring when built with it, or UVF_NVME_AIO=threads: the pool). */
static char g_backing[64];

static int setup_file_poll(void **state, int poll_us)
{
	struct uvf_nvme_opts opts = {.queues = NQ, .serial = "UVFTEST123", .shadow_poll_us = poll_us};
	struct uvf_nvme *nvme;

	strcpy(g_backing, "/tmp/uvf-nvme-test-XXXXXX");
	int fd = mkstemp(g_backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	opts.backing = g_backing;
	harness_prepare(&g_h);
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	harness_start(&g_h, uvf_nvme_device(nvme), NULL);
	*state = &g_h;
	return 0;
}

static int setup_file(void **state)
{
	return setup_file_poll(state, 0);
}

/* Shadow doorbells polled for 10 s, on the I/O engine: the tails the
 * poller hands over start their I/O without any doorbell. */
static int setup_file_poll_long(void **state)
{
	return setup_file_poll(state, 10000000);
}

static int setup_file_threads(void **state)
{
	setenv("UVF_NVME_AIO", "threads", 1);
	int ret = setup_file(state);
	unsetenv("UVF_NVME_AIO");
	return ret;
}

/* Four queue pairs in a file on two workers (io_uring, or the pool). */
static int setup_file_workers(void **state)
{
	struct uvf_nvme_opts opts = {.queues = WQ, .serial = "UVFTEST123", .workers = 2};
	struct uvf_nvme *nvme;

	strcpy(g_backing, "/tmp/uvf-nvme-test-XXXXXX");
	int fd = mkstemp(g_backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	opts.backing = g_backing;
	/* workers beyond the limit are refused; beyond the queues, capped */
	opts.workers = UVF_NVME_MAX_WORKERS + 1;
	assert_int_equal(uvf_nvme_create(&nvme, &opts), -EINVAL);
	opts.workers = WQ + 3;
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	uvf_nvme_destroy(nvme);
	opts.workers = 2;
	harness_prepare(&g_h);
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	harness_start(&g_h, uvf_nvme_device(nvme), NULL);
	*state = &g_h;
	return 0;
}

static int setup_file_workers_threads(void **state)
{
	setenv("UVF_NVME_AIO", "threads", 1);
	int ret = setup_file_workers(state);
	unsetenv("UVF_NVME_AIO");
	return ret;
}

static int teardown_file(void **state)
{
	harness_stop(*state);
	unlink(g_backing);
	return 0;
}

/* Set up a driver on client c (NULL: connect to the harness device). */
static const uint32_t sq_offs[DRV_QUEUES] = {ASQ_OFF, IOSQ_OFF, IOSQ2_OFF, IOSQ3_OFF, IOSQ4_OFF};
static const uint32_t cq_offs[DRV_QUEUES] = {ACQ_OFF, IOCQ_OFF, IOCQ2_OFF, IOCQ3_OFF, IOCQ4_OFF};

static void drv_open_sized(struct drv *d, struct uvf_client *c, bool fd_memory, size_t mem_size)
{
	memset(d, 0, sizeof(*d));
	d->iova = IOVA;
	d->sq_offs = sq_offs;
	d->cq_offs = cq_offs;
	d->c = c ? c : harness_connect(&g_h);
	if (fd_memory) {
		void *p = NULL;
		assert_int_equal(
			uvf_client_dma_alloc(d->c, IOVA, mem_size, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &p),
			0);
		d->mem = p;
	} else {
		d->mem = aligned_alloc(4096, mem_size);
		assert_non_null(d->mem);
		memset(d->mem, 0, mem_size);
		d->own_mem = true;
		assert_int_equal(uvf_client_dma_register(d->c, IOVA, d->mem, mem_size,
							 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
				 0);
	}
	drv_wire(d, d->c);
}

static void drv_open_client(struct drv *d, struct uvf_client *c, bool fd_memory)
{
	drv_open_sized(d, c, fd_memory, MEM_SIZE);
}

static void drv_open(struct drv *d, bool fd_memory)
{
	drv_open_client(d, NULL, fd_memory);
}

static void drv_close(struct drv *d)
{
	uvf_client_close(d->c);
	drv_unwire(d);
	if (d->own_mem)
		free(d->mem);
}

static void drv_enable(struct drv *d)
{
	drv_reset_rings(d);
	memset(d->mem, 0, DATA_OFF);
	drv_enable_regs(d);
}

static void drv_disable(struct drv *d)
{
	drv_wr32(d, 0x14, 0);
	assert_int_equal(drv_rd32(d, 0x1c) & 1, 0);
}


static uint16_t io_q(struct drv *d, unsigned q, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb0, uint64_t prp1,
		     uint64_t prp2)
{
	uint32_t sqe[16] = {opc, nsid};
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[8] = (uint32_t)prp2;
	sqe[9] = (uint32_t)(prp2 >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	sqe[12] = nlb0;
	return drv_cmd(d, q, sqe, NULL);
}

static uint16_t io(struct drv *d, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb0, uint64_t prp1,
		   uint64_t prp2, uint32_t c12_extra)
{
	uint32_t sqe[16] = {opc, nsid};
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[8] = (uint32_t)prp2;
	sqe[9] = (uint32_t)(prp2 >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	sqe[12] = nlb0 | c12_extra;
	return drv_cmd(d, 1, sqe, NULL);
}

/* I/O queue pair 1, interrupts on vector 1 */
static void create_io_queues(struct drv *d)
{
	drv_create_io_pair(d, 1, 1);
}

static void delete_io_queues(struct drv *d)
{
	assert_int_equal(drv_admin(d, 0x00, 0, 0, 1, 0, NULL), 0);
	assert_int_equal(drv_admin(d, 0x04, 0, 0, 1, 0, NULL), 0);
}

/* 16 KiB at DATA_OFF through a PRP list, with pages out of order. */
static uint16_t rw_16k(struct drv *d, uint8_t opc, uint64_t slba)
{
	uint64_t pages[4] = {IOVA + DATA_OFF, IOVA + DATA_OFF + 0x3000, IOVA + DATA_OFF + 0x1000,
			     IOVA + DATA_OFF + 0x2000};
	memcpy(d->mem + LIST_OFF, pages + 1, 24);
	return io(d, opc, 1, slba, 31, pages[0], IOVA + LIST_OFF, 0);
}

static void identify_reports_model_serial_and_size(void **state)
{
	struct drv d;
	uint32_t dw0 = 0;
	(void)state;
	drv_open(&d, true);
	assert_int_equal(drv_rd32(&d, 0x08), 0x00010400);
	assert_int_equal(drv_rd32(&d, 0x00) & 0xffff, 1023);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_memory_equal(d.mem + BUF_OFF + 4, "UVFTEST123          ", 20);
	assert_memory_equal(d.mem + BUF_OFF + 24, "uvf NVMe controller ", 20);
	assert_string_equal((const char *)d.mem + BUF_OFF + 768, "nqn.2026-11.dev.uvf:nvme:UVFTEST123");
	assert_int_equal(d.mem[BUF_OFF + 512], 0x66);
	assert_int_equal(drv_admin(&d, 0x06, 1, IOVA + BUF_OFF, 0, 0, NULL), 0);
	uint64_t nsze;
	memcpy(&nsze, d.mem + BUF_OFF, 8);
	assert_int_equal(nsze, NSIZE / 512);
	/* active namespace list: just 1 */
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 2, 0, NULL), 0);
	assert_int_equal(d.mem[BUF_OFF], 1);
	assert_int_equal(d.mem[BUF_OFF + 4], 0);
	/* namespace 2 does not exist */
	assert_int_equal(drv_admin(&d, 0x06, 2, IOVA + BUF_OFF, 0, 0, NULL), 0x0b);
	/* number of queues */
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 7, 0x00070007, &dw0), 0);
	assert_int_equal(dw0, (NQ - 1) << 16 | (NQ - 1));
	/* SMART log */
	assert_int_equal(drv_admin(&d, 0x02, 0, IOVA + BUF_OFF, 2 | 127u << 16, 0, NULL), 0);
	assert_int_equal(d.mem[BUF_OFF + 3], 100);
	assert_int_equal(drv_admin(&d, 0x02, 0, IOVA + BUF_OFF, 0x55 | 127u << 16, 0, NULL), 0x109);
	drv_close(&d);
}

static void io_roundtrip(bool fd_memory)
{
	struct drv d;
	drv_open(&d, fd_memory);
	drv_enable(&d);
	create_io_queues(&d);
	harness_wait_eventfd(d.efd[1], 0); /* drain */
	for (unsigned i = 0; i < 16384; i++)
		d.mem[DATA_OFF + i] = (uint8_t)(i * 7 + 3);
	uint8_t expect[16384];
	memcpy(expect, d.mem + DATA_OFF, sizeof(expect));
	assert_int_equal(rw_16k(&d, 0x01, 64), 0);
	assert_true(harness_wait_eventfd(d.efd[1], 2000) > 0);
	memset(d.mem + DATA_OFF, 0, 16384);
	assert_int_equal(rw_16k(&d, 0x02, 64), 0);
	assert_memory_equal(d.mem + DATA_OFF, expect, sizeof(expect));
	/* flush */
	assert_int_equal(io(&d, 0x00, 1, 0, 0, 0, 0, 0), 0);
	/* write zeroes over the first 4 KiB, read back */
	assert_int_equal(io(&d, 0x08, 1, 64, 7, 0, 0, 0), 0);
	assert_int_equal(rw_16k(&d, 0x02, 64), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + i], 0);
	assert_memory_equal(d.mem + DATA_OFF + 4096, expect + 4096, 12288);
	/* an unaligned PRP1 offset in a single-page read */
	assert_int_equal(io(&d, 0x02, 1, 72, 0, IOVA + DATA_OFF + 0x800, 0, 0), 0);
	assert_memory_equal(d.mem + DATA_OFF + 0x800, expect + 4096, 512);
	delete_io_queues(&d);
	drv_close(&d);
}

static void io_roundtrip_with_prp_list_on_fd_memory(void **state)
{
	(void)state;
	io_roundtrip(true);
}

static void io_roundtrip_with_prp_list_on_message_dma(void **state)
{
	(void)state;
	io_roundtrip(false);
}

static void bad_commands_get_their_status_codes(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x7f, 0, 0, 0, 0, NULL), 0x01);		/* invalid opcode */
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 9, 0, NULL), 0x02); /* bad CNS */
	/* queue creation checks */
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 15u << 16 | 0, 3, NULL), 0x101);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 15u << 16 | (NQ + 1), 3, NULL), 0x101);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 0u << 16 | 1, 3, NULL), 0x102);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 15u << 16 | 1, 2, NULL), 0x02); /* PC=0 */
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 15u << 16 | 1, (NQ + 1) << 16 | 3, NULL), 0x108);
	assert_int_equal(drv_admin(&d, 0x01, 0, IOVA + IOSQ_OFF, 15u << 16 | 1, 1u << 16 | 1, NULL), 0x100);
	create_io_queues(&d);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 15u << 16 | 1, 3, NULL), 0x101); /* exists */
	assert_int_equal(drv_admin(&d, 0x04, 0, 0, 1, 0, NULL), 0x10c);			      /* CQ in use */
	assert_int_equal(drv_admin(&d, 0x00, 0, 0, 2, 0, NULL), 0x101);			      /* no SQ 2 */
	/* I/O errors */
	assert_int_equal(io(&d, 0x02, 1, NSIZE / 512 - 1, 1, IOVA + DATA_OFF, 0, 0), 0x80);
	assert_int_equal(io(&d, 0x02, 1, NSIZE / 512 - 1, 0, IOVA + DATA_OFF, 0, 0), 0);
	assert_int_equal(io(&d, 0x02, 1, 0, 0, 0x7000000000ull, 0, 0), 0x04); /* unmapped */
	assert_int_equal(io(&d, 0x01, 1, 0, 0, 0x7000000000ull, 0, 0), 0x04);
	assert_int_equal(io(&d, 0x02, 1, 0, 7, IOVA + DATA_OFF + 2, 0, 0), 0x13); /* PRP1 not dword aligned */
	assert_int_equal(io(&d, 0x02, 2, 0, 0, IOVA + DATA_OFF, 0, 0), 0x0b);
	assert_int_equal(io(&d, 0x55, 1, 0, 0, IOVA + DATA_OFF, 0, 0), 0x01);
	/* the queue still works after errors */
	assert_int_equal(io(&d, 0x02, 1, 0, 0, IOVA + DATA_OFF, 0, 0), 0);
	delete_io_queues(&d);
	drv_close(&d);
}

static void disable_drops_queues_and_reenable_works(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	memset(d.mem + DATA_OFF, 0xa5, 4096);
	assert_int_equal(io(&d, 0x01, 1, 8, 7, IOVA + DATA_OFF, 0, 0), 0);
	drv_disable(&d);
	drv_enable(&d);
	/* the I/O queues are gone: SQ 1 can be created only after CQ 1 again */
	assert_int_equal(drv_admin(&d, 0x01, 0, IOVA + IOSQ_OFF, 15u << 16 | 1, 1u << 16 | 1, NULL), 0x100);
	create_io_queues(&d);
	memset(d.mem + DATA_OFF, 0, 4096);
	assert_int_equal(io(&d, 0x02, 1, 8, 7, IOVA + DATA_OFF, 0, 0), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + i], 0xa5);
	/* client reset also disables */
	assert_int_equal(uvf_client_reset(d.c), 0);
	assert_int_equal(drv_rd32(&d, 0x1c) & 1, 0);
	assert_int_equal(drv_rd32(&d, 0x14), 0);
	drv_close(&d);
}

/* 4 MiB (1024 pages): the PRP list chains to a second list page. */
static void chained_prp_lists_move_4_mib(void **state)
{
	const uint64_t big = 0x10000000ull, npages = 1024;
	const size_t len = npages * 4096;
	struct drv d;
	void *p = NULL;
	(void)state;
	drv_open(&d, true);
	assert_int_equal(uvf_client_dma_alloc(d.c, big, len + 8192, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &p),
			 0);
	uint8_t *m = p;
	uint64_t *list1 = (uint64_t *)(m + len), *list2 = (uint64_t *)(m + len + 4096);
	for (unsigned i = 1; i < 512; i++)
		list1[i - 1] = big + i * 4096ull;
	list1[511] = big + len + 4096;
	for (unsigned i = 512; i < npages; i++)
		list2[i - 512] = big + i * 4096ull;
	for (size_t i = 0; i < len; i++)
		m[i] = (uint8_t)(i ^ i >> 12);
	uint8_t *expect = malloc(len);
	assert_non_null(expect);
	memcpy(expect, m, len);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(io(&d, 0x01, 1, 1000, (uint32_t)(len / 512 - 1), big, big + len, 0), 0);
	memset(m, 0, len);
	assert_int_equal(io(&d, 0x02, 1, 1000, (uint32_t)(len / 512 - 1), big, big + len, 0), 0);
	assert_memory_equal(m, expect, len);
	/* a list entry that is not page aligned */
	list2[3] += 8;
	assert_int_equal(io(&d, 0x02, 1, 1000, (uint32_t)(len / 512 - 1), big, big + len, 0), 0x13);
	/* a list whose only slot chains on (to itself) is refused, not looped on */
	list2[3] -= 8;
	uint64_t *last = (uint64_t *)(m + len + 4088);
	*last = big + len;
	assert_int_equal(io(&d, 0x02, 1, 1000, (uint32_t)(len / 512 - 1), big, big + len + 4088, 0), 0x13);
	/* more than the maximum transfer size (MDTS 4 MiB) */
	assert_int_equal(io(&d, 0x02, 1, 0, 8192, big, big + len, 0), 0x02);
	free(expect);
	drv_close(&d);
}

static void features_logs_abort_and_event_requests(void **state)
{
	struct drv d;
	uint32_t dw0 = 0;
	(void)state;
	drv_open(&d, false);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x06, 1, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x06, 0, &dw0), 0);
	assert_int_equal(dw0, 1);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 0x0a05, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x0b, 0x1ff, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x0b, 0, &dw0), 0);
	assert_int_equal(dw0, 0x1ff);
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x7e, 0, NULL), 0x02); /* unknown feature */
	/* firmware slot log */
	assert_int_equal(drv_admin(&d, 0x02, 0, IOVA + BUF_OFF, 3 | 127u << 16, 0, NULL), 0);
	assert_int_equal(d.mem[BUF_OFF], 1);
	assert_memory_equal(d.mem + BUF_OFF + 8, "1.0 ", 4);
	/* abort: never aborts */
	assert_int_equal(drv_admin(&d, 0x08, 0, 0, 1u << 16, 0, &dw0), 0);
	assert_int_equal(dw0 & 1, 1);
	/* 4 event requests are held (AERL 3); the 5th exceeds the limit */
	uint32_t sqe[16] = {0x0c};
	for (int i = 0; i < 4; i++) {
		memset(sqe, 0, sizeof(sqe));
		sqe[0] = 0x0c;
		(void)drv_queue(&d, 0, sqe);
	}
	memset(sqe, 0, sizeof(sqe));
	sqe[0] = 0x0c;
	uint16_t cid = drv_queue(&d, 0, sqe);
	drv_ring(&d, 0);
	assert_int_equal(drv_wait(&d, 0, cid, NULL), 0x105);
	/* the admin queue goes on */
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	drv_close(&d);
}

static void dataset_management_deallocates_to_zeros(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	memset(d.mem + DATA_OFF, 0x5a, 4096);
	assert_int_equal(io(&d, 0x01, 1, 16, 7, IOVA + DATA_OFF, 0, 0), 0);
	struct {
		uint32_t attr, nlb;
		uint64_t slba;
	} range[2] = {{0, 4, 16}, {0, 2, 22}};
	memcpy(d.mem + BUF_OFF, range, sizeof(range));
	uint32_t sqe[16] = {0x09, 1};
	sqe[6] = (uint32_t)(IOVA + BUF_OFF);
	sqe[10] = 1;
	sqe[11] = 4; /* AD */
	assert_int_equal(drv_cmd(&d, 1, sqe, NULL), 0);
	assert_int_equal(io(&d, 0x02, 1, 16, 7, IOVA + DATA_OFF, 0, 0), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + i], (i / 512 == 4 || i / 512 == 5) ? 0x5a : 0);
	/* a range past the end */
	range[0].slba = NSIZE / 512 - 1;
	memcpy(d.mem + BUF_OFF, range, sizeof(range));
	memset(sqe, 0, sizeof(sqe));
	sqe[0] = 0x09;
	sqe[1] = 1;
	sqe[6] = (uint32_t)(IOVA + BUF_OFF);
	sqe[10] = 0;
	sqe[11] = 4;
	assert_int_equal(drv_cmd(&d, 1, sqe, NULL), 0x80);
	drv_close(&d);
}

/* A CQ of 2 entries holds one completion: the device waits for the head
 * doorbell before posting the next. */
static void full_completion_queue_holds_back_until_head_moves(void **state)
{
	struct drv d;
	uint32_t cqe[4];
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	memset(d.mem + IOCQ_OFF, 0, 4096);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 1u << 16 | 1, 1u << 16 | 3, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x01, 0, IOVA + IOSQ_OFF, (QDEPTH - 1) << 16 | 1, 1u << 16 | 1, NULL), 0);
	uint32_t a[16] = {0x00, 1}, b[16] = {0x00, 1};
	uint16_t ca = drv_queue(&d, 1, a), cb = drv_queue(&d, 1, b);
	drv_ring(&d, 1);
	assert_true(drv_peek(&d, 1, cqe, 20000));
	assert_int_equal(cqe[3] & 0xffff, ca);
	/* the second completion cannot be posted: slot 1 stays empty */
	for (int i = 0; i < 50; i++)
		(void)drv_rd32(&d, 0x1c);
	memcpy(cqe, d.mem + IOCQ_OFF + 16, 16);
	assert_int_equal(cqe[3], 0);
	d.cq_size[1] = 2;
	assert_int_equal(drv_wait(&d, 1, ca, NULL), 0);
	assert_int_equal(drv_wait(&d, 1, cb, NULL), 0);
	drv_close(&d);
}

static void second_queue_pair_interrupts_on_its_vector(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, false);
	drv_enable(&d);
	create_io_queues(&d);
	drv_create_io_pair(&d, 2, 2);
	harness_wait_eventfd(d.efd[1], 0);
	harness_wait_eventfd(d.efd[2], 0);
	memset(d.mem + DATA_OFF, 0x33, 512);
	assert_int_equal(io_q(&d, 2, 0x01, 1, 3, 0, IOVA + DATA_OFF, 0), 0);
	assert_true(harness_wait_eventfd(d.efd[2], 2000) > 0);
	assert_int_equal(harness_wait_eventfd(d.efd[1], 30), 0);
	memset(d.mem + DATA_OFF, 0, 512);
	assert_int_equal(io_q(&d, 1, 0x02, 1, 3, 0, IOVA + DATA_OFF, 0), 0);
	assert_int_equal(d.mem[DATA_OFF + 511], 0x33);
	drv_close(&d);
}

static void intx_fires_when_msix_is_off(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	uint32_t cap = drv_find_cap(d.c, 0x11);
	assert_int_equal(uvf_client_config_write16(d.c, cap + 2, 0), 0);
	int intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(intx >= 0);
	assert_int_equal(uvf_client_set_irq_eventfds(d.c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_true(harness_wait_eventfd(intx, 2000) > 0);
	assert_int_equal(harness_wait_eventfd(d.efd[0], 30), 0);
	/* INTMS masks the line, INTMC lets it through again */
	assert_int_equal(uvf_client_irq_mask(d.c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	drv_wr32(&d, 0x0c, 1);
	assert_int_equal(drv_rd32(&d, 0x0c), 1);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_int_equal(harness_wait_eventfd(intx, 30), 0);
	drv_wr32(&d, 0x10, 1);
	assert_int_equal(drv_rd32(&d, 0x0c), 0);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_true(harness_wait_eventfd(intx, 2000) > 0);
	drv_close(&d);
	close(intx);
}

static void function_level_reset_disables_the_controller(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	uint32_t pcie = drv_find_cap(d.c, 0x10);
	uint16_t ctl = 0;
	assert_int_equal(uvf_client_config_read16(d.c, pcie + 8, &ctl), 0);
	assert_int_equal(uvf_client_config_write16(d.c, pcie + 8, (uint16_t)(ctl | 0x8000)), 0);
	assert_int_equal(drv_rd32(&d, 0x1c) & 1, 0);
	assert_int_equal(drv_rd32(&d, 0x14), 0);
	/* usable again from scratch, I/O queues gone */
	uint32_t cap = drv_find_cap(d.c, 0x11);
	assert_int_equal(uvf_client_config_write16(d.c, cap + 2, 0x8000), 0);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x00, 0, 0, 1, 0, NULL), 0x101);
	create_io_queues(&d);
	assert_int_equal(io(&d, 0x02, 1, 0, 0, IOVA + DATA_OFF, 0, 0), 0);
	drv_close(&d);
}

/* ---- shadow doorbells ---- */

static uint32_t *slot32(struct drv *d, uint32_t off)
{
	return (uint32_t *)(void *)(d->mem + off);
}

static uint32_t eventidx(struct drv *d, unsigned q, bool cq)
{
	return __atomic_load_n(slot32(d, EIS_OFF + 8 * q + (cq ? 4 : 0)), __ATOMIC_SEQ_CST);
}

/* Linux's rule: the host rings when the new value passes EventIdx. */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* Write value into the shadow doorbell of queue q (cq: its head), then
 * ring the MMIO doorbell only if EventIdx asks for it, as a host does.
 * Returns whether it rang. */
static bool shadow_publish(struct drv *d, unsigned q, bool cq, uint32_t value)
{
	uint32_t *db = slot32(d, DBS_OFF + 8 * q + (cq ? 4 : 0));
	/* sequentially consistent, as the device's: a full barrier between
	 * the shadow store and the EventIdx load */
	uint16_t old = (uint16_t)__atomic_exchange_n(db, value, __ATOMIC_SEQ_CST);

	if (!need_event((uint16_t)eventidx(d, q, cq), (uint16_t)value, old))
		return false;
	drv_wr32(d, 0x1000 + 8 * q + (cq ? 4 : 0), value);
	return true;
}

struct rings {
	unsigned sq, cq;
};

/* Submit on queue q through the shadow doorbell and wait for the
 * completion, giving the CQ head back the same way; returns its status. */
static uint16_t shadow_cmd(struct drv *d, unsigned q, uint32_t *sqe, struct rings *r)
{
	uint32_t cqe[4];
	uint16_t cid = drv_queue(d, q, sqe);

	r->sq += shadow_publish(d, q, false, d->sq_tail[q]);
	assert_true(drv_peek(d, q, cqe, 20000));
	assert_int_equal(cqe[3] & 0xffff, cid);
	if (++d->cq_head[q] == QDEPTH) {
		d->cq_head[q] = 0;
		d->phase[q] = !d->phase[q];
	}
	r->cq += shadow_publish(d, q, true, d->cq_head[q]);
	return (uint16_t)(cqe[3] >> 17 & 0x7ff);
}

static uint16_t rw_sqe(uint32_t *sqe, uint8_t opc, uint64_t slba, uint32_t off)
{
	memset(sqe, 0, 64);
	sqe[0] = opc;
	sqe[1] = 1;
	sqe[6] = (uint32_t)(IOVA + off);
	sqe[7] = (uint32_t)((IOVA + off) >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	return 0; /* one block */
}

static uint16_t dbbuf_config(struct drv *d, uint64_t dbs, uint64_t eis)
{
	uint32_t sqe[16] = {0x7c};
	sqe[6] = (uint32_t)dbs;
	sqe[7] = (uint32_t)(dbs >> 32);
	sqe[8] = (uint32_t)eis;
	sqe[9] = (uint32_t)(eis >> 32);
	return drv_cmd(d, 0, sqe, NULL);
}

/* Write block i with a pattern and read it back, through the shadow doorbells. */
static void shadow_block_roundtrip(struct drv *d, unsigned i, struct rings *r)
{
	uint32_t sqe[16];
	memset(d->mem + DATA_OFF, (int)(0x40 + i), 512);
	rw_sqe(sqe, 0x01, 100 + i, DATA_OFF);
	assert_int_equal(shadow_cmd(d, 1, sqe, r), 0);
	memset(d->mem + DATA_OFF + 0x1000, 0, 512);
	rw_sqe(sqe, 0x02, 100 + i, DATA_OFF + 0x1000);
	assert_int_equal(shadow_cmd(d, 1, sqe, r), 0);
	for (unsigned k = 0; k < 512; k++)
		assert_int_equal(d->mem[DATA_OFF + 0x1000 + k], 0x40 + i);
}

/* While the poller runs, EventIdx stays one behind the tail: the host
 * never rings, and every command still completes (40 round trips wrap
 * the 16-entry rings five times). */
static void shadow_doorbells_take_submissions_without_a_doorbell(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_int_equal(d.mem[BUF_OFF + 257] & 1, 1); /* OACS bit 8 */
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	/* polling from the start: one behind tail 0 and head 0 of 16 entries */
	assert_int_equal(eventidx(&d, 1, false), QDEPTH - 1);
	assert_int_equal(eventidx(&d, 1, true), QDEPTH - 1);
	for (unsigned i = 0; i < 40; i++)
		shadow_block_roundtrip(&d, i, &r);
	assert_int_equal(r.sq, 0);
	assert_int_equal(r.cq, 0);
	/* the MMIO doorbell still works alongside */
	uint32_t sqe[16];
	rw_sqe(sqe, 0x02, 100, DATA_OFF);
	__atomic_store_n(slot32(&d, DBS_OFF + 8), (d.sq_tail[1] + 1) % QDEPTH, __ATOMIC_RELEASE);
	assert_int_equal(drv_cmd(&d, 1, sqe, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF], 0x40);
	drv_close(&d);
}

/* Eight writes published with one shadow tail and no doorbell: the poller
 * hands the tail over and all of them start together (on the I/O engine
 * with a backing file) and complete. */
static void shadow_doorbells_start_a_burst_without_a_doorbell(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	uint32_t sqe[16], cqe[4];
	uint16_t cids[8];
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(d.mem + DATA_OFF + 512 * i, (int)(0x60 + i), 512);
		rw_sqe(sqe, 0x01, 200 + i, DATA_OFF + 512 * i);
		cids[i] = drv_queue(&d, 1, sqe);
	}
	r.sq += shadow_publish(&d, 1, false, d.sq_tail[1]);
	unsigned seen = 0;
	for (unsigned n = 0; n < 8; n++) {
		assert_true(drv_peek(&d, 1, cqe, 200000));
		assert_int_equal(cqe[3] >> 17 & 0x7ff, 0);
		unsigned k = 0;
		while (k < 8 && cids[k] != (cqe[3] & 0xffff))
			k++;
		assert_true(k < 8 && !(seen & 1u << k));
		seen |= 1u << k;
		if (++d.cq_head[1] == QDEPTH) {
			d.cq_head[1] = 0;
			d.phase[1] = !d.phase[1];
		}
	}
	r.cq += shadow_publish(&d, 1, true, d.cq_head[1]);
	assert_int_equal(r.sq, 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(d.mem + DATA_OFF + 0x2000, 0, 512);
		rw_sqe(sqe, 0x02, 200 + i, DATA_OFF + 0x2000);
		assert_int_equal(shadow_cmd(&d, 1, sqe, &r), 0);
		for (unsigned k = 0; k < 512; k++)
			assert_int_equal(d.mem[DATA_OFF + 0x2000 + k], 0x60 + i);
	}
	drv_close(&d);
}

/* Idle, the poller asks for the doorbell (EventIdx = tail) and stops
 * looking: a tail written without ringing waits for the doorbell. */
static void shadow_doorbells_idle_device_waits_for_the_doorbell(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	uint32_t cqe[4], sqe[16];
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	shadow_block_roundtrip(&d, 1, &r);
	/* the poller goes idle 2 ms after the last submission */
	int tries = 0;
	while (eventidx(&d, 1, false) != d.sq_tail[1] && tries++ < 100000)
		(void)drv_rd32(&d, 0x1c);
	assert_int_equal(eventidx(&d, 1, false), d.sq_tail[1]);
	usleep(50000); /* let it finish its last look and sleep */
	rw_sqe(sqe, 0x02, 101, DATA_OFF);
	uint16_t cid = drv_queue(&d, 1, sqe);
	uint32_t *db = slot32(&d, DBS_OFF + 8);
	uint16_t old = (uint16_t)__atomic_exchange_n(db, d.sq_tail[1], __ATOMIC_SEQ_CST);
	assert_true(need_event((uint16_t)eventidx(&d, 1, false), (uint16_t)d.sq_tail[1], old));
	/* not rung: nothing happens */
	assert_false(drv_peek(&d, 1, cqe, 200));
	drv_ring(&d, 1);
	assert_int_equal(drv_wait(&d, 1, cid, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF], 0x41);
	drv_close(&d);
}

/* Without poller every submission that finds the controller idle rings. */
static void shadow_doorbells_without_poller_ask_for_every_doorbell(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	assert_int_equal(eventidx(&d, 1, false), 0);
	for (unsigned i = 0; i < 10; i++)
		shadow_block_roundtrip(&d, i, &r);
	assert_int_equal(r.sq, 20);
	assert_int_equal(r.cq, 0); /* CQ heads are needed only when a CQ fills */
	drv_close(&d);
}

/* A completion waiting for CQ room asks for the head doorbell. */
static void shadow_doorbells_full_cq_asks_for_the_head_doorbell(void **state)
{
	struct drv d;
	uint32_t cqe[4];
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	memset(d.mem + IOCQ_OFF, 0, 4096);
	assert_int_equal(drv_admin(&d, 0x05, 0, IOVA + IOCQ_OFF, 1u << 16 | 1, 1u << 16 | 3, NULL), 0);
	assert_int_equal(drv_admin(&d, 0x01, 0, IOVA + IOSQ_OFF, (QDEPTH - 1) << 16 | 1, 1u << 16 | 1, NULL), 0);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	uint32_t a[16] = {0x00, 1}, b[16] = {0x00, 1};
	uint16_t ca = drv_queue(&d, 1, a), cb = drv_queue(&d, 1, b);
	(void)shadow_publish(&d, 1, false, d.sq_tail[1]);
	assert_true(drv_peek(&d, 1, cqe, 20000));
	assert_int_equal(cqe[3] & 0xffff, ca);
	/* the second waits: EventIdx of CQ 1 is its head, the host must ring */
	int tries = 0;
	while (eventidx(&d, 1, true) != 0 && tries++ < 100000)
		(void)drv_rd32(&d, 0x1c);
	assert_int_equal(eventidx(&d, 1, true), 0);
	d.cq_head[1] = 1;
	assert_true(shadow_publish(&d, 1, true, 1));
	assert_true(drv_peek(&d, 1, cqe, 20000));
	assert_int_equal(cqe[3] & 0xffff, cb);
	drv_close(&d);
}

/* Queue an Asynchronous Event Request; returns its command id. */
static uint16_t queue_aer(struct drv *d)
{
	uint32_t sqe[16] = {0x0c};
	uint16_t cid = drv_queue(d, 0, sqe);
	drv_ring(d, 0);
	return cid;
}

/* The error log page's entry count and queue id. */
static uint64_t error_log(struct drv *d, uint16_t *sqid)
{
	uint64_t count;
	memset(d->mem + BUF_OFF, 0xee, 64);
	assert_int_equal(drv_admin(d, 0x02, 0, IOVA + BUF_OFF, 1 | 15u << 16, 0, NULL), 0);
	memcpy(&count, d->mem + BUF_OFF, 8);
	memcpy(sqid, d->mem + BUF_OFF + 8, 2);
	return count;
}

#define AEN_INVALID_DB_REG   0x010000u /* error status, Invalid Doorbell Register, log page 01h */
#define AEN_INVALID_DB_VALUE 0x010100u /* error status, Invalid Doorbell Write Value, log page 01h */

/* Shadow values outside their queue are ignored like such a doorbell
 * write; the queue goes on with the next valid one. */
static void shadow_doorbells_ignore_values_outside_the_queue(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	uint32_t cqe[4];
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	shadow_block_roundtrip(&d, 2, &r);
	uint16_t aer = queue_aer(&d);
	uint32_t *db = slot32(&d, DBS_OFF + 8), *cqdb = slot32(&d, DBS_OFF + 12);
	__atomic_store_n(db, 200u, __ATOMIC_RELEASE);
	__atomic_store_n(cqdb, 0xffffffffu, __ATOMIC_RELEASE);
	assert_false(drv_peek(&d, 1, cqe, 200));
	/* the poller took the tail, refused it and reported it */
	uint32_t dw0 = 0;
	uint16_t sqid = 0;
	assert_int_equal(drv_wait(&d, 0, aer, &dw0), 0);
	assert_int_equal(dw0, AEN_INVALID_DB_VALUE);
	assert_int_equal(error_log(&d, &sqid), 1);
	assert_int_equal(sqid, 1);
	/* back to valid values */
	__atomic_store_n(db, d.sq_tail[1], __ATOMIC_RELEASE);
	__atomic_store_n(cqdb, d.cq_head[1], __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 20; i++)
		shadow_block_roundtrip(&d, i, &r);
	drv_close(&d);
}

/* MMIO doorbell writes the controller cannot take are ignored and
 * reported by an asynchronous event; error events then wait until the
 * error log is read, and come one per read. */
static void invalid_doorbell_writes_raise_asynchronous_events(void **state)
{
	struct drv d;
	uint32_t dw0 = 0, cqe[4];
	uint16_t sqid = 0;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(error_log(&d, &sqid), 0); /* no error yet */
	uint16_t aer = queue_aer(&d);
	assert_false(drv_peek(&d, 0, cqe, 50)); /* held */
	drv_wr32(&d, 0x1008, QDEPTH);		/* SQ 1 tail past the queue */
	assert_int_equal(drv_wait(&d, 0, aer, &dw0), 0);
	assert_int_equal(dw0, AEN_INVALID_DB_VALUE);
	/* masked until the log is read: a doorbell of a queue not created
	 * (2) and one past the controller's queues wait */
	aer = queue_aer(&d);
	drv_wr32(&d, 0x1000 + 8 * 2, 1);
	drv_wr32(&d, 0x1000 + 8 * (NQ + 1), 1);
	assert_false(drv_peek(&d, 0, cqe, 50));
	/* reading the log with Retain Asynchronous Event keeps the mask */
	assert_int_equal(drv_admin(&d, 0x02, 0, IOVA + BUF_OFF, 1 | 1u << 15 | 15u << 16, 0, NULL), 0);
	assert_false(drv_peek(&d, 0, cqe, 50));
	uint64_t count = error_log(&d, &sqid);
	assert_true(count >= 2);
	assert_int_equal(drv_wait(&d, 0, aer, &dw0), 0);
	assert_int_equal(dw0, AEN_INVALID_DB_REG);
	/* the queue is unharmed */
	memset(d.mem + DATA_OFF, 0x3c, 512);
	assert_int_equal(io(&d, 0x01, 1, 5, 0, IOVA + DATA_OFF, 0, 0), 0);
	/* a controller reset forgets events and held requests */
	aer = queue_aer(&d);
	assert_false(drv_peek(&d, 0, cqe, 50));
	drv_disable(&d);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	drv_close(&d);
}

/* Refused: private memory (no fd), misaligned, shared or unmapped pages.
 * The host goes on with MMIO doorbells, and the shadow page is not read. */
static void shadow_doorbells_refused_on_private_memory_and_bad_pages(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, false);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), sc_invalid_field);
	__atomic_store_n(slot32(&d, DBS_OFF + 8), 5u, __ATOMIC_RELEASE);
	assert_int_equal(io(&d, 0x02, 1, 0, 0, IOVA + DATA_OFF, 0, 0), 0);
	drv_disable(&d);
	drv_close(&d);

	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF + 8, IOVA + EIS_OFF), sc_invalid_field);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF + 0x800), sc_invalid_field);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + DBS_OFF), sc_invalid_field);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + MEM_SIZE), sc_invalid_field);
	assert_int_equal(dbbuf_config(&d, 0x10000000ull, IOVA + EIS_OFF), sc_invalid_field);
	__atomic_store_n(slot32(&d, DBS_OFF + 8), 5u, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(io(&d, 0x02, 1, 0, 0, IOVA + DATA_OFF, 0, 0), 0);
	drv_close(&d);
}

/* Reset (CC.EN = 0) and shutdown drop the configuration: a stale shadow
 * tail is not read afterwards. */
static void shadow_doorbells_end_at_reset_and_shutdown(void **state)
{
	struct drv d;
	struct rings r = {0, 0};
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	shadow_block_roundtrip(&d, 0, &r);
	drv_disable(&d);
	drv_enable(&d); /* zeroes the pages below DATA_OFF */
	create_io_queues(&d);
	__atomic_store_n(slot32(&d, DBS_OFF + 8), 5u, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(io(&d, 0x02, 1, 100, 0, IOVA + DATA_OFF, 0, 0), 0);
	assert_int_equal(d.mem[DATA_OFF], 0x40);
	/* configured again, then a normal shutdown */
	__atomic_store_n(slot32(&d, DBS_OFF + 8), d.sq_tail[1], __ATOMIC_RELEASE);
	assert_int_equal(dbbuf_config(&d, IOVA + DBS_OFF, IOVA + EIS_OFF), 0);
	shadow_block_roundtrip(&d, 1, &r);
	drv_wr32(&d, 0x14, 1u | 6u << 16 | 4u << 20 | 1u << 14);
	assert_int_equal(drv_rd32(&d, 0x1c) >> 2 & 3, 2);
	__atomic_store_n(slot32(&d, DBS_OFF + 8), 5u, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(io(&d, 0x02, 1, 101, 0, IOVA + DATA_OFF, 0, 0), 0);
	assert_int_equal(d.mem[DATA_OFF], 0x41);
	drv_close(&d);
}

/* I/O queue pair 2, interrupts on vector 2 */
static void create_second_queue_pair(struct drv *d)
{
	drv_create_io_pair(d, 2, 2);
}


static uint16_t queue_io(struct drv *d, unsigned q, uint8_t opc, uint64_t slba, uint32_t nlb0, uint64_t prp1,
			 uint64_t prp2)
{
	uint32_t sqe[16] = {opc, 1};
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[8] = (uint32_t)prp2;
	sqe[9] = (uint32_t)(prp2 >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	sqe[12] = nlb0;
	return drv_queue(d, q, sqe);
}

#define BURST (QDEPTH - 1) /* commands queued at once per SQ */

/* Command k of queue q in a burst: 4 KiB (even k) or 8 KiB over two
 * contiguous pages (odd k), at its own place in memory and on the disk. */
static uint32_t burst_off(unsigned q, unsigned k)
{
	return DATA_OFF + ((q - 1) * 22u + k / 2 * 3 + (k % 2)) * 4096u;
}

static uint8_t burst_byte(unsigned q, unsigned k, unsigned i)
{
	return (uint8_t)(q * 31 + k * 7 + i * 13 + i / 4096);
}

/* Queue a burst on SQs 1 and 2, ring both, take every completion in
 * whatever order it comes: each command completes once, successfully. */
static void burst(struct drv *d, uint8_t opc)
{
	uint16_t cid[NQ + 1][BURST];
	for (unsigned q = 1; q <= NQ; q++)
		for (unsigned k = 0; k < BURST; k++) {
			uint64_t addr = IOVA + burst_off(q, k);
			uint64_t slba = 1024 + (uint64_t)((q - 1) * BURST + k) * 16;
			cid[q][k] = queue_io(d, q, opc, slba, k % 2 ? 15 : 7, addr, k % 2 ? addr + 4096 : 0);
		}
	for (unsigned q = 1; q <= NQ; q++)
		drv_ring(d, q);
	for (unsigned q = 1; q <= NQ; q++) {
		bool seen[BURST] = {false};
		for (unsigned n = 0; n < BURST; n++) {
			uint16_t got;
			assert_int_equal(drv_wait_any(d, q, &got), 0);
			unsigned k = 0;
			while (k < BURST && cid[q][k] != got)
				k++;
			assert_true(k < BURST);
			assert_false(seen[k]);
			seen[k] = true;
		}
	}
}

static void many_commands_in_flight(bool fd_memory)
{
	struct drv d;
	drv_open(&d, fd_memory);
	drv_enable(&d);
	create_io_queues(&d);
	create_second_queue_pair(&d);
	for (unsigned q = 1; q <= NQ; q++)
		for (unsigned k = 0; k < BURST; k++)
			for (unsigned i = 0; i < (k % 2 ? 8192u : 4096u); i++)
				d.mem[burst_off(q, k) + i] = burst_byte(q, k, i);
	burst(&d, 0x01);
	/* flush: every write completed before it is in the file */
	assert_int_equal(io(&d, 0x00, 1, 0, 0, 0, 0, 0), 0);
	memset(d.mem + DATA_OFF, 0, MEM_SIZE - DATA_OFF);
	burst(&d, 0x02);
	for (unsigned q = 1; q <= NQ; q++)
		for (unsigned k = 0; k < BURST; k++)
			for (unsigned i = 0; i < (k % 2 ? 8192u : 4096u); i++)
				if (d.mem[burst_off(q, k) + i] != burst_byte(q, k, i))
					fail_msg("queue %u command %u byte %u: 0x%02x, wrote 0x%02x", q, k, i,
						 d.mem[burst_off(q, k) + i], burst_byte(q, k, i));
	drv_close(&d);
}

static void many_commands_in_flight_on_two_queues_on_fd_memory(void **state)
{
	(void)state;
	many_commands_in_flight(true);
}

static void many_commands_in_flight_on_two_queues_on_message_dma(void **state)
{
	(void)state;
	many_commands_in_flight(false);
}

/*
 * A client slow to read, with large commands both ways on message-based
 * DMA: each I/O queue holds QDEPTH - 1 commands of 2 MiB at once, queue 1
 * writing while queue 2 reads and the other way round, far more data than
 * the sockets' buffers hold. The client reads its socket only every 2 ms
 * (one register read, or a completion's doorbell). Were the device to keep
 * more in flight than its socket takes, it would block sending a DMA_WRITE
 * while the client blocks sending a DMA_READ reply: the server's send times
 * out and drops the client, and the commands fail.
 */
#define BIG_NSIZE (64u << 20)
#define BIG_CMD	  (2u << 20)
#define BIG_N	  (QDEPTH - 1u) /* commands per queue at once */
#define BIG_LISTS MEM_SIZE	/* a PRP list page per command */
#define BIG_DATA  (BIG_LISTS + NQ * BIG_N * 4096u)
#define BIG_MEM	  (BIG_DATA + NQ * BIG_N * BIG_CMD)

static int setup_big(void **state)
{
	struct uvf_nvme_opts opts = {.size = BIG_NSIZE, .queues = NQ, .serial = "UVFTEST123"};
	struct uvf_nvme *nvme;

	harness_prepare(&g_h);
	assert_int_equal(uvf_nvme_create(&nvme, &opts), 0);
	harness_start(&g_h, uvf_nvme_device(nvme), NULL);
	*state = &g_h;
	return 0;
}

static uint32_t big_off(unsigned q, unsigned k)
{
	return BIG_DATA + ((q - 1) * BIG_N + k) * BIG_CMD;
}

static uint8_t big_byte(unsigned k, uint32_t i)
{
	return (uint8_t)(k * 37u + i / 4096u * 11u + i);
}

/* Command k of queue q: BIG_CMD bytes at byte_base + k * BIG_CMD, one contiguous
 * buffer described by PRP1 and a list. */
static void queue_big(struct drv *d, unsigned q, unsigned k, uint8_t opc, uint64_t byte_base)
{
	uint32_t list = BIG_LISTS + ((q - 1) * BIG_N + k) * 4096u;
	uint64_t e[BIG_CMD / 4096u - 1];
	for (uint32_t i = 1; i < BIG_CMD / 4096u; i++)
		e[i - 1] = IOVA + big_off(q, k) + i * 4096ull;
	memcpy(d->mem + list, e, sizeof(e));
	(void)queue_io(d, q, opc, (byte_base + (uint64_t)k * BIG_CMD) / 512u, BIG_CMD / 512u - 1,
		       IOVA + big_off(q, k), IOVA + list);
}

/* Every command of both queues completes successfully, the client
 * reading its socket every 2 ms. */
static void slow_collect(struct drv *d)
{
	const struct timespec pause = {0, 2000000};
	for (unsigned left = NQ * BIG_N, idle = 0; left;) {
		bool got = false;
		nanosleep(&pause, NULL);
		for (unsigned q = 1; q <= NQ; q++) {
			uint32_t cqe[4];
			uint16_t cid;
			if (!drv_peek(d, q, cqe, 1))
				continue;
			assert_int_equal(drv_wait_any(d, q, &cid), 0);
			got = true;
			left--;
		}
		idle = got ? 0 : idle + 1;
		assert_true(idle < 5000); /* 10 s without a completion */
	}
}

static void slow_client_large_commands(bool twin)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	struct drv d;

	opts.timeout_ms = 10000;
	opts.no_twin_socket = !twin; /* QEMU's client has none: all on one socket */
	assert_int_equal(uvf_client_connect(&c, g_h.path, &opts), 0);
	/* set at VERSION from the send buffer: at least its floor */
	assert_true(uvf_dma_inflight_max(g_h.dev) >= 16u << 10);
	drv_open_sized(&d, c, false, BIG_MEM);
	drv_enable(&d);
	create_io_queues(&d);
	create_second_queue_pair(&d);
	for (unsigned k = 0; k < BIG_N; k++)
		for (uint32_t i = 0; i < BIG_CMD; i++)
			d.mem[big_off(1, k) + i] = big_byte(k, i);
	memset(d.mem + big_off(2, 0), 0xa5, (size_t)BIG_N * BIG_CMD);
	/* queue 1 writes the pattern at 0, queue 2 reads never-written blocks */
	for (unsigned k = 0; k < BIG_N; k++) {
		queue_big(&d, 1, k, 0x01, 0);
		queue_big(&d, 2, k, 0x02, BIG_NSIZE / 2);
	}
	drv_ring(&d, 1);
	drv_ring(&d, 2);
	slow_collect(&d);
	for (size_t i = 0; i < (size_t)BIG_N * BIG_CMD; i++)
		if (d.mem[big_off(2, 0) + i])
			fail_msg("queue 2 read byte %zu as 0x%02x, the namespace holds 0", i, d.mem[big_off(2, 0) + i]);
	/* and back: queue 1 reads the pattern, queue 2 writes */
	memset(d.mem + big_off(1, 0), 0, (size_t)BIG_N * BIG_CMD);
	for (unsigned k = 0; k < BIG_N; k++) {
		queue_big(&d, 1, k, 0x02, 0);
		queue_big(&d, 2, k, 0x01, BIG_NSIZE / 2);
	}
	drv_ring(&d, 1);
	drv_ring(&d, 2);
	slow_collect(&d);
	for (unsigned k = 0; k < BIG_N; k++)
		for (uint32_t i = 0; i < BIG_CMD; i++)
			if (d.mem[big_off(1, k) + i] != big_byte(k, i))
				fail_msg("command %u byte %u: 0x%02x, wrote 0x%02x", k, i, d.mem[big_off(1, k) + i],
					 big_byte(k, i));
	drv_close(&d);
}

static void slow_client_with_large_commands_both_ways_completes_every_command(void **state)
{
	(void)state;
	slow_client_large_commands(false);
}

static void slow_client_with_large_commands_both_ways_on_the_twin_socket(void **state)
{
	(void)state;
	slow_client_large_commands(true);
}

/*
 * The two DMA budgets, seen on the wire: with a client that does not read,
 * what the device sends stops where its budget says. Toward the guest
 * (DMA_WRITE: the data goes out on our socket, 32-byte replies come back)
 * it keeps far more than 128 KiB in flight; from the guest (DMA_READ: the
 * client's replies carry the data, and must fit the client's send buffer)
 * at most 128 KiB. One command of 2 MiB in each direction: its data
 * requests start only once its PRP list was read, and then the device
 * stops with data requests alone in the socket.
 */

/* What waits in the client's socket once the device stopped sending for
 * 200 ms (at most 5 s): its length, peeked into buf. */
static size_t peek_when_still(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n = 0, last = -1;

	for (int still = 0, i = 0; still < 10 && i < 250; i++) {
		const struct timespec pause = {0, 20000000};
		nanosleep(&pause, NULL);
		n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			n = 0;
		}
		still = n == last ? still + 1 : 0;
		last = n;
	}
	return (size_t)n;
}

/* Answer the DMA_READ request at the head of the socket ourselves (the
 * client library is idle meanwhile): read it, and reply with the bytes of
 * the test's memory. */
static void answer_read(struct drv *d, int fd, const struct uvf_msg_header *h, const struct uvf_msg_dma_access *a)
{
	uint8_t req[sizeof(*h) + sizeof(*a)];
	struct uvf_msg_header r = *h;

	assert_int_equal(h->command, UVF_CMD_DMA_READ);
	assert_int_equal(h->msg_size, sizeof(req));
	assert_true(a->address >= d->iova && a->count <= BIG_MEM && a->address - d->iova <= BIG_MEM - a->count);
	assert_int_equal(recv(fd, req, sizeof(req), MSG_DONTWAIT), (ssize_t)sizeof(req));
	r.msg_size = (uint32_t)(sizeof(r) + sizeof(*a) + a->count);
	r.flags = UVF_MSG_TYPE_REPLY;
	r.error = 0;
	struct iovec iov[3] = {{&r, sizeof(r)}, {(void *)a, sizeof(*a)}, {d->mem + (a->address - d->iova), a->count}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
	assert_int_equal(sendmsg(fd, &m, MSG_NOSIGNAL), (ssize_t)r.msg_size);
}

/* The data bytes the device's requests of kind cmd (DMA_READ or DMA_WRITE)
 * in flight move, once it cannot go on. The command's own reads (its SQE,
 * its PRP list: outside the data buffers) come first and the device waits
 * for them: we answer those. */
static uint64_t dma_data_in_flight(struct drv *d, uint16_t cmd)
{
	int fd = uvf_client_poll_fd(d->c);
	size_t cap = 16u << 20;
	uint8_t *buf = malloc(cap);
	uint64_t sum = 0;

	assert_non_null(buf);
	for (int round = 0;; round++) {
		size_t n = peek_when_still(fd, buf, cap);
		struct uvf_msg_header h;
		struct uvf_msg_dma_access a;
		size_t at = 0;
		sum = 0;
		for (; at + sizeof(h) + sizeof(a) <= n; at += h.msg_size) {
			memcpy(&h, buf + at, sizeof(h));
			memcpy(&a, buf + at + sizeof(h), sizeof(a));
			assert_true(h.msg_size >= sizeof(h) + sizeof(a));
			if (h.command != cmd || a.address < IOVA + BIG_DATA || a.address >= IOVA + BIG_MEM)
				break;
			sum += a.count;
		}
		if (at == n)
			break; /* data requests alone */
		assert_int_equal(at, 0); /* the command's own reads come before its data */
		assert_true(round < 10);
		answer_read(d, fd, &h, &a);
	}
	free(buf);
	return sum;
}

static void dma_budgets_by_direction(void **state)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	struct drv d;

	(void)state;
	opts.no_twin_socket = true; /* as QEMU's client: all on one socket */
	assert_int_equal(uvf_client_connect(&c, g_h.path, &opts), 0);
	drv_open_sized(&d, c, false, BIG_MEM);
	drv_enable(&d);
	create_io_queues(&d);
	size_t ours = uvf_dma_inflight_max(g_h.dev);
	assert_true(ours > (512u << 10)); /* the test needs room above 128 KiB */

	/* reads: the device writes the guest's buffers */
	queue_big(&d, 1, 0, 0x02, 0);
	drv_ring(&d, 1);
	uint64_t to_guest = dma_data_in_flight(&d, UVF_CMD_DMA_WRITE);
	print_message("DMA_WRITE data in flight: %" PRIu64 " bytes (budget %zu)\n", to_guest, ours);
	assert_true(to_guest > 128u << 10);
	assert_true(to_guest <= ours);
	uint16_t cid;
	assert_int_equal(drv_wait_any(&d, 1, &cid), 0);

	/* writes: the device reads them */
	queue_big(&d, 1, 0, 0x01, 0);
	drv_ring(&d, 1);
	uint64_t from_guest = dma_data_in_flight(&d, UVF_CMD_DMA_READ);
	print_message("DMA_READ data in flight: %" PRIu64 " bytes\n", from_guest);
	assert_true(from_guest > 0);
	assert_true(from_guest <= 128u << 10);
	assert_int_equal(drv_wait_any(&d, 1, &cid), 0);
	drv_close(&d);
}

/* The SQ of each queue pair of the workers' tests, and its CQ: crossed
 * (SQ 1 and 2 complete on each other's CQ) and shared (SQ 3 and 4 on
 * CQ 3), so that a worker serves an SQ whose number is not its CQ's. CQ 4
 * stays empty. CQs 1 and 3 interrupt on vector 1, 2 and 4 on vector 2. */
static const unsigned wq_cq[WQ + 1] = {0, 2, 1, 3, 3};

static void create_worker_queues(struct drv *d)
{
	for (unsigned q = 1; q <= WQ; q++) {
		d->sq_tail[q] = d->cq_head[q] = 0;
		d->phase[q] = true;
		memset(d->mem + cq_offs[q], 0, 4096);
		assert_int_equal(
			drv_admin(d, 0x05, 0, IOVA + cq_offs[q], (QDEPTH - 1) << 16 | q, ((q - 1) % 2 + 1) << 16 | 3, NULL),
			0);
	}
	for (unsigned q = 1; q <= WQ; q++)
		assert_int_equal(drv_admin(d, 0x01, 0, IOVA + sq_offs[q], (QDEPTH - 1) << 16 | q, wq_cq[q] << 16 | 1, NULL),
				 0);
}

#define WBURST 10u /* commands per SQ at once: SQs 3 and 4 overfill CQ 3 */

static uint32_t wburst_off(unsigned q, unsigned k)
{
	return DATA_OFF + ((q - 1) * WBURST + k) * 4096u;
}

/* Queue WBURST 4 KiB commands on every SQ, ring them all, and take every
 * completion from the CQs in whatever order: each command once, on its
 * SQ's CQ, successful. */
static void worker_burst(struct drv *d, uint8_t opc, unsigned round)
{
	uint16_t cid[WQ + 1][WBURST];
	bool seen[WQ + 1][WBURST];
	memset(seen, 0, sizeof(seen));
	for (unsigned q = 1; q <= WQ; q++)
		for (unsigned k = 0; k < WBURST; k++)
			cid[q][k] =
				queue_io(d, q, opc, 2048 + (uint64_t)(round * WQ * WBURST + (q - 1) * WBURST + k) * 8,
					 7, IOVA + wburst_off(q, k), 0);
	for (unsigned q = 1; q <= WQ; q++)
		drv_ring(d, q);
	for (unsigned left = WQ * WBURST, idle = 0; left;) {
		bool got = false;
		for (unsigned cq = 1; cq <= WQ; cq++) {
			uint32_t cqe[4];
			if (!drv_peek(d, cq, cqe, 1))
				continue;
			got = true;
			unsigned sq = cqe[2] >> 16, k = 0;
			assert_true(sq >= 1 && sq <= WQ);
			assert_int_equal(wq_cq[sq], cq);
			while (k < WBURST && cid[sq][k] != (cqe[3] & 0xffff))
				k++;
			assert_true(k < WBURST);
			assert_false(seen[sq][k]);
			assert_int_equal(cqe[3] >> 17 & 0x7ff, 0);
			seen[sq][k] = true;
			left--;
			if (++d->cq_head[cq] == QDEPTH) {
				d->cq_head[cq] = 0;
				d->phase[cq] = !d->phase[cq];
			}
			drv_wr32(d, 0x1004 + 8 * cq, d->cq_head[cq]);
		}
		idle = got ? 0 : idle + 1;
		assert_true(idle < 20000);
	}
}

/* Four queue pairs on two workers, SQs crossed over and sharing CQs:
 * writes and reads of every queue at once move the right data, each
 * command completes once; a reset with all of them in flight stops the
 * workers cleanly and the controller works again. */
static void queues_on_two_workers_complete_every_command_once(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_worker_queues(&d);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned q = 1; q <= WQ; q++)
			for (unsigned k = 0; k < WBURST; k++)
				memset(d.mem + wburst_off(q, k), (int)(round * 64 + q * 16 + k), 4096);
		worker_burst(&d, 0x01, round);
		memset(d.mem + DATA_OFF, 0, WQ * WBURST * 4096u);
		worker_burst(&d, 0x02, round);
		for (unsigned q = 1; q <= WQ; q++)
			for (unsigned k = 0; k < WBURST; k++)
				for (unsigned i = 0; i < 4096; i++)
					if (d.mem[wburst_off(q, k) + i] != (uint8_t)(round * 64 + q * 16 + k))
						fail_msg("round %u queue %u command %u byte %u: 0x%02x", round, q, k, i,
							 d.mem[wburst_off(q, k) + i]);
	}
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned q = 1; q <= WQ; q++) {
			for (unsigned k = 0; k < WBURST; k++)
				(void)queue_io(&d, q, k % 2 ? 0x01 : 0x02, (uint64_t)k * 8, 7, IOVA + wburst_off(q, k),
					       0);
			drv_ring(&d, q);
		}
		drv_disable(&d);
		drv_enable(&d);
		create_worker_queues(&d);
	}
	memset(d.mem + DATA_OFF, 0x5a, 4096);
	assert_int_equal(io_q(&d, 3, 0x01, 1, 4000, 7, IOVA + DATA_OFF, 0), 0); /* SQ 3 completes on CQ 3 */
	memset(d.mem + DATA_OFF, 0, 4096);
	assert_int_equal(io_q(&d, 3, 0x02, 1, 4000, 7, IOVA + DATA_OFF, 0), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + i], 0x5a);
	drv_close(&d);
}

/* With memory by message, a 16 KiB read through a PRP list (list read,
 * then data) queued before a 512-byte read completes after it. */
static void a_short_command_overtakes_a_long_one(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, false);
	drv_enable(&d);
	create_io_queues(&d);
	uint64_t pages[3] = {IOVA + DATA_OFF + 0x1000, IOVA + DATA_OFF + 0x2000, IOVA + DATA_OFF + 0x3000};
	memcpy(d.mem + LIST_OFF, pages, sizeof(pages));
	uint16_t slow = queue_io(&d, 1, 0x02, 0, 31, IOVA + DATA_OFF, IOVA + LIST_OFF);
	uint16_t quick = queue_io(&d, 1, 0x02, 0, 0, IOVA + DATA_OFF + 0x8000, 0);
	drv_ring(&d, 1);
	uint16_t first, second;
	assert_int_equal(drv_wait_any(&d, 1, &first), 0);
	assert_int_equal(drv_wait_any(&d, 1, &second), 0);
	assert_int_equal(first, quick);
	assert_int_equal(second, slow);
	drv_close(&d);
}

/* CC.EN=0 while commands are in flight on both queues: they are dropped
 * safely (no completion, nothing leaked) and the controller works again. */
static void reset_with_io_in_flight(bool fd_memory)
{
	struct drv d;
	drv_open(&d, fd_memory);
	for (unsigned round = 0; round < 3; round++) {
		drv_enable(&d);
		create_io_queues(&d);
		create_second_queue_pair(&d);
		for (unsigned q = 1; q <= NQ; q++) {
			for (unsigned k = 0; k < BURST; k++) {
				uint64_t addr = IOVA + burst_off(q, k);
				(void)queue_io(&d, q, k % 3 ? 0x01 : 0x02, (uint64_t)k * 16, k % 2 ? 15 : 7, addr,
					       k % 2 ? addr + 4096 : 0);
			}
			drv_ring(&d, q);
		}
		drv_disable(&d);
	}
	drv_enable(&d);
	create_io_queues(&d);
	memset(d.mem + DATA_OFF, 0x5a, 4096);
	assert_int_equal(io(&d, 0x01, 1, 4000, 7, IOVA + DATA_OFF, 0, 0), 0);
	memset(d.mem + DATA_OFF, 0, 4096);
	assert_int_equal(io(&d, 0x02, 1, 4000, 7, IOVA + DATA_OFF, 0, 0), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + i], 0x5a);
	drv_close(&d);
}

static void reset_with_io_in_flight_on_fd_memory(void **state)
{
	(void)state;
	reset_with_io_in_flight(true);
}

static void reset_with_io_in_flight_on_message_dma(void **state)
{
	(void)state;
	reset_with_io_in_flight(false);
}

/* Disconnecting with I/O in flight: the mappings go only after the
 * backing file's I/O into them has finished (ASan sees any late use). */
static void disconnect_with_io_in_flight(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	for (unsigned k = 0; k < BURST; k++)
		(void)queue_io(&d, 1, 0x02, (uint64_t)k * 16, 15, IOVA + burst_off(1, k),
			       IOVA + burst_off(1, k) + 4096);
	drv_ring(&d, 1);
	drv_close(&d);
	/* a new client finds a working controller (its state is kept across
	 * clients: reset it first) */
	drv_open(&d, true);
	drv_disable(&d);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(io(&d, 0x02, 1, 0, 7, IOVA + DATA_OFF, 0, 0), 0);
	drv_close(&d);
}

/* Interrupt Coalescing with an aggregation threshold of 4 entries: eight
 * commands completed in one batch raise two interrupts, not eight; and a
 * batch short of the threshold still raises one at its end. */
static void interrupts_coalesce_by_the_aggregation_threshold(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 3, NULL), 0); /* THR 3 (0-based), TIME 0 */
	harness_wait_eventfd(d.efd[1], 0);
	uint16_t cid[8];
	for (unsigned k = 0; k < 8; k++)
		cid[k] = queue_io(&d, 1, 0x02, (uint64_t)k * 8, 7, IOVA + DATA_OFF + k * 4096u, 0);
	drv_ring(&d, 1);
	for (unsigned k = 0; k < 8; k++) {
		uint16_t got;
		assert_int_equal(drv_wait_any(&d, 1, &got), 0);
		assert_int_equal(got, cid[k]); /* a RAM namespace completes in order */
	}
	assert_int_equal(harness_wait_eventfd(d.efd[1], 2000), 2);
	(void)queue_io(&d, 1, 0x02, 0, 7, IOVA + DATA_OFF, 0);
	(void)queue_io(&d, 1, 0x02, 8, 7, IOVA + DATA_OFF + 4096, 0);
	drv_ring(&d, 1);
	uint16_t got;
	assert_int_equal(drv_wait_any(&d, 1, &got), 0);
	assert_int_equal(drv_wait_any(&d, 1, &got), 0);
	assert_int_equal(harness_wait_eventfd(d.efd[1], 2000), 1);
	/* threshold back to 1 entry: one interrupt per completion */
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 0, NULL), 0);
	for (unsigned k = 0; k < 3; k++)
		(void)queue_io(&d, 1, 0x02, (uint64_t)k * 8, 7, IOVA + DATA_OFF + k * 4096u, 0);
	drv_ring(&d, 1);
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(drv_wait_any(&d, 1, &got), 0);
	assert_int_equal(harness_wait_eventfd(d.efd[1], 2000), 3);
	drv_close(&d);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Aggregation time 255 (25.5 ms) with a threshold one command does not
 * reach: the interrupt comes, and not before the time has passed since
 * its entry was posted (after the doorbell). */
static void interrupts_wait_for_the_aggregation_time(void **state)
{
	struct drv d;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 0xffff, NULL), 0); /* THR 255, TIME 255 */
	uint32_t dw0 = 0;
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x08, 0, &dw0), 0);
	assert_int_equal(dw0, 0xffff);
	harness_wait_eventfd(d.efd[1], 0);
	for (unsigned round = 0; round < 2; round++) {
		uint64_t t0 = now_ns();
		(void)queue_io(&d, 1, 0x02, 0, 7, IOVA + DATA_OFF, 0);
		drv_ring(&d, 1);
		uint16_t got;
		assert_int_equal(drv_wait_any(&d, 1, &got), 0);
		assert_int_equal(harness_wait_eventfd(d.efd[1], 10000), 1);
		uint64_t waited = now_ns() - t0;
		if (waited < 25500000u)
			fail_msg("round %u: interrupt %llu us after the doorbell, before the aggregation time", round,
				 (unsigned long long)(waited / 1000));
	}
	drv_close(&d);
}

/* Interrupt Vector Configuration: with Coalescing Disable on vector 1,
 * four completions in one batch raise four interrupts despite a
 * threshold of four entries; without it, one. */
static void coalescing_disable_interrupts_for_every_completion_of_its_vector(void **state)
{
	struct drv d;
	uint32_t dw0 = 0;
	(void)state;
	drv_open(&d, true);
	drv_enable(&d);
	create_io_queues(&d);
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x08, 3, NULL), 0); /* THR 3 (0-based), TIME 0 */
	for (unsigned cd = 1; cd <= 2; cd++) {
		bool disabled = cd == 1;
		assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x09, 1u | (disabled ? 1u << 16 : 0), NULL), 0);
		assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x09, 1, &dw0), 0);
		assert_int_equal(dw0, 1u | (disabled ? 1u << 16 : 0));
		harness_wait_eventfd(d.efd[1], 0);
		for (unsigned k = 0; k < 4; k++)
			(void)queue_io(&d, 1, 0x02, (uint64_t)k * 8, 7, IOVA + DATA_OFF + k * 4096u, 0);
		drv_ring(&d, 1);
		uint16_t got;
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal(drv_wait_any(&d, 1, &got), 0);
		(void)drv_rd32(&d, 0x1c); /* a round trip: the batch is over */
		assert_int_equal(harness_wait_eventfd(d.efd[1], 2000), disabled ? 4 : 1);
	}
	/* a vector the controller does not have */
	assert_int_equal(drv_admin(&d, 0x09, 0, 0, 0x09, NQ + 1, NULL), sc_invalid_field);
	assert_int_equal(drv_admin(&d, 0x0a, 0, 0, 0x09, 0, &dw0), 0);
	assert_int_equal(dw0, 0);
	drv_close(&d);
}

static int run_program(const char *exe, char *const *argv)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void program_serves_a_backing_file_and_flushes_on_sigterm(void **state)
{
	const char *exe = getenv("UVF_NVME");
	char dir[] = "/tmp/uvf-nvme-prog-XXXXXX", sock[96], file[96], sock_arg[128];
	struct drv d;
	(void)state;

	if (!exe)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/dev.sock", dir);
	snprintf(file, sizeof(file), "%s/disk.img", dir);
	snprintf(sock_arg, sizeof(sock_arg), "--socket-path=%s", sock);
	int fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);

	/* command line checks */
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, "--help", NULL}), 0);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, "--size=12Q", NULL}), 2);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, NULL}), 2);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, "--size=1M", "--queues=0", NULL}), 2);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, "--size=1M", "--workers=0", NULL}), 2);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, "--size=1M", "--workers=17", NULL}), 2);
	assert_int_equal(run_program(exe, (char *[]){(char *)exe, sock_arg, "--backing", "/nonexistent/x", NULL}), 1);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		execl(exe, exe, "--socket", sock, "--backing", file, "--queues", "2", "--workers=2", "--serial=PROG1",
		      (char *)NULL);
		_exit(127);
	}
	/* the socket file exists from bind, before listen: retry */
	struct uvf_client *c = NULL;
	for (int i = 0; i < 500 && uvf_client_connect(&c, sock, NULL) < 0; i++)
		usleep(10000);
	if (!c) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("cannot connect to %s", sock);
	}
	drv_open_client(&d, c, false);
	drv_enable(&d);
	assert_int_equal(drv_admin(&d, 0x06, 0, IOVA + BUF_OFF, 1, 0, NULL), 0);
	assert_memory_equal(d.mem + BUF_OFF + 4, "PROG1 ", 6);
	create_io_queues(&d);
	memset(d.mem + DATA_OFF, 0xc3, 1024);
	assert_int_equal(io(&d, 0x01, 1, 2, 1, IOVA + DATA_OFF, 0, 0), 0);
	drv_close(&d);

	assert_int_equal(kill(pid, SIGTERM), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(sock, F_OK), -1);
	uint8_t buf[1024];
	assert_int_equal(pread(fd, buf, sizeof(buf), 1024), (ssize_t)sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xc3);
	close(fd);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(identify_reports_model_serial_and_size, setup, teardown),
		cmocka_unit_test_setup_teardown(io_roundtrip_with_prp_list_on_fd_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(io_roundtrip_with_prp_list_on_message_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_commands_get_their_status_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(disable_drops_queues_and_reenable_works, setup, teardown),
		cmocka_unit_test_setup_teardown(chained_prp_lists_move_4_mib, setup, teardown),
		cmocka_unit_test_setup_teardown(features_logs_abort_and_event_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(dataset_management_deallocates_to_zeros, setup, teardown),
		cmocka_unit_test_setup_teardown(full_completion_queue_holds_back_until_head_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(second_queue_pair_interrupts_on_its_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(intx_fires_when_msix_is_off, setup, teardown),
		cmocka_unit_test_setup_teardown(function_level_reset_disables_the_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_fd_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_message_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_client_with_large_commands_both_ways_completes_every_command,
						setup_big, teardown),
		cmocka_unit_test_setup_teardown(dma_budgets_by_direction, setup_big, teardown),
		cmocka_unit_test_setup_teardown(slow_client_with_large_commands_both_ways_on_the_twin_socket, setup_big,
						teardown),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_fd_memory, setup_file,
						teardown_file),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_message_dma, setup_file,
						teardown_file),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_fd_memory, setup_file_threads,
						teardown_file),
		cmocka_unit_test_setup_teardown(many_commands_in_flight_on_two_queues_on_message_dma,
						setup_file_threads, teardown_file),
		cmocka_unit_test_setup_teardown(a_short_command_overtakes_a_long_one, setup, teardown),
		cmocka_unit_test_setup_teardown(queues_on_two_workers_complete_every_command_once, setup_file_workers,
						teardown_file),
		cmocka_unit_test_setup_teardown(queues_on_two_workers_complete_every_command_once,
						setup_file_workers_threads, teardown_file),
		cmocka_unit_test_setup_teardown(reset_with_io_in_flight_on_fd_memory, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(reset_with_io_in_flight_on_message_dma, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(reset_with_io_in_flight_on_fd_memory, setup_file_threads,
						teardown_file),
		cmocka_unit_test_setup_teardown(disconnect_with_io_in_flight, setup_file, teardown_file),
		cmocka_unit_test_setup_teardown(interrupts_coalesce_by_the_aggregation_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(interrupts_wait_for_the_aggregation_time, setup, teardown),
		cmocka_unit_test_setup_teardown(coalescing_disable_interrupts_for_every_completion_of_its_vector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_take_submissions_without_a_doorbell, setup_poll_long,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_start_a_burst_without_a_doorbell, setup_poll_long,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_start_a_burst_without_a_doorbell, setup_file_poll_long,
						teardown_file),
		cmocka_unit_test_setup_teardown(shadow_doorbells_idle_device_waits_for_the_doorbell, setup_poll_short,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_without_poller_ask_for_every_doorbell, setup_no_poll,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_full_cq_asks_for_the_head_doorbell, setup_poll_long,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_ignore_values_outside_the_queue, setup_poll_long,
						teardown),
		cmocka_unit_test_setup_teardown(invalid_doorbell_writes_raise_asynchronous_events, setup, teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_refused_on_private_memory_and_bad_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(shadow_doorbells_end_at_reset_and_shutdown, setup_poll_long, teardown),
		cmocka_unit_test(program_serves_a_backing_file_and_flushes_on_sigterm),
	};
	return cmocka_run_group_tests_name("nvme", tests, NULL, NULL);
}
