/* SPDX-License-Identifier: MIT */
/*
 * pci_caps/common.h - capability headers shared by every PCI capability
 * layout of the libvfio-user compatible API (uvf's compat library).
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_COMMON_H
#define LIB_VFIO_USER_PCI_CAPS_COMMON_H

#include <linux/pci_regs.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The two bytes that open a conventional capability. */
struct cap_hdr {
	uint8_t id;
	uint8_t next; /* filled in by the library */
} __attribute__((packed));

/* Vendor-specific capability: size counts the header and itself. */
struct vsc {
	struct cap_hdr hdr;
	uint8_t size;
	uint8_t data[];
} __attribute__((packed));

/* The 32-bit header of an extended (PCI Express) capability. */
struct pcie_ext_cap_hdr {
	uint32_t id : 16;
	uint32_t version : 4;
	uint32_t next : 12; /* filled in by the library */
} __attribute__((packed));

/* Vendor-specific extended capability. */
struct pcie_ext_cap_vsc_hdr {
	struct pcie_ext_cap_hdr hdr;
	uint32_t id : 16;
	uint32_t rev : 4;
	uint32_t len : 12; /* bytes, headers included */
	uint8_t data[];
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_PCI_CAPS_COMMON_H */
