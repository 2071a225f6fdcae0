/* SPDX-License-Identifier: MIT */
/*
 * idio16-check: runs inside the end-to-end guest, after the
 * gpio-pci-idio-16 driver bound to uvf-idio16, and checks the card through
 * the GPIO character device (uapi v2, <linux/gpio.h>).
 *
 * Build (static, for the initramfs):
 *   gcc -static -Wall -Wextra -O2 -o idio16-check idio16-check.c
 *
 * Usage: idio16-check [--outputs=0xHHHH] [--expect-inputs=0xHHHH]
 *                     [--timeout=SECONDS] [--rounds=N] [--chip=/dev/gpiochipN]
 *
 * Defaults: outputs 0xa55a, expect-inputs 0x5aa5, timeout 60 s (per wait),
 * 2 rounds. Prints on stdout (the serial console), one line each:
 *
 *   UVF-E2E: PASS <name>            a check passed
 *   UVF-E2E: FAIL <name>: <why>     a check failed
 *   UVF-E2E: INFO <text>            what was found
 *   UVF-E2E: OUTPUTS 0xHHHH         the outputs are now set to this; the
 *                                   host sees "outputs=0xHHHH" on the
 *                                   device's stdout
 *   UVF-E2E: INPUTS 0xHHHH          the inputs before the first round
 *   UVF-E2E: WAIT-INPUT 0xHHHH      edge detection is armed on the 16
 *                                   inputs; the host now sets the inputs to
 *                                   0xHHHH ("inputs 0xHHHH" on the device's
 *                                   --control FIFO). Round 1 asks for the
 *                                   expected value, round 2 for its
 *                                   complement, and so on.
 *
 * Checks, in order: driver-bound, find-chip, line-names, set-outputs,
 * inputs-differ, then per round edge-event and read-inputs (with "-2",
 * "-3"... after the first round). Last line "idio16-check: N passed, M
 * failed". Exit status 0 when all passed, 1 otherwise. It does not print
 * "UVF-E2E: DONE": the guest's init does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "e2e-report.h"

#define DRIVER_DIR  "/sys/bus/pci/drivers/pci-idio-16"
#define NUM_OUTPUTS 16
#define FIRST_INPUT 16
#define NUM_INPUTS  16
#define MAX_BOUND   8

static bool parse_u16(const char *text, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || end == text || *end || v > 0xffff)
		return false;
	*out = (uint16_t)v;
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* PCI addresses ("0000:00:04.0") the driver is bound to: the gpiochip's
 * label is the PCI device name. */
static int bound_devices(char names[][32], int max)
{
	DIR *d = opendir(DRIVER_DIR);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && n < max) {
		unsigned dom, bus, slot, fn;
		char tail;
		size_t len = strlen(e->d_name);
		if (len >= 32 || sscanf(e->d_name, "%x:%x:%x.%x%c", &dom, &bus, &slot, &fn, &tail) != 4)
			continue;
		memcpy(names[n++], e->d_name, len + 1);
	}
	closedir(d);
	return n;
}

/* Open a gpiochip by /dev name; when /dev has no node for it, make one
 * from sysfs in /tmp. */
static int open_chip(const char *name)
{
	char path[PATH_MAX], sys[PATH_MAX], text[32];
	unsigned maj, min;
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	snprintf(sys, sizeof(sys), "/sys/bus/gpio/devices/%s/dev", name);
	f = fopen(sys, "r");
	if (!f)
		return -1;
	if (!fgets(text, sizeof(text), f) || sscanf(text, "%u:%u", &maj, &min) != 2) {
		fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/tmp/%s", name);
	if (mknod(path, S_IFCHR | 0600, makedev(maj, min)) < 0 && errno != EEXIST)
		return -1;
	return open(path, O_RDWR | O_CLOEXEC);
}

static bool line_name_is(int chip, unsigned offset, const char *want, char *got, size_t cap)
{
	struct gpio_v2_line_info li;

	memset(&li, 0, sizeof(li));
	li.offset = offset;
	if (ioctl(chip, GPIO_V2_GET_LINEINFO_IOCTL, &li) < 0) {
		snprintf(got, cap, "(%s)", strerror(errno));
		return false;
	}
	snprintf(got, cap, "%s", li.name);
	return !strcmp(li.name, want);
}

/* Find the idio16 gpiochip: its label is a PCI name the driver is bound to;
 * or, failing that, 32 lines named OUT0.. and IIN0... */
static int find_chip(const char *forced, char bound[][32], int nbound)
{
	struct dirent **list = NULL;
	int n, found = -1;

	if (forced)
		return open(forced, O_RDWR | O_CLOEXEC);
	n = scandir("/sys/bus/gpio/devices", &list, NULL, alphasort);
	if (n < 0)
		n = scandir("/dev", &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		struct gpiochip_info ci;
		char got[GPIO_MAX_NAME_SIZE + 16];
		int fd;
		bool match = false;
		if (found >= 0 || strncmp(name, "gpiochip", 8))
			continue;
		fd = open_chip(name);
		if (fd < 0)
			continue;
		memset(&ci, 0, sizeof(ci));
		if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &ci) == 0) {
			for (int b = 0; b < nbound; b++)
				match |= !strcmp(ci.label, bound[b]);
			if (!match && ci.lines == NUM_OUTPUTS + NUM_INPUTS)
				match = line_name_is(fd, 0, "OUT0", got, sizeof(got)) &&
					line_name_is(fd, FIRST_INPUT, "IIN0", got, sizeof(got));
			if (match)
				info("chip %s: name %s, label %s, %u lines", name, ci.name, ci.label, ci.lines);
		}
		if (match)
			found = fd;
		else
			close(fd);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return found;
}

static void check_line_names(int chip)
{
	static const struct {
		unsigned offset;
		const char *name;
	} want[] = {{0, "OUT0"}, {15, "OUT15"}, {16, "IIN0"}, {31, "IIN15"}};
	char got[GPIO_MAX_NAME_SIZE + 16];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!line_name_is(chip, want[i].offset, want[i].name, got, sizeof(got))) {
			fail("line-names", "line %u is '%s', want '%s'", want[i].offset, got, want[i].name);
			return;
		}
	}
	pass("line-names");
}

/* Request count lines from first with flags; returns the request fd. */
static int request_lines(int chip, unsigned first, unsigned count, uint64_t flags, const char *consumer)
{
	struct gpio_v2_line_request req;

	memset(&req, 0, sizeof(req));
	for (unsigned i = 0; i < count; i++)
		req.offsets[i] = first + i;
	req.num_lines = count;
	snprintf(req.consumer, sizeof(req.consumer), "%s", consumer);
	req.config.flags = flags;
	req.event_buffer_size = 64;
	if (ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &req) < 0)
		return -1;
	return req.fd;
}

static int get_values(int req, unsigned count, uint16_t *out)
{
	struct gpio_v2_line_values v = {.bits = 0, .mask = (1ull << count) - 1};

	if (ioctl(req, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0)
		return -errno;
	*out = (uint16_t)v.bits;
	return 0;
}

static void check_outputs(int chip, uint16_t pattern)
{
	struct gpio_v2_line_values v = {.bits = pattern, .mask = 0xffff};
	uint16_t back;
	int req = request_lines(chip, 0, NUM_OUTPUTS, GPIO_V2_LINE_FLAG_OUTPUT, "uvf-idio16-out");

	if (req < 0) {
		fail("set-outputs", "requesting lines 0-15 as outputs: %s (errno %d)", strerror(errno), errno);
		return;
	}
	if (ioctl(req, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) {
		fail("set-outputs", "GPIO_V2_LINE_SET_VALUES_IOCTL: %s", strerror(errno));
	} else {
		/* Linux's driver keeps the output registers out of its regmap's
		 * readable set: reading them back may fail with EIO. That is
		 * the driver's choice, not a fault of the device. */
		int ret = get_values(req, NUM_OUTPUTS, &back);
		if (ret < 0 && ret != -EIO) {
			fail("set-outputs", "reading the outputs back: %s", strerror(-ret));
		} else if (ret == 0 && back != pattern) {
			fail("set-outputs", "outputs read back 0x%04x, want 0x%04x", back, pattern);
		} else {
			if (ret < 0)
				info("outputs not readable through the driver (EIO)");
			printf("UVF-E2E: OUTPUTS 0x%04x\n", pattern);
			pass("set-outputs");
		}
	}
	/* Releasing the lines leaves the outputs as they are. */
	close(req);
}

/* Wait for edge events; returns how many arrived within timeout_ms. */
static int wait_edges(int req, int timeout_ms, struct gpio_v2_line_event *first)
{
	int64_t deadline = now_ms() + timeout_ms;
	int total = 0;

	for (;;) {
		int64_t left = total ? 200 : deadline - now_ms(); /* after the first: collect the burst */
		struct pollfd p = {.fd = req, .events = POLLIN};
		struct gpio_v2_line_event ev[16];
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return total;
		ssize_t n = read(req, ev, sizeof(ev));
		if (n < (ssize_t)sizeof(ev[0]))
			return total;
		if (!total)
			*first = ev[0];
		total += (int)(n / (ssize_t)sizeof(ev[0]));
	}
}

/* Read and drop events already queued on the request. */
static void drain_events(int req)
{
	struct gpio_v2_line_event ev[16];
	struct pollfd p = {.fd = req, .events = POLLIN};

	while (poll(&p, 1, 0) == 1 && read(req, ev, sizeof(ev)) > 0)
		;
}

/* One round: ask the host for `target`, wait for the edges, read back. */
static void input_round(int req, uint16_t target, int timeout_s, const char *suffix)
{
	struct gpio_v2_line_event first;
	char name[32];
	uint16_t now = 0;
	int ret = 0, events;
	int64_t until;

	drain_events(req);
	printf("UVF-E2E: WAIT-INPUT 0x%04x\n", target);
	fflush(stdout);
	events = wait_edges(req, timeout_s * 1000, &first);
	snprintf(name, sizeof(name), "edge-event%s", suffix);
	if (!events) {
		fail(name, "no edge event within %d s", timeout_s);
	} else {
		info("%d edge event(s); first: line %u (IIN%u) %s", events, first.offset, first.offset - FIRST_INPUT,
		     first.id == GPIO_V2_LINE_EVENT_RISING_EDGE ? "rising" : "falling");
		pass(name);
	}

	/* The value settles with the interrupt; allow a moment either way. */
	snprintf(name, sizeof(name), "read-inputs%s", suffix);
	until = now_ms() + 2000;
	do {
		ret = get_values(req, NUM_INPUTS, &now);
		if (ret < 0 || now == target)
			break;
		usleep(50000);
	} while (now_ms() < until);
	if (ret < 0)
		fail(name, "reading the inputs: %s", strerror(-ret));
	else if (now != target)
		fail(name, "inputs are 0x%04x, want 0x%04x", now, target);
	else
		pass(name);
}

/* Round 1 asks for `expect`, round 2 for its complement (every input
 * flips: a second interrupt after the first was acknowledged), and so on. */
static void check_inputs(int chip, uint16_t expect, int timeout_s, int rounds)
{
	uint64_t flags = GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
	uint16_t before;
	int req, ret;

	req = request_lines(chip, FIRST_INPUT, NUM_INPUTS, flags, "uvf-idio16-in");
	if (req < 0) {
		fail("edge-event", "requesting lines 16-31 as inputs with edge detection: %s", strerror(errno));
		return;
	}
	ret = get_values(req, NUM_INPUTS, &before);
	if (ret < 0) {
		fail("inputs-differ", "reading the inputs: %s", strerror(-ret));
		close(req);
		return;
	}
	printf("UVF-E2E: INPUTS 0x%04x\n", before);
	if (before == expect) {
		fail("inputs-differ", "inputs already 0x%04x: the host must set them only after WAIT-INPUT", before);
		close(req);
		return;
	}
	pass("inputs-differ");
	for (int r = 1; r <= rounds; r++) {
		char suffix[16] = "";
		if (r > 1)
			snprintf(suffix, sizeof(suffix), "-%d", r);
		input_round(req, r % 2 ? expect : (uint16_t)~expect, timeout_s, suffix);
	}
	close(req);
}

/* The closing line; the exit status. */
static int summary(void)
{
	printf("idio16-check: %d passed, %d failed\n", passes, failures);
	fflush(stdout);
	return failures ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: idio16-check [--outputs=0xHHHH] [--expect-inputs=0xHHHH] [--timeout=SECONDS] "
			"[--rounds=N] [--chip=/dev/gpiochipN]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint16_t outputs = 0xa55a, expect = 0x5aa5;
	int timeout_s = 60, rounds = 2;
	const char *forced_chip = NULL;
	char bound[MAX_BOUND][32];
	int nbound, chip;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--outputs=", 10)) {
			if (!parse_u16(a + 10, &outputs))
				usage();
		} else if (!strncmp(a, "--expect-inputs=", 16)) {
			if (!parse_u16(a + 16, &expect))
				usage();
		} else if (!strncmp(a, "--timeout=", 10)) {
			timeout_s = atoi(a + 10);
			if (timeout_s <= 0 || timeout_s > 3600)
				usage();
		} else if (!strncmp(a, "--rounds=", 9)) {
			rounds = atoi(a + 9);
			if (rounds < 1 || rounds > 100)
				usage();
		} else if (!strncmp(a, "--chip=", 7)) {
			forced_chip = a + 7;
		} else {
			usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	nbound = bound_devices(bound, MAX_BOUND);
	if (nbound <= 0) {
		fail("driver-bound", "no device in %s (%s)", DRIVER_DIR,
		     nbound < 0 ? strerror(-nbound) : "driver loaded, nothing bound");
		nbound = 0;
	} else {
		info("pci-idio-16 bound to %s%s", bound[0], nbound > 1 ? " and more" : "");
		pass("driver-bound");
	}

	chip = find_chip(forced_chip, bound, nbound);
	if (chip < 0) {
		fail("find-chip", "no gpiochip of the pci-idio-16 driver");
		return summary();
	}
	pass("find-chip");

	check_line_names(chip);
	check_outputs(chip, outputs);
	check_inputs(chip, expect, timeout_s, rounds);
	close(chip);
	return summary();
}
