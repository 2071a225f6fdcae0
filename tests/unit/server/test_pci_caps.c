/* SPDX-License-Identifier: MIT */
/* Unit tests of the library-built capabilities in the emulated PCI configuration space: PM, MSI shapes, MSI-X, PCI Express, extended capabilities. */
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
/* Library capabilities: layout                                         */
/* ------------------------------------------------------------------ */

static void pcie_defaults(void)
{
	desc.pcie.present = true;
	desc.pcie.port_type = UVF_PCIE_TYPE_ENDPOINT;
	desc.pcie.max_payload = 256;
	desc.pcie.link_speed = 1;
	desc.pcie.link_width = 1;
}

static void msix_in_bar0(uint32_t count)
{
	desc.bars[0].size = 0x4000;
	desc.msix.count = count;
	desc.msix.table_bar = 0;
	desc.msix.table_offset = 0x2000;
	desc.msix.pba_bar = 0;
	desc.msix.pba_offset = 0x3000;
}

static void add_ext_cap(uint16_t id, uint8_t version, uint16_t len, uint8_t fill, uint8_t writable)
{
	struct uvf_config_ext_cap *cap = &desc.ext_caps[desc.nr_ext_caps++];

	cap->id = id;
	cap->version = version;
	cap->len = len;
	cap->pool = desc.ext_pool_used;
	memset(&desc.ext_body[cap->pool], fill, len);
	memset(&desc.ext_writable[cap->pool], writable, len);
	desc.ext_pool_used = (uint16_t)(desc.ext_pool_used + len);
}

static void library_caps_chain_pm_msi_msix_pcie_then_user(void **state)
{
	base_desc();
	desc.pm = true;
	desc.msi_count = 2;
	msix_in_bar0(4);
	pcie_defaults();
	add_cap(0x09, 6, 0x11, 0);
	build_ok();

	/* PM 8 bytes, MSI 24, MSI-X 12, PCI Express 60. */
	assert_int_equal(rd8(0x34), 0x40);
	assert_int_equal(rd8(0x40), 0x01);
	assert_int_equal(rd8(0x41), 0x48);
	assert_int_equal(rd8(0x48), 0x05);
	assert_int_equal(rd8(0x49), 0x60);
	assert_int_equal(rd8(0x60), 0x11);
	assert_int_equal(rd8(0x61), 0x6c);
	assert_int_equal(rd8(0x6c), 0x10);
	assert_int_equal(rd8(0x6d), 0xa8);
	assert_int_equal(rd8(0xa8), 0x09);
	assert_int_equal(rd8(0xa9), 0);
	assert_int_equal(cfg.pm_offset, 0x40);
	assert_int_equal(cfg.msi_offset, 0x48);
	assert_int_equal(cfg.msix_offset, 0x60);
	assert_int_equal(cfg.pcie_offset, 0x6c);
	assert_int_equal(cfg.user_cap_offset[0], 0xa8);
	assert_int_equal(uvf__config_find_cap(&cfg, 0x10), 0x6c);
	assert_int_equal(uvf__config_find_cap(&cfg, 0x09), 0xa8);
	assert_int_equal(uvf__config_find_cap(&cfg, 0x12), 0);
}

static void layout_matches_build_offsets(void **state)
{
	struct uvf_config_layout lay;

	base_desc();
	desc.pm = true;
	desc.msi_count = 1;
	desc.msi_flags = UVF_MSI_32BIT | UVF_MSI_NO_MASK;
	pcie_defaults();
	add_cap(0x09, 3, 0, 0);
	add_cap(0x09, 5, 0, 0);
	add_ext_cap(0x0003, 1, 8, 0, 0);
	add_ext_cap(0x000b, 1, 6, 0, 0);
	assert_int_equal(uvf__config_layout(&desc, &lay), 0);
	build_ok();
	assert_int_equal(lay.pm, cfg.pm_offset);
	assert_int_equal(lay.msi, cfg.msi_offset);
	assert_int_equal(lay.msix, 0);
	assert_int_equal(lay.pcie, cfg.pcie_offset);
	assert_int_equal(lay.user[0], cfg.user_cap_offset[0]);
	assert_int_equal(lay.user[1], cfg.user_cap_offset[1]);
	assert_int_equal(lay.ext[0], 0x100);
	assert_int_equal(lay.ext[1], 0x10c);
	assert_int_equal(cfg.ext_cap_offset[1], 0x10c);
}

static void user_caps_clashing_with_library_caps_are_refused(void **state)
{
	static const struct {
		uint8_t id;
	} ids[] = {{0x01}, {0x05}, {0x10}, {0x11}};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		/* alone: the device's own business */
		base_desc();
		add_cap(ids[i].id, 8, 0, 0);
		build_ok();
		/* beside the library's: refused */
		desc.pm = true;
		desc.msi_count = 1;
		msix_in_bar0(1);
		pcie_defaults();
		assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	}
}

/* ------------------------------------------------------------------ */
/* Power Management                                                     */
/* ------------------------------------------------------------------ */

static void pm_version3_power_state_d0_d3hot_writable(void **state)
{
	base_desc();
	desc.pm = true;
	build_ok();
	assert_int_equal(rd16(0x42), 0x0003); /* version 3, no PME, no D1/D2 */
	assert_int_equal(rd16(0x44), 0x0000);
	wr16(0x42, 0xffff, NULL);
	assert_int_equal(rd16(0x42), 0x0003);
	wr16(0x44, 0x0003, NULL);
	assert_int_equal(rd16(0x44), 0x0003);
	assert_int_equal(uvf__config_power_state(&cfg), 3);
	wr16(0x44, 0x0000, NULL);
	assert_int_equal(uvf__config_power_state(&cfg), 0);
	/* PME enable, data select/scale, PME status: not supported */
	wr16(0x44, 0xff00, NULL);
	assert_int_equal(rd16(0x44), 0x0000);
	wr32(0x44, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x44), 0x00000003u);
}

static void pm_d1_d2_writes_are_discarded(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	desc.pm = true;
	build_ok();
	wr16(0x44, 0x0001, &fx);
	assert_int_equal(uvf__config_power_state(&cfg), 0);
	assert_false(fx.power_changed);
	wr16(0x44, 0x0003, NULL);
	wr16(0x44, 0x0002, &fx);
	assert_int_equal(uvf__config_power_state(&cfg), 3);
	assert_false(fx.power_changed);
}

static void pm_no_soft_reset_bit_is_the_device_choice(void **state)
{
	base_desc();
	desc.pm = true;
	desc.pm_no_soft_reset = true;
	build_ok();
	assert_int_equal(rd16(0x44), 0x0008);
	wr16(0x44, 0x0000, NULL); /* read-only */
	assert_int_equal(rd16(0x44), 0x0008);
	wr16(0x44, 0x0003, NULL);
	assert_int_equal(rd16(0x44), 0x000b);
}

static void pm_d3hot_to_d0_reports_reset_unless_no_soft_reset(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	desc.pm = true;
	build_ok();
	wr16(0x44, 0x0000, &fx); /* D0 -> D0 */
	assert_false(fx.pm_reset);
	wr16(0x44, 0x0003, &fx); /* D0 -> D3hot */
	assert_true(fx.power_changed);
	assert_false(fx.pm_reset);
	wr16(0x44, 0x0003, &fx); /* D3hot -> D3hot */
	assert_false(fx.power_changed);
	assert_false(fx.pm_reset);
	wr16(0x44, 0x0000, &fx); /* D3hot -> D0 */
	assert_true(fx.power_changed);
	assert_true(fx.pm_reset);

	desc.pm_no_soft_reset = true;
	build_ok();
	wr16(0x44, 0x0003, &fx);
	wr16(0x44, 0x0000, &fx);
	assert_true(fx.power_changed);
	assert_false(fx.pm_reset);
}

/* ------------------------------------------------------------------ */
/* MSI shapes                                                           */
/* ------------------------------------------------------------------ */

static void msi_32bit_with_mask_layout(void **state)
{
	base_desc();
	desc.msi_count = 4;
	desc.msi_flags = UVF_MSI_32BIT;
	add_cap(0x09, 2, 0, 0);
	build_ok();
	uint16_t ctrl = rd16(0x42);
	assert_int_equal(ctrl & 0x0080, 0);	 /* no 64-bit */
	assert_int_equal(ctrl & 0x0100, 0x0100); /* masking */
	assert_int_equal(rd8(0x41), 0x54);	 /* 20 bytes */
	wr32(0x44, 0xffffffffu, NULL);
	wr32(0x48, 0xffffffffu, NULL);
	wr32(0x4c, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x44), 0xfffffffcu);
	assert_int_equal(rd32(0x48), 0x0000ffffu); /* data, then reserved */
	assert_int_equal(rd32(0x4c), 0xf);	   /* mask */
	assert_true(uvf__config_msi_vector_masked(&cfg, 3));
	wr32(0x4c, 0x0, NULL);
	assert_false(uvf__config_msi_vector_masked(&cfg, 3));
	uvf__config_set_msi_pending(&cfg, 2, true);
	assert_int_equal(rd32(0x50), 0x4);
	wr32(0x50, 0, NULL);
	assert_int_equal(rd32(0x50), 0x4);
}

static void msi_without_masking_has_no_mask_or_pending(void **state)
{
	base_desc();
	desc.msi_count = 2;
	desc.msi_flags = UVF_MSI_NO_MASK;
	add_cap(0x09, 2, 0, 0);
	build_ok();
	uint16_t ctrl = rd16(0x42);
	assert_int_equal(ctrl & 0x0080, 0x0080);
	assert_int_equal(ctrl & 0x0100, 0);
	assert_int_equal(rd8(0x41), 0x50); /* 14 bytes, dword aligned */
	assert_false(uvf__config_msi_vector_masked(&cfg, 0));
	assert_false(uvf__config_msi_vector_masked(&cfg, 1));
	assert_true(uvf__config_msi_vector_masked(&cfg, 2)); /* no such vector */
	uvf__config_set_msi_pending(&cfg, 0, true);
	assert_int_equal(rd32(0x50), 0x00000009u); /* the next cap's header, untouched */
	wr16(0x4c, 0xabcd, NULL);
	assert_int_equal(rd16(0x4c), 0xabcd); /* data */
}

static void msi_32bit_without_masking_is_10_bytes(void **state)
{
	base_desc();
	desc.msi_count = 1;
	desc.msi_flags = UVF_MSI_32BIT | UVF_MSI_NO_MASK;
	add_cap(0x09, 2, 0, 0);
	build_ok();
	assert_int_equal(rd16(0x42) & 0x0180, 0);
	assert_int_equal(rd8(0x41), 0x4c);
	wr16(0x48, 0x1234, NULL);
	assert_int_equal(rd16(0x48), 0x1234);
	wr16(0x4a, 0xffff, NULL); /* past the capability: padding */
	assert_int_equal(rd16(0x4a), 0);
}

static void msi_unknown_flags_are_refused(void **state)
{
	base_desc();
	desc.msi_count = 1;
	desc.msi_flags = 0x4;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* MSI-X capability                                                     */
/* ------------------------------------------------------------------ */

static void msix_capability_fields_read_only_but_enable_and_mask(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	msix_in_bar0(8);
	desc.msix.pba_bar = 2;
	desc.msix.pba_offset = 0x10;
	desc.bars[2].size = 0x100;
	build_ok();
	assert_int_equal(rd8(0x40), 0x11);
	assert_int_equal(rd16(0x42), 7); /* N - 1 */
	assert_int_equal(rd32(0x44), 0x2000);
	assert_int_equal(rd32(0x48), 0x12);
	wr32(0x44, 0xffffffffu, NULL);
	wr32(0x48, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x44), 0x2000);
	assert_int_equal(rd32(0x48), 0x12);
	assert_false(uvf__config_msix_enabled(&cfg));
	assert_false(uvf__config_msix_function_masked(&cfg));

	wr16(0x42, 0xffff, &fx);
	assert_int_equal(rd16(0x42), 0xc007);
	assert_true(fx.msix_changed);
	assert_true(uvf__config_msix_enabled(&cfg));
	assert_true(uvf__config_msix_function_masked(&cfg));
	wr16(0x42, 0xc000, &fx);
	assert_false(fx.msix_changed);
	wr16(0x42, 0x8000, &fx);
	assert_true(fx.msix_changed);
	assert_false(uvf__config_msix_function_masked(&cfg));
	assert_true(uvf__config_msix_enabled(&cfg));
}

static void msix_placement_is_checked_against_bars(void **state)
{
	struct uvf_config_bar bars[6] = {{0}};
	bars[0].size = 0x1000;
	bars[2].size = 0x1000;
	bars[2].flags = UVF_BAR_64BIT;
	bars[4].size = 0x100;
	bars[4].flags = UVF_BAR_IO;
	static const struct {
		struct uvf_config_msix m;
		int expect;
	} cases[] = {
		{{1, 0, 0, 0x000, 0x800}, 0},
		{{2048, 2, 0, 0x000, 0x000}, -EINVAL}, /* table 32 KiB > BAR2 */
		{{128, 0, 0, 0x000, 0x800}, 0},	       /* 2 KiB table ends where the PBA starts */
		{{129, 0, 0, 0x000, 0x800}, -EINVAL},  /* overlaps the PBA */
		{{64, 0, 2, 0x000, 0xff8}, 0},	       /* PBA in another BAR, last word */
		{{65, 0, 2, 0x000, 0xff8}, -EINVAL},   /* two PBA words do not fit */
		{{0, 0, 0, 0x000, 0x800}, -EINVAL},
		{{2049, 0, 2, 0x000, 0x000}, -EINVAL},
		{{1, 0, 0, 0x004, 0x800}, -EINVAL}, /* not 8-byte aligned */
		{{1, 0, 0, 0x000, 0x804}, -EINVAL},
		{{1, 1, 0, 0x000, 0x800}, -EINVAL}, /* absent BAR */
		{{1, 3, 0, 0x000, 0x800}, -EINVAL}, /* upper half of a 64-bit BAR */
		{{1, 4, 0, 0x000, 0x800}, -EINVAL}, /* I/O BAR */
		{{1, 0, 6, 0x000, 0x800}, -EINVAL}, /* no such BAR */
		{{1, 0, 0, 0xff0, 0x800}, 0},	    /* last entry of the BAR */
		{{1, 0, 0, 0xff8, 0x800}, -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(uvf__config_check_msix(&cases[i].m, bars), cases[i].expect);

	/* The build checks the same. */
	base_desc();
	msix_in_bar0(1);
	build_ok();
	desc.msix.table_offset = 0x3ff8;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* PCI Express                                                          */
/* ------------------------------------------------------------------ */

#define EXP 0x40u /* PCI Express capability offset when alone */

static void pcie_endpoint_capability_registers(void **state)
{
	base_desc();
	pcie_defaults();
	desc.pcie.flr = true;
	build_ok();
	assert_int_equal(rd8(EXP), 0x10);
	assert_int_equal(rd16(EXP + 0x02), 0x0002); /* version 2, endpoint */
	uint32_t devcap = rd32(EXP + 0x04);
	assert_int_equal(devcap & 7, 1);		/* 256 bytes */
	assert_int_equal(devcap & (1u << 28), 1u << 28); /* FLR */
	assert_int_equal(devcap & (1u << 15), 1u << 15); /* role-based errors */
	assert_int_equal(rd16(EXP + 0x08), 0x2810);
	assert_int_equal(rd32(EXP + 0x0c) & 0x3ff, 0x011); /* 2.5 GT/s x1 */
	assert_int_equal(rd16(EXP + 0x12) & 0x3ff, 0x011);
	assert_int_equal(rd32(EXP + 0x2c), 0x2); /* supported speeds: 2.5 */
	assert_int_equal(rd16(EXP + 0x30), 0x1); /* target link speed */
	assert_int_equal(rd32(EXP + 0x24), 0x10);

	/* capabilities are read-only */
	wr32(EXP + 0x04, 0, NULL);
	wr32(EXP + 0x0c, 0, NULL);
	wr32(EXP + 0x24, 0, NULL);
	wr32(EXP + 0x2c, 0, NULL);
	wr16(EXP + 0x02, 0, NULL);
	assert_int_equal(rd32(EXP + 0x04), devcap);
	assert_int_equal(rd32(EXP + 0x2c), 0x2);
	assert_int_equal(rd16(EXP + 0x02), 0x0002);
}

static void pcie_device_control_writable_bits(void **state)
{
	base_desc();
	pcie_defaults();
	build_ok();
	wr16(EXP + 0x08, 0x7fff, NULL);
	/* max payload 0b111 clamped to 256 (0b001); ext tag, phantom, aux
	 * power read-only 0 */
	assert_int_equal(rd16(EXP + 0x08), 0x783f);
	wr16(EXP + 0x08, 0x0000, NULL);
	assert_int_equal(rd16(EXP + 0x08), 0x0000);
	wr16(EXP + 0x08, 0x5020, NULL); /* payload 256, read request 4096 */
	assert_int_equal(rd16(EXP + 0x08), 0x5020);
	wr16(EXP + 0x08, 0x0040, NULL); /* payload 512: above 256 */
	assert_int_equal(rd16(EXP + 0x08), 0x0020);

	desc.pcie.max_payload = 128;
	build_ok();
	wr16(EXP + 0x08, 0x0020, NULL);
	assert_int_equal(rd16(EXP + 0x08) & 0xe0, 0);

	/* device control 2: completion timeout disable only */
	wr16(EXP + 0x28, 0xffff, NULL);
	assert_int_equal(rd16(EXP + 0x28), 0x0010);
}

static void pcie_device_status_errors_are_write_one_to_clear(void **state)
{
	base_desc();
	pcie_defaults();
	build_ok();
	cfg.image[EXP + 0x0a] = 0x3f; /* the device latched every error, aux power, pending */
	wr16(EXP + 0x0a, 0x0000, NULL);
	assert_int_equal(rd16(EXP + 0x0a), 0x003f);
	wr16(EXP + 0x0a, 0x0005, NULL);
	assert_int_equal(rd16(EXP + 0x0a), 0x003a);
	wr16(EXP + 0x0a, 0xffff, NULL);
	assert_int_equal(rd16(EXP + 0x0a), 0x0030); /* aux power, transactions pending: read-only */
}

static void pcie_link_control_and_status(void **state)
{
	base_desc();
	pcie_defaults();
	desc.pcie.link_speed = 3;
	desc.pcie.link_width = 4;
	build_ok();
	assert_int_equal(rd32(EXP + 0x0c) & 0x3ff, 0x043);
	assert_int_equal(rd16(EXP + 0x12), 0x1043); /* slot clock, 8 GT/s x4 */
	assert_int_equal(rd32(EXP + 0x2c), 0xe);
	wr16(EXP + 0x10, 0xffff, NULL);
	assert_int_equal(rd16(EXP + 0x10), 0x00cb);
	wr16(EXP + 0x12, 0x0000, NULL);
	assert_int_equal(rd16(EXP + 0x12), 0x1043);
	wr16(EXP + 0x30, 0xffff, NULL);
	assert_int_equal(rd16(EXP + 0x30), 0x002f);
	wr16(EXP + 0x30, 0x0001, NULL);
	assert_int_equal(rd16(EXP + 0x30), 0x0001);
}

static void pcie_rc_integrated_endpoint_has_no_link(void **state)
{
	base_desc();
	pcie_defaults();
	desc.pcie.port_type = UVF_PCIE_TYPE_RC_ENDPOINT;
	build_ok();
	assert_int_equal(rd16(EXP + 0x02), 0x0092);
	for (uint32_t off = 0x0c; off < 0x14; off += 4)
		assert_int_equal(rd32(EXP + off), 0);
	wr16(EXP + 0x10, 0xffff, NULL);
	assert_int_equal(rd16(EXP + 0x10), 0);
	assert_int_equal(rd32(EXP + 0x2c), 0);
	assert_int_equal(rd32(EXP + 0x30), 0);
}

static void pcie_flr_is_an_effect_and_reads_zero(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	pcie_defaults();
	desc.pcie.flr = true;
	build_ok();
	wr16(EXP + 0x08, 0x2810, &fx);
	assert_false(fx.flr);
	wr16(EXP + 0x08, 0xa810, &fx);
	assert_true(fx.flr);
	assert_int_equal(rd16(EXP + 0x08), 0x2810);
	wr8(EXP + 0x09, 0x80, &fx); /* byte write of the high half */
	assert_true(fx.flr);
	wr32(EXP + 0x08, 0xffff8000u, &fx); /* dword write also hits device status */
	assert_true(fx.flr);

	/* not offered: nothing */
	desc.pcie.flr = false;
	build_ok();
	wr16(EXP + 0x08, 0xa810, &fx);
	assert_false(fx.flr);
	assert_int_equal(rd16(EXP + 0x08), 0x2810);
}

static void pcie_options_are_checked(void **state)
{
	static const struct {
		uint8_t type;
		uint16_t payload;
		uint8_t speed, width;
		int expect;
	} cases[] = {
		{0, 128, 1, 1, 0},	 {9, 4096, 5, 32, 0},  {0, 256, 2, 12, 0},   {1, 256, 1, 1, -EINVAL},
		{4, 256, 1, 1, -EINVAL}, {0, 64, 1, 1, -EINVAL}, {0, 8192, 1, 1, -EINVAL}, {0, 384, 1, 1, -EINVAL},
		{0, 256, 0, 1, -EINVAL}, {0, 256, 6, 1, -EINVAL}, {0, 256, 1, 0, -EINVAL}, {0, 256, 1, 3, -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uvf_config_pcie p = {true, cases[i].type, cases[i].payload, false, cases[i].speed,
					    cases[i].width};
		assert_int_equal(uvf__config_check_pcie(&p), cases[i].expect);
		base_desc();
		desc.pcie = p;
		assert_int_equal(uvf__config_build(&cfg, &desc), cases[i].expect);
	}
}

/* ------------------------------------------------------------------ */
/* Extended config space                                                */
/* ------------------------------------------------------------------ */

static void pcie_makes_config_4k_with_empty_ext_header(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(cfg.size, 256);
	pcie_defaults();
	build_ok();
	assert_int_equal(cfg.size, 4096);
	assert_int_equal(rd32(0x100), 0); /* id 0, version 0, next 0 */
	wr32(0x100, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x100), 0);
	assert_int_equal(rd32(0xffc), 0);
	assert_int_equal(uvf__config_find_ext_cap(&cfg, 0x0003), 0);
}

static void ext_caps_chain_from_0x100(void **state)
{
	base_desc();
	pcie_defaults();
	add_ext_cap(0x0003, 1, 8, 0xa5, 0x00); /* device serial number */
	add_ext_cap(0x000b, 2, 5, 0x5a, 0xff); /* vendor specific, odd size */
	add_ext_cap(0x0001, 3, 4, 0x00, 0x0f);
	build_ok();
	assert_int_equal(rd32(0x100), 0x0003u | 1u << 16 | 0x10cu << 20);
	assert_int_equal(rd32(0x104), 0xa5a5a5a5u);
	assert_int_equal(rd32(0x10c), 0x000bu | 2u << 16 | 0x118u << 20); /* 0x10c + 9 -> 0x118 */
	assert_int_equal(rd8(0x110), 0x5a);
	assert_int_equal(rd32(0x118), 0x0001u | 3u << 16);
	/* header read-only, body through its mask */
	wr32(0x100, 0, NULL);
	wr32(0x104, 0, NULL);
	assert_int_equal(rd32(0x100), 0x0003u | 1u << 16 | 0x10cu << 20);
	assert_int_equal(rd32(0x104), 0xa5a5a5a5u);
	wr8(0x110, 0x12, NULL);
	assert_int_equal(rd8(0x110), 0x12);
	wr32(0x11c, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x11c), 0x0f0f0f0fu);
	assert_int_equal(uvf__config_find_ext_cap(&cfg, 0x000b), 0x10c);
	assert_int_equal(uvf__config_find_ext_cap(&cfg, 0x0001), 0x118);
	assert_int_equal(uvf__config_find_ext_cap(&cfg, 0x0002), 0);
}

/* Capabilities at the offsets the device asked for (at): dword aligned,
 * after what precedes them; those without one follow the last one. */
static void caps_at_asked_offsets(void **state)
{
	struct uvf_config_layout lay;
	(void)state;
	base_desc();
	desc.pm = true; /* 0x40, PCI Express 0x48..0x84 */
	pcie_defaults();
	add_cap(0x09, 6, 0x11, 0);
	desc.user_caps[0].at = 0xa0;
	add_cap(0x09, 2, 0x22, 0); /* the next free one: 0xa8 */
	add_cap(0x09, 2, 0x33, 0);
	desc.user_caps[2].at = 0xf0;
	add_ext_cap(0x0003, 1, 8, 0xa5, 0);
	desc.ext_caps[0].at = 0x100;
	add_ext_cap(0x000b, 1, 4, 0x5a, 0);
	desc.ext_caps[1].at = 0x400;
	assert_int_equal(uvf__config_layout(&desc, &lay), 0);
	assert_int_equal(lay.user[0], 0xa0);
	assert_int_equal(lay.user[1], 0xa8);
	assert_int_equal(lay.user[2], 0xf0);
	assert_int_equal(lay.ext[1], 0x400);
	build_ok();
	assert_int_equal(rd8(0xa1), 0xa8);
	assert_int_equal(rd8(0xa9), 0xf0);
	assert_int_equal(rd8(0xf0), 0x09);
	assert_int_equal(rd8(0xf2), 0x33);
	assert_int_equal(rd32(0x100) >> 20, 0x400);
	assert_int_equal(rd8(0x404), 0x5a);

	/* unaligned, before the one ahead, over the library's, or an
	 * extended chain not starting at 0x100: refused */
	desc.user_caps[2].at = 0xf2;
	assert_int_equal(uvf__config_layout(&desc, &lay), -EINVAL);
	desc.user_caps[2].at = 0xa8;
	assert_int_equal(uvf__config_layout(&desc, &lay), -EINVAL);
	desc.user_caps[2].at = 0;
	desc.user_caps[0].at = 0x80; /* inside PCI Express */
	assert_int_equal(uvf__config_layout(&desc, &lay), -EINVAL);
	desc.user_caps[0].at = 0xfc; /* 2 + 6 bytes do not fit */
	assert_int_equal(uvf__config_layout(&desc, &lay), -ENOSPC);
	desc.user_caps[0].at = 0xa0;
	desc.ext_caps[0].at = 0x104;
	assert_int_equal(uvf__config_layout(&desc, &lay), -EINVAL);
	desc.ext_caps[0].at = 0;
	desc.ext_caps[1].at = 0x104; /* the first ends at 0x10c */
	assert_int_equal(uvf__config_layout(&desc, &lay), -EINVAL);
}

static void ext_caps_need_pcie_and_valid_ids(void **state)
{
	base_desc();
	add_ext_cap(0x0003, 1, 8, 0, 0);
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	pcie_defaults();
	build_ok();

	base_desc();
	pcie_defaults();
	add_ext_cap(0x0000, 1, 4, 0, 0);
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ext_caps[0].id = 0xffff;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ext_caps[0].id = 0x0023;
	desc.ext_caps[0].version = 16;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ext_caps[0].version = 15;
	build_ok();
}

static void ext_caps_fill_4k_exactly_then_enospc(void **state)
{
	struct uvf_config_layout lay;

	base_desc();
	pcie_defaults();
	add_ext_cap(0x000b, 1, UVF_CONFIG_EXT_SPACE - 4, 0x77, 0);
	build_ok();
	assert_int_equal(rd8(0xfff), 0x77);

	base_desc();
	pcie_defaults();
	add_ext_cap(0x000b, 1, 100, 0, 0);
	add_ext_cap(0x000b, 1, UVF_CONFIG_EXT_SPACE - 104, 0, 0); /* 0x168 + 4 + 3636 = 0x100 + 3844 */
	assert_int_equal(uvf__config_layout(&desc, &lay), -ENOSPC);
	assert_int_equal(uvf__config_build(&cfg, &desc), -ENOSPC);
	desc.ext_caps[1].len = UVF_CONFIG_EXT_SPACE - 108;
	assert_int_equal(uvf__config_layout(&desc, &lay), 0);
}

static void reset_restores_library_capabilities(void **state)
{
	base_desc();
	desc.pm = true;
	msix_in_bar0(4);
	pcie_defaults();
	build_ok();
	uint8_t built[4096];
	uvf__config_read(&cfg, 0, built, sizeof(built));
	wr16(cfg.pm_offset + 4, 3, NULL);
	wr16(cfg.msix_offset + 2, 0xc000, NULL);
	wr16(cfg.pcie_offset + 8, 0x7000, NULL);
	wr16(cfg.pcie_offset + 0x10, 0x0003, NULL);
	uvf__config_reset(&cfg);
	uint8_t after[4096];
	uvf__config_read(&cfg, 0, after, sizeof(after));
	assert_memory_equal(built, after, sizeof(built));
	assert_int_equal(uvf__config_power_state(&cfg), 0);
	assert_false(uvf__config_msix_enabled(&cfg));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(library_caps_chain_pm_msi_msix_pcie_then_user),
		cmocka_unit_test(layout_matches_build_offsets),
		cmocka_unit_test(user_caps_clashing_with_library_caps_are_refused),
		cmocka_unit_test(pm_version3_power_state_d0_d3hot_writable),
		cmocka_unit_test(pm_d1_d2_writes_are_discarded),
		cmocka_unit_test(pm_no_soft_reset_bit_is_the_device_choice),
		cmocka_unit_test(pm_d3hot_to_d0_reports_reset_unless_no_soft_reset),
		cmocka_unit_test(msi_32bit_with_mask_layout),
		cmocka_unit_test(msi_without_masking_has_no_mask_or_pending),
		cmocka_unit_test(msi_32bit_without_masking_is_10_bytes),
		cmocka_unit_test(msi_unknown_flags_are_refused),
		cmocka_unit_test(msix_capability_fields_read_only_but_enable_and_mask),
		cmocka_unit_test(msix_placement_is_checked_against_bars),
		cmocka_unit_test(pcie_endpoint_capability_registers),
		cmocka_unit_test(pcie_device_control_writable_bits),
		cmocka_unit_test(pcie_device_status_errors_are_write_one_to_clear),
		cmocka_unit_test(pcie_link_control_and_status),
		cmocka_unit_test(pcie_rc_integrated_endpoint_has_no_link),
		cmocka_unit_test(pcie_flr_is_an_effect_and_reads_zero),
		cmocka_unit_test(pcie_options_are_checked),
		cmocka_unit_test(pcie_makes_config_4k_with_empty_ext_header),
		cmocka_unit_test(ext_caps_chain_from_0x100),
		cmocka_unit_test(caps_at_asked_offsets),
		cmocka_unit_test(ext_caps_need_pcie_and_valid_ids),
		cmocka_unit_test(ext_caps_fill_4k_exactly_then_enospc),
		cmocka_unit_test(reset_restores_library_capabilities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

