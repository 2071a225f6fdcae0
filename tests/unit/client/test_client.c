/* SPDX-License-Identifier: MIT */
/*
 * Client library against a scripted fake server: VERSION negotiation,
 * reply matching, timeouts, region access splitting, region info retries,
 * serving the server's DMA requests, IRQ fd chunking, and fd hygiene (every
 * test ends with fs_stop(), which asserts that no fd leaked).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_server.h"
#include "uvf/client.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static char log_text[32768];

static void capture_log(void *data, enum uvf_log_level level, const char *line)
{
	size_t used = strlen(log_text);

	(void)data;
	if (getenv("UVF_TEST_VERBOSE"))
		fprintf(stderr, "[client %s] %s\n", uvf_log_level_name(level), line);
	snprintf(log_text + used, sizeof(log_text) - used, "%s\n", line);
}

static bool log_has(const char *needle)
{
	return strstr(log_text, needle) != NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	log_text[0] = '\0';
	return uvf_client_connect(out, fs->path, opts);
}

static struct uvf_client *connect_ok(struct fake_server *fs)
{
	struct uvf_client_opts opts = test_opts(3000);
	struct uvf_client *client = NULL;

	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_non_null(client);
	return client;
}

static struct fake_server *start(fs_hook_fn hook, const char *caps_json)
{
	struct fake_server *fs = fs_new();

	fs->hook = hook;
	if (caps_json)
		fs->caps_json = caps_json;
	fs_start(fs);
	return fs;
}

/* Send a server command and read the client's answer into *reply. */
static void server_ask(struct fake_server *fs, uint16_t id, uint16_t command, uint32_t flags, uint64_t address,
		       uint64_t count, const void *data, size_t data_len, struct fs_msg *reply)
{
	struct uvf_msg_dma_access acc = {.address = address, .count = count};

	fs_send(fs, id, command, flags, 0, &acc, sizeof(acc), data, data_len, NULL, 0);
	if (fs_recv(fs, reply))
		fs_fail(fs, "no answer to server command %u id %u", (unsigned)command, (unsigned)id);
}

/* Check that reply is an error reply to (id, command) with err. */
static void expect_error_reply(struct fake_server *fs, const struct fs_msg *reply, uint16_t id, uint16_t command,
			       uint32_t err, int line)
{
	uint32_t type = reply->hdr.flags & UVF_MSG_TYPE_BITS;

	if (reply->hdr.msg_id != id || reply->hdr.command != command || type != UVF_MSG_TYPE_REPLY ||
	    !(reply->hdr.flags & UVF_MSG_FLAG_ERROR) || reply->hdr.error != err || reply->len != 0)
		fs_fail(fs, "line %d: expected error %u to id %u cmd %u, got id %u cmd %u flags 0x%x error %u len %zu",
			line, (unsigned)err, (unsigned)id, (unsigned)command, (unsigned)reply->hdr.msg_id,
			(unsigned)reply->hdr.command, (unsigned)reply->hdr.flags, (unsigned)reply->hdr.error,
			reply->len);
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

static void test_connect_to_missing_path_gives_enoent(void **state)
{
	struct uvf_client *client = (struct uvf_client *)1;
	int fds = fs_count_fds();

	(void)state;
	assert_int_equal(uvf_client_connect(&client, "/tmp/uvf-client-test-no-such-dir/s", NULL), -ENOENT);
	assert_null(client);
	assert_int_equal(fs_count_fds(), fds);
}

static void test_connect_to_regular_file_is_refused(void **state)
{
	char path[] = "/tmp/uvf-client-test-file-XXXXXX";
	struct uvf_client_opts opts = test_opts(1000);
	struct uvf_client *client = NULL;
	int fd = mkstemp(path);
	int fds, rc;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	fds = fs_count_fds();
	rc = uvf_client_connect(&client, path, &opts);
	unlink(path);
	assert_true(rc == -ENOTSOCK || rc == -ECONNREFUSED);
	assert_null(client);
	assert_int_equal(fs_count_fds(), fds);
}

static void test_connect_refuses_bad_options(void **state)
{
	struct uvf_client *client = NULL;
	struct uvf_client_opts opts;
	int fds = fs_count_fds();

	(void)state;
	/* The options are checked before the path is looked at. */
	opts = test_opts(1000);
	opts.version = 0;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts = test_opts(1000);
	opts.version = UVF_CLIENT_OPTS_VERSION + 1;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts = test_opts(0);
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts = test_opts(-2);
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts = test_opts(1000);
	opts.max_data_xfer_size = 100;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	opts = test_opts(1000);
	opts.max_msg_fds = 100000;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -EINVAL);
	/* and accepted options reach the path */
	opts = test_opts(-1);
	opts.max_data_xfer_size = 512;
	opts.max_msg_fds = 0;
	assert_int_equal(uvf_client_connect(&client, "/nonexistent", &opts), -ENOENT);
	assert_null(client);
	assert_int_equal(uvf_client_connect(NULL, "/nonexistent", NULL), -EINVAL);
	assert_int_equal(uvf_client_connect(&client, NULL, NULL), -EINVAL);
	assert_int_equal(fs_count_fds(), fds);
}

/* ------------------------------------------------------------------ */
/* VERSION                                                              */
/* ------------------------------------------------------------------ */

static void test_version_good_reply_sets_server_caps(void **state)
{
	struct fake_server *fs = start(NULL, "{\"capabilities\":{\"max_msg_fds\":4,\"max_data_xfer_size\":8192,"
					     "\"max_dma_maps\":10,\"pgsizes\":8192,\"write_multiple\":true},"
					     "\"unknown\":1}");
	struct uvf_client_opts opts = test_opts(2000);
	const struct uvf_server_caps *caps;
	struct uvf_client *client = NULL;
	struct uvf_msg_version v;

	(void)state;
	opts.max_data_xfer_size = 65536;
	opts.max_msg_fds = 5;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	caps = uvf_client_server_caps(client);
	assert_int_equal(caps->major, 0);
	assert_int_equal(caps->minor, 0);
	assert_int_equal(caps->max_msg_fds, 4);
	assert_int_equal(caps->max_data_xfer_size, 8192);
	assert_int_equal(caps->max_dma_maps, 10);
	assert_int_equal(caps->pgsizes, 8192);
	assert_true(caps->write_multiple);
	assert_false(caps->twin_socket);
	assert_non_null(strstr(caps->json, "\"max_dma_maps\":10"));
	assert_true(uvf_client_poll_fd(client) >= 0);
	uvf_client_close(client);

	/* What the client proposed: 0.0, no fds, our limits in the JSON. */
	assert_int_equal(fs->rec[0].hdr.command, UVF_CMD_VERSION);
	assert_int_equal(fs->rec[0].nfds, 0);
	memcpy(&v, fs->rec[0].payload, sizeof(v));
	assert_int_equal(v.major, 0);
	assert_int_equal(v.minor, 0);
	assert_non_null(strstr(fs->client_json, "\"max_data_xfer_size\":65536"));
	assert_non_null(strstr(fs->client_json, "\"max_msg_fds\":5"));
	fs_stop(fs);
}

static void test_version_reply_without_json_uses_defaults(void **state)
{
	struct fake_server *fs = fs_new();
	const struct uvf_server_caps *caps;
	struct uvf_client *client;

	(void)state;
	fs->caps_json = NULL;
	fs_start(fs);
	client = connect_ok(fs);
	caps = uvf_client_server_caps(client);
	assert_int_equal(caps->max_msg_fds, 1); /* the protocol default, not 8 */
	assert_int_equal(caps->max_data_xfer_size, 1048576);
	assert_int_equal(caps->max_dma_maps, 65535);
	assert_int_equal(caps->pgsizes, 4096);
	assert_false(caps->write_multiple);
	assert_string_equal(caps->json, "");
	uvf_client_close(client);
	fs_stop(fs);
}

static void expect_connect_error(struct fake_server *fs, int timeout_ms, int expected, int64_t max_ms)
{
	struct uvf_client_opts opts = test_opts(timeout_ms);
	struct uvf_client *client = (struct uvf_client *)1;
	int64_t t0 = now_ms();

	assert_int_equal(connect_opts(fs, &opts, &client), expected);
	assert_true(now_ms() - t0 < max_ms);
	assert_null(client);
}

static void test_version_reply_minor_above_ours_is_eproto(void **state)
{
	struct fake_server *fs = fs_new();

	(void)state;
	fs->version_minor = 1;
	fs_start(fs);
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	assert_true(log_has("0.1"));
	fs_stop(fs);
}

static void test_version_reply_other_major_is_eproto(void **state)
{
	struct fake_server *fs = fs_new();

	(void)state;
	fs->version_major = 1;
	fs_start(fs);
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	fs_stop(fs);
}

static void test_version_reply_bad_json_is_eproto(void **state)
{
	struct fake_server *fs = start(NULL, "{\"capabilities\":{\"max_msg_fds\":");

	(void)state;
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	assert_true(log_has("capabilities"));
	fs_stop(fs);

	fs = start(NULL, "{\"capabilities\":{\"max_msg_fds\":\"eight\"}}");
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	fs_stop(fs);

	fs = start(NULL, "[1,2]");
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	fs_stop(fs);
}

static enum fs_action version_error_hook(struct fake_server *fs, struct fs_msg *msg)
{
	if (msg->hdr.command != UVF_CMD_VERSION)
		return FS_DEFAULT;
	fs_reply_error(fs, msg, EINVAL);
	return FS_HANDLED;
}

static void test_version_error_reply_is_eproto(void **state)
{
	struct fake_server *fs = start(version_error_hook, NULL);

	(void)state;
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	assert_true(log_has("refused VERSION"));
	fs_stop(fs);
}

static enum fs_action version_unterminated_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_version v = {0, 0};
	static const char json[] = "{}";

	if (msg->hdr.command != UVF_CMD_VERSION)
		return FS_DEFAULT;
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &v, sizeof(v), json, 2, NULL, 0);
	return FS_HANDLED;
}

static void test_version_json_without_nul_is_eproto(void **state)
{
	struct fake_server *fs = start(version_unterminated_hook, NULL);

	(void)state;
	expect_connect_error(fs, 3000, -EPROTO, 2000);
	fs_stop(fs);
}

static void test_version_peer_closing_at_once_fails_fast(void **state)
{
	struct fake_server *fs = fs_new();

	(void)state;
	fs->close_on_accept = true;
	fs_start(fs);
	expect_connect_error(fs, 5000, -ECONNRESET, 2000);
	fs_stop(fs);
}

static enum fs_action garbage_hook(struct fake_server *fs, struct fs_msg *msg)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	(void)msg;
	fs_send_raw(fs, http, sizeof(http) - 1);
	return FS_HANDLED;
}

static void test_version_garbage_from_peer_is_eproto(void **state)
{
	struct fake_server *fs = start(garbage_hook, NULL);

	(void)state;
	expect_connect_error(fs, 5000, -EPROTO, 2000);
	fs_stop(fs);
}

static enum fs_action command_before_version_reply_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_dma_access acc = {.address = 0, .count = 8};

	(void)msg;
	fs_send(fs, 1, UVF_CMD_DMA_READ, UVF_MSG_TYPE_COMMAND, 0, &acc, sizeof(acc), NULL, 0, NULL, 0);
	return FS_HANDLED;
}

static void test_version_server_command_before_reply_is_eproto(void **state)
{
	struct fake_server *fs = start(command_before_version_reply_hook, NULL);

	(void)state;
	expect_connect_error(fs, 5000, -EPROTO, 2000);
	fs_stop(fs);
}

static enum fs_action silent_hook(struct fake_server *fs, struct fs_msg *msg)
{
	(void)fs;
	(void)msg;
	return FS_HANDLED;
}

static void test_version_without_reply_times_out(void **state)
{
	struct fake_server *fs = start(silent_hook, NULL);
	int64_t t0 = now_ms();

	(void)state;
	expect_connect_error(fs, 300, -ETIMEDOUT, 2000);
	assert_true(now_ms() - t0 >= 290);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Reply matching                                                       */
/* ------------------------------------------------------------------ */

struct late_state {
	struct uvf_msg_header first;
};

static enum fs_action late_reply_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct late_state *st = fs->data;
	struct uvf_msg_device_info late = {16, UVF_DEVICE_FLAG_PCI, 20, 5};

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_INFO)
		return FS_DEFAULT;
	if (fs->state++ == 0) {
		st->first = msg->hdr; /* answered only after the next request */
		return FS_HANDLED;
	}
	FS_CHECK(fs, msg->hdr.msg_id != st->first.msg_id);
	fs_send(fs, st->first.msg_id, st->first.command, UVF_MSG_TYPE_REPLY, 0, &late, sizeof(late), NULL, 0, NULL, 0);
	return FS_DEFAULT;
}

static void test_late_reply_after_timeout_is_dropped(void **state)
{
	struct late_state st;
	struct fake_server *fs = fs_new();
	struct uvf_client_opts opts = test_opts(300);
	struct uvf_msg_device_info info;
	struct uvf_client *client;
	uint8_t buf[4];

	(void)state;
	fs->hook = late_reply_hook;
	fs->data = &st;
	fs_start(fs);
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_int_equal(uvf_client_device_info(client, &info), -ETIMEDOUT);
	/* The late answer (20 regions) must not be taken for this one. */
	assert_int_equal(uvf_client_device_info(client, &info), 0);
	assert_int_equal(info.num_regions, 9);
	assert_true(log_has("late reply"));
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 3);
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action stray_reply_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_device_info wrong = {16, UVF_DEVICE_FLAG_PCI, 30, 5};
	struct uvf_msg_irq_info irq = {16, 0, 0, 1};

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_INFO)
		return FS_DEFAULT;
	/* an id nobody used, then the right id with the wrong command */
	fs_send(fs, (uint16_t)(msg->hdr.msg_id + 1000), msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &wrong, sizeof(wrong),
		NULL, 0, NULL, 0);
	fs_send(fs, msg->hdr.msg_id, UVF_CMD_DEVICE_GET_IRQ_INFO, UVF_MSG_TYPE_REPLY, 0, &irq, sizeof(irq), NULL, 0,
		NULL, 0);
	return FS_DEFAULT;
}

static void test_reply_with_unknown_id_or_command_is_dropped(void **state)
{
	struct fake_server *fs = start(stray_reply_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	struct uvf_msg_device_info info;

	(void)state;
	assert_int_equal(uvf_client_device_info(client, &info), 0);
	assert_int_equal(info.num_regions, 9);
	assert_true(log_has("reply to no pending request"));
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action error_reply_hook(struct fake_server *fs, struct fs_msg *msg)
{
	if (msg->hdr.command == UVF_CMD_REGION_READ && fs->state++ == 0) {
		fs_reply_error(fs, msg, ENODEV);
		return FS_HANDLED;
	}
	if (msg->hdr.command == UVF_CMD_REGION_WRITE) {
		fs_reply_error(fs, msg, 0); /* ERROR without a number */
		return FS_HANDLED;
	}
	return FS_DEFAULT;
}

static void test_error_reply_maps_to_negative_errno(void **state)
{
	struct fake_server *fs = start(error_reply_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	uint8_t buf[4] = {0};

	(void)state;
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), -ENODEV);
	assert_int_equal(uvf_client_region_write(client, 0, 0, buf, sizeof(buf)), -EINVAL);
	/* the connection is still fine */
	assert_int_equal(uvf_client_region_read(client, 0, 1, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 10);
	uvf_client_close(client);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Broken connections                                                   */
/* ------------------------------------------------------------------ */

static enum fs_action hangup_hook(struct fake_server *fs, struct fs_msg *msg)
{
	(void)fs;
	return msg->hdr.command == UVF_CMD_DEVICE_GET_INFO ? FS_STOP : FS_DEFAULT;
}

static void test_eof_breaks_the_connection_for_good(void **state)
{
	struct fake_server *fs = start(hangup_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	struct uvf_msg_device_info info;
	uint8_t b;

	(void)state;
	assert_int_equal(uvf_client_device_info(client, &info), -ECONNRESET);
	assert_int_equal(uvf_client_region_read(client, 0, 0, &b, 1), -ENOTCONN);
	assert_int_equal(uvf_client_process(client), -ENOTCONN);
	assert_int_equal(uvf_client_dma_unregister_all(client), -ENOTCONN);
	assert_true(uvf_client_poll_fd(client) >= 0);
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action bad_header_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_header hdr = {msg->hdr.msg_id, msg->hdr.command, (uint32_t)fs->state, UVF_MSG_TYPE_REPLY, 0};

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_INFO)
		return FS_DEFAULT;
	fs_send_raw(fs, &hdr, sizeof(hdr));
	return FS_HANDLED;
}

static void test_framing_errors_break_the_connection(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client *client;
	struct uvf_msg_device_info info;

	(void)state;
	fs->hook = bad_header_hook;
	fs->state = 8; /* msg_size below the header size */
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_device_info(client, &info), -EPROTO);
	assert_int_equal(uvf_client_device_info(client, &info), -ENOTCONN);
	uvf_client_close(client);
	fs_stop(fs);

	fs = fs_new();
	fs->hook = bad_header_hook;
	fs->state = 100 << 20; /* far above what we accept */
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_device_info(client, &info), -EMSGSIZE);
	assert_int_equal(uvf_client_device_info(client, &info), -ENOTCONN);
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action reply_with_fd_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_region_access acc;
	int efd;

	if (msg->hdr.command != UVF_CMD_REGION_READ || fs->state++ > 0)
		return FS_DEFAULT;
	memcpy(&acc, msg->body, sizeof(acc));
	efd = eventfd(0, EFD_CLOEXEC);
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &acc, sizeof(acc), fs->region0, acc.count,
		&efd, 1);
	close(efd);
	return FS_HANDLED;
}

static void test_reply_with_unexpected_fd_is_refused_and_fd_closed(void **state)
{
	struct fake_server *fs = start(reply_with_fd_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	uint8_t buf[8];

	(void)state;
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), -EPROTO);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	uvf_client_close(client);
	fs_stop(fs); /* asserts the eventfd did not leak */
}

/* ------------------------------------------------------------------ */
/* Region access                                                        */
/* ------------------------------------------------------------------ */

static void test_region_access_is_split_at_server_max_xfer(void **state)
{
	struct fake_server *fs = fs_new();
	const struct fs_record *rec[8];
	struct uvf_client *client;
	struct uvf_msg_region_access acc;
	static uint8_t buf[10000], back[9000];

	(void)state;
	fs->caps_json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4096}}";
	fs->max_xfer_check = 4096;
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_region_read(client, 0, 100, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], (uint8_t)((i + 100) * 7 + 3));
	for (size_t i = 0; i < sizeof(back); i++)
		back[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(uvf_client_region_write(client, 0, 50000, back, sizeof(back)), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uvf_client_region_read(client, 0, 50000, buf, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(back));
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_REGION_READ, rec, 8), 6);
	memcpy(&acc, rec[0]->payload, sizeof(acc));
	assert_int_equal(acc.offset, 100);
	assert_int_equal(acc.count, 4096);
	memcpy(&acc, rec[2]->payload, sizeof(acc));
	assert_int_equal(acc.offset, 100 + 8192);
	assert_int_equal(acc.count, 10000 - 8192);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_WRITE, rec, 8), 3);
	memcpy(&acc, rec[2]->payload, sizeof(acc));
	assert_int_equal(acc.offset, 50000 + 8192);
	assert_int_equal(acc.count, 9000 - 8192);
	assert_int_equal(rec[2]->len, 16 + 9000 - 8192);
	fs_stop(fs);
}

static void test_region_reads_are_split_at_our_max_xfer(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client_opts opts = test_opts(3000);
	const struct fs_record *rec[8];
	struct uvf_client *client;
	static uint8_t buf[3000];

	(void)state;
	opts.max_data_xfer_size = 1024;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	/* writes carry no reply data: only the server's limit applies */
	assert_int_equal(uvf_client_region_write(client, 0, 0, buf, sizeof(buf)), 0);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_READ, rec, 8), 3);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_WRITE, rec, 8), 1);
	fs_stop(fs);
}

static void test_region_access_range_checks(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[8];
	uint8_t buf[4];

	(void)state;
	assert_int_equal(uvf_client_region_read(client, 0, UINT64_MAX - 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uvf_client_region_write(client, 0, UINT64_MAX, buf, 2), -EINVAL);
	assert_int_equal(uvf_client_region_read(client, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, 0), 0);
	/* without cached device info the server decides */
	assert_int_equal(uvf_client_region_read(client, 12, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uvf_client_device_info(client, NULL), 0);
	assert_int_equal(uvf_client_region_read(client, 12, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uvf_client_region_read(client, 9, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uvf_client_region_read(client, 8, 0, buf, sizeof(buf)), -EINVAL); /* from the server */
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_READ, rec, 8), 2);
	assert_int_equal(fs_records(fs, UVF_CMD_REGION_WRITE, rec, 8), 0);
	fs_stop(fs);
}

static void test_config_helpers_are_little_endian(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_ok(fs);
	uint8_t b;
	uint16_t w;
	uint32_t d;

	(void)state;
	assert_int_equal(uvf_client_config_read8(client, 1, &b), 0);
	assert_int_equal(b, 0x12);
	assert_int_equal(uvf_client_config_read16(client, 0, &w), 0);
	assert_int_equal(w, 0x1234);
	assert_int_equal(uvf_client_config_read32(client, 0, &d), 0);
	assert_int_equal(d, 0x56781234);
	assert_int_equal(uvf_client_config_write16(client, 4, 0xbeef), 0);
	assert_int_equal(uvf_client_config_read8(client, 4, &b), 0);
	assert_int_equal(b, 0xef);
	assert_int_equal(uvf_client_config_write32(client, 8, 0x11223344), 0);
	assert_int_equal(uvf_client_config_read8(client, 11, &b), 0);
	assert_int_equal(b, 0x11);
	assert_int_equal(uvf_client_config_write8(client, 12, 0x99), 0);
	assert_int_equal(uvf_client_config_read16(client, 12, &w), 0);
	assert_int_equal(w, 0x0099);
	assert_int_equal(uvf_client_config_read32(client, 300, &d), -EINVAL); /* beyond the fake's 256 bytes */
	assert_int_equal(uvf_client_config_read8(client, 0, NULL), -EINVAL);
	uvf_client_close(client);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Discovery                                                            */
/* ------------------------------------------------------------------ */

#define BIG_ARGSZ 416u

static enum fs_action region_info_hook(struct fake_server *fs, struct fs_msg *msg)
{
	uint8_t reply[BIG_ARGSZ];
	struct uvf_msg_region_info req, info;
	struct uvf_msg_region_cap_sparse_mmap sparse = {{UVF_REGION_CAP_SPARSE_MMAP, 1, 400}, 1, 0};
	struct uvf_msg_region_sparse_area area = {0x1000, 0x2000};
	struct uvf_msg_region_cap_type type = {{UVF_REGION_CAP_TYPE, 1, 0}, 0x80001234u, 1};
	int memfd;

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_REGION_INFO)
		return FS_DEFAULT;
	memcpy(&req, msg->body, sizeof(req));
	memfd = memfd_create("fake-bar", MFD_CLOEXEC);
	FS_CHECK(fs, memfd >= 0 && ftruncate(memfd, 0x4000) == 0);
	info = (struct uvf_msg_region_info){
		.argsz = BIG_ARGSZ,
		.flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP,
		.index = req.index,
		.size = 0x4000,
		.offset = 0,
	};
	if (fs->state == 1 || req.argsz < BIG_ARGSZ) {
		/* too small: only the fixed part (an fd too, which the client
		 * must close); state 1 = keep asking for more */
		if (fs->state == 1)
			info.argsz = req.argsz + 64;
		fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &info, sizeof(info), NULL, 0,
			&memfd, 1);
		close(memfd);
		return FS_HANDLED;
	}
	info.flags |= UVF_REGION_FLAG_CAPS;
	info.cap_offset = 32;
	memset(reply, 0, sizeof(reply));
	memcpy(reply, &info, sizeof(info));
	memcpy(reply + 32, &sparse, sizeof(sparse));
	memcpy(reply + 48, &area, sizeof(area));
	memcpy(reply + 400, &type, sizeof(type));
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, reply, sizeof(reply), NULL, 0, &memfd, 1);
	close(memfd);
	return FS_HANDLED;
}

static void test_region_info_retries_with_larger_argsz(void **state)
{
	struct fake_server *fs = start(region_info_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[8];
	struct uvf_client_region region = {.argsz = sizeof(region)};
	struct uvf_msg_region_info req;
	int first_fd;

	(void)state;
	assert_int_equal(uvf_client_region_info(client, 0, &region), 0);
	assert_int_equal(region.index, 0);
	assert_int_equal(region.size, 0x4000);
	assert_true(region.flags & UVF_REGION_FLAG_MMAP);
	assert_true(region.fd >= 0);
	assert_int_equal(region.nr_sparse_areas, 1);
	assert_int_equal(region.sparse_areas[0].offset, 0x1000);
	assert_int_equal(region.sparse_areas[0].size, 0x2000);
	assert_true(region.has_type);
	assert_int_equal(region.type, 0x80001234u);
	assert_int_equal(region.subtype, 1);
	first_fd = region.fd;
	assert_int_equal(lseek(first_fd, 0, SEEK_END), 0x4000);
	/* asking again replaces the fd (the old one is closed, no leak) */
	assert_int_equal(uvf_client_region_info(client, 0, &region), 0);
	assert_true(region.fd >= 0);
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_GET_REGION_INFO, rec, 8), 4);
	memcpy(&req, rec[0]->payload, sizeof(req));
	assert_true(req.argsz >= 32 && req.argsz < BIG_ARGSZ);
	assert_int_equal(req.index, 0);
	memcpy(&req, rec[1]->payload, sizeof(req));
	assert_int_equal(req.argsz, BIG_ARGSZ);
	fs_stop(fs);
}

static void test_region_info_argsz_growth_is_bounded(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client_region region = {.argsz = sizeof(region)};
	struct uvf_client *client;
	const struct fs_record *rec[8];

	(void)state;
	fs->hook = region_info_hook;
	fs->state = 1;
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_region_info(client, 0, &region), -EPROTO);
	uvf_client_close(client);
	assert_true(fs_records(fs, UVF_CMD_DEVICE_GET_REGION_INFO, rec, 8) <= 4);
	fs_stop(fs);
}

static void test_region_and_irq_info_indexes_checked_against_device_info(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_ok(fs);
	struct uvf_client_region region = {.argsz = sizeof(region)};
	struct uvf_msg_device_info info;
	struct uvf_msg_irq_info irq;
	const struct fs_record *rec[8];

	(void)state;
	assert_int_equal(uvf_client_device_info(client, &info), 0);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(info.num_irqs, 5);
	assert_int_equal(uvf_client_region_info(client, 9, &region), -EINVAL);
	assert_int_equal(uvf_client_region_info(client, 7, &region), 0);
	assert_int_equal(region.size, 256);
	assert_int_equal(region.fd, -1);
	assert_int_equal(uvf_client_irq_info(client, 5, &irq), -EINVAL);
	assert_int_equal(uvf_client_irq_info(client, 2, &irq), 0);
	assert_int_equal(irq.count, 16);
	assert_int_equal(irq.flags, UVF_IRQ_INFO_EVENTFD);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_GET_REGION_INFO, rec, 8), 1);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_GET_IRQ_INFO, rec, 8), 1);
	fs_stop(fs);
}

static enum fs_action bad_device_info_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_device_info info = {16, 0, 9, 5}; /* not a PCI device */

	if (msg->hdr.command != UVF_CMD_DEVICE_GET_INFO)
		return FS_DEFAULT;
	fs_reply(fs, msg, &info, sizeof(info));
	return FS_HANDLED;
}

static void test_bad_device_info_reply_is_eproto(void **state)
{
	struct fake_server *fs = start(bad_device_info_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	struct uvf_msg_device_info info;

	(void)state;
	assert_int_equal(uvf_client_device_info(client, &info), -EPROTO);
	uvf_client_close(client);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Serving the server's DMA requests                                    */
/* ------------------------------------------------------------------ */

static enum fs_action dma_fdless_hook(struct fake_server *fs, struct fs_msg *msg)
{
	static const char text[] = "hello world!";
	struct uvf_msg_dma_access acc;
	struct fs_msg reply;

	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	/* DMA_WRITE answered with a 16-byte echo */
	server_ask(fs, 1, UVF_CMD_DMA_WRITE, UVF_MSG_TYPE_COMMAND, 0x10010, 12, text, 12, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 1 && reply.hdr.command == UVF_CMD_DMA_WRITE);
	FS_CHECK(fs, reply.hdr.flags == UVF_MSG_TYPE_REPLY && reply.len == 16);
	memcpy(&acc, reply.body, sizeof(acc));
	FS_CHECK(fs, acc.address == 0x10010 && acc.count == 12);
	fs_msg_free(&reply);
	/* DMA_READ answered with the echo and the data */
	server_ask(fs, 2, UVF_CMD_DMA_READ, UVF_MSG_TYPE_COMMAND, 0x10000, 32, NULL, 0, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 2 && reply.hdr.command == UVF_CMD_DMA_READ);
	FS_CHECK(fs, reply.hdr.flags == UVF_MSG_TYPE_REPLY && reply.len == 48);
	if (reply.len == 48) {
		memcpy(&acc, reply.body, sizeof(acc));
		FS_CHECK(fs, acc.address == 0x10000 && acc.count == 32);
		FS_CHECK(fs, memcmp(reply.body + 16 + 16, text, 12) == 0);
		FS_CHECK(fs, reply.body[16] == 0xaa && reply.body[16 + 31] == 0xaa);
	}
	fs_msg_free(&reply);
	return FS_DEFAULT;
}

static void test_server_dma_to_registered_memory_is_served_while_waiting(void **state)
{
	struct fake_server *fs = start(dma_fdless_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[4];
	struct uvf_msg_dma_map map;
	static uint8_t mem[8192];
	uint8_t buf[4];

	(void)state;
	memset(mem, 0xaa, sizeof(mem));
	assert_int_equal(uvf_client_dma_register(client, 0x10000, mem, sizeof(mem),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(mem + 0x10, "hello world!", 12);
	assert_int_equal(mem[0x10 + 12], 0xaa);
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_DMA_MAP, rec, 4), 1);
	assert_int_equal(rec[0]->nfds, 0);
	assert_int_equal(rec[0]->len, 32);
	memcpy(&map, rec[0]->payload, sizeof(map));
	assert_int_equal(map.argsz, 32);
	assert_int_equal(map.flags, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE);
	assert_int_equal(map.offset, 0);
	assert_int_equal(map.address, 0x10000);
	assert_int_equal(map.size, sizeof(mem));
	fs_stop(fs);
}

static enum fs_action dma_memfd_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct fs_msg reply;

	if (msg->hdr.command == UVF_CMD_DMA_MAP) {
		struct uvf_msg_dma_map map;
		uint8_t *p;

		FS_CHECK(fs, msg->nfds == 1 && msg->len == 32);
		if (msg->nfds != 1)
			return FS_DEFAULT;
		memcpy(&map, msg->body, sizeof(map));
		FS_CHECK(fs, map.offset == 0 && map.size == 8192 && map.address == 0x100000);
		/* the server side of shared memory: write through its own map */
		p = mmap(NULL, map.size, PROT_READ | PROT_WRITE, MAP_SHARED, msg->fds[0], (off_t)map.offset);
		FS_CHECK(fs, p != MAP_FAILED);
		if (p != MAP_FAILED) {
			memcpy(p + 100, "from-mmap", 9);
			munmap(p, map.size);
		}
		return FS_DEFAULT;
	}
	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	/* messages work on fd-backed memory too */
	server_ask(fs, 7, UVF_CMD_DMA_READ, UVF_MSG_TYPE_COMMAND, 0x100000 + 100, 9, NULL, 0, &reply);
	FS_CHECK(fs, reply.len == 16 + 9 && memcmp(reply.body + 16, "from-mmap", 9) == 0);
	fs_msg_free(&reply);
	server_ask(fs, 8, UVF_CMD_DMA_WRITE, UVF_MSG_TYPE_COMMAND, 0x100000 + 4096, 7, "via-msg", 7, &reply);
	FS_CHECK(fs, reply.len == 16 && !(reply.hdr.flags & UVF_MSG_FLAG_ERROR));
	fs_msg_free(&reply);
	return FS_DEFAULT;
}

static void test_dma_alloc_shares_memfd_and_serves_messages(void **state)
{
	struct fake_server *fs = start(dma_memfd_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	uint8_t *mem = NULL;
	uint8_t buf[4];

	(void)state;
	assert_int_equal(uvf_client_dma_alloc(client, 0x100000, 8192, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	assert_non_null(mem);
	assert_memory_equal(mem + 100, "from-mmap", 9);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(mem + 4096, "via-msg", 7);
	assert_int_equal(uvf_client_dma_alloc(client, 0x100000, 4096, UVF_DMA_MAP_FLAG_READ, (void **)&mem), -EEXIST);
	assert_int_equal(uvf_client_dma_alloc(client, 0x200000, 1000, UVF_DMA_MAP_FLAG_READ, (void **)&mem), -EINVAL);
	assert_null(mem);
	uvf_client_close(client); /* unmaps the memory */
	fs_stop(fs);
}

static enum fs_action dma_errors_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct fs_msg reply;
	uint8_t data[16] = {0};
	struct uvf_msg_dma_access acc = {.address = 0x21000, .count = 8};
	int efd;

	if (msg->hdr.command != UVF_CMD_REGION_READ)
		return FS_DEFAULT;
	/* outside any registration */
	server_ask(fs, 1, UVF_CMD_DMA_READ, 0, 0x30000, 16, NULL, 0, &reply);
	expect_error_reply(fs, &reply, 1, UVF_CMD_DMA_READ, EFAULT, __LINE__);
	fs_msg_free(&reply);
	/* across two registrations */
	server_ask(fs, 2, UVF_CMD_DMA_READ, 0, 0x20ff8, 16, NULL, 0, &reply);
	expect_error_reply(fs, &reply, 2, UVF_CMD_DMA_READ, EFAULT, __LINE__);
	fs_msg_free(&reply);
	/* writing a READ-only range */
	server_ask(fs, 3, UVF_CMD_DMA_WRITE, 0, 0x20000, 4, data, 4, &reply);
	expect_error_reply(fs, &reply, 3, UVF_CMD_DMA_WRITE, EPERM, __LINE__);
	fs_msg_free(&reply);
	/* reading a WRITE-only range */
	server_ask(fs, 4, UVF_CMD_DMA_READ, 0, 0x22000, 4, NULL, 0, &reply);
	expect_error_reply(fs, &reply, 4, UVF_CMD_DMA_READ, EPERM, __LINE__);
	fs_msg_free(&reply);
	/* above our max_data_xfer_size (1024 in this test) */
	server_ask(fs, 5, UVF_CMD_DMA_READ, 0, 0x21000, 2048, NULL, 0, &reply);
	expect_error_reply(fs, &reply, 5, UVF_CMD_DMA_READ, E2BIG, __LINE__);
	fs_msg_free(&reply);
	/* posted write that fails: the error is still reported */
	server_ask(fs, 6, UVF_CMD_DMA_WRITE, UVF_MSG_FLAG_NO_REPLY, 0x40000, 4, data, 4, &reply);
	expect_error_reply(fs, &reply, 6, UVF_CMD_DMA_WRITE, EFAULT, __LINE__);
	fs_msg_free(&reply);
	/* posted write that works: no reply, so the next answer is id 8's */
	acc.address = 0x21000;
	acc.count = 4;
	fs_send(fs, 7, UVF_CMD_DMA_WRITE, UVF_MSG_FLAG_NO_REPLY, 0, &acc, sizeof(acc), "post", 4, NULL, 0);
	server_ask(fs, 8, UVF_CMD_DMA_READ, 0, 0x21000, 4, NULL, 0, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 8 && reply.len == 20 && memcmp(reply.body + 16, "post", 4) == 0);
	fs_msg_free(&reply);
	/* a command clients do not serve */
	fs_send(fs, 9, 77, 0, 0, NULL, 0, NULL, 0, NULL, 0);
	FS_CHECK(fs, fs_recv(fs, &reply) == 0);
	expect_error_reply(fs, &reply, 9, 77, ENOSYS, __LINE__);
	fs_msg_free(&reply);
	/* a DMA request carrying an fd: refused, and the fd closed */
	efd = eventfd(0, EFD_CLOEXEC);
	acc.count = 8;
	fs_send(fs, 10, UVF_CMD_DMA_READ, 0, 0, &acc, sizeof(acc), NULL, 0, &efd, 1);
	close(efd);
	FS_CHECK(fs, fs_recv(fs, &reply) == 0);
	expect_error_reply(fs, &reply, 10, UVF_CMD_DMA_READ, EINVAL, __LINE__);
	fs_msg_free(&reply);
	/* a truncated DMA_WRITE (count says 8, 4 bytes of data) */
	fs_send(fs, 11, UVF_CMD_DMA_WRITE, 0, 0, &acc, sizeof(acc), data, 4, NULL, 0);
	FS_CHECK(fs, fs_recv(fs, &reply) == 0);
	expect_error_reply(fs, &reply, 11, UVF_CMD_DMA_WRITE, EINVAL, __LINE__);
	fs_msg_free(&reply);
	return FS_DEFAULT;
}

static void test_server_dma_outside_rules_gets_error_replies(void **state)
{
	struct fake_server *fs = start(dma_errors_hook, NULL);
	struct uvf_client_opts opts = test_opts(3000);
	struct uvf_client *client;
	static uint8_t ro[4096], rw[4096], wo[4096];
	uint8_t buf[4];

	(void)state;
	opts.max_data_xfer_size = 1024;
	assert_int_equal(connect_opts(fs, &opts, &client), 0);
	assert_int_equal(uvf_client_dma_register(client, 0x20000, ro, sizeof(ro), UVF_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(uvf_client_dma_register(client, 0x21000, rw, sizeof(rw),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	assert_int_equal(uvf_client_dma_register(client, 0x22000, wo, sizeof(wo), UVF_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(uvf_client_region_read(client, 0, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(rw, "post", 4);
	assert_int_equal(ro[0], 0);
	uvf_client_close(client);
	fs_stop(fs);
}

static enum fs_action dma_map_refused_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_dma_map map;

	if (msg->hdr.command == UVF_CMD_DMA_MAP) {
		memcpy(&map, msg->body, sizeof(map));
		if (map.address == 0x800000) {
			fs_reply_error(fs, msg, ENOSPC);
			return FS_HANDLED;
		}
	}
	if (msg->hdr.command == UVF_CMD_DMA_UNMAP && fs->state == 1 && (msg->body[4] & UVF_DMA_UNMAP_FLAG_ALL)) {
		fs_reply_error(fs, msg, EINVAL);
		return FS_HANDLED;
	}
	return FS_DEFAULT;
}

static void test_dma_registration_rules(void **state)
{
	struct fake_server *fs = start(dma_map_refused_hook, "{\"capabilities\":{\"max_msg_fds\":1,"
							     "\"max_dma_maps\":3,\"pgsizes\":8192}}");
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[16];
	static uint8_t mem[0x10000];
	const uint32_t rw = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE;
	struct uvf_msg_dma_unmap unmap;

	(void)state;
	/* refused locally, nothing sent */
	assert_int_equal(uvf_client_dma_register(client, 0x1000, mem, 0x2000, rw), -EINVAL); /* 8 KiB pages */
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x1000, rw), -EINVAL);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x2000, 0), -EINVAL);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x2000, 0x4), -EINVAL);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0, rw), -EINVAL);
	assert_int_equal(uvf_client_dma_register(client, UINT64_MAX - 0x1fff, mem, 0x4000, rw), -EINVAL);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, NULL, 0x2000, rw), -EINVAL);
	/* the server refuses: nothing recorded, the same range may be retried */
	assert_int_equal(uvf_client_dma_register(client, 0x800000, mem, 0x2000, rw), -ENOSPC);
	assert_int_equal(uvf_client_dma_register(client, 0x800000, mem, 0x2000, rw), -ENOSPC);
	/* accepted, then overlaps refused locally */
	assert_int_equal(uvf_client_dma_register(client, 0x4000, mem, 0x4000, rw), 0);
	assert_int_equal(uvf_client_dma_register(client, 0x6000, mem, 0x4000, rw), -EEXIST);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x4000, rw), -EEXIST);
	assert_int_equal(uvf_client_dma_register(client, 0x0, mem, 0x10000, rw), -EEXIST);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x2000, rw), 0);	      /* adjacent below */
	assert_int_equal(uvf_client_dma_register(client, 0x8000, mem, 0x2000, rw), 0);	      /* adjacent above */
	assert_int_equal(uvf_client_dma_register(client, 0x20000, mem, 0x2000, rw), -ENOSPC); /* max_dma_maps 3 */
	/* unregister needs the exact range */
	assert_int_equal(uvf_client_dma_unregister(client, 0x4000, 0x2000), -ENOENT);
	assert_int_equal(uvf_client_dma_unregister(client, 0x5000, 0x4000), -ENOENT);
	assert_int_equal(uvf_client_dma_unregister(client, 0x4000, 0x4000), 0);
	assert_int_equal(uvf_client_dma_unregister(client, 0x4000, 0x4000), -ENOENT);
	assert_int_equal(uvf_client_dma_register(client, 0x20000, mem, 0x2000, rw), 0); /* room again */
	assert_int_equal(uvf_client_dma_unregister_all(client), 0);
	assert_int_equal(uvf_client_dma_register(client, 0x2000, mem, 0x2000, rw), 0); /* forgotten */
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_DMA_MAP, rec, 16), 7);
	assert_int_equal(fs_records(fs, UVF_CMD_DMA_UNMAP, rec, 16), 2);
	assert_int_equal(rec[0]->len, 24);
	memcpy(&unmap, rec[0]->payload, sizeof(unmap));
	assert_int_equal(unmap.argsz, 24);
	assert_int_equal(unmap.flags, 0);
	assert_int_equal(unmap.address, 0x4000);
	assert_int_equal(unmap.size, 0x4000);
	memcpy(&unmap, rec[1]->payload, sizeof(unmap));
	assert_int_equal(unmap.argsz, 24);
	assert_int_equal(unmap.flags, UVF_DMA_UNMAP_FLAG_ALL);
	assert_int_equal(unmap.address, 0);
	assert_int_equal(unmap.size, 0);
	fs_stop(fs);
}

static void test_unregister_all_falls_back_to_one_by_one(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client *client;
	const struct fs_record *rec[8];
	static uint8_t mem[0x4000];
	struct uvf_msg_dma_unmap unmap;

	(void)state;
	fs->hook = dma_map_refused_hook;
	fs->state = 1; /* refuse the ALL flag */
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_dma_register(client, 0x0, mem, 0x2000, UVF_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(uvf_client_dma_register(client, 0x4000, mem, 0x2000, UVF_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(uvf_client_dma_unregister_all(client), 0);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_DMA_UNMAP, rec, 8), 3);
	memcpy(&unmap, rec[1]->payload, sizeof(unmap));
	assert_int_equal(unmap.flags, 0);
	assert_int_equal(unmap.address, 0x4000);
	memcpy(&unmap, rec[2]->payload, sizeof(unmap));
	assert_int_equal(unmap.address, 0x0);
	fs_stop(fs);
}

static enum fs_action process_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_device_info stray = {16, UVF_DEVICE_FLAG_PCI, 9, 5};
	struct fs_msg reply;

	if (msg->hdr.command != UVF_CMD_DEVICE_SET_IRQS)
		return FS_DEFAULT;
	fs_default(fs, msg);
	/* between calls: a stray reply, then a request. The pause lets the
	 * call return first (a request sent together with the reply would be
	 * served by the call itself). */
	usleep(100 * 1000);
	fs_send(fs, 999, UVF_CMD_DEVICE_GET_INFO, UVF_MSG_TYPE_REPLY, 0, &stray, sizeof(stray), NULL, 0, NULL, 0);
	server_ask(fs, 42, UVF_CMD_DMA_WRITE, 0, 0x3000, 5, "later", 5, &reply);
	FS_CHECK(fs, reply.hdr.msg_id == 42 && reply.len == 16 && !(reply.hdr.flags & UVF_MSG_FLAG_ERROR));
	fs_msg_free(&reply);
	return FS_HANDLED;
}

static void test_process_serves_requests_between_calls(void **state)
{
	struct fake_server *fs = start(process_hook, NULL);
	struct uvf_client *client = connect_ok(fs);
	static uint8_t mem[4096];
	int served = 0;

	(void)state;
	assert_int_equal(uvf_client_process(client), 0); /* nothing pending */
	assert_int_equal(uvf_client_dma_register(client, 0x3000, mem, sizeof(mem), UVF_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(uvf_client_irq_trigger(client, 0, 0, 1), 0);
	for (int i = 0; i < 50 && served == 0; i++) {
		struct pollfd pfd = {.fd = uvf_client_poll_fd(client), .events = POLLIN};
		int rc;

		assert_true(poll(&pfd, 1, 100) >= 0);
		rc = uvf_client_process(client);
		assert_true(rc >= 0);
		served += rc;
	}
	assert_int_equal(served, 1);
	assert_memory_equal(mem, "later", 5);
	assert_true(log_has("reply to no pending request"));
	uvf_client_close(client);
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

static enum fs_action irq_fd_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct uvf_msg_irq_set set;

	if (msg->hdr.command != UVF_CMD_DEVICE_SET_IRQS || msg->len != sizeof(set))
		return FS_DEFAULT;
	memcpy(&set, msg->body, sizeof(set));
	FS_CHECK(fs, msg->nfds == 0 || msg->nfds == set.count);
	/* Fire each received fd with "vector + 1", so the test can tell
	 * which vector each of its eventfds was attached to. */
	for (size_t i = 0; i < msg->nfds; i++) {
		uint64_t v = set.start + i + 1;

		FS_CHECK(fs, write(msg->fds[i], &v, sizeof(v)) == sizeof(v));
	}
	return FS_DEFAULT;
}

static void test_set_irq_eventfds_is_chunked_by_server_max_msg_fds(void **state)
{
	struct fake_server *fs = start(irq_fd_hook, "{\"capabilities\":{\"max_msg_fds\":3}}");
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[8];
	int efd[6], fds[8];
	static const uint32_t want[][3] = {{2, 3, 3}, {5, 2, 2}, {7, 2, 0}, {9, 1, 1}}; /* start, count, nfds */
	static const uint64_t fired[6] = {3, 4, 5, 6, 7, 10};
	struct uvf_msg_irq_set set;

	(void)state;
	for (int i = 0; i < 6; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memcpy(fds, efd, 5 * sizeof(int));
	fds[5] = fds[6] = -1;
	fds[7] = efd[5];
	assert_int_equal(uvf_client_set_irq_eventfds(client, 2, 2, 8, fds), 0);
	fds[3] = -5;
	assert_int_equal(uvf_client_set_irq_eventfds(client, 2, 2, 8, fds), -EBADF);
	assert_int_equal(uvf_client_set_irq_eventfds(client, 2, 0, 0, fds), -EINVAL);
	assert_int_equal(uvf_client_set_irq_eventfds(client, 2, UINT32_MAX, 2, efd), -EINVAL);
	assert_int_equal(uvf_client_set_irq_eventfds(client, 2, 0, 1, NULL), -EINVAL);
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_SET_IRQS, rec, 8), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rec[i]->len, 20);
		memcpy(&set, rec[i]->payload, sizeof(set));
		assert_int_equal(set.argsz, 20);
		assert_int_equal(set.flags, UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_TRIGGER);
		assert_int_equal(set.index, 2);
		assert_int_equal(set.start, want[i][0]);
		assert_int_equal(set.count, want[i][1]);
		assert_int_equal(rec[i]->nfds, want[i][2]);
	}
	for (int i = 0; i < 6; i++) {
		uint64_t v = 0;

		assert_int_equal(read(efd[i], &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, fired[i]);
		close(efd[i]);
	}
	fs_stop(fs);
}

static void test_set_irq_eventfds_needs_server_fd_support(void **state)
{
	struct fake_server *fs = start(NULL, "{\"capabilities\":{\"max_msg_fds\":0}}");
	struct uvf_client *client = connect_ok(fs);
	int detach[2] = {-1, -1};
	int efd = eventfd(0, EFD_CLOEXEC);
	void *mem = NULL;
	const struct fs_record *rec[4];

	(void)state;
	assert_int_equal(uvf_client_set_irq_eventfds(client, 1, 0, 1, &efd), -ENOTSUP);
	assert_int_equal(uvf_client_set_irq_eventfds(client, 1, 0, 2, detach), 0);
	assert_int_equal(uvf_client_dma_alloc(client, 0, 4096, UVF_DMA_MAP_FLAG_READ, &mem), -ENOTSUP);
	close(efd);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_SET_IRQS, rec, 4), 1);
	assert_int_equal(rec[0]->nfds, 0);
	fs_stop(fs);
}

static void test_irq_mask_trigger_and_disable_messages(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_ok(fs);
	const struct fs_record *rec[8];
	static const uint32_t want[][4] = {
		/* flags, index, start, count */
		{UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_MASK, 1, 0, 1},
		{UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_UNMASK, 2, 4, 3},
		{UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER, 2, 3, 2},
		{UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER, 2, 0, 0},
	};
	struct uvf_msg_irq_set set;

	(void)state;
	assert_int_equal(uvf_client_irq_mask(client, 1, 0, 1, true), 0);
	assert_int_equal(uvf_client_irq_mask(client, 2, 4, 3, false), 0);
	assert_int_equal(uvf_client_irq_trigger(client, 2, 3, 2), 0);
	assert_int_equal(uvf_client_irq_disable(client, 2), 0);
	assert_int_equal(uvf_client_irq_mask(client, 2, 0, 0, true), -EINVAL);
	assert_int_equal(uvf_client_irq_trigger(client, 2, 0, 0), -EINVAL);
	assert_int_equal(uvf_client_device_info(client, NULL), 0);
	assert_int_equal(uvf_client_irq_trigger(client, 5, 0, 1), -EINVAL);
	assert_int_equal(uvf_client_irq_disable(client, 5), -EINVAL);
	uvf_client_close(client);

	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_SET_IRQS, rec, 8), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rec[i]->len, 20);
		assert_int_equal(rec[i]->nfds, 0);
		memcpy(&set, rec[i]->payload, sizeof(set));
		assert_int_equal(set.argsz, 20);
		assert_int_equal(set.flags, want[i][0]);
		assert_int_equal(set.index, want[i][1]);
		assert_int_equal(set.start, want[i][2]);
		assert_int_equal(set.count, want[i][3]);
	}
	fs_stop(fs);
}

/* ------------------------------------------------------------------ */
/* Reset and raw calls                                                  */
/* ------------------------------------------------------------------ */

static void test_reset_needs_the_reset_flag(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client *client;
	const struct fs_record *rec[4];

	(void)state;
	fs->dev_flags = UVF_DEVICE_FLAG_PCI;
	fs_start(fs);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_reset(client), -ENOTSUP);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_GET_INFO, rec, 4), 1);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_RESET, rec, 4), 0);
	fs_stop(fs);

	fs = start(NULL, NULL);
	client = connect_ok(fs);
	assert_int_equal(uvf_client_reset(client), 0);
	assert_int_equal(uvf_client_reset(client), 0);
	uvf_client_close(client);
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_GET_INFO, rec, 4), 1); /* cached */
	assert_int_equal(fs_records(fs, UVF_CMD_DEVICE_RESET, rec, 4), 2);
	assert_int_equal(rec[0]->len, 0);
	fs_stop(fs);
}

static void test_call_returns_the_raw_reply(void **state)
{
	struct fake_server *fs = start(NULL, NULL);
	struct uvf_client *client = connect_ok(fs);
	struct uvf_msg_device_info req = {16, 0, 0, 0}, info;
	uint8_t small[8];
	size_t len = 0;

	(void)state;
	assert_int_equal(
		uvf_client_call(client, UVF_CMD_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0, &info, sizeof(info), &len),
		0);
	assert_int_equal(len, 16);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(uvf_client_call(client, UVF_CMD_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0, small,
					 sizeof(small), &len),
			 -EMSGSIZE);
	assert_int_equal(len, 16);
	assert_int_equal(uvf_client_call(client, 77, NULL, 0, NULL, 0, NULL, 0, &len), -ENOSYS);
	assert_int_equal(uvf_client_call(client, UVF_CMD_DEVICE_RESET, NULL, 0, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(uvf_client_call(client, 77, NULL, 4, NULL, 0, NULL, 0, &len), -EINVAL);
	uvf_client_close(client);
	fs_stop(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_to_missing_path_gives_enoent),
		cmocka_unit_test(test_connect_to_regular_file_is_refused),
		cmocka_unit_test(test_connect_refuses_bad_options),
		cmocka_unit_test(test_version_good_reply_sets_server_caps),
		cmocka_unit_test(test_version_reply_without_json_uses_defaults),
		cmocka_unit_test(test_version_reply_minor_above_ours_is_eproto),
		cmocka_unit_test(test_version_reply_other_major_is_eproto),
		cmocka_unit_test(test_version_reply_bad_json_is_eproto),
		cmocka_unit_test(test_version_error_reply_is_eproto),
		cmocka_unit_test(test_version_json_without_nul_is_eproto),
		cmocka_unit_test(test_version_peer_closing_at_once_fails_fast),
		cmocka_unit_test(test_version_garbage_from_peer_is_eproto),
		cmocka_unit_test(test_version_server_command_before_reply_is_eproto),
		cmocka_unit_test(test_version_without_reply_times_out),
		cmocka_unit_test(test_late_reply_after_timeout_is_dropped),
		cmocka_unit_test(test_reply_with_unknown_id_or_command_is_dropped),
		cmocka_unit_test(test_error_reply_maps_to_negative_errno),
		cmocka_unit_test(test_eof_breaks_the_connection_for_good),
		cmocka_unit_test(test_framing_errors_break_the_connection),
		cmocka_unit_test(test_reply_with_unexpected_fd_is_refused_and_fd_closed),
		cmocka_unit_test(test_region_access_is_split_at_server_max_xfer),
		cmocka_unit_test(test_region_reads_are_split_at_our_max_xfer),
		cmocka_unit_test(test_region_access_range_checks),
		cmocka_unit_test(test_config_helpers_are_little_endian),
		cmocka_unit_test(test_region_info_retries_with_larger_argsz),
		cmocka_unit_test(test_region_info_argsz_growth_is_bounded),
		cmocka_unit_test(test_region_and_irq_info_indexes_checked_against_device_info),
		cmocka_unit_test(test_bad_device_info_reply_is_eproto),
		cmocka_unit_test(test_server_dma_to_registered_memory_is_served_while_waiting),
		cmocka_unit_test(test_dma_alloc_shares_memfd_and_serves_messages),
		cmocka_unit_test(test_server_dma_outside_rules_gets_error_replies),
		cmocka_unit_test(test_dma_registration_rules),
		cmocka_unit_test(test_unregister_all_falls_back_to_one_by_one),
		cmocka_unit_test(test_process_serves_requests_between_calls),
		cmocka_unit_test(test_set_irq_eventfds_is_chunked_by_server_max_msg_fds),
		cmocka_unit_test(test_set_irq_eventfds_needs_server_fd_support),
		cmocka_unit_test(test_irq_mask_trigger_and_disable_messages),
		cmocka_unit_test(test_reset_needs_the_reset_flag),
		cmocka_unit_test(test_call_returns_the_raw_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
