/* SPDX-License-Identifier: MIT */
/*
 * A device's listening socket as the rest of the system sees it: named by
 * the path it was given (what /proc/net/unix, ss and lsof report), reached
 * by a client started at the same moment, and owned by one server when two
 * start on one path at once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void quiet_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE"))
		fprintf(stderr, "[%s] %s\n", level == UVF_LOG_ERROR ? "error" : "log", line);
}

static struct uvf_device *make_device(void)
{
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fe, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY};
	struct uvf_device *dev;

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	uvf_device_set_log(dev, quiet_log, NULL, UVF_LOG_DEBUG);
	return dev;
}

/* Listening sockets that /proc/net/unix names exactly `path`; *other counts
 * names that start with path and go on (a temporary name like path.1234~). */
static int listeners_named(const char *path, int *other)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	size_t len = strlen(path);
	int n = 0;

	assert_non_null(f);
	*other = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char name[300] = "";

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %299s", &flags, name) != 2)
			continue;
		if (strncmp(name, path, len) != 0)
			continue;
		if (name[len] != '\0')
			(*other)++;
		else if (flags & 0x10000) /* __SO_ACCEPTCON: listening */
			n++;
	}
	fclose(f);
	return n;
}

static void test_device_socket_is_known_by_its_path(void **state)
{
	struct harness h;
	char lock[160];
	int other;

	(void)state;
	harness_prepare(&h);
	harness_start(&h, make_device(), NULL);
	assert_int_equal(listeners_named(h.path, &other), 1);
	assert_int_equal(other, 0);
	snprintf(lock, sizeof(lock), "%s.lock", h.path);
	assert_false(exists(lock));
	uvf_client_close(harness_connect(&h));
	harness_stop(&h);
}

/* A device freed after another one took over its path (the first stopped
 * listening, its file was removed, a second started there) leaves the
 * second one's socket in place. */
static void test_freed_device_leaves_a_newer_socket_alone(void **state)
{
	char dir[] = "/tmp/uvf-sockpath-XXXXXX", path[96];
	struct uvf_device *first = make_device(), *second = make_device();
	struct stat st;
	ino_t ino;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev.sock", dir);
	assert_int_equal(uvf_device_listen(first, path, NULL), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(uvf_device_listen(second, path, NULL), 0);
	assert_int_equal(lstat(path, &st), 0);
	ino = st.st_ino;
	uvf_device_free(first);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_ino, ino);
	/* and the second one's own socket goes with it */
	uvf_device_free(second);
	assert_false(exists(path));
	assert_int_equal(rmdir(dir), 0);
}

/* A server thread that listens and serves once the starting gun fires. */
struct server {
	pthread_barrier_t *start;
	struct uvf_device *dev;
	const char *path;
	pthread_t thread;
	int listen_ret, run_ret;
	int listened; /* atomic: listen_ret is set */
};

static void *listen_and_serve(void *arg)
{
	struct server *s = arg;

	pthread_barrier_wait(s->start);
	s->listen_ret = uvf_device_listen(s->dev, s->path, NULL);
	__atomic_store_n(&s->listened, 1, __ATOMIC_RELEASE);
	if (s->listen_ret == 0)
		s->run_ret = uvf_device_run(s->dev);
	return NULL;
}

static void test_client_started_with_the_device_connects(void **state)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	char dir[64] = "/tmp/uvf-test-XXXXXX", path[128];
	long long deadline = now_ms() + 30000;
	int fds_before = harness_count_fds(), i;

	(void)state;
	opts.log = quiet_log;
	opts.log_level = UVF_LOG_DEBUG;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev.sock", dir);
	for (i = 0; i < 300 && now_ms() < deadline; i++) {
		pthread_barrier_t start;
		struct server s = {.start = &start, .dev = make_device(), .path = path};
		struct uvf_client *c = NULL;
		long long give_up;
		int ret;

		assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
		assert_int_equal(pthread_create(&s.thread, NULL, listen_and_serve, &s), 0);
		pthread_barrier_wait(&start);
		give_up = now_ms() + 2000;
		while (!exists(path) && now_ms() < give_up)
			; /* connect the moment the socket file appears */
		ret = uvf_client_connect(&c, path, &opts);
		uvf_client_close(c);
		uvf_device_stop(s.dev);
		pthread_join(s.thread, NULL);
		pthread_barrier_destroy(&start);
		uvf_device_free(s.dev);
		assert_int_equal(s.listen_ret, 0);
		assert_int_equal(ret, 0);
		assert_int_equal(s.run_ret, 0);
		assert_false(exists(path));
	}
	print_message("%d races run\n", i);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), fds_before);
}

static void test_two_devices_on_one_path_one_wins(void **state)
{
	char dir[64] = "/tmp/uvf-test-XXXXXX", path[128];
	long long deadline = now_ms() + 30000;
	int fds_before = harness_count_fds(), i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev.sock", dir);
	for (i = 0; i < 300 && now_ms() < deadline; i++) {
		pthread_barrier_t start;
		struct server s[2];
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int wins = 0, in_use = 0, fd, connected;

		assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
		for (int n = 0; n < 2; n++) {
			s[n] = (struct server){.start = &start, .dev = make_device(), .path = path};
			assert_int_equal(pthread_create(&s[n].thread, NULL, listen_and_serve, &s[n]), 0);
		}
		/* wait until both have their answer from listen */
		for (long long give_up = now_ms() + 10000; now_ms() < give_up;)
			if (__atomic_load_n(&s[0].listened, __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(&s[1].listened, __ATOMIC_ACQUIRE))
				break;
		/* the winner answers at the path (a plain connect, no retry) */
		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		connected = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		for (int n = 0; n < 2; n++) {
			uvf_device_stop(s[n].dev);
			pthread_join(s[n].thread, NULL);
			uvf_device_free(s[n].dev);
			wins += s[n].listen_ret == 0;
			in_use += s[n].listen_ret == -EADDRINUSE;
		}
		pthread_barrier_destroy(&start);
		if (wins != 1 || in_use != 1)
			print_message("listen returned %d and %d\n", s[0].listen_ret, s[1].listen_ret);
		assert_int_equal(wins, 1);
		assert_int_equal(in_use, 1);
		assert_true(connected);
		assert_false(exists(path));
	}
	print_message("%d races run\n", i);
	rmdir(dir);
	assert_int_equal(harness_count_fds(), fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_socket_is_known_by_its_path),
		cmocka_unit_test(test_client_started_with_the_device_connects),
		cmocka_unit_test(test_two_devices_on_one_path_one_wins),
		cmocka_unit_test(test_freed_device_leaves_a_newer_socket_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
