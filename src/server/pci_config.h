/* SPDX-License-Identifier: MIT */
/*
 * Emulated PCI configuration space of a type-0 function (internal).
 *
 * Pure state machine: no I/O, no logging. It owns a 256-byte (or 4096-byte)
 * image plus per-byte write masks and write-1-to-clear masks, and applies
 * the rules a guest's PCI enumeration depends on:
 *  - vendor/device/class/revision/subsystem, header type: read-only;
 *  - command register: memory/I/O decode, bus master, SERR, INTx disable
 *    writable (only those bits that make sense for the BARs present);
 *  - status register: capability-list bit set when caps exist, interrupt
 *    status bit driven by the library (uvf__config_set_intx_status), error
 *    bits write-1-to-clear;
 *  - BARs: writing all ones then reading back returns the size mask with
 *    the type bits (I/O bit 0; memory: 64-bit type 0b10 in bits 2:1,
 *    prefetchable bit 3); the upper half of a 64-bit BAR holds the high
 *    address bits and sizes correctly; absent BARs read 0 and ignore
 *    writes; the programmed address is kept (low bits masked by size);
 *  - expansion ROM BAR at 0x30: size mask, enable bit 0, or 0 without ROM;
 *  - interrupt line writable, interrupt pin 1 (INTA) when INTx is present;
 *  - capability pointer at 0x34 and a chain starting at 0x40 with the
 *    library's capabilities in a fixed order (those present of: Power
 *    Management, MSI, MSI-X, PCI Express), then the user capabilities in
 *    order, each 4-byte aligned, with their writable masks;
 *  - Power Management (version 3): power state D0/D3hot writable (D1/D2
 *    writes are discarded), No_Soft_Reset as described;
 *  - MSI: 64-bit or 32-bit address, with or without per-vector masking;
 *    control enable bit and multiple-message-enable writable (MME clamped
 *    to MMC), address/data/mask writable, pending read-only;
 *  - MSI-X: table size, table and PBA location read-only; enable and
 *    function mask writable (the table itself lives in a BAR: msix.h);
 *  - PCI Express (version 2, endpoint or root-complex integrated
 *    endpoint): device control enables/payload/read request writable (max
 *    payload clamped to the supported size), device status error bits
 *    write-1-to-clear, FLR reported as an effect and reading 0, link
 *    registers reporting a fixed speed/width (zero for an integrated
 *    endpoint, which has no link);
 *  - with PCI Express, 4096 bytes and an extended capability chain from
 *    0x100 (a zero header when there are no extended capabilities).
 */
#ifndef UVF_SERVER_PCI_CONFIG_H
#define UVF_SERVER_PCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/server.h"

#define UVF_CONFIG_MAX_USER_CAPS 16
#define UVF_CONFIG_MAX_EXT_CAPS	 16
#define UVF_CONFIG_EXT_START	 0x100u
#define UVF_CONFIG_EXT_SPACE	 (4096u - UVF_CONFIG_EXT_START)
#define UVF_CONFIG_MSIX_MAX	 2048u

/* Capability ids the library builds itself. */
#define UVF_CAP_ID_PM	0x01
#define UVF_CAP_ID_MSI	0x05
#define UVF_CAP_ID_VNDR 0x09
#define UVF_CAP_ID_EXP	0x10
#define UVF_CAP_ID_MSIX 0x11

struct uvf_config_bar {
	uint64_t size;  /* 0 = absent; power of two */
	uint32_t flags; /* UVF_BAR_IO / UVF_BAR_64BIT / UVF_BAR_PREFETCH */
};

struct uvf_config_user_cap {
	uint8_t id;
	uint8_t len;             /* bytes after the 2-byte header, <= 254 */
	uint8_t body[254];
	uint8_t writable[254];   /* bit mask, same length */
	uint8_t at;              /* config space offset asked for, 0 = the next free one */
};

struct uvf_config_msix {
	uint32_t count;          /* 0 = no MSI-X capability, else 1..2048 */
	uint8_t table_bar;       /* BAR index (BIR) of the table */
	uint8_t pba_bar;         /* BAR index of the pending bit array */
	uint32_t table_offset;   /* 8-byte aligned, inside the BAR */
	uint32_t pba_offset;
};

struct uvf_config_pcie {
	bool present;
	uint8_t port_type;       /* UVF_PCIE_TYPE_ENDPOINT or _RC_ENDPOINT */
	uint16_t max_payload;    /* supported, bytes: 128..4096 */
	bool flr;                /* function level reset offered */
	uint8_t link_speed;      /* 1 = 2.5 GT/s .. 5 = 32 GT/s */
	uint8_t link_width;      /* lanes: 1, 2, 4, 8, 12, 16, 32 */
};

struct uvf_config_ext_cap {
	uint16_t id;
	uint8_t version;         /* 0..15 */
	uint16_t len;            /* bytes after the 4-byte header */
	uint16_t pool;           /* start of body/mask in ext_body/ext_writable */
	uint16_t at;             /* offset asked for, 0 = the next free one */
};

struct uvf_config_desc {
	struct uvf_pci_ids ids;
	struct uvf_config_bar bars[6]; /* upper half of a 64-bit BAR: size 0 */
	uint64_t rom_size;             /* 0 = no ROM */
	bool intx;                     /* interrupt pin INTA */
	uint32_t msi_count;            /* 0, 1, 2, 4, 8, 16, 32 */
	uint32_t msi_flags;            /* UVF_MSI_32BIT | UVF_MSI_NO_MASK */
	bool pm;                       /* Power Management capability */
	bool pm_no_soft_reset;
	struct uvf_config_msix msix;
	struct uvf_config_pcie pcie;
	unsigned nr_user_caps;
	struct uvf_config_user_cap user_caps[UVF_CONFIG_MAX_USER_CAPS];
	unsigned nr_ext_caps;
	struct uvf_config_ext_cap ext_caps[UVF_CONFIG_MAX_EXT_CAPS];
	uint16_t ext_pool_used;
	uint8_t ext_body[UVF_CONFIG_EXT_SPACE];
	uint8_t ext_writable[UVF_CONFIG_EXT_SPACE];
};

/* Where uvf__config_build puts each capability (0 = absent). */
struct uvf_config_layout {
	uint8_t pm, msi, msix, pcie;
	uint8_t user[UVF_CONFIG_MAX_USER_CAPS];
	uint16_t ext[UVF_CONFIG_MAX_EXT_CAPS];
};

struct uvf_config {
	uint32_t size;        /* 256, or 4096 with PCI Express */
	uint8_t image[4096];
	uint8_t wmask[4096];  /* writable bits */
	uint8_t w1cmask[4096];/* write-1-to-clear bits */
	uint8_t initial[4096];/* image right after build, for reset */
	uint64_t bar_size[6];
	uint32_t bar_flags[6];
	uint64_t rom_size;
	uint8_t msi_offset;   /* 0 = no MSI capability */
	uint32_t msi_count;
	uint32_t msi_flags;
	uint8_t pm_offset;    /* 0 = no Power Management capability */
	bool pm_no_soft_reset;
	uint8_t msix_offset;  /* 0 = no MSI-X capability */
	uint32_t msix_count;
	uint8_t pcie_offset;  /* 0 = no PCI Express capability */
	bool pcie_flr;
	uint8_t user_cap_offset[UVF_CONFIG_MAX_USER_CAPS];
	uint16_t ext_cap_offset[UVF_CONFIG_MAX_EXT_CAPS];
};

/* What a config write changed, for the server to act on. */
struct uvf_config_effects {
	bool command_changed;
	uint16_t old_command, new_command;
	bool msi_changed;   /* MSI control, or the mask register, changed */
	bool msix_changed;  /* MSI-X enable or function mask changed */
	bool bar_changed;   /* a BAR or the ROM BAR register was written */
	bool power_changed; /* the PM power state changed */
	bool pm_reset;      /* D3hot -> D0 without No_Soft_Reset: reset the function */
	bool flr;           /* PCI Express "initiate FLR" was written with 1 */
};

/* Lay out the capabilities of desc and check that they are consistent
 * (ids that clash with the library's, counts, MSI-X table placement, PCI
 * Express options, extended capabilities without PCI Express). -EINVAL,
 * -ENOSPC when they do not fit. */
int uvf__config_layout(const struct uvf_config_desc *desc, struct uvf_config_layout *out);

/* Check an MSI-X description against the BARs it names: -EINVAL unless
 * the count is 1..2048, both BARs are present memory BARs, offsets are
 * 8-byte aligned, table and PBA lie inside their BARs and do not overlap. */
int uvf__config_check_msix(const struct uvf_config_msix *msix, const struct uvf_config_bar bars[6]);

/* Check PCI Express options: -EINVAL for an unknown port type, payload,
 * speed or width. */
int uvf__config_check_pcie(const struct uvf_config_pcie *pcie);

/* Build the initial image. -EINVAL for an inconsistent description (e.g.
 * 64-bit BAR at index 5, vendor id 0 or 0xffff, a size that is not a power
 * of two, memory BAR < 16 bytes, I/O BAR outside 4..256, ROM < 2 KiB, a
 * user capability with the id of one the library builds), -ENOSPC when
 * capabilities do not fit. cfg is left untouched on error. */
int uvf__config_build(struct uvf_config *cfg, const struct uvf_config_desc *desc);

/* Read len bytes at offset; caller guarantees offset + len <= cfg->size. */
void uvf__config_read(const struct uvf_config *cfg, uint32_t offset, void *buf, size_t len);

/* Apply a write of len bytes at offset (any alignment, any length: applied
 * byte by byte through the masks, but BAR sizing semantics hold for whole
 * and partial BAR writes). Caller guarantees offset + len <= cfg->size.
 * fx may be NULL. */
void uvf__config_write(struct uvf_config *cfg, uint32_t offset, const void *buf, size_t len,
		       struct uvf_config_effects *fx);

/* Reset writable state to the values of a fresh build (command 0, BARs 0,
 * MSI/MSI-X disabled, D0, interrupt line 0), as after a device reset. */
void uvf__config_reset(struct uvf_config *cfg);

/* Accessors used by the server. */
uint16_t uvf__config_command(const struct uvf_config *cfg);
void uvf__config_set_intx_status(struct uvf_config *cfg, bool asserted);
bool uvf__config_msi_enabled(const struct uvf_config *cfg);
/* Number of MSI vectors the guest enabled (1 << MME), 0 when disabled. */
uint32_t uvf__config_msi_enabled_vectors(const struct uvf_config *cfg);
/* Whether MSI vector v is masked by the per-vector mask register. Vectors
 * at or beyond the capability's count (or without MSI) count as masked;
 * without per-vector masking, no vector below the count is. */
bool uvf__config_msi_vector_masked(const struct uvf_config *cfg, uint32_t v);
/* Set or clear the pending bit of MSI vector v (read-only for the guest);
 * ignored without MSI, without per-vector masking or for v beyond the
 * count. */
void uvf__config_set_msi_pending(struct uvf_config *cfg, uint32_t v, bool pending);
/* MSI-X enable and function mask bits (false without MSI-X). */
bool uvf__config_msix_enabled(const struct uvf_config *cfg);
bool uvf__config_msix_function_masked(const struct uvf_config *cfg);
/* PM power state: 0 (D0) or 3 (D3hot); 0 without the capability. */
unsigned uvf__config_power_state(const struct uvf_config *cfg);
/* Programmed base address of a BAR (without type bits), 64-bit for pairs. */
uint64_t uvf__config_bar_address(const struct uvf_config *cfg, unsigned index);
/* Offset of standard capability id (first match), or 0. */
uint32_t uvf__config_find_cap(const struct uvf_config *cfg, uint8_t id);
/* Offset of extended capability id (first match), or 0. */
uint32_t uvf__config_find_ext_cap(const struct uvf_config *cfg, uint16_t id);

#endif /* UVF_SERVER_PCI_CONFIG_H */
