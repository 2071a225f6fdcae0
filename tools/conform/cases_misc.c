/* SPDX-License-Identifier: MIT */
/*
 * DEVICE_RESET, REGION_WRITE_MULTI (when advertised) and the migration
 * commands (DEVICE_FEATURE, MIG_DATA_*) when migration is not running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

static const char *need_reset(const struct server_facts *f)
{
	return f->info.flags & UVF_DEVICE_FLAG_RESET ? NULL : "RESET not advertised";
}

static const char *need_no_reset(const struct server_facts *f)
{
	return f->info.flags & UVF_DEVICE_FLAG_RESET ? "RESET advertised" : NULL;
}

static const char *need_wm(const struct server_facts *f)
{
	if (!f->write_multiple)
		return "write_multiple not advertised";
	return f->region[UVF_PCI_CONFIG_REGION].size ? NULL : "no config space";
}

static const char *need_no_wm(const struct server_facts *f)
{
	return f->write_multiple ? "write_multiple advertised" : NULL;
}

static const char *need_migration(const struct server_facts *f)
{
	return f->migration ? NULL : "migration not supported";
}

static void run_reset(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	if (k->arg == 2) {
		xact_no_reply(x, r, UVF_CMD_DEVICE_RESET, NULL, 0, NULL, 0);
		return;
	}
	if (xact(x, r, UVF_CMD_DEVICE_RESET, 0, junk, k->arg ? sizeof(junk) : 0, NULL, 0, NULL) != OUT_OK)
		return;
	struct result s = {0};
	struct uvf_msg_device_info in = {.argsz = 16};
	if (xact(x, &s, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0, NULL) != OUT_OK)
		r_decide(r, V_FAIL, "DEVICE_GET_INFO after the reset: %s", s.did);
}

/* REGION_WRITE_MULTI variants; entries rewrite the interrupt line with its
 * own value, so valid ones change nothing. */
enum wm_kind {
	WM_VALID,
	WM_CNT_ABOVE,
	WM_CNT_BELOW,
	WM_EMPTY,
	WM_COUNT_0,
	WM_COUNT_9,
	WM_BAD_REGION,
	WM_OVERFLOW,
	WM_CNT_HUGE,
	WM_SHORT,
	WM_NO_REPLY,
	WM_PAST_END
};

static void run_wm(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[8 + 24 * 2] = {0};
	uint8_t line = 0;
	uint64_t wr_cnt = 2;
	size_t n = 2, len;
	struct uvf_msg_write_multi_entry e[2];

	do_region_read(x, UVF_PCI_CONFIG_REGION, 0x3c, 1, &line);
	for (int i = 0; i < 2; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].offset = 0x3c;
		e[i].region = UVF_PCI_CONFIG_REGION;
		e[i].count = 1;
		e[i].data[0] = line;
	}
	switch ((enum wm_kind)k->arg) {
	case WM_CNT_ABOVE:
		wr_cnt = 3;
		break;
	case WM_CNT_BELOW:
		wr_cnt = 1;
		break;
	case WM_EMPTY:
		wr_cnt = 0;
		n = 0;
		break;
	case WM_COUNT_0:
		e[1].count = 0;
		break;
	case WM_COUNT_9:
		e[1].count = 9;
		break;
	case WM_BAD_REGION:
		e[1].region = 0xffffffffu;
		break;
	case WM_OVERFLOW:
		e[1].offset = 0xffffffffffffffffull;
		e[1].count = 4;
		break;
	case WM_PAST_END:
		e[1].offset = x->facts->region[UVF_PCI_CONFIG_REGION].size - 1;
		e[1].count = 4;
		break;
	case WM_CNT_HUGE:
		wr_cnt = 1ull << 63;
		break;
	default:
		break;
	}
	memcpy(buf, &wr_cnt, 8);
	memcpy(buf + 8, e, 24 * n);
	len = 8 + 24 * n;
	if (k->arg == WM_SHORT)
		len = 4;
	if (k->arg == WM_NO_REPLY) {
		xact_no_reply(x, r, UVF_CMD_REGION_WRITE_MULTI, buf, len, NULL, 0);
		return;
	}
	struct msg m;
	if (xact(x, r, UVF_CMD_REGION_WRITE_MULTI, 0, buf, len, NULL, 0, &m) != OUT_OK)
		return;
	uint64_t done = 0;
	if (m.len == 8)
		memcpy(&done, m.payload, 8);
	else
		r_decide(r, V_FAIL, "reply payload %zu bytes (4.14: 8)", m.len);
	msg_free(&m);
	r_did(r, "wr_cnt %llu completed", (unsigned long long)done);
	if (k->arg == WM_VALID || k->arg == WM_EMPTY) {
		if (done != n)
			r_decide(r, V_FAIL, "%llu of %zu writes reported", (unsigned long long)done, n);
	} else if (k->arg != WM_NO_REPLY) {
		if (done >= n)
			r_decide(r, V_FAIL, "a bad request reported as fully completed");
		else
			r_decide(r, V_WARN, "partial completion reported instead of an error");
	}
}

enum mig_kind {
	MG_PROBE,
	MG_GET,
	MG_UNKNOWN,
	MG_VF_TOKEN,
	MG_GET_SET,
	MG_NO_OP,
	MG_PAYLOAD_4,
	MG_ARGSZ_8,
	MG_STATE_99,
	MG_STATE_ERROR,
	MG_DATA_READ,
	MG_DATA_WRITE,
	MG_DATA_READ_HUGE,
	MG_DATA_WRITE_SHORT,
	MG_REPORT,
	MG_START_HUGE,
	MG_GET_STATE
};

static void run_mig(struct ctx *x, const struct conform_case *k, struct result *r)
{
	uint8_t buf[64] = {0};
	struct uvf_msg_device_feature df = {.argsz = 16};
	size_t len = 8;
	uint16_t cmd = UVF_CMD_DEVICE_FEATURE;

	switch ((enum mig_kind)k->arg) {
	case MG_PROBE:
		df.flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET | UVF_FEATURE_PROBE;
		break;
	case MG_GET:
		df.flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET;
		break;
	case MG_GET_STATE:
		df.flags = UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_GET;
		break;
	case MG_UNKNOWN:
		df.flags = 0x1234 | UVF_FEATURE_GET;
		break;
	case MG_VF_TOKEN:
		df.flags = 0 | UVF_FEATURE_SET;
		len = 8 + 16;
		break;
	case MG_GET_SET:
		df.flags = UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_GET | UVF_FEATURE_SET;
		len = 16;
		break;
	case MG_NO_OP:
		df.flags = UVF_FEATURE_MIGRATION;
		break;
	case MG_PAYLOAD_4:
		df.flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET;
		len = 4;
		break;
	case MG_ARGSZ_8:
		df.flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET;
		df.argsz = 8;
		break;
	case MG_STATE_99:
	case MG_STATE_ERROR: {
		struct uvf_msg_feature_migration_state st = {
			.device_state = k->arg == MG_STATE_99 ? 99 : UVF_MIGRATION_STATE_ERROR};
		df.flags = UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_SET;
		memcpy(buf + 8, &st, sizeof(st));
		len = 16;
		break;
	}
	case MG_REPORT: {
		struct uvf_msg_dma_logging_report rep = {.iova = DMA_BASE, .length = 1 << 20, .page_size = 4096};
		df.flags = UVF_FEATURE_DMA_LOGGING_REPORT | UVF_FEATURE_GET;
		df.argsz = 8 + 24 + 32;
		memcpy(buf + 8, &rep, sizeof(rep));
		len = 32;
		break;
	}
	case MG_START_HUGE: {
		struct uvf_msg_dma_logging_control c = {.page_size = 4096, .num_ranges = 0xffffffffu};
		df.flags = UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET;
		df.argsz = 24;
		memcpy(buf + 8, &c, sizeof(c));
		len = 24;
		break;
	}
	case MG_DATA_READ:
	case MG_DATA_READ_HUGE: {
		struct uvf_msg_migration_data d = {.argsz = 8 + 16, .size = k->arg == MG_DATA_READ ? 16 : 0xffffffffu};
		cmd = UVF_CMD_MIGRATION_DATA_READ;
		memcpy(buf, &d, sizeof(d));
		len = 8;
		break;
	}
	case MG_DATA_WRITE:
	case MG_DATA_WRITE_SHORT: {
		struct uvf_msg_migration_data d = {.argsz = 8 + 4, .size = k->arg == MG_DATA_WRITE ? 4 : 100};
		cmd = UVF_CMD_MIGRATION_DATA_WRITE;
		memcpy(buf, &d, sizeof(d));
		memcpy(buf + 8, "uvf!", 4);
		len = 12;
		break;
	}
	}
	if (cmd == UVF_CMD_DEVICE_FEATURE)
		memcpy(buf, &df, sizeof(df));
	struct msg m;
	if (xact(x, r, cmd, 0, buf, len, NULL, 0, &m) != OUT_OK)
		return;
	if (k->arg == MG_GET) {
		uint64_t flags = 0;
		if (m.len >= 16)
			memcpy(&flags, m.payload + 8, 8);
		r_did(r, "migration flags 0x%llx", (unsigned long long)flags);
		if (!(flags & UVF_MIGRATION_STOP_COPY))
			r_decide(r, V_FAIL, "STOP_COPY not set (4.15)");
	} else if (k->arg == MG_GET_STATE) {
		uint32_t st = 0;
		if (m.len >= 12)
			memcpy(&st, m.payload + 8, 4);
		r_did(r, "device state %u", st);
		if (st != UVF_MIGRATION_STATE_RUNNING)
			r_decide(r, V_FAIL, "a fresh session is not RUNNING (6.1)");
	} else if (k->arg == MG_PROBE && !x->facts->migration) {
		r_decide(r, V_WARN, "PROBE succeeded although GET of MIGRATION failed");
	}
	msg_free(&m);
}

#define X(name_, sec, req, fn, a, pass_, warn_, skip_)                                                                 \
	{                                                                                                              \
		name_, sec, req, fn, a, 0, pass_, warn_, 0, 0, skip_                                                   \
	}

static const struct conform_case cases[] = {
	X("reset/valid", "4.13", "DEVICE_RESET is answered and the device keeps serving", run_reset, 0, O_OK, 0,
	  need_reset),
	X("reset/with-payload", "4.13", "DEVICE_RESET with 8 stray payload bytes: answered or refused", run_reset, 1,
	  O_OK | O_ERROR, 0, need_reset),
	X("reset/no-reply", "1.5", "DEVICE_RESET with NO_REPLY gets no reply", run_reset, 2, O_SILENT, O_ERROR,
	  need_reset),
	X("reset/not-advertised", "4.13", "DEVICE_RESET without the RESET flag is refused", run_reset, 0, O_REJECT,
	  O_OK, need_no_reset),
	X("write-multi/valid", "4.14", "two valid entries: reply wr_cnt 2", run_wm, WM_VALID, O_OK, 0, need_wm),
	X("write-multi/empty", "4.14", "wr_cnt 0 without entries: answered with 0 or refused", run_wm, WM_EMPTY,
	  O_OK | O_ERROR, 0, need_wm),
	X("write-multi/wr-cnt-above-entries", "4.14", "wr_cnt 3 with 2 entries: refused", run_wm, WM_CNT_ABOVE,
	  O_REJECT, 0, need_wm),
	X("write-multi/wr-cnt-below-entries", "4.14", "wr_cnt 1 with 2 entries: refused", run_wm, WM_CNT_BELOW,
	  O_REJECT, 0, need_wm),
	X("write-multi/wr-cnt-2^63", "4.14, 1.1", "wr_cnt 2^63 with 2 entries: refused", run_wm, WM_CNT_HUGE, O_REJECT,
	  0, need_wm),
	X("write-multi/entry-count-0", "4.14", "an entry with count 0: refused", run_wm, WM_COUNT_0, O_REJECT, 0,
	  need_wm),
	X("write-multi/entry-count-9", "4.14", "an entry with count 9: refused", run_wm, WM_COUNT_9, O_REJECT, 0,
	  need_wm),
	X("write-multi/bad-region", "4.14", "an entry for region 0xffffffff: refused", run_wm, WM_BAD_REGION, O_REJECT,
	  0, need_wm),
	X("write-multi/offset-overflow", "4.14, 1.1", "an entry whose offset + count wraps: refused", run_wm,
	  WM_OVERFLOW, O_REJECT, 0, need_wm),
	X("write-multi/past-end", "4.14", "an entry crossing the end of config space: refused", run_wm, WM_PAST_END,
	  O_REJECT, 0, need_wm),
	X("write-multi/payload-4", "1.11", "a 4-byte payload: refused", run_wm, WM_SHORT, O_REJECT, 0, need_wm),
	X("write-multi/no-reply", "1.5, 4.14", "WRITE_MULTI with NO_REPLY (as QEMU sends it): no reply", run_wm,
	  WM_NO_REPLY, O_SILENT, O_ERROR, need_wm),
	X("write-multi/not-advertised", "2.3, 4.14", "WRITE_MULTI without write_multiple advertised: refused", run_wm,
	  WM_VALID, O_REJECT, O_OK, need_no_wm),
	X("migration/probe", "4.15, 6.4", "PROBE of MIGRATION: answered, or refused without migration", run_mig,
	  MG_PROBE, O_OK | O_ERROR, 0, NULL),
	X("migration/get", "4.15", "GET of MIGRATION reports STOP_COPY", run_mig, MG_GET, O_OK, 0, need_migration),
	X("migration/get-state", "4.15, 6.1", "GET of MIG_DEVICE_STATE in a fresh session is RUNNING", run_mig,
	  MG_GET_STATE, O_OK, 0, need_migration),
	X("migration/unknown-feature", "4.15", "feature 0x1234: refused", run_mig, MG_UNKNOWN, O_REJECT, 0, NULL),
	X("migration/vf-token-feature", "4.15", "kernel feature 0 (VF token) is not valid in vfio-user: refused",
	  run_mig, MG_VF_TOKEN, O_REJECT, 0, NULL),
	X("migration/get-and-set", "4.15", "GET and SET together without PROBE: refused", run_mig, MG_GET_SET, O_REJECT,
	  0, NULL),
	X("migration/no-operation", "4.15", "neither GET, SET nor PROBE: refused", run_mig, MG_NO_OP, O_REJECT, 0,
	  NULL),
	X("migration/payload-4", "1.11", "a 4-byte DEVICE_FEATURE payload: refused", run_mig, MG_PAYLOAD_4, O_REJECT, 0,
	  NULL),
	X("migration/get-argsz-8", "1.6, 4.15", "GET with argsz 8 (no room for data): refused", run_mig, MG_ARGSZ_8,
	  O_REJECT, 0, NULL),
	X("migration/set-state-99", "4.15, 6.1", "SET of device state 99: refused", run_mig, MG_STATE_99, O_REJECT, 0,
	  NULL),
	X("migration/set-state-error", "6.2", "ERROR cannot be requested: refused", run_mig, MG_STATE_ERROR, O_REJECT,
	  0, NULL),
	X("migration/logging-report-inactive", "4.15", "DMA_LOGGING_REPORT without logging: refused", run_mig,
	  MG_REPORT, O_REJECT, 0, NULL),
	X("migration/logging-start-huge", "4.15, 1.1", "DMA_LOGGING_START with 2^32-1 ranges and none sent: refused",
	  run_mig, MG_START_HUGE, O_REJECT, 0, NULL),
	X("migration/data-read-running", "4.16, 6.3", "MIG_DATA_READ outside PRE_COPY/STOP_COPY: refused", run_mig,
	  MG_DATA_READ, O_REJECT, 0, NULL),
	X("migration/data-read-huge", "4.16, 1.7", "MIG_DATA_READ of 0xffffffff bytes: refused", run_mig,
	  MG_DATA_READ_HUGE, O_REJECT, 0, NULL),
	X("migration/data-write-running", "4.17", "MIG_DATA_WRITE outside RESUMING: refused", run_mig, MG_DATA_WRITE,
	  O_REJECT, 0, NULL),
	X("migration/data-write-size-mismatch", "4.17", "MIG_DATA_WRITE size 100 with 4 bytes: refused", run_mig,
	  MG_DATA_WRITE_SHORT, O_REJECT, 0, NULL),
};

const struct case_table conform_misc_table = {"misc", cases, sizeof(cases) / sizeof(cases[0])};
