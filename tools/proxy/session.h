/* SPDX-License-Identifier: MIT */
/*
 * One client's session (session.c: forwarding; outage.c: keeping the
 * client while the server is away). Internal to uvf-proxy.
 */
#ifndef UVF_PROXY_SESSION_H
#define UVF_PROXY_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/proxy.h"
#include "proxy/state.h"

#define PROXY_IDS 65536u

struct session {
	struct proxy *p;
	struct uvf_wire *wire[2]; /* by the side a message comes from: [PROXY_C2S] is the client */
	int end_fd;		  /* eventfd: readable once the session ends */
	pthread_mutex_t lock;	  /* ended */
	bool ended;
	/* the largest message to take from each side, set by the VERSION
	 * exchange (the other side's max_data_xfer_size), applied by the
	 * side's own thread */
	uint32_t limit[2];

	/* Sends to the client, from both threads (error replies the proxy
	 * makes come from the client's thread). */
	pthread_mutex_t client_send_lock;

	/* Reconnect mode only. server_lock guards what follows; it is never
	 * held across a send to the server (the server's thread needs it for
	 * every message the server sends, and a server blocked on its replies
	 * reads nothing). send_lock guards the sends to the server and
	 * wire[PROXY_S2C], which the server's thread alone replaces. Order:
	 * server_lock, then client_send_lock; send_lock alone. */
	bool reconnect;
	pthread_mutex_t server_lock;
	pthread_mutex_t send_lock;
	int flush_fd; /* eventfd: the client's thread sends the held requests */
	bool server_up;
	bool upgrading; /* the server's connection still serves in-flight requests */
	uint64_t down_since_ns;
	uint64_t seq;
	struct proxy_msg **inflight; /* client requests sent, by id, until answered */
	size_t ninflight;
	uint8_t *server_requests; /* ids of the server's requests the client has yet to answer */
	struct proxy_msg *held;	  /* client requests kept while the server is away */
	size_t nheld, held_bytes;
	struct proxy_state state;
	/* Servers upgraded from that the proxy did not start: kept connected
	 * (in STOP_COPY) until the session ends, since a server whose client
	 * leaves in STOP_COPY goes back to RUNNING and would work on the
	 * guest's queues beside the new one. */
	struct uvf_wire **retired;
	size_t nretired;
};

/* Forward one message from side dir to the other side: 0, or -errno when
 * the session is over. */
int session_forward(struct session *s, enum proxy_dir dir, const struct uvf_wire_msg *m);

/* End the session once, saying why. */
void session_end(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Send to the client under client_send_lock: 0 or -errno. */
int session_send_client(struct session *s, const struct uvf_msg_header *hdr, const void *payload, size_t len,
			const int *fds, size_t nfds);

/* Answer a client request with an error reply of the proxy's own. */
void session_fail_request(struct session *s, const struct uvf_msg_header *req, int err, const char *why);

/* outage.c */
int outage_init(struct session *s);
void outage_destroy(struct session *s);
/* A client message in reconnect mode (after the VERSION narrowing):
 * send it, or hold it, or fail it. 0, or -errno when the session ends. */
int outage_client_message(struct session *s, const struct uvf_wire_msg *m, const void *payload, size_t len);
/* Send what was held, in order, once the server is back (the client's
 * thread, when flush_fd is readable). */
void outage_flush(struct session *s);
/* A server message in reconnect mode, before it goes to the client. */
void outage_server_message(struct session *s, const struct uvf_wire_msg *m);
/* The server's connection broke: keep the client, get a server back and
 * replay the session. 0 when wire[PROXY_S2C] is a working server again,
 * -1 when the session ended meanwhile. */
int outage_recover(struct session *s, const char *why);
/* upgrade.c: move the device to a new server started with --upgrade-cmd
 * (SIGUSR1): 0 when the session goes on (with the new server, or the old
 * one when the upgrade failed), -1 when it ended. The server's thread. */
int outage_upgrade(struct session *s);
/* Start cmd with sh -c, UVF_PROXY_SOCKET=path in its environment: its pid
 * or 0. */
pid_t proxy_spawn_server(const char *cmd, const char *path);
/* The server is gone: what it had not answered waits with the held ones.
 * Under server_lock. */
void outage_server_gone(struct session *s);
/* Wait ms for the session to end: true when it did. */
bool outage_wait_end(struct session *s, int ms);

/* Connect to the server at the start of a session, starting it with
 * --restart-cmd when it is not there: 0 or -errno. */
int outage_first_connect(struct session *s);

#endif /* UVF_PROXY_SESSION_H */
