/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the client engine's handling of replies and of the
 * server's own requests. A fixed VMM workload (connect and VERSION, device,
 * region and IRQ info, DMA registration, region reads and writes, fast-path
 * set-up with mappings and ioeventfds, posted and corked writes, IRQ
 * eventfds, reset, raw calls) runs against a fake server whose every move
 * is scripted by the input:
 *
 *   byte 0: workload options (bit 0 no twin socket, bit 1 no posted writes,
 *           bit 2 the migration calls first: features, state, STOP_COPY,
 *           MIG_DATA_READ, RESUMING, MIG_DATA_WRITE, DMA logging start,
 *           report and stop)
 *   then steps := ctl:u8 len:u16 bytes[len]     (len clamped to 8192)
 *   ctl bits 0-1: 0 wait for the client's next message, then send bytes
 *                 1 send bytes now (e.g. a DMA_READ/DMA_WRITE request)
 *                 2 wait for the next message and send nothing
 *                 3 hang up
 *   ctl bit 2:    patch id and command of the sent header from the last
 *                 message received, and mark it a reply
 *   ctl bit 3:    patch msg_size to the bytes sent
 *   ctl bits 4-5: fds attached: none, a memfd (bit 6: 64 KiB, else 4 KiB),
 *                 an eventfd, two eventfds (bit 6: one end of a socket
 *                 pair instead, e.g. a twin socket; we keep the other)
 *
 * One thread, and time is the target's. The fake server is a state
 * machine run inside the client's own waits: the target defines poll,
 * recvmsg, sendmsg, clock_gettime and nanosleep for the whole program
 * (outside an input, and in other threads, they are the plain system
 * calls). Before the client reads, the server runs its script as far as
 * it can without blocking (it is infinitely fast); when the client would
 * wait and the server has nothing more to do until the client's next
 * message, the wait ends at once as a timeout, with the client's clock
 * (which otherwise stands still) moved past the deadline. An unanswered
 * request costs no real time, and the path an input takes depends on its
 * bytes alone, not on scheduling or the machine's load.
 *
 * At the end of the script the fake server hangs up; everything the client
 * holds must be released by uvf_client_close() (fds are counted).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "uvf/client.h"

#define MAX_STEP	  8192u
#define CLIENT_TIMEOUT_MS 20

/* ------------------------------------------------------------------ */
/* The fake server                                                      */
/* ------------------------------------------------------------------ */

static char sock_dir[64], sock_path[100];
static int listen_sock = -1;

static void cleanup(void)
{
	unlink(sock_path);
	rmdir(sock_dir);
}

static void setup(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	snprintf(sock_dir, sizeof(sock_dir), "/tmp/uvf-fuzz-XXXXXX");
	if (!mkdtemp(sock_dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", sock_dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
	listen_sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_sock < 0 || bind(listen_sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_sock, 4) < 0)
		abort();
	atexit(cleanup);
}

static ssize_t real_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return syscall(SYS_recvmsg, fd, msg, flags);
}

static ssize_t real_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return syscall(SYS_sendmsg, fd, msg, flags);
}

static int real_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
	return (int)syscall(SYS_ppoll, fds, n, timeout_ms < 0 ? NULL : &ts, NULL, (size_t)8);
}

enum srv_state { SRV_IDLE, SRV_ACCEPT, SRV_RUN, SRV_DRAIN };

static struct server {
	enum srv_state state;
	struct fuzz_in in;
	int sock, twin_peer;
	struct uvf_msg_header last; /* the client's latest message */
	/* the client's message being read: header, then body to skip */
	uint8_t hdr[sizeof(struct uvf_msg_header)];
	size_t hdr_got, body_left;
	/* the step under way: waiting for a message (wait), then sending */
	bool have_step, wait;
	uint8_t ctl;
	uint8_t out[MAX_STEP];
	size_t out_len, out_off;
	int fds[2];
	size_t nfds;
} srv = {.state = SRV_IDLE, .sock = -1, .twin_peer = -1};

static void close_cmsg_fds(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* Read up to len bytes that are there (fds that come along are closed):
 * the count, 0 when none are, -1 on EOF or error. */
static ssize_t srv_read(void *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = real_recvmsg(srv.sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n > 0)
		close_cmsg_fds(&msg);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n == 0 ? -1 : n;
}

/* Read what is there of the client's next message: 1 once it is in (its
 * header in srv.last, body dropped), 0 if more is to come, -1 on EOF,
 * error or a size out of bounds. */
static int srv_read_request(void)
{
	static uint8_t body[65536];

	while (srv.hdr_got < sizeof(srv.hdr)) {
		ssize_t n = srv_read(srv.hdr + srv.hdr_got, sizeof(srv.hdr) - srv.hdr_got);
		if (n <= 0)
			return (int)n;
		srv.hdr_got += (size_t)n;
		if (srv.hdr_got == sizeof(srv.hdr)) {
			memcpy(&srv.last, srv.hdr, sizeof(srv.last));
			if (srv.last.msg_size < sizeof(srv.hdr) || srv.last.msg_size > (8u << 20))
				return -1;
			srv.body_left = srv.last.msg_size - sizeof(srv.hdr);
		}
	}
	while (srv.body_left) {
		ssize_t n = srv_read(body, srv.body_left < sizeof(body) ? srv.body_left : sizeof(body));
		if (n <= 0)
			return (int)n;
		srv.body_left -= (size_t)n;
	}
	srv.hdr_got = 0;
	return 1;
}

static void srv_drop_fds(void)
{
	for (size_t i = 0; i < srv.nfds; i++)
		close(srv.fds[i]);
	srv.nfds = 0;
}

/* The fds of a step (ctl bits 4-6), kept until the first byte goes. */
static void srv_make_fds(uint8_t ctl)
{
	int kind = (ctl >> 4) & 3;
	int made[2], n = 0;

	if (kind == 1)
		made[n++] = fuzz_make_fd((ctl & 0x40) ? 2 : 1, &(int){0});
	else if (kind == 3 && (ctl & 0x40) && srv.twin_peer < 0)
		made[n++] = fuzz_make_fd(4, &srv.twin_peer);
	else if (kind >= 2)
		for (int i = 0; i < kind - 1; i++)
			made[n++] = eventfd(0, EFD_CLOEXEC);
	srv.nfds = 0;
	for (int i = 0; i < n; i++)
		if (made[i] >= 0)
			srv.fds[srv.nfds++] = made[i];
	if ((int)srv.nfds < n)
		srv_drop_fds(); /* out of fds: send none */
}

/* Send what is left of the step: true once all of it went (or the client
 * is gone), false while the client's socket is full. */
static bool srv_flush(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} cm;

	while (srv.out_off < srv.out_len) {
		struct iovec iov = {srv.out + srv.out_off, srv.out_len - srv.out_off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (srv.nfds) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * srv.nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * srv.nfds);
			memcpy(CMSG_DATA(c), srv.fds, sizeof(int) * srv.nfds);
		}
		ssize_t n = real_sendmsg(srv.sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		srv_drop_fds(); /* the client has its own copies */
		if (n <= 0)
			break; /* the client left */
		srv.out_off += (size_t)n;
	}
	srv.out_len = srv.out_off = 0;
	srv_drop_fds();
	return true;
}

static void srv_hang_up(void)
{
	shutdown(srv.sock, SHUT_WR);
	srv.state = SRV_DRAIN;
}

/* Queue the step's bytes, patched as ctl says. */
static void srv_queue(const uint8_t *p, size_t len)
{
	memcpy(srv.out, p, len);
	if (len >= sizeof(struct uvf_msg_header)) {
		struct uvf_msg_header hdr;
		memcpy(&hdr, srv.out, sizeof(hdr));
		if (srv.ctl & 4) {
			hdr.msg_id = srv.last.msg_id;
			hdr.command = srv.last.command;
			hdr.flags = (hdr.flags & ~UVF_MSG_TYPE_BITS) | UVF_MSG_TYPE_REPLY;
		}
		if (srv.ctl & 8)
			hdr.msg_size = (uint32_t)len;
		memcpy(srv.out, &hdr, sizeof(hdr));
	}
	srv.out_len = len;
	srv.out_off = 0;
	if (len)
		srv_make_fds(srv.ctl);
}

/* One move of the script; false when the server cannot move until the
 * client does something. */
static bool srv_step(void)
{
	static const uint8_t *step_bytes;
	static size_t step_len;

	switch (srv.state) {
	case SRV_IDLE:
		return false;
	case SRV_ACCEPT:
		srv.sock = accept4(listen_sock, NULL, NULL, SOCK_CLOEXEC);
		if (srv.sock < 0)
			return false; /* not connected yet */
		srv.state = SRV_RUN;
		return true;
	case SRV_DRAIN: {
		/* keep reading until the client closes, so it sees our bytes */
		static uint8_t sink[65536];
		return srv_read(sink, sizeof(sink)) > 0;
	}
	case SRV_RUN:
		break;
	}
	if (srv.out_len)
		return srv_flush();
	if (!srv.have_step) {
		if (!srv.in.left) {
			srv_hang_up();
			return true;
		}
		srv.ctl = fuzz_u8(&srv.in);
		step_len = fuzz_u16(&srv.in) % (MAX_STEP + 1);
		step_bytes = fuzz_bytes(&srv.in, step_len, &step_len);
		if ((srv.ctl & 3) == 3) {
			srv_hang_up();
			return true;
		}
		srv.have_step = true;
		srv.wait = (srv.ctl & 3) != 1;
	}
	if (srv.wait) {
		int rc = srv_read_request();
		if (rc < 0) {
			srv_hang_up();
			return true;
		}
		if (rc == 0)
			return false;
		srv.wait = false;
	}
	srv.have_step = false;
	if ((srv.ctl & 3) != 2)
		srv_queue(step_bytes, step_len);
	return true;
}

/* Run the server as far as it goes without the client: whether it moved. */
static bool srv_run(void)
{
	bool moved = false;
	while (srv_step())
		moved = true;
	return moved;
}

static void srv_start(const uint8_t *data, size_t size)
{
	srv = (struct server){.state = SRV_ACCEPT, .in = {data, size}, .sock = -1, .twin_peer = -1};
}

static void srv_stop(void)
{
	int fd;

	if (srv.state == SRV_ACCEPT) /* a connection the client gave up */
		while ((fd = accept4(listen_sock, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
	srv_drop_fds();
	if (srv.sock >= 0)
		close(srv.sock);
	if (srv.twin_peer >= 0)
		close(srv.twin_peer);
	srv = (struct server){.state = SRV_IDLE, .sock = -1, .twin_peer = -1};
}

/* ------------------------------------------------------------------ */
/* The client's clock and waits                                         */
/* ------------------------------------------------------------------ */

/* The client's CLOCK_MONOTONIC: it moves only when a wait times out. */
static int64_t client_ms = 1000000;

/* The thread running the inputs. libFuzzer has others (its RSS watch
 * sleeps in nanosleep): they get the plain system calls. */
static __thread bool input_thread;

/* Outside an input, the system calls; during one (srv.state not idle),
 * the server runs first, and a wait it cannot end is a timeout. */
static bool in_input(void)
{
	return input_thread && srv.state != SRV_IDLE;
}

/* Wait for fds (a poll of the client's): their count, or 0 after the
 * clock moved by wait_ms (the client's timeout when wait_ms < 0). */
static int client_wait(struct pollfd *fds, nfds_t n, int wait_ms)
{
	for (;;) {
		int r = real_poll(fds, n, 0);
		if (r != 0)
			return r;
		if (!srv_run()) {
			client_ms += wait_ms >= 0 ? wait_ms : CLIENT_TIMEOUT_MS + 1;
			return 0;
		}
	}
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (in_input() && id == CLOCK_MONOTONIC) {
		ts->tv_sec = client_ms / 1000;
		ts->tv_nsec = (long)(client_ms % 1000) * 1000000;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (in_input()) {
		client_ms += req->tv_sec * 1000 + req->tv_nsec / 1000000;
		srv_run();
		return 0;
	}
	return (int)syscall(SYS_nanosleep, req, rem);
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	if (!in_input())
		return real_poll(fds, n, timeout_ms);
	srv_run();
	if (timeout_ms == 0)
		return real_poll(fds, n, 0);
	return client_wait(fds, n, timeout_ms);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!in_input())
		return real_recvmsg(fd, msg, flags);
	srv_run();
	for (;;) {
		ssize_t r = real_recvmsg(fd, msg, flags | MSG_DONTWAIT);
		if ((flags & MSG_DONTWAIT) || r >= 0 || errno != EAGAIN)
			return r;
		/* a blocking receive, bounded by SO_RCVTIMEO (the timeout) */
		struct pollfd pfd = {fd, POLLIN, 0};
		if (client_wait(&pfd, 1, CLIENT_TIMEOUT_MS + 1) == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	/* never blocks: on a full socket the client polls, and we run the
	 * server there */
	return real_sendmsg(fd, msg, flags | (in_input() ? MSG_DONTWAIT : 0));
}

/* ------------------------------------------------------------------ */
/* The workload                                                         */
/* ------------------------------------------------------------------ */

/* Each call of the workload; after two timeouts the rest is skipped, so an
 * input that silences the server costs 40 ms, not one timeout per call. */
#define CALL(expr)                                                                                                 \
	do {                                                                                                       \
		if (timeouts < 2 && (expr) == -ETIMEDOUT)                                                          \
			timeouts++;                                                                                \
	} while (0)

static void migration(struct uvf_client *c)
{
	const struct uvf_msg_dma_logging_range range = {0x100000, 0x2000};
	uint8_t buf[64] = {0};
	uint64_t flags, chosen, bitmap[4];
	uint32_t state;
	size_t got;
	int timeouts = 0;

	CALL(uvf_client_migration_features(c, &flags));
	CALL(uvf_client_migration_state(c, &state));
	CALL(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_STOP_COPY));
	CALL(uvf_client_migration_data_read(c, buf, sizeof(buf), &got));
	CALL(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_RESUMING));
	CALL(uvf_client_migration_data_write(c, buf, sizeof(buf)));
	CALL(uvf_client_dma_logging_start(c, 4096, &range, 1, &chosen));
	CALL(uvf_client_dma_logging_report(c, range.iova, range.length, 4096, bitmap, sizeof(bitmap)));
	CALL(uvf_client_dma_logging_stop(c));
}

static void workload(struct uvf_client *c)
{
	static uint8_t dma_mem[8192];
	uint8_t buf[256] = {0};
	struct uvf_msg_device_info info;
	struct uvf_client_region region = {.argsz = sizeof(region)};
	struct uvf_msg_irq_info irq;
	struct uvf_client_ioeventfd ev[4];
	uint32_t v32;
	size_t rlen, count;
	void *ptr;
	int timeouts = 0;

	uvf_client_server_caps(c);
	CALL(uvf_client_device_info(c, &info));
	CALL(uvf_client_region_info(c, 0, &region));
	CALL(uvf_client_region_info(c, UVF_PCI_CONFIG_REGION, &region));
	CALL(uvf_client_irq_info(c, UVF_PCI_MSIX_IRQ, &irq));
	CALL(uvf_client_dma_register(c, 0x100000, dma_mem, sizeof(dma_mem),
				     UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE));
	CALL(uvf_client_region_read(c, 0, 0, buf, 64));
	CALL(uvf_client_config_read32(c, 0, &v32));
	CALL(uvf_client_region_write(c, 0, 8, buf, 4));
	CALL(uvf_client_process(c));
	CALL(uvf_client_region_map(c, 2));
	CALL(uvf_client_region_io_fds(c, 2, ev, sizeof(struct uvf_client_ioeventfd), 4, &count));
	uvf_client_region_ptr(c, 2, 0, 8);
	CALL(uvf_client_access_read(c, 2, 0, buf, 4));
	CALL(uvf_client_access_write(c, 2, 8, buf, 4));
	CALL(uvf_client_cork(c, true));
	for (int i = 0; i < 4; i++)
		CALL(uvf_client_access_write(c, 1, (uint64_t)i * 4, buf, 4));
	CALL(uvf_client_cork(c, false));
	CALL(uvf_client_flush(c));
	int efd[2] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
	CALL(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 2, efd));
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
	CALL(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, 0, 1, true));
	CALL(uvf_client_process(c));
	CALL(uvf_client_dma_alloc(c, 0x200000, 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &ptr));
	CALL(uvf_client_reset(c));
	CALL(uvf_client_region_unmap(c, 2));
	CALL(uvf_client_call(c, UVF_CMD_DEVICE_FEATURE, buf, 8, NULL, 0, buf, sizeof(buf), &rlen));
	CALL(uvf_client_dma_unregister(c, 0x100000, sizeof(dma_mem)));
	CALL(uvf_client_dma_unregister_all(c));
	CALL(uvf_client_process(c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct fuzz_in in = {data, size};
	struct uvf_client *c = NULL;

	if (listen_sock < 0)
		setup();
	int fds_before = fuzz_count_fds();
	uint8_t mode = fuzz_u8(&in);
	opts.timeout_ms = CLIENT_TIMEOUT_MS;
	opts.max_data_xfer_size = 4096;
	opts.log = fuzz_log_sink;
	opts.log_level = UVF_LOG_DEBUG;
	opts.no_twin_socket = mode & 1;
	opts.no_posted_writes = (mode >> 1) & 1;

	input_thread = true;
	srv_start(in.p, in.left);
	if (uvf_client_connect(&c, sock_path, &opts) == 0) {
		if (mode & 4)
			migration(c);
		workload(c);
		uvf_client_close(c);
	}
	srv_run(); /* the server sees the client leave */
	srv_stop();
	fuzz_check_fds(fds_before, "fuzz_client_replies");
	return 0;
}
