/* SPDX-License-Identifier: MIT */
/*
 * uvf_device_dispatch_one() runs at most one client message per call and
 * keeps the poll fd readable while more are buffered; uvf_device_run_flags()
 * with UVF_RUN_SIGNAL_RETURNS returns -EINTR when a signal handler ran
 * during its wait, in epoll_wait and in the direct receive alike, and the
 * connection stays usable.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

static atomic_int g_reads;

static int bar0_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data;
	atomic_fetch_add(&g_reads, 1);
	memset(buf, (int)offset, len);
	return 0;
}

static struct uvf_device *small_device(void)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x0042, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 256, .read = bar0_read};

	assert_int_equal(uvf_device_new(&dev), 0);
	uvf_device_set_log(dev, NULL, NULL, UVF_LOG_ERROR);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	return dev;
}

static void put_msg(uint8_t *buf, size_t cap, size_t *len, uint16_t id, uint16_t cmd, const void *payload,
		    size_t plen)
{
	struct uvf_msg_header h = {.msg_id = id, .command = cmd, .msg_size = (uint32_t)(sizeof(h) + plen)};
	assert_true(*len + h.msg_size <= cap);
	memcpy(buf + *len, &h, sizeof(h));
	if (plen)
		memcpy(buf + *len + sizeof(h), payload, plen);
	*len += h.msg_size;
}

static size_t put_version(uint8_t *buf, size_t cap, size_t *len, uint16_t id)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
	uint8_t payload[4 + sizeof(json)] = {0};
	memcpy(payload + 4, json, sizeof(json));
	put_msg(buf, cap, len, id, UVF_CMD_VERSION, payload, sizeof(payload));
	return sizeof(payload);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

/* Read one reply; returns its id. */
static uint16_t reply_id(int sock)
{
	struct uvf_msg_header h;
	uint8_t body[512];
	assert_true(readable(sock, 5000));
	assert_int_equal(recv(sock, &h, sizeof(h), MSG_WAITALL), (ssize_t)sizeof(h));
	assert_int_equal(h.error, 0);
	size_t n = h.msg_size - sizeof(h);
	assert_true(n <= sizeof(body));
	if (n)
		assert_int_equal(recv(sock, body, n, MSG_WAITALL), (ssize_t)n);
	return h.msg_id;
}

static void dispatch_one_runs_one_message_per_call(void **state)
{
	char dir[] = "/tmp/uvf-one-XXXXXX", path[64];
	uint8_t out[1024];
	size_t olen = 0;
	int before = harness_count_fds();
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	struct uvf_device *dev = small_device();
	assert_int_equal(uvf_device_dispatch_one(NULL), -EINVAL);
	assert_int_equal(uvf_device_dispatch_one(dev), -EINVAL); /* not listening */
	assert_int_equal(uvf_device_listen(dev, path, NULL), 0);
	int pfd = uvf_device_poll_fd(dev);
	struct harness h = {0};
	snprintf(h.path, sizeof(h.path), "%s", path);
	int sock = harness_raw_connect(&h);

	/* VERSION and three REGION_READs in one send: one recvmsg of the
	 * server reads them all */
	struct uvf_msg_region_access ra = {.offset = 7, .region = 0, .count = 4};
	put_version(out, sizeof(out), &olen, 1);
	for (uint16_t id = 2; id <= 4; id++)
		put_msg(out, sizeof(out), &olen, id, UVF_CMD_REGION_READ, &ra, sizeof(ra));
	assert_int_equal(send(sock, out, olen, MSG_NOSIGNAL), (ssize_t)olen);
	atomic_store(&g_reads, 0);

	uint64_t handled = 0;
	for (uint16_t id = 1; id <= 4; id++) {
		/* readable: the socket (first), or the buffered messages */
		assert_true(readable(pfd, 5000));
		assert_int_equal(uvf_device_dispatch_one(dev), 0);
		assert_int_equal(uvf_device_messages_handled(dev), handled + 1);
		handled++;
		assert_int_equal(reply_id(sock), id);
		assert_false(readable(sock, 0)); /* one reply per call */
		assert_int_equal(atomic_load(&g_reads), id - 1);
	}
	/* nothing left: not readable, nothing runs */
	assert_false(readable(pfd, 0));
	assert_int_equal(uvf_device_dispatch_one(dev), 0);
	assert_int_equal(uvf_device_messages_handled(dev), handled);

	/* uvf_device_dispatch() still runs all that is there */
	olen = 0;
	for (uint16_t id = 5; id <= 7; id++)
		put_msg(out, sizeof(out), &olen, id, UVF_CMD_REGION_READ, &ra, sizeof(ra));
	assert_int_equal(send(sock, out, olen, MSG_NOSIGNAL), (ssize_t)olen);
	assert_true(readable(pfd, 5000));
	assert_int_equal(uvf_device_dispatch(dev), 0);
	assert_int_equal(uvf_device_messages_handled(dev), handled + 3);
	for (uint16_t id = 5; id <= 7; id++)
		assert_int_equal(reply_id(sock), id);
	/* a stop is reported as by uvf_device_dispatch() */
	uvf_device_stop(dev);
	assert_int_equal(uvf_device_dispatch_one(dev), 1);
	close(sock);
	uvf_device_free(dev);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), before);
}

static atomic_int g_signals;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&g_signals, 1);
}

struct run_thread {
	struct uvf_device *dev;
	unsigned flags;
	bool once; /* one call, whatever it returns */
	atomic_int eintr;
	atomic_bool done;
	int ret;
};

/* Run until a return other than -EINTR, counting those. */
static void *run_thread(void *arg)
{
	struct run_thread *r = arg;
	int ret;

	while ((ret = uvf_device_run_flags(r->dev, r->flags)) == -EINTR) {
		atomic_fetch_add(&r->eintr, 1);
		if (r->once)
			break;
	}
	r->ret = ret;
	atomic_store(&r->done, true);
	return NULL;
}

/* Signal the thread until it reports one more EINTR (a signal that lands
 * between two waits ends none); false if 5 s of signals ended none. */
static bool signal_until_eintr(pthread_t thr, struct run_thread *r)
{
	int seen = atomic_load(&r->eintr);
	for (int i = 0; i < 500; i++) {
		pthread_kill(thr, SIGUSR1);
		usleep(10000);
		if (atomic_load(&r->eintr) > seen)
			return true;
	}
	return false;
}

/* SIGUSR1 caught (the old action in *old) and a harness folder for the
 * device's socket: h->path. */
static void signal_setup(struct harness *h, struct sigaction *old)
{
	struct sigaction sa = {0};

	sa.sa_handler = on_sigusr1; /* SA_RESTART or not: the waits are not restarted */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, old), 0);
	harness_prepare(h);
	assert_non_null(mkdtemp(strcpy(h->dir, "/tmp/uvf-sig-XXXXXX")));
	snprintf(h->path, sizeof(h->path), "%s/s", h->dir);
}

static void run_flags_returns_eintr_on_a_signal(void **state)
{
	struct harness h;
	struct run_thread r = {0};
	pthread_t thr;
	struct sigaction old;
	(void)state;

	signal_setup(&h, &old);
	r.dev = small_device();
	assert_int_equal(uvf_device_run_flags(r.dev, 0), -EINVAL); /* not listening */
	assert_int_equal(uvf_device_listen(r.dev, h.path, NULL), 0);
	assert_int_equal(uvf_device_run_flags(r.dev, 0x2), -EINVAL);
	r.flags = UVF_RUN_SIGNAL_RETURNS;
	assert_int_equal(pthread_create(&thr, NULL, run_thread, &r), 0);

	/* no client: the loop waits in epoll_wait */
	assert_true(signal_until_eintr(thr, &r));
	struct uvf_client *c = harness_connect(&h);
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, 3, &v, 4), 0);
	assert_int_equal(v, 0x03030303);
	/* a client and nothing else: the loop waits in recvmsg on it */
	assert_true(signal_until_eintr(thr, &r));
	assert_int_equal(uvf_client_region_read(c, 0, 5, &v, 4), 0);
	assert_int_equal(v, 0x05050505);
	assert_false(atomic_load(&r.done));
	uvf_device_stop(r.dev);
	pthread_join(thr, NULL);
	assert_int_equal(r.ret, 0);

	uvf_client_close(c);
	uvf_device_free(r.dev);

	/* without the flag, signals do not end the run */
	memset(&r, 0, sizeof(r));
	r.dev = small_device();
	char path2[160];
	snprintf(path2, sizeof(path2), "%s/t", h.dir);
	assert_int_equal(uvf_device_listen(r.dev, path2, NULL), 0);
	assert_int_equal(pthread_create(&thr, NULL, run_thread, &r), 0);
	/* in epoll_wait (no client), then in recvmsg (a client) */
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
			assert_int_equal(uvf_client_connect(&c, path2, &opts), 0);
		}
		/* each one handled before the next (pending signals merge) */
		for (int i = 0; i < 20; i++) {
			int seen = atomic_load(&g_signals);
			pthread_kill(thr, SIGUSR1);
			for (int w = 0; atomic_load(&g_signals) == seen && w < 500; w++)
				usleep(1000);
			assert_true(atomic_load(&g_signals) > seen);
		}
	}
	assert_int_equal(uvf_client_region_read(c, 0, 9, &v, 4), 0);
	assert_int_equal(v, 0x09090909);
	assert_int_equal(atomic_load(&r.eintr), 0);
	assert_false(atomic_load(&r.done));
	uvf_client_close(c);
	uvf_device_stop(r.dev);
	pthread_join(thr, NULL);
	assert_int_equal(r.ret, 0);
	uvf_device_free(r.dev);
	harness_stop(&h); /* the folder gone, no fd left */
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

struct read_thread {
	struct uvf_client *c;
	uint32_t v;
	int ret;
};

static void *read_thread(void *arg)
{
	struct read_thread *t = arg;
	t->ret = uvf_client_region_read(t->c, 0, 6, &t->v, 4);
	return NULL;
}

/* A signal that ends the direct receive hands the connection back to the
 * poll fd: the application's own loop sees the next request there and
 * uvf_device_dispatch() serves it. */
static void poll_fd_serves_after_a_signal_ended_the_direct_receive(void **state)
{
	struct harness h;
	struct run_thread r = {0};
	struct read_thread rt = {0};
	pthread_t thr;
	struct sigaction old;
	(void)state;

	signal_setup(&h, &old);
	r.dev = small_device();
	assert_int_equal(uvf_device_listen(r.dev, h.path, NULL), 0);
	r.flags = UVF_RUN_SIGNAL_RETURNS;
	r.once = true;
	assert_int_equal(pthread_create(&thr, NULL, run_thread, &r), 0);
	struct uvf_client *c = harness_connect(&h);
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, 3, &v, 4), 0); /* now in recvmsg */
	assert_true(signal_until_eintr(thr, &r));
	pthread_join(thr, NULL); /* its one call returned -EINTR */
	assert_int_equal(r.ret, -EINTR);
	rt.c = c;
	assert_int_equal(pthread_create(&thr, NULL, read_thread, &rt), 0);
	assert_true(readable(uvf_device_poll_fd(r.dev), 5000));
	assert_true(uvf_device_dispatch(r.dev) >= 0);
	pthread_join(thr, NULL);
	assert_int_equal(rt.ret, 0);
	assert_int_equal(rt.v, 0x06060606);
	uvf_client_close(c);
	uvf_device_free(r.dev);
	harness_stop(&h);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatch_one_runs_one_message_per_call),
		cmocka_unit_test(run_flags_returns_eintr_on_a_signal),
		cmocka_unit_test(poll_fd_serves_after_a_signal_ended_the_direct_receive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
