/* SPDX-License-Identifier: MIT */
/*
 * migration.c - quiesce, reset and version 2 migration of the
 * libvfio-user API on uvf.
 *
 * uvf runs the migration state machine, frames the data and keeps the
 * dirty page bitmaps; the device's callbacks are called for each direct
 * arc and for each chunk. Before DMA_MAP, DMA_UNMAP, a reset or a state
 * change the device is quiesced first, as libvfio-user does; the device
 * stays quiesced for the rest of that request.
 */
#include <errno.h>
#include <string.h>

#include "private.h"

VFU_EXPORT void vfu_setup_device_quiesce_cb(vfu_ctx_t *ctx, vfu_device_quiesce_cb_t *quiesce_cb)
{
	if (ctx)
		ctx->quiesce_cb = quiesce_cb;
}

/* The commands libvfio-user quiesces the device for: DMA_MAP, DMA_UNMAP,
 * DEVICE_RESET and a migration state change. */
static bool needs_quiesce(uint16_t command, const uint8_t *body, size_t len)
{
	uint32_t flags;

	switch (command) {
	case VFIO_USER_DMA_MAP:
	case VFIO_USER_DMA_UNMAP:
	case VFIO_USER_DEVICE_RESET:
		return true;
	case VFIO_USER_DEVICE_FEATURE:
		if (len < 8)
			return false;
		memcpy(&flags, body + 4, 4);
		return (flags & VFIO_DEVICE_FEATURE_MASK) == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
		       (flags & VFIO_DEVICE_FEATURE_SET);
	default:
		return false;
	}
}

/*
 * Call the quiesce callback for request. The quiesce is pending from
 * before the call: a device thread may finish it (vfu_device_quiesced())
 * before the callback has returned EBUSY. Returns the state it leaves:
 * DONE, FAILED (quiesce_errno set), or PENDING (EBUSY, not finished yet).
 * With waiter, the caller waits in vfu__quiesce() for it to end.
 */
static enum vfu_quiesce_state call_quiesce(vfu_ctx_t *ctx, uint64_t request, bool waiter)
{
	pthread_mutex_lock(&ctx->quiesce_lock);
	enum vfu_quiesce_state before = ctx->quiesce;
	ctx->quiesce = VFU_QUIESCE_PENDING;
	ctx->quiesce_waiter = waiter;
	ctx->quiesced_at = request;
	pthread_mutex_unlock(&ctx->quiesce_lock);
	errno = 0;
	int ret = ctx->quiesce_cb(ctx);
	int err = errno;
	pthread_mutex_lock(&ctx->quiesce_lock);
	if (ctx->quiesce == VFU_QUIESCE_PENDING) { /* not finished meanwhile */
		if (ret == 0) {
			ctx->quiesce = VFU_QUIESCE_DONE;
		} else if (err != EBUSY) {
			if (waiter) {
				/* as before the call: a later step asks again */
				ctx->quiesce = before;
				ctx->quiesced_at = 0;
			} else {
				/* the command fails with it, from its callback */
				ctx->quiesce = VFU_QUIESCE_FAILED;
			}
			ctx->quiesce_errno = err ? err : EINVAL;
			ctx->quiesce_waiter = false;
			pthread_mutex_unlock(&ctx->quiesce_lock);
			return VFU_QUIESCE_FAILED;
		}
	}
	enum vfu_quiesce_state st = ctx->quiesce;
	pthread_mutex_unlock(&ctx->quiesce_lock);
	return st;
}

/* uvf asks before running each command: a quiesce the device finishes
 * later (EBUSY) holds the command in uvf until vfu_device_quiesced(). */
int vfu__before_command(struct uvf_device *dev, void *data, uint16_t command, const void *body, size_t len)
{
	vfu_ctx_t *ctx = data;

	if (!ctx->quiesce_cb || !needs_quiesce(command, body, len))
		return 0;
	uint64_t request = uvf_device_messages_handled(dev);
	pthread_mutex_lock(&ctx->quiesce_lock);
	enum vfu_quiesce_state st = ctx->quiesce;
	bool this_request = ctx->quiesced_at == request;
	pthread_mutex_unlock(&ctx->quiesce_lock);
	if (st == VFU_QUIESCE_PENDING)
		return -EAGAIN;
	if ((st == VFU_QUIESCE_DONE || st == VFU_QUIESCE_FAILED) && this_request)
		return 0;
	if (call_quiesce(ctx, request, false) == VFU_QUIESCE_PENDING) {
		/* vfu_run_ctx() returns to say EBUSY (a blocking one too) */
		ctx->held = true;
		if (ctx->in_run)
			uvf_device_stop(dev);
		return -EAGAIN;
	}
	return 0;
}

int vfu__quiesce(vfu_ctx_t *ctx)
{
	if (!ctx->quiesce_cb)
		return 0;
	/* quiesced (or failed to) for this request already: by
	 * vfu__before_command(), or an earlier step of it (a multi-arc
	 * migration change, the ranges dropped with a client) */
	uint64_t request = uvf_device_messages_handled(ctx->dev);
	pthread_mutex_lock(&ctx->quiesce_lock);
	bool this_request = ctx->quiesced_at == request;
	enum vfu_quiesce_state st = ctx->quiesce;
	int failed = ctx->quiesce_errno;
	pthread_mutex_unlock(&ctx->quiesce_lock);
	if (this_request && st == VFU_QUIESCE_DONE)
		return 0;
	if (this_request && st == VFU_QUIESCE_FAILED)
		return -failed;
	st = call_quiesce(ctx, request, true);
	pthread_mutex_lock(&ctx->quiesce_lock);
	if (st == VFU_QUIESCE_PENDING) {
		/* no command to hold (a departing client): wait here until
		 * vfu_device_quiesced() from another thread */
		while (ctx->quiesce == VFU_QUIESCE_PENDING)
			pthread_cond_wait(&ctx->quiesce_cond, &ctx->quiesce_lock);
		st = ctx->quiesce;
	}
	ctx->quiesce_waiter = false;
	int err = ctx->quiesce_errno;
	pthread_mutex_unlock(&ctx->quiesce_lock);
	if (st == VFU_QUIESCE_FAILED) {
		vfu__err(ctx, "device failed to quiesce: %s", strerror(err));
		return -err;
	}
	return 0;
}

void vfu__unquiesce(vfu_ctx_t *ctx)
{
	pthread_mutex_lock(&ctx->quiesce_lock);
	if (ctx->quiesce == VFU_QUIESCE_DONE || ctx->quiesce == VFU_QUIESCE_FAILED)
		ctx->quiesce = VFU_QUIESCE_NONE;
	pthread_mutex_unlock(&ctx->quiesce_lock);
}

/*
 * As libvfio-user, the request the quiesce held runs here, on the calling
 * thread: its callbacks, then its reply (failed with quiesce_errno if not
 * 0), before this returns. The application's thread leaves uvf at once
 * when a request is held (vfu_run_ctx() returns EBUSY); until it has, this
 * waits. Two cases cannot run it here and leave it to the next
 * vfu_run_ctx(): a call from a callback on the thread in uvf, and a
 * departing client's quiesce, which has no request and whose thread waits
 * in vfu__quiesce() for this call.
 */
VFU_EXPORT int vfu_device_quiesced(vfu_ctx_t *ctx, int quiesce_errno)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	bool run_here;
	pthread_mutex_lock(&ctx->quiesce_lock);
	for (;;) {
		if (!ctx->quiesce_cb || ctx->quiesce != VFU_QUIESCE_PENDING) {
			pthread_mutex_unlock(&ctx->quiesce_lock);
			vfu__debug(ctx, "vfu_device_quiesced() without a quiesce pending");
			return vfu__fail(EINVAL);
		}
		run_here = !ctx->quiesce_waiter && !(ctx->in_uvf && pthread_equal(ctx->uvf_thread, pthread_self()));
		if (!run_here || !ctx->in_uvf)
			break;
		/* the application's thread is on its way out of uvf */
		pthread_cond_wait(&ctx->quiesce_cond, &ctx->quiesce_lock);
	}
	if (run_here) {
		ctx->in_uvf = true;
		ctx->uvf_thread = pthread_self();
	}
	ctx->quiesce_errno = quiesce_errno;
	ctx->quiesce = quiesce_errno ? VFU_QUIESCE_FAILED : VFU_QUIESCE_DONE;
	pthread_cond_broadcast(&ctx->quiesce_cond);
	pthread_mutex_unlock(&ctx->quiesce_lock);
	uvf_device_resume(ctx->dev);
	if (!run_here)
		return 0; /* the held command runs at the next vfu_run_ctx() */
	/* the held request, and nothing after it */
	int ret = uvf_device_dispatch_one(ctx->dev);
	vfu__unquiesce(ctx);
	vfu__leave_uvf(ctx);
	return ret < 0 ? vfu__fail(-ret) : 0;
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

VFU_EXPORT int vfu_setup_device_reset_cb(vfu_ctx_t *ctx, vfu_reset_cb_t *reset)
{
	if (!ctx)
		return vfu__fail(EINVAL);
	ctx->reset_cb = reset;
	return 0;
}

int vfu__reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	vfu_ctx_t *ctx = data;
	(void)dev;

	int ret = vfu__quiesce(ctx);
	if (ret < 0)
		return ret;
	if (!ctx->reset_cb)
		return 0;
	errno = 0;
	if (ctx->reset_cb(ctx, reason == UVF_RESET_FLR ? VFU_RESET_PCI_FLR : VFU_RESET_DEVICE) < 0)
		return errno ? -errno : -EINVAL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Migration                                                            */
/* ------------------------------------------------------------------ */

VFU_EXPORT int vfu_setup_device_migration_callbacks(vfu_ctx_t *ctx, const vfu_migration_callbacks_t *callbacks)
{
	if (!ctx || !callbacks)
		return vfu__fail(EINVAL);
	if (callbacks->version != VFU_MIGR_CALLBACKS_VERS) {
		vfu__err(ctx, "unsupported migration callbacks version %d", callbacks->version);
		return vfu__fail(EINVAL);
	}
	if (!callbacks->transition || !callbacks->read_data || !callbacks->write_data) {
		vfu__err(ctx, "migration needs transition, read_data and write_data");
		return vfu__fail(EINVAL);
	}
	if (ctx->realized)
		return vfu__fail(EBUSY);
	ctx->migration = *callbacks;
	ctx->migration_set = true;
	return 0;
}

static vfu_migr_state_t vfu_state_of(enum uvf_migration_state s)
{
	switch (s) {
	case UVF_MIGRATION_STATE_STOP:
		return VFU_MIGR_STATE_STOP;
	case UVF_MIGRATION_STATE_STOP_COPY:
		return VFU_MIGR_STATE_STOP_AND_COPY;
	case UVF_MIGRATION_STATE_PRE_COPY:
		return VFU_MIGR_STATE_PRE_COPY;
	case UVF_MIGRATION_STATE_RESUMING:
		return VFU_MIGR_STATE_RESUME;
	default:
		return VFU_MIGR_STATE_RUNNING;
	}
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	vfu_ctx_t *ctx = data;
	(void)dev;
	(void)from;

	int ret = vfu__quiesce(ctx);
	if (ret < 0)
		return ret;
	errno = 0;
	if (ctx->migration.transition(ctx, vfu_state_of(to)) < 0)
		return errno ? -errno : -EINVAL;
	return 0;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	vfu_ctx_t *ctx = data;
	(void)dev;

	errno = 0;
	ssize_t n = ctx->migration.read_data(ctx, buf, len);
	if (n < 0)
		return errno ? -errno : -EINVAL;
	if ((size_t)n > len) {
		vfu__err(ctx, "read_data returned %zd for a buffer of %zu bytes", n, len);
		return -EINVAL;
	}
	return n;
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	vfu_ctx_t *ctx = data;
	const uint8_t *p = buf;
	(void)dev;

	while (len) {
		errno = 0;
		/* libvfio-user's write_data takes a non-const buffer */
		ssize_t n = ctx->migration.write_data(ctx, (void *)p, len);
		if (n < 0)
			return errno ? -errno : -EINVAL;
		if (n == 0 || (size_t)n > len) {
			vfu__err(ctx, "write_data took %zd of %zu bytes", n, len);
			return -EINVAL;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vfu__realize_migration(vfu_ctx_t *ctx)
{
	if (!ctx->migration_set)
		return 0;
	struct uvf_migration_callbacks cb = UVF_MIGRATION_CALLBACKS_INIT;
	cb.transition = mig_transition;
	cb.save = mig_save;
	cb.load = mig_load;
	return uvf_device_set_migration(ctx->dev, &cb, ctx, UVF_MIGRATION_PRE_COPY);
}
