/* SPDX-License-Identifier: MIT */
/*
 * Interrupt delivery latency (issue 5, item 7): a device thread raises
 * MSI-X vector 0 with uvf_irq_trigger(), the client blocks reading the
 * eventfd it attached, then answers on a second, plain eventfd that the
 * device thread waits for. Floor: the same ping-pong with a plain eventfd
 * write in place of uvf_irq_trigger(), between the same two processes.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"

/* Shared with the server process across fork(). */
static int floor_irq_fd = -1; /* device -> client, floor */
static int back_fd = -1;      /* client -> device, both */

struct irq_cmd {
	uint32_t use_uvf;
	uint32_t pad;
	uint64_t iters;
};

static int irq_setup(struct uvf_device *dev, void *arg)
{
	(void)arg;
	return uvf_device_set_irq_count(dev, UVF_PCI_MSIX_IRQ, 1);
}

static void wait_eventfd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static void signal_eventfd(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		bench_check(-errno, "eventfd write");
}

static void device_thread(struct uvf_device *dev, void *arg, int cmd_fd, int result_fd)
{
	struct irq_cmd cmd;
	(void)arg;
	while (bench_read_full(cmd_fd, &cmd, sizeof(cmd)) == 0) {
		int ret = 0;
		uint64_t calls0 = bench_uvf_calls;
		for (uint64_t i = 0; i < cmd.iters; i++) {
			if (cmd.use_uvf) {
				ret = BENCH_UVF(uvf_irq_trigger(dev, UVF_PCI_MSIX_IRQ, 0));
				if (ret < 0)
					break;
			} else {
				signal_eventfd(floor_irq_fd);
			}
			wait_eventfd(back_fd);
		}
		/* The uvf half must have called uvf_irq_trigger each time, the
		 * floor never. */
		if (ret == 0 && bench_uvf_calls - calls0 != (cmd.use_uvf ? cmd.iters : 0))
			ret = -EPROTO;
		if (bench_write_full(result_fd, &ret, sizeof(ret)) < 0)
			break;
	}
}

/* Round trips per second, timed on the client side. */
static double ping_pong(const struct bench_server *s, int irq_fd, bool use_uvf, uint64_t iters)
{
	struct irq_cmd cmd = {use_uvf, 0, iters};
	int ret;
	uint64_t t0 = bench_now_ns();
	bench_check(bench_write_full(s->cmd_fd, &cmd, sizeof(cmd)), "command");
	for (uint64_t i = 0; i < iters; i++) {
		wait_eventfd(irq_fd);
		signal_eventfd(back_fd);
	}
	double rate = (double)iters * 1e9 / (double)(bench_now_ns() - t0);
	bench_check(bench_read_full(s->result_fd, &ret, sizeof(ret)), "result");
	bench_check(ret, "uvf_irq_trigger");
	return rate;
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-irq");
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-irq\n");
		return 2;
	}
	bench_pin(bench_cpu.client);
	floor_irq_fd = eventfd(0, EFD_CLOEXEC);
	back_fd = eventfd(0, EFD_CLOEXEC);
	int irq_fd = eventfd(0, EFD_CLOEXEC);
	if (floor_irq_fd < 0 || back_fd < 0 || irq_fd < 0)
		bench_check(-errno, "eventfd");

	bench_table_header("Interrupts: uvf_irq_trigger (MSI-X) to the client's eventfd and back vs a plain eventfd "
			   "ping-pong (round trips)");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		if (cpu < 0)
			continue;
		struct bench_server_spec spec = {
			.cpu = cpu, .setup = irq_setup, .device_thread = device_thread, .opts = UVF_SERVE_OPTS_INIT};
		struct bench_server s;
		bench_server_start(&s, &spec);
		struct uvf_client *c = bench_connect(&s, 0);
		bench_check(uvf_client_set_irq_eventfds(c, UVF_PCI_MSIX_IRQ, 0, 1, &irq_fd),
			    "uvf_client_set_irq_eventfds");

		uint64_t iters = bench_iters(20000);
		double floor[BENCH_MAX_REPS], val[BENCH_MAX_REPS];
		ping_pong(&s, floor_irq_fd, false, iters / 10);
		ping_pong(&s, irq_fd, true, iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			floor[r] = ping_pong(&s, floor_irq_fd, false, iters);
			val[r] = ping_pong(&s, irq_fd, true, iters);
		}
		bench_row("MSI-X vector 0", "eventfd write/read ping-pong", other ? "different" : "same", BENCH_OPS,
			  floor, val, 0);
		uvf_client_close(c);
		bench_server_stop(&s);
	}
	return 0;
}
