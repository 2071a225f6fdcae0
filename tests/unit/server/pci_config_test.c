/* SPDX-License-Identifier: MIT */
/* Shared helpers of the PCI configuration space unit tests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/pci_config.h"

#include "pci_config_test.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Large structures: keep them off the stack. */
struct uvf_config cfg;
struct uvf_config_desc desc;

void base_desc(void)
{
	memset(&desc, 0, sizeof(desc));
	desc.ids.vendor_id = 0x1af4;
	desc.ids.device_id = 0x10f0;
	desc.ids.subsystem_vendor_id = 0x1234;
	desc.ids.subsystem_id = 0x5678;
	desc.ids.class_code = 0x010802; /* NVMe: base 01, sub 08, prog-if 02 */
	desc.ids.revision = 0x07;
}

void build_ok(void)
{
	assert_int_equal(uvf__config_build(&cfg, &desc), 0);
}

uint8_t rd8(uint32_t off)
{
	uint8_t v;
	uvf__config_read(&cfg, off, &v, 1);
	return v;
}

uint16_t rd16(uint32_t off)
{
	uint8_t b[2];
	uvf__config_read(&cfg, off, b, 2);
	return (uint16_t)(b[0] | (b[1] << 8));
}

uint32_t rd32(uint32_t off)
{
	uint8_t b[4];
	uvf__config_read(&cfg, off, b, 4);
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

void wr8(uint32_t off, uint8_t v, struct uvf_config_effects *fx)
{
	uvf__config_write(&cfg, off, &v, 1, fx);
}

void wr16(uint32_t off, uint16_t v, struct uvf_config_effects *fx)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	uvf__config_write(&cfg, off, b, 2, fx);
}

void wr32(uint32_t off, uint32_t v, struct uvf_config_effects *fx)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	uvf__config_write(&cfg, off, b, 4, fx);
}

void add_cap(uint8_t id, uint8_t len, uint8_t fill, uint8_t writable)
{
	struct uvf_config_user_cap *cap = &desc.user_caps[desc.nr_user_caps++];

	cap->id = id;
	cap->len = len;
	memset(cap->body, fill, len);
	memset(cap->writable, writable, len);
}

uint32_t size_bar(uint32_t off)
{
	wr32(off, 0xffffffffu, NULL);
	return rd32(off);
}

