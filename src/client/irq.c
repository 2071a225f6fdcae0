/* SPDX-License-Identifier: MIT */
/*
 * DEVICE_SET_IRQS: wiring eventfds, masking, triggering and disabling.
 *
 * A message either carries one fd per vector or none (which detaches), and
 * at most the server's max_msg_fds fds: so a vector list is sent as runs of
 * real fds cut into chunks, and runs of -1 as fd-less messages.
 */
#include <errno.h>

#include "client/client_internal.h"

static int set_irqs(struct uvf_client *client, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
		    const int *fds, size_t nfds)
{
	struct uvf_msg_irq_set set = {
		.argsz = sizeof(set), /* eventfds travel outside the payload */
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};
	int rc;

	rc = uvf__client_simple(client, UVF_CMD_DEVICE_SET_IRQS, &set, sizeof(set), fds, nfds, 0);
	if (rc)
		CLIENT_LOG(client, UVF_LOG_WARNING, "DEVICE_SET_IRQS flags 0x%x index %u vectors %u+%u: %s",
			   (unsigned)flags, (unsigned)index, (unsigned)start, (unsigned)count, uvf_strerror(rc));
	return rc;
}

/* Common checks of (index, start, count) with count > 0. */
static int check_vectors(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count)
{
	struct uvf_msg_device_info dev;
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	if (count == 0 || start + count < start) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "IRQ index %u: vectors %u+%u empty or wrap", (unsigned)index,
			   (unsigned)start, (unsigned)count);
		return -EINVAL;
	}
	if (uvf__client_cached_device_info(client, &dev) && index >= dev.num_irqs) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "IRQ index %u: the device has %u", (unsigned)index,
			   (unsigned)dev.num_irqs);
		return -EINVAL;
	}
	return 0;
}

UVF_API int uvf_client_set_irq_eventfds(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count,
					const int *fds)
{
	const uint32_t flags = UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_TRIGGER;
	uint32_t max_fds;
	uint32_t i = 0;
	int rc;

	rc = check_vectors(client, index, start, count);
	if (rc)
		return rc;
	if (fds == NULL)
		return -EINVAL;
	for (uint32_t k = 0; k < count; k++)
		if (fds[k] < -1)
			return -EBADF;
	max_fds = client->caps.max_msg_fds < UVF_TRANSPORT_MAX_SEND_FDS ? client->caps.max_msg_fds
									: UVF_TRANSPORT_MAX_SEND_FDS;

	while (i < count) {
		uint32_t j = i;

		if (fds[i] == -1) {
			while (j < count && fds[j] == -1)
				j++;
			rc = set_irqs(client, flags, index, start + i, j - i, NULL, 0);
		} else {
			if (max_fds == 0) {
				CLIENT_LOG(client, UVF_LOG_WARNING, "IRQ eventfds: the server accepts no fds");
				return -ENOTSUP;
			}
			while (j < count && fds[j] != -1 && j - i < max_fds)
				j++;
			rc = set_irqs(client, flags, index, start + i, j - i, &fds[i], j - i);
		}
		/* Earlier messages stay applied: the caller may retry or
		 * disable the index. */
		if (rc)
			return rc;
		i = j;
	}
	return 0;
}

UVF_API int uvf_client_irq_disable(struct uvf_client *client, uint32_t index)
{
	struct uvf_msg_device_info dev;
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	if (uvf__client_cached_device_info(client, &dev) && index >= dev.num_irqs)
		return -EINVAL;
	return set_irqs(client, UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER, index, 0, 0, NULL, 0);
}

UVF_API int uvf_client_irq_mask(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count, bool masked)
{
	int rc = check_vectors(client, index, start, count);

	if (rc)
		return rc;
	return set_irqs(client, UVF_IRQ_SET_DATA_NONE | (masked ? UVF_IRQ_SET_ACTION_MASK : UVF_IRQ_SET_ACTION_UNMASK),
			index, start, count, NULL, 0);
}

UVF_API int uvf_client_irq_trigger(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count)
{
	int rc = check_vectors(client, index, start, count);

	if (rc)
		return rc;
	return set_irqs(client, UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER, index, start, count, NULL, 0);
}
