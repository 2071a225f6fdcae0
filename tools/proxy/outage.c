/* SPDX-License-Identifier: MIT */
/*
 * Keeping the client while the server is away (reconnect mode).
 *
 * The rule (docs/proxy.md, "Restart"): while the server is away, the
 * client's requests are held, in order, at most PROXY_HOLD_MAX_MSGS of
 * them and PROXY_HOLD_MAX_BYTES bytes (beyond: ENOBUFS at once), and for
 * at most --hold-ms from the moment the server left (then ETIMEDOUT, and
 * every later request fails the same way at once until the server is
 * back). Requests the server had not answered when it left are held the
 * same way and sent again: a device may see such a request twice. A
 * posted request (NO_REPLY) sent before the server left is not known to
 * have been done and is not sent again. Replies to the old server's own
 * requests (DMA_READ/DMA_WRITE) are dropped.
 *
 * The server comes back by --restart-cmd (run with sh -c when it left,
 * again at most once a second while none listens), or by itself at
 * the same socket path (--reconnect). Then the session is replayed
 * (state.c) and the client's thread sends the held requests in the order
 * they came, ahead of any new one.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/session.h"

extern char **environ;

#define RETRY_MS	  50
#define REPLAY_TIMEOUT_MS 5000

int outage_init(struct session *s)
{
	pthread_mutex_init(&s->server_lock, NULL);
	pthread_mutex_init(&s->send_lock, NULL);
	s->flush_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->flush_fd < 0) {
		proxy_log("eventfd: %s", strerror(errno));
		return -errno;
	}
	s->inflight = calloc(PROXY_IDS, sizeof(*s->inflight));
	s->server_requests = calloc(PROXY_IDS, 1);
	if (!s->inflight || !s->server_requests) {
		proxy_log("out of memory for a session");
		return -ENOMEM;
	}
	return proxy_state_init(&s->state);
}

void outage_destroy(struct session *s)
{
	if (s->inflight)
		for (size_t i = 0; i < PROXY_IDS; i++)
			proxy_msg_put(s->inflight[i]);
	free(s->inflight);
	free(s->server_requests);
	while (s->held) {
		struct proxy_msg *m = s->held;

		s->held = m->next;
		proxy_msg_put(m);
	}
	proxy_state_destroy(&s->state);
	if (s->flush_fd >= 0)
		close(s->flush_fd);
	pthread_mutex_destroy(&s->send_lock);
	pthread_mutex_destroy(&s->server_lock);
}

/* Start --restart-cmd, unless the one started last is still running. */
static void restart_server(struct proxy *p)
{
	uint64_t now = proxy_now_ns();

	if (!p->opts.restart_cmd)
		return;
	if (p->server_pid > 0) {
		/* a server that was killed is reaped in a moment; one that is
		 * still there after 100 ms may serve (or be starting) */
		pid_t gone = 0;

		for (int i = 0; i < 20 && gone == 0; i++) {
			gone = waitpid(p->server_pid, NULL, WNOHANG);
			if (gone == 0)
				usleep(5000);
		}
		if (gone == 0)
			return;
		p->server_pid = 0;
	}
	if (p->restarted_ns && now - p->restarted_ns < 1000000000u)
		return;
	p->restarted_ns = now;
	p->server_pid = proxy_spawn_server(p->opts.restart_cmd, p->opts.server_path);
	if (p->server_pid > 0)
		proxy_log("started the server: pid %d", (int)p->server_pid);
}

pid_t proxy_spawn_server(const char *cmd, const char *path)
{
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	size_t n = 0;
	char **envp, *socket_var;
	pid_t pid = 0;
	int rc;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	socket_var = malloc(strlen("UVF_PROXY_SOCKET=") + strlen(path) + 1);
	if (!envp || !socket_var) {
		free(envp);
		free(socket_var);
		proxy_log("out of memory to start the server");
		return 0;
	}
	sprintf(socket_var, "UVF_PROXY_SOCKET=%s", path);
	n = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "UVF_PROXY_SOCKET=", 17) != 0)
			envp[n++] = *e;
	envp[n] = socket_var;
	rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, envp);
	free(envp);
	free(socket_var);
	if (rc) {
		proxy_log("starting the server (%s): %s", cmd, strerror(rc));
		return 0;
	}
	return pid;
}

/* Put m in the held list (sorted by arrival), or fail it; takes one
 * reference. Under server_lock. */
static void hold(struct session *s, struct proxy_msg *m)
{
	bool no_reply = m->hdr.flags & UVF_MSG_FLAG_NO_REPLY;
	uint64_t away_ms = (proxy_now_ns() - s->down_since_ns) / 1000000u;
	struct proxy_msg **at = &s->held;
	int err = 0;

	if (away_ms >= (uint64_t)s->p->opts.hold_ms)
		err = ETIMEDOUT;
	else if (s->nheld >= PROXY_HOLD_MAX_MSGS || s->held_bytes + m->len > PROXY_HOLD_MAX_BYTES)
		err = ENOBUFS;
	if (err) {
		if (!no_reply)
			session_fail_request(s, &m->hdr, err,
					     err == ETIMEDOUT ? "the server is away" : "too many requests held");
		proxy_msg_put(m);
		return;
	}
	while (*at && (*at)->seq < m->seq)
		at = &(*at)->next;
	m->next = *at;
	*at = m;
	s->nheld++;
	s->held_bytes += m->len;
}

/* Fail what was held for longer than --hold-ms. Under server_lock. */
static void expire_held(struct session *s)
{
	uint64_t now = proxy_now_ns();
	uint64_t limit = (uint64_t)s->p->opts.hold_ms * 1000000u;

	if (now - s->down_since_ns < limit)
		return;
	while (s->held) {
		struct proxy_msg *m = s->held;

		s->held = m->next;
		s->nheld--;
		s->held_bytes -= m->len;
		if (!(m->hdr.flags & UVF_MSG_FLAG_NO_REPLY))
			session_fail_request(s, &m->hdr, ETIMEDOUT, "the server did not come back in time");
		proxy_msg_put(m);
	}
}

/* The server is gone: what it had not answered waits with the held ones.
 * Under server_lock. */
void outage_server_gone(struct session *s)
{
	if (!s->server_up && !s->upgrading)
		return;
	if (s->server_up)
		s->down_since_ns = proxy_now_ns();
	s->server_up = false;
	s->upgrading = false;
	for (size_t id = 0; id < PROXY_IDS; id++) {
		struct proxy_msg *m = s->inflight[id];

		if (!m)
			continue;
		s->inflight[id] = NULL;
		m->since_ns = s->down_since_ns;
		m->next = NULL;
		hold(s, m);
	}
	s->ninflight = 0;
	memset(s->server_requests, 0, PROXY_IDS);
}

/* Send m to the server (not under server_lock), taking the caller's
 * reference: registered first as in flight, or, posted, counted done once
 * sent. When the server is gone, m waits with the held ones. */
static void send_to_server(struct session *s, struct proxy_msg *m)
{
	bool posted = m->hdr.flags & UVF_MSG_FLAG_NO_REPLY;
	struct uvf_wire *w;
	int rc;

	if (!posted) {
		/* in flight: the table's reference; ours (the caller's) keeps m
		 * while we send, as the reply may be handled before the send
		 * returns */
		pthread_mutex_lock(&s->server_lock);
		if (s->inflight[m->hdr.msg_id])
			proxy_msg_put(s->inflight[m->hdr.msg_id]); /* a client reusing an id unanswered */
		else
			s->ninflight++;
		proxy_msg_get(m);
		s->inflight[m->hdr.msg_id] = m;
		pthread_mutex_unlock(&s->server_lock);
	}
	pthread_mutex_lock(&s->send_lock);
	w = s->wire[PROXY_S2C];
	rc = w ? uvf_wire_send(w, &m->hdr, m->payload, m->len, m->fds, m->nfds) : -ENOTCONN;
	if (rc < 0 && w) {
		proxy_log("server: sending %s id %u: %s",
			  uvf_wire_command_name(m->hdr.command) ? uvf_wire_command_name(m->hdr.command) : "a message",
			  (unsigned)m->hdr.msg_id, uvf_wire_send_why(w));
		/* its thread finds the connection broken and recovers */
		shutdown(uvf_wire_fd(w), SHUT_RDWR);
	}
	pthread_mutex_unlock(&s->send_lock);
	if (rc == 0 && !posted) {
		proxy_msg_put(m);
		return;
	}
	pthread_mutex_lock(&s->server_lock);
	if (rc == 0) {
		proxy_state_posted(&s->state, m);
	} else {
		outage_server_gone(s); /* an unanswered m goes back to the held ones with the others */
		if (posted) {
			proxy_msg_get(m);
			hold(s, m);
		}
	}
	pthread_mutex_unlock(&s->server_lock);
	proxy_msg_put(m);
}

void outage_flush(struct session *s)
{
	for (;;) {
		struct proxy_msg *m;

		pthread_mutex_lock(&s->server_lock);
		m = s->server_up ? s->held : NULL;
		if (m) {
			s->held = m->next;
			s->nheld--;
			s->held_bytes -= m->len;
			m->next = NULL;
		}
		pthread_mutex_unlock(&s->server_lock);
		if (!m)
			return;
		send_to_server(s, m);
	}
}

int outage_client_message(struct session *s, const struct uvf_wire_msg *m, const void *payload, size_t len)
{
	bool request = (m->hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_COMMAND;
	struct uvf_wire_msg copy = *m;
	struct proxy_msg *kept;
	bool send;

	if (!request) {
		/* a reply to one of the server's requests: only to the server
		 * that asked */
		pthread_mutex_lock(&s->server_lock);
		send = s->server_requests[m->hdr.msg_id]; /* cleared when that server went */
		s->server_requests[m->hdr.msg_id] = 0;
		pthread_mutex_unlock(&s->server_lock);
		if (send) {
			pthread_mutex_lock(&s->send_lock);
			if (s->wire[PROXY_S2C])
				uvf_wire_send(s->wire[PROXY_S2C], &m->hdr, m->payload, m->len, m->fds, m->nfds);
			pthread_mutex_unlock(&s->send_lock);
		} else {
			proxy_trace_note(&s->p->trace, "client's reply id %u dropped: the server that asked is gone",
					 (unsigned)m->hdr.msg_id);
		}
		return 0;
	}
	copy.payload = payload;
	copy.len = len;
	copy.hdr.msg_size = (uint32_t)(UVF_MSG_HEADER_SIZE + len);
	pthread_mutex_lock(&s->server_lock);
	kept = proxy_msg_copy(&copy, ++s->seq, proxy_now_ns());
	if (!kept) {
		pthread_mutex_unlock(&s->server_lock);
		session_end(s, "out of memory (or fds) to keep a client request");
		return -ENOMEM;
	}
	/* after the held ones, in the order they came */
	send = s->server_up && !s->held;
	if (!send)
		hold(s, kept);
	pthread_mutex_unlock(&s->server_lock);
	if (send)
		send_to_server(s, kept);
	else
		outage_flush(s);
	return 0;
}

void outage_server_message(struct session *s, const struct uvf_wire_msg *m)
{
	bool request = (m->hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_COMMAND;
	struct proxy_msg *req;

	pthread_mutex_lock(&s->server_lock);
	if (request) {
		if (!(m->hdr.flags & UVF_MSG_FLAG_NO_REPLY))
			s->server_requests[m->hdr.msg_id] = 1;
	} else {
		req = s->inflight[m->hdr.msg_id];
		s->inflight[m->hdr.msg_id] = NULL;
		if (req) {
			s->ninflight--;
			proxy_state_reply(&s->state, req, m);
		}
		proxy_msg_put(req);
	}
	pthread_mutex_unlock(&s->server_lock);
}

bool outage_wait_end(struct session *s, int ms)
{
	struct pollfd pfd[2] = {
		{.fd = s->end_fd, .events = POLLIN},
		{.fd = s->p->stop_fd, .events = POLLIN},
	};

	if (poll(pfd, 2, ms) > 0) {
		if (pfd[1].revents)
			session_end(s, "stopping on a signal");
		return true;
	}
	return false;
}

/* A new server at the socket path, with the session replayed to it:
 * 0, and the client's thread sends the held requests; or -1. */
static int bring_back(struct session *s, struct uvf_wire *w)
{
	char why[300];
	uint32_t xfer;
	uint64_t t0 = proxy_now_ns(), one = 1, away_ms;
	size_t held, ndma;
	int rc;

	/* the state is only changed with the server up: the client's thread
	 * holds requests meanwhile */
	rc = proxy_state_replay(&s->state, w, REPLAY_TIMEOUT_MS, &xfer, why, sizeof(why), NULL, NULL);

	if (rc < 0) {
		proxy_log("replay to the restarted server failed: %s", why[0] ? why : strerror(-rc));
		return -1;
	}
	pthread_mutex_lock(&s->send_lock);
	s->wire[PROXY_S2C] = w;
	pthread_mutex_unlock(&s->send_lock);
	__atomic_store_n(&s->limit[PROXY_C2S], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->server_lock);
	s->server_up = true;
	held = s->nheld;
	ndma = s->state.ndma;
	away_ms = (t0 - s->down_since_ns) / 1000000u;
	s->p->restarts++;
	pthread_mutex_unlock(&s->server_lock);
	proxy_log("server back after %llu ms; replayed %zu DMA mappings, IRQ eventfds, config space and MSI-X "
		  "writes in %llu ms; sending %zu held requests",
		  (unsigned long long)away_ms, ndma, (unsigned long long)((proxy_now_ns() - t0) / 1000000u), held);
	proxy_trace_note(&s->p->trace, "server back after %llu ms: session replayed, %zu held requests to send",
			 (unsigned long long)away_ms, held);
	if (write(s->flush_fd, &one, sizeof(one)) != sizeof(one))
		proxy_log("cannot wake the client's thread: %s", strerror(errno));
	return 0;
}

int outage_recover(struct session *s, const char *why)
{
	struct uvf_wire *old;

	pthread_mutex_lock(&s->server_lock);
	outage_server_gone(s);
	pthread_mutex_unlock(&s->server_lock);
	pthread_mutex_lock(&s->send_lock);
	old = s->wire[PROXY_S2C];
	s->wire[PROXY_S2C] = NULL;
	pthread_mutex_unlock(&s->send_lock);
	uvf_wire_close(old);
	s->p->restarted_ns = 0; /* the first start of an outage is at once */
	proxy_log("%s: keeping the client, holding its requests for up to %d ms", why, s->p->opts.hold_ms);
	proxy_trace_note(&s->p->trace, "%s: server away, requests held", why);

	for (;;) {
		struct uvf_wire *w = NULL;

		pthread_mutex_lock(&s->server_lock);
		expire_held(s);
		pthread_mutex_unlock(&s->server_lock);
		restart_server(s->p);
		if (uvf_wire_connect(&w, s->p->opts.server_path) == 0) {
			uvf_wire_set_limits(w, PROXY_MSG_LIMIT(UVF_DEFAULT_MAX_DATA_XFER_SIZE),
					    s->p->opts.send_timeout_ms);
			if (bring_back(s, w) == 0)
				return 0;
			uvf_wire_close(w);
		}
		if (outage_wait_end(s, RETRY_MS))
			return -1;
	}
}

int outage_first_connect(struct session *s)
{
	uint64_t deadline = proxy_now_ns() + (uint64_t)s->p->opts.hold_ms * 1000000u;
	int rc;

	for (;;) {
		rc = uvf_wire_connect(&s->wire[PROXY_S2C], s->p->opts.server_path);
		if (rc == 0) {
			s->server_up = true;
			return 0;
		}
		if (!s->p->opts.restart_cmd || proxy_now_ns() >= deadline)
			break;
		restart_server(s->p);
		if (outage_wait_end(s, RETRY_MS))
			break;
	}
	proxy_log("cannot connect to the server at %s: %s", s->p->opts.server_path, strerror(-rc));
	return rc;
}
