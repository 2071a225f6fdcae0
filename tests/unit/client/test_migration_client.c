/* SPDX-License-Identifier: MIT */
/*
 * The client's migration calls against a scripted fake server: feature
 * discovery (PROBE, then GET), device state GET/SET, MIG_DATA_READ/WRITE
 * chunking and end of data, DMA logging START/STOP/REPORT. For every reply
 * check, one test where a correct reply is accepted and one where a bad
 * reply is refused with -EPROTO. Also uvf_client_dma_map_fd(), which
 * migration uses to show one memory to two servers. Every test ends with fs_stop(), which
 * asserts that no fd leaked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_server.h"
#include "uvf/client.h"

/* ------------------------------------------------------------------ */
/* The fake migration server                                            */
/* ------------------------------------------------------------------ */

/* What a test makes the fake server do wrong. */
enum misbehave {
	OK,
	PROBE_NO_ECHO,	       /* PROBE answered with an empty payload */
	GET_SHORT,	       /* GET reply 4 bytes short */
	GET_OTHER_FEATURE,     /* GET reply names another feature */
	GET_BAD_ARGSZ,	       /* GET reply argsz not its length */
	STATE_SHORT,	       /* GET MIG_DEVICE_STATE reply 4 bytes short */
	SET_OTHER_STATE,       /* SET state echo with another state */
	READ_SIZE_ABOVE_ASKED, /* MIG_DATA_READ size > requested */
	READ_BAD_ARGSZ,	       /* MIG_DATA_READ argsz != 8 + size */
	READ_DATA_MISSING,     /* MIG_DATA_READ size 100 with 10 bytes */
	READ_TOO_LONG,	       /* MIG_DATA_READ reply longer than 8 + requested */
	WRITE_REPLY_DATA,      /* MIG_DATA_WRITE answered with 8 bytes */
	START_OTHER_RANGE,     /* START echo with another range */
	START_ODD_PAGE,	       /* START picks a page size of 3000 */
	STOP_NO_ECHO,	       /* STOP answered with an empty payload */
	REPORT_OTHER_IOVA,     /* REPORT echo with another iova */
	REPORT_SHORT,	       /* REPORT bitmap 8 bytes short */
};

#define STREAM_MAX  65536
#define MAX_REPORTS 8

struct mig_fake {
	/* set by the test */
	uint32_t unsupported; /* errno for every DEVICE_FEATURE (0 = supported) */
	uint32_t set_error;   /* errno for SET MIG_DEVICE_STATE */
	uint64_t mig_flags;
	uint32_t state;
	bool logging;	      /* offers DMA logging */
	uint64_t chosen_page; /* 0 = keep the client's */
	bool pad_reads;	      /* size MIG_DATA_READ replies for the size asked */
	enum misbehave bad;
	uint8_t stream[STREAM_MAX]; /* what MIG_DATA_READ serves */
	size_t stream_len;
	uint8_t bitmap_fill; /* byte every REPORT bitmap is filled with */

	/* seen by the server */
	size_t stream_pos;
	uint8_t written[STREAM_MAX];
	size_t written_len;
	uint32_t max_read, max_write; /* largest size asked / written */
	size_t reads, writes;
	uint32_t bad_argsz; /* a request whose argsz was wrong: its command */
	uint32_t set_data_fd;
	uint32_t last_flags[16]; /* DEVICE_FEATURE flags, in order */
	size_t nfeatures;
	struct uvf_msg_dma_logging_report reports[MAX_REPORTS];
	uint32_t report_argsz[MAX_REPORTS];
	size_t nreports;
	struct uvf_msg_dma_logging_control start;
	struct uvf_msg_dma_logging_range start_ranges[256];
	bool stopped;
};

static void reply_feature(struct fake_server *fs, const struct fs_msg *msg, uint32_t argsz, uint32_t flags,
			  const void *data, size_t len)
{
	struct uvf_msg_device_feature hdr = {.argsz = argsz, .flags = flags};

	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &hdr, sizeof(hdr), data, len, NULL, 0);
}

static void handle_feature(struct fake_server *fs, struct mig_fake *m, struct fs_msg *msg)
{
	struct uvf_msg_device_feature req;
	uint32_t index, flags;
	const uint8_t *data;
	size_t len;

	if (msg->len < sizeof(req)) {
		fs_fail(fs, "DEVICE_FEATURE of %zu bytes", msg->len);
		fs_reply_error(fs, msg, EINVAL);
		return;
	}
	memcpy(&req, msg->body, sizeof(req));
	flags = req.flags;
	index = flags & UVF_FEATURE_BITS;
	data = msg->body + sizeof(req);
	len = msg->len - sizeof(req);
	if (m->nfeatures < 16)
		m->last_flags[m->nfeatures++] = flags;
	if (m->unsupported) {
		fs_reply_error(fs, msg, m->unsupported);
		return;
	}
	if ((index >= UVF_FEATURE_DMA_LOGGING_START && !m->logging) ||
	    (index != UVF_FEATURE_MIGRATION && index != UVF_FEATURE_MIGRATION_DEVICE_STATE &&
	     index < UVF_FEATURE_DMA_LOGGING_START)) {
		fs_reply_error(fs, msg, EINVAL);
		return;
	}
	/* SET and PROBE: the request is echoed; argsz must cover it. */
	if (flags & UVF_FEATURE_PROBE) {
		if (req.argsz < msg->len)
			m->bad_argsz = UVF_CMD_DEVICE_FEATURE;
		if (m->bad == PROBE_NO_ECHO)
			fs_reply(fs, msg, NULL, 0);
		else
			fs_reply(fs, msg, msg->body, msg->len);
		return;
	}
	switch (index) {
	case UVF_FEATURE_MIGRATION: {
		struct uvf_msg_feature_migration mig = {.flags = m->mig_flags};

		if (req.argsz < 16)
			m->bad_argsz = UVF_CMD_DEVICE_FEATURE;
		if (m->bad == GET_SHORT)
			reply_feature(fs, msg, 12, flags, &mig, 4);
		else if (m->bad == GET_OTHER_FEATURE)
			reply_feature(fs, msg, 16, UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_GET, &mig,
				      sizeof(mig));
		else if (m->bad == GET_BAD_ARGSZ)
			reply_feature(fs, msg, 24, flags, &mig, sizeof(mig));
		else
			reply_feature(fs, msg, 16, flags, &mig, sizeof(mig));
		return;
	}
	case UVF_FEATURE_MIGRATION_DEVICE_STATE: {
		struct uvf_msg_feature_migration_state st = {.device_state = m->state};

		if (flags & UVF_FEATURE_SET) {
			if (len != sizeof(st) || req.argsz < msg->len) {
				m->bad_argsz = UVF_CMD_DEVICE_FEATURE;
				fs_reply_error(fs, msg, EINVAL);
				return;
			}
			memcpy(&st, data, sizeof(st));
			m->set_data_fd = st.data_fd;
			if (m->set_error) {
				fs_reply_error(fs, msg, m->set_error);
				return;
			}
			m->state = st.device_state;
			if (m->bad == SET_OTHER_STATE) {
				st.device_state ^= 1;
				reply_feature(fs, msg, req.argsz, flags, &st, sizeof(st));
			} else {
				fs_reply(fs, msg, msg->body, msg->len);
			}
			return;
		}
		if (m->bad == STATE_SHORT)
			reply_feature(fs, msg, 12, flags, &st, 4);
		else
			reply_feature(fs, msg, 16, flags, &st, sizeof(st));
		return;
	}
	case UVF_FEATURE_DMA_LOGGING_START: {
		uint8_t echo[sizeof(req) + sizeof(m->start) + sizeof(m->start_ranges)];
		struct uvf_msg_dma_logging_control ctl;

		if (len < sizeof(ctl) || msg->len > sizeof(echo) || req.argsz < msg->len) {
			fs_fail(fs, "START of %zu bytes, argsz %u", msg->len, (unsigned)req.argsz);
			fs_reply_error(fs, msg, EINVAL);
			return;
		}
		memcpy(&ctl, data, sizeof(ctl));
		m->start = ctl;
		if (len != sizeof(ctl) + ctl.num_ranges * sizeof(struct uvf_msg_dma_logging_range))
			fs_fail(fs, "START with %u ranges in %zu bytes", (unsigned)ctl.num_ranges, len);
		else
			memcpy(m->start_ranges, data + sizeof(ctl), len - sizeof(ctl));
		memcpy(echo, msg->body, msg->len);
		if (m->chosen_page)
			memcpy(echo + sizeof(req), &m->chosen_page, 8);
		if (m->bad == START_ODD_PAGE)
			memcpy(echo + sizeof(req), &(uint64_t){3000}, 8);
		if (m->bad == START_OTHER_RANGE && ctl.num_ranges > 0)
			echo[sizeof(req) + sizeof(ctl)] ^= 0x10;
		fs_reply(fs, msg, echo, msg->len);
		return;
	}
	case UVF_FEATURE_DMA_LOGGING_STOP:
		m->stopped = true;
		if (m->bad == STOP_NO_ECHO)
			fs_reply(fs, msg, NULL, 0);
		else
			fs_reply(fs, msg, msg->body, msg->len);
		return;
	case UVF_FEATURE_DMA_LOGGING_REPORT: {
		struct uvf_msg_dma_logging_report rep;
		uint64_t npages;
		size_t bytes;
		uint8_t *bitmap;

		if (len != sizeof(rep)) {
			fs_fail(fs, "REPORT with %zu bytes of data", len);
			fs_reply_error(fs, msg, EINVAL);
			return;
		}
		memcpy(&rep, data, sizeof(rep));
		if (m->nreports < MAX_REPORTS) {
			m->reports[m->nreports] = rep;
			m->report_argsz[m->nreports++] = req.argsz;
		}
		npages = (rep.length + rep.page_size - 1) / rep.page_size;
		bytes = (size_t)((npages + 63) / 64 * 8);
		if (req.argsz != 32 + bytes)
			m->bad_argsz = UVF_CMD_DEVICE_FEATURE;
		bitmap = malloc(sizeof(rep) + bytes);
		if (bitmap == NULL) {
			fs_reply_error(fs, msg, ENOMEM);
			return;
		}
		if (m->bad == REPORT_OTHER_IOVA)
			rep.iova += 4096;
		memcpy(bitmap, &rep, sizeof(rep));
		memset(bitmap + sizeof(rep), m->bitmap_fill, bytes);
		if (m->bad == REPORT_SHORT)
			bytes -= 8;
		reply_feature(fs, msg, (uint32_t)(8 + sizeof(rep) + bytes), flags, bitmap, sizeof(rep) + bytes);
		free(bitmap);
		return;
	}
	}
}

static void handle_read(struct fake_server *fs, struct mig_fake *m, struct fs_msg *msg)
{
	struct uvf_msg_migration_data req, res;
	uint8_t *out;
	size_t n, out_len;

	if (msg->len != sizeof(req)) {
		fs_fail(fs, "MIG_DATA_READ of %zu bytes", msg->len);
		fs_reply_error(fs, msg, EINVAL);
		return;
	}
	memcpy(&req, msg->body, sizeof(req));
	m->reads++;
	if (req.size > m->max_read)
		m->max_read = req.size;
	if (req.argsz < sizeof(req) + req.size)
		m->bad_argsz = UVF_CMD_MIGRATION_DATA_READ;
	n = m->stream_len - m->stream_pos < req.size ? m->stream_len - m->stream_pos : req.size;
	res.size = (uint32_t)n;
	res.argsz = (uint32_t)(sizeof(res) + n);
	out_len = m->pad_reads ? req.size : n;
	switch (m->bad) {
	case READ_SIZE_ABOVE_ASKED:
		res.size = req.size + 1;
		res.argsz = sizeof(res) + res.size;
		out_len = res.size;
		break;
	case READ_BAD_ARGSZ:
		res.argsz = sizeof(res) + req.size + 8;
		break;
	case READ_DATA_MISSING:
		res.size = 100;
		res.argsz = sizeof(res) + 100;
		out_len = 10;
		break;
	case READ_TOO_LONG:
		out_len = req.size + 8;
		break;
	default:
		break;
	}
	out = calloc(1, out_len + 1);
	if (out == NULL) {
		fs_reply_error(fs, msg, ENOMEM);
		return;
	}
	memcpy(out, m->stream + m->stream_pos, n < out_len ? n : out_len);
	m->stream_pos += n;
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, &res, sizeof(res), out, out_len, NULL, 0);
	free(out);
}

static void handle_write(struct fake_server *fs, struct mig_fake *m, struct fs_msg *msg)
{
	struct uvf_msg_migration_data req;

	if (msg->len < sizeof(req)) {
		fs_fail(fs, "MIG_DATA_WRITE of %zu bytes", msg->len);
		fs_reply_error(fs, msg, EINVAL);
		return;
	}
	memcpy(&req, msg->body, sizeof(req));
	m->writes++;
	if (req.size > m->max_write)
		m->max_write = req.size;
	if (req.argsz != sizeof(req) + req.size || msg->len != sizeof(req) + req.size)
		m->bad_argsz = UVF_CMD_MIGRATION_DATA_WRITE;
	if (m->written_len + req.size > sizeof(m->written)) {
		fs_reply_error(fs, msg, ENOSPC);
		return;
	}
	memcpy(m->written + m->written_len, msg->body + sizeof(req), req.size);
	m->written_len += req.size;
	if (m->bad == WRITE_REPLY_DATA)
		fs_reply(fs, msg, &req, sizeof(req));
	else
		fs_reply(fs, msg, NULL, 0);
}

static enum fs_action mig_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct mig_fake *m = fs->data;

	switch (msg->hdr.command) {
	case UVF_CMD_DEVICE_FEATURE:
		handle_feature(fs, m, msg);
		return FS_HANDLED;
	case UVF_CMD_MIGRATION_DATA_READ:
		handle_read(fs, m, msg);
		return FS_HANDLED;
	case UVF_CMD_MIGRATION_DATA_WRITE:
		handle_write(fs, m, msg);
		return FS_HANDLED;
	default:
		return FS_DEFAULT;
	}
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static struct mig_fake *fake_new(void)
{
	struct mig_fake *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->mig_flags = UVF_MIGRATION_STOP_COPY | UVF_MIGRATION_PRE_COPY;
	m->state = UVF_MIGRATION_STATE_RUNNING;
	m->logging = true;
	for (size_t i = 0; i < STREAM_MAX; i++)
		m->stream[i] = (uint8_t)(i * 13 + 1);
	return m;
}

/* Start a fake server serving m (caps_json NULL = the defaults) and
 * connect a client with our_xfer as its max_data_xfer_size (0 = 1 MiB). */
static struct fake_server *start(struct mig_fake *m, const char *caps_json, uint32_t our_xfer,
				 struct uvf_client **client)
{
	struct fake_server *fs = fs_new();
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;

	fs->hook = mig_hook;
	fs->data = m;
	if (caps_json)
		fs->caps_json = caps_json;
	fs_start(fs);
	opts.timeout_ms = 3000;
	opts.log_level = getenv("UVF_TEST_VERBOSE") ? UVF_LOG_DEBUG : UVF_LOG_ERROR;
	if (our_xfer)
		opts.max_data_xfer_size = our_xfer;
	assert_int_equal(uvf_client_connect(client, fs->path, &opts), 0);
	return fs;
}

static void connect_quiet(struct fake_server *fs, struct uvf_client **client)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;

	opts.timeout_ms = 3000;
	opts.log_level = getenv("UVF_TEST_VERBOSE") ? UVF_LOG_DEBUG : UVF_LOG_ERROR;
	assert_int_equal(uvf_client_connect(client, fs->path, &opts), 0);
}

/* Close the client, wait for the server thread, so that m can be read. */
static void finish(struct fake_server *fs, struct uvf_client *client)
{
	uvf_client_close(client);
	fs_join(fs);
}

#define CAPS_4K "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4096}}"

/* ------------------------------------------------------------------ */
/* Migration feature                                                    */
/* ------------------------------------------------------------------ */

static void test_features_probe_first_then_get(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, NULL, 0, &client);
	uint64_t flags = 0;

	(void)state;
	assert_int_equal(uvf_client_migration_features(client, &flags), 0);
	assert_int_equal(flags, UVF_MIGRATION_STOP_COPY | UVF_MIGRATION_PRE_COPY);
	finish(fs, client);
	assert_int_equal(m->nfeatures, 2);
	assert_int_equal(m->last_flags[0], UVF_FEATURE_MIGRATION | UVF_FEATURE_GET | UVF_FEATURE_PROBE);
	assert_int_equal(m->last_flags[1], UVF_FEATURE_MIGRATION | UVF_FEATURE_GET);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void check_unsupported_answer(uint32_t err, int expect)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint64_t flags = 77;

	m->unsupported = err;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_features(client, &flags), expect);
	assert_int_equal(flags, 77);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_features_refusals_mean_enotsup(void **state)
{
	(void)state;
	check_unsupported_answer(EINVAL, -ENOTSUP);
	check_unsupported_answer(ENOTSUP, -ENOTSUP);
	check_unsupported_answer(ENOSYS, -ENOTSUP);
}

static void test_features_other_errors_pass_through(void **state)
{
	(void)state;
	check_unsupported_answer(EIO, -EIO);
}

static void test_features_server_without_device_feature_is_enotsup(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client *client;
	uint64_t flags;

	(void)state;
	/* No hook: the canned server answers ENOSYS to DEVICE_FEATURE. */
	fs_start(fs);
	connect_quiet(fs, &client);
	assert_int_equal(uvf_client_migration_features(client, &flags), -ENOTSUP);
	uvf_client_close(client);
	fs_stop(fs);
}

static void check_features_bad(enum misbehave bad, uint64_t mig_flags)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint64_t flags = 77;

	m->bad = bad;
	m->mig_flags = mig_flags;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_features(client, &flags), -EPROTO);
	assert_int_equal(flags, 77);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_features_bad_replies_are_eproto(void **state)
{
	(void)state;
	check_features_bad(PROBE_NO_ECHO, UVF_MIGRATION_STOP_COPY);
	check_features_bad(GET_SHORT, UVF_MIGRATION_STOP_COPY);
	check_features_bad(GET_OTHER_FEATURE, UVF_MIGRATION_STOP_COPY);
	check_features_bad(GET_BAD_ARGSZ, UVF_MIGRATION_STOP_COPY);
	/* STOP_COPY is mandatory. */
	check_features_bad(OK, UVF_MIGRATION_PRE_COPY);
}

/* ------------------------------------------------------------------ */
/* Device state                                                         */
/* ------------------------------------------------------------------ */

static void test_state_get_and_set(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, NULL, 0, &client);
	uint32_t st = 99;

	(void)state;
	assert_int_equal(uvf_client_migration_state(client, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(uvf_client_set_migration_state(client, UVF_MIGRATION_STATE_PRE_COPY), 0);
	assert_int_equal(uvf_client_migration_state(client, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_PRE_COPY);
	finish(fs, client);
	assert_int_equal(m->last_flags[1], UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_SET);
	assert_int_equal(m->set_data_fd, UINT32_MAX);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void test_state_get_unknown_state_is_eproto(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint32_t st = 99;

	(void)state;
	m->state = 8;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_state(client, &st), -EPROTO);
	assert_int_equal(st, 99);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_state_get_short_reply_is_eproto(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint32_t st = 99;

	(void)state;
	m->bad = STATE_SHORT;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_state(client, &st), -EPROTO);
	assert_int_equal(st, 99);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_state_set_wrong_echo_is_eproto(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	m->bad = SET_OTHER_STATE;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_set_migration_state(client, UVF_MIGRATION_STATE_STOP), -EPROTO);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_state_set_refusal_is_the_servers_errno(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	m->set_error = EINVAL;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_set_migration_state(client, UVF_MIGRATION_STATE_STOP_COPY), -EINVAL);
	finish(fs, client);
	assert_int_equal(m->state, UVF_MIGRATION_STATE_RUNNING);
	fs_stop(fs);
	free(m);
}

static void test_state_set_non_state_is_refused_locally(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, NULL, 0, &client);

	(void)state;
	assert_int_equal(uvf_client_set_migration_state(client, 8), -EINVAL);
	assert_int_equal(uvf_client_set_migration_state(client, UVF_MIGRATION_STATE_PRE_COPY_P2P + 100), -EINVAL);
	finish(fs, client);
	assert_int_equal(m->nfeatures, 0);
	fs_stop(fs);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Migration data                                                       */
/* ------------------------------------------------------------------ */

static void check_read_whole_stream(bool pad)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	static uint8_t buf[STREAM_MAX];
	size_t got = 0;

	m->stream_len = 10000;
	m->pad_reads = pad;
	fs = start(m, CAPS_4K, 0, &client);
	/* Ask for more than there is: chunks of 4096, the third is short. */
	assert_int_equal(uvf_client_migration_data_read(client, buf, 20000, &got), 0);
	assert_int_equal(got, 10000);
	assert_memory_equal(buf, m->stream, 10000);
	/* Nothing more: a read of 0 bytes at the end. */
	assert_int_equal(uvf_client_migration_data_read(client, buf, 100, &got), 0);
	assert_int_equal(got, 0);
	finish(fs, client);
	assert_int_equal(m->reads, 4);
	assert_int_equal(m->max_read, 4096);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void test_read_splits_at_server_limit_and_stops_at_short_read(void **state)
{
	(void)state;
	check_read_whole_stream(false);
}

static void test_read_accepts_replies_sized_for_the_request(void **state)
{
	(void)state;
	check_read_whole_stream(true);
}

static void test_read_splits_at_our_receive_limit(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	static uint8_t buf[8192];
	size_t got = 0;

	(void)state;
	m->stream_len = 5000;
	fs = start(m, NULL, 1024, &client);
	assert_int_equal(uvf_client_migration_data_read(client, buf, 3000, &got), 0);
	assert_int_equal(got, 3000);
	assert_memory_equal(buf, m->stream, 3000);
	finish(fs, client);
	assert_int_equal(m->max_read, 1024);
	assert_int_equal(m->reads, 3);
	fs_stop(fs);
	free(m);
}

static void check_read_bad(enum misbehave bad)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	static uint8_t buf[STREAM_MAX];
	size_t got = 55;

	m->stream_len = 5000;
	m->bad = bad;
	fs = start(m, CAPS_4K, 0, &client);
	assert_int_equal(uvf_client_migration_data_read(client, buf, 2000, &got), -EPROTO);
	assert_int_equal(got, 0);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_read_bad_replies_are_eproto(void **state)
{
	(void)state;
	check_read_bad(READ_SIZE_ABOVE_ASKED);
	check_read_bad(READ_BAD_ARGSZ);
	check_read_bad(READ_DATA_MISSING);
	check_read_bad(READ_TOO_LONG);
}

static void test_write_splits_at_server_limit_with_exact_argsz(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	fs = start(m, CAPS_4K, 0, &client);
	assert_int_equal(uvf_client_migration_data_write(client, m->stream, 9000), 0);
	assert_int_equal(uvf_client_migration_data_write(client, m->stream, 0), 0);
	finish(fs, client);
	assert_int_equal(m->writes, 3);
	assert_int_equal(m->max_write, 4096);
	assert_int_equal(m->written_len, 9000);
	assert_memory_equal(m->written, m->stream, 9000);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void test_write_reply_with_data_is_eproto(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	m->bad = WRITE_REPLY_DATA;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_data_write(client, m->stream, 100), -EPROTO);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_write_refusal_is_the_servers_errno(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	static uint8_t big[STREAM_MAX];

	(void)state;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_migration_data_write(client, big, sizeof(big)), 0);
	/* The fake keeps STREAM_MAX bytes: the next write is refused. */
	assert_int_equal(uvf_client_migration_data_write(client, big, 1), -ENOSPC);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

/* ------------------------------------------------------------------ */
/* DMA logging                                                          */
/* ------------------------------------------------------------------ */

static void test_logging_start_probes_then_reports_the_chosen_page(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	struct uvf_msg_dma_logging_range ranges[2] = {{0, 0x100000}, {0x200000, 0x4000}};
	uint64_t chosen = 0;

	(void)state;
	m->chosen_page = 0x2000;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, ranges, 2, &chosen), 0);
	assert_int_equal(chosen, 0x2000);
	assert_int_equal(uvf_client_dma_logging_stop(client), 0);
	finish(fs, client);
	assert_int_equal(m->last_flags[0], UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET | UVF_FEATURE_PROBE);
	assert_int_equal(m->last_flags[1], UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET);
	assert_int_equal(m->start.page_size, 4096);
	assert_int_equal(m->start.num_ranges, 2);
	assert_int_equal(m->start_ranges[1].iova, 0x200000);
	assert_int_equal(m->start_ranges[1].length, 0x4000);
	assert_true(m->stopped);
	fs_stop(fs);
	free(m);
}

static void test_logging_start_without_ranges_means_everything(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, NULL, 0, &client);
	uint64_t chosen = 0;

	(void)state;
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, NULL, 0, &chosen), 0);
	assert_int_equal(chosen, 4096);
	finish(fs, client);
	assert_int_equal(m->start.num_ranges, 0);
	fs_stop(fs);
	free(m);
}

static void check_start_bad(enum misbehave bad)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	struct uvf_msg_dma_logging_range range = {0, 0x100000};
	uint64_t chosen = 5;

	m->bad = bad;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, &range, 1, &chosen), -EPROTO);
	assert_int_equal(chosen, 5);
	finish(fs, client);
	/* A START the client could not trust is undone. */
	assert_true(m->stopped);
	fs_stop(fs);
	free(m);
}

static void test_logging_start_bad_echo_is_eproto_and_stops(void **state)
{
	(void)state;
	check_start_bad(START_OTHER_RANGE);
	check_start_bad(START_ODD_PAGE);
}

static void test_logging_start_unsupported_is_enotsup(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	m->logging = false;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, NULL, 0, NULL), -ENOTSUP);
	finish(fs, client);
	assert_int_equal(m->nfeatures, 1); /* only the PROBE went out */
	fs_stop(fs);
	free(m);
}

static void test_logging_start_bad_arguments_are_refused_locally(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, CAPS_4K, 0, &client);
	struct uvf_msg_dma_logging_range wrap = {UINT64_MAX - 4095, 8192}, empty = {0, 0};
	static struct uvf_msg_dma_logging_range many[300];

	(void)state;
	for (size_t i = 0; i < 300; i++)
		many[i] = (struct uvf_msg_dma_logging_range){i * 0x10000, 0x1000};
	assert_int_equal(uvf_client_dma_logging_start(client, 3000, NULL, 0, NULL), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_start(client, 0, NULL, 0, NULL), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, &wrap, 1, NULL), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, &empty, 1, NULL), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, NULL, 1, NULL), -EINVAL);
	/* 300 ranges = 4824 bytes: more than a 4 KiB server takes. */
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, many, 300, NULL), -E2BIG);
	/* 200 ranges fit. */
	assert_int_equal(uvf_client_dma_logging_start(client, 4096, many, 200, NULL), 0);
	finish(fs, client);
	assert_int_equal(m->nfeatures, 2);
	fs_stop(fs);
	free(m);
}

static void test_logging_stop_without_echo_is_eproto(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;

	(void)state;
	m->bad = STOP_NO_ECHO;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_dma_logging_stop(client), -EPROTO);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_logging_report_fills_the_bitmap_and_clears_bits_past_the_range(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint64_t bitmap[3];

	(void)state;
	m->bitmap_fill = 0xff;
	fs = start(m, NULL, 0, &client);
	/* 100 pages and a half: 101 bits, in 2 words; the third stays. */
	bitmap[2] = 0x1234;
	assert_int_equal(
		uvf_client_dma_logging_report(client, 0x10000, 100 * 4096 + 2048, 4096, bitmap, sizeof(bitmap)), 0);
	assert_int_equal(bitmap[0], UINT64_MAX);
	assert_int_equal(bitmap[1], (UINT64_C(1) << 37) - 1);
	assert_int_equal(bitmap[2], 0x1234);
	finish(fs, client);
	assert_int_equal(m->nreports, 1);
	assert_int_equal(m->reports[0].iova, 0x10000);
	assert_int_equal(m->reports[0].length, 100 * 4096 + 2048);
	assert_int_equal(m->reports[0].page_size, 4096);
	assert_int_equal(m->report_argsz[0], 32 + 16);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void test_logging_report_splits_a_large_range_at_the_transfer_size(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	/* A 4 KiB limit leaves (4096 - 32) / 8 = 508 words = 32512 pages
	 * per reply: 40010 pages take two pieces. */
	uint64_t pages = 40010, per_piece = 508 * 64;
	static uint64_t bitmap[(40010 + 63) / 64];

	(void)state;
	m->bitmap_fill = 0xa5;
	fs = start(m, CAPS_4K, 0, &client);
	assert_int_equal(uvf_client_dma_logging_report(client, 0x100000, pages * 4096, 4096, bitmap, sizeof(bitmap)),
			 0);
	for (size_t i = 0; i < pages / 64; i++)
		assert_int_equal(bitmap[i], UINT64_C(0xa5a5a5a5a5a5a5a5));
	assert_int_equal(bitmap[pages / 64], UINT64_C(0xa5a5a5a5a5a5a5a5) & ((UINT64_C(1) << (pages % 64)) - 1));
	finish(fs, client);
	assert_int_equal(m->nreports, 2);
	assert_int_equal(m->reports[0].iova, 0x100000);
	assert_int_equal(m->reports[0].length, per_piece * 4096);
	assert_int_equal(m->report_argsz[0], 4096);
	assert_int_equal(m->reports[1].iova, 0x100000 + per_piece * 4096);
	assert_int_equal(m->reports[1].length, (pages - per_piece) * 4096);
	assert_int_equal(m->bad_argsz, 0);
	fs_stop(fs);
	free(m);
}

static void check_report_bad(enum misbehave bad)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs;
	uint64_t bitmap[2] = {0, 0};

	m->bad = bad;
	m->bitmap_fill = 0xff;
	fs = start(m, NULL, 0, &client);
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 128 * 4096, 4096, bitmap, sizeof(bitmap)), -EPROTO);
	assert_int_equal(bitmap[0], 0);
	finish(fs, client);
	fs_stop(fs);
	free(m);
}

static void test_logging_report_bad_replies_are_eproto(void **state)
{
	(void)state;
	check_report_bad(REPORT_OTHER_IOVA);
	check_report_bad(REPORT_SHORT);
}

static void test_logging_report_bad_arguments_are_refused_locally(void **state)
{
	struct mig_fake *m = fake_new();
	struct uvf_client *client;
	struct fake_server *fs = start(m, NULL, 0, &client);
	uint64_t bitmap[2];

	(void)state;
	/* 129 pages need 3 words. */
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 129 * 4096, 4096, bitmap, sizeof(bitmap)), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 4096, 3000, bitmap, sizeof(bitmap)), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 0, 4096, bitmap, sizeof(bitmap)), -EINVAL);
	assert_int_equal(uvf_client_dma_logging_report(client, UINT64_MAX - 4095, 8192, 4096, bitmap, sizeof(bitmap)),
			 -EINVAL);
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 4096, 4096, NULL, 8), -EINVAL);
	/* 2^64 - 1 one-byte pages: the word count must not wrap to fit. */
	assert_int_equal(uvf_client_dma_logging_report(client, 0, UINT64_MAX, 1, bitmap, sizeof(bitmap)), -EINVAL);
	/* 128 pages fit in 2 words. */
	assert_int_equal(uvf_client_dma_logging_report(client, 0, 128 * 4096, 4096, bitmap, sizeof(bitmap)), 0);
	finish(fs, client);
	assert_int_equal(m->nreports, 1);
	fs_stop(fs);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Sharing an fd's memory (uvf_client_dma_map_fd)                        */
/* ------------------------------------------------------------------ */

struct map_seen {
	struct uvf_msg_dma_map map;
	size_t nfds;
	uint8_t served[16]; /* what the client answered to a DMA_READ */
	bool asked;
};

/* DMA_MAP: record it. The next DEVICE_GET_INFO: first ask the client for
 * 16 bytes at 0x10008 (DMA_READ), which it serves from its view of the
 * fd, then answer. */
static enum fs_action map_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct map_seen *seen = fs->data;

	if (msg->hdr.command == UVF_CMD_DMA_MAP && msg->len == sizeof(seen->map)) {
		memcpy(&seen->map, msg->body, sizeof(seen->map));
		seen->nfds = msg->nfds;
	}
	if (msg->hdr.command == UVF_CMD_DEVICE_GET_INFO) {
		struct uvf_msg_dma_access acc = {.address = 0x10008, .count = 16};
		struct fs_msg reply;

		fs_send(fs, 0x4242, UVF_CMD_DMA_READ, UVF_MSG_TYPE_COMMAND, 0, &acc, sizeof(acc), NULL, 0, NULL, 0);
		if (fs_recv(fs, &reply) == 0) {
			if (reply.hdr.msg_id == 0x4242 && reply.len == sizeof(acc) + 16) {
				memcpy(seen->served, reply.body + sizeof(acc), 16);
				seen->asked = true;
			}
			fs_msg_free(&reply);
		}
	}
	return FS_DEFAULT;
}

static void test_map_fd_passes_fd_and_offset_and_serves_from_it(void **state)
{
	struct fake_server *fs = fs_new();
	struct map_seen seen = {0};
	struct uvf_client *client;
	uint8_t *mem;
	int fd;

	(void)state;
	fs->hook = map_hook;
	fs->data = &seen;
	fs_start(fs);
	fd = memfd_create("test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * 4096), 0);
	mem = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	for (size_t i = 0; i < 3 * 4096; i++)
		mem[i] = (uint8_t)(i / 4096 * 16 + i % 16);
	connect_quiet(fs, &client);
	/* The second and third pages of the fd at DMA address 0x10000. */
	assert_int_equal(uvf_client_dma_map_fd(client, 0x10000, 2 * 4096, UVF_DMA_MAP_FLAG_READ, fd, 4096), 0);
	/* Our fd stays ours: closing it keeps everything working. */
	close(fd);
	assert_int_equal(uvf_client_device_info(client, NULL), 0);
	finish(fs, client);
	assert_int_equal(seen.nfds, 1);
	assert_int_equal(seen.map.argsz, sizeof(seen.map));
	assert_int_equal(seen.map.flags, UVF_DMA_MAP_FLAG_READ);
	assert_int_equal(seen.map.offset, 4096);
	assert_int_equal(seen.map.address, 0x10000);
	assert_int_equal(seen.map.size, 2 * 4096);
	assert_true(seen.asked);
	assert_memory_equal(seen.served, mem + 4096 + 8, 16);
	munmap(mem, 3 * 4096);
	fs_stop(fs);
}

static void test_map_fd_bad_arguments_are_refused_locally(void **state)
{
	struct fake_server *fs = fs_new();
	struct uvf_client *client;
	int fd = memfd_create("test", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	fs_start(fs);
	connect_quiet(fs, &client);
	assert_int_equal(uvf_client_dma_map_fd(client, 0, 4096, UVF_DMA_MAP_FLAG_READ, -1, 0), -EINVAL);
	assert_int_equal(uvf_client_dma_map_fd(client, 0, 100, UVF_DMA_MAP_FLAG_READ, fd, 0), -EINVAL);
	assert_int_equal(uvf_client_dma_map_fd(client, 0, 4096, UVF_DMA_MAP_FLAG_READ, fd, 100), -EINVAL);
	assert_int_equal(uvf_client_dma_map_fd(client, 0x123, 4096, UVF_DMA_MAP_FLAG_READ, fd, 0), -EINVAL);
	assert_int_equal(uvf_client_dma_map_fd(client, 0, 4096, 0, fd, 0), -EINVAL);
	/* Accepted, then an overlap is refused. */
	assert_int_equal(uvf_client_dma_map_fd(client, 0, 8192, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, fd, 0),
			 0);
	assert_int_equal(uvf_client_dma_map_fd(client, 4096, 4096, UVF_DMA_MAP_FLAG_READ, fd, 0), -EEXIST);
	assert_int_equal(uvf_client_dma_unregister(client, 0, 8192), 0);
	finish(fs, client);
	assert_int_equal(fs_records(fs, UVF_CMD_DMA_MAP, NULL, 0), 1);
	close(fd);
	fs_stop(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_probe_first_then_get),
		cmocka_unit_test(test_features_refusals_mean_enotsup),
		cmocka_unit_test(test_features_other_errors_pass_through),
		cmocka_unit_test(test_features_server_without_device_feature_is_enotsup),
		cmocka_unit_test(test_features_bad_replies_are_eproto),
		cmocka_unit_test(test_state_get_and_set),
		cmocka_unit_test(test_state_get_unknown_state_is_eproto),
		cmocka_unit_test(test_state_get_short_reply_is_eproto),
		cmocka_unit_test(test_state_set_wrong_echo_is_eproto),
		cmocka_unit_test(test_state_set_refusal_is_the_servers_errno),
		cmocka_unit_test(test_state_set_non_state_is_refused_locally),
		cmocka_unit_test(test_read_splits_at_server_limit_and_stops_at_short_read),
		cmocka_unit_test(test_read_accepts_replies_sized_for_the_request),
		cmocka_unit_test(test_read_splits_at_our_receive_limit),
		cmocka_unit_test(test_read_bad_replies_are_eproto),
		cmocka_unit_test(test_write_splits_at_server_limit_with_exact_argsz),
		cmocka_unit_test(test_write_reply_with_data_is_eproto),
		cmocka_unit_test(test_write_refusal_is_the_servers_errno),
		cmocka_unit_test(test_logging_start_probes_then_reports_the_chosen_page),
		cmocka_unit_test(test_logging_start_without_ranges_means_everything),
		cmocka_unit_test(test_logging_start_bad_echo_is_eproto_and_stops),
		cmocka_unit_test(test_logging_start_unsupported_is_enotsup),
		cmocka_unit_test(test_logging_start_bad_arguments_are_refused_locally),
		cmocka_unit_test(test_logging_stop_without_echo_is_eproto),
		cmocka_unit_test(test_logging_report_fills_the_bitmap_and_clears_bits_past_the_range),
		cmocka_unit_test(test_logging_report_splits_a_large_range_at_the_transfer_size),
		cmocka_unit_test(test_logging_report_bad_replies_are_eproto),
		cmocka_unit_test(test_logging_report_bad_arguments_are_refused_locally),
		cmocka_unit_test(test_map_fd_passes_fd_and_offset_and_serves_from_it),
		cmocka_unit_test(test_map_fd_bad_arguments_are_refused_locally),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
