/* SPDX-License-Identifier: MIT */
/*
 * The cost of uvf-proxy on the message path: the same uvf client's
 * REGION_READ 4 B round trips through the proxy and directly to the same
 * server, a repetition of each next to each other (the ratio is proxied /
 * direct: the share of the direct rate the proxy keeps). With the proxy
 * only forwarding, tracing every message (--trace to /dev/null), and
 * keeping a copy of each request until its reply (--reconnect). The proxy
 * runs on the server's CPU.
 *
 *   uvf-bench-proxy        the report; BENCH_PROXY names the uvf-proxy
 *                          binary (default: ../tools/uvf-proxy next to
 *                          this program, as in the build tree)
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int bar_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int proxy_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .read = bar_read};
	(void)arg;
	return uvf_device_set_bar(dev, 0, &bar0);
}

struct proxy_run {
	pid_t pid;
	struct bench_server as_server; /* its socket, for bench_connect */
};

static void proxy_binary(char *out, size_t size)
{
	const char *env = getenv("BENCH_PROXY");
	char self[PATH_MAX - 32];
	ssize_t n;

	if (env && env[0]) {
		snprintf(out, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "uvf-bench-proxy: cannot find myself; set BENCH_PROXY\n");
		exit(1);
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(out, size, "%s/../tools/uvf-proxy", self);
}

enum proxy_mode {
	FORWARD,   /* forwarding only */
	TRACE,	   /* and a trace line per message, to /dev/null */
	RECONNECT, /* and a copy of every request kept until its reply */
};

static const char *const mode_names[] = {
	[FORWARD] = "REGION_READ 4 B through uvf-proxy",
	[TRACE] = "REGION_READ 4 B through uvf-proxy --trace /dev/null",
	[RECONNECT] = "REGION_READ 4 B through uvf-proxy --reconnect",
};

static void proxy_start(struct proxy_run *p, const struct bench_server *s, int cpu, enum proxy_mode mode)
{
	char bin[PATH_MAX];

	proxy_binary(bin, sizeof(bin));
	memset(p, 0, sizeof(*p));
	snprintf(p->as_server.path, sizeof(p->as_server.path), "%s/proxy.sock", s->dir);
	p->pid = fork();
	if (p->pid < 0) {
		perror("fork");
		exit(1);
	}
	if (p->pid == 0) {
		/* its log says each session ended: not for the report */
		if (!freopen("/dev/null", "w", stderr))
			_exit(127);
		bench_pin(cpu);
		if (mode == TRACE)
			execl(bin, bin, "--keep", "--listen", p->as_server.path, "--server", s->path, "--trace",
			      "/dev/null", "--summary", "/dev/null", (char *)NULL);
		else if (mode == RECONNECT)
			execl(bin, bin, "--keep", "--reconnect", "--listen", p->as_server.path, "--server", s->path,
			      "--summary", "/dev/null", (char *)NULL);
		else
			execl(bin, bin, "--keep", "--listen", p->as_server.path, "--server", s->path, "--summary",
			      "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		int status;

		if (stat(p->as_server.path, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			fprintf(stderr, "uvf-bench-proxy: %s exited at start\n", bin);
			exit(1);
		}
		usleep(10000);
	}
	fprintf(stderr, "uvf-bench-proxy: %s did not listen within 5 s\n", bin);
	exit(1);
}

static void proxy_stop(struct proxy_run *p)
{
	kill(p->pid, SIGTERM);
	waitpid(p->pid, NULL, 0);
}

static double read_rate(struct uvf_client *c, uint64_t iters)
{
	uint8_t buf[4];
	struct bench_timer t;

	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_read(c, 0, 0x10, buf, sizeof(buf))), "uvf_client_region_read");
	return bench_timer_uvf(&t, (double)iters, iters, "uvf_client_region_read");
}

static void proxy_rows(enum proxy_mode mode)
{
	const char *name = mode_names[mode];

	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		const char *cpus = other ? "different" : "same";
		struct bench_server_spec spec = {.cpu = cpu, .setup = proxy_setup, .opts = UVF_SERVE_OPTS_INIT};
		struct bench_server s;
		struct proxy_run p;

		if (cpu < 0)
			continue;
		bench_server_start(&s, &spec);
		proxy_start(&p, &s, cpu, mode);
		/* one server serves one client at a time: direct first, closed,
		 * then through the proxy, alternating per repetition */
		uint64_t iters = bench_iters(10000);
		double direct[BENCH_MAX_REPS], proxied[BENCH_MAX_REPS];

		for (int r = -1; r < bench_reps; r++) {
			struct uvf_client *c = bench_connect(&s, 0);
			double d = read_rate(c, r < 0 ? iters / 10 : iters);
			uvf_client_close(c);
			c = bench_connect(&p.as_server, 0);
			double v = read_rate(c, r < 0 ? iters / 10 : iters);
			uvf_client_close(c);
			if (r >= 0) {
				direct[r] = d;
				proxied[r] = v;
			}
		}
		bench_row(name, "the same client, directly to the server", cpus, BENCH_OPS, direct, proxied, 0);
		proxy_stop(&p);
		bench_server_stop(&s);
	}
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-proxy");
	bench_pin(bench_cpu.client);
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-proxy\n");
		return 2;
	}
	bench_table_header("uvf-proxy on the message path: REGION_READ 4 B round trips through the proxy vs directly "
			   "(the proxy on the server's CPU)");
	proxy_rows(FORWARD);
	proxy_rows(TRACE);
	proxy_rows(RECONNECT);
	return 0;
}
