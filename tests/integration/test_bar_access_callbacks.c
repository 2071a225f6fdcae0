/* SPDX-License-Identifier: MIT */
/*
 * UVF_BAR_ACCESS_CALLBACKS: a mappable memory BAR whose REGION_READ and
 * REGION_WRITE go to the device's callbacks instead of its memory, while
 * the client still maps the memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static int g_reads, g_writes;
static uint32_t g_written;

static int bar_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data;
	g_reads++;
	memset(buf, 0xa0 + (int)(offset & 0xf), len);
	return 0;
}

static int bar_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	g_writes++;
	if (len == 4)
		memcpy(&g_written, buf, 4);
	return 0;
}

static struct uvf_device *new_device(void)
{
	struct uvf_device *dev;
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x0043, .class_code = 0xff0000};
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	return dev;
}

static void set_bar_checks_the_flag(void **state)
{
	(void)state;
	struct uvf_device *dev = new_device();
	/* not memory, or no read callback: refused */
	struct uvf_bar_desc d = {.size = 4096, .flags = UVF_BAR_ACCESS_CALLBACKS, .read = bar_read};
	assert_int_equal(uvf_device_set_bar(dev, 0, &d), -EINVAL);
	d.flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_ACCESS_CALLBACKS;
	d.read = NULL;
	assert_int_equal(uvf_device_set_bar(dev, 0, &d), -EINVAL);
	d.read = bar_read;
	assert_int_equal(uvf_device_set_bar(dev, 0, &d), 0);
	uvf_device_free(dev);
}

static void accesses_go_to_the_callbacks_and_the_mapping_to_memory(void **state)
{
	struct harness h;
	(void)state;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	struct uvf_bar_desc bar0 = {.size = 4096,
				    .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_ACCESS_CALLBACKS,
				    .read = bar_read,
				    .write = bar_write};
	/* read-only through messages: writes refused */
	struct uvf_bar_desc bar2 = {.size = 4096,
				    .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_ACCESS_CALLBACKS,
				    .read = bar_read};
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar2), 0);
	uint8_t *mem = uvf_device_bar_memory(dev, 0, NULL);
	assert_non_null(mem);
	memset(mem, 0x11, 4096);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);

	g_reads = g_writes = 0;
	uint32_t v = 0, w = 0x12345678;
	assert_int_equal(uvf_client_region_read(c, 0, 0x23, &v, 4), 0);
	assert_int_equal(v, 0xa3a3a3a3);
	assert_int_equal(uvf_client_region_write(c, 0, 0x40, &w, 4), 0);
	assert_int_equal(g_reads, 1);
	assert_int_equal(g_writes, 1);
	assert_int_equal(g_written, w);
	/* the write did not reach the memory */
	uint32_t m;
	memcpy(&m, mem + 0x40, 4);
	assert_int_equal(m, 0x11111111);
	/* the mapping is the memory */
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	volatile uint32_t *p = uvf_client_region_ptr(c, 0, 0x40, 4);
	assert_non_null(p);
	assert_int_equal(*p, 0x11111111);
	/* no write callback: REGION_WRITE refused */
	assert_int_equal(uvf_client_region_write(c, 2, 0, &w, 4), -EPERM);
	assert_int_equal(uvf_client_region_read(c, 2, 0x5, &v, 4), 0);
	assert_int_equal(v, 0xa5a5a5a5);
	uvf_client_close(c);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_bar_checks_the_flag),
		cmocka_unit_test(accesses_go_to_the_callbacks_and_the_mapping_to_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
