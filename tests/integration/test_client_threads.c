/* SPDX-License-Identifier: MIT */
/*
 * Several threads on one client connection against our own server in the
 * same process: region reads and writes with values of their own, the
 * device DMA'ing (by message) into memory other threads registered, and
 * DMA registrations coming and going meanwhile. Every result must be
 * exact. Run with and without the twin socket. Also in the 'threads'
 * suite, for a ThreadSanitizer build.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* The device                                                           */
/* ------------------------------------------------------------------ */

/*
 * BAR0: 4 KiB library memory (scratch: each thread owns 64 bytes).
 * BAR2: 64 bytes of DMA engine registers, one 32-byte job slot per DMA
 *       thread. A 32-byte write of a slot runs the job at once (on the
 *       dispatch thread, before the write is answered):
 *       0x00 client address, 0x08 length, 0x10 op (1: fill the client's
 *       memory with the byte at 0x18; 2: read it back and check that
 *       every byte is that byte), 0x18 fill byte. A failed job fails the
 *       write with its errno (EIO for a mismatch).
 */
#define DMA_SLOTS   2
#define DMA_JOB_MAX 8192

struct dma_job {
	uint64_t address;
	uint64_t len;
	uint64_t op;
	uint64_t fill;
};

static int engine_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev;
	(void)data;
	(void)offset;
	memset(buf, 0, len);
	return 0;
}

static int engine_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	static uint8_t bytes[DMA_JOB_MAX]; /* only the dispatch thread runs jobs */
	struct dma_job job;
	int rc;

	(void)data;
	if (len != sizeof(job) || offset % sizeof(job))
		return -EINVAL;
	memcpy(&job, buf, sizeof(job));
	if (job.len == 0 || job.len > DMA_JOB_MAX)
		return -EINVAL;
	if (job.op == 1) {
		memset(bytes, (int)job.fill, job.len);
		return uvf_dma_write(dev, job.address, bytes, job.len);
	}
	if (job.op != 2)
		return -EINVAL;
	rc = uvf_dma_read(dev, job.address, bytes, job.len);
	if (rc)
		return rc;
	for (size_t i = 0; i < job.len; i++)
		if (bytes[i] != (uint8_t)job.fill)
			return -EIO;
	return 0;
}

static struct uvf_device *make_device(void)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fe, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY};
	struct uvf_bar_desc bar2 = {.size = 64, .read = engine_read, .write = engine_write};

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar2), 0);
	return dev;
}

static struct harness g_h;

static int setup(void **state)
{
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(), NULL);
	*state = &g_h;
	return 0;
}

static int teardown(void **state)
{
	harness_stop(*state);
	return 0;
}

static void quiet_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE") || level <= UVF_LOG_WARNING)
		fprintf(stderr, "[client] %s\n", line);
}

static struct uvf_client *connect_client(struct harness *h, bool twin, uint32_t poll_us)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;

	opts.log = quiet_log;
	opts.log_level = UVF_LOG_WARNING;
	opts.timeout_ms = 20000;
	opts.no_twin_socket = !twin;
	opts.poll_us = poll_us;
	assert_int_equal(uvf_client_connect(&c, h->path, &opts), 0);
	return c;
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

#define REGION_THREADS 4
#define REGION_ROUNDS  300
#define DMA_ROUNDS     100
#define CHURN_THREADS  2
#define CHURN_ROUNDS   60

struct job {
	struct uvf_client *client;
	unsigned index;
	int failures;
	int first_error;
	uint8_t *mem; /* DMA threads: their registered memory */
	pthread_t thread;
};

static void note_failure(struct job *job, int rc)
{
	if (job->failures++ == 0)
		job->first_error = rc;
}

/* Writes its own values into its own 64 bytes of BAR0 and reads them back. */
static void *region_thread(void *arg)
{
	struct job *job = arg;
	uint64_t base = (uint64_t)job->index * 64;

	for (uint32_t round = 0; round < REGION_ROUNDS; round++) {
		uint64_t out[8], in[8];
		uint32_t id = 0;
		int rc;

		for (int k = 0; k < 8; k++)
			out[k] = (uint64_t)job->index << 48 | (uint64_t)round << 16 | (uint64_t)k;
		rc = uvf_client_region_write(job->client, 0, base, out, sizeof(out));
		if (rc == 0)
			rc = uvf_client_region_read(job->client, 0, base, in, sizeof(in));
		if (rc == 0 && memcmp(in, out, sizeof(in)) != 0)
			rc = -EIO;
		if (rc == 0 && round % 50 == 0) {
			/* config space goes through the same engine */
			uint16_t vendor = 0;

			rc = uvf_client_config_read16(job->client, 0, &vendor);
			id = vendor;
			if (rc == 0 && id != 0x1de0)
				rc = -EIO;
		}
		if (rc)
			note_failure(job, rc);
	}
	return NULL;
}

static uint64_t dma_iova(unsigned index)
{
	return 0x100000u + (uint64_t)index * 0x10000u;
}

/* Has the device fill its memory (by DMA_WRITE messages the engine
 * serves) and check it (by DMA_READ messages). */
static void *dma_thread(void *arg)
{
	struct job *job = arg;

	for (uint32_t round = 0; round < DMA_ROUNDS; round++) {
		uint8_t fill = (uint8_t)(job->index * 100 + round);
		uint64_t len = 512 + (round % 8) * 1000;
		struct dma_job w = {.address = dma_iova(job->index), .len = len, .op = 1, .fill = fill};
		struct dma_job r = {.address = dma_iova(job->index), .len = len, .op = 2, .fill = fill};
		int rc;

		rc = uvf_client_region_write(job->client, 2, job->index * sizeof(w), &w, sizeof(w));
		if (rc == 0) {
			for (uint64_t i = 0; i < len; i++) {
				if (job->mem[i] != fill) {
					rc = -EIO;
					break;
				}
			}
		}
		if (rc == 0)
			rc = uvf_client_region_write(job->client, 2, job->index * sizeof(r), &r, sizeof(r));
		if (rc)
			note_failure(job, rc);
	}
	return NULL;
}

/* Registers and unregisters ranges of its own, away from the DMA ones. */
static void *churn_thread(void *arg)
{
	struct job *job = arg;
	uint64_t iova = 0x4000000u + (uint64_t)job->index * 0x100000u;
	static uint8_t memory[CHURN_THREADS][2][8192];

	for (uint32_t round = 0; round < CHURN_ROUNDS; round++) {
		uint8_t *mem = memory[job->index][round % 2];
		void *alloc = NULL;
		int rc;

		rc = uvf_client_dma_register(job->client, iova, mem, 8192,
					     UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE);
		if (rc == 0)
			rc = uvf_client_dma_alloc(job->client, iova + 0x10000, 4096, UVF_DMA_MAP_FLAG_READ, &alloc);
		if (rc == 0)
			rc = uvf_client_dma_unregister(job->client, iova, 8192);
		if (rc == 0)
			rc = uvf_client_dma_unregister(job->client, iova + 0x10000, 4096);
		if (rc)
			note_failure(job, rc);
	}
	return NULL;
}

static void run_everything(struct harness *h, bool twin, uint32_t poll_us)
{
	struct uvf_client *client = connect_client(h, twin, poll_us);
	struct job region[REGION_THREADS], dma[DMA_SLOTS], churn[CHURN_THREADS];
	static uint8_t dma_mem[DMA_SLOTS][DMA_JOB_MAX];

	assert_int_equal(uvf_client_server_caps(client)->twin_socket, twin);
	for (unsigned i = 0; i < DMA_SLOTS; i++)
		assert_int_equal(uvf_client_dma_register(client, dma_iova(i), dma_mem[i], sizeof(dma_mem[i]),
							 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
				 0);
	for (unsigned i = 0; i < REGION_THREADS; i++) {
		region[i] = (struct job){.client = client, .index = i};
		assert_int_equal(pthread_create(&region[i].thread, NULL, region_thread, &region[i]), 0);
	}
	for (unsigned i = 0; i < DMA_SLOTS; i++) {
		dma[i] = (struct job){.client = client, .index = i, .mem = dma_mem[i]};
		assert_int_equal(pthread_create(&dma[i].thread, NULL, dma_thread, &dma[i]), 0);
	}
	for (unsigned i = 0; i < CHURN_THREADS; i++) {
		churn[i] = (struct job){.client = client, .index = i};
		assert_int_equal(pthread_create(&churn[i].thread, NULL, churn_thread, &churn[i]), 0);
	}
	for (unsigned i = 0; i < REGION_THREADS; i++) {
		pthread_join(region[i].thread, NULL);
		if (region[i].failures)
			fail_msg("region thread %u: %d failures, first %s", i, region[i].failures,
				 uvf_strerror(region[i].first_error));
	}
	for (unsigned i = 0; i < DMA_SLOTS; i++) {
		pthread_join(dma[i].thread, NULL);
		if (dma[i].failures)
			fail_msg("DMA thread %u: %d failures, first %s", i, dma[i].failures,
				 uvf_strerror(dma[i].first_error));
	}
	for (unsigned i = 0; i < CHURN_THREADS; i++) {
		pthread_join(churn[i].thread, NULL);
		if (churn[i].failures)
			fail_msg("churn thread %u: %d failures, first %s", i, churn[i].failures,
				 uvf_strerror(churn[i].first_error));
	}
	/* the connection is still in step */
	assert_int_equal(uvf_client_dma_unregister_all(client), 0);
	uvf_client_close(client);
}

static void test_threads_share_one_connection_with_twin_socket(void **state)
{
	run_everything(*state, true, 0);
}

static void test_threads_share_one_connection_without_twin_socket(void **state)
{
	run_everything(*state, false, 0);
}

static void test_threads_share_one_connection_with_adaptive_polling(void **state)
{
	run_everything(*state, false, 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads_share_one_connection_with_twin_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_one_connection_without_twin_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_one_connection_with_adaptive_polling, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
