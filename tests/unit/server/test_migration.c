/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the server's migration state machine (docs/protocol.md 6.1,
 * 6.2) and DEVICE_FEATURE rules (4.15), driven through the command
 * handlers with a stub device that records every transition() arc.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/server_internal.h"

enum {
	ERR = UVF_MIGRATION_STATE_ERROR,
	STOP = UVF_MIGRATION_STATE_STOP,
	RUN = UVF_MIGRATION_STATE_RUNNING,
	SC = UVF_MIGRATION_STATE_STOP_COPY,
	RES = UVF_MIGRATION_STATE_RESUMING,
	PC = UVF_MIGRATION_STATE_PRE_COPY
};

#define MAX_ARCS 8

struct stub {
	uint32_t arcs[MAX_ARCS][2]; /* from, to */
	int narcs;
	/* fail the arc (fail_from -> fail_to) with fail_err */
	uint32_t fail_from, fail_to;
	int fail_err;
	int resets;
};

static struct uvf_device *g_dev;
static struct stub g_stub;

static void quiet(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	(void)level;
	(void)line;
}

static int stub_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			   enum uvf_migration_state to)
{
	(void)dev;
	struct stub *s = data;
	if (s->fail_err && (uint32_t)from == s->fail_from && (uint32_t)to == s->fail_to)
		return s->fail_err;
	assert_true(s->narcs < MAX_ARCS);
	s->arcs[s->narcs][0] = from;
	s->arcs[s->narcs][1] = to;
	s->narcs++;
	return 0;
}

static ssize_t stub_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	(void)dev;
	(void)data;
	(void)buf;
	(void)len;
	return 0;
}

static int stub_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	(void)dev;
	(void)data;
	(void)buf;
	(void)len;
	return 0;
}

static int stub_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	(void)dev;
	(void)reason;
	((struct stub *)data)->resets++;
	return 0;
}

static int make_device(uint32_t flags)
{
	memset(&g_stub, 0, sizeof(g_stub));
	if (uvf_device_new(&g_dev) < 0)
		return -1;
	uvf_device_set_log(g_dev, quiet, NULL, UVF_LOG_DEBUG);
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	cb.reset = stub_reset;
	uvf_device_set_callbacks(g_dev, &cb, &g_stub);
	struct uvf_migration_callbacks mcb = {UVF_MIGRATION_CALLBACKS_VERSION, stub_transition, stub_save, stub_load,
					      NULL};
	if (uvf_device_set_migration(g_dev, &mcb, &g_stub, flags) < 0)
		return -1;
	uvf__caps_defaults(&g_dev->client_caps);
	g_dev->negotiated = true;
	return 0;
}

static int setup_precopy(void **state)
{
	(void)state;
	return make_device(UVF_MIGRATION_PRE_COPY);
}

static int setup_plain(void **state)
{
	(void)state;
	return make_device(0);
}

static int teardown(void **state)
{
	(void)state;
	uvf_device_free(g_dev);
	g_dev = NULL;
	return 0;
}

/* One DEVICE_FEATURE through the handler; the reply payload is copied. */
static int feature(uint32_t argsz, uint32_t flags, const void *data, size_t data_len, uint8_t *out, size_t *out_len)
{
	uint8_t msg[256];
	struct uvf_msg_device_feature f = {argsz, flags};
	struct uvf_reply reply;
	struct uvf_why why = {{0}};
	uint8_t *alloc = NULL;

	assert_true(sizeof(f) + data_len <= sizeof(msg));
	memcpy(msg, &f, sizeof(f));
	if (data_len)
		memcpy(msg + sizeof(f), data, data_len);
	memset(&reply, 0, sizeof(reply));
	reply.iovcnt = 1;
	int ret = uvf__handle_device_feature(g_dev, msg, sizeof(f) + data_len, 0, &reply, &alloc, &why);
	size_t n = 0;
	for (int i = 1; i < reply.iovcnt && ret == 0; i++) {
		if (out)
			memcpy(out + n, reply.iov[i].iov_base, reply.iov[i].iov_len);
		n += reply.iov[i].iov_len;
	}
	if (out_len)
		*out_len = n;
	free(alloc);
	return ret;
}

static int set_state(uint32_t s)
{
	struct uvf_msg_feature_migration_state st = {s, 0};
	return feature(16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, sizeof(st), NULL, NULL);
}

static uint32_t get_state(void)
{
	uint8_t out[64];
	size_t n;
	assert_int_equal(feature(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE, NULL, 0, out, &n), 0);
	assert_int_equal(n, 16);
	struct uvf_msg_feature_migration_state st;
	memcpy(&st, out + 8, sizeof(st));
	assert_int_equal(st.device_state, uvf_device_migration_state(g_dev));
	return st.device_state;
}

/* Bring the device to s from RUNNING over legal requests. */
static void reach(uint32_t s)
{
	uvf__migration_reset(g_dev);
	if (s == SC)
		assert_int_equal(set_state(STOP), 0);
	if (s != RUN)
		assert_int_equal(set_state(s), 0);
	assert_int_equal(get_state(), s);
	g_stub.narcs = 0;
}

/* docs/protocol.md 6.2, written out: the states each request passes through
 * after `from`, ending with `to` (0-terminated; NULL = an invalid request). */
static const uint32_t *expected_path(uint32_t from, uint32_t to)
{
	static const uint32_t none[] = {0};
#define P(...)                                                                                                         \
	({                                                                                                             \
		static const uint32_t p_[] = {__VA_ARGS__, 0};                                                         \
		p_;                                                                                                    \
	})
	if (from == to)
		return none;
	switch (from) {
	case STOP:
		return to == PC ? P(RUN, PC) : to == RUN ? P(RUN) : to == SC ? P(SC) : P(RES);
	case RUN:
		return to == STOP ? P(STOP) : to == SC ? P(STOP, SC) : to == RES ? P(STOP, RES) : P(PC);
	case SC:
		return to == STOP ? P(STOP) : to == RUN ? P(STOP, RUN) : to == RES ? P(STOP, RES) : NULL;
	case RES:
		return to == STOP ? P(STOP) : to == RUN ? P(STOP, RUN) : to == SC ? P(STOP, SC) : P(STOP, RUN, PC);
	default: /* PC */
		return to == STOP ? P(RUN, STOP) : to == RUN ? P(RUN) : to == SC ? P(SC) : P(RUN, STOP, RES);
	}
#undef P
}

static void check_table(bool precopy)
{
	static const uint32_t states[] = {STOP, RUN, SC, RES, PC};
	for (unsigned i = 0; i < 5; i++) {
		for (unsigned j = 0; j < 5; j++) {
			uint32_t from = states[i], to = states[j];
			if (!precopy && (from == PC || to == PC)) {
				if (from == PC)
					continue; /* unreachable */
				reach(from);
				assert_int_equal(set_state(to), -EINVAL);
				assert_int_equal(get_state(), from);
				assert_int_equal(g_stub.narcs, 0);
				continue;
			}
			reach(from);
			const uint32_t *path = expected_path(from, to);
			int ret = set_state(to);
			if (!path) {
				assert_int_equal(ret, -EINVAL);
				assert_int_equal(get_state(), from);
				assert_int_equal(g_stub.narcs, 0);
				continue;
			}
			assert_int_equal(ret, 0);
			assert_int_equal(get_state(), to);
			uint32_t at = from;
			int k = 0;
			for (; path[k]; k++) {
				assert_true(k < g_stub.narcs);
				assert_int_equal(g_stub.arcs[k][0], at);
				assert_int_equal(g_stub.arcs[k][1], path[k]);
				at = path[k];
			}
			assert_int_equal(g_stub.narcs, k);
		}
	}
}

static void every_transition_walks_the_table_with_precopy(void **state)
{
	(void)state;
	check_table(true);
}

static void every_transition_walks_the_table_without_precopy(void **state)
{
	(void)state;
	check_table(false);
	uint8_t out[64];
	size_t n;
	assert_int_equal(feature(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, &n), 0);
	uint64_t flags;
	memcpy(&flags, out + 8, 8);
	assert_int_equal(flags, UVF_MIGRATION_STOP_COPY);
}

static void unrequestable_states_are_refused_without_change(void **state)
{
	(void)state;
	static const uint32_t bad[] = {ERR, UVF_MIGRATION_STATE_RUNNING_P2P, UVF_MIGRATION_STATE_PRE_COPY_P2P, 8,
				       0xffffffffu};
	static const uint32_t from[] = {STOP, RUN, SC, RES, PC};
	for (unsigned f = 0; f < 5; f++) {
		for (unsigned b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			reach(from[f]);
			assert_int_equal(set_state(bad[b]), -EINVAL);
			assert_int_equal(get_state(), from[f]);
			assert_int_equal(g_stub.narcs, 0);
		}
	}
	/* the same-state request succeeds without an arc */
	reach(RUN);
	assert_int_equal(set_state(RUN), 0);
	assert_int_equal(g_stub.narcs, 0);
}

static void failing_arc_with_eagain_stays_at_last_good_state(void **state)
{
	(void)state;
	reach(RUN);
	g_stub.fail_from = STOP;
	g_stub.fail_to = SC;
	g_stub.fail_err = -EAGAIN;
	assert_int_equal(set_state(SC), -EAGAIN);
	assert_int_equal(get_state(), STOP); /* RUNNING -> STOP happened */
	assert_int_equal(g_stub.narcs, 1);
	g_stub.fail_err = 0;
	assert_int_equal(set_state(SC), 0);
	assert_int_equal(get_state(), SC);
}

static void failing_arc_with_other_error_goes_to_error(void **state)
{
	(void)state;
	reach(RES);
	g_stub.fail_from = RES;
	g_stub.fail_to = STOP;
	g_stub.fail_err = -EILSEQ; /* the loaded data is invalid */
	assert_int_equal(set_state(RUN), -EILSEQ);
	assert_int_equal(get_state(), ERR);
	g_stub.fail_err = 0;
	/* nothing but a reset leaves ERROR */
	assert_int_equal(set_state(RUN), -EINVAL);
	assert_int_equal(set_state(STOP), -EINVAL);
	assert_int_equal(get_state(), ERR);
	assert_int_equal(g_stub.narcs, 0);
	/* REGION_WRITE is refused in ERROR, REGION_READ is not */
	struct uvf_why why = {{0}};
	assert_int_equal(uvf__migration_gate(g_dev, UVF_CMD_REGION_WRITE, &why), -EINVAL);
	assert_int_equal(uvf__migration_gate(g_dev, UVF_CMD_REGION_READ, &why), 0);
	uvf__migration_reset(g_dev);
	assert_int_equal(get_state(), RUN);
	assert_int_equal(uvf__migration_gate(g_dev, UVF_CMD_REGION_WRITE, &why), 0);
	assert_int_equal(set_state(STOP), 0);
}

static void stopped_states_hold_dma_and_interrupts(void **state)
{
	(void)state;
	static const struct {
		uint32_t s;
		bool held;
	} cases[] = {{RUN, false}, {PC, false}, {STOP, true}, {SC, true}, {RES, true}};
	for (unsigned i = 0; i < 5; i++) {
		reach(cases[i].s);
		assert_int_equal(uvf__migration_quiesced(g_dev), cases[i].held);
		assert_int_equal(g_dev->irq_quiesced, cases[i].held);
		int ret = uvf_dma_sg(g_dev, 0x1000, 8, 0, NULL, 0);
		assert_int_equal(ret, cases[i].held ? -EBUSY : -EFAULT);
	}
}

/* docs/protocol.md 4.15: operations, argsz and data sizes. */
static void device_feature_flag_and_argsz_rules(void **state)
{
	(void)state;
	uint8_t out[128];
	size_t n;
	struct uvf_msg_feature_migration_state st = {RUN, 0};

	/* PROBE alone, with GET, with SET: echo of the request */
	assert_int_equal(feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_MIGRATION, NULL, 0, out, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, &n), 0);
	assert_int_equal(feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_SET | UVF_FEATURE_MIGRATION, NULL, 0, NULL, NULL),
			 -EINVAL); /* MIGRATION has no SET */
	assert_int_equal(
		feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE,
			NULL, 0, out, &n),
		0);
	assert_int_equal(feature(8,
				 UVF_FEATURE_PROBE | UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START,
				 NULL, 0, NULL, NULL),
			 -EINVAL); /* START has no GET */
	assert_int_equal(
		feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START, NULL, 0, NULL, NULL),
		0);
	assert_int_equal(
		feature(8, UVF_FEATURE_PROBE | UVF_FEATURE_GET | UVF_FEATURE_DMA_LOGGING_REPORT, NULL, 0, NULL, NULL),
		0);
	/* GET and SET together without PROBE, or no operation */
	assert_int_equal(feature(16, UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st,
				 sizeof(st), NULL, NULL),
			 -EINVAL);
	assert_int_equal(feature(16, UVF_FEATURE_MIGRATION_DEVICE_STATE, NULL, 0, NULL, NULL), -EINVAL);
	/* unknown features and kernel-only ones */
	assert_int_equal(feature(16, UVF_FEATURE_GET | 3, NULL, 0, NULL, NULL), -ENOTSUP);
	assert_int_equal(feature(16, UVF_FEATURE_PROBE | 0, NULL, 0, NULL, NULL), -ENOTSUP);
	/* GET: argsz must hold 8 + data */
	assert_int_equal(feature(15, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(feature(16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, &n), 0);
	struct uvf_msg_device_feature head;
	memcpy(&head, out, 8);
	assert_int_equal(head.argsz, 16);
	assert_int_equal(head.flags, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION);
	uint64_t mflags;
	memcpy(&mflags, out + 8, 8);
	assert_int_equal(mflags, UVF_MIGRATION_STOP_COPY | UVF_MIGRATION_PRE_COPY);
	/* a larger argsz still gets 8 + data */
	assert_int_equal(feature(4096, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE, NULL, 0, out, &n), 0);
	assert_int_equal(n, 16);
	/* SET: argsz must hold the echo; data exactly 8 bytes */
	assert_int_equal(feature(15, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, sizeof(st), NULL, NULL),
			 -EINVAL);
	assert_int_equal(feature(16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, 4, NULL, NULL),
			 -EINVAL);
	assert_int_equal(feature(16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, sizeof(st), out, &n),
			 0);
	assert_int_equal(n, 16);
	/* DMA_LOGGING_STOP takes no data */
	assert_int_equal(feature(16, UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_STOP, &st, 8, NULL, NULL), -EINVAL);
	assert_int_equal(feature(8, UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_STOP, NULL, 0, out, &n), 0);
}

static void device_without_migration_answers_enotsup(void **state)
{
	(void)state;
	struct uvf_device *dev;
	assert_int_equal(uvf_device_new(&dev), 0);
	uvf_device_set_log(dev, quiet, NULL, UVF_LOG_DEBUG);
	uint8_t msg[8];
	struct uvf_msg_device_feature f = {16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION};
	memcpy(msg, &f, sizeof(f));
	struct uvf_reply reply;
	memset(&reply, 0, sizeof(reply));
	reply.iovcnt = 1;
	struct uvf_why why = {{0}};
	uint8_t *alloc = NULL;
	assert_int_equal(uvf__handle_device_feature(dev, msg, 8, 0, &reply, &alloc, &why), -ENOTSUP);
	f.flags = UVF_FEATURE_PROBE | UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START;
	memcpy(msg, &f, sizeof(f));
	assert_int_equal(uvf__handle_device_feature(dev, msg, 8, 0, &reply, &alloc, &why), -ENOTSUP);
	assert_int_equal(uvf_device_migration_state(dev), UVF_MIGRATION_STATE_RUNNING);
	uvf_device_free(dev);
}

static void set_migration_checks_its_arguments(void **state)
{
	(void)state;
	struct uvf_device *dev;
	assert_int_equal(uvf_device_new(&dev), 0);
	struct uvf_migration_callbacks ok = {UVF_MIGRATION_CALLBACKS_VERSION, stub_transition, stub_save, stub_load,
					     NULL};
	struct uvf_migration_callbacks bad = ok;
	bad.save = NULL;
	assert_int_equal(uvf_device_set_migration(dev, &bad, NULL, 0), -EINVAL);
	bad = ok;
	bad.version = 99;
	assert_int_equal(uvf_device_set_migration(dev, &bad, NULL, 0), -EINVAL);
	assert_int_equal(uvf_device_set_migration(dev, &ok, NULL, UVF_MIGRATION_P2P), -EINVAL);
	assert_int_equal(uvf_device_set_migration(dev, &ok, NULL, UVF_MIGRATION_PRE_COPY), 0);
	uvf_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_transition_walks_the_table_with_precopy, setup_precopy, teardown),
		cmocka_unit_test_setup_teardown(every_transition_walks_the_table_without_precopy, setup_plain,
						teardown),
		cmocka_unit_test_setup_teardown(unrequestable_states_are_refused_without_change, setup_precopy,
						teardown),
		cmocka_unit_test_setup_teardown(failing_arc_with_eagain_stays_at_last_good_state, setup_precopy,
						teardown),
		cmocka_unit_test_setup_teardown(failing_arc_with_other_error_goes_to_error, setup_precopy, teardown),
		cmocka_unit_test_setup_teardown(stopped_states_hold_dma_and_interrupts, setup_precopy, teardown),
		cmocka_unit_test_setup_teardown(device_feature_flag_and_argsz_rules, setup_precopy, teardown),
		cmocka_unit_test(device_without_migration_answers_enotsup),
		cmocka_unit_test(set_migration_checks_its_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
