/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

int harness_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static void *serve(void *arg)
{
	struct harness *h = arg;
	h->server_ret = uvf_device_run(h->dev);
	return NULL;
}

static void quiet_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE") || level == UVF_LOG_ERROR)
		fprintf(stderr, "[server] %s\n", line);
}

void harness_prepare(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	h->fds_before = harness_count_fds();
}

void harness_start(struct harness *h, struct uvf_device *dev, const struct uvf_serve_opts *opts)
{
	strcpy(h->dir, "/tmp/uvf-test-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/dev.sock", h->dir);
	h->dev = dev;
	uvf_device_set_log(dev, quiet_log, NULL, UVF_LOG_DEBUG);
	assert_int_equal(uvf_device_listen(dev, h->path, opts), 0);
	assert_int_equal(pthread_create(&h->thread, NULL, serve, h), 0);
	h->running = true;
}

void harness_stop(struct harness *h)
{
	if (h->running) {
		uvf_device_stop(h->dev);
		pthread_join(h->thread, NULL);
		h->running = false;
		assert_int_equal(h->server_ret, 0);
	}
	uvf_device_free(h->dev);
	h->dev = NULL;
	assert_int_equal(access(h->path, F_OK), -1); /* socket file removed */
	rmdir(h->dir);
	assert_int_equal(harness_count_fds(), h->fds_before);
}

static void client_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE") || level == UVF_LOG_ERROR)
		fprintf(stderr, "[client] %s\n", line);
}

struct uvf_client *harness_connect(struct harness *h)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	opts.log = client_log;
	opts.log_level = UVF_LOG_DEBUG;
	opts.timeout_ms = 10000;
	assert_int_equal(uvf_client_connect(&c, h->path, &opts), 0);
	assert_non_null(c);
	return c;
}

int harness_raw_connect(struct harness *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	strcpy(sa.sun_path, h->path);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

static int read_full(int sock, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		ssize_t n = recv(sock, (char *)buf + got, len - got, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int harness_raw_call(int sock, uint16_t id, uint16_t command, uint32_t flags, const void *payload, size_t len,
		     void *reply, size_t reply_cap, size_t *rlen)
{
	struct uvf_msg_header hdr = {.msg_id = id, .command = command, .msg_size = (uint32_t)(16 + len),
				     .flags = flags};
	struct iovec iov[2] = {{&hdr, sizeof(hdr)}, {(void *)payload, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)(16 + len))
		return -EPIPE;
	if (flags & UVF_MSG_FLAG_NO_REPLY)
		return 0;
	struct uvf_msg_header rh;
	int ret = read_full(sock, &rh, sizeof(rh), 5000);
	if (ret < 0)
		return ret;
	assert_int_equal(rh.msg_id, id);
	assert_int_equal(rh.command, command);
	assert_true(rh.flags & UVF_MSG_TYPE_REPLY);
	size_t plen = rh.msg_size - 16;
	assert_true(plen <= reply_cap);
	if (plen) {
		ret = read_full(sock, reply, plen, 5000);
		if (ret < 0)
			return ret;
	}
	if (rlen)
		*rlen = plen;
	if (rh.flags & UVF_MSG_FLAG_ERROR)
		return -(int)rh.error;
	return 0;
}

int harness_raw_version(int sock)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
	uint8_t payload[4 + sizeof(json)];
	uint8_t reply[512];
	size_t rlen;
	struct uvf_msg_version v = {0, 0};
	memcpy(payload, &v, 4);
	memcpy(payload + 4, json, sizeof(json));
	return harness_raw_call(sock, 0, UVF_CMD_VERSION, 0, payload, sizeof(payload), reply, sizeof(reply), &rlen);
}

bool harness_raw_closed(int sock)
{
	char buf[4096];
	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			return false;
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
		/* an error reply may come first: keep reading */
	}
}

uint64_t harness_wait_eventfd(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v = 0;
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}
