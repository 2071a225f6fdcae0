/* SPDX-License-Identifier: MIT */
/* The device state (MIG_DEVICE_STATE data) and the replies the client
 * checks: DEVICE_FEATURE GET and echo replies, MIG_DATA_READ/WRITE replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

static struct uvf_why why;
static uint8_t msg[8 + 4096 + 8];

static size_t feature_msg(uint32_t argsz, uint32_t flags, const void *data, size_t data_len)
{
	struct uvf_msg_device_feature f = {.argsz = argsz, .flags = flags};

	memset(msg, 0x5c, sizeof(msg));
	memcpy(msg, &f, sizeof(f));
	if (data_len)
		memcpy(msg + 8, data, data_len);
	return 8 + data_len;
}

/* ------------------------------------------------------- MIG_DEVICE_STATE */

static int mig_state(uint32_t state, uint32_t data_fd, size_t len, struct uvf_msg_feature_migration_state *out)
{
	struct uvf_msg_feature_migration_state st = {.device_state = state, .data_fd = data_fd};
	struct uvf_msg_feature_migration_state local;
	uint8_t *data = wire_copy(&st, sizeof(st), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_mig_state(data, len, out ? out : &local, &why);
	wire_free(data);
	return ret;
}

static void test_mig_state_every_state(void **state)
{
	struct uvf_msg_feature_migration_state out;

	for (uint32_t s = UVF_MIGRATION_STATE_ERROR; s <= UVF_MIGRATION_STATE_PRE_COPY_P2P; s++) {
		assert_int_equal(mig_state(s, UINT32_MAX, 8, &out), 0);
		assert_int_equal(out.device_state, s);
	}
	/* data_fd is the kernel's: whatever a peer sends is left alone */
	assert_int_equal(mig_state(UVF_MIGRATION_STATE_STOP, 0, 8, &out), 0);
	assert_int_equal(mig_state(UVF_MIGRATION_STATE_STOP, 12345, 8, &out), 0);
}

static void test_mig_state_unknown_state(void **state)
{
	assert_refused(mig_state(UVF_MIGRATION_STATE_PRE_COPY_P2P + 1, 0, 8, NULL), -EINVAL, why, "state 8 is not");
	assert_refused(mig_state(UINT32_MAX, 0, 8, NULL), -EINVAL, why, "MIG_DEVICE_STATE");
}

static void test_mig_state_length(void **state)
{
	assert_refused(mig_state(UVF_MIGRATION_STATE_STOP, 0, 4, NULL), -EINVAL, why, "4 data bytes, expected 8");
	assert_refused(mig_state(UVF_MIGRATION_STATE_STOP, 0, 9, NULL), -EINVAL, why, "9 data bytes");
	assert_refused(mig_state(UVF_MIGRATION_STATE_STOP, 0, 0, NULL), -EINVAL, why, "0 data bytes");
}

/* ------------------------------------------------------ DEVICE_FEATURE replies */

static int get_reply(size_t len, size_t nfds, uint32_t index, size_t data_len, struct uvf_feature_reply_view *view)
{
	struct uvf_feature_reply_view local;
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_feature_get_reply(payload, len, nfds, index, data_len, view, &why);
	if (ret == 0) {
		assert_int_equal(view->data_len, data_len);
		if (data_len)
			assert_ptr_equal(view->data, payload + 8);
	}
	view->data = NULL;
	wire_free(payload);
	return ret;
}

static void test_get_reply(void **state)
{
	const uint64_t flags = UVF_MIGRATION_STOP_COPY;
	struct uvf_feature_reply_view view;
	size_t len = feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, &flags, 8);

	assert_int_equal(get_reply(len, 0, UVF_FEATURE_MIGRATION, 8, &view), 0);
	assert_int_equal(view.feature.flags, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION);
	/* the index is what must match: other bits are the server's */
	feature_msg(16, UVF_FEATURE_MIGRATION, &flags, 8);
	assert_int_equal(get_reply(len, 0, UVF_FEATURE_MIGRATION, 8, NULL), 0);
}

static void test_get_reply_refusals(void **state)
{
	const uint64_t flags = UVF_MIGRATION_STOP_COPY;
	size_t len = feature_msg(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, &flags, 8);

	assert_refused(get_reply(len, 1, UVF_FEATURE_MIGRATION, 8, NULL), -EINVAL, why, "file descriptors");
	assert_refused(get_reply(7, 0, UVF_FEATURE_MIGRATION, 8, NULL), -EINVAL, why, "payload 7 bytes");
	assert_refused(get_reply(15, 0, UVF_FEATURE_MIGRATION, 8, NULL), -EINVAL, why, "15 bytes, argsz 16");
	assert_refused(get_reply(17, 0, UVF_FEATURE_MIGRATION, 8, NULL), -EINVAL, why, "17 bytes");
	assert_refused(get_reply(len, 0, UVF_FEATURE_MIGRATION_DEVICE_STATE, 8, NULL), -EINVAL, why,
		       "about feature 1, asked 2");
	feature_msg(24, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, &flags, 8);
	assert_refused(get_reply(len, 0, UVF_FEATURE_MIGRATION, 8, NULL), -EINVAL, why, "argsz 24 (expected 16)");
}

static int echo_reply(size_t len, size_t nfds, uint32_t flags, const void *data, size_t data_len)
{
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_feature_echo_reply(payload, len, nfds, flags, data, data_len, &why);
	wire_free(payload);
	return ret;
}

static void test_echo_reply(void **state)
{
	const uint32_t set = UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE;
	const uint32_t probe = UVF_FEATURE_GET | UVF_FEATURE_PROBE | UVF_FEATURE_MIGRATION;
	struct uvf_msg_feature_migration_state st = {.device_state = UVF_MIGRATION_STATE_STOP, .data_fd = UINT32_MAX};
	struct uvf_msg_feature_migration_state other = {.device_state = UVF_MIGRATION_STATE_RUNNING,
							.data_fd = UINT32_MAX};
	size_t len;

	len = feature_msg(16, set, &st, 8);
	assert_int_equal(echo_reply(len, 0, set, &st, 8), 0);
	assert_refused(echo_reply(len, 1, set, &st, 8), -EINVAL, why, "file descriptors");
	assert_refused(echo_reply(len - 1, 0, set, &st, 8), -EINVAL, why, "do not echo");
	assert_refused(echo_reply(len + 1, 0, set, &st, 8), -EINVAL, why, "do not echo");
	assert_refused(echo_reply(len, 0, set, &other, 8), -EINVAL, why, "do not echo");
	assert_refused(echo_reply(len, 0, set | UVF_FEATURE_PROBE, &st, 8), -EINVAL, why, "do not echo");
	feature_msg(17, set, &st, 8);
	assert_refused(echo_reply(len, 0, set, &st, 8), -EINVAL, why, "do not echo");
	feature_msg(16, UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_STOP, &st, 8);
	assert_refused(echo_reply(len, 0, set, &st, 8), -EINVAL, why, "about feature 7");
	/* a PROBE without data */
	len = feature_msg(8, probe, NULL, 0);
	assert_int_equal(echo_reply(len, 0, probe, NULL, 0), 0);
	assert_refused(echo_reply(7, 0, probe, NULL, 0), -EINVAL, why, "payload 7 bytes");
}

/* ------------------------------------------------------------ MIG_DATA replies */

static size_t mig_reply_msg(uint32_t argsz, uint32_t size, size_t data_len)
{
	struct uvf_msg_migration_data head = {.argsz = argsz, .size = size};

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	memcpy(msg, &head, sizeof(head));
	return 8 + data_len;
}

static int mig_read_reply(size_t len, size_t nfds, uint32_t asked, struct uvf_msg_migration_data *out)
{
	struct uvf_msg_migration_data local;
	const uint8_t *data = NULL;
	uint8_t *payload = wire_copy(msg, sizeof(msg), len);
	int ret;

	if (out == NULL)
		out = &local;
	why.text[0] = '\0';
	ret = uvf__decode_mig_data_read_reply(payload, len, nfds, asked, out, &data, &why);
	if (ret == 0)
		assert_ptr_equal(data, payload + 8);
	wire_free(payload);
	return ret;
}

static void test_mig_data_read_reply(void **state)
{
	struct uvf_msg_migration_data out;

	assert_int_equal(mig_read_reply(mig_reply_msg(8 + 100, 100, 100), 0, 100, &out), 0);
	assert_int_equal(out.size, 100);
	/* the end of the stream: fewer bytes than asked, or none */
	assert_int_equal(mig_read_reply(mig_reply_msg(8 + 10, 10, 10), 0, 100, &out), 0);
	assert_int_equal(mig_read_reply(mig_reply_msg(8, 0, 0), 0, 100, &out), 0);
	/* a message sized for the size asked, the size field telling the data */
	assert_int_equal(mig_read_reply(mig_reply_msg(8 + 10, 10, 100), 0, 100, &out), 0);
	assert_int_equal(out.size, 10);
}

static void test_mig_data_read_reply_refusals(void **state)
{
	assert_refused(mig_read_reply(mig_reply_msg(8 + 100, 100, 100), 1, 100, NULL), -EINVAL, why,
		       "MIG_DATA_READ reply: 1 file descriptors");
	assert_refused(mig_read_reply(7, 0, 100, NULL), -EINVAL, why, "payload 7 bytes");
	/* more than asked */
	assert_refused(mig_read_reply(mig_reply_msg(8 + 101, 101, 101), 0, 100, NULL), -EINVAL, why, "size 101");
	/* size beyond the bytes that came */
	assert_refused(mig_read_reply(mig_reply_msg(8 + 100, 100, 99), 0, 100, NULL), -EINVAL, why, "in 107 bytes");
	/* argsz not 8 + size, including a 32-bit wrap of it */
	assert_refused(mig_read_reply(mig_reply_msg(8 + 99, 100, 100), 0, 100, NULL), -EINVAL, why, "argsz 107");
	assert_refused(mig_read_reply(mig_reply_msg(7, UINT32_MAX, 100), 0, UINT32_MAX, NULL), -EINVAL, why, "argsz 7");
	/* a message longer than anything asked */
	assert_refused(mig_read_reply(mig_reply_msg(8 + 10, 10, 101), 0, 100, NULL), -EINVAL, why, "in 109 bytes");
}

static void test_mig_data_write_reply(void **state)
{
	why.text[0] = '\0';
	assert_int_equal(uvf__decode_mig_data_write_reply(NULL, 0, 0, &why), 0);
	assert_refused(uvf__decode_mig_data_write_reply(msg, 8, 0, &why), -EINVAL, why, "MIG_DATA_WRITE reply");
	assert_refused(uvf__decode_mig_data_write_reply(NULL, 0, 1, &why), -EINVAL, why, "file descriptors");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mig_state_every_state), cmocka_unit_test(test_mig_state_unknown_state),
		cmocka_unit_test(test_mig_state_length),      cmocka_unit_test(test_get_reply),
		cmocka_unit_test(test_get_reply_refusals),    cmocka_unit_test(test_echo_reply),
		cmocka_unit_test(test_mig_data_read_reply),   cmocka_unit_test(test_mig_data_read_reply_refusals),
		cmocka_unit_test(test_mig_data_write_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
