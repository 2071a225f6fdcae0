/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the decoders of src/proto called directly, for the payloads
 * the stream targets reach only after a long set-up (REGION_IO_FDS replies,
 * DEVICE_FEATURE replies, DMA logging, MIG_DATA replies) and their server-
 * side requests. Input:
 *
 *   which:u8 nfds:u8 a:u64 b:u64 payload[rest]
 *
 * "which" picks the decoder (modulo their number), nfds % 4 is the fd count
 * passed, a and b feed the caller's side (the request a reply answers,
 * limits, region size). The payload is copied to a heap block of exactly
 * its length, so ASan sees any read past it. On success every part of the
 * view is read (entries, ranges, bitmap), as a caller would.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/msg.h"

static volatile uint64_t sink;

static void touch(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sink += p[i];
}

static void io_fds_reply(const uint8_t *payload, size_t len, size_t nfds, uint64_t a, uint64_t b)
{
	struct uvf_msg_region_io_fds req = {.argsz = (uint32_t)a, .index = (uint32_t)(a >> 32) % UVF_PCI_NUM_REGIONS};
	struct uvf_region_io_fds_view v;

	if (uvf__decode_region_io_fds_reply(payload, len, nfds, &req, 65536, b, &v, NULL) < 0 || v.truncated)
		return;
	for (uint32_t i = 0; i < v.head.count; i++) {
		struct uvf_msg_io_fd_entry e;
		uvf__io_fds_entry(&v, i, &e);
		if (e.fd_index >= nfds || e.offset >= b || e.size > b - e.offset)
			abort(); /* the decoder promised */
		sink += e.datamatch;
	}
}

static void logging_start(const uint8_t *payload, size_t len)
{
	struct uvf_dma_logging_start_view v;
	struct uvf_msg_dma_logging_range *sorted;

	if (uvf__decode_dma_logging_start(payload, len, &v, NULL) < 0)
		return;
	if (len != 16 + (size_t)v.control.num_ranges * 16)
		abort();
	if (v.control.num_ranges == 0)
		return;
	sorted = malloc((size_t)v.control.num_ranges * sizeof(*sorted));
	if (!sorted)
		abort();
	if (uvf__dma_logging_sort_ranges(&v, sorted, NULL) == 0)
		for (uint32_t i = 1; i < v.control.num_ranges; i++)
			if (sorted[i - 1].iova + (sorted[i - 1].length - 1) >= sorted[i].iova)
				abort();
	free(sorted);
}

static void logging_start_reply(const uint8_t *payload, size_t len, size_t nfds, uint64_t a, uint64_t b)
{
	static const struct uvf_msg_dma_logging_range ranges[3] = {{0, 4096}, {1u << 20, 1u << 20}, {1ull << 40, 1}};
	struct uvf_msg_dma_logging_control ctl = {.page_size = 1ull << (a % 64), .num_ranges = (uint32_t)(b % 4)};
	struct uvf_msg_device_feature hdr = {.argsz = (uint32_t)(8 + 16 + 16 * ctl.num_ranges),
					     .flags = UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET};
	uint64_t page = 0;

	if (uvf__decode_dma_logging_start_reply(payload, len, nfds, &hdr, &ctl, ctl.num_ranges ? ranges : NULL, &page,
						NULL) == 0 &&
	    (page == 0 || (page & (page - 1)) != 0))
		abort();
}

static void logging_report_reply(const uint8_t *payload, size_t len, size_t nfds, uint64_t a, uint64_t b)
{
	struct uvf_msg_dma_logging_report req = {.iova = a, .length = b, .page_size = 1ull << (a % 64)};
	struct uvf_dma_logging_bitmap_view v;

	if (uvf__decode_dma_logging_report_reply(payload, len, nfds, &req, &v, NULL) == 0)
		touch(v.bitmap, v.bitmap_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	unsigned which = fuzz_u8(&in);
	size_t nfds = fuzz_u8(&in) % 4;
	uint64_t a = fuzz_u64(&in), b = fuzz_u64(&in);
	size_t len;
	const uint8_t *rest = fuzz_bytes(&in, in.left, &len);
	uint8_t *payload = malloc(len ? len : 1);

	if (!payload)
		abort();
	if (len)
		memcpy(payload, rest, len);

	switch (which % 14) {
	case 0: {
		struct uvf_msg_region_io_fds req;
		uvf__decode_region_io_fds_req(payload, len, nfds, &req, NULL);
		break;
	}
	case 1:
		io_fds_reply(payload, len, nfds, a, b);
		break;
	case 2: {
		struct uvf_msg_feature_migration_state st;
		uvf__decode_mig_state(payload, len, &st, NULL);
		break;
	}
	case 3:
		logging_start(payload, len);
		break;
	case 4:
		uvf__decode_dma_logging_stop(payload, len, NULL);
		break;
	case 5: {
		struct uvf_dma_logging_report_view v;
		uvf__decode_dma_logging_report(payload, len, (uint32_t)a, b, &v, NULL);
		break;
	}
	case 6: {
		struct uvf_feature_reply_view v;
		if (uvf__decode_feature_reply(payload, len, nfds, (uint32_t)a, &v, NULL) == 0)
			touch(v.data, v.data_len);
		break;
	}
	case 7: {
		struct uvf_feature_reply_view v;
		if (uvf__decode_feature_get_reply(payload, len, nfds, (uint32_t)a, (size_t)(b % 4096), &v, NULL) == 0)
			touch(v.data, v.data_len);
		break;
	}
	case 8: {
		/* the request's data: the tail of the payload, b % 64 bytes */
		size_t dlen = (size_t)(b % 64) < len ? (size_t)(b % 64) : len;
		uvf__decode_feature_echo_reply(payload, len, nfds, (uint32_t)a, payload + len - dlen, dlen, NULL);
		break;
	}
	case 9:
		logging_start_reply(payload, len, nfds, a, b);
		break;
	case 10:
		logging_report_reply(payload, len, nfds, a, b);
		break;
	case 11: {
		struct uvf_msg_migration_data res;
		const uint8_t *d;
		if (uvf__decode_mig_data_read_reply(payload, len, nfds, (uint32_t)a, &res, &d, NULL) == 0)
			touch(d, res.size);
		break;
	}
	case 12:
		uvf__decode_mig_data_write_reply(payload, len, nfds, NULL);
		break;
	default: {
		struct uvf_device_feature_view v;
		if (uvf__decode_device_feature(payload, len, nfds, &v, NULL) == 0)
			touch(v.data, v.data_len);
		break;
	}
	}
	free(payload);
	return 0;
}
