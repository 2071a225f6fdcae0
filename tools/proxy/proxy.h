/* SPDX-License-Identifier: MIT */
/*
 * uvf-proxy: a vfio-user proxy between one client and one server. The
 * parts, one file each: main.c (options, the listening socket, signals),
 * session.c (one client's connection and the server's, forwarded both ways
 * by one thread per direction), outage.c (keeping the client while the
 * server is away), state.c (what a restarted server is told again),
 * relay.c (the client's old ioeventfds after a restart), caps.c (the
 * VERSION capabilities the proxy narrows), trace.c (one line per
 * message), stats.c (the summary at exit).
 */
#ifndef UVF_PROXY_H
#define UVF_PROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "uvf/wire.h"

/* The two directions of the wire. */
enum proxy_dir {
	PROXY_C2S = 0, /* client to server */
	PROXY_S2C = 1, /* server to client */
};

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

/* One line on stderr, "uvf-proxy: ...". */
void proxy_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic nanoseconds. */
uint64_t proxy_now_ns(void);

/* ------------------------------------------------------------------ */
/* Tracing (trace.c)                                                    */
/* ------------------------------------------------------------------ */

struct proxy_trace {
	FILE *out;	/* NULL: no trace */
	bool close_out; /* out is a file the proxy opened */
	bool json;	/* one JSON object per line */
	bool filtered;	/* only commands set in filter[] */
	bool filter[UVF_CMD_MAX + 1];
	size_t hexdump;	   /* payload bytes shown per message */
	uint64_t start_ns; /* time 0 of the trace */
	pthread_mutex_t lock;
};

/* Parse "REGION_READ,DMA_MAP" (names as uvf_wire_command_name gives them,
 * any case) into t->filter: 0, or -EINVAL with the bad name logged. */
int proxy_trace_filter(struct proxy_trace *t, const char *list);

/* One message, as it came from its sender (m->fds counted). */
void proxy_trace_msg(struct proxy_trace *t, enum proxy_dir dir, const struct uvf_wire_msg *m, uint64_t now_ns);

/* A line of the proxy's own (a session starts or ends, a narrowed VERSION),
 * "# text" (or {"note":"text"} in JSON). */
void proxy_trace_note(struct proxy_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* The summary (stats.c)                                                */
/* ------------------------------------------------------------------ */

/* Latency samples kept per command: beyond them the count and bytes go on
 * and the median and p99 are of the first samples. */
#define PROXY_STATS_MAX_SAMPLES (1u << 20)

struct proxy_command_stats {
	uint64_t requests, replies, errors, bytes;
	uint64_t *samples_ns; /* request-to-reply latencies */
	size_t nsamples, cap;
};

struct proxy_stats {
	pthread_mutex_t lock;
	struct proxy_command_stats cmd[UVF_CMD_MAX + 2]; /* the last: unknown commands */
	/* start of each request in flight, by direction of the request and id */
	uint64_t *pending_ns[2];
};

int proxy_stats_init(struct proxy_stats *s);
void proxy_stats_destroy(struct proxy_stats *s);
/* Forget requests in flight (a new connection). */
void proxy_stats_reset_pending(struct proxy_stats *s);
void proxy_stats_record(struct proxy_stats *s, enum proxy_dir dir, const struct uvf_msg_header *hdr, uint64_t now_ns);
/* The table: one line per command seen, to out; or JSON, one object. */
void proxy_stats_print(struct proxy_stats *s, FILE *out, bool json);

/* ------------------------------------------------------------------ */
/* VERSION (caps.c)                                                     */
/* ------------------------------------------------------------------ */

/* The largest data transfer the proxy forwards (uvf's own bound), and the
 * largest message it takes from a side whose peer accepts transfers of
 * xfer bytes (uvf's server's rule: room for a command's fixed part and
 * 4 KiB more). */
#define PROXY_MAX_XFER	      (64u << 20)
#define PROXY_MSG_LIMIT(xfer) ((uint32_t)(xfer) + 32u + 4096u)

/*
 * Narrow the client's VERSION request to what the proxy forwards: no
 * twin_socket offer, max_msg_fds at most UVF_WIRE_MAX_FDS,
 * max_data_xfer_size at most PROXY_MAX_XFER (*xfer: the client's, after
 * that). payload/len is the request's payload; *out (malloc'ed, the
 * caller frees it) gets the payload to send, or NULL when it goes
 * unchanged. -errno when out of memory only: a payload that does not
 * parse goes unchanged (the server says what is wrong with it).
 */
int proxy_caps_narrow_request(const void *payload, size_t len, void **out, size_t *out_len, bool *changed_twin,
			      uint32_t *xfer);

/*
 * Check and narrow the server's VERSION reply the same way: -EPROTO when
 * it enables a twin socket (never offered through the proxy) or carries
 * fds; else as above.
 */
int proxy_caps_narrow_reply(const void *payload, size_t len, size_t nfds, void **out, size_t *out_len, uint32_t *xfer,
			    char *why, size_t why_size);

/* ------------------------------------------------------------------ */
/* Sessions (session.c)                                                 */
/* ------------------------------------------------------------------ */

/* The hold rule (outage.c): at most this many requests, and bytes of
 * them, are held while the server is away; beyond, ENOBUFS at once. */
#define PROXY_HOLD_MAX_MSGS   1024u
#define PROXY_HOLD_MAX_BYTES  (16u << 20)
#define PROXY_DEFAULT_HOLD_MS 10000

struct proxy_opts {
	const char *listen_path;
	const char *server_path;
	int send_timeout_ms;
	bool keep;		 /* serve the next client when one leaves */
	bool reconnect;		 /* keep the client when the server leaves */
	const char *restart_cmd; /* how to start the server again (implies reconnect) */
	const char *upgrade_cmd; /* how to start a new server for an upgrade (implies reconnect) */
	int hold_ms;		 /* how long requests are held for a server away */
};

struct proxy {
	struct proxy_opts opts;
	struct proxy_trace trace;
	struct proxy_stats stats;
	int stop_fd;	/* eventfd: readable once SIGINT/SIGTERM came */
	int upgrade_fd; /* eventfd: counts SIGUSR1s (upgrade requests) */
	/* an upgrade starts the new server at the other of these two */
	const char *server_path_first;
	char *server_path_next; /* server_path_first + ".next" */
	uint64_t upgrades;
	uint64_t sessions;
	/* the server --restart-cmd started last (0: none), and when */
	pid_t server_pid;
	uint64_t restarted_ns;
	uint64_t restarts; /* servers brought back */
};

/* Serve one client (already accepted) until it or the server leaves, or
 * the proxy stops: 0, or -errno when the server cannot be reached. */
int proxy_session_run(struct proxy *p, struct uvf_wire *client);

#endif /* UVF_PROXY_H */
