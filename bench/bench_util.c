/* SPDX-License-Identifier: MIT */
/* Timing, pinning, the report table, the socketpair floor and the forked
 * uvf server shared by the micro-benchmarks (see bench.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_cpus bench_cpu = {0, 0, 1};
int bench_reps = 5;
_Thread_local uint64_t bench_uvf_calls;
static double scale = 1.0;
static const char *program_name = "uvf-bench";

void bench_check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", program_name, what, uvf_strerror(ret));
		exit(1);
	}
}

void bench_init(const char *program)
{
	const char *s;

	program_name = program;
	if ((s = getenv("BENCH_REPS")) && atoi(s) > 0)
		bench_reps = atoi(s) > BENCH_MAX_REPS ? BENCH_MAX_REPS : atoi(s);
	if ((s = getenv("BENCH_SCALE")) && strtod(s, NULL) > 0)
		scale = strtod(s, NULL);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	bench_cpu.server_other = ncpu > 1 ? 1 : -1;
	if ((s = getenv("BENCH_CPUS"))) {
		int a, b;
		if (sscanf(s, "%d,%d", &a, &b) == 2) {
			bench_cpu.client = a;
			bench_cpu.server_same = a;
			bench_cpu.server_other = b;
		}
	}
	/* Line-buffered so that the report interleaves sanely with stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
}

uint64_t bench_iters(uint64_t base)
{
	double n = (double)base * scale;
	return n < 1 ? 1 : (uint64_t)n;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_side_by_side(size_t n, const bench_part_fn *run, void *const *arg, const uint64_t *iters, double *rates)
{
	double seconds[8] = {0};
	uint64_t done[8] = {0};

	if (n == 0 || n > 8)
		bench_check(-EINVAL, "bench_side_by_side: parts");
	for (int s = 0; s < BENCH_SLICES; s++) {
		/* the first part of each slice takes turns too */
		for (size_t k = 0; k < n; k++) {
			size_t i = (k + (size_t)s) % n;
			uint64_t slice = iters[i] / BENCH_SLICES ? iters[i] / BENCH_SLICES : 1;

			seconds[i] += (double)slice / run[i](arg[i], slice);
			done[i] += slice;
		}
	}
	for (size_t i = 0; i < n; i++)
		rates[i] = (double)done[i] / seconds[i];
}

void bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "%s: cannot pin to CPU %d: %s\n", program_name, cpu, strerror(errno));
		exit(1);
	}
}

void bench_timer_start(struct bench_timer *t)
{
	t->calls0 = bench_uvf_calls;
	t->t0 = bench_now_ns();
}

static double timer_rate(const struct bench_timer *t, double ops)
{
	uint64_t ns = bench_now_ns() - t->t0;
	return ops * 1e9 / (double)(ns ? ns : 1);
}

double bench_timer_uvf(const struct bench_timer *t, double ops, uint64_t min_calls, const char *what)
{
	double rate = timer_rate(t, ops);
	uint64_t calls = bench_uvf_calls - t->calls0;

	if (calls < min_calls) {
		fprintf(stderr,
			"%s: %s: the timed part made %llu calls into uvf, expected at least %llu: it does not "
			"measure uvf\n",
			program_name, what, (unsigned long long)calls, (unsigned long long)min_calls);
		exit(1);
	}
	return rate;
}

double bench_timer_floor(const struct bench_timer *t, double ops, const char *what)
{
	double rate = timer_rate(t, ops);
	uint64_t calls = bench_uvf_calls - t->calls0;

	if (calls != 0) {
		fprintf(stderr, "%s: %s: the floor made %llu calls into uvf: it is not a floor\n", program_name, what,
			(unsigned long long)calls);
		exit(1);
	}
	return rate;
}

void bench_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (level <= UVF_LOG_ERROR || getenv("BENCH_VERBOSE"))
		fprintf(stderr, "uvf: %s\n", line);
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[BENCH_MAX_REPS];
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void format_rate(char *out, size_t cap, enum bench_unit unit, double rate)
{
	if (unit == BENCH_BYTES) {
		if (rate >= 1e9)
			snprintf(out, cap, "%.2f GB/s", rate / 1e9);
		else
			snprintf(out, cap, "%.0f MB/s", rate / 1e6);
		return;
	}
	double ns = 1e9 / rate;
	char t[32];
	if (ns >= 10000)
		snprintf(t, sizeof(t), "%.0f µs", ns / 1000);
	else if (ns >= 1000)
		snprintf(t, sizeof(t), "%.1f µs", ns / 1000);
	else if (ns >= 10)
		snprintf(t, sizeof(t), "%.0f ns", ns);
	else
		snprintf(t, sizeof(t), "%.1f ns", ns);
	if (rate >= 1e6)
		snprintf(out, cap, "%.1f M/s (%s)", rate / 1e6, t);
	else
		snprintf(out, cap, "%.1f k/s (%s)", rate / 1e3, t);
}

void bench_table_header(const char *title)
{
	printf("\n### %s\n\n", title);
	printf("| benchmark | floor | CPUs | floor (median) | uvf (median) | ratio min | median | max | target |\n");
	printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
}

void bench_row(const char *name, const char *floor_name, const char *cpus, enum bench_unit unit, const double *floor,
	       const double *value, double target)
{
	double ratio[BENCH_MAX_REPS], lo = 1e300, hi = 0;
	char f[48], v[48], t[32] = "";

	for (int i = 0; i < bench_reps; i++) {
		ratio[i] = floor[i] > 0 ? value[i] / floor[i] : 0;
		lo = ratio[i] < lo ? ratio[i] : lo;
		hi = ratio[i] > hi ? ratio[i] : hi;
	}
	double med = median(ratio, bench_reps);
	format_rate(f, sizeof(f), unit, median(floor, bench_reps));
	format_rate(v, sizeof(v), unit, median(value, bench_reps));
	if (target > 0)
		snprintf(t, sizeof(t), "≥ %g%s", target, med < target ? " **missed**" : "");
	printf("| %s | %s | %s | %s | %s | %.2f | **%.2f** | %.2f | %s |\n", name, floor_name, cpus, f, v, lo, med, hi,
	       t);
}

void bench_row_missing(const char *name, const char *cpus, const char *why)
{
	printf("| %s | | %s | | not available | | | | %s |\n", name, cpus, why);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ------------------------------------------------------------------ */
/* The socketpair floor                                                 */
/* ------------------------------------------------------------------ */

int bench_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int bench_write_full(int fd, const void *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t n = write(fd, (const char *)buf + put, len - put);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		put += (size_t)n;
	}
	return 0;
}

/*
 * The parent's ends of the sockets and pipes of children still running.
 * A child forked later must not keep them open: the earlier child would
 * then never see end-of-file when the parent closes its end to stop it.
 */
static int child_fds[64];
static size_t nchild_fds;

static void child_fd_add(int fd)
{
	if (nchild_fds < sizeof(child_fds) / sizeof(child_fds[0]))
		child_fds[nchild_fds++] = fd;
}

static void child_fd_del(int fd)
{
	for (size_t i = 0; i < nchild_fds; i++) {
		if (child_fds[i] == fd) {
			child_fds[i] = child_fds[--nchild_fds];
			return;
		}
	}
}

/* In a new child: drop the other children's channels. */
static void close_sibling_fds(void)
{
	for (size_t i = 0; i < nchild_fds; i++)
		close(child_fds[i]);
	nchild_fds = 0;
}

/* Receive len bytes the way the floor's kind says; with poll_us, without
 * blocking until poll_us passed, then blocking. */
static int floor_recv(const struct bench_floor *f, void *buf, size_t len)
{
	uint64_t spin_until = f->poll_us ? bench_now_ns() + (uint64_t)f->poll_us * 1000u : 0;
	size_t got = 0;

	while (got < len) {
		bool spin = spin_until && bench_now_ns() < spin_until;
		ssize_t n;

		if (f->kind == BENCH_FLOOR_MSG) {
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int) * 64)];
			} ctl;
			struct iovec iov = {(char *)buf + got, len - got};
			struct msghdr msg = {.msg_iov = &iov,
					     .msg_iovlen = 1,
					     .msg_control = ctl.buf,
					     .msg_controllen = sizeof(ctl.buf)};
			n = recvmsg(f->sock, &msg, MSG_CMSG_CLOEXEC | (spin ? MSG_DONTWAIT : 0));
			if (n > 0 && msg.msg_controllen > 0)
				return -EPROTO; /* nobody sends fds here */
		} else {
			n = spin ? recv(f->sock, (char *)buf + got, len - got, MSG_DONTWAIT)
				 : read(f->sock, (char *)buf + got, len - got);
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || (spin && (errno == EAGAIN || errno == EWOULDBLOCK)))
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static int floor_send(const struct bench_floor *f, const void *buf, size_t len)
{
	size_t put = 0;

	if (f->kind == BENCH_FLOOR_READ_WRITE)
		return bench_write_full(f->sock, buf, len);
	while (put < len) {
		struct iovec iov = {(char *)buf + put, len - put};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = sendmsg(f->sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		put += (size_t)n;
	}
	return 0;
}

/* A socketpair and a child process pinned to cpu at its other end. In
 * the parent: the child's pid, *sock the parent's end (closed by
 * bench_*_stop). In the child: 0, *sock the child's end. */
static pid_t fork_peer(int cpu, int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bench_check(-errno, "socketpair");
	pid = fork();
	if (pid < 0)
		bench_check(-errno, "fork");
	if (pid == 0) {
		close(sv[0]);
		close_sibling_fds();
		bench_pin(cpu);
		*sock = sv[1];
		return 0;
	}
	close(sv[1]);
	*sock = sv[0];
	child_fd_add(*sock);
	return pid;
}

void bench_floor_start_as(struct bench_floor *f, enum bench_floor_kind kind, uint32_t poll_us, int cpu, size_t request,
			  size_t reply, bool reversed)
{
	f->request = request;
	f->reply = reply;
	f->reversed = reversed;
	f->kind = kind;
	f->poll_us = poll_us;
	f->buf = calloc(1, request > reply ? request : reply);
	if (!f->buf)
		bench_check(-ENOMEM, "calloc");
	f->pid = fork_peer(cpu, &f->sock);
	if (f->pid == 0) {
		/* One receive for the request and one send for the reply when
		 * the socket buffer allows: the least a responder can do. */
		if (reversed)
			while (floor_send(f, f->buf, request) == 0 && floor_recv(f, f->buf, reply) == 0)
				;
		else
			while (floor_recv(f, f->buf, request) == 0 && floor_send(f, f->buf, reply) == 0)
				;
		_exit(0);
	}
}

void bench_floor_start(struct bench_floor *f, int cpu, size_t request, size_t reply, bool reversed)
{
	bench_floor_start_as(f, BENCH_FLOOR_READ_WRITE, 0, cpu, request, reply, reversed);
}

double bench_floor_run(struct bench_floor *f, uint64_t iters)
{
	struct bench_timer t;

	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++) {
		if (f->reversed) {
			bench_check(floor_recv(f, f->buf, f->request), "floor receive");
			bench_check(floor_send(f, f->buf, f->reply), "floor send");
		} else {
			bench_check(floor_send(f, f->buf, f->request), "floor send");
			bench_check(floor_recv(f, f->buf, f->reply), "floor receive");
		}
	}
	return bench_timer_floor(&t, (double)iters, "socketpair floor");
}

void bench_floor_stop(struct bench_floor *f)
{
	child_fd_del(f->sock);
	close(f->sock);
	waitpid(f->pid, NULL, 0);
	free(f->buf);
}

/* The peer of a stream floor: per run, the count of messages (8 bytes),
 * then the messages, taken in reads as large as the socket allows with a
 * yield after each (a sender on this CPU goes on sending), then one byte
 * back. */
static void stream_peer(int sock, size_t msg)
{
	static uint8_t buf[65536];
	uint64_t count;

	while (bench_read_full(sock, &count, sizeof(count)) == 0) {
		uint64_t left = count * msg;
		char ack = 'A';

		while (left) {
			ssize_t n = recv(sock, buf, left < sizeof(buf) ? left : sizeof(buf), 0);
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				_exit(n == 0 ? 0 : 1);
			}
			left -= (uint64_t)n;
			sched_yield();
		}
		if (bench_write_full(sock, &ack, 1) != 0)
			_exit(1);
	}
	_exit(0);
}

void bench_stream_start(struct bench_stream *s, int cpu, size_t msg)
{
	s->msg = msg;
	if (msg == 0 || msg > 4096)
		bench_check(-EINVAL, "stream floor message size");
	s->pid = fork_peer(cpu, &s->sock);
	if (s->pid == 0)
		stream_peer(s->sock, msg);
}

double bench_stream_run(struct bench_stream *s, uint64_t iters)
{
	uint8_t buf[4096] = {0};
	struct iovec iov = {buf, s->msg};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct bench_timer t;
	char ack;

	bench_timer_start(&t);
	bench_check(bench_write_full(s->sock, &iters, sizeof(iters)), "stream floor count");
	for (uint64_t i = 0; i < iters;) {
		ssize_t n = sendmsg(s->sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)s->msg) /* a stream socket sends all or blocks */
			bench_check(n < 0 ? -errno : -EIO, "stream floor sendmsg");
		i++;
	}
	bench_check(bench_read_full(s->sock, &ack, 1), "stream floor acknowledgement");
	return bench_timer_floor(&t, (double)iters, "stream floor");
}

void bench_stream_stop(struct bench_stream *s)
{
	child_fd_del(s->sock);
	close(s->sock);
	waitpid(s->pid, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* A raw vfio-user client                                               */
/* ------------------------------------------------------------------ */

int bench_raw_connect(const char *path)
{
	static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	uint8_t msg[UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_version) + sizeof(caps)];
	struct uvf_msg_header hdr = {.command = UVF_CMD_VERSION, .msg_size = sizeof(msg)};
	struct uvf_msg_version version = {.major = 0, .minor = 1};
	uint8_t body[4096];
	int sock;

	if (strlen(path) >= sizeof(addr.sun_path))
		bench_check(-ENAMETOOLONG, "raw client socket path");
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bench_check(-errno, "raw client connect");
	memcpy(msg, &hdr, sizeof(hdr));
	memcpy(msg + sizeof(hdr), &version, sizeof(version));
	memcpy(msg + sizeof(hdr) + sizeof(version), caps, sizeof(caps));
	bench_check(bench_write_full(sock, msg, sizeof(msg)), "raw client VERSION");
	bench_check(bench_read_full(sock, &hdr, sizeof(hdr)), "raw client VERSION reply");
	if (hdr.error || hdr.msg_size < sizeof(hdr) || hdr.msg_size - sizeof(hdr) > sizeof(body))
		bench_check(-EPROTO, "raw client VERSION reply");
	bench_check(bench_read_full(sock, body, hdr.msg_size - sizeof(hdr)), "raw client VERSION reply");
	child_fd_add(sock);
	return sock;
}

/* Send req, receive a reply of reply_len bytes into buf and check it. */
static void raw_round_trip(const struct bench_floor *f, const void *req, size_t req_len, uint8_t *buf,
			   size_t reply_len)
{
	struct uvf_msg_header hdr;

	bench_check(floor_send(f, req, req_len), "raw client send");
	bench_check(floor_recv(f, buf, reply_len), "raw client receive");
	memcpy(&hdr, buf, sizeof(hdr));
	if ((hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_REPLY || hdr.error || hdr.msg_size != reply_len)
		bench_check(-EPROTO, "raw client reply");
}

/* The raw client's side of sock as a floor that receives with recvmsg and
 * a control buffer, once its replies of reply_len bytes are known to fit
 * room bytes (checked here, before the timed loop). */
static struct bench_floor raw_floor(int sock, uint32_t poll_us, size_t reply_len, size_t room)
{
	if (reply_len < UVF_MSG_HEADER_SIZE || reply_len > room)
		bench_check(-EINVAL, "raw client reply size");
	return (struct bench_floor){.sock = sock, .kind = BENCH_FLOOR_MSG, .poll_us = poll_us};
}

double bench_raw_round_trips(int sock, const void *req, size_t req_len, size_t reply_len, uint32_t poll_us,
			     uint64_t iters)
{
	uint8_t buf[256];
	struct bench_floor f = raw_floor(sock, poll_us, reply_len, sizeof(buf));
	struct bench_timer t;

	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		raw_round_trip(&f, req, req_len, buf, reply_len);
	return bench_timer_floor(&t, (double)iters, "raw client");
}

double bench_raw_posted(int sock, const void *msg, size_t len, const void *sync, size_t sync_len, size_t sync_reply,
			uint64_t iters)
{
	uint8_t buf[256];
	struct bench_floor f = raw_floor(sock, 0, sync_reply, sizeof(buf));
	struct bench_timer t;

	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(floor_send(&f, msg, len), "raw client send");
	raw_round_trip(&f, sync, sync_len, buf, sync_reply);
	return bench_timer_floor(&t, (double)iters, "raw client");
}

void bench_raw_close(int sock)
{
	child_fd_del(sock);
	close(sock);
}

/* ------------------------------------------------------------------ */
/* The forked uvf server                                                */
/* ------------------------------------------------------------------ */

static void *dispatch_thread(void *arg)
{
	struct uvf_device *dev = arg;
	int ret = uvf_device_run(dev);
	if (ret < 0)
		fprintf(stderr, "%s: server: uvf_device_run: %s\n", program_name, uvf_strerror(ret));
	return NULL;
}

static void server_child(struct bench_server *s, const struct bench_server_spec *spec, int cmd_fd, int result_fd)
{
	struct uvf_device *dev = NULL;
	pthread_t thread;
	char ready = 'R';

	bench_pin(spec->cpu);
	if (spec->nofile) {
		/* As many as allowed: the hard limit when raising it is not. */
		struct rlimit rl = {spec->nofile, spec->nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	bench_check(uvf_device_new(&dev), "uvf_device_new");
	uvf_device_set_log(dev, bench_log, NULL, UVF_LOG_WARNING);
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0xbe0c, .class_code = 0xff0000};
	bench_check(uvf_device_set_pci_ids(dev, &ids), "uvf_device_set_pci_ids");
	bench_check(spec->setup(dev, spec->arg), "device setup");
	bench_check(uvf_device_listen(dev, s->path, &spec->opts), "uvf_device_listen");
	if (pthread_create(&thread, NULL, dispatch_thread, dev) != 0)
		bench_check(-EAGAIN, "pthread_create");
	if (write(result_fd, &ready, 1) != 1)
		_exit(1);
	if (spec->device_thread) {
		spec->device_thread(dev, spec->arg, cmd_fd, result_fd);
	} else {
		char c;
		while (read(cmd_fd, &c, 1) > 0)
			;
	}
	uvf_device_stop(dev);
	pthread_join(thread, NULL);
	uvf_device_free(dev);
	_exit(0);
}

void bench_server_start(struct bench_server *s, const struct bench_server_spec *spec)
{
	int cmd[2], res[2];
	char ready;

	strcpy(s->dir, "/tmp/uvf-bench-XXXXXX");
	if (!mkdtemp(s->dir))
		bench_check(-errno, "mkdtemp");
	snprintf(s->path, sizeof(s->path), "%s/dev.sock", s->dir);
	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
		bench_check(-errno, "pipe");
	s->pid = fork();
	if (s->pid < 0)
		bench_check(-errno, "fork");
	if (s->pid == 0) {
		close(cmd[1]);
		close(res[0]);
		close_sibling_fds();
		server_child(s, spec, cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	s->cmd_fd = cmd[1];
	s->result_fd = res[0];
	child_fd_add(s->cmd_fd);
	child_fd_add(s->result_fd);
	if (read(s->result_fd, &ready, 1) != 1) {
		fprintf(stderr, "%s: the server process failed to start\n", program_name);
		exit(1);
	}
}

void bench_server_stop(struct bench_server *s)
{
	child_fd_del(s->cmd_fd);
	child_fd_del(s->result_fd);
	close(s->cmd_fd);
	waitpid(s->pid, NULL, 0);
	close(s->result_fd);
	rmdir(s->dir);
}

struct uvf_client *bench_connect(const struct bench_server *s, uint32_t poll_us)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;

	opts.log = bench_log;
	opts.log_level = UVF_LOG_WARNING;
	opts.timeout_ms = 60000;
	opts.poll_us = poll_us;
	/* For comparisons (run.sh's system call count): the default offers one. */
	opts.no_twin_socket = getenv("BENCH_NO_TWIN_SOCKET") && atoi(getenv("BENCH_NO_TWIN_SOCKET"));
	bench_check(uvf_client_connect(&c, s->path, &opts), "uvf_client_connect");
	return c;
}
