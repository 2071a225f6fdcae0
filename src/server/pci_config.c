/* SPDX-License-Identifier: MIT */
/*
 * Emulated type-0 PCI configuration space: building the image from a
 * device description and applying guest writes through per-byte masks.
 *
 * Every register rule is expressed as masks set up once by the build:
 * wmask holds the bits a write may change, w1cmask the bits a write of 1
 * clears. BAR sizing falls out of that naturally: the address bits below
 * the BAR size are not writable, so writing all ones reads back the size
 * mask with the read-only type bits, whatever the access width. Only the
 * MSI multiple-message-enable field needs a fix-up after a write.
 */
#include <errno.h>
#include <string.h>

#include "server/pci_config.h"

/* Type-0 header offsets. */
#define CFG_VENDOR_ID	  0x00
#define CFG_DEVICE_ID	  0x02
#define CFG_COMMAND	  0x04
#define CFG_STATUS	  0x06
#define CFG_REVISION	  0x08
#define CFG_CLASS_PROG	  0x09
#define CFG_CACHE_LINE	  0x0c
#define CFG_HEADER_TYPE	  0x0e
#define CFG_BAR0	  0x10
#define CFG_BAR_END	  0x28
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID	  0x2e
#define CFG_ROM		  0x30
#define CFG_CAP_PTR	  0x34
#define CFG_INT_LINE	  0x3c
#define CFG_INT_PIN	  0x3d
#define CFG_FIRST_CAP	  0x40
#define CFG_SIZE	  256u

/* Command register bits. */
#define CMD_IO		 0x0001u
#define CMD_MEMORY	 0x0002u
#define CMD_BUS_MASTER	 0x0004u
#define CMD_PARITY	 0x0040u
#define CMD_SERR	 0x0100u
#define CMD_INTX_DISABLE 0x0400u

/* Status register bits. */
#define STATUS_INTX	0x0008u
#define STATUS_CAP_LIST 0x0010u
/* Master data parity error, signaled/received target abort, received
 * master abort, signaled system error, detected parity error. */
#define STATUS_RW1C 0xf900u

/* BAR type bits. */
#define BAR_IO_SPACE	 0x1u
#define BAR_MEM_64	 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define ROM_ENABLE	 0x1u
#define ROM_ADDR_MASK	 0xfffff800u

/* MSI capability with 64-bit address and per-vector masking. */
#define MSI_CAP_ID	   0x05
#define MSI_CONTROL	   2
#define MSI_ADDR_LO	   4
#define MSI_ADDR_HI	   8
#define MSI_DATA	   12
#define MSI_MASK	   16
#define MSI_PENDING	   20
#define MSI_CAP_SIZE	   24
#define MSI_CTRL_ENABLE	   0x0001u
#define MSI_CTRL_MMC_SHIFT 1
#define MSI_CTRL_MME_SHIFT 4
#define MSI_CTRL_MME_MASK  0x0070u
#define MSI_CTRL_64BIT	   0x0080u
#define MSI_CTRL_PVM	   0x0100u

#define IO_BAR_MIN  4u
#define IO_BAR_MAX  256u
#define MEM_BAR_MIN 16u
#define ROM_MIN	    2048u

/* Config space is little-endian whatever the host is. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned log2_u32(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static int check_bars(const struct uvf_config_desc *desc)
{
	const uint32_t known = UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH | UVF_BAR_MEMORY;

	for (unsigned i = 0; i < 6; i++) {
		const struct uvf_config_bar *bar = &desc->bars[i];

		if (bar->size == 0)
			continue; /* absent: flags are meaningless */
		if ((bar->flags & ~known) || !is_pow2(bar->size))
			return -EINVAL;
		if (bar->flags & UVF_BAR_IO) {
			if (bar->flags & (UVF_BAR_64BIT | UVF_BAR_PREFETCH))
				return -EINVAL;
			if (bar->size < IO_BAR_MIN || bar->size > IO_BAR_MAX)
				return -EINVAL;
			continue;
		}
		if (bar->size < MEM_BAR_MIN)
			return -EINVAL;
		if (bar->flags & UVF_BAR_64BIT) {
			/* The pair needs a free upper register; the size
			 * must fit the 64-bit address (is_pow2 caps it at
			 * 2^63). */
			if (i == 5 || desc->bars[i + 1].size != 0)
				return -EINVAL;
			i++; /* the upper half is not a BAR of its own */
		} else if (bar->size > 0x80000000u) {
			return -EINVAL;
		}
	}
	return 0;
}

static int check_desc(const struct uvf_config_desc *desc)
{
	/* Both values read as "no device here" to an enumerating guest. */
	if (desc->ids.vendor_id == 0 || desc->ids.vendor_id == 0xffff)
		return -EINVAL;
	if (desc->ids.class_code > 0xffffff)
		return -EINVAL;
	int ret = check_bars(desc);
	if (ret < 0)
		return ret;
	if (desc->rom_size && (!is_pow2(desc->rom_size) || desc->rom_size < ROM_MIN || desc->rom_size > 0x80000000u))
		return -EINVAL;
	if (desc->msi_count > 32 || (desc->msi_count && !is_pow2(desc->msi_count)))
		return -EINVAL;
	if (desc->nr_user_caps > UVF_CONFIG_MAX_USER_CAPS)
		return -EINVAL;
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		const struct uvf_config_user_cap *cap = &desc->user_caps[i];

		if (cap->len > sizeof(cap->body))
			return -EINVAL;
		/* Two MSI capabilities would leave the guest guessing
		 * which one drives the vectors the library signals. */
		if (cap->id == MSI_CAP_ID && desc->msi_count)
			return -EINVAL;
	}
	return 0;
}

/* Offsets of the MSI capability and of each user capability; -ENOSPC when
 * the chain runs past the end of config space. */
static int layout_caps(const struct uvf_config_desc *desc, uint8_t *msi_offset, uint8_t *user_offset)
{
	uint32_t next = CFG_FIRST_CAP;

	*msi_offset = 0;
	if (desc->msi_count) {
		*msi_offset = (uint8_t)next;
		next += MSI_CAP_SIZE;
	}
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		next = (next + 3) & ~3u;
		if (next + 2u + desc->user_caps[i].len > CFG_SIZE)
			return -ENOSPC;
		user_offset[i] = (uint8_t)next;
		next += 2u + desc->user_caps[i].len;
	}
	return 0;
}

static void build_bars(struct uvf_config *cfg, const struct uvf_config_desc *desc, uint16_t *cmd_wmask)
{
	for (unsigned i = 0; i < 6; i++) {
		const struct uvf_config_bar *bar = &desc->bars[i];
		uint8_t *reg = &cfg->image[CFG_BAR0 + 4 * i];
		uint8_t *mask = &cfg->wmask[CFG_BAR0 + 4 * i];

		if (bar->size == 0)
			continue;
		cfg->bar_size[i] = bar->size;
		cfg->bar_flags[i] = bar->flags & (UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH);
		if (bar->flags & UVF_BAR_IO) {
			put32(reg, BAR_IO_SPACE);
			put32(mask, (uint32_t) ~(bar->size - 1) & ~3u);
			*cmd_wmask |= CMD_IO;
			continue;
		}
		*cmd_wmask |= CMD_MEMORY;
		uint32_t type = (bar->flags & UVF_BAR_PREFETCH) ? BAR_MEM_PREFETCH : 0;
		uint64_t addr_mask = ~(bar->size - 1);
		if (bar->flags & UVF_BAR_64BIT) {
			type |= BAR_MEM_64;
			/* Upper half: plain address register, sized by the
			 * bits of the size above 4 GiB. */
			put32(mask + 4, (uint32_t)(addr_mask >> 32));
		}
		put32(reg, type);
		put32(mask, (uint32_t)addr_mask & ~0xfu);
		if (bar->flags & UVF_BAR_64BIT)
			i++;
	}
	if (desc->rom_size) {
		cfg->rom_size = desc->rom_size;
		put32(&cfg->wmask[CFG_ROM], ((uint32_t) ~(desc->rom_size - 1) & ROM_ADDR_MASK) | ROM_ENABLE);
		*cmd_wmask |= CMD_MEMORY;
	}
}

static void build_msi(struct uvf_config *cfg, uint8_t off, uint8_t next, uint32_t count)
{
	uint8_t *cap = &cfg->image[off];
	uint8_t *mask = &cfg->wmask[off];

	cap[0] = MSI_CAP_ID;
	cap[1] = next;
	put16(cap + MSI_CONTROL, (uint16_t)(MSI_CTRL_PVM | MSI_CTRL_64BIT | (log2_u32(count) << MSI_CTRL_MMC_SHIFT)));
	put16(mask + MSI_CONTROL, MSI_CTRL_MME_MASK | MSI_CTRL_ENABLE);
	put32(mask + MSI_ADDR_LO, 0xfffffffcu); /* dword aligned */
	put32(mask + MSI_ADDR_HI, 0xffffffffu);
	put16(mask + MSI_DATA, 0xffff);
	put32(mask + MSI_MASK, count == 32 ? 0xffffffffu : (1u << count) - 1);
	cfg->msi_offset = off;
	cfg->msi_count = count;
}

int uvf__config_build(struct uvf_config *cfg, const struct uvf_config_desc *desc)
{
	uint8_t msi_offset;
	uint8_t user_offset[UVF_CONFIG_MAX_USER_CAPS] = {0};
	int ret;

	ret = check_desc(desc);
	if (ret < 0)
		return ret;
	ret = layout_caps(desc, &msi_offset, user_offset);
	if (ret < 0)
		return ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->size = CFG_SIZE;
	uint8_t *img = cfg->image;

	put16(img + CFG_VENDOR_ID, desc->ids.vendor_id);
	put16(img + CFG_DEVICE_ID, desc->ids.device_id);
	img[CFG_REVISION] = desc->ids.revision;
	img[CFG_CLASS_PROG] = (uint8_t)desc->ids.class_code;
	img[CFG_CLASS_PROG + 1] = (uint8_t)(desc->ids.class_code >> 8);
	img[CFG_CLASS_PROG + 2] = (uint8_t)(desc->ids.class_code >> 16);
	img[CFG_HEADER_TYPE] = 0; /* type 0, single function */
	put16(img + CFG_SUBSYS_VENDOR, desc->ids.subsystem_vendor_id);
	put16(img + CFG_SUBSYS_ID, desc->ids.subsystem_id);

	/* Firmware and guests write these scratch registers. */
	cfg->wmask[CFG_CACHE_LINE] = 0xff;
	cfg->wmask[CFG_INT_LINE] = 0xff;
	img[CFG_INT_PIN] = desc->intx ? 1 : 0;

	uint16_t cmd_wmask = CMD_BUS_MASTER | CMD_PARITY | CMD_SERR;
	if (desc->intx)
		cmd_wmask |= CMD_INTX_DISABLE;
	build_bars(cfg, desc, &cmd_wmask);
	put16(&cfg->wmask[CFG_COMMAND], cmd_wmask);
	put16(&cfg->w1cmask[CFG_STATUS], STATUS_RW1C);

	/* Capability chain: MSI first, then the user's in order. */
	unsigned nr = desc->nr_user_caps;
	if (msi_offset || nr) {
		put16(img + CFG_STATUS, STATUS_CAP_LIST);
		img[CFG_CAP_PTR] = msi_offset ? msi_offset : user_offset[0];
	}
	if (msi_offset)
		build_msi(cfg, msi_offset, nr ? user_offset[0] : 0, desc->msi_count);
	for (unsigned i = 0; i < nr; i++) {
		const struct uvf_config_user_cap *cap = &desc->user_caps[i];
		uint8_t off = user_offset[i];

		img[off] = cap->id;
		img[off + 1] = i + 1 < nr ? user_offset[i + 1] : 0;
		memcpy(&img[off + 2], cap->body, cap->len);
		memcpy(&cfg->wmask[off + 2], cap->writable, cap->len);
		cfg->user_cap_offset[i] = off;
	}

	memcpy(cfg->initial, cfg->image, sizeof(cfg->initial));
	return 0;
}

#define IMAGE_MAX ((uint32_t)sizeof(((struct uvf_config *)0)->image))

/* Clamp [offset, offset + len) to the image so a caller's mistake cannot
 * reach past the arrays; bytes past cfg->size read 0 and ignore writes
 * because their masks are 0. */
static size_t clamp_len(uint32_t offset, size_t len)
{
	if (offset >= IMAGE_MAX)
		return 0;
	return len < IMAGE_MAX - offset ? len : IMAGE_MAX - offset;
}

void uvf__config_read(const struct uvf_config *cfg, uint32_t offset, void *buf, size_t len)
{
	size_t n = clamp_len(offset, len);

	if (n)
		memcpy(buf, &cfg->image[offset], n);
	if (n < len)
		memset((uint8_t *)buf + n, 0, len - n);
}

static bool overlaps(uint32_t offset, size_t len, uint32_t start, uint32_t end)
{
	return len && offset < end && offset + len > start;
}

static uint16_t msi_control(const struct uvf_config *cfg)
{
	return get16(&cfg->image[cfg->msi_offset + MSI_CONTROL]);
}

void uvf__config_write(struct uvf_config *cfg, uint32_t offset, const void *buf, size_t len,
		       struct uvf_config_effects *fx)
{
	const uint8_t *src = buf;
	size_t n = clamp_len(offset, len);
	uint16_t old_cmd = uvf__config_command(cfg);
	uint16_t old_msi_ctrl = 0;
	uint32_t old_msi_mask = 0;

	if (cfg->msi_offset) {
		old_msi_ctrl = msi_control(cfg);
		old_msi_mask = get32(&cfg->image[cfg->msi_offset + MSI_MASK]);
	}

	for (size_t i = 0; i < n; i++) {
		uint32_t at = offset + (uint32_t)i;
		uint8_t wm = cfg->wmask[at];
		uint8_t v = (uint8_t)((cfg->image[at] & ~wm) | (src[i] & wm));

		cfg->image[at] = (uint8_t)(v & ~(src[i] & cfg->w1cmask[at]));
	}

	if (cfg->msi_offset) {
		/* Software may ask for more vectors than the function is
		 * capable of; it then gets what the function has. */
		uint16_t ctrl = msi_control(cfg);
		uint16_t mmc = (ctrl >> MSI_CTRL_MMC_SHIFT) & 0x7;
		uint16_t mme = (ctrl & MSI_CTRL_MME_MASK) >> MSI_CTRL_MME_SHIFT;
		if (mme > mmc) {
			ctrl = (uint16_t)((ctrl & ~MSI_CTRL_MME_MASK) | (mmc << MSI_CTRL_MME_SHIFT));
			put16(&cfg->image[cfg->msi_offset + MSI_CONTROL], ctrl);
		}
	}

	if (!fx)
		return;
	memset(fx, 0, sizeof(*fx));
	fx->old_command = old_cmd;
	fx->new_command = uvf__config_command(cfg);
	fx->command_changed = fx->old_command != fx->new_command;
	if (cfg->msi_offset)
		fx->msi_changed = old_msi_ctrl != msi_control(cfg) ||
				  old_msi_mask != get32(&cfg->image[cfg->msi_offset + MSI_MASK]);
	fx->bar_changed = overlaps(offset, n, CFG_BAR0, CFG_BAR_END) || overlaps(offset, n, CFG_ROM, CFG_ROM + 4);
}

void uvf__config_reset(struct uvf_config *cfg)
{
	memcpy(cfg->image, cfg->initial, sizeof(cfg->image));
}

uint16_t uvf__config_command(const struct uvf_config *cfg)
{
	return get16(&cfg->image[CFG_COMMAND]);
}

void uvf__config_set_intx_status(struct uvf_config *cfg, bool asserted)
{
	uint16_t status = get16(&cfg->image[CFG_STATUS]);

	status = (uint16_t)(asserted ? status | STATUS_INTX : status & ~STATUS_INTX);
	put16(&cfg->image[CFG_STATUS], status);
}

bool uvf__config_msi_enabled(const struct uvf_config *cfg)
{
	return cfg->msi_offset && (msi_control(cfg) & MSI_CTRL_ENABLE);
}

uint32_t uvf__config_msi_enabled_vectors(const struct uvf_config *cfg)
{
	if (!uvf__config_msi_enabled(cfg))
		return 0;
	return 1u << ((msi_control(cfg) & MSI_CTRL_MME_MASK) >> MSI_CTRL_MME_SHIFT);
}

bool uvf__config_msi_vector_masked(const struct uvf_config *cfg, uint32_t v)
{
	if (!cfg->msi_offset || v >= cfg->msi_count)
		return true;
	return (get32(&cfg->image[cfg->msi_offset + MSI_MASK]) >> v) & 1;
}

void uvf__config_set_msi_pending(struct uvf_config *cfg, uint32_t v, bool pending)
{
	if (!cfg->msi_offset || v >= cfg->msi_count)
		return;
	uint8_t *p = &cfg->image[cfg->msi_offset + MSI_PENDING];
	uint32_t bits = get32(p);
	bits = pending ? bits | (1u << v) : bits & ~(1u << v);
	put32(p, bits);
}

uint64_t uvf__config_bar_address(const struct uvf_config *cfg, unsigned index)
{
	if (index >= 6 || cfg->bar_size[index] == 0)
		return 0;
	uint32_t lo = get32(&cfg->image[CFG_BAR0 + 4 * index]);
	if (cfg->bar_flags[index] & UVF_BAR_IO)
		return lo & ~3u;
	uint64_t addr = lo & ~0xfu;
	if (cfg->bar_flags[index] & UVF_BAR_64BIT)
		addr |= (uint64_t)get32(&cfg->image[CFG_BAR0 + 4 * (index + 1)]) << 32;
	return addr;
}
