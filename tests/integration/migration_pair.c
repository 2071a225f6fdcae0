/* SPDX-License-Identifier: MIT */
/* The migration tests' pair of servers (migration_pair.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/devmig.h"
#include "dmatest/dmatest.h"
#include "harness.h"
#include "idio16/idio16.h"
#include "nvme/nvme.h"

#include "migration_pair.h"

/* ------------------------------------------------------------------ */
/* Two servers, two clients, one guest memory                          */
/* ------------------------------------------------------------------ */


int g_fds_before;

static void *serve_device(void *arg)
{
	struct server *s = arg;
	s->h.server_ret = uvf_device_run(s->h.dev);
	return NULL;
}

static void *serve_idio16(void *arg)
{
	struct server *s = arg;
	s->h.server_ret = uvf_idio16_run(s->model, -1, NULL, NULL);
	return NULL;
}

static void quiet_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE") || level == UVF_LOG_ERROR)
		fprintf(stderr, "[server %s] %s\n", (const char *)data, line);
}

/* Serve dev (or the idio16 model) on a fresh socket and connect a client. */
void server_start(struct server *s, struct uvf_device *dev, struct uvf_idio16 *model, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->model = model;
	s->h.dev = model ? uvf_idio16_device(model) : dev;
	strcpy(s->h.dir, "/tmp/uvf-mig-XXXXXX");
	assert_non_null(mkdtemp(s->h.dir));
	snprintf(s->h.path, sizeof(s->h.path), "%s/dev.sock", s->h.dir);
	uvf_device_set_log(s->h.dev, quiet_log, (void *)name, UVF_LOG_DEBUG);
	assert_int_equal(uvf_device_listen(s->h.dev, s->h.path, NULL), 0);
	assert_int_equal(pthread_create(&s->h.thread, NULL, model ? serve_idio16 : serve_device, s), 0);
	s->h.running = true;
	s->c = harness_connect(&s->h);
}

void server_stop(struct server *s)
{
	uvf_client_close(s->c);
	uvf_device_stop(s->h.dev);
	pthread_join(s->h.thread, NULL);
	assert_int_equal(s->h.server_ret, 0);
	if (s->model)
		uvf_idio16_destroy(s->model);
	else
		uvf_device_free(s->h.dev);
	assert_int_equal(access(s->h.path, F_OK), -1);
	rmdir(s->h.dir);
}

int setup(void **state)
{
	(void)state;
	g_fds_before = harness_count_fds();
	return 0;
}

int teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_count_fds(), g_fds_before); /* nothing leaked, on either side */
	return 0;
}

/* One guest memory (a memfd) mapped by both clients at IOVA; the test
 * sees it through the returned pointer. */

uint8_t *share_memory(struct server *src, struct server *dst)
{
	return share_memory_by(src, dst, false);
}

/* by_message: registered without fd, so the devices' DMA goes by
 * DMA_READ/DMA_WRITE messages and takes round trips: work is then still
 * in flight when the stop comes. */
uint8_t *share_memory_by(struct server *src, struct server *dst, bool by_message)
{
	int fd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM_SIZE), 0);
	void *p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	if (by_message) {
		assert_int_equal(uvf_client_dma_register(src->c, IOVA, p, MEM_SIZE, RW), 0);
		assert_int_equal(uvf_client_dma_register(dst->c, IOVA, p, MEM_SIZE, RW), 0);
	} else {
		assert_int_equal(uvf_client_dma_map_fd(src->c, IOVA, MEM_SIZE, RW, fd, 0), 0);
		assert_int_equal(uvf_client_dma_map_fd(dst->c, IOVA, MEM_SIZE, RW, fd, 0), 0);
	}
	close(fd);
	return p;
}

uint32_t mig_state(struct uvf_client *c)
{
	uint32_t st = 0xff;
	assert_int_equal(uvf_client_migration_state(c, &st), 0);
	return st;
}

/* Source: STOP_COPY, then read until a short read. *out is malloc'ed. */
size_t save_stream(struct uvf_client *c, uint8_t **out)
{
	size_t len = 0, cap = 0, got;
	uint8_t *buf = NULL;

	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_STOP_COPY), 0);
	do {
		const size_t chunk = 4096; /* several chunks: the cursor must carry over */
		if (cap - len < chunk) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = 0;
		assert_int_equal(uvf_client_migration_data_read(c, buf + len, chunk, &got), 0);
		assert_true(got <= chunk);
		len += got;
		if (got < chunk)
			break;
	} while (len < (16u << 20));
	assert_true(len > DEVMIG_HEADER_SIZE);
	*out = buf;
	return len;
}

/* Destination: RESUMING, write, STOP. Returns the first error. */
int load_stream(struct uvf_client *c, const uint8_t *buf, size_t len)
{
	int ret = uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_RESUMING);
	if (ret < 0)
		return ret;
	/* odd chunks: the device accumulates whatever the chunking */
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 1000 ? len - off : 1000;
		ret = uvf_client_migration_data_write(c, buf + off, n);
		if (ret < 0)
			return ret;
		off += n;
	}
	return uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_STOP);
}

/* The whole move: source stopped and copied, destination loaded and running. */
void migrate(struct server *src, struct server *dst)
{
	uint8_t *stream;
	size_t len = save_stream(src->c, &stream);

	assert_int_equal(load_stream(dst->c, stream, len), 0);
	assert_int_equal(uvf_client_set_migration_state(src->c, UVF_MIGRATION_STATE_STOP), 0);
	assert_int_equal(uvf_client_set_migration_state(dst->c, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(mig_state(dst->c), UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(mig_state(src->c), UVF_MIGRATION_STATE_STOP);
	free(stream);
}

/* The stream with its device tag replaced (CRC made right again). */
void retag(uint8_t *buf, size_t len, uint32_t tag)
{
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(tag >> (8 * i));
	uint32_t crc = devmig_crc32(0, buf, len - 4);
	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/*
 * Every way a stream can be broken is refused by a destination (at
 * MIG_DATA_WRITE for bytes beyond the declared length, else at
 * RESUMING -> STOP), which a reset brings back to RUNNING. Then the
 * source goes back to RUNNING.
 */
void broken_streams_are_refused(struct server *src, struct server *dst, const uint8_t *good, size_t len)
{
	uint8_t *bad = malloc(len + 16);
	assert_non_null(bad);

	for (int variant = 0; variant < 7; variant++) {
		size_t n = len;
		memcpy(bad, good, len);
		switch (variant) {
		case 0:
			n = len - 1;
			break; /* truncated by a byte */
		case 1:
			n = len / 2;
			break; /* truncated in the middle */
		case 2:
			n = DEVMIG_HEADER_SIZE - 1;
			break; /* not even a header */
		case 3:
			bad[len / 2] ^= 0x40;
			break; /* a flipped bit */
		case 4:
			bad[0] ^= 1;
			break; /* bad magic */
		case 5:
			retag(bad, len, 0x58585858u);
			break; /* another device type */
		default:
			bad[len] = 0;
			n = len + 1;
			break; /* a byte too many */
		}
		int ret = load_stream(dst->c, bad, n);
		assert_int_equal(ret, -EINVAL);
		/* refused at STOP: ERROR; refused at a write: still RESUMING;
		 * either way DEVICE_RESET brings it back */
		uint32_t st = mig_state(dst->c);
		assert_true(st == (variant == 6 ? UVF_MIGRATION_STATE_RESUMING : UVF_MIGRATION_STATE_ERROR));
		assert_int_equal(uvf_client_reset(dst->c), 0);
		assert_int_equal(mig_state(dst->c), UVF_MIGRATION_STATE_RUNNING);
	}
	/* the pristine stream is still accepted: the refusals were about the
	 * bytes, not the destination */
	assert_int_equal(load_stream(dst->c, good, len), 0);
	assert_int_equal(uvf_client_set_migration_state(dst->c, UVF_MIGRATION_STATE_RUNNING), 0);
	free(bad);
	/* migration called off: the source runs on */
	assert_int_equal(uvf_client_set_migration_state(src->c, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(mig_state(src->c), UVF_MIGRATION_STATE_RUNNING);
}

