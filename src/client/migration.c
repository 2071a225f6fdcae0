/* SPDX-License-Identifier: MIT */
/*
 * The client side of live migration (docs/protocol.md 4.15-4.17, 6):
 * DEVICE_FEATURE for the migration feature, the device state and DMA
 * logging, and MIG_DATA_READ/MIG_DATA_WRITE for the state stream.
 *
 * Every call goes through the engine (uvf__client_request), so it is as
 * thread-safe as the rest of the client. Every reply is checked against
 * the request it answers before anything from it reaches the caller: a
 * reply that does not fit is -EPROTO and changes nothing the caller sees
 * (except bitmap words already filled by earlier pieces of a report).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "client/client_internal.h"
#include "util.h"

/* Bytes of the DEVICE_FEATURE header before the feature data. */
#define FEATURE_HDR sizeof(struct uvf_msg_device_feature)

/* The largest payload both directions of one exchange can carry: the
 * server takes at most its max_data_xfer_size, we accept at most ours. */
static uint32_t exchange_limit(const struct uvf_client *client)
{
	return client->caps.max_data_xfer_size < client->our_max_xfer ? client->caps.max_data_xfer_size
								      : client->our_max_xfer;
}

/* The feature's name for a log line, "?" for one uvf does not know. */
static const char *feature_name(uint32_t index)
{
	const char *name = uvf__feature_name(index);

	return name ? name : "?";
}

/* Whether an error answer means "this server does not do that feature":
 * servers without it answer EINVAL (libvfio-user), ENOTSUP (uvf), ENOSYS
 * (no DEVICE_FEATURE at all) or ENOTTY (the kernel's word for it). */
static bool means_unsupported(int rc)
{
	return rc == -EINVAL || rc == -ENOTSUP || rc == -ENOSYS || rc == -ENOTTY;
}

/*
 * Send DEVICE_FEATURE with flags (index | GET/SET/PROBE) and data, asking
 * for a reply payload of argsz bytes. On 0 the reply is held by the caller
 * (uvf__client_reply_done), which checks it with a decoder of src/proto.
 */
static int feature_request(struct uvf_client *client, uint32_t flags, const void *data, size_t data_len, uint32_t argsz,
			   struct uvf_client_reply *reply)
{
	struct uvf_msg_device_feature hdr = {.argsz = argsz, .flags = flags};
	struct iovec iov[2] = {
		{.iov_base = &hdr, .iov_len = sizeof(hdr)},
		{.iov_base = (void *)data, .iov_len = data_len},
	};

	return uvf__client_request(client, UVF_CMD_DEVICE_FEATURE, iov, data_len ? 2 : 1, NULL, 0, reply);
}

/* A SET or PROBE whose reply must echo the request payload exactly
 * (docs/protocol.md 4.15). DMA_LOGGING_START checks its own echo, since the
 * server may change its page size. */
static int feature_echo(struct uvf_client *client, uint32_t flags, const void *data, size_t data_len)
{
	struct uvf_client_reply reply;
	struct uvf_why why = {{0}};
	int rc;

	rc = feature_request(client, flags, data, data_len, (uint32_t)(FEATURE_HDR + data_len), &reply);
	if (rc)
		return rc;
	if (uvf__decode_feature_echo_reply(reply.payload, reply.len, reply.nfds, flags, data, data_len, &why) < 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DEVICE_FEATURE %s: %s", feature_name(flags & UVF_FEATURE_BITS),
			   why.text);
		rc = -EPROTO;
	}
	uvf__client_reply_done(client);
	return rc;
}

/* A GET whose reply is the header and exactly out_len bytes of data. */
static int feature_get(struct uvf_client *client, uint32_t index, const void *data, size_t data_len, void *out,
		       size_t out_len)
{
	struct uvf_client_reply reply;
	struct uvf_feature_reply_view view;
	struct uvf_why why = {{0}};
	int rc;

	rc = feature_request(client, index | UVF_FEATURE_GET, data, data_len, (uint32_t)(FEATURE_HDR + out_len),
			     &reply);
	if (rc)
		return rc;
	if (uvf__decode_feature_get_reply(reply.payload, reply.len, reply.nfds, index, out_len, &view, &why) < 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DEVICE_FEATURE GET %s: %s", feature_name(index), why.text);
		uvf__client_reply_done(client);
		return -EPROTO;
	}
	memcpy(out, view.data, out_len);
	uvf__client_reply_done(client);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Migration feature and device state                                   */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_migration_features(struct uvf_client *client, uint64_t *flags)
{
	struct uvf_msg_feature_migration mig;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (flags == NULL)
		return -EINVAL;
	/* PROBE first (docs/protocol.md 6.4): its failure is the plain "no
	 * migration" answer, whereas a failed GET would be ambiguous. */
	rc = feature_echo(client, UVF_FEATURE_MIGRATION | UVF_FEATURE_GET | UVF_FEATURE_PROBE, NULL, 0);
	if (means_unsupported(rc)) {
		CLIENT_LOG(client, UVF_LOG_INFO, "the server does not offer migration (%s)", uvf_strerror(rc));
		return -ENOTSUP;
	}
	if (rc)
		return rc;
	rc = feature_get(client, UVF_FEATURE_MIGRATION, NULL, 0, &mig, sizeof(mig));
	if (rc)
		return rc;
	/* STOP_COPY is the one mandatory mode: without it there is no way
	 * to get the state out. */
	if (!(mig.flags & UVF_MIGRATION_STOP_COPY)) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "MIGRATION flags 0x%llx lack STOP_COPY",
			   (unsigned long long)mig.flags);
		return -EPROTO;
	}
	*flags = mig.flags;
	return 0;
}

UVF_API int uvf_client_migration_state(struct uvf_client *client, uint32_t *state)
{
	uint8_t data[sizeof(struct uvf_msg_feature_migration_state)];
	struct uvf_msg_feature_migration_state st;
	struct uvf_why why = {{0}};
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (state == NULL)
		return -EINVAL;
	rc = feature_get(client, UVF_FEATURE_MIGRATION_DEVICE_STATE, NULL, 0, data, sizeof(data));
	if (rc)
		return rc;
	if (uvf__decode_mig_state(data, sizeof(data), &st, &why) < 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "the server reports %s", why.text);
		return -EPROTO;
	}
	*state = st.device_state;
	return 0;
}

UVF_API int uvf_client_set_migration_state(struct uvf_client *client, uint32_t state)
{
	/* data_fd is the kernel's data channel, unused here: -1 as QEMU's
	 * kernel path sends when it has none. */
	struct uvf_msg_feature_migration_state st = {.device_state = state, .data_fd = UINT32_MAX};
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (state > UVF_MIGRATION_STATE_PRE_COPY_P2P) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "MIG_DEVICE_STATE: %u is not a state", (unsigned)state);
		return -EINVAL;
	}
	rc = feature_echo(client, UVF_FEATURE_MIGRATION_DEVICE_STATE | UVF_FEATURE_SET, &st, sizeof(st));
	if (rc && rc != -EPROTO)
		CLIENT_LOG(client, UVF_LOG_INFO, "MIG_DEVICE_STATE -> %u refused: %s", (unsigned)state,
			   uvf_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------------ */
/* Migration data                                                       */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_migration_data_read(struct uvf_client *client, void *buf, size_t len, size_t *got)
{
	uint32_t chunk;
	size_t done = 0;
	int rc;

	if (got)
		*got = 0;
	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (got == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	/* The request size is bounded by what the server sends (its
	 * limit) and by what we receive (ours); the reply header takes 8
	 * bytes of our receive limit, which has room for 16. */
	chunk = exchange_limit(client);
	while (done < len) {
		uint32_t n = len - done < chunk ? (uint32_t)(len - done) : chunk;
		struct uvf_msg_migration_data req = {.argsz = (uint32_t)sizeof(req) + n, .size = n};
		struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
		struct uvf_client_reply reply;
		struct uvf_why why = {{0}};
		struct uvf_msg_migration_data res;
		const uint8_t *data;

		rc = uvf__client_request(client, UVF_CMD_MIGRATION_DATA_READ, &iov, 1, NULL, 0, &reply);
		if (rc)
			break;
		if (uvf__decode_mig_data_read_reply(reply.payload, reply.len, reply.nfds, n, &res, &data, &why) < 0) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s", why.text);
			uvf__client_reply_done(client);
			rc = -EPROTO;
			break;
		}
		if (res.size)
			memcpy((uint8_t *)buf + done, data, res.size);
		uvf__client_reply_done(client);
		done += res.size;
		if (res.size < n)
			break; /* the end of what this phase has (docs/protocol.md 9 #13) */
	}
	/* Bytes already read are gone from the server's stream: report them
	 * even when a later chunk failed, so that a caller can tell. */
	*got = done;
	return rc;
}

UVF_API int uvf_client_migration_data_write(struct uvf_client *client, const void *buf, size_t len)
{
	uint32_t chunk;
	size_t done = 0;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (buf == NULL && len > 0)
		return -EINVAL;
	/* The server receives at most its limit of data per message. */
	chunk = client->caps.max_data_xfer_size;
	while (done < len) {
		uint32_t n = len - done < chunk ? (uint32_t)(len - done) : chunk;
		/* argsz covers the request itself: libvfio-user insists on it. */
		struct uvf_msg_migration_data req = {.argsz = (uint32_t)sizeof(req) + n, .size = n};
		struct iovec iov[2] = {
			{.iov_base = &req, .iov_len = sizeof(req)},
			{.iov_base = (uint8_t *)buf + done, .iov_len = n},
		};
		struct uvf_client_reply reply;
		struct uvf_why why = {{0}};

		rc = uvf__client_request(client, UVF_CMD_MIGRATION_DATA_WRITE, iov, 2, NULL, 0, &reply);
		if (rc)
			return rc;
		if (uvf__decode_mig_data_write_reply(reply.payload, reply.len, reply.nfds, &why) < 0) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s", why.text);
			rc = -EPROTO;
		}
		uvf__client_reply_done(client);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* DMA logging                                                          */
/* ------------------------------------------------------------------ */

/* PROBE one DMA logging feature; -ENOTSUP when the server has none. */
static int probe_logging(struct uvf_client *client, uint32_t index, uint32_t op)
{
	int rc = feature_echo(client, index | op | UVF_FEATURE_PROBE, NULL, 0);

	if (means_unsupported(rc)) {
		CLIENT_LOG(client, UVF_LOG_INFO, "the server does not offer %s (%s)", feature_name(index),
			   uvf_strerror(rc));
		return -ENOTSUP;
	}
	return rc;
}

UVF_API int uvf_client_dma_logging_start(struct uvf_client *client, uint64_t page_size,
					 const struct uvf_msg_dma_logging_range *ranges, uint32_t nranges,
					 uint64_t *chosen)
{
	struct uvf_msg_dma_logging_control ctl = {.page_size = page_size, .num_ranges = nranges};
	struct uvf_msg_device_feature hdr = {.flags = UVF_FEATURE_DMA_LOGGING_START | UVF_FEATURE_SET};
	struct uvf_client_reply reply;
	struct uvf_why why = {{0}};
	struct iovec iov[3];
	uint64_t payload, server_page = 0;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (!uvf__is_pow2(page_size) || (nranges > 0 && ranges == NULL)) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA logging: page size 0x%llx is not a power of two, or no ranges",
			   (unsigned long long)page_size);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < nranges; i++) {
		if (ranges[i].length == 0 || ranges[i].iova + ranges[i].length < ranges[i].iova) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "DMA logging range %u: 0x%llx + 0x%llx is empty or wraps",
				   (unsigned)i, (unsigned long long)ranges[i].iova,
				   (unsigned long long)ranges[i].length);
			return -EINVAL;
		}
	}
	/* The request and its echo both travel whole, in messages bounded
	 * like data messages (docs/protocol.md 1.7: 16 + 16 + the limit). */
	payload = FEATURE_HDR + sizeof(ctl) + (uint64_t)nranges * sizeof(*ranges);
	if (payload > (uint64_t)exchange_limit(client) + 16) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA logging: %u ranges do not fit in one message",
			   (unsigned)nranges);
		return -E2BIG;
	}
	rc = probe_logging(client, UVF_FEATURE_DMA_LOGGING_START, UVF_FEATURE_SET);
	if (rc)
		return rc;

	hdr.argsz = (uint32_t)payload;
	iov[0] = (struct iovec){.iov_base = &hdr, .iov_len = sizeof(hdr)};
	iov[1] = (struct iovec){.iov_base = &ctl, .iov_len = sizeof(ctl)};
	iov[2] = (struct iovec){.iov_base = (void *)ranges, .iov_len = (size_t)nranges * sizeof(*ranges)};
	rc = uvf__client_request(client, UVF_CMD_DEVICE_FEATURE, iov, nranges ? 3 : 2, NULL, 0, &reply);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_INFO, "DMA_LOGGING_START refused: %s", uvf_strerror(rc));
		return rc;
	}
	/* The echo, except that the server may pick its own page size. */
	if (uvf__decode_dma_logging_start_reply(reply.payload, reply.len, reply.nfds, &hdr, &ctl, ranges, &server_page,
						&why) < 0)
		rc = -EPROTO;
	uvf__client_reply_done(client);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "%s", why.text);
		/* The server may be logging now: tell it to stop, so that a
		 * retry is not refused as a second START. */
		feature_echo(client, UVF_FEATURE_DMA_LOGGING_STOP | UVF_FEATURE_SET, NULL, 0);
		return rc;
	}
	if (server_page != page_size)
		CLIENT_LOG(client, UVF_LOG_INFO, "DMA logging: the server tracks 0x%llx-byte pages (asked 0x%llx)",
			   (unsigned long long)server_page, (unsigned long long)page_size);
	if (chosen)
		*chosen = server_page;
	return 0;
}

UVF_API int uvf_client_dma_logging_stop(struct uvf_client *client)
{
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	return feature_echo(client, UVF_FEATURE_DMA_LOGGING_STOP | UVF_FEATURE_SET, NULL, 0);
}

/* One REPORT of [iova, iova + length), whose npages pages (a multiple of
 * 64 unless it is the last piece) fill words of the caller's bitmap. */
static int report_piece(struct uvf_client *client, uint64_t iova, uint64_t length, uint64_t page_size, uint64_t npages,
			uint64_t *words)
{
	struct uvf_msg_dma_logging_report req = {.iova = iova, .length = length, .page_size = page_size};
	size_t bitmap_bytes = (size_t)((npages + 63) / 64 * 8);
	uint32_t argsz = (uint32_t)(FEATURE_HDR + sizeof(req) + bitmap_bytes);
	struct uvf_dma_logging_bitmap_view view;
	struct uvf_client_reply reply;
	struct uvf_why why = {{0}};
	int rc;

	rc = feature_request(client, UVF_FEATURE_DMA_LOGGING_REPORT | UVF_FEATURE_GET, &req, sizeof(req), argsz,
			     &reply);
	if (rc)
		return rc;
	/* the decoder sizes the bitmap from the request: npages bits */
	if (uvf__decode_dma_logging_report_reply(reply.payload, reply.len, reply.nfds, &req, &view, &why) < 0 ||
	    view.bitmap_bytes != bitmap_bytes) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA_LOGGING_REPORT 0x%llx + 0x%llx: %s", (unsigned long long)iova,
			   (unsigned long long)length, why.text[0] ? why.text : "bitmap of another size");
		uvf__client_reply_done(client);
		return -EPROTO;
	}
	memcpy(words, view.bitmap, bitmap_bytes);
	uvf__client_reply_done(client);
	/* Bits past the range must be 0; a server that sets them would
	 * make the caller copy pages that do not exist. */
	if (npages % 64)
		words[npages / 64] &= htole64((UINT64_C(1) << (npages % 64)) - 1);
	return 0;
}

UVF_API int uvf_client_dma_logging_report(struct uvf_client *client, uint64_t iova, uint64_t length, uint64_t page_size,
					  uint64_t *bitmap, size_t bitmap_bytes)
{
	uint64_t npages, piece_pages, done = 0;
	uint32_t limit;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (!uvf__is_pow2(page_size) || length == 0 || iova + length < iova || bitmap == NULL) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "DMA_LOGGING_REPORT 0x%llx + 0x%llx page 0x%llx: empty or wrapping range, page size not a "
			   "power of two, or no bitmap",
			   (unsigned long long)iova, (unsigned long long)length, (unsigned long long)page_size);
		return -EINVAL;
	}
	npages = length / page_size + (length % page_size != 0);
	/* Words needed, written so that no sum can wrap. */
	if (npages / 64 + (npages % 64 != 0) > bitmap_bytes / 8) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "DMA_LOGGING_REPORT: %llu pages need %llu bitmap words, got %zu bytes",
			   (unsigned long long)npages, (unsigned long long)(npages / 64 + (npages % 64 != 0)),
			   bitmap_bytes);
		return -EINVAL;
	}
	/* Each reply carries 32 bytes before its bitmap and must fit both
	 * sides' limits (docs/protocol.md 1.7); pieces start on a bitmap word. */
	limit = exchange_limit(client);
	piece_pages = (uint64_t)((limit - FEATURE_HDR - sizeof(struct uvf_msg_dma_logging_report)) / 8) * 64;
	while (done < npages) {
		uint64_t n = npages - done < piece_pages ? npages - done : piece_pages;
		uint64_t start = iova + done * page_size;
		/* The last piece ends with the range, not on a page. */
		uint64_t piece_len = done + n == npages ? length - done * page_size : n * page_size;

		rc = report_piece(client, start, piece_len, page_size, n, bitmap + done / 64);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}
