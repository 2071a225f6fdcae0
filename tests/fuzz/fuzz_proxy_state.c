/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: what uvf-proxy keeps of a session for a restarted server
 * (tools/proxy/state.c), fed requests and the replies a hostile server
 * may send them. Input, repeated to the end:
 *
 *   command:u8 flags:u8 nfds:u8 len:u16 payload[len]      the request
 *   rflags:u8 rnfds:u8 rlen:u16 rpayload[rlen]            its reply
 *
 * flags bit 0: the request is posted (NO_REPLY; no reply read); rflags
 * bit 0: an error reply. nfds and rnfds (% 5) eventfds go with them. At
 * the end the state is destroyed and no fd may be left open.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "proxy/proxy.h"
#include "proxy/state.h"

/* What tools/proxy/main.c gives the rest of the proxy. */
void proxy_log(const char *fmt, ...)
{
	(void)fmt;
}

uint64_t proxy_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t open_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	return n;
}

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct proxy_state st;
	int before = fuzz_count_fds();

	proxy_state_init(&st);
	while (in.left) {
		uint8_t command = fuzz_u8(&in), flags = fuzz_u8(&in);
		size_t nfds = fuzz_u8(&in) % 5, len, rlen;
		const uint8_t *bytes = fuzz_bytes(&in, fuzz_u16(&in), &len);
		struct uvf_wire_msg m = {.hdr = {.command = command, .msg_size = (uint32_t)(16 + len)}};
		int fds[4], rfds[4];
		struct proxy_msg *req;

		m.payload = bytes;
		m.len = len;
		m.fds = fds;
		m.nfds = open_fds(fds, nfds);
		if (flags & 1)
			m.hdr.flags = UVF_MSG_FLAG_NO_REPLY;
		req = proxy_msg_copy(&m, 1, 0);
		close_fds(fds, nfds);
		if (!req)
			abort();
		if (flags & 1) {
			proxy_state_posted(&st, req);
		} else {
			uint8_t rflags = fuzz_u8(&in);
			size_t rnfds = fuzz_u8(&in) % 5;
			const uint8_t *rbytes = fuzz_bytes(&in, fuzz_u16(&in), &rlen);
			uint8_t *copy = malloc(rlen ? rlen : 1); /* exactly its length, for ASan */
			struct uvf_wire_msg reply = {
				.hdr = {.command = command,
					.msg_size = (uint32_t)(16 + rlen),
					.flags = UVF_MSG_TYPE_REPLY | ((rflags & 1) ? UVF_MSG_FLAG_ERROR : 0)},
				.len = rlen,
				.fds = rfds,
			};

			if (!copy)
				abort();
			memcpy(copy, rbytes, rlen);
			reply.payload = rlen ? copy : NULL;
			reply.nfds = open_fds(rfds, rnfds);
			proxy_state_reply(&st, req, &reply);
			close_fds(rfds, rnfds);
			free(copy);
		}
		proxy_msg_put(req);
	}
	proxy_state_destroy(&st);
	fuzz_check_fds(before, "fuzz_proxy_state");
	return 0;
}
