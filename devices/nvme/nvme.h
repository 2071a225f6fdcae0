/* SPDX-License-Identifier: MIT */
/*
 * An NVMe 1.4 controller with one namespace, built on the public uvf server
 * API. Used by the uvf-nvme program and, in-process, by integration tests.
 */
#ifndef UVF_DEVICES_NVME_H
#define UVF_DEVICES_NVME_H

#include <stdint.h>

#include "uvf/server.h"

#define UVF_NVME_VENDOR_ID  0x1de0
#define UVF_NVME_DEVICE_ID  0x0010
#define UVF_NVME_MAX_QUEUES 64 /* I/O queue pairs */

struct uvf_nvme_opts {
	const char *backing; /* file or block device, or NULL for RAM */
	uint64_t size;	     /* bytes of RAM when backing is NULL */
	unsigned queues;     /* I/O queue pairs, 1..UVF_NVME_MAX_QUEUES */
	const char *serial;  /* up to 20 characters; NULL = "uvf0001" */
};

/* Create and describe the device (not listening yet). The device owns the
 * controller; uvf_device_free() releases it, after flushing the backing. */
int uvf_nvme_create(struct uvf_device **out, const struct uvf_nvme_opts *opts);

/* fsync the backing file (no-op for RAM). */
int uvf_nvme_flush(struct uvf_device *dev);

#endif /* UVF_DEVICES_NVME_H */
