/* SPDX-License-Identifier: MIT */
/* The misbehaving fake server of uvf-conform's own tests (hostile_server.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile_server.h"
#include "uvf/proto.h"

/* Commands larger than this are not buffered: the connection is dropped. */
#define SERVE_MAX (1u << 20)

#define FAKE_CAPS "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}"

/* Closes every fd a received control message carried. */
static void close_received_fds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* Reads up to len bytes (exactly len when exact); fds sent along are
 * closed. Returns the bytes read, 0 at end of file, <0 on error. */
static ssize_t read_bytes(int fd, void *buf, size_t len, int exact)
{
	size_t done = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 256)];
		struct cmsghdr align;
	} control;

	while (done < len) {
		struct iovec iov = {.iov_base = (uint8_t *)buf + done, .iov_len = len - done};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.buf,
				    .msg_controllen = sizeof(control)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		close_received_fds(&mh);
		if (n == 0)
			return 0;
		done += (size_t)n;
		if (!exact)
			break;
	}
	return (ssize_t)done;
}

/* Sends len bytes, the first sendmsg() carrying nfds fresh eventfds. */
static void send_with_fds(int fd, const void *buf, size_t len, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;
	int fds[4];
	size_t done = 0;

	if (nfds > 4)
		nfds = 4;
	for (int i = 0; i < nfds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	while (done < len) {
		struct iovec iov = {.iov_base = (uint8_t *)buf + done, .iov_len = len - done};
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
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the client left: nothing more to do */
		done += (size_t)n;
	}
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void reply(int fd, const struct uvf_msg_header *cmd, uint32_t error, const void *payload, size_t len)
{
	uint8_t buf[16 + 128];
	struct uvf_msg_header h = {.msg_id = cmd->msg_id,
				   .command = cmd->command,
				   .msg_size = (uint32_t)(16 + len),
				   .flags = UVF_MSG_TYPE_REPLY | (error ? UVF_MSG_FLAG_ERROR : 0),
				   .error = error};

	if (len > sizeof(buf) - 16)
		return;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + 16, payload, len);
	send_with_fds(fd, buf, 16 + len, 0);
}

/* A minimal PCI device: 256 bytes of config space and nothing else. */
static void answer(int fd, const struct uvf_msg_header *h, const uint8_t *payload, size_t len)
{
	if ((h->flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_COMMAND || (h->flags & UVF_MSG_FLAG_NO_REPLY))
		return;
	switch (h->command) {
	case UVF_CMD_VERSION: {
		uint8_t buf[sizeof(struct uvf_msg_version) + sizeof(FAKE_CAPS)];
		struct uvf_msg_version v = {0};
		memcpy(buf, &v, sizeof(v));
		memcpy(buf + sizeof(v), FAKE_CAPS, sizeof(FAKE_CAPS));
		reply(fd, h, 0, buf, sizeof(buf));
		break;
	}
	case UVF_CMD_DEVICE_GET_INFO: {
		struct uvf_msg_device_info in = {
			.argsz = sizeof(in), .flags = UVF_DEVICE_FLAG_PCI, .num_regions = 9, .num_irqs = 5};
		reply(fd, h, 0, &in, sizeof(in));
		break;
	}
	case UVF_CMD_DEVICE_GET_REGION_INFO: {
		struct uvf_msg_region_info ri = {.argsz = sizeof(ri)};
		if (len < sizeof(ri)) {
			reply(fd, h, EINVAL, NULL, 0);
			break;
		}
		memcpy(&ri.index, payload + 8, sizeof(ri.index));
		ri.argsz = sizeof(ri);
		if (ri.index == UVF_PCI_CONFIG_REGION) {
			ri.flags = UVF_REGION_FLAG_READ;
			ri.size = UVF_PCI_CONFIG_SIZE;
		}
		reply(fd, h, 0, &ri, sizeof(ri));
		break;
	}
	case UVF_CMD_DEVICE_GET_IRQ_INFO: {
		struct uvf_msg_irq_info ii = {.argsz = sizeof(ii)};
		if (len < sizeof(ii)) {
			reply(fd, h, EINVAL, NULL, 0);
			break;
		}
		memcpy(&ii.index, payload + 8, sizeof(ii.index));
		reply(fd, h, 0, &ii, sizeof(ii));
		break;
	}
	default:
		reply(fd, h, ENOTSUP, NULL, 0);
		break;
	}
}

/* Reads one whole command: 1 and the payload (free it), or 0 when the
 * connection is over (end of file, error, or a command too large). */
static int read_command(int fd, struct uvf_msg_header *h, uint8_t **payload, size_t *len)
{
	*payload = NULL;
	*len = 0;
	if (read_bytes(fd, h, sizeof(*h), 1) != (ssize_t)sizeof(*h))
		return 0;
	if (h->msg_size < sizeof(*h) || h->msg_size > SERVE_MAX)
		return 0;
	*len = h->msg_size - sizeof(*h);
	if (!*len)
		return 1;
	*payload = malloc(*len);
	if (!*payload || read_bytes(fd, *payload, *len, 1) != (ssize_t)*len) {
		free(*payload);
		*payload = NULL;
		return 0;
	}
	return 1;
}

/* Reads and drops whatever the client sends until it leaves. */
static void stall(int fd)
{
	uint8_t buf[4096];
	while (read_bytes(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void misbehave(int fd, enum hostile_kind kind)
{
	static uint8_t body[16 + 4096];
	struct uvf_msg_header h = {.msg_id = 1, .command = UVF_CMD_VERSION, .flags = UVF_MSG_TYPE_REPLY};

	switch (kind) {
	case HOSTILE_BIG_STALL:
	case HOSTILE_BIG_CLOSE:
		h.msg_size = 64u << 20;
		memcpy(body, &h, sizeof(h));
		send_with_fds(fd, body, sizeof(body), 2);
		if (kind == HOSTILE_BIG_STALL)
			stall(fd);
		break;
	case HOSTILE_FDS_TRUNCATED:
		h.msg_size = 16 + 64;
		memcpy(body, &h, sizeof(h));
		send_with_fds(fd, body, 16 + 8, 3);
		break;
	case HOSTILE_FDS_SHORT_HEADER:
		memcpy(body, &h, sizeof(h));
		send_with_fds(fd, body, 8, 2);
		break;
	case HOSTILE_FDS_OVERSIZED:
		h.msg_size = 0xffffffffu;
		memcpy(body, &h, sizeof(h));
		send_with_fds(fd, body, 16, 2);
		stall(fd);
		break;
	}
}

static void serve_connection(int fd, const struct hostile_act *act)
{
	for (unsigned answered = 0;; answered++) {
		struct uvf_msg_header h;
		uint8_t *payload;
		size_t len;

		if (act && answered >= act->after) {
			/* wait for the client's next bytes: the bad reply answers them */
			uint8_t buf[4096];
			if (read_bytes(fd, buf, sizeof(buf), 0) <= 0)
				return;
			misbehave(fd, act->kind);
			return;
		}
		if (!read_command(fd, &h, &payload, &len))
			return;
		answer(fd, &h, payload, len);
		free(payload);
	}
}

void hostile_serve(int listen_fd, const struct hostile_plan *plan)
{
	for (unsigned long n = 0;; n++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("hostile server: accept");
			return;
		}
		const struct hostile_act *act = NULL;
		if (n >= plan->valid_sessions && plan->nacts)
			act = &plan->acts[(n - plan->valid_sessions) % plan->nacts];
		serve_connection(fd, act);
		close(fd);
	}
}

int hostile_parse_act(const char *text, struct hostile_act *act)
{
	static const struct {
		const char *name;
		enum hostile_kind kind;
	} names[] = {
		{"big-stall", HOSTILE_BIG_STALL},	  {"big-close", HOSTILE_BIG_CLOSE},
		{"fds-truncated", HOSTILE_FDS_TRUNCATED}, {"fds-short-header", HOSTILE_FDS_SHORT_HEADER},
		{"fds-oversized", HOSTILE_FDS_OVERSIZED},
	};
	size_t n = strcspn(text, ":");

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) != n || strncmp(text, names[i].name, n))
			continue;
		act->kind = names[i].kind;
		act->after = 0;
		if (text[n]) {
			char *end;
			unsigned long after = strtoul(text + n + 1, &end, 10);
			if (!text[n + 1] || *end || after > 1000)
				return -EINVAL;
			act->after = (unsigned)after;
		}
		return 0;
	}
	return -EINVAL;
}
