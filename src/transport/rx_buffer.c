/* SPDX-License-Identifier: MIT */
/* Receive buffer: received bytes framed into messages, and the rule that
 * gives the fds of a read to their message (see transport.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* Fds                                                                  */
/* ------------------------------------------------------------------ */

/* Keep fd in fds[*nfds] if there is room, else close it and say so. */
static void keep_fd(int fd, int *fds, size_t *nfds, bool *fds_overflow)
{
	if (fds && *nfds < UVF_TRANSPORT_MAX_FDS) {
		fds[(*nfds)++] = fd;
		return;
	}
	close(fd);
	if (fds_overflow)
		*fds_overflow = true;
}

/* Keep the fds of every SCM_RIGHTS block of msg; flag the kernel's
 * MSG_CTRUNC (it dropped, and closed, fds that did not fit). */
static void collect_fds(struct msghdr *msg, int *fds, size_t *nfds, bool *fds_overflow)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			keep_fd(fd, fds, nfds, fds_overflow);
		}
	}
	if ((msg->msg_flags & MSG_CTRUNC) && fds_overflow)
		*fds_overflow = true;
}

/* One recvmsg, retried on EINTR unless the caller wants to see it (a
 * blocking wait that a signal must be able to cut short). The nskip
 * iovecs of skip first take bytes the caller has had already. */
static ssize_t recvmsg_fds(int sock, const struct iovec *skip, size_t nskip, void *buf, size_t len, int flags,
			   bool retry_eintr, int *fds, size_t *nfds, bool *fds_overflow)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * UVF_TRANSPORT_MAX_FDS)];
	} ctl;
	struct iovec iov[UVF_RX_SKIP_IOV + 1];
	struct msghdr msg = {
		.msg_iov = iov,
		.msg_iovlen = nskip + 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	if (nskip)
		memcpy(iov, skip, nskip * sizeof(*skip));
	iov[nskip] = (struct iovec){.iov_base = buf, .iov_len = len};
	do {
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR && retry_eintr);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	collect_fds(&msg, fds, nfds, fds_overflow);
	return n == 0 ? -ECONNRESET : n;
}

ssize_t uvf__rx_recvmsg(int sock, void *buf, size_t len, int flags, int *fds, size_t *nfds, bool *fds_overflow)
{
	return recvmsg_fds(sock, NULL, 0, buf, len, flags, true, fds, nfds, fds_overflow);
}

/* Hand the waiting fds over (fds NULL: close them). */
static void hand_fds(struct uvf_rx_buffer *b, int *fds, size_t *nfds, bool *fds_overflow)
{
	for (size_t i = 0; i < b->nfds; i++) {
		if (b->fds[i] >= 0)
			keep_fd(b->fds[i], fds, nfds, fds_overflow);
		b->fds[i] = -1;
	}
	if (b->fds_overflow && fds_overflow)
		*fds_overflow = true;
	b->nfds = 0;
	b->fds_overflow = false;
	b->has_fds = false;
}

/* Move the waiting fds of src to dst (which has none), where they belong to
 * byte fds_end - 1. */
static void move_fds(struct uvf_rx_buffer *dst, struct uvf_rx_buffer *src, size_t fds_end)
{
	memcpy(dst->fds, src->fds, src->nfds * sizeof(src->fds[0]));
	dst->nfds = src->nfds;
	dst->fds_overflow = src->fds_overflow;
	dst->fds_end = fds_end;
	dst->has_fds = true;
	src->nfds = 0;
	src->fds_overflow = false;
	src->has_fds = false;
}

/* ------------------------------------------------------------------ */
/* Storage                                                              */
/* ------------------------------------------------------------------ */

void uvf__rx_buffer_init_fixed(struct uvf_rx_buffer *b, void *storage, size_t size)
{
	memset(b, 0, sizeof(*b));
	b->data = storage;
	b->cap = size;
	b->fixed = true;
}

/* Room for need bytes from b->start: unread bytes move to the front first,
 * then a growable buffer grows. 0, -ENOMEM or -ENOBUFS. */
static int reserve(struct uvf_rx_buffer *b, size_t need)
{
	if (b->start > 0 && b->cap - b->start < need) {
		if (b->end > b->start)
			memmove(b->data, b->data + b->start, b->end - b->start);
		if (b->has_fds)
			b->fds_end -= b->start;
		b->end -= b->start;
		b->start = 0;
	}
	if (b->cap - b->start < need) {
		uint8_t *grown;

		if (b->fixed)
			return -ENOBUFS;
		grown = realloc(b->data, b->start + need);
		if (grown == NULL)
			return -ENOMEM;
		b->data = grown;
		b->cap = b->start + need;
	}
	return 0;
}

void uvf__rx_buffer_reset(struct uvf_rx_buffer *b)
{
	hand_fds(b, NULL, NULL, NULL);
	b->start = b->end = 0;
	b->peeked = b->answered = 0;
	b->answered_peeks = 0;
	b->peek_off = 0; /* the next socket has its own */
	b->slept = false;
}

void uvf__rx_buffer_destroy(struct uvf_rx_buffer *b)
{
	uvf__rx_buffer_reset(b);
	if (!b->fixed) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* Where the message owning the waiting fds ends (at least where its header
 * does), walking the messages from b->start. */
static size_t fds_owner_end(const struct uvf_rx_buffer *b)
{
	size_t pos = b->start;

	for (;;) {
		uint32_t size;

		if (b->end - pos < UVF_MSG_HEADER_SIZE)
			return pos + UVF_MSG_HEADER_SIZE;
		memcpy(&size, b->data + pos + 4, sizeof(size));
		if (size < UVF_MSG_HEADER_SIZE)
			size = UVF_MSG_HEADER_SIZE; /* framing is broken: next() says so */
		if (b->fds_end - pos <= size)
			return size > SIZE_MAX - pos ? SIZE_MAX : pos + size;
		pos += size;
	}
}

/* The iovecs that take the bytes on the socket the buffer has had already
 * (the answered, then the peeked): the answered over the storage as over
 * a scratch (the bytes of later iovecs are written after them); the
 * peeked where they lie when keep (live bytes there get the same bytes
 * again), else over the storage too. The count, or -EPROTO with the
 * reason in *why (cannot happen: the answered bytes are taken off before
 * they grow past twice the buffer). */
static int skip_iov(const struct uvf_rx_buffer *b, bool keep, struct iovec *iov, struct uvf_why *why)
{
	size_t scratch = b->answered + (keep ? 0 : b->peeked);
	int n = 0;

	while (scratch) {
		size_t len = scratch < b->cap ? scratch : b->cap;

		if (len == 0 || n == (int)UVF_RX_SKIP_IOV - 1)
			return uvf__why(why, -EPROTO, "%zu bytes to take off the socket do not fit the read-ahead",
					b->answered + b->peeked);
		iov[n++] = (struct iovec){.iov_base = b->data, .iov_len = len};
		scratch -= len;
	}
	if (keep && b->peeked)
		iov[n++] = (struct iovec){.iov_base = b->data + b->peek_at, .iov_len = b->peeked};
	return n;
}

static void forget_skipped(struct uvf_rx_buffer *b)
{
	b->peeked = b->answered = 0;
	b->answered_peeks = 0;
}

/* Take the answered and peeked bytes off the socket, nothing more. */
static ssize_t take_peeked(struct uvf_rx_buffer *b, int sock, struct uvf_why *why)
{
	struct iovec iov[UVF_RX_SKIP_IOV];
	struct msghdr msg = {.msg_iov = iov};
	size_t total = b->answered + b->peeked;
	int niov;
	ssize_t n;

	if (!total)
		return 0;
	niov = skip_iov(b, true, iov, why);
	forget_skipped(b);
	if (niov < 0)
		return niov;
	msg.msg_iovlen = (size_t)niov;
	do {
		n = recvmsg(sock, &msg, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return uvf__why(why, -errno, "recvmsg: %s", strerror(errno));
	if ((size_t)n != total)
		return uvf__why(why, -EPROTO, "the socket gave %zd of the %zu bytes it showed", n, total);
	return 0;
}

int uvf__rx_buffer_settle(struct uvf_rx_buffer *b, int sock, struct uvf_why *why)
{
	return (int)take_peeked(b, sock, why);
}

static ssize_t buffer_recv(struct uvf_rx_buffer *b, int sock, int flags, bool retry_eintr, struct uvf_why *why)
{
	size_t used = b->end - b->start;
	int fds[UVF_TRANSPORT_MAX_FDS];
	struct iovec skip_at[UVF_RX_SKIP_IOV];
	size_t nfds = 0;
	bool overflow = false;
	size_t len, skip = 0;
	int nskip = 0;
	ssize_t n;

	if (b->peeked || b->answered) {
		/* Bytes had before, all taken from the buffer by now: one
		 * recvmsg takes them off the socket and reads what came after
		 * them. Else they go on their own first. */
		if (used == 0 && !b->has_fds) {
			skip = b->answered + b->peeked;
			b->start = b->end = 0;
		} else if ((n = take_peeked(b, sock, why)) < 0) {
			return n;
		}
	}

	if (!b->fixed && (b->cap == 0 || b->end == b->cap || b->cap - b->start < UVF_MSG_HEADER_SIZE)) {
		size_t need = used + UVF_MSG_HEADER_SIZE;

		if (reserve(b, need > UVF_RX_BUFFER_FIRST_CAP ? need : UVF_RX_BUFFER_FIRST_CAP))
			return uvf__why(why, -ENOMEM, "no memory for receiving");
	}
	if (b->end == b->cap && b->start > 0)
		(void)reserve(b, b->cap); /* fixed: move the unread bytes to the front */
	if (b->end == b->cap)
		return uvf__why(why, -ENOBUFS, "receive buffer full");
	len = b->cap - b->end;
	if (b->has_fds) {
		size_t upto = fds_owner_end(b);

		if (upto > b->end && upto - b->end < len)
			len = upto - b->end;
	}
	if (skip) {
		nskip = skip_iov(b, false, skip_at, why);
		forget_skipped(b);
		if (nskip < 0)
			return nskip;
	}
	n = recvmsg_fds(sock, skip_at, (size_t)nskip, b->data + b->end, len, flags, retry_eintr, fds, &nfds,
			&overflow);
	if (skip && n >= 0 && (size_t)n < skip) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return uvf__why(why, -EPROTO, "the socket gave %zd of the %zu bytes it showed", n, skip);
	}
	if (skip && n == (ssize_t)skip)
		return -EAGAIN; /* nothing after them yet */
	if (skip && n > 0)
		n -= (ssize_t)skip;
	if (skip && (n == -EAGAIN || n == -EINTR)) {
		b->answered = skip; /* still there */
		return n;
	}
	if (n == -EAGAIN || n == -EINTR)
		return n;
	if (n == -ECONNRESET) {
		if (used == 0)
			return uvf__why(why, -ECONNRESET, "connection closed by the peer");
		return uvf__why(why, -ECONNRESET, "connection closed by the peer in the middle of a message");
	}
	if (n < 0) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return uvf__why(why, (int)n, "recvmsg: %s", strerror((int)-n));
	}
	b->end += (size_t)n;
	if (nfds == 0 && !overflow)
		return n;
	if (b->has_fds) {
		/* Cannot happen: reads stop at the end of the message owning
		 * the waiting fds. Refuse the newcomers, flag the message. */
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		b->fds_overflow = true;
		return n;
	}
	memcpy(b->fds, fds, nfds * sizeof(fds[0]));
	b->nfds = nfds;
	b->fds_overflow = overflow;
	b->fds_end = b->end;
	b->has_fds = true;
	return n;
}

ssize_t uvf__rx_buffer_recv(struct uvf_rx_buffer *b, int sock, int flags, struct uvf_why *why)
{
	return buffer_recv(b, sock, flags, true, why);
}

/* Turn the socket's peek offset on, before the first peek (nothing is
 * peeked or answered yet: those need a peek). */
static void try_peek_offset(struct uvf_rx_buffer *b, int sock)
{
	int zero = 0;

	b->peek_off = setsockopt(sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0 ? 1 : -1;
}

/* Wait in a peek for what came after the answered bytes, and note
 * whether the wait slept. The bytes peeked, or -errno. */
static ssize_t peek_new(struct uvf_rx_buffer *b, int sock, struct msghdr *msg)
{
	uint64_t begin = uvf__now_ns();
	ssize_t n = recvmsg(sock, msg, MSG_PEEK);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno; /* SO_RCVTIMEO, or a signal: -EINTR */
	b->slept = uvf__now_ns() - begin >= UVF_RX_SLEPT_NS;
	return n;
}

ssize_t uvf__rx_buffer_peek_wait(struct uvf_rx_buffer *b, int sock, struct uvf_why *why)
{
	struct iovec iov;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t answered_max = b->cap < UVF_RX_ANSWERED_BYTES ? b->cap : UVF_RX_ANSWERED_BYTES;
	ssize_t n;

	if (b->start != b->end || b->has_fds)
		return uvf__why(why, -EINVAL, "peek into a buffer that is not empty");
	if (b->peek_off == 0)
		try_peek_offset(b, sock);
	if (b->peeked && b->peek_off < 0) {
		/* the last peek's bytes off, and what came after them */
		n = buffer_recv(b, sock, MSG_DONTWAIT, true, why);
		if (n != -EAGAIN)
			return n;
	}
	if (b->peeked) {
		b->answered += b->peeked;
		b->peeked = 0;
		b->answered_peeks++;
	}
	/* Right after a reply: the client is awake. After a wait that slept
	 * (a client on another CPU) at once, which costs what taking the
	 * request off before the wait did; else every few waits (a client on
	 * this CPU has sent its next request by now, and is asleep again: a
	 * taking off would wake it for nothing). */
	if ((b->answered >= answered_max || b->answered_peeks >= UVF_RX_ANSWERED_PEEKS ||
	     (b->slept && b->answered)) &&
	    (n = take_peeked(b, sock, why)) < 0)
		return n;
	b->start = b->end = 0;
	iov = (struct iovec){b->data, b->cap};
	/* no control buffer: fds would be duplicated by a peek, and are
	 * dropped instead (MSG_CTRUNC) */
	n = peek_new(b, sock, &msg);
	if (n == -EINTR || n == -EAGAIN)
		return n;
	if (n < 0)
		return uvf__why(why, (int)n, "waiting for a message: %s", strerror((int)-n));
	if (n == 0)
		return uvf__why(why, -ECONNRESET, "connection closed by the peer");
	if (msg.msg_flags & MSG_CTRUNC) {
		/* fds came with these bytes: take them for real, fds and all,
		 * after the answered bytes */
		ssize_t got = buffer_recv(b, sock, MSG_DONTWAIT, true, why);
		int zero = 0;

		/* that read began at the head of the socket: the peek offset
		 * is 0 if it took all the peek saw; make sure of it */
		if (got >= 0 && got < n && b->peek_off > 0 &&
		    setsockopt(sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
			return uvf__why(why, -errno, "SO_PEEK_OFF: %s", strerror(errno));
		return got;
	}
	b->end = (size_t)n;
	b->peek_at = 0;
	b->peeked = (size_t)n;
	return n;
}

int uvf__rx_buffer_next(struct uvf_rx_buffer *b, uint32_t max_msg_size, struct uvf_msg_header *hdr, struct uvf_why *why)
{
	size_t avail = b->end - b->start;
	int rc;

	if (avail < UVF_MSG_HEADER_SIZE)
		return 0;
	memcpy(hdr, b->data + b->start, sizeof(*hdr));
	rc = uvf__msg_check_header(hdr, max_msg_size, why);
	if (rc)
		return rc;
	if (avail >= hdr->msg_size)
		return 1;
	rc = reserve(b, hdr->msg_size);
	if (rc == -ENOBUFS)
		return uvf__why(why, rc, "a %u-byte message does not fit the %zu-byte buffer", (unsigned)hdr->msg_size,
				b->cap);
	if (rc)
		return uvf__why(why, rc, "no memory for a %u-byte message", (unsigned)hdr->msg_size);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Taking messages out                                                  */
/* ------------------------------------------------------------------ */

bool uvf__rx_buffer_owns_fds(const struct uvf_rx_buffer *b, size_t len)
{
	return b->has_fds && b->fds_end > b->start && b->fds_end - b->start <= len;
}

size_t uvf__rx_buffer_take(struct uvf_rx_buffer *b, void *dst, size_t len, int *fds, size_t *nfds, bool *fds_overflow)
{
	size_t n = b->end - b->start;
	bool owner;

	if (n > len)
		n = len;
	/* dst may be NULL for an empty body never allocated: memcpy must
	 * not be given it, even for 0 bytes */
	if (n && dst)
		memcpy(dst, b->data + b->start, n);
	owner = uvf__rx_buffer_owns_fds(b, n);
	b->start += n;
	if (owner)
		hand_fds(b, fds, nfds, fds_overflow);
	if (b->start == b->end && !b->has_fds)
		b->start = b->end = 0;
	return n;
}

void uvf__rx_buffer_consume(struct uvf_rx_buffer *b, size_t len)
{
	uvf__rx_buffer_take(b, NULL, len, NULL, NULL, NULL);
}

/* Make out an empty growable buffer with room for len bytes. */
static int prepare_out(struct uvf_rx_buffer *out, size_t len)
{
	uvf__rx_buffer_reset(out);
	out->fixed = false;
	return len ? reserve(out, len) : 0;
}

int uvf__rx_buffer_copy_front(struct uvf_rx_buffer *b, size_t len, struct uvf_rx_buffer *out)
{
	if (len > b->end - b->start)
		return -EINVAL;
	if (prepare_out(out, len))
		return -ENOMEM;
	memcpy(out->data, b->data + b->start, len);
	out->end = len;
	if (uvf__rx_buffer_owns_fds(b, len))
		move_fds(out, b, b->fds_end - b->start);
	uvf__rx_buffer_consume(b, len);
	return 0;
}

int uvf__rx_buffer_split(struct uvf_rx_buffer *b, size_t len, struct uvf_rx_buffer *rest)
{
	size_t tail;

	if (b->start != 0 || len > b->end)
		return -EINVAL;
	tail = b->end - len;
	if (prepare_out(rest, tail))
		return -ENOMEM;
	if (tail)
		memcpy(rest->data, b->data + len, tail);
	rest->end = tail;
	if (b->has_fds && !uvf__rx_buffer_owns_fds(b, len))
		move_fds(rest, b, b->fds_end - len);
	b->end = len;
	return 0;
}
