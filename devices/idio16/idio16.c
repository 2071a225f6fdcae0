/* SPDX-License-Identifier: MIT */
/* The PCI-IDIO-16 model (register map in idio16.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/devmig.h"
#include "idio16.h"

struct uvf_idio16 {
	struct uvf_device *dev;
	int event_fd; /* kicked by uvf_idio16_set_inputs(), drained by uvf_idio16_process() */

	/* Registers: shared with uvf_idio16_set_inputs()/uvf_idio16_get_state(),
	 * which may run on other threads. */
	pthread_mutex_t lock;
	uint16_t outputs;
	uint16_t inputs;
	bool irq_enabled;
	uint8_t irq_status;
	bool filters_all;
	uint8_t filter_low;
	bool irq_requested; /* a change of state waits for the device thread */
	uint32_t irq_raised;

	/* Device thread only. */
	bool stopped; /* quiesced for migration: INTx is left alone */
	struct devmig mig;
	uvf_idio16_output_fn on_output;
	void *output_data;
	uint16_t logged_inputs;
};

/* What one register access did, acted on once the lock is released. */
struct effects {
	uint16_t old_outputs, outputs;
	bool level_before, level_after; /* INTx level around the access */
	bool new_event;			/* a change of state was latched */
};

static bool intx_level(const struct uvf_idio16 *s)
{
	return s->irq_enabled && (s->irq_status & UVF_IDIO16_STATUS_PENDING);
}

/* Latch a change of the inputs from old to now, if IRQs are enabled.
 * Returns whether something was latched. Lock held. */
static bool latch_change(struct uvf_idio16 *s, uint16_t old, uint16_t now)
{
	uint16_t changed = old ^ now;

	if (!changed || !s->irq_enabled)
		return false;
	if (changed & 0x00ff)
		s->irq_status |= UVF_IDIO16_STATUS_COS_LOW;
	if (changed & 0xff00)
		s->irq_status |= UVF_IDIO16_STATUS_COS_HIGH;
	s->irq_status |= UVF_IDIO16_STATUS_PENDING;
	return true;
}

/*
 * The card's INTx pin is a level: intx_level(). The library offers only
 * uvf_irq_trigger() for now, an edge the client turns into an asserted line
 * until the guest's EOI unmasks it; so signal when the level rises and on
 * every further change of state while it stays up (the library keeps that
 * pending while the client has the line masked), and no change goes
 * unseen. With a level API, the body becomes:
 *     uvf_irq_set_intx_level(s->dev, level);
 */
/*
 * The card's interrupt is a level: asserted while a change of state is
 * pending with IRQs enabled, until the driver clears it. A VMM that
 * acknowledges INTx early (QEMU unmasks on the guest's next I/O access)
 * gets it again while it is still asserted, so no event is lost.
 */
static void drive_intx(struct uvf_idio16 *s, bool level, bool rose)
{
	int ret = uvf_irq_set_intx_level(s->dev, level);
	if (!level || !rose)
		return;
	if (ret < 0) {
		uvf_device_log(s->dev, UVF_LOG_DEBUG, "INTx not raised: %s", uvf_strerror(ret));
		return;
	}
	if (!uvf_irq_enabled(s->dev, UVF_PCI_INTX_IRQ, 0))
		return; /* no eventfd: the status register shows it to a polling driver */
	pthread_mutex_lock(&s->lock);
	s->irq_raised++;
	pthread_mutex_unlock(&s->lock);
}

static void notify_outputs(struct uvf_idio16 *s, uint16_t old, uint16_t now)
{
	if (old == now)
		return;
	uvf_device_log(s->dev, UVF_LOG_INFO, "outputs 0x%04x -> 0x%04x", old, now);
	if (s->on_output)
		s->on_output(s->output_data, old, now);
}

static void apply_effects(struct uvf_idio16 *s, const struct effects *fx)
{
	notify_outputs(s, fx->old_outputs, fx->outputs);
	/* stopped: the level is driven again from the registers on resume */
	if (!s->stopped)
		drive_intx(s, fx->level_after, !fx->level_before || fx->new_event);
}

/* Lock held. Reads have side effects on ports 2 and 3, as on the card. */
static uint8_t read_port(struct uvf_idio16 *s, unsigned port)
{
	switch (port) {
	case UVF_IDIO16_PORT_OUT_LOW:
		return (uint8_t)s->outputs;
	case UVF_IDIO16_PORT_IN_LOW:
		return (uint8_t)s->inputs;
	case UVF_IDIO16_PORT_IRQ_CTL:
		s->irq_enabled = true;
		return 0xff;
	case UVF_IDIO16_PORT_FILTER:
		s->filters_all = true;
		return 0xff;
	case UVF_IDIO16_PORT_OUT_HIGH:
		return (uint8_t)(s->outputs >> 8);
	case UVF_IDIO16_PORT_IN_HIGH:
		return (uint8_t)(s->inputs >> 8);
	case UVF_IDIO16_PORT_IRQ_STATUS:
		return s->irq_status;
	default: /* UVF_IDIO16_PORT_FILTER_LOW */
		return s->filters_all ? 0xff : s->filter_low;
	}
}

/* Lock held. */
static void write_port(struct uvf_idio16 *s, unsigned port, uint8_t value)
{
	switch (port) {
	case UVF_IDIO16_PORT_OUT_LOW:
		s->outputs = (uint16_t)((s->outputs & 0xff00) | value);
		break;
	case UVF_IDIO16_PORT_IN_LOW:
		s->irq_status = 0; /* clear interrupt */
		break;
	case UVF_IDIO16_PORT_IRQ_CTL:
		s->irq_enabled = false; /* what is latched stays latched */
		break;
	case UVF_IDIO16_PORT_FILTER:
		s->filters_all = false;
		s->filter_low = 0;
		break;
	case UVF_IDIO16_PORT_OUT_HIGH:
		s->outputs = (uint16_t)((s->outputs & 0x00ff) | value << 8);
		break;
	case UVF_IDIO16_PORT_FILTER_LOW:
		s->filter_low = value;
		break;
	default: /* inputs 8-15 and status are read-only */
		break;
	}
}

static int bar2_access(struct uvf_idio16 *s, uint64_t offset, uint8_t *buf, size_t len, bool is_write)
{
	struct effects fx;

	/* The library checks this already; the port numbers rely on it. */
	if (offset > UVF_IDIO16_BAR_SIZE || len > UVF_IDIO16_BAR_SIZE - offset)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	fx.old_outputs = s->outputs;
	fx.level_before = intx_level(s);
	fx.new_event = false;
	for (size_t i = 0; i < len; i++) {
		unsigned port = (unsigned)offset + (unsigned)i;
		if (is_write)
			write_port(s, port, buf[i]);
		else
			buf[i] = read_port(s, port);
	}
	fx.outputs = s->outputs;
	fx.level_after = intx_level(s);
	pthread_mutex_unlock(&s->lock);
	uvf_device_log(s->dev, UVF_LOG_DEBUG, "%s port %u, %zu byte(s)", is_write ? "write" : "read", (unsigned)offset,
		       len);
	apply_effects(s, &fx);
	return 0;
}

static int bar2_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev;
	return bar2_access(data, offset, buf, len, false);
}

static int bar2_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev;
	/* bar2_access only reads buf when is_write */
	return bar2_access(data, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

static int on_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	struct uvf_idio16 *s = data;
	struct effects fx = {.new_event = false};

	(void)dev;
	if (reason == UVF_RESET_CLIENT) {
		/* the library leaves any migration state for RUNNING */
		s->stopped = false;
		devmig_clear(&s->mig);
	}
	pthread_mutex_lock(&s->lock);
	fx.old_outputs = s->outputs;
	fx.level_before = intx_level(s);
	s->outputs = 0;
	s->irq_enabled = false;
	s->irq_status = 0;
	s->filters_all = false;
	s->filter_low = 0;
	s->irq_requested = false;
	fx.outputs = 0;
	fx.level_after = false;
	pthread_mutex_unlock(&s->lock);
	uvf_device_log(s->dev, UVF_LOG_INFO, "device reset: outputs off, IRQs disabled");
	apply_effects(s, &fx);
	return 0;
}

/* ---- Migration (state format in idio16.h) ---- */

#define UVF_IDIO16_MIG_TAG     0x36314449u /* "ID16" */
#define UVF_IDIO16_MIG_VERSION 1u
#define UVF_IDIO16_MIG_MAX     4096u

static void mig_resume(struct uvf_idio16 *s)
{
	bool requested, level;

	s->stopped = false;
	pthread_mutex_lock(&s->lock);
	requested = s->irq_requested;
	s->irq_requested = false;
	level = intx_level(s);
	pthread_mutex_unlock(&s->lock);
	/* asserts the line again on a destination (the library's level
	 * starts low there); on the source it is already up */
	drive_intx(s, level, requested);
}

static int build_stream(struct uvf_idio16 *s)
{
	struct devmig_writer w;
	uint8_t *stream;
	size_t len;

	devmig_writer_begin(&w, UVF_IDIO16_MIG_TAG, UVF_IDIO16_MIG_VERSION);
	pthread_mutex_lock(&s->lock);
	devmig_put_u16(&w, s->outputs);
	devmig_put_u16(&w, s->inputs);
	devmig_put_u8(&w, s->irq_enabled);
	devmig_put_u8(&w, s->irq_status);
	devmig_put_u8(&w, s->filters_all);
	devmig_put_u8(&w, s->filter_low);
	devmig_put_u8(&w, s->irq_requested);
	devmig_put_u32(&w, s->irq_raised);
	pthread_mutex_unlock(&s->lock);
	int ret = devmig_writer_finish(&w, &stream, &len);
	if (ret == 0)
		devmig_save_begin(&s->mig, stream, len);
	return ret;
}

static bool get_bool(struct devmig_reader *r, bool *ok)
{
	uint8_t v = devmig_get_u8(r);
	if (v > 1)
		*ok = false;
	return v == 1;
}

static int load_stream(struct uvf_idio16 *s)
{
	struct devmig_reader r;
	uint32_t version;
	bool ok = true;

	if (devmig_load_finish(&s->mig, UVF_IDIO16_MIG_TAG, UVF_IDIO16_MIG_VERSION, &r, &version) < 0) {
		uvf_device_log(s->dev, UVF_LOG_WARNING,
			       "idio16: migration stream refused: truncated, corrupted or not an idio16 v1 stream "
			       "(%zu bytes)",
			       s->mig.in_len);
		return -EINVAL;
	}
	uint16_t outputs = devmig_get_u16(&r), inputs = devmig_get_u16(&r);
	bool irq_enabled = get_bool(&r, &ok);
	uint8_t irq_status = devmig_get_u8(&r);
	bool filters_all = get_bool(&r, &ok);
	uint8_t filter_low = devmig_get_u8(&r);
	bool irq_requested = get_bool(&r, &ok);
	uint32_t irq_raised = devmig_get_u32(&r);
	if (!ok || devmig_reader_end(&r) < 0 ||
	    (irq_status & ~(UVF_IDIO16_STATUS_COS_LOW | UVF_IDIO16_STATUS_COS_HIGH | UVF_IDIO16_STATUS_PENDING))) {
		uvf_device_log(s->dev, UVF_LOG_WARNING, "idio16: migration stream refused: inconsistent state");
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	uint16_t old_outputs = s->outputs;
	s->outputs = outputs;
	s->inputs = inputs;
	s->irq_enabled = irq_enabled;
	s->irq_status = irq_status;
	s->filters_all = filters_all;
	s->filter_low = filter_low;
	s->irq_requested = irq_requested;
	s->irq_raised = irq_raised;
	pthread_mutex_unlock(&s->lock);
	notify_outputs(s, old_outputs, outputs);
	return 0;
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct uvf_idio16 *s = data;
	int ret = 0;

	(void)dev;
	/* Nothing runs asynchronously here: quiescing is not raising INTx
	 * any more (input changes wait in irq_requested). */
	if ((from == UVF_MIGRATION_STATE_RUNNING || from == UVF_MIGRATION_STATE_PRE_COPY) &&
	    (to == UVF_MIGRATION_STATE_STOP || to == UVF_MIGRATION_STATE_STOP_COPY))
		s->stopped = true;
	switch (to) {
	case UVF_MIGRATION_STATE_STOP_COPY:
		return build_stream(s);
	case UVF_MIGRATION_STATE_RESUMING:
		devmig_load_begin(&s->mig, UVF_IDIO16_MIG_MAX);
		return 0;
	case UVF_MIGRATION_STATE_STOP:
		if (from == UVF_MIGRATION_STATE_RESUMING)
			ret = load_stream(s);
		break;
	case UVF_MIGRATION_STATE_RUNNING:
		if (from == UVF_MIGRATION_STATE_STOP)
			mig_resume(s);
		break;
	default: /* PRE_COPY: nothing to send before the final copy */
		break;
	}
	devmig_clear(&s->mig);
	return ret;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct uvf_idio16 *s = data;

	(void)dev;
	return devmig_save(&s->mig, buf, len);
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	struct uvf_idio16 *s = data;

	(void)dev;
	return devmig_load(&s->mig, buf, len);
}

static uint64_t mig_pending(struct uvf_device *dev, void *data)
{
	struct uvf_idio16 *s = data;

	(void)dev;
	return devmig_save_pending(&s->mig);
}

static int describe(struct uvf_idio16 *s)
{
	static const struct uvf_pci_ids ids = {
		.vendor_id = UVF_IDIO16_VENDOR_ID,
		.device_id = UVF_IDIO16_DEVICE_ID,
		.subsystem_vendor_id = UVF_IDIO16_VENDOR_ID,
		.subsystem_id = UVF_IDIO16_DEVICE_ID,
		.class_code = UVF_IDIO16_CLASS,
		.revision = 0,
	};
	const struct uvf_bar_desc bar2 = {
		.size = UVF_IDIO16_BAR_SIZE, .flags = UVF_BAR_IO, .read = bar2_read, .write = bar2_write, .data = s};
	const struct uvf_migration_callbacks mig = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
		.pending = mig_pending,
	};
	int ret;

	if ((ret = uvf_device_set_pci_ids(s->dev, &ids)) < 0 ||
	    (ret = uvf_device_set_bar(s->dev, UVF_IDIO16_BAR, &bar2)) < 0 ||
	    (ret = uvf_device_set_irq_count(s->dev, UVF_PCI_INTX_IRQ, 1)) < 0 ||
	    (ret = uvf_device_set_migration(s->dev, &mig, s, UVF_MIGRATION_PRE_COPY)) < 0)
		return ret;
	return 0;
}

/* The device's free_data: runs last in uvf_device_free(), after every
 * other callback, so nothing points at s any more. */
static void free_model(void *data)
{
	struct uvf_idio16 *s = data;

	devmig_clear(&s->mig);
	if (s->event_fd >= 0)
		close(s->event_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int uvf_idio16_create(struct uvf_idio16 **out)
{
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_idio16 *s;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = pthread_mutex_init(&s->lock, NULL);
	if (ret) {
		free(s);
		return -ret;
	}
	s->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->event_fd < 0) {
		ret = -errno;
		free_model(s);
		return ret;
	}
	ret = uvf_device_new(&s->dev);
	if (ret < 0) {
		free_model(s);
		return ret;
	}
	cb.reset = on_reset;
	cb.free_data = free_model;
	ret = uvf_device_set_callbacks(s->dev, &cb, s);
	if (ret < 0) {
		uvf_device_free(s->dev);
		free_model(s);
		return ret;
	}
	/* From here on the device owns s. */
	ret = describe(s);
	if (ret < 0) {
		uvf_device_free(s->dev);
		return ret;
	}
	*out = s;
	return 0;
}

void uvf_idio16_destroy(struct uvf_idio16 *s)
{
	if (s)
		uvf_device_free(s->dev);
}

struct uvf_device *uvf_idio16_device(struct uvf_idio16 *s)
{
	return s ? s->dev : NULL;
}

void uvf_idio16_set_output_listener(struct uvf_idio16 *s, uvf_idio16_output_fn fn, void *data)
{
	s->on_output = fn;
	s->output_data = data;
}

void uvf_idio16_set_inputs(struct uvf_idio16 *s, uint16_t value)
{
	bool changed;

	pthread_mutex_lock(&s->lock);
	changed = s->inputs != value;
	if (latch_change(s, s->inputs, value))
		s->irq_requested = true;
	s->inputs = value;
	pthread_mutex_unlock(&s->lock);
	if (changed) {
		uint64_t one = 1;
		/* EAGAIN: the counter is saturated, a kick is pending anyway */
		ssize_t n = write(s->event_fd, &one, sizeof(one));
		(void)n;
	}
}

void uvf_idio16_get_state(struct uvf_idio16 *s, struct uvf_idio16_state *out)
{
	pthread_mutex_lock(&s->lock);
	out->outputs = s->outputs;
	out->inputs = s->inputs;
	out->irq_enabled = s->irq_enabled;
	out->irq_status = s->irq_status;
	out->filters_all = s->filters_all;
	out->filter_low = s->filter_low;
	out->irq_raised = s->irq_raised;
	pthread_mutex_unlock(&s->lock);
}

int uvf_idio16_event_fd(struct uvf_idio16 *s)
{
	return s->event_fd;
}

void uvf_idio16_process(struct uvf_idio16 *s)
{
	uint64_t counter;
	bool requested, level;
	uint16_t inputs;

	while (read(s->event_fd, &counter, sizeof(counter)) == sizeof(counter))
		; /* drain: one pass handles every kick */
	if (s->stopped)
		return; /* irq_requested waits for resume */
	pthread_mutex_lock(&s->lock);
	requested = s->irq_requested;
	s->irq_requested = false;
	level = intx_level(s);
	inputs = s->inputs;
	pthread_mutex_unlock(&s->lock);
	if (inputs != s->logged_inputs) {
		uvf_device_log(s->dev, UVF_LOG_INFO, "inputs 0x%04x -> 0x%04x", s->logged_inputs, inputs);
		s->logged_inputs = inputs;
	}
	/* The guest may have cleared the latch meanwhile: then level is low. */
	drive_intx(s, level, requested);
}

int uvf_idio16_run(struct uvf_idio16 *s, int watch_fd, uvf_idio16_watch_fn on_watch, void *data)
{
	if (!s || (watch_fd >= 0 && !on_watch))
		return -EINVAL;
	for (;;) {
		struct pollfd p[3] = {
			{.fd = uvf_device_poll_fd(s->dev), .events = POLLIN},
			{.fd = s->event_fd, .events = POLLIN},
			{.fd = watch_fd, .events = POLLIN},
		};
		int n = poll(p, watch_fd >= 0 ? 3 : 2, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[1].revents)
			uvf_idio16_process(s);
		if (n > 0 && watch_fd >= 0 && p[2].revents && !on_watch(data))
			watch_fd = -1;
		int ret = uvf_device_dispatch(s->dev);
		if (ret < 0)
			return ret;
		if (ret == 1)
			return 0;
	}
}
