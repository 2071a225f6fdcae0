/* SPDX-License-Identifier: MIT */
/* uvf-proxy as the proxy tests start it: the program named by $UVF_PROXY,
 * its socket and log in a folder of the test's, and a device with an
 * ioeventfd to put behind it (proxy_run.c). */
#ifndef UVF_TEST_PROXY_RUN_H
#define UVF_TEST_PROXY_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <uvf/server.h>

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

/* The proxy's log: the lines that contain text (0 when there is no log
 * yet); whether at least count of them come within ms; the number after
 * key in the last line that has it (-1 when none does). */
int proxy_log_count(const struct proxy_run *p, const char *text);
bool proxy_log_wait(const struct proxy_run *p, const char *text, int count, int ms);
long proxy_log_number_after(const struct proxy_run *p, const char *key);

/* A device whose 4 KiB memory BAR 0 has an ioeventfd at 0x100: each
 * doorbell adds its count to doorbell_count and signals doorbell_fd (an
 * eventfd the test makes and closes). */
extern atomic_ullong doorbell_count;
extern int doorbell_fd;
struct uvf_device *doorbell_device(void);

#endif
