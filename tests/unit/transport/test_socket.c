/* SPDX-License-Identifier: MIT */
/* Listening, accepting and connecting on socket files in a scratch folder. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
