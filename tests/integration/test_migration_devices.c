/* SPDX-License-Identifier: MIT */
/*
 * The sample devices migrate: each one runs in a source and a destination
 * server of this process (two sockets), our client drives each, both
 * clients map one shared guest memory. The device is driven into a
 * non-trivial state, moved with STOP_COPY / MIG_DATA_READ / RESUMING /
 * MIG_DATA_WRITE / STOP / RUNNING, and must go on at the destination
 * exactly where it stopped. Broken streams are refused and the source
 * runs on.
 */
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

#define IOVA	 0x100000ull
#define MEM_SIZE 0x40000u
#define FIRES_MS 2000
#define QUIET_MS 100
#define RW	 (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

/* ------------------------------------------------------------------ */
/* Two servers, two clients, one guest memory                          */
/* ------------------------------------------------------------------ */

struct server {
	struct harness h;
	struct uvf_idio16 *model; /* served by uvf_idio16_run() when set */
	struct uvf_client *c;
};

static int g_fds_before;

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
static void server_start(struct server *s, struct uvf_device *dev, struct uvf_idio16 *model, const char *name)
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

static void server_stop(struct server *s)
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

static int setup(void **state)
{
	(void)state;
	g_fds_before = harness_count_fds();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_count_fds(), g_fds_before); /* nothing leaked, on either side */
	return 0;
}

/* One guest memory (a memfd) mapped by both clients at IOVA; the test
 * sees it through the returned pointer. */
static uint8_t *share_memory_by(struct server *src, struct server *dst, bool by_message);

static uint8_t *share_memory(struct server *src, struct server *dst)
{
	return share_memory_by(src, dst, false);
}

/* by_message: registered without fd, so the devices' DMA goes by
 * DMA_READ/DMA_WRITE messages and takes round trips: work is then still
 * in flight when the stop comes. */
static uint8_t *share_memory_by(struct server *src, struct server *dst, bool by_message)
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

static uint32_t mig_state(struct uvf_client *c)
{
	uint32_t st = 0xff;
	assert_int_equal(uvf_client_migration_state(c, &st), 0);
	return st;
}

/* Source: STOP_COPY, then read until a short read. *out is malloc'ed. */
static size_t save_stream(struct uvf_client *c, uint8_t **out)
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
static int load_stream(struct uvf_client *c, const uint8_t *buf, size_t len)
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
static void migrate(struct server *src, struct server *dst)
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
static void retag(uint8_t *buf, size_t len, uint32_t tag)
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
static void broken_streams_are_refused(struct server *src, struct server *dst, const uint8_t *good, size_t len)
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

/* ------------------------------------------------------------------ */
/* The stream envelope (devices/common/devmig.c)                        */
/* ------------------------------------------------------------------ */

static void crc32_matches_the_standard_check_value(void **state)
{
	(void)state;
	assert_int_equal(devmig_crc32(0, "123456789", 9), 0xcbf43926u);
	/* continued in two pieces: the same */
	assert_int_equal(devmig_crc32(devmig_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static size_t make_stream(uint8_t **out, uint32_t tag, uint32_t version)
{
	struct devmig_writer w;
	size_t len = 0;
	devmig_writer_begin(&w, tag, version);
	devmig_put_u8(&w, 0xab);
	devmig_put_u16(&w, 0x1234);
	devmig_put_u32(&w, 0xdeadbeef);
	devmig_put_u64(&w, 0x0102030405060708ull);
	devmig_put_bytes(&w, "xyz", 3);
	assert_int_equal(devmig_writer_finish(&w, out, &len), 0);
	return len;
}

static void envelope_round_trips_little_endian_fields(void **state)
{
	struct devmig m = {0};
	struct devmig_reader r;
	uint32_t version = 0;
	uint8_t *s1;
	char xyz[3];
	(void)state;

	size_t len = make_stream(&s1, 0x41424344u, 2);
	assert_int_equal(len, DEVMIG_HEADER_SIZE + 18 + DEVMIG_TRAILER_SIZE);
	/* explicit little-endian: the u16 field's bytes in order */
	assert_int_equal(s1[DEVMIG_HEADER_SIZE + 1], 0x34);
	assert_int_equal(s1[DEVMIG_HEADER_SIZE + 2], 0x12);
	devmig_load_begin(&m, 1024);
	for (size_t i = 0; i < len; i++) /* byte by byte */
		assert_int_equal(devmig_load(&m, s1 + i, 1), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 2, &r, &version), 0);
	assert_int_equal(version, 2);
	assert_int_equal(devmig_get_u8(&r), 0xab);
	assert_int_equal(devmig_get_u16(&r), 0x1234);
	assert_int_equal(devmig_get_u32(&r), 0xdeadbeef);
	assert_int_equal(devmig_get_u64(&r), 0x0102030405060708ull);
	assert_int_equal(devmig_reader_end(&r), -EINVAL); /* not all read yet */
	devmig_get_bytes(&r, xyz, 3);
	assert_memory_equal(xyz, "xyz", 3);
	assert_int_equal(devmig_reader_end(&r), 0);
	assert_int_equal(devmig_get_u8(&r), 0); /* past the end: flagged */
	assert_int_equal(devmig_reader_end(&r), -EINVAL);
	/* the save cursor hands it out in pieces */
	devmig_save_begin(&m, s1, len);
	uint8_t out[64];
	assert_int_equal(devmig_save(&m, out, 10), 10);
	assert_int_equal(devmig_save_pending(&m), len - 10);
	assert_int_equal(devmig_save(&m, out + 10, sizeof(out) - 10), (ssize_t)(len - 10));
	assert_int_equal(devmig_save(&m, out, sizeof(out)), 0);
	assert_memory_equal(out, s1, len);
	devmig_clear(&m);
}

static void envelope_refuses_bad_tag_version_length_and_crc(void **state)
{
	struct devmig m = {0};
	struct devmig_reader r;
	uint32_t version;
	uint8_t *s1;
	(void)state;

	size_t len = make_stream(&s1, 0x41424344u, 1);
	/* tag: the right one is accepted, another refused */
	devmig_load_begin(&m, 1024);
	assert_int_equal(devmig_load(&m, s1, len), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424345u, 1, &r, &version), -EINVAL);
	/* version: above what the device knows */
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 0, &r, &version), -EINVAL);
	free(s1);
	len = make_stream(&s1, 0x41424344u, 0); /* version 0 is never valid */
	devmig_load_begin(&m, 1024);
	assert_int_equal(devmig_load(&m, s1, len), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 5, &r, &version), -EINVAL);
	free(s1);
	len = make_stream(&s1, 0x41424344u, 1);
	/* truncated */
	devmig_load_begin(&m, 1024);
	assert_int_equal(devmig_load(&m, s1, len - 1), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), -EINVAL);
	/* longer than declared: the chunk is refused */
	assert_int_equal(devmig_load(&m, s1 + len - 1, 1), 0);
	uint8_t extra = 0;
	assert_int_equal(devmig_load(&m, &extra, 1), -EINVAL);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), 0);
	/* beyond the device's maximum */
	devmig_load_begin(&m, len - 1);
	assert_int_equal(devmig_load(&m, s1, len), -EINVAL);
	/* corrupted payload byte, then corrupted CRC */
	for (int which = 0; which < 2; which++) {
		s1[which ? len - 1 : DEVMIG_HEADER_SIZE + 3] ^= 0x08;
		devmig_load_begin(&m, 1024);
		assert_int_equal(devmig_load(&m, s1, len), 0);
		assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), -EINVAL);
		s1[which ? len - 1 : DEVMIG_HEADER_SIZE + 3] ^= 0x08;
	}
	/* bad magic */
	s1[3] ^= 0x80;
	devmig_load_begin(&m, 1024);
	assert_int_equal(devmig_load(&m, s1, len), 0);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), -EINVAL);
	/* nothing at all */
	devmig_load_begin(&m, 1024);
	assert_int_equal(devmig_load_finish(&m, 0x41424344u, 1, &r, &version), -EINVAL);
	free(s1);
	devmig_clear(&m);
}

/* ------------------------------------------------------------------ */
/* dmatest                                                              */
/* ------------------------------------------------------------------ */

static uint32_t dm_rd(struct uvf_client *c, uint32_t reg)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, reg, &v, 4), 0);
	return v;
}

static void dm_wr(struct uvf_client *c, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, reg, &v, 4), 0);
}

/* Run a command and wait for CMD_COUNT to move. */
static void dm_run(struct uvf_client *c, uint32_t cmd, uint64_t src, uint64_t dst, uint32_t len, uint8_t pattern)
{
	uint32_t before = dm_rd(c, UVF_DMATEST_REG_CMD_COUNT);
	dm_wr(c, UVF_DMATEST_REG_SRC_LO, (uint32_t)src);
	dm_wr(c, UVF_DMATEST_REG_SRC_HI, (uint32_t)(src >> 32));
	dm_wr(c, UVF_DMATEST_REG_DST_LO, (uint32_t)dst);
	dm_wr(c, UVF_DMATEST_REG_DST_HI, (uint32_t)(dst >> 32));
	dm_wr(c, UVF_DMATEST_REG_LEN, len);
	dm_wr(c, UVF_DMATEST_REG_PATTERN, pattern);
	dm_wr(c, UVF_DMATEST_REG_CMD, cmd);
	for (int i = 0; i < 2000 && dm_rd(c, UVF_DMATEST_REG_CMD_COUNT) == before; i++)
		usleep(1000);
	assert_int_equal(dm_rd(c, UVF_DMATEST_REG_CMD_COUNT), before + 1);
	assert_int_equal(dm_rd(c, UVF_DMATEST_REG_STATUS), 0);
}

static void start_dmatest_pair(struct server *src, struct server *dst)
{
	struct uvf_device *a, *b;
	struct uvf_dmatest *dmatest_a;
	assert_int_equal(uvf_dmatest_create(&dmatest_a), 0);
	a = uvf_dmatest_device(dmatest_a);
	server_start(src, a, NULL, "src");
	struct uvf_dmatest *dmatest_b;
	assert_int_equal(uvf_dmatest_create(&dmatest_b), 0);
	b = uvf_dmatest_device(dmatest_b);
	server_start(dst, b, NULL, "dst");
}

static void dmatest_continues_on_the_destination_with_registers_bar4_and_pending_intx(void **state)
{
	struct server src, dst;
	uint8_t bar4[UVF_DMATEST_BAR4_SIZE], got4[UVF_DMATEST_BAR4_SIZE];
	uint32_t regs[16], regs_after[16];
	uint64_t flags = 0;
	(void)state;

	start_dmatest_pair(&src, &dst);
	uint8_t *mem = share_memory(&src, &dst);
	assert_int_equal(uvf_client_migration_features(src.c, &flags), 0);
	assert_true(flags & UVF_MIGRATION_STOP_COPY);
	int intx_src = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), intx_dst = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(intx_src >= 0 && intx_dst >= 0);
	assert_int_equal(uvf_client_set_irq_eventfds(src.c, UVF_PCI_INTX_IRQ, 0, 1, &intx_src), 0);
	/* the destination VMM wires its interrupts before the device runs */
	assert_int_equal(uvf_client_set_irq_eventfds(dst.c, UVF_PCI_INTX_IRQ, 0, 1, &intx_dst), 0);

	/* state: BAR4 pattern (by REGION_WRITE), a FILL done by DMA, a SUM,
	 * IRQ_VECTOR, and the completion's INTx level still asserted */
	for (size_t i = 0; i < sizeof(bar4); i++)
		bar4[i] = (uint8_t)(i * 13 + (i >> 8));
	assert_int_equal(uvf_client_region_write(src.c, UVF_DMATEST_BAR4, 0, bar4, sizeof(bar4)), 0);
	dm_wr(src.c, UVF_DMATEST_REG_IRQ_VECTOR, 2);
	dm_run(src.c, UVF_DMATEST_CMD_FILL, 0, IOVA + 0x1000, 8192, 0x5a);
	for (unsigned i = 0; i < 8192; i++)
		assert_int_equal(mem[0x1000 + i], 0x5a);
	dm_run(src.c, UVF_DMATEST_CMD_SUM, 0, 0, 4096, 0);
	assert_int_equal(dm_rd(src.c, UVF_DMATEST_REG_SUM), uvf_dmatest_checksum(bar4, 4096));
	assert_true(harness_wait_eventfd(intx_src, FIRES_MS) > 0);
	for (unsigned i = 0; i < 16; i++)
		regs[i] = dm_rd(src.c, i * 4);
	assert_int_equal(regs[UVF_DMATEST_REG_IRQ_COUNT / 4], 2);
	assert_int_equal(harness_wait_eventfd(intx_dst, QUIET_MS), 0);

	migrate(&src, &dst);

	/* the asserted completion interrupt reaches the destination's VMM */
	assert_true(harness_wait_eventfd(intx_dst, FIRES_MS) > 0);
	for (unsigned i = 0; i < 16; i++)
		regs_after[i] = dm_rd(dst.c, i * 4);
	assert_memory_equal(regs_after, regs, sizeof(regs));
	assert_int_equal(uvf_client_region_read(dst.c, UVF_DMATEST_BAR4, 0, got4, sizeof(got4)), 0);
	assert_memory_equal(got4, bar4, sizeof(bar4));
	/* and it goes on: a COPY, counted after the migrated counts */
	dm_run(dst.c, UVF_DMATEST_CMD_COPY, IOVA + 0x1000, IOVA + 0x8000, 4096, 0);
	assert_memory_equal(mem + 0x8000, mem + 0x1000, 4096);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_CMD_COUNT), regs[UVF_DMATEST_REG_CMD_COUNT / 4] + 1);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_IRQ_COUNT), regs[UVF_DMATEST_REG_IRQ_COUNT / 4] + 1);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_IRQ_VECTOR), 2);

	munmap(mem, MEM_SIZE);
	close(intx_src);
	close(intx_dst);
	server_stop(&dst);
	server_stop(&src);
}

static void dmatest_command_written_while_stopped_runs_on_the_destination(void **state)
{
	struct server src, dst;
	(void)state;

	start_dmatest_pair(&src, &dst);
	uint8_t *mem = share_memory(&src, &dst);
	dm_wr(src.c, UVF_DMATEST_REG_DST_LO, (uint32_t)(IOVA + 0x3000));
	dm_wr(src.c, UVF_DMATEST_REG_DST_HI, 0);
	dm_wr(src.c, UVF_DMATEST_REG_LEN, 100000); /* two chunks */
	dm_wr(src.c, UVF_DMATEST_REG_PATTERN, 0xc3);
	assert_int_equal(uvf_client_set_migration_state(src.c, UVF_MIGRATION_STATE_STOP), 0);
	/* a stopped device does no DMA: the command waits */
	dm_wr(src.c, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_FILL);
	usleep(50000);
	assert_int_equal(mem[0x3000], 0);
	assert_int_equal(dm_rd(src.c, UVF_DMATEST_REG_CMD_COUNT), 0);
	migrate(&src, &dst);
	for (int i = 0; i < 2000 && dm_rd(dst.c, UVF_DMATEST_REG_CMD_COUNT) == 0; i++)
		usleep(1000);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_CMD_COUNT), 1);
	for (unsigned i = 0; i < 100000; i++)
		assert_int_equal(mem[0x3000 + i], 0xc3);
	munmap(mem, MEM_SIZE);
	server_stop(&dst);
	server_stop(&src);
}

/* A FILL of several chunks started by a posted write right before the
 * stop: whatever step was in flight runs again on the destination, and
 * the command completes there exactly once. */
static void dmatest_command_in_flight_at_the_stop_completes_once_on_the_destination(void **state)
{
	struct server src, dst;
	const uint32_t len = 200000;
	(void)state;

	start_dmatest_pair(&src, &dst);
	uint8_t *mem = share_memory_by(&src, &dst, true);
	dm_wr(src.c, UVF_DMATEST_REG_DST_LO, (uint32_t)(IOVA + 0x1000));
	dm_wr(src.c, UVF_DMATEST_REG_DST_HI, 0);
	dm_wr(src.c, UVF_DMATEST_REG_LEN, len);
	dm_wr(src.c, UVF_DMATEST_REG_PATTERN, 0xe7);
	uint32_t cmd = UVF_DMATEST_CMD_FILL;
	assert_int_equal(uvf_client_region_write_posted(src.c, 0, UVF_DMATEST_REG_CMD, &cmd, 4), 0);
	migrate(&src, &dst);
	for (int i = 0; i < 2000 && dm_rd(dst.c, UVF_DMATEST_REG_CMD_COUNT) == 0; i++)
		usleep(1000);
	usleep(20000); /* a second completion would show by now */
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_CMD_COUNT), 1);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_STATUS), 0);
	assert_int_equal(dm_rd(dst.c, UVF_DMATEST_REG_CMD), 0);
	for (unsigned i = 0; i < len; i++)
		assert_int_equal(mem[0x1000 + i], 0xe7);
	assert_int_equal(mem[0x1000 + len], 0);
	munmap(mem, MEM_SIZE);
	server_stop(&dst);
	server_stop(&src);
}

static void dmatest_refuses_broken_streams_and_the_source_runs_on(void **state)
{
	struct server src, dst;
	uint8_t *stream;
	(void)state;

	start_dmatest_pair(&src, &dst);
	uint8_t *mem = share_memory(&src, &dst);
	dm_run(src.c, UVF_DMATEST_CMD_FILL, 0, IOVA, 4096, 0x11);
	size_t len = save_stream(src.c, &stream);
	broken_streams_are_refused(&src, &dst, stream, len);
	free(stream);
	/* the source keeps working where it was */
	assert_int_equal(dm_rd(src.c, UVF_DMATEST_REG_CMD_COUNT), 1);
	dm_run(src.c, UVF_DMATEST_CMD_FILL, 0, IOVA + 0x2000, 4096, 0x22);
	assert_int_equal(mem[0x2000 + 4095], 0x22);
	assert_int_equal(dm_rd(src.c, UVF_DMATEST_REG_CMD_COUNT), 2);
	munmap(mem, MEM_SIZE);
	server_stop(&dst);
	server_stop(&src);
}

/* ------------------------------------------------------------------ */
/* idio16                                                               */
/* ------------------------------------------------------------------ */

static uint8_t io_rd(struct uvf_client *c, unsigned port)
{
	uint8_t v = 0;
	assert_int_equal(uvf_client_region_read(c, UVF_IDIO16_BAR, port, &v, 1), 0);
	return v;
}

static void io_wr(struct uvf_client *c, unsigned port, uint8_t v)
{
	assert_int_equal(uvf_client_region_write(c, UVF_IDIO16_BAR, port, &v, 1), 0);
}

static void start_idio16_pair(struct server *src, struct server *dst)
{
	struct uvf_idio16 *a, *b;
	assert_int_equal(uvf_idio16_create(&a), 0);
	server_start(src, NULL, a, "src");
	assert_int_equal(uvf_idio16_create(&b), 0);
	server_start(dst, NULL, b, "dst");
}

static void uvf_idio16_continues_with_outputs_inputs_and_asserted_interrupt(void **state)
{
	struct server src, dst;
	struct uvf_idio16_state a, b;
	(void)state;

	start_idio16_pair(&src, &dst);
	int intx_src = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), intx_dst = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(intx_src >= 0 && intx_dst >= 0);
	assert_int_equal(uvf_client_set_irq_eventfds(src.c, UVF_PCI_INTX_IRQ, 0, 1, &intx_src), 0);
	assert_int_equal(uvf_client_set_irq_eventfds(dst.c, UVF_PCI_INTX_IRQ, 0, 1, &intx_dst), 0);

	io_wr(src.c, UVF_IDIO16_PORT_OUT_LOW, 0xa5);
	io_wr(src.c, UVF_IDIO16_PORT_OUT_HIGH, 0x3c);
	io_wr(src.c, UVF_IDIO16_PORT_FILTER_LOW, 0x0f);
	(void)io_rd(src.c, UVF_IDIO16_PORT_IRQ_CTL); /* enable IRQs */
	uvf_idio16_set_inputs(src.model, 0x0100);
	assert_int_equal(harness_wait_eventfd(intx_src, FIRES_MS), 1);
	assert_int_equal(io_rd(src.c, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_HIGH);
	uvf_idio16_get_state(src.model, &a);
	/* pre-copy: offered, and empty (the state goes in STOP_COPY) */
	uint64_t flags = 0;
	uint8_t byte;
	size_t got = 1;
	assert_int_equal(uvf_client_migration_features(src.c, &flags), 0);
	assert_true(flags & UVF_MIGRATION_PRE_COPY);
	assert_int_equal(uvf_client_set_migration_state(src.c, UVF_MIGRATION_STATE_PRE_COPY), 0);
	assert_int_equal(uvf_client_migration_data_read(src.c, &byte, 1, &got), 0);
	assert_int_equal(got, 0);

	migrate(&src, &dst); /* PRE_COPY -> STOP_COPY quiesces too */

	/* the line is still asserted: the destination's VMM gets it */
	assert_int_equal(harness_wait_eventfd(intx_dst, FIRES_MS), 1);
	uvf_idio16_get_state(dst.model, &b);
	assert_int_equal(b.outputs, 0x3ca5);
	assert_int_equal(b.inputs, 0x0100);
	assert_true(b.irq_enabled);
	assert_int_equal(b.irq_status, a.irq_status);
	assert_int_equal(b.filter_low, 0x0f);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_OUT_LOW), 0xa5);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_OUT_HIGH), 0x3c);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_IN_HIGH), 0x01);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_HIGH);
	/* and it goes on: clear, EOI, a new change raises INTx again */
	io_wr(dst.c, UVF_IDIO16_PORT_IN_LOW, 0);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_IRQ_STATUS), 0);
	assert_int_equal(uvf_client_irq_mask(dst.c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
	uvf_idio16_set_inputs(dst.model, 0x0101);
	assert_int_equal(harness_wait_eventfd(intx_dst, FIRES_MS), 1);
	assert_int_equal(io_rd(dst.c, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_LOW);

	close(intx_src);
	close(intx_dst);
	server_stop(&dst);
	server_stop(&src);
}

static void uvf_idio16_input_change_while_stopped_interrupts_after_resume(void **state)
{
	struct server src, dst;
	(void)state;

	start_idio16_pair(&src, &dst);
	int intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(intx >= 0);
	assert_int_equal(uvf_client_set_irq_eventfds(src.c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	(void)io_rd(src.c, UVF_IDIO16_PORT_IRQ_CTL);
	assert_int_equal(uvf_client_set_migration_state(src.c, UVF_MIGRATION_STATE_STOP), 0);
	uvf_idio16_set_inputs(src.model, 0x0001);
	assert_int_equal(harness_wait_eventfd(intx, QUIET_MS), 0); /* stopped: no interrupt */
	assert_int_equal(uvf_client_set_migration_state(src.c, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(harness_wait_eventfd(intx, FIRES_MS), 1);
	assert_int_equal(io_rd(src.c, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_LOW);
	close(intx);
	server_stop(&dst);
	server_stop(&src);
}

static void uvf_idio16_refuses_broken_streams_and_the_source_runs_on(void **state)
{
	struct server src, dst;
	uint8_t *stream;
	(void)state;

	start_idio16_pair(&src, &dst);
	io_wr(src.c, UVF_IDIO16_PORT_OUT_LOW, 0x42);
	size_t len = save_stream(src.c, &stream);
	broken_streams_are_refused(&src, &dst, stream, len);
	free(stream);
	assert_int_equal(io_rd(src.c, UVF_IDIO16_PORT_OUT_LOW), 0x42);
	io_wr(src.c, UVF_IDIO16_PORT_OUT_LOW, 0x43);
	assert_int_equal(io_rd(src.c, UVF_IDIO16_PORT_OUT_LOW), 0x43);
	server_stop(&dst);
	server_stop(&src);
}

static void streams_of_another_device_type_are_refused(void **state)
{
	struct server a, b;
	uint8_t *stream;
	(void)state;

	/* an idio16 stream into a dmatest */
	struct uvf_idio16 *model;
	struct uvf_device *dev;
	assert_int_equal(uvf_idio16_create(&model), 0);
	server_start(&a, NULL, model, "idio16");
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	server_start(&b, dev, NULL, "dmatest");
	size_t len = save_stream(a.c, &stream);
	assert_int_equal(load_stream(b.c, stream, len), -EINVAL);
	free(stream);
	assert_int_equal(uvf_client_set_migration_state(a.c, UVF_MIGRATION_STATE_RUNNING), 0);
	server_stop(&b);
	server_stop(&a);
}

/* ------------------------------------------------------------------ */
/* nvme                                                                 */
/* ------------------------------------------------------------------ */

#define NSIZE	 (4u << 20)
#define NQ	 2u
#define QDEPTH	 16u
#define ASQ_OFF	 0x0000u
#define ACQ_OFF	 0x1000u
#define BUF_OFF	 0x6000u
#define DATA_OFF 0x10000u

static const uint32_t sq_offs[NQ + 1] = {0x0000, 0x2000, 0x4000};
static const uint32_t cq_offs[NQ + 1] = {0x1000, 0x3000, 0x5000};

/* A tiny NVMe driver whose state can move to another client. */
struct drv {
	struct uvf_client *c;
	uint8_t *mem;
	uint32_t sq_tail[NQ + 1], cq_head[NQ + 1];
	bool phase[NQ + 1];
	uint16_t cid;
	int efd[NQ + 1];
};

static uint32_t nv_rd(struct drv *d, uint32_t reg)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(d->c, 0, reg, &v, 4), 0);
	return v;
}

static void nv_wr(struct drv *d, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(d->c, 0, reg, &v, 4), 0);
}

static void nv_wr64(struct drv *d, uint32_t reg, uint64_t v)
{
	assert_int_equal(uvf_client_region_write(d->c, 0, reg, &v, 8), 0);
}

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

/* MSI-X on and an eventfd per vector: what a VMM sets up on either side
 * (config space and interrupt wiring are the VMM's to restore). */
static void drv_wire(struct drv *d, struct uvf_client *c)
{
	d->c = c;
	uint32_t cap = find_cap(c, 0x11);
	assert_int_equal(uvf_client_config_write16(c, cap + 2, 0x8000), 0);
	for (unsigned i = 0; i <= NQ; i++) {
		d->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(d->efd[i] >= 0);
	}
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, NQ + 1, d->efd), 0);
}

static void drv_unwire(struct drv *d)
{
	for (unsigned i = 0; i <= NQ; i++)
		close(d->efd[i]);
}

static uint16_t drv_queue(struct drv *d, unsigned q, uint32_t *sqe)
{
	uint16_t cid = ++d->cid;
	sqe[0] = (sqe[0] & 0xffff) | (uint32_t)cid << 16;
	memcpy(d->mem + sq_offs[q] + d->sq_tail[q] * 64, sqe, 64);
	d->sq_tail[q] = (d->sq_tail[q] + 1) % QDEPTH;
	return cid;
}

static void drv_ring(struct drv *d, unsigned q)
{
	nv_wr(d, 0x1000 + 8 * q, d->sq_tail[q]);
}

/* Wait for the completion of cid on CQ q, in the slot and phase the driver
 * expects next; returns its status. */
static uint16_t drv_wait(struct drv *d, unsigned q, uint16_t cid, uint32_t *dw0)
{
	const uint8_t *slot = d->mem + cq_offs[q] + d->cq_head[q] * 16;
	uint32_t cqe[4];
	int i;
	for (i = 0; i < 20000; i++) {
		uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(slot + 12), __ATOMIC_ACQUIRE);
		if ((bool)(dw3 >> 16 & 1) == d->phase[q])
			break;
		(void)nv_rd(d, 0x1c);
	}
	assert_true(i < 20000);
	memcpy(cqe, slot, 16);
	assert_int_equal(cqe[3] & 0xffff, cid);
	assert_int_equal(cqe[2] >> 16, q);
	if (++d->cq_head[q] == QDEPTH) {
		d->cq_head[q] = 0;
		d->phase[q] = !d->phase[q];
	}
	nv_wr(d, 0x1004 + 8 * q, d->cq_head[q]);
	if (dw0)
		*dw0 = cqe[0];
	return (uint16_t)(cqe[3] >> 17 & 0x7ff);
}

/* Wait for the next completion on CQ q, whichever command it is (commands
 * in flight complete in any order); returns its status, *cid its id. */
static uint16_t drv_wait_any(struct drv *d, unsigned q, uint16_t *cid)
{
	const uint8_t *slot = d->mem + cq_offs[q] + d->cq_head[q] * 16;
	uint32_t cqe[4];
	int i;
	for (i = 0; i < 20000; i++) {
		uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(slot + 12), __ATOMIC_ACQUIRE);
		if ((bool)(dw3 >> 16 & 1) == d->phase[q])
			break;
		(void)nv_rd(d, 0x1c);
	}
	assert_true(i < 20000);
	memcpy(cqe, slot, 16);
	assert_int_equal(cqe[2] >> 16, q);
	*cid = (uint16_t)(cqe[3] & 0xffff);
	if (++d->cq_head[q] == QDEPTH) {
		d->cq_head[q] = 0;
		d->phase[q] = !d->phase[q];
	}
	nv_wr(d, 0x1004 + 8 * q, d->cq_head[q]);
	return (uint16_t)(cqe[3] >> 17 & 0x7ff);
}

static uint16_t drv_cmd(struct drv *d, unsigned q, uint32_t *sqe, uint32_t *dw0)
{
	uint16_t cid = drv_queue(d, q, sqe);
	drv_ring(d, q);
	return drv_wait(d, q, cid, dw0);
}

static uint16_t admin(struct drv *d, uint8_t opc, uint32_t nsid, uint64_t prp1, uint32_t c10, uint32_t c11,
		      uint32_t *dw0)
{
	uint32_t sqe[16] = {opc, nsid};
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[10] = c10;
	sqe[11] = c11;
	return drv_cmd(d, 0, sqe, dw0);
}

static void io_sqe(uint32_t *sqe, uint8_t opc, uint64_t slba, uint32_t off)
{
	memset(sqe, 0, 64);
	sqe[0] = opc;
	sqe[1] = 1;
	sqe[6] = (uint32_t)(IOVA + off);
	sqe[7] = (uint32_t)((IOVA + off) >> 32);
	sqe[10] = (uint32_t)slba;
	sqe[11] = (uint32_t)(slba >> 32);
	sqe[12] = 7; /* 8 blocks: one page */
}

/* Write then read back one page at slba through queue q. */
static void page_roundtrip(struct drv *d, unsigned q, uint64_t slba, uint8_t fill)
{
	uint32_t sqe[16];
	uint32_t off = DATA_OFF + q * 0x1000u;
	memset(d->mem + off, fill, 4096);
	io_sqe(sqe, 0x01, slba, off);
	assert_int_equal(drv_cmd(d, q, sqe, NULL), 0);
	memset(d->mem + off, 0, 4096);
	io_sqe(sqe, 0x02, slba, off);
	assert_int_equal(drv_cmd(d, q, sqe, NULL), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d->mem[off + i], fill);
}

struct nvme_pair {
	struct server src, dst;
	char backing[64];
	uint8_t *mem;
};

static void start_nvme_pair_polled(struct nvme_pair *p, uint64_t dst_size, int poll_us)
{
	struct uvf_device *a, *b;
	strcpy(p->backing, "/tmp/uvf-mig-nvme-XXXXXX");
	int fd = mkstemp(p->backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	struct uvf_nvme_opts opts = {
		.backing = p->backing, .queues = NQ, .serial = "MIGTEST", .shadow_poll_us = poll_us};
	struct uvf_nvme *nvme_a;
	assert_int_equal(uvf_nvme_create(&nvme_a, &opts), 0);
	a = uvf_nvme_device(nvme_a);
	server_start(&p->src, a, NULL, "src");
	if (dst_size != NSIZE) {
		opts.backing = NULL; /* another namespace */
		opts.size = dst_size;
	}
	struct uvf_nvme *nvme_b;
	assert_int_equal(uvf_nvme_create(&nvme_b, &opts), 0);
	b = uvf_nvme_device(nvme_b);
	server_start(&p->dst, b, NULL, "dst");
	p->mem = share_memory(&p->src, &p->dst);
}

static void start_nvme_pair(struct nvme_pair *p, uint64_t dst_size)
{
	start_nvme_pair_polled(p, dst_size, 0);
}

static void stop_nvme_pair(struct nvme_pair *p)
{
	munmap(p->mem, MEM_SIZE);
	server_stop(&p->dst);
	server_stop(&p->src);
	unlink(p->backing);
}

/* Enable, create two I/O queue pairs (CQ n on vector n), do some I/O. */
static void drv_bring_up(struct drv *d)
{
	for (unsigned q = 0; q <= NQ; q++) {
		d->sq_tail[q] = d->cq_head[q] = 0;
		d->phase[q] = true;
	}
	nv_wr(d, 0x24, (QDEPTH - 1) << 16 | (QDEPTH - 1));
	nv_wr64(d, 0x28, IOVA + ASQ_OFF);
	nv_wr64(d, 0x30, IOVA + ACQ_OFF);
	nv_wr(d, 0x14, 1u | 6u << 16 | 4u << 20);
	assert_int_equal(nv_rd(d, 0x1c) & 3, 1);
	for (unsigned q = 1; q <= NQ; q++) {
		assert_int_equal(admin(d, 0x05, 0, IOVA + cq_offs[q], (QDEPTH - 1) << 16 | q, q << 16 | 3, NULL), 0);
		assert_int_equal(admin(d, 0x01, 0, IOVA + sq_offs[q], (QDEPTH - 1) << 16 | q, q << 16 | 1, NULL), 0);
	}
}

static void nvme_continues_on_the_destination_in_the_next_slot(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t dw0 = 0, sqe[16];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c); /* the destination VMM's wiring, done up front */
	drv_bring_up(&d);
	/* features: coalescing and volatile write cache */
	assert_int_equal(admin(&d, 0x09, 0, 0, 0x08, 0x0305, NULL), 0);
	assert_int_equal(admin(&d, 0x09, 0, 0, 0x06, 1, NULL), 0);
	/* heads and tails mid-ring: 5 round trips on queue 1, 3 on queue 2 */
	for (unsigned i = 0; i < 5; i++)
		page_roundtrip(&d, 1, 8 * i, (uint8_t)(0x10 + i));
	for (unsigned i = 0; i < 3; i++)
		page_roundtrip(&d, 2, 800 + 8 * i, (uint8_t)(0x20 + i));
	/* four asynchronous event requests, held (the controller's limit) */
	uint32_t aer[16] = {0x0c};
	for (unsigned i = 0; i < 4; i++) {
		memset(aer, 0, sizeof(aer));
		aer[0] = 0x0c;
		(void)drv_queue(&d, 0, aer);
	}
	drv_ring(&d, 0);
	/* an admin command after them completes: the AERs were taken */
	assert_int_equal(admin(&d, 0x0a, 0, 0, 0x08, 0, &dw0), 0);
	assert_int_equal(dw0, 0x0305);
	uint32_t regs[16];
	for (unsigned i = 0; i < 16; i++)
		regs[i] = nv_rd(&d, i * 4);
	/* a write rung just before the stop: in flight during the migration */
	memset(d.mem + DATA_OFF + 0x8000, 0x77, 4096);
	io_sqe(sqe, 0x01, 2000, DATA_OFF + 0x8000);
	uint16_t inflight = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);

	migrate(&p.src, &p.dst);

	/* the destination driver is the source's, on the other client */
	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned i = 0; i < 16; i++) /* CAP, VS, INTMS, CC, CSTS, AQA, ASQ, ACQ */
		assert_int_equal(nv_rd(&moved, i * 4), regs[i]);
	assert_int_equal(nv_rd(&moved, 0x1c) & 3, 1); /* ready, no fatal status */
	/* the command in flight completes there, in the slot and phase expected */
	assert_int_equal(drv_wait(&moved, 1, inflight, NULL), 0);
	/* and the next commands use the next slots: 20 more on queue 1 wrap
	 * its rings and flip the phase */
	for (unsigned i = 0; i < 10; i++)
		page_roundtrip(&moved, 1, 100 + 8 * i, (uint8_t)(0x40 + i));
	assert_false(moved.phase[1]);
	page_roundtrip(&moved, 2, 900, 0x55);
	/* data written before the move is there (the backing file is shared) */
	io_sqe(sqe, 0x02, 2000, DATA_OFF + 0x9000);
	assert_int_equal(drv_cmd(&moved, 2, sqe, NULL), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d.mem[DATA_OFF + 0x9000 + i], 0x77);
	io_sqe(sqe, 0x02, 8, DATA_OFF + 0x9000);
	assert_int_equal(drv_cmd(&moved, 1, sqe, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF + 0x9000], 0x11);
	/* features migrated */
	assert_int_equal(admin(&moved, 0x0a, 0, 0, 0x08, 0, &dw0), 0);
	assert_int_equal(dw0, 0x0305);
	assert_int_equal(admin(&moved, 0x0a, 0, 0, 0x06, 0, &dw0), 0);
	assert_int_equal(dw0, 1);
	/* the four held AERs came along: a fifth is over the limit */
	memset(aer, 0, sizeof(aer));
	aer[0] = 0x0c;
	assert_int_equal(drv_cmd(&moved, 0, aer, NULL), 0x105);
	/* SMART counters went on from the source's: 5 + 3 + 10 + 1 + 2 reads */
	assert_int_equal(admin(&moved, 0x02, 0, IOVA + BUF_OFF, 2 | 127u << 16, 0, NULL), 0);
	uint64_t reads = 0, writes = 0;
	memcpy(&reads, d.mem + BUF_OFF + 64, 8);
	memcpy(&writes, d.mem + BUF_OFF + 80, 8);
	assert_int_equal(reads, 5 + 3 + 10 + 1 + 2);
	assert_int_equal(writes, 5 + 3 + 1 + 10 + 1);
	/* the interrupts of the moved queues work */
	assert_true(harness_wait_eventfd(moved.efd[1], FIRES_MS) > 0);

	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* Shadow doorbells: the host writes the tail (or head) in its shadow page
 * and rings only when the new value passes EventIdx (Linux's rule). */
#define DBS_OFF 0x7000u
#define EIS_OFF 0x8000u

static bool shadow_publish(struct drv *d, uint32_t slot, uint32_t value)
{
	uint32_t *db = (uint32_t *)(void *)(d->mem + DBS_OFF + slot * 4);
	const uint32_t *ei = (const uint32_t *)(const void *)(d->mem + EIS_OFF + slot * 4);
	/* sequentially consistent: a full barrier between store and load */
	uint16_t old = (uint16_t)__atomic_exchange_n(db, value, __ATOMIC_SEQ_CST);
	uint16_t event_idx = (uint16_t)__atomic_load_n(ei, __ATOMIC_SEQ_CST);
	if ((uint16_t)((uint16_t)value - event_idx - 1) >= (uint16_t)((uint16_t)value - old))
		return false;
	nv_wr(d, 0x1000 + slot * 4, value);
	return true;
}

/* One page written and read back on queue q through the shadow doorbells;
 * counts the doorbells rung. */
static void shadow_page_roundtrip(struct drv *d, unsigned q, uint64_t slba, uint8_t fill, unsigned *rings)
{
	uint32_t sqe[16], off = DATA_OFF + q * 0x1000u;
	for (int pass = 0; pass < 2; pass++) {
		memset(d->mem + off, pass ? 0 : fill, 4096);
		io_sqe(sqe, pass ? 0x02 : 0x01, slba, off);
		uint16_t cid = drv_queue(d, q, sqe);
		*rings += shadow_publish(d, 2 * q, d->sq_tail[q]);
		const uint8_t *slot = d->mem + cq_offs[q] + d->cq_head[q] * 16;
		int i;
		for (i = 0; i < 20000; i++) {
			uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(slot + 12), __ATOMIC_ACQUIRE);
			if ((bool)(dw3 >> 16 & 1) == d->phase[q])
				break;
			(void)nv_rd(d, 0x1c);
		}
		assert_true(i < 20000);
		uint32_t cqe[4];
		memcpy(cqe, slot, 16);
		assert_int_equal(cqe[3] & 0xffff, cid);
		assert_int_equal(cqe[3] >> 17 & 0x7ff, 0);
		if (++d->cq_head[q] == QDEPTH) {
			d->cq_head[q] = 0;
			d->phase[q] = !d->phase[q];
		}
		*rings += shadow_publish(d, 2 * q + 1, d->cq_head[q]);
	}
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(d->mem[off + i], fill);
}

/* The shadow doorbell pages travel: the destination polls them, and a
 * host that writes only the shadow doorbells goes on there. */
static void nvme_shadow_doorbells_go_on_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	unsigned rings = 0;
	(void)state;

	start_nvme_pair_polled(&p, NSIZE, 10000000); /* polled longer than the test runs */
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	uint32_t sqe[16] = {0x7c};
	sqe[6] = (uint32_t)(IOVA + DBS_OFF);
	sqe[7] = (uint32_t)((IOVA + DBS_OFF) >> 32);
	sqe[8] = (uint32_t)(IOVA + EIS_OFF);
	sqe[9] = (uint32_t)((IOVA + EIS_OFF) >> 32);
	assert_int_equal(drv_cmd(&d, 0, sqe, NULL), 0);
	for (unsigned i = 0; i < 5; i++)
		shadow_page_roundtrip(&d, 1, 8 * i, (uint8_t)(0x10 + i), &rings);
	assert_int_equal(rings, 0);

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned i = 0; i < 12; i++) {
		shadow_page_roundtrip(&moved, 1, 100 + 8 * i, (uint8_t)(0x40 + i), &rings);
		shadow_page_roundtrip(&moved, 2, 300 + 8 * i, (uint8_t)(0x60 + i), &rings);
	}
	assert_int_equal(rings, 0);

	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* With DMA by message every step of a command is a round trip: commands
 * rung (posted) right before the stop are caught mid-way, each at some
 * step, and complete on the destination exactly once, in order. */
static void nvme_io_in_flight_at_the_stop_completes_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	uint16_t cid[NQ + 1][3];
	struct uvf_device *a, *b;
	(void)state;

	/* like start_nvme_pair(), with memory by message */
	strcpy(p.backing, "/tmp/uvf-mig-nvme-XXXXXX");
	int fd = mkstemp(p.backing);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	struct uvf_nvme_opts opts = {.backing = p.backing, .queues = NQ, .serial = "MIGTEST"};
	struct uvf_nvme *nvme_a;
	assert_int_equal(uvf_nvme_create(&nvme_a, &opts), 0);
	a = uvf_nvme_device(nvme_a);
	server_start(&p.src, a, NULL, "src");
	struct uvf_nvme *nvme_b;
	assert_int_equal(uvf_nvme_create(&nvme_b, &opts), 0);
	b = uvf_nvme_device(nvme_b);
	server_start(&p.dst, b, NULL, "dst");
	p.mem = share_memory_by(&p.src, &p.dst, true);

	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x61);
	/* three commands per I/O queue, in flight together: write, read of
	 * what the round trip wrote, write */
	for (unsigned q = 1; q <= NQ; q++) {
		uint32_t off = DATA_OFF + 0x4000u * q;
		memset(d.mem + off, (int)(0x70 + q), 4096);
		io_sqe(sqe, 0x01, 3000 + 8 * q, off);
		cid[q][0] = drv_queue(&d, q, sqe);
		io_sqe(sqe, 0x02, 0, off + 0x1000);
		cid[q][1] = drv_queue(&d, q, sqe);
		io_sqe(sqe, 0x01, 3100 + 8 * q, off);
		cid[q][2] = drv_queue(&d, q, sqe);
	}
	for (unsigned q = 1; q <= NQ; q++) {
		uint32_t tail = d.sq_tail[q];
		assert_int_equal(uvf_client_region_write_posted(d.c, 0, 0x1000 + 8 * q, &tail, 4), 0);
	}

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	for (unsigned q = 1; q <= NQ; q++) {
		bool seen[3] = {false, false, false};
		for (unsigned k = 0; k < 3; k++) {
			uint16_t got;
			assert_int_equal(drv_wait_any(&moved, q, &got), 0);
			unsigned which = got == cid[q][0] ? 0 : got == cid[q][1] ? 1 : got == cid[q][2] ? 2 : 3;
			assert_true(which < 3);
			assert_false(seen[which]); /* each completes once */
			seen[which] = true;
		}
		for (unsigned i = 0; i < 4096; i++)
			assert_int_equal(d.mem[DATA_OFF + 0x4000u * q + 0x1000 + i], 0x61);
	}
	/* nothing more comes: each ran once */
	usleep(20000);
	for (unsigned q = 1; q <= NQ; q++) {
		const uint8_t *slot = d.mem + cq_offs[q] + moved.cq_head[q] * 16;
		assert_int_not_equal((bool)(slot[14] & 1), moved.phase[q]);
	}
	page_roundtrip(&moved, 2, 3200, 0x62);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* A completion that waits for room in a full CQ when the stop comes is
 * posted on the destination once the host frees an entry there. */
static void nvme_completion_waiting_for_cq_room_is_posted_on_the_destination(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	uint16_t cid[QDEPTH];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	/* fill CQ 1 (15 entries) without consuming any */
	for (unsigned k = 0; k < QDEPTH - 1; k++) {
		io_sqe(sqe, 0x02, 8 * k, DATA_OFF);
		cid[k] = drv_queue(&d, 1, sqe);
	}
	drv_ring(&d, 1);
	const uint8_t *last = d.mem + cq_offs[1] + (QDEPTH - 2) * 16;
	for (int i = 0; i < 20000 && !(last[14] & 1); i++)
		(void)nv_rd(&d, 0x1c);
	assert_true(last[14] & 1);
	/* one more: executed, its completion has nowhere to go */
	io_sqe(sqe, 0x02, 800, DATA_OFF);
	cid[QDEPTH - 1] = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);
	for (int i = 0; i < 50; i++)
		(void)nv_rd(&d, 0x1c);

	migrate(&p.src, &p.dst);

	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	/* the first 15 in any order (they ran together), the waiting one last */
	bool seen[QDEPTH] = {false};
	for (unsigned n = 0; n < QDEPTH - 1; n++) {
		uint16_t got;
		assert_int_equal(drv_wait_any(&moved, 1, &got), 0);
		unsigned k = 0;
		while (k < QDEPTH - 1 && cid[k] != got)
			k++;
		assert_true(k < QDEPTH - 1);
		assert_false(seen[k]);
		seen[k] = true;
	}
	assert_int_equal(drv_wait(&moved, 1, cid[QDEPTH - 1], NULL), 0);
	assert_false(moved.phase[1]); /* the ring wrapped */
	page_roundtrip(&moved, 1, 900, 0x63);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

static void nvme_doorbell_rung_while_stopped_is_served_after_resume(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint32_t sqe[16];
	(void)state;

	start_nvme_pair(&p, NSIZE);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x99);
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_STOP), 0);
	io_sqe(sqe, 0x02, 0, DATA_OFF + 0x8000);
	uint16_t cid = drv_queue(&d, 1, sqe);
	drv_ring(&d, 1);
	usleep(50000);
	assert_int_equal(d.mem[DATA_OFF + 0x8000], 0); /* stopped: no DMA */
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(drv_wait(&d, 1, cid, NULL), 0);
	assert_int_equal(d.mem[DATA_OFF + 0x8000], 0x99);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

static void nvme_refuses_broken_streams_and_the_source_runs_on(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream;
	(void)state;

	start_nvme_pair(&p, NSIZE);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x31);
	size_t len = save_stream(d.c, &stream);
	broken_streams_are_refused(&p.src, &p.dst, stream, len);
	free(stream);
	page_roundtrip(&d, 1, 8, 0x32);
	page_roundtrip(&d, 2, 16, 0x33);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

static void nvme_refuses_a_stream_for_another_namespace(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream;
	(void)state;

	start_nvme_pair(&p, NSIZE * 2);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	drv_bring_up(&d);
	size_t len = save_stream(d.c, &stream);
	assert_int_equal(load_stream(p.dst.c, stream, len), -EINVAL);
	free(stream);
	assert_int_equal(uvf_client_set_migration_state(d.c, UVF_MIGRATION_STATE_RUNNING), 0);
	page_roundtrip(&d, 1, 0, 0x44);
	drv_unwire(&d);
	stop_nvme_pair(&p);
}

/* A copy of n bytes from the reader into the writer. */
static void copy_bytes(struct devmig_reader *r, struct devmig_writer *w, size_t n)
{
	assert_true(r->len - r->pos >= n);
	devmig_put_bytes(w, r->p + r->pos, n);
	r->pos += n;
}

/*
 * The version 3 stream of an idle controller rewritten in the version 1
 * layout: each SQ carries one completion record (kind 0: none) instead of
 * a list, and there are no shadow doorbell fields. *out is malloc'ed.
 */
static size_t nvme_stream_as_v1(const uint8_t *v3, size_t len, uint8_t **out)
{
	struct devmig r_env;
	struct devmig_reader r;
	struct devmig_writer w;
	uint32_t version;
	size_t out_len;

	memset(&r_env, 0, sizeof(r_env));
	devmig_load_begin(&r_env, 1u << 20);
	assert_int_equal(devmig_load(&r_env, v3, len), 0);
	assert_int_equal(devmig_load_finish(&r_env, 0x454d564eu, 3, &r, &version), 0);
	assert_int_equal(version, 3);
	devmig_writer_begin(&w, 0x454d564eu, 1);
	uint32_t nq = devmig_get_u32(&r);
	devmig_put_u32(&w, nq);
	copy_bytes(&r, &w, 8); /* namespace bytes */
	uint32_t nregs = devmig_get_u32(&r);
	devmig_put_u32(&w, nregs);
	copy_bytes(&r, &w, nregs);
	copy_bytes(&r, &w, 1 + 4 * 7 + 8 * 4); /* enabled, CSTS, INTMS, features, SMART */
	uint32_t aer = devmig_get_u32(&r);
	devmig_put_u32(&w, aer);
	copy_bytes(&r, &w, 2 * (size_t)aer);
	for (unsigned i = 0; i <= nq; i++) {
		copy_bytes(&r, &w, 1 + 2 + 4 * 3 + 8); /* the SQ */
		assert_int_equal(devmig_get_u32(&r), 0); /* idle: nothing recorded */
		static const uint8_t none[1 + 2 + 2 + 4 + 4 + 16];
		devmig_put_bytes(&w, none, sizeof(none));
		copy_bytes(&r, &w, 3 + 2 + 4 * 3 + 8); /* the CQ */
	}
	assert_int_equal(devmig_get_u8(&r), 0); /* no shadow doorbells */
	assert_int_equal(devmig_get_u64(&r), 0);
	assert_int_equal(devmig_get_u64(&r), 0);
	assert_int_equal(devmig_reader_end(&r), 0);
	assert_int_equal(devmig_writer_finish(&w, out, &out_len), 0);
	devmig_clear(&r_env);
	return out_len;
}

/* The stream with its version replaced (CRC made right again). */
static void set_version(uint8_t *buf, size_t len, uint32_t version)
{
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(version >> (8 * i));
	uint32_t crc = devmig_crc32(0, buf, len - 4);
	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/* A version 1 stream (released before commands in flight and shadow
 * doorbells) loads and the destination runs on; a version 2 one (never
 * released, in either of its layouts) is refused. */
static void nvme_reads_version_1_and_refuses_version_2(void **state)
{
	struct nvme_pair p;
	struct drv d;
	uint8_t *stream, *v1;
	(void)state;

	start_nvme_pair(&p, NSIZE);
	memset(&d, 0, sizeof(d));
	d.mem = p.mem;
	drv_wire(&d, p.src.c);
	struct drv dd = d;
	drv_wire(&dd, p.dst.c);
	drv_bring_up(&d);
	page_roundtrip(&d, 1, 0, 0x51);
	page_roundtrip(&d, 2, 8, 0x52);
	size_t len = save_stream(d.c, &stream);
	size_t v1_len = nvme_stream_as_v1(stream, len, &v1);
	/* version 2 with either body: refused, the destination stays usable */
	set_version(stream, len, 2);
	assert_int_equal(load_stream(p.dst.c, stream, len), -EINVAL);
	assert_int_equal(uvf_client_reset(p.dst.c), 0);
	set_version(v1, v1_len, 2);
	assert_int_equal(load_stream(p.dst.c, v1, v1_len), -EINVAL);
	assert_int_equal(uvf_client_reset(p.dst.c), 0);
	set_version(v1, v1_len, 1);
	assert_int_equal(load_stream(p.dst.c, v1, v1_len), 0);
	free(stream);
	free(v1);
	assert_int_equal(uvf_client_set_migration_state(p.src.c, UVF_MIGRATION_STATE_STOP), 0);
	assert_int_equal(uvf_client_set_migration_state(p.dst.c, UVF_MIGRATION_STATE_RUNNING), 0);
	struct drv moved = d;
	moved.c = p.dst.c;
	memcpy(moved.efd, dd.efd, sizeof(moved.efd));
	assert_int_equal(nv_rd(&moved, 0x1c) & 3, 1); /* ready, no fatal status */
	page_roundtrip(&moved, 1, 16, 0x53);
	page_roundtrip(&moved, 2, 24, 0x54);
	drv_unwire(&d);
	drv_unwire(&dd);
	stop_nvme_pair(&p);
}

/* ------------------------------------------------------------------ */
/* uvf-scratch, as a program                                            */
/* ------------------------------------------------------------------ */

struct program {
	pid_t pid;
	char sock[96];
	struct uvf_client *c;
};

static void program_start(struct program *p, const char *exe, const char *dir, const char *name)
{
	snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", dir, name);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		execl(exe, exe, "--socket-path", p->sock, (char *)NULL);
		_exit(127);
	}
	p->c = NULL;
	/* the socket file exists from bind, before listen: retry */
	for (int i = 0; i < 500 && uvf_client_connect(&p->c, p->sock, NULL) < 0; i++)
		usleep(10000);
	if (!p->c) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		fail_msg("cannot connect to %s", p->sock);
	}
}

static void program_stop(struct program *p)
{
	int status;
	uvf_client_close(p->c);
	assert_int_equal(kill(p->pid, SIGTERM), 0);
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void scratch_program_migrates_registers_and_window(void **state)
{
	const char *exe = getenv("UVF_SCRATCH");
	char dir[] = "/tmp/uvf-mig-scratch-XXXXXX";
	struct program a, b;
	uint8_t window[2048], got[2048];
	uint32_t regs[0x84 / 4], regs_after[0x84 / 4];
	uint8_t *stream;
	(void)state;

	if (!exe)
		skip();
	assert_non_null(mkdtemp(dir));
	program_start(&a, exe, dir, "src");
	program_start(&b, exe, dir, "dst");
	for (uint32_t i = 0; i < 16; i++) {
		uint32_t v = 0x1000u * i + 7;
		assert_int_equal(uvf_client_region_write(a.c, 0, 0x10 + 4 * i, &v, 4), 0);
	}
	uint32_t gpio = 0xa5, addr = 0x1234000, dlen = 100;
	assert_int_equal(uvf_client_region_write(a.c, 0, 0x50, &gpio, 4), 0);
	assert_int_equal(uvf_client_region_write(a.c, 0, 0x70, &addr, 4), 0);
	assert_int_equal(uvf_client_region_write(a.c, 0, 0x78, &dlen, 4), 0);
	for (size_t i = 0; i < sizeof(window); i++)
		window[i] = (uint8_t)(i * 31);
	assert_int_equal(uvf_client_region_write(a.c, 0, 0x800, window, sizeof(window)), 0);
	assert_int_equal(uvf_client_region_read(a.c, 0, 0, regs, sizeof(regs)), 0);

	/* a corrupted stream first: refused, the source goes on */
	size_t len = save_stream(a.c, &stream);
	stream[len / 2] ^= 1;
	assert_int_equal(load_stream(b.c, stream, len), -EINVAL);
	assert_int_equal(uvf_client_reset(b.c), 0);
	free(stream);
	assert_int_equal(uvf_client_set_migration_state(a.c, UVF_MIGRATION_STATE_RUNNING), 0);

	migrate(&(struct server){.c = a.c}, &(struct server){.c = b.c});
	assert_int_equal(uvf_client_region_read(b.c, 0, 0, regs_after, sizeof(regs_after)), 0);
	assert_memory_equal(regs_after, regs, sizeof(regs));
	assert_int_equal(uvf_client_region_read(b.c, 0, 0x800, got, sizeof(got)), 0);
	assert_memory_equal(got, window, sizeof(window));
	program_stop(&b);
	program_stop(&a);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32_matches_the_standard_check_value),
		cmocka_unit_test(envelope_round_trips_little_endian_fields),
		cmocka_unit_test(envelope_refuses_bad_tag_version_length_and_crc),
		cmocka_unit_test_setup_teardown(
			dmatest_continues_on_the_destination_with_registers_bar4_and_pending_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(dmatest_command_written_while_stopped_runs_on_the_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dmatest_command_in_flight_at_the_stop_completes_once_on_the_destination,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dmatest_refuses_broken_streams_and_the_source_runs_on, setup, teardown),
		cmocka_unit_test_setup_teardown(uvf_idio16_continues_with_outputs_inputs_and_asserted_interrupt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(uvf_idio16_input_change_while_stopped_interrupts_after_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(uvf_idio16_refuses_broken_streams_and_the_source_runs_on, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_of_another_device_type_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_continues_on_the_destination_in_the_next_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_shadow_doorbells_go_on_on_the_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_io_in_flight_at_the_stop_completes_on_the_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_completion_waiting_for_cq_room_is_posted_on_the_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_doorbell_rung_while_stopped_is_served_after_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nvme_refuses_broken_streams_and_the_source_runs_on, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_refuses_a_stream_for_another_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(nvme_reads_version_1_and_refuses_version_2, setup, teardown),
		cmocka_unit_test_setup_teardown(scratch_program_migrates_registers_and_window, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
