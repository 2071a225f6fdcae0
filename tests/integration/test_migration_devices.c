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

#include "migration_pair.h"

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
		cmocka_unit_test_setup_teardown(scratch_program_migrates_registers_and_window, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
