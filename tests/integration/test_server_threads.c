/* SPDX-License-Identifier: MIT */
/*
 * The server's threading contract (uvf/server.h, "Threads."): device
 * threads raise MSI-X vectors and copy to and from client memory while the
 * client maps and unmaps other ranges and masks vectors; message-based DMA
 * from a device thread, handed to the dispatch thread or sent on the twin
 * socket; twin socket negotiation; serve options version 2 and adaptive
 * polling. Built for the 'threads' suite, which a ThreadSanitizer build
 * runs.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define RW	   (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)
#define NVEC	   4u
#define MSIX_TABLE 0x1000u
#define MSIX_PBA   0x1800u

/* The device: BAR0 memory with the MSI-X table and PBA, BAR2 whose read at
 * offset 0 waits for a device thread's DMA (see test_twin_dma_...). */
struct tdev {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool dma_wanted, dma_done;
	int dma_ret;
	uint8_t dma_data[64];
};

static struct tdev g_t;
static struct harness g_h;

static int bar2_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev;
	struct tdev *t = data;
	if (offset != 0) {
		memset(buf, 0x5a, len);
		return 0;
	}
	/* the dispatch thread waits here for a device thread's DMA */
	pthread_mutex_lock(&t->lock);
	t->dma_wanted = true;
	pthread_cond_broadcast(&t->cond);
	while (!t->dma_done)
		pthread_cond_wait(&t->cond, &t->lock);
	t->dma_done = false;
	memcpy(buf, t->dma_data, len < sizeof(t->dma_data) ? len : sizeof(t->dma_data));
	int ret = t->dma_ret;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int bar2_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset, (void)buf, (void)len;
	return 0;
}

static struct uvf_device *make_device(void)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f0, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 0x2000, .flags = UVF_BAR_MEMORY};
	struct uvf_bar_desc bar2 = {.size = 0x1000, .read = bar2_read, .write = bar2_write, .data = &g_t};

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar2), 0);
	assert_int_equal(uvf_device_set_msix(dev, NVEC, 0, MSIX_TABLE, 0, MSIX_PBA), 0);
	return dev;
}

static void start(const struct uvf_serve_opts *opts)
{
	memset(&g_t, 0, sizeof(g_t));
	pthread_mutex_init(&g_t.lock, NULL);
	pthread_cond_init(&g_t.cond, NULL);
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(), opts);
}

static int teardown(void **state)
{
	(void)state;
	harness_stop(&g_h);
	pthread_cond_destroy(&g_t.cond);
	pthread_mutex_destroy(&g_t.lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Raw protocol helpers (for the twin socket, which the client library  */
/* may or may not speak)                                                */
/* ------------------------------------------------------------------ */

static void send_raw(int s, uint16_t id, uint16_t cmd, uint32_t flags, const void *p, size_t len, const void *p2,
		     size_t len2)
{
	struct uvf_msg_header h = {
		.msg_id = id, .command = cmd, .msg_size = (uint32_t)(16 + len + len2), .flags = flags};
	struct iovec iov[3] = {{&h, 16}, {(void *)p, len}, {(void *)p2, len2}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)(16 + len + len2));
}

static bool wait_readable(int s, int timeout_ms)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

/* Read one message; *fd receives an fd that came with it (or -1). Returns
 * the body length. */
static size_t recv_raw(int s, struct uvf_msg_header *hdr, void *body, size_t cap, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = {hdr, sizeof(*hdr)};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};

	if (fd)
		*fd = -1;
	assert_true(wait_readable(s, 5000));
	assert_int_equal(recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL), (ssize_t)sizeof(*hdr));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (fd && *fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
	size_t len = hdr->msg_size - 16;
	assert_true(len <= cap);
	if (len)
		assert_int_equal(recv(s, body, len, MSG_WAITALL), (ssize_t)len);
	return len;
}

/* VERSION with the given capabilities JSON; returns the reply's JSON (in
 * json) and the fd that came with it. */
static int raw_version(int s, const char *caps, char *json, size_t cap)
{
	char text[256];
	uint8_t payload[4 + sizeof(text)];
	struct uvf_msg_version v = {0, 0};
	int n = snprintf(text, sizeof(text), "{\"capabilities\":{%s}}", caps);
	memcpy(payload, &v, 4);
	memcpy(payload + 4, text, (size_t)n + 1);
	send_raw(s, 1, UVF_CMD_VERSION, 0, payload, 4 + (size_t)n + 1, NULL, 0);

	struct uvf_msg_header h;
	uint8_t body[1024];
	int fd;
	size_t len = recv_raw(s, &h, body, sizeof(body), &fd);
	assert_int_equal(h.command, UVF_CMD_VERSION);
	assert_false(h.flags & UVF_MSG_FLAG_ERROR);
	assert_true(len > 4 && len - 4 < cap);
	memcpy(json, body + 4, len - 4);
	json[len - 4] = '\0';
	return fd;
}

static void raw_dma_map(int s, uint16_t id, uint64_t addr, uint64_t size)
{
	struct uvf_msg_dma_map m = {.argsz = sizeof(m), .flags = RW, .address = addr, .size = size};
	send_raw(s, id, UVF_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0);
	struct uvf_msg_header h;
	uint8_t body[64];
	recv_raw(s, &h, body, sizeof(body), NULL);
	assert_int_equal(h.msg_id, id);
	assert_false(h.flags & UVF_MSG_FLAG_ERROR);
}

/* ------------------------------------------------------------------ */
/* Device threads against map/unmap churn and masking                    */
/* ------------------------------------------------------------------ */

#define STRESS_ITER 400
#define CHURN_IOVA  0x1000000u

/* Interrupt workers (one per vector) and DMA workers (one per range)
 * share no lock but the library's: a missing lock shows under TSan. */
struct worker {
	pthread_t thread;
	bool dma, lookups;
	unsigned id;
	uint64_t iova;
	int triggers; /* delivered or latched */
	int failures;
	int *finished; /* shared counter, under g_t.lock */
};

static void *stress_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t out[512], in[512];
	struct iovec iov[4];

	for (int i = 0; i < STRESS_ITER && w->dma; i++) {
		uint64_t at = w->iova + (uint64_t)(i % 64) * sizeof(out);
		memset(out, (int)(w->id * 16 + (unsigned)i % 16), sizeof(out));
		memcpy(out, &i, sizeof(i));
		if (uvf_dma_write(g_h.dev, at, out, sizeof(out)) != 0 ||
		    uvf_dma_read(g_h.dev, at, in, sizeof(in)) != 0 || memcmp(in, out, sizeof(in)) != 0)
			w->failures++;
		if (uvf_dma_sg(g_h.dev, w->iova, 0x10000, RW, iov, 4) < 1)
			w->failures++;
		/* the ranges the client maps and unmaps meanwhile: found or
		 * not, never half-gone (fresh memory reads as zeros) */
		uint64_t churn = CHURN_IOVA + (uint64_t)(i % 8) * 0x10000 + 64;
		memset(in, 0xff, 64);
		int ret = uvf_dma_read(g_h.dev, churn, in, 64);
		if ((ret != 0 && ret != -EFAULT) || (ret == 0 && (in[0] != 0 || in[63] != 0)))
			w->failures++;
		ret = uvf_dma_sg(g_h.dev, churn, 64, RW, iov, 4);
		if (ret != 1 && ret != -EFAULT)
			w->failures++;
		(void)uvf_dma_ptr(g_h.dev, churn, 64, RW);
	}
	/* translations only, of ranges coming and going */
	for (int i = 0; i < 8 * STRESS_ITER && w->lookups; i++) {
		uint64_t churn = CHURN_IOVA + (uint64_t)(i % 8) * 0x10000;
		int ret = uvf_dma_sg(g_h.dev, churn, 0x10000, RW, iov, 4);
		if (ret != 1 && ret != -EFAULT)
			w->failures++;
	}
	/* by index, then in the mode config space enables */
	for (int i = 0; i < 2 * STRESS_ITER && !w->dma && !w->lookups; i++) {
		int ret = i < STRESS_ITER ? uvf_irq_trigger(g_h.dev, UVF_PCI_MSIX_IRQ, w->id)
					  : uvf_irq_raise(g_h.dev, w->id);
		if (ret == 0)
			w->triggers++;
		else
			w->failures++;
		if (i % 64 == 0 &&
		    (!uvf_irq_enabled(g_h.dev, UVF_PCI_MSIX_IRQ, w->id) || uvf_irq_mode(g_h.dev) != UVF_PCI_MSIX_IRQ))
			w->failures++;
	}
	/* a marker the client checks */
	uint32_t marker = 0xc0de0000u | w->id;
	if (w->dma && uvf_dma_write(g_h.dev, w->iova, &marker, sizeof(marker)) != 0)
		w->failures++;
	pthread_mutex_lock(&g_t.lock);
	(*w->finished)++;
	pthread_mutex_unlock(&g_t.lock);
	return NULL;
}

static void table_mask(struct uvf_client *c, uint32_t v, bool masked)
{
	uint32_t ctrl = masked ? 1 : 0;
	assert_int_equal(uvf_client_region_write(c, UVF_PCI_BAR0_REGION, MSIX_TABLE + v * 16 + 12, &ctrl, 4), 0);
}

static uint64_t drain(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void test_device_threads_raise_and_copy_during_map_churn(void **state)
{
	(void)state;
	start(NULL);
	struct uvf_client *c = harness_connect(&g_h);

	int efd[NVEC];
	for (unsigned v = 0; v < NVEC; v++) {
		efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(efd[v] >= 0);
	}
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, NVEC, efd), 0);
	/* enable MSI-X, unmask every table entry */
	int cap = uvf_device_find_capability(g_h.dev, 0x11, false);
	assert_true(cap > 0);
	uint16_t ctl = 0x8000;
	assert_int_equal(uvf_client_region_write(c, UVF_PCI_CONFIG_REGION, (uint64_t)cap + 2, &ctl, 2), 0);
	for (unsigned v = 0; v < NVEC; v++)
		table_mask(c, v, false);

	enum { NDMA = 2, NW = NVEC + NDMA + 1 };
	void *mem[NDMA];
	struct worker w[NW];
	int finished = 0;
	for (unsigned t = 0; t < NW; t++) {
		bool dma = t >= NVEC && t < NVEC + NDMA, lookups = t == NVEC + NDMA;
		unsigned id = dma ? t - NVEC : t;
		w[t] = (struct worker){.dma = dma,
				       .lookups = lookups,
				       .id = id,
				       .iova = 0x100000 + id * 0x10000,
				       .finished = &finished};
		if (dma)
			assert_int_equal(uvf_client_dma_alloc(c, w[t].iova, 0x10000, RW, &mem[id]), 0);
	}
	for (unsigned t = 0; t < NW; t++)
		assert_int_equal(pthread_create(&w[t].thread, NULL, stress_worker, &w[t]), 0);

	uint64_t delivered[NVEC] = {0};
	for (unsigned k = 0;; k++) {
		pthread_mutex_lock(&g_t.lock);
		bool done = finished == (int)NW;
		pthread_mutex_unlock(&g_t.lock);
		if (done && k >= 8)
			break;
		/* map and unmap ranges nobody uses, by fd and by message */
		void *p;
		uint64_t iova = CHURN_IOVA + (k % 8) * 0x10000;
		assert_int_equal(uvf_client_dma_alloc(c, iova, 0x10000, RW, &p), 0);
		assert_int_equal(uvf_client_dma_unregister(c, iova, 0x10000), 0);
		/* mask and unmask a vector, alternately by the table and by
		 * SET_IRQS */
		uint32_t v = k % NVEC;
		if (k % 2) {
			table_mask(c, v, true);
			table_mask(c, v, false);
		} else {
			assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, v, 1, true), 0);
			assert_int_equal(uvf_client_irq_mask(c, UVF_PCI_MSIX_IRQ, v, 1, false), 0);
		}
		for (unsigned i = 0; i < NVEC; i++)
			delivered[i] += drain(efd[i]);
	}
	for (unsigned t = 0; t < NW; t++) {
		pthread_join(w[t].thread, NULL);
		assert_int_equal(w[t].failures, 0);
	}
	for (unsigned t = 0; t < NVEC; t++) {
		delivered[t] += drain(efd[t]);
		assert_int_equal(w[t].triggers, 2 * STRESS_ITER);
		/* a latched vector is delivered once: never more than raised,
		 * and nothing is lost for good */
		assert_true(delivered[t] >= 1);
		assert_true(delivered[t] <= (uint64_t)w[t].triggers);
	}
	for (unsigned d = 0; d < NDMA; d++) {
		uint32_t marker;
		memcpy(&marker, mem[d], sizeof(marker));
		assert_int_equal(marker, 0xc0de0000u | d);
	}
	/* all unmasked: nothing pending */
	uint64_t pba = 1;
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, MSIX_PBA, &pba, 8), 0);
	assert_int_equal(pba, 0);

	/* and precisely, one vector: held while masked, once on unmask */
	table_mask(c, 1, true);
	for (int i = 0; i < 5; i++)
		assert_int_equal(uvf_irq_trigger(g_h.dev, UVF_PCI_MSIX_IRQ, 1), 0);
	assert_int_equal(drain(efd[1]), 0);
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, MSIX_PBA, &pba, 8), 0);
	assert_int_equal(pba, 1u << 1);
	table_mask(c, 1, false);
	assert_int_equal(drain(efd[1]), 1);
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, MSIX_PBA, &pba, 8), 0);
	assert_int_equal(pba, 0);

	uvf_client_close(c);
	for (unsigned v = 0; v < NVEC; v++)
		close(efd[v]);
}

/* ------------------------------------------------------------------ */
/* Message-based DMA from a device thread                                */
/* ------------------------------------------------------------------ */

struct msg_worker {
	uint64_t iova;
	size_t len;
	int ret;
	bool done; /* under g_t.lock */
};

static void *msg_dma_worker(void *arg)
{
	struct msg_worker *m = arg;
	uint8_t *out = malloc(m->len), *in = malloc(m->len);
	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < m->len; i++)
		out[i] = (uint8_t)(i * 13 + 1);
	int ret = uvf_dma_write(g_h.dev, m->iova, out, m->len);
	if (ret == 0)
		ret = uvf_dma_read(g_h.dev, m->iova, in, m->len);
	if (ret == 0 && memcmp(in, out, m->len) != 0)
		ret = -EIO;
	free(out);
	free(in);
	pthread_mutex_lock(&g_t.lock);
	m->ret = ret;
	m->done = true;
	pthread_mutex_unlock(&g_t.lock);
	return NULL;
}

static void test_message_dma_from_a_device_thread_goes_through_dispatch(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.no_twin_socket = true;
	opts.max_data_xfer_size = 4096; /* several messages per copy */
	start(&opts);
	struct uvf_client *c = harness_connect(&g_h);
	assert_false(uvf_client_server_caps(c)->twin_socket);

	size_t len = 3 * 4096 + 100;
	uint8_t *buf = calloc(1, 0x4000);
	assert_non_null(buf);
	assert_int_equal(uvf_client_dma_register(c, 0x200000, buf, 0x4000, RW), 0);

	struct msg_worker m = {.iova = 0x200010, .len = len};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, msg_dma_worker, &m), 0);
	for (;;) {
		pthread_mutex_lock(&g_t.lock);
		bool done = m.done;
		pthread_mutex_unlock(&g_t.lock);
		if (done)
			break;
		if (wait_readable(uvf_client_poll_fd(c), 50))
			assert_true(uvf_client_process(c) >= 0);
	}
	pthread_join(th, NULL);
	assert_int_equal(m.ret, 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf[0x10 + i], (uint8_t)(i * 13 + 1));
	uvf_client_close(c);
	free(buf);
}

/* Serve DMA requests arriving on sock from buf (mapped at base) until
 * `count` were answered. */
static void serve_dma(int sock, uint8_t *buf, uint64_t base, size_t size, int count)
{
	for (int n = 0; n < count; n++) {
		struct uvf_msg_header h;
		static uint8_t body[16 + 65536];
		size_t len = recv_raw(sock, &h, body, sizeof(body), NULL);
		assert_true(len >= 16);
		struct uvf_msg_dma_access a;
		memcpy(&a, body, sizeof(a));
		assert_true(a.address >= base && a.count <= size && a.address - base <= size - a.count);
		struct uvf_msg_header r = {.msg_id = h.msg_id, .command = h.command, .flags = UVF_MSG_TYPE_REPLY};
		if (h.command == UVF_CMD_DMA_READ) {
			assert_int_equal(len, 16);
			r.msg_size = (uint32_t)(16 + 16 + a.count);
			struct iovec iov[3] = {{&r, 16}, {&a, 16}, {buf + (a.address - base), (size_t)a.count}};
			struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
			assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)r.msg_size);
		} else {
			assert_int_equal(h.command, UVF_CMD_DMA_WRITE);
			assert_int_equal(len, 16 + a.count);
			memcpy(buf + (a.address - base), body + 16, (size_t)a.count);
			r.msg_size = 32;
			struct iovec iov[2] = {{&r, 16}, {&a, 16}};
			struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
			assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), 32);
		}
	}
}

struct async_state {
	pthread_t device_thread; /* set by the device thread, under g_t.lock */
	bool done;
	int result;
	bool on_device_thread;
	uint8_t buf[16];
};

static void async_done(struct uvf_device *dev, void *data, int result)
{
	(void)dev;
	struct async_state *a = data;
	pthread_mutex_lock(&g_t.lock);
	a->result = result;
	a->on_device_thread = pthread_equal(pthread_self(), a->device_thread);
	a->done = true;
	pthread_mutex_unlock(&g_t.lock);
}

static void *async_read_worker(void *arg)
{
	struct async_state *a = arg;
	pthread_mutex_lock(&g_t.lock);
	a->device_thread = pthread_self();
	pthread_mutex_unlock(&g_t.lock);
	int ret = uvf_dma_read_async(g_h.dev, 0x300020, a->buf, sizeof(a->buf), async_done, a);
	if (ret < 0)
		async_done(g_h.dev, a, ret);
	return NULL;
}

static bool async_finished(struct async_state *a)
{
	pthread_mutex_lock(&g_t.lock);
	bool done = a->done;
	pthread_mutex_unlock(&g_t.lock);
	return done;
}

/* The device thread answering the BAR2 read's wish. */
static void *twin_dma_worker(void *arg)
{
	(void)arg;
	uint8_t data[64];
	pthread_mutex_lock(&g_t.lock);
	while (!g_t.dma_wanted)
		pthread_cond_wait(&g_t.cond, &g_t.lock);
	g_t.dma_wanted = false;
	pthread_mutex_unlock(&g_t.lock);

	int ret = uvf_dma_read(g_h.dev, 0x300000, data, sizeof(data));

	pthread_mutex_lock(&g_t.lock);
	memcpy(g_t.dma_data, data, sizeof(data));
	g_t.dma_ret = ret;
	g_t.dma_done = true;
	pthread_cond_broadcast(&g_t.cond);
	pthread_mutex_unlock(&g_t.lock);
	return NULL;
}

static void test_twin_socket_carries_device_thread_dma_while_dispatch_waits(void **state)
{
	(void)state;
	char json[512];
	start(NULL);
	int s = harness_raw_connect(&g_h);
	int twin = raw_version(s, "\"max_msg_fds\":8,\"twin_socket\":{\"supported\":true}", json, sizeof(json));
	assert_true(twin >= 0);
	assert_non_null(strstr(json, "\"twin_socket\":{\"supported\":true,\"fd_index\":0}"));
	raw_dma_map(s, 2, 0x300000, 0x2000);

	uint8_t mem[0x2000];
	for (size_t i = 0; i < sizeof(mem); i++)
		mem[i] = (uint8_t)(i ^ 0x3c);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, twin_dma_worker, NULL), 0);

	/* The read of BAR2 offset 0 blocks the dispatch thread until the
	 * device thread's DMA_READ is answered: only possible on the twin
	 * socket. */
	struct uvf_msg_region_access ra = {.offset = 0, .region = UVF_PCI_BAR2_REGION, .count = 4};
	send_raw(s, 3, UVF_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0);
	serve_dma(twin, mem, 0x300000, sizeof(mem), 1);
	struct uvf_msg_header h;
	uint8_t body[64];
	size_t len = recv_raw(s, &h, body, sizeof(body), NULL);
	assert_int_equal(h.msg_id, 3);
	assert_int_equal(h.command, UVF_CMD_REGION_READ);
	assert_false(h.flags & UVF_MSG_FLAG_ERROR);
	assert_int_equal(len, 20);
	assert_memory_equal(body + 16, mem, 4);
	pthread_join(th, NULL);

	/* and the dispatch thread's own DMA goes there too: a write from a
	 * device thread, then nothing on the main socket */
	struct msg_worker m = {.iova = 0x300100, .len = 300};
	assert_int_equal(pthread_create(&th, NULL, msg_dma_worker, &m), 0);
	serve_dma(twin, mem, 0x300000, sizeof(mem), 2); /* DMA_WRITE, DMA_READ */
	pthread_join(th, NULL);
	assert_int_equal(m.ret, 0);
	assert_int_equal(mem[0x100 + 7], (uint8_t)(7 * 13 + 1));
	assert_false(wait_readable(s, 0));

	/* an asynchronous transfer a device thread starts: sent by the
	 * dispatch thread on the twin socket, its reply read there */
	struct async_state a = {.done = false};
	assert_int_equal(pthread_create(&th, NULL, async_read_worker, &a), 0);
	serve_dma(twin, mem, 0x300000, sizeof(mem), 1);
	pthread_join(th, NULL);
	for (int i = 0; i < 500 && !async_finished(&a); i++)
		usleep(10000);
	assert_true(async_finished(&a));
	assert_int_equal(a.result, 0);
	assert_false(a.on_device_thread);
	assert_memory_equal(a.buf, mem + 0x20, sizeof(a.buf));
	assert_false(wait_readable(s, 0));

	/* the client leaving closes the twin socket */
	close(s);
	assert_true(wait_readable(twin, 5000));
	char c;
	assert_int_equal(recv(twin, &c, 1, 0), 0);
	close(twin);
}

/* ------------------------------------------------------------------ */
/* Twin socket negotiation                                              */
/* ------------------------------------------------------------------ */

static void expect_no_twin(const char *caps)
{
	char json[512];
	int s = harness_raw_connect(&g_h);
	int fd = raw_version(s, caps, json, sizeof(json));
	assert_int_equal(fd, -1);
	assert_null(strstr(json, "twin_socket"));
	close(s);
	/* the server noticed: the next connection is served */
	for (int i = 0; i < 100 && uvf_device_client_connected(g_h.dev); i++)
		usleep(10000);
}

static void test_twin_socket_only_when_offered_and_possible(void **state)
{
	(void)state;
	start(NULL);
	expect_no_twin("\"max_msg_fds\":8");
	expect_no_twin("\"max_msg_fds\":8,\"twin_socket\":{\"supported\":false}");
	expect_no_twin("\"max_msg_fds\":0,\"twin_socket\":{\"supported\":true}"); /* no room for the fd */
}

static void test_twin_socket_offer_is_accepted_with_default_fd_limit(void **state)
{
	(void)state;
	char json[512];
	start(NULL);
	int s = harness_raw_connect(&g_h);
	int fd = raw_version(s, "\"twin_socket\":{\"supported\":true}", json, sizeof(json));
	assert_true(fd >= 0);
	assert_non_null(strstr(json, "\"fd_index\":0"));
	close(fd);
	close(s);
}

static void test_twin_socket_refused_by_serve_option(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.no_twin_socket = true;
	start(&opts);
	expect_no_twin("\"max_msg_fds\":8,\"twin_socket\":{\"supported\":true}");
}

/* ------------------------------------------------------------------ */
/* Serve options version 2, adaptive polling, async DMA from a thread    */
/* ------------------------------------------------------------------ */

static void test_serve_opts_versions_and_poll_limit(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	int fds_before = harness_count_fds();
	struct uvf_device *dev = make_device();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); /* stands in for a listening fd */

	opts.version = 3;
	assert_int_equal(uvf_device_listen_fd(dev, sv[0], &opts), -EINVAL);
	opts.version = 0;
	assert_int_equal(uvf_device_listen_fd(dev, sv[0], &opts), -EINVAL);
	opts.version = 2;
	opts.poll_us = 1000001;
	assert_int_equal(uvf_device_listen_fd(dev, sv[0], &opts), -EINVAL);
	/* version 1: the version 2 fields are not read */
	opts.version = 1;
	assert_int_equal(uvf_device_listen_fd(dev, sv[0], &opts), 0);
	uvf_device_free(dev); /* closes sv[0] */
	close(sv[1]);
	assert_int_equal(harness_count_fds(), fds_before);

	dev = make_device();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	opts = (struct uvf_serve_opts)UVF_SERVE_OPTS_INIT;
	opts.poll_us = 1000000;
	assert_int_equal(uvf_device_listen_fd(dev, sv[0], &opts), 0);
	uvf_device_free(dev);
	close(sv[1]);
	assert_int_equal(harness_count_fds(), fds_before);
}

static void test_adaptive_polling_serves_round_trips(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.poll_us = 2000;
	start(&opts);
	struct uvf_client *c = harness_connect(&g_h);
	for (uint32_t i = 0; i < 200; i++) {
		uint32_t v = i * 3, back = 0;
		assert_int_equal(uvf_client_region_write(c, UVF_PCI_BAR0_REGION, 0x100, &v, 4), 0);
		assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, 0x100, &back, 4), 0);
		assert_int_equal(back, v);
		if (i % 50 == 0)
			usleep(5000); /* let the poll window close: sleep and wake */
	}
	uvf_client_close(c);
}

static uint8_t g_async_src[6000];

static void *async_worker(void *arg)
{
	struct async_state *a = arg;
	pthread_mutex_lock(&g_t.lock);
	a->device_thread = pthread_self();
	pthread_mutex_unlock(&g_t.lock);
	for (size_t i = 0; i < sizeof(g_async_src); i++)
		g_async_src[i] = (uint8_t)(i * 5);
	int ret = uvf_dma_write_async(g_h.dev, 0x400000, g_async_src, sizeof(g_async_src), async_done, a);
	if (ret < 0)
		async_done(g_h.dev, a, ret);
	return NULL;
}

static void test_async_dma_started_by_a_device_thread_completes_on_dispatch(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.no_twin_socket = true;
	start(&opts);
	struct uvf_client *c = harness_connect(&g_h);
	uint8_t *buf = calloc(1, 0x2000);
	assert_non_null(buf);
	assert_int_equal(uvf_client_dma_register(c, 0x400000, buf, 0x2000, RW), 0);

	struct async_state a = {.done = false};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, async_worker, &a), 0);
	for (;;) {
		pthread_mutex_lock(&g_t.lock);
		bool done = a.done;
		pthread_mutex_unlock(&g_t.lock);
		if (done)
			break;
		if (wait_readable(uvf_client_poll_fd(c), 50))
			assert_true(uvf_client_process(c) >= 0);
	}
	pthread_join(th, NULL);
	assert_int_equal(a.result, 0);
	assert_false(a.on_device_thread);
	assert_memory_equal(buf, g_async_src, sizeof(g_async_src));
	uvf_client_close(c);
	free(buf);
}

static void *no_client_worker(void *arg)
{
	int *ret = arg;
	uint8_t b[4];
	ret[0] = uvf_dma_read(g_h.dev, 0x1000, b, sizeof(b));
	ret[1] = uvf_dma_write_async(g_h.dev, 0x1000, b, sizeof(b), async_done, NULL);
	return NULL;
}

static void test_device_thread_dma_without_client_is_not_connected(void **state)
{
	(void)state;
	start(NULL);
	int ret[2] = {0, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, no_client_worker, ret), 0);
	pthread_join(th, NULL);
	assert_int_equal(ret[0], -ENOTCONN);
	assert_int_equal(ret[1], -ENOTCONN);
}

static void *serve_again(void *arg)
{
	struct harness *h = arg;
	h->server_ret = uvf_device_run(h->dev);
	return NULL;
}

/* While the connection is the only source of work, the dispatch thread
 * waits for it in recvmsg: a stop from another thread still ends the run,
 * and the client stays connected for the next run. */
static void test_stop_from_another_thread_ends_a_run_waiting_for_an_idle_client(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.no_twin_socket = true;
	start(&opts);
	struct uvf_client *c = harness_connect(&g_h);
	uint32_t v = 0x1234, back = 0;
	assert_int_equal(uvf_client_region_write(c, UVF_PCI_BAR0_REGION, 0x100, &v, 4), 0);
	usleep(20000); /* the dispatch thread is back waiting for the client */
	uvf_device_stop(g_h.dev);
	assert_int_equal(pthread_join(g_h.thread, NULL), 0);
	assert_int_equal(g_h.server_ret, 0);
	assert_true(uvf_device_client_connected(g_h.dev));
	assert_int_equal(pthread_create(&g_h.thread, NULL, serve_again, &g_h), 0);
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, 0x100, &back, 4), 0);
	assert_int_equal(back, v);
	uvf_client_close(c);
}

/* A stream of posted writes is taken many messages per read: a DMA_MAP in
 * the middle of it still gets its own fd, and every write lands in order. */
static void test_posted_stream_around_a_dma_map_keeps_order_and_fds(void **state)
{
	(void)state;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.no_twin_socket = true;
	start(&opts);
	struct uvf_client *c = harness_connect(&g_h);
	uint8_t *mem = NULL;
	uint32_t v = 0, back = 0;

	for (uint32_t i = 1; i <= 500; i++)
		assert_int_equal(uvf_client_region_write_posted(c, UVF_PCI_BAR0_REGION, 0x100 + 4 * (i % 8), &i, 4), 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x800000, 0x2000, RW, (void **)&mem), 0);
	for (uint32_t i = 501; i <= 1000; i++)
		assert_int_equal(uvf_client_region_write_posted(c, UVF_PCI_BAR0_REGION, 0x100 + 4 * (i % 8), &i, 4), 0);
	for (uint32_t k = 0; k < 8; k++) {
		assert_int_equal(uvf_client_region_read(c, UVF_PCI_BAR0_REGION, 0x100 + 4 * k, &back, 4), 0);
		v = 1000 - ((1000 - k) % 8); /* the last i with i % 8 == k */
		assert_int_equal(back, v);
	}
	/* the server's mapping is the client's memory: the fd went with DMA_MAP */
	memset(mem, 0xa5, 0x2000);
	uint8_t *seen = uvf_dma_ptr(g_h.dev, 0x800000, 0x2000, UVF_DMA_MAP_FLAG_READ);
	assert_non_null(seen);
	assert_int_equal(seen[0], 0xa5);
	assert_int_equal(seen[0x1fff], 0xa5);
	uvf_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_device_threads_raise_and_copy_during_map_churn, teardown),
		cmocka_unit_test_teardown(test_message_dma_from_a_device_thread_goes_through_dispatch, teardown),
		cmocka_unit_test_teardown(test_twin_socket_carries_device_thread_dma_while_dispatch_waits, teardown),
		cmocka_unit_test_teardown(test_twin_socket_only_when_offered_and_possible, teardown),
		cmocka_unit_test_teardown(test_twin_socket_offer_is_accepted_with_default_fd_limit, teardown),
		cmocka_unit_test_teardown(test_twin_socket_refused_by_serve_option, teardown),
		cmocka_unit_test(test_serve_opts_versions_and_poll_limit),
		cmocka_unit_test_teardown(test_adaptive_polling_serves_round_trips, teardown),
		cmocka_unit_test_teardown(test_async_dma_started_by_a_device_thread_completes_on_dispatch, teardown),
		cmocka_unit_test_teardown(test_device_thread_dma_without_client_is_not_connected, teardown),
		cmocka_unit_test_teardown(test_stop_from_another_thread_ends_a_run_waiting_for_an_idle_client,
					  teardown),
		cmocka_unit_test_teardown(test_posted_stream_around_a_dma_map_keeps_order_and_fds, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
