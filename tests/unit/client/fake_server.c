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

#include "fake_server.h"

#define FS_WAIT_MS 10000

int fs_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

void fs_fail(struct fake_server *fs, const char *fmt, ...)
{
	va_list ap;

	if (fs->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fs->failure, sizeof(fs->failure), fmt, ap);
	va_end(ap);
}

struct fake_server *fs_new(void)
{
	struct fake_server *fs = calloc(1, sizeof(*fs));

	assert_non_null(fs);
	fs->fds_before = fs_count_fds();
	fs->listen_fd = -1;
	fs->conn = -1;
	fs->owned_fd = -1;
	fs->caps_json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
	fs->dev_flags = UVF_DEVICE_FLAG_PCI | UVF_DEVICE_FLAG_RESET;
	fs->num_regions = 9;
	fs->num_irqs = 5;
	for (size_t i = 0; i < sizeof(fs->region0); i++)
		fs->region0[i] = (uint8_t)(i * 7 + 3);
	fs->config[0] = 0x34;
	fs->config[1] = 0x12;
	fs->config[2] = 0x78;
	fs->config[3] = 0x56;
	return fs;
}

/* Read exactly len bytes, collecting any fds that come along. */
static int read_full(struct fake_server *fs, void *buf, size_t len, struct fs_msg *msg)
{
	size_t got = 0;

	while (got < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * FS_MAX_FDS)];
		} ctl;
		struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
		struct pollfd pfd = {.fd = fs->conn, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, FS_WAIT_MS) != 1)
			return -1;
		n = recvmsg(fs->conn, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (msg->nfds < FS_MAX_FDS)
					msg->fds[msg->nfds++] = fd;
				else
					close(fd);
			}
		}
		got += (size_t)n;
	}
	return 0;
}

int fs_recv(struct fake_server *fs, struct fs_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	if (read_full(fs, &msg->hdr, sizeof(msg->hdr), msg))
		goto eof;
	if (msg->hdr.msg_size < 16 || msg->hdr.msg_size > (64u << 20)) {
		fs_fail(fs, "client sent msg_size %u", (unsigned)msg->hdr.msg_size);
		goto eof;
	}
	msg->len = msg->hdr.msg_size - 16;
	msg->body = malloc(msg->len + 1);
	if (msg->body == NULL || read_full(fs, msg->body, msg->len, msg))
		goto eof;
	return 0;
eof:
	fs_msg_free(msg);
	return -1;
}

void fs_msg_free(struct fs_msg *msg)
{
	for (size_t i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
	free(msg->body);
	msg->body = NULL;
}

void fs_send_raw(struct fake_server *fs, const void *buf, size_t len)
{
	if (send(fs->conn, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		fs_fail(fs, "send failed: %s", strerror(errno));
}

void fs_send(struct fake_server *fs, uint16_t id, uint16_t command, uint32_t flags, uint32_t error, const void *p1,
	     size_t l1, const void *p2, size_t l2, const int *fds, size_t nfds)
{
	struct uvf_msg_header hdr = {
		.msg_id = id,
		.command = command,
		.msg_size = (uint32_t)(16 + l1 + l2),
		.flags = flags,
		.error = error,
	};
	struct iovec iov[3] = {
		{.iov_base = &hdr, .iov_len = sizeof(hdr)},
		{.iov_base = (void *)p1, .iov_len = l1},
		{.iov_base = (void *)p2, .iov_len = l2},
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FS_MAX_FDS)];
	} ctl;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
	size_t total = hdr.msg_size;
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* The socket is blocking and messages are small: one sendmsg. */
	n = sendmsg(fs->conn, &mh, MSG_NOSIGNAL);
	if (n != (ssize_t)total)
		fs_fail(fs, "sendmsg of %zu bytes returned %zd (%s)", total, n, strerror(errno));
}

void fs_reply(struct fake_server *fs, const struct fs_msg *req, const void *payload, size_t len)
{
	fs_send(fs, req->hdr.msg_id, req->hdr.command, UVF_MSG_TYPE_REPLY, 0, payload, len, NULL, 0, NULL, 0);
}

void fs_reply_error(struct fake_server *fs, const struct fs_msg *req, uint32_t err)
{
	fs_send(fs, req->hdr.msg_id, req->hdr.command, UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR, err, NULL, 0, NULL, 0,
		NULL, 0);
}

static uint8_t *region_memory(struct fake_server *fs, uint32_t region, uint64_t offset, uint32_t count)
{
	if (region == 0 && offset <= sizeof(fs->region0) && count <= sizeof(fs->region0) - offset)
		return fs->region0 + offset;
	if (region == 7 && offset <= sizeof(fs->config) && count <= sizeof(fs->config) - offset)
		return fs->config + offset;
	return NULL;
}

void fs_default(struct fake_server *fs, struct fs_msg *msg)
{
	switch (msg->hdr.command) {
	case UVF_CMD_VERSION: {
		struct uvf_msg_version v = {.major = fs->version_major, .minor = fs->version_minor};

		FS_CHECK(fs, msg->nfds == 0);
		FS_CHECK(fs, msg->len > 4 && msg->body[msg->len - 1] == '\0');
		if (msg->len > 4)
			snprintf(fs->client_json, sizeof(fs->client_json), "%s", (const char *)msg->body + 4);
		fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &v, sizeof(v), fs->caps_json,
			fs->caps_json ? strlen(fs->caps_json) + 1 : 0, NULL, 0);
		break;
	}
	case UVF_CMD_DEVICE_GET_INFO: {
		struct uvf_msg_device_info info = {16, fs->dev_flags, fs->num_regions, fs->num_irqs};

		fs_reply(fs, msg, &info, sizeof(info));
		break;
	}
	case UVF_CMD_DEVICE_GET_IRQ_INFO: {
		struct uvf_msg_irq_info info;

		FS_CHECK(fs, msg->len == 16);
		memcpy(&info, msg->body, sizeof(info));
		info.argsz = 16;
		info.flags = UVF_IRQ_INFO_EVENTFD;
		info.count = info.index == 2 ? 16 : 1;
		fs_reply(fs, msg, &info, sizeof(info));
		break;
	}
	case UVF_CMD_DEVICE_GET_REGION_INFO: {
		struct uvf_msg_region_info info;

		FS_CHECK(fs, msg->len == 32);
		memcpy(&info, msg->body, sizeof(info));
		info.argsz = 32;
		info.flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE;
		info.cap_offset = 0;
		info.size = info.index == 0 ? sizeof(fs->region0) : info.index == 7 ? sizeof(fs->config) : 0;
		info.offset = 0;
		fs_reply(fs, msg, &info, sizeof(info));
		break;
	}
	case UVF_CMD_REGION_READ:
	case UVF_CMD_REGION_WRITE: {
		struct uvf_msg_region_access acc;
		uint8_t *mem;

		FS_CHECK(fs, msg->len >= 16);
		if (msg->len < 16)
			break;
		memcpy(&acc, msg->body, sizeof(acc));
		if (fs->max_xfer_check && acc.count > fs->max_xfer_check)
			fs_fail(fs, "%s count %u above the advertised %u", msg->hdr.command == 9 ? "READ" : "WRITE",
				(unsigned)acc.count, (unsigned)fs->max_xfer_check);
		mem = region_memory(fs, acc.region, acc.offset, acc.count);
		if (mem == NULL) {
			fs_reply_error(fs, msg, EINVAL);
			break;
		}
		if (msg->hdr.command == UVF_CMD_REGION_READ) {
			FS_CHECK(fs, msg->len == 16);
			fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &acc, sizeof(acc), mem,
				acc.count, NULL, 0);
		} else {
			FS_CHECK(fs, msg->len == 16 + acc.count);
			memcpy(mem, msg->body + 16, acc.count);
			fs_reply(fs, msg, &acc, sizeof(acc));
		}
		break;
	}
	case UVF_CMD_DMA_UNMAP:
		FS_CHECK(fs, msg->len == 24);
		fs_reply(fs, msg, msg->body, 24);
		break;
	case UVF_CMD_DMA_MAP:
	case UVF_CMD_DEVICE_SET_IRQS:
	case UVF_CMD_DEVICE_RESET:
		fs_reply(fs, msg, NULL, 0);
		break;
	default:
		fs_reply_error(fs, msg, ENOSYS);
		break;
	}
}

static void record(struct fake_server *fs, const struct fs_msg *msg)
{
	struct fs_record *r;

	if (fs->nrec == FS_MAX_RECORDS)
		return;
	r = &fs->rec[fs->nrec++];
	r->hdr = msg->hdr;
	r->len = msg->len;
	r->nfds = msg->nfds;
	memcpy(r->payload, msg->body, msg->len < FS_RECORD_BYTES ? msg->len : FS_RECORD_BYTES);
}

static void *fs_thread(void *arg)
{
	struct fake_server *fs = arg;
	struct pollfd pfd = {.fd = fs->listen_fd, .events = POLLIN};

	if (poll(&pfd, 1, FS_WAIT_MS) != 1) {
		fs_fail(fs, "no client connected");
		return NULL;
	}
	fs->conn = accept4(fs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fs->conn < 0) {
		fs_fail(fs, "accept: %s", strerror(errno));
		return NULL;
	}
	if (fs->close_on_accept)
		goto out;
	for (;;) {
		struct fs_msg msg;
		enum fs_action action = FS_DEFAULT;

		if (fs_recv(fs, &msg))
			break;
		record(fs, &msg);
		if ((msg.hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_COMMAND)
			fs_fail(fs, "unexpected reply %u from the client (id %u)", (unsigned)msg.hdr.command,
				(unsigned)msg.hdr.msg_id);
		if (fs->hook)
			action = fs->hook(fs, &msg);
		if (action == FS_DEFAULT)
			fs_default(fs, &msg);
		fs_msg_free(&msg);
		if (action == FS_STOP)
			break;
	}
out:
	close(fs->conn);
	fs->conn = -1;
	return NULL;
}

void fs_start(struct fake_server *fs)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	strcpy(fs->dir, "/tmp/uvf-client-test-XXXXXX");
	assert_non_null(mkdtemp(fs->dir));
	snprintf(fs->path, sizeof(fs->path), "%s/s", fs->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fs->path);
	fs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fs->listen_fd >= 0);
	assert_int_equal(bind(fs->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fs->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&fs->thread, NULL, fs_thread, fs), 0);
	fs->started = true;
}

void fs_join(struct fake_server *fs)
{
	if (fs->started)
		pthread_join(fs->thread, NULL);
	fs->started = false;
}

void fs_stop(struct fake_server *fs)
{
	char failure[sizeof(fs->failure)];
	int fds_before = fs->fds_before;

	if (fs->started)
		pthread_join(fs->thread, NULL);
	if (fs->owned_fd >= 0)
		close(fs->owned_fd);
	if (fs->listen_fd >= 0)
		close(fs->listen_fd);
	if (fs->path[0])
		unlink(fs->path);
	if (fs->dir[0])
		rmdir(fs->dir);
	memcpy(failure, fs->failure, sizeof(failure));
	free(fs);
	if (failure[0])
		fail_msg("fake server: %s", failure);
	assert_int_equal(fs_count_fds(), fds_before);
}

size_t fs_records(const struct fake_server *fs, uint16_t command, const struct fs_record **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < fs->nrec; i++) {
		if (fs->rec[i].hdr.command != command)
			continue;
		if (n < max)
			out[n] = &fs->rec[i];
		n++;
	}
	return n;
}
