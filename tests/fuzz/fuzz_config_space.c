/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: PCI config space (src/server/pci_config.c) through the
 * region access path, on a device with every capability the library
 * builds (PM, MSI, MSI-X, PCI Express with FLR, a vendor capability, an
 * extended capability). The input is a sequence of operations:
 *
 *   op:u8 offset:u16 value:u64
 *   op bit 0:    write (else read)
 *   op bits 1-3: size 1, 2, 4, 8, 3, 5, 16 or 64 (longer writes repeat value)
 *   op bit 4:    access the MSI-X table/PBA pages of BAR 2 instead
 *   op bit 5:    then raise interrupt vector value & 0xff
 *   op bit 6:    then reset the function
 *
 * Offsets go up to 0x1100, past the end on purpose. After each operation
 * the identity registers and every capability header must be as built:
 * no write may break the chain a guest walks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "server/server_internal.h"

static struct uvf_device *dev;
static struct fuzz_device_state state;
static uint8_t initial[4096];
static uint32_t config_size;
/* offsets of capability headers (2 bytes, standard) and (4 bytes, extended) */
static uint32_t std_caps[32], nr_std;
static uint32_t ext_caps[32], nr_ext;

static void fail(const char *what, uint32_t offset)
{
	fprintf(stderr, "fuzz_config_space: %s (offset 0x%x)\n", what, offset);
	abort();
}

/* Walk the chains of the fresh image once. */
static void record_layout(void)
{
	uvf_device_config_read(dev, 0, initial, config_size);
	uint32_t p = initial[0x34];
	while (p && nr_std < 32) {
		std_caps[nr_std++] = p;
		p = initial[p + 1];
	}
	p = 0x100;
	while (p && p + 4 <= config_size && nr_ext < 32) {
		uint32_t hdr;
		memcpy(&hdr, initial + p, 4);
		if (!hdr)
			break;
		ext_caps[nr_ext++] = p;
		p = hdr >> 20;
	}
}

static void check_image(void)
{
	uint8_t now[4096];
	uvf_device_config_read(dev, 0, now, config_size);
	if (memcmp(now, initial, 4) || memcmp(now + 8, initial + 8, 4) || memcmp(now + 0x2c, initial + 0x2c, 4))
		fail("identity registers changed", 0);
	if (now[0x0e] != initial[0x0e] || now[0x34] != initial[0x34] || now[0x3d] != initial[0x3d])
		fail("header type, capability pointer or interrupt pin changed", 0);
	for (uint32_t i = 0; i < nr_std; i++)
		if (memcmp(now + std_caps[i], initial + std_caps[i], 2))
			fail("capability header changed", std_caps[i]);
	for (uint32_t i = 0; i < nr_ext; i++)
		if (memcmp(now + ext_caps[i], initial + ext_caps[i], 4))
			fail("extended capability header changed", ext_caps[i]);
	/* the region path and the device's own view agree */
	uint8_t via_region[256];
	if (uvf__region_access(dev, UVF_PCI_CONFIG_REGION, 0, via_region, sizeof(via_region), false, "fuzz") < 0 ||
	    memcmp(via_region, now, sizeof(via_region)))
		fail("REGION_READ disagrees with uvf_device_config_read", 0);
}

static void setup(void)
{
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	dev = fuzz_device_new(&state);
	int fd = dup(fuzz_listen_fd());
	if (fd < 0 || uvf_device_listen_fd(dev, fd, &opts) < 0)
		abort();
	config_size = 4096;
	record_layout();
	if (nr_std < 5 || nr_ext < 1)
		fail("device lacks capabilities", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t sizes[8] = {1, 2, 4, 8, 3, 5, 16, 64};
	struct fuzz_in in = {data, size};

	/* One device for the process; a reset before each input makes runs
	 * independent of each other (that reset path is under test too). */
	if (!dev)
		setup();
	uvf__function_reset(dev, UVF_RESET_CLIENT);

	while (in.left) {
		uint8_t op = fuzz_u8(&in);
		uint32_t offset = fuzz_u16(&in) % 0x1100u;
		uint64_t value = fuzz_u64(&in);
		uint32_t len = sizes[(op >> 1) & 7];
		uint8_t buf[64];
		for (uint32_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(value >> (8 * (i % 8)));

		uint32_t region = UVF_PCI_CONFIG_REGION;
		uint64_t at = offset;
		if (op & 0x10) {
			region = 2;
			at = FUZZ_MSIX_TABLE + offset % 0x1000u;
		}
		int ret = uvf__region_access(dev, region, at, buf, len, op & 1, "fuzz");
		if (region == UVF_PCI_CONFIG_REGION && ret == 0 && at + len > config_size)
			fail("access past config space accepted", offset);
		if (op & 0x20)
			uvf_irq_raise(dev, (uint32_t)(value & 0xff));
		if (op & 0x40)
			uvf__function_reset(dev, UVF_RESET_CLIENT);
		check_image();
	}
	return 0;
}
