/* SPDX-License-Identifier: MIT */
/*
 * Names for uvf-lspci: a built-in table of PCI class codes (so the tool
 * needs no database) and an optional look-up of vendor, device and
 * subsystem names in a pci.ids file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lspci.h"

struct class_name {
	uint16_t code; /* base << 8 | sub; sub 0xff..: see is_base */
	bool is_base;  /* a base class entry (sub ignored) */
	const char *name;
};

/* Base classes and their common subclasses, as the PCI code and ID
 * assignment specification names them. */
static const struct class_name class_names[] = {
	{0x0000, true, "Unclassified device"},
	{0x0000, false, "Non-VGA unclassified device"},
	{0x0001, false, "VGA compatible unclassified device"},
	{0x0005, false, "Image coprocessor"},
	{0x0100, true, "Mass storage controller"},
	{0x0100, false, "SCSI storage controller"},
	{0x0101, false, "IDE interface"},
	{0x0102, false, "Floppy disk controller"},
	{0x0103, false, "IPI bus controller"},
	{0x0104, false, "RAID bus controller"},
	{0x0105, false, "ATA controller"},
	{0x0106, false, "SATA controller"},
	{0x0107, false, "Serial Attached SCSI controller"},
	{0x0108, false, "Non-Volatile memory controller"},
	{0x0109, false, "Universal Flash Storage controller"},
	{0x0180, false, "Mass storage controller"},
	{0x0200, true, "Network controller"},
	{0x0200, false, "Ethernet controller"},
	{0x0201, false, "Token ring network controller"},
	{0x0202, false, "FDDI network controller"},
	{0x0203, false, "ATM network controller"},
	{0x0204, false, "ISDN controller"},
	{0x0205, false, "WorldFip controller"},
	{0x0206, false, "PICMG controller"},
	{0x0207, false, "Infiniband controller"},
	{0x0208, false, "Fabric controller"},
	{0x0280, false, "Network controller"},
	{0x0300, true, "Display controller"},
	{0x0300, false, "VGA compatible controller"},
	{0x0301, false, "XGA compatible controller"},
	{0x0302, false, "3D controller"},
	{0x0380, false, "Display controller"},
	{0x0400, true, "Multimedia controller"},
	{0x0400, false, "Multimedia video controller"},
	{0x0401, false, "Multimedia audio controller"},
	{0x0402, false, "Computer telephony device"},
	{0x0403, false, "Audio device"},
	{0x0480, false, "Multimedia controller"},
	{0x0500, true, "Memory controller"},
	{0x0500, false, "RAM memory"},
	{0x0501, false, "FLASH memory"},
	{0x0502, false, "CXL"},
	{0x0580, false, "Memory controller"},
	{0x0600, true, "Bridge"},
	{0x0600, false, "Host bridge"},
	{0x0601, false, "ISA bridge"},
	{0x0602, false, "EISA bridge"},
	{0x0603, false, "MicroChannel bridge"},
	{0x0604, false, "PCI bridge"},
	{0x0605, false, "PCMCIA bridge"},
	{0x0606, false, "NuBus bridge"},
	{0x0607, false, "CardBus bridge"},
	{0x0608, false, "RACEway bridge"},
	{0x0609, false, "Semi-transparent PCI-to-PCI bridge"},
	{0x060a, false, "InfiniBand to PCI host bridge"},
	{0x0680, false, "Bridge"},
	{0x0700, true, "Communication controller"},
	{0x0700, false, "Serial controller"},
	{0x0701, false, "Parallel controller"},
	{0x0702, false, "Multiport serial controller"},
	{0x0703, false, "Modem"},
	{0x0704, false, "GPIB controller"},
	{0x0705, false, "Smart Card controller"},
	{0x0780, false, "Communication controller"},
	{0x0800, true, "Generic system peripheral"},
	{0x0800, false, "PIC"},
	{0x0801, false, "DMA controller"},
	{0x0802, false, "Timer"},
	{0x0803, false, "RTC"},
	{0x0804, false, "PCI Hot-plug controller"},
	{0x0805, false, "SD Host controller"},
	{0x0806, false, "IOMMU"},
	{0x0880, false, "System peripheral"},
	{0x0900, true, "Input device controller"},
	{0x0900, false, "Keyboard controller"},
	{0x0901, false, "Digitizer Pen"},
	{0x0902, false, "Mouse controller"},
	{0x0903, false, "Scanner controller"},
	{0x0904, false, "Gameport controller"},
	{0x0980, false, "Input device controller"},
	{0x0a00, true, "Docking station"},
	{0x0a00, false, "Generic Docking Station"},
	{0x0a80, false, "Docking Station"},
	{0x0b00, true, "Processor"},
	{0x0b40, false, "Co-processor"},
	{0x0c00, true, "Serial bus controller"},
	{0x0c00, false, "FireWire (IEEE 1394)"},
	{0x0c01, false, "ACCESS Bus"},
	{0x0c02, false, "SSA"},
	{0x0c03, false, "USB controller"},
	{0x0c04, false, "Fibre Channel"},
	{0x0c05, false, "SMBus"},
	{0x0c06, false, "InfiniBand"},
	{0x0c07, false, "IPMI Interface"},
	{0x0c09, false, "CANBUS"},
	{0x0c80, false, "Serial bus controller"},
	{0x0d00, true, "Wireless controller"},
	{0x0d11, false, "Bluetooth"},
	{0x0d80, false, "Wireless controller"},
	{0x0e00, true, "Intelligent controller"},
	{0x0f00, true, "Satellite communications controller"},
	{0x1000, true, "Encryption controller"},
	{0x1000, false, "Network and computing encryption device"},
	{0x1080, false, "Encryption controller"},
	{0x1100, true, "Signal processing controller"},
	{0x1180, false, "Signal processing controller"},
	{0x1200, true, "Processing accelerators"},
	{0x1200, false, "Processing accelerators"},
	{0x1300, true, "Non-Essential Instrumentation"},
	{0x4000, true, "Coprocessor"},
	{0xff00, true, "Unassigned class"},
};

static const char *class_lookup(uint8_t base, uint8_t sub, bool want_base)
{
	uint16_t code = (uint16_t)(base << 8 | sub);

	for (size_t i = 0; i < sizeof(class_names) / sizeof(class_names[0]); i++) {
		const struct class_name *c = &class_names[i];
		if (want_base ? (c->is_base && c->code >> 8 == base) : (!c->is_base && c->code == code))
			return c->name;
	}
	return NULL;
}

void lspci_format_class(char *buf, size_t size, uint8_t base, uint8_t sub, bool numeric)
{
	const char *name;

	if (numeric)
		snprintf(buf, size, "%02x%02x", base, sub);
	else if ((name = class_lookup(base, sub, false)))
		snprintf(buf, size, "%s", name);
	else if ((name = class_lookup(base, 0, true)))
		snprintf(buf, size, "%s [%02x%02x]", name, base, sub);
	else
		snprintf(buf, size, "Class %02x%02x", base, sub);
}

const char *lspci_progif_name(uint8_t base, uint8_t sub, uint8_t progif)
{
	static const struct {
		uint8_t base, sub, progif;
		const char *name;
	} names[] = {
		{0x01, 0x06, 0x01, "AHCI 1.0"},
		{0x01, 0x08, 0x01, "NVMHCI"},
		{0x01, 0x08, 0x02, "NVM Express"},
		{0x03, 0x00, 0x00, "VGA controller"},
		{0x0c, 0x03, 0x00, "UHCI"},
		{0x0c, 0x03, 0x10, "OHCI"},
		{0x0c, 0x03, 0x20, "EHCI"},
		{0x0c, 0x03, 0x30, "XHCI"},
		{0x0c, 0x03, 0x40, "USB4 Host Interface"},
		{0x0c, 0x03, 0xfe, "USB Device"},
		{0x07, 0x00, 0x02, "16550"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].base == base && names[i].sub == sub && names[i].progif == progif)
			return names[i].name;
	return NULL;
}

void lspci_format_ids(char *buf, size_t size, uint16_t vendor, uint16_t device, const char *vendor_name,
		      const char *device_name, bool numeric)
{
	bool has_vendor = vendor_name && *vendor_name;
	bool has_device = device_name && *device_name;

	if (numeric)
		snprintf(buf, size, "%04x:%04x", vendor, device);
	else if (has_vendor && has_device)
		snprintf(buf, size, "%s %s", vendor_name, device_name);
	else if (has_vendor)
		snprintf(buf, size, "%s Device %04x", vendor_name, device);
	else
		snprintf(buf, size, "Device %04x:%04x", vendor, device);
}

/* Parse "<hex4>" at s followed by two spaces (or a tab) and the name; copy
 * the name into out. Returns whether the line matched id. */
static bool match_id_line(const char *s, uint16_t id, char *out, size_t size)
{
	char *end;
	unsigned long v = strtoul(s, &end, 16);

	if (end != s + 4 || v != id || (*end != ' ' && *end != '\t'))
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	snprintf(out, size, "%.*s", (int)strcspn(end, "\r\n"), end);
	return true;
}

int lspci_ids_lookup(const char *path, uint16_t vendor, uint16_t device, uint16_t subvendor, uint16_t subdevice,
		     struct lspci_id_names *names)
{
	char line[512];
	bool in_vendor = false, in_device = false;
	FILE *f;

	memset(names, 0, sizeof(*names));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* One pass over the vendor section: "vvvv  name", "\tdddd  name",
	 * "\t\tssss dddd  name". Classes ("C xx") follow it. */
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (line[0] == 'C' && line[1] == ' ')
			break;
		if (line[0] != '\t') {
			char name[96];
			in_device = false;
			in_vendor = match_id_line(line, vendor, names->vendor, sizeof(names->vendor));
			if (match_id_line(line, subvendor, name, sizeof(name)))
				memcpy(names->subvendor, name, sizeof(name));
		} else if (line[1] != '\t') {
			in_device = in_vendor && match_id_line(line + 1, device, names->device, sizeof(names->device));
		} else if (in_device) {
			char *s = line + 2, *end;
			unsigned long sv = strtoul(s, &end, 16);
			if (end == s + 4 && *end == ' ' && sv == subvendor)
				match_id_line(end + 1, subdevice, names->subsystem, sizeof(names->subsystem));
		}
	}
	fclose(f);
	return 0;
}
