/* SPDX-License-Identifier: MIT */
/* The dmatest device logic (register map in dmatest.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/devmig.h"
#include "dmatest.h"

/* What the asynchronous step of a running command is waiting for. */
enum step_phase {
	PHASE_READ = 0,	 /* reading chunk `n` at `done` into the bounce buffer */
	PHASE_WRITE = 1, /* writing the bounce buffer (chunk `n` at `done`) */
};

struct uvf_dmatest {
	struct uvf_device *dev; /* owns this state (free_data) */
	uint8_t *regs;		/* BAR0 memory, owned by the device */
	uint8_t *scratch;	/* BAR4 memory (shared, the client may map it) */
	uint32_t status;
	uint32_t sum;
	uint32_t bar4_writes; /* by REGION_WRITE only */
	uint32_t irq_count;
	uint32_t cmd_count;
	/* the command in progress (asynchronous DMA) */
	bool busy;
	uint32_t cmd;
	uint64_t src, dst, len, done;
	bool backward;
	size_t n;	     /* bytes of the chunk in flight */
	unsigned generation; /* bumped by reset and quiesce: callbacks of older jobs are ignored */
	enum step_phase phase;
	bool intx; /* the completion level we hold on INTx */
	/* migration */
	bool stopped;	   /* quiesced: no DMA, no interrupts, no new command */
	bool step_pending; /* the step in flight at quiesce, to start again on resume */
	uint32_t deferred; /* a command written while stopped, started on resume */
	struct devmig mig;
	uint8_t bounce[UVF_DMATEST_CHUNK];
};

/* Registers are little-endian, as is every host uvf runs on (docs/protocol.md 0). */
static uint32_t load32(const struct uvf_dmatest *t, uint32_t reg)
{
	uint32_t v;
	memcpy(&v, t->regs + reg, sizeof(v));
	return v;
}

static void store32(struct uvf_dmatest *t, uint32_t reg, uint32_t v)
{
	memcpy(t->regs + reg, &v, sizeof(v));
}

static uint64_t load64(const struct uvf_dmatest *t, uint32_t reg_lo)
{
	return (uint64_t)load32(t, reg_lo + 4) << 32 | load32(t, reg_lo);
}

/* The client may have written over read-only registers: put them back. */
static void sync_read_only(struct uvf_dmatest *t)
{
	store32(t, UVF_DMATEST_REG_ID, UVF_DMATEST_ID);
	store32(t, UVF_DMATEST_REG_VERSION, UVF_DMATEST_VERSION);
	store32(t, UVF_DMATEST_REG_CMD, t->busy ? t->cmd : t->deferred);
	store32(t, UVF_DMATEST_REG_STATUS, t->status);
	store32(t, UVF_DMATEST_REG_IRQ_COUNT, t->irq_count);
	store32(t, UVF_DMATEST_REG_CMD_COUNT, t->cmd_count);
	store32(t, UVF_DMATEST_REG_IRQ_VECTOR, load32(t, UVF_DMATEST_REG_IRQ_VECTOR) % UVF_DMATEST_MSIX_VECTORS);
	store32(t, UVF_DMATEST_REG_SUM, t->sum);
	store32(t, UVF_DMATEST_REG_BAR4_WRITES, t->bar4_writes);
}

uint32_t uvf_dmatest_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t h = UVF_DMATEST_FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * UVF_DMATEST_FNV_PRIME;
	return h;
}

/* SUM and BARFILL: BAR4 is local memory, so they finish at once. The
 * client's stores through its mapping are ordered before the CMD write
 * that starts us (it went through a socket after them). */
static int run_on_scratch(struct uvf_dmatest *t, uint32_t cmd, uint64_t len)
{
	if (len > UVF_DMATEST_BAR4_SIZE)
		return -EINVAL;
	if (cmd == UVF_DMATEST_CMD_SUM)
		t->sum = uvf_dmatest_checksum(t->scratch, (size_t)len);
	else
		memset(t->scratch, (uint8_t)load32(t, UVF_DMATEST_REG_PATTERN), (size_t)len);
	return 0;
}

static size_t chunk_of(uint64_t remaining)
{
	return remaining < UVF_DMATEST_CHUNK ? (size_t)remaining : UVF_DMATEST_CHUNK;
}

static void raise_completion(struct uvf_device *dev, struct uvf_dmatest *t)
{
	int ret;

	/* MSI-X only when the guest enabled it; otherwise the wiring decides,
	 * as it did before MSI-X, for clients that attach MSI eventfds
	 * without enabling MSI in config space. */
	if (uvf_irq_mode(dev) == UVF_PCI_MSIX_IRQ)
		ret = uvf_irq_raise(dev, load32(t, UVF_DMATEST_REG_IRQ_VECTOR));
	else if (uvf_irq_enabled(dev, UVF_PCI_MSI_IRQ, 0))
		ret = uvf_irq_trigger(dev, UVF_PCI_MSI_IRQ, 0);
	else if (uvf_irq_enabled(dev, UVF_PCI_INTX_IRQ, 0)) {
		/* INTx is a level, held until the next command (or a reset):
		 * a VMM that acknowledges INTx early (QEMU unmasks on the
		 * guest's next BAR access) gets it again, so none is lost. */
		ret = uvf_irq_set_intx_level(dev, true);
		if (ret == 0)
			t->intx = true;
	} else
		ret = -ENOENT;
	/* -ENOENT: the client wired no interrupt; it polls CMD_COUNT. */
	if (ret == 0)
		t->irq_count++;
}

/* The command is over: publish the result, then interrupt. */
static void complete(struct uvf_device *dev, struct uvf_dmatest *t, int ret)
{
	t->busy = false;
	t->status = (uint32_t)-ret;
	t->cmd_count++;
	sync_read_only(t); /* registers first, so the interrupt handler sees them */
	raise_completion(dev, t);
	sync_read_only(t); /* and IRQ_COUNT */
}

/*
 * Commands run as a chain of asynchronous transfers of at most one chunk:
 * COPY reads a chunk into the bounce buffer, then writes it; FILL writes.
 * Each step starts the next from its completion callback. With fd-backed
 * memory each step finishes before the client's next message is handled;
 * with message-based DMA the device keeps answering register reads (CMD
 * reads non-zero) while the client serves our DMA requests.
 */
static void next_step(struct uvf_device *dev, struct uvf_dmatest *t);

/* What a transfer's callback needs: whose, and of which job generation. */
struct step {
	struct uvf_dmatest *t;
	unsigned generation;
};

/* The device state if the step still belongs to the running job; frees
 * the step either way (each callback runs exactly once). */
static struct uvf_dmatest *current(void *data)
{
	struct step *step = data;
	struct uvf_dmatest *t = step->t;
	bool live = t->busy && t->generation == step->generation;
	free(step);
	return live ? t : NULL;
}

static struct step *new_step(struct uvf_dmatest *t)
{
	struct step *step = malloc(sizeof(*step));
	if (step) {
		step->t = t;
		step->generation = t->generation;
	}
	return step;
}

static void wrote_chunk(struct uvf_device *dev, void *data, int result)
{
	struct uvf_dmatest *t = current(data);
	if (!t)
		return; /* reset meanwhile */
	if (result < 0) {
		complete(dev, t, result);
		return;
	}
	t->done += t->n;
	next_step(dev, t);
}

static void write_step(struct uvf_device *dev, struct uvf_dmatest *t);

static void read_chunk(struct uvf_device *dev, void *data, int result)
{
	struct uvf_dmatest *t = current(data);
	if (!t)
		return;
	if (result < 0) {
		complete(dev, t, result);
		return;
	}
	write_step(dev, t);
}

/* COPY: the chunk is in the bounce buffer; write it to the destination. */
static void write_step(struct uvf_device *dev, struct uvf_dmatest *t)
{
	uint64_t off = t->backward ? t->len - t->done - t->n : t->done;
	struct step *step = new_step(t);
	t->phase = PHASE_WRITE;
	int ret = step ? uvf_dma_write_async(dev, t->dst + off, t->bounce, t->n, wrote_chunk, step) : -ENOMEM;
	if (ret < 0) {
		free(step);
		complete(dev, t, ret);
	}
}

static void next_step(struct uvf_device *dev, struct uvf_dmatest *t)
{
	if (t->done == t->len) {
		complete(dev, t, 0);
		return;
	}
	t->n = chunk_of(t->len - t->done);
	struct step *step = new_step(t);
	int ret;
	if (!step)
		ret = -ENOMEM;
	else if (t->cmd == UVF_DMATEST_CMD_COPY) {
		/* destination above an overlapping source: copy from the end,
		 * so every chunk is read before it is overwritten */
		uint64_t off = t->backward ? t->len - t->done - t->n : t->done;
		t->phase = PHASE_READ;
		ret = uvf_dma_read_async(dev, t->src + off, t->bounce, t->n, read_chunk, step);
	} else {
		t->phase = PHASE_WRITE;
		ret = uvf_dma_write_async(dev, t->dst + t->done, t->bounce, t->n, wrote_chunk, step);
	}
	if (ret < 0) {
		free(step);
		complete(dev, t, ret);
	}
}

static void start_command(struct uvf_device *dev, struct uvf_dmatest *t, uint32_t cmd)
{
	uvf_irq_set_intx_level(dev, false); /* the previous completion is seen */
	t->intx = false;
	t->cmd = cmd;
	t->src = load64(t, UVF_DMATEST_REG_SRC_LO);
	t->dst = load64(t, UVF_DMATEST_REG_DST_LO);
	t->len = load32(t, UVF_DMATEST_REG_LEN);
	t->done = 0;
	t->busy = true;
	if (cmd == UVF_DMATEST_CMD_SUM || cmd == UVF_DMATEST_CMD_BARFILL) {
		complete(dev, t, run_on_scratch(t, cmd, t->len));
		return;
	}
	if (t->len > UVF_DMATEST_MAX_LEN || t->len > UINT64_MAX - t->dst ||
	    (cmd == UVF_DMATEST_CMD_COPY && t->len > UINT64_MAX - t->src) ||
	    (cmd != UVF_DMATEST_CMD_COPY && cmd != UVF_DMATEST_CMD_FILL)) {
		complete(dev, t, -EINVAL);
		return;
	}
	t->backward = cmd == UVF_DMATEST_CMD_COPY && t->dst > t->src && t->dst - t->src < t->len;
	if (cmd == UVF_DMATEST_CMD_FILL)
		memset(t->bounce, (uint8_t)load32(t, UVF_DMATEST_REG_PATTERN), chunk_of(t->len));
	next_step(dev, t);
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct uvf_dmatest *t = data;

	(void)buf; /* already copied into the BAR memory by the library */
	if (offset < UVF_DMATEST_REG_CMD + 4 && offset + len > UVF_DMATEST_REG_CMD) {
		uint32_t cmd = load32(t, UVF_DMATEST_REG_CMD);
		/* a command written while one runs is dropped; while stopped
		 * it waits for the device to run again */
		if (cmd && !t->busy && t->stopped && !t->deferred)
			t->deferred = cmd;
		else if (cmd && !t->busy && !t->stopped && !t->deferred)
			start_command(dev, t, cmd);
	}
	sync_read_only(t);
	return 0;
}

/* Only REGION_WRITE gets here: stores through a mapping reach the memory
 * without the library seeing them. */
static int bar4_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct uvf_dmatest *t = data;

	(void)dev;
	(void)offset;
	(void)buf;
	(void)len;
	t->bar4_writes++;
	sync_read_only(t);
	return 0;
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct uvf_dmatest *t = data;

	(void)dev;
	/* the library has zeroed the BAR memory; a command in flight is
	 * forgotten (its callbacks see a newer generation) */
	if (reason == UVF_RESET_CLIENT) {
		/* the library leaves any migration state for RUNNING */
		t->stopped = false;
		devmig_clear(&t->mig);
	}
	t->busy = false;
	t->generation++;
	t->step_pending = false;
	t->deferred = 0;
	t->intx = false;
	t->status = 0;
	t->irq_count = 0;
	t->cmd_count = 0;
	t->sum = 0;
	t->bar4_writes = 0;
	sync_read_only(t);
	return 0;
}

/* ---- Migration (state format in dmatest.h) ---- */

#define DMATEST_MIG_TAG	    0x54414d44u /* "DMAT" */
#define DMATEST_MIG_VERSION 1u
#define DMATEST_MIG_MAX	    (256u << 10) /* the largest stream is about 134 KiB */

/* RUNNING/PRE_COPY -> STOP/STOP_COPY. Completions arrive on the dispatch
 * thread that runs this callback, so a transfer in flight cannot be
 * waited for: its step is recorded and started again on resume (each step
 * is idempotent: a chunk read again, or the bounce buffer written again),
 * and its callback, now of an older generation, is ignored. */
static void quiesce(struct uvf_dmatest *t)
{
	t->stopped = true;
	if (t->busy) {
		t->generation++;
		t->step_pending = true;
	}
}

static void log_quiesce(struct uvf_device *dev, const struct uvf_dmatest *t)
{
	if (t->busy)
		uvf_device_log(dev, UVF_LOG_DEBUG,
			       "dmatest: quiesce: command %u at %llu of %llu bytes, %s step again on resume", t->cmd,
			       (unsigned long long)t->done, (unsigned long long)t->len,
			       t->phase == PHASE_READ ? "read" : "write");
}

/* STOP -> RUNNING, on the source (migration cancelled) or the destination. */
static void resume(struct uvf_device *dev, struct uvf_dmatest *t)
{
	t->stopped = false;
	if (t->intx) /* a completion the driver has not seen yet */
		(void)uvf_irq_set_intx_level(dev, true);
	if (t->busy && t->step_pending) {
		t->step_pending = false;
		if (t->cmd == UVF_DMATEST_CMD_COPY && t->phase == PHASE_WRITE)
			write_step(dev, t);
		else
			next_step(dev, t);
	}
	if (!t->busy && t->deferred) {
		uint32_t cmd = t->deferred;
		t->deferred = 0;
		start_command(dev, t, cmd);
	}
	sync_read_only(t);
}

static int build_stream(struct uvf_dmatest *t)
{
	struct devmig_writer w;
	uint8_t *stream;
	size_t len;
	bool step = t->busy && t->step_pending;
	uint32_t bounce = step && t->phase == PHASE_WRITE ? (uint32_t)t->n : 0;

	devmig_writer_begin(&w, DMATEST_MIG_TAG, DMATEST_MIG_VERSION);
	devmig_put_u32(&w, UVF_DMATEST_BAR_SIZE);
	devmig_put_bytes(&w, t->regs, UVF_DMATEST_BAR_SIZE);
	devmig_put_u32(&w, UVF_DMATEST_BAR4_SIZE);
	devmig_put_bytes(&w, t->scratch, UVF_DMATEST_BAR4_SIZE);
	devmig_put_u32(&w, t->status);
	devmig_put_u32(&w, t->sum);
	devmig_put_u32(&w, t->bar4_writes);
	devmig_put_u32(&w, t->irq_count);
	devmig_put_u32(&w, t->cmd_count);
	devmig_put_u8(&w, t->intx);
	devmig_put_u32(&w, t->deferred);
	devmig_put_u8(&w, step);
	devmig_put_u32(&w, step ? t->cmd : 0);
	devmig_put_u64(&w, step ? t->src : 0);
	devmig_put_u64(&w, step ? t->dst : 0);
	devmig_put_u64(&w, step ? t->len : 0);
	devmig_put_u64(&w, step ? t->done : 0);
	devmig_put_u8(&w, step ? (uint8_t)t->phase : 0);
	devmig_put_u32(&w, bounce);
	devmig_put_bytes(&w, t->bounce, bounce);
	int ret = devmig_writer_finish(&w, &stream, &len);
	if (ret == 0)
		devmig_save_begin(&t->mig, stream, len);
	return ret;
}

/* The state a stream describes, checked whole before any of it is applied. */
struct dmatest_image {
	uint32_t status, sum, bar4_writes, irq_count, cmd_count, deferred, cmd, phase, bounce_len;
	bool intx, step;
	uint64_t src, dst, len, done;
	const uint8_t *regs, *scratch, *bounce;
};

static int parse_stream(struct uvf_device *dev, struct uvf_dmatest *t, struct dmatest_image *im)
{
	struct devmig_reader r;
	uint32_t version;

	if (devmig_load_finish(&t->mig, DMATEST_MIG_TAG, DMATEST_MIG_VERSION, &r, &version) < 0) {
		uvf_device_log(dev, UVF_LOG_WARNING,
			       "dmatest: migration stream refused: truncated, corrupted or not a dmatest v1 stream "
			       "(%zu bytes)",
			       t->mig.in_len);
		return -EINVAL;
	}
	if (devmig_get_u32(&r) != UVF_DMATEST_BAR_SIZE)
		goto bad;
	im->regs = r.p + r.pos;
	if (r.len - r.pos < UVF_DMATEST_BAR_SIZE)
		goto bad;
	r.pos += UVF_DMATEST_BAR_SIZE;
	if (devmig_get_u32(&r) != UVF_DMATEST_BAR4_SIZE)
		goto bad;
	im->scratch = r.p + r.pos;
	if (r.len - r.pos < UVF_DMATEST_BAR4_SIZE)
		goto bad;
	r.pos += UVF_DMATEST_BAR4_SIZE;
	im->status = devmig_get_u32(&r);
	im->sum = devmig_get_u32(&r);
	im->bar4_writes = devmig_get_u32(&r);
	im->irq_count = devmig_get_u32(&r);
	im->cmd_count = devmig_get_u32(&r);
	im->intx = devmig_get_u8(&r) != 0;
	im->deferred = devmig_get_u32(&r);
	im->step = devmig_get_u8(&r) != 0;
	im->cmd = devmig_get_u32(&r);
	im->src = devmig_get_u64(&r);
	im->dst = devmig_get_u64(&r);
	im->len = devmig_get_u64(&r);
	im->done = devmig_get_u64(&r);
	im->phase = devmig_get_u8(&r);
	im->bounce_len = devmig_get_u32(&r);
	if (r.bad || im->bounce_len > UVF_DMATEST_CHUNK || r.len - r.pos < im->bounce_len)
		goto bad;
	im->bounce = r.p + r.pos;
	r.pos += im->bounce_len;
	if (devmig_reader_end(&r) < 0)
		goto bad;
	if (im->step) {
		/* the same bounds start_command() enforces, and a consistent step */
		bool copy = im->cmd == UVF_DMATEST_CMD_COPY;
		if ((!copy && im->cmd != UVF_DMATEST_CMD_FILL) || im->len > UVF_DMATEST_MAX_LEN ||
		    im->done >= im->len || im->len > UINT64_MAX - im->dst || (copy && im->len > UINT64_MAX - im->src) ||
		    im->phase > PHASE_WRITE || (!copy && im->phase != PHASE_WRITE) ||
		    im->bounce_len != (im->phase == PHASE_WRITE ? chunk_of(im->len - im->done) : 0))
			goto bad;
	} else if (im->bounce_len) {
		goto bad;
	}
	return 0;
bad:
	uvf_device_log(dev, UVF_LOG_WARNING, "dmatest: migration stream refused: inconsistent state");
	return -EINVAL;
}

static void apply_image(struct uvf_dmatest *t, const struct dmatest_image *im)
{
	t->generation++; /* whatever this side had started is forgotten */
	memcpy(t->regs, im->regs, UVF_DMATEST_BAR_SIZE);
	memcpy(t->scratch, im->scratch, UVF_DMATEST_BAR4_SIZE);
	t->status = im->status;
	t->sum = im->sum;
	t->bar4_writes = im->bar4_writes;
	t->irq_count = im->irq_count;
	t->cmd_count = im->cmd_count;
	t->intx = im->intx;
	t->deferred = im->deferred;
	t->busy = im->step;
	t->step_pending = im->step;
	t->cmd = im->cmd;
	t->src = im->src;
	t->dst = im->dst;
	t->len = im->len;
	t->done = im->done;
	t->phase = (enum step_phase)im->phase;
	t->backward = t->cmd == UVF_DMATEST_CMD_COPY && t->dst > t->src && t->dst - t->src < t->len;
	t->n = im->step ? chunk_of(t->len - t->done) : 0;
	if (im->bounce_len)
		memcpy(t->bounce, im->bounce, im->bounce_len);
	else if (im->step) /* FILL keeps its pattern in the bounce buffer */
		memset(t->bounce, (uint8_t)load32(t, UVF_DMATEST_REG_PATTERN), t->n);
	sync_read_only(t);
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct uvf_dmatest *t = data;
	bool was_running = from == UVF_MIGRATION_STATE_RUNNING || from == UVF_MIGRATION_STATE_PRE_COPY;

	if (was_running && (to == UVF_MIGRATION_STATE_STOP || to == UVF_MIGRATION_STATE_STOP_COPY)) {
		quiesce(t);
		log_quiesce(dev, t);
	}
	switch (to) {
	case UVF_MIGRATION_STATE_STOP_COPY:
		return build_stream(t); /* the whole state, now that it is frozen */
	case UVF_MIGRATION_STATE_PRE_COPY:
		devmig_clear(&t->mig); /* nothing in pre-copy: the state is small */
		return 0;
	case UVF_MIGRATION_STATE_RESUMING:
		devmig_load_begin(&t->mig, DMATEST_MIG_MAX);
		return 0;
	case UVF_MIGRATION_STATE_RUNNING:
		if (from == UVF_MIGRATION_STATE_STOP)
			resume(dev, t);
		devmig_clear(&t->mig);
		return 0;
	case UVF_MIGRATION_STATE_STOP:
		if (from == UVF_MIGRATION_STATE_RESUMING) {
			struct dmatest_image im;
			int ret = parse_stream(dev, t, &im);
			if (ret == 0)
				apply_image(t, &im);
			devmig_clear(&t->mig);
			return ret;
		}
		devmig_clear(&t->mig);
		return 0;
	default:
		return 0;
	}
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct uvf_dmatest *t = data;

	(void)dev;
	return devmig_save(&t->mig, buf, len);
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	struct uvf_dmatest *t = data;
	int ret = devmig_load(&t->mig, buf, len);

	if (ret == -EINVAL)
		uvf_device_log(dev, UVF_LOG_WARNING, "dmatest: migration stream longer than it declares");
	return ret;
}

static uint64_t mig_pending(struct uvf_device *dev, void *data)
{
	struct uvf_dmatest *t = data;

	(void)dev;
	return devmig_save_pending(&t->mig);
}

static int describe(struct uvf_device *dev, struct uvf_dmatest *t)
{
	static const struct uvf_pci_ids ids = {
		.vendor_id = UVF_DMATEST_VENDOR_ID,
		.device_id = UVF_DMATEST_DEVICE_ID,
		.subsystem_vendor_id = UVF_DMATEST_VENDOR_ID,
		.subsystem_id = UVF_DMATEST_DEVICE_ID,
		.class_code = 0xff0000,
		.revision = 1,
	};
	const struct uvf_bar_desc bar0 = {
		.size = UVF_DMATEST_BAR_SIZE, .flags = UVF_BAR_MEMORY, .write = bar0_write, .data = t};
	/* the MSI-X BAR: nothing of the device's own in it */
	const struct uvf_bar_desc bar2 = {.size = 4096, .flags = UVF_BAR_MEMORY};
	/* shared scratch memory: mappable as a whole (the default areas) */
	const struct uvf_bar_desc bar4 = {.size = UVF_DMATEST_BAR4_SIZE,
					  .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_64BIT,
					  .write = bar4_write,
					  .data = t};
	const struct uvf_migration_callbacks mig = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
		.pending = mig_pending,
	};
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	size_t size = 0;
	int ret;

	pcie.flr = true;
	if ((ret = uvf_device_set_pci_ids(dev, &ids)) < 0 || (ret = uvf_device_set_bar(dev, 0, &bar0)) < 0 ||
	    (ret = uvf_device_set_bar(dev, UVF_DMATEST_MSIX_BAR, &bar2)) < 0 ||
	    (ret = uvf_device_set_bar(dev, UVF_DMATEST_BAR4, &bar4)) < 0 ||
	    (ret = uvf_device_set_pm(dev, UVF_PM_NO_SOFT_RESET)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_msix(dev, UVF_DMATEST_MSIX_VECTORS, UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_TABLE,
				       UVF_DMATEST_MSIX_BAR, UVF_DMATEST_MSIX_PBA)) < 0 ||
	    (ret = uvf_device_set_pcie(dev, &pcie)) < 0 ||
	    (ret = uvf_device_set_migration(dev, &mig, t, UVF_MIGRATION_PRE_COPY)) < 0)
		return ret;
	t->regs = uvf_device_bar_memory(dev, 0, &size);
	if (!t->regs || size < UVF_DMATEST_BAR_SIZE)
		return -EIO; /* the library broke its contract */
	t->scratch = uvf_device_bar_memory(dev, UVF_DMATEST_BAR4, &size);
	if (!t->scratch || size < UVF_DMATEST_BAR4_SIZE)
		return -EIO;
	sync_read_only(t);
	return 0;
}

static void free_state(void *data)
{
	struct uvf_dmatest *t = data;

	devmig_clear(&t->mig);
	free(t);
}

int uvf_dmatest_create(struct uvf_dmatest **out)
{
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_device *dev = NULL;
	struct uvf_dmatest *t;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	ret = uvf_device_new(&dev);
	if (ret < 0) {
		free(t);
		return ret;
	}
	cb.reset = on_reset;
	cb.free_data = free_state;
	ret = uvf_device_set_callbacks(dev, &cb, t);
	if (ret < 0) {
		uvf_device_free(dev);
		free(t);
		return ret;
	}
	/* From here on the device owns t. */
	t->dev = dev;
	ret = describe(dev, t);
	if (ret < 0) {
		uvf_device_free(dev);
		return ret;
	}
	*out = t;
	return 0;
}

struct uvf_device *uvf_dmatest_device(struct uvf_dmatest *t)
{
	return t ? t->dev : NULL;
}

void uvf_dmatest_destroy(struct uvf_dmatest *t)
{
	if (t)
		uvf_device_free(t->dev);
}
