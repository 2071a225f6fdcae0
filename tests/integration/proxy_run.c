/* SPDX-License-Identifier: MIT */
/* Starting and stopping uvf-proxy for the tests (proxy_run.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy_run.h"

extern char **environ;

void proxy_run_start(struct proxy_run *p, const char *server, char *const extra[])
{
	const char *exe = getenv("UVF_PROXY");
	char *argv[32];
	size_t argc = 0;
	posix_spawn_file_actions_t fa;

	assert_non_null(exe);
	snprintf(p->sock, sizeof(p->sock), "%s/proxy.sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/proxy.log", p->dir);
	snprintf(p->trace, sizeof(p->trace), "%s/trace.txt", p->dir);
	snprintf(p->server, sizeof(p->server), "%s", server);
	argv[argc++] = (char *)exe;
	argv[argc++] = "--listen";
	argv[argc++] = p->sock;
	argv[argc++] = "--server";
	argv[argc++] = p->server;
	for (size_t i = 0; extra && extra[i]; i++) {
		assert_true(argc < sizeof(argv) / sizeof(argv[0]) - 1);
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(posix_spawn(&p->pid, exe, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 200; i++) {
		struct stat st;

		if (stat(p->sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		usleep(10000);
	}
	fail_msg("uvf-proxy did not listen at %s", p->sock);
}

void proxy_run_stop(struct proxy_run *p)
{
	int status;

	kill(p->pid, SIGTERM);
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}
