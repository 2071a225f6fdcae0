/* SPDX-License-Identifier: MIT */
/*
 * Region access over the socket (issue 5, items 1, 2 and 8):
 *  - REGION_READ/REGION_WRITE round trips of 4 and 8 bytes against a BAR
 *    with callbacks, vs two raw socketpair ping-pongs of exactly the same
 *    message sizes (same CPU and different CPUs): one with read()/write(),
 *    one with recvmsg() and a control buffer and sendmsg(), as a peer that
 *    accepts fds must do;
 *  - posted and corked writes vs round-trip writes;
 *  - adaptive polling on both sides vs a ping-pong that polls the same
 *    way;
 *  - a peer server: the same client's REGION_READ round trips against
 *    libvfio-user's gpio sample (BENCH_PEER_GPIO: its binary, which run.sh
 *    builds from the QEMU set-up's cache when it is there) vs against uvf.
 *
 *   uvf-bench-region               the report
 *   uvf-bench-region --strace N [posted]   only N read round trips (or N
 *                                          posted writes and a flush), for strace
 *   uvf-bench-region --peer                only the peer server's rows
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define HDR	   16u /* struct uvf_msg_header */
#define ACCESS_HDR 16u /* struct uvf_msg_region_access: offset, region, count */

static int bar_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int bar_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)offset, (void)buf, (void)len;
	(*(uint64_t *)data)++;
	return 0;
}

static uint64_t writes_seen; /* in the server process */

static int region_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .read = bar_read, .write = bar_write, .data = &writes_seen};
	(void)arg;
	return uvf_device_set_bar(dev, 0, &bar0);
}

static void start_server(struct bench_server *s, int cpu, uint32_t poll_us)
{
	struct bench_server_spec spec = {.cpu = cpu, .setup = region_setup, .opts = UVF_SERVE_OPTS_INIT};
	spec.opts.poll_us = poll_us;
	bench_server_start(s, &spec);
}

static double read_rate_at(struct uvf_client *c, uint32_t region, uint64_t offset, size_t len, uint64_t iters)
{
	uint8_t buf[8];
	struct bench_timer t;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_read(c, region, offset, buf, len)), "uvf_client_region_read");
	return bench_timer_uvf(&t, (double)iters, iters, "uvf_client_region_read");
}

static double uvf_read_rate(struct uvf_client *c, size_t len, uint64_t iters)
{
	return read_rate_at(c, 0, 0x10, len, iters);
}

static double uvf_write_rate(struct uvf_client *c, size_t len, uint64_t iters)
{
	uint8_t buf[8] = {1};
	struct bench_timer t;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_write(c, 0, 0x10, buf, len)), "uvf_client_region_write");
	return bench_timer_uvf(&t, (double)iters, iters, "uvf_client_region_write");
}

/* The four message shapes: REGION_READ request 16+16, reply 16+16+count;
 * REGION_WRITE request 16+16+count, reply 16+16. */
struct shape {
	const char *name;
	bool write;
	size_t len;
};

static const struct shape shapes[] = {
	{"REGION_READ 4 B", false, 4},
	{"REGION_READ 8 B", false, 8},
	{"REGION_WRITE 4 B", true, 4},
	{"REGION_WRITE 8 B", true, 8},
};

#define FLOOR_RW  "socketpair, read/write"
#define FLOOR_MSG "socketpair, recvmsg with control buffer/sendmsg"

/* The parts bench_side_by_side() runs: a floor, and uvf round trips of
 * one shape. */
struct uvf_part {
	struct uvf_client *c;
	const struct shape *sh;
};

static double floor_part(void *arg, uint64_t iters)
{
	return bench_floor_run(arg, iters);
}

static double uvf_part(void *arg, uint64_t iters)
{
	struct uvf_part *p = arg;

	return p->sh->write ? uvf_write_rate(p->c, p->sh->len, iters) : uvf_read_rate(p->c, p->sh->len, iters);
}

/* A part of raw round trips (bench_raw_round_trips) or raw posted writes
 * (bench_raw_posted, then a REGION_READ 4 B) against a uvf server. */
struct raw_part {
	int sock;
	uint32_t poll_us;
	bool posted;
	uint8_t req[HDR + ACCESS_HDR + 8], sync[HDR + ACCESS_HDR];
	size_t req_len, reply_len;
};

/* REGION_READ (or, write, REGION_WRITE) of len bytes at BAR0 0x10. */
static size_t raw_access(uint8_t *out, bool write, size_t len, uint32_t flags)
{
	struct uvf_msg_header hdr = {.command = write ? UVF_CMD_REGION_WRITE : UVF_CMD_REGION_READ,
				     .msg_size = (uint32_t)(HDR + ACCESS_HDR + (write ? len : 0)),
				     .flags = flags};
	struct uvf_msg_region_access access = {.offset = 0x10, .region = 0, .count = (uint32_t)len};

	memcpy(out, &hdr, HDR);
	memcpy(out + HDR, &access, ACCESS_HDR);
	if (write)
		memset(out + HDR + ACCESS_HDR, 1, len);
	return hdr.msg_size;
}

static void raw_part_init(struct raw_part *p, int sock, const struct shape *sh, uint32_t poll_us, bool posted)
{
	memset(p, 0, sizeof(*p));
	p->sock = sock;
	p->poll_us = poll_us;
	p->posted = posted;
	p->req_len = raw_access(p->req, sh->write, sh->len, posted ? UVF_MSG_FLAG_NO_REPLY : 0);
	p->reply_len = HDR + ACCESS_HDR + (sh->write ? 0 : sh->len);
	raw_access(p->sync, false, 4, 0);
}

static double raw_part(void *arg, uint64_t iters)
{
	struct raw_part *p = arg;

	if (p->posted)
		return bench_raw_posted(p->sock, p->req, p->req_len, p->sync, sizeof(p->sync), HDR + ACCESS_HDR + 4,
					iters);
	return bench_raw_round_trips(p->sock, p->req, p->req_len, p->reply_len, p->poll_us, iters);
}

/* Round trips vs the read()/write() floor and the fd-capable recvmsg()/
 * sendmsg() floor, the three side by side (bench_side_by_side), so that
 * uvf's figure sits next to both of its floors. */
static void round_trip_rows(struct uvf_client *c, int server_cpu, const char *cpus, const char *prefix, double target,
			    const struct shape *only, size_t nshapes)
{
	uint64_t iters = bench_iters(10000);
	for (size_t k = 0; k < nshapes; k++) {
		const struct shape *sh = &only[k];
		size_t req = HDR + ACCESS_HDR + (sh->write ? sh->len : 0);
		size_t rep = HDR + ACCESS_HDR + (sh->write ? 0 : sh->len);
		struct bench_floor rw, msg;
		struct uvf_part up = {c, sh};
		const bench_part_fn run[3] = {floor_part, uvf_part, floor_part};
		void *const arg[3] = {&rw, &up, &msg};
		double rw_rate[BENCH_MAX_REPS], msg_rate[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
		char name[96];

		bench_floor_start_as(&rw, BENCH_FLOOR_READ_WRITE, 0, server_cpu, req, rep, false);
		bench_floor_start_as(&msg, BENCH_FLOOR_MSG, 0, server_cpu, req, rep, false);
		bench_floor_run(&rw, iters / 10); /* warm up all three */
		bench_floor_run(&msg, iters / 10);
		uvf_part(&up, iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			double rates[3];

			bench_side_by_side(3, run, arg, (const uint64_t[3]){iters, iters, iters}, rates);
			rw_rate[r] = rates[0];
			val[r] = rates[1];
			msg_rate[r] = rates[2];
		}
		bench_floor_stop(&msg);
		bench_floor_stop(&rw);
		snprintf(name, sizeof(name), "%s%s", prefix, sh->name);
		bench_row(name, FLOOR_RW, cpus, BENCH_OPS, rw_rate, val, target);
		bench_row(name, FLOOR_MSG, cpus, BENCH_OPS, msg_rate, val, target);
	}
}

/* Item 1: round trips vs the socketpair floor. */
static void bench_round_trips(void)
{
	bench_table_header("Round trips: uvf_client_region_read/write vs socketpair ping-pongs of the same sizes "
			   "(read/write, and recvmsg/sendmsg as an fd-accepting peer)");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		if (cpu < 0)
			continue;
		struct bench_server s;
		start_server(&s, cpu, 0);
		struct uvf_client *c = bench_connect(&s, 0);
		round_trip_rows(c, cpu, other ? "different" : "same", "", 0.95, shapes, 4);
		uvf_client_close(c);
		bench_server_stop(&s);
	}
	/* The default client offers a twin socket (a second socket for the
	 * server's requests); without it there is one socket to wait on. */
	int cpu = bench_cpu.server_other >= 0 ? bench_cpu.server_other : bench_cpu.server_same;
	const char *env = getenv("BENCH_NO_TWIN_SOCKET");
	struct bench_server s;
	start_server(&s, cpu, 0);
	setenv("BENCH_NO_TWIN_SOCKET", "1", 1);
	struct uvf_client *c = bench_connect(&s, 0);
	if (env)
		setenv("BENCH_NO_TWIN_SOCKET", env, 1);
	else
		unsetenv("BENCH_NO_TWIN_SOCKET");
	round_trip_rows(c, cpu, bench_cpu.server_other >= 0 ? "different" : "same", "no twin socket: ", 0.95, shapes,
			1);
	uvf_client_close(c);
	bench_server_stop(&s);
}

static double posted_rate(struct uvf_client *c, uint64_t iters, bool corked)
{
	uint32_t v = 1;
	struct bench_timer t;
	bench_timer_start(&t);
	if (corked)
		bench_check(BENCH_UVF(uvf_client_cork(c, true)), "uvf_client_cork");
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_write_posted(c, 0, 0x10, &v, sizeof(v))),
			    "uvf_client_region_write_posted");
	if (corked)
		bench_check(BENCH_UVF(uvf_client_cork(c, false)), "uvf_client_cork");
	bench_check(BENCH_UVF(uvf_client_flush(c)), "uvf_client_flush");
	return bench_timer_uvf(&t, (double)iters, iters + 1, "posted REGION_WRITE");
}

/* Parts for bench_side_by_side(): round-trip writes of 4 B, posted or
 * corked writes then a flush, and the bare sendmsg stream. */
struct posted_part {
	struct uvf_client *c;
	bool corked;
};

static double rt_write_part(void *arg, uint64_t iters)
{
	return uvf_write_rate(((struct posted_part *)arg)->c, 4, iters);
}

static double posted_part(void *arg, uint64_t iters)
{
	struct posted_part *p = arg;

	return posted_rate(p->c, iters, p->corked);
}

static double stream_part(void *arg, uint64_t iters)
{
	return bench_stream_run(arg, iters);
}

/* Item 2: posted and corked writes, floor = round-trip writes (a uvf path:
 * the figure is what posting saves); and posted writes against a bare
 * stream of the same messages, what bounds them. All four side by side. */
static void bench_posted(void)
{
	bench_table_header("Posted writes (then one uvf_client_flush) vs round-trip REGION_WRITE 4 B");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		if (cpu < 0)
			continue;
		struct bench_server s;
		start_server(&s, cpu, 0);
		struct uvf_client *c = bench_connect(&s, 0);
		const char *cpus = other ? "different" : "same";
		uint64_t rt_iters = bench_iters(10000), posted_iters = bench_iters(30000);
		double rt[BENCH_MAX_REPS], posted[BENCH_MAX_REPS], corked[BENCH_MAX_REPS], stream[BENCH_MAX_REPS];
		bool multi = uvf_client_server_caps(c)->write_multiple;
		struct bench_stream st;
		struct posted_part plain = {c, false}, cork = {c, true};
		struct raw_part raw;
		const bench_part_fn run[5] = {rt_write_part, posted_part, posted_part, stream_part, raw_part};
		void *const arg[5] = {&plain, &plain, &cork, &st, &raw};
		/* corked writes are so fast that a slice of them holds ten
		 * times as many, or the flush that ends it would count */
		const uint64_t iters[5] = {rt_iters, posted_iters, 10 * posted_iters, posted_iters, posted_iters};
		double raw_rate[BENCH_MAX_REPS];

		/* a server serves one client at a time: the raw client has its own */
		struct bench_server raw_s;
		start_server(&raw_s, cpu, 0);
		raw_part_init(&raw, bench_raw_connect(raw_s.path), &shapes[2], 0, true);

		bench_stream_start(&st, cpu, HDR + ACCESS_HDR + 4);
		uvf_write_rate(c, 4, rt_iters / 10);
		posted_rate(c, posted_iters / 10, false);
		bench_stream_run(&st, posted_iters / 10);
		raw_part(&raw, posted_iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			double rates[5];

			bench_side_by_side(5, run, arg, iters, rates);
			rt[r] = rates[0];
			posted[r] = rates[1];
			corked[r] = rates[2];
			stream[r] = rates[3];
			raw_rate[r] = rates[4];
		}
		bench_stream_stop(&st);
		bench_raw_close(raw.sock);
		bench_server_stop(&raw_s);
		bench_row("posted REGION_WRITE 4 B", "uvf round-trip REGION_WRITE 4 B", cpus, BENCH_OPS, rt, posted, 10);
		bench_row(multi ? "corked, REGION_WRITE_MULTI" : "corked (server without write_multiple)",
			  "uvf round-trip REGION_WRITE 4 B", cpus, BENCH_OPS, rt, corked, 10);
		/* what bounds the first row: one sendmsg per message */
		bench_row("posted REGION_WRITE 4 B", "socketpair stream, one sendmsg per 36 B message", cpus, BENCH_OPS,
			  stream, posted, 0);
		/* uvf's server alone: a raw client's posted writes */
		bench_row("raw client's posted REGION_WRITE 4 B", "socketpair stream, one sendmsg per 36 B message", cpus,
			  BENCH_OPS, stream, raw_rate, 0);
		uvf_client_close(c);
		bench_server_stop(&s);
	}
}

/* Item 8: poll_us on both sides, different CPUs, vs a floor that polls
 * the same way: both sides of the fd-capable ping-pong try recvmsg without
 * blocking for up to poll_us before they block. */
static void bench_polling(void)
{
	uint32_t poll_us = 50;
	uint64_t iters = bench_iters(10000);
	char title[160], floor_name[96];

	snprintf(title, sizeof(title),
		 "Adaptive polling (poll_us = %u on server and client) vs a socketpair ping-pong polling as long",
		 (unsigned)poll_us);
	snprintf(floor_name, sizeof(floor_name), "%s, polling %u µs", FLOOR_MSG, (unsigned)poll_us);
	bench_table_header(title);
	if (bench_cpu.server_other < 0) {
		bench_row_missing("polling", "different", "needs two CPUs");
		return;
	}
	struct bench_server s;
	start_server(&s, bench_cpu.server_other, poll_us);
	struct uvf_client *c = bench_connect(&s, poll_us);
	/* a server serves one client at a time: the raw client has its own */
	struct bench_server raw_s;
	start_server(&raw_s, bench_cpu.server_other, poll_us);
	int raw_sock = bench_raw_connect(raw_s.path);
	static const struct shape polled[] = {{"REGION_READ 4 B", false, 4}, {"REGION_WRITE 4 B", true, 4}};
	for (size_t k = 0; k < 2; k++) {
		const struct shape *sh = &polled[k];
		size_t req = HDR + ACCESS_HDR + (sh->write ? sh->len : 0);
		size_t rep = HDR + ACCESS_HDR + (sh->write ? 0 : sh->len);
		double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
		struct bench_floor f;
		struct uvf_part up = {c, sh};
		struct raw_part raw;
		const bench_part_fn run[3] = {floor_part, uvf_part, raw_part};
		void *const arg[3] = {&f, &up, &raw};
		double raw_rate[BENCH_MAX_REPS];
		char name[96];

		bench_floor_start_as(&f, BENCH_FLOOR_MSG, poll_us, bench_cpu.server_other, req, rep, false);
		raw_part_init(&raw, raw_sock, sh, poll_us, false);
		bench_floor_run(&f, iters / 10);
		uvf_part(&up, iters / 10);
		raw_part(&raw, iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			double rates[3];

			bench_side_by_side(3, run, arg, (const uint64_t[3]){iters, iters, iters}, rates);
			floor[r] = rates[0];
			val[r] = rates[1];
			raw_rate[r] = rates[2];
		}
		bench_floor_stop(&f);
		snprintf(name, sizeof(name), "polling: %s", sh->name);
		bench_row(name, floor_name, "different", BENCH_OPS, floor, val, 0.95);
		/* uvf's server alone, answering a raw client that polls as the
		 * floor's does */
		snprintf(name, sizeof(name), "polling: %s, raw client", sh->name);
		bench_row(name, floor_name, "different", BENCH_OPS, floor, raw_rate, 0);
	}
	bench_raw_close(raw_sock);
	bench_server_stop(&raw_s);
	uvf_client_close(c);
	bench_server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* A peer server: libvfio-user's gpio sample                            */
/* ------------------------------------------------------------------ */

struct peer {
	pid_t pid;
	struct bench_server as_server; /* its socket path, for bench_connect */
};

/* Start the gpio sample (binary at bin) pinned to cpu, on a fresh socket;
 * false with *why when it does not come up. */
static bool peer_start(struct peer *p, const char *bin, int cpu, const char **why)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->as_server.dir, sizeof(p->as_server.dir), "/tmp/uvf-bench-peer.XXXXXX");
	if (!mkdtemp(p->as_server.dir)) {
		*why = "mkdtemp failed";
		return false;
	}
	snprintf(p->as_server.path, sizeof(p->as_server.path), "%s/gpio.sock", p->as_server.dir);
	p->pid = fork();
	if (p->pid < 0) {
		*why = "fork failed";
		return false;
	}
	if (p->pid == 0) {
		bench_pin(cpu);
		execl(bin, bin, p->as_server.path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		int status;
		if (stat(p->as_server.path, &st) == 0)
			return true;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			*why = "the gpio sample exited at start";
			return false;
		}
		usleep(10000);
	}
	*why = "the gpio sample's socket did not appear within 5 s";
	return false;
}

static void peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	unlink(p->as_server.path);
	rmdir(p->as_server.dir);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* read_rate_at, each round trip timed too, for the rates of the median
 * and of the fastest tenth of the round trips. Across CPUs round trips
 * fall in a few bands some microseconds apart (whether a CPU had gone to
 * sleep, on this VM), so the mean alone does not tell the server's own
 * cost from how often a wake-up was slow. */
struct spread_part {
	struct uvf_client *c;
	uint32_t region;
	uint64_t offset;
	uint64_t *t; /* each round trip's time, n so far */
	uint64_t n, cap;
};

/* A part of bench_side_by_side(): iters REGION_READ 4 B round trips,
 * each one's time kept. */
static double spread_part(void *arg, uint64_t iters)
{
	struct spread_part *p = arg;
	uint8_t buf[8];
	struct bench_timer timer;

	if (iters > p->cap - p->n)
		bench_check(-ENOBUFS, "spread_part");
	bench_timer_start(&timer);
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t begin = bench_now_ns();
		bench_check(BENCH_UVF(uvf_client_region_read(p->c, p->region, p->offset, buf, 4)),
			    "uvf_client_region_read");
		p->t[p->n++] = bench_now_ns() - begin;
	}
	return bench_timer_uvf(&timer, (double)iters, iters, "uvf_client_region_read");
}

/* The median and the 10th percentile (as rates) of the round trips kept
 * so far; then forget them. */
static void spread_result(struct spread_part *p, double *median, double *fast)
{
	qsort(p->t, p->n, sizeof(*p->t), cmp_u64);
	*median = 1e9 / (double)(p->t[p->n / 2] ? p->t[p->n / 2] : 1);
	*fast = 1e9 / (double)(p->t[p->n / 10] ? p->t[p->n / 10] : 1);
	p->n = 0;
}

/* The same uvf client doing REGION_READ 4 B round trips against the gpio
 * sample of libvfio-user (BAR2 offset 0) and against uvf (the round-trip
 * device above, BAR0), side by side (bench_side_by_side). */
static void bench_peer(void)
{
	const char *bin = getenv("BENCH_PEER_GPIO");
	const char *skip = getenv("BENCH_PEER_SKIP");
	const char *name = "REGION_READ 4 B, same client";

	bench_table_header("A peer server: uvf vs libvfio-user's gpio sample (samples/gpio-pci-idio-16), "
			   "same uvf client, REGION_READ 4 B round trips");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		const char *cpus = other ? "different" : "same";
		const char *why = NULL;
		struct peer p;

		if (cpu < 0)
			continue;
		if (!bin || !bin[0]) {
			bench_row_missing(name, cpus, skip && skip[0] ? skip : "skipped (BENCH_PEER_GPIO not set)");
			continue;
		}
		if (!peer_start(&p, bin, cpu, &why)) {
			char text[160];
			snprintf(text, sizeof(text), "skipped (%s)", why);
			peer_stop(&p);
			bench_row_missing(name, cpus, text);
			continue;
		}
		struct bench_server s;
		start_server(&s, cpu, 0);
		struct uvf_client *to_uvf = bench_connect(&s, 0);
		struct uvf_client *to_peer = bench_connect(&p.as_server, 0);
		uint64_t iters = bench_iters(10000);
		double peer_rate[BENCH_MAX_REPS], uvf_rate[BENCH_MAX_REPS];
		double peer_median[BENCH_MAX_REPS], uvf_median[BENCH_MAX_REPS];
		double peer_fast[BENCH_MAX_REPS], uvf_fast[BENCH_MAX_REPS];

		/* a slice is at least one round trip */
		uint64_t cap = iters > BENCH_SLICES ? iters : BENCH_SLICES;
		struct spread_part parts[2] = {{to_peer, 2, 0, calloc(cap, sizeof(uint64_t)), 0, cap},
					       {to_uvf, 0, 0x10, calloc(cap, sizeof(uint64_t)), 0, cap}};
		const bench_part_fn run[2] = {spread_part, spread_part};
		void *const arg[2] = {&parts[0], &parts[1]};

		if (!parts[0].t || !parts[1].t)
			bench_check(-ENOMEM, "calloc");
		read_rate_at(to_peer, 2, 0, 4, iters / 10);
		read_rate_at(to_uvf, 0, 0x10, 4, iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			double rates[2];

			bench_side_by_side(2, run, arg, (const uint64_t[2]){iters, iters}, rates);
			peer_rate[r] = rates[0];
			uvf_rate[r] = rates[1];
			spread_result(&parts[0], &peer_median[r], &peer_fast[r]);
			spread_result(&parts[1], &uvf_median[r], &uvf_fast[r]);
		}
		free(parts[0].t);
		free(parts[1].t);
		bench_row(name, "libvfio-user gpio sample, same client", cpus, BENCH_OPS, peer_rate, uvf_rate, 1.0);
		bench_row("median round trip", "libvfio-user's median round trip", cpus, BENCH_OPS, peer_median,
			  uvf_median, 0);
		bench_row("fastest tenth (10th percentile)", "libvfio-user's 10th percentile", cpus, BENCH_OPS,
			  peer_fast, uvf_fast, 0);
		uvf_client_close(to_peer);
		uvf_client_close(to_uvf);
		bench_server_stop(&s);
		peer_stop(&p);
	}
}

/* Only uvf round trips (or posted writes), different CPUs, so that strace
 * counts system calls of the uvf path alone. */
/* One run of iters operations, for strace or perf: round trips, posted
 * writes, or round trips with both sides polling 50 µs. */
static void strace_mode(uint64_t iters, const char *mode)
{
	struct bench_server s;
	int cpu = bench_cpu.server_other >= 0 ? bench_cpu.server_other : bench_cpu.server_same;
	bool posted = mode && !strcmp(mode, "posted");
	uint32_t poll_us = mode && !strcmp(mode, "polling") ? 50 : 0;
	start_server(&s, cpu, poll_us);
	struct uvf_client *c = bench_connect(&s, poll_us);
	printf("client %d server %d\n", (int)getpid(), (int)s.pid);
	if (!posted)
		uvf_read_rate(c, 4, iters);
	else
		posted_rate(c, iters, false);
	uvf_client_close(c);
	bench_server_stop(&s);
}

int main(int argc, char **argv)
{
	bench_init("uvf-bench-region");
	bench_pin(bench_cpu.client);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--strace") &&
	    (argc == 3 || !strcmp(argv[3], "posted") || !strcmp(argv[3], "polling"))) {
		strace_mode(strtoull(argv[2], NULL, 0), argc == 4 ? argv[3] : NULL);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--peer")) {
		bench_peer();
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--strace N [posted|polling] | --peer]\n", argv[0]);
		return 2;
	}
	bench_round_trips();
	bench_posted();
	bench_polling();
	bench_peer();
	return 0;
}
