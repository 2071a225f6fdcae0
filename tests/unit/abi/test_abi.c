/* SPDX-License-Identifier: MIT */
/*
 * The ABI promises, through the shared library as a program links it:
 * the run-time version matches the headers, every *_INIT macro names its
 * struct's current version and the library accepts it, and output structs
 * are written only as far as the caller's size says (argsz, entry size).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "harness.h"
#include "uvf/uvf.h"
#include "uvf/version.h"

#define BAR0_SIZE 0x4000u
#define DOORBELL  0x100u
#define DOORBELL2 0x108u
#define FILL	  0xa5

/* True when bytes [from, to) of p all hold FILL: untouched by the library. */
static bool untouched(const void *p, size_t from, size_t to)
{
	const unsigned char *b = p;

	for (size_t i = from; i < to; i++)
		if (b[i] != FILL)
			return false;
	return true;
}

static void version_matches_headers(void **state)
{
	unsigned major = 999, minor = 999, patch = 999;
	char rest = 0;

	(void)state;
	assert_string_equal(uvf_version(), UVF_VERSION_STRING);
	assert_int_equal(uvf_version_number(), UVF_VERSION_NUMBER);
	assert_int_equal(sscanf(uvf_version(), "%u.%u.%u%c", &major, &minor, &patch, &rest), 3);
	assert_int_equal(major, UVF_VERSION_MAJOR);
	assert_int_equal(minor, UVF_VERSION_MINOR);
	assert_int_equal(patch, UVF_VERSION_PATCH);
	assert_int_equal(uvf_version_number(), UVF_VERSION_NUMBER_OF(major, minor, patch));
}

static void version_numbers_order_like_versions(void **state)
{
	(void)state;
	assert_true(UVF_VERSION_NUMBER_OF(0, 1, 0) < UVF_VERSION_NUMBER_OF(0, 1, 1));
	assert_true(UVF_VERSION_NUMBER_OF(0, 1, 255) < UVF_VERSION_NUMBER_OF(0, 2, 0));
	assert_true(UVF_VERSION_NUMBER_OF(0, 255, 255) < UVF_VERSION_NUMBER_OF(1, 0, 0));
	assert_true(uvf_version_number() >= UVF_VERSION_NUMBER_OF(0, 1, 0));
}

static void init_macros_name_current_versions(void **state)
{
	struct uvf_serve_opts serve = UVF_SERVE_OPTS_INIT;
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	struct uvf_device_callbacks callbacks = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_migration_callbacks migration = UVF_MIGRATION_CALLBACKS_INIT;
	struct uvf_ioeventfd_desc ioeventfd = UVF_IOEVENTFD_DESC_INIT;
	struct uvf_client_opts client = UVF_CLIENT_OPTS_INIT;

	(void)state;
	assert_int_equal(serve.version, UVF_SERVE_OPTS_VERSION);
	assert_int_equal(pcie.version, UVF_PCIE_OPTS_VERSION);
	assert_int_equal(callbacks.version, UVF_DEVICE_CALLBACKS_VERSION);
	assert_int_equal(migration.version, UVF_MIGRATION_CALLBACKS_VERSION);
	assert_int_equal(ioeventfd.version, UVF_IOEVENTFD_DESC_VERSION);
	assert_int_equal(client.version, UVF_CLIENT_OPTS_VERSION);
	/* the defaults the headers document, field by field where order matters */
	assert_int_equal(serve.socket_mode, 0600);
	assert_int_equal(serve.max_data_xfer_size, 1048576);
	assert_int_equal(serve.max_msg_fds, 8);
	assert_int_equal(serve.max_dma_maps, 65535);
	assert_int_equal(serve.dma_timeout_ms, 5000);
	assert_int_equal(serve.socket_group, (gid_t)-1);
	assert_int_equal(serve.handshake_timeout_ms, 10000);
	assert_int_equal(client.timeout_ms, 5000);
	assert_int_equal(client.max_data_xfer_size, 1048576);
	assert_int_equal(client.max_msg_fds, 8);
	assert_int_equal(client.log_level, UVF_LOG_WARNING);
	assert_int_equal(pcie.max_payload, 256);
	assert_null(ioeventfd.fn);
	assert_null(migration.transition);
}

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	(void)dev, (void)data, (void)from, (void)to;
	return 0;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	(void)dev, (void)data, (void)buf, (void)len;
	return 0;
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)buf, (void)len;
	return 0;
}

/* A device described with every *_INIT macro, served by the harness with
 * UVF_SERVE_OPTS_INIT: the library accepts each one. */
static void start_device(struct harness *h)
{
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f1, .class_code = 0xff0000};
	struct uvf_bar_desc bar = {.size = BAR0_SIZE, .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP};
	struct uvf_device_callbacks callbacks = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	struct uvf_migration_callbacks migration = UVF_MIGRATION_CALLBACKS_INIT;
	struct uvf_ioeventfd_desc doorbell = UVF_IOEVENTFD_DESC_INIT;
	struct uvf_serve_opts serve = UVF_SERVE_OPTS_INIT;
	struct uvf_device *dev = NULL;

	harness_prepare(h);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), 0);
	assert_int_equal(uvf_device_set_callbacks(dev, &callbacks, NULL), 0);
	assert_int_equal(uvf_device_set_pcie(dev, &pcie), 0);
	migration.transition = mig_transition;
	migration.save = mig_save;
	migration.load = mig_load;
	assert_int_equal(uvf_device_set_migration(dev, &migration, NULL, 0), 0);
	doorbell.bar = 0;
	doorbell.offset = DOORBELL;
	doorbell.size = 4;
	assert_true(uvf_device_add_ioeventfd(dev, &doorbell) >= 0);
	doorbell.offset = DOORBELL2;
	assert_true(uvf_device_add_ioeventfd(dev, &doorbell) >= 0);
	harness_start(h, dev, &serve);
}

static void init_macros_are_accepted(void **state)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	struct harness h;

	(void)state;
	start_device(&h);
	assert_int_equal(uvf_client_connect(&c, h.path, &opts), 0);
	uvf_client_close(c);
	harness_stop(&h);
}

static void server_caps_report_their_size(void **state)
{
	const struct uvf_server_caps *caps;
	struct harness h;
	struct uvf_client *c;

	(void)state;
	start_device(&h);
	c = harness_connect(&h);
	caps = uvf_client_server_caps(c);
	assert_non_null(caps);
	assert_int_equal(caps->size, sizeof(struct uvf_server_caps));
	assert_int_equal(caps->max_msg_fds, 8);
	uvf_client_close(c);
	harness_stop(&h);
}

static void region_info_writes_only_what_argsz_covers(void **state)
{
	/* The first version of the struct ends with `subtype`. */
	const size_t first = offsetof(struct uvf_client_region, subtype) + sizeof(uint32_t);
	union {
		struct uvf_client_region r;
		unsigned char bytes[sizeof(struct uvf_client_region) + 16];
	} out;
	struct harness h;
	struct uvf_client *c;

	(void)state;
	start_device(&h);
	c = harness_connect(&h);

	/* a caller built with a newer, larger struct: the library fills its
	 * own size and says so; the rest stays the caller's */
	memset(&out, FILL, sizeof(out));
	out.r.argsz = sizeof(out);
	assert_int_equal(uvf_client_region_info(c, 0, &out.r), 0);
	assert_int_equal(out.r.argsz, sizeof(struct uvf_client_region));
	assert_int_equal(out.r.size, BAR0_SIZE);
	assert_true(untouched(&out, sizeof(struct uvf_client_region), sizeof(out)));

	/* a caller with exactly the first version: nothing past it is written */
	memset(&out, FILL, sizeof(out));
	out.r.argsz = (uint32_t)first;
	assert_int_equal(uvf_client_region_info(c, 0, &out.r), 0);
	assert_int_equal(out.r.argsz, first);
	assert_int_equal(out.r.index, 0);
	assert_int_equal(out.r.size, BAR0_SIZE);
	assert_true(out.r.fd >= 0);
	assert_true(untouched(&out, first, sizeof(out)));

	/* anything shorter, or a caller that forgot argsz, is refused untouched */
	memset(&out, FILL, sizeof(out));
	out.r.argsz = (uint32_t)first - 1;
	assert_int_equal(uvf_client_region_info(c, 0, &out.r), -EINVAL);
	assert_int_equal(out.r.argsz, first - 1);
	assert_true(untouched(&out, sizeof(out.r.argsz), sizeof(out)));
	out.r.argsz = 0;
	assert_int_equal(uvf_client_region_info(c, 0, &out.r), -EINVAL);

	uvf_client_close(c);
	harness_stop(&h);
}

static void io_fds_use_the_callers_entry_size(void **state)
{
	const size_t first = offsetof(struct uvf_client_ioeventfd, fd) + sizeof(int);
	struct wide {
		struct uvf_client_ioeventfd e;
		unsigned char later[24]; /* fields a newer header would have */
	} list[3];
	struct harness h;
	struct uvf_client *c;
	size_t n = 99;

	(void)state;
	start_device(&h);
	c = harness_connect(&h);
	assert_int_equal(uvf_client_region_map(c, 0), 0);

	memset(list, FILL, sizeof(list));
	assert_int_equal(uvf_client_region_io_fds(c, 0, &list[0].e, sizeof(list[0]), 3, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].e.offset, DOORBELL);
	assert_int_equal(list[0].e.size, 4);
	assert_true(list[0].e.fd >= 0);
	assert_true(untouched(&list[0], sizeof(list[0].e), sizeof(list[0])));
	/* the second entry is at the caller's stride, not the library's */
	assert_int_equal(list[1].e.offset, DOORBELL2);
	assert_true(list[1].e.fd >= 0 && list[1].e.fd != list[0].e.fd);
	assert_true(untouched(&list[1], sizeof(list[1].e), sizeof(list[1])));
	assert_true(untouched(&list[2], 0, sizeof(list[2])));

	/* the count alone, without an array */
	n = 99;
	assert_int_equal(uvf_client_region_io_fds(c, 0, NULL, 0, 0, &n), 0);
	assert_int_equal(n, 2);

	/* an entry size below the first version is refused */
	memset(list, FILL, sizeof(list));
	assert_int_equal(uvf_client_region_io_fds(c, 0, &list[0].e, first - 1, 3, &n), -EINVAL);
	assert_true(untouched(list, 0, sizeof(list)));

	uvf_client_close(c);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_matches_headers),
		cmocka_unit_test(version_numbers_order_like_versions),
		cmocka_unit_test(init_macros_name_current_versions),
		cmocka_unit_test(init_macros_are_accepted),
		cmocka_unit_test(server_caps_report_their_size),
		cmocka_unit_test(region_info_writes_only_what_argsz_covers),
		cmocka_unit_test(io_fds_use_the_callers_entry_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
