/* SPDX-License-Identifier: MIT */
/*
 * Raw protocol I/O of uvf-conform: connect, send exactly the bytes and fds
 * a case built, receive and frame replies with a deadline. Nothing here
 * validates what is sent: sending malformed messages is the point.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

/* How long a send may wait for a server that does not read. */
#define SEND_TIMEOUT_MS 2000

/* Replies larger than this are reported, not buffered. */
#define RECV_MAX (64u << 20)

int64_t conform_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conn_connect(struct conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int64_t deadline = conform_now_ms() + timeout_ms;

	c->fd = -1;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			c->fd = fd;
			return 0;
		}
		int err = errno;
		close(fd);
		/* a server still starting, or not yet back to accept() */
		if ((err != ECONNREFUSED && err != ENOENT && err != EAGAIN) || conform_now_ms() >= deadline)
			return -err;
		usleep(5000);
	}
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

uint16_t conn_id(struct conn *c)
{
	return c->next_id++;
}

int conn_send_raw(struct conn *c, const void *buf, size_t len, const int *fds, int nfds)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int64_t deadline = conform_now_ms() + SEND_TIMEOUT_MS;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} control;

	if (nfds < 0 || nfds > 253)
		return -EINVAL;
	do {
		struct iovec iov = {.iov_base = (void *)(p + done), .iov_len = len - done};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (done == 0 && nfds > 0) {
			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			/* a server that stopped reading must not block the tool */
			int64_t left = deadline - conform_now_ms();
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
			if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
				return -ETIMEDOUT;
			continue;
		}
		done += (size_t)n;
	} while (done < len);
	return 0;
}

int conn_send(struct conn *c, uint16_t id, uint16_t cmd, uint32_t flags, const void *payload, size_t len,
	      const int *fds, int nfds)
{
	uint8_t *buf = malloc(sizeof(struct uvf_msg_header) + len);
	if (!buf)
		return -ENOMEM;
	struct uvf_msg_header h = {.msg_id = id, .command = cmd, .msg_size = (uint32_t)(16 + len), .flags = flags};
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	int ret = conn_send_raw(c, buf, sizeof(h) + len, fds, nfds);
	free(buf);
	return ret;
}

/* Reads exactly len bytes before the deadline, collecting fds. */
static int read_full(struct conn *c, void *buf, size_t len, int64_t deadline, struct msg *m)
{
	uint8_t *p = buf;
	size_t done = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)];
		struct cmsghdr align;
	} control;

	while (done < len) {
		int64_t left = deadline - conform_now_ms();
		if (left <= 0)
			return done ? -ETIMEDOUT : 0;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		struct iovec iov = {.iov_base = p + done, .iov_len = len - done};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.buf,
				    .msg_controllen = sizeof(control.buf)};
		ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[MSG_MAX_FDS];
			memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
			for (size_t i = 0; i < k; i++) {
				if (m && m->nfds < MSG_MAX_FDS)
					m->fds[m->nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 1;
}

/* Whatever a failed receive got so far (a payload of up to RECV_MAX bytes,
 * fds that came with the first bytes) is released here, on every error
 * path: a misbehaving server must not make the tool grow case after case. */
int conn_recv(struct conn *c, struct msg *m, int timeout_ms)
{
	int64_t deadline = conform_now_ms() + timeout_ms;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = read_full(c, &m->hdr, sizeof(m->hdr), deadline, m);
	if (ret <= 0) {
		ret = ret == -ETIMEDOUT ? -EBADMSG : ret;
		goto fail;
	}
	if (m->hdr.msg_size < sizeof(m->hdr) || m->hdr.msg_size > RECV_MAX) {
		ret = -EMSGSIZE;
		goto fail;
	}
	m->len = m->hdr.msg_size - sizeof(m->hdr);
	if (m->len) {
		m->payload = malloc(m->len);
		if (!m->payload) {
			ret = -ENOMEM;
			goto fail;
		}
		/* the rest of a message that has begun is due promptly */
		ret = read_full(c, m->payload, m->len, deadline + 1000, m);
		if (ret <= 0) {
			ret = ret == 0 || ret == -ETIMEDOUT ? -EBADMSG : ret;
			goto fail;
		}
	}
	return 1;
fail:
	msg_free(m);
	memset(m, 0, sizeof(*m));
	return ret;
}

const char *conn_error_text(int err)
{
	switch (err) {
	case -EPIPE:
		return "disconnect";
	case -ETIMEDOUT:
		return "no reply in time";
	case -EBADMSG:
		return "a message cut short (the rest did not come in time)";
	case -EMSGSIZE:
		return "a msg_size below 16 or above 64 MiB";
	case -EPROTO:
		return "not a valid reply";
	default:
		return strerror(-err);
	}
}

void msg_free(struct msg *m)
{
	free(m->payload);
	m->payload = NULL;
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

bool conn_wait_closed(struct conn *c, int timeout_ms)
{
	int64_t deadline = conform_now_ms() + timeout_ms;
	uint8_t buf[4096];

	for (;;) {
		int64_t left = deadline - conform_now_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

size_t version_payload(uint8_t *buf, size_t size, uint16_t major, uint16_t minor, const char *json, bool nul)
{
	struct uvf_msg_version v = {.major = major, .minor = minor};
	size_t n = json ? strlen(json) + (nul ? 1 : 0) : 0;
	if (size < sizeof(v) + n)
		return 0;
	memcpy(buf, &v, sizeof(v));
	if (n)
		memcpy(buf + sizeof(v), json, n);
	return sizeof(v) + n;
}

#define STANDARD_CAPS "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}"

int conn_handshake(struct conn *c, int timeout_ms, struct msg *reply)
{
	uint8_t buf[256];
	size_t n = version_payload(buf, sizeof(buf), 0, 0, STANDARD_CAPS, true);
	uint16_t id = conn_id(c);
	struct msg m;

	int ret = conn_send(c, id, UVF_CMD_VERSION, 0, buf, n, NULL, 0);
	if (ret < 0)
		return ret;
	ret = conn_recv(c, &m, timeout_ms);
	if (ret == 0)
		return -ETIMEDOUT;
	if (ret < 0)
		return ret;
	if ((m.hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_REPLY || m.hdr.msg_id != id ||
	    m.hdr.command != UVF_CMD_VERSION) {
		msg_free(&m);
		return -EPROTO;
	}
	if (m.hdr.flags & UVF_MSG_FLAG_ERROR) {
		int err = m.hdr.error ? (int)m.hdr.error : EINVAL;
		msg_free(&m);
		return -err;
	}
	if (m.len < sizeof(struct uvf_msg_version)) {
		msg_free(&m);
		return -EPROTO;
	}
	if (reply)
		*reply = m;
	else
		msg_free(&m);
	return 0;
}

const char *errno_name(int err)
{
	const char *s = strerrorname_np(err);
	return s ? s : "unknown errno";
}

const char *command_name(unsigned cmd)
{
	static const char *const names[] = {
		[1] = "VERSION",
		[2] = "DMA_MAP",
		[3] = "DMA_UNMAP",
		[4] = "DEVICE_GET_INFO",
		[5] = "DEVICE_GET_REGION_INFO",
		[6] = "DEVICE_GET_REGION_IO_FDS",
		[7] = "DEVICE_GET_IRQ_INFO",
		[8] = "DEVICE_SET_IRQS",
		[9] = "REGION_READ",
		[10] = "REGION_WRITE",
		[11] = "DMA_READ",
		[12] = "DMA_WRITE",
		[13] = "DEVICE_RESET",
		[14] = "reserved 14",
		[15] = "REGION_WRITE_MULTI",
		[16] = "DEVICE_FEATURE",
		[17] = "MIG_DATA_READ",
		[18] = "MIG_DATA_WRITE",
	};
	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "unknown command";
}

const char *outcome_name(enum outcome o)
{
	switch (o) {
	case OUT_OK:
		return "reply ok";
	case OUT_ERROR:
		return "error reply";
	case OUT_CLOSED:
		return "disconnect";
	case OUT_SILENT:
		return "no reply";
	case OUT_HANG:
		return "hang";
	case OUT_BAD_REPLY:
		return "bad reply";
	case OUT_CRASH:
		return "crash";
	case OUT_NONE:
		break;
	}
	return "nothing";
}

int make_memfd(size_t size)
{
	int fd = memfd_create("uvf-conform", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int make_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int fd_probe_open(struct fd_probe *p)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	p->read_end = fds[0];
	p->write_end = fds[1];
	return 0;
}

void fd_probe_sent(struct fd_probe *p)
{
	if (p->write_end >= 0)
		close(p->write_end);
	p->write_end = -1;
}

bool fd_probe_released(struct fd_probe *p, int timeout_ms)
{
	struct pollfd pfd = {.fd = p->read_end, .events = POLLIN};
	int64_t deadline = conform_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - conform_now_ms();
		int pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (pr > 0 && (pfd.revents & (POLLHUP | POLLIN)))
			return true;
		if (left <= 0)
			return false;
	}
}

void fd_probe_close(struct fd_probe *p)
{
	fd_probe_sent(p);
	if (p->read_end >= 0)
		close(p->read_end);
	p->read_end = -1;
}
