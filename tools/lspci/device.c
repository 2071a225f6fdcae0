/* SPDX-License-Identifier: MIT */
/*
 * The per-device report: the header line, command/status, interrupt, BARs
 * and ROM of a type-0 header, then capabilities, the vfio-user view and the
 * hex dump, in lspci's order and wording.
 */
#include <inttypes.h>

#include "lspci.h"

#define CMD_IO	   0x0001u
#define CMD_MEMORY 0x0002u
#define CMD_MASTER 0x0004u

/* lspci's " [size=4K]": the largest unit that divides the size exactly. */
static void show_size(FILE *out, uint64_t size)
{
	static const char *const suffix[] = {"", "K", "M", "G", "T"};
	unsigned i = 0;

	if (!size)
		return;
	while (i < 4 && !(size % 1024)) {
		size /= 1024;
		i++;
	}
	fprintf(out, " [size=%" PRIu64 "%s]", size, suffix[i]);
}

static void show_header_line(FILE *out, const struct lspci_device *dev, const struct lspci_opts *opts,
			     const struct lspci_id_names *names)
{
	char cls[96], ids[256];
	uint8_t rev = lspci_cfg8(dev, 0x08), progif = lspci_cfg8(dev, 0x09);
	uint8_t sub = lspci_cfg8(dev, 0x0a), base = lspci_cfg8(dev, 0x0b);

	lspci_format_class(cls, sizeof(cls), base, sub, opts->numeric);
	lspci_format_ids(ids, sizeof(ids), lspci_cfg16(dev, 0x00), lspci_cfg16(dev, 0x02), names->vendor, names->device,
			 opts->numeric);
	/* A vfio-user device has no bus address: it is always the first
	 * function of its own bus, as vfio-user clients present it. */
	fprintf(out, "00:00.0 %s: %s", cls, ids);
	if (rev)
		fprintf(out, " (rev %02x)", rev);
	if (opts->verbose) {
		const char *name = opts->numeric ? NULL : lspci_progif_name(base, sub, progif);
		if (progif || name) {
			fprintf(out, " (prog-if %02x", progif);
			if (name)
				fprintf(out, " [%s]", name);
			fputc(')', out);
		}
	}
	fputc('\n', out);
}

static void show_subsystem(FILE *out, const struct lspci_device *dev, const struct lspci_opts *opts,
			   const struct lspci_id_names *names)
{
	uint16_t subvendor = lspci_cfg16(dev, 0x2c), subdevice = lspci_cfg16(dev, 0x2e);
	char ids[256];

	if (!subvendor || subvendor == 0xffff)
		return;
	lspci_format_ids(ids, sizeof(ids), subvendor, subdevice, names->subvendor, names->subsystem, opts->numeric);
	fprintf(out, "\tSubsystem: %s\n", ids);
}

static const char *devsel_name(uint16_t status)
{
	static const char *const names[] = {"fast", "medium", "slow", "??"};
	return names[(status >> 9) & 3];
}

static void show_command_status(FILE *out, const struct lspci_device *dev, int verbose)
{
	uint16_t cmd = lspci_cfg16(dev, 0x04), status = lspci_cfg16(dev, 0x06);
	uint8_t latency = lspci_cfg8(dev, 0x0d), cache_line = lspci_cfg8(dev, 0x0c);
	uint8_t irq = lspci_cfg8(dev, 0x3c), pin = lspci_cfg8(dev, 0x3d);
	uint8_t min_gnt = lspci_cfg8(dev, 0x3e), max_lat = lspci_cfg8(dev, 0x3f);

	if (verbose < 2) {
		fprintf(out, "\tFlags: ");
		if (cmd & CMD_MASTER)
			fprintf(out, "bus master, ");
		if (cmd & 0x0020)
			fprintf(out, "VGA palette snoop, ");
		if (cmd & 0x0080)
			fprintf(out, "stepping, ");
		if (cmd & 0x0200)
			fprintf(out, "fast Back2Back, ");
		if (status & 0x0020)
			fprintf(out, "66MHz, ");
		if (status & 0x0040)
			fprintf(out, "user-definable features, ");
		fprintf(out, "%s devsel", devsel_name(status));
		if (cmd & CMD_MASTER)
			fprintf(out, ", latency %d", latency);
		if (irq)
			fprintf(out, ", IRQ %d", irq);
		fputc('\n', out);
		return;
	}
	fprintf(out,
		"\tControl: I/O%c Mem%c BusMaster%c SpecCycle%c MemWINV%c VGASnoop%c ParErr%c Stepping%c SERR%c "
		"FastB2B%c DisINTx%c\n",
		lspci_flag(cmd, 0x1), lspci_flag(cmd, 0x2), lspci_flag(cmd, 0x4), lspci_flag(cmd, 0x8),
		lspci_flag(cmd, 0x10), lspci_flag(cmd, 0x20), lspci_flag(cmd, 0x40), lspci_flag(cmd, 0x80),
		lspci_flag(cmd, 0x100), lspci_flag(cmd, 0x200), lspci_flag(cmd, 0x400));
	fprintf(out,
		"\tStatus: Cap%c 66MHz%c UDF%c FastB2B%c ParErr%c DEVSEL=%s >TAbort%c <TAbort%c <MAbort%c >SERR%c "
		"<PERR%c INTx%c\n",
		lspci_flag(status, 0x10), lspci_flag(status, 0x20), lspci_flag(status, 0x40), lspci_flag(status, 0x80),
		lspci_flag(status, 0x100), devsel_name(status), lspci_flag(status, 0x800), lspci_flag(status, 0x1000),
		lspci_flag(status, 0x2000), lspci_flag(status, 0x4000), lspci_flag(status, 0x8000),
		lspci_flag(status, 0x8));
	if (cmd & CMD_MASTER) {
		fprintf(out, "\tLatency: %d", latency);
		if (min_gnt || max_lat) {
			fprintf(out, " (");
			if (min_gnt)
				fprintf(out, "%dns min", min_gnt * 250);
			if (min_gnt && max_lat)
				fprintf(out, ", ");
			if (max_lat)
				fprintf(out, "%dns max", max_lat * 250);
			fputc(')', out);
		}
		if (cache_line)
			fprintf(out, ", Cache Line Size: %d bytes", cache_line * 4);
		fputc('\n', out);
	}
	if (pin || irq)
		fprintf(out, "\tInterrupt: pin %c routed to IRQ %d\n", (pin >= 1 && pin <= 4) ? 'A' + pin - 1 : '?',
			irq);
}

/* Only BARs whose region has a size exist: the BAR registers of an absent
 * BAR may hold anything, so they are never decoded (the hex dump still
 * shows them). The upper half of a 64-bit BAR is part of the BAR below it
 * and is never a region of its own, whatever size the server gives it;
 * like lspci, a 64-bit BAR is numbered after its lower half. */
static void show_bars(FILE *out, const struct lspci_device *dev, int verbose)
{
	uint16_t cmd = lspci_cfg16(dev, 0x04);

	for (unsigned i = 0; i < 6; i++) {
		uint32_t flags = lspci_cfg32(dev, 0x10 + 4 * i);
		uint64_t size = dev->bar_size[i];
		unsigned index = i;

		if (!size)
			continue;
		if (flags == 0xffffffffu)
			flags = 0;
		if (verbose > 1)
			fprintf(out, "\tRegion %u: ", index);
		else
			fputc('\t', out);
		if (flags & 1) {
			uint32_t address = flags & ~3u;
			fprintf(out, "I/O ports at ");
			if (address || (cmd & CMD_IO))
				fprintf(out, "%04" PRIx32, address);
			else
				fprintf(out, "<unassigned>");
			if (!(cmd & CMD_IO))
				fprintf(out, " [disabled]");
		} else {
			unsigned type = (flags >> 1) & 3;
			uint64_t address = flags & ~0xfu;
			bool broken = false;
			if (type == 2) {
				/* the upper half lives in the next BAR register */
				if (i == 5)
					broken = true;
				else
					address |= (uint64_t)lspci_cfg32(dev, 0x10 + 4 * ++i) << 32;
			}
			fprintf(out, "Memory at ");
			if (broken)
				fprintf(out, "<broken-64-bit-slot>");
			else if (address)
				fprintf(out, "%08" PRIx64, address);
			else
				fprintf(out, "<unassigned>");
			fprintf(out, " (%s, %sprefetchable)",
				type == 0   ? "32-bit"
				: type == 2 ? "64-bit"
				: type == 1 ? "low-1M"
					    : "type 3",
				(flags & 0x8) ? "" : "non-");
			if (!(cmd & CMD_MEMORY))
				fprintf(out, " [disabled]");
		}
		show_size(out, size);
		fputc('\n', out);
	}
}

static void show_rom(FILE *out, const struct lspci_device *dev)
{
	uint16_t cmd = lspci_cfg16(dev, 0x04);
	uint32_t rom = lspci_cfg32(dev, 0x30);

	if (rom == 0xffffffffu)
		rom = 0;
	if (!rom && !dev->rom_size)
		return;
	fprintf(out, "\tExpansion ROM at ");
	if (rom & ~0x7ffu)
		fprintf(out, "%08" PRIx32, rom & ~0x7ffu);
	else
		fprintf(out, "<unassigned>");
	if (!(rom & 1))
		fprintf(out, " [disabled]");
	else if (!(cmd & CMD_MEMORY))
		fprintf(out, " [disabled by cmd]");
	show_size(out, dev->rom_size);
	fputc('\n', out);
}

static size_t hex_dump_length(const struct lspci_device *dev, int hex)
{
	size_t len = hex >= 4 ? UVF_PCIE_CONFIG_SIZE : hex == 3 ? UVF_PCI_CONFIG_SIZE : 64;
	size_t have = dev->config_size < UVF_PCIE_CONFIG_SIZE ? dev->config_size : UVF_PCIE_CONFIG_SIZE;

	return len < have ? len : have;
}

void lspci_show_device(FILE *out, const struct lspci_device *dev, const struct lspci_opts *opts)
{
	struct lspci_id_names names = {{0}};

	if (opts->ids_path && !opts->numeric)
		(void)lspci_ids_lookup(opts->ids_path, lspci_cfg16(dev, 0x00), lspci_cfg16(dev, 0x02),
				       lspci_cfg16(dev, 0x2c), lspci_cfg16(dev, 0x2e), &names);
	show_header_line(out, dev, opts, &names);
	if (opts->verbose) {
		uint8_t header_type = lspci_cfg8(dev, 0x0e) & 0x7f;
		show_subsystem(out, dev, opts, &names);
		show_command_status(out, dev, opts->verbose);
		if (header_type == 0) {
			show_bars(out, dev, opts->verbose);
			show_rom(out, dev);
		} else {
			fprintf(out, "\t!!! Unknown header type %02x\n", header_type);
		}
		lspci_show_caps(out, dev, opts->verbose);
		if (dev->has_vfio)
			lspci_show_vfio(out, dev, opts->verbose);
		fprintf(out, "\tKernel driver in use: vfio-user\n");
	}
	if (opts->hex)
		lspci_hex_dump(out, dev->config, hex_dump_length(dev, opts->hex));
	if (opts->verbose || opts->hex)
		fputc('\n', out);
}
