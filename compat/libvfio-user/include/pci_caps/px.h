/* SPDX-License-Identifier: MIT */
/*
 * pci_caps/px.h - PCI Express capability (60 bytes). Registers the library
 * gives meaning to have named bits; the others are opaque words.
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_PX_H
#define LIB_VFIO_USER_PCI_CAPS_PX_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PCI Express Capabilities register. */
struct pxcaps {
	uint16_t ver : 4; /* capability version */
	uint16_t dpt : 4; /* device/port type */
	uint16_t si : 1;  /* slot implemented */
	uint16_t imn : 5; /* interrupt message number */
	uint16_t res1 : 2;
} __attribute__((packed));

/* Device Capabilities. */
struct pxdcap {
	uint32_t mps : 3;  /* max payload size supported */
	uint32_t pfs : 2;  /* phantom functions */
	uint32_t etfs : 1; /* extended tag field */
	uint32_t l0sl : 3;
	uint32_t l1l : 3;
	uint32_t res1 : 3;
	uint32_t rer : 1; /* role-based error reporting */
	uint32_t res2 : 2;
	uint32_t csplv : 8; /* captured slot power limit value */
	uint32_t cspls : 2; /* ... and scale */
	uint32_t flrc : 1;  /* function level reset capable */
	uint32_t res3 : 3;
} __attribute__((packed));

/* Device Control. */
union pxdc {
	uint16_t raw;
	struct {
		uint16_t cere : 1;  /* correctable error reporting */
		uint16_t nfere : 1; /* non-fatal error reporting */
		uint16_t fere : 1;  /* fatal error reporting */
		uint16_t urre : 1;  /* unsupported request reporting */
		uint16_t ero : 1;   /* relaxed ordering */
		uint16_t mps : 3;   /* max payload size */
		uint16_t ete : 1;   /* extended tag */
		uint16_t pfe : 1;   /* phantom functions */
		uint16_t appme : 1; /* aux power PM */
		uint16_t ens : 1;   /* no snoop */
		uint16_t mrrs : 3;  /* max read request size */
		uint16_t iflr : 1;  /* initiate function level reset */
	};
} __attribute__((packed));

struct pxds { uint16_t stuff : 16; } __attribute__((packed));
struct pxlcap { uint32_t stuff : 32; } __attribute__((packed));

/* Link Control. */
union pxlc {
	uint16_t raw;
	struct {
		uint16_t aspmc : 2;
		uint16_t rsvdp1 : 1;
		uint16_t rcb : 1;
		uint16_t ld : 1;
		uint16_t rl : 1;
		uint16_t ccc : 1;
		uint16_t es : 1;
		uint16_t clkreq_en : 1;
		uint16_t hawd : 1;
		uint16_t lbmie : 1;
		uint16_t labie : 1;
		uint16_t rsvdp2 : 4;
	};
} __attribute__((packed));

struct pxls { uint16_t stuff : 16; } __attribute__((packed));
struct pxscap { uint32_t stuff : 32; } __attribute__((packed));
struct pxsc { uint16_t stuff : 16; } __attribute__((packed));
struct pxss { uint16_t stuff : 16; } __attribute__((packed));
struct pxrc { uint16_t stuff : 16; } __attribute__((packed));
struct pxrcap { uint16_t stuff : 16; } __attribute__((packed));
struct pxrs { uint32_t stuff : 32; } __attribute__((packed));

/* Device Capabilities 2. */
struct pxdcap2 {
	uint32_t ctrs : 4;
	uint32_t ctds : 1;
	uint32_t arifs : 1;
	uint32_t aors : 1;
	uint32_t aocs32 : 1;
	uint32_t aocs64 : 1;
	uint32_t ccs128 : 1;
	uint32_t nprpr : 1;
	uint32_t ltrs : 1;
	uint32_t tphcs : 2;
	uint32_t obffs : 2;
	uint32_t effs : 1;
	uint32_t eetps : 1;
	uint32_t meetp : 2;
	uint32_t res1 : 8;
} __attribute__((packed));

/* Device Control 2. */
union pxdc2 {
	uint16_t raw;
	struct {
		uint16_t comp_timeout : 4;
		uint16_t comp_timout_dis : 1;
		uint16_t ari : 1;
		uint16_t atomic_req : 1;
		uint16_t atomic_egress_block : 1;
		uint16_t ido_req_en : 1;
		uint16_t ido_cmp_en : 1;
		uint16_t ltr_en : 1;
		uint16_t obff_en : 2;
		uint16_t end_end_tlp_prefix_block : 1;
	};
} __attribute__((packed));

struct pxds2 { uint16_t stuff : 16; } __attribute__((packed));
struct pxlcap2 { uint32_t stuff : 32; } __attribute__((packed));
struct pxlc2 { uint16_t stuff : 16; } __attribute__((packed));
struct pxls2 { uint16_t stuff : 16; } __attribute__((packed));
struct pxscap2 { uint32_t stuff : 32; } __attribute__((packed));
struct pxsc2 { uint16_t stuff : 16; } __attribute__((packed));
struct pxss2 { uint16_t stuff : 16; } __attribute__((packed));

#define VFIO_USER_PCI_CAP_EXP_SIZEOF (0x3c)

struct pxcap {
	struct cap_hdr hdr;
	struct pxcaps pxcaps;
	struct pxdcap pxdcap;
	union pxdc pxdc;
	struct pxds pxds;
	struct pxlcap pxlcap;
	union pxlc pxlc;
	struct pxls pxls;
	struct pxscap pxscap;
	struct pxsc pxsc;
	struct pxss pxss;
	struct pxrc pxrc;
	struct pxrcap pxrcap;
	struct pxrs pxrs;
	struct pxdcap2 pxdcap2;
	union pxdc2 pxdc2;
	struct pxds2 pxds2;
	struct pxlcap2 pxlcap2;
	struct pxlc2 pxlc2;
	struct pxls2 pxls2;
	struct pxscap2 pxscap2;
	struct pxsc2 pxsc2;
	struct pxss2 pxss2;
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_PCI_CAPS_PX_H */
