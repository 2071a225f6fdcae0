/* SPDX-License-Identifier: MIT */
/*
 * uvf-proxy between our client and our server: the fds really arrive
 * (DMA through memory the server mapped from the client's memfd, an
 * eventfd interrupt, a mapped BAR and an ioeventfd that bypass the proxy),
 * server-to-client DMA messages are forwarded, and hostile peers on either
 * side cost only their own connection: a log line, a closed socket and no
 * fd left behind in the proxy. The proxy is the program (UVF_PROXY), in
 * front of a device served by a thread of this process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dmatest/dmatest.h"
#include "harness.h"
#include "proxy_run.h"
#include "uvf/wire.h"

/* Start uvf-proxy in front of server_path, tracing to dir/trace.txt, with
 * socket and log in dir; one extra argument after (or NULL). */
static void proxy_start(struct proxy_run *p, const char *dir, const char *server_path, char *extra)
{
	char *args[] = {"--trace", p->trace, extra, NULL};

	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->trace, sizeof(p->trace), "%s/trace.txt", dir);
	proxy_run_start(p, server_path, args);
}

/* Messages in the trace so far (a line per message; notes and hex dumps
 * are not messages). */
static int trace_messages(const struct proxy_run *p)
{
	FILE *f = fopen(p->trace, "r");
	char line[2048];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#' && line[0] != ' ')
			n++;
	fclose(f);
	return n;
}

static bool file_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* Wait up to 2 s for text to show in a file the proxy writes. */
static bool wait_file_has(const char *path, const char *text)
{
	for (int i = 0; i < 200; i++) {
		if (file_has(path, text))
			return true;
		usleep(10000);
	}
	return false;
}

/* Open fds of the proxy process. */
static int proxy_fds(const struct proxy_run *p)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)p->pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static struct uvf_client *connect_proxy(const struct proxy_run *p)
{
	struct uvf_client *c = NULL;
	int rc = uvf_client_connect(&c, p->sock, NULL);

	if (rc)
		fail_msg("connect through the proxy: %s", uvf_strerror(rc));
	return c;
}

/* ------------------------------------------------------------------ */
/* dmatest through the proxy                                           */
/* ------------------------------------------------------------------ */

struct fixture {
	struct harness h;
	struct uvf_dmatest *t;
	struct proxy_run p;
};

static int setup_dmatest(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	harness_prepare(&f->h);
	assert_int_equal(uvf_dmatest_create(&f->t), 0);
	harness_start(&f->h, uvf_dmatest_device(f->t), NULL);
	proxy_start(&f->p, f->h.dir, f->h.path, "--keep");
	*state = f;
	return 0;
}

static int teardown_dmatest(void **state)
{
	struct fixture *f = *state;

	proxy_run_stop(&f->p);
	unlink(f->p.trace);
	unlink(f->p.log);
	harness_stop(&f->h);
	free(f);
	return 0;
}

static uint32_t reg(struct uvf_client *c, uint32_t offset)
{
	uint32_t v = 0;

	assert_int_equal(uvf_client_region_read(c, 0, offset, &v, 4), 0);
	return v;
}

static void set_reg(struct uvf_client *c, uint32_t offset, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, offset, &v, 4), 0);
}

/* Run a dmatest command and wait until it completed. */
static void run_command(struct uvf_client *c, uint32_t cmd)
{
	uint32_t before = reg(c, UVF_DMATEST_REG_CMD_COUNT);

	set_reg(c, UVF_DMATEST_REG_CMD, cmd);
	for (int i = 0; i < 2000 && reg(c, UVF_DMATEST_REG_CMD_COUNT) == before; i++)
		usleep(1000);
	assert_int_equal(reg(c, UVF_DMATEST_REG_CMD_COUNT), before + 1);
	assert_int_equal(reg(c, UVF_DMATEST_REG_STATUS), 0);
}

static void the_twin_socket_is_not_offered_through_the_proxy(void **state)
{
	struct fixture *f = *state;
	struct uvf_client *direct = harness_connect(&f->h);

	/* our server gives a twin socket to a client that offers one... */
	assert_true(uvf_client_server_caps(direct)->twin_socket);
	uvf_client_close(direct);

	/* ...and the proxy takes the offer out */
	struct uvf_client *c = connect_proxy(&f->p);
	assert_false(uvf_client_server_caps(c)->twin_socket);
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
	assert_true(wait_file_has(f->p.trace, "# VERSION: twin_socket offer removed"));
}

static void dma_map_fd_reaches_the_server_and_its_interrupt_fires(void **state)
{
	struct fixture *f = *state;
	struct uvf_client *c = connect_proxy(&f->p);
	const size_t size = 64 * 1024;
	uint8_t *mem = NULL;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(efd >= 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x10000000, size, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSI_IRQ, 0, 1, &efd), 0);

	/* the device fills our memory through the fd it got through the proxy */
	set_reg(c, UVF_DMATEST_REG_DST_LO, 0x10000000);
	set_reg(c, UVF_DMATEST_REG_DST_HI, 0);
	set_reg(c, UVF_DMATEST_REG_LEN, (uint32_t)size);
	set_reg(c, UVF_DMATEST_REG_PATTERN, 0x5a);
	run_command(c, UVF_DMATEST_CMD_FILL);
	for (size_t i = 0; i < size; i++)
		if (mem[i] != 0x5a)
			fail_msg("byte %zu is 0x%02x, not the pattern", i, mem[i]);
	/* the completion interrupt came on the eventfd that went through */
	assert_true(harness_wait_eventfd(efd, 2000) >= 1);
	/* and no DMA message: the server wrote the memory itself */
	assert_false(file_has(f->p.trace, "request DMA_WRITE"));

	assert_int_equal(uvf_client_irq_disable(c, UVF_PCI_MSI_IRQ), 0);
	uvf_client_close(c);
	close(efd);
	assert_true(wait_file_has(f->p.trace, "DMA_MAP iova=0x10000000 size=0x10000 offset=0x0 prot=rw"));
	assert_true(
		file_has(f->p.trace, "request DEVICE_SET_IRQS index=1 start=0 count=1 action=trigger data=eventfd"));
	assert_true(file_has(f->p.trace, "data=eventfd bytes=36 fds=1"));
}

static void mapped_bar_stores_send_no_message_through_the_proxy(void **state)
{
	struct fixture *f = *state;
	struct uvf_client *c = connect_proxy(&f->p);
	uint8_t pattern[256];

	assert_int_equal(uvf_client_region_map(c, UVF_DMATEST_BAR4), 0);
	uint8_t *bar = uvf_client_region_ptr(c, UVF_DMATEST_BAR4, 0, sizeof(pattern));
	assert_non_null(bar);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);

	int before = trace_messages(&f->p);
	for (size_t i = 0; i < sizeof(pattern); i++)
		bar[i] = pattern[i];
	usleep(50000); /* anything the stores sent would be traced by now */
	assert_int_equal(trace_messages(&f->p), before);

	/* the device sees the stores, and none came as REGION_WRITE */
	assert_int_equal(reg(c, UVF_DMATEST_REG_BAR4_WRITES), 0);
	set_reg(c, UVF_DMATEST_REG_LEN, sizeof(pattern));
	run_command(c, UVF_DMATEST_CMD_SUM);
	assert_int_equal(reg(c, UVF_DMATEST_REG_SUM), uvf_dmatest_checksum(pattern, sizeof(pattern)));
	uvf_client_close(c);
	assert_true(wait_file_has(f->p.trace, "reply DEVICE_GET_REGION_INFO index=4 flags=rwmc size=0x10000"));
}

static void server_dma_messages_are_forwarded_both_ways(void **state)
{
	struct fixture *f = *state;
	struct uvf_client *c = connect_proxy(&f->p);
	const size_t size = 128 * 1024;
	uint8_t *mem = calloc(1, size);

	assert_non_null(mem);
	for (size_t i = 0; i < size / 2; i++)
		mem[i] = (uint8_t)(i ^ (i >> 8));
	assert_int_equal(
		uvf_client_dma_register(c, 0x40000000, mem, size, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE), 0);
	set_reg(c, UVF_DMATEST_REG_SRC_LO, 0x40000000);
	set_reg(c, UVF_DMATEST_REG_SRC_HI, 0);
	set_reg(c, UVF_DMATEST_REG_DST_LO, 0x40000000 + (uint32_t)(size / 2));
	set_reg(c, UVF_DMATEST_REG_DST_HI, 0);
	set_reg(c, UVF_DMATEST_REG_LEN, (uint32_t)(size / 2));
	run_command(c, UVF_DMATEST_CMD_COPY);
	assert_memory_equal(mem, mem + size / 2, size / 2);
	assert_int_equal(uvf_client_dma_unregister(c, 0x40000000, size), 0);
	uvf_client_close(c);
	free(mem);
	assert_true(wait_file_has(f->p.trace, "s>c id="));
	assert_true(file_has(f->p.trace, "request DMA_READ address=0x40000000 count=65536"));
	assert_true(file_has(f->p.trace, "request DMA_WRITE address=0x40010000 count=65536"));
	assert_true(file_has(f->p.trace, "reply DMA_WRITE address=0x40010000 count=65536"));
}

/* ------------------------------------------------------------------ */
/* Hostile clients                                                      */
/* ------------------------------------------------------------------ */

static int raw_connect(const char *path)
{
	struct uvf_wire *w = NULL;
	int fd;

	assert_int_equal(uvf_wire_connect(&w, path), 0);
	fd = dup(uvf_wire_fd(w));
	uvf_wire_close(w);
	assert_true(fd >= 0);
	return fd;
}

/* Whether the peer closed sock within 2 s (EOF, or reset). */
static bool raw_closed(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	char buf[256];

	for (int i = 0; i < 200; i++) {
		if (poll(&pfd, 1, 10) == 1) {
			ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);

			if (n <= 0)
				return n == 0 || errno == ECONNRESET;
		}
	}
	return false;
}

static void send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 128)];
	} ctl;
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void hostile_clients_cost_only_their_connection(void **state)
{
	struct fixture *f = *state;
	struct uvf_client *c = connect_proxy(&f->p);

	/* a working session first, so every lazy allocation is made */
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
	usleep(100000);
	int fds_before = proxy_fds(&f->p);

	/* msg_size below the header */
	struct uvf_msg_header bad = {.msg_id = 1, .command = UVF_CMD_VERSION, .msg_size = 8};
	int s = raw_connect(f->p.sock);
	send_raw(s, &bad, sizeof(bad), NULL, 0);
	assert_true(raw_closed(s));
	close(s);
	assert_true(
		wait_file_has(f->p.log, "uvf-proxy: client: VERSION id 1: msg_size 8 smaller than the 16-byte header"));

	/* a message far beyond any limit: its body is never read */
	bad = (struct uvf_msg_header){.msg_id = 2, .command = UVF_CMD_REGION_WRITE, .msg_size = 0xfffffff0u};
	s = raw_connect(f->p.sock);
	send_raw(s, &bad, sizeof(bad), NULL, 0);
	assert_true(raw_closed(s));
	close(s);
	assert_true(
		wait_file_has(f->p.log, "uvf-proxy: client: REGION_WRITE id 2: msg_size 4294967280 above the limit"));

	/* 70 fds with one message: more than the proxy takes */
	int efds[70];
	for (int i = 0; i < 70; i++) {
		efds[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(efds[i] >= 0);
	}
	struct {
		struct uvf_msg_header hdr;
		struct uvf_msg_version v;
	} version = {{.msg_id = 3, .command = UVF_CMD_VERSION, .msg_size = 20}, {0, 0}};
	s = raw_connect(f->p.sock);
	send_raw(s, &version, sizeof(version), efds, 70);
	assert_true(raw_closed(s));
	close(s);
	for (int i = 0; i < 70; i++)
		close(efds[i]);
	assert_true(wait_file_has(f->p.log, "came with more than 64 fds"));

	/* fds with a message cut short, then gone */
	int efd = eventfd(0, EFD_CLOEXEC);
	version.hdr.msg_size = 64;
	s = raw_connect(f->p.sock);
	send_raw(s, &version, sizeof(version), &efd, 1);
	close(s);
	close(efd);
	assert_true(wait_file_has(f->p.log, "connection closed after"));

	usleep(100000);
	assert_int_equal(proxy_fds(&f->p), fds_before);

	/* and the next client is served as if nothing happened */
	c = connect_proxy(&f->p);
	assert_int_equal(reg(c, UVF_DMATEST_REG_ID), UVF_DMATEST_ID);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* ioeventfds                                                           */
/* ------------------------------------------------------------------ */

static void ioeventfds_arrive_and_bypass_the_proxy(void **state)
{
	struct harness h;
	struct proxy_run p;
	struct uvf_client_ioeventfd fds[4];
	size_t n = 0;

	(void)state;
	doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	harness_prepare(&h);
	harness_start(&h, doorbell_device(), NULL);
	proxy_start(&p, h.dir, h.path, NULL);

	struct uvf_client *c = connect_proxy(&p);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, fds, sizeof(fds[0]), 4, &n), 0);
	assert_int_equal(n, 1);
	assert_true(fds[0].fd >= 0);
	assert_int_equal(fds[0].offset, 0x100);

	int before = trace_messages(&p);
	uint32_t v = 1;
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v, 4), 0);
	assert_true(harness_wait_eventfd(doorbell_fd, 5000) >= 1);
	assert_true(atomic_load(&doorbell_count) >= 1);
	usleep(50000);
	assert_int_equal(trace_messages(&p), before);
	uvf_client_close(c);

	assert_true(wait_file_has(p.trace, "reply DEVICE_GET_REGION_IO_FDS index=0 count=1 bytes=72 fds=1"));
	proxy_run_stop(&p);
	unlink(p.trace);
	unlink(p.log);
	harness_stop(&h);
	close(doorbell_fd);
}

/* ------------------------------------------------------------------ */
/* Hostile servers                                                      */
/* ------------------------------------------------------------------ */

/* A server that answers VERSION with reply (len bytes), with fd when >= 0,
 * then reads until its client leaves. */
struct fake_server {
	int listen_fd;
	const void *reply;
	size_t len;
	int fd;
	pthread_t thread;
};

static void *fake_serve(void *arg)
{
	struct fake_server *fs = arg;
	struct pollfd pfd = {.fd = fs->listen_fd, .events = POLLIN};
	struct uvf_wire *w = NULL;
	struct uvf_wire_msg m;
	int rc;

	if (poll(&pfd, 1, 5000) != 1 || uvf_wire_accept(&w, fs->listen_fd) != 0)
		return NULL;
	pfd.fd = uvf_wire_fd(w);
	while ((rc = uvf_wire_recv(w, &m)) == 0)
		if (poll(&pfd, 1, 5000) != 1)
			break;
	if (rc == 1) {
		struct uvf_msg_header hdr = {.msg_id = m.hdr.msg_id,
					     .command = UVF_CMD_VERSION,
					     .msg_size = (uint32_t)(16 + fs->len),
					     .flags = UVF_MSG_TYPE_REPLY};
		uvf_wire_send(w, &hdr, fs->reply, fs->len, &fs->fd, fs->fd >= 0 ? 1 : 0);
		while (poll(&pfd, 1, 5000) == 1 && uvf_wire_recv(w, &m) >= 0)
			;
	}
	uvf_wire_close(w);
	return NULL;
}

static void hostile_server_version(const char *dir, const void *reply, size_t len, int fd, const char *log_text)
{
	char path[160];
	struct fake_server fs = {.reply = reply, .len = len, .fd = fd};
	struct proxy_run p;

	snprintf(path, sizeof(path), "%s/fake.sock", dir);
	assert_int_equal(uvf_wire_listen(path, &fs.listen_fd), 0);
	assert_int_equal(pthread_create(&fs.thread, NULL, fake_serve, &fs), 0);
	proxy_start(&p, dir, path, NULL);

	struct uvf_client *c = NULL;
	assert_true(uvf_client_connect(&c, p.sock, NULL) < 0);
	assert_true(wait_file_has(p.log, log_text));
	/* the proxy exits after its one client: nothing of the session is left open */
	int status;
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	pthread_join(fs.thread, NULL);
	close(fs.listen_fd);
	unlink(path);
	unlink(p.trace);
	unlink(p.log);
}

static void servers_that_break_the_version_rules_are_dropped(void **state)
{
	struct harness h;
	static const char twin[] = "\0\0\0\0{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}";
	int pair[2];

	(void)state;
	harness_prepare(&h); /* for the folder and the fd count */
	snprintf(h.dir, sizeof(h.dir), "/tmp/uvf-proxy-test.XXXXXX");
	assert_non_null(mkdtemp(h.dir));

	/* a twin socket nobody offered */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	hostile_server_version(h.dir, twin, sizeof(twin), pair[1], "VERSION reply with 1 fds: no twin socket");
	hostile_server_version(h.dir, twin, sizeof(twin), -1, "enables a twin socket that was not offered");
	close(pair[0]);
	close(pair[1]);
	rmdir(h.dir);
	assert_int_equal(harness_count_fds(), h.fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_twin_socket_is_not_offered_through_the_proxy, setup_dmatest,
						teardown_dmatest),
		cmocka_unit_test_setup_teardown(dma_map_fd_reaches_the_server_and_its_interrupt_fires, setup_dmatest,
						teardown_dmatest),
		cmocka_unit_test_setup_teardown(mapped_bar_stores_send_no_message_through_the_proxy, setup_dmatest,
						teardown_dmatest),
		cmocka_unit_test_setup_teardown(server_dma_messages_are_forwarded_both_ways, setup_dmatest,
						teardown_dmatest),
		cmocka_unit_test_setup_teardown(hostile_clients_cost_only_their_connection, setup_dmatest,
						teardown_dmatest),
		cmocka_unit_test(ioeventfds_arrive_and_bypass_the_proxy),
		cmocka_unit_test(servers_that_break_the_version_rules_are_dropped),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
