/* SPDX-License-Identifier: MIT */
/*
 * Faults: peers that die, hang or stop reading at the worst moment, and the
 * server's access control. The device is the dmatest device; processes
 * that get killed are forked. After each fault the server must have freed
 * everything the departed client held (fds, DMA mappings) and serve the
 * next client.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"

#define DMA_IOVA 0x100000ull

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Lines of /proc/self/maps naming `needle`. */
static int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* Wait until the server dropped its client and the fd count is back to
 * `fds`; false after timeout_ms. */
static bool server_idle(struct harness *h, int fds, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		if (!uvf_device_client_connected(h->dev) && harness_count_fds() == fds)
			return true;
		sleep_ms(10);
	}
	return false;
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

/* A fresh client is served normally. */
static void check_next_client(struct harness *h)
{
	struct uvf_client *c = harness_connect(h);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
}

static void start_dmatest(struct harness *h, const struct uvf_serve_opts *opts)
{
	struct uvf_device *dev;
	harness_prepare(h);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	harness_start(h, dev, opts);
}

/* ------------------------------------------------------------------ */
/* Forked clients                                                       */
/* ------------------------------------------------------------------ */

struct child {
	pid_t pid;
	int ready; /* read end: one byte once the child is in position */
};

/* Run fn(path) in a child process; fn returns 0 when it is in position
 * (the child then waits to be killed) or non-zero on failure. */
static struct child spawn(const char *path, int (*fn)(const char *path))
{
	int p[2];
	struct child ch;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	ch.pid = fork();
	assert_true(ch.pid >= 0);
	if (ch.pid == 0) {
		/* never outlive the test, whatever happens to it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		char ok = fn(path) == 0 ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(p[1]);
	ch.ready = p[0];
	return ch;
}

static void kill_child(struct child *ch)
{
	int status;
	kill(ch->pid, SIGKILL);
	assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
	close(ch->ready);
}

static void wait_ready(struct child *ch)
{
	struct pollfd pf = {.fd = ch->ready, .events = POLLIN};
	char ok = 0;
	if (poll(&pf, 1, 10000) != 1 || read(ch->ready, &ok, 1) != 1 || ok != 'y') {
		kill_child(ch);
		fail_msg("the child process could not get into position");
	}
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path)) {
		close(s);
		return -1;
	}
	memcpy(sa.sun_path, path, len + 1);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int child_half_header(const char *path)
{
	int s = raw_connect(path);
	if (s < 0 || harness_raw_version(s) != 0)
		return 1;
	struct uvf_msg_header hdr = {.msg_id = 1, .command = UVF_CMD_REGION_READ, .msg_size = 16 + 16};
	return send(s, &hdr, 8, MSG_NOSIGNAL) == 8 ? 0 : 1;
}

static int child_half_body(const char *path)
{
	int s = raw_connect(path);
	if (s < 0 || harness_raw_version(s) != 0)
		return 1;
	static uint8_t msg[16 + 16 + 4096];
	struct uvf_msg_header hdr = {.msg_id = 1, .command = UVF_CMD_REGION_WRITE, .msg_size = sizeof(msg)};
	struct uvf_msg_region_access acc = {.offset = 0, .region = 4, .count = 4096};
	memcpy(msg, &hdr, 16);
	memcpy(msg + 16, &acc, 16);
	return send(s, msg, 16 + 16 + 2000, MSG_NOSIGNAL) == 16 + 16 + 2000 ? 0 : 1;
}

static bool child_no_twin; /* set before spawn() */

static struct uvf_client *child_connect(const char *path)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	opts.log_level = UVF_LOG_ERROR;
	opts.no_twin_socket = child_no_twin;
	return uvf_client_connect(&c, path, &opts) == 0 ? c : NULL;
}

/* Starts a 16 MiB FILL by message and stops reading: the server is in the
 * middle of its DMA when the child dies. */
static int child_mid_dma(const char *path)
{
	struct uvf_client *c = child_connect(path);
	size_t len = UVF_DMATEST_MAX_LEN;
	void *mem = malloc(len);
	uint32_t v;
	if (!c || !mem || uvf_client_dma_register(c, DMA_IOVA, mem, len, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE))
		return 1;
	v = (uint32_t)DMA_IOVA;
	if (uvf_client_region_write(c, 0, UVF_DMATEST_REG_DST_LO, &v, 4))
		return 1;
	v = (uint32_t)len;
	if (uvf_client_region_write(c, 0, UVF_DMATEST_REG_LEN, &v, 4))
		return 1;
	v = UVF_DMATEST_CMD_FILL;
	return uvf_client_region_write_posted(c, 0, UVF_DMATEST_REG_CMD, &v, 4) ? 1 : 0;
}

#define HELD_MAPS 4

/* Holds fd-backed DMA mappings, IRQ eventfds and a mapped BAR. */
static int child_holding(const char *path)
{
	struct uvf_client *c = child_connect(path);
	int efds[UVF_DMATEST_MSIX_VECTORS];
	void *p;
	if (!c)
		return 1;
	for (int i = 0; i < HELD_MAPS; i++)
		if (uvf_client_dma_alloc(c, DMA_IOVA + (uint64_t)i * 0x10000, 0x10000,
					 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &p))
			return 1;
	for (unsigned i = 0; i < UVF_DMATEST_MSIX_VECTORS; i++)
		if ((efds[i] = eventfd(0, EFD_CLOEXEC)) < 0)
			return 1;
	if (uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, UVF_DMATEST_MSIX_VECTORS, efds))
		return 1;
	return uvf_client_region_map(c, UVF_DMATEST_BAR4) ? 1 : 0;
}

/* Kill a child in position; the server must be back to `fds` and serve. */
static void kill_and_recover(struct harness *h, int (*fn)(const char *), int fds, int within_ms)
{
	struct child ch = spawn(h->path, fn);
	wait_ready(&ch);
	sleep_ms(100); /* let the server get into the message / the DMA */
	int64_t t0 = now_ms();
	kill_child(&ch);
	assert_true(server_idle(h, fds, within_ms));
	assert_true(now_ms() - t0 < within_ms);
	check_next_client(h);
	assert_true(server_idle(h, fds, 2000));
}

static void test_client_killed_mid_message_is_cleaned_up(void **state)
{
	(void)state;
	struct harness h;
	start_dmatest(&h, NULL);
	int fds = harness_count_fds();

	kill_and_recover(&h, child_half_header, fds, 3000);
	kill_and_recover(&h, child_half_body, fds, 3000);
	harness_stop(&h);
}

static void test_client_killed_mid_dma_is_noticed_before_the_timeout(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	opts.dma_timeout_ms = 30000; /* the drop must come from the EOF */
	start_dmatest(&h, &opts);
	int fds = harness_count_fds();

	kill_and_recover(&h, child_mid_dma, fds, 5000);
	child_no_twin = true; /* the DMA on the main socket */
	kill_and_recover(&h, child_mid_dma, fds, 5000);
	child_no_twin = false;
	harness_stop(&h);
}

static void test_client_killed_holding_mappings_and_irqs_frees_them(void **state)
{
	(void)state;
	struct harness h;
	start_dmatest(&h, NULL);
	int fds = harness_count_fds();
	int maps = count_maps("uvf-dma");

	struct child ch = spawn(h.path, child_holding);
	wait_ready(&ch);
	/* the server holds the client's mappings and eventfds now */
	assert_int_equal(count_maps("uvf-dma"), maps + HELD_MAPS);
	assert_true(harness_count_fds() >= fds + (int)UVF_DMATEST_MSIX_VECTORS);
	kill_child(&ch);
	assert_true(server_idle(&h, fds, 3000));
	assert_int_equal(count_maps("uvf-dma"), maps);
	check_next_client(&h);
	harness_stop(&h);
}

/* ------------------------------------------------------------------ */
/* A server that dies or hangs                                          */
/* ------------------------------------------------------------------ */

struct forked_server {
	char dir[64];
	char path[128];
	pid_t pid;
};

static void fork_server(struct forked_server *s)
{
	strcpy(s->dir, "/tmp/uvf-faults-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/dev.sock", s->dir);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		struct uvf_device *dev;
		struct uvf_dmatest *dmatest;
		if (uvf_dmatest_create(&dmatest) < 0)
			_exit(1);
		dev = uvf_dmatest_device(dmatest);
		uvf_device_set_log(dev, NULL, NULL, UVF_LOG_ERROR);
		if (uvf_device_listen(dev, s->path, NULL) < 0)
			_exit(1);
		uvf_device_run(dev);
		_exit(0);
	}
	for (int i = 0; i < 500 && access(s->path, F_OK) < 0; i++)
		sleep_ms(10);
	assert_int_equal(access(s->path, F_OK), 0);
}

static void reap_server(struct forked_server *s)
{
	int status;
	kill(s->pid, SIGKILL);
	kill(s->pid, SIGCONT);
	waitpid(s->pid, &status, 0);
	unlink(s->path);
	rmdir(s->dir);
}

static struct uvf_client *connect_timeout(const char *path, int timeout_ms)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	opts.timeout_ms = timeout_ms;
	opts.log_level = UVF_LOG_ERROR;
	assert_int_equal(uvf_client_connect(&c, path, &opts), 0);
	return c;
}

static bool is_disconnect(int rc)
{
	return rc == -ECONNRESET || rc == -ENOTCONN || rc == -EPIPE;
}

struct killer {
	pid_t pid;
	int after_ms;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;
	sleep_ms(k->after_ms);
	kill(k->pid, SIGKILL);
	return NULL;
}

static void test_server_killed_during_a_call_fails_it_cleanly(void **state)
{
	(void)state;
	int fds = harness_count_fds();
	int maps = count_maps("uvf-dma");
	struct forked_server s;
	fork_server(&s);
	struct uvf_client *c = connect_timeout(s.path, 3000);
	size_t len = UVF_DMATEST_MAX_LEN;
	void *mem = malloc(len);
	void *mapped;
	assert_non_null(mem);
	assert_int_equal(uvf_client_dma_register(c, DMA_IOVA, mem, len, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x10000000, 0x10000, UVF_DMA_MAP_FLAG_READ, &mapped), 0);
	reg_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)DMA_IOVA);
	reg_write(c, UVF_DMATEST_REG_LEN, (uint32_t)len);

	/* the server dies while we serve its DMA and wait for our replies */
	struct killer k = {s.pid, 150};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, kill_later, &k), 0);
	int64_t t0 = now_ms();
	int rc = 0;
	uint32_t v = UVF_DMATEST_CMD_FILL;
	while (rc == 0 && now_ms() - t0 < 10000) {
		rc = uvf_client_region_write(c, 0, UVF_DMATEST_REG_CMD, &v, 4);
		uint32_t count;
		if (rc == 0)
			rc = uvf_client_region_read(c, 0, UVF_DMATEST_REG_CMD_COUNT, &count, 4);
	}
	pthread_join(t, NULL);
	assert_true(is_disconnect(rc));
	assert_true(now_ms() - t0 < 150 + 3000);
	/* every further call fails at once */
	int64_t t1 = now_ms();
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4), -ENOTCONN);
	assert_int_equal(uvf_client_dma_unregister(c, DMA_IOVA, len), -ENOTCONN);
	assert_true(now_ms() - t1 < 500);
	uvf_client_close(c);
	free(mem);
	reap_server(&s);
	assert_int_equal(count_maps("uvf-dma"), maps);
	assert_int_equal(harness_count_fds(), fds);
}

static void test_server_hung_times_out_and_stays_in_step(void **state)
{
	(void)state;
	int fds = harness_count_fds();
	struct forked_server s;
	fork_server(&s);
	struct uvf_client *c = connect_timeout(s.path, 500);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);

	kill(s.pid, SIGSTOP);
	uint32_t v = 0;
	int64_t t0 = now_ms();
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4), -ETIMEDOUT);
	int64_t took = now_ms() - t0;
	assert_true(took >= 400 && took < 4000);
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_VERSION, &v, 4), -ETIMEDOUT);

	/* the server wakes: its late replies are dropped by id, and the
	 * next call gets its own answer */
	kill(s.pid, SIGCONT);
	sleep_ms(100);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_VERSION), UVF_DMATEST_VERSION);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);

	/* hung for good, then killed: a clean failure */
	kill(s.pid, SIGSTOP);
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4), -ETIMEDOUT);
	kill(s.pid, SIGKILL);
	sleep_ms(50);
	int rc = uvf_client_region_read(c, 0, UVF_DMATEST_REG_ID, &v, 4);
	assert_true(is_disconnect(rc));
	uvf_client_close(c);
	reap_server(&s);
	assert_int_equal(harness_count_fds(), fds);
}

/* ------------------------------------------------------------------ */
/* Slow readers                                                         */
/* ------------------------------------------------------------------ */

/*
 * The server DMA_WRITEs by message while the client, not reading, streams
 * large posted writes: both socket buffers fill. Without a twin socket
 * both sides wait; the server's send timeout (dma_timeout_ms) ends it: the
 * client is dropped, its writes fail, and neither side hangs for good.
 */
static void test_slow_readers_without_twin_socket_end_within_the_timeouts(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct uvf_client_opts copts = UVF_CLIENT_OPTS_INIT;
	struct harness h;
	opts.dma_timeout_ms = 500;
	start_dmatest(&h, &opts);
	int fds = harness_count_fds();
	struct uvf_client *c = NULL;
	copts.no_twin_socket = true;
	copts.timeout_ms = 1000;
	copts.log_level = UVF_LOG_ERROR;
	assert_int_equal(uvf_client_connect(&c, h.path, &copts), 0);
	size_t len = UVF_DMATEST_MAX_LEN;
	uint8_t *mem = calloc(1, len);
	assert_non_null(mem);
	assert_int_equal(uvf_client_dma_register(c, DMA_IOVA, mem, len, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	reg_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)DMA_IOVA);
	reg_write(c, UVF_DMATEST_REG_LEN, (uint32_t)len);
	uint32_t v = UVF_DMATEST_CMD_FILL;
	assert_int_equal(uvf_client_region_write_posted(c, 0, UVF_DMATEST_REG_CMD, &v, 4), 0);

	static uint8_t block[4096];
	int64_t t0 = now_ms();
	int rc = 0;
	for (int i = 0; i < 20000 && rc == 0; i++)
		rc = uvf_client_region_write_posted(c, UVF_DMATEST_BAR4, (uint64_t)(i % 16) * 4096, block,
						    sizeof(block));
	int64_t took = now_ms() - t0;
	/* Either the server kept up (then the DMA completes below) or the
	 * two stalled on each other and a timeout ended it: never longer. */
	assert_true(took < 500 + 1000 + 2000);
	if (rc == 0) {
		rc = uvf_client_flush(c);
		assert_true(rc == 0 || is_disconnect(rc) || rc == -ETIMEDOUT);
	} else {
		assert_true(is_disconnect(rc) || rc == -ETIMEDOUT);
	}
	uvf_client_close(c);
	free(mem);
	assert_true(server_idle(&h, fds, 3000));
	check_next_client(&h);
	harness_stop(&h);
}

/*
 * Same with the twin socket: the device's DMA by message goes there,
 * asynchronously, so the server keeps reading our posted writes while we
 * do not read; once we wait for a reply we serve the DMA, which completes.
 * No timeout may be needed.
 */
static void test_slow_readers_with_twin_socket_do_not_deadlock(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	start_dmatest(&h, &opts);
	struct uvf_client *c = harness_connect(&h);
	assert_true(uvf_client_server_caps(c)->twin_socket);
	size_t len = 4u << 20;
	uint8_t *mem = calloc(1, len);
	assert_non_null(mem);
	assert_int_equal(uvf_client_dma_register(c, DMA_IOVA, mem, len, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	reg_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)DMA_IOVA);
	reg_write(c, UVF_DMATEST_REG_LEN, (uint32_t)len);
	reg_write(c, UVF_DMATEST_REG_PATTERN, 0x5a);
	uint32_t before = reg_read(c, UVF_DMATEST_REG_CMD_COUNT);
	uint32_t v = UVF_DMATEST_CMD_FILL;
	assert_int_equal(uvf_client_region_write_posted(c, 0, UVF_DMATEST_REG_CMD, &v, 4), 0);

	static uint8_t block[4096];
	int64_t t0 = now_ms();
	for (int i = 0; i < 4096; i++)
		assert_int_equal(uvf_client_region_write_posted(c, UVF_DMATEST_BAR4, (uint64_t)(i % 16) * 4096, block,
								sizeof(block)),
				 0);
	assert_int_equal(uvf_client_flush(c), 0);
	while (reg_read(c, UVF_DMATEST_REG_CMD_COUNT) == before && now_ms() - t0 < 5000)
		;
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_STATUS), 0);
	assert_true(now_ms() - t0 < 5000); /* well below any timeout */
	assert_int_equal(mem[0], 0x5a);
	assert_int_equal(mem[len - 1], 0x5a);
	uvf_client_close(c);
	free(mem);
	harness_stop(&h);
}

/* ------------------------------------------------------------------ */
/* Handshake timeout                                                    */
/* ------------------------------------------------------------------ */

static void test_client_without_version_is_dropped_after_the_handshake_timeout(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	opts.handshake_timeout_ms = 300;
	start_dmatest(&h, &opts);
	int fds = harness_count_fds();

	/* silent */
	int s = harness_raw_connect(&h);
	int64_t t0 = now_ms();
	assert_true(harness_raw_closed(s));
	int64_t took = now_ms() - t0;
	assert_true(took >= 250 && took < 3000);
	close(s);
	/* half a VERSION header, then nothing */
	s = harness_raw_connect(&h);
	struct uvf_msg_header hdr = {.msg_id = 0, .command = UVF_CMD_VERSION, .msg_size = 64};
	assert_int_equal(send(s, &hdr, 10, MSG_NOSIGNAL), 10);
	assert_true(harness_raw_closed(s));
	close(s);
	assert_true(server_idle(&h, fds, 2000));

	/* a client past VERSION is not bothered by the timer */
	struct uvf_client *c = harness_connect(&h);
	sleep_ms(500);
	assert_int_equal(reg_read(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
	harness_stop(&h);
}

static void test_handshake_timeout_minus_one_never_drops(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	opts.handshake_timeout_ms = -1;
	start_dmatest(&h, &opts);
	int s = harness_raw_connect(&h);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 400), 0); /* still open, nothing said */
	assert_int_equal(harness_raw_version(s), 0);
	close(s);
	harness_stop(&h);
}

static void test_serve_options_are_validated(void **state)
{
	(void)state;
	struct uvf_device *dev;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	char dir[] = "/tmp/uvf-opts-XXXXXX", path[64];
	int fds = harness_count_fds();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	uvf_device_set_log(dev, NULL, NULL, UVF_LOG_ERROR);

	opts.handshake_timeout_ms = -2;
	assert_int_equal(uvf_device_listen(dev, path, &opts), -EINVAL);
	opts.handshake_timeout_ms = 10000;
	opts.peer_check = 0x8;
	assert_int_equal(uvf_device_listen(dev, path, &opts), -EINVAL);
	opts.peer_check = UVF_PEER_SAME_UID | UVF_PEER_UID | UVF_PEER_GID;
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(uvf_device_listen(dev, path, &opts), 0);
	uvf_device_free(dev);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), fds);
}

/* ------------------------------------------------------------------ */
/* Socket permissions and peer checks                                  */
/* ------------------------------------------------------------------ */

static void test_socket_group_and_mode_are_applied(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	struct stat st;
	/* as root any group goes; otherwise our own */
	gid_t group = geteuid() == 0 ? 65534 : getegid();
	opts.socket_group = group;
	opts.socket_mode = 0660;
	start_dmatest(&h, &opts);
	assert_int_equal(stat(h.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_gid, group);
	assert_int_equal(st.st_mode & 0777, 0660);
	check_next_client(&h);
	harness_stop(&h);

	/* the default: 0600, the creator's group */
	start_dmatest(&h, NULL);
	assert_int_equal(stat(h.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_gid, getegid());
	harness_stop(&h);
}

/* Listening with a group we may not give: -EPERM, no socket file left.
 * Returns 0 when that is what happened. Not root (root may give any). */
static int listen_with_foreign_group(void)
{
	struct uvf_device *dev;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	char dir[] = "/tmp/uvf-opts-XXXXXX", path[64];
	int bad = 0;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/s", dir);
	struct uvf_dmatest *dmatest;
	if (uvf_dmatest_create(&dmatest) < 0)
		return 1;
	dev = uvf_dmatest_device(dmatest);
	uvf_device_set_log(dev, NULL, NULL, UVF_LOG_ERROR);
	opts.socket_group = 0; /* root's group */
	opts.socket_mode = 0660;
	if (uvf_device_listen(dev, path, &opts) != -EPERM)
		bad = 1;
	if (access(path, F_OK) == 0)
		bad = 1;
	uvf_device_free(dev);
	rmdir(dir);
	return bad;
}

static void test_socket_group_not_ours_is_refused(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(listen_with_foreign_group(), 0);
		return;
	}
	/* as root: in a child that became nobody */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		_exit(listen_with_foreign_group());
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Log lines of the server, to check what a refusal says. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_refusal[256];

static void capture_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	(void)level;
	pthread_mutex_lock(&log_lock);
	if (strstr(line, "refusing"))
		snprintf(last_refusal, sizeof(last_refusal), "%s", line);
	pthread_mutex_unlock(&log_lock);
}

static void *serve(void *arg)
{
	struct harness *h = arg;
	h->server_ret = uvf_device_run(h->dev);
	return NULL;
}

/* harness_start with our logger */
static void start_logged(struct harness *h, const struct uvf_serve_opts *opts)
{
	harness_prepare(h);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	h->dev = uvf_dmatest_device(dmatest);
	strcpy(h->dir, "/tmp/uvf-test-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/dev.sock", h->dir);
	uvf_device_set_log(h->dev, capture_log, NULL, UVF_LOG_WARNING);
	assert_int_equal(uvf_device_listen(h->dev, h->path, opts), 0);
	assert_int_equal(pthread_create(&h->thread, NULL, serve, h), 0);
	h->running = true;
	last_refusal[0] = 0;
}

static bool refusal_logged(const char *needle)
{
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&log_lock);
		bool found = strstr(last_refusal, needle) != NULL;
		pthread_mutex_unlock(&log_lock);
		if (found)
			return true;
		sleep_ms(10);
	}
	return false;
}

static void test_peer_check_refuses_other_uid_and_keeps_listening(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	char needle[64];

	/* refused: we are not peer_uid */
	opts.peer_check = UVF_PEER_UID;
	opts.peer_uid = geteuid() + 1;
	start_logged(&h, &opts);
	int fds = harness_count_fds();
	int s = harness_raw_connect(&h);
	assert_true(harness_raw_closed(s));
	close(s);
	snprintf(needle, sizeof(needle), "pid %ld uid %lu", (long)getpid(), (unsigned long)geteuid());
	assert_true(refusal_logged(needle));
	assert_true(server_idle(&h, fds, 2000));
	harness_stop(&h);

	/* accepted: same uid, or our gid */
	opts.peer_check = UVF_PEER_SAME_UID;
	start_logged(&h, &opts);
	check_next_client(&h);
	harness_stop(&h);
	opts.peer_check = UVF_PEER_UID | UVF_PEER_GID; /* either passes */
	opts.peer_gid = getegid();
	start_logged(&h, &opts);
	check_next_client(&h);
	harness_stop(&h);
	assert_int_equal(last_refusal[0], 0);
}

static int child_as_nobody(const char *path)
{
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 1;
	int s = raw_connect(path);
	if (s < 0)
		return 1;
	/* the server closes without answering VERSION (before or after we
	 * sent it) */
	int rc = harness_raw_version(s);
	return rc == -ECONNRESET || rc == -EPIPE ? 0 : 1;
}

static void test_peer_check_refuses_a_process_of_another_user(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* needs setuid */
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	struct harness h;
	opts.peer_check = UVF_PEER_SAME_UID;
	opts.socket_mode = 0666; /* so that only the peer check stands between */
	start_logged(&h, &opts);
	assert_int_equal(chmod(h.dir, 0755), 0);
	int fds = harness_count_fds();
	struct child ch = spawn(h.path, child_as_nobody);
	wait_ready(&ch);
	kill_child(&ch);
	assert_true(refusal_logged("uid 65534 gid 65534"));
	assert_true(server_idle(&h, fds, 2000));
	check_next_client(&h); /* still listening, and we pass */
	harness_stop(&h);
}

/* ------------------------------------------------------------------ */
/* DMA never leaves its mappings                                        */
/* ------------------------------------------------------------------ */

#define PAGE 4096u
#define GUARD_IOVA 0x200000ull

static int map_fd(struct uvf_client *c, int fd, uint64_t offset, uint64_t iova, uint64_t size)
{
	struct uvf_msg_dma_map req = {.argsz = sizeof(req),
				      .flags = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
				      .offset = offset,
				      .address = iova,
				      .size = size};
	size_t rlen;
	return uvf_client_call(c, UVF_CMD_DMA_MAP, &req, sizeof(req), &fd, 1, NULL, 0, &rlen);
}

static void test_fd_backed_dma_stays_inside_the_declared_range(void **state)
{
	(void)state;
	struct harness h;
	start_dmatest(&h, NULL);
	struct uvf_client *c = harness_connect(&h);

	/* a 3-page file: canaries around the page the client declares */
	int fd = memfd_create("uvf-guard", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * PAGE), 0);
	uint8_t *file = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(file != MAP_FAILED);
	memset(file, 0xcc, 3 * PAGE);
	memset(file + PAGE, 0x11, PAGE);

	/* beyond the end of the file: refused (it would SIGBUS later) */
	assert_int_equal(map_fd(c, fd, PAGE, GUARD_IOVA, 3 * PAGE), -EINVAL);
	assert_int_equal(map_fd(c, fd, 4 * PAGE, GUARD_IOVA, PAGE), -EINVAL);
	assert_int_equal(map_fd(c, fd, PAGE, GUARD_IOVA, PAGE), 0);
	close(fd);

	uint8_t buf[2 * PAGE];
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uvf_dma_read(h.dev, GUARD_IOVA, buf, PAGE), 0);
	for (unsigned i = 0; i < PAGE; i++)
		assert_int_equal(buf[i], 0x11);
	/* at the edges and across them */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uvf_dma_read(h.dev, GUARD_IOVA + PAGE - 8, buf, 16), -EFAULT);
	assert_int_equal(uvf_dma_read(h.dev, GUARD_IOVA - 8, buf, 16), -EFAULT);
	assert_int_equal(uvf_dma_read(h.dev, GUARD_IOVA + PAGE, buf, 1), -EFAULT);
	assert_int_equal(uvf_dma_read(h.dev, GUARD_IOVA, buf, PAGE + 1), -EFAULT);
	assert_int_equal(uvf_dma_read(h.dev, UINT64_MAX - 7, buf, 16), -EFAULT);
	for (unsigned i = 0; i < 16; i++)
		assert_int_not_equal(buf[i], 0xcc); /* no canary ever copied */
	assert_int_equal(uvf_dma_write(h.dev, GUARD_IOVA + PAGE - 8, buf, 16), -EFAULT);
	assert_int_equal(uvf_dma_write(h.dev, GUARD_IOVA - 1, buf, 2), -EFAULT);
	assert_null(uvf_dma_ptr(h.dev, GUARD_IOVA + PAGE - 8, 16, UVF_DMA_MAP_FLAG_READ));
	assert_non_null(uvf_dma_ptr(h.dev, GUARD_IOVA + PAGE - 8, 8, UVF_DMA_MAP_FLAG_READ));
	/* the last byte inside is fine */
	assert_int_equal(uvf_dma_write(h.dev, GUARD_IOVA + PAGE - 1, "\x22", 1), 0);
	assert_int_equal(file[2 * PAGE - 1], 0x22);
	for (unsigned i = 0; i < PAGE; i++) {
		assert_int_equal(file[i], 0xcc);
		assert_int_equal(file[2 * PAGE + i], 0xcc);
	}
	munmap(file, 3 * PAGE);
	uvf_client_close(c);
	harness_stop(&h);
}

static uint32_t run_copy(struct uvf_client *c, uint64_t src, uint64_t dst, uint32_t len)
{
	uint32_t before = reg_read(c, UVF_DMATEST_REG_CMD_COUNT);
	reg_write(c, UVF_DMATEST_REG_SRC_LO, (uint32_t)src);
	reg_write(c, UVF_DMATEST_REG_SRC_HI, (uint32_t)(src >> 32));
	reg_write(c, UVF_DMATEST_REG_DST_LO, (uint32_t)dst);
	reg_write(c, UVF_DMATEST_REG_DST_HI, (uint32_t)(dst >> 32));
	reg_write(c, UVF_DMATEST_REG_LEN, len);
	reg_write(c, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_COPY);
	int64_t t0 = now_ms();
	while (reg_read(c, UVF_DMATEST_REG_CMD_COUNT) == before)
		assert_true(now_ms() - t0 < 5000);
	return reg_read(c, UVF_DMATEST_REG_STATUS);
}

/* Message-based DMA into client memory that sits between PROT_NONE pages:
 * a request reaching past the registered range is refused by the server
 * (and would be by the client), never a SIGSEGV. */
static void test_message_dma_between_guard_pages_faults_cleanly(void **state)
{
	(void)state;
	struct harness h;
	start_dmatest(&h, NULL);
	struct uvf_client *c = harness_connect(&h);
	uint8_t *area = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(area != MAP_FAILED);
	assert_int_equal(mprotect(area, PAGE, PROT_NONE), 0);
	assert_int_equal(mprotect(area + 2 * PAGE, PAGE, PROT_NONE), 0);
	uint8_t *mem = area + PAGE;
	for (unsigned i = 0; i < PAGE; i++)
		mem[i] = (uint8_t)i;
	assert_int_equal(uvf_client_dma_register(c, GUARD_IOVA, mem, PAGE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);

	assert_int_equal(run_copy(c, GUARD_IOVA + PAGE - 8, GUARD_IOVA, 16), EFAULT);
	assert_int_equal(run_copy(c, GUARD_IOVA - 8, GUARD_IOVA + 64, 16), EFAULT);
	assert_int_equal(run_copy(c, GUARD_IOVA, GUARD_IOVA + PAGE - 8, 16), EFAULT);
	/* inside: works, edges included */
	assert_int_equal(run_copy(c, GUARD_IOVA, GUARD_IOVA + PAGE - 16, 16), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(mem[PAGE - 16 + i], i);

	/* a server request past the range, sent raw, is answered with an
	 * error by the client library, which reads nothing outside */
	uvf_client_close(c);
	munmap(area, 3 * PAGE);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_killed_mid_message_is_cleaned_up),
		cmocka_unit_test(test_client_killed_mid_dma_is_noticed_before_the_timeout),
		cmocka_unit_test(test_client_killed_holding_mappings_and_irqs_frees_them),
		cmocka_unit_test(test_server_killed_during_a_call_fails_it_cleanly),
		cmocka_unit_test(test_server_hung_times_out_and_stays_in_step),
		cmocka_unit_test(test_slow_readers_without_twin_socket_end_within_the_timeouts),
		cmocka_unit_test(test_slow_readers_with_twin_socket_do_not_deadlock),
		cmocka_unit_test(test_client_without_version_is_dropped_after_the_handshake_timeout),
		cmocka_unit_test(test_handshake_timeout_minus_one_never_drops),
		cmocka_unit_test(test_serve_options_are_validated),
		cmocka_unit_test(test_socket_group_and_mode_are_applied),
		cmocka_unit_test(test_socket_group_not_ours_is_refused),
		cmocka_unit_test(test_peer_check_refuses_other_uid_and_keeps_listening),
		cmocka_unit_test(test_peer_check_refuses_a_process_of_another_user),
		cmocka_unit_test(test_fd_backed_dma_stays_inside_the_declared_range),
		cmocka_unit_test(test_message_dma_between_guard_pages_faults_cleanly),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
