/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: eventfds the client attached with DEVICE_SET_IRQS, masks and
 * pending bits, and raising vectors from device code.
 *
 * A vector is delivered by writing its eventfd. While any mask holds it,
 * a raised vector is latched as pending instead and delivered as soon as
 * the last mask goes away. The masks are the client's (SET_IRQS MASK, and
 * INTx automasking) and the guest's, in config space or the MSI-X table;
 * see held(). Pending bits are mirrored where the guest can read them:
 * the MSI pending register and the MSI-X PBA.
 *
 * INTx is level-triggered and reported AUTOMASKED, as kernel VFIO does: each
 * delivery masks the line until the client unmasks it (DATA_NONE|UNMASK, or
 * by signalling the resample eventfd it attached with DATA_EVENTFD|UNMASK).
 * A line the device still asserts fires again on unmask.
 *
 * While the device is stopped for migration (STOP, STOP_COPY, RESUMING,
 * ERROR) every vector is held as if masked: what the device raises then
 * is latched and delivered when it runs again.
 *
 * Threads: all of this state, and the interrupt bits of config space and
 * the MSI-X table and PBA, is read and changed under irq_lock (regions.c
 * takes it for config space and MSI-X table accesses). Eventfds are
 * written and closed under it too, so a device thread never signals an fd
 * that SET_IRQS just closed. No callback runs under it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

#define CMD_INTX_DISABLE 0x0400u

static const char *irq_name(unsigned index)
{
	static const char *const names[] = {"INTx", "MSI", "MSI-X", "ERR", "REQ"};
	return index < UVF_PCI_NUM_IRQS ? names[index] : "IRQ";
}

void uvf__irq_lock(struct uvf_device *dev)
{
	pthread_mutex_lock(&dev->irq_lock);
}

void uvf__irq_unlock(struct uvf_device *dev)
{
	pthread_mutex_unlock(&dev->irq_lock);
}

int uvf__irqs_init(struct uvf_device *dev)
{
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		struct uvf_irq_index *irq = &dev->irqs[i];
		free(irq->vectors); /* from an earlier, failed listen: no client, no fds */
		irq->vectors = NULL;
		irq->count = dev->irq_count[i];
		irq->unmask_fd = -1;
		if (!irq->count)
			continue;
		irq->vectors = calloc(irq->count, sizeof(*irq->vectors));
		if (!irq->vectors)
			return -ENOMEM;
		for (uint32_t v = 0; v < irq->count; v++)
			irq->vectors[v].fd = -1;
	}
	return 0;
}

static void set_unmask_fd(struct uvf_device *dev, int fd)
{
	struct uvf_irq_index *irq = &dev->irqs[UVF_PCI_INTX_IRQ];
	if (irq->unmask_fd >= 0) {
		uvf__watch_intx_unmask(dev, irq->unmask_fd, false);
		close(irq->unmask_fd);
	}
	irq->unmask_fd = fd;
	if (fd >= 0 && uvf__watch_intx_unmask(dev, fd, true) < 0)
		dev_warn(dev, "INTx: cannot watch the unmask eventfd");
}

static void intx_update_status(struct uvf_device *dev)
{
	uvf__config_set_intx_status(&dev->cfg, dev->intx.level || dev->intx.edge);
}

/* The pending flag and its guest-visible copies. */
static void set_pending(struct uvf_device *dev, unsigned index, uint32_t v, bool pending)
{
	dev->irqs[index].vectors[v].pending = pending;
	if (index == UVF_PCI_MSI_IRQ)
		uvf__config_set_msi_pending(&dev->cfg, v, pending);
	else if (index == UVF_PCI_MSIX_IRQ && dev->msix.count)
		uvf__msix_set_pending(&dev->msix, v, pending);
}

/* Back to "no eventfd, unmasked, nothing pending" (the client's wiring is
 * gone). */
static void clear_vector(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];

	if (vec->fd >= 0)
		close(vec->fd);
	vec->fd = -1;
	vec->masked = false;
	set_pending(dev, index, v, false);
	if (index == UVF_PCI_INTX_IRQ) {
		dev->intx.edge = false;
		intx_update_status(dev);
	}
}

void uvf__irqs_drop_client(struct uvf_device *dev)
{
	uvf__irq_lock(dev);
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		struct uvf_irq_index *irq = &dev->irqs[i];
		for (uint32_t v = 0; v < irq->count; v++)
			clear_vector(dev, i, v);
	}
	set_unmask_fd(dev, -1);
	/* The next client may emulate the table itself (see held()). */
	dev->msix.table_written = false;
	uvf__irq_unlock(dev);
}

void uvf__irqs_reset(struct uvf_device *dev)
{
	uvf__irq_lock(dev);
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		struct uvf_irq_index *irq = &dev->irqs[i];
		for (uint32_t v = 0; v < irq->count; v++)
			set_pending(dev, i, v, false);
	}
	dev->intx.level = false;
	dev->intx.edge = false;
	intx_update_status(dev);
	uvf__irq_unlock(dev);
}

void uvf__irqs_free(struct uvf_device *dev)
{
	uvf__irqs_drop_client(dev);
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		free(dev->irqs[i].vectors);
		dev->irqs[i].vectors = NULL;
		dev->irqs[i].count = 0;
	}
}

int uvf__irq_info(struct uvf_device *dev, uint32_t index, struct uvf_msg_irq_info *out)
{
	static const uint32_t flags[UVF_PCI_NUM_IRQS] = {
		[UVF_PCI_INTX_IRQ] = UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_MASKABLE | UVF_IRQ_INFO_AUTOMASKED,
		[UVF_PCI_MSI_IRQ] = UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_MASKABLE | UVF_IRQ_INFO_NORESIZE,
		[UVF_PCI_MSIX_IRQ] = UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_MASKABLE,
		[UVF_PCI_ERR_IRQ] = UVF_IRQ_INFO_EVENTFD,
		[UVF_PCI_REQ_IRQ] = UVF_IRQ_INFO_EVENTFD,
	};
	if (index >= UVF_PCI_NUM_IRQS)
		return -EINVAL;
	/* As kernel VFIO: ERR and REQ exist only when the device has them.
	 * QEMU's client takes EINVAL as "not offered" and a count of 0 as a
	 * failure to set up error recovery. */
	if ((index == UVF_PCI_ERR_IRQ || index == UVF_PCI_REQ_IRQ) && !dev->irqs[index].count)
		return -EINVAL;
	out->argsz = sizeof(*out);
	out->index = index;
	out->count = dev->irqs[index].count;
	out->flags = out->count ? flags[index] : 0;
	return 0;
}

static int signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t n;
	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is saturated, the interrupt is pending anyway */
	return (n == sizeof(one) || (n < 0 && errno == EAGAIN)) ? 0 : -errno;
}

/*
 * Whether a mask holds (index, v) back. The MSI-X table's mask bits count
 * only once the client has written the table: a client that emulates the
 * table itself (QEMU) never writes ours and routes vectors with SET_IRQS,
 * and our table's reset state (every entry masked) would otherwise hold
 * every vector forever. The client's SET_IRQS masks and the table's bits
 * are independent: a vector is held while either holds it.
 */
static bool held(struct uvf_device *dev, unsigned index, uint32_t v)
{
	if (dev->irqs[index].vectors[v].masked || dev->irq_quiesced)
		return true;
	switch (index) {
	case UVF_PCI_INTX_IRQ:
		return uvf__config_command(&dev->cfg) & CMD_INTX_DISABLE;
	case UVF_PCI_MSI_IRQ:
		return dev->cfg.msi_offset && uvf__config_msi_vector_masked(&dev->cfg, v);
	case UVF_PCI_MSIX_IRQ:
		if (!dev->msix.count)
			return false;
		return uvf__config_msix_function_masked(&dev->cfg) ||
		       (dev->msix.table_written && uvf__msix_entry_masked(&dev->msix, v));
	default:
		return false;
	}
}

static int deliver(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];

	if (held(dev, index, v)) {
		set_pending(dev, index, v, true);
		return 0;
	}
	if (vec->fd < 0)
		return -ENOENT;
	set_pending(dev, index, v, false);
	if (index == UVF_PCI_INTX_IRQ)
		vec->masked = true; /* automasked until the client unmasks */
	return signal_fd(vec->fd);
}

/* Deliver (index, v) if something waits for it and nothing holds it: a
 * latched interrupt, or an INTx line the device still asserts. */
static void retry(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];
	bool wanted = vec->pending || (index == UVF_PCI_INTX_IRQ && dev->intx.level);

	if (wanted && vec->fd >= 0 && !held(dev, index, v)) {
		int ret = deliver(dev, index, v);
		if (ret < 0)
			dev_warn(dev, "%s vector %u: signalling the eventfd failed: %s", irq_name(index), v,
				 uvf_strerror(ret));
	}
}

/* uvf_irq_trigger without argument checks. */
static int raise_vector(struct uvf_device *dev, unsigned index, uint32_t v)
{
	if (index == UVF_PCI_INTX_IRQ) {
		dev->intx.edge = true;
		intx_update_status(dev);
	}
	int ret = deliver(dev, index, v);
	if (ret == -ENOENT && index == UVF_PCI_INTX_IRQ) {
		/* nobody to tell: the one-shot is gone */
		dev->intx.edge = false;
		intx_update_status(dev);
	}
	if (ret < 0 && ret != -ENOENT)
		dev_warn(dev, "%s vector %u: signalling the eventfd failed: %s", irq_name(index), v, uvf_strerror(ret));
	return ret;
}

int uvf_irq_trigger(struct uvf_device *dev, unsigned index, uint32_t vector)
{
	/* counts are fixed at listen */
	if (!dev || index >= UVF_PCI_NUM_IRQS || vector >= dev->irqs[index].count)
		return -EINVAL;
	uvf__irq_lock(dev);
	int ret = raise_vector(dev, index, vector);
	uvf__irq_unlock(dev);
	return ret;
}

bool uvf_irq_enabled(struct uvf_device *dev, unsigned index, uint32_t vector)
{
	if (!dev || index >= UVF_PCI_NUM_IRQS || vector >= dev->irqs[index].count)
		return false;
	uvf__irq_lock(dev);
	bool on = dev->irqs[index].vectors[vector].fd >= 0;
	uvf__irq_unlock(dev);
	return on;
}

static int mode_locked(struct uvf_device *dev)
{
	if (dev->msix.count) {
		if (uvf__config_msix_enabled(&dev->cfg))
			return UVF_PCI_MSIX_IRQ;
	} else {
		/* No capability to tell: the client's wiring does. */
		const struct uvf_irq_index *irq = &dev->irqs[UVF_PCI_MSIX_IRQ];
		for (uint32_t v = 0; v < irq->count; v++)
			if (irq->vectors[v].fd >= 0)
				return UVF_PCI_MSIX_IRQ;
	}
	if (uvf__config_msi_enabled(&dev->cfg))
		return UVF_PCI_MSI_IRQ;
	if (dev->irqs[UVF_PCI_INTX_IRQ].count)
		return UVF_PCI_INTX_IRQ;
	return -ENOENT;
}

int uvf_irq_mode(struct uvf_device *dev)
{
	if (!dev || !dev->frozen)
		return -EINVAL;
	uvf__irq_lock(dev);
	int mode = mode_locked(dev);
	uvf__irq_unlock(dev);
	return mode;
}

/* uvf_irq_raise under irq_lock: the mode and the delivery agree. */
static int raise_locked(struct uvf_device *dev, uint32_t vector)
{
	int mode = mode_locked(dev);
	uint32_t limit;

	if (mode < 0)
		return mode;
	switch (mode) {
	case UVF_PCI_MSIX_IRQ:
		limit = dev->irqs[UVF_PCI_MSIX_IRQ].count;
		break;
	case UVF_PCI_MSI_IRQ:
		limit = uvf__config_msi_enabled_vectors(&dev->cfg);
		break;
	default:
		/* one line shared by every vector the device has */
		limit = dev->irqs[UVF_PCI_MSIX_IRQ].count;
		if (limit < dev->irqs[UVF_PCI_MSI_IRQ].count)
			limit = dev->irqs[UVF_PCI_MSI_IRQ].count;
		if (limit < 1)
			limit = 1;
		break;
	}
	if (vector >= limit)
		return -EINVAL;
	return raise_vector(dev, (unsigned)mode, mode == UVF_PCI_INTX_IRQ ? 0 : vector);
}

int uvf_irq_raise(struct uvf_device *dev, uint32_t vector)
{
	if (!dev || !dev->frozen)
		return -EINVAL;
	uvf__irq_lock(dev);
	int ret = raise_locked(dev, vector);
	uvf__irq_unlock(dev);
	return ret;
}

static void set_intx_level_locked(struct uvf_device *dev, bool asserted)
{
	if (asserted == dev->intx.level)
		return;
	dev->intx.level = asserted;
	intx_update_status(dev);
	if (!asserted) {
		set_pending(dev, UVF_PCI_INTX_IRQ, 0, false);
		return;
	}
	int ret = deliver(dev, UVF_PCI_INTX_IRQ, 0);
	if (ret < 0 && ret != -ENOENT)
		dev_warn(dev, "INTx: signalling the eventfd failed: %s", uvf_strerror(ret));
}

int uvf_irq_set_intx_level(struct uvf_device *dev, bool asserted)
{
	if (!dev || !dev->irqs[UVF_PCI_INTX_IRQ].count)
		return -EINVAL;
	uvf__irq_lock(dev);
	set_intx_level_locked(dev, asserted);
	uvf__irq_unlock(dev);
	return 0;
}

static void unmask(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];

	vec->masked = false;
	if (index == UVF_PCI_INTX_IRQ && !vec->pending) {
		/* the client is done with the one-shot it was given */
		dev->intx.edge = false;
		intx_update_status(dev);
	}
	retry(dev, index, v);
}

void uvf__irq_intx_resample(struct uvf_device *dev)
{
	struct uvf_irq_index *irq = &dev->irqs[UVF_PCI_INTX_IRQ];
	uint64_t counter;

	/* unmask_fd changes only on this (the dispatch) thread */
	if (irq->unmask_fd < 0 || read(irq->unmask_fd, &counter, sizeof(counter)) != sizeof(counter))
		return;
	if (irq->count) {
		uvf__irq_lock(dev);
		unmask(dev, UVF_PCI_INTX_IRQ, 0);
		uvf__irq_unlock(dev);
	}
}

void uvf__irq_config_changed(struct uvf_device *dev)
{
	/* Re-enabling INTx, unmasking an MSI vector, clearing the MSI-X
	 * function mask or a table mask bit releases what waits. */
	uvf__irq_lock(dev);
	for (unsigned index = UVF_PCI_INTX_IRQ; index <= UVF_PCI_MSIX_IRQ; index++) {
		struct uvf_irq_index *irq = &dev->irqs[index];
		for (uint32_t v = 0; v < irq->count; v++)
			retry(dev, index, v);
	}
	uvf__irq_unlock(dev);
}

void uvf__irqs_quiesce(struct uvf_device *dev, bool on)
{
	uvf__irq_lock(dev);
	bool was = dev->irq_quiesced;
	dev->irq_quiesced = on;
	if (was && !on) {
		/* deliver what was latched, ERR and REQ included */
		for (unsigned index = 0; index < UVF_PCI_NUM_IRQS; index++)
			for (uint32_t v = 0; v < dev->irqs[index].count; v++)
				retry(dev, index, v);
	}
	uvf__irq_unlock(dev);
}

static int irq_set_locked(struct uvf_device *dev, const struct uvf_irq_set_view *view, int *fds, size_t nfds);

int uvf__irq_set(struct uvf_device *dev, const struct uvf_irq_set_view *view, int *fds, size_t nfds)
{
	uvf__irq_lock(dev);
	int ret = irq_set_locked(dev, view, fds, nfds);
	uvf__irq_unlock(dev);
	/* outside the lock: the device may raise interrupts from it */
	if (ret == 0 && dev->cb.irq_state)
		dev->cb.irq_state(dev, dev->cb_data, view->set.index);
	if (ret == 0 && dev->cb.irq_set)
		dev->cb.irq_set(dev, dev->cb_data, view->set.index, view->set.start, view->set.count, view->set.flags);
	return ret;
}

static int irq_set_locked(struct uvf_device *dev, const struct uvf_irq_set_view *view, int *fds, size_t nfds)
{
	const struct uvf_msg_irq_set *s = &view->set;
	struct uvf_irq_index *irq = &dev->irqs[s->index];

	if (!irq->count) {
		dev_warn(dev, "DEVICE_SET_IRQS: the device has no %s vectors", irq_name(s->index));
		return -EINVAL;
	}
	if (s->count == 0) {
		/* DATA_NONE|ACTION_TRIGGER with count 0: disable the index */
		for (uint32_t v = 0; v < irq->count; v++)
			clear_vector(dev, s->index, v);
		if (s->index == UVF_PCI_INTX_IRQ)
			set_unmask_fd(dev, -1);
		goto changed;
	}
	if (s->start >= irq->count || s->count > irq->count - s->start) {
		dev_warn(dev, "DEVICE_SET_IRQS: %s vectors %u..%u, the device has %u", irq_name(s->index), s->start,
			 s->start + s->count - 1, irq->count);
		return -EINVAL;
	}
	if ((s->index == UVF_PCI_ERR_IRQ || s->index == UVF_PCI_REQ_IRQ) &&
	    view->action != UVF_IRQ_SET_ACTION_TRIGGER) {
		dev_warn(dev, "DEVICE_SET_IRQS: %s supports only ACTION_TRIGGER", irq_name(s->index));
		return -EINVAL;
	}

	if (view->data_type == UVF_IRQ_SET_DATA_EVENTFD) {
		if (view->action == UVF_IRQ_SET_ACTION_TRIGGER) {
			for (uint32_t i = 0; i < s->count; i++) {
				struct uvf_irq_vector *vec = &irq->vectors[s->start + i];
				if (vec->fd >= 0)
					close(vec->fd);
				vec->fd = -1;
				if (nfds) {
					vec->fd = fds[i];
					fds[i] = -1; /* kept */
					retry(dev, s->index, s->start + i);
				}
			}
		} else if (view->action == UVF_IRQ_SET_ACTION_UNMASK && s->index == UVF_PCI_INTX_IRQ) {
			/* resample eventfd: the client signals it when the guest EOIs */
			int fd = -1;
			if (nfds) {
				fd = fds[0];
				fds[0] = -1;
			}
			set_unmask_fd(dev, fd);
		} else {
			dev_warn(dev, "DEVICE_SET_IRQS: eventfds for %s %s are not supported", irq_name(s->index),
				 view->action == UVF_IRQ_SET_ACTION_MASK ? "mask" : "unmask");
			return -EINVAL;
		}
		goto changed;
	}

	/* DATA_NONE or DATA_BOOL: act now on the selected vectors */
	for (uint32_t i = 0; i < s->count; i++) {
		uint32_t v = s->start + i;
		if (view->data_type == UVF_IRQ_SET_DATA_BOOL && !view->bools[i])
			continue;
		switch (view->action) {
		case UVF_IRQ_SET_ACTION_MASK:
			irq->vectors[v].masked = true;
			break;
		case UVF_IRQ_SET_ACTION_UNMASK:
			unmask(dev, s->index, v);
			break;
		case UVF_IRQ_SET_ACTION_TRIGGER:
			/* loopback: as if the device raised it */
			raise_vector(dev, s->index, v);
			break;
		}
	}
changed:
	return 0;
}
