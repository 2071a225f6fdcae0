/* SPDX-License-Identifier: MIT */
/* The receive buffer on real socketpairs: which message owns the fds of a
 * read, bounded reads while fds wait, framing errors, hand-over. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "transport/transport.h"

#define MAX_MSG 4096u

/* A message of 16 + len bytes (REGION_WRITE, body bytes = id). */
static size_t build_msg(uint8_t *out, uint16_t id, size_t len)
{
	struct uvf_msg_header h = make_header(id, UVF_CMD_REGION_WRITE, (uint32_t)(16 + len), 0);

	memcpy(out, &h, 16);
	memset(out + 16, id, len);
	return 16 + len;
}

/* Take the whole message at the front (asserting it is complete) with its
 * fds into fds/nfds; returns its id. */
static uint16_t take_msg(struct uvf_rx_buffer *b, int *fds, size_t *nfds, bool *overflow)
{
	struct uvf_msg_header hdr;
	uint8_t body[MAX_MSG];

	assert_int_equal(uvf__rx_buffer_next(b, MAX_MSG, &hdr, NULL), 1);
	assert_int_equal(uvf__rx_buffer_take(b, body, hdr.msg_size, fds, nfds, overflow), hdr.msg_size);
	return hdr.msg_id;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* Which message owns the fds                                           */
/* ------------------------------------------------------------------ */

static void test_fds_of_a_chunk_ending_mid_message_wait_for_its_end(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0};
	uint8_t one[64], two[64];
	size_t n1 = build_msg(one, 1, 30), n2 = build_msg(two, 2, 8);
	struct uvf_msg_header hdr;
	int fds[4];
	size_t nfds = 0;
	bool overflow = false;
	int sv[2];

	make_pair(sv);
	/* the fd comes with the first 10 bytes of message 1 ... */
	raw_send(sv[0], one, 10, &file, 1);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 10);
	assert_true(b.has_fds);
	assert_int_equal(uvf__rx_buffer_next(&b, MAX_MSG, &hdr, NULL), 0);
	/* ... the rest of message 1 and message 2 follow in one write: the
	 * next read stops where message 1 ends, first at its header */
	{
		uint8_t rest[128];

		memcpy(rest, one + 10, n1 - 10);
		memcpy(rest + n1 - 10, two, n2);
		raw_send(sv[0], rest, n1 - 10 + n2, NULL, 0);
	}
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 6);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n1 - 16);
	assert_int_equal(b.end - b.start, n1);
	assert_true(uvf__rx_buffer_owns_fds(&b, n1));
	assert_int_equal(take_msg(&b, fds, &nfds, &overflow), 1);
	assert_int_equal(nfds, 1);
	assert_false(overflow);
	assert_true(same_file(fds[0], file));
	assert_false(b.has_fds);
	/* now message 2 comes, without fds */
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n2);
	assert_false(uvf__rx_buffer_owns_fds(&b, n2));
	assert_int_equal(take_msg(&b, fds, &nfds, &overflow), 2);
	assert_int_equal(nfds, 1);
	close_fds(fds, nfds);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_two_messages_in_one_read_fds_go_to_the_second(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0};
	uint8_t one[64], two[64];
	size_t n1 = build_msg(one, 1, 8), n2 = build_msg(two, 2, 12);
	int fds[4];
	size_t nfds = 0;
	bool overflow = false;
	int sv[2];

	make_pair(sv);
	raw_send(sv[0], one, n1, NULL, 0);
	raw_send(sv[0], two, n2, &file, 1);
	/* the kernel ends the read after the bytes that carried the fd */
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], MSG_DONTWAIT, NULL), n1 + n2);
	assert_false(uvf__rx_buffer_owns_fds(&b, n1));
	assert_int_equal(take_msg(&b, fds, &nfds, &overflow), 1);
	assert_int_equal(nfds, 0);
	assert_true(uvf__rx_buffer_owns_fds(&b, n2));
	assert_int_equal(take_msg(&b, fds, &nfds, &overflow), 2);
	assert_int_equal(nfds, 1);
	assert_true(same_file(fds[0], file));
	assert_int_equal(b.start, b.end);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], MSG_DONTWAIT, NULL), -EAGAIN);
	close_fds(fds, nfds);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_taking_a_message_piecewise_hands_fds_with_their_byte(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0};
	uint8_t one[64], two[64], out[64];
	size_t n1 = build_msg(one, 1, 8), n2 = build_msg(two, 2, 12);
	int fds[4];
	size_t nfds = 0;
	bool overflow = false;
	int sv[2];

	make_pair(sv);
	raw_send(sv[0], one, n1, NULL, 0);
	raw_send(sv[0], two, n2, &file, 1);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n1 + n2);
	/* everything but the last byte: the fds stay */
	assert_int_equal(uvf__rx_buffer_take(&b, out, n1 + n2 - 1, fds, &nfds, &overflow), n1 + n2 - 1);
	assert_int_equal(nfds, 0);
	assert_int_equal(uvf__rx_buffer_take(&b, out, 10, fds, &nfds, &overflow), 1);
	assert_int_equal(nfds, 1);
	close_fds(fds, nfds);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_too_many_fds_set_overflow_and_close_the_rest(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	int many[UVF_TRANSPORT_MAX_FDS + 3];
	struct uvf_rx_buffer b = {0};
	uint8_t msg[64];
	size_t n = build_msg(msg, 1, 4);
	int fds[UVF_TRANSPORT_MAX_FDS];
	size_t nfds = 0;
	bool overflow = false;
	int sv[2];

	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = file;
	make_pair(sv);
	raw_send(sv[0], msg, n, many, sizeof(many) / sizeof(many[0]));
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n);
	/* the kernel truncated the control data (MSG_CTRUNC) */
	assert_true(b.has_fds);
	assert_true(b.fds_overflow);
	assert_true(b.nfds <= UVF_TRANSPORT_MAX_FDS);
	assert_int_equal(take_msg(&b, fds, &nfds, &overflow), 1);
	assert_true(overflow);
	close_fds(fds, nfds);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv); /* the fixture fails the test if any fd is left */
}

static void test_fds_beyond_the_takers_room_are_closed(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	int three[3] = {file, file, file};
	struct uvf_rx_buffer b = {0};
	uint8_t msg[64];
	size_t n = build_msg(msg, 1, 4);
	int fds[UVF_TRANSPORT_MAX_FDS];
	size_t nfds = UVF_TRANSPORT_MAX_FDS - 1; /* one slot left */
	bool overflow = false;
	int sv[2];

	make_pair(sv);
	raw_send(sv[0], msg, n, three, 3);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n);
	assert_int_equal(b.nfds, 3);
	assert_false(b.fds_overflow);
	assert_int_equal(uvf__rx_buffer_take(&b, NULL, n, fds, &nfds, &overflow), n);
	assert_int_equal(nfds, UVF_TRANSPORT_MAX_FDS);
	assert_true(overflow);
	close(fds[UVF_TRANSPORT_MAX_FDS - 1]);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

/* ------------------------------------------------------------------ */
/* End of stream and framing                                            */
/* ------------------------------------------------------------------ */

static void test_eof_mid_message_is_connreset_and_reset_closes_its_fds(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0};
	struct uvf_why why = {{0}};
	struct uvf_msg_header hdr;
	uint8_t msg[64];
	int sv[2];

	make_pair(sv);
	build_msg(msg, 1, 30);
	raw_send(sv[0], msg, 20, &file, 1);
	close(sv[0]);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 20);
	assert_int_equal(uvf__rx_buffer_next(&b, MAX_MSG, &hdr, NULL), 0);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, &why), -ECONNRESET);
	assert_non_null(strstr(why.text, "middle of a message"));
	assert_true(b.has_fds);
	uvf__rx_buffer_reset(&b);
	assert_false(b.has_fds);
	assert_int_equal(b.nfds, 0);
	close(file);
	uvf__rx_buffer_destroy(&b);
	close(sv[1]);
}

static void test_eof_between_messages_is_connreset(void **state)
{
	struct uvf_rx_buffer b = {0};
	struct uvf_why why = {{0}};
	int sv[2];

	(void)state;
	make_pair(sv);
	close(sv[0]);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, &why), -ECONNRESET);
	assert_string_equal(why.text, "connection closed by the peer");
	uvf__rx_buffer_destroy(&b);
	close(sv[1]);
}

static void test_oversized_header_is_refused_before_growing(void **state)
{
	struct uvf_msg_header h = make_header(5, UVF_CMD_REGION_WRITE, 64u << 20, 0);
	struct uvf_rx_buffer b = {0};
	struct uvf_why why = {{0}};
	struct uvf_msg_header hdr;
	size_t cap;
	int sv[2];

	(void)state;
	make_pair(sv);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 16);
	cap = b.cap;
	assert_int_equal(uvf__rx_buffer_next(&b, MAX_MSG, &hdr, &why), -EMSGSIZE);
	assert_int_equal(hdr.msg_size, 64u << 20); /* the offending header */
	assert_int_equal(b.cap, cap);		   /* nothing allocated for it */
	assert_true(why.text[0] != '\0');
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_header_below_16_bytes_is_refused(void **state)
{
	struct uvf_msg_header h = make_header(5, UVF_CMD_REGION_WRITE, 15, 0);
	struct uvf_rx_buffer b = {0};
	struct uvf_msg_header hdr;
	int sv[2];

	(void)state;
	make_pair(sv);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 16);
	assert_int_equal(uvf__rx_buffer_next(&b, MAX_MSG, &hdr, NULL), -EPROTO);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_message_larger_than_the_buffer_grows_it(void **state)
{
	static uint8_t big[16 + 3 * UVF_RX_BUFFER_FIRST_CAP];
	struct uvf_rx_buffer b = {0};
	struct uvf_msg_header hdr;
	size_t n = build_msg(big, 3, sizeof(big) - 16);
	ssize_t got;
	int sv[2];
	int rc;

	(void)state;
	make_pair(sv);
	assert_int_equal(write(sv[0], big, n), (ssize_t)n);
	while ((rc = uvf__rx_buffer_next(&b, sizeof(big), &hdr, NULL)) == 0) {
		got = uvf__rx_buffer_recv(&b, sv[1], 0, NULL);
		assert_true(got > 0);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(hdr.msg_size, n);
	assert_memory_equal(b.data + b.start, big, n);
	uvf__rx_buffer_destroy(&b);
	close_pair(sv);
}

static void test_fixed_buffer_never_grows(void **state)
{
	uint8_t storage[32], msg[64];
	struct uvf_rx_buffer b;
	struct uvf_msg_header hdr;
	size_t n = build_msg(msg, 1, 40);
	int sv[2];

	(void)state;
	make_pair(sv);
	uvf__rx_buffer_init_fixed(&b, storage, sizeof(storage));
	raw_send(sv[0], msg, n, NULL, 0);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), 32);
	assert_int_equal(uvf__rx_buffer_next(&b, MAX_MSG, &hdr, NULL), -ENOBUFS);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), -ENOBUFS);
	uvf__rx_buffer_destroy(&b);
	assert_ptr_equal(b.data, storage);
	close_pair(sv);
}

/* ------------------------------------------------------------------ */
/* A message in a buffer of its own                                     */
/* ------------------------------------------------------------------ */

static void test_split_leaves_the_message_and_moves_the_rest_with_its_fds(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0}, rest = {0};
	uint8_t one[64], two[64];
	size_t n1 = build_msg(one, 1, 8), n2 = build_msg(two, 2, 12);
	int fds[4];
	size_t nfds = 0;
	bool overflow = false;
	int sv[2];

	make_pair(sv);
	raw_send(sv[0], one, n1, NULL, 0);
	raw_send(sv[0], two, n2, &file, 1);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n1 + n2);
	assert_int_equal(uvf__rx_buffer_split(&b, n1, &rest), 0);
	assert_int_equal(b.end - b.start, n1);
	assert_false(b.has_fds);
	assert_memory_equal(b.data, one, n1);
	assert_true(uvf__rx_buffer_owns_fds(&rest, n2));
	assert_int_equal(take_msg(&rest, fds, &nfds, &overflow), 2);
	assert_int_equal(nfds, 1);
	assert_true(same_file(fds[0], file));
	close_fds(fds, nfds);
	close(file);
	uvf__rx_buffer_destroy(&b);
	uvf__rx_buffer_destroy(&rest);
	close_pair(sv);
}

static void test_copy_front_takes_the_message_with_its_fds(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_rx_buffer b = {0}, out = {0};
	uint8_t one[64], two[64], three[64];
	size_t n1 = build_msg(one, 1, 8), n2 = build_msg(two, 2, 12), n3 = build_msg(three, 3, 4);
	int sv[2];

	make_pair(sv);
	raw_send(sv[0], one, n1, NULL, 0);
	raw_send(sv[0], two, n2, &file, 1);
	raw_send(sv[0], three, n3, NULL, 0);
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n1 + n2);
	uvf__rx_buffer_consume(&b, n1);
	assert_int_equal(uvf__rx_buffer_copy_front(&b, n2, &out), 0);
	assert_int_equal(out.start, 0);
	assert_int_equal(out.end, n2);
	assert_memory_equal(out.data, two, n2);
	assert_true(uvf__rx_buffer_owns_fds(&out, n2));
	assert_int_equal(out.nfds, 1);
	assert_true(same_file(out.fds[0], file));
	assert_false(b.has_fds);
	/* the source goes on with message 3 */
	assert_int_equal(uvf__rx_buffer_recv(&b, sv[1], 0, NULL), n3);
	assert_memory_equal(b.data + b.start, three, n3);
	close(file);
	uvf__rx_buffer_destroy(&b);
	uvf__rx_buffer_destroy(&out); /* closes the message's fd */
	close_pair(sv);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fds_of_a_chunk_ending_mid_message_wait_for_its_end),
		T(test_two_messages_in_one_read_fds_go_to_the_second),
		T(test_taking_a_message_piecewise_hands_fds_with_their_byte),
		T(test_too_many_fds_set_overflow_and_close_the_rest),
		T(test_fds_beyond_the_takers_room_are_closed),
		T(test_eof_mid_message_is_connreset_and_reset_closes_its_fds),
		T(test_eof_between_messages_is_connreset),
		T(test_oversized_header_is_refused_before_growing),
		T(test_header_below_16_bytes_is_refused),
		T(test_message_larger_than_the_buffer_grows_it),
		T(test_fixed_buffer_never_grows),
		T(test_split_leaves_the_message_and_moves_the_rest_with_its_fds),
		T(test_copy_front_takes_the_message_with_its_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
