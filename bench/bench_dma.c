/* SPDX-License-Identifier: MIT */
/*
 * Server-initiated DMA (issue 5, items 5 and 6):
 *  - uvf_dma_read/uvf_dma_write of 4 KiB and 1 MiB from a device thread
 *    through memory the client shared (uvf_client_dma_alloc), vs memcpy of
 *    the same sizes in the server process;
 *  - the same by message (uvf_client_dma_register, no fd), vs a raw
 *    socketpair ping-pong carrying the same bytes as DMA_READ/DMA_WRITE;
 *  - uvf_dma_ptr lookups on random addresses with 1, 1,024 and 65,535
 *    fd-backed mappings, vs a binary search of the same addresses in a
 *    sorted array of the same ranges (the least a lookup can do).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define DMA_IOVA   0x100000000ull  /* the shared buffer (mapped or registered) */
#define MAP_IOVA   0x1000000000ull /* the lookup mappings: 4 KiB every 8 KiB */
#define MAP_STRIDE 8192ull
#define MAP_SIZE   4096ull
#define MAX_MAPS   65535u
#define BUF_SIZE   (1u << 20)

enum dma_op { OP_MAPPED_READ = 1, OP_MAPPED_WRITE, OP_LOOKUP, OP_MESSAGE_READ, OP_MESSAGE_WRITE };

/* Parent -> device thread. */
struct dma_cmd {
	uint32_t op;
	uint32_t reps;
	uint64_t iters;
	uint64_t size;	/* bytes per transfer */
	uint64_t count; /* OP_LOOKUP: mappings in place */
};

/* Written at BAR0 offset 0: the dispatch thread does `count` message DMAs
 * of `size` bytes at DMA_IOVA before answering. */
struct msg_dma_req {
	uint32_t write;
	uint32_t pad;
	uint64_t size;
	uint64_t count;
};

static uint8_t *scratch; /* server process: BUF_SIZE bytes */

static int go_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct msg_dma_req req;
	(void)data;
	if (offset != 0 || len != sizeof(req))
		return 0;
	memcpy(&req, buf, sizeof(req));
	if (req.size > BUF_SIZE)
		return -EINVAL;
	for (uint64_t i = 0; i < req.count; i++) {
		int ret = req.write ? uvf_dma_write(dev, DMA_IOVA, scratch, req.size)
				    : uvf_dma_read(dev, DMA_IOVA, scratch, req.size);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int go_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int dma_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .read = go_read, .write = go_write};
	(void)arg;
	scratch = calloc(1, BUF_SIZE);
	if (!scratch)
		return -ENOMEM;
	return uvf_device_set_bar(dev, 0, &bar0);
}

static void mapped_copy(struct uvf_device *dev, const struct dma_cmd *cmd, double *out)
{
	uint8_t *src = malloc(BUF_SIZE), *dst = malloc(BUF_SIZE);
	if (!src || !dst)
		bench_check(-ENOMEM, "malloc");
	memset(src, 1, BUF_SIZE);
	memset(dst, 2, BUF_SIZE);
	size_t len = (size_t)cmd->size;
	for (uint32_t r = 0; r < cmd->reps; r++) {
		struct bench_timer t;
		bench_timer_start(&t);
		for (uint64_t i = 0; i < cmd->iters; i++) {
			memcpy(dst, src, len);
			bench_use(dst);
		}
		out[2 * r] = bench_timer_floor(&t, (double)(cmd->iters * len), "memcpy");
		bench_timer_start(&t);
		for (uint64_t i = 0; i < cmd->iters; i++) {
			int ret = cmd->op == OP_MAPPED_READ ? BENCH_UVF(uvf_dma_read(dev, DMA_IOVA, dst, len))
							    : BENCH_UVF(uvf_dma_write(dev, DMA_IOVA, src, len));
			bench_check(ret, "uvf_dma_read/write");
			bench_use(dst);
		}
		out[2 * r + 1] = bench_timer_uvf(&t, (double)(cmd->iters * len), cmd->iters, "uvf_dma_read/write");
	}
	free(src);
	free(dst);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The floor's table: the same ranges as the server's mappings, sorted. */
struct range {
	uint64_t iova, size;
	uint8_t *host;
};

static void *range_find(const struct range *t, size_t n, uint64_t iova, uint64_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (iova < t[mid].iova)
			hi = mid;
		else if (iova - t[mid].iova >= t[mid].size)
			lo = mid + 1;
		else
			return len <= t[mid].size - (iova - t[mid].iova) ? t[mid].host + (iova - t[mid].iova) : NULL;
	}
	return NULL;
}

/* Per repetition: the floor's binary search, then uvf_dma_ptr, on the same
 * addresses. */
static void lookups(struct uvf_device *dev, const struct dma_cmd *cmd, double *out)
{
	enum { NADDR = 4096 };
	static uint64_t addr[NADDR];
	static struct range table[MAX_MAPS];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t n = cmd->count > MAX_MAPS ? MAX_MAPS : (size_t)cmd->count;
	for (size_t k = 0; k < n; k++)
		table[k] = (struct range){MAP_IOVA + k * MAP_STRIDE, MAP_SIZE, scratch + (k % 256) * MAP_SIZE};
	for (int i = 0; i < NADDR; i++) {
		uint64_t k = xorshift(&seed) % n;
		addr[i] = MAP_IOVA + k * MAP_STRIDE + xorshift(&seed) % (MAP_SIZE - 8);
	}
	for (uint32_t r = 0; r < cmd->reps; r++) {
		struct bench_timer t;
		bench_timer_start(&t);
		for (uint64_t i = 0; i < cmd->iters; i++) {
			void *p = range_find(table, n, addr[i % NADDR], 8);
			bench_use(p);
		}
		out[2 * r] = bench_timer_floor(&t, (double)cmd->iters, "binary search");
		bench_timer_start(&t);
		for (uint64_t i = 0; i < cmd->iters; i++) {
			void *p = BENCH_UVF(uvf_dma_ptr(dev, addr[i % NADDR], 8, UVF_DMA_MAP_FLAG_READ));
			bench_use(p);
		}
		out[2 * r + 1] = bench_timer_uvf(&t, (double)cmd->iters, cmd->iters, "uvf_dma_ptr");
	}
}

/* Message DMA from the device thread: over the twin socket when there is
 * one, else handed to the dispatch thread. Rate 0 on failure. */
static void message_copy(struct uvf_device *dev, const struct dma_cmd *cmd, double *out)
{
	for (uint32_t r = 0; r < cmd->reps; r++) {
		struct bench_timer t;
		bench_timer_start(&t);
		out[r] = 0;
		for (uint64_t i = 0; i < cmd->iters; i++) {
			int ret = cmd->op == OP_MESSAGE_READ
					  ? BENCH_UVF(uvf_dma_read(dev, DMA_IOVA, scratch, cmd->size))
					  : BENCH_UVF(uvf_dma_write(dev, DMA_IOVA, scratch, cmd->size));
			if (ret < 0) {
				fprintf(stderr, "uvf-bench-dma: message DMA from a device thread: %s\n",
					uvf_strerror(ret));
				return;
			}
		}
		out[r] = bench_timer_uvf(&t, (double)(cmd->iters * cmd->size), cmd->iters, "message DMA");
	}
}

static void device_thread(struct uvf_device *dev, void *arg, int cmd_fd, int result_fd)
{
	struct dma_cmd cmd;
	double out[2 * BENCH_MAX_REPS];
	(void)arg;
	while (bench_read_full(cmd_fd, &cmd, sizeof(cmd)) == 0) {
		size_t n = cmd.reps;
		if (cmd.reps > BENCH_MAX_REPS)
			break;
		if (cmd.op == OP_MESSAGE_READ || cmd.op == OP_MESSAGE_WRITE) {
			message_copy(dev, &cmd, out);
		} else {
			/* A floor and a uvf rate per repetition. */
			if (cmd.op == OP_LOOKUP)
				lookups(dev, &cmd, out);
			else
				mapped_copy(dev, &cmd, out);
			n *= 2;
		}
		if (bench_write_full(result_fd, out, n * sizeof(double)) < 0)
			break;
	}
}

static void ask(const struct bench_server *s, const struct dma_cmd *cmd, double *out, size_t n)
{
	bench_check(bench_write_full(s->cmd_fd, cmd, sizeof(*cmd)), "command");
	bench_check(bench_read_full(s->result_fd, out, n * sizeof(double)), "result");
}

static const size_t sizes[] = {4096, BUF_SIZE};

/* Item 5, mapped: the device thread measures both. */
static void bench_mapped_dma(const struct bench_server *s, struct uvf_client *c)
{
	void *mem;
	bench_check(uvf_client_dma_alloc(c, DMA_IOVA, BUF_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &mem),
		    "uvf_client_dma_alloc");
	memset(mem, 3, BUF_SIZE);
	bench_table_header("Server DMA through shared memory (uvf_client_dma_alloc; device thread) vs memcpy");
	for (int w = 0; w < 2; w++) {
		for (size_t k = 0; k < 2; k++) {
			struct dma_cmd cmd = {w ? OP_MAPPED_WRITE : OP_MAPPED_READ, (uint32_t)bench_reps,
					      bench_iters(sizes[k] == 4096 ? 100000 : 400), sizes[k], 0};
			double out[2 * BENCH_MAX_REPS], floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
			char name[64];
			ask(s, &cmd, out, 2 * (size_t)bench_reps);
			for (int r = 0; r < bench_reps; r++) {
				floor[r] = out[2 * r];
				val[r] = out[2 * r + 1];
			}
			snprintf(name, sizeof(name), "uvf_dma_%s %s", w ? "write" : "read", k ? "1 MiB" : "4 KiB");
			bench_row(name, "memcpy, same size", "server", BENCH_BYTES, floor, val, 0.9);
		}
	}
	bench_check(uvf_client_dma_unregister(c, DMA_IOVA, BUF_SIZE), "uvf_client_dma_unregister");
}

static double msg_dma_rate(struct uvf_client *c, bool write, size_t size, uint64_t count)
{
	struct msg_dma_req req = {write, 0, size, count};
	struct bench_timer t;
	/* One call here; the server's count DMAs, which this client serves
	 * meanwhile, are counted by the write's callback: it fails the write
	 * when one fails. */
	bench_timer_start(&t);
	bench_check(BENCH_UVF(uvf_client_region_write(c, 0, 0, &req, sizeof(req))), "message DMA");
	return bench_timer_uvf(&t, (double)(count * size), 1, "message DMA, dispatch thread");
}

/* The same from the device thread; meanwhile we serve the server's
 * requests as a VMM's event loop would. */
static double thread_msg_dma_rate(const struct bench_server *s, struct uvf_client *c, bool write, size_t size,
				  uint64_t count)
{
	struct dma_cmd cmd = {write ? OP_MESSAGE_WRITE : OP_MESSAGE_READ, 1, count, size, 0};
	double rate;

	bench_check(bench_write_full(s->cmd_fd, &cmd, sizeof(cmd)), "command");
	for (;;) {
		struct pollfd p[2] = {{.fd = uvf_client_poll_fd(c), .events = POLLIN},
				      {.fd = s->result_fd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			bench_check(-errno, "poll");
		if (p[0].revents)
			bench_check(BENCH_UVF(uvf_client_process(c)), "uvf_client_process");
		if (p[1].revents)
			break;
	}
	bench_check(bench_read_full(s->result_fd, &rate, sizeof(rate)), "result");
	if (rate == 0)
		bench_check(-EIO, "message DMA from a device thread");
	return rate;
}

/* Item 5, by message: DMA_READ is a 16+16 byte request and a 16+16+size
 * reply; DMA_WRITE the other way round. From the dispatch thread (a
 * register write's callback; the client serves the requests while it
 * waits for that write's reply) and from a device thread. */
static void bench_message_dma(const struct bench_server *s, struct uvf_client *c, int server_cpu)
{
	bool twin = uvf_client_server_caps(c)->twin_socket;
	uint8_t *mem = aligned_alloc(4096, BUF_SIZE);
	if (!mem)
		bench_check(-ENOMEM, "aligned_alloc");
	memset(mem, 4, BUF_SIZE);
	bench_check(uvf_client_dma_register(c, DMA_IOVA, mem, BUF_SIZE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
		    "uvf_client_dma_register");
	bench_table_header("Server DMA by message (uvf_client_dma_register, no fd) vs a socketpair carrying the same "
			   "messages");
	for (int w = 0; w < 2; w++) {
		for (size_t k = 0; k < 2; k++) {
			size_t size = sizes[k];
			uint64_t iters = bench_iters(size == 4096 ? 3000 : 60);
			size_t small = 32, big = 32 + size;
			struct bench_floor f;
			double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
			double thread_floor[BENCH_MAX_REPS], thread[BENCH_MAX_REPS];
			char name[96];

			bench_floor_start(&f, server_cpu, w ? big : small, w ? small : big, true);
			bench_floor_run(&f, iters / 10 + 1);
			msg_dma_rate(c, w, size, iters / 10 + 1);
			thread_msg_dma_rate(s, c, w, size, iters / 10 + 1);
			for (int r = 0; r < bench_reps; r++) {
				floor[r] = bench_floor_run(&f, iters) * (double)size;
				val[r] = msg_dma_rate(c, w, size, iters);
				thread_floor[r] = bench_floor_run(&f, iters) * (double)size;
				thread[r] = thread_msg_dma_rate(s, c, w, size, iters);
			}
			bench_floor_stop(&f);
			snprintf(name, sizeof(name), "DMA_%s %s, dispatch thread", w ? "WRITE" : "READ",
				 k ? "1 MiB" : "4 KiB");
			bench_row(name, "socketpair, read/write, same messages", "different", BENCH_BYTES, floor, val,
				  0);
			snprintf(name, sizeof(name), "DMA_%s %s, device thread%s", w ? "WRITE" : "READ",
				 k ? "1 MiB" : "4 KiB", twin ? " (twin socket)" : "");
			bench_row(name, "socketpair, read/write, same messages", "different", BENCH_BYTES, thread_floor,
				  thread, 0);
		}
	}
	bench_check(uvf_client_dma_unregister(c, DMA_IOVA, BUF_SIZE), "uvf_client_dma_unregister");
	free(mem);
}

/* Item 6: fd-backed mappings of 4 KiB, all from one memfd. DMA_MAP by
 * uvf_client_call, as uvf_client_dma_alloc would create a memfd each. The
 * file offsets go down while the server's mmap() addresses go down too,
 * so that its mappings can merge into few kernel VMAs (vm.max_map_count
 * is about 65530). The server keeps one fd per fd-backed mapping: once
 * it runs out of fds, the rest are fd-less (same table, same search;
 * uvf_dma_ptr then finds them and returns NULL). */
struct lookup_maps {
	int memfd;
	uint32_t have;
	uint32_t fd_backed; /* the first fd_backed mappings have an fd */
	bool fd_failed;
};

static int map_up_to(struct uvf_client *c, struct lookup_maps *lm, uint32_t want)
{
	for (; lm->have < want; lm->have++) {
		struct uvf_msg_dma_map m = {sizeof(m), UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					    (uint64_t)(MAX_MAPS - 1 - lm->have) * MAP_SIZE,
					    MAP_IOVA + lm->have * MAP_STRIDE, MAP_SIZE};
		size_t rlen;
		int ret;
		if (!lm->fd_failed) {
			ret = uvf_client_call(c, UVF_CMD_DMA_MAP, &m, sizeof(m), &lm->memfd, 1, NULL, 0, &rlen);
			if (ret == 0) {
				lm->fd_backed++;
				continue;
			}
			lm->fd_failed = true;
		}
		m.offset = 0;
		ret = uvf_client_call(c, UVF_CMD_DMA_MAP, &m, sizeof(m), NULL, 0, NULL, 0, &rlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void bench_lookup(const struct bench_server *s, struct uvf_client *c)
{
	static const uint32_t counts[] = {1, 1024, MAX_MAPS};
	struct lookup_maps lm = {memfd_create("uvf-bench-maps", MFD_CLOEXEC), 0, 0, false};

	bench_table_header("uvf_dma_ptr lookups on random addresses vs a binary search in a sorted array of the same "
			   "ranges (rate; time per lookup)");
	if (lm.memfd < 0 || ftruncate(lm.memfd, (off_t)MAX_MAPS * MAP_SIZE) < 0)
		bench_check(-errno, "memfd");
	for (size_t k = 0; k < 3; k++) {
		struct dma_cmd cmd = {OP_LOOKUP, (uint32_t)bench_reps, bench_iters(1000000), 8, counts[k]};
		double out[2 * BENCH_MAX_REPS], floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
		char name[96], floor_name[96];
		int ret = map_up_to(c, &lm, counts[k]);
		if (ret < 0) {
			char why[96];
			snprintf(why, sizeof(why), "DMA_MAP number %u failed: %s", (unsigned)lm.have + 1,
				 uvf_strerror(ret));
			snprintf(name, sizeof(name), "%u mappings", (unsigned)counts[k]);
			bench_row_missing(name, "server", why);
			break;
		}
		ask(s, &cmd, out, 2 * (size_t)bench_reps);
		for (int r = 0; r < bench_reps; r++) {
			floor[r] = out[2 * r];
			val[r] = out[2 * r + 1];
		}
		if (lm.fd_backed < lm.have)
			snprintf(name, sizeof(name), "%u mappings (%u with fd)", (unsigned)counts[k],
				 (unsigned)lm.fd_backed);
		else
			snprintf(name, sizeof(name), "%u mapping%s", (unsigned)counts[k], k ? "s" : "");
		snprintf(floor_name, sizeof(floor_name), "binary search, sorted array of %u range%s",
			 (unsigned)counts[k], k ? "s" : "");
		bench_row(name, floor_name, "server", BENCH_OPS, floor, val, 0);
	}
	close(lm.memfd);
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-dma");
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-dma\n");
		return 2;
	}
	bench_pin(bench_cpu.client);
	int cpu = bench_cpu.server_other >= 0 ? bench_cpu.server_other : bench_cpu.server_same;
	struct bench_server_spec spec = {.cpu = cpu,
					 .setup = dma_setup,
					 .device_thread = device_thread,
					 .opts = UVF_SERVE_OPTS_INIT,
					 .nofile = MAX_MAPS + 1024};
	struct bench_server s;
	bench_server_start(&s, &spec);
	struct uvf_client *c = bench_connect(&s, 0);

	bench_mapped_dma(&s, c);
	bench_message_dma(&s, c, cpu);
	bench_lookup(&s, c);

	uvf_client_close(c);
	bench_server_stop(&s);
	return 0;
}
