/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the micro-benchmarks: timing, CPU pinning, repeated
 * runs, a uvf device served by a forked process, a raw socketpair
 * ping-pong (the floor), and the report table.
 *
 * Every figure is a ratio against a floor measured in the same run: each
 * repetition measures the floor and the uvf path right next to each other,
 * and the table shows the ratio of each pair (min / median / max) and
 * names the floor of every row. Nothing here is a pass/fail test, but the
 * harness refuses to print a figure whose uvf half made no call into uvf,
 * or whose raw floor did (see bench_timer below).
 */
#ifndef UVF_BENCH_H
#define UVF_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvf/client.h"
#include "uvf/server.h"

#define BENCH_MAX_REPS 64

/* CPUs used for "same CPU" and "different CPUs" (BENCH_CPUS="a,b"). */
struct bench_cpus {
	int client; /* the client / requesting side */
	int server_same;
	int server_other; /* -1 when the machine has a single CPU */
};

extern struct bench_cpus bench_cpu;
extern int bench_reps; /* BENCH_REPS, default 5 */

/* Read BENCH_REPS, BENCH_SCALE, BENCH_CPUS; call first in main(). */
void bench_init(const char *program);

/* base * BENCH_SCALE (at least 1). */
uint64_t bench_iters(uint64_t base);

uint64_t bench_now_ns(void);

/* Measured side by side, slice by slice: each of n parts runs
 * iters[i] / BENCH_SLICES operations in turn, BENCH_SLICES times, and
 * rates[i] is part i's operations over its summed time. A host whose
 * speed drifts within a repetition then moves a floor and the uvf path
 * measured against it alike. run[i](arg[i], k) runs k operations of part
 * i and returns their rate. At most 8 parts. */
#define BENCH_SLICES 10
typedef double (*bench_part_fn)(void *arg, uint64_t iters);
void bench_side_by_side(size_t n, const bench_part_fn *run, void *const *arg, const uint64_t *iters, double *rates);

/* Pin the calling thread (and threads it creates later) to one CPU. */
void bench_pin(int cpu);

/* Exit with a message when ret < 0. */
void bench_check(int ret, const char *what);

/* ------------------------------------------------------------------ */
/* Timed parts and the calls into uvf they make                         */
/* ------------------------------------------------------------------ */

/* Calls into uvf counted on this thread: wrap every call of a timed part
 * in BENCH_UVF() so that the checks below can see it. */
extern _Thread_local uint64_t bench_uvf_calls;
#define BENCH_UVF(call) (bench_uvf_calls++, (call))

struct bench_timer {
	uint64_t t0;
	uint64_t calls0;
};

void bench_timer_start(struct bench_timer *t);
/* The rate (ops per second) since bench_timer_start(). A uvf path: exits
 * with an error naming `what` when fewer than min_calls calls into uvf
 * were counted meanwhile. */
double bench_timer_uvf(const struct bench_timer *t, double ops, uint64_t min_calls, const char *what);
/* The same for a floor that must not use uvf: exits when any call into
 * uvf was counted meanwhile. */
double bench_timer_floor(const struct bench_timer *t, double ops, const char *what);

/* Keep the compiler from dropping a computation. */
static inline void bench_use(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

enum bench_unit {
	BENCH_OPS,   /* operations per second; also shown as time per operation */
	BENCH_BYTES, /* bytes per second */
};

/* Table header, then one row per measurement. floor[] and value[] hold
 * one rate per repetition (bench_reps of them), each pair measured next to
 * each other; the ratio of each pair is value / floor (higher is better).
 * floor_name says what the floor is. target <= 0: none. */
void bench_table_header(const char *title);
void bench_row(const char *name, const char *floor_name, const char *cpus, enum bench_unit unit, const double *floor,
	       const double *value, double target);
void bench_row_missing(const char *name, const char *cpus, const char *why);
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ */
/* The floor: a raw ping-pong over a socketpair                        */
/* ------------------------------------------------------------------ */

enum bench_floor_kind {
	/* Blocking read() and write(). */
	BENCH_FLOOR_READ_WRITE,
	/* What a peer that accepts fds must do: recvmsg() with room for 64
	 * fds of control data (MSG_CMSG_CLOEXEC), one sendmsg() per message. */
	BENCH_FLOOR_MSG,
};

struct bench_floor {
	pid_t pid;
	int sock;
	size_t request, reply;
	bool reversed;
	enum bench_floor_kind kind;
	uint32_t poll_us;
	uint8_t *buf;
};

/* Fork a peer pinned to cpu. It reads `request` bytes and answers `reply`
 * bytes, both sides with blocking read()/write(), until the socket closes.
 * Reversed (for requests the server sends, like DMA_READ): the peer sends
 * the requests, as fast as we answer, and we answer. */
void bench_floor_start(struct bench_floor *f, int cpu, size_t request, size_t reply, bool reversed);
/* The same with the system calls of `kind` on both sides. poll_us > 0:
 * both sides first try to receive without blocking for up to poll_us
 * before they block, as uvf's adaptive polling does. */
void bench_floor_start_as(struct bench_floor *f, enum bench_floor_kind kind, uint32_t poll_us, int cpu, size_t request,
			  size_t reply, bool reversed);
/* Rate (round trips per second) of iters round trips. Never calls uvf. */
double bench_floor_run(struct bench_floor *f, uint64_t iters);
void bench_floor_stop(struct bench_floor *f);

/* The floor of a stream of one-way messages (posted writes): a peer
 * pinned to cpu takes what came with one large recv() per wake-up and
 * yields the CPU after each, as uvf's server does in a posted stream; the
 * sender sends each message with one sendmsg(), then waits for the
 * peer's one-byte acknowledgement of the whole run. */
struct bench_stream {
	pid_t pid;
	int sock;
	size_t msg;
};

void bench_stream_start(struct bench_stream *s, int cpu, size_t msg);
/* Messages per second of iters messages and the acknowledgement. Never
 * calls uvf. */
double bench_stream_run(struct bench_stream *s, uint64_t iters);
void bench_stream_stop(struct bench_stream *s);

/* A raw vfio-user client, no uvf code: the least a client can do, to
 * tell a uvf server's share of a figure from uvf's client's. Connect to
 * path and negotiate VERSION 0.1; the socket, or exits. */
int bench_raw_connect(const char *path);
/* Round trips per second of iters requests of req_len bytes (req, sent
 * as it is), each answered by a reply of reply_len bytes without error,
 * received with recvmsg and a control buffer; with poll_us, polling as
 * the floor does. Never calls uvf. */
double bench_raw_round_trips(int sock, const void *req, size_t req_len, size_t reply_len, uint32_t poll_us,
			     uint64_t iters);
/* Messages per second of iters messages of len bytes that want no reply,
 * one sendmsg each, then one round trip (sync, as above) so that the
 * server has taken them all. Never calls uvf. */
double bench_raw_posted(int sock, const void *msg, size_t len, const void *sync, size_t sync_len, size_t sync_reply,
			uint64_t iters);
void bench_raw_close(int sock);

int bench_read_full(int fd, void *buf, size_t len);
int bench_write_full(int fd, const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* A uvf device in a forked process                                     */
/* ------------------------------------------------------------------ */

struct bench_server_spec {
	int cpu; /* the whole server process is pinned here */
	/* Describe the device (before listen). */
	int (*setup)(struct uvf_device *dev, void *arg);
	/* Optional: runs on a device thread (the server's main thread) while
	 * another thread runs uvf_device_run(); reads commands from cmd_fd,
	 * writes results to result_fd, returns at EOF on cmd_fd. Without it
	 * the main thread just waits for that EOF. */
	void (*device_thread)(struct uvf_device *dev, void *arg, int cmd_fd, int result_fd);
	void *arg;
	struct uvf_serve_opts opts;
	unsigned nofile; /* raise RLIMIT_NOFILE to this (0: leave it) */
};

struct bench_server {
	pid_t pid;
	char dir[64];
	char path[128];
	int cmd_fd;    /* ours: commands to the device thread */
	int result_fd; /* ours: its results */
};

void bench_server_start(struct bench_server *s, const struct bench_server_spec *spec);
void bench_server_stop(struct bench_server *s);

/* Connect a client (poll_us as given; timeout 60 s; BENCH_NO_TWIN_SOCKET=1:
 * no twin socket). Exits on failure. */
struct uvf_client *bench_connect(const struct bench_server *s, uint32_t poll_us);

/* Quiet logger for servers and clients: errors only. */
void bench_log(void *data, enum uvf_log_level level, const char *line);

#endif /* UVF_BENCH_H */
