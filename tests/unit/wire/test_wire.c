/* SPDX-License-Identifier: MIT */
/*
 * uvf/wire.h through the shared library, as a program sees it: whole
 * messages with their fds over a socket pair (split, joined, oversized,
 * broken framing, too many fds), and the descriptions of messages as
 * golden lines (a field decoded wrong changes the line).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "uvf/wire.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* ------------------------------------------------------------------ */
/* Descriptions                                                         */
/* ------------------------------------------------------------------ */

/* The line for header (command, flags, error) + payload with nfds fds. */
static const char *line_of(uint16_t command, uint32_t flags, uint32_t error, const void *payload, size_t len,
			   size_t nfds)
{
	static char line[1024];
	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	struct uvf_msg_header hdr = {
		.msg_id = 9, .command = command, .msg_size = (uint32_t)(16 + len), .flags = flags, .error = error};

	assert_int_equal(uvf_wire_describe(&d, &hdr, payload, len, nfds), 0);
	assert_true(uvf_wire_format(&d, line, sizeof(line)) > 0);
	return line;
}

#define REQ   UVF_MSG_TYPE_COMMAND
#define REPLY UVF_MSG_TYPE_REPLY

static void requests_are_described_by_their_fields(void **state)
{
	(void)state;
	struct uvf_msg_region_access rd = {.offset = 0x1004, .region = 2, .count = 4};
	assert_string_equal(line_of(UVF_CMD_REGION_READ, REQ, 0, &rd, sizeof(rd), 0),
			    "REGION_READ region=2 offset=0x1004 count=4");

	struct uvf_msg_dma_map map = {.argsz = 32,
				      .flags = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
				      .offset = 0x2000,
				      .address = 0x100000,
				      .size = 0x4000};
	assert_string_equal(line_of(UVF_CMD_DMA_MAP, REQ, 0, &map, sizeof(map), 1),
			    "DMA_MAP iova=0x100000 size=0x4000 offset=0x2000 prot=rw");
	map.flags = UVF_DMA_MAP_FLAG_READ;
	map.offset = 0;
	assert_string_equal(line_of(UVF_CMD_DMA_MAP, REQ, 0, &map, sizeof(map), 0),
			    "DMA_MAP iova=0x100000 size=0x4000 offset=0x0 prot=r");

	struct uvf_msg_dma_unmap unmap = {.argsz = 24, .address = 0x100000, .size = 0x4000};
	assert_string_equal(line_of(UVF_CMD_DMA_UNMAP, REQ, 0, &unmap, sizeof(unmap), 0),
			    "DMA_UNMAP iova=0x100000 size=0x4000");

	struct uvf_msg_irq_set irq = {.argsz = 20,
				      .flags = UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_TRIGGER,
				      .index = UVF_PCI_MSIX_IRQ,
				      .start = 1,
				      .count = 3};
	assert_string_equal(line_of(UVF_CMD_DEVICE_SET_IRQS, REQ, 0, &irq, sizeof(irq), 3),
			    "DEVICE_SET_IRQS index=2 start=1 count=3 action=trigger data=eventfd");
	irq.flags = UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_MASK;
	irq.count = 1;
	assert_string_equal(line_of(UVF_CMD_DEVICE_SET_IRQS, REQ, 0, &irq, sizeof(irq), 0),
			    "DEVICE_SET_IRQS index=2 start=1 count=1 action=mask data=none");

	struct {
		struct uvf_msg_device_feature f;
		struct uvf_msg_feature_migration_state st;
	} set = {{16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE}, {UVF_MIGRATION_STATE_STOP_COPY, 0}};
	assert_string_equal(line_of(UVF_CMD_DEVICE_FEATURE, REQ, 0, &set, sizeof(set), 0),
			    "DEVICE_FEATURE feature=MIG_DEVICE_STATE op=set state=STOP_COPY");

	struct uvf_msg_region_info ri = {.argsz = 32, .index = 7};
	assert_string_equal(line_of(UVF_CMD_DEVICE_GET_REGION_INFO, REQ, 0, &ri, sizeof(ri), 0),
			    "DEVICE_GET_REGION_INFO index=7");

	struct {
		struct uvf_msg_dma_access a;
		uint8_t data[8];
	} dw = {{0xfeed000, 8}, {0}};
	assert_string_equal(line_of(UVF_CMD_DMA_WRITE, REQ, 0, &dw, sizeof(dw), 0),
			    "DMA_WRITE address=0xfeed000 count=8");

	struct {
		struct uvf_msg_version v;
		char json[24];
	} ver = {{0, 0}, "{\"capabilities\":{}}"};
	assert_string_equal(line_of(UVF_CMD_VERSION, REQ, 0, &ver, 4 + strlen(ver.json) + 1, 0),
			    "VERSION major=0 minor=0 caps={\"capabilities\":{}}");
	assert_string_equal(line_of(UVF_CMD_DEVICE_RESET, REQ, 0, NULL, 0, 0), "DEVICE_RESET");
}

static void replies_are_described_from_their_own_bytes(void **state)
{
	(void)state;
	struct uvf_msg_device_info info = {.argsz = 16, .flags = 3, .num_regions = 9, .num_irqs = 5};
	assert_string_equal(line_of(UVF_CMD_DEVICE_GET_INFO, REPLY, 0, &info, sizeof(info), 0),
			    "DEVICE_GET_INFO flags=0x3 regions=9 irqs=5");

	struct uvf_msg_region_info ri = {.argsz = 32,
					 .flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_MMAP,
					 .index = 4,
					 .size = 0x10000,
					 .offset = 0x40000};
	assert_string_equal(line_of(UVF_CMD_DEVICE_GET_REGION_INFO, REPLY, 0, &ri, sizeof(ri), 1),
			    "DEVICE_GET_REGION_INFO index=4 flags=r-m- size=0x10000 offset=0x40000");

	struct uvf_msg_irq_info ii = {.argsz = 16, .flags = 0xb, .index = 1, .count = 4};
	assert_string_equal(line_of(UVF_CMD_DEVICE_GET_IRQ_INFO, REPLY, 0, &ii, sizeof(ii), 0),
			    "DEVICE_GET_IRQ_INFO index=1 flags=0xb count=4");

	struct {
		struct uvf_msg_region_access a;
		uint32_t data;
	} rd = {{0x10, 0, 4}, 0x12345678};
	assert_string_equal(line_of(UVF_CMD_REGION_READ, REPLY, 0, &rd, sizeof(rd), 0),
			    "REGION_READ region=0 offset=0x10 count=4");
	/* a reply whose data does not match its count says so */
	assert_string_equal(line_of(UVF_CMD_REGION_READ, REPLY, 0, &rd, sizeof(rd) - 1, 0),
			    "REGION_READ region=0 offset=0x10 count=4 bad=\"19 payload bytes for 4 data bytes\"");

	struct {
		struct uvf_msg_device_feature f;
		struct uvf_msg_feature_migration_state st;
	} get = {{16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE}, {UVF_MIGRATION_STATE_RUNNING, 0}};
	assert_string_equal(line_of(UVF_CMD_DEVICE_FEATURE, REPLY, 0, &get, sizeof(get), 0),
			    "DEVICE_FEATURE feature=MIG_DEVICE_STATE op=get state=RUNNING");

	struct uvf_msg_region_io_fds io = {.argsz = 56, .index = 0, .count = 1};
	uint8_t io_reply[56] = {0};
	memcpy(io_reply, &io, sizeof(io));
	assert_string_equal(line_of(UVF_CMD_DEVICE_GET_REGION_IO_FDS, REPLY, 0, io_reply, sizeof(io_reply), 1),
			    "DEVICE_GET_REGION_IO_FDS index=0 count=1");
}

static void error_replies_name_their_errno(void **state)
{
	(void)state;
	assert_string_equal(line_of(UVF_CMD_DMA_UNMAP, REPLY | UVF_MSG_FLAG_ERROR, ENOENT, NULL, 0, 0),
			    "DMA_UNMAP error=ENOENT");
	assert_string_equal(line_of(UVF_CMD_REGION_WRITE, REPLY | UVF_MSG_FLAG_ERROR, EINVAL, NULL, 0, 0),
			    "REGION_WRITE error=EINVAL");
	/* no name for it: the number */
	assert_string_equal(line_of(UVF_CMD_REGION_WRITE, REPLY | UVF_MSG_FLAG_ERROR, 4000, NULL, 0, 0),
			    "REGION_WRITE error=4000");

	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	struct uvf_msg_header hdr = {.command = UVF_CMD_DMA_MAP,
				     .msg_size = 16,
				     .flags = UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR,
				     .error = EEXIST};
	assert_int_equal(uvf_wire_describe(&d, &hdr, NULL, 0, 0), 0);
	assert_string_equal(d.kind, "error");
	assert_int_equal(d.error, EEXIST);
	assert_string_equal(d.error_name, "EEXIST");
}

static void bad_payloads_say_what_is_wrong(void **state)
{
	(void)state;
	uint8_t junk[7] = {0};
	assert_string_equal(line_of(UVF_CMD_REGION_READ, REQ, 0, junk, sizeof(junk), 0),
			    "REGION_READ bad=\"7 payload bytes, 16 expected at least\"");

	/* the fields found are kept, the decoder's reason added */
	struct uvf_msg_dma_map map = {.argsz = 32, .flags = UVF_DMA_MAP_FLAG_READ, .address = 0x1001, .size = 0x1000};
	const char *line = line_of(UVF_CMD_DMA_MAP, REQ, 0, &map, sizeof(map), 0);
	assert_non_null(strstr(line, "DMA_MAP iova=0x1001 size=0x1000 offset=0x0 prot=r bad="));

	assert_string_equal(line_of(77, REQ, 0, NULL, 0, 0), "command 77 bad=\"unknown command\"");
	assert_string_equal(line_of(UVF_CMD_RESERVED_14, REQ, 0, NULL, 0, 0), "command 14 bad=\"unknown command\"");

	/* a header that does not fit its payload is refused, as is a short argsz */
	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	struct uvf_msg_header hdr = {.command = UVF_CMD_REGION_READ, .msg_size = 40};
	assert_int_equal(uvf_wire_describe(&d, &hdr, junk, sizeof(junk), 0), -EINVAL);
	d.argsz = sizeof(d) - 1;
	hdr.msg_size = 16 + sizeof(junk);
	assert_int_equal(uvf_wire_describe(&d, &hdr, junk, sizeof(junk), 0), -EINVAL);
}

static void format_cuts_to_the_buffer_and_counts_the_whole(void **state)
{
	(void)state;
	struct uvf_msg_region_access rd = {.offset = 0x1004, .region = 2, .count = 4};
	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	struct uvf_msg_header hdr = {.command = UVF_CMD_REGION_READ, .msg_size = 32};
	char small[12];

	assert_int_equal(uvf_wire_describe(&d, &hdr, &rd, sizeof(rd), 0), 0);
	int n = uvf_wire_format(&d, small, sizeof(small));
	assert_int_equal(n, (int)strlen("REGION_READ region=2 offset=0x1004 count=4"));
	assert_string_equal(small, "REGION_READ");
	assert_int_equal(uvf_wire_format(&d, NULL, 0), n);
}

static void command_names_and_numbers(void **state)
{
	(void)state;
	assert_string_equal(uvf_wire_command_name(UVF_CMD_MIGRATION_DATA_READ), "MIG_DATA_READ");
	assert_null(uvf_wire_command_name(0));
	assert_null(uvf_wire_command_name(14));
	assert_null(uvf_wire_command_name(19));
	assert_int_equal(uvf_wire_command_number("region_write_multi"), UVF_CMD_REGION_WRITE_MULTI);
	assert_int_equal(uvf_wire_command_number("DMA_MAP"), UVF_CMD_DMA_MAP);
	assert_int_equal(uvf_wire_command_number("DIRTY_PAGES"), -ENOENT);
	assert_string_equal(uvf_wire_errno_name(ENOTSUP), "EOPNOTSUPP");
	assert_null(uvf_wire_errno_name(0));
	assert_null(uvf_wire_errno_name(-1));
}

/* ------------------------------------------------------------------ */
/* Messages with fds                                                    */
/* ------------------------------------------------------------------ */

struct pair {
	struct uvf_wire *a, *b;
	int fds_before;
};

static int pair_setup(void **state)
{
	static struct pair p;
	int sv[2];

	p.fds_before = count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(uvf_wire_from_fd(&p.a, sv[0]), 0);
	assert_int_equal(uvf_wire_from_fd(&p.b, sv[1]), 0);
	*state = &p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	uvf_wire_close(p->a);
	uvf_wire_close(p->b);
	assert_int_equal(count_fds(), p->fds_before);
	return 0;
}

/* Receive one message on w, waiting up to 2 s. */
static int recv_wait(struct uvf_wire *w, struct uvf_wire_msg *m)
{
	struct pollfd pfd = {.fd = uvf_wire_fd(w), .events = POLLIN};
	int rc;

	for (int i = 0; i < 200; i++) {
		rc = uvf_wire_recv(w, m);
		if (rc != 0)
			return rc;
		poll(&pfd, 1, 10);
	}
	return 0;
}

static void a_message_and_its_fds_arrive_whole(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_dma_map map = {.argsz = 32, .flags = 3, .address = 0x1000, .size = 0x1000};
	struct uvf_msg_header hdr = {.msg_id = 5, .command = UVF_CMD_DMA_MAP, .msg_size = 48};
	int efd = eventfd(7, EFD_CLOEXEC);
	struct uvf_wire_msg m;
	uint64_t v = 0;
	int got;

	assert_int_equal(uvf_wire_send(p->a, &hdr, &map, sizeof(map), &efd, 1), 0);
	close(efd);
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_int_equal(m.hdr.msg_id, 5);
	assert_int_equal(m.hdr.command, UVF_CMD_DMA_MAP);
	assert_int_equal(m.len, sizeof(map));
	assert_memory_equal(m.payload, &map, sizeof(map));
	assert_int_equal(m.nfds, 1);
	assert_false(m.fds_overflow);
	/* the fd is the eventfd: its counter came along */
	assert_int_equal(uvf_wire_take_fds(p->b, &got, 1), 1);
	assert_int_equal(read(got, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 7);
	close(got);
	assert_int_equal(uvf_wire_recv(p->b, &m), 0);
}

static void messages_come_apart_from_one_read_and_together_from_pieces(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_header h1 = {.msg_id = 1, .command = UVF_CMD_DEVICE_RESET, .msg_size = 16};
	struct {
		struct uvf_msg_header hdr;
		uint32_t word;
	} h2 = {{.msg_id = 2, .command = UVF_CMD_REGION_WRITE, .msg_size = 20}, 0xabcd};
	uint8_t both[36];
	struct uvf_wire_msg m;
	int a = uvf_wire_fd(p->a);

	memcpy(both, &h1, 16);
	memcpy(both + 16, &h2, 20);
	/* two messages in one write */
	assert_int_equal(send(a, both, sizeof(both), 0), (ssize_t)sizeof(both));
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_int_equal(m.hdr.msg_id, 1);
	assert_int_equal(m.len, 0);
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_int_equal(m.hdr.msg_id, 2);
	assert_int_equal(m.len, 4);
	/* one message in three writes */
	assert_int_equal(send(a, both + 16, 5, 0), 5);
	assert_int_equal(uvf_wire_recv(p->b, &m), 0);
	assert_int_equal(send(a, both + 21, 13, 0), 13);
	assert_int_equal(uvf_wire_recv(p->b, &m), 0);
	assert_int_equal(send(a, both + 34, 2, 0), 2);
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_int_equal(m.hdr.msg_id, 2);
	assert_memory_equal(m.payload, &h2.word, 4);
}

static void fds_not_taken_are_closed_with_their_message(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_header hdr = {.msg_id = 3, .command = UVF_CMD_DEVICE_SET_IRQS, .msg_size = 16};
	int efds[3];
	struct uvf_wire_msg m;

	for (int i = 0; i < 3; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(uvf_wire_send(p->a, &hdr, NULL, 0, efds, 3), 0);
	for (int i = 0; i < 3; i++)
		close(efds[i]);
	int before = count_fds();
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_int_equal(m.nfds, 3);
	assert_int_equal(count_fds(), before + 3);
	/* the next receive releases the message */
	assert_int_equal(uvf_wire_recv(p->b, &m), 0);
	assert_int_equal(count_fds(), before);
}

static void too_many_fds_are_closed_and_flagged(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_header hdr = {.msg_id = 4, .command = UVF_CMD_DEVICE_SET_IRQS, .msg_size = 16};
	int efds[70];
	struct uvf_wire_msg m;

	for (int i = 0; i < 70; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(uvf_wire_send(p->a, &hdr, NULL, 0, efds, 70), 0);
	for (int i = 0; i < 70; i++)
		close(efds[i]);
	assert_int_equal(recv_wait(p->b, &m), 1);
	assert_true(m.fds_overflow);
	assert_int_equal(m.nfds, UVF_WIRE_MAX_FDS);
}

static void broken_framing_ends_the_connection_with_a_reason(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_header big = {.msg_id = 6, .command = UVF_CMD_REGION_WRITE, .msg_size = 4096};
	struct uvf_wire_msg m;

	assert_int_equal(uvf_wire_set_limits(p->b, 1024, 100), 0);
	assert_int_equal(send(uvf_wire_fd(p->a), &big, sizeof(big), 0), 16);
	assert_int_equal(recv_wait(p->b, &m), -EMSGSIZE);
	assert_string_equal(uvf_wire_why(p->b), "REGION_WRITE id 6: msg_size 4096 above the limit 1024");

	assert_int_equal(uvf_wire_set_limits(p->b, 8, 100), -EINVAL);
	assert_int_equal(uvf_wire_set_limits(p->b, 16, -2), -EINVAL);
}

static void short_messages_and_bad_sends_are_refused(void **state)
{
	struct pair *p = *state;
	struct uvf_msg_header hdr = {.msg_id = 7, .command = UVF_CMD_VERSION, .msg_size = 20, .flags = 0x1234};
	struct uvf_wire_msg m;
	uint8_t four[4] = {0};

	/* msg_size must match the payload */
	assert_int_equal(uvf_wire_send(p->a, &hdr, four, 3, NULL, 0), -EINVAL);
	assert_string_equal(uvf_wire_send_why(p->a), "msg_size 20 does not match a 3-byte payload");
	assert_string_equal(uvf_wire_why(p->a), "");
	/* unknown flag bits break framing */
	assert_int_equal(uvf_wire_send(p->a, &hdr, four, 4, NULL, 0), 0);
	assert_int_equal(recv_wait(p->b, &m), -EPROTO);
	assert_non_null(strstr(uvf_wire_why(p->b), "VERSION id 7"));

	/* EOF in the middle of a message */
	struct uvf_wire *c, *d;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(uvf_wire_from_fd(&c, sv[0]), 0);
	assert_int_equal(uvf_wire_from_fd(&d, sv[1]), 0);
	hdr.flags = 0;
	assert_int_equal(send(uvf_wire_fd(c), &hdr, 16, 0), 16);
	uvf_wire_close(c);
	assert_int_equal(recv_wait(d, &m), -ECONNRESET);
	assert_string_equal(uvf_wire_why(d), "connection closed after 0 of 4 body bytes");
	uvf_wire_close(d);

	/* something that is not a stream socket */
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(uvf_wire_from_fd(&c, pipefd[0]), -ENOTSOCK);
	close(pipefd[1]);
	assert_int_equal(uvf_wire_connect(&c, "/nonexistent/uvf-wire.sock"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_are_described_by_their_fields),
		cmocka_unit_test(replies_are_described_from_their_own_bytes),
		cmocka_unit_test(error_replies_name_their_errno),
		cmocka_unit_test(bad_payloads_say_what_is_wrong),
		cmocka_unit_test(format_cuts_to_the_buffer_and_counts_the_whole),
		cmocka_unit_test(command_names_and_numbers),
		cmocka_unit_test_setup_teardown(a_message_and_its_fds_arrive_whole, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(messages_come_apart_from_one_read_and_together_from_pieces, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(fds_not_taken_are_closed_with_their_message, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(too_many_fds_are_closed_and_flagged, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(broken_framing_ends_the_connection_with_a_reason, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(short_messages_and_bad_sends_are_refused, pair_setup, pair_teardown),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
