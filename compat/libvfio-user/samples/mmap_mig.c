/* SPDX-License-Identifier: MIT */
/*
 * vfu-mmap-mig: a device with a mapped BAR and migration, written against
 * the libvfio-user API.
 *
 * BAR0 (memory, 64 KiB): plain RAM in a memfd the client maps; its
 *   accesses never reach the device.
 * BAR1 (memory, 4 KiB, callback):
 *   0x00  GENERATION (rw) a number the guest keeps
 *   0x04  CHECKSUM   (ro) sum of the 32-bit words of BAR0
 * Migration (version 2): the state is a small header, GENERATION and the
 * 64 KiB of BAR0, all sent in STOP_AND_COPY; the destination takes it in
 * RESUME and applies it when it leaves RESUME.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create() */
#endif
#include <stdint.h>
#include <sys/mman.h>

#include "sample_common.h"

#define RAM_SIZE    (64u * 1024u)
#define STATE_MAGIC 0x76666d6du /* "vfmm" */

struct state_hdr {
	uint32_t magic;
	uint32_t generation;
	uint32_t ram_size;
	uint32_t reserved;
};

struct mmap_mig {
	uint8_t *ram; /* our mapping of BAR0's memfd */
	uint32_t generation;
	/* the stream being saved or loaded */
	uint8_t stream[sizeof(struct state_hdr) + RAM_SIZE];
	size_t stream_len, stream_at;
	vfu_migr_state_t state;
};

static ssize_t bar1_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	struct mmap_mig *d = vfu_get_private(ctx);
	uint32_t v = 0;

	if (offset < 0 || offset + (loff_t)count > 4096) {
		errno = EINVAL;
		return -1;
	}
	if (is_write) {
		if (offset == 0 && count == 4)
			memcpy(&d->generation, buf, 4);
		return (ssize_t)count;
	}
	if (offset == 0) {
		v = d->generation;
	} else if (offset == 4) {
		const uint32_t *w = (const uint32_t *)(void *)d->ram;
		for (size_t i = 0; i < RAM_SIZE / 4; i++)
			v += w[i];
	}
	memset(buf, 0, count);
	memcpy(buf, &v, count < 4 ? count : 4);
	return (ssize_t)count;
}

static int mig_transition(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
	struct mmap_mig *d = vfu_get_private(ctx);

	if (state == VFU_MIGR_STATE_STOP_AND_COPY) {
		/* the device is stopped: its state is final, snapshot it */
		struct state_hdr h = {.magic = STATE_MAGIC, .generation = d->generation, .ram_size = RAM_SIZE};
		memcpy(d->stream, &h, sizeof(h));
		memcpy(d->stream + sizeof(h), d->ram, RAM_SIZE);
		d->stream_len = sizeof(d->stream);
		d->stream_at = 0;
	} else if (state == VFU_MIGR_STATE_RESUME) {
		d->stream_len = d->stream_at = 0;
	} else if (d->state == VFU_MIGR_STATE_RESUME) {
		/* all of the state is in: check it, then apply it */
		struct state_hdr h;
		if (d->stream_len != sizeof(d->stream)) {
			vfu_log(ctx, LOG_ERR, "migration: %zu bytes of state, expected %zu", d->stream_len,
				sizeof(d->stream));
			errno = EINVAL;
			return -1;
		}
		memcpy(&h, d->stream, sizeof(h));
		if (h.magic != STATE_MAGIC || h.ram_size != RAM_SIZE) {
			vfu_log(ctx, LOG_ERR, "migration: not a vfu-mmap-mig state");
			errno = EINVAL;
			return -1;
		}
		d->generation = h.generation;
		memcpy(d->ram, d->stream + sizeof(h), RAM_SIZE);
	}
	d->state = state;
	return 0;
}

static ssize_t mig_read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct mmap_mig *d = vfu_get_private(ctx);

	/* PRE_COPY: nothing before the stop, the RAM changes until then */
	if (d->state != VFU_MIGR_STATE_STOP_AND_COPY)
		return 0;
	size_t n = d->stream_len - d->stream_at;
	if (n > count)
		n = (size_t)count;
	memcpy(buf, d->stream + d->stream_at, n);
	d->stream_at += n;
	return (ssize_t)n;
}

static ssize_t mig_write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct mmap_mig *d = vfu_get_private(ctx);

	if (count > sizeof(d->stream) - d->stream_len) {
		vfu_log(ctx, LOG_ERR, "migration: more state than a vfu-mmap-mig has");
		errno = EINVAL;
		return -1;
	}
	memcpy(d->stream + d->stream_len, buf, count);
	d->stream_len += count;
	return (ssize_t)count;
}

static int mmap_mig_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct mmap_mig *d = vfu_get_private(ctx);
	if (type != VFU_RESET_LOST_CONN) {
		d->generation = 0;
		memset(d->ram, 0, RAM_SIZE);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct mmap_mig d;
	int level;
	const char *path = sample_args(argc, argv, &level);

	int fd = memfd_create("vfu-mmap-mig-bar0", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, RAM_SIZE) < 0) {
		perror("memfd");
		return 1;
	}
	d.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (d.ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	d.state = VFU_MIGR_STATE_RUNNING;
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, 0, &d, VFU_DEV_TYPE_PCI);
	if (!ctx) {
		fprintf(stderr, "vfu_create_ctx: %s\n", strerror(errno));
		return 1;
	}
	const vfu_migration_callbacks_t mig = {
		.version = VFU_MIGR_CALLBACKS_VERS,
		.transition = mig_transition,
		.read_data = mig_read_data,
		.write_data = mig_write_data,
	};
	struct iovec whole = {.iov_base = 0, .iov_len = RAM_SIZE};
	if (vfu_setup_log(ctx, sample_log, level) < 0 ||
	    vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0) < 0)
		goto fail;
	vfu_pci_set_id(ctx, 0x4e58, 0x0101, 0x4e58, 0x0101);
	vfu_pci_set_class(ctx, 0x05, 0x00, 0x00); /* RAM controller */
	/* BAR0: the memfd, mapped by the client; the library owns fd now */
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, RAM_SIZE, NULL, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM,
			     &whole, 1, fd, 0) < 0)
		goto fail;
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR1_REGION_IDX, 4096, bar1_access,
			     VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0) < 0 ||
	    vfu_setup_device_migration_callbacks(ctx, &mig) < 0 || vfu_setup_device_reset_cb(ctx, mmap_mig_reset) < 0 ||
	    vfu_realize_ctx(ctx) < 0)
		goto fail;
	int ret = sample_serve(ctx);
	vfu_destroy_ctx(ctx);
	munmap(d.ram, RAM_SIZE);
	return ret;
fail:
	fprintf(stderr, "vfu-mmap-mig: setup failed: %s\n", strerror(errno));
	vfu_destroy_ctx(ctx);
	return 1;
}
