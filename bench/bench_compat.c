/* SPDX-License-Identifier: MIT */
/*
 * The libvfio-user compatibility library (compat/libvfio-user) against
 * uvf's native API: REGION_READ 4 B round trips from the same uvf client
 * to the same device (a 4 KiB memory BAR0 served by a callback that
 * returns zeros), once written against uvf's server API and served by
 * uvf_device_run(), once written against the libvfio-user API and served
 * by a blocking vfu_run_ctx(). Each in a forked process pinned to the
 * same CPU; repetitions alternate. The ratio is compat / native (target
 * 0.95: within 5 %).
 *
 *   uvf-bench-compat
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "libvfio-user.h"

/* ------------------------------------------------------------------ */
/* The device, native                                                   */
/* ------------------------------------------------------------------ */

static int native_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int native_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset, (void)buf, (void)len;
	return 0;
}

static int native_setup(struct uvf_device *dev, void *arg)
{
	struct uvf_bar_desc bar0 = {.size = 4096, .read = native_read, .write = native_write};
	(void)arg;
	return uvf_device_set_bar(dev, 0, &bar0);
}

/* ------------------------------------------------------------------ */
/* The same device, libvfio-user style, in a child process              */
/* ------------------------------------------------------------------ */

static ssize_t compat_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
	(void)ctx, (void)offset;
	if (!is_write)
		memset(buf, 0, count);
	return (ssize_t)count;
}

static void compat_child(const char *path)
{
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, 0, NULL, VFU_DEV_TYPE_PCI);
	if (!ctx || vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0) < 0)
		_exit(1);
	vfu_pci_set_id(ctx, 0x4e58, 0x7e57, 0, 0);
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 4096, compat_access,
			     VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0) < 0 ||
	    vfu_realize_ctx(ctx) < 0)
		_exit(1);
	for (;;) {
		if (vfu_attach_ctx(ctx) < 0)
			_exit(1);
		while (vfu_run_ctx(ctx) >= 0)
			;
	}
}

struct compat_server {
	pid_t pid;
	struct bench_server as_server; /* its socket path, for bench_connect */
};

static void compat_start(struct compat_server *c, int cpu)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->as_server.dir, sizeof(c->as_server.dir), "/tmp/uvf-bench-compat.XXXXXX");
	if (!mkdtemp(c->as_server.dir))
		bench_check(-1, "mkdtemp");
	snprintf(c->as_server.path, sizeof(c->as_server.path), "%s/vfu.sock", c->as_server.dir);
	c->pid = fork();
	if (c->pid < 0)
		bench_check(-1, "fork");
	if (c->pid == 0) {
		bench_pin(cpu);
		compat_child(c->as_server.path);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(c->as_server.path, &st) == 0)
			return;
		usleep(10000);
	}
	bench_check(-1, "the libvfio-user style server coming up");
}

static void compat_stop(struct compat_server *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	unlink(c->as_server.path);
	rmdir(c->as_server.dir);
}

static double read_rate(struct uvf_client *c, uint64_t iters)
{
	uint8_t buf[4];
	struct bench_timer t;
	bench_timer_start(&t);
	for (uint64_t i = 0; i < iters; i++)
		bench_check(BENCH_UVF(uvf_client_region_read(c, 0, 0x10, buf, 4)), "uvf_client_region_read");
	return bench_timer_uvf(&t, (double)iters, iters, "uvf_client_region_read");
}

int main(int argc, char **argv)
{
	(void)argv;
	bench_init("uvf-bench-compat");
	bench_pin(bench_cpu.client);
	if (argc != 1) {
		fprintf(stderr, "usage: uvf-bench-compat\n");
		return 2;
	}
	bench_table_header("libvfio-user API (compat/libvfio-user) vs uvf's native API: the same device, same uvf "
			   "client, REGION_READ 4 B round trips");
	for (int other = 0; other < 2; other++) {
		int cpu = other ? bench_cpu.server_other : bench_cpu.server_same;
		const char *cpus = other ? "different" : "same";
		if (cpu < 0)
			continue;
		struct bench_server native;
		struct bench_server_spec spec = {.cpu = cpu, .setup = native_setup, .opts = UVF_SERVE_OPTS_INIT};
		struct compat_server compat;
		bench_server_start(&native, &spec);
		compat_start(&compat, cpu);
		struct uvf_client *to_native = bench_connect(&native, 0);
		struct uvf_client *to_compat = bench_connect(&compat.as_server, 0);
		uint64_t iters = bench_iters(20000);
		double native_rate[BENCH_MAX_REPS], compat_rate[BENCH_MAX_REPS];

		read_rate(to_native, iters / 10);
		read_rate(to_compat, iters / 10);
		for (int r = 0; r < bench_reps; r++) {
			if (r % 2) {
				compat_rate[r] = read_rate(to_compat, iters);
				native_rate[r] = read_rate(to_native, iters);
			} else {
				native_rate[r] = read_rate(to_native, iters);
				compat_rate[r] = read_rate(to_compat, iters);
			}
		}
		bench_row("REGION_READ 4 B through libvfio-user's API", "the same device on uvf's API", cpus, BENCH_OPS,
			  native_rate, compat_rate, 0.95);
		uvf_client_close(to_compat);
		uvf_client_close(to_native);
		compat_stop(&compat);
		bench_server_stop(&native);
	}
	return 0;
}
