/* SPDX-License-Identifier: MIT */
/*
 * DMA callbacks, the scatter-gather API, quiesce, reset and version 2
 * migration of the libvfio-user API on uvf, driven by uvf's client; the
 * order in which the device's callbacks run is checked.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "compat_util.h"
#include "uvf/client.h"

#define PAGE 4096u

static atomic_int g_quiesce_busy; /* the quiesce callback says EBUSY */

static ssize_t bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx, (void)offset;
	if (!is_write)
		memset(buf, 0, count);
	return (ssize_t)count;
}

static void dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	(void)ctx;
	compat_event("map(%#lx,%#zx,%s)", (unsigned long)(uintptr_t)info->iova.iov_base, info->iova.iov_len,
		     info->vaddr ? "mapped" : "msg");
}

static void dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	(void)ctx;
	compat_event("unmap(%#lx)", (unsigned long)(uintptr_t)info->iova.iov_base);
}

static int quiesce(vfu_ctx_t *ctx)
{
	(void)ctx;
	compat_event("quiesce");
	if (atomic_load(&g_quiesce_busy)) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

static int reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	(void)ctx;
	compat_event("reset(%d)", (int)type);
	return 0;
}

static uint8_t g_state[64];
static size_t g_state_len, g_state_at;

static int mig_transition(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
	(void)ctx;
	compat_event("state(%d)", (int)state);
	if (state == VFU_MIGR_STATE_PRE_COPY || state == VFU_MIGR_STATE_STOP_AND_COPY)
		g_state_at = 0;
	return 0;
}

static ssize_t mig_read(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	(void)ctx;
	size_t n = g_state_len - g_state_at < count ? g_state_len - g_state_at : (size_t)count;
	memcpy(buf, g_state + g_state_at, n);
	g_state_at += n;
	return (ssize_t)n;
}

static uint8_t g_loaded[64];
static size_t g_loaded_len;

static ssize_t mig_write(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	(void)ctx;
	/* take at most 5 bytes a call: the library calls again */
	size_t n = count < 5 ? (size_t)count : 5;
	if (g_loaded_len + n > sizeof(g_loaded)) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(g_loaded + g_loaded_len, buf, n);
	g_loaded_len += n;
	return (ssize_t)n;
}

/* The client serves DMA_READ/DMA_WRITE while a thread pumps it. */
struct pump {
	struct uvf_client *c;
	atomic_bool stop;
};

static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	while (!atomic_load(&p->stop)) {
		struct pollfd pfd = {.fd = uvf_client_poll_fd(p->c), .events = POLLIN};
		if (poll(&pfd, 1, 10) == 1)
			uvf_client_process(p->c);
	}
	return NULL;
}

static vfu_ctx_t *dma_device(struct vfu_server *s)
{
	compat_path(s);
	s->ctx = vfu_create_ctx(VFU_TRANS_SOCK, s->path, LIBVFIO_USER_FLAG_ATTACH_NB, NULL, VFU_DEV_TYPE_PCI);
	vfu_setup_log(s->ctx, compat_quiet_log, LOG_DEBUG);
	vfu_pci_set_id(s->ctx, 0x4e58, 9, 0, 0);
	assert_int_equal(vfu_setup_region(s->ctx, 0, PAGE, bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL,
					  0, -1, 0),
			 0);
	vfu_setup_device_quiesce_cb(s->ctx, quiesce);
	assert_int_equal(vfu_setup_device_reset_cb(s->ctx, reset), 0);
	return s->ctx;
}

static struct uvf_client *connect(struct vfu_server *s)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c;
	opts.log_level = UVF_LOG_ERROR;
	assert_int_equal(uvf_client_connect(&c, s->path, &opts), 0);
	return c;
}

static void sgl_without_dma_setup_is_refused(void **state)
{
	struct vfu_server s;
	(void)state;
	dma_device(&s);
	dma_sg_t *sg = calloc(1, dma_sg_size());
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x1000, 16, sg, 1, PROT_READ), -1);
	assert_int_equal(errno, EINVAL);
	/* sgl_get needs an unregister callback */
	assert_int_equal(vfu_setup_device_dma(s.ctx, dma_register, NULL), 0);
	struct iovec iov;
	assert_int_equal(vfu_sgl_get(s.ctx, sg, &iov, 1, 0), -1);
	assert_int_equal(errno, EINVAL);
	free(sg);
	compat_stop(&s);
}

static void dma_ranges_and_the_sgl_api(void **state)
{
	struct vfu_server s;
	char ev[512];
	(void)state;
	dma_device(&s);
	assert_int_equal(vfu_setup_device_dma(s.ctx, dma_register, dma_unregister), 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);
	compat_events_clear();

	/* two adjacent shared ranges (the second read-only) and one by message */
	void *a = NULL, *b = NULL;
	static uint8_t msg_mem[2 * PAGE];
	assert_int_equal(uvf_client_dma_alloc(c, 0x100000, 2 * PAGE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &a),
			 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x102000, PAGE, UVF_DMA_MAP_FLAG_READ, &b), 0);
	assert_int_equal(uvf_client_dma_register(c, 0x200000, msg_mem, sizeof(msg_mem),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	compat_events(ev, sizeof(ev));
	/* quiesced before each request */
	assert_string_equal(ev, "quiesce map(0x100000,0x2000,mapped) quiesce map(0x102000,0x1000,mapped) quiesce "
				"map(0x200000,0x2000,msg)");

	dma_sg_t *sg = calloc(4, dma_sg_size());
	dma_sg_t *sg1 = (dma_sg_t *)((char *)sg + dma_sg_size());
	/* a span over both shared ranges: two entries */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x101800, 0x1000, sg, 4, PROT_READ), 2);
	/* too few entries: -(needed) - 1 */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x101800, 0x1000, sg, 1, PROT_READ), -3);
	/* write access to the read-only range */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x101800, 0x1000, sg, 4, PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	/* unmapped: a hole, or past the end */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x0ff000, 16, sg, 4, PROT_READ), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x102800, 0x1000, sg, 4, PROT_READ), -1);
	assert_int_equal(errno, ENOENT);

	/* direct access */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x100010, 8, sg, 1, PROT_READ | PROT_WRITE), 1);
	assert_true(vfu_sg_is_mappable(s.ctx, sg));
	struct iovec iov[2];
	assert_int_equal(vfu_sgl_get(s.ctx, sg, iov, 1, 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_sgl_get(s.ctx, sg, iov, 1, 0), 0);
	/* the server's own mapping of the client's memory */
	assert_non_null(iov[0].iov_base);
	assert_int_equal(iov[0].iov_len, 8);
	memcpy(iov[0].iov_base, "direct!", 8);
	vfu_sgl_put(s.ctx, sg, iov, 1);
	assert_memory_equal((uint8_t *)a + 0x10, "direct!", 8);
	/* copies, both ways */
	char buf[8];
	assert_int_equal(vfu_sgl_read(s.ctx, sg, 1, buf), 0);
	assert_memory_equal(buf, "direct!", 8);
	assert_int_equal(vfu_sgl_read(s.ctx, sg, 2, buf), -1);
	assert_int_equal(errno, ENOTSUP);
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x102000, 8, sg, 1, PROT_READ), 1);
	assert_int_equal(vfu_sgl_write(s.ctx, sg, 1, buf), -1);
	assert_int_equal(errno, EPERM);

	/* the range by message: not mappable, copied by DMA_READ/WRITE */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x200100, 8, sg1, 1, PROT_READ | PROT_WRITE), 1);
	assert_false(vfu_sg_is_mappable(s.ctx, sg1));
	assert_int_equal(vfu_sgl_get(s.ctx, sg1, iov, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	/* the pump thread is joined before this thread touches the client's
	 * memory: the socket orders the two, but ThreadSanitizer does not
	 * see that */
	struct pump pump = {.c = c};
	pthread_t pumper;
	assert_int_equal(pthread_create(&pumper, NULL, pump_thread, &pump), 0);
	assert_int_equal(vfu_sgl_write(s.ctx, sg1, 1, "message"), 0);
	atomic_store(&pump.stop, true);
	pthread_join(pumper, NULL);
	assert_memory_equal(msg_mem + 0x100, "message", 8);
	memcpy(msg_mem + 0x100, "fromcli", 8);
	atomic_store(&pump.stop, false);
	assert_int_equal(pthread_create(&pumper, NULL, pump_thread, &pump), 0);
	assert_int_equal(vfu_sgl_read(s.ctx, sg1, 1, buf), 0);
	atomic_store(&pump.stop, true);
	pthread_join(pumper, NULL);
	assert_memory_equal(buf, "fromcli", 8);

	/* unregistering one range, then the client leaving */
	compat_events_clear();
	assert_int_equal(uvf_client_dma_unregister(c, 0x102000, PAGE), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce unmap(0x102000)");
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x102000, 8, sg, 1, PROT_READ), -1);
	assert_int_equal(errno, ENOENT);
	compat_events_clear();
	uvf_client_close(c);
	for (int i = 0; i < 500 && atomic_load(&s.enotconn) == 0; i++)
		usleep(10000);
	compat_events(ev, sizeof(ev));
	/* libvfio-user's order: quiesce, the ranges go, then the reset */
	assert_non_null(strstr(ev, "quiesce unmap("));
	assert_non_null(strstr(ev, "unmap(0x100000)"));
	assert_non_null(strstr(ev, "unmap(0x200000)"));
	assert_true(strstr(ev, "reset(1)") > strstr(ev, "unmap(0x200000)"));
	assert_true(strstr(ev, "reset(1)") > strstr(ev, "unmap(0x100000)"));
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x100000, 8, sg, 1, PROT_READ), -1);
	assert_int_equal(errno, ENOENT);
	free(sg);
	compat_stop(&s);
}

static void reset_is_preceded_by_quiesce(void **state)
{
	struct vfu_server s;
	char ev[256];
	(void)state;
	dma_device(&s);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);
	compat_events_clear();
	assert_int_equal(uvf_client_reset(c), 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce reset(0)");
	uvf_client_close(c);
	compat_stop(&s);
}

struct quiesced_later {
	vfu_ctx_t *ctx;
	int err;
	int ret, ret_errno;
};

static void *finish_quiesce(void *arg)
{
	struct quiesced_later *q = arg;
	/* wait until the library is waiting for us */
	int tries = 0;
	for (;;) {
		char ev[256];
		compat_events(ev, sizeof(ev));
		if (strstr(ev, "quiesce") || ++tries > 500)
			break;
		usleep(10000);
	}
	usleep(20000);
	q->ret = vfu_device_quiesced(q->ctx, q->err);
	q->ret_errno = errno;
	return NULL;
}

static void an_asynchronous_quiesce_holds_the_request(void **state)
{
	struct vfu_server s;
	struct quiesced_later q = {0};
	pthread_t thr;
	char ev[256];
	void *a = NULL;
	(void)state;
	dma_device(&s);
	assert_int_equal(vfu_setup_device_dma(s.ctx, dma_register, dma_unregister), 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	/* nothing pending */
	assert_int_equal(vfu_device_quiesced(s.ctx, 0), -1);
	assert_int_equal(errno, EINVAL);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);

	atomic_store(&g_quiesce_busy, 1);
	compat_events_clear();
	q.ctx = s.ctx;
	assert_int_equal(pthread_create(&thr, NULL, finish_quiesce, &q), 0);
	assert_int_equal(uvf_client_dma_alloc(c, 0x100000, PAGE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &a), 0);
	pthread_join(thr, NULL);
	assert_int_equal(q.ret, 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce map(0x100000,0x1000,mapped)");

	/* the device fails to quiesce: the request fails with its errno */
	compat_events_clear();
	q.err = EIO;
	assert_int_equal(pthread_create(&thr, NULL, finish_quiesce, &q), 0);
	assert_int_equal(uvf_client_reset(c), -EIO);
	pthread_join(thr, NULL);
	assert_int_equal(q.ret, 0);
	compat_events(ev, sizeof(ev));
	assert_string_equal(ev, "quiesce");
	atomic_store(&g_quiesce_busy, 0);
	uvf_client_close(c);
	compat_stop(&s);
}

static void migration_v2_through_the_callbacks(void **state)
{
	struct vfu_server s;
	char ev[512];
	(void)state;
	dma_device(&s);
	vfu_migration_callbacks_t cb = {.version = 1, .transition = mig_transition, .read_data = mig_read,
					.write_data = mig_write};
	assert_int_equal(vfu_setup_device_migration_callbacks(s.ctx, &cb), -1);
	assert_int_equal(errno, EINVAL);
	cb.version = VFU_MIGR_CALLBACKS_VERS;
	cb.read_data = NULL;
	assert_int_equal(vfu_setup_device_migration_callbacks(s.ctx, &cb), -1);
	assert_int_equal(errno, EINVAL);
	cb.read_data = mig_read;
	assert_int_equal(vfu_setup_device_migration_callbacks(s.ctx, &cb), 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	assert_int_equal(vfu_setup_device_migration_callbacks(s.ctx, &cb), -1);
	assert_int_equal(errno, EBUSY);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);

	uint64_t features = 0;
	assert_int_equal(uvf_client_migration_features(c, &features), 0);
	assert_true(features & UVF_MIGRATION_PRE_COPY);
	memcpy(g_state, "0123456789abcdefghij", 20);
	g_state_len = 20;
	compat_events_clear();
	/* RUNNING -> PRE_COPY -> STOP_COPY: one transition per arc */
	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_PRE_COPY), 0);
	uint8_t buf[64];
	size_t got = 0;
	assert_int_equal(uvf_client_migration_data_read(c, buf, 8, &got), 0);
	assert_int_equal(got, 8);
	assert_memory_equal(buf, "01234567", 8);
	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_STOP_COPY), 0);
	assert_int_equal(uvf_client_migration_data_read(c, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 20);
	/* data is refused in a state without it */
	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_STOP), 0);
	assert_int_not_equal(uvf_client_migration_data_read(c, buf, 8, &got), 0);
	/* resume: data written in any chunking */
	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_RESUMING), 0);
	g_loaded_len = 0;
	assert_int_equal(uvf_client_migration_data_write(c, "restored-state", 14), 0);
	assert_int_equal(g_loaded_len, 14);
	assert_memory_equal(g_loaded, "restored-state", 14);
	assert_int_equal(uvf_client_set_migration_state(c, UVF_MIGRATION_STATE_RUNNING), 0);
	compat_events(ev, sizeof(ev));
	/* a quiesce before each request; the arcs of one request (RESUMING
	 * -> STOP -> RUNNING) share it */
	assert_string_equal(ev, "quiesce state(3) quiesce state(2) quiesce state(0) quiesce state(4) quiesce state(0) "
				"state(1)");
	uvf_client_close(c);
	compat_stop(&s);
}

/* Dirty page logging: what the device writes through vfu_sgl_get()
 * pointers is reported once it says so (vfu_sgl_mark_dirty(), or
 * vfu_sgl_put() of a writable entry); read-only entries are not. */
static void written_entries_are_logged_dirty(void **state)
{
	struct vfu_server s;
	void *a = NULL;
	uint64_t bitmap = 0;
	struct iovec iov;
	(void)state;
	dma_device(&s);
	vfu_migration_callbacks_t cb = {.version = VFU_MIGR_CALLBACKS_VERS, .transition = mig_transition,
					.read_data = mig_read, .write_data = mig_write};
	assert_int_equal(vfu_setup_device_migration_callbacks(s.ctx, &cb), 0);
	assert_int_equal(vfu_setup_device_dma(s.ctx, dma_register, dma_unregister), 0);
	assert_int_equal(vfu_realize_ctx(s.ctx), 0);
	compat_serve(&s);
	struct uvf_client *c = connect(&s);
	assert_int_equal(uvf_client_dma_alloc(c, 0x100000, 4 * PAGE, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE, &a),
			 0);
	assert_int_equal(uvf_client_dma_logging_start(c, PAGE, NULL, 0, NULL), 0);
	dma_sg_t *sg = calloc(1, dma_sg_size());

	/* marked dirty after a direct write */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x101000, 16, sg, 1, PROT_READ | PROT_WRITE), 1);
	assert_int_equal(vfu_sgl_get(s.ctx, sg, &iov, 1, 0), 0);
	memset(iov.iov_base, 1, 16);
	vfu_sgl_mark_dirty(s.ctx, sg, 1);
	assert_int_equal(uvf_client_dma_logging_report(c, 0x100000, 4 * PAGE, PAGE, &bitmap, sizeof(bitmap)), 0);
	assert_int_equal(bitmap, 1u << 1);
	/* a read-only entry is never dirty */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x102000, 16, sg, 1, PROT_READ), 1);
	assert_int_equal(vfu_sgl_get(s.ctx, sg, &iov, 1, 0), 0);
	vfu_sgl_mark_dirty(s.ctx, sg, 1);
	vfu_sgl_put(s.ctx, sg, &iov, 1);
	assert_int_equal(uvf_client_dma_logging_report(c, 0x100000, 4 * PAGE, PAGE, &bitmap, sizeof(bitmap)), 0);
	assert_int_equal(bitmap, 0);
	/* put marks a writable entry */
	assert_int_equal(vfu_addr_to_sgl(s.ctx, (vfu_dma_addr_t)0x103000, 16, sg, 1, PROT_WRITE), 1);
	assert_int_equal(vfu_sgl_get(s.ctx, sg, &iov, 1, 0), 0);
	vfu_sgl_put(s.ctx, sg, &iov, 1);
	assert_int_equal(uvf_client_dma_logging_report(c, 0x100000, 4 * PAGE, PAGE, &bitmap, sizeof(bitmap)), 0);
	assert_int_equal(bitmap, 1u << 3);
	assert_int_equal(uvf_client_dma_logging_stop(c), 0);
	free(sg);
	uvf_client_close(c);
	compat_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sgl_without_dma_setup_is_refused),
		cmocka_unit_test(dma_ranges_and_the_sgl_api),
		cmocka_unit_test(reset_is_preceded_by_quiesce),
		cmocka_unit_test(an_asynchronous_quiesce_holds_the_request),
		cmocka_unit_test(migration_v2_through_the_callbacks),
		cmocka_unit_test(written_entries_are_logged_dirty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
