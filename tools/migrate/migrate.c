/* SPDX-License-Identifier: MIT */
/*
 * The migration driver: see migrate.h for the sequence and its failure
 * rules. Only the public client API is used.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"

/* Bytes asked per MIG_DATA_READ call (the client splits it further). */
#define DATA_BUF (1u << 20)

/* Page size asked for dirty logging (the server may pick another). */
#define LOG_PAGE 4096u

/* The largest config space (PCI Express). */
#define CONFIG_MAX 4096u

struct run {
	struct uvf_client *src, *dst;
	uint32_t src_state; /* where the source was, and returns on failure */
	const struct migrate_opts *opts;
	struct migrate_result *res;
	uint8_t *buf;
	uint64_t *bitmap;
	size_t bitmap_bytes;
	uint32_t cfg_size; /* config space bytes, the same on both */
	uint8_t *cfg;	   /* source's config space, then (at CONFIG_MAX) the destination's */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Record what failed (the first failure wins) and return rc. */
__attribute__((format(printf, 3, 4))) static int fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (r->res->error[0])
		return rc;
	va_start(ap, fmt);
	vsnprintf(r->res->error, sizeof(r->res->error), fmt, ap);
	va_end(ap);
	used = strlen(r->res->error);
	snprintf(r->res->error + used, sizeof(r->res->error) - used, ": %s", uvf_strerror(rc));
	return rc;
}

static const char *state_name(uint32_t state)
{
	static const char *const names[] = {"ERROR",	"STOP",	       "RUNNING",  "STOP_COPY",
					    "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static int set_state(struct run *r, struct uvf_client *client, const char *who, uint32_t state)
{
	int rc = uvf_client_set_migration_state(client, state);

	if (rc)
		return fail(r, rc, "%s: SET %s", who, state_name(state));
	return 0;
}

/* One side's config space: its size (REGION_INFO) and all its bytes. */
static int read_config_space(struct run *r, struct uvf_client *client, const char *who, uint8_t *cfg, uint32_t *size)
{
	struct uvf_client_region info = {.argsz = sizeof(info)};
	int rc;

	rc = uvf_client_region_info(client, UVF_PCI_CONFIG_REGION, &info);
	if (rc)
		return fail(r, rc, "%s: config space info", who);
	if (info.size < 64 || info.size > CONFIG_MAX)
		return fail(r, -EPROTO, "%s: config space of %llu bytes", who, (unsigned long long)info.size);
	*size = (uint32_t)info.size;
	rc = uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, 0, cfg, *size);
	if (rc)
		return fail(r, rc, "%s: config space read", who);
	return 0;
}

/* Both sides migrate and show the same device (vendor, device, class,
 * subsystem, config space size): loading one device's state into another
 * is refused here rather than by a confused device. Everything the later
 * steps need to know about the devices, config spaces included, is learnt
 * here, while both still take any command (docs/migration.md: servers
 * that follow libvfio-user's rule refuse REGION_INFO in STOP and every
 * region access in STOP_COPY). */
static int check_peers(struct run *r, uint64_t *src_flags)
{
	static const uint32_t id_offsets[] = {0x00, 0x08, 0x2c};
	uint64_t dst_flags;
	uint32_t state, src_size, dst_size;
	int rc;

	rc = uvf_client_migration_features(r->src, src_flags);
	if (rc)
		return fail(r, rc, "source: migration feature");
	rc = uvf_client_migration_features(r->dst, &dst_flags);
	if (rc)
		return fail(r, rc, "destination: migration feature");
	/* A running or stopped source (a stopped guest migrates too), and a
	 * fresh destination: anything else is in the middle of something. */
	rc = uvf_client_migration_state(r->src, &r->src_state);
	if (rc)
		return fail(r, rc, "source: GET MIG_DEVICE_STATE");
	if (r->src_state != UVF_MIGRATION_STATE_RUNNING && r->src_state != UVF_MIGRATION_STATE_STOP)
		return fail(r, -EBUSY, "source: in state %s", state_name(r->src_state));
	rc = uvf_client_migration_state(r->dst, &state);
	if (rc)
		return fail(r, rc, "destination: GET MIG_DEVICE_STATE");
	if (state != UVF_MIGRATION_STATE_RUNNING && state != UVF_MIGRATION_STATE_STOP)
		return fail(r, -EBUSY, "destination: in state %s", state_name(state));

	r->cfg = malloc(2 * CONFIG_MAX);
	if (r->cfg == NULL)
		return fail(r, -ENOMEM, "config space buffer");
	rc = read_config_space(r, r->src, "source", r->cfg, &src_size);
	if (rc == 0)
		rc = read_config_space(r, r->dst, "destination", r->cfg + CONFIG_MAX, &dst_size);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(id_offsets) / sizeof(id_offsets[0]); i++) {
		uint32_t a, b;

		memcpy(&a, r->cfg + id_offsets[i], 4);
		memcpy(&b, r->cfg + CONFIG_MAX + id_offsets[i], 4);
		a = le32toh(a);
		b = le32toh(b);
		/* The revision (low byte at 0x08) may differ between builds. */
		if (id_offsets[i] == 0x08) {
			a &= ~0xffu;
			b &= ~0xffu;
		}
		if (a != b)
			return fail(r, -ENODEV, "the devices differ (config 0x%02x: source 0x%08x, destination 0x%08x)",
				    (unsigned)id_offsets[i], (unsigned)a, (unsigned)b);
	}
	if (src_size != dst_size)
		return fail(r, -ENODEV, "the devices differ (config space: source %u bytes, destination %u)",
			    (unsigned)src_size, (unsigned)dst_size);
	r->cfg_size = src_size;
	return 0;
}

/* Move the data the source has now to the destination; *moved = bytes. */
static int move_data(struct run *r, uint64_t *moved)
{
	*moved = 0;
	for (;;) {
		size_t got = 0;
		int rc = uvf_client_migration_data_read(r->src, r->buf, DATA_BUF, &got);

		if (rc)
			return fail(r, rc, "source: MIG_DATA_READ after %llu bytes", (unsigned long long)*moved);
		if (got > 0) {
			rc = uvf_client_migration_data_write(r->dst, r->buf, got);
			if (rc)
				return fail(r, rc, "destination: MIG_DATA_WRITE of %zu bytes after %llu", got,
					    (unsigned long long)*moved);
		}
		*moved += got;
		if (got < DATA_BUF)
			return 0;
	}
}

/* Read and clear the source's dirty log; *pages = dirty pages. */
static int collect_dirty(struct run *r, uint64_t *pages)
{
	int rc;

	*pages = 0;
	if (!r->res->logging)
		return 0;
	memset(r->bitmap, 0, r->bitmap_bytes);
	rc = uvf_client_dma_logging_report(r->src, r->opts->mem_iova, r->opts->mem_size, r->res->page_size, r->bitmap,
					   r->bitmap_bytes);
	if (rc)
		return fail(r, rc, "source: DMA_LOGGING_REPORT");
	/* A VMM would copy these pages to the destination host here; the
	 * two servers share the memory, so counting them is all there is. */
	for (size_t i = 0; i < r->bitmap_bytes / 8; i++)
		*pages += (uint64_t)__builtin_popcountll(r->bitmap[i]);
	return 0;
}

static int start_logging(struct run *r)
{
	struct uvf_msg_dma_logging_range range = {r->opts->mem_iova, r->opts->mem_size};
	uint64_t chosen = LOG_PAGE, npages;
	int rc;

	if (r->opts->mem_size == 0)
		return 0;
	rc = uvf_client_dma_logging_start(r->src, LOG_PAGE, &range, 1, &chosen);
	if (rc == -ENOTSUP) {
		/* Migration works without it; dirty pages are then unknown. */
		if (r->opts->progress)
			fprintf(r->opts->progress, "uvf-migrate: the source does not log dirty pages\n");
		return 0;
	}
	if (rc)
		return fail(r, rc, "source: DMA_LOGGING_START");
	r->res->logging = true;
	r->res->page_size = chosen;
	npages = r->opts->mem_size / chosen + (r->opts->mem_size % chosen != 0);
	r->bitmap_bytes = (size_t)((npages + 63) / 64 * 8);
	r->bitmap = calloc(1, r->bitmap_bytes);
	if (r->bitmap == NULL)
		return fail(r, -ENOMEM, "dirty bitmap of %zu bytes", r->bitmap_bytes);
	return 0;
}

static int precopy(struct run *r, uint64_t src_flags)
{
	const struct migrate_opts *o = r->opts;
	struct migrate_result *res = r->res;
	int rc;

	/* PRE_COPY runs the device: a stopped source goes straight to
	 * stop-and-copy. */
	res->precopy =
		!o->no_precopy && (src_flags & UVF_MIGRATION_PRE_COPY) && r->src_state == UVF_MIGRATION_STATE_RUNNING;
	if (res->precopy) {
		rc = set_state(r, r->src, "source", UVF_MIGRATION_STATE_PRE_COPY);
		if (rc)
			return rc;
	}
	if (!res->precopy && !res->logging)
		return 0;
	while (res->rounds < o->max_rounds) {
		uint64_t bytes = 0, dirty = 0;

		if (res->precopy) {
			rc = move_data(r, &bytes);
			if (rc)
				return rc;
		}
		rc = collect_dirty(r, &dirty);
		if (rc)
			return rc;
		res->round_bytes[res->rounds] = bytes;
		res->round_dirty[res->rounds] = dirty;
		res->rounds++;
		res->precopy_bytes += bytes;
		res->dirty_total += dirty;
		if (o->progress)
			fprintf(o->progress, "uvf-migrate: round %u: %llu bytes (%llu in all), %llu dirty pages\n",
				res->rounds, (unsigned long long)bytes, (unsigned long long)res->precopy_bytes,
				(unsigned long long)dirty);
		/* The first round is the bulk copy: converging is judged on
		 * what the device produced since. */
		if (res->rounds > 1 && bytes <= o->converge_bytes && dirty <= o->converge_pages)
			break;
		if (o->round_delay_ms && res->rounds < o->max_rounds)
			usleep(o->round_delay_ms * 1000u);
	}
	return 0;
}

/* Put the source back where it was, RUNNING or STOP (the server walks
 * the path: PRE_COPY -> RUNNING directly, STOP_COPY -> RUNNING through
 * STOP), and stop its logging. */
static void roll_back(struct run *r)
{
	uint32_t state = UVF_MIGRATION_STATE_ERROR;
	int rc;

	if (r->res->logging)
		uvf_client_dma_logging_stop(r->src);
	if (uvf_client_migration_state(r->src, &state) == 0 && state == r->src_state)
		return;
	rc = uvf_client_set_migration_state(r->src, r->src_state);
	if (rc && r->opts->progress)
		fprintf(r->opts->progress, "uvf-migrate: the source did not return to %s (from %s): %s\n",
			state_name(r->src_state), state_name(state), uvf_strerror(rc));
}

/*
 * Config space is the VMM's to carry (as with kernel VFIO, the device's
 * migration stream does not hold it): copy the source's, dword by dword
 * from 0x04 (ids and class are read-only), with both devices in STOP.
 * Only REGION_READ and REGION_WRITE are used here, which every server
 * takes in STOP; the size was learnt while the devices ran. Both are read
 * again because the devices may have changed their registers (status
 * bits, the destination's load) since. Writing back what was read is
 * harmless for write-1-to-clear status bits and command bits such as
 * "initiate FLR", which read 0.
 */
static int copy_config(struct run *r)
{
	uint8_t *src_cfg = r->cfg, *dst_cfg = r->cfg + CONFIG_MAX;
	int rc;

	rc = uvf_client_region_read(r->src, UVF_PCI_CONFIG_REGION, 0, src_cfg, r->cfg_size);
	if (rc)
		return fail(r, rc, "source: config space read in STOP");
	rc = uvf_client_region_read(r->dst, UVF_PCI_CONFIG_REGION, 0, dst_cfg, r->cfg_size);
	if (rc)
		return fail(r, rc, "destination: config space read in STOP");
	/* only what differs: a handful of registers, each a round trip in the
	 * downtime */
	for (uint32_t off = 4; off < r->cfg_size; off += 4) {
		if (off == 8 || memcmp(src_cfg + off, dst_cfg + off, 4) == 0)
			continue; /* revision and class, or already equal */
		rc = uvf_client_region_write(r->dst, UVF_PCI_CONFIG_REGION, off, src_cfg + off, 4);
		/* a register the destination refuses is only reported */
		if (rc && r->opts->progress)
			fprintf(r->opts->progress, "uvf-migrate: config 0x%03x not restored: %s\n", (unsigned)off,
				uvf_strerror(rc));
	}
	return 0;
}

int migrate_run(struct uvf_client *src, struct uvf_client *dst, const struct migrate_opts *opts,
		struct migrate_result *result)
{
	struct migrate_opts defaults = MIGRATE_OPTS_INIT;
	struct run r = {.src = src, .dst = dst, .res = result};
	uint64_t src_flags = 0, moved = 0, dirty = 0;
	double t0, stop_at;
	int rc;

	memset(result, 0, sizeof(*result));
	r.opts = opts ? opts : &defaults;
	if (src == NULL || dst == NULL || r.opts->max_rounds > MIGRATE_MAX_ROUNDS ||
	    r.opts->mem_iova + r.opts->mem_size < r.opts->mem_iova)
		return fail(&r, -EINVAL, "bad arguments (at most %d rounds)", MIGRATE_MAX_ROUNDS);
	r.buf = malloc(DATA_BUF);
	if (r.buf == NULL)
		return fail(&r, -ENOMEM, "data buffer");
	t0 = now_ms();

	/* Nothing has changed on the source until logging starts. */
	rc = check_peers(&r, &src_flags);
	if (rc == 0)
		rc = set_state(&r, dst, "destination", UVF_MIGRATION_STATE_RESUMING);
	if (rc)
		goto out;
	rc = start_logging(&r);
	if (rc == 0)
		rc = precopy(&r, src_flags);
	if (rc)
		goto abort;

	/* Stop-and-copy: the device is down from here. In STOP_COPY only
	 * MIG_DATA_READ and DEVICE_FEATURE (the dirty log) go to the source:
	 * servers that follow libvfio-user's rule refuse anything else. */
	stop_at = now_ms();
	rc = set_state(&r, src, "source", UVF_MIGRATION_STATE_STOP_COPY);
	if (rc == 0)
		rc = move_data(&r, &moved);
	result->stopcopy_bytes = moved;
	if (rc == 0)
		rc = collect_dirty(&r, &dirty);
	result->final_dirty = dirty;
	result->dirty_total += dirty;
	/* The source's state is out: it goes to STOP, where its config space
	 * can be read; the destination validates the state (STOP), gets the
	 * config space ... */
	if (rc == 0)
		rc = set_state(&r, src, "source", UVF_MIGRATION_STATE_STOP);
	if (rc == 0)
		rc = set_state(&r, dst, "destination", UVF_MIGRATION_STATE_STOP);
	if (rc == 0)
		rc = copy_config(&r);
	/* ... and runs it. */
	if (rc == 0)
		rc = set_state(&r, dst, "destination", UVF_MIGRATION_STATE_RUNNING);
	if (rc)
		goto abort;
	result->downtime_ms = now_ms() - stop_at;
	if (opts && opts->progress)
		fprintf(opts->progress, "uvf-migrate: stop-and-copy: %llu bytes, %llu dirty pages\n",
			(unsigned long long)moved, (unsigned long long)dirty);

	/* The device runs on the destination now: the source, stopped, is
	 * only tidied up, and a failure there does not undo the migration. */
	if (result->logging && uvf_client_dma_logging_stop(src) != 0 && r.opts->progress)
		fprintf(r.opts->progress, "uvf-migrate: warning: the source did not stop logging\n");
	goto out;

abort:
	roll_back(&r);
out:
	result->total_ms = now_ms() - t0;
	free(r.cfg);
	free(r.bitmap);
	free(r.buf);
	return rc;
}

int migrate_share_memory(struct uvf_client *const *clients, size_t n, uint64_t iova, size_t size, void **ptr)
{
	void *mem;
	int fd, rc = 0;

	*ptr = NULL;
	fd = memfd_create("uvf-migrate-guest", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = uvf_client_dma_map_fd(clients[i], iova, size, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, fd,
					   0);
	/* The servers and our mapping keep the memory alive. */
	close(fd);
	if (rc) {
		munmap(mem, size);
		return rc;
	}
	*ptr = mem;
	return 0;
}
