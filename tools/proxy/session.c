/* SPDX-License-Identifier: MIT */
/*
 * One client's session: the proxy connects to the server when a client
 * came, and forwards every message with its fds both ways, one thread per
 * direction, so that a direction waiting for its receiver to drain never
 * holds up the other (the server's DMA_READ while the client sends a large
 * write, and the reverse). The first side to leave or to break framing
 * ends the session: both sockets are shut down and the fds of messages in
 * flight closed with them.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy.h"

struct session {
	struct proxy *p;
	struct uvf_wire *wire[2]; /* by the side a message comes from: [PROXY_C2S] is the client */
	int end_fd;		  /* eventfd: readable once the session ends */
	pthread_mutex_t lock;
	bool ended;
	bool version_sent;	  /* the client's VERSION went to the server */
	/* the largest message to take from each side, set by the VERSION
	 * exchange (the other side's max_data_xfer_size), applied by the
	 * side's own thread */
	uint32_t limit[2];
};

static const char *const side_names[2] = {"client", "server"};

/* End the session once, saying why: wakes the other direction (blocked in
 * poll, or in a send to a peer that does not drain). */
static void end_session(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void end_session(struct session *s, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	uint64_t one = 1;
	bool first;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->lock);
	first = !s->ended;
	s->ended = true;
	pthread_mutex_unlock(&s->lock);
	if (!first)
		return;
	proxy_log("%s", why);
	proxy_trace_note(&s->p->trace, "session %llu ends: %s", (unsigned long long)s->p->sessions, why);
	shutdown(uvf_wire_fd(s->wire[0]), SHUT_RDWR);
	shutdown(uvf_wire_fd(s->wire[1]), SHUT_RDWR);
	if (write(s->end_fd, &one, sizeof(one)) < 0) {
		/* the shutdowns wake the other direction as well */
	}
}

/* The payload to send for a VERSION: the narrowed capabilities, or NULL
 * to send it as it came. -errno ends the session. */
static int narrow_version(struct session *s, enum proxy_dir dir, const struct uvf_wire_msg *m, void **out,
			  size_t *out_len)
{
	bool request = (m->hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_COMMAND;
	char why[200];
	uint32_t xfer;
	bool twin;
	int rc;

	if (dir == PROXY_C2S && request) {
		rc = proxy_caps_narrow_request(m->payload, m->len, out, out_len, &twin, &xfer);
		if (rc < 0)
			end_session(s, "client's VERSION: %s", strerror(-rc));
		else if (twin)
			proxy_trace_note(&s->p->trace, "VERSION: twin_socket offer removed");
		s->version_sent = true;
		__atomic_store_n(&s->limit[PROXY_S2C], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
		return rc;
	}
	if (dir == PROXY_S2C && !request && !(m->hdr.flags & UVF_MSG_FLAG_ERROR)) {
		rc = proxy_caps_narrow_reply(m->payload, m->len, m->nfds, out, out_len, &xfer, why, sizeof(why));
		if (rc < 0)
			end_session(s, "server: %s: disconnecting", why);
		else
			__atomic_store_n(&s->limit[PROXY_C2S], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
		return rc;
	}
	return 0;
}

/* Forward one message from side dir to the other side: 0, or -errno when
 * the session is over. */
static int forward(struct session *s, enum proxy_dir dir, const struct uvf_wire_msg *m)
{
	struct uvf_wire *to = s->wire[!dir];
	struct uvf_msg_header hdr = m->hdr;
	const void *payload = m->payload;
	size_t len = m->len;
	void *narrowed = NULL;
	uint64_t now = proxy_now_ns();
	int rc;

	if (m->fds_overflow) {
		end_session(s, "%s: %s id %u came with more than %u fds: disconnecting", side_names[dir],
			    uvf_wire_command_name(m->hdr.command) ? uvf_wire_command_name(m->hdr.command) : "message",
			    (unsigned)m->hdr.msg_id, UVF_WIRE_MAX_FDS);
		return -EPROTO;
	}
	proxy_trace_msg(&s->p->trace, dir, m, now);
	proxy_stats_record(&s->p->stats, dir, &m->hdr, now);
	if (m->hdr.command == UVF_CMD_VERSION) {
		size_t narrowed_len;

		rc = narrow_version(s, dir, m, &narrowed, &narrowed_len);
		if (rc < 0)
			return rc;
		if (narrowed) {
			payload = narrowed;
			len = narrowed_len;
			hdr.msg_size = (uint32_t)(UVF_MSG_HEADER_SIZE + len);
		}
	}
	rc = uvf_wire_send(to, &hdr, payload, len, m->fds, m->nfds);
	free(narrowed);
	if (rc < 0)
		end_session(s, "%s: sending %s id %u: %s", side_names[!dir],
			    uvf_wire_command_name(hdr.command) ? uvf_wire_command_name(hdr.command) : "a message",
			    (unsigned)hdr.msg_id, uvf_wire_why(to)[0] ? uvf_wire_why(to) : strerror(-rc));
	return rc;
}

struct pump_arg {
	struct session *s;
	enum proxy_dir dir;
};

/* One direction: everything side dir sends, to the other side. */
static void *pump(void *arg)
{
	struct pump_arg *a = arg;
	struct session *s = a->s;
	struct uvf_wire *from = s->wire[a->dir];
	struct pollfd pfd[3] = {
		{.fd = uvf_wire_fd(from), .events = POLLIN},
		{.fd = s->end_fd, .events = POLLIN},
		{.fd = s->p->stop_fd, .events = POLLIN},
	};

	uint32_t limit = 0;

	for (;;) {
		struct uvf_wire_msg m;
		int rc;

		for (;;) {
			uint32_t want = __atomic_load_n(&s->limit[a->dir], __ATOMIC_RELAXED);

			if (want != limit) {
				/* takes effect from the next message */
				uvf_wire_set_limits(from, want, s->p->opts.send_timeout_ms);
				limit = want;
			}
			rc = uvf_wire_recv(from, &m);
			if (rc != 1)
				break;
			if (forward(s, a->dir, &m) < 0)
				return NULL;
		}
		if (rc < 0) {
			end_session(s, "%s: %s", side_names[a->dir], uvf_wire_why(from));
			return NULL;
		}
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			end_session(s, "poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[1].revents) /* the other direction ended it */
			return NULL;
		if (pfd[2].revents) {
			end_session(s, "stopping on a signal");
			return NULL;
		}
	}
}

int proxy_session_run(struct proxy *p, struct uvf_wire *client)
{
	struct session s = {.p = p};
	struct pump_arg args[2] = {{&s, PROXY_C2S}, {&s, PROXY_S2C}};
	pthread_t threads[2];
	int rc, started = 0;

	p->sessions++;
	rc = uvf_wire_connect(&s.wire[PROXY_S2C], p->opts.server_path);
	if (rc < 0) {
		proxy_log("cannot connect to the server at %s: %s", p->opts.server_path, strerror(-rc));
		uvf_wire_close(client);
		return rc;
	}
	s.wire[PROXY_C2S] = client;
	s.end_fd = eventfd(0, EFD_CLOEXEC);
	if (s.end_fd < 0) {
		rc = -errno;
		proxy_log("eventfd: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		/* until VERSION said otherwise: the protocol's default transfer */
		s.limit[i] = PROXY_MSG_LIMIT(UVF_DEFAULT_MAX_DATA_XFER_SIZE);
		uvf_wire_set_limits(s.wire[i], s.limit[i], p->opts.send_timeout_ms);
	}
	pthread_mutex_init(&s.lock, NULL);
	proxy_stats_reset_pending(&p->stats);
	proxy_trace_note(&p->trace, "session %llu: client connected, server %s", (unsigned long long)p->sessions,
			 p->opts.server_path);
	for (; started < 2; started++) {
		rc = -pthread_create(&threads[started], NULL, pump, &args[started]);
		if (rc) {
			end_session(&s, "cannot start a thread: %s", strerror(-rc));
			break;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&s.lock);
	close(s.end_fd);
	rc = 0;
out:
	uvf_wire_close(s.wire[0]);
	uvf_wire_close(s.wire[1]);
	return rc;
}
