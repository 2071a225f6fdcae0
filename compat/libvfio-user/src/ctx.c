/* SPDX-License-Identifier: MIT */
/*
 * ctx.c - the context life cycle (create, realize, attach, run, destroy),
 * private data and logging of the libvfio-user API on uvf.
 *
 * uvf's device listens from vfu_realize_ctx() on and accepts clients by
 * itself; attach and run drive uvf_device_dispatch() and turn what uvf's
 * client callback reports into libvfio-user's return values.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "private.h"

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

void vfu__logv(vfu_ctx_t *ctx, int level, const char *fmt, va_list ap)
{
	char line[1024];

	if (!ctx || !ctx->log_fn || level > ctx->log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	ctx->log_fn(ctx, level, line);
}

VFU_EXPORT void vfu_log(vfu_ctx_t *ctx, int level, const char *fmt, ...)
{
	int saved = errno; /* callers log on their error paths */
	va_list ap;

	va_start(ap, fmt);
	vfu__logv(ctx, level, fmt, ap);
	va_end(ap);
	errno = saved;
}

static enum uvf_log_level uvf_level_of(int level)
{
	if (level >= LOG_DEBUG)
		return UVF_LOG_DEBUG;
	if (level >= LOG_INFO)
		return UVF_LOG_INFO;
	if (level >= LOG_WARNING)
		return UVF_LOG_WARNING;
	return UVF_LOG_ERROR;
}

/* uvf's own lines, through the device's log function. */
static void log_bridge(void *data, enum uvf_log_level level, const char *line)
{
	static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	vfu_ctx_t *ctx = data;

	if (ctx->log_fn && (unsigned)level < 4 && syslog_level[level] <= ctx->log_level)
		ctx->log_fn(ctx, syslog_level[level], line);
}

VFU_EXPORT int vfu_setup_log(vfu_ctx_t *ctx, vfu_log_fn_t *log, int level)
{
	if (!ctx || level < LOG_EMERG || level > LOG_DEBUG)
		return vfu__fail(EINVAL);
	ctx->log_fn = log;
	ctx->log_level = level;
	uvf_device_set_log(ctx->dev, log_bridge, ctx, uvf_level_of(level));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Create and destroy                                                   */
/* ------------------------------------------------------------------ */

VFU_EXPORT vfu_ctx_t *vfu_create_ctx(vfu_trans_t trans, const char *path, int flags, void *pvt,
				     vfu_dev_type_t dev_type)
{
	if ((flags & ~LIBVFIO_USER_FLAG_ATTACH_NB) || !path) {
		errno = EINVAL;
		return NULL;
	}
	if (trans != VFU_TRANS_SOCK || dev_type != VFU_DEV_TYPE_PCI) {
		errno = ENOTSUP;
		return NULL;
	}
	vfu_ctx_t *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->path = strdup(path);
	int ret = ctx->path ? uvf_device_new(&ctx->dev) : -ENOMEM;
	if (ret < 0) {
		free(ctx->path);
		free(ctx);
		errno = -ret;
		return NULL;
	}
	ctx->flags = flags;
	ctx->pvt = pvt;
	ctx->log_level = LOG_ERR;
	uvf_device_set_log(ctx->dev, log_bridge, ctx, UVF_LOG_ERROR);
	for (int i = 0; i < VFU_PCI_DEV_NUM_REGIONS; i++) {
		ctx->regions[i].fd = -1;
		ctx->regions[i].ctx = ctx;
		ctx->regions[i].index = i;
	}
	/* libvfio-user's defaults: one ERR and one REQ interrupt */
	ctx->irq_count[VFU_DEV_ERR_IRQ] = 1;
	ctx->irq_count[VFU_DEV_REQ_IRQ] = 1;
	uvf_device_set_irq_count(ctx->dev, UVF_PCI_ERR_IRQ, 1);
	uvf_device_set_irq_count(ctx->dev, UVF_PCI_REQ_IRQ, 1);
	pthread_mutex_init(&ctx->quiesce_lock, NULL);
	pthread_cond_init(&ctx->quiesce_cond, NULL);
	pthread_rwlock_init(&ctx->dma_lock, NULL);
	return ctx;
}

VFU_EXPORT void vfu_destroy_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return;
	ctx->quiesce_cb = NULL; /* the device is expected quiesced already */
	bool had_client = ctx->attached;
	/* drops the client: dma_unregister and the LOST_CONN reset run */
	uvf_device_free(ctx->dev);
	ctx->dev = NULL;
	/* libvfio-user resets the device on destroy, client or not */
	if (!had_client && ctx->reset_cb)
		ctx->reset_cb(ctx, VFU_RESET_LOST_CONN);
	vfu__regions_free(ctx);
	vfu__dma_free(ctx);
	pthread_rwlock_destroy(&ctx->dma_lock);
	pthread_cond_destroy(&ctx->quiesce_cond);
	pthread_mutex_destroy(&ctx->quiesce_lock);
	free(ctx->path);
	free(ctx);
}

VFU_EXPORT void *vfu_get_private(vfu_ctx_t *ctx)
{
	return ctx ? ctx->pvt : NULL;
}

/* ------------------------------------------------------------------ */
/* Realize                                                              */
/* ------------------------------------------------------------------ */

static void on_client(struct uvf_device *dev, void *data, bool connected)
{
	vfu_ctx_t *ctx = data;
	(void)dev;

	if (connected) {
		ctx->attached = ctx->arrived = true;
		ctx->client_gone = false;
		return;
	}
	ctx->attached = false;
	ctx->client_gone = true;
	/* a blocking vfu_run_ctx() serves in uvf_device_run(): end it */
	if (ctx->in_run)
		uvf_device_stop(ctx->dev);
	/* libvfio-user's order: quiesce, DMA ranges gone (uvf has unmapped
	 * them already, each after a quiesce), then the reset */
	if (vfu__quiesce(ctx) < 0)
		vfu__err(ctx, "quiesce on disconnect failed: %s", strerror(errno));
	if (ctx->reset_cb && ctx->reset_cb(ctx, VFU_RESET_LOST_CONN) < 0)
		vfu__err(ctx, "reset after disconnect failed: %s", strerror(errno));
}

static void on_irq_set(struct uvf_device *dev, void *data, unsigned index, uint32_t start, uint32_t count,
		       uint32_t flags)
{
	vfu_ctx_t *ctx = data;
	(void)dev;

	if (index >= VFU_DEV_NUM_IRQS || !ctx->irq_state_cb[index])
		return;
	/* libvfio-user reports masking and unmasking only */
	if (flags & UVF_IRQ_SET_ACTION_MASK)
		ctx->irq_state_cb[index](ctx, start, count, true);
	else if (flags & UVF_IRQ_SET_ACTION_UNMASK)
		ctx->irq_state_cb[index](ctx, start, count, false);
}

VFU_EXPORT int vfu_realize_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	if (ctx->realized)
		return 0;
	int ret = vfu__realize_pci(ctx);
	if (ret == 0)
		ret = vfu__realize_regions(ctx);
	if (ret == 0)
		ret = vfu__realize_migration(ctx);
	if (ret < 0)
		return vfu__fail(-ret);

	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	cb.reset = vfu__reset;
	cb.dma_map = vfu__dma_map;
	cb.dma_unmap = vfu__dma_unmap;
	cb.client = on_client;
	cb.irq_set = on_irq_set;
	cb.before_command = vfu__before_command;
	ret = uvf_device_set_callbacks(ctx->dev, &cb, ctx);
	if (ret < 0)
		return vfu__fail(-ret);

	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	ret = uvf_device_listen(ctx->dev, ctx->path, &opts);
	if (ret < 0) {
		vfu__err(ctx, "cannot listen on %s: %s", ctx->path, strerror(-ret));
		return vfu__fail(-ret);
	}
	ctx->realized = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Attach and run                                                       */
/* ------------------------------------------------------------------ */

VFU_EXPORT int vfu_get_poll_fd(vfu_ctx_t *ctx)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	return uvf_device_poll_fd(ctx->dev);
}

static bool blocking(const vfu_ctx_t *ctx)
{
	return !(ctx->flags & LIBVFIO_USER_FLAG_ATTACH_NB);
}

/* Wait for the poll fd (blocking contexts); a signal ends the wait
 * (-EINTR), so that a program can stop on it. */
static int wait_for_work(vfu_ctx_t *ctx)
{
	struct pollfd p = {.fd = uvf_device_poll_fd(ctx->dev), .events = POLLIN};

	return poll(&p, 1, -1) < 0 ? -errno : 0;
}

/*
 * One thread at a time drives uvf: the application's, in attach and run,
 * or one finishing a quiesce in vfu_device_quiesced() (it runs the held
 * request there). Entering fails (-EBUSY) while a quiesce is pending or
 * another thread is in.
 */
int vfu__enter_uvf(vfu_ctx_t *ctx)
{
	pthread_mutex_lock(&ctx->quiesce_lock);
	if (ctx->quiesce == VFU_QUIESCE_PENDING || ctx->in_uvf) {
		pthread_mutex_unlock(&ctx->quiesce_lock);
		return -EBUSY;
	}
	ctx->in_uvf = true;
	ctx->uvf_thread = pthread_self();
	pthread_mutex_unlock(&ctx->quiesce_lock);
	return 0;
}

void vfu__leave_uvf(vfu_ctx_t *ctx)
{
	pthread_mutex_lock(&ctx->quiesce_lock);
	ctx->in_uvf = false;
	pthread_cond_broadcast(&ctx->quiesce_cond);
	pthread_mutex_unlock(&ctx->quiesce_lock);
}

VFU_EXPORT int vfu_attach_ctx(vfu_ctx_t *ctx)
{
	if (!ctx || !ctx->realized)
		return vfu__fail(EINVAL);
	for (;;) {
		int ret = vfu__enter_uvf(ctx);
		if (ret < 0)
			return vfu__fail(-ret);
		/* a client that came (and maybe left again: vfu_run_ctx() says
		 * so) since the last attach */
		bool here = ctx->attached || ctx->arrived;
		if (!here) {
			/* one message at most: VERSION, the requests after it
			 * are vfu_run_ctx()'s */
			ret = uvf_device_dispatch_one(ctx->dev);
			vfu__unquiesce(ctx);
			here = ctx->attached || ctx->arrived;
		}
		if (here)
			ctx->arrived = false;
		vfu__leave_uvf(ctx);
		if (ret < 0)
			return vfu__fail(-ret);
		if (here)
			return 0;
		if (!blocking(ctx))
			return vfu__fail(EAGAIN);
		ret = wait_for_work(ctx);
		if (ret < 0)
			return vfu__fail(-ret);
	}
}

/* ENOTCONN once the client left or before one came; on the thread in uvf. */
static int client_state(vfu_ctx_t *ctx)
{
	if (ctx->client_gone) {
		ctx->client_gone = false;
		return -ENOTCONN;
	}
	return ctx->attached ? 0 : -ENOTCONN;
}

/* A blocking context: uvf's own loop (it waits in recvmsg while the client
 * is its only source of work) until the client leaves, a quiesce holds a
 * request, or a signal handler ran (EINTR, as libvfio-user's recvmsg). */
static int run_blocking(vfu_ctx_t *ctx)
{
	for (;;) {
		int ret = vfu__enter_uvf(ctx);
		if (ret < 0)
			return vfu__fail(-ret);
		ret = client_state(ctx);
		if (ret < 0) {
			vfu__leave_uvf(ctx);
			return vfu__fail(-ret);
		}
		ctx->held = false;
		ctx->in_run = true;
		ret = uvf_device_run_flags(ctx->dev, UVF_RUN_SIGNAL_RETURNS);
		ctx->in_run = false;
		bool held = ctx->held;
		vfu__unquiesce(ctx);
		vfu__leave_uvf(ctx);
		if (held)
			return vfu__fail(EBUSY);
		if (ret < 0)
			return vfu__fail(-ret);
		/* stopped: the client left */
	}
}

VFU_EXPORT int vfu_run_ctx(vfu_ctx_t *ctx)
{
	if (!ctx || !ctx->realized)
		return vfu__fail(EINVAL);
	if (blocking(ctx))
		return run_blocking(ctx);
	/* non-blocking: at most one request per call, as libvfio-user */
	int ret = vfu__enter_uvf(ctx);
	if (ret < 0)
		return vfu__fail(-ret);
	ret = client_state(ctx);
	if (ret < 0) {
		vfu__leave_uvf(ctx);
		return vfu__fail(-ret);
	}
	uint64_t before = uvf_device_messages_handled(ctx->dev);
	ctx->held = false;
	ret = uvf_device_dispatch_one(ctx->dev);
	/* a quiesce lasts until the request that needed it is done */
	vfu__unquiesce(ctx);
	bool held = ctx->held;
	uint64_t handled = uvf_device_messages_handled(ctx->dev) - before;
	/* the departure is reported by the next call */
	bool gone = ctx->client_gone && handled == 0;
	if (gone)
		ctx->client_gone = false;
	vfu__leave_uvf(ctx);
	if (ret < 0)
		return vfu__fail(-ret);
	/* the quiesce callback said EBUSY: the request waits for
	 * vfu_device_quiesced() */
	if (held)
		return vfu__fail(EBUSY);
	if (gone)
		return vfu__fail(ENOTCONN);
	return (int)handled; /* 0 or 1 */
}
