/* SPDX-License-Identifier: MIT */
/*
 * The libvfio-user style sample programs (compat/libvfio-user/samples),
 * run as processes and driven by uvf's client: the GPIO card's registers
 * and interrupt, the DMA engine over mapped memory and memory by message.
 * VFU_SAMPLES names the folder of the programs.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "uvf/client.h"

struct sample {
	pid_t pid;
	char dir[64], path[128];
	struct uvf_client *c;
};

static pid_t g_child; /* killed by the teardown when a test fails midway */

static int kill_child(void **state)
{
	(void)state;
	if (g_child > 0) {
		kill(g_child, SIGKILL);
		waitpid(g_child, NULL, 0);
	}
	g_child = 0;
	return 0;
}

static void sample_start(struct sample *s, const char *name)
{
	char prog[512];
	const char *at = getenv("VFU_SAMPLES");
	assert_non_null(at);
	snprintf(prog, sizeof(prog), "%s/%s", at, name);
	snprintf(s->dir, sizeof(s->dir), "/tmp/uvf-vfu-sample-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		execl(prog, prog, s->path, (char *)NULL);
		_exit(127);
	}
	g_child = s->pid;
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	opts.log_level = UVF_LOG_ERROR;
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(s->path, &st) == 0 && uvf_client_connect(&s->c, s->path, &opts) == 0)
			return;
		usleep(10000);
	}
	fail_msg("%s did not come up", name);
}

/* Close the client; the program must still be serving, and end on SIGTERM
 * with status 0. */
static void sample_stop(struct sample *s)
{
	int status;
	uvf_client_close(s->c);
	assert_int_equal(waitpid(s->pid, &status, WNOHANG), 0);
	kill(s->pid, SIGTERM);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	g_child = 0;
	rmdir(s->dir);
}

static uint32_t rd32(struct uvf_client *c, uint32_t region, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, region, off, &v, 4), 0);
	return v;
}

static void wr32(struct uvf_client *c, uint32_t region, uint64_t off, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, region, off, &v, 4), 0);
}

static void gpio_registers_and_interrupt(void **state)
{
	struct sample s;
	(void)state;
	sample_start(&s, "vfu-gpio");
	uint32_t id = 0;
	assert_int_equal(uvf_client_config_read32(s.c, 0, &id), 0);
	assert_int_equal(id, 0x0dc8494f);
	/* output latch */
	wr32(s.c, 2, 4, 0xa5a5);
	assert_int_equal(rd32(s.c, 2, 4), 0xa5a5);
	/* the inputs walk; a change with its interrupt enabled raises INTx */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(s.c, 0, 0, 1, &efd), 0);
	wr32(s.c, 2, 8, 0xffff);
	uint32_t a = rd32(s.c, 2, 0), b = rd32(s.c, 2, 0);
	assert_int_not_equal(a, b);
	assert_int_not_equal(rd32(s.c, 2, 0xc), 0);
	struct pollfd p = {.fd = efd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	wr32(s.c, 2, 0xc, 0xffff); /* write 1 to clear */
	wr32(s.c, 2, 8, 0);
	assert_int_equal(rd32(s.c, 2, 0xc), 0);
	close(efd);
	sample_stop(&s);
}

static uint32_t byte_sum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return sum;
}

static void sgl_dma_fills_and_sums_client_memory(void **state)
{
	struct sample s;
	static uint8_t by_msg[2 * 4096];
	void *mapped = NULL;
	(void)state;
	sample_start(&s, "vfu-sgl-dma");
	/* two mapped ranges side by side, one range by message */
	assert_int_equal(uvf_client_dma_alloc(s.c, 0x10000, 2 * 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      &mapped),
			 0);
	void *mapped2 = NULL;
	assert_int_equal(uvf_client_dma_alloc(s.c, 0x12000, 4096, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      &mapped2),
			 0);
	assert_int_equal(uvf_client_dma_register(s.c, 0x40000, by_msg, sizeof(by_msg),
						 UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE),
			 0);
	/* FILL across the two mapped ranges */
	uint64_t addr = 0x11800;
	assert_int_equal(uvf_client_region_write(s.c, 0, 0, &addr, 8), 0);
	wr32(s.c, 0, 8, 0x1000);
	wr32(s.c, 0, 0x18, 0x3c);
	wr32(s.c, 0, 0xc, 1);
	assert_int_equal(rd32(s.c, 0, 0x10), 0);
	assert_int_equal(((uint8_t *)mapped)[0x1800], 0x3c);
	assert_int_equal(((uint8_t *)mapped2)[0x7ff], 0x3c);
	assert_int_equal(((uint8_t *)mapped2)[0x800], 0);
	/* SUM of it */
	wr32(s.c, 0, 0xc, 2);
	assert_int_equal(rd32(s.c, 0, 0x10), 0);
	assert_int_equal(rd32(s.c, 0, 0x14), 0x1000u * 0x3c);
	/* the range by message: FILL and SUM through DMA_WRITE/DMA_READ */
	addr = 0x40800;
	assert_int_equal(uvf_client_region_write(s.c, 0, 0, &addr, 8), 0);
	wr32(s.c, 0, 8, 0x1000);
	wr32(s.c, 0, 0x18, 7);
	wr32(s.c, 0, 0xc, 1);
	assert_int_equal(rd32(s.c, 0, 0x10), 0);
	assert_int_equal(by_msg[0x800], 7);
	assert_int_equal(by_msg[0x17ff], 7);
	assert_int_equal(by_msg[0x1800], 0);
	by_msg[0x900] = 9;
	wr32(s.c, 0, 0xc, 2);
	assert_int_equal(rd32(s.c, 0, 0x14), byte_sum(by_msg + 0x800, 0x1000));
	/* unmapped memory: the device reports ENOENT */
	addr = 0x90000;
	assert_int_equal(uvf_client_region_write(s.c, 0, 0, &addr, 8), 0);
	wr32(s.c, 0, 0xc, 2);
	assert_int_equal(rd32(s.c, 0, 0x10), ENOENT);
	sample_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(gpio_registers_and_interrupt, kill_child),
		cmocka_unit_test_teardown(sgl_dma_fills_and_sums_client_memory, kill_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
