/* SPDX-License-Identifier: MIT */
/*
 * uvf-migrate and its driver (tools/migrate/) against two in-process uvf
 * servers of a tiny migratable device: a live migration while a client
 * thread keeps the device doing DMA, with the destination's registers
 * checked against the source's final ones and the dirty page counts
 * checked non-zero; a destination that refuses the data, which must leave
 * the source RUNNING; the uvf-migrate program itself (exit status,
 * JSON summary) on success and on that failure; and servers in the
 * library's strict mode, which refuse commands in STOP and STOP_COPY as
 * libvfio-user does (docs/migration.md), migrated by the driver and by
 * the program, with and without pre-copy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "migrate/migrate.h"
#include "server/server_internal.h" /* uvf__migration_set_strict() */

/* ------------------------------------------------------------------ */
/* The device                                                           */
/* ------------------------------------------------------------------ */

/*
 * BAR0: 256 bytes of registers (callbacks), its whole state:
 *   0x00 magic (read-only), 0x04 count of DMA jobs done (read-only),
 *   0x08 last job value (read-only), 0x0c.. scratch,
 *   0x40 doorbell: writing v makes the device write v (8 bytes) into
 *        guest memory at page v % MEM_PAGES, then count it.
 * While stopped (STOP, STOP_COPY, RESUMING) the device refuses register
 * writes with -EBUSY: its state must not change once saved.
 *
 * Migration stream: records of {RECORD_MAGIC, regs[64]}; pre-copy sends a
 * record whenever the registers changed since the last one, stop-and-copy
 * a final one; loading keeps the last complete record and refuses any
 * partial one at RESUMING -> STOP.
 */
#define MAGIC	     0x6d696721u
#define RECORD_MAGIC 0x72656331u
#define NREGS	     64
#define REG_COUNT    1
#define REG_LAST     2
#define DOORBELL     0x40
#define MEM_SIZE     (4u << 20)
#define MEM_PAGES    (MEM_SIZE / 4096)

struct record {
	uint32_t magic;
	uint32_t regs[NREGS];
};

struct migdev {
	uint32_t regs[NREGS];
	enum uvf_migration_state state;
	uint64_t generation; /* bumped on every register change */
	/* saving */
	struct record out;
	size_t out_pos, out_len;
	uint64_t saved_generation;
	/* loading */
	uint8_t in[sizeof(struct record)];
	size_t in_len;
	bool loaded;
	bool refuse_load;  /* the destination that fails on the data */
	bool reject_state; /* ... or when it validates the state (RESUMING -> STOP) */
};

static bool stopped(const struct migdev *d)
{
	return d->state == UVF_MIGRATION_STATE_STOP || d->state == UVF_MIGRATION_STATE_STOP_COPY ||
	       d->state == UVF_MIGRATION_STATE_RESUMING;
}

static int regs_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct migdev *d = data;

	(void)dev;
	memcpy(buf, (uint8_t *)d->regs + offset, len);
	return 0;
}

static int regs_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct migdev *d = data;
	uint64_t v = 0;
	int rc;

	if (stopped(d))
		return -EBUSY;
	if (offset < 0x0c)
		return -EPERM;
	if (offset != DOORBELL) {
		memcpy((uint8_t *)d->regs + offset, buf, len);
		d->generation++;
		return 0;
	}
	memcpy(&v, buf, len < sizeof(v) ? len : sizeof(v));
	rc = uvf_dma_write(dev, (v % MEM_PAGES) * 4096, &v, sizeof(v));
	if (rc)
		return rc;
	d->regs[REG_COUNT]++;
	d->regs[REG_LAST] = (uint32_t)v;
	d->generation++;
	return 0;
}

static void snapshot(struct migdev *d)
{
	d->out.magic = RECORD_MAGIC;
	memcpy(d->out.regs, d->regs, sizeof(d->regs));
	d->out_pos = 0;
	d->out_len = sizeof(d->out);
	d->saved_generation = d->generation;
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct migdev *d = data;

	(void)dev;
	(void)from;
	if (to == UVF_MIGRATION_STATE_PRE_COPY || to == UVF_MIGRATION_STATE_STOP_COPY)
		snapshot(d);
	if (to == UVF_MIGRATION_STATE_RESUMING) {
		d->in_len = 0;
		d->loaded = false;
	}
	if (from == UVF_MIGRATION_STATE_RESUMING && to == UVF_MIGRATION_STATE_STOP &&
	    (!d->loaded || d->in_len != 0 || d->reject_state))
		return -EINVAL; /* no state, or a partial record */
	d->state = to;
	return 0;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct migdev *d = data;
	size_t n;

	(void)dev;
	/* Pre-copy: a new record once the registers changed again. */
	if (d->out_pos == d->out_len && d->state == UVF_MIGRATION_STATE_PRE_COPY &&
	    d->generation != d->saved_generation)
		snapshot(d);
	n = d->out_len - d->out_pos < len ? d->out_len - d->out_pos : len;
	memcpy(buf, (uint8_t *)&d->out + d->out_pos, n);
	d->out_pos += n;
	return (ssize_t)n;
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	struct migdev *d = data;
	const uint8_t *p = buf;

	(void)dev;
	if (d->refuse_load)
		return -EINVAL;
	while (len > 0) {
		size_t n = sizeof(d->in) - d->in_len < len ? sizeof(d->in) - d->in_len : len;
		struct record rec;

		memcpy(d->in + d->in_len, p, n);
		d->in_len += n;
		p += n;
		len -= n;
		if (d->in_len < sizeof(d->in))
			break;
		memcpy(&rec, d->in, sizeof(rec));
		if (rec.magic != RECORD_MAGIC || rec.regs[0] != MAGIC)
			return -EINVAL;
		memcpy(d->regs, rec.regs, sizeof(d->regs));
		d->loaded = true;
		d->in_len = 0;
	}
	return 0;
}

static struct uvf_device *make_device(struct migdev *d, bool refuse_load)
{
	static const struct uvf_migration_callbacks cb = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f7, .class_code = 0xff0000};
	struct uvf_bar_desc bar = {.size = 256, .read = regs_read, .write = regs_write, .data = d};
	struct uvf_device *dev;

	memset(d, 0, sizeof(*d));
	d->regs[0] = MAGIC;
	d->state = UVF_MIGRATION_STATE_RUNNING;
	d->refuse_load = refuse_load;
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), 0);
	assert_int_equal(uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 1), 0);
	assert_int_equal(uvf_device_set_migration(dev, &cb, d, UVF_MIGRATION_PRE_COPY), 0);
	return dev;
}

/* ------------------------------------------------------------------ */
/* The workload                                                         */
/* ------------------------------------------------------------------ */

struct workload {
	struct uvf_client *client;
	pthread_t thread;
	uint64_t next;	/* the last doorbell value taken (atomic) */
	uint64_t done;	/* doorbells the device took (atomic) */
	int last_error; /* what ended it */
	bool stop;	/* asked to stop (atomic) */
};

/* Ring the doorbell until the device refuses (it stopped for good) or
 * the test says stop. */
static void *workload_main(void *arg)
{
	struct workload *w = arg;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t v = w->next + 1;
		int rc = uvf_client_region_write(w->client, 0, DOORBELL, &v, sizeof(v));

		if (rc) {
			w->last_error = rc;
			break;
		}
		__atomic_store_n(&w->next, v, __ATOMIC_RELAXED);
		__atomic_fetch_add(&w->done, 1, __ATOMIC_RELAXED);
		usleep(200);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

struct pair {
	struct harness src_h, dst_h;
	struct migdev src_d, dst_d;
	struct uvf_client *src, *dst;
	void *mem;
};

/* Two servers, strict ones (libvfio-user's rule) or not. Their fds are
 * checked once both stopped (pair_stop): a harness alone would count the
 * other server's fds as leaked. */
enum refusal { ACCEPTS, REFUSES_DATA, REJECTS_STATE };

static void pair_start_mode(struct pair *p, enum refusal dst_refuses, bool strict)
{
	struct uvf_device *dev;

	harness_prepare(&p->src_h);
	dev = make_device(&p->src_d, false);
	uvf__migration_set_strict(dev, strict);
	harness_start(&p->src_h, dev, NULL);
	harness_prepare(&p->dst_h);
	dev = make_device(&p->dst_d, dst_refuses == REFUSES_DATA);
	p->dst_d.reject_state = dst_refuses == REJECTS_STATE;
	uvf__migration_set_strict(dev, strict);
	harness_start(&p->dst_h, dev, NULL);
	p->src = p->dst = NULL;
	p->mem = NULL;
}

static void pair_start(struct pair *p, bool dst_refuses)
{
	pair_start_mode(p, dst_refuses ? REFUSES_DATA : ACCEPTS, false);
}

static void pair_connect(struct pair *p)
{
	struct uvf_client *both[2];

	p->src = harness_connect(&p->src_h);
	p->dst = harness_connect(&p->dst_h);
	both[0] = p->src;
	both[1] = p->dst;
	assert_int_equal(migrate_share_memory(both, 2, 0, MEM_SIZE, &p->mem), 0);
}

static void stop_server(struct harness *h)
{
	uvf_device_stop(h->dev);
	assert_int_equal(pthread_join(h->thread, NULL), 0);
	h->running = false;
	assert_int_equal(h->server_ret, 0);
	uvf_device_free(h->dev);
	h->dev = NULL;
	assert_int_equal(access(h->path, F_OK), -1);
	rmdir(h->dir);
}

static void pair_stop(struct pair *p)
{
	uvf_client_close(p->src);
	uvf_client_close(p->dst);
	if (p->mem)
		munmap(p->mem, MEM_SIZE);
	stop_server(&p->dst_h);
	stop_server(&p->src_h);
	assert_int_equal(harness_count_fds(), p->src_h.fds_before);
}

static void read_regs(struct uvf_client *client, uint32_t *regs)
{
	assert_int_equal(uvf_client_region_read(client, 0, 0, regs, NREGS * 4), 0);
}

static void test_migrates_a_device_in_the_middle_of_a_dma_workload(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	struct workload w = {0};
	uint32_t src_regs[NREGS], dst_regs[NREGS], st = 0;
	uint64_t v, busy_rounds = 0;

	(void)state;
	pair_start(&p, false);
	pair_connect(&p);
	/* Some state before the migration starts. */
	v = 0x5eed;
	assert_int_equal(uvf_client_region_write(p.src, 0, 0x0c, &v, 4), 0);

	w.client = p.src;
	assert_int_equal(pthread_create(&w.thread, NULL, workload_main, &w), 0);
	while (__atomic_load_n(&w.done, __ATOMIC_RELAXED) < 20)
		usleep(1000);

	opts.mem_size = MEM_SIZE;
	opts.max_rounds = 6;
	opts.round_delay_ms = 20;
	opts.progress = getenv("UVF_TEST_VERBOSE") ? stderr : NULL;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), 0);
	/* The workload ends when the source stops for good. */
	assert_int_equal(pthread_join(w.thread, NULL), 0);
	assert_int_equal(w.last_error, -EBUSY);

	assert_true(res.precopy);
	assert_true(res.logging);
	assert_int_equal(res.page_size, 4096);
	assert_true(res.rounds >= 2);
	assert_true(res.precopy_bytes >= sizeof(struct record));
	assert_int_equal(res.stopcopy_bytes, sizeof(struct record));
	/* The device wrote guest memory during pre-copy: the log saw it. */
	for (unsigned i = 0; i < res.rounds; i++)
		busy_rounds += res.round_dirty[i] > 0;
	assert_true(busy_rounds >= 1);
	assert_true(res.dirty_total > 0 && res.dirty_total <= MEM_PAGES * (res.rounds + 1));

	/* The destination continues exactly where the source stopped. */
	read_regs(p.src, src_regs);
	read_regs(p.dst, dst_regs);
	assert_memory_equal(src_regs, dst_regs, sizeof(src_regs));
	assert_int_equal(dst_regs[REG_COUNT], w.done);
	assert_int_equal(dst_regs[REG_LAST], (uint32_t)w.next);
	assert_int_equal(dst_regs[3], 0x5eed);
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_STOP);
	assert_int_equal(uvf_client_migration_state(p.dst, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	/* Guest memory holds what the device wrote, and the destination
	 * writes into the same memory. */
	assert_memory_equal((uint8_t *)p.mem + (w.next % MEM_PAGES) * 4096, &w.next, sizeof(w.next));
	v = w.next + 1;
	assert_int_equal(uvf_client_region_write(p.dst, 0, DOORBELL, &v, sizeof(v)), 0);
	assert_memory_equal((uint8_t *)p.mem + (v % MEM_PAGES) * 4096, &v, sizeof(v));
	read_regs(p.dst, dst_regs);
	assert_int_equal(dst_regs[REG_COUNT], w.done + 1);
	pair_stop(&p);
}

static void test_without_precopy_only_stop_and_copy_moves_data(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	uint32_t src_regs[NREGS], dst_regs[NREGS];
	uint32_t v = 77;

	(void)state;
	pair_start(&p, false);
	pair_connect(&p);
	assert_int_equal(uvf_client_region_write(p.src, 0, 0x20, &v, 4), 0);
	opts.no_precopy = true;
	opts.mem_size = MEM_SIZE;
	opts.max_rounds = 2;
	opts.round_delay_ms = 0;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), 0);
	assert_false(res.precopy);
	assert_int_equal(res.precopy_bytes, 0);
	assert_int_equal(res.stopcopy_bytes, sizeof(struct record));
	read_regs(p.src, src_regs);
	read_regs(p.dst, dst_regs);
	assert_memory_equal(src_regs, dst_regs, sizeof(src_regs));
	assert_int_equal(dst_regs[8], 77);
	pair_stop(&p);
}

static void test_config_space_follows_the_device(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	uint16_t cmd = 0;
	uint8_t line = 0;

	(void)state;
	pair_start(&p, false);
	pair_connect(&p);
	/* what a guest programs: decoding, bus mastering, its interrupt line */
	assert_int_equal(uvf_client_config_write16(p.src, 0x04, 0x0006), 0);
	assert_int_equal(uvf_client_config_write8(p.src, 0x3c, 0x0b), 0);
	assert_int_equal(uvf_client_config_read16(p.dst, 0x04, &cmd), 0);
	assert_int_equal(cmd & 0x6, 0);
	opts.no_precopy = true;
	opts.mem_size = MEM_SIZE;
	opts.max_rounds = 2;
	opts.round_delay_ms = 0;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), 0);
	assert_int_equal(uvf_client_config_read16(p.dst, 0x04, &cmd), 0);
	assert_int_equal(cmd & 0x6, 0x6);
	assert_int_equal(uvf_client_config_read8(p.dst, 0x3c, &line), 0);
	assert_int_equal(line, 0x0b);
	pair_stop(&p);
}

static void test_refused_data_leaves_the_source_running(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	uint32_t st = 0;
	uint64_t v = 3;

	(void)state;
	pair_start(&p, true);
	pair_connect(&p);
	opts.mem_size = MEM_SIZE;
	opts.round_delay_ms = 0;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), -EINVAL);
	assert_non_null(strstr(res.error, "destination: MIG_DATA_WRITE"));
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	/* The source works, and its logging was stopped (a new START is
	 * accepted). */
	assert_int_equal(uvf_client_region_write(p.src, 0, DOORBELL, &v, sizeof(v)), 0);
	assert_int_equal(uvf_client_dma_logging_start(p.src, 4096, NULL, 0, NULL), 0);
	assert_int_equal(uvf_client_dma_logging_stop(p.src), 0);
	pair_stop(&p);
}

static void test_different_devices_are_refused_before_anything_changes(void **state)
{
	struct pair p;
	struct migrate_result res;
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f8, .class_code = 0xff0000};
	uint32_t st = 0;

	(void)state;
	p.src = p.dst = NULL;
	p.mem = NULL;
	harness_prepare(&p.src_h);
	harness_start(&p.src_h, make_device(&p.src_d, false), NULL);
	harness_prepare(&p.dst_h);
	{
		struct uvf_device *dev = make_device(&p.dst_d, false);

		assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
		harness_start(&p.dst_h, dev, NULL);
	}
	pair_connect(&p);
	assert_int_equal(migrate_run(p.src, p.dst, NULL, &res), -ENODEV);
	assert_non_null(strstr(res.error, "the devices differ"));
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(uvf_client_migration_state(p.dst, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	pair_stop(&p);
}

static void test_a_stopped_source_skips_precopy_and_stays_stopped_on_failure(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	uint32_t st = 0;

	(void)state;
	pair_start(&p, true);
	pair_connect(&p);
	assert_int_equal(uvf_client_set_migration_state(p.src, UVF_MIGRATION_STATE_STOP), 0);
	opts.mem_size = MEM_SIZE;
	opts.round_delay_ms = 0;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), -EINVAL);
	assert_false(res.precopy);
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_STOP);
	pair_stop(&p);
}

static void test_a_destination_in_the_middle_of_something_is_refused(void **state)
{
	struct pair p;
	struct migrate_result res;
	uint32_t st = 0;

	(void)state;
	pair_start(&p, false);
	pair_connect(&p);
	assert_int_equal(uvf_client_set_migration_state(p.dst, UVF_MIGRATION_STATE_PRE_COPY), 0);
	assert_int_equal(migrate_run(p.src, p.dst, NULL, &res), -EBUSY);
	assert_non_null(strstr(res.error, "destination: in state PRE_COPY"));
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	pair_stop(&p);
}

/* Run uvf-migrate with args; returns its exit status; its stdout in out. */
static int run_tool(const char *src, const char *dst, const char *extra, char *out, size_t cap)
{
	const char *exe = getenv("UVF_MIGRATE");
	char cmd[1024];
	FILE *f;
	size_t n;
	int status;

	if (exe == NULL)
		skip(); /* run through meson, which says where the program is */
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' --mem 1M --round-delay 1 %s %s", exe, src, dst, extra,
		 getenv("UVF_TEST_VERBOSE") ? "" : "2>/dev/null");
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	status = pclose(f);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_tool_migrates_and_prints_a_json_summary(void **state)
{
	struct pair p;
	char out[2048];
	uint32_t regs[NREGS], v = 1234;
	struct uvf_client *c;

	(void)state;
	pair_start(&p, false);
	c = harness_connect(&p.src_h);
	assert_int_equal(uvf_client_region_write(c, 0, 0x10, &v, 4), 0);
	uvf_client_close(c);

	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "--json", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "{\"ok\":true,\"precopy\":true,\"logging\":true,\"page_size\":4096,"));
	assert_non_null(strstr(out, "\"stopcopy_bytes\":260,"));
	assert_non_null(strstr(out, "\"irq_index\":1,\"irq_vectors\":1,"));
	assert_non_null(strstr(out, "\"downtime_ms\":"));
	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "--bogus", out, sizeof(out)), 2);

	/* The destination carries on with the source's registers. */
	c = harness_connect(&p.dst_h);
	read_regs(c, regs);
	assert_int_equal(regs[4], 1234);
	uvf_client_close(c);
	assert_int_equal(uvf_device_migration_state(p.dst_h.dev), UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(uvf_device_migration_state(p.src_h.dev), UVF_MIGRATION_STATE_STOP);
	pair_stop(&p);
}

static void test_tool_exits_1_and_leaves_the_source_running_when_refused(void **state)
{
	struct pair p;
	char out[2048];

	(void)state;
	pair_start(&p, true);
	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "--json", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "{\"ok\":false,\"errno\":22,\"error\":\"destination: MIG_DATA_WRITE"));
	assert_int_equal(uvf_device_migration_state(p.src_h.dev), UVF_MIGRATION_STATE_RUNNING);
	/* A human reads this: the default output says the downtime only on
	 * success. */
	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "", out, sizeof(out)), 1);
	assert_null(strstr(out, "downtime"));
	pair_stop(&p);
}

/* ------------------------------------------------------------------ */
/* Servers that follow libvfio-user's rule                              */
/* ------------------------------------------------------------------ */

/* The strict mode refuses exactly what libvfio-user refuses: in STOP_COPY
 * everything but DEVICE_FEATURE and MIG_DATA_READ, in STOP also allowing
 * REGION_READ and REGION_WRITE, and nothing in the other states. Checked
 * here so that the migrations below cannot pass against a lax server. */
static void test_strict_mode_refuses_what_libvfio_user_refuses(void **state)
{
	struct pair p;
	struct uvf_client_region info = {.argsz = sizeof(info)};
	struct uvf_msg_device_info dev_info;
	struct uvf_msg_irq_info irq;
	uint8_t buf[512];
	uint32_t id = 0, st = 0;
	uint8_t line = 0x0a;
	size_t got = 0;

	(void)state;
	pair_start_mode(&p, ACCEPTS, true);
	pair_connect(&p);

	assert_int_equal(uvf_client_set_migration_state(p.src, UVF_MIGRATION_STATE_STOP_COPY), 0);
	assert_int_equal(uvf_client_region_info(p.src, UVF_PCI_CONFIG_REGION, &info), -EINVAL);
	assert_int_equal(uvf_client_device_info(p.src, &dev_info), -EINVAL);
	assert_int_equal(uvf_client_irq_info(p.src, UVF_PCI_MSI_IRQ, &irq), -EINVAL);
	assert_int_equal(uvf_client_config_read32(p.src, 0, &id), -EINVAL);
	assert_int_equal(uvf_client_config_write8(p.src, 0x3c, line), -EINVAL);
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_STOP_COPY);
	assert_int_equal(uvf_client_migration_data_read(p.src, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, sizeof(struct record));

	assert_int_equal(uvf_client_set_migration_state(p.src, UVF_MIGRATION_STATE_STOP), 0);
	assert_int_equal(uvf_client_region_info(p.src, UVF_PCI_CONFIG_REGION, &info), -EINVAL);
	assert_int_equal(uvf_client_device_info(p.src, &dev_info), -EINVAL);
	assert_int_equal(uvf_client_irq_info(p.src, UVF_PCI_MSI_IRQ, &irq), -EINVAL);
	assert_int_equal(uvf_client_config_read32(p.src, 0, &id), 0);
	assert_int_equal(id, 0x10f71af4);
	assert_int_equal(uvf_client_config_write8(p.src, 0x3c, line), 0);

	/* RESUMING (and RUNNING) refuse nothing more than uvf always does. */
	assert_int_equal(uvf_client_set_migration_state(p.dst, UVF_MIGRATION_STATE_RESUMING), 0);
	assert_int_equal(uvf_client_region_info(p.dst, UVF_PCI_CONFIG_REGION, &info), 0);
	assert_int_equal(uvf_client_device_info(p.dst, &dev_info), 0);
	assert_int_equal(uvf_client_config_read32(p.dst, 0, &id), 0);
	assert_int_equal(uvf_client_set_migration_state(p.src, UVF_MIGRATION_STATE_RUNNING), 0);
	assert_int_equal(uvf_client_region_info(p.src, UVF_PCI_CONFIG_REGION, &info), 0);
	assert_int_equal(uvf_client_irq_info(p.src, UVF_PCI_MSI_IRQ, &irq), 0);
	pair_stop(&p);
}

/* The driver between two strict servers: registers, config space and
 * states end as with uvf's own servers. */
static void migrate_between_strict_servers(bool no_precopy)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	uint32_t src_regs[NREGS], dst_regs[NREGS], v = 4321, st = 0;
	uint16_t cmd = 0;
	uint8_t line = 0;

	pair_start_mode(&p, ACCEPTS, true);
	pair_connect(&p);
	assert_int_equal(uvf_client_region_write(p.src, 0, 0x14, &v, 4), 0);
	assert_int_equal(uvf_client_config_write16(p.src, 0x04, 0x0006), 0);
	assert_int_equal(uvf_client_config_write8(p.src, 0x3c, 0x0b), 0);
	opts.no_precopy = no_precopy;
	opts.mem_size = MEM_SIZE;
	opts.max_rounds = 3;
	opts.round_delay_ms = 0;
	opts.progress = getenv("UVF_TEST_VERBOSE") ? stderr : NULL;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), 0);
	assert_true(res.error[0] == '\0');
	assert_int_equal(res.precopy, !no_precopy);
	assert_true(res.logging);
	assert_int_equal(res.stopcopy_bytes, sizeof(struct record));

	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_STOP);
	assert_int_equal(uvf_client_migration_state(p.dst, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	read_regs(p.src, src_regs); /* REGION_READ: legal in STOP */
	read_regs(p.dst, dst_regs);
	assert_memory_equal(src_regs, dst_regs, sizeof(src_regs));
	assert_int_equal(dst_regs[5], 4321);
	assert_int_equal(uvf_client_config_read16(p.dst, 0x04, &cmd), 0);
	assert_int_equal(cmd & 0x6, 0x6);
	assert_int_equal(uvf_client_config_read8(p.dst, 0x3c, &line), 0);
	assert_int_equal(line, 0x0b);
	pair_stop(&p);
}

static void test_strict_servers_migrate_with_precopy(void **state)
{
	(void)state;
	migrate_between_strict_servers(false);
}

static void test_strict_servers_migrate_without_precopy(void **state)
{
	(void)state;
	migrate_between_strict_servers(true);
}

/* A failure at the switch-over between strict servers, after the source
 * went to STOP: the destination rejects the state it was sent. The source
 * goes back to RUNNING with logging off, and takes commands again. */
static void test_strict_source_runs_again_when_the_destination_rejects_the_state(void **state)
{
	struct pair p;
	struct migrate_opts opts = MIGRATE_OPTS_INIT;
	struct migrate_result res;
	struct uvf_client_region info = {.argsz = sizeof(info)};
	uint32_t st = 0;

	(void)state;
	pair_start_mode(&p, REJECTS_STATE, true);
	pair_connect(&p);
	opts.no_precopy = true;
	opts.mem_size = MEM_SIZE;
	opts.round_delay_ms = 0;
	assert_int_equal(migrate_run(p.src, p.dst, &opts, &res), -EINVAL);
	assert_non_null(strstr(res.error, "destination: SET STOP"));
	assert_int_equal(uvf_client_migration_state(p.src, &st), 0);
	assert_int_equal(st, UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(uvf_client_region_info(p.src, UVF_PCI_CONFIG_REGION, &info), 0);
	assert_int_equal(uvf_client_dma_logging_start(p.src, 4096, NULL, 0, NULL), 0);
	assert_int_equal(uvf_client_dma_logging_stop(p.src), 0);
	pair_stop(&p);
}

/* The program, as a user runs it, between strict servers. */
static void test_tool_migrates_between_strict_servers(void **state)
{
	struct pair p;
	char out[2048];

	(void)state;
	pair_start_mode(&p, ACCEPTS, true);
	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "--json --no-precopy", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "{\"ok\":true,\"precopy\":false,\"logging\":true,"));
	assert_int_equal(uvf_device_migration_state(p.dst_h.dev), UVF_MIGRATION_STATE_RUNNING);
	assert_int_equal(uvf_device_migration_state(p.src_h.dev), UVF_MIGRATION_STATE_STOP);
	pair_stop(&p);

	pair_start_mode(&p, ACCEPTS, true);
	assert_int_equal(run_tool(p.src_h.path, p.dst_h.path, "--json", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "{\"ok\":true,\"precopy\":true,\"logging\":true,"));
	assert_int_equal(uvf_device_migration_state(p.dst_h.dev), UVF_MIGRATION_STATE_RUNNING);
	pair_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrates_a_device_in_the_middle_of_a_dma_workload),
		cmocka_unit_test(test_without_precopy_only_stop_and_copy_moves_data),
		cmocka_unit_test(test_config_space_follows_the_device),
		cmocka_unit_test(test_refused_data_leaves_the_source_running),
		cmocka_unit_test(test_different_devices_are_refused_before_anything_changes),
		cmocka_unit_test(test_a_stopped_source_skips_precopy_and_stays_stopped_on_failure),
		cmocka_unit_test(test_a_destination_in_the_middle_of_something_is_refused),
		cmocka_unit_test(test_tool_migrates_and_prints_a_json_summary),
		cmocka_unit_test(test_tool_exits_1_and_leaves_the_source_running_when_refused),
		cmocka_unit_test(test_strict_mode_refuses_what_libvfio_user_refuses),
		cmocka_unit_test(test_strict_servers_migrate_with_precopy),
		cmocka_unit_test(test_strict_servers_migrate_without_precopy),
		cmocka_unit_test(test_strict_source_runs_again_when_the_destination_rejects_the_state),
		cmocka_unit_test(test_tool_migrates_between_strict_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
