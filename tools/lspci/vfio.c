/* SPDX-License-Identifier: MIT */
/* The vfio-user part of the report: what VERSION, DEVICE_GET_INFO,
 * DEVICE_GET_REGION_INFO and DEVICE_GET_IRQ_INFO answered. */
#include <inttypes.h>

#include "lspci.h"

struct flag_name {
	uint32_t bit;
	const char *name;
};

/* "a,b,0x40": named bits, then the unknown rest in hex; "none" for 0. */
static void print_flags(FILE *out, uint32_t flags, const struct flag_name *names, size_t n)
{
	const char *sep = "";

	if (!flags) {
		fprintf(out, "none");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (flags & names[i].bit) {
			fprintf(out, "%s%s", sep, names[i].name);
			sep = ",";
			flags &= ~names[i].bit;
		}
	}
	if (flags)
		fprintf(out, "%s%#" PRIx32, sep, flags);
}

static const char *region_name(uint32_t index, char *buf, size_t size)
{
	static const char *const names[] = {"BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "CONFIG", "VGA"};

	if (index < sizeof(names) / sizeof(names[0]))
		return names[index];
	snprintf(buf, size, "REGION%" PRIu32, index);
	return buf;
}

static void show_regions(FILE *out, const struct lspci_device *dev)
{
	static const struct flag_name region_flags[] = {
		{UVF_REGION_FLAG_READ, "read"},
		{UVF_REGION_FLAG_WRITE, "write"},
		{UVF_REGION_FLAG_MMAP, "mmap"},
		{UVF_REGION_FLAG_CAPS, "caps"},
	};
	const char *sep = " ";
	uint32_t shown = 0;

	fprintf(out, "\tvfio-user regions:");
	for (uint32_t i = 0; i < dev->nr_regions && i < LSPCI_MAX_REGIONS; i++) {
		const struct uvf_client_region *r = &dev->regions[i];
		char buf[32];
		if (!r->size)
			continue;
		fprintf(out, "%s%s size=%#" PRIx64 " flags=", sep, region_name(r->index, buf, sizeof(buf)), r->size);
		print_flags(out, r->flags, region_flags, sizeof(region_flags) / sizeof(region_flags[0]));
		if (r->fd >= 0)
			fprintf(out, " mmap-offset=%#" PRIx64, r->offset);
		uint32_t nr_areas = r->nr_sparse_areas < UVF_CLIENT_MAX_SPARSE_AREAS ? r->nr_sparse_areas
										     : UVF_CLIENT_MAX_SPARSE_AREAS;
		for (uint32_t a = 0; a < nr_areas; a++)
			fprintf(out, "%s%#" PRIx64 "+%#" PRIx64, a ? "," : " sparse=", r->sparse_areas[a].offset,
				r->sparse_areas[a].size);
		if (r->has_type)
			fprintf(out, " type=%#" PRIx32 ":%#" PRIx32, r->type, r->subtype);
		sep = "; ";
		shown++;
	}
	if (dev->info.num_regions > dev->nr_regions)
		fprintf(out, "%s(%" PRIu32 " more not shown)", sep, dev->info.num_regions - dev->nr_regions);
	else if (!shown)
		fprintf(out, " none");
	fputc('\n', out);
}

static void show_irqs(FILE *out, const struct lspci_device *dev)
{
	static const char *const names[] = {"INTx", "MSI", "MSI-X", "ERR", "REQ"};
	static const struct flag_name irq_flags[] = {
		{UVF_IRQ_INFO_EVENTFD, "eventfd"},
		{UVF_IRQ_INFO_MASKABLE, "maskable"},
		{UVF_IRQ_INFO_AUTOMASKED, "automasked"},
		{UVF_IRQ_INFO_NORESIZE, "noresize"},
	};
	const char *sep = " ";
	uint32_t shown = 0;

	fprintf(out, "\tvfio-user IRQs:");
	for (uint32_t i = 0; i < dev->nr_irqs && i < LSPCI_MAX_IRQS; i++) {
		const struct uvf_msg_irq_info *irq = &dev->irqs[i];
		if (!irq->count)
			continue;
		if (irq->index < sizeof(names) / sizeof(names[0]))
			fprintf(out, "%s%s", sep, names[irq->index]);
		else
			fprintf(out, "%sIRQ%" PRIu32, sep, irq->index);
		fprintf(out, " count=%" PRIu32 " flags=", irq->count);
		print_flags(out, irq->flags, irq_flags, sizeof(irq_flags) / sizeof(irq_flags[0]));
		sep = "; ";
		shown++;
	}
	if (dev->info.num_irqs > dev->nr_irqs)
		fprintf(out, "%s(%" PRIu32 " more not shown)", sep, dev->info.num_irqs - dev->nr_irqs);
	else if (!shown)
		fprintf(out, " none");
	fputc('\n', out);
}

/* The server's JSON, on one line and without control characters. */
static void show_json(FILE *out, const char *json, size_t cap)
{
	fprintf(out, "\tvfio-user VERSION JSON: ");
	for (size_t i = 0; i < cap && json[i]; i++)
		fputc((unsigned char)json[i] < 0x20 || json[i] == 0x7f ? ' ' : json[i], out);
	fputc('\n', out);
}

void lspci_show_vfio(FILE *out, const struct lspci_device *dev, int verbose)
{
	static const struct flag_name device_flags[] = {
		{UVF_DEVICE_FLAG_RESET, "reset"},
		{UVF_DEVICE_FLAG_PCI, "pci"},
	};
	const struct uvf_server_caps *caps = &dev->caps;

	fprintf(out,
		"\tvfio-user: version %u.%u, max_data_xfer_size %" PRIu32 ", max_msg_fds %" PRIu32
		", max_dma_maps %" PRIu32 ", pgsizes %#" PRIx64 ", WriteMulti%c TwinSocket%c\n",
		caps->major, caps->minor, caps->max_data_xfer_size, caps->max_msg_fds, caps->max_dma_maps,
		caps->pgsizes, caps->write_multiple ? '+' : '-', caps->twin_socket ? '+' : '-');
	fprintf(out, "\tvfio-user device: flags=");
	print_flags(out, dev->info.flags, device_flags, sizeof(device_flags) / sizeof(device_flags[0]));
	fprintf(out, ", %" PRIu32 " regions, %" PRIu32 " IRQ types\n", dev->info.num_regions, dev->info.num_irqs);
	if (verbose >= 3)
		show_json(out, caps->json, sizeof(caps->json));
	show_regions(out, dev);
	show_irqs(out, dev);
}
