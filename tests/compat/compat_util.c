/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "compat_util.h"

void compat_path(struct vfu_server *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/uvf-compat-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
}

static void *serve_thread(void *arg)
{
	struct vfu_server *s = arg;
	bool attached = false;
	struct pollfd p = {.fd = vfu_get_poll_fd(s->ctx), .events = POLLIN};

	while (!atomic_load(&s->stop)) {
		poll(&p, 1, 10);
		if (!attached) {
			if (vfu_attach_ctx(s->ctx) == 0) {
				attached = true;
				atomic_fetch_add(&s->attaches, 1);
			}
			continue;
		}
		int ret = vfu_run_ctx(s->ctx);
		if (ret < 0 && errno == ENOTCONN) {
			attached = false;
			atomic_fetch_add(&s->enotconn, 1);
		}
	}
	return NULL;
}

void compat_serve(struct vfu_server *s)
{
	atomic_store(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, serve_thread, s), 0);
	s->running = true;
}

vfu_ctx_t *compat_small_device(const char *path, int flags, void *pvt, vfu_region_access_cb_t *access,
			       vfu_reset_cb_t *reset)
{
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, flags, pvt, VFU_DEV_TYPE_PCI);
	assert_non_null(ctx);
	assert_int_equal(vfu_setup_log(ctx, compat_quiet_log, LOG_DEBUG), 0);
	assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0), 0);
	vfu_pci_set_id(ctx, 0x4e58, 0x0001, 0x1af4, 0x1100);
	assert_int_equal(vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 256, access,
					  VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0),
			 0);
	assert_int_equal(vfu_setup_device_reset_cb(ctx, reset), 0);
	return ctx;
}

void compat_stop(struct vfu_server *s)
{
	if (s->running) {
		atomic_store(&s->stop, true);
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	vfu_destroy_ctx(s->ctx);
	s->ctx = NULL;
	unlink(s->path);
	rmdir(s->dir);
}

bool compat_wait(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 500; i++) {
		if (cond(arg))
			return true;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return cond(arg);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[4096];
static size_t log_len;

void compat_event(const char *fmt, ...)
{
	char one[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "%s%s", log_len ? " " : "", one);
	if (n > 0 && (size_t)n < sizeof(log_buf) - log_len)
		log_len += (size_t)n;
	pthread_mutex_unlock(&log_lock);
}

void compat_events(char *out, size_t cap)
{
	pthread_mutex_lock(&log_lock);
	snprintf(out, cap, "%s", log_buf);
	pthread_mutex_unlock(&log_lock);
}

void compat_events_clear(void)
{
	pthread_mutex_lock(&log_lock);
	log_len = 0;
	log_buf[0] = 0;
	pthread_mutex_unlock(&log_lock);
}

void compat_quiet_log(vfu_ctx_t *ctx, int level, const char *msg)
{
	(void)ctx;
	/* COMPAT_LOG=1 shows the lines while debugging a test */
	if (getenv("COMPAT_LOG"))
		fprintf(stderr, "log[%d]: %s\n", level, msg);
}

int compat_raw_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(sock, (struct sockaddr *)&a, sizeof(a)), 0);
	return sock;
}

void compat_raw_send(int sock, uint16_t id, uint16_t cmd, const void *payload, size_t len)
{
	struct vfio_user_header h = {.msg_id = id, .cmd = cmd, .msg_size = (uint32_t)(sizeof(h) + len)};
	uint8_t buf[sizeof(h) + 4096];
	assert_true(len <= 4096);
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	assert_int_equal(send(sock, buf, sizeof(h) + len, MSG_NOSIGNAL), (ssize_t)(sizeof(h) + len));
}

int compat_raw_reply(int sock, uint16_t id, void *payload, size_t cap, size_t *len)
{
	struct vfio_user_header h;
	struct pollfd p = {.fd = sock, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recv(sock, &h, sizeof(h), MSG_WAITALL), (ssize_t)sizeof(h));
	assert_int_equal(h.msg_id, id);
	assert_int_equal(h.flags.type, VFIO_USER_F_TYPE_REPLY);
	size_t n = h.msg_size - sizeof(h);
	uint8_t body[8192];
	assert_true(n <= sizeof(body));
	if (n)
		assert_int_equal(recv(sock, body, n, MSG_WAITALL), (ssize_t)n);
	if (payload)
		memcpy(payload, body, n < cap ? n : cap);
	if (len)
		*len = n;
	return h.flags.error ? (int)h.error_no : 0;
}

size_t compat_version_payload(void *buf, size_t cap)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
	struct vfio_user_version v = {.major = 0, .minor = 1};
	assert_true(cap >= sizeof(v) + sizeof(json));
	memcpy(buf, &v, sizeof(v));
	memcpy((uint8_t *)buf + sizeof(v), json, sizeof(json));
	return sizeof(v) + sizeof(json);
}
