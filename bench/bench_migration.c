/* SPDX-License-Identifier: MIT */
/*
 * Live migration (issue 7):
 *  - migration data throughput: the client moves a device's state with
 *    uvf_client_migration_data_read from a source in STOP_COPY and
 *    uvf_client_migration_data_write to a destination in RESUMING, in chunks of
 *    the negotiated max transfer size;
 *  - downtime: migrate_run() (tools/migrate), source STOP_COPY to
 *    destination RUNNING, for states of 4 KiB, 1 MiB and 64 MiB; and the
 *    same steps by hand without migrate_run()'s config space copy.
 * Both devices are forked processes (bench_server_start), pinned to the
 * "other" CPU; the client runs on its own. The floor of both is the same
 * bytes moved through the same two hops with raw socketpairs: process A
 * -> client -> process B, blocking read()/write(), one request and one
 * reply per chunk on each hop, as the protocol has.
 *
 * After each migration the source is in STOP and the destination RUNNING,
 * so the next repetition migrates back the other way.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "migrate/migrate.h"

#define STATE_MAX (64u << 20)
#define HDR	  32u /* a request header and its argument, about the protocol's */

/* Server process: the device's state, streamed by save() and refilled by
 * load(). The size is set by the parent through the device thread. */
static uint8_t *state;
static _Atomic uint64_t state_size;
static uint64_t save_off, load_off;

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	(void)dev, (void)data;
	if (to == UVF_MIGRATION_STATE_STOP_COPY)
		save_off = 0;
	if (to == UVF_MIGRATION_STATE_RESUMING)
		load_off = 0;
	/* All data in: a real device would validate and apply it here. */
	if (from == UVF_MIGRATION_STATE_RESUMING && to == UVF_MIGRATION_STATE_STOP &&
	    load_off != atomic_load(&state_size))
		return -EINVAL;
	return 0;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	uint64_t size = atomic_load(&state_size);
	(void)dev, (void)data;
	if (save_off >= size)
		return 0;
	if (len > size - save_off)
		len = (size_t)(size - save_off);
	memcpy(buf, state + save_off, len);
	save_off += len;
	return (ssize_t)len;
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	(void)dev, (void)data;
	if (len > STATE_MAX - load_off)
		return -EFBIG;
	memcpy(state + load_off, buf, len);
	load_off += len;
	return 0;
}

static uint64_t mig_pending(struct uvf_device *dev, void *data)
{
	uint64_t size = atomic_load(&state_size);
	(void)dev, (void)data;
	return save_off < size ? size - save_off : 0;
}

static int mig_setup(struct uvf_device *dev, void *arg)
{
	static const struct uvf_migration_callbacks cb = {UVF_MIGRATION_CALLBACKS_VERSION, mig_transition, mig_save,
							  mig_load, mig_pending};
	struct uvf_bar_desc bar0 = {.size = 4096, .flags = UVF_BAR_MEMORY};
	int ret;
	(void)arg;
	state = malloc(STATE_MAX);
	if (!state)
		return -ENOMEM;
	/* A pattern, and every page touched before the first measurement. */
	for (size_t i = 0; i < STATE_MAX; i++)
		state[i] = (uint8_t)(i * 131u + 7u);
	ret = uvf_device_set_bar(dev, 0, &bar0);
	return ret < 0 ? ret : uvf_device_set_migration(dev, &cb, NULL, 0);
}

/* Commands: a uint64 state size; answer one byte once it is set. */
static void device_thread(struct uvf_device *dev, void *arg, int cmd_fd, int result_fd)
{
	uint64_t size;
	char ok = 'K';
	(void)dev, (void)arg;
	while (bench_read_full(cmd_fd, &size, sizeof(size)) == 0) {
		atomic_store(&state_size, size > STATE_MAX ? STATE_MAX : size);
		if (bench_write_full(result_fd, &ok, 1) < 0)
			break;
	}
}

static void set_size(const struct bench_server *s, uint64_t size)
{
	char ok;
	bench_check(bench_write_full(s->cmd_fd, &size, sizeof(size)), "command");
	bench_check(bench_read_full(s->result_fd, &ok, 1), "result");
}

/* ------------------------------------------------------------------ */
/* The floor: A -> client -> B over two socketpairs                     */
/* ------------------------------------------------------------------ */

struct two_hops {
	struct bench_floor a, b;
	size_t chunk;
};

/* A answers a HDR-byte request with HDR + chunk bytes; B answers HDR +
 * chunk bytes with HDR bytes: the shapes of MIG_DATA_READ and _WRITE. */
static void hops_start(struct two_hops *h, int cpu, size_t chunk)
{
	h->chunk = chunk;
	bench_floor_start(&h->a, cpu, HDR, HDR + chunk, false);
	bench_floor_start(&h->b, cpu, HDR + chunk, HDR, false);
}

/* Seconds to move `bytes` (a multiple of the chunk, or less than one). */
static double hops_run(struct two_hops *h, uint64_t bytes)
{
	uint64_t n = bytes <= h->chunk ? 1 : bytes / h->chunk;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		/* a->buf is large enough for HDR + chunk: the chunk goes on as read. */
		bench_check(bench_write_full(h->a.sock, h->a.buf, HDR), "floor write A");
		bench_check(bench_read_full(h->a.sock, h->a.buf, HDR + h->chunk), "floor read A");
		bench_check(bench_write_full(h->b.sock, h->a.buf, HDR + h->chunk), "floor write B");
		bench_check(bench_read_full(h->b.sock, h->b.buf, HDR), "floor read B");
	}
	return (double)(bench_now_ns() - t0) / 1e9;
}

static void hops_stop(struct two_hops *h)
{
	/* B inherited our end of A's socket when it was forked: A sees its
	 * EOF only once B is gone. */
	bench_floor_stop(&h->b);
	bench_floor_stop(&h->a);
}

/* ------------------------------------------------------------------ */
/* The uvf paths                                                        */
/* ------------------------------------------------------------------ */

struct pair {
	struct bench_server srv[2];
	struct uvf_client *c[2];
	int src; /* index of the current source */
};

static size_t negotiated_chunk(struct pair *p)
{
	/* Ours is the default 1 MiB; the server's may be smaller. */
	uint32_t s = uvf_client_server_caps(p->c[0])->max_data_xfer_size;
	return s && s < (1u << 20) ? s : (1u << 20);
}

/* The steps of a stop-and-copy by hand. Seconds of the data loop alone,
 * or (whole) from SET STOP_COPY on the source to RUNNING on the
 * destination: migrate_run()'s downtime without its config space copy. */
static double move_by_hand(struct pair *p, uint8_t *buf, size_t chunk, uint64_t bytes, bool whole)
{
	struct uvf_client *src = p->c[p->src], *dst = p->c[!p->src];
	uint64_t moved = 0, t0, t1;
	size_t got;

	bench_check(uvf_client_set_migration_state(dst, UVF_MIGRATION_STATE_RESUMING), "destination RESUMING");
	uint64_t stop_at = bench_now_ns();
	bench_check(uvf_client_set_migration_state(src, UVF_MIGRATION_STATE_STOP_COPY), "source STOP_COPY");
	t0 = bench_now_ns();
	do {
		bench_check(uvf_client_migration_data_read(src, buf, chunk, &got), "uvf_client_migration_data_read");
		if (got)
			bench_check(uvf_client_migration_data_write(dst, buf, got), "uvf_client_migration_data_write");
		moved += got;
	} while (got == chunk);
	t1 = bench_now_ns();
	if (moved != bytes)
		bench_check(-EPROTO, "state size moved");
	bench_check(uvf_client_set_migration_state(dst, UVF_MIGRATION_STATE_STOP), "destination STOP");
	bench_check(uvf_client_set_migration_state(dst, UVF_MIGRATION_STATE_RUNNING), "destination RUNNING");
	if (whole) {
		t0 = stop_at;
		t1 = bench_now_ns();
	}
	bench_check(uvf_client_set_migration_state(src, UVF_MIGRATION_STATE_STOP), "source STOP");
	p->src = !p->src;
	return (double)(t1 - t0) / 1e9;
}

/* Item 2: migrate_run()'s downtime, in seconds. */
static double downtime(struct pair *p, uint64_t bytes)
{
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	int ret;

	opts.no_precopy = true;
	ret = migrate_run(p->c[p->src], p->c[!p->src], &opts, &res);
	if (ret < 0) {
		fprintf(stderr, "uvf-bench-migration: migrate_run: %s\n", res.error);
		exit(1);
	}
	if (res.stopcopy_bytes != bytes)
		bench_check(-EPROTO, "state size migrated");
	p->src = !p->src;
	return res.downtime_ms / 1e3;
}

static double median(const double *v, int n)
{
	double s[BENCH_MAX_REPS];
	memcpy(s, v, (size_t)n * sizeof(*s));
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Times in ms; ratio floor / uvf (higher is better, as in bench_row). */
static void time_row(const char *name, const char *floor_name, const double *floor_s, const double *uvf_s)
{
	double ratio[BENCH_MAX_REPS], lo = 1e300, hi = 0;
	for (int r = 0; r < bench_reps; r++) {
		ratio[r] = uvf_s[r] > 0 ? floor_s[r] / uvf_s[r] : 0;
		lo = ratio[r] < lo ? ratio[r] : lo;
		hi = ratio[r] > hi ? ratio[r] : hi;
	}
	printf("| %s | %s | different | %.3f ms | %.3f ms | %.2f | **%.2f** | %.2f | |\n", name, floor_name,
	       median(floor_s, bench_reps) * 1e3, median(uvf_s, bench_reps) * 1e3, lo, median(ratio, bench_reps), hi);
}

static const uint64_t sizes[] = {4096, 1u << 20, STATE_MAX};
static const char *const size_names[] = {"4 KiB", "1 MiB", "64 MiB"};

static void bench_throughput(struct pair *p, int cpu, uint8_t *buf, size_t chunk)
{
	double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
	uint64_t bytes = bench_iters(STATE_MAX);
	struct two_hops h;
	char name[96];

	/* Whole chunks, at most the device's state. */
	bytes = bytes < chunk ? chunk : bytes / chunk * chunk;
	bytes = bytes > STATE_MAX ? STATE_MAX / chunk * chunk : bytes;
	for (int i = 0; i < 2; i++)
		set_size(&p->srv[i], bytes);
	bench_table_header("Migration data: MIG_DATA_READ (source in STOP_COPY) then MIG_DATA_WRITE (destination in "
			   "RESUMING) vs a two-hop socketpair copy");
	hops_start(&h, cpu, chunk);
	hops_run(&h, bytes / 8);
	move_by_hand(p, buf, chunk, bytes, false);
	for (int r = 0; r < bench_reps; r++) {
		floor[r] = (double)bytes / hops_run(&h, bytes);
		val[r] = (double)bytes / move_by_hand(p, buf, chunk, bytes, false);
	}
	hops_stop(&h);
	snprintf(name, sizeof(name), "%llu MiB state, %zu KiB chunks", (unsigned long long)(bytes >> 20), chunk >> 10);
	bench_row(name, "two-hop socketpair copy", "different", BENCH_BYTES, floor, val, 0);
}

static void bench_downtime(struct pair *p, int cpu, uint8_t *buf, size_t chunk)
{
	struct uvf_client_region cfg = {.argsz = sizeof(cfg)};

	bench_check(uvf_client_region_info(p->c[0], UVF_PCI_CONFIG_REGION, &cfg), "config space info");
	bench_table_header("Downtime: source STOP_COPY to destination RUNNING vs moving the same bytes over the "
			   "two-hop socketpair path (times; ratio = floor / uvf)");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		double floor[BENCH_MAX_REPS], run[BENCH_MAX_REPS], hand[BENCH_MAX_REPS];
		struct two_hops h;
		char name[96];

		for (int i = 0; i < 2; i++)
			set_size(&p->srv[i], sizes[k]);
		hops_start(&h, cpu, chunk < sizes[k] ? chunk : (size_t)sizes[k]);
		hops_run(&h, sizes[k]);
		downtime(p, sizes[k]);
		move_by_hand(p, buf, chunk, sizes[k], true);
		for (int r = 0; r < bench_reps; r++) {
			floor[r] = hops_run(&h, sizes[k]);
			run[r] = downtime(p, sizes[k]);
			hand[r] = move_by_hand(p, buf, chunk, sizes[k], true);
		}
		hops_stop(&h);
		snprintf(name, sizeof(name), "migrate_run(), state %s", size_names[k]);
		time_row(name, "two-hop socketpair copy", floor, run);
		snprintf(name, sizeof(name), "by hand (no config copy), state %s", size_names[k]);
		time_row(name, "two-hop socketpair copy", floor, hand);
	}
	bench_note("\nmigrate_run() also restores the %llu-byte config space on the destination while both are "
		   "stopped: one REGION_WRITE round trip per 4-byte register that differs from the source's.",
		   (unsigned long long)cfg.size);
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-migration");
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-migration\n");
		return 2;
	}
	bench_pin(bench_cpu.client);
	int cpu = bench_cpu.server_other >= 0 ? bench_cpu.server_other : bench_cpu.server_same;
	struct bench_server_spec spec = {
		.cpu = cpu, .setup = mig_setup, .device_thread = device_thread, .opts = UVF_SERVE_OPTS_INIT};
	struct pair p = {.src = 0};
	for (int i = 0; i < 2; i++) {
		bench_server_start(&p.srv[i], &spec);
		p.c[i] = bench_connect(&p.srv[i], 0);
	}
	size_t chunk = negotiated_chunk(&p);
	uint8_t *buf = malloc(chunk);
	if (!buf)
		bench_check(-ENOMEM, "malloc");

	bench_throughput(&p, cpu, buf, chunk);
	bench_downtime(&p, cpu, buf, chunk);

	free(buf);
	/* Server 1 inherited the write end of server 0's command pipe. */
	for (int i = 1; i >= 0; i--) {
		uvf_client_close(p.c[i]);
		bench_server_stop(&p.srv[i]);
	}
	return 0;
}
