/* SPDX-License-Identifier: MIT */
/*
 * Interop: our client against QEMU's own vfio-user server (QEMU 7.2's
 * x-vfio-user-server object, which embeds the 2022 reference server
 * library), exporting QEMU's emulated lsi53c895a, e1000 and nvme devices.
 *
 * Each QEMU process serves exactly one client and exits when it leaves, so
 * every test starts its own QEMU. The binary comes from
 * tests/qemu-server/qemu-server-setup.sh through $UVF_QEMU_SERVER; without it
 * the test is skipped (exit 77), unless $UVF_REQUIRE_INTEROP is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "uvf/client.h"

#ifndef UVF_SOURCE_DIR
#error "UVF_SOURCE_DIR must be defined by the build"
#endif

struct qemu {
	pid_t pid;
	char dir[64];
	char sock[128];
};

static void qemu_start(struct qemu *q, const char *device)
{
	strcpy(q->dir, "/tmp/uvf-interop-XXXXXX");
	assert_non_null(mkdtemp(q->dir));
	snprintf(q->sock, sizeof(q->sock), "%s/qemu.sock", q->dir);
	q->pid = fork();
	assert_true(q->pid >= 0);
	if (q->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0 && !getenv("UVF_TEST_VERBOSE"))
			dup2(null, 2);
		setenv("UVF_QEMU", getenv("UVF_QEMU_SERVER"), 1);
		execl("/bin/bash", "bash", UVF_SOURCE_DIR "/tests/qemu-server/qemu-server-run.sh", device, q->sock,
		      (char *)NULL);
		_exit(127);
	}
	/* the socket file appears before QEMU listens: wait for the file,
	 * then let the client retry ECONNREFUSED */
	for (int i = 0; i < 400; i++) {
		struct stat st;
		if (stat(q->sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		int status;
		if (waitpid(q->pid, &status, WNOHANG) == q->pid)
			fail_msg("QEMU exited early (status 0x%x)", status);
		usleep(25000);
	}
	fail_msg("QEMU did not create %s within 10 s", q->sock);
}

/* Wait for QEMU to exit (it does when its client leaves); kill it after
 * timeout_ms. Returns the exit status, or -1 if it had to be killed. */
static int qemu_wait(struct qemu *q, int timeout_ms)
{
	int status = 0;
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		if (waitpid(q->pid, &status, WNOHANG) == q->pid)
			goto done;
		usleep(20000);
	}
	kill(q->pid, SIGTERM);
	waitpid(q->pid, &status, 0);
	status = -1;
done:
	unlink(q->sock);
	rmdir(q->dir);
	return status < 0 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static struct uvf_client *qemu_connect(struct qemu *q)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	int ret = -ECONNREFUSED;
	opts.timeout_ms = 10000;
	for (int i = 0; i < 200 && ret == -ECONNREFUSED; i++) {
		ret = uvf_client_connect(&c, q->sock, &opts);
		if (ret == -ECONNREFUSED)
			usleep(20000);
	}
	if (ret < 0)
		fail_msg("connect to QEMU at %s: %s", q->sock, uvf_strerror(ret));
	return c;
}

/* ------------------------------------------------------------------ */

struct expect_region {
	uint64_t size;
	uint32_t flags;
};

static void check_discovery(struct uvf_client *c, const struct expect_region *regions, unsigned nregions,
			    const uint32_t irq_counts[5])
{
	const struct uvf_server_caps *caps = uvf_client_server_caps(c);
	struct uvf_msg_device_info info;
	struct uvf_client_region r = {.argsz = sizeof(r)};
	struct uvf_msg_irq_info irq;

	assert_int_equal(caps->major, 0);
	assert_int_equal(caps->minor, 0);
	assert_int_equal(caps->max_msg_fds, 8);
	assert_int_equal(caps->max_data_xfer_size, 1048576);
	assert_int_equal(uvf_client_device_info(c, &info), 0);
	assert_int_equal(info.flags, UVF_DEVICE_FLAG_PCI | UVF_DEVICE_FLAG_RESET);
	assert_int_equal(info.num_regions, 10); /* index 9: old migration slot */
	assert_int_equal(info.num_irqs, 5);
	for (unsigned i = 0; i < nregions; i++) {
		assert_int_equal(uvf_client_region_info(c, i, &r), 0);
		assert_int_equal(r.size, regions[i].size);
		assert_int_equal(r.flags, regions[i].flags);
		assert_int_equal(r.fd, -1); /* QEMU 7.2 never offers mmap */
	}
	assert_int_equal(uvf_client_region_info(c, 9, &r), 0);
	assert_int_equal(r.size, 0);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(uvf_client_irq_info(c, i, &irq), 0);
		assert_int_equal(irq.count, irq_counts[i]);
		assert_int_equal(irq.flags, UVF_IRQ_INFO_EVENTFD);
	}
}

static void check_ids(struct uvf_client *c, uint16_t vendor, uint16_t device, uint32_t class_rev)
{
	uint16_t v16;
	uint32_t v32;
	assert_int_equal(uvf_client_config_read16(c, 0x00, &v16), 0);
	assert_int_equal(v16, vendor);
	assert_int_equal(uvf_client_config_read16(c, 0x02, &v16), 0);
	assert_int_equal(v16, device);
	assert_int_equal(uvf_client_config_read32(c, 0x08, &v32), 0);
	assert_int_equal(v32, class_rev);
}

/* Program a BAR address and enable decoding: QEMU's server answers BAR
 * accesses only then. */
static void enable_bar(struct uvf_client *c, unsigned bar, uint32_t addr, uint16_t command)
{
	uint16_t cmd;
	assert_int_equal(uvf_client_config_write32(c, 0x10 + 4 * bar, addr), 0);
	assert_int_equal(uvf_client_config_read16(c, 0x04, &cmd), 0);
	assert_int_equal(uvf_client_config_write16(c, 0x04, cmd | command), 0);
}

static uint32_t bar_sizing(struct uvf_client *c, unsigned bar)
{
	uint32_t old, v;
	assert_int_equal(uvf_client_config_read32(c, 0x10 + 4 * bar, &old), 0);
	assert_int_equal(uvf_client_config_write32(c, 0x10 + 4 * bar, 0xffffffff), 0);
	assert_int_equal(uvf_client_config_read32(c, 0x10 + 4 * bar, &v), 0);
	assert_int_equal(uvf_client_config_write32(c, 0x10 + 4 * bar, old), 0);
	return v;
}

/* ------------------------------------------------------------------ */

static void lsi53c895a_is_described_and_answers(void **state)
{
	static const struct expect_region regions[9] = {
		{0x100, 3}, {0x400, 3}, {0x2000, 3}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0x100, 3}, {0, 0},
	};
	static const uint32_t irqs[5] = {1, 2, 0, 1, 1};
	struct qemu q;
	uint8_t v8 = 0;
	(void)state;

	qemu_start(&q, "lsi53c895a");
	struct uvf_client *c = qemu_connect(&q);
	check_discovery(c, regions, 9, irqs);
	check_ids(c, 0x1000, 0x0012, 0x01000000);
	assert_int_equal(bar_sizing(c, 0), 0xffffff01);
	assert_int_equal(bar_sizing(c, 1), 0xfffffc00);
	assert_int_equal(bar_sizing(c, 2), 0xffffe000);

	/* before decoding is enabled QEMU refuses the access */
	assert_int_equal(uvf_client_region_read(c, 1, 0, &v8, 1), -EINVAL);
	enable_bar(c, 1, 0xfebf0000, 0x2);
	assert_int_equal(uvf_client_region_read(c, 1, 0, &v8, 1), 0);
	assert_int_equal(v8, 0xc0); /* SCNTL0 reset value */
	enable_bar(c, 0, 0xc000, 0x1);
	v8 = 0;
	assert_int_equal(uvf_client_region_read(c, 0, 0, &v8, 1), 0);
	assert_int_equal(v8, 0xc0); /* the same register through I/O space */

	/* scripts RAM in BAR2: write and read back */
	uint8_t pattern[256], back[256];
	for (int i = 0; i < 256; i++)
		pattern[i] = (uint8_t)(i * 5 + 1);
	enable_bar(c, 2, 0xfebe0000, 0x2);
	assert_int_equal(uvf_client_region_write(c, 2, 0x100, pattern, sizeof(pattern)), 0);
	assert_int_equal(uvf_client_region_read(c, 2, 0x100, back, sizeof(back)), 0);
	assert_memory_equal(pattern, back, sizeof(back));

	/* INTx eventfd is accepted, DMA memory with an fd too */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &efd), 0);
	void *mem = NULL;
	assert_int_equal(uvf_client_dma_alloc(c, 0x100000, 1 << 20, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      &mem),
			 0);
	assert_int_equal(uvf_client_dma_unregister(c, 0x100000, 1 << 20), 0);
	assert_int_equal(uvf_client_irq_disable(c, UVF_PCI_INTX_IRQ), 0);

	/* reset: SCNTL0 is back to its reset value */
	v8 = 0x00;
	assert_int_equal(uvf_client_region_write(c, 1, 0, &v8, 1), 0);
	assert_int_equal(uvf_client_reset(c), 0);
	enable_bar(c, 1, 0xfebf0000, 0x2);
	assert_int_equal(uvf_client_region_read(c, 1, 0, &v8, 1), 0);
	assert_int_equal(v8, 0xc0);

	uvf_client_close(c);
	close(efd);
	assert_int_equal(qemu_wait(&q, 5000), 0);
}

static void e1000_is_described_and_answers(void **state)
{
	static const struct expect_region regions[9] = {
		{0x20000, 3}, {0x40, 3}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0x40000, 1}, {0x100, 3}, {0, 0},
	};
	static const uint32_t irqs[5] = {1, 1, 0, 1, 1};
	struct qemu q;
	uint32_t v32 = 0;
	uint16_t rom_sig = 0;
	(void)state;

	qemu_start(&q, "e1000");
	struct uvf_client *c = qemu_connect(&q);
	check_discovery(c, regions, 9, irqs);
	check_ids(c, 0x8086, 0x100e, 0x02000003);
	assert_int_equal(bar_sizing(c, 0), 0xfffe0000);
	assert_int_equal(bar_sizing(c, 1), 0xffffffc1);
	enable_bar(c, 0, 0xfeb00000, 0x2);
	assert_int_equal(uvf_client_region_read(c, 0, 0, &v32, 4), 0);
	assert_int_equal(v32, 0x00140240); /* CTRL at reset */
	/* the expansion ROM answers once enabled */
	assert_int_equal(uvf_client_config_write32(c, 0x30, 0xfea00001), 0);
	assert_int_equal(uvf_client_region_read(c, 6, 0, &rom_sig, 2), 0);
	assert_int_equal(rom_sig, 0xaa55);
	uvf_client_close(c);
	assert_int_equal(qemu_wait(&q, 5000), 0);
}

/* NVMe register offsets and the one admin command we send. */
#define NVME_CAP 0x00
#define NVME_VS 0x08
#define NVME_CC 0x14
#define NVME_CSTS 0x1c
#define NVME_AQA 0x24
#define NVME_ASQ 0x28
#define NVME_ACQ 0x30
#define NVME_SQ0TDBL 0x1000
#define NVME_CQ0HDBL 0x1004

static uint32_t rd32(struct uvf_client *c, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, off, &v, 4), 0);
	return v;
}

static void wr32(struct uvf_client *c, uint64_t off, uint32_t v)
{
	assert_int_equal(uvf_client_region_write(c, 0, off, &v, 4), 0);
}

static void wr64(struct uvf_client *c, uint64_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

static void nvme_identify_through_shared_memory(void **state)
{
	static const struct expect_region regions[9] = {
		{0x4000, 3}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0x1000, 3}, {0, 0},
	};
	static const uint32_t irqs[5] = {1, 0, 65, 1, 1};
	struct qemu q;
	uint64_t cap = 0;
	(void)state;

	qemu_start(&q, "nvme");
	struct uvf_client *c = qemu_connect(&q);
	check_discovery(c, regions, 9, irqs);
	check_ids(c, 0x1b36, 0x0010, 0x01080202);
	assert_int_equal(bar_sizing(c, 0), 0xffffc004);

	enable_bar(c, 0, 0xfe000000, 0x2 | 0x4); /* memory decode + bus master */
	assert_int_equal(uvf_client_region_read(c, 0, NVME_CAP, &cap, 8), 0);
	assert_int_equal(cap, 0x004018200f0107ffull);
	assert_int_equal(rd32(c, NVME_VS), 0x00010400);

	/* guest memory: admin SQ at +0, admin CQ at +0x1000, data at +0x2000 */
	const uint64_t base = 0x80000000ull;
	uint8_t *mem = NULL;
	assert_int_equal(uvf_client_dma_alloc(c, base, 0x4000, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE,
					      (void **)&mem),
			 0);
	memset(mem, 0, 0x4000);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvf_client_set_irq_eventfds(c, UVF_PCI_INTX_IRQ, 0, 1, &efd), 0);

	wr32(c, NVME_AQA, (1u << 16) | 1u); /* 2-entry queues (0-based) */
	wr64(c, NVME_ASQ, base);
	wr64(c, NVME_ACQ, base + 0x1000);
	wr32(c, NVME_CC, 0x00460001); /* IOCQES 4, IOSQES 6, EN */
	uint32_t csts = 0;
	for (int i = 0; i < 500 && !(csts & 1); i++) {
		csts = rd32(c, NVME_CSTS);
		if (!(csts & 1))
			usleep(10000);
	}
	assert_int_equal(csts & 1, 1);

	/* Identify Controller (opcode 6, CNS 1), command id 0x1234 */
	uint32_t cmd[16] = {0};
	cmd[0] = 0x06 | (0x1234u << 16);
	uint64_t prp1 = base + 0x2000;
	memcpy(&cmd[6], &prp1, 8);
	cmd[10] = 1;
	memcpy(mem, cmd, sizeof(cmd));
	wr32(c, NVME_SQ0TDBL, 1);

	uint32_t dw3 = 0;
	for (int i = 0; i < 500; i++) {
		memcpy(&dw3, mem + 0x1000 + 12, 4);
		if (dw3 & 0x10000)
			break;
		usleep(10000);
	}
	assert_int_equal(dw3 & 0xffff, 0x1234);      /* our command */
	assert_int_equal(dw3 & 0x10000, 0x10000);    /* phase bit */
	assert_int_equal(dw3 >> 17, 0);              /* success */
	uint16_t vid;
	memcpy(&vid, mem + 0x2000, 2);
	assert_int_equal(vid, 0x1b36);
	assert_memory_equal(mem + 0x2000 + 4, "uvf-nvme-0", 10);     /* serial */
	assert_memory_equal(mem + 0x2000 + 24, "QEMU NVMe Ctrl", 14); /* model */
	/* the completion raised INTx through our eventfd */
	struct pollfd p = {.fd = efd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	wr32(c, NVME_CQ0HDBL, 1);

	uvf_client_close(c);
	close(efd);
	assert_int_equal(qemu_wait(&q, 5000), 0);
}

static void uvf_lspci_describes_qemu_devices(void **state)
{
	static const struct {
		const char *device;
		const char *expect[4];
	} cases[] = {
		{"lsi53c895a",
		 {"SCSI storage controller: Device 1000:0012", "Region 0: I/O ports at <unassigned> [disabled] [size=256]",
		  "Region 1: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=1K]",
		  "Region 2: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=8K]"}},
		{"nvme",
		 {"Non-Volatile memory controller: Device 1b36:0010 (rev 02) (prog-if 02 [NVM Express])",
		  "Region 0: Memory at <unassigned> (64-bit, non-prefetchable) [disabled] [size=16K]",
		  "Capabilities: [40] MSI-X: Enable- Count=65 Masked-", "Capabilities: [60] Power Management version 3"}},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qemu q;
		char cmd[512], out[16384];
		qemu_start(&q, cases[i].device);
		/* retry while QEMU is between bind and listen */
		size_t n = 0;
		int status = -1;
		for (int attempt = 0; attempt < 50; attempt++) {
			snprintf(cmd, sizeof(cmd), "%s -vv %s 2>&1", UVF_LSPCI, q.sock);
			FILE *f = popen(cmd, "r");
			assert_non_null(f);
			n = fread(out, 1, sizeof(out) - 1, f);
			status = pclose(f);
			out[n] = '\0';
			if (status == 0 || !strstr(out, "refused"))
				break;
			usleep(50000);
		}
		if (status != 0)
			fail_msg("uvf-lspci on QEMU's %s failed:\n%s", cases[i].device, out);
		for (int e = 0; e < 4; e++)
			if (!strstr(out, cases[i].expect[e]))
				fail_msg("uvf-lspci output for %s lacks \"%s\":\n%s", cases[i].device,
					 cases[i].expect[e], out);
		assert_int_equal(qemu_wait(&q, 5000), 0);
	}
}

int main(void)
{
	const char *qemu = getenv("UVF_QEMU_SERVER");
	if (!qemu || access(qemu, X_OK) != 0) {
		const char *req = getenv("UVF_REQUIRE_INTEROP");
		fprintf(stderr, "interop: QEMU vfio-user server not available (set UVF_QEMU_SERVER; "
				"tests/qemu-server/qemu-server-setup.sh builds it)\n");
		return req && strcmp(req, "1") == 0 ? 1 : 77;
	}
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lsi53c895a_is_described_and_answers),
		cmocka_unit_test(e1000_is_described_and_answers),
		cmocka_unit_test(nvme_identify_through_shared_memory),
		cmocka_unit_test(uvf_lspci_describes_qemu_devices),
	};
	return cmocka_run_group_tests_name("interop-qemu-server", tests, NULL, NULL);
}
