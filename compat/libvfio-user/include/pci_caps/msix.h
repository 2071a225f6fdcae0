/* SPDX-License-Identifier: MIT */
/* pci_caps/msix.h - MSI-X capability (12 bytes). */
#ifndef LIB_VFIO_USER_PCI_CAPS_MSIX_H
#define LIB_VFIO_USER_PCI_CAPS_MSIX_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message Control. */
struct mxc {
	uint16_t ts : 11; /* table size - 1 */
	uint16_t reserved : 3;
	uint16_t fm : 1;  /* function mask */
	uint16_t mxe : 1; /* enable */
} __attribute__((packed));

/* Table offset and BAR indicator. */
struct mtab {
	uint32_t tbir : 3;
	uint32_t to : 29; /* offset >> 3 */
} __attribute__((packed));

/* Pending bit array offset and BAR indicator. */
struct mpba {
	uint32_t pbir : 3;
	uint32_t pbao : 29; /* offset >> 3 */
} __attribute__((packed));

struct msixcap {
	struct cap_hdr hdr;
	struct mxc mxc;
	struct mtab mtab;
	struct mpba mpba;
} __attribute__((packed)) __attribute__((aligned(4)));

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_PCI_CAPS_MSIX_H */
