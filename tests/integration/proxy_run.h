/* SPDX-License-Identifier: MIT */
/* uvf-proxy as the proxy tests start it: the program named by $UVF_PROXY,
 * its socket and log in a folder of the test's (proxy_run.c). */
#ifndef UVF_TEST_PROXY_RUN_H
#define UVF_TEST_PROXY_RUN_H

#include <sys/types.h>

struct proxy_run {
	pid_t pid;
	char dir[64];	  /* the test's folder: set before proxy_run_start */
	char sock[160];	  /* dir/proxy.sock: where clients connect */
	char server[160]; /* the server socket it forwards to */
	char log[160];	  /* dir/proxy.log: its stderr */
	char trace[160];  /* dir/trace.txt: for a --trace argument */
};

/* Start uvf-proxy --listen dir/proxy.sock --server server, then the
 * NULL-terminated extra arguments; returns once it listens (fails the
 * test when it does not within 2 s). */
void proxy_run_start(struct proxy_run *p, const char *server, char *const extra[]);

/* SIGTERM, and the exit status must be 0. */
void proxy_run_stop(struct proxy_run *p);

#endif
