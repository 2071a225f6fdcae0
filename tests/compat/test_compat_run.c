/* SPDX-License-Identifier: MIT */
/*
 * How vfu_run_ctx() serves, as libvfio-user's does: a non-blocking context
 * takes at most one request per call (and the poll fd says when another
 * waits), a blocking one returns -1/EINTR when a signal handler ran, and a
 * quiesce finished from another thread runs the held request inside
 * vfu_device_quiesced().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

static int reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	(void)ctx;
	compat_event("reset(%d)", (int)type);
	return 0;
}

static vfu_ctx_t *small_device(const char *path, int flags)
{
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, flags, NULL, VFU_DEV_TYPE_PCI);
	assert_non_null(ctx);
	assert_int_equal(vfu_setup_log(ctx, compat_quiet_log, LOG_DEBUG), 0);
	assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0), 0);
	vfu_pci_set_id(ctx, 0x4e58, 0x0001, 0x1af4, 0x1100);
	assert_int_equal(vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 256, bar0_access,
					  VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0),
			 0);
	assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
	return ctx;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nonblocking_run_takes_one_request_per_call),
		cmocka_unit_test(blocking_run_returns_eintr_on_a_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
