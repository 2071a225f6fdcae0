/* SPDX-License-Identifier: MIT */
/*
 * uvf_device_add_capability_at() and uvf_device_add_ext_capability_at():
 * capabilities at the offsets the device chooses, their checks, and the
 * chain a client walks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static int bar_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static void capabilities_go_where_the_device_puts_them(void **state)
{
	struct harness h;
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x0044, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 256, .read = bar_read};
	uint8_t body[6] = {8, 1, 2, 3, 4, 5}, ext[8] = {0xee, 1, 2, 3, 4, 5, 6, 7};
	(void)state;

	harness_prepare(&h);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	/* offsets outside the capability area */
	assert_int_equal(uvf_device_add_capability_at(NULL, 0x80, 0x09, body, sizeof(body), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_capability_at(dev, 0x3c, 0x09, body, sizeof(body), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_capability_at(dev, 0x100, 0x09, body, sizeof(body), NULL), -EINVAL);
	/* unaligned: refused, and nothing stays declared */
	assert_int_equal(uvf_device_add_capability_at(dev, 0x82, 0x09, body, sizeof(body), NULL), -EINVAL);
	assert_int_equal(uvf_device_find_capability(dev, 0x09, false), -ENOENT);
	/* extended ones need PCI Express */
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x100, 0x0b, 1, ext, sizeof(ext), NULL), -EINVAL);
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	assert_int_equal(uvf_device_set_pcie(dev, &pcie), 0);
	assert_int_equal(uvf_device_add_capability_at(dev, 0xc0, 0x09, body, sizeof(body), NULL), 0xc0);
	/* the next free one follows it; one before it is refused */
	assert_int_equal(uvf_device_add_capability(dev, 0x09, body, sizeof(body), NULL), 0xc8);
	assert_int_equal(uvf_device_add_capability_at(dev, 0xa0, 0x09, body, sizeof(body), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x0fc, 0x0b, 1, ext, sizeof(ext), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x1000, 0x0b, 1, ext, sizeof(ext), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x200, 0x0b, 1, ext, sizeof(ext), NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x100, 0x03, 1, ext, sizeof(ext), NULL), 0x100);
	assert_int_equal(uvf_device_add_ext_capability_at(dev, 0x300, 0x0b, 1, ext, sizeof(ext), NULL), 0x300);
	assert_int_equal(uvf_device_find_capability(dev, 0x0b, true), 0x300);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);

	/* the chain a client walks */
	uint8_t b = 0;
	uint32_t w = 0;
	assert_int_equal(uvf_client_config_read8(c, 0x34, &b), 0);
	uint8_t at = b;
	unsigned hops = 0;
	while (at && at != 0xc0 && hops++ < 16) {
		assert_int_equal(uvf_client_config_read8(c, at + 1u, &b), 0);
		at = b;
	}
	assert_int_equal(at, 0xc0);
	assert_int_equal(uvf_client_config_read8(c, 0xc1, &b), 0);
	assert_int_equal(b, 0xc8);
	assert_int_equal(uvf_client_config_read8(c, 0xc2, &b), 0);
	assert_int_equal(b, 8);
	assert_int_equal(uvf_client_config_read32(c, 0x100, &w), 0);
	assert_int_equal(w >> 20, 0x300);
	assert_int_equal(uvf_client_config_read32(c, 0x300, &w), 0);
	assert_int_equal(w & 0xffff, 0x0b);
	assert_int_equal(uvf_client_config_read8(c, 0x304, &b), 0);
	assert_int_equal(b, 0xee);
	uvf_client_close(c);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(capabilities_go_where_the_device_puts_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
