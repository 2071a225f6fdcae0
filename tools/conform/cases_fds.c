/* SPDX-License-Identifier: MIT */
/*
 * fds on commands that take none (1.8): the command fails and the fd is
 * closed. The fd sent is the write end of a pipe we keep the read end of,
 * so a server that keeps it shows up as a leak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

static const char *need_reset(const struct server_facts *f)
{
	return f->info.flags & UVF_DEVICE_FLAG_RESET ? NULL : "RESET not advertised";
}

/* Judges whether the probe fd was released, and when. */
static void check_released(struct ctx *x, struct result *r, struct fd_probe *p)
{
	if (fd_probe_released(p, 200)) {
		r_did(r, "the fd was closed");
		return;
	}
	conn_close(&x->conn);
	if (fd_probe_released(p, 1000))
		r_decide(r, V_WARN, "the unexpected fd was kept until the client left (1.8)");
	else
		r_decide(r, V_FAIL, "the unexpected fd was never closed: leaked (1.8)");
}

static void run_fd_on(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t p[40] = {0};
	size_t len = 16;
	uint16_t cmd = (uint16_t)k->arg;
	int extra = (int)k->arg2; /* more fds (eventfds) after the probe */
	struct fd_probe probe;

	switch (cmd) {
	case UVF_CMD_DEVICE_GET_INFO: {
		struct uvf_msg_device_info in = {.argsz = 16};
		memcpy(p, &in, sizeof(in));
		break;
	}
	case UVF_CMD_DEVICE_GET_REGION_INFO: {
		struct uvf_msg_region_info ri = {.argsz = 32, .index = UVF_PCI_CONFIG_REGION};
		memcpy(p, &ri, sizeof(ri));
		len = 32;
		break;
	}
	case UVF_CMD_DEVICE_GET_IRQ_INFO: {
		struct uvf_msg_irq_info ii = {.argsz = 16};
		memcpy(p, &ii, sizeof(ii));
		break;
	}
	case UVF_CMD_REGION_READ: {
		struct uvf_msg_region_access a = {.region = UVF_PCI_CONFIG_REGION, .count = 4};
		memcpy(p, &a, sizeof(a));
		break;
	}
	case UVF_CMD_REGION_WRITE: {
		struct uvf_msg_region_access a = {.offset = 0x3c, .region = UVF_PCI_CONFIG_REGION, .count = 1};
		memcpy(p, &a, sizeof(a));
		do_region_read(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, p + 16);
		len = 17;
		break;
	}
	case UVF_CMD_DMA_UNMAP: {
		struct uvf_msg_dma_unmap um = {.argsz = 24, .address = DMA_BASE, .size = dma_page(x->facts)};
		if (do_dma_map(x, um.address, um.size, -1, 0) < 0) {
			r_decide(r, V_FAIL, "set-up: DMA_MAP without fd failed");
			return;
		}
		memcpy(p, &um, sizeof(um));
		len = 24;
		break;
	}
	case UVF_CMD_DEVICE_RESET:
		len = 0;
		break;
	case UVF_CMD_DEVICE_FEATURE: {
		struct uvf_msg_device_feature df = {.argsz = 16, .flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET};
		memcpy(p, &df, sizeof(df));
		len = 8;
		break;
	}
	case UVF_CMD_MIGRATION_DATA_READ: {
		struct uvf_msg_migration_data d = {.argsz = 24, .size = 16};
		memcpy(p, &d, sizeof(d));
		len = 8;
		break;
	}
	case UVF_CMD_REGION_WRITE_MULTI: {
		uint64_t n = 1;
		struct uvf_msg_write_multi_entry e = {.offset = 0x3c, .region = UVF_PCI_CONFIG_REGION, .count = 1};
		do_region_read(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, e.data);
		memcpy(p, &n, 8);
		memcpy(p + 8, &e, sizeof(e));
		len = 32;
		break;
	}
	default:
		break;
	}
	if (fd_probe_open(&probe) < 0)
		return;
	int fds[253];
	int nfds = 1 + extra;
	fds[0] = probe.write_end;
	for (int i = 1; i < nfds; i++)
		fds[i] = make_eventfd();
	if (k->flags & 0x100)
		xact_no_reply(x, r, cmd, p, len, fds, nfds);
	else
		xact(x, r, cmd, 0, p, len, fds, nfds, NULL);
	fd_probe_sent(&probe);
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	check_released(x, r, &probe);
	fd_probe_close(&probe);
}

#define FD(name_, sec, req, cmd, extra, pass_, warn_, skip_)                                                           \
	{                                                                                                              \
		"fds/" name_, sec, req, run_fd_on, cmd, extra, pass_, warn_, 0, 0, skip_                               \
	}

static const struct conform_case cases[] = {
	FD("on-get-info", "1.8", "an fd on DEVICE_GET_INFO: command fails, fd closed", UVF_CMD_DEVICE_GET_INFO, 0,
	   O_REJECT, O_OK, NULL),
	FD("on-region-info", "1.8", "an fd on DEVICE_GET_REGION_INFO: command fails, fd closed",
	   UVF_CMD_DEVICE_GET_REGION_INFO, 0, O_REJECT, O_OK, NULL),
	FD("on-irq-info", "1.8", "an fd on DEVICE_GET_IRQ_INFO: command fails, fd closed", UVF_CMD_DEVICE_GET_IRQ_INFO,
	   0, O_REJECT, O_OK, NULL),
	FD("on-region-read", "1.8", "an fd on REGION_READ: command fails, fd closed", UVF_CMD_REGION_READ, 0, O_REJECT,
	   O_OK, NULL),
	FD("on-region-write", "1.8", "an fd on REGION_WRITE: command fails, fd closed", UVF_CMD_REGION_WRITE, 0,
	   O_REJECT, O_OK, NULL),
	FD("on-dma-unmap", "1.8", "an fd on DMA_UNMAP: command fails, fd closed", UVF_CMD_DMA_UNMAP, 0, O_REJECT, O_OK,
	   NULL),
	FD("on-reset", "1.8", "an fd on DEVICE_RESET: command fails, fd closed", UVF_CMD_DEVICE_RESET, 0, O_REJECT,
	   O_OK, need_reset),
	FD("on-device-feature", "1.8", "an fd on DEVICE_FEATURE: command fails, fd closed", UVF_CMD_DEVICE_FEATURE, 0,
	   O_REJECT, 0, NULL),
	FD("on-mig-data-read", "1.8", "an fd on MIG_DATA_READ: command fails, fd closed", UVF_CMD_MIGRATION_DATA_READ,
	   0, O_REJECT, 0, NULL),
	FD("on-write-multi", "1.8", "an fd on REGION_WRITE_MULTI: command fails, fd closed", UVF_CMD_REGION_WRITE_MULTI,
	   0, O_REJECT, 0, NULL),
	FD("on-unknown-command", "1.8, 1.11", "an fd on an unknown command: refused, fd closed", 100, 0, O_REJECT, 0,
	   NULL),
	FD("two-on-get-info", "1.8", "two fds on DEVICE_GET_INFO: command fails, both closed", UVF_CMD_DEVICE_GET_INFO,
	   1, O_REJECT, O_OK, NULL),
	FD("253-on-get-info", "1.7, 1.8", "253 fds (above max_msg_fds): refused, all closed", UVF_CMD_DEVICE_GET_INFO,
	   252, O_REJECT, O_OK, NULL),
	{"fds/on-posted-write", "1.5, 1.8", "an fd on a posted REGION_WRITE: no reply, fd closed", run_fd_on,
	 UVF_CMD_REGION_WRITE, 0, O_SILENT, O_ERROR, 0, 0x100, NULL},
};

const struct case_table conform_fds_table = {"fds", cases, sizeof(cases) / sizeof(cases[0])};
