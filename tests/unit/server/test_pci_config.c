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

#include "pci_config_test.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

