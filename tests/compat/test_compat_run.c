/* SPDX-License-Identifier: MIT */
/*
 * How vfu_run_ctx() serves, as libvfio-user's does: a non-blocking context
 * takes at most one request per call (and the poll fd says when another
 * waits), a blocking one returns -1/EINTR when a signal handler ran, and a
 * quiesce finished from another thread runs the held request inside
 * vfu_device_quiesced(), on that thread.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "compat_util.h"
#include "uvf/client.h"

static ssize_t bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	static uint8_t regs[256];
	(void)ctx;
	if (offset < 0 || (size_t)offset + count > sizeof(regs)) {
		errno = EINVAL;
		return -1;
	}
	compat_event("%s(%lld)", is_write ? "write" : "read", (long long)offset);
	if (is_write)
		memcpy(regs + offset, buf, count);
	else
		memcpy(buf, regs + offset, count);
	return (ssize_t)count;
}

/* The thread that finishes quiesces (0 when none). */
static pthread_t g_device_thread;
static atomic_bool g_device_thread_set;

static int reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	(void)ctx;
	bool on_device = atomic_load(&g_device_thread_set) && pthread_equal(pthread_self(), g_device_thread);
	compat_event("reset(%d)%s", (int)type, on_device ? "@device" : "");
	return 0;
}

static vfu_ctx_t *small_device(const char *path, int flags)
{
	return compat_small_device(path, flags, NULL, bar0_access, reset_cb);
}

/* Append one raw message to buf at *len (several go out in one send). */
static void put_msg(uint8_t *buf, size_t cap, size_t *len, uint16_t id, uint16_t cmd, const void *payload,
		    size_t plen)
{
	struct vfio_user_header h = {.msg_id = id, .cmd = cmd, .msg_size = (uint32_t)(sizeof(h) + plen)};
	assert_true(*len + h.msg_size <= cap);
	memcpy(buf + *len, &h, sizeof(h));
	if (plen)
		memcpy(buf + *len + sizeof(h), payload, plen);
	*len += h.msg_size;
}

static void send_all(int sock, const void *buf, size_t len)
{
	assert_int_equal(send(sock, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Whether fd is readable now. */
static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* Wait up to 5 s for fd to become readable. */
static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
}

/* ------------------------------------------------------------------ */
/* Non-blocking: one request per call                                   */
/* ------------------------------------------------------------------ */

/* Requests sent back to back (read by uvf in one recvmsg): attach takes
 * VERSION only, each vfu_run_ctx() one request (1), then 0; the poll fd
 * stays readable while a request waits in uvf's buffer, and is not once
 * none does. Each call's reply is on the socket before the next call. */
static void nonblocking_run_takes_one_request_per_call(void **state)
{
	struct vfu_server s;
	uint8_t out[1024], buf[512], ver[256];
	size_t olen = 0, len;
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	int pfd = vfu_get_poll_fd(s.ctx);
	int sock = compat_raw_connect(s.path);

	/* VERSION and a REGION_READ in one send */
	struct vfio_user_region_access ra = {.offset = 8, .region = 0, .count = 4};
	size_t vlen = compat_version_payload(ver, sizeof(ver));
	put_msg(out, sizeof(out), &olen, 1, VFIO_USER_VERSION, ver, vlen);
	put_msg(out, sizeof(out), &olen, 2, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	send_all(sock, out, olen);
	int tries;
	for (tries = 0; vfu_attach_ctx(s.ctx) < 0 && tries < 5000; tries++) {
		assert_int_equal(errno, EAGAIN);
		wait_readable(pfd);
	}
	assert_int_equal(compat_raw_reply(sock, 1, buf, sizeof(buf), &len), 0);
	/* the REGION_READ did not run in attach */
	assert_false(readable(sock));
	assert_true(readable(pfd));
	compat_events_clear();
	assert_int_equal(vfu_run_ctx(s.ctx), 1);
	assert_int_equal(compat_raw_reply(sock, 2, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(ra) + 4);
	assert_int_equal(vfu_run_ctx(s.ctx), 0);
	assert_false(readable(pfd));

	/* three at once: 1, 1, 1, then 0 */
	olen = 0;
	for (uint16_t id = 3; id <= 5; id++)
		put_msg(out, sizeof(out), &olen, id, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	send_all(sock, out, olen);
	wait_readable(pfd);
	for (uint16_t id = 3; id <= 5; id++) {
		assert_int_equal(vfu_run_ctx(s.ctx), 1);
		assert_int_equal(compat_raw_reply(sock, id, buf, sizeof(buf), &len), 0);
		/* one reply per call */
		assert_false(readable(sock));
		/* the next request is in uvf's buffer, not in the socket:
		 * the poll fd still says so */
		if (id < 5)
			assert_true(readable(pfd));
	}
	assert_int_equal(vfu_run_ctx(s.ctx), 0);
	assert_false(readable(pfd));
	char ev[256];
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "read(8) read(8) read(8) read(8)");

	/* a request and the departure: 1, then ENOTCONN after the reset */
	compat_events_clear();
	compat_raw_send(sock, 6, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	shutdown(sock, SHUT_WR);
	wait_readable(pfd);
	assert_int_equal(vfu_run_ctx(s.ctx), 1);
	int ret;
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		wait_readable(pfd);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, ENOTCONN);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "read(8) reset(1)");
	assert_int_equal(compat_raw_reply(sock, 6, buf, sizeof(buf), &len), 0);
	close(sock);
	compat_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Blocking: a signal ends vfu_run_ctx() with EINTR                     */
/* ------------------------------------------------------------------ */

static atomic_int g_signals;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&g_signals, 1);
}

struct signalled_run {
	vfu_ctx_t *ctx;
	atomic_int eintr;  /* vfu_run_ctx() said EINTR this many times */
	atomic_bool done;
	int last_ret, last_errno;
};

/* The main loop of a blocking libvfio-user device that does work from a
 * signal: on EINTR it calls vfu_run_ctx() again. */
static void *signalled_thread(void *arg)
{
	struct signalled_run *r = arg;
	int ret;

	while ((ret = vfu_attach_ctx(r->ctx)) < 0 && errno == EINTR)
		;
	assert_int_equal(ret, 0);
	for (;;) {
		ret = vfu_run_ctx(r->ctx);
		if (ret == -1 && errno == EINTR) {
			atomic_fetch_add(&r->eintr, 1);
			continue;
		}
		break;
	}
	r->last_ret = ret;
	r->last_errno = errno;
	atomic_store(&r->done, true);
	return NULL;
}

static void blocking_run_returns_eintr_on_a_signal(void **state)
{
	struct vfu_server s;
	struct signalled_run r = {0};
	pthread_t thr;
	struct sigaction sa = {0}, old;
	(void)state;

	sa.sa_handler = on_sigusr1; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	compat_path(&s);
	s.ctx = small_device(s.path, 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	r.ctx = s.ctx;
	assert_int_equal(pthread_create(&thr, NULL, signalled_thread, &r), 0);

	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, s.path, &opts), 0);
	uint32_t v = 0x1234abcd, got = 0;
	assert_int_equal(uvf_client_region_write(c, 0, 16, &v, 4), 0);
	/* the serving thread waits for the next request: a signal ends the
	 * wait (sent until one lands in it, not between two calls) */
	for (int i = 0; atomic_load(&r.eintr) == 0 && i < 500; i++) {
		pthread_kill(thr, SIGUSR1);
		usleep(10000);
	}
	assert_true(atomic_load(&r.eintr) >= 1);
	assert_true(atomic_load(&g_signals) >= atomic_load(&r.eintr));
	assert_false(atomic_load(&r.done));
	/* the connection is still served by the next vfu_run_ctx() */
	assert_int_equal(uvf_client_region_read(c, 0, 16, &got, 4), 0);
	assert_int_equal(got, v);
	uvf_client_close(c);
	pthread_join(thr, NULL);
	assert_int_equal(r.last_ret, -1);
	assert_int_equal(r.last_errno, ENOTCONN);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	compat_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Asynchronous quiesce finished from another thread                    */
/* ------------------------------------------------------------------ */

static sem_t g_quiesce_asked;
static atomic_bool g_busy;

static int busy_quiesce(vfu_ctx_t *ctx)
{
	(void)ctx;
	compat_event("quiesce");
	if (!atomic_load(&g_busy))
		return 0;
	sem_post(&g_quiesce_asked);
	errno = EBUSY;
	return -1;
}

struct device_thread {
	vfu_ctx_t *ctx;
	int sock; /* raw client socket to look at, or -1 */
	int ret, err;
	bool reply_there;
};

/* A device thread: when the quiesce callback asked, finish the quiesce. */
static void *device_thread(void *arg)
{
	struct device_thread *d = arg;

	g_device_thread = pthread_self();
	atomic_store(&g_device_thread_set, true);
	while (sem_wait(&g_quiesce_asked) < 0 && errno == EINTR)
		;
	compat_event("quiesced");
	d->ret = vfu_device_quiesced(d->ctx, 0);
	d->err = errno;
	compat_event("back");
	if (d->sock >= 0)
		d->reply_there = readable(d->sock);
	return NULL;
}

/* A non-blocking device whose quiesce answers EBUSY, attached to a raw
 * client after VERSION; returns the client's socket, *pfd the poll fd. */
static int busy_device_attached(struct vfu_server *s, int *pfd)
{
	uint8_t buf[512];
	size_t len;
	int tries;

	assert_int_equal(sem_init(&g_quiesce_asked, 0, 0), 0);
	compat_path(s);
	s->ctx = small_device(s->path, LIBVFIO_USER_FLAG_ATTACH_NB);
	vfu_setup_device_quiesce_cb(s->ctx, busy_quiesce);
	assert_int_equal(vfu_realize_ctx(s->ctx), 0);
	*pfd = vfu_get_poll_fd(s->ctx);
	int sock = compat_raw_connect(s->path);
	len = compat_version_payload(buf, sizeof(buf));
	compat_raw_send(sock, 1, VFIO_USER_VERSION, buf, len);
	for (tries = 0; vfu_attach_ctx(s->ctx) < 0 && tries < 1000; tries++)
		wait_readable(*pfd);
	assert_int_equal(compat_raw_reply(sock, 1, buf, sizeof(buf), &len), 0);
	return sock;
}

/* Non-blocking: the request held by an EBUSY quiesce runs inside
 * vfu_device_quiesced() on the device thread, its reply sent before the
 * call returns; the application's next vfu_run_ctx() goes on. */
static void quiesced_from_a_device_thread_runs_the_request_there(void **state)
{
	struct vfu_server s;
	struct device_thread d = {.sock = -1};
	uint8_t buf[512];
	size_t len;
	char ev[256];
	pthread_t thr;
	int tries, ret, pfd;
	(void)state;

	int sock = busy_device_attached(&s, &pfd);

	d.ctx = s.ctx;
	d.sock = sock;
	assert_int_equal(pthread_create(&thr, NULL, device_thread, &d), 0);
	atomic_store(&g_busy, true);
	compat_events_clear();
	/* DEVICE_RESET, and a REGION_READ behind it */
	struct vfio_user_region_access ra = {.offset = 4, .region = 0, .count = 4};
	uint8_t out[256];
	size_t olen = 0;
	put_msg(out, sizeof(out), &olen, 2, VFIO_USER_DEVICE_RESET, NULL, 0);
	put_msg(out, sizeof(out), &olen, 3, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	send_all(sock, out, olen);
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		wait_readable(pfd);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, EBUSY);
	pthread_join(thr, NULL);
	assert_int_equal(d.ret, 0);
	assert_true(d.reply_there);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce quiesced reset(0)@device back");
	assert_int_equal(compat_raw_reply(sock, 2, buf, sizeof(buf), &len), 0);
	/* only the held request ran there: the REGION_READ is the next
	 * vfu_run_ctx()'s, and the poll fd says it waits */
	assert_false(readable(sock));
	assert_true(readable(pfd));
	assert_int_equal(vfu_run_ctx(s.ctx), 1);
	assert_int_equal(compat_raw_reply(sock, 3, buf, sizeof(buf), &len), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce quiesced reset(0)@device back read(4)");
	/* nothing pending any more */
	assert_int_equal(vfu_device_quiesced(s.ctx, 0), -1);
	assert_int_equal(errno, EINVAL);
	atomic_store(&g_busy, false);
	atomic_store(&g_device_thread_set, false);
	close(sock);
	compat_stop(&s);
	sem_destroy(&g_quiesce_asked);
}

struct blocking_loop {
	vfu_ctx_t *ctx;
	atomic_int ebusy;
	int last_errno;
};

/* A blocking device's main loop: EBUSY while quiescing, try again. */
static void *blocking_loop(void *arg)
{
	struct blocking_loop *b = arg;
	int ret;

	assert_int_equal(vfu_attach_ctx(b->ctx), 0);
	while ((ret = vfu_run_ctx(b->ctx)) < 0 && errno == EBUSY) {
		atomic_fetch_add(&b->ebusy, 1);
		usleep(1000);
	}
	b->last_errno = errno;
	return NULL;
}

/* Blocking: the device thread finishes the quiesce as soon as asked, while
 * the application's thread may still be on its way out of uvf's loop; the
 * request runs on the device thread once it is out, the client gets its
 * reply, and the loop serves on. */
static void quiesced_races_a_blocking_run_safely(void **state)
{
	struct vfu_server s;
	struct device_thread d = {.sock = -1};
	struct blocking_loop b = {0};
	char ev[256];
	pthread_t dthr, lthr;
	(void)state;

	assert_int_equal(sem_init(&g_quiesce_asked, 0, 0), 0);
	compat_path(&s);
	s.ctx = small_device(s.path, 0);
	vfu_setup_device_quiesce_cb(s.ctx, busy_quiesce);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	d.ctx = b.ctx = s.ctx;
	assert_int_equal(pthread_create(&dthr, NULL, device_thread, &d), 0);
	assert_int_equal(pthread_create(&lthr, NULL, blocking_loop, &b), 0);

	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, s.path, &opts), 0);
	atomic_store(&g_busy, true);
	compat_events_clear();
	assert_int_equal(uvf_client_reset(c), 0);
	pthread_join(dthr, NULL);
	assert_int_equal(d.ret, 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce quiesced reset(0)@device back");
	atomic_store(&g_busy, false);
	uint32_t v = 0x77, got = 0;
	assert_int_equal(uvf_client_region_write(c, 0, 20, &v, 4), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 20, &got, 4), 0);
	assert_int_equal(got, v);
	uvf_client_close(c);
	pthread_join(lthr, NULL);
	assert_true(atomic_load(&b.ebusy) >= 1);
	assert_int_equal(b.last_errno, ENOTCONN);
	atomic_store(&g_device_thread_set, false);
	compat_stop(&s);
	sem_destroy(&g_quiesce_asked);
}

/* A departing client has no request to hold: the thread in vfu_run_ctx()
 * waits for the device thread's vfu_device_quiesced(), which returns at
 * once, then resets the device (LOST_CONN) itself and says ENOTCONN. */
static void quiesced_for_a_departing_client_lets_the_run_go_on(void **state)
{
	struct vfu_server s;
	struct device_thread d = {.sock = -1};
	char ev[256];
	pthread_t thr;
	int tries, ret, pfd;
	(void)state;

	int sock = busy_device_attached(&s, &pfd);
	d.ctx = s.ctx;
	assert_int_equal(pthread_create(&thr, NULL, device_thread, &d), 0);
	atomic_store(&g_busy, true);
	compat_events_clear();
	close(sock);
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		wait_readable(pfd);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, ENOTCONN);
	pthread_join(thr, NULL);
	assert_int_equal(d.ret, 0);
	compat_events(ev, sizeof(ev));
	/* the reset after the quiesce, on this thread ("back" may come
	 * before or after it) */
	assert_true(strncmp(ev, "quiesce quiesced ", 17) == 0);
	assert_non_null(strstr(ev, "reset(1)"));
	assert_null(strstr(ev, "@device"));
	atomic_store(&g_busy, false);
	atomic_store(&g_device_thread_set, false);
	compat_stop(&s);
	sem_destroy(&g_quiesce_asked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nonblocking_run_takes_one_request_per_call),
		cmocka_unit_test(blocking_run_returns_eintr_on_a_signal),
		cmocka_unit_test(quiesced_from_a_device_thread_runs_the_request_there),
		cmocka_unit_test(quiesced_races_a_blocking_run_safely),
		cmocka_unit_test(quiesced_for_a_departing_client_lets_the_run_go_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
