/* SPDX-License-Identifier: MIT */
/* uvf/wire.h's connections: a socket and its framing receiver, over the
 * transport's socket set-up, receiver and sender. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport.h"
#include "uvf/wire.h"

struct uvf_wire {
	int sock;
	int send_timeout_ms;
	struct uvf_rx rx;
	struct uvf_rx_ahead ahead; /* one recvmsg for a small message */
	struct uvf_why why;	   /* of the receiving thread */
	struct uvf_why send_why;   /* of the sending thread */
};

_Static_assert(UVF_WIRE_MAX_FDS == UVF_TRANSPORT_MAX_FDS, "the receiver's fd bound is the public one");

static int wire_new(struct uvf_wire **out, int sock)
{
	struct uvf_wire *w = calloc(1, sizeof(*w));

	if (!w) {
		close(sock);
		return -ENOMEM;
	}
	w->sock = sock;
	w->send_timeout_ms = UVF_WIRE_DEFAULT_SEND_TIMEOUT_MS;
	uvf__rx_init(&w->rx, UVF_WIRE_DEFAULT_MAX_MSG_SIZE);
	w->rx.ahead = &w->ahead;
	*out = w;
	return 0;
}

int uvf_wire_listen(const char *path, int *out_fd)
{
	if (!path || !out_fd)
		return -EINVAL;
	return uvf__sock_listen(path, 0600, out_fd, NULL);
}

int uvf_wire_accept(struct uvf_wire **out, int listen_fd)
{
	int fd, rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = uvf__sock_accept(listen_fd, &fd);
	if (rc)
		return rc;
	return wire_new(out, fd);
}

int uvf_wire_connect(struct uvf_wire **out, const char *path)
{
	int fd, rc;

	if (!out || !path)
		return -EINVAL;
	*out = NULL;
	rc = uvf__sock_connect(path, &fd, NULL);
	if (rc)
		return rc;
	return wire_new(out, fd);
}

int uvf_wire_from_fd(struct uvf_wire **out, int fd)
{
	int type = 0, domain = 0, flags;
	socklen_t len = sizeof(type);

	if (!out) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX || type != SOCK_STREAM) {
		close(fd);
		return -ENOTSOCK;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return wire_new(out, fd);
}

void uvf_wire_close(struct uvf_wire *wire)
{
	if (!wire)
		return;
	uvf__rx_destroy(&wire->rx);
	uvf__rx_ahead_reset(&wire->ahead);
	close(wire->sock);
	free(wire);
}

int uvf_wire_fd(const struct uvf_wire *wire)
{
	return wire ? wire->sock : -EINVAL;
}

int uvf_wire_set_limits(struct uvf_wire *wire, uint32_t max_msg_size, int send_timeout_ms)
{
	if (!wire || max_msg_size < UVF_MSG_HEADER_SIZE || send_timeout_ms < -1)
		return -EINVAL;
	wire->rx.max_msg_size = max_msg_size;
	/* read by the sending thread */
	__atomic_store_n(&wire->send_timeout_ms, send_timeout_ms, __ATOMIC_RELAXED);
	return 0;
}

const char *uvf_wire_why(const struct uvf_wire *wire)
{
	return wire ? wire->why.text : "";
}

const char *uvf_wire_send_why(const struct uvf_wire *wire)
{
	return wire ? wire->send_why.text : "";
}

int uvf_wire_recv(struct uvf_wire *wire, struct uvf_wire_msg *out)
{
	int rc;

	if (!wire || !out)
		return -EINVAL;
	wire->why.text[0] = '\0';
	if (wire->rx.complete)
		uvf__rx_release(&wire->rx);
	rc = uvf__rx_read(&wire->rx, wire->sock, &wire->why);
	if (rc <= 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->hdr = wire->rx.hdr;
	out->len = wire->rx.hdr.msg_size - UVF_MSG_HEADER_SIZE;
	out->payload = out->len ? wire->rx.body : NULL;
	out->fds = wire->rx.fds;
	out->nfds = wire->rx.nfds;
	out->fds_overflow = wire->rx.fds_overflow;
	return 1;
}

size_t uvf_wire_take_fds(struct uvf_wire *wire, int *fds, size_t max)
{
	if (!wire || !fds || !wire->rx.complete)
		return 0;
	return uvf__rx_take_fds(&wire->rx, fds, max);
}

int uvf_wire_send(struct uvf_wire *wire, const struct uvf_msg_header *hdr, const void *payload, size_t len,
		  const int *fds, size_t nfds)
{
	int timeout_ms, rc;

	if (!wire || !hdr || (len && !payload) || (nfds && !fds))
		return -EINVAL;
	wire->send_why.text[0] = '\0';
	if (hdr->msg_size != UVF_MSG_HEADER_SIZE + len || len > UINT32_MAX - UVF_MSG_HEADER_SIZE)
		return uvf__why(&wire->send_why, -EINVAL, "msg_size %u does not match a %zu-byte payload",
				(unsigned)hdr->msg_size, len);
	if (nfds > UVF_TRANSPORT_MAX_SEND_FDS)
		return uvf__why(&wire->send_why, -EINVAL, "%zu fds: at most %u go with one message", nfds,
				UVF_TRANSPORT_MAX_SEND_FDS);
	timeout_ms = __atomic_load_n(&wire->send_timeout_ms, __ATOMIC_RELAXED);
	rc = uvf__msg_send(wire->sock, hdr, payload, len, fds, nfds, timeout_ms);
	if (rc == -ETIMEDOUT)
		return uvf__why(&wire->send_why, rc, "the peer took nothing for %d ms", timeout_ms);
	if (rc < 0)
		return uvf__why(&wire->send_why, rc, "sendmsg: %s", strerror(-rc));
	return 0;
}
