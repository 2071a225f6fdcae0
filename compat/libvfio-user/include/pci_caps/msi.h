/* SPDX-License-Identifier: MIT */
/* pci_caps/msi.h - MSI capability (24 bytes: 64-bit, per-vector masking). */
#ifndef LIB_VFIO_USER_PCI_CAPS_MSI_H
#define LIB_VFIO_USER_PCI_CAPS_MSI_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message Control. */
struct mc {
	unsigned int msie : 1; /* enable */
	unsigned int mmc : 3;  /* vectors offered, log2 */
	unsigned int mme : 3;  /* vectors enabled, log2 */
	unsigned int c64 : 1;  /* 64-bit addresses */
	unsigned int pvm : 1;  /* per-vector masking */
	unsigned int res1 : 7;
} __attribute__((packed));

/* Message Address (low dword). */
struct ma {
	unsigned int res1 : 2;
	unsigned int addr : 30;
} __attribute__((packed));

struct msicap {
	struct cap_hdr hdr;
	struct mc mc;
	struct ma ma;
	uint32_t mua; /* upper address */
	uint16_t md;  /* data */
	uint16_t padding;
	uint32_t mmask; /* mask bits */
	uint32_t mpend; /* pending bits */
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_PCI_CAPS_MSI_H */
