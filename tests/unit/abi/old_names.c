/* SPDX-License-Identifier: MIT */
/*
 * A program written against the names deprecated in this release, built
 * as C and as C++ by check-old-names.sh (with -Wno-deprecated-declarations)
 * and linked to the shared library: every old constant, enum, struct tag
 * and function still compiles, means what its new name means, links, and
 * behaves like the new name against a real server. Prints "ok" lines and
 * exits 0, or names the first mismatch and exits 1.
 *
 * Written in the common subset of C11 and C++11 (no designated
 * initialisers, no implicit void * conversions).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uvf/uvf.h>

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		failures++;
}

/* Compile-time: the old names are the new ones. */
UVF_STATIC_ASSERT(UVF_MSG_TYPE_MASK == UVF_MSG_TYPE_BITS, "UVF_MSG_TYPE_MASK");
UVF_STATIC_ASSERT(UVF_IRQ_SET_DATA_MASK == UVF_IRQ_SET_DATA_BITS, "UVF_IRQ_SET_DATA_MASK");
UVF_STATIC_ASSERT(UVF_IRQ_SET_ACTION_MASK_ALL == UVF_IRQ_SET_ACTION_BITS, "UVF_IRQ_SET_ACTION_MASK_ALL");
UVF_STATIC_ASSERT(UVF_FEATURE_MASK == UVF_FEATURE_BITS, "UVF_FEATURE_MASK");
UVF_STATIC_ASSERT(UVF_CMD_MIG_DATA_READ == 17 && UVF_CMD_MIG_DATA_WRITE == 18, "UVF_CMD_MIG_DATA_*");
UVF_STATIC_ASSERT(UVF_FEATURE_MIG_DEVICE_STATE == UVF_FEATURE_MIGRATION_DEVICE_STATE, "UVF_FEATURE_MIG_*");
UVF_STATIC_ASSERT(UVF_MIG_STATE_ERROR == 0 && UVF_MIG_STATE_STOP == 1 && UVF_MIG_STATE_RUNNING == 2 &&
			  UVF_MIG_STATE_STOP_COPY == 3 && UVF_MIG_STATE_RESUMING == 4 &&
			  UVF_MIG_STATE_RUNNING_P2P == 5 && UVF_MIG_STATE_PRE_COPY == 6 &&
			  UVF_MIG_STATE_PRE_COPY_P2P == 7,
		  "UVF_MIG_STATE_*");
UVF_STATIC_ASSERT(sizeof(struct uvf_version) == sizeof(struct uvf_msg_version), "struct uvf_version");
UVF_STATIC_ASSERT(sizeof(struct uvf_dma_map) == 32 && sizeof(struct uvf_dma_unmap) == 24 &&
			  sizeof(struct uvf_dma_unmap_bitmap) == 16 && sizeof(struct uvf_device_info) == 16 &&
			  sizeof(struct uvf_region_info) == 32 && sizeof(struct uvf_region_cap_header) == 8 &&
			  sizeof(struct uvf_region_sparse_area) == 16 &&
			  sizeof(struct uvf_region_cap_sparse_mmap) == 16 && sizeof(struct uvf_region_cap_type) == 16 &&
			  sizeof(struct uvf_region_io_fds) == 16 && sizeof(struct uvf_io_fd_entry) == 40 &&
			  sizeof(struct uvf_irq_info) == 16 && sizeof(struct uvf_irq_set) == 20 &&
			  sizeof(struct uvf_region_access) == 16 && sizeof(struct uvf_dma_access) == 16 &&
			  sizeof(struct uvf_write_multi_entry) == 24 && sizeof(struct uvf_write_multi) == 8 &&
			  sizeof(struct uvf_device_feature) == 8 && sizeof(struct uvf_feature_migration) == 8 &&
			  sizeof(struct uvf_feature_mig_state) == 8 && sizeof(struct uvf_dma_logging_range) == 16 &&
			  sizeof(struct uvf_dma_logging_control) == 16 && sizeof(struct uvf_dma_logging_report) == 24 &&
			  sizeof(struct uvf_mig_data) == 8,
		  "old wire struct tags");

/* A migration callback typed with the old enum name. */
static int transition(struct uvf_device *dev, void *data, enum uvf_mig_state from, enum uvf_mig_state to)
{
	(void)dev;
	(void)data;
	(void)from;
	(void)to;
	return 0;
}

static void *serve(void *arg)
{
	uvf_device_run((struct uvf_device *)arg);
	return NULL;
}

int main(void)
{
	struct uvf_bar_desc bar;
	struct uvf_pci_ids ids;
	struct uvf_device *dev = NULL;
	struct uvf_client *client = NULL;
	struct uvf_device_info info;
	struct uvf_irq_info irq;
	struct uvf_dma_logging_range range;
	char dir[] = "/tmp/uvf-old-names-XXXXXX";
	char path[64];
	pthread_t thread;
	uint32_t value = 0x12345678, back = 0, back_new = 0;
	size_t got = 1, got_new = 1;
	unsigned char byte = 0;
	int ret_old, ret_new;
	enum uvf_mig_state state;
	int (*cb)(struct uvf_device *, void *, enum uvf_migration_state, enum uvf_migration_state) = transition;

	/* The old names are the types the new API takes. */
	check(cb != NULL, "enum uvf_mig_state is enum uvf_migration_state");
	memset(&range, 0, sizeof(range));
	check(sizeof(range) == sizeof(struct uvf_msg_dma_logging_range), "struct uvf_dma_logging_range");

	memset(&ids, 0, sizeof(ids));
	ids.vendor_id = 0x1de0;
	ids.device_id = 0x00ff;
	memset(&bar, 0, sizeof(bar));
	bar.size = 4096;
	bar.flags = UVF_BAR_MEMORY;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/s", dir);
	if (uvf_device_new(&dev) < 0 || uvf_device_set_pci_ids(dev, &ids) < 0 || uvf_device_set_bar(dev, 0, &bar) < 0 ||
	    uvf_device_listen(dev, path, NULL) < 0 || pthread_create(&thread, NULL, serve, dev) != 0) {
		fprintf(stderr, "cannot start the server\n");
		return 2;
	}
	if (uvf_client_connect(&client, path, NULL) < 0) {
		fprintf(stderr, "cannot connect\n");
		return 2;
	}

	state = uvf_device_migration_state(dev);
	check(state == UVF_MIG_STATE_RUNNING, "UVF_MIG_STATE_RUNNING");
	check(uvf_client_device_info(client, &info) == 0 && info.num_regions > 0, "struct uvf_device_info");
	check(uvf_client_irq_info(client, UVF_PCI_INTX_IRQ, &irq) == 0 && irq.index == UVF_PCI_INTX_IRQ,
	      "struct uvf_irq_info");

	/* The old functions, exported for programs built before the rename. */
	check(uvf_client_bar_write(client, 0, 0x10, &value, sizeof(value)) == 0, "uvf_client_bar_write");
	check(uvf_client_bar_read(client, 0, 0x10, &back, sizeof(back)) == 0 && back == value,
	      "uvf_client_bar_read reads what uvf_client_bar_write wrote");
	check(uvf_client_access_read(client, 0, 0x10, &back_new, sizeof(back_new)) == 0 && back_new == value,
	      "uvf_client_access_read agrees");
	ret_old = uvf_client_mig_data_read(client, &byte, 1, &got);
	ret_new = uvf_client_migration_data_read(client, &byte, 1, &got_new);
	check(ret_old < 0 && ret_old == ret_new && got == got_new,
	      "uvf_client_mig_data_read fails like uvf_client_migration_data_read without migration");
	ret_old = uvf_client_mig_data_write(client, &byte, 1);
	ret_new = uvf_client_migration_data_write(client, &byte, 1);
	check(ret_old < 0 && ret_old == ret_new,
	      "uvf_client_mig_data_write fails like uvf_client_migration_data_write without migration");

	uvf_client_close(client);
	uvf_device_stop(dev);
	pthread_join(thread, NULL);
	uvf_device_free(dev);
	rmdir(dir);
	if (failures) {
		printf("old-names: %d failed\n", failures);
		return 1;
	}
	return 0;
}
