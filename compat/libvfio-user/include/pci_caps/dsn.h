/* SPDX-License-Identifier: MIT */
/* pci_caps/dsn.h - Device Serial Number extended capability (12 bytes). */
#ifndef LIB_VFIO_USER_PCI_CAPS_DSN_H
#define LIB_VFIO_USER_PCI_CAPS_DSN_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dsncap {
	struct pcie_ext_cap_hdr hdr;
	uint32_t sn_lo;
	uint32_t sn_hi;
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_PCI_CAPS_DSN_H */
