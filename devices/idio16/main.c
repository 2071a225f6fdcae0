/* SPDX-License-Identifier: MIT */
/*
 * uvf-idio16: the ACCES PCI-IDIO-16 model (devices/idio16/idio16.h) as a
 * vfio-user server program. Linux's gpio-pci-idio-16 driver binds to it.
 *
 *   uvf-idio16 --socket-path=PATH | --fd=N [--control=PATH] [-v]
 *
 * The card migrates (live migration v2, no option needed): outputs, inputs,
 * interrupt control and status and filters travel, see idio16/idio16.h.
 * The destination's --control FIFO, if any, drives its inputs from then on.
 *
 * stdout carries one line per change of the outputs, "outputs=0xHHHH"
 * (bit n = output n on), flushed at once, for a test to watch. Linux sets
 * lines one at a time, so wait for the final value, not the first line.
 *
 * --control=PATH drives the inputs from outside. PATH is a FIFO (created,
 * mode 0600, and removed at exit when it does not exist yet; an existing
 * FIFO is used and kept), or "-" for stdin. It reads lines:
 *
 *   inputs VALUE     set all 16 inputs (VALUE 0..0xffff, C syntax: 0x5aa5)
 *   input N 0|1      set input N (0..15)
 *   status           print "outputs=0xHHHH inputs=0xHHHH irq=on|off
 *                    status=0xHH" on stdout
 *
 * Empty lines and lines starting with '#' are ignored; every applied input
 * change prints "inputs=0xHHHH" on stdout. A change of state raises INTx
 * when the driver enabled IRQs. The FIFO may be opened and closed by any
 * number of writers over time (the server keeps it open for writing too,
 * so it never sees end of file).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sample_server.h"
#include "idio16/idio16.h"

#define PROG "uvf-idio16"

struct control {
	struct uvf_idio16 *model;
	int fd;
	char line[128];
	size_t len;
	bool overlong; /* the current line outgrew line[]: dropped */
};


static void print_outputs(void *data, uint16_t old_outputs, uint16_t outputs)
{
	(void)data;
	(void)old_outputs;
	printf("outputs=0x%04x\n", outputs);
	fflush(stdout);
}

static bool parse_number(const char *text, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*text || *text == '-' || *text == '+')
		return false;
	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static void set_inputs(struct control *c, uint16_t value)
{
	uvf_idio16_set_inputs(c->model, value);
	printf("inputs=0x%04x\n", value);
	fflush(stdout);
}

static void run_command(struct control *c, char *line)
{
	char *words[4];
	unsigned nwords = 0;
	struct uvf_idio16_state st;
	unsigned long a, b;

	for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		if (nwords == 4)
			goto bad;
		words[nwords++] = w;
	}
	if (nwords == 0 || words[0][0] == '#')
		return;
	uvf_idio16_get_state(c->model, &st);
	if (!strcmp(words[0], "inputs") && nwords == 2 && parse_number(words[1], 0xffff, &a)) {
		set_inputs(c, (uint16_t)a);
		return;
	}
	if (!strcmp(words[0], "input") && nwords == 3 && parse_number(words[1], 15, &a) &&
	    parse_number(words[2], 1, &b)) {
		uint16_t bit = (uint16_t)(1u << a);
		set_inputs(c, (uint16_t)(b ? st.inputs | bit : st.inputs & ~bit));
		return;
	}
	if (!strcmp(words[0], "status") && nwords == 1) {
		printf("outputs=0x%04x inputs=0x%04x irq=%s status=0x%02x\n", st.outputs, st.inputs,
		       st.irq_enabled ? "on" : "off", st.irq_status);
		fflush(stdout);
		return;
	}
bad:
	sample_log(UVF_LOG_WARNING, "control: not understood (want 'inputs VALUE', 'input N 0|1' or 'status')");
}

/* The control fd is readable: take whole lines. Returns false at end of
 * file (stdin only) or on a read error, to stop watching. */
static bool on_control(void *data)
{
	struct control *c = data;
	char buf[512];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) {
		sample_log(UVF_LOG_INFO, "control: end of input");
		return false;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			c->line[c->len] = '\0';
			if (c->overlong)
				sample_log(UVF_LOG_WARNING, "control: line longer than %zu bytes dropped",
					   sizeof(c->line) - 1);
			else
				run_command(c, c->line);
			c->len = 0;
			c->overlong = false;
		} else if (c->len < sizeof(c->line) - 1) {
			c->line[c->len++] = buf[i];
		} else {
			c->overlong = true;
		}
	}
	return true;
}

/* Open the control FIFO, creating it when missing (*created tells). */
static int open_control(const char *path, bool *created)
{
	struct stat st;
	int fd;

	*created = false;
	if (!strcmp(path, "-"))
		return STDIN_FILENO;
	if (mkfifo(path, 0600) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	/* Read-write: the FIFO then always has a writer, so it never reports
	 * end of file or hang-up between the test's writers. */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		if (*created)
			unlink(path);
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return -EEXIST; /* something that is not a FIFO is in the way */
	}
	return fd;
}

/* Take --control=PATH / --control PATH out of argv (compacted in place,
 * so that sample_parse_args() sees only its own options). */
static int take_control_option(int *argc, char **argv, const char **path)
{
	int out = 1, i = 1;

	*path = NULL;
	for (; i < *argc && strcmp(argv[i], "--"); i++) {
		const char *value;
		if (!strncmp(argv[i], "--control=", 10)) {
			value = argv[i] + 10;
		} else if (!strcmp(argv[i], "--control")) {
			if (i + 1 >= *argc) {
				fprintf(stderr, PROG ": --control needs a PATH\n");
				return 2;
			}
			value = argv[++i];
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (*path || !*value) {
			fprintf(stderr, PROG ": %s\n", *path ? "--control given twice" : "empty --control");
			return 2;
		}
		*path = value;
	}
	for (; i < *argc; i++) /* "--" and what follows it */
		argv[out++] = argv[i];
	argv[out] = NULL;
	*argc = out;
	return -1;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

struct serving {
	struct uvf_idio16 *model;
	struct control *control;
};

/* The device's loop also watches the control FIFO. */
static int run_with_control(void *data)
{
	struct serving *sv = data;
	return uvf_idio16_run(sv->model, sv->control->fd, on_control, sv->control);
}

int main(int argc, char **argv)
{
	struct sample_args args;
	struct control control = {.fd = -1};
	struct uvf_idio16 *model = NULL;
	const char *control_path;
	bool created = false;
	int ret;

	ret = take_control_option(&argc, argv, &control_path);
	if (ret >= 0)
		return ret;
	ret = sample_parse_args(argc, argv, PROG, "The ACCES PCI-IDIO-16 digital I/O card", &args);
	if (ret >= 0) {
		if (ret == 0 && wants_help(argc, argv))
			printf("\n  --control=PATH      read input changes from the FIFO PATH (\"-\": stdin):\n"
			       "                      'inputs 0xHHHH', 'input N 0|1', 'status'.\n"
			       "Output changes are printed on stdout as outputs=0xHHHH.\n");
		return ret;
	}
	if (control_path) {
		control.fd = open_control(control_path, &created);
		if (control.fd < 0) {
			fprintf(stderr, PROG ": --control=%s: %s\n", control_path,
				control.fd == -EEXIST ? "not a FIFO" : strerror(-control.fd));
			return 1;
		}
	}
	ret = uvf_idio16_create(&model);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot set up the device: %s\n", uvf_strerror(ret));
		ret = 1;
	} else {
		control.model = model;
		uvf_idio16_set_output_listener(model, print_outputs, NULL);
		struct serving sv = {model, &control};
		ret = sample_serve_loop(uvf_idio16_device(model), &args, run_with_control, &sv);
	}
	uvf_idio16_destroy(model);
	if (control.fd > STDIN_FILENO)
		close(control.fd);
	if (created)
		unlink(control_path);
	return ret;
}
