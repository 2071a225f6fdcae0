/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the client engine's handling of replies and of the
 * server's own requests. A fixed VMM workload (connect and VERSION, device,
 * region and IRQ info, DMA registration, region reads and writes, fast-path
 * set-up with mappings and ioeventfds, posted and corked writes, IRQ
 * eventfds, reset, raw calls) runs against a fake server whose every move
 * is scripted by the input:
 *
 *   byte 0: workload options (bit 0 no twin socket, bit 1 no posted writes)
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
 * Time is the target's: the client runs on a clock that stands still
 * (clock_gettime below), and its blocking receives and polls never sleep
 * in the kernel. When the client would wait for the fake server while the
 * server waits for the client (the script has nothing more to send before
 * the client's next message), the wait ends at once as a timeout and the
 * client's clock jumps past its deadline. An unanswered request thus costs
 * no real time, and whether a request times out depends on the script
 * alone, not on how fast the threads run (the same input takes the same
 * path on a loaded machine).
 *
 * At the end of the script the fake server hangs up; everything the client
 * holds must be released by uvf_client_close() (fds are counted).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

#define MAX_STEP 8192u
#define CLIENT_TIMEOUT_MS 20

/* ------------------------------------------------------------------ */
/* The client's clock and waits                                         */
/* ------------------------------------------------------------------ */

/*
 * These definitions take the place of libc's (and of the sanitizers'
 * wrappers) for the whole program; only the thread running the client
 * (in_client) sees a difference. The fake server thread tells the client
 * thread, under mon, each time it has sent bytes or starts waiting.
 */
static __thread bool in_client;
static int64_t client_ms = 1000000; /* the client's CLOCK_MONOTONIC */
static pthread_mutex_t mon = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mon_cv = PTHREAD_COND_INITIALIZER;
static int server_sock = -1;	 /* the fake server's end, once accepted */
static bool server_waiting;	 /* for the client's next bytes */
static bool server_gone;	 /* the fake server thread is over */
static bool client_gone;	 /* the client closed its socket */

static int real_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
	return (int)syscall(SYS_ppoll, fds, n, timeout_ms < 0 ? NULL : &ts, NULL, (size_t)8);
}

static bool readable(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	return fd >= 0 && real_poll(&pfd, 1, 0) > 0;
}

static void mon_signal(void)
{
	pthread_mutex_lock(&mon);
	pthread_cond_broadcast(&mon_cv);
	pthread_mutex_unlock(&mon);
}

/* Both sides wait for the other: the client's wait is a timeout. */
static bool stalled_locked(void)
{
	return server_gone || (server_waiting && !readable(server_sock));
}

/* The client thread waits until one of fds has something (its count) or
 * the server is stalled (0, and the client's clock jumps by wait_ms). */
static int client_wait(struct pollfd *fds, nfds_t n, int wait_ms)
{
	int r;

	pthread_mutex_lock(&mon);
	while ((r = real_poll(fds, n, 0)) == 0 && !stalled_locked())
		pthread_cond_wait(&mon_cv, &mon);
	if (r == 0)
		client_ms += wait_ms >= 0 ? wait_ms : CLIENT_TIMEOUT_MS + 1;
	pthread_mutex_unlock(&mon);
	return r;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (in_client && id == CLOCK_MONOTONIC) {
		ts->tv_sec = client_ms / 1000;
		ts->tv_nsec = (long)(client_ms % 1000) * 1000000;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (in_client) {
		client_ms += req->tv_sec * 1000 + req->tv_nsec / 1000000;
		return 0;
	}
	return (int)syscall(SYS_nanosleep, req, rem);
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	bool inputs = n > 0;

	for (nfds_t i = 0; i < n; i++)
		if (fds[i].events & ~(POLLIN | POLLRDHUP))
			inputs = false;
	if (!in_client || !inputs || timeout_ms == 0)
		return real_poll(fds, n, timeout_ms);
	return client_wait(fds, n, timeout_ms);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	for (;;) {
		ssize_t r = syscall(SYS_recvmsg, fd, msg, flags | (in_client ? MSG_DONTWAIT : 0));
		if (!in_client || (flags & MSG_DONTWAIT) || r >= 0 || errno != EAGAIN)
			return r;
		/* a blocking receive (SO_RCVTIMEO is the client's timeout) */
		struct pollfd pfd = {fd, POLLIN, 0};
		if (client_wait(&pfd, 1, CLIENT_TIMEOUT_MS + 1) == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t r = syscall(SYS_sendmsg, fd, msg, flags);
	int err = errno;
	if (in_client) {
		mon_signal(); /* the server may be waiting for these bytes */
		errno = err;
	}
	return r;
}

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
	listen_sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_sock < 0 || bind(listen_sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_sock, 4) < 0)
		abort();
	atexit(cleanup);
}

struct script {
	struct fuzz_in in;
};

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

/* Wait until the client has sent something or is gone; while we wait
 * with nothing to read, a client waiting for us is stalled. */
static void server_wait_input(int sock)
{
	pthread_mutex_lock(&mon);
	while (!readable(sock) && !client_gone) {
		server_waiting = true;
		pthread_cond_broadcast(&mon_cv);
		pthread_cond_wait(&mon_cv, &mon);
	}
	server_waiting = false;
	pthread_mutex_unlock(&mon);
}

/* Read exactly len bytes (fds that come along are closed); -1 on EOF,
 * error or timeout. */
static int read_exact(int sock, void *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	uint8_t *p = buf;

	while (len) {
		server_wait_input(sock);
		struct iovec iov = {p, len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n > 0)
			close_cmsg_fds(&msg);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The client's next message: header kept, body dropped. */
static int read_request(int sock, struct uvf_msg_header *hdr)
{
	static uint8_t body[65536];
	if (read_exact(sock, hdr, sizeof(*hdr)) < 0 || hdr->msg_size < sizeof(*hdr) || hdr->msg_size > (8u << 20))
		return -1;
	size_t left = hdr->msg_size - sizeof(*hdr);
	while (left) {
		size_t n = left < sizeof(body) ? left : sizeof(body);
		if (read_exact(sock, body, n) < 0)
			return -1;
		left -= n;
	}
	return 0;
}

static void send_step(int sock, uint8_t ctl, uint8_t *msg, size_t len, int *twin_peer)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} cm;
	int fds[2];
	size_t nfds = 0;
	int kind = (ctl >> 4) & 3;

	if (kind == 1)
		fds[nfds++] = fuzz_make_fd((ctl & 0x40) ? 2 : 1, &(int){0});
	else if (kind == 3 && (ctl & 0x40) && *twin_peer < 0)
		fds[nfds++] = fuzz_make_fd(4, twin_peer);
	else if (kind >= 2)
		for (int i = 0; i < kind - 1; i++)
			fds[nfds++] = eventfd(0, EFD_CLOEXEC);
	size_t made = nfds;
	for (size_t i = 0; i < made; i++)
		if (fds[i] < 0)
			nfds = 0; /* out of fds: send none */

	struct iovec iov = {msg, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds && len) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (iov.iov_len) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the client left or stopped reading (send timeout) */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	for (size_t i = 0; i < made; i++)
		if (fds[i] >= 0)
			close(fds[i]); /* the client has its own copies */
}

static void server_done(int sock)
{
	pthread_mutex_lock(&mon);
	server_gone = true;
	server_sock = -1;
	pthread_cond_broadcast(&mon_cv);
	pthread_mutex_unlock(&mon);
	if (sock >= 0)
		close(sock);
}

static void *fake_server(void *arg)
{
	struct script *s = arg;
	struct pollfd pfd = {listen_sock, POLLIN, 0};
	struct uvf_msg_header last = {0};
	static uint8_t msg[MAX_STEP];
	struct timeval tv = {0, 500000};
	int twin_peer = -1;

	int sock = poll(&pfd, 1, 2000) == 1 ? accept4(listen_sock, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (sock < 0) {
		server_done(-1);
		return NULL;
	}
	pthread_mutex_lock(&mon);
	server_sock = sock;
	pthread_mutex_unlock(&mon);
	/* bounded waits: a client that neither talks nor leaves cannot hang us */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	while (s->in.left) {
		uint8_t ctl = fuzz_u8(&s->in);
		size_t len = fuzz_u16(&s->in) % (MAX_STEP + 1);
		const uint8_t *p = fuzz_bytes(&s->in, len, &len);
		unsigned op = ctl & 3;

		if (op == 3)
			break;
		if (op == 0 || op == 2) {
			if (read_request(sock, &last) < 0)
				break;
			if (op == 2)
				continue;
		}
		memcpy(msg, p, len);
		if (len >= sizeof(struct uvf_msg_header)) {
			struct uvf_msg_header hdr;
			memcpy(&hdr, msg, sizeof(hdr));
			if (ctl & 4) {
				hdr.msg_id = last.msg_id;
				hdr.command = last.command;
				hdr.flags = (hdr.flags & ~UVF_MSG_TYPE_MASK) | UVF_MSG_TYPE_REPLY;
			}
			if (ctl & 8)
				hdr.msg_size = (uint32_t)len;
			memcpy(msg, &hdr, sizeof(hdr));
		}
		send_step(sock, ctl, msg, len, &twin_peer);
		mon_signal();
	}
	/* hang up; keep reading until the client closes so it sees our bytes */
	shutdown(sock, SHUT_WR);
	mon_signal();
	while (read_request(sock, &last) == 0)
		;
	if (twin_peer >= 0)
		close(twin_peer);
	server_done(sock);
	return NULL;
}

/* Each call of the workload; after two timeouts the rest is skipped, so an
 * input that silences the server costs 40 ms, not one timeout per call. */
#define CALL(expr)                                                                                                 \
	do {                                                                                                       \
		if (timeouts < 2 && (expr) == -ETIMEDOUT)                                                          \
			timeouts++;                                                                                \
	} while (0)

static void workload(struct uvf_client *c)
{
	static uint8_t dma_mem[8192];
	uint8_t buf[256] = {0};
	struct uvf_device_info info;
	struct uvf_client_region region = {.argsz = sizeof(region)};
	struct uvf_irq_info irq;
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
	CALL(uvf_client_bar_read(c, 2, 0, buf, 4));
	CALL(uvf_client_bar_write(c, 2, 8, buf, 4));
	CALL(uvf_client_cork(c, true));
	for (int i = 0; i < 4; i++)
		CALL(uvf_client_bar_write(c, 1, (uint64_t)i * 4, buf, 4));
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
	struct script s = {{data, size}};
	struct uvf_client *c = NULL;
	pthread_t thread;

	if (listen_sock < 0)
		setup();
	int fds_before = fuzz_count_fds();
	uint8_t mode = fuzz_u8(&s.in);
	opts.timeout_ms = CLIENT_TIMEOUT_MS;
	opts.max_data_xfer_size = 4096;
	opts.log = fuzz_log_sink;
	opts.log_level = UVF_LOG_DEBUG;
	opts.no_twin_socket = mode & 1;
	opts.no_posted_writes = (mode >> 1) & 1;

	server_sock = -1;
	server_waiting = server_gone = client_gone = false;
	if (pthread_create(&thread, NULL, fake_server, &s) != 0)
		abort();
	in_client = true;
	if (uvf_client_connect(&c, sock_path, &opts) == 0) {
		workload(c);
		uvf_client_close(c);
	}
	in_client = false;
	pthread_mutex_lock(&mon);
	client_gone = true;
	pthread_cond_broadcast(&mon_cv);
	pthread_mutex_unlock(&mon);
	pthread_join(thread, NULL);
	fuzz_check_fds(fds_before, "fuzz_client_replies");
	return 0;
}
