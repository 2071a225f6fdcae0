/* SPDX-License-Identifier: MIT */
/*
 * A planned upgrade (SIGUSR1, with --upgrade-cmd): the device moves from
 * the running server to a new one with migration v2 while the client's
 * requests are held, and the client never sees the switch but as a pause.
 *
 *  1. hold the client's new requests; let the old server answer those in
 *     flight (at most QUIESCE_MS);
 *  2. old server: STOP_COPY, read its state to the end (MIG_DATA_READ);
 *  3. start the new server (--upgrade-cmd, UVF_PROXY_SOCKET=the other of
 *     SERVER_SOCKET and SERVER_SOCKET.next), connect;
 *  4. replay the session to it (state.c) with the state loaded between
 *     the IRQs and config space: RESUMING, MIG_DATA_WRITE, STOP; and
 *     RUNNING at the end;
 *  5. switch: the held requests go to the new server; the old one is
 *     stopped (SIGTERM) when the proxy started it.
 *
 * Any failure before the switch puts the old server back to RUNNING and
 * sends the held requests there; the new one is stopped.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/session.h"

#define QUIESCE_MS	5000
#define CALL_TIMEOUT_MS 5000
#define CHUNK		(64u << 10)
#define MAX_STATE	(256u << 20)

struct saved {
	uint8_t *data;
	size_t len, cap;
};

static int set_state(struct proxy_caller *r, uint32_t state)
{
	struct {
		struct uvf_msg_device_feature f;
		struct uvf_msg_feature_migration_state st;
	} msg = {{sizeof(msg), UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE}, {state, 0}};
	int rc = proxy_call(r, UVF_CMD_DEVICE_FEATURE, &msg, sizeof(msg), NULL, 0);

	if (rc < 0 && !r->why[0])
		snprintf(r->why, r->why_size, "migration state %u refused: %s", state, strerror(-rc));
	return rc;
}

/* The old server's whole state, in STOP_COPY. */
static int save(struct proxy_caller *r, struct saved *out)
{
	int rc = set_state(r, UVF_MIGRATION_STATE_STOP_COPY);

	if (rc < 0)
		return rc;
	for (;;) {
		struct uvf_msg_migration_data req = {.argsz = sizeof(req) + CHUNK, .size = CHUNK}, got;

		rc = proxy_call(r, UVF_CMD_MIGRATION_DATA_READ, &req, sizeof(req), NULL, 0);
		if (rc < 0) {
			if (!r->why[0])
				snprintf(r->why, r->why_size, "MIG_DATA_READ: %s", strerror(-rc));
			return rc;
		}
		if (r->reply.len < sizeof(got))
			goto bad;
		memcpy(&got, r->reply.payload, sizeof(got));
		if (got.size > CHUNK || got.size > r->reply.len - sizeof(got))
			goto bad;
		if (got.size == 0)
			return 0;
		if (out->len + got.size > MAX_STATE) {
			snprintf(r->why, r->why_size, "device state above %u bytes", MAX_STATE);
			return -E2BIG;
		}
		if (out->len + got.size > out->cap) {
			size_t cap = out->cap ? out->cap * 2 : CHUNK * 4;
			uint8_t *grown;

			while (cap < out->len + got.size)
				cap *= 2;
			grown = realloc(out->data, cap);
			if (!grown)
				return -ENOMEM;
			out->data = grown;
			out->cap = cap;
		}
		memcpy(out->data + out->len, (const uint8_t *)r->reply.payload + sizeof(got), got.size);
		out->len += got.size;
	}
bad:
	snprintf(r->why, r->why_size, "MIG_DATA_READ reply of %zu bytes does not hold its size", r->reply.len);
	return -EPROTO;
}

/* Between the replay's phases: the state loaded (phase 0), the device
 * running (phase 1). */
static int load(struct proxy_caller *r, int phase, void *arg)
{
	const struct saved *st = arg;
	int rc;

	if (phase == 1)
		return set_state(r, UVF_MIGRATION_STATE_RUNNING);
	rc = set_state(r, UVF_MIGRATION_STATE_RESUMING);
	for (size_t at = 0; rc == 0 && at < st->len; at += CHUNK) {
		size_t n = st->len - at < CHUNK ? st->len - at : CHUNK;
		uint8_t *msg = malloc(sizeof(struct uvf_msg_migration_data) + n);
		struct uvf_msg_migration_data h = {.argsz = (uint32_t)(sizeof(h) + n), .size = (uint32_t)n};

		if (!msg)
			return -ENOMEM;
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + sizeof(h), st->data + at, n);
		rc = proxy_call(r, UVF_CMD_MIGRATION_DATA_WRITE, msg, sizeof(h) + n, NULL, 0);
		free(msg);
		if (rc < 0 && !r->why[0])
			snprintf(r->why, r->why_size, "MIG_DATA_WRITE: %s", strerror(-rc));
	}
	/* config space is restored in STOP, before RUNNING (docs/migration.md) */
	return rc ? rc : set_state(r, UVF_MIGRATION_STATE_STOP);
}

/* Let the old server answer what is in flight, forwarding as usual: 0,
 * -ETIMEDOUT, or -ECONNRESET when it broke. */
static int quiesce(struct session *s, struct uvf_wire *w)
{
	uint64_t deadline = proxy_now_ns() + (uint64_t)QUIESCE_MS * 1000000u;

	for (;;) {
		struct pollfd pfd = {.fd = uvf_wire_fd(w), .events = POLLIN};
		struct uvf_wire_msg m;
		size_t left;
		int rc;

		while ((rc = uvf_wire_recv(w, &m)) == 1)
			if (session_forward(s, PROXY_S2C, &m) < 0)
				return -ECONNRESET;
		if (rc < 0)
			return -ECONNRESET;
		pthread_mutex_lock(&s->server_lock);
		left = s->ninflight;
		pthread_mutex_unlock(&s->server_lock);
		if (left == 0)
			return 0;
		if (proxy_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (outage_wait_end(s, 0))
			return -ECONNRESET;
		poll(&pfd, 1, 10);
	}
}

/* Connect to the new server at path (it may take a moment to listen). */
static struct uvf_wire *connect_new(struct session *s, const char *path, pid_t pid)
{
	for (int i = 0; i < CALL_TIMEOUT_MS / 20; i++) {
		struct uvf_wire *w = NULL;

		if (uvf_wire_connect(&w, path) == 0)
			return w;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return NULL;
		if (outage_wait_end(s, 20))
			return NULL;
	}
	return NULL;
}

static void kill_server(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void stop_server(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int outage_upgrade(struct session *s)
{
	struct proxy *p = s->p;
	struct uvf_wire *old = s->wire[PROXY_S2C], *fresh = NULL;
	const char *next =
		strcmp(p->opts.server_path, p->server_path_next) ? p->server_path_next : p->server_path_first;
	struct saved st = {0};
	char why[300] = "";
	struct proxy_caller r = {
		.w = old, .timeout_ms = CALL_TIMEOUT_MS, .next_id = 0xe000, .why = why, .why_size = sizeof(why)};
	uint64_t t0 = proxy_now_ns(), t_quiet, t_saved, t_done, one = 1;
	uint32_t xfer;
	pid_t pid = 0;
	int rc;

	if (!p->opts.upgrade_cmd) {
		proxy_log("SIGUSR1: no --upgrade-cmd, nothing to do");
		return 0;
	}
	pthread_mutex_lock(&s->server_lock);
	if (!s->server_up) {
		pthread_mutex_unlock(&s->server_lock);
		proxy_log("upgrade: the server is away; not now");
		return 0;
	}
	s->server_up = false; /* the client's requests wait from now on */
	s->upgrading = true;
	s->down_since_ns = t0;
	pthread_mutex_unlock(&s->server_lock);
	proxy_log("upgrade: holding the client's requests, waiting for those in flight");

	rc = quiesce(s, old);
	if (rc == -ECONNRESET)
		goto old_broke;
	if (rc < 0) {
		snprintf(why, sizeof(why), "requests in flight not answered within %d ms", QUIESCE_MS);
		goto resume_old;
	}
	t_quiet = proxy_now_ns();
	rc = save(&r, &st);
	if (rc == -ECONNRESET)
		goto old_broke;
	if (rc < 0)
		goto resume_old;
	t_saved = proxy_now_ns();

	unlink(next); /* a socket a crashed server left */
	pid = proxy_spawn_server(p->opts.upgrade_cmd, next);
	fresh = pid > 0 ? connect_new(s, next, pid) : NULL;
	if (!fresh) {
		snprintf(why, sizeof(why), "the new server did not listen at %s", next);
		goto resume_old;
	}
	uvf_wire_set_limits(fresh, PROXY_MSG_LIMIT(UVF_DEFAULT_MAX_DATA_XFER_SIZE), p->opts.send_timeout_ms);
	rc = proxy_state_replay(&s->state, fresh, CALL_TIMEOUT_MS, &xfer, why, sizeof(why), load, &st);
	if (rc < 0)
		goto resume_old;

	/* the switch */
	pthread_mutex_lock(&s->send_lock);
	s->wire[PROXY_S2C] = fresh;
	pthread_mutex_unlock(&s->send_lock);
	__atomic_store_n(&s->limit[PROXY_C2S], PROXY_MSG_LIMIT(xfer), __ATOMIC_RELAXED);
	/* The old server must not run again: a server whose client leaves
	 * in STOP_COPY goes back to RUNNING, and its device would work on
	 * the guest's memory (queues, shadow doorbells) beside the new one.
	 * So it goes before its connection does: killed (its state has
	 * moved; it has nothing in flight), or, when the proxy did not start
	 * it, kept connected until the session ends. */
	if (p->server_pid > 0) {
		kill_server(p->server_pid);
		unlink(p->opts.server_path); /* it could not remove its socket */
		uvf_wire_close(old);
	} else {
		struct uvf_wire **more = realloc(s->retired, (s->nretired + 1) * sizeof(*more));
		if (more) {
			s->retired = more;
			s->retired[s->nretired++] = old;
			proxy_log("upgrade: the old server was not started by the proxy: left running in STOP_COPY, "
				  "connected until the client leaves");
		} else {
			uvf_wire_close(old);
			proxy_log("upgrade: no memory to keep the old server's connection: it may resume");
		}
	}
	p->server_pid = pid;
	p->opts.server_path = next;
	t_done = proxy_now_ns();
	pthread_mutex_lock(&s->server_lock);
	s->upgrading = false;
	s->server_up = true;
	p->upgrades++;
	pthread_mutex_unlock(&s->server_lock);
	proxy_log("upgrade done: pause %llu ms (in flight answered %llu ms, %zu bytes of state saved %llu ms, "
		  "new server pid %d at %s loaded and replayed %llu ms)",
		  (unsigned long long)((t_done - t0) / 1000000u), (unsigned long long)((t_quiet - t0) / 1000000u),
		  st.len, (unsigned long long)((t_saved - t_quiet) / 1000000u), (int)pid, next,
		  (unsigned long long)((t_done - t_saved) / 1000000u));
	proxy_trace_note(&p->trace, "upgrade: pause %llu ms", (unsigned long long)((t_done - t0) / 1000000u));
	free(st.data);
	if (write(s->flush_fd, &one, sizeof(one)) != sizeof(one))
		proxy_log("cannot wake the client's thread: %s", strerror(errno));
	return 0;

resume_old:
	proxy_log("upgrade failed: %s; the old server goes on", why[0] ? why : strerror(-rc));
	uvf_wire_close(fresh);
	stop_server(pid);
	free(st.data);
	why[0] = '\0';
	if (set_state(&r, UVF_MIGRATION_STATE_RUNNING) < 0 && why[0])
		proxy_log("upgrade: the old server back to RUNNING: %s", why);
	pthread_mutex_lock(&s->server_lock);
	if (s->upgrading) {
		s->upgrading = false;
		s->server_up = true;
	}
	pthread_mutex_unlock(&s->server_lock);
	if (write(s->flush_fd, &one, sizeof(one)) != sizeof(one))
		proxy_log("cannot wake the client's thread: %s", strerror(errno));
	return 0;

old_broke:
	free(st.data);
	return outage_recover(s, "server: broke during an upgrade");
}
