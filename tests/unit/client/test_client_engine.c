/* SPDX-License-Identifier: MIT */
/*
 * The client engine against the scripted fake server: several threads on
 * one client (replies out of order, timeouts with late replies, server DMA
 * while threads wait, a broken connection waking everyone), the twin
 * socket (negotiation, DMA over it, between calls), version 2 options and
 * posted commands. Every test ends with fs_stop(), which asserts that no
 * fd leaked.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "fake_server.h"
#include "uvf/client.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[32768];

static void capture_log(void *data, enum uvf_log_level level, const char *line)
{
	size_t used;

	(void)data;
	if (getenv("UVF_TEST_VERBOSE"))
		fprintf(stderr, "[client %s] %s\n", uvf_log_level_name(level), line);
	pthread_mutex_lock(&log_lock);
	used = strlen(log_text);
	snprintf(log_text + used, sizeof(log_text) - used, "%s\n", line);
	pthread_mutex_unlock(&log_lock);
}

static bool log_has(const char *needle)
{
	bool found;

	pthread_mutex_lock(&log_lock);
	found = strstr(log_text, needle) != NULL;
	pthread_mutex_unlock(&log_lock);
	return found;
}

static struct uvf_client_opts test_opts(int timeout_ms)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;

	opts.timeout_ms = timeout_ms;
	opts.log = capture_log;
	opts.log_level = UVF_LOG_DEBUG;
	return opts;
}

static int connect_opts(struct fake_server *fs, const struct uvf_client_opts *opts, struct uvf_client **out)
{
	pthread_mutex_lock(&log_lock);
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_lock);
	return uvf_client_connect(out, fs->path, opts);
}

static struct uvf_client *connect_timeout(struct fake_server *fs, int timeout_ms)
{
	struct uvf_client_opts opts = test_opts(timeout_ms);
	struct uvf_client *client = NULL;

	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_non_null(client);
	return client;
}

static struct fake_server *start(fs_hook_fn hook, void *data)
{
	struct fake_server *fs = fs_new();

	fs->hook = hook;
	fs->data = data;
	fs_start(fs);
	return fs;
}

/* The fake server's BAR0 pattern. */
static uint8_t bar0_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* Send a server command on fd (the main or the twin socket) and read the
 * client's answer from it. */
static void server_ask_on(struct fake_server *fs, int fd, uint16_t id, uint16_t command, uint64_t address,
			  uint64_t count, const void *data, size_t data_len, struct fs_msg *reply)
{
	struct uvf_msg_dma_access acc = {.address = address, .count = count};
	int main_conn = fs->conn;

	/* The fake server's helpers talk on fs->conn. */
	fs->conn = fd;
	fs_send(fs, id, command, UVF_MSG_TYPE_COMMAND, 0, &acc, sizeof(acc), data, data_len, NULL, 0);
	if (fs_recv(fs, reply))
		fs_fail(fs, "no answer to server command %u id %u", (unsigned)command, (unsigned)id);
	fs->conn = main_conn;
}

/* A region read on a thread of its own. */
struct reader_job {
	struct uvf_client *client;
	uint64_t offset;
	uint8_t buf[8];
	int rc;
	pthread_t thread;
};

static void *reader_thread(void *arg)
{
	struct reader_job *job = arg;

	job->rc = uvf_client_region_read(job->client, 0, job->offset, job->buf, sizeof(job->buf));
	return NULL;
}

static void start_reader(struct reader_job *job, struct uvf_client *client, uint64_t offset)
{
	memset(job, 0, sizeof(*job));
	job->client = client;
	job->offset = offset;
	assert_int_equal(pthread_create(&job->thread, NULL, reader_thread, job), 0);
}

static void expect_bar0(const struct reader_job *job)
{
	assert_int_equal(job->rc, 0);
	for (size_t i = 0; i < sizeof(job->buf); i++)
		assert_int_equal(job->buf[i], bar0_byte(job->offset + i));
}

/* A held REGION_READ, answered later by the hook. */
struct held_read {
	struct uvf_msg_header hdr;
	struct uvf_msg_region_access acc;
};

static void hold_read(struct held_read *held, const struct fs_msg *msg)
{
	held->hdr = msg->hdr;
	memcpy(&held->acc, msg->body, sizeof(held->acc));
}

static void answer_held_read(struct fake_server *fs, const struct held_read *held)
{
	fs_send(fs, held->hdr.msg_id, held->hdr.command, UVF_MSG_TYPE_REPLY, 0, &held->acc, sizeof(held->acc),
		fs->region0 + held->acc.offset, held->acc.count, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Several threads on one client                                        */
/* ------------------------------------------------------------------ */

static enum fs_action reverse_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct held_read *held = fs->data;

	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	if (fs->state++ == 0) {
		hold_read(held, msg); /* answered after the second one */
		return FS_HANDLED;
	}
	fs_default(fs, msg);
	answer_held_read(fs, held);
	return FS_HANDLED;
}

static void test_replies_in_opposite_order_reach_their_threads(void **state)
{
	struct held_read held;
	struct fake_server *fs = start(reverse_hook, &held);
	struct uvf_client *client = connect_timeout(fs, 5000);
	struct reader_job a, b;
	const struct fs_record *rec[4];

	(void)state;
	start_reader(&a, client, 0x100);
	start_reader(&b, client, 0x200);
	pthread_join(a.thread, NULL);
	pthread_join(b.thread, NULL);
	expect_bar0(&a);
	expect_bar0(&b);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_READ, rec, 4), 2);
	assert_int_not_equal(rec[0]->hdr.msg_id, rec[1]->hdr.msg_id);
	fs_stop(fs);
}

struct late_state {
	struct uvf_msg_header held;
};

static enum fs_action late_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct late_state *st = fs->data;
	struct uvf_msg_device_info late = {16, UVF_DEVICE_FLAG_PCI, 20, 5};

	if (msg->hdr.command == UVF_CMD_DEVICE_GET_INFO && fs->state++ == 0) {
		st->held = msg->hdr; /* never answered in time */
		return FS_HANDLED;
	}
	if (msg->hdr.command == UVF_CMD_REGION_WRITE) {
		/* the late reply, then this one's */
		FS_CHECK(fs, msg->hdr.msg_id != st->held.msg_id);
		fs_send(fs, st->held.msg_id, st->held.command, UVF_MSG_TYPE_REPLY, 0, &late, sizeof(late), NULL, 0,
			NULL, 0);
	}
	return FS_DEFAULT;
}

struct info_job {
	struct uvf_client *client;
	struct uvf_msg_device_info info;
	int rc;
};

static void *info_thread(void *arg)
{
	struct info_job *job = arg;

	job->rc = uvf_client_device_info(job->client, &job->info);
	return NULL;
}

static void test_timeout_of_one_thread_then_late_reply_is_dropped(void **state)
{
	struct late_state st;
	struct fake_server *fs = start(late_hook, &st);
	struct uvf_client *client = connect_timeout(fs, 300);
	struct info_job job = {.client = client};
	struct uvf_msg_device_info info;
	pthread_t thread;
	uint8_t buf[4] = {1, 2, 3, 4};

	(void)state;
	assert_int_equal(pthread_create(&thread, NULL, info_thread, &job), 0);
	/* Meanwhile this thread's requests are answered. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(uvf_client_region_read(client, 0, 8, buf, sizeof(buf)), 0);
		assert_int_equal(buf[0], bar0_byte(8));
	}
	pthread_join(thread, NULL);
	assert_int_equal(job.rc, -ETIMEDOUT);
	/* The late reply arrives before this one's and is dropped. */
	assert_int_equal(uvf_client_region_write(client, 0, 0x40, buf, sizeof(buf)), 0);
	assert_true(log_has("late reply"));
	assert_int_equal(uvf_client_device_info(client, &info), 0);
	assert_int_equal(info.num_regions, 9);
	uvf_client_close(client);
	fs_stop(fs);
}

#define DMA_IOVA 0x10000u

static enum fs_action dma_while_waiting_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct held_read *held = fs->data;
	struct fs_msg reply;

	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	if (fs->state++ == 0) {
		hold_read(held, msg);
		return FS_HANDLED;
	}
	/* Both threads wait now: the server needs client memory. */
	server_ask_on(fs, fs->conn, 21, UVF_CMD_DMA_WRITE, DMA_IOVA + 0x10, 5, "hello", 5, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 21 && reply.len == 16 && !(reply.hdr.flags & UVF_MSG_FLAG_ERROR));
	fs_msg_free(&reply);
	server_ask_on(fs, fs->conn, 22, UVF_CMD_DMA_READ, DMA_IOVA + 0x100, 4, NULL, 0, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 22 && reply.len == 20 && reply.body[16] == 0x5a && reply.body[19] == 0x5a);
	fs_msg_free(&reply);
	fs_default(fs, msg);
	answer_held_read(fs, held);
	return FS_HANDLED;
}

static void test_server_dma_is_served_while_two_threads_wait(void **state)
{
	struct held_read held;
	struct fake_server *fs = start(dma_while_waiting_hook, &held);
	struct uvf_client *client = connect_timeout(fs, 5000);
	static uint8_t mem[8192];
	struct reader_job a, b;

	(void)state;
	memset(mem, 0x5a, sizeof(mem));
	assert_int_equal(uvf_client_dma_register(client, DMA_IOVA, mem, sizeof(mem),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	start_reader(&a, client, 0x300);
	start_reader(&b, client, 0x400);
	pthread_join(a.thread, NULL);
	pthread_join(b.thread, NULL);
	expect_bar0(&a);
	expect_bar0(&b);
	assert_memory_equal(mem + 0x10, "hello", 5);
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action hangup_on_third_hook(struct fake_server *fs, struct fs_msg *msg)
{
	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	/* Nobody is answered; the third request closes the connection. */
	return ++fs->state == 3 ? FS_STOP : FS_HANDLED;
}

static void test_broken_connection_wakes_every_waiter(void **state)
{
	struct fake_server *fs = start(hangup_on_third_hook, NULL);
	struct uvf_client *client = connect_timeout(fs, 10000);
	struct reader_job job[3];
	uint8_t b;

	(void)state;
	for (int i = 0; i < 3; i++)
		start_reader(&job[i], client, (uint64_t)i * 8);
	for (int i = 0; i < 3; i++) {
		pthread_join(job[i].thread, NULL);
		assert_int_equal(job[i].rc, -ECONNRESET);
	}
	assert_int_equal(uvf_client_region_read(client, 0, 0, &b, 1), -ENOTCONN);
	assert_int_equal(uvf_client_process(client), -ENOTCONN);
	uvf_client_close(client);
	fs_stop(fs);
}

/* Many threads, many requests, replies in whatever order the fake server
 * gives (in order here): every thread gets its own data. */
struct many_job {
	struct uvf_client *client;
	unsigned seed;
	int failures;
	pthread_t thread;
};

static void *many_thread(void *arg)
{
	struct many_job *job = arg;

	for (int i = 0; i < 200; i++) {
		uint64_t offset = (job->seed * 97 + (unsigned)i * 13) % 4000;
		uint8_t buf[16];

		if (uvf_client_region_read(job->client, 0, offset, buf, sizeof(buf)) != 0) {
			job->failures++;
			continue;
		}
		for (size_t k = 0; k < sizeof(buf); k++)
			if (buf[k] != bar0_byte(offset + k))
				job->failures++;
	}
	return NULL;
}

static void test_many_threads_get_their_own_replies(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_timeout(fs, 10000);
	struct many_job job[6];

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		job[i] = (struct many_job){.client = client, .seed = i};
		assert_int_equal(pthread_create(&job[i].thread, NULL, many_thread, &job[i]), 0);
	}
	for (unsigned i = 0; i < 6; i++) {
		pthread_join(job[i].thread, NULL);
		assert_int_equal(job[i].failures, 0);
	}
	uvf_client_close(client);
	fs_stop(fs);
}

/* Posted server commands sent right before and after a reply that carries
 * an fd: they reach the client in the same reads, and the fd must stay
 * with the reply. */
static enum fs_action fd_reply_between_commands_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_dma_access before = {.address = DMA_IOVA, .count = 6};
	struct uvf_msg_dma_access after = {.address = DMA_IOVA + 8, .count = 5};
	struct uvf_msg_region_info info;
	int fd;

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_REGION_INFO)
		return FS_DEFAULT;
	memcpy(&info, msg->body, sizeof(info));
	info.argsz = 32;
	info.flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP;
	info.cap_offset = 0;
	info.size = 4096;
	info.offset = 0;
	fd = memfd_create("region", MFD_CLOEXEC);
	FS_CHECK(fs, fd >= 0 && ftruncate(fd, 4096) == 0);
	fs_send(fs, 41, UVF_CMD_DMA_WRITE, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0, &before, sizeof(before),
		"before", 6, NULL, 0);
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &info, sizeof(info), NULL, 0, &fd, 1);
	fs_send(fs, 42, UVF_CMD_DMA_WRITE, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0, &after, sizeof(after),
		"after", 5, NULL, 0);
	close(fd);
	return FS_HANDLED;
}

static void test_reply_fd_stays_with_its_reply_among_commands(void **state)
{
	struct fake_server *fs = start(fd_reply_between_commands_hook, NULL);
	struct uvf_client *client = connect_timeout(fs, 3000);
	struct uvf_client_region region = {.argsz = sizeof(region)};
	static uint8_t mem[4096];
	struct stat st;

	(void)state;
	assert_int_equal(uvf_client_dma_register(client, DMA_IOVA, mem, sizeof(mem), UVF_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(uvf_client_region_info(client, 0, &region), 0);
	assert_true(region.fd >= 0);
	assert_int_equal(fstat(region.fd, &st), 0);
	assert_int_equal(st.st_size, 4096); /* the memfd, not something else */
	assert_memory_equal(mem, "before", 6);
	/* the command after the reply: served by this call or the next */
	for (int i = 0; i < 50 && memcmp(mem + 8, "after", 5) != 0; i++) {
		struct pollfd pfd = {.fd = uvf_client_poll_fd(client), .events = POLLIN};

		assert_true(poll(&pfd, 1, 100) >= 0);
		assert_true(uvf_client_process(client) >= 0);
	}
	assert_memory_equal(mem + 8, "after", 5);
	uvf_client_close(client);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Twin socket                                                          */
/* ------------------------------------------------------------------ */

enum twin_mode {
	TWIN_VALID,
	TWIN_REFUSED,	      /* "supported": false */
	TWIN_NO_INDEX,	      /* supported, an fd, but no fd_index */
	TWIN_NO_FD,	      /* supported with fd_index 0, no fd */
	TWIN_INDEX_TOO_LARGE, /* fd_index 1 with one fd */
	TWIN_NOT_A_SOCKET,    /* the fd is an eventfd */
};

struct twin_state {
	enum twin_mode mode;
	int server_end; /* our end of the twin socket, -1 if none */
	bool offered;
};

static void twin_version(struct fake_server *fs, struct fs_msg *msg, struct twin_state *st)
{
	struct uvf_msg_version v = {0, 0};
	const char *json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
	int pair[2] = {-1, -1};
	int fd = -1;

	bool offered = msg->len > 4 && strstr((const char *)msg->body + 4, "\"twin_socket\":{\"supported\":true}");

	/* The test thread reads these: atomics, as the socket's ordering is
	 * invisible to ThreadSanitizer. */
	__atomic_store_n(&st->offered, offered, __ATOMIC_RELEASE);
	if (offered) {
		switch (st->mode) {
		case TWIN_VALID:
		case TWIN_INDEX_TOO_LARGE:
		case TWIN_NO_FD:
			json = st->mode == TWIN_INDEX_TOO_LARGE
				       ? "{\"capabilities\":{\"max_msg_fds\":8,"
					 "\"twin_socket\":{\"supported\":true,\"fd_index\":1}}}"
				       : "{\"capabilities\":{\"max_msg_fds\":8,"
					 "\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}";
			break;
		case TWIN_REFUSED:
			json = "{\"capabilities\":{\"max_msg_fds\":8,\"twin_socket\":{\"supported\":false}}}";
			break;
		case TWIN_NO_INDEX:
			json = "{\"capabilities\":{\"max_msg_fds\":8,\"twin_socket\":{\"supported\":true}}}";
			break;
		case TWIN_NOT_A_SOCKET:
			json = "{\"capabilities\":{\"max_msg_fds\":8,"
			       "\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}";
			fd = eventfd(0, EFD_CLOEXEC);
			break;
		}
		if (st->mode == TWIN_VALID || st->mode == TWIN_INDEX_TOO_LARGE || st->mode == TWIN_NO_INDEX) {
			FS_CHECK(fs, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
			fd = pair[1];
		}
	}
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &v, sizeof(v), json, strlen(json) + 1,
		fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
	if (pair[0] >= 0 && st->mode != TWIN_VALID)
		close(pair[0]);
	else if (pair[0] >= 0)
		st->server_end = fs->owned_fd = pair[0]; /* this thread's; closed by fs_stop() */
}

static bool twin_offered(struct twin_state *st)
{
	return __atomic_load_n(&st->offered, __ATOMIC_ACQUIRE);
}

static enum fs_action twin_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct twin_state *st = fs->data;
	struct fs_msg reply;

	switch (msg->hdr.command) {
	case UVF_CMD_VERSION:
		twin_version(fs, msg, st);
		return FS_HANDLED;
	case UVF_CMD_REGION_READ:
		if (st->server_end < 0)
			return FS_DEFAULT;
		/* DMA over the twin socket while the client waits on the main one */
		server_ask_on(fs, st->server_end, 31, UVF_CMD_DMA_WRITE, DMA_IOVA + 0x20, 4, "twin", 4, &reply);
		FS_CHECK(fs, reply.hdr.msg_id == 31 && reply.len == 16 && !(reply.hdr.flags & UVF_MSG_FLAG_ERROR));
		fs_msg_free(&reply);
		server_ask_on(fs, st->server_end, 32, UVF_CMD_DMA_READ, DMA_IOVA + 0x20, 4, NULL, 0, &reply);
		FS_CHECK(fs, reply.hdr.msg_id == 32 && reply.len == 20 && memcmp(reply.body + 16, "twin", 4) == 0);
		fs_msg_free(&reply);
		return FS_DEFAULT;
	case UVF_CMD_DEVICE_RESET:
		if (st->server_end < 0)
			return FS_DEFAULT;
		fs_default(fs, msg);
		/* between calls: served by uvf_client_process() */
		usleep(50 * 1000);
		server_ask_on(fs, st->server_end, 33, UVF_CMD_DMA_WRITE, DMA_IOVA + 0x40, 5, "later", 5, &reply);
		FS_CHECK(fs, reply.hdr.msg_id == 33 && reply.len == 16 && !(reply.hdr.flags & UVF_MSG_FLAG_ERROR));
		fs_msg_free(&reply);
		return FS_HANDLED;
	default:
		return FS_DEFAULT;
	}
}

static void test_twin_socket_carries_server_dma(void **state)
{
	struct twin_state st = {.mode = TWIN_VALID, .server_end = -1};
	struct fake_server *fs = start(twin_hook, &st);
	struct uvf_client *client = connect_timeout(fs, 5000);
	static uint8_t mem[4096];
	uint8_t buf[4];
	int served = 0;

	(void)state;
	assert_true(twin_offered(&st));
	assert_true(uvf_client_server_caps(client)->twin_socket);
	assert_true(uvf_client_poll_fd(client) >= 0);
	assert_int_equal(uvf_client_dma_register(client, DMA_IOVA, mem, sizeof(mem),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	/* served while waiting for the reply on the main socket */
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], bar0_byte(0));
	assert_memory_equal(mem + 0x20, "twin", 4);
	/* served between calls, through the twin socket's poll fd */
	assert_int_equal(uvf_client_reset(client), 0);
	for (int i = 0; i < 50 && served == 0; i++) {
		struct pollfd pfd = {.fd = uvf_client_poll_fd(client), .events = POLLIN};
		int rc;

		assert_true(poll(&pfd, 1, 100) >= 0);
		rc = uvf_client_process(client);
		assert_true(rc >= 0);
		served += rc;
	}
	assert_int_equal(served, 1);
	assert_memory_equal(mem + 0x40, "later", 5);
	uvf_client_close(client);
	fs_stop(fs);
}

static void test_twin_socket_refused_or_not_offered_stays_off(void **state)
{
	struct twin_state st = {.mode = TWIN_REFUSED, .server_end = -1};
	struct fake_server *fs = start(twin_hook, &st);
	struct uvf_client_opts opts = test_opts(3000);
	struct uvf_client *client = connect_timeout(fs, 3000);
	uint8_t buf[4];

	(void)state;
	assert_true(twin_offered(&st));
	assert_false(uvf_client_server_caps(client)->twin_socket);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	uvf_client_close(client);
	fs_stop(fs);

	/* not offered when the options say so ... */
	st = (struct twin_state){.mode = TWIN_VALID, .server_end = -1};
	fs = start(twin_hook, &st);
	opts.no_twin_socket = true;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_false(twin_offered(&st));
	assert_false(uvf_client_server_caps(client)->twin_socket);
	uvf_client_close(client);
	fs_stop(fs);

	/* ... nor when we accept no fds */
	st = (struct twin_state){.mode = TWIN_VALID, .server_end = -1};
	fs = start(twin_hook, &st);
	opts = test_opts(3000);
	opts.max_msg_fds = 0;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_false(twin_offered(&st));
	assert_false(uvf_client_server_caps(client)->twin_socket);
	uvf_client_close(client);
	fs_stop(fs);
}

static void test_inconsistent_twin_socket_reply_is_eproto(void **state)
{
	static const enum twin_mode modes[] = {TWIN_NO_INDEX, TWIN_NO_FD, TWIN_INDEX_TOO_LARGE, TWIN_NOT_A_SOCKET};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct twin_state st = {.mode = modes[i], .server_end = -1};
		struct fake_server *fs = start(twin_hook, &st);
		struct uvf_client_opts opts = test_opts(3000);
		struct uvf_client *client = (struct uvf_client *)1;

		assert_int_equal(connect_opts(fs, &opts, &client), -EPROTO);
		assert_null(client);
		assert_true(twin_offered(&st));
		assert_true(log_has("twin socket"));
		fs_stop(fs); /* asserts the fd that came with the reply was closed */
	}
}

/* ------------------------------------------------------------------ */
/* Options and posted commands                                          */
/* ------------------------------------------------------------------ */

static void test_version_2_options_are_checked(void **state)
{
	struct uvf_client_opts opts = test_opts(1000);
	struct uvf_client *client = NULL;

	(void)state;
	opts.poll_us = 1000001;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts.poll_us = 1000000;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -ENOENT);
	/* version 1 options know nothing of poll_us */
	opts.version = 1;
	opts.poll_us = 5000000;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -ENOENT);
	assert_null(client);
}

static void test_adaptive_polling_client_gets_replies(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client_opts opts = test_opts(3000);
	struct uvf_client *client = NULL;
	uint8_t buf[8];

	(void)state;
	opts.poll_us = 2000;
	opts.no_posted_writes = true;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_true(client->posted_writes_off);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(uvf_client_region_read(client, 0, (uint64_t)i, buf, sizeof(buf)), 0);
		assert_int_equal(buf[0], bar0_byte((size_t)i));
	}
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action posted_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_region_access acc;

	if (msg->hdr.command != UVF_CMD_REGION_WRITE || !(msg->hdr.flags & UVF_MSG_FLAG_NO_REPLY))
		return FS_DEFAULT;
	/* a posted write: applied, never answered */
	FS_CHECK(fs, msg->len >= 16);
	memcpy(&acc, msg->body, sizeof(acc));
	FS_CHECK(fs, acc.region == 0 && acc.offset + acc.count <= sizeof(fs->region0) && msg->len == 16 + acc.count);
	if (acc.region == 0 && acc.offset + acc.count <= sizeof(fs->region0) && msg->len == 16 + acc.count)
		memcpy(fs->region0 + acc.offset, msg->body + 16, acc.count);
	return FS_HANDLED;
}

static void test_posted_command_is_sent_without_waiting(void **state)
{
	struct fake_server *fs = start(posted_hook, NULL);
	struct uvf_client *client = connect_timeout(fs, 3000);
	struct uvf_msg_region_access acc = {.offset = 0x80, .region = 0, .count = 4};
	struct iovec iov[2] = {{&acc, sizeof(acc)}, {(void *)"post", 4}};
	const struct fs_record *rec[4];
	uint8_t buf[4];

	(void)state;
	assert_int_equal(uvf__client_post(client, UVF_CMD_REGION_WRITE, iov, 2), 0);
	/* processed in order: the read sees the posted write */
	assert_int_equal(uvf_client_region_read(client, 0, 0x80, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, "post", 4);
	assert_int_equal(uvf__client_post(client, UVF_CMD_REGION_WRITE, iov, 8), -EINVAL);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_WRITE, rec, 4), 1);
	assert_int_equal(rec[0]->hdr.flags, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY);
	assert_int_equal(rec[0]->len, 20);
	fs_stop(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies_in_opposite_order_reach_their_threads),
		cmocka_unit_test(test_timeout_of_one_thread_then_late_reply_is_dropped),
		cmocka_unit_test(test_server_dma_is_served_while_two_threads_wait),
		cmocka_unit_test(test_broken_connection_wakes_every_waiter),
		cmocka_unit_test(test_many_threads_get_their_own_replies),
		cmocka_unit_test(test_reply_fd_stays_with_its_reply_among_commands),
		cmocka_unit_test(test_twin_socket_carries_server_dma),
		cmocka_unit_test(test_twin_socket_refused_or_not_offered_stays_off),
		cmocka_unit_test(test_inconsistent_twin_socket_reply_is_eproto),
		cmocka_unit_test(test_version_2_options_are_checked),
		cmocka_unit_test(test_adaptive_polling_client_gets_replies),
		cmocka_unit_test(test_posted_command_is_sent_without_waiting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
