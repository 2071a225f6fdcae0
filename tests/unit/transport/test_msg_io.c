/* SPDX-License-Identifier: MIT */
/* Framed send/receive over socketpairs: fds, partial I/O, framing errors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "transport/transport.h"

#define MAX_MSG 4096u

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void check_pattern(const uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != (uint8_t)(i * 31 + seed))
			fail_msg("byte %zu differs", i);
	}
}

/* Send a command of len body bytes through uvf__msg_send. */
static void send_msg(int sock, uint16_t id, const void *body, size_t len, const int *fds, size_t nfds)
{
	struct uvf_msg_header h = make_header(id, UVF_CMD_REGION_WRITE, (uint32_t)(16 + len), 0);

	assert_int_equal(uvf__msg_send(sock, &h, body, len, fds, nfds, 1000), 0);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                          */
/* ------------------------------------------------------------------ */

static void test_round_trip_without_fds(void **state)
{
	uint8_t body[100];
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	fill_pattern(body, sizeof(body), 1);
	send_msg(sv[0], 7, body, sizeof(body), NULL, 0);

	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_true(rx.complete);
	assert_int_equal(rx.hdr.msg_id, 7);
	assert_int_equal(rx.hdr.command, UVF_CMD_REGION_WRITE);
	assert_int_equal(rx.hdr.msg_size, 116);
	check_pattern(rx.body, sizeof(body), 1);
	assert_int_equal(rx.nfds, 0);
	assert_false(rx.fds_overflow);

	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0); /* nothing more */
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_header_only_message_is_accepted(void **state)
{
	struct uvf_msg_header h = make_header(3, UVF_CMD_DEVICE_RESET, 16, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	assert_int_equal(uvf__msg_send(sv[0], &h, NULL, 0, NULL, 0, 1000), 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_size, 16);
	assert_int_equal(rx.body_got, 0);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_round_trip_with_one_fd_keeps_file_and_cloexec(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	uint8_t body[8] = {0};
	struct uvf_rx rx;
	int sv[2], got;

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_msg(sv[0], 1, body, sizeof(body), &file, 1);

	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.nfds, 1);
	assert_int_equal(uvf__rx_take_fds(&rx, &got, 1), 1);
	assert_int_not_equal(got, file);
	assert_true(same_file(got, file));
	assert_true(is_cloexec(got));

	close(got);
	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_round_trip_with_several_fds_in_order(void **state)
{
	struct fixture *f = *state;
	char name[2] = "a";
	int files[5], got[5];
	struct uvf_rx rx;
	int sv[2];

	for (int i = 0; i < 5; i++) {
		name[0] = (char)('a' + i);
		files[i] = open_scratch_file(f, name);
	}
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_msg(sv[0], 1, NULL, 0, files, 5);

	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.nfds, 5);
	assert_int_equal(uvf__rx_take_fds(&rx, got, 5), 5);
	for (int i = 0; i < 5; i++) {
		assert_true(same_file(got[i], files[i]));
		assert_true(is_cloexec(got[i]));
		close(got[i]);
		close(files[i]);
	}
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_sendv_gathers_several_iovecs(void **state)
{
	struct uvf_msg_header h = make_header(9, UVF_CMD_REGION_WRITE, 16 + 30, 0);
	uint8_t body[30];
	struct iovec iov[4];
	struct uvf_rx rx;
	int sv[2];

	fill_pattern(body, sizeof(body), 5);
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = body, .iov_len = 10};
	iov[2] = (struct iovec){.iov_base = body + 10, .iov_len = 0};
	iov[3] = (struct iovec){.iov_base = body + 10, .iov_len = 20};
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 4, NULL, 0, 1000), 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 9);
	check_pattern(rx.body, sizeof(body), 5);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_send_rejects_invalid_arguments(void **state)
{
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_RESET, 16, 0);
	struct iovec iov[9];
	int fds[UVF_TRANSPORT_MAX_SEND_FDS + 1] = {0};
	struct uvf_rx rx;
	int sv[2];

	for (int i = 0; i < 9; i++)
		iov[i] = (struct iovec){.iov_base = &h, .iov_len = i == 0 ? sizeof(h) : 0};
	make_pair(sv);
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 9, NULL, 0, 0), -EINVAL);
	assert_int_equal(uvf__msg_sendv(sv[0], iov + 1, 1, NULL, 0, 0), -EINVAL); /* empty */
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 1, fds, UVF_TRANSPORT_MAX_SEND_FDS + 1, 0), -EINVAL);
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 1, NULL, 1, 0), -EINVAL);
	assert_int_equal(uvf__msg_send(sv[0], &h, NULL, 5, NULL, 0, 0), -EINVAL);
	/* nothing was sent by the refused calls; 8 iovecs is the limit */
	assert_int_equal(uvf__msg_sendv(sv[0], iov, 8, NULL, 0, 0), 0);
	uvf__rx_init(&rx, MAX_MSG);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

/* ------------------------------------------------------------------ */
/* Incremental reception                                                */
/* ------------------------------------------------------------------ */

static void test_message_split_byte_by_byte_completes_on_last_byte(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	uint8_t msg[16 + 40];
	struct uvf_msg_header h = make_header(4, UVF_CMD_REGION_WRITE, sizeof(msg), 0);
	struct uvf_rx rx;
	int sv[2], got;

	memcpy(msg, &h, sizeof(h));
	fill_pattern(msg + 16, 40, 9);
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	for (size_t i = 0; i < sizeof(msg); i++) {
		assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
		/* the fd travels with the first byte */
		raw_send(sv[0], msg + i, 1, &file, i == 0 ? 1 : 0);
	}
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 4);
	check_pattern(rx.body, 40, 9);
	assert_int_equal(uvf__rx_take_fds(&rx, &got, 1), 1);
	assert_true(same_file(got, file));
	close(got);
	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_fds_arriving_with_body_are_collected(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(4, UVF_CMD_DMA_MAP, 16 + 32, 0);
	uint8_t body[32] = {0};
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	raw_send(sv[0], body, 10, &file, 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	raw_send(sv[0], body + 10, 22, &file, 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.nfds, 2);
	assert_true(same_file(rx.fds[0], file));
	assert_true(same_file(rx.fds[1], file));
	close(file);
	uvf__rx_destroy(&rx); /* closes both received fds */
	close_pair(sv);
}

static void test_two_messages_in_one_write_arrive_in_order(void **state)
{
	uint8_t buf[16 + 5 + 16 + 3];
	struct uvf_msg_header a = make_header(1, UVF_CMD_REGION_WRITE, 16 + 5, 0);
	struct uvf_msg_header b = make_header(2, UVF_CMD_REGION_WRITE, 16 + 3, UVF_MSG_FLAG_NO_REPLY);
	struct uvf_rx rx;
	int sv[2];

	memcpy(buf, &a, 16);
	memcpy(buf + 16, "hello", 5);
	memcpy(buf + 21, &b, 16);
	memcpy(buf + 37, "abc", 3);
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], buf, sizeof(buf), NULL, 0);

	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 1);
	assert_memory_equal(rx.body, "hello", 5);
	/* rx_read again before release returns the same message */
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 1);
	uvf__rx_release(&rx);

	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 2);
	assert_int_equal(rx.hdr.flags, UVF_MSG_FLAG_NO_REPLY);
	assert_memory_equal(rx.body, "abc", 3);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_body_buffer_is_reused_between_messages(void **state)
{
	uint8_t body[1000] = {0};
	struct uvf_rx rx;
	uint8_t *first;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_msg(sv[0], 1, body, 1000, NULL, 0);
	send_msg(sv[0], 2, body, 10, NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	first = rx.body;
	assert_int_equal(rx.body_cap, 1000);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 2);
	assert_ptr_equal(rx.body, first);
	assert_int_equal(rx.body_cap, 1000);
	uvf__rx_destroy(&rx);
	assert_null(rx.body);
	close_pair(sv);
}

struct writer {
	int sock;
	const uint8_t *body;
	size_t len;
	int fd;
	int result;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct uvf_msg_header h = make_header(77, UVF_CMD_DMA_WRITE, (uint32_t)(16 + w->len), 0);

	w->result = uvf__msg_send(w->sock, &h, w->body, w->len, &w->fd, 1, 5000);
	return NULL;
}

static void test_large_body_is_sent_with_partial_writes(void **state)
{
	struct fixture *f = *state;
	const size_t len = 4u << 20;
	uint8_t *body = malloc(len);
	int small = 16384;
	struct writer w;
	struct uvf_rx rx;
	pthread_t thread;
	int sv[2], reads = 0, ret;

	assert_non_null(body);
	fill_pattern(body, len, 3);
	make_pair(sv);
	/* A socket buffer far below the body forces short writes. */
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	w = (struct writer){.sock = sv[0], .body = body, .len = len, .fd = open_scratch_file(f, "a")};
	uvf__rx_init(&rx, (uint32_t)(16 + len));
	assert_int_equal(pthread_create(&thread, NULL, writer_main, &w), 0);
	/* Let the writer fill the socket and block mid-message: what is
	 * queued then is only part of the message, so the sender must have
	 * continued after a short write. (Whether the reader later sees
	 * EAGAIN depends on scheduling, so it is not asserted.) */
	usleep(100 * 1000);
	int queued = 0;
	assert_int_equal(ioctl(sv[1], FIONREAD, &queued), 0);
	assert_true(queued > 0 && (size_t)queued < 16 + len);
	do {
		ret = uvf__rx_read(&rx, sv[1], NULL);
		if (ret == 0) {
			struct pollfd p = {.fd = sv[1], .events = POLLIN};

			reads++;
			assert_true(poll(&p, 1, 5000) == 1);
		}
	} while (ret == 0);
	assert_int_equal(ret, 1);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(w.result, 0);
	(void)reads;
	assert_int_equal(rx.hdr.msg_id, 77);
	assert_int_equal(rx.body_got, len);
	check_pattern(rx.body, len, 3);
	assert_int_equal(rx.nfds, 1);
	assert_true(same_file(rx.fds[0], w.fd));

	close(w.fd);
	free(body);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

/* ------------------------------------------------------------------ */
/* Framing errors                                                       */
/* ------------------------------------------------------------------ */

static void test_header_at_size_limit_is_accepted(void **state)
{
	uint8_t body[MAX_MSG - 16] = {0};
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_msg(sv[0], 1, body, sizeof(body), NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_size, MAX_MSG);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_oversized_header_is_refused_before_allocation(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	uint8_t body[MAX_MSG - 15];
	struct uvf_msg_header h = make_header(5, UVF_CMD_REGION_WRITE, MAX_MSG + 1, 0);
	struct uvf_why why = {{0}};
	struct uvf_rx rx;
	int sv[2], pending = 0;

	memset(body, 0x16, sizeof(body)); /* would look like more headers */
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &h, sizeof(h), &file, 1);
	raw_send(sv[0], body, sizeof(body), NULL, 0);

	assert_int_equal(uvf__rx_read(&rx, sv[1], &why), -EMSGSIZE);
	assert_true(why.text[0] != '\0');
	assert_null(rx.body);
	assert_int_equal(rx.body_cap, 0);
	assert_int_equal(rx.hdr.msg_size, MAX_MSG + 1); /* offending header kept */
	assert_int_equal(rx.hdr.msg_id, 5);
	assert_int_equal(rx.nfds, 0); /* its fd is already closed */
	/* not one body byte was consumed */
	assert_int_equal(ioctl(sv[1], FIONREAD, &pending), 0);
	assert_int_equal(pending, (int)sizeof(body));

	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_msg_size_below_header_is_refused(void **state)
{
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_RESET, 15, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), -EPROTO);
	assert_int_equal(rx.hdr.msg_size, 15);
	assert_null(rx.body);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_bad_type_bits_are_refused(void **state)
{
	struct uvf_msg_header reply = make_header(1, UVF_CMD_DEVICE_RESET, 16, UVF_MSG_TYPE_REPLY);
	struct uvf_msg_header bad = make_header(2, UVF_CMD_DEVICE_RESET, 16 + 8, 2);
	uint8_t body[8] = {0};
	struct uvf_rx rx;
	int sv[2], pending = 0;

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &reply, sizeof(reply), NULL, 0);
	raw_send(sv[0], &bad, sizeof(bad), NULL, 0);
	raw_send(sv[0], body, sizeof(body), NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1); /* type 1 is fine */
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), -EPROTO);
	assert_int_equal(rx.hdr.flags, 2);
	assert_int_equal(ioctl(sv[1], FIONREAD, &pending), 0);
	assert_int_equal(pending, 8); /* body left alone */
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_eof_between_messages_is_connreset(void **state)
{
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	close(sv[0]);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), -ECONNRESET);
	uvf__rx_destroy(&rx);
	close(sv[1]);
}

static void test_eof_mid_header_is_connreset(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(1, UVF_CMD_REGION_WRITE, 100, 0);
	struct uvf_why why = {{0}};
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &h, 7, &file, 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	assert_int_equal(rx.nfds, 1);
	close(sv[0]);
	assert_int_equal(uvf__rx_read(&rx, sv[1], &why), -ECONNRESET);
	assert_non_null(strstr(why.text, "header"));
	assert_int_equal(rx.nfds, 0); /* the received fd was closed */
	close(file);
	uvf__rx_destroy(&rx);
	close(sv[1]);
}

static void test_eof_mid_body_is_connreset(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(1, UVF_CMD_REGION_WRITE, 100, 0);
	uint8_t body[50] = {0};
	struct uvf_why why = {{0}};
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	raw_send(sv[0], &h, sizeof(h), &file, 1);
	raw_send(sv[0], body, sizeof(body), NULL, 0);
	close(sv[0]);
	assert_int_equal(uvf__rx_read(&rx, sv[1], &why), -ECONNRESET);
	assert_non_null(strstr(why.text, "body"));
	close(file);
	uvf__rx_destroy(&rx);
	close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* fd limits and ownership                                              */
/* ------------------------------------------------------------------ */

static void send_with_copies(int sock, const void *buf, size_t len, int fd, size_t copies)
{
	int fds[256];

	for (size_t i = 0; i < copies; i++)
		fds[i] = fd;
	raw_send(sock, buf, len, fds, copies);
}

static void test_max_fds_is_not_overflow(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_SET_IRQS, 16, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_with_copies(sv[0], &h, sizeof(h), file, UVF_TRANSPORT_MAX_FDS);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.nfds, UVF_TRANSPORT_MAX_FDS);
	assert_false(rx.fds_overflow);
	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_too_many_fds_in_one_send_set_overflow(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_SET_IRQS, 16, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_with_copies(sv[0], &h, sizeof(h), file, UVF_TRANSPORT_MAX_FDS + 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1); /* still delivered */
	assert_true(rx.fds_overflow);
	assert_int_equal(rx.nfds, UVF_TRANSPORT_MAX_FDS);
	close(file);
	uvf__rx_destroy(&rx); /* fixture checks that no fd is left */
	close_pair(sv);
}

static void test_too_many_fds_across_parts_set_overflow(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_SET_IRQS, 16 + 4, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_with_copies(sv[0], &h, sizeof(h), file, 40);
	send_with_copies(sv[0], "abcd", 4, file, 40);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_true(rx.fds_overflow);
	assert_int_equal(rx.nfds, UVF_TRANSPORT_MAX_FDS);
	/* overflow is per message */
	uvf__rx_release(&rx);
	send_msg(sv[0], 2, NULL, 0, &file, 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_false(rx.fds_overflow);
	assert_int_equal(rx.nfds, 1);
	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_release_closes_untaken_fds(void **state)
{
	struct fixture *f = *state;
	int file = open_scratch_file(f, "a");
	int fds[3] = {file, file, file};
	int before, taken;
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	before = count_open_fds();
	send_msg(sv[0], 1, NULL, 0, fds, 3);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(count_open_fds(), before + 3);
	assert_int_equal(uvf__rx_take_fds(&rx, &taken, 1), 1);
	uvf__rx_release(&rx);
	assert_int_equal(count_open_fds(), before + 1);
	assert_true(fcntl(taken, F_GETFD) >= 0); /* the taken one survives */
	assert_true(same_file(taken, file));
	close(taken);
	close(file);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_take_fds_takes_in_order_and_resumes(void **state)
{
	struct fixture *f = *state;
	int a = open_scratch_file(f, "a"), b = open_scratch_file(f, "b"), c = open_scratch_file(f, "c");
	int fds[3] = {a, b, c};
	int got[3] = {-1, -1, -1};
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	send_msg(sv[0], 1, NULL, 0, fds, 3);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(uvf__rx_take_fds(&rx, got, 2), 2);
	assert_true(same_file(got[0], a));
	assert_true(same_file(got[1], b));
	assert_int_equal(rx.nfds, 3);
	assert_int_equal(uvf__rx_take_fds(&rx, got + 2, 5), 1);
	assert_true(same_file(got[2], c));
	assert_int_equal(uvf__rx_take_fds(&rx, got, 5), 0);
	uvf__rx_release(&rx);
	for (int i = 0; i < 3; i++) {
		assert_true(fcntl(got[i], F_GETFD) >= 0);
		close(got[i]);
		close(fds[i]);
	}
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

/* ------------------------------------------------------------------ */
/* Waiting and timeouts                                                 */
/* ------------------------------------------------------------------ */

static void test_read_wait_times_out_on_partial_message(void **state)
{
	struct uvf_msg_header h = make_header(1, UVF_CMD_REGION_WRITE, 16 + 4, 0);
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	assert_int_equal(uvf__rx_read_wait(&rx, sv[1], 30, NULL), -ETIMEDOUT);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	assert_int_equal(uvf__rx_read_wait(&rx, sv[1], 30, NULL), -ETIMEDOUT);
	raw_send(sv[0], "abcd", 4, NULL, 0);
	assert_int_equal(uvf__rx_read_wait(&rx, sv[1], 30, NULL), 1);
	assert_memory_equal(rx.body, "abcd", 4);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void *delayed_writer_main(void *arg)
{
	int sock = *(int *)arg;
	struct uvf_msg_header h = make_header(12, UVF_CMD_DEVICE_RESET, 16, 0);

	usleep(50 * 1000);
	raw_send(sock, &h, 8, NULL, 0);
	usleep(20 * 1000);
	raw_send(sock, (uint8_t *)&h + 8, 8, NULL, 0);
	return NULL;
}

static void test_read_wait_returns_message_written_later(void **state)
{
	struct uvf_rx rx;
	pthread_t thread;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	assert_int_equal(pthread_create(&thread, NULL, delayed_writer_main, &sv[0]), 0);
	assert_int_equal(uvf__rx_read_wait(&rx, sv[1], -1, NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 12);
	assert_int_equal(pthread_join(thread, NULL), 0);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_read_wait_reports_eof(void **state)
{
	struct uvf_rx rx;
	int sv[2];

	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	close(sv[0]);
	assert_int_equal(uvf__rx_read_wait(&rx, sv[1], 1000, NULL), -ECONNRESET);
	uvf__rx_destroy(&rx);
	close(sv[1]);
}

static void test_send_to_closed_peer_is_epipe_without_sigpipe(void **state)
{
	struct uvf_msg_header h = make_header(1, UVF_CMD_DEVICE_RESET, 16, 0);
	int sv[2];

	/* With the default action a SIGPIPE would kill the test. */
	signal(SIGPIPE, SIG_DFL);
	make_pair(sv);
	close(sv[1]);
	assert_int_equal(uvf__msg_send(sv[0], &h, NULL, 0, NULL, 0, 100), -EPIPE);
	close(sv[0]);
}

static void test_send_times_out_when_peer_does_not_drain(void **state)
{
	const size_t len = 1u << 20;
	uint8_t *body = calloc(1, len);
	struct uvf_msg_header h = make_header(1, UVF_CMD_REGION_WRITE, (uint32_t)(16 + len), 0);
	int sv[2];

	assert_non_null(body);
	make_pair(sv);
	assert_int_equal(uvf__msg_send(sv[0], &h, body, len, NULL, 0, 30), -ETIMEDOUT);
	free(body);
	close_pair(sv);
}


/* ------------------------------------------------------------------ */
/* Read-ahead                                                           */
/* ------------------------------------------------------------------ */

/* A message of 16 + len bytes (REGION_WRITE, body bytes = seed pattern). */
static size_t build_msg(uint8_t *out, uint16_t id, size_t len, unsigned seed)
{
	struct uvf_msg_header h = make_header(id, UVF_CMD_REGION_WRITE, (uint32_t)(16 + len), 0);

	memcpy(out, &h, 16);
	fill_pattern(out + 16, len, seed);
	return 16 + len;
}

static void test_read_ahead_takes_a_small_message_in_one_recvmsg(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2];
	size_t n;

	(void)state;
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	n = build_msg(buf, 7, 20, 3);
	raw_send(sv[0], buf, n, NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 7);
	check_pattern(rx.body, 20, 3);
	/* header and body came with one read: nothing is left anywhere */
	assert_false(uvf__rx_buffered(&rx));
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	close_pair(sv);
}

static void test_read_ahead_keeps_following_messages_in_order(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[3 * 16 + 5 + 0 + 40];
	struct uvf_rx rx;
	int sv[2];
	size_t n = 0;

	(void)state;
	make_pair(sv);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	n += build_msg(buf + n, 1, 5, 1);
	n += build_msg(buf + n, 2, 0, 2);
	n += build_msg(buf + n, 3, 40, 3);
	raw_send(sv[0], buf, n, NULL, 0);
	for (uint16_t id = 1; id <= 3; id++) {
		assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
		assert_int_equal(rx.hdr.msg_id, id);
		check_pattern(rx.body, rx.hdr.msg_size - 16u, id);
		/* the later messages wait in the read-ahead, not in the socket */
		assert_int_equal(uvf__rx_buffered(&rx), id < 3);
		uvf__rx_release(&rx);
	}
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_read_ahead_body_larger_than_buffer_is_completed_from_socket(void **state)
{
	static struct uvf_rx_ahead ahead;
	static uint8_t big[16 + 3 * UVF_RX_AHEAD_SIZE];
	struct uvf_rx rx;
	int sv[2];
	size_t n;

	(void)state;
	make_pair(sv);
	uvf__rx_init(&rx, sizeof(big));
	rx.ahead = &ahead;
	n = build_msg(big, 9, 3 * UVF_RX_AHEAD_SIZE, 9);
	raw_send(sv[0], big, n, NULL, 0);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	check_pattern(rx.body, 3 * UVF_RX_AHEAD_SIZE, 9);
	uvf__rx_release(&rx);
	uvf__rx_destroy(&rx);
	close_pair(sv);
}

static void test_read_ahead_gives_fds_to_the_message_that_carried_them(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t a[64], b[64];
	struct uvf_rx rx;
	int sv[2], pipefd[2];
	size_t na, nb;

	(void)state;
	make_pair(sv);
	assert_int_equal(pipe(pipefd), 0);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	na = build_msg(a, 1, 8, 1);
	nb = build_msg(b, 2, 8, 2);
	/* the first message without fds, the second with one */
	raw_send(sv[0], a, na, NULL, 0);
	raw_send(sv[0], b, nb, &pipefd[0], 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 1);
	assert_int_equal(rx.nfds, 0);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 2);
	assert_int_equal(rx.nfds, 1);
	assert_true(rx.fds[0] >= 0);
	uvf__rx_release(&rx); /* closes it */
	uvf__rx_destroy(&rx);
	close(pipefd[0]);
	close(pipefd[1]);
	close_pair(sv);
}

static void test_read_ahead_shared_by_two_receivers_keeps_stream_order(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[3 * (16 + 4)];
	struct uvf_rx first, second;
	int sv[2];
	size_t n = 0;

	(void)state;
	make_pair(sv);
	uvf__rx_init(&first, MAX_MSG);
	uvf__rx_init(&second, MAX_MSG);
	first.ahead = second.ahead = &ahead;
	n += build_msg(buf + n, 1, 4, 1);
	n += build_msg(buf + n, 2, 4, 2);
	n += build_msg(buf + n, 3, 4, 3);
	raw_send(sv[0], buf, n, NULL, 0);
	assert_int_equal(uvf__rx_read(&first, sv[1], NULL), 1);
	assert_int_equal(first.hdr.msg_id, 1);
	/* a second receiver (the server's DMA wait) continues where the first stopped */
	assert_int_equal(uvf__rx_read(&second, sv[1], NULL), 1);
	assert_int_equal(second.hdr.msg_id, 2);
	uvf__rx_release(&second);
	assert_int_equal(uvf__rx_read(&second, sv[1], NULL), 1);
	assert_int_equal(second.hdr.msg_id, 3);
	uvf__rx_release(&second);
	uvf__rx_release(&first);
	assert_int_equal(uvf__rx_read(&first, sv[1], NULL), 0);
	uvf__rx_destroy(&first);
	uvf__rx_destroy(&second);
	close_pair(sv);
}

static void test_read_ahead_reset_closes_fds_not_yet_owned(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2], pipefd[2];
	size_t n;

	(void)state;
	make_pair(sv);
	assert_int_equal(pipe(pipefd), 0);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	n = build_msg(buf, 1, 8, 1);
	/* a header whose fds came but whose last bytes sit in the read-ahead
	 * is a message the receiver has not finished: reset must close them */
	raw_send(sv[0], buf, 10, &pipefd[0], 1);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	assert_int_equal(ahead.buf.nfds, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close_pair(sv);
	(void)n;
}

#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

/* ------------------------------------------------------------------ */
/* Blocking receive (uvf__rx_read_block)                                */
/* ------------------------------------------------------------------ */

/* A pair whose sv[1] receives block, each wait at most timeout_ms. */
static void make_blocking_pair(int sv[2], int timeout_ms)
{
	make_pair(sv);
	assert_int_equal(uvf__sock_block_receive(sv[1], timeout_ms), 0);
	assert_false(is_nonblocking(sv[1]));
}

/* rx with its read-ahead on a blocking pair (each wait at most
 * timeout_ms), and the end of it. */
static void open_blocking_rx(int sv[2], struct uvf_rx *rx, struct uvf_rx_ahead *ahead, int timeout_ms,
			     uint32_t max_msg)
{
	make_blocking_pair(sv, timeout_ms);
	uvf__rx_init(rx, max_msg);
	rx->ahead = ahead;
}

static void close_blocking_rx(int sv[2], struct uvf_rx *rx, struct uvf_rx_ahead *ahead)
{
	uvf__rx_destroy(rx);
	uvf__rx_ahead_reset(ahead);
	close_pair(sv);
}

static void test_read_block_ends_with_nothing_at_the_receive_timeout(void **state)
{
	static struct uvf_rx_ahead ahead;
	struct uvf_rx rx;
	int sv[2];

	(void)state;
	make_blocking_pair(sv, 20);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	assert_true(uvf__rx_idle(&rx));
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	close_pair(sv);
}

static void alarm_handler(int sig)
{
	(void)sig;
}

static void test_read_block_says_eintr_on_a_signal(void **state)
{
	static struct uvf_rx_ahead ahead;
	struct sigaction sa = {.sa_handler = alarm_handler}, old;
	struct uvf_rx rx;
	int sv[2];

	(void)state;
	/* a receive timeout far beyond the test's own: only the signal can
	 * end this wait */
	make_blocking_pair(sv, 3600 * 1000);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	sa.sa_flags = SA_RESTART; /* a receive timeout makes recvmsg end anyway */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	alarm(1);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), -EINTR);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	/* nothing lost: the next message is read whole */
	assert_true(uvf__rx_idle(&rx));
	uint8_t body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	send_msg(sv[0], 7, body, sizeof(body), NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 7);
	uvf__rx_release(&rx);
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	close_pair(sv);
}

/* Several messages taken by one wait, the fds with the one that carried
 * them, whatever came in between; sends never block on the socket. */
static void test_read_block_takes_queued_messages_and_gives_fds_to_their_own(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[6][64];
	size_t len[6];
	struct uvf_rx rx;
	int sv[2], pipefd[2];

	(void)state;
	make_blocking_pair(sv, 5000);
	assert_int_equal(pipe(pipefd), 0);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	for (uint16_t i = 0; i < 6; i++) {
		len[i] = build_msg(buf[i], (uint16_t)(i + 1), 4 + i, i + 1);
		/* the fourth message carries the pipe's read end */
		raw_send(sv[0], buf[i], len[i], i == 3 ? &pipefd[0] : NULL, i == 3 ? 1 : 0);
	}
	for (uint16_t i = 0; i < 6; i++) {
		int ret = i == 0 ? uvf__rx_read_block(&rx, sv[1], NULL) : uvf__rx_read(&rx, sv[1], NULL);
		assert_int_equal(ret, 1);
		assert_int_equal(rx.hdr.msg_id, i + 1);
		check_pattern(rx.body, 4 + i, i + 1);
		assert_int_equal(rx.nfds, i == 3 ? 1 : 0);
		if (i == 3)
			assert_true(same_file(rx.fds[0], pipefd[0]));
		uvf__rx_release(&rx);
	}
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	close(pipefd[0]);
	close(pipefd[1]);
	close_pair(sv);
}

/* Bytes sent to sv[1] and not taken off its socket yet. */
static int unread(int sv[2])
{
	int n = -1;

	assert_int_equal(ioctl(sv[1], FIONREAD, &n), 0);
	return n;
}

/* The blocking wait peeks: the message stays on the socket until the next
 * read (or uvf__rx_settle) takes it off, after the caller answered it. */
static void test_read_block_leaves_the_message_on_the_socket_until_settled(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2];
	size_t n;

	(void)state;
	open_blocking_rx(sv, &rx, &ahead, 20, MAX_MSG);
	n = build_msg(buf, 4, 20, 4);
	raw_send(sv[0], buf, n, NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 4);
	check_pattern(rx.body, 20, 4);
	assert_int_equal(unread(sv), (int)n);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_settle(&rx, sv[1], NULL), 0);
	assert_int_equal(unread(sv), 0);
	assert_int_equal(uvf__rx_settle(&rx, sv[1], NULL), 0); /* nothing more to take */
	/* the message is not seen again */
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	assert_true(uvf__rx_idle(&rx));
	close_blocking_rx(sv, &rx, &ahead);
}

/* Read messages 1 to 4 with the blocking reader and the one that does not
 * wait (the epoll path), with or without the socket's peek offset: each
 * message is read once, and nothing is left on the socket at the end. */
static void read_each_message_once(bool peek_offset)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[4][64];
	size_t len[4];
	struct uvf_rx rx;
	int sv[2];

	open_blocking_rx(sv, &rx, &ahead, 20, MAX_MSG);
	uvf__rx_buffer_init_fixed(&ahead.buf, ahead.storage, sizeof(ahead.storage));
	if (!peek_offset)
		ahead.buf.peek_off = -1; /* as on a kernel without SO_PEEK_OFF */
	for (uint16_t i = 0; i < 4; i++)
		len[i] = build_msg(buf[i], (uint16_t)(i + 1), 8 + i, i + 1);
	raw_send(sv[0], buf[0], len[0], NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 1);
	assert_int_equal(ahead.buf.peek_off, peek_offset ? 1 : -1);
	uvf__rx_release(&rx);
	/* 2 and 3 came meanwhile: the blocking read gets both without
	 * waiting. With the peek offset it peeks them, past the answered 1;
	 * without, it takes 1 off and both with it. */
	raw_send(sv[0], buf[1], len[1], NULL, 0);
	raw_send(sv[0], buf[2], len[2], NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 2);
	check_pattern(rx.body, 9, 2);
	/* with the peek offset 2 and 3 stay (and 1 too, unless the wait for
	 * it took long enough to count as asleep) */
	if (peek_offset)
		assert_true(unread(sv) >= (int)(len[1] + len[2]));
	else
		assert_int_equal(unread(sv), 0);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 3);
	uvf__rx_release(&rx);
	/* nothing came: the wait times out */
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	/* 4, peeked, then the reader that does not wait: 4 is not read twice */
	raw_send(sv[0], buf[3], len[3], NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 4);
	check_pattern(rx.body, 11, 4);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read(&rx, sv[1], NULL), 0);
	assert_int_equal(unread(sv), 0);
	/* a read that found nothing keeps what the socket was found to do:
	 * the next peek does not set the peek offset again */
	assert_int_equal(ahead.buf.peek_off, peek_offset ? 1 : -1);
	close_blocking_rx(sv, &rx, &ahead);
}

static void test_read_after_a_peek_takes_each_message_once(void **state)
{
	(void)state;
	read_each_message_once(true);
}

static void test_read_after_a_peek_takes_each_message_once_without_peek_offset(void **state)
{
	(void)state;
	read_each_message_once(false);
}

/* With the peek offset, a request on this CPU costs one peek: the
 * answered ones stay on the socket, skipped, and go off together after at
 * most UVF_RX_ANSWERED_PEEKS peeks, before the next peek. */
static void test_answered_messages_are_taken_off_every_few_peeks(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2];
	size_t len = 0;

	(void)state;
	open_blocking_rx(sv, &rx, &ahead, 20, MAX_MSG);
	for (uint16_t i = 0; i < 3 * UVF_RX_ANSWERED_PEEKS; i++) {
		len = build_msg(buf, (uint16_t)(i + 1), 16, i);
		raw_send(sv[0], buf, len, NULL, 0);
		assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
		assert_int_equal(rx.hdr.msg_id, i + 1);
		check_pattern(rx.body, 16, i);
		uvf__rx_release(&rx);
		/* on the socket: this one and those answered since the last
		 * taking off, never more than UVF_RX_ANSWERED_PEEKS (fewer
		 * when a wait took long enough to count as asleep) */
		assert_true(unread(sv) >= (int)len);
		assert_true(unread(sv) <= (int)(UVF_RX_ANSWERED_PEEKS * len));
	}
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0); /* nothing new */
	assert_int_equal(uvf__rx_settle(&rx, sv[1], NULL), 0);
	assert_int_equal(unread(sv), 0);
	close_blocking_rx(sv, &rx, &ahead);
}

/* A message with fds after answered ones: the read that takes it at once
 * takes the answered ones off first; the fd comes once, and the next peek
 * sees the next message, not an old one. */
static void test_a_message_with_fds_after_answered_ones(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2], pipefd[2];
	size_t n;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	open_blocking_rx(sv, &rx, &ahead, 20, MAX_MSG);
	for (uint16_t i = 1; i <= 3; i++) {
		n = build_msg(buf, i, 8, i);
		raw_send(sv[0], buf, n, NULL, 0);
		assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
		assert_int_equal(rx.hdr.msg_id, i);
		uvf__rx_release(&rx);
	}
	assert_true(unread(sv) >= (int)n);
	/* 4 with the fd, and 5 right behind it: the peek stops at the fd's
	 * bytes, so 5 is there unseen, its arrival long past */
	n = build_msg(buf, 4, 12, 4);
	raw_send(sv[0], buf, n, &pipefd[0], 1);
	n = build_msg(buf, 5, 8, 5);
	raw_send(sv[0], buf, n, NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 4);
	check_pattern(rx.body, 12, 4);
	assert_int_equal(rx.nfds, 1);
	assert_true(same_file(rx.fds[0], pipefd[0]));
	assert_int_equal(unread(sv), (int)n);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 5);
	check_pattern(rx.body, 8, 5);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close_blocking_rx(sv, &rx, &ahead);
}

struct late_sender {
	int sock;
	uint16_t id;
};

static void *send_late(void *arg)
{
	struct late_sender *l = arg;
	uint8_t buf[64];
	size_t n = build_msg(buf, l->id, 8, l->id);

	usleep(100 * 1000); /* the reader is asleep by now */
	raw_send(l->sock, buf, n, NULL, 0);
	return NULL;
}

/* A wait that slept (the client on another CPU) has the answered request
 * taken off right after the reply, before the next wait; a wait that did
 * not sleep leaves it for later, with the next few. */
static void test_after_a_wait_that_slept_the_answered_request_goes_at_once(void **state)
{
	static struct uvf_rx_ahead ahead;
	struct late_sender l;
	uint8_t buf[64];
	struct uvf_rx rx;
	pthread_t t;
	int sv[2];
	size_t n2, n3;

	(void)state;
	open_blocking_rx(sv, &rx, &ahead, 5000, MAX_MSG);
	l = (struct late_sender){.sock = sv[0], .id = 1};
	assert_int_equal(pthread_create(&t, NULL, send_late, &l), 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1); /* sleeps for it */
	assert_int_equal(rx.hdr.msg_id, 1);
	uvf__rx_release(&rx);
	assert_int_equal(pthread_join(t, NULL), 0);
	n2 = build_msg(buf, 2, 8, 2);
	raw_send(sv[0], buf, n2, NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 2);
	assert_int_equal(unread(sv), (int)n2); /* 1 went before the peek */
	uvf__rx_release(&rx);
	n3 = build_msg(buf, 3, 8, 3);
	raw_send(sv[0], buf, n3, NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 3);
	/* 2's wait most likely did not sleep: 2 stays; if it took long
	 * enough to count as asleep, it went */
	assert_true(unread(sv) == (int)(n2 + n3) || unread(sv) == (int)n3);
	uvf__rx_release(&rx);
	close_blocking_rx(sv, &rx, &ahead);
}

/* A message with fds is taken off at once (a peek would duplicate them):
 * the fd comes once, and none is left behind (the fixture counts them). */
static void test_read_block_takes_a_message_with_fds_at_once(void **state)
{
	static struct uvf_rx_ahead ahead;
	uint8_t buf[64];
	struct uvf_rx rx;
	int sv[2], pipefd[2];
	size_t n;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	open_blocking_rx(sv, &rx, &ahead, 20, MAX_MSG);
	n = build_msg(buf, 5, 8, 5);
	raw_send(sv[0], buf, n, &pipefd[0], 1);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 5);
	assert_int_equal(rx.nfds, 1);
	assert_true(same_file(rx.fds[0], pipefd[0]));
	assert_int_equal(unread(sv), 0);
	uvf__rx_release(&rx); /* closes it */
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close_blocking_rx(sv, &rx, &ahead);
}

/* A message larger than the read-ahead: its first bytes peeked, the rest
 * read from the socket after the peeked bytes are taken off. */
static void test_read_block_completes_a_large_message_after_the_peek(void **state)
{
	static struct uvf_rx_ahead ahead;
	static uint8_t big[16 + 3 * UVF_RX_AHEAD_SIZE];
	struct uvf_rx rx;
	int sv[2];
	size_t n;

	(void)state;
	open_blocking_rx(sv, &rx, &ahead, 20, sizeof(big));
	n = build_msg(big, 6, 3 * UVF_RX_AHEAD_SIZE, 6);
	raw_send(sv[0], big, n, NULL, 0);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 1);
	assert_int_equal(rx.hdr.msg_id, 6);
	check_pattern(rx.body, 3 * UVF_RX_AHEAD_SIZE, 6);
	assert_int_equal(unread(sv), 0);
	uvf__rx_release(&rx);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], NULL), 0);
	close_blocking_rx(sv, &rx, &ahead);
}

/* Sends on a socket whose receives block still wait with poll and time
 * out, never in sendmsg. */
static void test_send_on_a_blocking_receive_socket_times_out_when_peer_does_not_drain(void **state)
{
	size_t len = 4u << 20;
	uint8_t *big = calloc(1, len);
	struct uvf_msg_header h = make_header(1, UVF_CMD_REGION_WRITE, (uint32_t)(16 + len), 0);
	int sv[2];

	(void)state;
	assert_non_null(big);
	make_blocking_pair(sv, 5000);
	assert_int_equal(uvf__msg_send(sv[1], &h, big, len, NULL, 0, 50), -ETIMEDOUT);
	free(big);
	close_pair(sv);
}

static void test_read_block_reports_eof(void **state)
{
	static struct uvf_rx_ahead ahead;
	struct uvf_rx rx;
	struct uvf_why why = {{0}};
	int sv[2];

	(void)state;
	make_blocking_pair(sv, 5000);
	uvf__rx_init(&rx, MAX_MSG);
	rx.ahead = &ahead;
	close(sv[0]);
	assert_int_equal(uvf__rx_read_block(&rx, sv[1], &why), -ECONNRESET);
	assert_non_null(strstr(why.text, "closed"));
	uvf__rx_destroy(&rx);
	uvf__rx_ahead_reset(&ahead);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip_without_fds),
		T(test_header_only_message_is_accepted),
		T(test_round_trip_with_one_fd_keeps_file_and_cloexec),
		T(test_round_trip_with_several_fds_in_order),
		T(test_sendv_gathers_several_iovecs),
		T(test_send_rejects_invalid_arguments),
		T(test_message_split_byte_by_byte_completes_on_last_byte),
		T(test_fds_arriving_with_body_are_collected),
		T(test_two_messages_in_one_write_arrive_in_order),
		T(test_body_buffer_is_reused_between_messages),
		T(test_large_body_is_sent_with_partial_writes),
		T(test_header_at_size_limit_is_accepted),
		T(test_oversized_header_is_refused_before_allocation),
		T(test_msg_size_below_header_is_refused),
		T(test_bad_type_bits_are_refused),
		T(test_eof_between_messages_is_connreset),
		T(test_eof_mid_header_is_connreset),
		T(test_eof_mid_body_is_connreset),
		T(test_max_fds_is_not_overflow),
		T(test_too_many_fds_in_one_send_set_overflow),
		T(test_too_many_fds_across_parts_set_overflow),
		T(test_release_closes_untaken_fds),
		T(test_take_fds_takes_in_order_and_resumes),
		T(test_read_wait_times_out_on_partial_message),
		T(test_read_wait_returns_message_written_later),
		T(test_read_wait_reports_eof),
		T(test_send_to_closed_peer_is_epipe_without_sigpipe),
		T(test_send_times_out_when_peer_does_not_drain),
		T(test_read_ahead_takes_a_small_message_in_one_recvmsg),
		T(test_read_ahead_keeps_following_messages_in_order),
		T(test_read_ahead_body_larger_than_buffer_is_completed_from_socket),
		T(test_read_ahead_gives_fds_to_the_message_that_carried_them),
		T(test_read_ahead_shared_by_two_receivers_keeps_stream_order),
		T(test_read_ahead_reset_closes_fds_not_yet_owned),
		T(test_read_block_ends_with_nothing_at_the_receive_timeout),
		T(test_read_block_says_eintr_on_a_signal),
		T(test_read_block_takes_queued_messages_and_gives_fds_to_their_own),
		T(test_read_block_reports_eof),
		T(test_read_block_leaves_the_message_on_the_socket_until_settled),
		T(test_read_after_a_peek_takes_each_message_once),
		T(test_read_after_a_peek_takes_each_message_once_without_peek_offset),
		T(test_answered_messages_are_taken_off_every_few_peeks),
		T(test_a_message_with_fds_after_answered_ones),
		T(test_after_a_wait_that_slept_the_answered_request_goes_at_once),
		T(test_read_block_takes_a_message_with_fds_at_once),
		T(test_read_block_completes_a_large_message_after_the_peek),
		T(test_send_on_a_blocking_receive_socket_times_out_when_peer_does_not_drain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
