/* SPDX-License-Identifier: MIT */
/* Starting and stopping uvf-proxy for the tests (proxy_run.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

int proxy_log_count(const struct proxy_run *p, const char *text)
{
	FILE *f = fopen(p->log, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

bool proxy_log_wait(const struct proxy_run *p, const char *text, int count, int ms)
{
	for (int i = 0; i <= ms / 10; i++) {
		if (proxy_log_count(p, text) >= count)
			return true;
		usleep(10000);
	}
	return false;
}

long proxy_log_number_after(const struct proxy_run *p, const char *key)
{
	FILE *f = fopen(p->log, "r");
	char line[1024];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, key);

		if (at)
			v = strtol(at + strlen(key), NULL, 10);
	}
	fclose(f);
	return v;
}

atomic_ullong doorbell_count;
int doorbell_fd = -1;

static void doorbell(struct uvf_device *dev, void *data, uint64_t count)
{
	uint64_t one = 1;

	(void)dev, (void)data;
	atomic_fetch_add(&doorbell_count, count);
	if (write(doorbell_fd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "doorbell eventfd full\n");
}

static int zero_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int ignore_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset, (void)buf, (void)len;
	return 0;
}

struct uvf_device *doorbell_device(void)
{
	struct uvf_device *dev = NULL;
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f0, .class_code = 0xff0000};
	struct uvf_bar_desc bar = {.size = 4096, .flags = UVF_BAR_MEMORY, .read = zero_read, .write = ignore_write};
	struct uvf_ioeventfd_desc io = {
		.version = UVF_IOEVENTFD_DESC_VERSION, .bar = 0, .offset = 0x100, .size = 4, .fn = doorbell};

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), 0);
	assert_int_equal(uvf_device_add_ioeventfd(dev, &io), 0);
	return dev;
}
