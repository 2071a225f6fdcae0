/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the server's message handling as a whole. A fresh device
 * (fuzz_common.c: callback, memory, mappable and I/O BARs, INTx/MSI/MSI-X,
 * PM, PCI Express, vendor and extended capabilities, ioeventfds, DMA from
 * BAR 0) is served on one thread with uvf_device_dispatch(); the input is
 * cut into chunks written to the client end of its connection, each chunk
 * possibly carrying fds:
 *
 *   chunk := ctl:u8 len:u16 bytes[len]    (len clamped to 4096 and the input)
 *   ctl bits 0-2: kind of the fds attached (fuzz_make_fd)
 *   ctl bits 3-4: how many: 0, 1, 2 or 5
 *   ctl bit 5:    do not dispatch after this chunk (several chunks then
 *                 arrive at once: read-ahead, split messages, queueing)
 *
 * The server's replies (and the fds in them) are read and dropped. The
 * device's DMA waits are 5 ms, so a command that starts a DMA the stream
 * never answers costs little. At the end the client hangs up, the device is
 * freed, and no fd or byte may be left behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzz_common.h"

#define MAX_CHUNK 4096u
#define MAX_PEERS 64

/* Read and drop everything the server sent; close fds that came with it. */
static void drain(int sock)
{
	static uint8_t buf[65536];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;

	for (;;) {
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfds; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
	}
}

static void serve(struct uvf_device *dev, int sock, const int *peers, int npeers)
{
	for (int round = 0; round < 3; round++) {
		uvf_device_dispatch(dev);
		drain(sock);
		for (int i = 0; i < npeers; i++)
			drain(peers[i]); /* e.g. DMA requests on a twin socket */
	}
}

/* Send bytes with fds attached to the first one; when the socket is full,
 * let the device read some and retry (bounded). */
static void send_chunk(struct uvf_device *dev, int sock, const uint8_t *p, size_t len, const int *fds, size_t nfds,
		       const int *peers, int npeers)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	int tries = 0;

	while (len && tries < 20) {
		struct iovec iov = {(void *)p, len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		if (nfds) {
			memset(&ctl, 0, sizeof(ctl));
			msg.msg_control = ctl.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ssize_t n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return; /* the server hung up */
			serve(dev, sock, peers, npeers);
			tries++;
			continue;
		}
		nfds = 0; /* they went with the first byte */
		p += n;
		len -= (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_device_state state;
	struct fuzz_in in = {data, size};
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	int peers[MAX_PEERS], npeers = 0;

	int lfd = fuzz_listen_fd();
	int fds_before = fuzz_count_fds();
	struct uvf_device *dev = fuzz_device_new(&state);
	opts.max_data_xfer_size = 1024; /* replies stay small next to the socket buffer */
	opts.max_msg_fds = 8;
	opts.max_dma_maps = 16;
	opts.dma_timeout_ms = 5;
	int dfd = dup(lfd);
	if (dfd < 0 || uvf_device_listen_fd(dev, dfd, &opts) < 0)
		abort();
	int sock = fuzz_connect();
	if (sock < 0)
		abort();
	uvf_device_dispatch(dev); /* accept */

	while (in.left) {
		uint8_t ctl = fuzz_u8(&in);
		size_t len = fuzz_u16(&in) % (MAX_CHUNK + 1);
		static const size_t counts[4] = {0, 1, 2, 5};
		size_t nfds = counts[(ctl >> 3) & 3];
		int fds[8];
		size_t made = 0;
		const uint8_t *p = fuzz_bytes(&in, len, &len);

		if (nfds && !len)
			nfds = 0; /* fds need a byte to travel with */
		for (size_t i = 0; i < nfds; i++) {
			int peer;
			int fd = fuzz_make_fd(ctl & 7u, &peer);
			if (fd < 0)
				break;
			fds[made++] = fd;
			if (peer >= 0) {
				if (npeers < MAX_PEERS)
					peers[npeers++] = peer;
				else
					close(peer);
			}
		}
		send_chunk(dev, sock, p, len, fds, made, peers, npeers);
		for (size_t i = 0; i < made; i++)
			close(fds[i]); /* the server has its own copies */
		if (!(ctl & 0x20))
			serve(dev, sock, peers, npeers);
	}
	serve(dev, sock, peers, npeers);

	/* hang up, let the device notice, then free it */
	close(sock);
	uvf_device_dispatch(dev);
	uvf_device_free(dev);
	for (int i = 0; i < npeers; i++)
		close(peers[i]);
	if (state.async_pending)
		abort(); /* every asynchronous transfer must end with its callback */
	fuzz_check_fds(fds_before, "fuzz_server_stream");
	return 0;
}
