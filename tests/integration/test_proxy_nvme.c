/* SPDX-License-Identifier: MIT */
/*
 * uvf-nvme behind uvf-proxy survives SIGKILL: started with --state-file,
 * the restarted controller reports Controller Fatal Status (CSTS.CFS and
 * RDY) when the one it replaces was enabled, and a driver that then does
 * what Linux's nvme driver does on a command timeout (CC.EN = 0, enable,
 * queues again, the unfinished commands again) finds its data. Killed
 * while disabled, the controller comes back plainly reset. After a
 * planned upgrade the record belongs to the new process. A state file
 * that is not uvf-nvme's is refused.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "nvme/nvme.h"
#include "nvme_drv.h"
#include "proxy_run.h"

#define IOVA	 0x100000ull
#define MEM_SIZE 0x40000u
#define ASQ_OFF	 0x0000u
#define ACQ_OFF	 0x1000u
#define IOSQ_OFF 0x2000u
#define IOCQ_OFF 0x3000u
#define DATA_OFF 0x10000u /* BLOCKS buffers of 4 KiB */
#define BLOCKS	 8u
#define NSIZE	 (4u << 20)
#define CSTS	 0x1c
#define CC	 0x14

static const uint32_t sq_offs[DRV_QUEUES] = {ASQ_OFF, IOSQ_OFF};
static const uint32_t cq_offs[DRV_QUEUES] = {ACQ_OFF, IOCQ_OFF};

struct run {
	struct proxy_run p;
	char backing[160], state[160];
};

static void wait_log(const struct run *r, const char *text, int count)
{
	if (!proxy_log_wait(&r->p, text, count, 20000))
		fail_msg("no %d lines '%s' in %s", count, text, r->p.log);
}

static void start(struct run *r, bool upgrade)
{
	const char *nvme = getenv("UVF_NVME");
	char cmd[800], server[160];
	int fd;

	assert_non_null(nvme);
	strcpy(r->p.dir, "/tmp/uvf-proxy-nvme.XXXXXX");
	assert_non_null(mkdtemp(r->p.dir));
	snprintf(server, sizeof(server), "%s/dev.sock", r->p.dir);
	snprintf(r->backing, sizeof(r->backing), "%s/disk.img", r->p.dir);
	snprintf(r->state, sizeof(r->state), "%s/nvme.state", r->p.dir);
	fd = open(r->backing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NSIZE), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "exec %s --socket-path=\"$UVF_PROXY_SOCKET\" --backing=%s --state-file=%s --queues=2 2>>%s/nvme.log",
		 nvme, r->backing, r->state, r->p.dir);
	char *extra[] = {"--restart-cmd", cmd, "--hold-ms", "15000", upgrade ? "--upgrade-cmd" : NULL, cmd, NULL};
	proxy_run_start(&r->p, server, extra);
}

static void stop(struct run *r)
{
	char path[200];

	proxy_run_stop(&r->p);
	if (getenv("UVF_TEST_VERBOSE")) {
		fprintf(stderr, "kept %s\n", r->p.dir);
		return;
	}
	const char *names[] = {"proxy.log", "nvme.log", "disk.img", "nvme.state", "dev.sock", "dev.sock.next"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->p.dir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(r->p.dir), 0);
}

static void drv_connect(struct drv *d, const struct run *r)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	void *p = NULL;

	opts.timeout_ms = 20000; /* longer than an outage */
	assert_int_equal(uvf_client_connect(&c, r->p.sock, &opts), 0);
	memset(d, 0, sizeof(*d));
	d->iova = IOVA;
	d->sq_offs = sq_offs;
	d->cq_offs = cq_offs;
	assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &p),
			 0);
	d->mem = p;
	drv_wire(d, c);
}

/* What a driver does to (re)start the controller: admin queue, enable,
 * one I/O queue pair. */
static void bring_up(struct drv *d)
{
	drv_reset_rings(d);
	memset(d->mem, 0, DATA_OFF);
	drv_enable_regs(d); /* asserts RDY and no CFS */
	drv_create_io_pair(d, 1, 1);
}

static void fill(struct drv *d, uint8_t seed)
{
	for (unsigned b = 0; b < BLOCKS; b++)
		for (unsigned i = 0; i < 4096; i++)
			d->mem[DATA_OFF + b * 4096 + i] = (uint8_t)(seed + b * 31 + i * 7);
}

static uint16_t queue_rw(struct drv *d, uint8_t opc, unsigned b)
{
	uint32_t sqe[16] = {opc, 1};
	uint64_t prp = IOVA + DATA_OFF + b * 4096;

	sqe[6] = (uint32_t)prp;
	sqe[7] = (uint32_t)(prp >> 32);
	sqe[10] = b * 8; /* 4 KiB blocks of 8 LBAs */
	sqe[12] = 7;
	return drv_queue(d, 1, sqe);
}

/* Every block written (or read) at once, then each completion. */
static void rw_all(struct drv *d, uint8_t opc)
{
	for (unsigned b = 0; b < BLOCKS; b++)
		(void)queue_rw(d, opc, b);
	drv_ring(d, 1);
	for (unsigned b = 0; b < BLOCKS; b++) {
		uint16_t cid;
		assert_int_equal(drv_wait_any(d, 1, &cid), 0);
	}
}

static void check(struct drv *d, uint8_t seed)
{
	memset(d->mem + DATA_OFF, 0, BLOCKS * 4096);
	rw_all(d, 0x02);
	for (unsigned b = 0; b < BLOCKS; b++)
		for (unsigned i = 0; i < 4096; i++)
			if (d->mem[DATA_OFF + b * 4096 + i] != (uint8_t)(seed + b * 31 + i * 7))
				fail_msg("block %u byte %u: 0x%02x, not the pattern of 0x%02x", b, i,
					 d->mem[DATA_OFF + b * 4096 + i], seed);
}

/* What Linux's nvme driver does when a command times out and CSTS says
 * CFS: disable (CC.EN = 0, wait for RDY = 0), enable, queues again, and
 * the commands that had not completed again (here all of them). */
static void recover(struct drv *d, uint8_t seed)
{
	drv_wr32(d, CC, 0);
	assert_int_equal(drv_rd32(d, CSTS) & 3, 0);
	bring_up(d);
	fill(d, seed);
	rw_all(d, 0x01);
}

static void a_killed_controller_reports_fatal_status_and_recovers(void **state)
{
	struct run r = {0};
	struct drv d;
	int fds_before = harness_count_fds();

	(void)state;
	start(&r, false);
	drv_connect(&d, &r);
	long pid = proxy_log_number_after(&r.p, "started the server: pid ");
	assert_true(pid > 0);
	assert_int_equal(drv_rd32(&d, CSTS), 0); /* a new state file: a fresh controller */
	bring_up(&d);
	fill(&d, 0x10);
	rw_all(&d, 0x01);
	check(&d, 0x10);

	/* writes of a new pattern in flight, and the device is killed */
	fill(&d, 0x20);
	for (unsigned b = 0; b < BLOCKS; b++)
		(void)queue_rw(&d, 0x01, b);
	drv_ring(&d, 1);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	/* the restarted controller: ready, and failed */
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 3);
	wait_log(&r, "server back after", 1);
	long second = proxy_log_number_after(&r.p, "started the server: pid ");
	assert_true(second > 0 && second != pid);
	/* a doorbell to the failed controller is taken for nothing */
	drv_ring(&d, 1);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 3);
	/* enabling without a disable first does not clear it */
	drv_wr32(&d, CC, 1u | 6u << 16 | 4u << 20);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 3);
	recover(&d, 0x20);
	check(&d, 0x20);

	/* killed while the host has it disabled: back plainly reset */
	drv_wr32(&d, CC, 0);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 0);
	assert_int_equal(kill((pid_t)second, SIGKILL), 0);
	assert_int_equal(drv_rd32(&d, CSTS), 0);
	wait_log(&r, "server back after", 2);
	bring_up(&d);
	check(&d, 0x20);

	/* and a third time, enabled again */
	long third = proxy_log_number_after(&r.p, "started the server: pid ");
	assert_true(third > 0 && third != second);
	assert_int_equal(kill((pid_t)third, SIGKILL), 0);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 3);
	recover(&d, 0x30);
	check(&d, 0x30);

	uvf_client_close(d.c);
	drv_unwire(&d);
	stop(&r);
	assert_int_equal(harness_count_fds(), fds_before);
}

static void after_an_upgrade_the_new_process_keeps_the_record(void **state)
{
	struct run r = {0};
	struct drv d;

	(void)state;
	start(&r, true);
	drv_connect(&d, &r);
	bring_up(&d);
	fill(&d, 0x40);
	rw_all(&d, 0x01);
	/* upgraded in place: the controller goes on, no fatal status */
	assert_int_equal(kill(r.p.pid, SIGUSR1), 0);
	wait_log(&r, "upgrade done", 1);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 1);
	check(&d, 0x40);
	/* twice, the old process stopped each time */
	assert_int_equal(kill(r.p.pid, SIGUSR1), 0);
	wait_log(&r, "upgrade done", 2);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 1);
	check(&d, 0x40);
	/* the new process, killed, is replaced by one that says it failed */
	long pid = proxy_log_number_after(&r.p, "new server pid ");
	assert_true(pid > 0);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	assert_int_equal(drv_rd32(&d, CSTS) & 3, 3);
	recover(&d, 0x50);
	check(&d, 0x50);
	uvf_client_close(d.c);
	drv_unwire(&d);
	stop(&r);
}

static void a_state_file_of_another_kind_is_refused(void **state)
{
	char dir[] = "/tmp/uvf-nvme-state.XXXXXX", path[64];
	struct uvf_nvme_opts opts = {.size = NSIZE, .queues = 1};
	struct uvf_nvme *n = NULL;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	opts.state_file = path;
	/* new: created, 16 bytes, a fresh controller */
	assert_int_equal(uvf_nvme_create(&n, &opts), 0);
	uvf_nvme_destroy(n);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 16);
	/* the right size, another magic */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not-uvf-nvme-rec", 16), 16);
	close(fd);
	assert_int_equal(uvf_nvme_create(&n, &opts), -EINVAL);
	/* another size */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	assert_int_equal(uvf_nvme_create(&n, &opts), -EINVAL);
	/* a directory */
	opts.state_file = dir;
	assert_int_equal(uvf_nvme_create(&n, &opts), -EISDIR);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_killed_controller_reports_fatal_status_and_recovers),
		cmocka_unit_test(after_an_upgrade_the_new_process_keeps_the_record),
		cmocka_unit_test(a_state_file_of_another_kind_is_refused),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
