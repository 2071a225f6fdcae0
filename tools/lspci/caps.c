/* SPDX-License-Identifier: MIT */
/*
 * Capability lists of a PCI function, printed the way lspci prints them.
 *
 * The chain comes from the server and may be hostile: every pointer is
 * aligned, checked against the config bytes we have, and each offset is
 * visited at most once, so a looping chain ends with "<chain looped>".
 */
#include <string.h>

#include "lspci.h"

enum {
	CAP_PM = 0x01,
	CAP_AGP = 0x02,
	CAP_VPD = 0x03,
	CAP_SLOTID = 0x04,
	CAP_MSI = 0x05,
	CAP_CHSWP = 0x06,
	CAP_PCIX = 0x07,
	CAP_VNDR = 0x09,
	CAP_DBG = 0x0a,
	CAP_CCRC = 0x0b,
	CAP_HOTPLUG = 0x0c,
	CAP_SSVID = 0x0d,
	CAP_AGP3 = 0x0e,
	CAP_SECURE = 0x0f,
	CAP_EXP = 0x10,
	CAP_MSIX = 0x11,
	CAP_SATA = 0x12,
	CAP_AF = 0x13,
	CAP_EA = 0x14,
};

#define STATUS_CAP_LIST	 0x0010u
#define FIRST_CAP_OFFSET 0x40u
#define STD_CONFIG_SIZE	 0x100u

/* ---- power management ------------------------------------------------ */

static void cap_pm(FILE *out, const struct lspci_device *dev, uint32_t where, uint16_t cap, int verbose)
{
	static const int aux_current_ma[8] = {0, 55, 100, 160, 220, 270, 320, 375};

	fprintf(out, "Power Management version %d\n", cap & 0x7);
	if (verbose < 2)
		return;
	fprintf(out, "\t\tFlags: PMEClk%c DSI%c D1%c D2%c AuxCurrent=%dmA PME(D0%c,D1%c,D2%c,D3hot%c,D3cold%c)\n",
		lspci_flag(cap, 0x0008), lspci_flag(cap, 0x0020), lspci_flag(cap, 0x0200), lspci_flag(cap, 0x0400),
		aux_current_ma[(cap >> 6) & 7], lspci_flag(cap, 0x0800), lspci_flag(cap, 0x1000),
		lspci_flag(cap, 0x2000), lspci_flag(cap, 0x4000), lspci_flag(cap, 0x8000));
	if (!lspci_cfg_has(dev, where + 4, 4))
		return;
	uint16_t ctl = lspci_cfg16(dev, where + 4);
	fprintf(out, "\t\tStatus: D%d NoSoftRst%c PME-Enable%c DSel=%d DScale=%d PME%c\n", ctl & 3,
		lspci_flag(ctl, 0x0008), lspci_flag(ctl, 0x0100), (ctl >> 9) & 0xf, (ctl >> 13) & 3,
		lspci_flag(ctl, 0x8000));
	uint8_t bridge = lspci_cfg8(dev, where + 6);
	if (bridge)
		fprintf(out, "\t\tBridge: PM%c B3%c\n", lspci_flag(bridge, 0x80), lspci_flag(~bridge, 0x40));
}

/* ---- MSI and MSI-X --------------------------------------------------- */

static void cap_msi(FILE *out, const struct lspci_device *dev, uint32_t where, uint16_t cap, int verbose)
{
	bool is64 = cap & 0x0080;
	bool maskable = cap & 0x0100;

	fprintf(out, "MSI: Enable%c Count=%d/%d Maskable%c 64bit%c\n", lspci_flag(cap, 0x0001), 1 << ((cap >> 4) & 7),
		1 << ((cap >> 1) & 7), lspci_flag(cap, 0x0100), lspci_flag(cap, 0x0080));
	if (verbose < 2)
		return;
	uint32_t data_at = where + (is64 ? 0x0c : 0x08);
	if (!lspci_cfg_has(dev, where + 4, data_at + 2 - (where + 4)))
		return;
	fprintf(out, "\t\tAddress: ");
	if (is64)
		fprintf(out, "%08x", lspci_cfg32(dev, where + 8));
	fprintf(out, "%08x  Data: %04x\n", lspci_cfg32(dev, where + 4), lspci_cfg16(dev, data_at));
	if (!maskable)
		return;
	uint32_t mask_at = where + (is64 ? 0x10 : 0x0c);
	if (!lspci_cfg_has(dev, mask_at, 8))
		return;
	fprintf(out, "\t\tMasking: %08x  Pending: %08x\n", lspci_cfg32(dev, mask_at), lspci_cfg32(dev, mask_at + 4));
}

static void cap_msix(FILE *out, const struct lspci_device *dev, uint32_t where, uint16_t cap, int verbose)
{
	fprintf(out, "MSI-X: Enable%c Count=%d Masked%c\n", lspci_flag(cap, 0x8000), (cap & 0x07ff) + 1,
		lspci_flag(cap, 0x4000));
	if (verbose < 2 || !lspci_cfg_has(dev, where + 4, 8))
		return;
	uint32_t table = lspci_cfg32(dev, where + 4);
	uint32_t pba = lspci_cfg32(dev, where + 8);
	fprintf(out, "\t\tVector table: BAR=%u offset=%08x\n", table & 7, table & ~7u);
	fprintf(out, "\t\tPBA: BAR=%u offset=%08x\n", pba & 7, pba & ~7u);
}

/* ---- PCI Express ----------------------------------------------------- */

enum {
	EXP_ENDPOINT = 0,
	EXP_LEGACY_ENDPOINT = 1,
	EXP_ROOT_PORT = 4,
	EXP_UPSTREAM = 5,
	EXP_DOWNSTREAM = 6,
	EXP_PCIE_TO_PCI = 7,
	EXP_PCI_TO_PCIE = 8,
	EXP_RC_ENDPOINT = 9,
	EXP_RC_EVENT_COLLECTOR = 10,
};

static const char *link_speed(unsigned speed)
{
	static const char *const speeds[] = {"unknown", "2.5GT/s", "5GT/s", "8GT/s", "16GT/s", "32GT/s", "64GT/s"};
	return speed < sizeof(speeds) / sizeof(speeds[0]) ? speeds[speed] : "unknown";
}

static const char *link_compare(unsigned sta, unsigned cap)
{
	return sta < cap ? "downgraded" : sta > cap ? "strange" : "ok";
}

static const char *latency_l0s(unsigned v)
{
	static const char *const l[8] = {"<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited"};
	return l[v & 7];
}

static const char *latency_l1(unsigned v)
{
	static const char *const l[8] = {"<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited"};
	return l[v & 7];
}

static double power_limit(unsigned value, unsigned scale)
{
	static const double scales[4] = {1.0, 0.1, 0.01, 0.001};
	return value * scales[scale & 3];
}

static void exp_device(FILE *out, const struct lspci_device *dev, uint32_t where, int type)
{
	bool endpoint = type == EXP_ENDPOINT || type == EXP_LEGACY_ENDPOINT;
	uint32_t t = lspci_cfg32(dev, where + 0x04);
	uint16_t w;

	fprintf(out, "\t\tDevCap:\tMaxPayload %d bytes, PhantFunc %d", 128 << (t & 7), (1 << ((t >> 3) & 3)) - 1);
	if (endpoint)
		fprintf(out, ", Latency L0s %s, L1 %s", latency_l0s(t >> 6), latency_l1(t >> 9));
	fprintf(out, "\n\t\t\tExtTag%c", lspci_flag(t, 0x20));
	if (endpoint || type == EXP_UPSTREAM || type == EXP_PCIE_TO_PCI)
		fprintf(out, " AttnBtn%c AttnInd%c PwrInd%c", lspci_flag(t, 0x1000), lspci_flag(t, 0x2000),
			lspci_flag(t, 0x4000));
	fprintf(out, " RBE%c", lspci_flag(t, 0x8000));
	if (endpoint)
		fprintf(out, " FLReset%c", lspci_flag(t, 0x10000000));
	if (type == EXP_ENDPOINT || type == EXP_UPSTREAM || type == EXP_PCIE_TO_PCI)
		fprintf(out, " SlotPowerLimit %.3fW", power_limit((t >> 18) & 0xff, (t >> 26) & 3));
	fputc('\n', out);

	w = lspci_cfg16(dev, where + 0x08);
	fprintf(out, "\t\tDevCtl:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c\n", lspci_flag(w, 0x1),
		lspci_flag(w, 0x2), lspci_flag(w, 0x4), lspci_flag(w, 0x8));
	fprintf(out, "\t\t\tRlxdOrd%c ExtTag%c PhantFunc%c AuxPwr%c NoSnoop%c", lspci_flag(w, 0x10),
		lspci_flag(w, 0x100), lspci_flag(w, 0x200), lspci_flag(w, 0x400), lspci_flag(w, 0x800));
	if (type == EXP_PCIE_TO_PCI)
		fprintf(out, " BrConfRtry%c", lspci_flag(w, 0x8000));
	if (endpoint && (t & 0x10000000))
		fprintf(out, " FLReset%c", lspci_flag(w, 0x8000));
	fprintf(out, "\n\t\t\tMaxPayload %d bytes, MaxReadReq %d bytes\n", 128 << ((w >> 5) & 7),
		128 << ((w >> 12) & 7));

	w = lspci_cfg16(dev, where + 0x0a);
	fprintf(out, "\t\tDevSta:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c AuxPwr%c TransPend%c\n",
		lspci_flag(w, 0x1), lspci_flag(w, 0x2), lspci_flag(w, 0x4), lspci_flag(w, 0x8), lspci_flag(w, 0x10),
		lspci_flag(w, 0x20));
}

static void exp_link(FILE *out, const struct lspci_device *dev, uint32_t where, int type)
{
	static const char *const aspm_support[4] = {"not supported", "L0s", "L1", "L0s L1"};
	static const char *const aspm_enabled[4] = {"Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled"};
	uint32_t t = lspci_cfg32(dev, where + 0x0c);
	unsigned aspm = (t >> 10) & 3, cap_speed = t & 0xf, cap_width = (t >> 4) & 0x3f;
	uint16_t w;

	fprintf(out, "\t\tLnkCap:\tPort #%u, Speed %s, Width x%u, ASPM %s", t >> 24, link_speed(cap_speed), cap_width,
		aspm_support[aspm]);
	if (aspm) {
		fprintf(out, ", Exit Latency ");
		if (aspm & 1)
			fprintf(out, "L0s %s", latency_l0s(t >> 12));
		if (aspm & 2)
			fprintf(out, "%sL1 %s", (aspm & 1) ? ", " : "", latency_l1(t >> 15));
	}
	fprintf(out, "\n\t\t\tClockPM%c Surprise%c LLActRep%c BwNot%c ASPMOptComp%c\n", lspci_flag(t, 0x40000),
		lspci_flag(t, 0x80000), lspci_flag(t, 0x100000), lspci_flag(t, 0x200000), lspci_flag(t, 0x400000));

	w = lspci_cfg16(dev, where + 0x10);
	fprintf(out, "\t\tLnkCtl:\tASPM %s;", aspm_enabled[w & 3]);
	if (type == EXP_ROOT_PORT || type == EXP_ENDPOINT || type == EXP_LEGACY_ENDPOINT || type == EXP_PCIE_TO_PCI)
		fprintf(out, " RCB %d bytes,", (w & 0x8) ? 128 : 64);
	fprintf(out, " Disabled%c CommClk%c\n\t\t\tExtSynch%c ClockPM%c AutWidDis%c BWInt%c AutBWInt%c\n",
		lspci_flag(w, 0x10), lspci_flag(w, 0x40), lspci_flag(w, 0x80), lspci_flag(w, 0x100),
		lspci_flag(w, 0x200), lspci_flag(w, 0x400), lspci_flag(w, 0x800));

	w = lspci_cfg16(dev, where + 0x12);
	unsigned sta_speed = w & 0xf, sta_width = (w >> 4) & 0x3f;
	fprintf(out, "\t\tLnkSta:\tSpeed %s (%s), Width x%u (%s)\n", link_speed(sta_speed),
		link_compare(sta_speed, cap_speed), sta_width, link_compare(sta_width, cap_width));
	fprintf(out, "\t\t\tTrErr%c Train%c SlotClk%c DLActive%c BWMgmt%c ABWMgmt%c\n", lspci_flag(w, 0x400),
		lspci_flag(w, 0x800), lspci_flag(w, 0x1000), lspci_flag(w, 0x2000), lspci_flag(w, 0x4000),
		lspci_flag(w, 0x8000));
}

static void cap_express(FILE *out, const struct lspci_device *dev, uint32_t where, uint16_t cap, int verbose)
{
	int type = (cap >> 4) & 0xf;
	bool link = true;

	fprintf(out, "Express ");
	if (verbose >= 2)
		fprintf(out, "(v%d) ", cap & 0xf);
	switch (type) {
	case EXP_ENDPOINT:
		fprintf(out, "Endpoint");
		break;
	case EXP_LEGACY_ENDPOINT:
		fprintf(out, "Legacy Endpoint");
		break;
	case EXP_ROOT_PORT:
		fprintf(out, "Root Port (Slot%c)", lspci_flag(cap, 0x100));
		break;
	case EXP_UPSTREAM:
		fprintf(out, "Upstream Port");
		break;
	case EXP_DOWNSTREAM:
		fprintf(out, "Downstream Port (Slot%c)", lspci_flag(cap, 0x100));
		break;
	case EXP_PCIE_TO_PCI:
		fprintf(out, "PCI-Express to PCI/PCI-X Bridge");
		break;
	case EXP_PCI_TO_PCIE:
		fprintf(out, "PCI/PCI-X to PCI-Express Bridge (Slot%c)", lspci_flag(cap, 0x100));
		break;
	case EXP_RC_ENDPOINT:
		link = false;
		fprintf(out, "Root Complex Integrated Endpoint");
		break;
	case EXP_RC_EVENT_COLLECTOR:
		link = false;
		fprintf(out, "Root Complex Event Collector");
		break;
	default:
		fprintf(out, "Unknown type %d", type);
	}
	fprintf(out, ", MSI %02x\n", (cap >> 9) & 0x1f);
	/* Device and link registers end at +0x14. Slot, root and the v2
	 * registers are not decoded. */
	if (verbose < 2 || !lspci_cfg_has(dev, where, 0x14))
		return;
	exp_device(out, dev, where, type);
	if (link)
		exp_link(out, dev, where, type);
}

/* ---- the rest -------------------------------------------------------- */

static void cap_simple(FILE *out, const struct lspci_device *dev, uint32_t where, uint8_t id, uint16_t cap, int verbose)
{
	switch (id) {
	case CAP_AGP:
		fprintf(out, "AGP version %x.%x\n", (cap >> 4) & 0xf, cap & 0xf);
		break;
	case CAP_VPD:
		fprintf(out, "Vital Product Data\n");
		break;
	case CAP_SLOTID:
		fprintf(out, "Slot ID: %d slots, First%c, chassis %02x\n", cap & 0x1f, lspci_flag(cap, 0x20), cap >> 8);
		break;
	case CAP_CHSWP:
		fprintf(out, "CompactPCI hot-swap <?>\n");
		break;
	case CAP_PCIX:
		fprintf(out, "PCI-X non-bridge device\n");
		break;
	case CAP_VNDR:
		fprintf(out, "Vendor Specific Information: Len=%02x <?>\n", cap & 0xff);
		break;
	case CAP_DBG:
		fprintf(out, "Debug port: BAR=%d offset=%04x\n", cap >> 13, cap & 0x1fff);
		break;
	case CAP_CCRC:
		fprintf(out, "CompactPCI central resource control <?>\n");
		break;
	case CAP_HOTPLUG:
		fprintf(out, "Hot-plug capable\n");
		break;
	case CAP_SSVID:
		fprintf(out, "Subsystem: Device %04x:%04x\n", lspci_cfg16(dev, where + 4), lspci_cfg16(dev, where + 6));
		break;
	case CAP_AGP3:
		fprintf(out, "AGP3 <?>\n");
		break;
	case CAP_SECURE:
		fprintf(out, "Secure device <?>\n");
		break;
	case CAP_SATA:
		fprintf(out, "SATA HBA v%d.%d\n", (cap >> 4) & 0xf, cap & 0xf);
		break;
	case CAP_AF:
		fprintf(out, "PCI Advanced Features\n");
		if (verbose >= 2 && lspci_cfg_has(dev, where + 3, 3)) {
			uint8_t afcap = lspci_cfg8(dev, where + 3), ctl = lspci_cfg8(dev, where + 4);
			uint8_t sta = lspci_cfg8(dev, where + 5);
			fprintf(out, "\t\tAFCap: TP%c FLR%c\n", lspci_flag(afcap, 1), lspci_flag(afcap, 2));
			fprintf(out, "\t\tAFCtrl: FLR%c\n", lspci_flag(ctl, 1));
			fprintf(out, "\t\tAFStatus: TP%c\n", lspci_flag(sta, 1));
		}
		break;
	case CAP_EA:
		fprintf(out, "Enhanced Allocation (EA): NumEntries=%u\n", cap & 0x3f);
		break;
	default:
		fprintf(out, "#%02x [%04x]\n", id, cap);
	}
}

/* Walk the standard list; returns whether an extended list may follow
 * (a PCI Express or PCI-X capability was seen). */
static bool show_std_caps(FILE *out, const struct lspci_device *dev, int verbose)
{
	bool seen[STD_CONFIG_SIZE / 4];
	bool extended = false;
	uint32_t where = lspci_cfg8(dev, 0x34) & ~3u;

	memset(seen, 0, sizeof(seen));
	while (where) {
		fprintf(out, "\tCapabilities: [%02x] ", where);
		if (where < FIRST_CAP_OFFSET) {
			/* points back into the standard header */
			fprintf(out, "<chain broken>\n");
			break;
		}
		if (!lspci_cfg_has(dev, where, 4)) {
			fprintf(out, "<beyond config space>\n");
			break;
		}
		if (seen[where / 4]) {
			fprintf(out, "<chain looped>\n");
			break;
		}
		seen[where / 4] = true;
		uint8_t id = lspci_cfg8(dev, where);
		uint32_t next = lspci_cfg8(dev, where + 1) & ~3u;
		uint16_t cap = lspci_cfg16(dev, where + 2);
		if (id == 0xff) {
			fprintf(out, "<chain broken>\n");
			break;
		}
		switch (id) {
		case CAP_PM:
			cap_pm(out, dev, where, cap, verbose);
			break;
		case CAP_MSI:
			cap_msi(out, dev, where, cap, verbose);
			break;
		case CAP_MSIX:
			cap_msix(out, dev, where, cap, verbose);
			break;
		case CAP_EXP:
			cap_express(out, dev, where, cap, verbose);
			extended = true;
			break;
		case CAP_PCIX:
			extended = true;
			cap_simple(out, dev, where, id, cap, verbose);
			break;
		default:
			cap_simple(out, dev, where, id, cap, verbose);
		}
		where = next;
	}
	return extended;
}

static const char *ext_cap_name(uint16_t id)
{
	static const struct {
		uint16_t id;
		const char *name;
	} names[] = {
		{0x0001, "Advanced Error Reporting"},
		{0x0002, "Virtual Channel"},
		{0x0004, "Power Budgeting <?>"},
		{0x0005, "Root Complex Link"},
		{0x0009, "Virtual Channel"},
		{0x000d, "Access Control Services"},
		{0x000e, "Alternative Routing-ID Interpretation (ARI)"},
		{0x000f, "Address Translation Service (ATS)"},
		{0x0010, "Single Root I/O Virtualization (SR-IOV)"},
		{0x0013, "Page Request Interface (PRI)"},
		{0x0015, "Physical Resizable BAR"},
		{0x0017, "Transaction Processing Hints"},
		{0x0018, "Latency Tolerance Reporting"},
		{0x0019, "Secondary PCI Express"},
		{0x001b, "Process Address Space ID (PASID)"},
		{0x001e, "L1 PM Substates"},
		{0x0025, "Data Link Feature <?>"},
		{0x0026, "Physical Layer 16.0 GT/s <?>"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].id == id)
			return names[i].name;
	return NULL;
}

static void show_ext_caps(FILE *out, const struct lspci_device *dev, int verbose)
{
	bool seen[UVF_PCIE_CONFIG_SIZE / 4];
	uint32_t where = STD_CONFIG_SIZE;

	memset(seen, 0, sizeof(seen));
	while (where) {
		if (!lspci_cfg_has(dev, where, 4))
			break;
		uint32_t header = lspci_cfg32(dev, where);
		if (!header || header == 0xffffffffu)
			break;
		uint16_t id = header & 0xffff;
		fprintf(out, "\tCapabilities: [%03x", where);
		if (verbose > 1)
			fprintf(out, " v%u", (header >> 16) & 0xf);
		fprintf(out, "] ");
		if (where < STD_CONFIG_SIZE) {
			/* extended capabilities live above the first 256 bytes */
			fprintf(out, "<chain broken>\n");
			break;
		}
		if (seen[where / 4]) {
			fprintf(out, "<chain looped>\n");
			break;
		}
		seen[where / 4] = true;
		const char *name = ext_cap_name(id);
		if (id == 0x0003 && lspci_cfg_has(dev, where + 4, 8)) {
			uint32_t lo = lspci_cfg32(dev, where + 4), hi = lspci_cfg32(dev, where + 8);
			fprintf(out, "Device Serial Number %02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x\n", hi >> 24,
				(hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff, lo >> 24, (lo >> 16) & 0xff,
				(lo >> 8) & 0xff, lo & 0xff);
		} else if (id == 0x000b && lspci_cfg_has(dev, where + 4, 4)) {
			uint32_t vsec = lspci_cfg32(dev, where + 4);
			fprintf(out, "Vendor Specific Information: ID=%04x Rev=%u Len=%03x <?>\n", vsec & 0xffff,
				(vsec >> 16) & 0xf, vsec >> 20);
		} else if (id == 0x0023 && lspci_cfg_has(dev, where + 4, 6)) {
			uint32_t h1 = lspci_cfg32(dev, where + 4);
			fprintf(out, "Designated Vendor-Specific: Vendor=%04x ID=%04x Rev=%u Len=%u <?>\n", h1 & 0xffff,
				lspci_cfg16(dev, where + 8), (h1 >> 16) & 0xf, h1 >> 20);
		} else if (name) {
			fprintf(out, "%s\n", name);
		} else {
			fprintf(out, "Extended Capability ID %#02x\n", id);
		}
		where = (header >> 20) & ~3u;
	}
}

void lspci_show_caps(FILE *out, const struct lspci_device *dev, int verbose)
{
	if (!(lspci_cfg16(dev, 0x06) & STATUS_CAP_LIST))
		return;
	if (show_std_caps(out, dev, verbose) && dev->config_size > STD_CONFIG_SIZE)
		show_ext_caps(out, dev, verbose);
}
