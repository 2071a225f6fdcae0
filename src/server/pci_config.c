/* SPDX-License-Identifier: MIT */
/*
 * Emulated type-0 PCI configuration space: building the image from a
 * device description and applying guest writes through per-byte masks.
 *
 * Every register rule is expressed as masks set up once by the build:
 * wmask holds the bits a write may change, w1cmask the bits a write of 1
 * clears. BAR sizing falls out of that naturally: the address bits below
 * the BAR size are not writable, so writing all ones reads back the size
 * mask with the read-only type bits, whatever the access width. A few
 * fields need a fix-up after a write (MSI multiple-message enable, PM power
 * state, PCI Express max payload), and "initiate FLR" is never stored.
 */
#include <errno.h>
#include <string.h>

#include "server/pci_config.h"
#include "util.h"

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
#define CFG_EXT_SIZE	  4096u

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

/* MSI capability: control, address, (upper address), data, (mask, pending). */
#define MSI_CONTROL	   2
#define MSI_ADDR_LO	   4
#define MSI_ADDR_HI	   8
#define MSI_CTRL_ENABLE	   0x0001u
#define MSI_CTRL_MMC_SHIFT 1
#define MSI_CTRL_MME_SHIFT 4
#define MSI_CTRL_MME_MASK  0x0070u
#define MSI_CTRL_64BIT	   0x0080u
#define MSI_CTRL_PVM	   0x0100u

/* Power Management capability. */
#define PM_CAP_SIZE	    8
#define PM_PMC		    2
#define PM_PMCSR	    4
#define PM_VERSION	    3u
#define PMCSR_STATE_MASK    0x0003u
#define PMCSR_NO_SOFT_RESET 0x0008u
#define PM_STATE_D0	    0u
#define PM_STATE_D3HOT	    3u

/* MSI-X capability. */
#define MSIX_CAP_SIZE	  12
#define MSIX_CONTROL	  2
#define MSIX_TABLE	  4
#define MSIX_PBA	  8
#define MSIX_CTRL_ENABLE  0x8000u
#define MSIX_CTRL_MASKALL 0x4000u

/* PCI Express capability, version 2 (offsets inside the capability). */
#define EXP_CAP_SIZE	0x3c
#define EXP_FLAGS	0x02
#define EXP_DEVCAP	0x04
#define EXP_DEVCTL	0x08
#define EXP_DEVSTA	0x0a
#define EXP_LNKCAP	0x0c
#define EXP_LNKCTL	0x10
#define EXP_LNKSTA	0x12
#define EXP_DEVCAP2	0x24
#define EXP_DEVCTL2	0x28
#define EXP_LNKCAP2	0x2c
#define EXP_LNKCTL2	0x30
#define EXP_VERSION	2u
#define DEVCAP_MPS_MASK 0x7u
#define DEVCAP_L0S_ANY	(7u << 6)  /* endpoint L0s acceptable latency: no limit */
#define DEVCAP_L1_ANY	(7u << 9)  /* endpoint L1 acceptable latency: no limit */
#define DEVCAP_RBER	(1u << 15) /* role-based error reporting */
#define DEVCAP_FLR	(1u << 28)
/* Error reporting enables (0x000f), relaxed ordering (0x0010), max
 * payload (0x00e0), no snoop (0x0800), max read request (0x7000). */
#define DEVCTL_WRITABLE	 0x78ffu
#define DEVCTL_RELAXED	 0x0010u
#define DEVCTL_MPS_SHIFT 5
#define DEVCTL_MPS_MASK	 0x00e0u
#define DEVCTL_NOSNOOP	 0x0800u
#define DEVCTL_MRRS_512	 (2u << 12)
#define DEVCTL_FLR_BYTE	 0x80u	    /* bit 15, in the high byte */
#define DEVSTA_RW1C	 0x000fu    /* correctable, non-fatal, fatal, unsupported request */
#define LNKCAP_ASPM_OPT	 (1u << 22) /* ASPM optionality compliance */
/* ASPM control, read completion boundary, common clock, extended synch. */
#define LNKCTL_WRITABLE 0x00cbu
#define LNKSTA_SLOT_CLK (1u << 12)
#define DEVCAP2_CTO_DIS (1u << 4) /* completion timeout disable supported */
#define DEVCTL2_CTO_DIS 0x0010u
/* Target link speed and hardware autonomous speed disable. */
#define LNKCTL2_WRITABLE 0x002fu

/* Extended capability header: id 15:0, version 19:16, next 31:20. */
#define EXT_HDR_SIZE 4u

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

static int check_bars(const struct uvf_config_desc *desc)
{
	const uint32_t known = UVF_BAR_IO | UVF_BAR_64BIT | UVF_BAR_PREFETCH | UVF_BAR_MEMORY;

	for (unsigned i = 0; i < 6; i++) {
		const struct uvf_config_bar *bar = &desc->bars[i];

		if (bar->size == 0)
			continue; /* absent: flags are meaningless */
		if ((bar->flags & ~known) || !uvf__is_pow2(bar->size))
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

static unsigned msi_cap_size(uint32_t flags)
{
	unsigned size = (flags & UVF_MSI_32BIT) ? 10 : 14; /* up to and with the data register */
	if (!(flags & UVF_MSI_NO_MASK))
		size = (flags & UVF_MSI_32BIT) ? 20 : 24; /* reserved word, mask, pending */
	return size;
}

static unsigned msi_data_at(uint32_t flags)
{
	return (flags & UVF_MSI_32BIT) ? 8 : 12;
}

/* 0 without per-vector masking. */
static unsigned msi_mask_at(uint32_t flags)
{
	if (flags & UVF_MSI_NO_MASK)
		return 0;
	return (flags & UVF_MSI_32BIT) ? 12 : 16;
}

int uvf__config_check_msix(const struct uvf_config_msix *msix, const struct uvf_config_bar bars[6])
{
	if (msix->count == 0 || msix->count > UVF_CONFIG_MSIX_MAX || msix->table_bar > 5 || msix->pba_bar > 5)
		return -EINVAL;
	if ((msix->table_offset & 7) || (msix->pba_offset & 7))
		return -EINVAL;
	const struct uvf_config_bar *tb = &bars[msix->table_bar];
	const struct uvf_config_bar *pb = &bars[msix->pba_bar];
	if (!tb->size || !pb->size || (tb->flags & UVF_BAR_IO) || (pb->flags & UVF_BAR_IO))
		return -EINVAL;
	uint64_t table_end = (uint64_t)msix->table_offset + 16ull * msix->count;
	uint64_t pba_end = (uint64_t)msix->pba_offset + 8ull * ((msix->count + 63) / 64);
	if (table_end > tb->size || pba_end > pb->size)
		return -EINVAL;
	if (msix->table_bar == msix->pba_bar && msix->table_offset < pba_end && msix->pba_offset < table_end)
		return -EINVAL;
	return 0;
}

int uvf__config_check_pcie(const struct uvf_config_pcie *pcie)
{
	if (pcie->port_type != UVF_PCIE_TYPE_ENDPOINT && pcie->port_type != UVF_PCIE_TYPE_RC_ENDPOINT)
		return -EINVAL;
	if (!uvf__is_pow2(pcie->max_payload) || pcie->max_payload < 128 || pcie->max_payload > 4096)
		return -EINVAL;
	if (pcie->link_speed < 1 || pcie->link_speed > 5)
		return -EINVAL;
	switch (pcie->link_width) {
	case 1:
	case 2:
	case 4:
	case 8:
	case 12:
	case 16:
	case 32:
		return 0;
	default:
		return -EINVAL;
	}
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
	if (desc->rom_size && (!uvf__is_pow2(desc->rom_size) || desc->rom_size < ROM_MIN || desc->rom_size > 0x80000000u))
		return -EINVAL;
	if (desc->msix.count)
		return uvf__config_check_msix(&desc->msix, desc->bars);
	return 0;
}

/* Whether a user capability would shadow one the library builds: the
 * guest would find two and the library would emulate only one. */
static bool clashes(const struct uvf_config_desc *desc, uint8_t id)
{
	return (id == UVF_CAP_ID_PM && desc->pm) || (id == UVF_CAP_ID_MSI && desc->msi_count) ||
	       (id == UVF_CAP_ID_MSIX && desc->msix.count) || (id == UVF_CAP_ID_EXP && desc->pcie.present);
}

static int check_caps(const struct uvf_config_desc *desc)
{
	if (desc->msi_count > 32 || (desc->msi_count && !uvf__is_pow2(desc->msi_count)))
		return -EINVAL;
	if (desc->msi_flags & ~(UVF_MSI_32BIT | UVF_MSI_NO_MASK))
		return -EINVAL;
	if (desc->msix.count > UVF_CONFIG_MSIX_MAX)
		return -EINVAL;
	if (desc->pcie.present && uvf__config_check_pcie(&desc->pcie) < 0)
		return -EINVAL;
	if (desc->nr_user_caps > UVF_CONFIG_MAX_USER_CAPS || desc->nr_ext_caps > UVF_CONFIG_MAX_EXT_CAPS)
		return -EINVAL;
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		const struct uvf_config_user_cap *cap = &desc->user_caps[i];

		if (cap->len > sizeof(cap->body) || clashes(desc, cap->id))
			return -EINVAL;
	}
	/* Extended config space exists only on PCI Express functions. */
	if (desc->nr_ext_caps && !desc->pcie.present)
		return -EINVAL;
	for (unsigned i = 0; i < desc->nr_ext_caps; i++) {
		const struct uvf_config_ext_cap *cap = &desc->ext_caps[i];

		if (cap->id == 0 || cap->id == 0xffff || cap->version > 15 ||
		    (uint32_t)cap->pool + cap->len > UVF_CONFIG_EXT_SPACE)
			return -EINVAL;
	}
	return 0;
}

int uvf__config_layout(const struct uvf_config_desc *desc, struct uvf_config_layout *out)
{
	int ret = check_caps(desc);
	if (ret < 0)
		return ret;
	memset(out, 0, sizeof(*out));

	/* The library's capabilities fit below 0x100 whatever is present:
	 * 0x40 + 8 + 24 + 12 + 60 = 0xa4. */
	uint32_t next = CFG_FIRST_CAP;
	if (desc->pm) {
		out->pm = (uint8_t)next;
		next += PM_CAP_SIZE;
	}
	if (desc->msi_count) {
		out->msi = (uint8_t)next;
		next = (next + msi_cap_size(desc->msi_flags) + 3) & ~3u;
	}
	if (desc->msix.count) {
		out->msix = (uint8_t)next;
		next += MSIX_CAP_SIZE;
	}
	if (desc->pcie.present) {
		out->pcie = (uint8_t)next;
		next += EXP_CAP_SIZE;
	}
	/* an offset asked for: dword aligned, past the capabilities before
	 * it (the chain follows the order of the offsets) */
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		next = (next + 3) & ~3u;
		if (desc->user_caps[i].at) {
			if (desc->user_caps[i].at % 4 || desc->user_caps[i].at < next)
				return -EINVAL;
			next = desc->user_caps[i].at;
		}
		if (next + 2u + desc->user_caps[i].len > CFG_SIZE)
			return -ENOSPC;
		out->user[i] = (uint8_t)next;
		next += 2u + desc->user_caps[i].len;
	}

	next = UVF_CONFIG_EXT_START;
	for (unsigned i = 0; i < desc->nr_ext_caps; i++) {
		next = (next + 3) & ~3u;
		if (desc->ext_caps[i].at) {
			/* the chain starts at 0x100: the first one is there */
			if (desc->ext_caps[i].at % 4 || desc->ext_caps[i].at < next ||
			    (i == 0 && desc->ext_caps[i].at != UVF_CONFIG_EXT_START))
				return -EINVAL;
			next = desc->ext_caps[i].at;
		}
		if (next + EXT_HDR_SIZE + desc->ext_caps[i].len > CFG_EXT_SIZE)
			return -ENOSPC;
		out->ext[i] = (uint16_t)next;
		next += EXT_HDR_SIZE + desc->ext_caps[i].len;
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

static void build_pm(struct uvf_config *cfg, uint8_t off, bool no_soft_reset)
{
	/* No PME, no D1/D2, no aux current: version 3 and the power state. */
	put16(&cfg->image[off + PM_PMC], PM_VERSION);
	put16(&cfg->image[off + PM_PMCSR], no_soft_reset ? PMCSR_NO_SOFT_RESET : 0);
	put16(&cfg->wmask[off + PM_PMCSR], PMCSR_STATE_MASK);
	cfg->pm_offset = off;
	cfg->pm_no_soft_reset = no_soft_reset;
}

static void build_msi(struct uvf_config *cfg, uint8_t off, uint32_t count, uint32_t flags)
{
	uint8_t *cap = &cfg->image[off];
	uint8_t *mask = &cfg->wmask[off];
	unsigned mask_at = msi_mask_at(flags);
	uint16_t ctrl = (uint16_t)(uvf__log2(count) << MSI_CTRL_MMC_SHIFT);

	if (!(flags & UVF_MSI_32BIT))
		ctrl |= MSI_CTRL_64BIT;
	if (mask_at)
		ctrl |= MSI_CTRL_PVM;
	put16(cap + MSI_CONTROL, ctrl);
	put16(mask + MSI_CONTROL, MSI_CTRL_MME_MASK | MSI_CTRL_ENABLE);
	put32(mask + MSI_ADDR_LO, 0xfffffffcu); /* dword aligned */
	if (!(flags & UVF_MSI_32BIT))
		put32(mask + MSI_ADDR_HI, 0xffffffffu);
	put16(mask + msi_data_at(flags), 0xffff);
	if (mask_at)
		put32(mask + mask_at, count == 32 ? 0xffffffffu : (1u << count) - 1);
	cfg->msi_offset = off;
	cfg->msi_count = count;
	cfg->msi_flags = flags;
}

static void build_msix(struct uvf_config *cfg, uint8_t off, const struct uvf_config_msix *msix)
{
	/* Table size is encoded as N - 1; BIR in the low 3 bits. */
	put16(&cfg->image[off + MSIX_CONTROL], (uint16_t)(msix->count - 1));
	put16(&cfg->wmask[off + MSIX_CONTROL], MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	put32(&cfg->image[off + MSIX_TABLE], msix->table_offset | msix->table_bar);
	put32(&cfg->image[off + MSIX_PBA], msix->pba_offset | msix->pba_bar);
	cfg->msix_offset = off;
	cfg->msix_count = msix->count;
}

static void build_pcie(struct uvf_config *cfg, uint8_t off, const struct uvf_config_pcie *pcie)
{
	uint8_t *cap = &cfg->image[off];
	uint8_t *mask = &cfg->wmask[off];
	uint32_t mps = uvf__log2(pcie->max_payload / 128);

	put16(cap + EXP_FLAGS, (uint16_t)(EXP_VERSION | (uint32_t)pcie->port_type << 4));
	put32(cap + EXP_DEVCAP, mps | DEVCAP_L0S_ANY | DEVCAP_L1_ANY | DEVCAP_RBER | (pcie->flr ? DEVCAP_FLR : 0));
	/* Reset values of the spec: relaxed ordering and no snoop enabled,
	 * 128-byte payload, 512-byte read requests. */
	put16(cap + EXP_DEVCTL, DEVCTL_RELAXED | DEVCTL_NOSNOOP | DEVCTL_MRRS_512);
	put16(mask + EXP_DEVCTL, DEVCTL_WRITABLE);
	put16(&cfg->w1cmask[off + EXP_DEVSTA], DEVSTA_RW1C);
	put32(cap + EXP_DEVCAP2, DEVCAP2_CTO_DIS);
	put16(mask + EXP_DEVCTL2, DEVCTL2_CTO_DIS);
	if (pcie->port_type == UVF_PCIE_TYPE_ENDPOINT) {
		/* An integrated endpoint has no link: its link registers
		 * stay reserved (zero). */
		uint32_t width = (uint32_t)pcie->link_width << 4;
		put32(cap + EXP_LNKCAP, pcie->link_speed | width | LNKCAP_ASPM_OPT);
		put16(mask + EXP_LNKCTL, LNKCTL_WRITABLE);
		put16(cap + EXP_LNKSTA, (uint16_t)(pcie->link_speed | width | LNKSTA_SLOT_CLK));
		/* Supported link speeds vector: bit n = speed n. */
		put32(cap + EXP_LNKCAP2, ((1u << pcie->link_speed) - 1) << 1);
		put16(cap + EXP_LNKCTL2, pcie->link_speed);
		put16(mask + EXP_LNKCTL2, LNKCTL2_WRITABLE);
	}
	cfg->pcie_offset = off;
	cfg->pcie_flr = pcie->flr;
}

static void build_ext_caps(struct uvf_config *cfg, const struct uvf_config_desc *desc,
			   const struct uvf_config_layout *lay)
{
	unsigned nr = desc->nr_ext_caps;

	for (unsigned i = 0; i < nr; i++) {
		const struct uvf_config_ext_cap *cap = &desc->ext_caps[i];
		uint16_t off = lay->ext[i];
		uint32_t next = i + 1 < nr ? lay->ext[i + 1] : 0;

		put32(&cfg->image[off], cap->id | (uint32_t)cap->version << 16 | next << 20);
		memcpy(&cfg->image[off + EXT_HDR_SIZE], &desc->ext_body[cap->pool], cap->len);
		memcpy(&cfg->wmask[off + EXT_HDR_SIZE], &desc->ext_writable[cap->pool], cap->len);
		cfg->ext_cap_offset[i] = off;
	}
}

int uvf__config_build(struct uvf_config *cfg, const struct uvf_config_desc *desc)
{
	struct uvf_config_layout lay;
	int ret;

	ret = check_desc(desc);
	if (ret < 0)
		return ret;
	ret = uvf__config_layout(desc, &lay);
	if (ret < 0)
		return ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->size = desc->pcie.present ? CFG_EXT_SIZE : CFG_SIZE;
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

	/* The chain: every capability present, in layout order. */
	uint8_t chain[4 + UVF_CONFIG_MAX_USER_CAPS];
	uint8_t ids[4 + UVF_CONFIG_MAX_USER_CAPS];
	unsigned n = 0;
	const uint8_t lib_off[4] = {lay.pm, lay.msi, lay.msix, lay.pcie};
	static const uint8_t lib_id[4] = {UVF_CAP_ID_PM, UVF_CAP_ID_MSI, UVF_CAP_ID_MSIX, UVF_CAP_ID_EXP};
	for (unsigned i = 0; i < 4; i++) {
		if (lib_off[i]) {
			chain[n] = lib_off[i];
			ids[n++] = lib_id[i];
		}
	}
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		chain[n] = lay.user[i];
		ids[n++] = desc->user_caps[i].id;
	}
	if (n) {
		put16(img + CFG_STATUS, STATUS_CAP_LIST);
		img[CFG_CAP_PTR] = chain[0];
	}
	for (unsigned i = 0; i < n; i++) {
		img[chain[i]] = ids[i];
		img[chain[i] + 1] = i + 1 < n ? chain[i + 1] : 0;
	}

	if (lay.pm)
		build_pm(cfg, lay.pm, desc->pm_no_soft_reset);
	if (lay.msi)
		build_msi(cfg, lay.msi, desc->msi_count, desc->msi_flags);
	if (lay.msix)
		build_msix(cfg, lay.msix, &desc->msix);
	if (lay.pcie)
		build_pcie(cfg, lay.pcie, &desc->pcie);
	for (unsigned i = 0; i < desc->nr_user_caps; i++) {
		const struct uvf_config_user_cap *cap = &desc->user_caps[i];
		uint8_t off = lay.user[i];

		memcpy(&img[off + 2], cap->body, cap->len);
		memcpy(&cfg->wmask[off + 2], cap->writable, cap->len);
		cfg->user_cap_offset[i] = off;
	}
	build_ext_caps(cfg, desc, &lay);

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

/* The MSI mask register, 0 without per-vector masking. */
static uint32_t msi_mask_bits(const struct uvf_config *cfg)
{
	unsigned at = msi_mask_at(cfg->msi_flags);
	return (cfg->msi_offset && at) ? get32(&cfg->image[cfg->msi_offset + at]) : 0;
}

static uint16_t msix_control(const struct uvf_config *cfg)
{
	return cfg->msix_offset ? get16(&cfg->image[cfg->msix_offset + MSIX_CONTROL]) : 0;
}

static uint16_t power_state_bits(const struct uvf_config *cfg)
{
	return cfg->pm_offset ? get16(&cfg->image[cfg->pm_offset + PM_PMCSR]) & PMCSR_STATE_MASK : 0;
}

/* Register fix-ups after the masks were applied: values the function does
 * not support are replaced by ones it does. */
static void fix_up(struct uvf_config *cfg, uint16_t old_power)
{
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
	if (cfg->pm_offset) {
		/* D1 and D2 are not supported: such a write completes but
		 * the state does not change (PCI PM 1.2, 5.4.1). */
		uint8_t *pmcsr = &cfg->image[cfg->pm_offset + PM_PMCSR];
		uint16_t state = get16(pmcsr) & PMCSR_STATE_MASK;
		if (state != PM_STATE_D0 && state != PM_STATE_D3HOT)
			put16(pmcsr, (uint16_t)((get16(pmcsr) & ~PMCSR_STATE_MASK) | old_power));
	}
	if (cfg->pcie_offset) {
		/* Max payload beyond the supported size: the largest supported. */
		uint8_t *devctl = &cfg->image[cfg->pcie_offset + EXP_DEVCTL];
		uint16_t mps = (get16(devctl) & DEVCTL_MPS_MASK) >> DEVCTL_MPS_SHIFT;
		uint16_t max = get32(&cfg->image[cfg->pcie_offset + EXP_DEVCAP]) & DEVCAP_MPS_MASK;
		if (mps > max)
			put16(devctl, (uint16_t)((get16(devctl) & ~DEVCTL_MPS_MASK) | (max << DEVCTL_MPS_SHIFT)));
	}
}

void uvf__config_write(struct uvf_config *cfg, uint32_t offset, const void *buf, size_t len,
		       struct uvf_config_effects *fx)
{
	const uint8_t *src = buf;
	size_t n = clamp_len(offset, len);
	uint16_t old_cmd = uvf__config_command(cfg);
	uint16_t old_msi_ctrl = cfg->msi_offset ? msi_control(cfg) : 0;
	uint32_t old_msi_mask = msi_mask_bits(cfg);
	uint16_t old_msix_ctrl = msix_control(cfg);
	uint16_t old_power = power_state_bits(cfg);
	/* "Initiate FLR" is a write-only trigger: never stored, reads 0. */
	uint32_t flr_at = cfg->pcie_offset + EXP_DEVCTL + 1;
	bool flr = false;

	for (size_t i = 0; i < n; i++) {
		uint32_t at = offset + (uint32_t)i;
		uint8_t wm = cfg->wmask[at];
		uint8_t v = (uint8_t)((cfg->image[at] & ~wm) | (src[i] & wm));

		cfg->image[at] = (uint8_t)(v & ~(src[i] & cfg->w1cmask[at]));
		if (cfg->pcie_flr && at == flr_at && (src[i] & DEVCTL_FLR_BYTE))
			flr = true;
	}
	fix_up(cfg, old_power);

	if (!fx)
		return;
	memset(fx, 0, sizeof(*fx));
	fx->old_command = old_cmd;
	fx->new_command = uvf__config_command(cfg);
	fx->command_changed = fx->old_command != fx->new_command;
	if (cfg->msi_offset)
		fx->msi_changed = old_msi_ctrl != msi_control(cfg) || old_msi_mask != msi_mask_bits(cfg);
	fx->msix_changed = old_msix_ctrl != msix_control(cfg);
	fx->bar_changed = overlaps(offset, n, CFG_BAR0, CFG_BAR_END) || overlaps(offset, n, CFG_ROM, CFG_ROM + 4);
	uint16_t power = power_state_bits(cfg);
	fx->power_changed = power != old_power;
	fx->pm_reset = old_power == PM_STATE_D3HOT && power == PM_STATE_D0 && !cfg->pm_no_soft_reset;
	fx->flr = flr;
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
	return (msi_mask_bits(cfg) >> v) & 1;
}

void uvf__config_set_msi_pending(struct uvf_config *cfg, uint32_t v, bool pending)
{
	unsigned mask_at = msi_mask_at(cfg->msi_flags);

	if (!cfg->msi_offset || !mask_at || v >= cfg->msi_count)
		return;
	uint8_t *p = &cfg->image[cfg->msi_offset + mask_at + 4];
	uint32_t bits = get32(p);
	bits = pending ? bits | (1u << v) : bits & ~(1u << v);
	put32(p, bits);
}

bool uvf__config_msix_enabled(const struct uvf_config *cfg)
{
	return msix_control(cfg) & MSIX_CTRL_ENABLE;
}

bool uvf__config_msix_function_masked(const struct uvf_config *cfg)
{
	return msix_control(cfg) & MSIX_CTRL_MASKALL;
}

unsigned uvf__config_power_state(const struct uvf_config *cfg)
{
	return power_state_bits(cfg);
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

uint32_t uvf__config_find_cap(const struct uvf_config *cfg, uint8_t id)
{
	/* Our own chain, but bounded anyway: at most 48 capabilities fit. */
	uint32_t at = cfg->image[CFG_CAP_PTR] & ~3u;
	for (unsigned hops = 0; at >= CFG_FIRST_CAP && at < CFG_SIZE && hops < 48; hops++) {
		if (cfg->image[at] == id)
			return at;
		at = cfg->image[at + 1] & ~3u;
	}
	return 0;
}

uint32_t uvf__config_find_ext_cap(const struct uvf_config *cfg, uint16_t id)
{
	uint32_t at = UVF_CONFIG_EXT_START;
	if (cfg->size <= at)
		return 0;
	for (unsigned hops = 0; at >= UVF_CONFIG_EXT_START && at + EXT_HDR_SIZE <= cfg->size && hops < 960; hops++) {
		uint32_t hdr = get32(&cfg->image[at]);
		if (hdr == 0)
			return 0;
		if ((hdr & 0xffff) == id)
			return at;
		at = (hdr >> 20) & ~3u;
	}
	return 0;
}
