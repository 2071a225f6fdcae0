/* SPDX-License-Identifier: MIT */
/*
 * The C halves of the Python benchmark (bench/bench_python.py):
 *
 *   uvf-bench-readloop --serve SOCKET   a device whose BAR0 read callback
 *                                       only zero-fills (the C equivalent
 *                                       of the Python device's trivial read)
 *   uvf-bench-readloop SOCKET N         N REGION_READs of 4 bytes at BAR0
 *                                       0x10 by uvf's C client; prints the
 *                                       rate per second
 *
 * The serving program stops on SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uvf/client.h"
#include "uvf/server.h"

static struct uvf_device *served;

static int zero_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	memset(buf, 0, len);
	return 0;
}

static int ignore_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	return 0;
}

static void on_signal(int sig)
{
	uvf_device_stop(served);
}

static int serve(const char *path)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .read = zero_read, .write = ignore_write};
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00b0, .class_code = 0xff0000};
	int ret;

	if ((ret = uvf_device_new(&served)) < 0 || (ret = uvf_device_set_pci_ids(served, &ids)) < 0 ||
	    (ret = uvf_device_set_bar(served, 0, &bar0)) < 0 || (ret = uvf_device_listen(served, path, NULL)) < 0) {
		fprintf(stderr, "uvf-bench-readloop: cannot serve %s: %s\n", path, uvf_strerror(ret));
		uvf_device_free(served);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	ret = uvf_device_run(served);
	uvf_device_free(served);
	return ret < 0;
}

static int read_loop(const char *path, unsigned long long n)
{
	struct uvf_client *c;
	struct timespec a, b;
	uint8_t buf[4];
	unsigned long long i;
	int ret;

	ret = uvf_client_connect(&c, path, NULL);
	if (ret < 0) {
		fprintf(stderr, "uvf-bench-readloop: cannot connect to %s: %s\n", path, uvf_strerror(ret));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		ret = uvf_client_region_read(c, 0, 0x10, buf, sizeof(buf));
		if (ret < 0) {
			fprintf(stderr, "uvf-bench-readloop: REGION_READ: %s\n", uvf_strerror(ret));
			uvf_client_close(c);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	uvf_client_close(c);
	printf("%.1f\n", (double)n / ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	if (argc == 3)
		return read_loop(argv[1], strtoull(argv[2], NULL, 0));
	fprintf(stderr, "usage: uvf-bench-readloop --serve SOCKET | SOCKET N\n");
	return 2;
}
