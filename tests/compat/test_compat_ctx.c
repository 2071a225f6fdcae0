/* SPDX-License-Identifier: MIT */
/*
 * The context life cycle of the libvfio-user API on uvf: create, realize,
 * attach (blocking and not), vfu_run_ctx()'s counts and errnos, destroy,
 * logging and private data. Driven by raw messages and by uvf's client.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

static vfu_ctx_t *small_device(const char *path, int flags, void *pvt)
{
	return compat_small_device(path, flags, pvt, bar0_access, reset_cb);
}

static void create_refuses_what_libvfio_user_refuses(void **state)
{
	(void)state;
	errno = 0;
	assert_null(vfu_create_ctx(VFU_TRANS_SOCK, "/tmp/x", 2, NULL, VFU_DEV_TYPE_PCI));
	assert_int_equal(errno, EINVAL);
	assert_null(vfu_create_ctx(VFU_TRANS_PIPE, "/tmp/x", 0, NULL, VFU_DEV_TYPE_PCI));
	assert_int_equal(errno, ENOTSUP);
	assert_null(vfu_create_ctx(VFU_TRANS_SOCK, "/tmp/x", 0, NULL, (vfu_dev_type_t)1));
	assert_int_equal(errno, ENOTSUP);
	assert_null(vfu_create_ctx(VFU_TRANS_SOCK, NULL, 0, NULL, VFU_DEV_TYPE_PCI));
	assert_int_equal(errno, EINVAL);
	vfu_destroy_ctx(NULL);
}

static int g_logs;
static void counting_log(vfu_ctx_t *ctx, int level, const char *msg)
{
	(void)ctx, (void)msg;
	if (level <= LOG_ERR)
		g_logs++;
}

static void private_data_log_and_order_of_calls(void **state)
{
	struct vfu_server s;
	int pvt = 42;
	(void)state;
	compat_path(&s);
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, s.path, 0, &pvt, VFU_DEV_TYPE_PCI);
	assert_non_null(ctx);
	assert_ptr_equal(vfu_get_private(ctx), &pvt);
	/* bad levels */
	assert_int_equal(vfu_setup_log(ctx, counting_log, LOG_DEBUG + 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_log(ctx, counting_log, -1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_log(ctx, counting_log, LOG_ERR), 0);
	g_logs = 0;
	vfu_log(ctx, LOG_ERR, "one %d", 1);
	vfu_log(ctx, LOG_DEBUG, "filtered");
	assert_int_equal(g_logs, 1);
	/* errno survives logging */
	errno = EXDEV;
	vfu_log(ctx, LOG_ERR, "x");
	assert_int_equal(errno, EXDEV);
	/* attach and run need realize */
	assert_int_equal(vfu_attach_ctx(ctx), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_run_ctx(ctx), -1);
	assert_int_equal(errno, EINVAL);
	/* a PCI device without ids is refused at realize, with a log line */
	g_logs = 0;
	assert_int_equal(vfu_realize_ctx(ctx), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(g_logs >= 1);
	vfu_pci_set_id(ctx, 0x4e58, 2, 0, 0);
	assert_int_equal(vfu_realize_ctx(ctx), 0);
	assert_int_equal(vfu_realize_ctx(ctx), 0); /* again: nothing */
	assert_true(vfu_get_poll_fd(ctx) >= 0);
	s.ctx = ctx;
	compat_stop(&s);
}

/* Raw messages and a non-blocking context, all on this thread, as
 * libvfio-user's own tests drive it. */
static void nonblocking_attach_and_run_count_requests(void **state)
{
	struct vfu_server s;
	uint8_t buf[512];
	size_t len;
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	/* nobody there yet */
	assert_int_equal(vfu_attach_ctx(s.ctx), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vfu_run_ctx(s.ctx), -1);
	assert_int_equal(errno, ENOTCONN);

	int sock = compat_raw_connect(s.path);
	len = compat_version_payload(buf, sizeof(buf));
	compat_raw_send(sock, 1, VFIO_USER_VERSION, buf, len);
	int tries = 0;
	while (vfu_attach_ctx(s.ctx) < 0) {
		assert_int_equal(errno, EAGAIN);
		assert_true(++tries < 1000);
		usleep(1000);
	}
	assert_int_equal(compat_raw_reply(sock, 1, buf, sizeof(buf), &len), 0);
	/* attach again once attached: nothing to do */
	assert_int_equal(vfu_attach_ctx(s.ctx), 0);

	/* nothing pending: 0 requests */
	assert_int_equal(vfu_run_ctx(s.ctx), 0);
	/* three requests queued: handled by one call (libvfio-user takes one
	 * per call; the count is what was handled) */
	struct vfio_user_region_access ra = {.offset = 0, .region = 0, .count = 4};
	for (uint16_t id = 2; id <= 4; id++)
		compat_raw_send(sock, id, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	int handled = 0;
	for (tries = 0; handled < 3 && tries < 1000; tries++) {
		int n = vfu_run_ctx(s.ctx);
		assert_true(n >= 0);
		handled += n;
	}
	assert_int_equal(handled, 3);
	for (uint16_t id = 2; id <= 4; id++) {
		assert_int_equal(compat_raw_reply(sock, id, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, sizeof(ra) + 4);
	}
	/* a bad region: an error reply, the request still counts */
	ra.region = 5;
	compat_raw_send(sock, 5, VFIO_USER_REGION_READ, &ra, sizeof(ra));
	handled = 0;
	for (tries = 0; handled < 1 && tries < 1000; tries++)
		handled += vfu_run_ctx(s.ctx);
	assert_int_equal(compat_raw_reply(sock, 5, buf, sizeof(buf), &len), EINVAL);

	/* the client leaves: ENOTCONN once, after the LOST_CONN reset */
	compat_events_clear();
	close(sock);
	int ret;
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, ENOTCONN);
	char ev[256];
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "reset(1)");
	assert_int_equal(vfu_attach_ctx(s.ctx), -1);
	assert_int_equal(errno, EAGAIN);

	/* the next client is served */
	sock = compat_raw_connect(s.path);
	len = compat_version_payload(buf, sizeof(buf));
	compat_raw_send(sock, 9, VFIO_USER_VERSION, buf, len);
	for (tries = 0; vfu_attach_ctx(s.ctx) < 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(compat_raw_reply(sock, 9, buf, sizeof(buf), &len), 0);
	close(sock);
	compat_stop(&s);
}

/* A malformed message drops the client (uvf logs why); a message
 * claiming more than the negotiated size is refused without being run. */
static void malformed_messages_drop_the_client(void **state)
{
	struct vfu_server s;
	uint8_t buf[512];
	size_t len;
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	int sock = compat_raw_connect(s.path);
	len = compat_version_payload(buf, sizeof(buf));
	compat_raw_send(sock, 1, VFIO_USER_VERSION, buf, len);
	int tries;
	for (tries = 0; vfu_attach_ctx(s.ctx) < 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(compat_raw_reply(sock, 1, buf, sizeof(buf), &len), 0);
	/* a header claiming 4 GiB - 1 */
	struct vfio_user_header h = {.msg_id = 2, .cmd = VFIO_USER_REGION_WRITE, .msg_size = 0xffffffffu};
	assert_int_equal(send(sock, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	int ret;
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) >= 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, ENOTCONN);
	close(sock);
	compat_stop(&s);
}

struct blocking_run {
	vfu_ctx_t *ctx;
	int attach_ret, run_ret, run_errno;
};

static void *blocking_thread(void *arg)
{
	struct blocking_run *b = arg;
	b->attach_ret = vfu_attach_ctx(b->ctx);
	b->run_ret = vfu_run_ctx(b->ctx);
	b->run_errno = errno;
	return NULL;
}

/* A blocking context: attach waits for the client, run serves until it
 * leaves and then says ENOTCONN. */
static void blocking_run_serves_until_the_client_leaves(void **state)
{
	struct vfu_server s;
	struct blocking_run b = {0};
	pthread_t thr;
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, 0, NULL);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	b.ctx = s.ctx;
	assert_int_equal(pthread_create(&thr, NULL, blocking_thread, &b), 0);

	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, s.path, &opts), 0);
	uint32_t v = 0x5a5a5a5a, r = 0;
	assert_int_equal(uvf_client_region_write(c, 0, 8, &v, 4), 0);
	assert_int_equal(uvf_client_region_read(c, 0, 8, &r, 4), 0);
	assert_int_equal(r, v);
	uint16_t vid = 0;
	assert_int_equal(uvf_client_config_read16(c, 0, &vid), 0);
	assert_int_equal(vid, 0x4e58);
	uvf_client_close(c);
	pthread_join(thr, NULL);
	assert_int_equal(b.attach_ret, 0);
	assert_int_equal(b.run_ret, -1);
	assert_int_equal(b.run_errno, ENOTCONN);
	compat_stop(&s);
}

/* destroy resets the device (LOST_CONN) whether or not a client is there */
static void destroy_resets_the_device(void **state)
{
	struct vfu_server s;
	char ev[128];
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL);
	compat_events_clear();
	compat_stop(&s); /* never realized */
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "reset(1)");

	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, s.path, &opts), 0);
	compat_events_clear();
	compat_stop(&s);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "reset(1)");
	uvf_client_close(c);
}

static int g_busy_quiesce;
static int busy_quiesce(vfu_ctx_t *ctx)
{
	(void)ctx;
	compat_event("quiesce");
	if (g_busy_quiesce) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

/* libvfio-user's asynchronous quiesce on one thread: the quiesce callback
 * says EBUSY, vfu_run_ctx() says EBUSY (the request held, no reply),
 * vfu_device_quiesced() runs it and sends its reply; an errno given to
 * vfu_device_quiesced() fails the request with it. */
static void ebusy_quiesce_holds_the_request_until_quiesced(void **state)
{
	struct vfu_server s;
	uint8_t buf[512];
	size_t len;
	char ev[128];
	int tries;
	(void)state;
	compat_path(&s);
	s.ctx = small_device(s.path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL);
	vfu_setup_device_quiesce_cb(s.ctx, busy_quiesce);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	int sock = compat_raw_connect(s.path);
	len = compat_version_payload(buf, sizeof(buf));
	compat_raw_send(sock, 1, VFIO_USER_VERSION, buf, len);
	for (tries = 0; vfu_attach_ctx(s.ctx) < 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(compat_raw_reply(sock, 1, buf, sizeof(buf), &len), 0);

	g_busy_quiesce = 1;
	compat_events_clear();
	compat_raw_send(sock, 2, VFIO_USER_DEVICE_RESET, NULL, 0);
	int ret;
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(vfu_run_ctx(s.ctx), -1);
	assert_int_equal(errno, EBUSY);
	struct pollfd p = {.fd = sock, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 50), 0); /* no reply yet */
	/* the request runs inside vfu_device_quiesced(): its reply is
	 * there when it returns */
	assert_int_equal(vfu_device_quiesced(s.ctx, 0), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce reset(0)");
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(compat_raw_reply(sock, 2, buf, sizeof(buf), &len), 0);
	assert_int_equal(vfu_device_quiesced(s.ctx, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_run_ctx(s.ctx), 0);

	/* the device fails to quiesce: the request fails, no reset */
	compat_events_clear();
	compat_raw_send(sock, 3, VFIO_USER_DEVICE_RESET, NULL, 0);
	for (tries = 0; (ret = vfu_run_ctx(s.ctx)) == 0 && tries < 1000; tries++)
		usleep(1000);
	assert_int_equal(ret, -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(vfu_device_quiesced(s.ctx, EIO), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(compat_raw_reply(sock, 3, buf, sizeof(buf), &len), EIO);
	assert_int_equal(vfu_run_ctx(s.ctx), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce");
	g_busy_quiesce = 0;
	close(sock);
	compat_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_refuses_what_libvfio_user_refuses),
		cmocka_unit_test(private_data_log_and_order_of_calls),
		cmocka_unit_test(nonblocking_attach_and_run_count_requests),
		cmocka_unit_test(malformed_messages_drop_the_client),
		cmocka_unit_test(blocking_run_serves_until_the_client_leaves),
		cmocka_unit_test(destroy_resets_the_device),
		cmocka_unit_test(ebusy_quiesce_holds_the_request_until_quiesced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
