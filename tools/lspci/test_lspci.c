/* SPDX-License-Identifier: MIT */
/* Unit tests of the uvf-lspci report, fed with hand-made config spaces. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lspci.h"

/* ---- helpers ------------------------------------------------------- */

static void put16(struct lspci_device *d, uint32_t off, uint16_t v)
{
	d->config[off] = (uint8_t)v;
	d->config[off + 1] = (uint8_t)(v >> 8);
}

static void put32(struct lspci_device *d, uint32_t off, uint32_t v)
{
	put16(d, off, (uint16_t)v);
	put16(d, off + 2, (uint16_t)(v >> 16));
}

/* A plain function: ids 1de0:0001, class ff0000, rev 1, subsystem
 * 1de0:0001, BAR0 4 KiB memory, BAR2 32 bytes I/O, no capabilities. */
static struct lspci_device *new_device(void)
{
	struct lspci_device *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->config_size = 256;
	put16(d, 0x00, 0x1de0);
	put16(d, 0x02, 0x0001);
	d->config[0x08] = 0x01;
	d->config[0x0b] = 0xff;
	put16(d, 0x2c, 0x1de0);
	put16(d, 0x2e, 0x0001);
	put32(d, 0x18, 0x1); /* BAR2: I/O */
	d->bar_size[0] = 4096;
	d->bar_size[2] = 32;
	return d;
}

/* Chain capabilities: set the list bit and the pointer. */
static void first_cap(struct lspci_device *d, uint8_t where)
{
	put16(d, 0x06, 0x0010);
	d->config[0x34] = where;
}

static void cap(struct lspci_device *d, uint32_t where, uint8_t id, uint8_t next)
{
	d->config[where] = id;
	d->config[where + 1] = next;
}

static char *render_opts(const struct lspci_device *d, const struct lspci_opts *opts)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	lspci_show_device(f, d, opts);
	assert_int_equal(fclose(f), 0);
	return text;
}

static char *render(const struct lspci_device *d, int verbose, int hex)
{
	struct lspci_opts opts = {.verbose = verbose, .hex = hex};
	return render_opts(d, &opts);
}

/* Show the whole report when a check fails. */
static void fail_with_text(const char *what, const char *needle, const char *text)
{
	print_error("%s \"%s\" in:\n%s\n", what, needle, text ? text : "(null)");
	fail();
}

static void assert_contains(const char *text, const char *needle)
{
	assert_non_null(text);
	if (!strstr(text, needle))
		fail_with_text("expected", needle, text);
}

static void assert_lacks(const char *text, const char *needle)
{
	assert_non_null(text);
	if (strstr(text, needle))
		fail_with_text("did not expect", needle, text);
}

static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- header line and names ------------------------------------------ */

static void test_header_line_names_class_and_ids(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 0, 0);
	assert_string_equal(text, "00:00.0 Unassigned class [ff00]: Device 1de0:0001 (rev 01)\n");
	free(text);
	d->config[0x08] = 0; /* revision 0 is not shown */
	text = render(d, 0, 0);
	assert_string_equal(text, "00:00.0 Unassigned class [ff00]: Device 1de0:0001\n");
	free(text);
	free(d);
}

static void test_numeric_mode_prints_numbers(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	struct lspci_opts opts = {.verbose = 1, .numeric = true};
	char *text = render_opts(d, &opts);
	assert_contains(text, "00:00.0 ff00: 1de0:0001 (rev 01)\n");
	assert_contains(text, "\tSubsystem: 1de0:0001\n");
	free(text);
	free(d);
}

static void test_class_names_fall_back_from_subclass_to_base_to_number(void **state)
{
	(void)state;
	char buf[96];
	lspci_format_class(buf, sizeof(buf), 0x02, 0x00, false);
	assert_string_equal(buf, "Ethernet controller");
	lspci_format_class(buf, sizeof(buf), 0x01, 0x08, false);
	assert_string_equal(buf, "Non-Volatile memory controller");
	lspci_format_class(buf, sizeof(buf), 0x01, 0x42, false);
	assert_string_equal(buf, "Mass storage controller [0142]");
	lspci_format_class(buf, sizeof(buf), 0x42, 0x01, false);
	assert_string_equal(buf, "Class 4201");
	lspci_format_class(buf, sizeof(buf), 0x02, 0x00, true);
	assert_string_equal(buf, "0200");
}

static void test_progif_shown_when_verbose(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->config[0x0b] = 0x01;
	d->config[0x0a] = 0x08;
	d->config[0x09] = 0x02;
	char *text = render(d, 0, 0);
	assert_string_equal(text, "00:00.0 Non-Volatile memory controller: Device 1de0:0001 (rev 01)\n");
	free(text);
	text = render(d, 1, 0);
	assert_contains(text, "(rev 01) (prog-if 02 [NVM Express])\n");
	free(text);
	free(d);
}

static void test_subsystem_hidden_when_absent(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 1, 0);
	assert_contains(text, "\tSubsystem: Device 1de0:0001\n");
	free(text);
	put16(d, 0x2c, 0);
	text = render(d, 1, 0);
	assert_lacks(text, "Subsystem");
	free(text);
	free(d);
}

/* ---- command, status, interrupt ------------------------------------- */

static void test_control_and_status_lines_decode_bits(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	put16(d, 0x04, 0x0406); /* Mem, BusMaster, DisINTx */
	put16(d, 0x06, 0x0218); /* Cap, INTx, DEVSEL medium */
	d->config[0x3c] = 11;
	d->config[0x3d] = 1;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- "
			      "SERR- FastB2B- DisINTx+\n");
	assert_contains(text, "\tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=medium >TAbort- <TAbort- "
			      "<MAbort- >SERR- <PERR- INTx+\n");
	assert_contains(text, "\tLatency: 0\n");
	assert_contains(text, "\tInterrupt: pin A routed to IRQ 11\n");
	assert_contains(text, "\tKernel driver in use: vfio-user\n");
	free(text);
	free(d);
}

static void test_latency_only_for_bus_masters(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 2, 0);
	assert_lacks(text, "Latency");
	free(text);
	free(d);
}

static void test_bad_interrupt_pin_shown_as_question_mark(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->config[0x3d] = 7;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tInterrupt: pin ? routed to IRQ 0\n");
	free(text);
	free(d);
}

static void test_verbose_one_prints_flags_line(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	put16(d, 0x04, 0x0006);
	d->config[0x3c] = 11;
	char *text = render(d, 1, 0);
	assert_contains(text, "\tFlags: bus master, fast devsel, latency 0, IRQ 11\n");
	assert_lacks(text, "Control:");
	assert_contains(text, "\tMemory at <unassigned> (32-bit, non-prefetchable) [size=4K]\n");
	free(text);
	free(d);
}

static void test_unknown_header_type_not_decoded(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->config[0x0e] = 0x01;
	char *text = render(d, 2, 0);
	assert_contains(text, "\t!!! Unknown header type 01\n");
	assert_lacks(text, "Region");
	free(text);
	free(d);
}

/* ---- BARs and ROM --------------------------------------------------- */

static void test_unassigned_bars_show_type_and_size(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 2, 0);
	assert_contains(text, "\tRegion 0: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=4K]\n");
	assert_contains(text, "\tRegion 2: I/O ports at <unassigned> [disabled] [size=32]\n");
	assert_lacks(text, "Region 1");
	assert_lacks(text, "Expansion ROM");
	free(text);
	free(d);
}

static void test_assigned_64bit_prefetchable_bar_uses_both_registers(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	put16(d, 0x04, 0x0003);
	put32(d, 0x10, 0x6700000c);
	put32(d, 0x14, 0x12);
	put32(d, 0x18, 0);
	put32(d, 0x1c, 0xc001);
	d->bar_size[0] = 1 << 20;
	d->bar_size[2] = 0;
	d->bar_size[3] = 64;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tRegion 0: Memory at 1267000000 (64-bit, prefetchable) [size=1M]\n");
	assert_lacks(text, "Region 1");
	assert_contains(text, "\tRegion 3: I/O ports at c000 [size=64]\n");
	free(text);
	free(d);
}

static void test_64bit_bar_in_last_slot_is_broken(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	put32(d, 0x24, 0x4);
	d->bar_size[5] = 4096;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tRegion 5: Memory at <broken-64-bit-slot> (64-bit, non-prefetchable)");
	free(text);
	free(d);
}

/* Every "Region N:" line of a report, one per line, in order. */
static void region_lines(const char *text, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *p = text; (p = strstr(p, "\tRegion ")); p++) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		assert_true(used + len < size);
		memcpy(buf + used, p, len);
		used += len;
		buf[used] = '\0';
	}
}

/* A device with only BAR2, whose absent BAR registers hold junk (here the
 * I/O space bit, as some servers leave it): only BAR2 is a region. */
static void test_only_bars_with_a_size_are_shown(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	for (unsigned i = 0; i < 6; i++)
		put32(d, 0x10 + 4 * i, 0x1);
	d->bar_size[0] = 0;
	d->bar_size[2] = 8;
	char lines[512];
	char *text = render(d, 2, 1);
	region_lines(text, lines, sizeof(lines));
	assert_string_equal(lines, "\tRegion 2: I/O ports at <unassigned> [disabled] [size=8]\n");
	assert_int_equal(count_of(text, "I/O ports at"), 1);
	assert_lacks(text, "Memory at");
	/* the hex dump still shows the registers as they are */
	assert_contains(text, "\n10: 01 00 00 00 01 00 00 00 01 00 00 00 01 00 00 00\n");
	assert_contains(text, "\n20: 01 00 00 00 01 00 00 00 ");
	free(text);
	/* -v: the same BAR, without the region number */
	text = render(d, 1, 0);
	assert_int_equal(count_of(text, "I/O ports at"), 1);
	assert_contains(text, "\tI/O ports at <unassigned> [disabled] [size=8]\n");
	assert_lacks(text, "Memory at");
	free(text);
	free(d);
}

/* A 64-bit BAR is one region numbered after its lower half: its upper
 * half is never shown, even when the server gives it a size too. */
static void test_64bit_bar_upper_half_never_shown(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	put16(d, 0x04, 0x0002);
	put32(d, 0x10, 0x4); /* absent BARs 0 and 1 holding junk */
	put32(d, 0x14, 0x1);
	put32(d, 0x18, 0xfe00000c); /* BAR2: 64-bit prefetchable at 0x1fe000000 */
	put32(d, 0x1c, 0x1);
	put32(d, 0x20, 0x4); /* BAR4: 64-bit non-prefetchable, unassigned */
	put32(d, 0x24, 0);
	d->bar_size[0] = 0;
	d->bar_size[2] = 1 << 20;
	d->bar_size[3] = 1 << 20;
	d->bar_size[4] = 16384;
	d->bar_size[5] = 16384;
	char lines[512];
	char *text = render(d, 2, 1);
	region_lines(text, lines, sizeof(lines));
	assert_string_equal(lines, "\tRegion 2: Memory at 1fe000000 (64-bit, prefetchable) [size=1M]\n"
				   "\tRegion 4: Memory at <unassigned> (64-bit, non-prefetchable) [size=16K]\n");
	assert_lacks(text, "I/O ports");
	assert_contains(text, "\n10: 04 00 00 00 01 00 00 00 0c 00 00 fe 01 00 00 00\n");
	free(text);
	free(d);
}

static void test_size_uses_largest_exact_unit(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->bar_size[0] = 3ull << 30;
	d->bar_size[2] = 0;
	put32(d, 0x18, 0);
	d->bar_size[4] = 1536;
	put32(d, 0x20, 0);
	char *text = render(d, 2, 0);
	assert_contains(text, "[size=3G]\n");
	assert_contains(text, "[size=1536]\n");
	free(text);
	free(d);
}

static void test_rom_shown_with_state(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->rom_size = 2048;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tExpansion ROM at <unassigned> [disabled] [size=2K]\n");
	free(text);
	put32(d, 0x30, 0xfeb00001);
	text = render(d, 2, 0);
	assert_contains(text, "\tExpansion ROM at feb00000 [disabled by cmd] [size=2K]\n");
	free(text);
	put16(d, 0x04, 0x0002);
	text = render(d, 2, 0);
	assert_contains(text, "\tExpansion ROM at feb00000 [size=2K]\n");
	free(text);
	free(d);
}

/* ---- capabilities --------------------------------------------------- */

static void test_msi_64bit_maskable_decoded(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	cap(d, 0x40, 0x05, 0);
	put16(d, 0x42, 0x0001 | 1 << 4 | 2 << 1 | 0x0080 | 0x0100);
	put32(d, 0x44, 0xfee00000);
	put32(d, 0x48, 0x1);
	put16(d, 0x4c, 0x4021);
	put32(d, 0x50, 0xe);
	put32(d, 0x54, 0x1);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [40] MSI: Enable+ Count=2/4 Maskable+ 64bit+\n"
			      "\t\tAddress: 00000001fee00000  Data: 4021\n"
			      "\t\tMasking: 0000000e  Pending: 00000001\n");
	free(text);
	text = render(d, 1, 0); /* -v: the capability line only */
	assert_contains(text, "\tCapabilities: [40] MSI: Enable+ Count=2/4 Maskable+ 64bit+\n");
	assert_lacks(text, "Address:");
	free(text);
	free(d);
}

static void test_msi_32bit_without_masking(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	cap(d, 0x40, 0x05, 0);
	put32(d, 0x44, 0xfee00000);
	put16(d, 0x48, 0x0031);
	char *text = render(d, 2, 0);
	assert_contains(text, "MSI: Enable- Count=1/1 Maskable- 64bit-\n\t\tAddress: fee00000  Data: 0031\n");
	assert_lacks(text, "Masking");
	free(text);
	free(d);
}

static void test_msi_at_end_of_config_reads_nothing_beyond(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0xfc);
	cap(d, 0xfc, 0x05, 0);
	put16(d, 0xfe, 0x0180);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [fc] MSI: Enable- Count=1/1 Maskable+ 64bit+\n");
	assert_lacks(text, "Address:");
	free(text);
	free(d);
}

static void test_msix_table_and_pba_decoded(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x70);
	cap(d, 0x70, 0x11, 0);
	put16(d, 0x72, 0x8000 | 15);
	put32(d, 0x74, 0x2004);
	put32(d, 0x78, 0x3004);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [70] MSI-X: Enable+ Count=16 Masked-\n"
			      "\t\tVector table: BAR=4 offset=00002000\n"
			      "\t\tPBA: BAR=4 offset=00003000\n");
	free(text);
	free(d);
}

static void test_power_management_decoded(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x50);
	cap(d, 0x50, 0x01, 0);
	put16(d, 0x52, 0xc803);
	put16(d, 0x54, 0x000b);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [50] Power Management version 3\n"
			      "\t\tFlags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0+,D1-,D2-,D3hot+,D3cold+)\n"
			      "\t\tStatus: D3 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-\n");
	free(text);
	free(d);
}

static void test_express_endpoint_decoded(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x80);
	cap(d, 0x80, 0x10, 0);
	put16(d, 0x82, 0x0002);	    /* v2 endpoint */
	put32(d, 0x84, 0x10008001); /* MaxPayload 256, RBE, FLR */
	put16(d, 0x88, 0x2810);	    /* RlxdOrd, NoSnoop, MaxReadReq 512 */
	put32(d, 0x8c, 0x00000443); /* 8GT/s x4 ASPM L0s */
	put16(d, 0x92, 0x2041);	    /* 2.5GT/s x4 DLActive */
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [80] Express (v2) Endpoint, MSI 00\n");
	assert_contains(text, "\t\tDevCap:\tMaxPayload 256 bytes, PhantFunc 0, Latency L0s <64ns, L1 <1us\n"
			      "\t\t\tExtTag- AttnBtn- AttnInd- PwrInd- RBE+ FLReset+ SlotPowerLimit 0.000W\n");
	assert_contains(text, "\t\t\tMaxPayload 128 bytes, MaxReadReq 512 bytes\n");
	assert_contains(text, "\t\tLnkCap:\tPort #0, Speed 8GT/s, Width x4, ASPM L0s, Exit Latency L0s <64ns\n");
	assert_contains(text, "\t\tLnkSta:\tSpeed 2.5GT/s (downgraded), Width x4 (ok)\n"
			      "\t\t\tTrErr- Train- SlotClk- DLActive+ BWMgmt- ABWMgmt-\n");
	free(text);
	text = render(d, 1, 0);
	assert_contains(text, "\tCapabilities: [80] Express Endpoint, MSI 00\n");
	assert_lacks(text, "DevCap");
	free(text);
	free(d);
}

static void test_vendor_specific_and_unknown_caps_named(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	cap(d, 0x40, 0x09, 0x50);
	d->config[0x42] = 0x0c;
	cap(d, 0x50, 0x42, 0);
	put16(d, 0x52, 0x1234);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [40] Vendor Specific Information: Len=0c <?>\n"
			      "\tCapabilities: [50] #42 [1234]\n");
	free(text);
	free(d);
}

static void test_no_caps_without_status_bit(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	d->config[0x34] = 0x40;
	cap(d, 0x40, 0x05, 0);
	char *text = render(d, 2, 0);
	assert_lacks(text, "Capabilities");
	free(text);
	free(d);
}

static void test_looping_chain_ends(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	cap(d, 0x40, 0x09, 0x50);
	cap(d, 0x50, 0x09, 0x40);
	char *text = render(d, 2, 0);
	assert_int_equal(count_of(text, "Capabilities: [40]"), 2);
	assert_contains(text, "\tCapabilities: [40] <chain looped>\n");
	free(text);
	cap(d, 0x40, 0x09, 0x41); /* points at itself, misaligned */
	text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [40] <chain looped>\n");
	free(text);
	free(d);
}

static void test_chain_into_header_is_broken(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	cap(d, 0x40, 0x09, 0x10);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [10] <chain broken>\n");
	free(text);
	cap(d, 0x40, 0xff, 0);
	text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [40] <chain broken>\n");
	free(text);
	free(d);
}

static void test_chain_beyond_short_config_stops(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	first_cap(d, 0x40);
	d->config_size = 64;
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [40] <beyond config space>\n");
	free(text);
	free(d);
}

static void setup_pcie_with_ext_caps(struct lspci_device *d)
{
	d->config_size = 4096;
	first_cap(d, 0x80);
	cap(d, 0x80, 0x10, 0);
	put16(d, 0x82, 0x0002);
	put32(d, 0x100, 0x0001 | 1 << 16 | 0x140u << 20);
	put32(d, 0x140, 0x0003 | 1 << 16 | 0x180u << 20);
	put32(d, 0x144, 0x05060708);
	put32(d, 0x148, 0x01020304);
	put32(d, 0x180, 0x000b | 1 << 16 | 0x100u << 20); /* back to the start */
	put32(d, 0x184, 0x0181abcd);
}

static void test_extended_caps_walked_with_loop_guard(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	setup_pcie_with_ext_caps(d);
	char *text = render(d, 2, 0);
	assert_contains(text, "\tCapabilities: [100 v1] Advanced Error Reporting\n"
			      "\tCapabilities: [140 v1] Device Serial Number 01-02-03-04-05-06-07-08\n"
			      "\tCapabilities: [180 v1] Vendor Specific Information: ID=abcd Rev=1 Len=018 <?>\n"
			      "\tCapabilities: [100 v1] <chain looped>\n");
	free(text);
	d->config_size = 256; /* the extended space was not read */
	text = render(d, 2, 0);
	assert_lacks(text, "[100");
	free(text);
	free(d);
}

static void test_extended_caps_need_express_cap(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	setup_pcie_with_ext_caps(d);
	d->config[0x80] = 0x09;
	char *text = render(d, 2, 0);
	assert_lacks(text, "[100");
	free(text);
	free(d);
}

/* ---- hex dump ------------------------------------------------------- */

static void test_hex_dump_matches_lspci_layout(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 0, 1);
	assert_string_equal(text, "00:00.0 Unassigned class [ff00]: Device 1de0:0001 (rev 01)\n"
				  "00: e0 1d 01 00 00 00 00 00 01 00 00 ff 00 00 00 00\n"
				  "10: 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00\n"
				  "20: 00 00 00 00 00 00 00 00 00 00 00 00 e0 1d 01 00\n"
				  "30: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n"
				  "\n");
	free(text);
	free(d);
}

static void test_hex_dump_lengths_follow_x_count_and_config_size(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	char *text = render(d, 0, 3);
	assert_int_equal(count_of(text, ": "), 1 + 16);
	assert_contains(text, "\nf0: ");
	free(text);
	text = render(d, 0, 4); /* 256-byte config: -xxxx shows what there is */
	assert_int_equal(count_of(text, ": "), 1 + 16);
	free(text);
	d->config_size = 4096;
	d->config[0xfff] = 0xab;
	text = render(d, 0, 4);
	assert_int_equal(count_of(text, ": "), 1 + 256);
	assert_contains(text, "\n100: 00 ");
	assert_contains(text, "\nff0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ab\n");
	free(text);
	text = render(d, 0, 3);
	assert_int_equal(count_of(text, ": "), 1 + 16);
	free(text);
	free(d);
}

/* ---- vfio-user lines ------------------------------------------------ */

static void fill_vfio(struct lspci_device *d)
{
	d->has_vfio = true;
	d->caps.major = 0;
	d->caps.minor = 0;
	d->caps.max_data_xfer_size = 1048576;
	d->caps.max_msg_fds = 8;
	d->caps.max_dma_maps = 1024;
	d->caps.pgsizes = 4096;
	d->info.flags = UVF_DEVICE_FLAG_RESET | UVF_DEVICE_FLAG_PCI;
	d->info.num_regions = 9;
	d->info.num_irqs = 5;
	d->nr_regions = 9;
	for (uint32_t i = 0; i < 9; i++) {
		d->regions[i].index = i;
		d->regions[i].fd = -1;
	}
	d->regions[0].size = 4096;
	d->regions[0].flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE;
	d->regions[7].size = 256;
	d->regions[7].flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | 0x100;
	d->nr_irqs = 5;
	for (uint32_t i = 0; i < 5; i++)
		d->irqs[i].index = i;
	d->irqs[0].count = 1;
	d->irqs[0].flags = UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_MASKABLE | UVF_IRQ_INFO_AUTOMASKED;
	d->irqs[1].count = 4;
	d->irqs[1].flags = UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_NORESIZE;
}

static void test_vfio_user_lines_list_caps_regions_and_irqs(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	fill_vfio(d);
	char *text = render(d, 1, 0);
	assert_contains(text, "\tvfio-user: version 0.0, max_data_xfer_size 1048576, max_msg_fds 8, max_dma_maps "
			      "1024, pgsizes 0x1000, WriteMulti- TwinSocket-\n"
			      "\tvfio-user device: flags=reset,pci, 9 regions, 5 IRQ types\n"
			      "\tvfio-user regions: BAR0 size=0x1000 flags=read,write; CONFIG size=0x100 "
			      "flags=read,write,0x100\n"
			      "\tvfio-user IRQs: INTx count=1 flags=eventfd,maskable,automasked; MSI count=4 "
			      "flags=eventfd,noresize\n"
			      "\tKernel driver in use: vfio-user\n");
	assert_lacks(text, "JSON");
	free(text);
	text = render(d, 0, 0);
	assert_lacks(text, "vfio-user");
	free(text);
	strcpy(d->caps.json, "{\"capabilities\":\n{\"max_msg_fds\":8}}");
	text = render(d, 3, 0);
	assert_contains(text, "\tvfio-user VERSION JSON: {\"capabilities\": {\"max_msg_fds\":8}}\n");
	free(text);
	free(d);
}

static void test_vfio_user_lines_count_regions_not_shown(void **state)
{
	(void)state;
	struct lspci_device *d = new_device();
	fill_vfio(d);
	d->info.num_regions = 1000;
	d->nr_irqs = 0;
	d->info.num_irqs = 0;
	char *text = render(d, 1, 0);
	assert_contains(text, "flags=read,write,0x100; (991 more not shown)\n");
	assert_contains(text, "\tvfio-user IRQs: none\n");
	free(text);
	free(d);
}

/* ---- pci.ids -------------------------------------------------------- */

static char *write_ids_file(void)
{
	static const char ids[] = "# test database\n"
				  "1af4  Other Vendor\n"
				  "\t0001  Not This One\n"
				  "1de0  Test Vendor\n"
				  "\t0001  Scratch Device\n"
				  "\t\t1de0 0001  Scratch Subsystem\n"
				  "\t\t1af4 0001  Foreign Subsystem\n"
				  "\t0003  Another\n"
				  "C ff  Unassigned class\n"
				  "1de1  After Classes\n";
	char *path = strdup("/tmp/uvf-test-pci-ids-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ids, sizeof(ids) - 1), (ssize_t)(sizeof(ids) - 1));
	close(fd);
	return path;
}

static void test_ids_lookup_finds_vendor_device_and_subsystem(void **state)
{
	(void)state;
	char *path = write_ids_file();
	struct lspci_id_names names;

	assert_int_equal(lspci_ids_lookup(path, 0x1de0, 0x0001, 0x1de0, 0x0001, &names), 0);
	assert_string_equal(names.vendor, "Test Vendor");
	assert_string_equal(names.device, "Scratch Device");
	assert_string_equal(names.subvendor, "Test Vendor");
	assert_string_equal(names.subsystem, "Scratch Subsystem");

	assert_int_equal(lspci_ids_lookup(path, 0x1de0, 0x0002, 0x1af4, 0x0009, &names), 0);
	assert_string_equal(names.vendor, "Test Vendor");
	assert_string_equal(names.device, "");
	assert_string_equal(names.subvendor, "Other Vendor");
	assert_string_equal(names.subsystem, "");

	/* entries after the class section are not vendors */
	assert_int_equal(lspci_ids_lookup(path, 0x1de1, 0x0001, 0, 0, &names), 0);
	assert_string_equal(names.vendor, "");

	struct lspci_device *d = new_device();
	struct lspci_opts opts = {.verbose = 1, .ids_path = path};
	char *text = render_opts(d, &opts);
	assert_contains(text, "00:00.0 Unassigned class [ff00]: Test Vendor Scratch Device (rev 01)");
	assert_contains(text, "\tSubsystem: Test Vendor Scratch Subsystem\n");
	free(text);
	put16(d, 0x02, 0x0002);
	text = render_opts(d, &opts);
	assert_contains(text, ": Test Vendor Device 0002 (rev 01)");
	free(text);
	free(d);
	unlink(path);
	free(path);
}

static void test_ids_lookup_reports_missing_file(void **state)
{
	(void)state;
	struct lspci_id_names names;
	assert_int_equal(lspci_ids_lookup("/nonexistent/pci.ids", 1, 2, 3, 4, &names), -ENOENT);
	assert_string_equal(names.vendor, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_line_names_class_and_ids),
		cmocka_unit_test(test_numeric_mode_prints_numbers),
		cmocka_unit_test(test_class_names_fall_back_from_subclass_to_base_to_number),
		cmocka_unit_test(test_progif_shown_when_verbose),
		cmocka_unit_test(test_subsystem_hidden_when_absent),
		cmocka_unit_test(test_control_and_status_lines_decode_bits),
		cmocka_unit_test(test_latency_only_for_bus_masters),
		cmocka_unit_test(test_bad_interrupt_pin_shown_as_question_mark),
		cmocka_unit_test(test_verbose_one_prints_flags_line),
		cmocka_unit_test(test_unknown_header_type_not_decoded),
		cmocka_unit_test(test_unassigned_bars_show_type_and_size),
		cmocka_unit_test(test_assigned_64bit_prefetchable_bar_uses_both_registers),
		cmocka_unit_test(test_64bit_bar_in_last_slot_is_broken),
		cmocka_unit_test(test_only_bars_with_a_size_are_shown),
		cmocka_unit_test(test_64bit_bar_upper_half_never_shown),
		cmocka_unit_test(test_size_uses_largest_exact_unit),
		cmocka_unit_test(test_rom_shown_with_state),
		cmocka_unit_test(test_msi_64bit_maskable_decoded),
		cmocka_unit_test(test_msi_32bit_without_masking),
		cmocka_unit_test(test_msi_at_end_of_config_reads_nothing_beyond),
		cmocka_unit_test(test_msix_table_and_pba_decoded),
		cmocka_unit_test(test_power_management_decoded),
		cmocka_unit_test(test_express_endpoint_decoded),
		cmocka_unit_test(test_vendor_specific_and_unknown_caps_named),
		cmocka_unit_test(test_no_caps_without_status_bit),
		cmocka_unit_test(test_looping_chain_ends),
		cmocka_unit_test(test_chain_into_header_is_broken),
		cmocka_unit_test(test_chain_beyond_short_config_stops),
		cmocka_unit_test(test_extended_caps_walked_with_loop_guard),
		cmocka_unit_test(test_extended_caps_need_express_cap),
		cmocka_unit_test(test_hex_dump_matches_lspci_layout),
		cmocka_unit_test(test_hex_dump_lengths_follow_x_count_and_config_size),
		cmocka_unit_test(test_vfio_user_lines_list_caps_regions_and_irqs),
		cmocka_unit_test(test_vfio_user_lines_count_regions_not_shown),
		cmocka_unit_test(test_ids_lookup_finds_vendor_device_and_subsystem),
		cmocka_unit_test(test_ids_lookup_reports_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
