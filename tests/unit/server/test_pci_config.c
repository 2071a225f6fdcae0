/* SPDX-License-Identifier: MIT */
/* Unit tests of the emulated PCI configuration space. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/pci_config.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Large structures: keep them off the stack. */
static struct uvf_config cfg;
static struct uvf_config_desc desc;

static void base_desc(void)
{
	memset(&desc, 0, sizeof(desc));
	desc.ids.vendor_id = 0x1af4;
	desc.ids.device_id = 0x10f0;
	desc.ids.subsystem_vendor_id = 0x1234;
	desc.ids.subsystem_id = 0x5678;
	desc.ids.class_code = 0x010802; /* NVMe: base 01, sub 08, prog-if 02 */
	desc.ids.revision = 0x07;
}

static void build_ok(void)
{
	assert_int_equal(uvf__config_build(&cfg, &desc), 0);
}

static uint8_t rd8(uint32_t off)
{
	uint8_t v;
	uvf__config_read(&cfg, off, &v, 1);
	return v;
}

static uint16_t rd16(uint32_t off)
{
	uint8_t b[2];
	uvf__config_read(&cfg, off, b, 2);
	return (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t rd32(uint32_t off)
{
	uint8_t b[4];
	uvf__config_read(&cfg, off, b, 4);
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void wr8(uint32_t off, uint8_t v, struct uvf_config_effects *fx)
{
	uvf__config_write(&cfg, off, &v, 1, fx);
}

static void wr16(uint32_t off, uint16_t v, struct uvf_config_effects *fx)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	uvf__config_write(&cfg, off, b, 2, fx);
}

static void wr32(uint32_t off, uint32_t v, struct uvf_config_effects *fx)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	uvf__config_write(&cfg, off, b, 4, fx);
}

static void add_cap(uint8_t id, uint8_t len, uint8_t fill, uint8_t writable)
{
	struct uvf_config_user_cap *cap = &desc.user_caps[desc.nr_user_caps++];

	cap->id = id;
	cap->len = len;
	memset(cap->body, fill, len);
	memset(cap->writable, writable, len);
}

static uint32_t size_bar(uint32_t off)
{
	wr32(off, 0xffffffffu, NULL);
	return rd32(off);
}

/* ------------------------------------------------------------------ */
/* Identity and header                                                  */
/* ------------------------------------------------------------------ */

static void ids_are_presented_little_endian(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(cfg.size, 256);
	assert_int_equal(rd16(0x00), 0x1af4);
	assert_int_equal(rd16(0x02), 0x10f0);
	assert_int_equal(rd32(0x00), 0x10f01af4);
	assert_int_equal(rd8(0x08), 0x07);
	assert_int_equal(rd8(0x09), 0x02);
	assert_int_equal(rd8(0x0a), 0x08);
	assert_int_equal(rd8(0x0b), 0x01);
	assert_int_equal(rd16(0x2c), 0x1234);
	assert_int_equal(rd16(0x2e), 0x5678);
}

static void id_writes_are_ignored(void **state)
{
	base_desc();
	build_ok();
	uint8_t before[0x40];
	uvf__config_read(&cfg, 0, before, sizeof(before));
	wr32(0x00, 0xdeadbeef, NULL);
	wr32(0x08, 0xffffffff, NULL);
	wr32(0x2c, 0x0, NULL);
	wr8(0x34, 0x80, NULL);
	wr8(0x3d, 0x04, NULL);
	uint8_t after[0x40];
	uvf__config_read(&cfg, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

static void header_type_is_single_function_type0(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(rd8(0x0e), 0x00);
	wr8(0x0e, 0x81, NULL);
	assert_int_equal(rd8(0x0e), 0x00);
	assert_int_equal(rd8(0x0f), 0x00); /* BIST not supported */
}

static void cache_line_writable_latency_read_only(void **state)
{
	base_desc();
	build_ok();
	wr8(0x0c, 0x10, NULL);
	wr8(0x0d, 0x40, NULL);
	assert_int_equal(rd8(0x0c), 0x10);
	assert_int_equal(rd8(0x0d), 0x00);
}

static void interrupt_pin_inta_with_intx_line_writable(void **state)
{
	base_desc();
	desc.intx = true;
	build_ok();
	assert_int_equal(rd8(0x3d), 1);
	assert_int_equal(rd8(0x3c), 0);
	wr8(0x3c, 0x0b, NULL);
	assert_int_equal(rd8(0x3c), 0x0b);
	wr8(0x3d, 0x02, NULL);
	assert_int_equal(rd8(0x3d), 1);
}

static void interrupt_pin_zero_without_intx(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(rd8(0x3d), 0);
	wr8(0x3c, 0x0a, NULL); /* still a scratch register for firmware */
	assert_int_equal(rd8(0x3c), 0x0a);
}

/* ------------------------------------------------------------------ */
/* Command and status                                                   */
/* ------------------------------------------------------------------ */

static void command_without_bars_allows_master_parity_serr(void **state)
{
	base_desc();
	build_ok();
	wr16(0x04, 0xffff, NULL);
	assert_int_equal(uvf__config_command(&cfg), 0x0144);
}

static void command_memory_bit_needs_memory_bar(void **state)
{
	base_desc();
	desc.bars[0].size = 4096;
	build_ok();
	wr16(0x04, 0xffff, NULL);
	assert_int_equal(rd16(0x04), 0x0146);
}

static void command_io_bit_needs_io_bar_and_intx_disable_needs_intx(void **state)
{
	base_desc();
	desc.bars[1].size = 32;
	desc.bars[1].flags = UVF_BAR_IO;
	desc.intx = true;
	build_ok();
	wr16(0x04, 0xffff, NULL);
	assert_int_equal(rd16(0x04), 0x0545);
	wr16(0x04, 0x0000, NULL);
	assert_int_equal(rd16(0x04), 0x0000);
}

static void command_memory_bit_enabled_by_rom_alone(void **state)
{
	base_desc();
	desc.rom_size = 0x10000;
	build_ok();
	wr16(0x04, 0x0002, NULL);
	assert_int_equal(rd16(0x04), 0x0002);
}

static void status_cap_list_bit_follows_capabilities(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(rd16(0x06) & 0x10, 0);
	assert_int_equal(rd8(0x34), 0);

	base_desc();
	add_cap(0x09, 4, 0, 0);
	build_ok();
	assert_int_equal(rd16(0x06) & 0x10, 0x10);
	wr16(0x06, 0xffff, NULL); /* cap-list bit is read-only */
	assert_int_equal(rd16(0x06), 0x10);
}

static void status_error_bits_are_write_one_to_clear(void **state)
{
	base_desc();
	build_ok();
	/* Pretend the device latched every error bit. */
	cfg.image[0x07] |= 0xf9;
	assert_int_equal(rd16(0x06), 0xf900);
	wr16(0x06, 0x0000, NULL); /* writing 0 keeps them */
	assert_int_equal(rd16(0x06), 0xf900);
	wr16(0x06, 0x0100, NULL); /* clears only the bit written */
	assert_int_equal(rd16(0x06), 0xf800);
	wr8(0x07, 0xf8, NULL);
	assert_int_equal(rd16(0x06), 0x0000);
	wr16(0x06, 0xffff, NULL); /* and never sets anything */
	assert_int_equal(rd16(0x06), 0x0000);
}

static void intx_status_driven_by_library_only(void **state)
{
	base_desc();
	desc.intx = true;
	build_ok();
	uvf__config_set_intx_status(&cfg, true);
	assert_int_equal(rd16(0x06) & 0x08, 0x08);
	wr16(0x06, 0xffff, NULL); /* guest cannot clear it */
	assert_int_equal(rd16(0x06) & 0x08, 0x08);
	uvf__config_set_intx_status(&cfg, false);
	assert_int_equal(rd16(0x06) & 0x08, 0);
	wr16(0x06, 0x0008, NULL); /* nor set it */
	assert_int_equal(rd16(0x06) & 0x08, 0);
}

/* ------------------------------------------------------------------ */
/* BARs                                                                 */
/* ------------------------------------------------------------------ */

static void bar32_memory_sizing_returns_size_mask(void **state)
{
	base_desc();
	desc.bars[0].size = 0x4000;
	build_ok();
	assert_int_equal(rd32(0x10), 0);
	assert_int_equal(size_bar(0x10), 0xffffc000u);
	wr32(0x10, 0, NULL);
	assert_int_equal(rd32(0x10), 0);
}

static void bar32_prefetchable_keeps_type_bit(void **state)
{
	base_desc();
	desc.bars[2].size = 0x100000;
	desc.bars[2].flags = UVF_BAR_PREFETCH;
	build_ok();
	assert_int_equal(rd32(0x18), 0x8);
	assert_int_equal(size_bar(0x18), 0xfff00008u);
}

static void bar64_prefetchable_pair_sizes_both_halves(void **state)
{
	base_desc();
	desc.bars[2].size = 0x10000;
	desc.bars[2].flags = UVF_BAR_64BIT | UVF_BAR_PREFETCH;
	build_ok();
	assert_int_equal(rd32(0x18), 0xc);
	assert_int_equal(rd32(0x1c), 0);
	assert_int_equal(size_bar(0x18), 0xffff000cu);
	/* Below 4 GiB every upper address bit is writable. */
	assert_int_equal(size_bar(0x1c), 0xffffffffu);
	assert_int_equal(cfg.bar_size[3], 0);
}

static void bar64_larger_than_4g_sizes_upper_half(void **state)
{
	base_desc();
	desc.bars[0].size = 0x200000000ull; /* 8 GiB */
	desc.bars[0].flags = UVF_BAR_64BIT;
	build_ok();
	assert_int_equal(size_bar(0x10), 0x00000004u);
	assert_int_equal(size_bar(0x14), 0xfffffffeu);
}

static void io_bar_sizing_sets_bit0(void **state)
{
	base_desc();
	desc.bars[4].size = 64;
	desc.bars[4].flags = UVF_BAR_IO;
	build_ok();
	assert_int_equal(rd32(0x20), 0x1);
	assert_int_equal(size_bar(0x20), 0xffffffc1u);
	wr32(0x20, 0xc043, NULL);
	assert_int_equal(rd32(0x20), 0xc041);
	assert_int_equal(uvf__config_bar_address(&cfg, 4), 0xc040);
}

static void absent_bar_reads_zero_and_ignores_writes(void **state)
{
	base_desc();
	desc.bars[0].size = 4096;
	build_ok();
	for (uint32_t off = 0x14; off < 0x28; off += 4) {
		assert_int_equal(size_bar(off), 0);
		wr32(off, 0xfebf0000u, NULL);
		assert_int_equal(rd32(off), 0);
	}
	assert_int_equal(uvf__config_bar_address(&cfg, 1), 0);
}

static void bar_sizing_with_byte_writes(void **state)
{
	base_desc();
	desc.bars[0].size = 0x2000;
	desc.bars[0].flags = UVF_BAR_64BIT;
	build_ok();
	for (uint32_t off = 0x10; off < 0x18; off++)
		wr8(off, 0xff, NULL);
	assert_int_equal(rd32(0x10), 0xffffe004u);
	assert_int_equal(rd32(0x14), 0xffffffffu);
	for (uint32_t off = 0x10; off < 0x18; off++)
		assert_int_equal(rd8(off), off == 0x10 ? 0x04 : off == 0x11 ? 0xe0 : 0xff);
}

static void bar_sizing_with_word_writes(void **state)
{
	base_desc();
	desc.bars[1].size = 0x10000;
	build_ok();
	wr16(0x14, 0xffff, NULL);
	assert_int_equal(rd32(0x14), 0x00000000u);
	wr16(0x16, 0xffff, NULL);
	assert_int_equal(rd32(0x14), 0xffff0000u);
}

static void bar_address_programming_masks_low_bits(void **state)
{
	base_desc();
	desc.bars[0].size = 0x1000;
	desc.bars[2].size = 0x100000;
	desc.bars[2].flags = UVF_BAR_64BIT | UVF_BAR_PREFETCH;
	build_ok();
	wr32(0x10, 0xfebf1fffu, NULL);
	assert_int_equal(rd32(0x10), 0xfebf1000u);
	assert_int_equal(uvf__config_bar_address(&cfg, 0), 0xfebf1000u);

	wr32(0x18, 0x801234ffu, NULL);
	wr32(0x1c, 0x00000001u, NULL);
	assert_int_equal(rd32(0x18), 0x8010000cu);
	assert_int_equal(uvf__config_bar_address(&cfg, 2), 0x180100000ull);
	assert_int_equal(uvf__config_bar_address(&cfg, 3), 0); /* upper half */
	assert_int_equal(uvf__config_bar_address(&cfg, 6), 0);
}

static void rom_bar_sizing_and_enable_bit(void **state)
{
	base_desc();
	desc.rom_size = 0x8000;
	build_ok();
	assert_int_equal(rd32(0x30), 0);
	assert_int_equal(size_bar(0x30), 0xffff8001u);
	wr32(0x30, 0xfeb00000u, NULL); /* address, not enabled */
	assert_int_equal(rd32(0x30), 0xfeb00000u);
	wr32(0x30, 0xfeb00001u, NULL);
	assert_int_equal(rd32(0x30), 0xfeb00001u);
	wr32(0x30, 0xfeb007feu, NULL); /* reserved bits 10..1 stay 0 */
	assert_int_equal(rd32(0x30), 0xfeb00000u);
}

static void rom_bar_absent_reads_zero(void **state)
{
	base_desc();
	desc.bars[0].size = 0x1000;
	build_ok();
	assert_int_equal(size_bar(0x30), 0);
	wr32(0x30, 0xfeb00001u, NULL);
	assert_int_equal(rd32(0x30), 0);
}

/* ------------------------------------------------------------------ */
/* Capabilities and MSI                                                 */
/* ------------------------------------------------------------------ */

static void capability_chain_msi_then_user_caps(void **state)
{
	base_desc();
	desc.msi_count = 4;
	add_cap(0x01, 6, 0xaa, 0);  /* power management */
	add_cap(0x09, 11, 0xbb, 0); /* vendor specific, odd length */
	build_ok();

	assert_int_equal(rd8(0x34), 0x40);
	assert_int_equal(rd8(0x40), 0x05);
	uint8_t first = rd8(0x41);
	assert_int_equal(first, 0x58); /* after the 24-byte MSI capability */
	assert_int_equal(rd8(first), 0x01);
	assert_int_equal(rd8(first + 2), 0xaa);
	assert_int_equal(rd8(first + 7), 0xaa);
	uint8_t second = rd8(first + 1);
	assert_int_equal(second, 0x60); /* 0x58 + 8 */
	assert_int_equal(rd8(second), 0x09);
	assert_int_equal(rd8(second + 12), 0xbb);
	assert_int_equal(rd8(second + 1), 0);
	assert_int_equal(cfg.msi_offset, 0x40);
	assert_int_equal(cfg.user_cap_offset[0], first);
	assert_int_equal(cfg.user_cap_offset[1], second);
}

static void user_caps_are_dword_aligned(void **state)
{
	base_desc();
	add_cap(0x09, 1, 0, 0);
	add_cap(0x09, 5, 0, 0);
	add_cap(0x09, 2, 0, 0);
	build_ok();
	assert_int_equal(rd8(0x34), 0x40);
	/* 0x40 + 3 -> 0x44; 0x44 + 7 -> 0x4c; then the end of chain. */
	assert_int_equal(rd8(0x41), 0x44);
	assert_int_equal(rd8(0x45), 0x4c);
	assert_int_equal(rd8(0x4d), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(cfg.user_cap_offset[i] & 3, 0);
}

static void user_cap_writable_mask_applies_header_read_only(void **state)
{
	base_desc();
	add_cap(0x01, 6, 0x00, 0x00);
	desc.user_caps[0].writable[2] = 0x03; /* PMCSR power state bits */
	desc.user_caps[0].body[3] = 0x08;
	build_ok();
	wr32(0x40, 0xffffffffu, NULL);
	assert_int_equal(rd8(0x40), 0x01);
	assert_int_equal(rd8(0x41), 0x00);
	wr32(0x44, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x44), 0x00000803u);
	wr32(0x44, 0x00000000u, NULL);
	assert_int_equal(rd32(0x44), 0x00000800u);
}

static void msi_capability_advertises_64bit_masking_and_mmc(void **state)
{
	base_desc();
	desc.msi_count = 8;
	build_ok();
	uint16_t ctrl = rd16(0x42);
	assert_int_equal(ctrl & 0x0080, 0x0080); /* 64-bit */
	assert_int_equal(ctrl & 0x0100, 0x0100); /* per-vector masking */
	assert_int_equal((ctrl >> 1) & 7, 3);	 /* log2(8) */
	assert_int_equal(ctrl & 0x71, 0);	 /* disabled, MME 0 */
	assert_int_equal(cfg.msi_count, 8);
	assert_false(uvf__config_msi_enabled(&cfg));
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 0);
}

static void msi_address_data_writable_pending_read_only(void **state)
{
	base_desc();
	desc.msi_count = 2;
	build_ok();
	wr32(0x44, 0xfee00fffu, NULL);
	wr32(0x48, 0x12345678u, NULL);
	wr32(0x4c, 0xffffffffu, NULL);
	wr32(0x54, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x44), 0xfee00ffcu);
	assert_int_equal(rd32(0x48), 0x12345678u);
	assert_int_equal(rd32(0x4c), 0x0000ffffu); /* upper half reserved */
	assert_int_equal(rd32(0x54), 0);
	uvf__config_set_msi_pending(&cfg, 1, true);
	uvf__config_set_msi_pending(&cfg, 2, true); /* beyond the count */
	assert_int_equal(rd32(0x54), 0x2);
	wr32(0x54, 0, NULL);
	assert_int_equal(rd32(0x54), 0x2);
	uvf__config_set_msi_pending(&cfg, 1, false);
	assert_int_equal(rd32(0x54), 0);
}

static void msi_mme_clamped_to_mmc(void **state)
{
	base_desc();
	desc.msi_count = 4;
	build_ok();
	wr16(0x42, 0x0071, NULL); /* ask for 128 vectors */
	assert_int_equal((rd16(0x42) >> 4) & 7, 2);
	assert_true(uvf__config_msi_enabled(&cfg));
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 4);
	wr16(0x42, 0x0011, NULL);
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 2);
	wr16(0x42, 0x0010, NULL);
	assert_false(uvf__config_msi_enabled(&cfg));
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 0);
}

static void msi_single_vector_mme_stays_zero(void **state)
{
	base_desc();
	desc.msi_count = 1;
	build_ok();
	wr16(0x42, 0xffff, NULL);
	assert_int_equal(rd16(0x42), 0x0181); /* PVM, 64-bit, enable */
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 1);
}

static void msi_per_vector_mask_bits_limited_to_count(void **state)
{
	base_desc();
	desc.msi_count = 4;
	build_ok();
	wr32(0x50, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x50), 0xf);
	wr32(0x50, 0x5, NULL);
	assert_true(uvf__config_msi_vector_masked(&cfg, 0));
	assert_false(uvf__config_msi_vector_masked(&cfg, 1));
	assert_true(uvf__config_msi_vector_masked(&cfg, 2));
	assert_false(uvf__config_msi_vector_masked(&cfg, 3));
	assert_true(uvf__config_msi_vector_masked(&cfg, 4)); /* no such vector */
}

static void msi_32_vectors_mask_all_bits(void **state)
{
	base_desc();
	desc.msi_count = 32;
	build_ok();
	wr32(0x50, 0x80000000u, NULL);
	assert_int_equal(rd32(0x50), 0x80000000u);
	assert_true(uvf__config_msi_vector_masked(&cfg, 31));
	assert_false(uvf__config_msi_vector_masked(&cfg, 30));
	wr16(0x42, 0x00ff, NULL);
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 32);
}

static void no_msi_means_disabled_and_masked(void **state)
{
	base_desc();
	build_ok();
	assert_int_equal(cfg.msi_offset, 0);
	assert_false(uvf__config_msi_enabled(&cfg));
	assert_int_equal(uvf__config_msi_enabled_vectors(&cfg), 0);
	assert_true(uvf__config_msi_vector_masked(&cfg, 0));
}

/* ------------------------------------------------------------------ */
/* Build validation                                                     */
/* ------------------------------------------------------------------ */

static void build_enospc_when_caps_overflow(void **state)
{
	/* 0x40 + 24 (MSI) = 0x58; 0x58 + 168 = 0x100 fits exactly. */
	base_desc();
	desc.msi_count = 1;
	add_cap(0x09, 166, 0, 0);
	build_ok();
	assert_int_equal(cfg.user_cap_offset[0], 0x58);

	base_desc();
	desc.msi_count = 1;
	add_cap(0x09, 167, 0, 0);
	assert_int_equal(uvf__config_build(&cfg, &desc), -ENOSPC);

	base_desc();
	for (unsigned i = 0; i < UVF_CONFIG_MAX_USER_CAPS; i++)
		add_cap(0x09, 20, 0, 0); /* 16 x 24 bytes > 192 */
	assert_int_equal(uvf__config_build(&cfg, &desc), -ENOSPC);
}

static void build_failure_leaves_config_untouched(void **state)
{
	base_desc();
	build_ok();
	desc.bars[5].size = 0x1000;
	desc.bars[5].flags = UVF_BAR_64BIT;
	desc.ids.vendor_id = 0x8086;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	assert_int_equal(rd16(0x00), 0x1af4);
}

static void build_rejects_64bit_bar_at_index5_or_busy_upper_half(void **state)
{
	base_desc();
	desc.bars[4].size = 0x1000;
	desc.bars[4].flags = UVF_BAR_64BIT;
	build_ok();

	base_desc();
	desc.bars[5].size = 0x1000;
	desc.bars[5].flags = UVF_BAR_64BIT;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);

	base_desc();
	desc.bars[0].size = 0x1000;
	desc.bars[0].flags = UVF_BAR_64BIT;
	desc.bars[1].size = 0x1000;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
}

static void build_rejects_bad_bar_sizes(void **state)
{
	static const struct {
		uint64_t size;
		uint32_t flags;
		int expect;
	} cases[] = {
		{16, 0, 0},
		{8, 0, -EINVAL},
		{0x3000, 0, -EINVAL}, /* not a power of two */
		{0x80000000u, 0, 0},
		{0x100000000ull, 0, -EINVAL}, /* too big for 32 bits */
		{0x100000000ull, UVF_BAR_64BIT, 0},
		{4, UVF_BAR_IO, 0},
		{2, UVF_BAR_IO, -EINVAL},
		{256, UVF_BAR_IO, 0},
		{512, UVF_BAR_IO, -EINVAL},
		{16, UVF_BAR_IO | UVF_BAR_PREFETCH, -EINVAL},
		{16, UVF_BAR_IO | UVF_BAR_64BIT, -EINVAL},
		{16, 0x100, -EINVAL}, /* unknown flag */
		{16, UVF_BAR_MEMORY, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base_desc();
		desc.bars[0].size = cases[i].size;
		desc.bars[0].flags = cases[i].flags;
		assert_int_equal(uvf__config_build(&cfg, &desc), cases[i].expect);
	}
}

static void build_rejects_bad_rom_sizes(void **state)
{
	base_desc();
	desc.rom_size = 2048;
	build_ok();
	assert_int_equal(size_bar(0x30), 0xfffff801u);
	desc.rom_size = 1024;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.rom_size = 0x3000;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
}

static void build_rejects_bad_msi_counts(void **state)
{
	static const uint32_t good[] = {0, 1, 2, 4, 8, 16, 32};
	static const uint32_t bad[] = {3, 6, 33, 64};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		base_desc();
		desc.msi_count = good[i];
		assert_int_equal(uvf__config_build(&cfg, &desc), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		base_desc();
		desc.msi_count = bad[i];
		assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	}
}

static void build_rejects_inconsistent_caps(void **state)
{
	base_desc();
	add_cap(0x09, 190, 0, 0);
	build_ok(); /* largest body that fits from 0x40 */

	base_desc();
	add_cap(0x09, 4, 0, 0);
	desc.user_caps[0].len = 255;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);

	base_desc();
	desc.nr_user_caps = UVF_CONFIG_MAX_USER_CAPS + 1;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);

	/* A user MSI capability is fine alone, not beside the library's. */
	base_desc();
	add_cap(0x05, 10, 0, 0);
	build_ok();
	desc.msi_count = 1;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
}

static void build_rejects_bad_ids(void **state)
{
	base_desc();
	desc.ids.vendor_id = 0xffff;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ids.vendor_id = 0;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ids.vendor_id = 1;
	desc.ids.class_code = 0x1000000;
	assert_int_equal(uvf__config_build(&cfg, &desc), -EINVAL);
	desc.ids.class_code = 0xffffff;
	build_ok();
}

/* ------------------------------------------------------------------ */
/* Reset, effects, odd accesses                                         */
/* ------------------------------------------------------------------ */

static void reset_restores_built_image(void **state)
{
	base_desc();
	desc.bars[0].size = 0x1000;
	desc.intx = true;
	desc.msi_count = 4;
	add_cap(0x09, 4, 0x5a, 0xff);
	build_ok();
	uint8_t built[256];
	uvf__config_read(&cfg, 0, built, sizeof(built));

	wr16(0x04, 0x0406, NULL);
	wr32(0x10, 0xfebf0000u, NULL);
	wr8(0x3c, 11, NULL);
	wr16(0x42, 0x0021, NULL);
	wr32(0x50, 0x3, NULL);
	wr32(0x5a, 0x01020304u, NULL);
	uvf__config_set_intx_status(&cfg, true);
	uvf__config_set_msi_pending(&cfg, 0, true);
	uint8_t dirty[256];
	uvf__config_read(&cfg, 0, dirty, sizeof(dirty));
	assert_memory_not_equal(built, dirty, sizeof(built));

	uvf__config_reset(&cfg);
	uint8_t after[256];
	uvf__config_read(&cfg, 0, after, sizeof(after));
	assert_memory_equal(built, after, sizeof(built));
	assert_int_equal(rd32(0x5a), 0x5a5a5a5au); /* user body as built */
	assert_int_equal(uvf__config_command(&cfg), 0);
	assert_false(uvf__config_msi_enabled(&cfg));
	/* Masks survive: the device is still programmable. */
	wr16(0x04, 0x0002, NULL);
	assert_int_equal(uvf__config_command(&cfg), 0x0002);
}

static void effects_report_command_change(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	desc.bars[0].size = 0x1000;
	build_ok();
	wr16(0x04, 0x0006, &fx);
	assert_true(fx.command_changed);
	assert_int_equal(fx.old_command, 0);
	assert_int_equal(fx.new_command, 0x0006);
	assert_false(fx.msi_changed);
	assert_false(fx.bar_changed);

	wr16(0x04, 0x0006, &fx); /* same value again */
	assert_false(fx.command_changed);
	assert_int_equal(fx.old_command, 0x0006);
	assert_int_equal(fx.new_command, 0x0006);

	wr16(0x04, 0x0001, &fx); /* I/O bit not writable without an I/O BAR */
	assert_true(fx.command_changed);
	assert_int_equal(fx.new_command, 0);
}

static void effects_report_msi_control_and_mask_changes(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	desc.msi_count = 2;
	build_ok();
	wr16(0x42, 0x0001, &fx);
	assert_true(fx.msi_changed);
	assert_false(fx.command_changed);
	wr16(0x42, 0x0001, &fx);
	assert_false(fx.msi_changed);
	wr32(0x50, 0x1, &fx);
	assert_true(fx.msi_changed);
	wr32(0x50, 0x5, &fx); /* only a bit beyond the count differs */
	assert_false(fx.msi_changed);
	wr32(0x44, 0xfee00000u, &fx); /* address is not state the server acts on */
	assert_false(fx.msi_changed);
}

static void effects_report_bar_writes(void **state)
{
	struct uvf_config_effects fx;

	base_desc();
	desc.bars[0].size = 0x1000;
	desc.rom_size = 0x1000;
	build_ok();
	wr32(0x10, 0xfebf0000u, &fx);
	assert_true(fx.bar_changed);
	wr8(0x27, 0xff, &fx);
	assert_true(fx.bar_changed);
	wr8(0x33, 0xff, &fx);
	assert_true(fx.bar_changed);
	wr8(0x0c, 0x10, &fx);
	assert_false(fx.bar_changed);
	wr32(0x28, 0xffffffffu, &fx);
	assert_false(fx.bar_changed);
	wr32(0x0c, 0xffffffffu, &fx);
	assert_false(fx.bar_changed);
	/* A write that starts in one register and ends in a BAR. */
	uint8_t b[8] = {0};
	uvf__config_write(&cfg, 0x0c, b, sizeof(b), &fx);
	assert_true(fx.bar_changed);
}

static void unaligned_write_spans_registers(void **state)
{
	base_desc();
	desc.bars[0].size = 0x1000;
	build_ok();
	/* Dword at 0x02: device id (ignored) then command. */
	wr32(0x02, 0x0006ffff, NULL);
	assert_int_equal(rd16(0x02), 0x10f0);
	assert_int_equal(rd16(0x04), 0x0006);
	/* Odd-length write covering the whole header does not break ids. */
	uint8_t junk[0x3f];
	memset(junk, 0, sizeof(junk));
	uvf__config_write(&cfg, 1, junk, sizeof(junk), NULL);
	assert_int_equal(rd16(0x00), 0x1af4);
	assert_int_equal(rd16(0x04), 0);
}

static void reads_past_config_size_are_zero(void **state)
{
	base_desc();
	build_ok();
	uint8_t b[8];
	memset(b, 0xee, sizeof(b));
	uvf__config_read(&cfg, 0x100, b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
	wr32(0x100, 0xffffffffu, NULL);
	assert_int_equal(rd32(0x100), 0);
}

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
		cmocka_unit_test(ids_are_presented_little_endian),
		cmocka_unit_test(id_writes_are_ignored),
		cmocka_unit_test(header_type_is_single_function_type0),
		cmocka_unit_test(cache_line_writable_latency_read_only),
		cmocka_unit_test(interrupt_pin_inta_with_intx_line_writable),
		cmocka_unit_test(interrupt_pin_zero_without_intx),
		cmocka_unit_test(command_without_bars_allows_master_parity_serr),
		cmocka_unit_test(command_memory_bit_needs_memory_bar),
		cmocka_unit_test(command_io_bit_needs_io_bar_and_intx_disable_needs_intx),
		cmocka_unit_test(command_memory_bit_enabled_by_rom_alone),
		cmocka_unit_test(status_cap_list_bit_follows_capabilities),
		cmocka_unit_test(status_error_bits_are_write_one_to_clear),
		cmocka_unit_test(intx_status_driven_by_library_only),
		cmocka_unit_test(bar32_memory_sizing_returns_size_mask),
		cmocka_unit_test(bar32_prefetchable_keeps_type_bit),
		cmocka_unit_test(bar64_prefetchable_pair_sizes_both_halves),
		cmocka_unit_test(bar64_larger_than_4g_sizes_upper_half),
		cmocka_unit_test(io_bar_sizing_sets_bit0),
		cmocka_unit_test(absent_bar_reads_zero_and_ignores_writes),
		cmocka_unit_test(bar_sizing_with_byte_writes),
		cmocka_unit_test(bar_sizing_with_word_writes),
		cmocka_unit_test(bar_address_programming_masks_low_bits),
		cmocka_unit_test(rom_bar_sizing_and_enable_bit),
		cmocka_unit_test(rom_bar_absent_reads_zero),
		cmocka_unit_test(capability_chain_msi_then_user_caps),
		cmocka_unit_test(user_caps_are_dword_aligned),
		cmocka_unit_test(user_cap_writable_mask_applies_header_read_only),
		cmocka_unit_test(msi_capability_advertises_64bit_masking_and_mmc),
		cmocka_unit_test(msi_address_data_writable_pending_read_only),
		cmocka_unit_test(msi_mme_clamped_to_mmc),
		cmocka_unit_test(msi_single_vector_mme_stays_zero),
		cmocka_unit_test(msi_per_vector_mask_bits_limited_to_count),
		cmocka_unit_test(msi_32_vectors_mask_all_bits),
		cmocka_unit_test(no_msi_means_disabled_and_masked),
		cmocka_unit_test(build_enospc_when_caps_overflow),
		cmocka_unit_test(build_failure_leaves_config_untouched),
		cmocka_unit_test(build_rejects_64bit_bar_at_index5_or_busy_upper_half),
		cmocka_unit_test(build_rejects_bad_bar_sizes),
		cmocka_unit_test(build_rejects_bad_rom_sizes),
		cmocka_unit_test(build_rejects_bad_msi_counts),
		cmocka_unit_test(build_rejects_inconsistent_caps),
		cmocka_unit_test(build_rejects_bad_ids),
		cmocka_unit_test(reset_restores_built_image),
		cmocka_unit_test(effects_report_command_change),
		cmocka_unit_test(effects_report_msi_control_and_mask_changes),
		cmocka_unit_test(effects_report_bar_writes),
		cmocka_unit_test(unaligned_write_spans_registers),
		cmocka_unit_test(reads_past_config_size_are_zero),
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
		cmocka_unit_test(ext_caps_need_pcie_and_valid_ids),
		cmocka_unit_test(ext_caps_fill_4k_exactly_then_enospc),
		cmocka_unit_test(reset_restores_library_capabilities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
