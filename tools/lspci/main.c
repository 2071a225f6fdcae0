/* SPDX-License-Identifier: MIT */
/*
 * uvf-lspci: show a vfio-user device the way lspci shows a PCI function.
 *
 *   uvf-lspci [-v|-vv] [-x|-xxx|-xxxx] [-n] [-t TIMEOUT_MS] SOCKET_PATH
 *
 * Connects to the server socket, asks for the device, region and IRQ infos,
 * reads config space (region 7) and prints the report (tools/lspci/). Read
 * only: nothing is written to the device.
 *
 * Exit status: 0 success, 1 the device could not be reached or read,
 * 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lspci/lspci.h"
#include "uvf/client.h"

static const char *prog = "uvf-lspci";
/* Library log lines are shown only with -vvv: the tool prints its own
 * message for every failure, once. */
static bool show_library_log;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] SOCKET_PATH\n"
		"Show the vfio-user device listening on SOCKET_PATH like lspci shows a PCI device.\n"
		"\n"
		"  -v             be verbose (-vv: decode capabilities; -vvv: also log the protocol)\n"
		"  -x             hex dump of the standard config header (64 bytes)\n"
		"  -xxx           hex dump of the whole 256-byte config space\n"
		"  -xxxx          hex dump of the 4096-byte extended config space\n"
		"  -n             show numeric ids instead of names\n"
		"  -t TIMEOUT_MS  wait at most this long for each reply (default 5000, -1 = forever)\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n",
		prog);
}

static void log_line(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (show_library_log)
		fprintf(stderr, "%s: %s: %s\n", prog, uvf_log_level_name(level), line);
}

/* The message for a failed connect: the errno text, plus what it means here. */
static void connect_error(const char *path, int err, int timeout_ms)
{
	switch (-err) {
	case ECONNREFUSED:
		fprintf(stderr, "%s: cannot connect to %s: %s (no server is listening)\n", prog, path, strerror(-err));
		break;
	case ENOTSOCK:
		fprintf(stderr, "%s: cannot connect to %s: not a socket\n", prog, path);
		break;
	case ETIMEDOUT:
		fprintf(stderr, "%s: cannot connect to %s: no VERSION reply within %d ms\n", prog, path, timeout_ms);
		break;
	case EPROTO:
		fprintf(stderr, "%s: cannot connect to %s: not a vfio-user server (bad VERSION reply)\n", prog, path);
		break;
	case ECONNRESET:
	case EPIPE:
		fprintf(stderr, "%s: cannot connect to %s: the peer closed the connection during VERSION (%s)\n", prog,
			path, strerror(-err));
		break;
	default:
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, path, strerror(-err));
	}
}

static int fail(const char *path, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s: %s\n", prog, path, what, strerror(-err));
	return err;
}

/* Read config space: the first 256 bytes must be readable; the extended
 * part of a 4 KiB space is shown only when it can be read too. */
static int read_config(struct uvf_client *client, const char *path, struct lspci_device *dev, uint64_t size)
{
	uint64_t first = size < UVF_PCI_CONFIG_SIZE ? size : UVF_PCI_CONFIG_SIZE;
	int ret;

	if (size < 64) {
		fprintf(stderr, "%s: %s: config space of %llu bytes is smaller than a PCI header\n", prog, path,
			(unsigned long long)size);
		return -EPROTO;
	}
	ret = uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, 0, dev->config, (size_t)first);
	if (ret < 0)
		return fail(path, "cannot read config space", ret);
	dev->config_size = (uint32_t)first;
	if (size > UVF_PCI_CONFIG_SIZE) {
		uint64_t rest = (size < UVF_PCIE_CONFIG_SIZE ? size : UVF_PCIE_CONFIG_SIZE) - first;
		ret = uvf_client_region_read(client, UVF_PCI_CONFIG_REGION, first, dev->config + first, (size_t)rest);
		if (ret < 0)
			fprintf(stderr, "%s: %s: cannot read extended config space: %s\n", prog, path, strerror(-ret));
		else
			dev->config_size += (uint32_t)rest;
	}
	return 0;
}

static int gather(struct uvf_client *client, const char *path, struct lspci_device *dev)
{
	int ret;

	dev->has_vfio = true;
	dev->caps = *uvf_client_server_caps(client);
	ret = uvf_client_device_info(client, &dev->info);
	if (ret < 0)
		return fail(path, "DEVICE_GET_INFO failed", ret);
	if (!(dev->info.flags & UVF_DEVICE_FLAG_PCI)) {
		fprintf(stderr, "%s: %s: not a PCI device (device flags %#x)\n", prog, path, dev->info.flags);
		return -ENODEV;
	}
	if (dev->info.num_regions <= UVF_PCI_CONFIG_REGION) {
		fprintf(stderr, "%s: %s: the server reports %u regions, so no config space\n", prog, path,
			dev->info.num_regions);
		return -EPROTO;
	}

	dev->nr_regions = dev->info.num_regions < LSPCI_MAX_REGIONS ? dev->info.num_regions : LSPCI_MAX_REGIONS;
	for (uint32_t i = 0; i < dev->nr_regions; i++) {
		struct uvf_client_region *r = &dev->regions[i];

		r->argsz = sizeof(*r);
		ret = uvf_client_region_info(client, i, r);
		if (ret < 0 && i <= UVF_PCI_CONFIG_REGION) {
			char what[64];
			snprintf(what, sizeof(what), "DEVICE_GET_REGION_INFO %u failed", i);
			return fail(path, what, ret);
		}
		if (ret < 0) {
			/* a device-specific region: show the device without it */
			memset(r, 0, sizeof(*r));
			r->index = i;
			r->fd = -1;
		}
	}
	for (unsigned i = 0; i < 6; i++)
		dev->bar_size[i] = dev->regions[i].size;
	dev->rom_size = dev->regions[UVF_PCI_ROM_REGION].size;

	ret = read_config(client, path, dev, dev->regions[UVF_PCI_CONFIG_REGION].size);
	if (ret < 0)
		return ret;

	dev->nr_irqs = dev->info.num_irqs < LSPCI_MAX_IRQS ? dev->info.num_irqs : LSPCI_MAX_IRQS;
	for (uint32_t i = 0; i < dev->nr_irqs; i++) {
		ret = uvf_client_irq_info(client, i, &dev->irqs[i]);
		if (ret == -EINVAL && (i == UVF_PCI_ERR_IRQ || i == UVF_PCI_REQ_IRQ)) {
			/* as with kernel VFIO: the device does not offer it */
			memset(&dev->irqs[i], 0, sizeof(dev->irqs[i]));
			dev->irqs[i].index = i;
			continue;
		}
		if (ret < 0) {
			char what[64];
			snprintf(what, sizeof(what), "DEVICE_GET_IRQ_INFO %u failed", i);
			return fail(path, what, ret);
		}
	}
	return 0;
}

static const char *find_pci_ids(void)
{
	static const char *const paths[] = {"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids",
					    "/usr/share/pci.ids"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

static bool parse_timeout(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || (v != -1 && (v < 1 || v > INT_MAX)))
		return false;
	*out = (int)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct lspci_opts opts = {0};
	int timeout_ms = 5000;
	int c, ret;

	while ((c = getopt_long(argc, argv, "vxnt:hV", long_options, NULL)) != -1) {
		switch (c) {
		case 'v':
			opts.verbose++;
			break;
		case 'x':
			opts.hex++;
			break;
		case 'n':
			opts.numeric = true;
			break;
		case 't':
			if (!parse_timeout(optarg, &timeout_ms)) {
				fprintf(stderr, "%s: bad timeout '%s': expected milliseconds >= 1, or -1\n", prog,
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s (uvf) %s\n", prog, UVF_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: %s\n", prog, optind >= argc ? "missing SOCKET_PATH" : "too many arguments");
		usage(stderr);
		return 2;
	}
	const char *path = argv[optind];

	struct uvf_client_opts copts = UVF_CLIENT_OPTS_INIT;
	copts.timeout_ms = timeout_ms;
	copts.log = log_line;
	show_library_log = opts.verbose >= 3;
	if (show_library_log)
		copts.log_level = UVF_LOG_DEBUG;
	struct uvf_client *client = NULL;
	ret = uvf_client_connect(&client, path, &copts);
	if (ret < 0) {
		connect_error(path, ret, timeout_ms);
		return 1;
	}

	struct lspci_device *dev = calloc(1, sizeof(*dev));
	if (!dev) {
		fprintf(stderr, "%s: out of memory\n", prog);
		uvf_client_close(client);
		return 1;
	}
	ret = gather(client, path, dev);
	uvf_client_close(client);
	if (ret == 0) {
		opts.ids_path = find_pci_ids();
		lspci_show_device(stdout, dev, &opts);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "%s: cannot write the output: %s\n", prog, strerror(errno));
			ret = -EIO;
		}
	}
	free(dev);
	return ret < 0 ? 1 : 0;
}
