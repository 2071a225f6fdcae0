/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous DMA: the device keeps answering the client while its
 * message-based DMA is in flight. This is the situation of a guest that
 * polls a status register while the VMM must serve the device's DMA_READ:
 * a device that waited for the DMA reply before answering the poll would
 * deadlock with such a client.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"

static struct harness g_h;

static int setup(void **state)
{
	struct uvf_device *dev;
	harness_prepare(&g_h);
	struct uvf_dmatest *dmatest;
	assert_int_equal(uvf_dmatest_create(&dmatest), 0);
	dev = uvf_dmatest_device(dmatest);
	harness_start(&g_h, dev, NULL);
	*state = &g_h;
	return 0;
}

static int teardown(void **state)
{
	harness_stop(*state);
	return 0;
}

/* Read exactly one whole message from a raw socket. */
static void read_msg(int s, struct uvf_msg_header *hdr, void *body, size_t cap)
{
	size_t got = 0;
	while (got < sizeof(*hdr)) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t n = recv(s, (char *)hdr + got, sizeof(*hdr) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	size_t len = hdr->msg_size - 16;
	assert_true(len <= cap);
	for (got = 0; got < len;) {
		ssize_t n = recv(s, (char *)body + got, len - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void send_msg(int s, uint16_t id, uint16_t cmd, uint32_t flags, const void *p1, size_t l1, const void *p2,
		     size_t l2)
{
	struct uvf_msg_header h = {.msg_id = id, .command = cmd, .msg_size = (uint32_t)(16 + l1 + l2), .flags = flags};
	struct iovec iov[3] = {{&h, 16}, {(void *)p1, l1}, {(void *)p2, l2}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)(16 + l1 + l2));
}

static void reg_write(int s, uint16_t id, uint32_t reg, uint32_t v, bool posted)
{
	struct uvf_msg_region_access a = {.offset = reg, .region = 0, .count = 4};
	send_msg(s, id, UVF_CMD_REGION_WRITE, posted ? UVF_MSG_FLAG_NO_REPLY : 0, &a, 16, &v, 4);
	if (!posted) {
		struct uvf_msg_header h;
		uint8_t body[64];
		read_msg(s, &h, body, sizeof(body));
		assert_int_equal(h.msg_id, id);
		assert_false(h.flags & UVF_MSG_FLAG_ERROR);
	}
}

static void map_by_message(int s, uint16_t id, uint64_t addr, uint64_t size)
{
	struct uvf_msg_dma_map m = {
		.argsz = 32, .flags = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, .address = addr, .size = size};
	uint8_t reply[16];
	assert_int_equal(harness_raw_call(s, id, UVF_CMD_DMA_MAP, 0, &m, 32, reply, sizeof(reply), NULL), 0);
}

static void device_answers_reads_while_its_dma_read_is_unanswered(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	static uint8_t guest[8192];
	struct uvf_msg_header hdr;
	static uint8_t body[70000];

	assert_int_equal(harness_raw_version(s), 0);
	map_by_message(s, 1, 0x10000, sizeof(guest));
	for (size_t i = 0; i < 4096; i++)
		guest[i] = (uint8_t)(i * 7 + 3);

	reg_write(s, 2, UVF_DMATEST_REG_SRC_LO, 0x10000, false);
	reg_write(s, 3, UVF_DMATEST_REG_DST_LO, 0x11000, false);
	reg_write(s, 4, UVF_DMATEST_REG_LEN, 4096, false);
	reg_write(s, 5, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_COPY, true); /* posted, as QEMU does */

	/* the device asks for the source */
	read_msg(s, &hdr, body, sizeof(body));
	assert_int_equal(hdr.command, UVF_CMD_DMA_READ);
	assert_int_equal(hdr.flags & UVF_MSG_TYPE_BITS, UVF_MSG_TYPE_COMMAND);
	struct uvf_msg_dma_access req;
	memcpy(&req, body, 16);
	assert_int_equal(req.address, 0x10000);
	assert_int_equal(req.count, 4096);

	/* before answering, poll the device like a guest would: it answers,
	 * and shows the command still running */
	struct uvf_msg_region_access a = {.offset = UVF_DMATEST_REG_CMD, .region = 0, .count = 8};
	uint8_t reply[64];
	size_t rlen;
	assert_int_equal(harness_raw_call(s, 6, UVF_CMD_REGION_READ, 0, &a, 16, reply, sizeof(reply), &rlen), 0);
	uint32_t cmd, status;
	memcpy(&cmd, reply + 16, 4);
	assert_int_equal(cmd, UVF_DMATEST_CMD_COPY); /* busy */
	a.offset = UVF_DMATEST_REG_CMD_COUNT;
	a.count = 4;
	uint32_t count = 99;
	assert_int_equal(harness_raw_call(s, 7, UVF_CMD_REGION_READ, 0, &a, 16, reply, sizeof(reply), &rlen), 0);
	memcpy(&count, reply + 16, 4);
	assert_int_equal(count, 0);

	/* now serve the read; the device then writes the destination */
	send_msg(s, hdr.msg_id, UVF_CMD_DMA_READ, UVF_MSG_TYPE_REPLY, &req, 16, guest, 4096);
	read_msg(s, &hdr, body, sizeof(body));
	assert_int_equal(hdr.command, UVF_CMD_DMA_WRITE);
	memcpy(&req, body, 16);
	assert_int_equal(req.address, 0x11000);
	assert_int_equal(req.count, 4096);
	memcpy(guest + 4096, body + 16, 4096);
	send_msg(s, hdr.msg_id, UVF_CMD_DMA_WRITE, UVF_MSG_TYPE_REPLY, &req, 16, NULL, 0);
	assert_memory_equal(guest, guest + 4096, 4096);

	/* done: the count moved, the status is 0, CMD reads 0 */
	a.offset = UVF_DMATEST_REG_CMD;
	a.count = 16;
	assert_int_equal(harness_raw_call(s, 8, UVF_CMD_REGION_READ, 0, &a, 16, reply, sizeof(reply), &rlen), 0);
	memcpy(&cmd, reply + 16, 4);
	memcpy(&status, reply + 16 + 4, 4);
	memcpy(&count, reply + 16 + 12, 4);
	assert_int_equal(cmd, 0);
	assert_int_equal(status, 0);
	assert_int_equal(count, 1);
	close(s);
}

static void dma_error_reply_ends_the_command_with_its_errno(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	struct uvf_msg_header hdr;
	static uint8_t body[70000];
	uint8_t reply[64];
	size_t rlen;

	assert_int_equal(harness_raw_version(s), 0);
	map_by_message(s, 1, 0x10000, 0x2000);
	reg_write(s, 2, UVF_DMATEST_REG_DST_LO, 0x10000, false);
	reg_write(s, 3, UVF_DMATEST_REG_LEN, 100, false);
	reg_write(s, 4, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_FILL, true);
	read_msg(s, &hdr, body, sizeof(body));
	assert_int_equal(hdr.command, UVF_CMD_DMA_WRITE);
	/* the client refuses: the device reports the errno */
	struct uvf_msg_header err = {.msg_id = hdr.msg_id, .command = UVF_CMD_DMA_WRITE, .msg_size = 16,
				     .flags = UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR, .error = EPERM};
	assert_int_equal(send(s, &err, 16, MSG_NOSIGNAL), 16);
	struct uvf_msg_region_access a = {.offset = UVF_DMATEST_REG_STATUS, .region = 0, .count = 4};
	uint32_t status = 0;
	assert_int_equal(harness_raw_call(s, 5, UVF_CMD_REGION_READ, 0, &a, 16, reply, sizeof(reply), &rlen), 0);
	memcpy(&status, reply + 16, 4);
	assert_int_equal(status, EPERM);
	close(s);
}

static void client_leaving_mid_transfer_ends_it_and_the_next_client_is_served(void **state)
{
	struct harness *h = *state;
	int s = harness_raw_connect(h);
	struct uvf_msg_header hdr;
	static uint8_t body[70000];

	assert_int_equal(harness_raw_version(s), 0);
	map_by_message(s, 1, 0x10000, 0x2000);
	reg_write(s, 2, UVF_DMATEST_REG_DST_LO, 0x10000, false);
	reg_write(s, 3, UVF_DMATEST_REG_LEN, 100, false);
	reg_write(s, 4, UVF_DMATEST_REG_CMD, UVF_DMATEST_CMD_FILL, true);
	read_msg(s, &hdr, body, sizeof(body));
	assert_int_equal(hdr.command, UVF_CMD_DMA_WRITE);
	close(s); /* never answers */

	/* a new client finds the device idle again with the failure recorded */
	struct uvf_client *c = harness_connect(h);
	uint32_t regs[4];
	assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_CMD, regs, sizeof(regs)), 0);
	assert_int_equal(regs[0], 0);       /* CMD: idle */
	assert_int_equal(regs[1], ENOTCONN); /* STATUS */
	assert_int_equal(regs[3], 1);       /* CMD_COUNT */
	uvf_client_close(c);
}

static void our_client_serves_message_dma_while_polling(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	size_t size = 512 * 1024;
	uint8_t *mem = calloc(1, size);
	assert_non_null(mem);
	for (size_t i = 0; i < size / 2; i++)
		mem[i] = (uint8_t)(i ^ (i >> 8));
	assert_int_equal(uvf_client_dma_register(c, 0x40000000, mem, size,
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	uint32_t job[5] = {0x40000000, 0, 0x40000000 + (uint32_t)(size / 2), 0, (uint32_t)(size / 2)};
	assert_int_equal(uvf_client_region_write(c, 0, UVF_DMATEST_REG_SRC_LO, job, sizeof(job)), 0);
	uint32_t go = UVF_DMATEST_CMD_COPY, count = 0;
	assert_int_equal(uvf_client_region_write(c, 0, UVF_DMATEST_REG_CMD, &go, 4), 0);
	for (int i = 0; i < 1000 && count == 0; i++)
		assert_int_equal(uvf_client_region_read(c, 0, UVF_DMATEST_REG_CMD_COUNT, &count, 4), 0);
	assert_int_equal(count, 1);
	assert_memory_equal(mem, mem + size / 2, size / 2);
	assert_int_equal(uvf_client_dma_unregister(c, 0x40000000, size), 0);
	uvf_client_close(c);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(device_answers_reads_while_its_dma_read_is_unanswered, setup, teardown),
		cmocka_unit_test_setup_teardown(dma_error_reply_ends_the_command_with_its_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(client_leaving_mid_transfer_ends_it_and_the_next_client_is_served,
						setup, teardown),
		cmocka_unit_test_setup_teardown(our_client_serves_message_dma_while_polling, setup, teardown),
	};
	return cmocka_run_group_tests_name("dma_async", tests, NULL, NULL);
}
