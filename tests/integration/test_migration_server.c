/* SPDX-License-Identifier: MIT */
/*
 * The server's side of live migration over real sockets, with raw protocol
 * messages (uvf_client_call): DEVICE_FEATURE rules on the wire, the
 * MIG_DATA_READ/WRITE framing around a device's save/load, commands legal
 * while stopped, interrupts latched and DMA refused while stopped, what a
 * disconnect does, and dirty logging, including a device thread writing
 * client memory while the client reports (also in the 'threads' suite).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define RW	    (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)
#define STREAM_LEN  10000u
#define PRECOPY_LEN 3000u
#define IOVA	    0x100000ull
#define MEM_SIZE    (1u << 20)
#define IOVA2	    0x400000ull
#define MEM2_SIZE   (64u << 10)
#define PAGE	    4096u
/* bitmap words of the two mappings at 4 KiB */
#define WORDS1 ((MEM_SIZE / PAGE + 63) / 64)
#define WORDS2 ((MEM2_SIZE / PAGE + 63) / 64)

enum {
	ST_ERR = UVF_MIGRATION_STATE_ERROR,
	ST_STOP = UVF_MIGRATION_STATE_STOP,
	ST_RUN = UVF_MIGRATION_STATE_RUNNING,
	ST_SC = UVF_MIGRATION_STATE_STOP_COPY,
	ST_RES = UVF_MIGRATION_STATE_RESUMING,
	ST_PC = UVF_MIGRATION_STATE_PRE_COPY
};

/* The device: a state of STREAM_LEN bytes, PRECOPY_LEN of them offered in
 * PRE_COPY; what it loads is checked against the same pattern. Shared
 * with the dispatch thread: under lock. */
struct mdev {
	pthread_mutex_t lock;
	size_t saved;
	uint8_t loaded[STREAM_LEN + 1];
	size_t nloaded;
	int narcs;
	int resets;
	enum uvf_migration_state reset_saw; /* migration state seen by the reset callback */
};

static struct mdev g_m;
static struct harness g_h;

static uint8_t stream_byte(size_t i)
{
	return (uint8_t)((i * 7u + 3u) ^ (i >> 8));
}

static int m_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from, enum uvf_migration_state to)
{
	(void)dev;
	struct mdev *m = data;
	int ret = 0;
	pthread_mutex_lock(&m->lock);
	m->narcs++;
	if ((from == UVF_MIGRATION_STATE_RUNNING && to == UVF_MIGRATION_STATE_PRE_COPY) ||
	    (from == UVF_MIGRATION_STATE_STOP && to == UVF_MIGRATION_STATE_STOP_COPY))
		m->saved = 0;
	if (to == UVF_MIGRATION_STATE_RESUMING)
		m->nloaded = 0;
	if (from == UVF_MIGRATION_STATE_RESUMING) {
		/* validate: the whole stream, unchanged */
		if (m->nloaded != STREAM_LEN)
			ret = -EILSEQ;
		for (size_t i = 0; i < m->nloaded && !ret; i++)
			if (m->loaded[i] != stream_byte(i))
				ret = -EILSEQ;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static ssize_t m_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct mdev *m = data;
	size_t end = uvf_device_migration_state(dev) == UVF_MIGRATION_STATE_PRE_COPY ? PRECOPY_LEN : STREAM_LEN;
	pthread_mutex_lock(&m->lock);
	size_t n = m->saved < end ? end - m->saved : 0;
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = stream_byte(m->saved + i);
	m->saved += n;
	pthread_mutex_unlock(&m->lock);
	return (ssize_t)n;
}

static int m_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	(void)dev;
	struct mdev *m = data;
	int ret = 0;
	pthread_mutex_lock(&m->lock);
	if (len > sizeof(m->loaded) - m->nloaded) {
		ret = -EFBIG;
	} else {
		memcpy(m->loaded + m->nloaded, buf, len);
		m->nloaded += len;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int m_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	(void)reason;
	struct mdev *m = data;
	pthread_mutex_lock(&m->lock);
	m->resets++;
	m->reset_saw = uvf_device_migration_state(dev);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static struct uvf_device *make_device(bool migratable)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f1, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 0x2000, .flags = UVF_BAR_MEMORY};

	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_msix(dev, 2, 0, 0x1000, 0, 0x1800), 0);
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	cb.reset = m_reset;
	assert_int_equal(uvf_device_set_callbacks(dev, &cb, &g_m), 0);
	if (migratable) {
		struct uvf_migration_callbacks mcb = {UVF_MIGRATION_CALLBACKS_VERSION, m_transition, m_save, m_load,
						      NULL};
		assert_int_equal(uvf_device_set_migration(dev, &mcb, &g_m, UVF_MIGRATION_PRE_COPY), 0);
	}
	return dev;
}

static int setup_device(bool migratable)
{
	memset(&g_m, 0, sizeof(g_m));
	pthread_mutex_init(&g_m.lock, NULL);
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(migratable), NULL);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_device(true);
}

static int setup_plain(void **state)
{
	(void)state;
	return setup_device(false);
}

static int teardown(void **state)
{
	(void)state;
	harness_stop(&g_h);
	pthread_mutex_destroy(&g_m.lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Raw messages                                                         */
/* ------------------------------------------------------------------ */

static int feat(struct uvf_client *c, uint32_t argsz, uint32_t flags, const void *data, size_t dlen, void *out,
		size_t cap, size_t *olen)
{
	uint8_t *msg = malloc(8 + dlen);
	struct uvf_msg_device_feature f = {argsz, flags};
	size_t ignored;
	assert_non_null(msg);
	memcpy(msg, &f, 8);
	if (dlen)
		memcpy(msg + 8, data, dlen);
	int ret = uvf_client_call(c, UVF_CMD_DEVICE_FEATURE, msg, 8 + dlen, NULL, 0, out, cap, olen ? olen : &ignored);
	free(msg);
	return ret;
}

static int set_state(struct uvf_client *c, uint32_t s)
{
	struct uvf_msg_feature_migration_state st = {s, UINT32_MAX};
	uint8_t out[16];
	size_t n = 0;
	int ret = feat(c, 16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, sizeof(st), out, sizeof(out),
		       &n);
	if (ret == 0)
		assert_int_equal(n, 16); /* the request echoed */
	return ret;
}

static uint32_t get_state(struct uvf_client *c)
{
	uint8_t out[16];
	size_t n;
	assert_int_equal(
		feat(c, 16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE, NULL, 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 16);
	uint32_t s;
	memcpy(&s, out + 8, 4);
	return s;
}

/* MIG_DATA_READ of size bytes; checks the reply framing. */
static int mig_read(struct uvf_client *c, uint32_t size, uint8_t *data, uint32_t *got)
{
	struct uvf_msg_migration_data req = {8 + size, size};
	uint8_t *out = malloc(8 + (size_t)size);
	size_t n = 0;
	assert_non_null(out);
	int ret =
		uvf_client_call(c, UVF_CMD_MIGRATION_DATA_READ, &req, sizeof(req), NULL, 0, out, 8 + (size_t)size, &n);
	if (ret == 0) {
		struct uvf_msg_migration_data head;
		assert_true(n >= 8);
		memcpy(&head, out, 8);
		assert_true(head.size <= size);
		assert_int_equal(head.argsz, 8 + head.size);
		assert_int_equal(n, 8 + head.size); /* the reply is sized to what came back */
		memcpy(data, out + 8, head.size);
		*got = head.size;
	}
	free(out);
	return ret;
}

static int mig_write_raw(struct uvf_client *c, uint32_t argsz, uint32_t size, const uint8_t *data, size_t dlen)
{
	uint8_t *msg = malloc(8 + dlen);
	struct uvf_msg_migration_data head = {argsz, size};
	uint8_t out[8];
	size_t n = 0;
	assert_non_null(msg);
	memcpy(msg, &head, 8);
	if (dlen)
		memcpy(msg + 8, data, dlen);
	int ret = uvf_client_call(c, UVF_CMD_MIGRATION_DATA_WRITE, msg, 8 + dlen, NULL, 0, out, sizeof(out), &n);
	free(msg);
	if (ret == 0)
		assert_int_equal(n, 0);
	return ret;
}

static int mig_write(struct uvf_client *c, const uint8_t *data, uint32_t size)
{
	return mig_write_raw(c, 8 + size, size, data, size);
}

static int log_start(struct uvf_client *c, uint64_t page, const struct uvf_msg_dma_logging_range *ranges, uint32_t n,
		     uint64_t *chosen)
{
	uint8_t buf[16 + 16 * 8], out[8 + sizeof(buf)];
	struct uvf_msg_dma_logging_control ctl = {page, n, 0};
	size_t len = 16 + 16 * (size_t)n, olen = 0;
	assert_true(n <= 8);
	memcpy(buf, &ctl, 16);
	if (n)
		memcpy(buf + 16, ranges, 16 * (size_t)n);
	int ret = feat(c, (uint32_t)(8 + len), UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START, buf, len, out,
		       sizeof(out), &olen);
	if (ret == 0) {
		assert_int_equal(olen, 8 + len);
		memcpy(&ctl, out + 8, 16);
		if (chosen)
			*chosen = ctl.page_size;
	}
	return ret;
}

static int log_stop(struct uvf_client *c)
{
	uint8_t out[8];
	return feat(c, 8, UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_STOP, NULL, 0, out, sizeof(out), NULL);
}

/* REPORT into bitmap (words u64); argsz_delta shrinks argsz for tests. */
static int log_report_argsz(struct uvf_client *c, uint64_t iova, uint64_t length, uint64_t page, uint64_t *bitmap,
			    size_t words, uint32_t argsz_delta)
{
	struct uvf_msg_dma_logging_report r = {iova, length, page};
	size_t cap = 8 + 24 + words * 8, n = 0;
	uint8_t *out = malloc(cap);
	assert_non_null(out);
	int ret = feat(c, (uint32_t)cap - argsz_delta, UVF_FEATURE_GET | UVF_FEATURE_DMA_LOGGING_REPORT, &r, sizeof(r),
		       out, cap, &n);
	if (ret == 0) {
		assert_int_equal(n, cap);
		struct uvf_msg_device_feature head;
		memcpy(&head, out, 8);
		assert_int_equal(head.argsz, cap);
		memcpy(bitmap, out + 32, words * 8);
	}
	free(out);
	return ret;
}

static int log_report(struct uvf_client *c, uint64_t iova, uint64_t length, uint64_t page, uint64_t *bitmap,
		      size_t words)
{
	return log_report_argsz(c, iova, length, page, bitmap, words, 0);
}

static bool bit(const uint64_t *bm, uint64_t n)
{
	return (bm[n / 64] >> (n % 64)) & 1;
}

static size_t popcount(const uint64_t *bm, size_t words)
{
	size_t n = 0;
	for (size_t i = 0; i < words; i++)
		n += (size_t)__builtin_popcountll(bm[i]);
	return n;
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE on the wire                                           */
/* ------------------------------------------------------------------ */

static void device_feature_replies_are_framed_per_the_spec(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	uint8_t out[64];
	size_t n = 0;

	/* GET: argsz = 8 + data, the request's flags, the data */
	assert_int_equal(feat(c, 64, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 16);
	struct uvf_msg_device_feature head;
	memcpy(&head, out, 8);
	assert_int_equal(head.argsz, 16);
	assert_int_equal(head.flags, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION);
	uint64_t flags;
	memcpy(&flags, out + 8, 8);
	assert_int_equal(flags, UVF_MIGRATION_STOP_COPY | UVF_MIGRATION_PRE_COPY);
	/* too small an argsz for the GET reply */
	assert_int_equal(feat(c, 12, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, sizeof(out), &n), -EINVAL);
	/* PROBE echoes */
	assert_int_equal(feat(c, 8, UVF_FEATURE_PROBE | UVF_FEATURE_GET | UVF_FEATURE_DMA_LOGGING_REPORT, NULL, 0, out,
			      sizeof(out), &n),
			 0);
	assert_int_equal(n, 8);
	/* SET|GET without PROBE, unknown flag bits, SET argsz below the payload */
	struct uvf_msg_feature_migration_state st = {ST_STOP, 0};
	assert_int_equal(feat(c, 16, UVF_FEATURE_SET | UVF_FEATURE_GET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, 8,
			      out, sizeof(out), &n),
			 -EINVAL);
	assert_int_equal(feat(c, 16, 0x80000u | UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, sizeof(out), &n),
			 -EINVAL);
	assert_int_equal(feat(c, 8, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, 8, out, sizeof(out), &n),
			 -EINVAL);
	assert_int_equal(get_state(c), ST_RUN); /* none of these moved it */
	assert_int_equal(
		feat(c, 16, UVF_FEATURE_SET | UVF_FEATURE_MIGRATION_DEVICE_STATE, &st, 8, out, sizeof(out), &n), 0);
	assert_int_equal(get_state(c), ST_STOP);
	uvf_client_close(c);
}

static void device_without_migration_refuses_every_migration_command(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	uint8_t out[64];
	size_t n;
	uint32_t got;
	assert_int_equal(feat(c, 16, UVF_FEATURE_GET | UVF_FEATURE_MIGRATION, NULL, 0, out, sizeof(out), &n), -ENOTSUP);
	assert_int_equal(feat(c, 8, UVF_FEATURE_PROBE | UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START, NULL, 0, out,
			      sizeof(out), &n),
			 -ENOTSUP);
	assert_int_equal(mig_read(c, 16, out, &got), -ENOTSUP);
	assert_int_equal(mig_write(c, out, 4), -ENOTSUP);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* MIG_DATA framing                                                     */
/* ------------------------------------------------------------------ */

static void mig_data_read_chunks_and_a_short_read_ends_the_stream(void **state)
{
	(void)state;
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	opts.max_data_xfer_size = 4096;
	struct uvf_client *c;
	assert_int_equal(uvf_client_connect(&c, g_h.path, &opts), 0);
	static uint8_t buf[STREAM_LEN + 8192];
	uint32_t got;

	/* wrong states */
	assert_int_equal(mig_read(c, 64, buf, &got), -EINVAL);
	assert_int_equal(set_state(c, ST_STOP), 0);
	assert_int_equal(mig_read(c, 64, buf, &got), -EINVAL);
	assert_int_equal(set_state(c, ST_RES), 0);
	assert_int_equal(mig_read(c, 64, buf, &got), -EINVAL);
	assert_int_equal(uvf_client_reset(c), 0);

	/* PRE_COPY: the pre-copy part, then "nothing more for now", again */
	assert_int_equal(set_state(c, ST_PC), 0);
	size_t total = 0;
	assert_int_equal(mig_read(c, 4096, buf, &got), 0);
	assert_int_equal(got, PRECOPY_LEN);
	total += got;
	assert_int_equal(mig_read(c, 4096, buf + total, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(mig_read(c, 4096, buf + total, &got), 0);
	assert_int_equal(got, 0);
	/* above the client's max_data_xfer_size */
	assert_int_equal(mig_read(c, 4097, buf + total, &got), -E2BIG);
	/* STOP_COPY: the rest, in chunks of what was asked, then short */
	assert_int_equal(set_state(c, ST_SC), 0);
	for (;;) {
		assert_int_equal(mig_read(c, 4096, buf + total, &got), 0);
		total += got;
		if (got < 4096)
			break;
	}
	assert_int_equal(total, STREAM_LEN);
	for (size_t i = 0; i < STREAM_LEN; i++)
		assert_int_equal(buf[i], stream_byte(i));
	/* after the end: empty reads, the device is not asked again */
	assert_int_equal(mig_read(c, 4096, buf, &got), 0);
	assert_int_equal(got, 0);
	/* STOP_COPY -> PRE_COPY is refused; the writes belong to RESUMING */
	assert_int_equal(set_state(c, ST_PC), -EINVAL);
	assert_int_equal(mig_write(c, buf, 16), -EINVAL);
	assert_int_equal(set_state(c, ST_STOP), 0);
	assert_int_equal(mig_read(c, 16, buf, &got), -EINVAL);
	uvf_client_close(c);
}

static void mig_data_write_feeds_load_and_bad_data_is_rejected(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	static uint8_t buf[STREAM_LEN];
	for (size_t i = 0; i < STREAM_LEN; i++)
		buf[i] = stream_byte(i);

	assert_int_equal(mig_write(c, buf, 16), -EINVAL); /* RUNNING */
	assert_int_equal(set_state(c, ST_RES), 0);
	/* argsz below 8 + size; payload shorter than size; size above our limit */
	assert_int_equal(mig_write_raw(c, 8 + 15, 16, buf, 16), -EINVAL);
	assert_int_equal(mig_write_raw(c, 8 + 16, 16, buf, 15), -EINVAL);
	assert_int_equal(mig_write_raw(c, UINT32_MAX, (1u << 20) + 1, buf, 16), -E2BIG);
	/* any chunking */
	size_t off = 0;
	static const uint32_t sizes[] = {1, 0, 999, 4096, 3};
	for (unsigned i = 0; off < STREAM_LEN; i = (i + 1) % 5) {
		uint32_t n = sizes[i];
		if (n > STREAM_LEN - off)
			n = (uint32_t)(STREAM_LEN - off);
		assert_int_equal(mig_write(c, buf + off, n), 0);
		off += n;
	}
	/* RESUMING -> STOP validates, then RUNNING */
	assert_int_equal(set_state(c, ST_RUN), 0);
	assert_int_equal(get_state(c), ST_RUN);

	/* a truncated stream: the device refuses it, the device is in ERROR */
	assert_int_equal(set_state(c, ST_RES), 0);
	assert_int_equal(mig_write(c, buf, 5000), 0);
	assert_int_equal(set_state(c, ST_STOP), -EILSEQ);
	assert_int_equal(get_state(c), ST_ERR);
	assert_int_equal(set_state(c, ST_RUN), -EINVAL);
	uint8_t cfg[4];
	assert_int_equal(uvf_client_region_write(c, UVF_PCI_CONFIG_REGION, 0x3c, cfg, 1), -EINVAL);
	assert_int_equal(uvf_client_region_read(c, UVF_PCI_CONFIG_REGION, 0, cfg, 4), 0);
	/* reset: back to RUNNING, the reset callback saw ERROR */
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(get_state(c), ST_RUN);
	pthread_mutex_lock(&g_m.lock);
	assert_int_equal(g_m.resets, 1);
	assert_int_equal(g_m.reset_saw, UVF_MIGRATION_STATE_ERROR);
	pthread_mutex_unlock(&g_m.lock);

	/* a corrupted stream of the right length */
	assert_int_equal(set_state(c, ST_RES), 0);
	buf[1234] ^= 1;
	assert_int_equal(mig_write(c, buf, 4096), 0);
	assert_int_equal(mig_write(c, buf + 4096, 4096), 0);
	assert_int_equal(mig_write(c, buf + 8192, STREAM_LEN - 8192), 0);
	assert_int_equal(set_state(c, ST_STOP), -EILSEQ);
	assert_int_equal(get_state(c), ST_ERR);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Stopped devices                                                      */
/* ------------------------------------------------------------------ */

static void commands_a_stopped_device_still_takes(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	void *mem;
	uint32_t got;
	uint8_t buf[64];
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);

	static const uint32_t stopped[] = {ST_STOP, ST_SC, ST_RES};
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(set_state(c, stopped[i]), 0);
		/* the destination maps memory and wires interrupts before
		 * RESUMING; the source may unmap while stopped */
		assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, RW, &mem), 0);
		assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 1, &efd), 0);
		struct uvf_msg_device_info info;
		assert_int_equal(uvf_client_device_info(c, &info), 0);
		uint32_t id;
		assert_int_equal(uvf_client_config_read32(c, 0, &id), 0);
		assert_int_equal(uvf_client_config_write16(c, 4, 0x0006), 0);
		assert_int_equal(uvf_client_access_write(c, 0, 0, "abcd", 4), 0);
		assert_int_equal(uvf_client_dma_unregister(c, IOVA, MEM_SIZE), 0);
		if (stopped[i] == ST_SC)
			assert_int_equal(mig_read(c, 64, buf, &got), 0);
		/* RESUMING without data cannot reach RUNNING: reset leaves it */
		if (stopped[i] == ST_RES)
			assert_int_equal(uvf_client_reset(c), 0);
		else
			assert_int_equal(set_state(c, ST_RUN), 0);
		assert_int_equal(get_state(c), ST_RUN);
	}
	/* DEVICE_RESET is legal in every state and ends at RUNNING */
	assert_int_equal(set_state(c, ST_SC), 0);
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(get_state(c), ST_RUN);
	pthread_mutex_lock(&g_m.lock);
	assert_int_equal(g_m.reset_saw, UVF_MIGRATION_STATE_STOP_COPY);
	pthread_mutex_unlock(&g_m.lock);
	uvf_client_close(c);
	close(efd);
}

static void stopped_device_latches_interrupts_and_refuses_dma(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	struct uvf_device *dev = g_h.dev;
	void *mem;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, RW, &mem), 0);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 1, &efd), 0);

	/* running: delivered at once */
	assert_int_equal(uvf_irq_trigger(dev, UVF_PCI_MSIX_IRQ, 0), 0);
	assert_int_equal(harness_wait_eventfd(efd, 2000), 1);
	assert_int_equal(uvf_dma_write(dev, IOVA, "x", 1), 0);

	assert_int_equal(set_state(c, ST_STOP), 0);
	assert_int_equal(uvf_irq_trigger(dev, UVF_PCI_MSIX_IRQ, 0), 0);
	assert_int_equal(harness_wait_eventfd(efd, 200), 0); /* latched */
	assert_int_equal(uvf_dma_write(dev, IOVA, "y", 1), -EBUSY);
	uint8_t b;
	assert_int_equal(uvf_dma_read(dev, IOVA, &b, 1), -EBUSY);
	assert_null(uvf_dma_ptr(dev, IOVA, 1, UVF_DMA_MAP_FLAG_READ));
	assert_int_equal(((uint8_t *)mem)[0], 'x');

	/* running again: the latched interrupt goes out, DMA works */
	assert_int_equal(set_state(c, ST_RUN), 0);
	assert_int_equal(harness_wait_eventfd(efd, 2000), 1);
	assert_int_equal(uvf_dma_write(dev, IOVA, "z", 1), 0);
	assert_int_equal(((uint8_t *)mem)[0], 'z');

	/* PRE_COPY runs: delivered at once */
	assert_int_equal(set_state(c, ST_PC), 0);
	assert_int_equal(uvf_irq_trigger(dev, UVF_PCI_MSIX_IRQ, 0), 0);
	assert_int_equal(harness_wait_eventfd(efd, 2000), 1);
	uvf_client_close(c);
	close(efd);
}

/* Wait (up to 2 s) for the server thread to reach migration state s. */
static bool wait_state(struct uvf_device *dev, enum uvf_migration_state s)
{
	for (int i = 0; i < 200; i++) {
		if (uvf_device_migration_state(dev) == s && !uvf_device_client_connected(dev))
			return true;
		usleep(10000);
	}
	return false;
}

static void disconnect_cancels_saving_and_keeps_other_states(void **state)
{
	(void)state;
	struct uvf_device *dev = g_h.dev;
	uint8_t buf[64];
	uint32_t got;
	uint64_t bm[4];

	/* a source left in STOP_COPY runs again */
	struct uvf_client *c = harness_connect(&g_h);
	assert_int_equal(set_state(c, ST_SC), 0);
	assert_int_equal(mig_read(c, 64, buf, &got), 0);
	assert_int_equal(log_start(c, PAGE, NULL, 0, NULL), 0);
	uvf_client_close(c);
	assert_true(wait_state(dev, UVF_MIGRATION_STATE_RUNNING));

	/* the next client finds logging off and a fresh stream */
	c = harness_connect(&g_h);
	assert_int_equal(get_state(c), ST_RUN);
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), -EINVAL);
	assert_int_equal(set_state(c, ST_PC), 0);
	uvf_client_close(c);
	assert_true(wait_state(dev, UVF_MIGRATION_STATE_RUNNING));

	/* STOP (perhaps a finished migration) stays */
	c = harness_connect(&g_h);
	assert_int_equal(set_state(c, ST_STOP), 0);
	uvf_client_close(c);
	usleep(100000);
	assert_true(wait_state(dev, UVF_MIGRATION_STATE_STOP));
	c = harness_connect(&g_h);
	assert_int_equal(get_state(c), ST_STOP);
	uvf_client_close(c);
}

/* ------------------------------------------------------------------ */
/* Dirty logging                                                        */
/* ------------------------------------------------------------------ */

static void dirty_logging_rejects_bad_requests(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	void *mem;
	uint64_t bm[8], chosen = 0;
	assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, RW, &mem), 0);

	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), -EINVAL); /* logging off */
	assert_int_equal(log_stop(c), 0);
	/* page size hints: not a power of two; 0 and small ones become 4096,
	 * larger powers of two are taken */
	assert_int_equal(log_start(c, 1000, NULL, 0, NULL), -EINVAL);
	assert_int_equal(log_start(c, 0, NULL, 0, &chosen), 0);
	assert_int_equal(chosen, 4096);
	assert_int_equal(log_start(c, PAGE, NULL, 0, NULL), -EBUSY); /* START twice */
	assert_int_equal(log_stop(c), 0);
	assert_int_equal(log_start(c, 2048, NULL, 0, &chosen), 0);
	assert_int_equal(chosen, 4096);
	assert_int_equal(log_stop(c), 0);
	assert_int_equal(log_start(c, 1u << 16, NULL, 0, &chosen), 0);
	assert_int_equal(chosen, 1u << 16);
	assert_int_equal(log_stop(c), 0);

	/* ranges: empty, wrapping, overlapping */
	struct uvf_msg_dma_logging_range r[2] = {{IOVA, 0}, {IOVA + MEM_SIZE, PAGE}};
	assert_int_equal(log_start(c, PAGE, r, 1, NULL), -EINVAL);
	r[0] = (struct uvf_msg_dma_logging_range){UINT64_MAX - PAGE + 2, PAGE};
	assert_int_equal(log_start(c, PAGE, r, 1, NULL), -EINVAL);
	r[0] = (struct uvf_msg_dma_logging_range){IOVA + MEM_SIZE - PAGE, 2 * PAGE};
	assert_int_equal(log_start(c, PAGE, r, 2, NULL), -EINVAL);
	/* the control block's size must match num_ranges */
	struct uvf_msg_dma_logging_control ctl = {PAGE, 2, 0};
	uint8_t out[64];
	assert_int_equal(
		feat(c, 64, UVF_FEATURE_SET | UVF_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl), out, sizeof(out), NULL),
		-EINVAL);
	/* ranges need not match mappings */
	r[0] = (struct uvf_msg_dma_logging_range){IOVA - PAGE, MEM_SIZE / 2 + PAGE};
	r[1] = (struct uvf_msg_dma_logging_range){IOVA + MEM_SIZE / 2, MEM_SIZE};
	assert_int_equal(log_start(c, PAGE, r, 2, NULL), 0);

	/* REPORT: inside one logged range; length; page size; argsz */
	assert_int_equal(log_report(c, IOVA, MEM_SIZE / 2, PAGE, bm, 2), 0);
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), -EINVAL); /* spans two */
	assert_int_equal(log_report(c, IOVA + 2 * MEM_SIZE, PAGE, PAGE, bm, 1), -EINVAL);
	assert_int_equal(log_report(c, IOVA, 0, PAGE, bm, 1), -EINVAL);
	assert_int_equal(log_report(c, IOVA, PAGE, 3000, bm, 1), -EINVAL);
	assert_int_equal(log_report(c, IOVA, PAGE, 2048, bm, 1), -EINVAL);
	assert_int_equal(log_report_argsz(c, IOVA, MEM_SIZE / 2, PAGE, bm, 2, 1), -EINVAL);
	assert_int_equal(log_report_argsz(c, IOVA, MEM_SIZE / 2, PAGE, bm, 2, 0), 0);
	/* unmapped memory inside a logged range reports clean */
	assert_int_equal(log_report(c, IOVA - PAGE, PAGE, PAGE, bm, 1), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(log_stop(c), 0);
	uvf_client_close(c);
}

static void dirty_report_is_read_and_clear_at_any_page_size(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	struct uvf_device *dev = g_h.dev;
	void *mem;
	uint64_t bm[8];
	assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, RW, &mem), 0);

	assert_int_equal(log_start(c, PAGE, NULL, 0, NULL), 0);
	/* a write that crosses from page 5 into page 6; a byte in page 17 */
	assert_int_equal(uvf_dma_write(dev, IOVA + 6 * PAGE - 2, "abcd", 4), 0);
	assert_int_equal(uvf_dma_write(dev, IOVA + 17 * PAGE + 100, "e", 1), 0);
	/* reported at 8 KiB: units 2, 3 and 8 */
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, 2 * PAGE, bm, 2), 0);
	assert_int_equal(popcount(bm, 2), 3);
	assert_true(bit(bm, 2) && bit(bm, 3) && bit(bm, 8));
	/* read and clear */
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), 0);
	assert_int_equal(popcount(bm, 4), 0);
	assert_int_equal(log_stop(c), 0);

	/* logged at 16 KiB, reported at 4 KiB: the whole 16 KiB unit */
	uint64_t chosen;
	assert_int_equal(log_start(c, 4 * PAGE, NULL, 0, &chosen), 0);
	assert_int_equal(chosen, 4 * PAGE);
	assert_int_equal(uvf_dma_write(dev, IOVA + 5 * PAGE, "f", 1), 0);
	/* a report that cuts the dirty 16 KiB page keeps its bit */
	assert_int_equal(log_report(c, IOVA + 6 * PAGE, PAGE, PAGE, bm, 1), 0);
	assert_int_equal(bm[0], 1);
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), 0);
	assert_int_equal(popcount(bm, 4), 4);
	assert_true(bit(bm, 4) && bit(bm, 5) && bit(bm, 6) && bit(bm, 7));
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), 0);
	assert_int_equal(popcount(bm, 4), 0);
	/* a report not aligned to its page size: unit n = (addr - iova) / page */
	assert_int_equal(uvf_dma_write(dev, IOVA + 8 * PAGE, "g", 1), 0); /* 16 KiB page 2: 0x108000..0x10bfff */
	assert_int_equal(log_report(c, IOVA + 4 * PAGE + 512, 8 * PAGE, 2 * PAGE, bm, 1), 0);
	assert_int_equal(bm[0], 0xe); /* units 1..3 touch 0x108000..0x10bfff */

	/* uvf_dma_mark_dirty for direct writes; writes by message are not logged */
	uint8_t *p = uvf_dma_ptr(dev, IOVA + 30 * PAGE, 8, UVF_DMA_MAP_FLAG_WRITE);
	assert_non_null(p);
	memcpy(p, "direct!", 8);
	uvf_dma_mark_dirty(dev, IOVA + 30 * PAGE, 8);
	uvf_dma_mark_dirty(dev, 0x10, 8); /* not client memory: ignored */
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), 0);
	assert_int_equal(popcount(bm, 4), 4);
	assert_true(bit(bm, 28) && bit(bm, 31));
	assert_int_equal(log_stop(c), 0);
	/* off: nothing is logged */
	assert_int_equal(uvf_dma_write(dev, IOVA, "h", 1), 0);
	assert_int_equal(log_start(c, PAGE, NULL, 0, NULL), 0);
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, 4), 0);
	assert_int_equal(popcount(bm, 4), 0);
	uvf_client_close(c);
}

/* A device thread writing random pages while the client reports. */
struct writer {
	struct uvf_device *dev;
	unsigned seed;
	int rounds;
	uint64_t written[WORDS1 + WORDS2]; /* bits of IOVA's pages, then IOVA2's */
	int errors;
};

static void note_pages(struct writer *w, uint64_t base_page, uint64_t off, size_t len)
{
	for (uint64_t p = off / PAGE; p <= (off + len - 1) / PAGE; p++)
		w->written[(base_page + p) / 64] |= 1ull << ((base_page + p) % 64);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t data[3 * PAGE];
	memset(data, 0xa5, sizeof(data));
	for (int i = 0; i < w->rounds; i++) {
		unsigned r = (unsigned)rand_r(&w->seed);
		bool second = r % 8 == 0;
		uint64_t size = second ? MEM2_SIZE : MEM_SIZE, iova = second ? IOVA2 : IOVA;
		size_t len = 1 + (size_t)rand_r(&w->seed) % (2 * PAGE);
		uint64_t off = (uint64_t)rand_r(&w->seed) % (size - len);
		uint64_t base_page = second ? WORDS1 * 64 : 0;
		if (r % 16 == 1) {
			/* a direct write, reported with uvf_dma_mark_dirty */
			uint8_t *p = uvf_dma_ptr(w->dev, iova + off, len, UVF_DMA_MAP_FLAG_WRITE);
			if (!p) {
				w->errors++;
				continue;
			}
			memcpy(p, data, len);
			uvf_dma_mark_dirty(w->dev, iova + off, len);
		} else if (uvf_dma_write(w->dev, iova + off, data, len) < 0) {
			w->errors++;
			continue;
		}
		note_pages(w, base_page, off, len);
		if (i % 64 == 0)
			usleep(100);
	}
	return NULL;
}

static void dirty_bitmap_matches_concurrent_device_writes(void **state)
{
	(void)state;
	struct uvf_client *c = harness_connect(&g_h);
	void *mem, *mem2;
	assert_int_equal(uvf_client_dma_alloc(c, IOVA, MEM_SIZE, RW, &mem), 0);
	assert_int_equal(log_start(c, PAGE, NULL, 0, NULL), 0);
	/* mapped while logging: logged too */
	assert_int_equal(uvf_client_dma_alloc(c, IOVA2, MEM2_SIZE, RW, &mem2), 0);

	static struct writer w;
	memset(&w, 0, sizeof(w));
	w.dev = g_h.dev;
	w.seed = 12345;
	w.rounds = 3000;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);

	enum { W1 = WORDS1, W2 = WORDS2 };
	uint64_t seen[W1 + W2], bm[W1 + W2];
	memset(seen, 0, sizeof(seen));
	int reports = 0;
	for (int done = 0; done < 2;) {
		/* after the writer ended, one more round catches the last bits */
		if (done == 0 && pthread_tryjoin_np(t, NULL) == 0)
			done = 1;
		else if (done == 1)
			done = 2;
		assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, W1), 0);
		assert_int_equal(log_report(c, IOVA2, MEM2_SIZE, PAGE, bm + W1, W2), 0);
		for (unsigned i = 0; i < W1 + W2; i++)
			seen[i] |= bm[i];
		reports++;
	}
	assert_int_equal(w.errors, 0);
	assert_true(reports > 2);
	for (unsigned i = 0; i < W1 + W2; i++)
		assert_int_equal(seen[i], w.written[i]);
	/* and nothing is left */
	assert_int_equal(log_report(c, IOVA, MEM_SIZE, PAGE, bm, W1), 0);
	assert_int_equal(popcount(bm, W1), 0);
	assert_int_equal(log_stop(c), 0);
	uvf_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(device_feature_replies_are_framed_per_the_spec, setup, teardown),
		cmocka_unit_test_setup_teardown(device_without_migration_refuses_every_migration_command, setup_plain,
						teardown),
		cmocka_unit_test_setup_teardown(mig_data_read_chunks_and_a_short_read_ends_the_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(mig_data_write_feeds_load_and_bad_data_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(commands_a_stopped_device_still_takes, setup, teardown),
		cmocka_unit_test_setup_teardown(stopped_device_latches_interrupts_and_refuses_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(disconnect_cancels_saving_and_keeps_other_states, setup, teardown),
		cmocka_unit_test_setup_teardown(dirty_logging_rejects_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(dirty_report_is_read_and_clear_at_any_page_size, setup, teardown),
		cmocka_unit_test_setup_teardown(dirty_bitmap_matches_concurrent_device_writes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
