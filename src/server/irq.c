/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: eventfds the client attached with DEVICE_SET_IRQS, per-vector
 * masking with pending bits, and raising vectors from device code.
 *
 * INTx is level-triggered and reported AUTOMASKED, as kernel VFIO does: each
 * delivery masks the line until the client unmasks it (DATA_NONE|UNMASK, or
 * by signalling the resample eventfd it attached with DATA_EVENTFD|UNMASK).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

static const char *irq_name(unsigned index)
{
	static const char *const names[] = {"INTx", "MSI", "MSI-X", "ERR", "REQ"};
	return index < UVF_PCI_NUM_IRQS ? names[index] : "IRQ";
}

int uvf__irqs_init(struct uvf_device *dev)
{
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		struct uvf_irq_index *irq = &dev->irqs[i];
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

void uvf__irqs_drop_client(struct uvf_device *dev)
{
	for (unsigned i = 0; i < UVF_PCI_NUM_IRQS; i++) {
		struct uvf_irq_index *irq = &dev->irqs[i];
		for (uint32_t v = 0; v < irq->count; v++) {
			if (irq->vectors[v].fd >= 0)
				close(irq->vectors[v].fd);
			irq->vectors[v] = (struct uvf_irq_vector){.fd = -1};
		}
	}
	set_unmask_fd(dev, -1);
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

int uvf__irq_info(struct uvf_device *dev, uint32_t index, struct uvf_irq_info *out)
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

/* Whether the guest-visible state blocks delivery of (index, v). */
static bool blocked_by_config(struct uvf_device *dev, unsigned index, uint32_t v)
{
	if (index == UVF_PCI_INTX_IRQ)
		return uvf__config_command(&dev->cfg) & (1u << 10); /* INTx disable */
	if (index == UVF_PCI_MSI_IRQ && dev->cfg.msi_offset)
		return uvf__config_msi_vector_masked(&dev->cfg, v);
	return false;
}

static int deliver(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];

	if (vec->masked || blocked_by_config(dev, index, v)) {
		vec->pending = true;
		return 0;
	}
	if (vec->fd < 0)
		return -ENOENT;
	vec->pending = false;
	if (index == UVF_PCI_INTX_IRQ)
		vec->masked = true; /* automasked until the client unmasks */
	return signal_fd(vec->fd);
}

int uvf_irq_trigger(struct uvf_device *dev, unsigned index, uint32_t vector)
{
	if (!dev || index >= UVF_PCI_NUM_IRQS || vector >= dev->irqs[index].count)
		return -EINVAL;
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[vector];
	if (vec->fd < 0 && !vec->masked)
		return -ENOENT;
	if (index == UVF_PCI_INTX_IRQ)
		uvf__config_set_intx_status(&dev->cfg, true);
	int ret = deliver(dev, index, vector);
	if (ret < 0 && ret != -ENOENT)
		dev_warn(dev, "%s vector %u: signalling the eventfd failed: %s", irq_name(index), vector,
			 uvf_strerror(ret));
	return ret;
}

bool uvf_irq_enabled(struct uvf_device *dev, unsigned index, uint32_t vector)
{
	return dev && index < UVF_PCI_NUM_IRQS && vector < dev->irqs[index].count &&
	       dev->irqs[index].vectors[vector].fd >= 0;
}

static void unmask(struct uvf_device *dev, unsigned index, uint32_t v)
{
	struct uvf_irq_vector *vec = &dev->irqs[index].vectors[v];
	vec->masked = false;
	if (vec->pending && vec->fd >= 0)
		deliver(dev, index, v);
}

void uvf__irq_intx_resample(struct uvf_device *dev)
{
	struct uvf_irq_index *irq = &dev->irqs[UVF_PCI_INTX_IRQ];
	uint64_t counter;

	if (irq->unmask_fd < 0 || read(irq->unmask_fd, &counter, sizeof(counter)) != sizeof(counter))
		return;
	if (irq->count)
		unmask(dev, UVF_PCI_INTX_IRQ, 0);
}

void uvf__irq_config_changed(struct uvf_device *dev, const struct uvf_config_effects *fx)
{
	/* Re-enabling INTx or unmasking an MSI vector releases what is pending. */
	for (unsigned index = UVF_PCI_INTX_IRQ; index <= UVF_PCI_MSI_IRQ; index++) {
		struct uvf_irq_index *irq = &dev->irqs[index];
		for (uint32_t v = 0; v < irq->count; v++)
			if (irq->vectors[v].pending && !irq->vectors[v].masked && !blocked_by_config(dev, index, v))
				deliver(dev, index, v);
	}
	(void)fx;
}

int uvf__irq_set(struct uvf_device *dev, const struct uvf_irq_set_view *view, int *fds, size_t nfds)
{
	const struct uvf_irq_set *s = &view->set;
	struct uvf_irq_index *irq = &dev->irqs[s->index];

	if (!irq->count) {
		dev_warn(dev, "DEVICE_SET_IRQS: the device has no %s vectors", irq_name(s->index));
		return -EINVAL;
	}
	if (s->count == 0) {
		/* DATA_NONE|ACTION_TRIGGER with count 0: disable the index */
		for (uint32_t v = 0; v < irq->count; v++) {
			if (irq->vectors[v].fd >= 0)
				close(irq->vectors[v].fd);
			irq->vectors[v] = (struct uvf_irq_vector){.fd = -1};
		}
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
					if (vec->pending && !vec->masked)
						deliver(dev, s->index, s->start + i);
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
			if (irq->vectors[v].fd >= 0 || irq->vectors[v].masked)
				deliver(dev, s->index, v);
			break;
		}
	}
changed:
	if (dev->cb.irq_state)
		dev->cb.irq_state(dev, dev->cb_data, s->index);
	return 0;
}
