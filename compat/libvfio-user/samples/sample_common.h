/* SPDX-License-Identifier: MIT */
/*
 * What the three libvfio-user style samples share: the command line
 * (SOCKET or --socket-path=SOCKET, -v for debug logging), a log function
 * on stderr, and the attach/run loop that serves one client after the
 * other until SIGINT or SIGTERM.
 */
#ifndef VFU_SAMPLE_COMMON_H
#define VFU_SAMPLE_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvfio-user.h"

static volatile sig_atomic_t sample_stop;
static const char *sample_name = "vfu-sample";

/*
 * SIGINT or SIGTERM: stop. The libvfio-user calls block in poll() or
 * recvmsg(), which a signal ends (EINTR) only if it comes while they
 * block: one that comes between the loop's look at sample_stop and the
 * call would be missed, and the program would wait for the next client.
 * So the first one also sets off SIGALRM every second, which ends any
 * such wait until the loop sees the flag.
 */
static void sample_on_signal(int sig)
{
	if (sig != SIGALRM)
		sample_stop = 1;
	if (sample_stop)
		alarm(1);
}

static void sample_log(vfu_ctx_t *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s[%d]: %s\n", sample_name, level, msg);
}

/* The socket path and verbosity from argv; exits on a usage error. */
static const char *sample_args(int argc, char **argv, int *level)
{
	const char *path = NULL;
	const char *slash = strrchr(argv[0], '/');
	sample_name = slash ? slash + 1 : argv[0];
	*level = LOG_ERR;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			*level = LOG_DEBUG;
		else if (!strncmp(argv[i], "--socket-path=", 14))
			path = argv[i] + 14;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: %s [-v] SOCKET | --socket-path=SOCKET\n", argv[0]);
			exit(2);
		}
	}
	if (!path) {
		fprintf(stderr, "usage: %s [-v] SOCKET | --socket-path=SOCKET\n", argv[0]);
		exit(2);
	}
	return path;
}

/* Serve clients one after the other, as libvfio-user programs do:
 * attach, run until the client leaves, attach again. */
static int sample_serve(vfu_ctx_t *ctx)
{
	struct sigaction sa = {.sa_handler = sample_on_signal}; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!sample_stop) {
		if (vfu_attach_ctx(ctx) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "vfu_attach_ctx: %s\n", strerror(errno));
			return 1;
		}
		while (!sample_stop && vfu_run_ctx(ctx) >= 0)
			;
		if (!sample_stop && errno != ENOTCONN && errno != EINTR) {
			fprintf(stderr, "vfu_run_ctx: %s\n", strerror(errno));
			return 1;
		}
	}
	return 0;
}

#endif /* VFU_SAMPLE_COMMON_H */
