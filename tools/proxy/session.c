/* SPDX-License-Identifier: MIT */
/*
 * One client's session: the proxy connects to the server when a client
 * came, and forwards every message with its fds both ways, one thread per
 * direction, so that a direction waiting for its receiver to drain never
 * holds up the other (the server's DMA_READ while the client sends a large
 * write, and the reverse). The first side to leave or to break framing
 * ends the session: both sockets are shut down and the fds of messages in
 * flight closed with them. In reconnect mode (--reconnect, --restart-cmd)
 * a server that leaves does not end it: outage.c keeps the client.
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

#include "proxy/session.h"

static const char *const side_names[2] = {"client", "server"};

static const char *name_of(uint16_t command)
{
	const char *n = uvf_wire_command_name(command);

	return n ? n : "a message";
}

void session_end(struct session *s, const char *fmt, ...)
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
	/* wake the other direction, blocked in poll or in a send to a peer
	 * that does not drain (the server's side may be between two servers) */
	shutdown(uvf_wire_fd(s->wire[PROXY_C2S]), SHUT_RDWR);
	if (!s->reconnect)
		shutdown(uvf_wire_fd(s->wire[PROXY_S2C]), SHUT_RDWR);
	if (write(s->end_fd, &one, sizeof(one)) < 0) {
		/* the shutdowns wake the other direction as well */
	}
}

int session_send_client(struct session *s, const struct uvf_msg_header *hdr, const void *payload, size_t len,
			const int *fds, size_t nfds)
{
	int rc;

	pthread_mutex_lock(&s->client_send_lock);
	rc = uvf_wire_send(s->wire[PROXY_C2S], hdr, payload, len, fds, nfds);
	if (rc < 0)
		session_end(s, "client: sending %s id %u: %s", name_of(hdr->command), (unsigned)hdr->msg_id,
			    uvf_wire_send_why(s->wire[PROXY_C2S])[0] ? uvf_wire_send_why(s->wire[PROXY_C2S])
								     : strerror(-rc));
	pthread_mutex_unlock(&s->client_send_lock);
	return rc;
}

void session_fail_request(struct session *s, const struct uvf_msg_header *req, int err, const char *why)
{
	struct uvf_msg_header reply = {.msg_id = req->msg_id,
				       .command = req->command,
				       .msg_size = UVF_MSG_HEADER_SIZE,
				       .flags = UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR,
				       .error = (uint32_t)err};

	proxy_trace_note(&s->p->trace, "%s id %u fails with %s: %s", name_of(req->command), (unsigned)req->msg_id,
			 uvf_wire_errno_name(err) ? uvf_wire_errno_name(err) : "?", why);
	proxy_stats_record(&s->p->stats, PROXY_S2C, &reply, proxy_now_ns());
	session_send_client(s, &reply, NULL, 0, NULL, 0);
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
			session_end(s, "client's VERSION: %s", strerror(-rc));
		else if (twin)
			proxy_trace_note(&s->p->trace, "VERSION: twin_socket offer removed");
		__atomic_store_n(&s->limit[PROXY_S2C], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
		return rc;
	}
	if (dir == PROXY_S2C && !request && !(m->hdr.flags & UVF_MSG_FLAG_ERROR)) {
		rc = proxy_caps_narrow_reply(m->payload, m->len, m->nfds, out, out_len, &xfer, why, sizeof(why));
		if (rc < 0)
			session_end(s, "server: %s: disconnecting", why);
		else
			__atomic_store_n(&s->limit[PROXY_C2S], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
		return rc;
	}
	return 0;
}

int session_forward(struct session *s, enum proxy_dir dir, const struct uvf_wire_msg *m)
{
	struct uvf_msg_header hdr = m->hdr;
	const void *payload = m->payload;
	size_t len = m->len;
	void *narrowed = NULL;
	uint64_t now = proxy_now_ns();
	int rc;

	if (m->fds_overflow) {
		session_end(s, "%s: %s id %u came with more than %u fds: disconnecting", side_names[dir],
			    name_of(m->hdr.command), (unsigned)m->hdr.msg_id, UVF_WIRE_MAX_FDS);
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
	if (dir == PROXY_C2S && s->reconnect) {
		rc = outage_client_message(s, m, payload, len);
	} else if (dir == PROXY_C2S) {
		struct uvf_wire *to = s->wire[PROXY_S2C];

		rc = uvf_wire_send(to, &hdr, payload, len, m->fds, m->nfds);
		if (rc < 0)
			session_end(s, "server: sending %s id %u: %s", name_of(hdr.command), (unsigned)hdr.msg_id,
				    uvf_wire_send_why(to)[0] ? uvf_wire_send_why(to) : strerror(-rc));
	} else {
		if (s->reconnect)
			outage_server_message(s, m);
		rc = session_send_client(s, &hdr, payload, len, m->fds, m->nfds);
	}
	free(narrowed);
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
	struct pollfd pfd[5] = {
		{.fd = uvf_wire_fd(from), .events = POLLIN},
		{.fd = s->end_fd, .events = POLLIN},
		{.fd = s->p->stop_fd, .events = POLLIN},
		/* the client's thread sends what was held once the server is back */
		{.fd = a->dir == PROXY_C2S && s->reconnect ? s->flush_fd : -1, .events = POLLIN},
		/* the server's thread upgrades the server on SIGUSR1 */
		{.fd = a->dir == PROXY_S2C && s->reconnect ? s->p->upgrade_fd : -1, .events = POLLIN},
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
			if (session_forward(s, a->dir, &m) < 0)
				return NULL;
		}
		if (rc < 0 && a->dir == PROXY_S2C && s->reconnect) {
			char why[300];

			snprintf(why, sizeof(why), "server: %s", uvf_wire_why(from));
			if (outage_recover(s, why) < 0)
				return NULL;
			from = s->wire[PROXY_S2C];
			pfd[0].fd = uvf_wire_fd(from);
			limit = 0;
			continue;
		}
		if (rc < 0) {
			session_end(s, "%s: %s", side_names[a->dir], uvf_wire_why(from));
			return NULL;
		}
		if (poll(pfd, 5, -1) < 0 && errno != EINTR) {
			session_end(s, "poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[3].revents) {
			uint64_t n;

			if (read(s->flush_fd, &n, sizeof(n)) < 0) {
				/* nothing to reset: flushing anyway does no harm */
			}
			outage_flush(s);
		}
		if (pfd[4].revents) {
			uint64_t n;

			if (read(s->p->upgrade_fd, &n, sizeof(n)) == sizeof(n)) {
				if (outage_upgrade(s) < 0)
					return NULL;
				from = s->wire[PROXY_S2C];
				pfd[0].fd = uvf_wire_fd(from);
				limit = 0;
			}
		}
		if (pfd[1].revents) /* the other direction ended it */
			return NULL;
		if (pfd[2].revents) {
			session_end(s, "stopping on a signal");
			return NULL;
		}
	}
}

int proxy_session_run(struct proxy *p, struct uvf_wire *client)
{
	struct session *s = calloc(1, sizeof(*s));
	struct pump_arg args[2] = {{s, PROXY_C2S}, {s, PROXY_S2C}};
	pthread_t threads[2];
	int rc, started = 0;

	if (!s) {
		proxy_log("out of memory for a session");
		uvf_wire_close(client);
		return -ENOMEM;
	}
	p->sessions++;
	s->p = p;
	s->wire[PROXY_C2S] = client;
	s->reconnect = p->opts.reconnect;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->client_send_lock, NULL);
	s->end_fd = eventfd(0, EFD_CLOEXEC);
	if (s->end_fd < 0) {
		rc = -errno;
		proxy_log("eventfd: %s", strerror(errno));
		goto out;
	}
	if (s->reconnect) {
		rc = outage_init(s);
		if (rc == 0)
			rc = outage_first_connect(s);
	} else {
		rc = uvf_wire_connect(&s->wire[PROXY_S2C], p->opts.server_path);
		if (rc < 0)
			proxy_log("cannot connect to the server at %s: %s", p->opts.server_path, strerror(-rc));
	}
	if (rc < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		/* until VERSION said otherwise: the protocol's default transfer */
		s->limit[i] = PROXY_MSG_LIMIT(UVF_DEFAULT_MAX_DATA_XFER_SIZE);
		uvf_wire_set_limits(s->wire[i], s->limit[i], p->opts.send_timeout_ms);
	}
	proxy_stats_reset_pending(&p->stats);
	proxy_trace_note(&p->trace, "session %llu: client connected, server %s", (unsigned long long)p->sessions,
			 p->opts.server_path);
	for (; started < 2; started++) {
		rc = -pthread_create(&threads[started], NULL, pump, &args[started]);
		if (rc) {
			session_end(s, "cannot start a thread: %s", strerror(-rc));
			break;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	rc = 0;
out:
	if (s->reconnect)
		outage_destroy(s);
	if (s->end_fd >= 0)
		close(s->end_fd);
	uvf_wire_close(s->wire[0]);
	uvf_wire_close(s->wire[1]);
	for (size_t i = 0; i < s->nretired; i++)
		uvf_wire_close(s->retired[i]);
	free(s->retired);
	pthread_mutex_destroy(&s->client_send_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}
