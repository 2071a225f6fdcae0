/* SPDX-License-Identifier: MIT */
/* Command line, logging, signals and the serve loop of the sample devices. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample_server.h"

static const char *g_prog = "uvf-sample";
static enum uvf_log_level g_level = UVF_LOG_WARNING;
/* The device a signal stops; set only while uvf_device_run() may run. */
static struct uvf_device *volatile g_dev;

static void usage(FILE *out, const char *summary)
{
	fprintf(out,
		"Usage: %s --socket-path=PATH | --fd=N [-v]\n"
		"%s, served over vfio-user.\n"
		"\n"
		"  --socket-path=PATH  listen on a UNIX socket at PATH (also: --socket PATH)\n"
		"  --fd=N              serve on the already listening socket fd N\n"
		"  -v, --verbose       log informational messages (-vv: debug messages)\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"SIGTERM or SIGINT stop the server; the socket file is removed.\n",
		g_prog, summary);
}

static bool parse_fd(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

int sample_parse_args(int argc, char **argv, const char *prog, const char *summary, struct sample_args *args)
{
	enum { OPT_SOCKET_PATH = 256, OPT_FD };
	static const struct option long_options[] = {
		{"socket-path", required_argument, NULL, OPT_SOCKET_PATH},
		{"socket", required_argument, NULL, OPT_SOCKET_PATH},
		{"fd", required_argument, NULL, OPT_FD},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool have_fd = false;
	int c;

	g_prog = prog;
	args->socket_path = NULL;
	args->fd = -1;
	args->verbose = 0;
	while ((c = getopt_long(argc, argv, "vhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET_PATH:
			if (args->socket_path || !*optarg) {
				fprintf(stderr, "%s: %s\n", prog,
					*optarg ? "--socket-path given twice" : "empty --socket-path");
				return 2;
			}
			args->socket_path = optarg;
			break;
		case OPT_FD:
			if (have_fd || !parse_fd(optarg, &args->fd)) {
				fprintf(stderr, "%s: %s\n", prog, have_fd ? "--fd given twice" : "bad --fd value");
				return 2;
			}
			have_fd = true;
			break;
		case 'v':
			args->verbose++;
			break;
		case 'h':
			usage(stdout, summary);
			return 0;
		case 'V':
			printf("%s (uvf) %s\n", prog, UVF_VERSION_STRING);
			return 0;
		default:
			usage(stderr, summary);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return 2;
	}
	/* The server convention: exactly one of the two. */
	if (!args->socket_path == !have_fd) {
		fprintf(stderr, "%s: give either --socket-path=PATH or --fd=N\n", prog);
		usage(stderr, summary);
		return 2;
	}
	if (have_fd && fcntl(args->fd, F_GETFD) < 0) {
		fprintf(stderr, "%s: --fd=%d: %s\n", prog, args->fd, strerror(errno));
		return 2;
	}
	g_level = args->verbose >= 2 ? UVF_LOG_DEBUG : args->verbose == 1 ? UVF_LOG_INFO : UVF_LOG_WARNING;
	return -1;
}

void sample_log(enum uvf_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > g_level)
		return;
	fprintf(stderr, "%s: %s: ", g_prog, uvf_log_level_name(level));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void log_line(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	fprintf(stderr, "%s: %s: %s\n", g_prog, uvf_log_level_name(level), line);
}

static void on_stop_signal(int sig)
{
	int saved_errno = errno;
	struct uvf_device *dev = g_dev;

	(void)sig;
	if (dev)
		uvf_device_stop(dev);
	errno = saved_errno;
}

static void set_stop_signals(bool install)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = install ? on_stop_signal : SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void block_stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int run_device(void *data)
{
	return uvf_device_run(data);
}

int sample_serve(struct uvf_device *dev, const struct sample_args *args)
{
	return sample_serve_loop(dev, args, run_device, dev);
}

int sample_serve_loop(struct uvf_device *dev, const struct sample_args *args, int (*run)(void *data), void *data)
{
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	int ret;

	uvf_device_set_log(dev, log_line, NULL, g_level);
	/* A client that vanishes mid-write must not kill the server. */
	signal(SIGPIPE, SIG_IGN);

	if (args->socket_path)
		ret = uvf_device_listen(dev, args->socket_path, &opts);
	else
		ret = uvf_device_listen_fd(dev, args->fd, &opts);
	if (ret < 0) {
		const char *hint = ret == -EADDRINUSE ? " (another server is listening there)"
				   : ret == -EEXIST   ? " (a file that is not a socket is in the way)"
						      : "";
		if (args->socket_path)
			fprintf(stderr, "%s: cannot listen on %s: %s%s\n", g_prog, args->socket_path, strerror(-ret),
				hint);
		else
			fprintf(stderr, "%s: cannot serve on fd %d: %s\n", g_prog, args->fd, strerror(-ret));
		return 1;
	}

	g_dev = dev;
	set_stop_signals(true);

	ret = run(data);

	/* From here a late signal waits: the caller still has to free the
	 * device, which removes the socket file. */
	block_stop_signals();
	g_dev = NULL;
	set_stop_signals(false);
	if (ret < 0) {
		fprintf(stderr, "%s: serving failed: %s\n", g_prog, strerror(-ret));
		return 1;
	}
	sample_log(UVF_LOG_INFO, "stopped");
	return 0;
}
