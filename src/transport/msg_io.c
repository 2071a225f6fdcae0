/* SPDX-License-Identifier: MIT */
/* Framed vfio-user messages over a stream socket: sending with fds and
 * incremental, bounded reception. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport/transport.h"
#include "util.h"

#define SEND_MAX_IOV 8

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

union fd_control {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * UVF_TRANSPORT_MAX_SEND_FDS)];
};

static void attach_fds(struct msghdr *msg, union fd_control *ctl, const int *fds, size_t nfds)
{
	struct cmsghdr *cmsg;

	if (nfds == 0)
		return;
	memset(ctl, 0, sizeof(*ctl));
	msg->msg_control = ctl->buf;
	msg->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cmsg = CMSG_FIRSTHDR(msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
}

/* Drop the first n sent bytes from the iovec array. */
static void advance_iov(struct msghdr *msg, size_t n)
{
	while (n > 0 && msg->msg_iovlen > 0) {
		struct iovec *v = msg->msg_iov;

		if (n < v->iov_len) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		msg->msg_iov++;
		msg->msg_iovlen--;
	}
}

/* Wait until sock can take more bytes: 0, -ETIMEDOUT or -errno. */
static int wait_writable(int sock, int timeout_ms)
{
	struct pollfd pfd = {.fd = sock, .events = POLLOUT};
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int uvf__msg_sendv(int sock, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds, int timeout_ms)
{
	struct iovec local[SEND_MAX_IOV];
	union fd_control ctl;
	struct msghdr msg = {0};
	size_t left = 0;

	if (iovcnt < 1 || iovcnt > SEND_MAX_IOV || nfds > UVF_TRANSPORT_MAX_SEND_FDS || (nfds > 0 && !fds))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - left)
			return -EINVAL;
		left += iov[i].iov_len;
		local[i] = iov[i];
	}
	if (left == 0)
		return -EINVAL; /* fds need at least one byte to travel with */
	msg.msg_iov = local;
	msg.msg_iovlen = (size_t)iovcnt;
	attach_fds(&msg, &ctl, fds, nfds);

	while (left > 0) {
		/* MSG_DONTWAIT: a socket whose receives block (see
		 * uvf__sock_block_receive) still sends without blocking */
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			int err = errno == EWOULDBLOCK ? -EAGAIN : -errno;

			if (err == -EINTR)
				continue;
			if (err != -EAGAIN)
				return err;
			err = wait_writable(sock, timeout_ms);
			if (err)
				return err;
			continue;
		}
		/* The fds went with the first accepted byte: never again. */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		left -= (size_t)n;
		advance_iov(&msg, (size_t)n);
	}
	return 0;
}

int uvf__msg_send(int sock, const struct uvf_msg_header *hdr, const void *payload, size_t len, const int *fds,
		  size_t nfds, int timeout_ms)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)hdr, .iov_len = sizeof(*hdr)},
		{.iov_base = (void *)payload, .iov_len = len},
	};

	if (len > 0 && !payload)
		return -EINVAL;
	return uvf__msg_sendv(sock, iov, len > 0 ? 2 : 1, fds, nfds, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* Receiving                                                            */
/* ------------------------------------------------------------------ */

void uvf__rx_init(struct uvf_rx *rx, uint32_t max_msg_size)
{
	memset(rx, 0, sizeof(*rx));
	rx->max_msg_size = max_msg_size;
	for (size_t i = 0; i < UVF_TRANSPORT_MAX_FDS; i++)
		rx->fds[i] = -1;
}

static void close_untaken_fds(struct uvf_rx *rx)
{
	for (size_t i = 0; i < rx->nfds; i++) {
		if (rx->fds[i] >= 0)
			close(rx->fds[i]);
		rx->fds[i] = -1;
	}
	rx->nfds = 0;
}

void uvf__rx_release(struct uvf_rx *rx)
{
	close_untaken_fds(rx);
	rx->hdr_got = 0;
	rx->body_got = 0;
	rx->fds_overflow = false;
	rx->complete = false;
}

void uvf__rx_destroy(struct uvf_rx *rx)
{
	uvf__rx_release(rx);
	free(rx->body);
	rx->body = NULL;
	rx->body_cap = 0;
}

size_t uvf__rx_take_fds(struct uvf_rx *rx, int *out, size_t max)
{
	size_t taken = 0;

	for (size_t i = 0; i < rx->nfds && taken < max; i++) {
		if (rx->fds[i] < 0)
			continue;
		out[taken++] = rx->fds[i];
		rx->fds[i] = -1;
	}
	return taken;
}

/* One recvmsg of at most len bytes into buf, straight into the message
 * (never past its end): bytes read, or -errno (-EAGAIN when empty,
 * -ECONNRESET on EOF). */
static ssize_t receive_some(struct uvf_rx *rx, int sock, void *buf, size_t len)
{
	/* peeked and answered bytes first off the socket: the read-ahead
	 * had them */
	if (rx->ahead && (rx->ahead->buf.peeked || rx->ahead->buf.answered)) {
		int err = uvf__rx_buffer_settle(&rx->ahead->buf, sock, NULL);
		if (err)
			return err;
	}
	return uvf__rx_recvmsg(sock, buf, len, MSG_DONTWAIT, rx->fds, &rx->nfds, &rx->fds_overflow);
}

/* The header is complete: validate it, then make room for the body. */
static int accept_header(struct uvf_rx *rx, struct uvf_why *why)
{
	size_t body_len;
	int err;

	err = uvf__msg_check_header(&rx->hdr, rx->max_msg_size, why);
	if (err)
		return err;
	body_len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
	if (body_len > rx->body_cap) {
		uint8_t *grown = realloc(rx->body, body_len);

		if (!grown)
			return uvf__why(why, -ENOMEM, "no memory for a %zu-byte message body", body_len);
		rx->body = grown;
		rx->body_cap = body_len;
	}
	return 0;
}

static int explain_read_error(const struct uvf_rx *rx, int err, struct uvf_why *why)
{
	if (err != -ECONNRESET)
		return uvf__why(why, err, "recvmsg: %s", strerror(-err));
	if (rx->hdr_got == 0)
		return uvf__why(why, err, "connection closed by the peer");
	if (rx->hdr_got < UVF_MSG_HEADER_SIZE)
		return uvf__why(why, err, "connection closed after %zu of 16 header bytes", rx->hdr_got);
	return uvf__why(why, err, "connection closed after %zu of %zu body bytes", rx->body_got,
			(size_t)rx->hdr.msg_size - UVF_MSG_HEADER_SIZE);
}

void uvf__rx_ahead_reset(struct uvf_rx_ahead *ahead)
{
	uvf__rx_buffer_reset(&ahead->buf);
}

int uvf__rx_settle(struct uvf_rx *rx, int sock, struct uvf_why *why)
{
	return rx->ahead ? uvf__rx_buffer_settle(&rx->ahead->buf, sock, why) : 0;
}

bool uvf__rx_buffered(const struct uvf_rx *rx)
{
	return rx->ahead && rx->ahead->buf.start < rx->ahead->buf.end;
}

/* Move up to len buffered bytes into dst; the message taking the byte the
 * read-ahead's fds came with takes them. */
static size_t take_ahead(struct uvf_rx *rx, void *dst, size_t len)
{
	return uvf__rx_buffer_take(&rx->ahead->buf, dst, len, rx->fds, &rx->nfds, &rx->fds_overflow);
}

/* Fill the empty read-ahead with one recvmsg. */
static ssize_t read_ahead(struct uvf_rx *rx, int sock)
{
	struct uvf_rx_ahead *a = rx->ahead;

	if (a->buf.data == NULL)
		uvf__rx_buffer_init_fixed(&a->buf, a->storage, sizeof(a->storage));
	return uvf__rx_buffer_recv(&a->buf, sock, MSG_DONTWAIT, NULL);
}

int uvf__rx_read_block(struct uvf_rx *rx, int sock, struct uvf_why *why)
{
	struct uvf_rx_ahead *a = rx->ahead;

	if (!rx->complete && a && rx->hdr_got == 0 && !uvf__rx_buffered(rx)) {
		if (a->buf.data == NULL)
			uvf__rx_buffer_init_fixed(&a->buf, a->storage, sizeof(a->storage));
		/* the message peeked last time is answered by now */
		ssize_t n = uvf__rx_buffer_peek_wait(&a->buf, sock, why);
		if (n == -EAGAIN)
			return 0;
		if (n == -EINTR)
			return -EINTR; /* nothing read: the caller decides */
		if (n < 0) {
			uvf__rx_ahead_reset(a);
			uvf__rx_release(rx);
			return explain_read_error(rx, (int)n, why);
		}
	}
	return uvf__rx_read(rx, sock, why);
}

/* Read the next piece of the message, never past its end (except into
 * the read-ahead): 1 when the message is complete, 0 after progress, or
 * -errno. */
static int read_step(struct uvf_rx *rx, int sock, struct uvf_why *why)
{
	size_t body_len;
	ssize_t n;

	if (rx->ahead && rx->hdr_got < UVF_MSG_HEADER_SIZE) {
		if (!uvf__rx_buffered(rx)) {
			n = read_ahead(rx, sock);
			if (n == -EAGAIN)
				return -EAGAIN; /* the read-ahead keeps its state, the peek offset too */
			if (n < 0) {
				/* fds that came with nothing to own them */
				uvf__rx_ahead_reset(rx->ahead);
				return explain_read_error(rx, (int)n, why);
			}
		}
		rx->hdr_got += take_ahead(rx, (uint8_t *)&rx->hdr + rx->hdr_got, UVF_MSG_HEADER_SIZE - rx->hdr_got);
		if (rx->hdr_got < UVF_MSG_HEADER_SIZE)
			return 0;
		n = accept_header(rx, why);
		if (n < 0)
			return (int)n;
		body_len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
		rx->body_got += take_ahead(rx, rx->body, body_len);
		return rx->body_got == body_len ? 1 : 0;
	}
	if (uvf__rx_buffered(rx)) {
		/* a body that began in the read-ahead */
		body_len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
		rx->body_got += take_ahead(rx, rx->body + rx->body_got, body_len - rx->body_got);
		return rx->body_got == body_len ? 1 : 0;
	}
	if (rx->hdr_got < UVF_MSG_HEADER_SIZE) {
		n = receive_some(rx, sock, (uint8_t *)&rx->hdr + rx->hdr_got, UVF_MSG_HEADER_SIZE - rx->hdr_got);
		if (n < 0)
			return n == -EAGAIN ? -EAGAIN : explain_read_error(rx, (int)n, why);
		rx->hdr_got += (size_t)n;
		if (rx->hdr_got < UVF_MSG_HEADER_SIZE)
			return 0;
		n = accept_header(rx, why);
		if (n < 0)
			return (int)n;
	}
	body_len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
	if (rx->body_got < body_len) {
		n = receive_some(rx, sock, rx->body + rx->body_got, body_len - rx->body_got);
		if (n < 0)
			return n == -EAGAIN ? -EAGAIN : explain_read_error(rx, (int)n, why);
		rx->body_got += (size_t)n;
	}
	return rx->body_got == body_len ? 1 : 0;
}

int uvf__rx_read(struct uvf_rx *rx, int sock, struct uvf_why *why)
{
	int ret;

	if (rx->complete)
		return 1;
	do {
		ret = read_step(rx, sock, why);
	} while (ret == 0);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0) {
		/* The stream is unusable: drop the partial message (fds
		 * included) but keep rx->hdr for the caller's log. */
		uvf__rx_release(rx);
		return ret;
	}
	rx->complete = true;
	return 1;
}

int uvf__rx_read_wait(struct uvf_rx *rx, int sock, int timeout_ms, struct uvf_why *why)
{
	int64_t deadline = timeout_ms < 0 ? 0 : uvf__now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN};
		int ret = uvf__rx_read(rx, sock, why);
		int wait_ms = -1;

		if (ret != 0)
			return ret;
		if (timeout_ms >= 0) {
			int64_t left = deadline - uvf__now_ms();

			if (left <= 0)
				return uvf__why(why, -ETIMEDOUT, "no complete message within %d ms", timeout_ms);
			wait_ms = (int)left;
		}
		ret = poll(&pfd, 1, wait_ms);
		if (ret < 0 && errno != EINTR)
			return uvf__why(why, -errno, "poll: %s", strerror(errno));
	}
}
