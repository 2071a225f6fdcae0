/* SPDX-License-Identifier: MIT */
/*
 * pci_defs.h - the PCI type 0 configuration header as the libvfio-user
 * compatible API lays it out (vfu_pci_get_config_space()).
 */
#ifndef LIBVFIO_USER_PCI_DEFS_H
#define LIBVFIO_USER_PCI_DEFS_H

#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef union {
	uint32_t raw;
	struct {
		uint16_t vid; /* subsystem vendor */
		uint16_t sid; /* subsystem */
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_ss_t;

typedef union {
	uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_bist_t;

typedef union {
	uint32_t raw;
	union {
		struct {
			unsigned int region_type : 1; /* 0: memory */
			unsigned int locatable : 2;   /* 2: 64-bit */
			unsigned int prefetchable : 1;
			unsigned int base_address : 28;
		} __attribute__((packed)) mem;
		struct {
			unsigned int region_type : 1; /* 1: I/O */
			unsigned int reserved : 1;
			unsigned int base_address : 30;
		} __attribute__((packed)) io;
	} __attribute__((packed));
} __attribute__((packed)) vfu_bar_t;

typedef union {
	uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_htype_t;

typedef union {
	uint8_t raw[3];
	struct {
		uint8_t pi;  /* programming interface */
		uint8_t scc; /* sub-class */
		uint8_t bcc; /* base class */
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cc_t;

typedef union {
	uint16_t raw;
	struct {
		unsigned int res1 : 3;
		unsigned int is : 1;  /* interrupt status */
		unsigned int cl : 1;  /* capability list */
		unsigned int c66 : 1;
		unsigned int res2 : 1;
		unsigned int fbc : 1;
		unsigned int dpd : 1;
		unsigned int devt : 2;
		unsigned int sta : 1;
		unsigned int rta : 1;
		unsigned int rma : 1;
		unsigned int sse : 1;
		unsigned int dpe : 1;
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_sts_t;

typedef union {
	uint16_t raw;
	struct {
		uint8_t iose : 1; /* I/O space */
		uint8_t mse : 1;  /* memory space */
		uint8_t bme : 1;  /* bus master */
		uint8_t sce : 1;
		uint8_t mwie : 1;
		uint8_t vga : 1;
		uint8_t pee : 1;
		uint8_t zero : 1;
		uint8_t see : 1;
		uint8_t fbe : 1;
		uint8_t id : 1; /* INTx disable */
		uint8_t res1 : 5;
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cmd_t;

typedef union {
	uint32_t raw;
	struct {
		uint16_t vid;
		uint16_t did;
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_id_t;

typedef union {
	uint16_t raw;
	struct {
		uint8_t iline;
		uint8_t ipin;
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_intr_t;

#define PCI_BARS_NR 6

typedef union {
	uint8_t raw[PCI_STD_HEADER_SIZEOF];
	struct {
		vfu_pci_hdr_id_t id;
		vfu_pci_hdr_cmd_t cmd;
		vfu_pci_hdr_sts_t sts;
		uint8_t rid;
		vfu_pci_hdr_cc_t cc;
		uint8_t cls;
		uint8_t mlt;
		vfu_pci_hdr_htype_t htype;
		vfu_pci_hdr_bist_t bist;
		vfu_bar_t bars[PCI_BARS_NR];
		uint32_t ccptr;
		vfu_pci_hdr_ss_t ss;
		uint32_t erom;
		uint8_t cap;
		uint8_t res1[7];
		vfu_pci_hdr_intr_t intr;
		uint8_t mgnt;
		uint8_t mlat;
	} __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_t;

/* 256 bytes, followed by the extended space of a PCI Express function. */
typedef struct {
	union {
		uint8_t raw[PCI_CFG_SPACE_SIZE];
		vfu_pci_hdr_t hdr;
	} __attribute__((packed));
	uint8_t extended[];
} __attribute__((packed)) vfu_pci_config_space_t;

#ifdef __cplusplus
}
#endif

#endif /* LIBVFIO_USER_PCI_DEFS_H */
