/* SPDX-License-Identifier: MIT */
/*
 * uvf-proxy: sits between a vfio-user client and a vfio-user server,
 * forwards every message and fd both ways, and can trace them.
 *
 *   uvf-proxy --listen CLIENT_SOCKET --server SERVER_SOCKET [options]
 *
 * docs/proxy.md is the manual. Exit status 0 after SIGINT/SIGTERM or when
 * the client left, 1 when the proxy cannot start or reach the server, 2
 * on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/proxy.h"

static int stop_fd = -1, upgrade_fd = -1;

void proxy_log(const char *fmt, ...)
{
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "uvf-proxy: %s\n", line);
}

uint64_t proxy_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	uint64_t one = 1;
	int saved = errno;

	if (write(sig == SIGUSR1 ? upgrade_fd : stop_fd, &one, sizeof(one)) < 0) {
		/* already readable: nothing to add */
	}
	errno = saved;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: uvf-proxy --listen CLIENT_SOCKET --server SERVER_SOCKET [options]\n"
		"Forward vfio-user messages and their fds between a client and a server.\n"
		"  --listen PATH        the socket clients connect to\n"
		"  --server PATH        the server's socket\n"
		"  --keep               serve the next client when one leaves (default: exit)\n"
		"  --trace FILE|-       one line per message, to FILE or stdout\n"
		"  --json               trace and summary as JSON, one object per line\n"
		"  --filter CMD,...     trace only these commands (REGION_READ,DMA_MAP,...)\n"
		"  --hexdump N          show the first N payload bytes of each traced message\n"
		"  --summary FILE|-     where the summary goes at exit (default: stderr)\n"
		"  --send-timeout MS    drop a session whose receiver takes nothing for MS (default %d)\n"
		"  --reconnect          when the server leaves, keep the client and wait for the server\n"
		"                       to listen again; then replay the session to it\n"
		"  --restart-cmd CMD    the same, starting the server with sh -c CMD\n"
		"  --hold-ms MS         how long the client's requests wait for a server away (default %d),\n"
		"                       then they fail with ETIMEDOUT\n"
		"  --upgrade-cmd CMD    on SIGUSR1, start a new server with sh -c CMD and move the device\n"
		"                       to it with migration v2 (CMD and --restart-cmd find the socket\n"
		"                       path to use in $UVF_PROXY_SOCKET)\n",
		UVF_WIRE_DEFAULT_SEND_TIMEOUT_MS, PROXY_DEFAULT_HOLD_MS);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' || *out > max ? -EINVAL : 0;
}

/* Open "-" as stdout, else the file. */
static FILE *open_out(const char *path, bool *close_it)
{
	FILE *f;

	*close_it = false;
	if (strcmp(path, "-") == 0)
		return stdout;
	f = fopen(path, "we");
	if (f)
		*close_it = true;
	return f;
}

/* Accept clients until stopped (or, without --keep, until one left). */
static int serve(struct proxy *p, int listen_fd)
{
	struct pollfd pfd[2] = {
		{.fd = listen_fd, .events = POLLIN},
		{.fd = p->stop_fd, .events = POLLIN},
	};

	for (;;) {
		struct uvf_wire *client;
		int rc;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			proxy_log("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[1].revents)
			return 0;
		rc = uvf_wire_accept(&client, listen_fd);
		if (rc == -EAGAIN)
			continue;
		if (rc < 0) {
			proxy_log("accept: %s", strerror(-rc));
			continue;
		}
		rc = proxy_session_run(p, client);
		if (!p->opts.keep)
			return rc < 0 ? 1 : 0;
	}
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"server", required_argument, NULL, 's'},
		{"keep", no_argument, NULL, 'k'},
		{"trace", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"filter", required_argument, NULL, 'f'},
		{"hexdump", required_argument, NULL, 'x'},
		{"summary", required_argument, NULL, 'S'},
		{"send-timeout", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"reconnect", no_argument, NULL, 'r'},
		{"restart-cmd", required_argument, NULL, 'R'},
		{"hold-ms", required_argument, NULL, 'H'},
		{"upgrade-cmd", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	struct proxy p = {
		.opts = {.send_timeout_ms = UVF_WIRE_DEFAULT_SEND_TIMEOUT_MS, .hold_ms = PROXY_DEFAULT_HOLD_MS}};
	const char *trace_path = NULL, *filter = NULL, *summary_path = NULL;
	FILE *summary = stderr;
	bool close_summary = false;
	struct sigaction sa = {.sa_handler = on_signal};
	unsigned long v;
	int opt, listen_fd, rc;

	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			p.opts.listen_path = optarg;
			break;
		case 's':
			p.opts.server_path = optarg;
			break;
		case 'k':
			p.opts.keep = true;
			break;
		case 't':
			trace_path = optarg;
			break;
		case 'j':
			p.trace.json = true;
			break;
		case 'f':
			filter = optarg;
			break;
		case 'x':
			if (parse_uint(optarg, UVF_WIRE_DEFAULT_MAX_MSG_SIZE, &v)) {
				proxy_log("--hexdump: not a byte count: %s", optarg);
				return 2;
			}
			p.trace.hexdump = v;
			break;
		case 'S':
			summary_path = optarg;
			break;
		case 'T':
			if (parse_uint(optarg, 3600000, &v) || v == 0) {
				proxy_log("--send-timeout: not a time in ms (1..3600000): %s", optarg);
				return 2;
			}
			p.opts.send_timeout_ms = (int)v;
			break;
		case 'r':
			p.opts.reconnect = true;
			break;
		case 'R':
			p.opts.restart_cmd = optarg;
			p.opts.reconnect = true;
			break;
		case 'U':
			p.opts.upgrade_cmd = optarg;
			p.opts.reconnect = true;
			break;
		case 'H':
			if (parse_uint(optarg, 3600000, &v)) {
				proxy_log("--hold-ms: not a time in ms (0..3600000): %s", optarg);
				return 2;
			}
			p.opts.hold_ms = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !p.opts.listen_path || !p.opts.server_path) {
		usage(stderr);
		return 2;
	}
	if (filter && proxy_trace_filter(&p.trace, filter) < 0)
		return 2;
	if (trace_path) {
		p.trace.out = open_out(trace_path, &p.trace.close_out);
		if (!p.trace.out) {
			proxy_log("--trace: cannot open %s: %s", trace_path, strerror(errno));
			return 1;
		}
	}
	if (summary_path) {
		summary = open_out(summary_path, &close_summary);
		if (!summary) {
			proxy_log("--summary: cannot open %s: %s", summary_path, strerror(errno));
			return 1;
		}
	}
	pthread_mutex_init(&p.trace.lock, NULL);
	p.trace.start_ns = proxy_now_ns();
	if (proxy_stats_init(&p.stats) < 0) {
		proxy_log("out of memory");
		return 1;
	}
	stop_fd = p.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	upgrade_fd = p.upgrade_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p.server_path_first = p.opts.server_path;
	p.server_path_next = malloc(strlen(p.opts.server_path) + sizeof(".next"));
	if (stop_fd < 0 || upgrade_fd < 0 || !p.server_path_next) {
		proxy_log("cannot start: %s", strerror(errno));
		return 1;
	}
	sprintf(p.server_path_next, "%s.next", p.opts.server_path);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = uvf_wire_listen(p.opts.listen_path, &listen_fd);
	if (rc < 0) {
		proxy_log("cannot listen at %s: %s", p.opts.listen_path, strerror(-rc));
		rc = 1;
	} else {
		proxy_log("listening at %s for the server at %s", p.opts.listen_path, p.opts.server_path);
		rc = serve(&p, listen_fd);
		close(listen_fd);
		unlink(p.opts.listen_path);
	}
	if (p.server_pid > 0) {
		/* the server --restart-cmd started goes with the proxy */
		kill(p.server_pid, SIGTERM);
		waitpid(p.server_pid, NULL, 0);
	}
	proxy_stats_print(&p.stats, summary, p.trace.json);
	if (close_summary)
		fclose(summary);
	if (p.trace.close_out)
		fclose(p.trace.out);
	else if (p.trace.out)
		fflush(p.trace.out);
	proxy_stats_destroy(&p.stats);
	pthread_mutex_destroy(&p.trace.lock);
	close(stop_fd);
	close(upgrade_fd);
	free(p.server_path_next);
	return rc;
}
