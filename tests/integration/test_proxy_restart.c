/* SPDX-License-Identifier: MIT */
/*
 * uvf-proxy keeps the client while its server is away: uvf-dmatest killed
 * with SIGKILL mid-session and started again by --restart-cmd, after
 * which the client's DMA mapping (with its memfd), MSI-X eventfds, config
 * space writes (BAR, command register, MSI-X enable) and MSI-X table
 * writes work as before; a request made while the server is away is held
 * and answered; past --hold-ms requests fail with ETIMEDOUT; and the
 * client's old ioeventfds reach a restarted in-process server.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"
#include "proxy_run.h"

extern char **environ;

#define IOVA	 0x10000000u
#define DMA_SIZE (64u * 1024u)
#define VECTORS	 UVF_DMATEST_MSIX_VECTORS

static struct uvf_client *connect_proxy(const struct proxy_run *p)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	int rc;

	opts.timeout_ms = 20000; /* longer than an outage */
	rc = uvf_client_connect(&c, p->sock, &opts);
	if (rc)
		fail_msg("connect through the proxy: %s", uvf_strerror(rc));
	return c;
}

static uint32_t reg(struct uvf_client *c, uint32_t offset)
{
	uint32_t v = 0;
	int rc = uvf_client_region_read(c, 0, offset, &v, 4);

	if (rc)
		fail_msg("reading BAR0 0x%x: %s", offset, uvf_strerror(rc));
	return v;
}

static void set_reg(struct uvf_client *c, uint32_t offset, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, offset, &v, 4), 0);
}

static void run_command(struct uvf_client *c, uint32_t cmd)
{
	uint32_t before = reg(c, UVF_DMATEST_REG_CMD_COUNT);

	set_reg(c, UVF_DMATEST_REG_CMD, cmd);
	for (int i = 0; i < 2000 && reg(c, UVF_DMATEST_REG_CMD_COUNT) == before; i++)
		usleep(1000);
	assert_int_equal(reg(c, UVF_DMATEST_REG_CMD_COUNT), before + 1);
	assert_int_equal(reg(c, UVF_DMATEST_REG_STATUS), 0);
}

/* FILL our DMA memory with pattern, completing on MSI-X vector v. */
static void fill(struct uvf_client *c, uint8_t pattern, uint32_t v)
{
	set_reg(c, UVF_DMATEST_REG_DST_LO, IOVA);
	set_reg(c, UVF_DMATEST_REG_DST_HI, 0);
	set_reg(c, UVF_DMATEST_REG_LEN, DMA_SIZE);
	set_reg(c, UVF_DMATEST_REG_PATTERN, pattern);
	set_reg(c, UVF_DMATEST_REG_IRQ_VECTOR, v);
	run_command(c, UVF_DMATEST_CMD_FILL);
}

static void check_filled(const uint8_t *mem, uint8_t pattern)
{
	for (size_t i = 0; i < DMA_SIZE; i++)
		if (mem[i] != pattern)
			fail_msg("byte %zu is 0x%02x, not 0x%02x", i, mem[i], pattern);
}

/* The capability with id in config space, or 0. */
static uint32_t find_cap(struct uvf_client *c, uint8_t id)
{
	uint8_t at = 0, cap = 0;

	assert_int_equal(uvf_client_config_read8(c, 0x34, &at), 0);
	for (int hops = 0; at >= 0x40 && hops < 48; hops++) {
		assert_int_equal(uvf_client_config_read8(c, at, &cap), 0);
		if (cap == id)
			return at;
		assert_int_equal(uvf_client_config_read8(c, at + 1, &at), 0);
	}
	return 0;
}

static void msix_ctrl(struct uvf_client *c, uint32_t v, uint32_t ctrl)
{
	assert_int_equal(
		uvf_client_region_write(c, UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_TABLE + 16 * v + 12, &ctrl, 4), 0);
}

static void a_killed_device_comes_back_with_the_clients_dma_irq_and_config_state(void **state)
{
	struct proxy_run p = {0};
	const char *dmatest = getenv("UVF_DMATEST");
	char server[160], cmd[400];
	int fds[VECTORS];
	uint8_t *mem = NULL;
	int fds_before = harness_count_fds();

	(void)state;
	assert_non_null(dmatest);
	strcpy(p.dir, "/tmp/uvf-proxy-restart.XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	snprintf(server, sizeof(server), "%s/dev.sock", p.dir);
	snprintf(cmd, sizeof(cmd), "exec %s --socket-path=%s", dmatest, server);
	char *extra[] = {"--restart-cmd", cmd, "--hold-ms", "15000", NULL};
	proxy_run_start(&p, server, extra);

	/* the proxy starts the device for the first client */
	struct uvf_client *c = connect_proxy(&p);
	long first = proxy_log_number_after(&p, "started the server: pid ");
	assert_true(first > 0);
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);

	/* the client's state: memory by fd, MSI-X eventfds, BAR0 placed,
	 * memory decode and bus master on, MSI-X enabled, vector 1 masked */
	assert_int_equal(
		uvf_client_dma_alloc(c, IOVA, DMA_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, (void **)&mem),
		0);
	for (unsigned v = 0; v < VECTORS; v++)
		fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, VECTORS, fds), 0);
	assert_int_equal(uvf_client_config_write32(c, 0x10, 0xfe000000u), 0);
	assert_int_equal(uvf_client_config_write16(c, 0x04, 0x0006), 0);
	uint32_t msix = find_cap(c, 0x11);
	assert_true(msix != 0);
	assert_int_equal(uvf_client_config_write16(c, msix + 2, 0x8000), 0);
	/* once the table is written, its mask bits count (entries start
	 * masked): every vector unmasked but 1 */
	for (unsigned v = 0; v < VECTORS; v++)
		msix_ctrl(c, v, v == 1);

	fill(c, 0x5a, 0);
	check_filled(mem, 0x5a);
	assert_true(harness_wait_eventfd(fds[0], 2000) >= 1);

	/* the device dies; a request made meanwhile waits for its successor */
	if (getenv("UVF_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", p.log);
	assert_int_equal(kill((pid_t)first, SIGKILL), 0);
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	assert_true(proxy_log_wait(&p, "server back after", 1, 5000));
	long second = proxy_log_number_after(&p, "started the server: pid ");
	assert_true(second > 0 && second != first);

	/* DMA into the memfd the restarted device got again, completion on
	 * the MSI-X eventfd: MSI-X is enabled in its config space again */
	fill(c, 0x33, 0);
	check_filled(mem, 0x33);
	assert_true(harness_wait_eventfd(fds[0], 2000) >= 1);

	/* config space: what the client wrote is back */
	uint16_t command = 0, control = 0;
	uint32_t bar0 = 0;
	assert_int_equal(uvf_client_config_read16(c, 0x04, &command), 0);
	assert_int_equal(command & 0x0006, 0x0006);
	assert_int_equal(uvf_client_config_read32(c, 0x10, &bar0), 0);
	assert_int_equal(bar0 & ~0xfu, 0xfe000000u);
	assert_int_equal(uvf_client_config_read16(c, msix + 2, &control), 0);
	assert_true(control & 0x8000);

	/* the MSI-X table: vector 1 still masked, its interrupt pends until
	 * the client unmasks it */
	fill(c, 0x44, 1);
	assert_int_equal(harness_wait_eventfd(fds[1], 50), 0);
	msix_ctrl(c, 1, 0);
	assert_true(harness_wait_eventfd(fds[1], 2000) >= 1);

	/* and once more, with a second kill */
	assert_int_equal(kill((pid_t)second, SIGKILL), 0);
	fill(c, 0x66, 2);
	check_filled(mem, 0x66);
	assert_true(harness_wait_eventfd(fds[2], 2000) >= 1);
	assert_int_equal(proxy_log_count(&p, "server back after"), 2);

	uvf_client_close(c);
	for (unsigned v = 0; v < VECTORS; v++)
		close(fds[v]);
	proxy_run_stop(&p);
	/* the device the proxy started went with it */
	long last = proxy_log_number_after(&p, "started the server: pid ");
	assert_int_equal(kill((pid_t)last, 0), -1);
	if (!getenv("UVF_TEST_VERBOSE"))
		unlink(p.log);
	unlink(server);
	if (!getenv("UVF_TEST_VERBOSE"))
		assert_int_equal(rmdir(p.dir), 0);
	assert_int_equal(harness_count_fds(), fds_before);
}

static void requests_fail_with_etimedout_after_the_hold_time(void **state)
{
	struct proxy_run p = {0};
	const char *dmatest = getenv("UVF_DMATEST");
	char server[160], arg[200];
	pid_t dev;

	(void)state;
	strcpy(p.dir, "/tmp/uvf-proxy-restart.XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	snprintf(server, sizeof(server), "%s/dev.sock", p.dir);
	snprintf(arg, sizeof(arg), "--socket-path=%s", server);
	char *dev_argv[] = {(char *)dmatest, arg, NULL};
	assert_int_equal(posix_spawn(&dev, dmatest, NULL, NULL, dev_argv, environ), 0);
	for (int i = 0; i < 200 && access(server, F_OK) != 0; i++)
		usleep(10000);
	char *extra[] = {"--reconnect", "--hold-ms", "300", NULL};
	proxy_run_start(&p, server, extra);

	struct uvf_client *c = connect_proxy(&p);
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	kill(dev, SIGKILL);
	waitpid(dev, NULL, 0);
	/* nobody starts it again: held 300 ms, then ETIMEDOUT */
	uint32_t v;
	uint64_t t0 = (uint64_t)time(NULL);
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4), -ETIMEDOUT);
	assert_true((uint64_t)time(NULL) - t0 < 10);
	/* and at once from then on */
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4), -ETIMEDOUT);
	assert_true((proxy_log_count(&p, "keeping the client, holding its requests for up to 300 ms") > 0));

	/* the server comes back by itself: the client goes on */
	assert_int_equal(posix_spawn(&dev, dmatest, NULL, NULL, dev_argv, environ), 0);
	assert_true(proxy_log_wait(&p, "server back after", 1, 5000));
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
	proxy_run_stop(&p);
	kill(dev, SIGTERM);
	waitpid(dev, NULL, 0);
	unlink(p.log);
	rmdir(p.dir);
}

/* ------------------------------------------------------------------ */
/* ioeventfds: the client's old ones reach the restarted server         */
/* ------------------------------------------------------------------ */

static void restart_in_process(struct harness *h)
{
	uvf_device_stop(h->dev);
	pthread_join(h->thread, NULL);
	uvf_device_free(h->dev);
	h->dev = doorbell_device();
	assert_int_equal(uvf_device_listen(h->dev, h->path, NULL), 0);
}

static void *serve(void *arg)
{
	struct harness *h = arg;

	h->server_ret = uvf_device_run(h->dev);
	return NULL;
}

static void old_ioeventfds_reach_the_restarted_server(void **state)
{
	struct harness h;
	struct proxy_run p = {0};
	struct uvf_client_ioeventfd fds[4];
	size_t n = 0;

	(void)state;
	doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	harness_prepare(&h);
	harness_start(&h, doorbell_device(), NULL);
	snprintf(p.dir, sizeof(p.dir), "%s", h.dir);
	char *extra[] = {"--reconnect", NULL};
	proxy_run_start(&p, h.path, extra);

	struct uvf_client *c = connect_proxy(&p);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, fds, sizeof(fds[0]), 4, &n), 0);
	assert_int_equal(n, 1);
	uint32_t v = 1;
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v, 4), 0);
	assert_true(harness_wait_eventfd(doorbell_fd, 5000) >= 1);

	/* a new server at the same path: the old ioeventfd reaches it */
	restart_in_process(&h);
	assert_int_equal(pthread_create(&h.thread, NULL, serve, &h), 0);
	assert_true(proxy_log_wait(&p, "server back after", 1, 5000));
	assert_true(proxy_log_wait(&p, "relaying 1 ioeventfds", 1, 2000));
	uint64_t before = atomic_load(&doorbell_count);
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v, 4), 0);
	assert_true(harness_wait_eventfd(doorbell_fd, 5000) >= 1);
	assert_true(atomic_load(&doorbell_count) > before);

	uvf_client_close(c);
	proxy_run_stop(&p);
	unlink(p.log);
	harness_stop(&h);
	close(doorbell_fd);
}

static void a_planned_upgrade_moves_the_device_state_to_a_new_server(void **state)
{
	struct proxy_run p = {0};
	const char *dmatest = getenv("UVF_DMATEST");
	char server[160], cmd[400];
	int fds[VECTORS];
	uint8_t *mem = NULL;

	(void)state;
	strcpy(p.dir, "/tmp/uvf-proxy-restart.XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	snprintf(server, sizeof(server), "%s/dev.sock", p.dir);
	snprintf(cmd, sizeof(cmd), "exec %s --socket-path=\"$UVF_PROXY_SOCKET\"", dmatest);
	char *extra[] = {"--restart-cmd", cmd, "--upgrade-cmd", cmd, NULL};
	proxy_run_start(&p, server, extra);

	struct uvf_client *c = connect_proxy(&p);
	long first = proxy_log_number_after(&p, "started the server: pid ");
	assert_true(first > 0);
	assert_int_equal(
		uvf_client_dma_alloc(c, IOVA, DMA_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, (void **)&mem),
		0);
	for (unsigned v = 0; v < VECTORS; v++)
		fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, VECTORS, fds), 0);
	assert_int_equal(uvf_client_config_write16(c, 0x04, 0x0006), 0);
	uint32_t msix = find_cap(c, 0x11);
	assert_int_equal(uvf_client_config_write16(c, msix + 2, 0x8000), 0);
	fill(c, 0x5a, 3);
	check_filled(mem, 0x5a);
	assert_true(harness_wait_eventfd(fds[3], 2000) >= 1);

	for (int round = 1; round <= 2; round++) {
		char done[64];

		/* device state a restart would lose: registers, the command count */
		set_reg(c, UVF_DMATEST_REG_PATTERN, 0xa0 + round);
		assert_int_equal(kill(p.pid, SIGUSR1), 0);
		snprintf(done, sizeof(done), "upgrade done: pause");
		for (int i = 0; i < 500 && proxy_log_count(&p, done) < round; i++)
			usleep(10000);
		assert_int_equal(proxy_log_count(&p, done), round);
		long pid = proxy_log_number_after(&p, "new server pid ");
		assert_true(pid > 0 && pid != first);
		assert_int_equal(kill((pid_t)first, 0), -1); /* the old one was stopped */
		first = pid;

		assert_int_equal(reg(c, UVF_DMATEST_REG_PATTERN), 0xa0u + (uint32_t)round);
		assert_int_equal(reg(c, UVF_DMATEST_REG_CMD_COUNT), (uint32_t)round);
		/* and the new server has the memory, the interrupts, MSI-X on */
		fill(c, (uint8_t)(0x10 + round), 3);
		check_filled(mem, (uint8_t)(0x10 + round));
		assert_true(harness_wait_eventfd(fds[3], 2000) >= 1);
	}
	assert_int_equal(proxy_log_count(&p, "server back after"), 0);

	uvf_client_close(c);
	for (unsigned v = 0; v < VECTORS; v++)
		close(fds[v]);
	proxy_run_stop(&p);
	if (!getenv("UVF_TEST_VERBOSE"))
		unlink(p.log);
	unlink(server);
	char next[200];
	snprintf(next, sizeof(next), "%s.next", server);
	unlink(next);
	rmdir(p.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_killed_device_comes_back_with_the_clients_dma_irq_and_config_state),
		cmocka_unit_test(requests_fail_with_etimedout_after_the_hold_time),
		cmocka_unit_test(old_ioeventfds_reach_the_restarted_server),
		cmocka_unit_test(a_planned_upgrade_moves_the_device_state_to_a_new_server),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("proxy_restart", tests, NULL, NULL);
}
