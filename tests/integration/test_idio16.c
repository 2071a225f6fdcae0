/* SPDX-License-Identifier: MIT */
/*
 * The PCI-IDIO-16 model (devices/idio16) served in-process and driven by our
 * client the way Linux's gpio-pci-idio-16 driver drives the card: identity
 * and BAR in config space, outputs, inputs, change-of-state interrupts with
 * status and clear, filters, reset; and the uvf-idio16 program with its
 * --control FIFO and stdout report.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "idio16/idio16.h"

#define BAR UVF_IDIO16_BAR

/* Time to wait for an interrupt that must come, and for one that must not. */
#define FIRES_MS 2000
#define QUIET_MS 150

struct fixture {
	struct harness h; /* dir, path, thread, fd count; dev unused */
	struct uvf_idio16 *model;
	struct uvf_client *c;
	int intx; /* eventfd attached to INTx */
	pthread_mutex_t lock;
	int output_calls;
	uint16_t last_outputs;
};

static struct fixture g_f;

static void record_outputs(void *data, uint16_t old_outputs, uint16_t outputs)
{
	struct fixture *f = data;
	(void)old_outputs;
	pthread_mutex_lock(&f->lock);
	f->output_calls++;
	f->last_outputs = outputs;
	pthread_mutex_unlock(&f->lock);
}

static void quiet_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	if (getenv("UVF_TEST_VERBOSE") || level == UVF_LOG_ERROR)
		fprintf(stderr, "[idio16] %s\n", line);
}

static void *serve(void *arg)
{
	struct fixture *f = arg;
	f->h.server_ret = uvf_idio16_run(f->model, -1, NULL, NULL);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = &g_f;

	harness_prepare(&f->h); /* zeroes h and counts fds */
	f->output_calls = 0;
	f->last_outputs = 0;
	assert_int_equal(pthread_mutex_init(&f->lock, NULL), 0);
	assert_int_equal(uvf_idio16_create(&f->model), 0);
	uvf_idio16_set_output_listener(f->model, record_outputs, f);
	strcpy(f->h.dir, "/tmp/uvf-idio16-XXXXXX");
	assert_non_null(mkdtemp(f->h.dir));
	snprintf(f->h.path, sizeof(f->h.path), "%s/dev.sock", f->h.dir);
	uvf_device_set_log(uvf_idio16_device(f->model), quiet_log, NULL, UVF_LOG_DEBUG);
	assert_int_equal(uvf_device_listen(uvf_idio16_device(f->model), f->h.path, NULL), 0);
	assert_int_equal(pthread_create(&f->h.thread, NULL, serve, f), 0);
	f->h.running = true;
	f->c = harness_connect(&f->h);
	f->intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->intx >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvf_client_close(f->c);
	close(f->intx);
	uvf_device_stop(uvf_idio16_device(f->model));
	pthread_join(f->h.thread, NULL);
	assert_int_equal(f->h.server_ret, 0);
	uvf_idio16_destroy(f->model);
	assert_int_equal(access(f->h.path, F_OK), -1); /* socket file removed */
	rmdir(f->h.dir);
	pthread_mutex_destroy(&f->lock);
	assert_int_equal(harness_count_fds(), f->h.fds_before);
	return 0;
}

static uint8_t port_read(struct fixture *f, unsigned port)
{
	uint8_t v = 0;
	assert_int_equal(uvf_client_region_read(f->c, BAR, port, &v, 1), 0);
	return v;
}

static void port_write(struct fixture *f, unsigned port, uint8_t v)
{
	assert_int_equal(uvf_client_region_write(f->c, BAR, port, &v, 1), 0);
}

static struct uvf_idio16_state model_state(struct fixture *f)
{
	struct uvf_idio16_state st;
	uvf_idio16_get_state(f->model, &st);
	return st;
}

/* The model counts a raised INTx just after signalling the eventfd: give
 * the device thread a moment to get there. */
static uint32_t irqs_raised(struct fixture *f, uint32_t want)
{
	uint32_t n = model_state(f).irq_raised;
	for (int i = 0; i < 100 && n < want; i++) {
		usleep(10000);
		n = model_state(f).irq_raised;
	}
	return n;
}

static void attach_intx(struct fixture *f)
{
	assert_int_equal(uvf_client_set_irq_eventfds(f->c, UVF_PCI_INTX_IRQ, 0, 1, &f->intx), 0);
}

/* What a VMM does at the guest's EOI: unmask the automasked line. */
static void eoi(struct fixture *f)
{
	assert_int_equal(uvf_client_irq_mask(f->c, UVF_PCI_INTX_IRQ, 0, 1, false), 0);
}

/* ------------------------------------------------------------------ */
/* Identity                                                             */
/* ------------------------------------------------------------------ */

static void config_space_shows_ids_class_and_pin(void **state)
{
	struct fixture *f = *state;
	uint32_t v;
	uint8_t pin;

	assert_int_equal(uvf_client_config_read32(f->c, 0x00, &v), 0);
	assert_int_equal(v, 0x0dc8494f);
	assert_int_equal(uvf_client_config_read32(f->c, 0x2c, &v), 0);
	assert_int_equal(v, 0x0dc8494f); /* subsystem */
	assert_int_equal(uvf_client_config_read32(f->c, 0x08, &v), 0);
	assert_int_equal(v, UVF_IDIO16_CLASS << 8); /* revision 0 */
	assert_int_equal(uvf_client_config_read8(f->c, 0x3d, &pin), 0);
	assert_int_equal(pin, 1); /* INTA */
}

static void only_bar2_exists_and_is_8_io_ports(void **state)
{
	struct fixture *f = *state;
	struct uvf_client_region r = {.argsz = sizeof(r)};
	uint32_t v;

	for (uint32_t bar = 0; bar < 6; bar++) {
		assert_int_equal(uvf_client_region_info(f->c, bar, &r), 0);
		assert_int_equal(r.size, bar == BAR ? UVF_IDIO16_BAR_SIZE : 0);
		assert_int_equal(uvf_client_config_read32(f->c, 0x10 + 4 * bar, &v), 0);
		assert_int_equal(v & 1, bar == BAR); /* the I/O space bit */
	}
	assert_int_equal(uvf_client_config_write32(f->c, 0x18, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(f->c, 0x18, &v), 0);
	assert_int_equal(v & 0xffff, 0xfff9); /* 8 bytes of I/O */
	/* BAR0 is absent: writes do not make it appear */
	assert_int_equal(uvf_client_config_write32(f->c, 0x10, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(f->c, 0x10, &v), 0);
	assert_int_equal(v, 0);
}

static void irq_info_offers_intx_only(void **state)
{
	struct fixture *f = *state;
	struct uvf_msg_irq_info info;

	assert_int_equal(uvf_client_irq_info(f->c, UVF_PCI_INTX_IRQ, &info), 0);
	assert_int_equal(info.count, 1);
	assert_int_equal(uvf_client_irq_info(f->c, UVF_PCI_MSI_IRQ, &info), 0);
	assert_int_equal(info.count, 0);
	assert_int_equal(uvf_client_irq_info(f->c, UVF_PCI_MSIX_IRQ, &info), 0);
	assert_int_equal(info.count, 0);
}

static void access_beyond_the_8_ports_is_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[2] = {0, 0};

	assert_int_equal(uvf_client_region_read(f->c, BAR, 7, buf, 1), 0);
	assert_true(uvf_client_region_read(f->c, BAR, 7, buf, 2) < 0);
	assert_true(uvf_client_region_write(f->c, BAR, 8, buf, 1) < 0);
	assert_true(uvf_client_region_read(f->c, 0, 0, buf, 1) < 0); /* no BAR0 */
}

/* ------------------------------------------------------------------ */
/* Outputs and inputs                                                   */
/* ------------------------------------------------------------------ */

static void output_writes_reach_the_model_and_read_back(void **state)
{
	struct fixture *f = *state;

	port_write(f, UVF_IDIO16_PORT_OUT_LOW, 0xa5);
	port_write(f, UVF_IDIO16_PORT_OUT_HIGH, 0x5a);
	assert_int_equal(model_state(f).outputs, 0x5aa5);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_OUT_LOW), 0xa5);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_OUT_HIGH), 0x5a);
	pthread_mutex_lock(&f->lock);
	assert_int_equal(f->output_calls, 2);
	assert_int_equal(f->last_outputs, 0x5aa5);
	pthread_mutex_unlock(&f->lock);
	/* writing the same value again is no change: not reported */
	port_write(f, UVF_IDIO16_PORT_OUT_HIGH, 0x5a);
	pthread_mutex_lock(&f->lock);
	assert_int_equal(f->output_calls, 2);
	pthread_mutex_unlock(&f->lock);
}

static void input_changes_are_readable_and_inputs_ignore_writes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_LOW), 0);
	uvf_idio16_set_inputs(f->model, 0xbeef);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_LOW), 0xef);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_HIGH), 0xbe);
	port_write(f, UVF_IDIO16_PORT_IN_HIGH, 0x00);
	port_write(f, UVF_IDIO16_PORT_IN_LOW, 0x00); /* "clear interrupt", not the inputs */
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_HIGH), 0xbe);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_LOW), 0xef);
	assert_int_equal(model_state(f).outputs, 0); /* inputs are not outputs */
}

static void wide_access_acts_as_byte_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t all[8];
	const uint8_t out[2] = {0x34, 0x12};

	uvf_idio16_set_inputs(f->model, 0x8001);
	assert_int_equal(uvf_client_region_write(f->c, BAR, 3, (const uint8_t[2]){0x00, 0x12}, 2), 0);
	assert_int_equal(uvf_client_region_write(f->c, BAR, 0, out, 1), 0);
	assert_int_equal(uvf_client_region_read(f->c, BAR, 0, all, 8), 0);
	assert_int_equal(all[0], 0x34);
	assert_int_equal(all[1], 0x01);
	assert_int_equal(all[2], 0xff);
	assert_int_equal(all[3], 0xff);
	assert_int_equal(all[4], 0x12);
	assert_int_equal(all[5], 0x80);
	/* reading port 2 (inside the wide read) enabled IRQs, port 3 the filters */
	assert_true(model_state(f).irq_enabled);
	assert_true(model_state(f).filters_all);
}

static void filters_activate_by_read_and_read_back(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(port_read(f, UVF_IDIO16_PORT_FILTER_LOW), 0x00);
	(void)port_read(f, UVF_IDIO16_PORT_FILTER); /* activate all */
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_FILTER_LOW), 0xff);
	port_write(f, UVF_IDIO16_PORT_FILTER, 0); /* deactivate all */
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_FILTER_LOW), 0x00);
	port_write(f, UVF_IDIO16_PORT_FILTER_LOW, 0x3c);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_FILTER_LOW), 0x3c);
	assert_int_equal(model_state(f).filter_low, 0x3c);
}

/* ------------------------------------------------------------------ */
/* Change-of-state interrupts                                           */
/* ------------------------------------------------------------------ */

static void enabled_irq_raises_intx_and_status_shows_the_change(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL); /* enable */
	uvf_idio16_set_inputs(f->model, 0x0001);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_LOW);
	assert_int_equal(irqs_raised(f, 1), 1);

	/* a change of the high byte only: bit 1 */
	port_write(f, UVF_IDIO16_PORT_IN_LOW, 0);
	eoi(f);
	uvf_idio16_set_inputs(f->model, 0x0101);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), UVF_IDIO16_STATUS_PENDING | UVF_IDIO16_STATUS_COS_HIGH);
}

static void clear_interrupt_empties_status_and_no_more_intx(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0xffff);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0x07);
	port_write(f, UVF_IDIO16_PORT_IN_LOW, 0x04); /* what regmap-irq acks with */
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0);
	eoi(f);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	/* setting the same inputs again is no change of state */
	uvf_idio16_set_inputs(f->model, 0xffff);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0);
}

static void no_intx_and_nothing_latched_while_irqs_disabled(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	/* disabled at power-on */
	uvf_idio16_set_inputs(f->model, 0x00f0);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0);
	/* enabled, then disabled again */
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	port_write(f, UVF_IDIO16_PORT_IRQ_CTL, 0);
	uvf_idio16_set_inputs(f->model, 0x0f00);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0);
	/* enabling does not turn earlier changes into an interrupt */
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	assert_int_equal(model_state(f).irq_raised, 0);
	/* but the next change does */
	uvf_idio16_set_inputs(f->model, 0x0000);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
}

static void disable_keeps_the_latch_and_enable_raises_it_again(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0x0002);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	port_write(f, UVF_IDIO16_PORT_IRQ_CTL, 0); /* disable */
	eoi(f);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0x05);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL); /* enable: the latched one is back */
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
}

static void change_while_line_masked_is_delivered_at_eoi(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0x0001);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	/* the line is automasked; a second change before the guest clears */
	uvf_idio16_set_inputs(f->model, 0x0003);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	eoi(f);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	assert_int_equal(irqs_raised(f, 2), 2);
}

static void change_without_intx_eventfd_is_latched_not_raised(void **state)
{
	struct fixture *f = *state;

	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0x1000);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0x06);
	usleep(QUIET_MS * 1000); /* time for the device thread to try */
	assert_int_equal(model_state(f).irq_raised, 0);
	/* the same with an eventfd is raised and counted */
	attach_intx(f);
	port_write(f, UVF_IDIO16_PORT_IN_LOW, 0);
	uvf_idio16_set_inputs(f->model, 0x0000);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	assert_int_equal(irqs_raised(f, 1), 1);
}

/* The register sequence of Linux's gpio-idio-16 (regmap-irq) from probe to
 * one edge event. */
static void linux_driver_sequence_sees_one_event(void **state)
{
	struct fixture *f = *state;

	attach_intx(f);
	/* probe: disable IRQ, deactivate filters */
	port_write(f, UVF_IDIO16_PORT_IRQ_CTL, 0);
	port_write(f, UVF_IDIO16_PORT_FILTER, 0);
	/* gpio_v2 line request with edge detection: unmask -> clear, enable */
	port_write(f, UVF_IDIO16_PORT_IN_LOW, 0);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0x8000);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);
	/* thread handler: status, ack, then the line values */
	uint8_t status = port_read(f, UVF_IDIO16_PORT_IRQ_STATUS);
	assert_true(status & UVF_IDIO16_STATUS_PENDING);
	port_write(f, UVF_IDIO16_PORT_IN_LOW, status);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_HIGH), 0x80);
	eoi(f);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	/* line released: all masked -> disable */
	port_write(f, UVF_IDIO16_PORT_IRQ_CTL, 0);
	uvf_idio16_set_inputs(f->model, 0x0000);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

static void reset_restores_power_on_state_but_keeps_inputs(void **state)
{
	struct fixture *f = *state;
	struct uvf_idio16_state st;

	attach_intx(f);
	port_write(f, UVF_IDIO16_PORT_OUT_LOW, 0xff);
	port_write(f, UVF_IDIO16_PORT_FILTER_LOW, 0x0f);
	(void)port_read(f, UVF_IDIO16_PORT_FILTER);
	(void)port_read(f, UVF_IDIO16_PORT_IRQ_CTL);
	uvf_idio16_set_inputs(f->model, 0x0042);
	assert_int_equal(harness_wait_eventfd(f->intx, FIRES_MS), 1);

	assert_int_equal(uvf_client_reset(f->c), 0);
	st = model_state(f);
	assert_int_equal(st.outputs, 0);
	assert_false(st.irq_enabled);
	assert_int_equal(st.irq_status, 0);
	assert_false(st.filters_all);
	assert_int_equal(st.filter_low, 0);
	assert_int_equal(st.inputs, 0x0042);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IN_LOW), 0x42);
	pthread_mutex_lock(&f->lock);
	assert_int_equal(f->last_outputs, 0); /* the listener saw the outputs go off */
	pthread_mutex_unlock(&f->lock);
	/* IRQs are off again: a change raises and latches nothing */
	attach_intx(f);
	eoi(f);
	uvf_idio16_set_inputs(f->model, 0x0000);
	assert_int_equal(harness_wait_eventfd(f->intx, QUIET_MS), 0);
	assert_int_equal(port_read(f, UVF_IDIO16_PORT_IRQ_STATUS), 0);
}

/* ------------------------------------------------------------------ */
/* The uvf-idio16 program                                               */
/* ------------------------------------------------------------------ */

/* Read one line from fd within timeout_ms into buf (without '\n'). */
static bool read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char ch;
		if (poll(&p, 1, timeout_ms) != 1 || read(fd, &ch, 1) != 1)
			break;
		if (ch == '\n') {
			buf[len] = '\0';
			return true;
		}
		buf[len++] = ch;
	}
	buf[len] = '\0';
	return false;
}

static void expect_line(int fd, const char *want)
{
	char line[128];
	bool got = read_line(fd, line, sizeof(line), 5000);
	if (!got || strcmp(line, want))
		fail_msg("program stdout: wanted '%s', got '%s'%s", want, line, got ? "" : " (no full line)");
}

static void control(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void program_reports_outputs_and_takes_inputs_from_its_fifo(void **state)
{
	const char *exe = getenv("UVF_IDIO16");
	char dir[] = "/tmp/uvf-idio16-prog-XXXXXX", sock[96], fifo[96];
	struct harness h;
	int out[2], intx;
	pid_t pid;
	(void)state;

	if (!exe)
		skip();
	harness_prepare(&h);
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/dev.sock", dir);
	snprintf(fifo, sizeof(fifo), "%s/control", dir);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char sock_arg[128];
		snprintf(sock_arg, sizeof(sock_arg), "--socket-path=%s", sock);
		dup2(out[1], STDOUT_FILENO);
		if (!getenv("UVF_TEST_VERBOSE")) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, STDERR_FILENO); /* the bad control lines warn */
		}
		execl(exe, exe, sock_arg, "--control", fifo, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	for (int i = 0; i < 500 && access(sock, F_OK) != 0; i++)
		usleep(10000);
	assert_int_equal(access(sock, F_OK), 0);
	struct stat st;
	assert_int_equal(stat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	snprintf(h.path, sizeof(h.path), "%s", sock);
	struct uvf_client *c = harness_connect(&h);
	uint8_t v = 0x81;
	assert_int_equal(uvf_client_region_write(c, BAR, UVF_IDIO16_PORT_OUT_LOW, &v, 1), 0);
	expect_line(out[0], "outputs=0x0081");
	v = 0x40;
	assert_int_equal(uvf_client_region_write(c, BAR, UVF_IDIO16_PORT_OUT_HIGH, &v, 1), 0);
	expect_line(out[0], "outputs=0x4081");

	intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &intx), 0);
	assert_int_equal(uvf_client_region_read(c, BAR, UVF_IDIO16_PORT_IRQ_CTL, &v, 1), 0);
	control(fifo, "inputs 0x5aa5\n");
	expect_line(out[0], "inputs=0x5aa5");
	assert_int_equal(harness_wait_eventfd(intx, FIRES_MS), 1);
	assert_int_equal(uvf_client_region_read(c, BAR, UVF_IDIO16_PORT_IN_HIGH, &v, 1), 0);
	assert_int_equal(v, 0x5a);
	/* a second writer, a bad line (ignored), one input, a comment, status */
	control(fifo, "frobnicate\ninputs 0x10000\ninput 0 0\n# note\nstatus\n");
	expect_line(out[0], "inputs=0x5aa4");
	expect_line(out[0], "outputs=0x4081 inputs=0x5aa4 irq=on status=0x07");
	uvf_client_close(c);
	close(intx);

	assert_int_equal(kill(pid, SIGTERM), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(out[0]);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(access(fifo, F_OK), -1); /* it created the FIFO: removed */
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(harness_count_fds(), h.fds_before);
}

static void program_refuses_a_control_path_that_is_not_a_fifo(void **state)
{
	const char *exe = getenv("UVF_IDIO16");
	char dir[] = "/tmp/uvf-idio16-prog-XXXXXX", sock[96], file[96], sock_arg[128];
	pid_t pid;
	int status;
	(void)state;

	if (!exe)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/dev.sock", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(sock_arg, sizeof(sock_arg), "--socket-path=%s", sock);
	FILE *fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		execl(exe, exe, sock_arg, "--control", file, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(access(file, F_OK), 0); /* left alone */
	assert_int_equal(access(sock, F_OK), -1);
	unlink(file);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(config_space_shows_ids_class_and_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(only_bar2_exists_and_is_8_io_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(irq_info_offers_intx_only, setup, teardown),
		cmocka_unit_test_setup_teardown(access_beyond_the_8_ports_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(output_writes_reach_the_model_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(input_changes_are_readable_and_inputs_ignore_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(wide_access_acts_as_byte_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(filters_activate_by_read_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(enabled_irq_raises_intx_and_status_shows_the_change, setup, teardown),
		cmocka_unit_test_setup_teardown(clear_interrupt_empties_status_and_no_more_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(no_intx_and_nothing_latched_while_irqs_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(disable_keeps_the_latch_and_enable_raises_it_again, setup, teardown),
		cmocka_unit_test_setup_teardown(change_while_line_masked_is_delivered_at_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(change_without_intx_eventfd_is_latched_not_raised, setup, teardown),
		cmocka_unit_test_setup_teardown(linux_driver_sequence_sees_one_event, setup, teardown),
		cmocka_unit_test_setup_teardown(reset_restores_power_on_state_but_keeps_inputs, setup, teardown),
		cmocka_unit_test(program_reports_outputs_and_takes_inputs_from_its_fifo),
		cmocka_unit_test(program_refuses_a_control_path_that_is_not_a_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
