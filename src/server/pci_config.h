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
 *  - capability pointer at 0x34 and a chain starting at 0x40: MSI (added
 *    by uvf__config_build when msi_count > 0: 64-bit, per-vector masking,
 *    multiple message capable = log2(count)), then the user capabilities in
 *    order, each 4-byte aligned, with their writable masks;
 *  - MSI: control enable bit and multiple-message-enable writable (MME
 *    clamped to MMC), address/data/mask writable, pending read-only.
 */
#ifndef UVF_SERVER_PCI_CONFIG_H
#define UVF_SERVER_PCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/server.h"

#define UVF_CONFIG_MAX_USER_CAPS 16

struct uvf_config_bar {
	uint64_t size;  /* 0 = absent; power of two */
	uint32_t flags; /* UVF_BAR_IO / UVF_BAR_64BIT / UVF_BAR_PREFETCH */
};

struct uvf_config_user_cap {
	uint8_t id;
	uint8_t len;             /* bytes after the 2-byte header, <= 254 */
	uint8_t body[254];
	uint8_t writable[254];   /* bit mask, same length */
};

struct uvf_config_desc {
	struct uvf_pci_ids ids;
	struct uvf_config_bar bars[6]; /* upper half of a 64-bit BAR: size 0 */
	uint64_t rom_size;             /* 0 = no ROM */
	bool intx;                     /* interrupt pin INTA */
	uint32_t msi_count;            /* 0, 1, 2, 4, 8, 16, 32 */
	unsigned nr_user_caps;
	struct uvf_config_user_cap user_caps[UVF_CONFIG_MAX_USER_CAPS];
};

struct uvf_config {
	uint32_t size;        /* 256 */
	uint8_t image[4096];
	uint8_t wmask[4096];  /* writable bits */
	uint8_t w1cmask[4096];/* write-1-to-clear bits */
	uint8_t initial[4096];/* image right after build, for reset */
	uint64_t bar_size[6];
	uint32_t bar_flags[6];
	uint64_t rom_size;
	uint8_t msi_offset;   /* 0 = no MSI capability */
	uint32_t msi_count;
	uint8_t user_cap_offset[UVF_CONFIG_MAX_USER_CAPS];
};

/* What a config write changed, for the server to act on. */
struct uvf_config_effects {
	bool command_changed;
	uint16_t old_command, new_command;
	bool msi_changed;  /* MSI control, or the mask register, changed */
	bool bar_changed;  /* a BAR or the ROM BAR register was written */
};

/* Build the initial image. -EINVAL for an inconsistent description (e.g.
 * 64-bit BAR at index 5, vendor id 0 or 0xffff, a size that is not a power
 * of two, memory BAR < 16 bytes, I/O BAR outside 4..256, ROM < 2 KiB, a
 * user MSI capability next to the library's own), -ENOSPC when capabilities
 * do not fit. cfg is left untouched on error. */
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
 * MSI disabled, interrupt line 0), as after a device reset. */
void uvf__config_reset(struct uvf_config *cfg);

/* Accessors used by the server. */
uint16_t uvf__config_command(const struct uvf_config *cfg);
void uvf__config_set_intx_status(struct uvf_config *cfg, bool asserted);
bool uvf__config_msi_enabled(const struct uvf_config *cfg);
/* Number of MSI vectors the guest enabled (1 << MME), 0 when disabled. */
uint32_t uvf__config_msi_enabled_vectors(const struct uvf_config *cfg);
/* Whether MSI vector v is masked by the per-vector mask register. Vectors
 * at or beyond the capability's count (or without MSI) count as masked. */
bool uvf__config_msi_vector_masked(const struct uvf_config *cfg, uint32_t v);
/* Set or clear the pending bit of MSI vector v (read-only for the guest);
 * ignored without MSI or for v beyond the count. */
void uvf__config_set_msi_pending(struct uvf_config *cfg, uint32_t v, bool pending);
/* Programmed base address of a BAR (without type bits), 64-bit for pairs. */
uint64_t uvf__config_bar_address(const struct uvf_config *cfg, unsigned index);

#endif /* UVF_SERVER_PCI_CONFIG_H */
