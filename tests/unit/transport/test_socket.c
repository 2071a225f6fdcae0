/* SPDX-License-Identifier: MIT */
/* Listening, accepting and connecting on socket files in a scratch folder. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "transport/transport.h"

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	return st.st_mode & 07777;
}

/* A socket file that nobody listens on any more. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void assert_file_text(const char *path, const char *text)
{
	char buf[64] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
	close(fd);
}

/* Connect and accept, then pass one message each way. */
static void assert_connection_works(const char *path, int listen_fd)
{
	struct uvf_msg_header h = {.msg_id = 3, .command = UVF_CMD_DEVICE_RESET, .msg_size = 16};
	struct uvf_rx rx;
	int client, server;

	assert_int_equal(uvf__sock_connect(path, &client, NULL), 0);
	assert_int_equal(uvf__sock_accept(listen_fd, &server), 0);
	assert_true(is_nonblocking(client) && is_cloexec(client));
	assert_true(is_nonblocking(server) && is_cloexec(server));
	uvf__rx_init(&rx, 4096);
	assert_int_equal(uvf__msg_send(client, &h, NULL, 0, NULL, 0, 1000), 0);
	assert_int_equal(uvf__rx_read_wait(&rx, server, 1000, NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 3);
	uvf__rx_release(&rx);
	h.flags = UVF_MSG_TYPE_REPLY;
	assert_int_equal(uvf__msg_send(server, &h, NULL, 0, NULL, 0, 1000), 0);
	assert_int_equal(uvf__rx_read_wait(&rx, client, 1000, NULL), 1);
	assert_int_equal(rx.hdr.flags, UVF_MSG_TYPE_REPLY);
	uvf__rx_destroy(&rx);
	close(client);
	close(server);
}

static void test_listen_creates_socket_with_mode_0600(void **state)
{
	struct fixture *f = *state;
	const char *path = fixture_path(f, "s");
	mode_t old = umask(0);
	int fd;

	/* even with a permissive umask, the socket is private */
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, NULL), 0);
	assert_int_equal(umask(old), 0); /* our umask is restored */
	assert_int_equal(file_mode(path), 0600);
	assert_true(is_nonblocking(fd) && is_cloexec(fd));
	assert_connection_works(path, fd);
	close(fd);
}

static void test_listen_applies_custom_mode_0660(void **state)
{
	struct fixture *f = *state;
	const char *path = fixture_path(f, "s");
	mode_t old = umask(077);
	int fd;

	/* the requested mode wins over a stricter umask */
	assert_int_equal(uvf__sock_listen(path, 0660, &fd, NULL), 0);
	assert_int_equal(umask(old), 077);
	assert_int_equal(file_mode(path), 0660);
	close(fd);
}

static void test_accept_without_pending_connection_is_eagain(void **state)
{
	struct fixture *f = *state;
	int fd, conn = 123;

	assert_int_equal(uvf__sock_listen(fixture_path(f, "s"), 0600, &fd, NULL), 0);
	assert_int_equal(uvf__sock_accept(fd, &conn), -EAGAIN);
	assert_int_equal(conn, -1);
	close(fd);
}

static void test_listen_refuses_regular_file(void **state)
{
	struct fixture *f = *state;
	const char *path = fixture_path(f, "file");
	struct uvf_why why = {{0}};
	int fd = 123;

	write_file(path, "keep me");
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, &why), -EEXIST);
	assert_int_equal(fd, -1);
	assert_true(why.text[0] != '\0');
	assert_file_text(path, "keep me");
}

static void test_listen_refuses_symlink_to_stale_socket(void **state)
{
	struct fixture *f = *state;
	char target[256];
	int fd;

	strcpy(target, fixture_path(f, "stale"));
	make_stale_socket(target);
	assert_int_equal(symlink(target, fixture_path(f, "link")), 0);
	assert_int_equal(uvf__sock_listen(fixture_path(f, "link"), 0600, &fd, NULL), -EEXIST);
	file_mode(target); /* the target is still there */
}

static void test_listen_replaces_stale_socket(void **state)
{
	struct fixture *f = *state;
	const char *path = fixture_path(f, "s");
	int fd;

	make_stale_socket(path);
	assert_int_equal(uvf__sock_connect(path, &fd, NULL), -ECONNREFUSED);
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, NULL), 0);
	assert_connection_works(path, fd);
	close(fd);
}

static void test_listen_refuses_live_socket(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct uvf_why why = {{0}};
	int first, second = 123;

	strcpy(path, fixture_path(f, "s"));
	assert_int_equal(uvf__sock_listen(path, 0600, &first, NULL), 0);
	assert_int_equal(uvf__sock_listen(path, 0600, &second, &why), -EADDRINUSE);
	assert_int_equal(second, -1);
	assert_true(why.text[0] != '\0');
	/* drop the probe connection, then the first listener still serves */
	assert_int_equal(uvf__sock_accept(first, &second), 0);
	close(second);
	assert_connection_works(path, first);
	close(first);
}

/* dir + "/" + name padded to total length len */
static const char *path_of_length(struct fixture *f, size_t len)
{
	char name[200];
	size_t dir_len = strlen(f->dir) + 1;

	assert_true(len > dir_len && len - dir_len < sizeof(name));
	memset(name, 'n', len - dir_len);
	name[len - dir_len] = '\0';
	return fixture_path(f, name);
}

static void test_listen_path_length_limit(void **state)
{
	struct fixture *f = *state;
	const size_t longest = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	struct uvf_why why = {{0}};
	int fd;

	assert_int_equal(uvf__sock_listen(path_of_length(f, longest), 0600, &fd, NULL), 0);
	assert_connection_works(f->path, fd);
	close(fd);
	assert_int_equal(uvf__sock_listen(path_of_length(f, longest + 1), 0600, &fd, &why), -ENAMETOOLONG);
	assert_true(why.text[0] != '\0');
	assert_int_equal(uvf__sock_listen("", 0600, &fd, NULL), -EINVAL);
}

static void test_connect_missing_path_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct uvf_why why = {{0}};
	int fd = 123;

	assert_int_equal(uvf__sock_connect(fixture_path(f, "absent"), &fd, &why), -ENOENT);
	assert_int_equal(fd, -1);
	assert_true(why.text[0] != '\0');
}

static void test_connect_stale_socket_is_econnrefused(void **state)
{
	struct fixture *f = *state;
	int fd;

	make_stale_socket(fixture_path(f, "s"));
	assert_int_equal(uvf__sock_connect(f->path, &fd, NULL), -ECONNREFUSED);
}

static void test_connect_regular_file_is_enotsock(void **state)
{
	struct fixture *f = *state;
	int fd;

	write_file(fixture_path(f, "file"), "x");
	assert_int_equal(uvf__sock_connect(f->path, &fd, NULL), -ENOTSOCK);
}

static void test_connect_path_too_long(void **state)
{
	struct fixture *f = *state;
	const size_t longest = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	int fd;

	assert_int_equal(uvf__sock_connect(path_of_length(f, longest + 1), &fd, NULL), -ENAMETOOLONG);
	assert_int_equal(uvf__sock_connect(path_of_length(f, longest), &fd, NULL), -ENOENT);
}

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

/* The lock file beside path. */
static const char *lock_name(const char *path)
{
	static char name[300];

	snprintf(name, sizeof(name), "%s.lock", path);
	return name;
}

/* How many listening sockets /proc/net/unix names exactly `path`; *odd
 * counts the names that start with path and go on (a temporary name such as
 * path.1234~). */
static int count_listeners_named(const char *path, int *odd)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	size_t len = strlen(path);
	int n = 0;

	assert_non_null(f);
	*odd = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char name[300] = "";

		line[strcspn(line, "\n")] = '\0';
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %299s", &flags, name) != 2)
			continue;
		if (strncmp(name, path, len) != 0)
			continue;
		if (name[len] != '\0')
			(*odd)++;
		else if (flags & 0x10000) /* __SO_ACCEPTCON: listening */
			n++;
	}
	fclose(f);
	return n;
}

static void test_listen_kernel_knows_the_socket_by_its_path(void **state)
{
	struct fixture *f = *state;
	char path[256];
	int fd, odd;

	strcpy(path, fixture_path(f, "dev.sock"));
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, NULL), 0);
	/* what ss -xl and lsof show: the path the user gave, nothing else */
	assert_int_equal(count_listeners_named(path, &odd), 1);
	assert_int_equal(odd, 0);
	close(fd);
}

static void test_listen_leaves_no_lock_file(void **state)
{
	struct fixture *f = *state;
	char path[256];
	int fd;

	strcpy(path, fixture_path(f, "s"));
	/* left behind by a starter that crashed while it held the lock */
	write_file(lock_name(path), "");
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, NULL), 0);
	assert_false(exists(lock_name(path)));
	assert_connection_works(path, fd);
	close(fd);
}

static void test_listen_refuses_lock_name_that_is_not_a_file(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct uvf_why why = {{0}};
	int fd = 123;

	strcpy(path, fixture_path(f, "s"));
	/* a FIFO must neither be waited on nor be removed */
	assert_int_equal(mkfifo(lock_name(path), 0600), 0);
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, &why), -EEXIST);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why.text, ".lock"));
	assert_true(exists(lock_name(path)));
	assert_false(exists(path));
}

static void test_listen_in_missing_folder_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct uvf_why why = {{0}};
	long long start = now_ms();
	int fd = 123;

	assert_int_equal(uvf__sock_listen(fixture_path(f, "absent/s"), 0600, &fd, &why), -ENOENT);
	assert_true(now_ms() - start < 500); /* at once, not after a lock wait */
	assert_int_equal(fd, -1);
	assert_true(why.text[0] != '\0');
}

static void test_listen_gives_up_on_a_lock_held_too_long(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct uvf_why why = {{0}};
	int lock, fd = 123;
	long long start;

	strcpy(path, fixture_path(f, "s"));
	lock = open(lock_name(path), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(lock >= 0);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	start = now_ms();
	assert_int_equal(uvf__sock_listen(path, 0600, &fd, &why), -EBUSY);
	assert_true(now_ms() - start < 10000);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why.text, "lock"));
	assert_false(exists(path));
	close(lock);
}

/* A server and a client started at the same moment: the client connects as
 * soon as it sees the socket file, whatever state the listener is in. */
struct race {
	pthread_barrier_t start;
	const char *path;
	int listen_fd, listen_rc;
};

static void *race_listen(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->start);
	r->listen_rc = uvf__sock_listen(r->path, 0600, &r->listen_fd, NULL);
	return NULL;
}

static void test_client_started_with_the_server_connects(void **state)
{
	struct fixture *f = *state;
	char path[256];
	long long deadline = now_ms() + 30000;
	int refused = 0, i;

	strcpy(path, fixture_path(f, "s"));
	for (i = 0; i < 300 && now_ms() < deadline; i++) {
		struct race r = {.path = path, .listen_fd = -1};
		pthread_t server;
		long long give_up;
		int fd = -1, rc;

		assert_int_equal(pthread_barrier_init(&r.start, NULL, 2), 0);
		assert_int_equal(pthread_create(&server, NULL, race_listen, &r), 0);
		pthread_barrier_wait(&r.start);
		give_up = now_ms() + 2000;
		while (!exists(path) && now_ms() < give_up)
			; /* connect the moment the file appears */
		rc = uvf__sock_connect(path, &fd, NULL);
		pthread_join(server, NULL);
		pthread_barrier_destroy(&r.start);
		assert_int_equal(r.listen_rc, 0);
		if (rc == -ECONNREFUSED)
			refused++;
		else
			assert_int_equal(rc, 0);
		if (fd >= 0)
			close(fd);
		close(r.listen_fd);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(refused, 0);
	print_message("%d races run\n", i);
}

/* Two processes listening on one path at the same moment: exactly one wins,
 * the other is told that someone listens there, and the winner's socket is
 * the one at the path. */
struct listen_result {
	int rc;
	char why[200];
};

/* go, result, done: pipes; the child reads go and done, writes result. */
static pid_t start_listener(const char *path, const int go[2], const int result[2], const int done[2])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct listen_result res = {0};
		struct uvf_why why = {{0}};
		int go_fd = go[0], result_fd = result[1], done_fd = done[0];
		char c;
		int fd;

		/* the ends the parent closes to signal must not stay open here */
		close(go[1]);
		close(done[1]);
		close(result[0]);
		if (read(go_fd, &c, 1) != 0)
			_exit(2);
		res.rc = uvf__sock_listen(path, 0600, &fd, &why);
		snprintf(res.why, sizeof(res.why), "%s", why.text);
		if (write(result_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(2);
		(void)!read(done_fd, &c, 1); /* keep listening until told */
		_exit(0);
	}
	return pid;
}

static void test_two_listeners_at_once_one_wins(void **state)
{
	struct fixture *f = *state;
	char path[256];
	long long deadline = now_ms() + 30000;
	int i;

	strcpy(path, fixture_path(f, "s"));
	for (i = 0; i < 100 && now_ms() < deadline; i++) {
		int go[2], result[2], done[2], wins = 0, busy = 0, status, fd, n;
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		struct listen_result res[2];
		pid_t pid[2];

		assert_int_equal(pipe2(go, O_CLOEXEC), 0);
		assert_int_equal(pipe2(result, O_CLOEXEC), 0);
		assert_int_equal(pipe2(done, O_CLOEXEC), 0);
		for (n = 0; n < 2; n++)
			pid[n] = start_listener(path, go, result, done);
		close(go[1]); /* both start now */
		for (n = 0; n < 2; n++) {
			assert_int_equal(read(result[0], &res[n], sizeof(res[n])), (ssize_t)sizeof(res[n]));
			if (res[n].rc == 0)
				wins++;
			else if (res[n].rc == -EADDRINUSE && strstr(res[n].why, "listening"))
				busy++;
			else
				print_message("loser: %d %s\n", res[n].rc, res[n].why);
		}
		assert_int_equal(wins, 1);
		assert_int_equal(busy, 1);
		/* the winner answers at the path (a plain connect, no retry) */
		strcpy(addr.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		close(fd);
		assert_false(exists(lock_name(path)));
		close(done[1]);
		for (n = 0; n < 2; n++) {
			assert_int_equal(waitpid(pid[n], &status, 0), pid[n]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		close(go[0]);
		close(result[0]);
		close(result[1]);
		close(done[0]);
		assert_int_equal(unlink(path), 0);
	}
	print_message("%d races run\n", i);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_listen_creates_socket_with_mode_0600),
		T(test_listen_applies_custom_mode_0660),
		T(test_accept_without_pending_connection_is_eagain),
		T(test_listen_refuses_regular_file),
		T(test_listen_refuses_symlink_to_stale_socket),
		T(test_listen_replaces_stale_socket),
		T(test_listen_refuses_live_socket),
		T(test_listen_path_length_limit),
		T(test_connect_missing_path_is_enoent),
		T(test_connect_stale_socket_is_econnrefused),
		T(test_connect_regular_file_is_enotsock),
		T(test_connect_path_too_long),
		T(test_listen_kernel_knows_the_socket_by_its_path),
		T(test_listen_leaves_no_lock_file),
		T(test_listen_refuses_lock_name_that_is_not_a_file),
		T(test_listen_in_missing_folder_is_enoent),
		T(test_listen_gives_up_on_a_lock_held_too_long),
		T(test_client_started_with_the_server_connects),
		T(test_two_listeners_at_once_one_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
