/* SPDX-License-Identifier: MIT */
/*
 * uvf-lspci decoding: turns a snapshot of a vfio-user device (config space,
 * region sizes, IRQ infos, VERSION capabilities) into the text `lspci -vv`
 * prints for a PCI function. No I/O besides writing to the given stream and
 * the optional pci.ids look-up, so the unit tests feed it hand-made config
 * spaces, including hostile ones.
 *
 * Everything in a snapshot comes from the server and is untrusted: every
 * config space access goes through the bounds-checked accessors below.
 */
#ifndef UVF_TOOLS_LSPCI_H
#define UVF_TOOLS_LSPCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uvf/client.h"

#define LSPCI_MAX_REGIONS 16u /* regions shown; the rest is counted */
#define LSPCI_MAX_IRQS	  8u

struct lspci_device {
	uint8_t config[UVF_PCIE_CONFIG_SIZE];
	uint32_t config_size; /* bytes of config[] read from the device: 64..4096 */
	uint64_t bar_size[6]; /* REGION_INFO sizes; 0 = absent or upper half of a 64-bit BAR */
	uint64_t rom_size;

	/* The vfio-user view, printed with -v; unused when has_vfio is false. */
	bool has_vfio;
	struct uvf_server_caps caps;
	struct uvf_msg_device_info info;
	uint32_t nr_regions; /* entries of regions[] filled (<= LSPCI_MAX_REGIONS) */
	struct uvf_client_region regions[LSPCI_MAX_REGIONS];
	uint32_t nr_irqs; /* entries of irqs[] filled (<= LSPCI_MAX_IRQS) */
	struct uvf_msg_irq_info irqs[LSPCI_MAX_IRQS];
};

struct lspci_opts {
	int verbose;	      /* 0, 1 (-v), 2 (-vv), 3 or more (-vvv) */
	int hex;	      /* 0; 1-2 (-x): 64 bytes; 3 (-xxx): 256; 4+ (-xxxx): 4096 */
	bool numeric;	      /* -n: numbers instead of names */
	const char *ids_path; /* pci.ids database to look names up in, or NULL */
};

/* Print the whole report for one device, as lspci would. */
void lspci_show_device(FILE *out, const struct lspci_device *dev, const struct lspci_opts *opts);

/* ---- config space accessors (little-endian, bounds-checked) ---------- */

/* Whether [offset, offset + len) lies inside the config bytes we have. */
static inline bool lspci_cfg_has(const struct lspci_device *dev, uint32_t offset, uint32_t len)
{
	uint32_t size = dev->config_size < UVF_PCIE_CONFIG_SIZE ? dev->config_size : UVF_PCIE_CONFIG_SIZE;

	return offset <= size && len <= size - offset;
}

/* Out-of-range reads return all ones, like a PCI read that nobody claims. */
static inline uint8_t lspci_cfg8(const struct lspci_device *dev, uint32_t offset)
{
	return lspci_cfg_has(dev, offset, 1) ? dev->config[offset] : 0xff;
}

static inline uint16_t lspci_cfg16(const struct lspci_device *dev, uint32_t offset)
{
	return (uint16_t)(lspci_cfg8(dev, offset) | lspci_cfg8(dev, offset + 1) << 8);
}

static inline uint32_t lspci_cfg32(const struct lspci_device *dev, uint32_t offset)
{
	return (uint32_t)lspci_cfg16(dev, offset) | (uint32_t)lspci_cfg16(dev, offset + 2) << 16;
}

/* '+' when any bit of mask is set in value, else '-'. */
static inline char lspci_flag(uint32_t value, uint32_t mask)
{
	return (value & mask) ? '+' : '-';
}

/* ---- pieces of the report (one file each) ---------------------------- */

/* caps.c: the capability list (and the extended list of a PCIe function). */
void lspci_show_caps(FILE *out, const struct lspci_device *dev, int verbose);

/* hexdump.c: "00: 86 80 ..." lines, 16 bytes each, like lspci -x. */
void lspci_hex_dump(FILE *out, const uint8_t *config, size_t len);

/* vfio.c: the vfio-user lines (VERSION caps, regions, IRQs; with -vvv
 * also the server's VERSION JSON). */
void lspci_show_vfio(FILE *out, const struct lspci_device *dev, int verbose);

/* names.c: class and id names. */
struct lspci_id_names {
	char vendor[96]; /* "" when unknown */
	char device[96];
	char subvendor[96];
	char subsystem[96];
};

/* Look vendor/device/subsystem up in a pci.ids file. Returns 0 (names
 * filled where found), or -errno when the file cannot be read. */
int lspci_ids_lookup(const char *path, uint16_t vendor, uint16_t device, uint16_t subvendor, uint16_t subdevice,
		     struct lspci_id_names *names);

/* "Ethernet controller", "Unassigned class [ff00]" or "Class 1234". */
void lspci_format_class(char *buf, size_t size, uint8_t base, uint8_t sub, bool numeric);

/* Name of a programming interface, or NULL. */
const char *lspci_progif_name(uint8_t base, uint8_t sub, uint8_t progif);

/* "Vendor Device", "Vendor Device 1234" or "Device 1af4:1000" (names may be NULL). */
void lspci_format_ids(char *buf, size_t size, uint16_t vendor, uint16_t device, const char *vendor_name,
		      const char *device_name, bool numeric);

#endif /* UVF_TOOLS_LSPCI_H */
