/* SPDX-License-Identifier: MIT */
/* Decoders for data access: REGION_READ/WRITE, REGION_WRITE_MULTI (client to
 * server) and DMA_READ/WRITE (server to client), requests and replies. */
#include "proto/decode_internal.h"

int uvf__decode_region_read_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
				struct uvf_region_access_view *out, struct uvf_why *why)
{
	static const char what[] = "REGION_READ";
	struct uvf_msg_region_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if (access.count > max_xfer)
		return uvf__why(why, -E2BIG,
				"%s: region %" PRIu32 " count %" PRIu32 " above max_data_xfer_size %" PRIu32, what,
				access.region, access.count, max_xfer);
	if (uvf__wraps64(access.offset, access.count))
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " offset 0x%" PRIx64 " + count %" PRIu32 " wraps",
				what, access.region, access.offset, access.count);
	out->access = access;
	out->data = NULL;
	return 0;
}

int uvf__decode_region_write_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
				 struct uvf_region_access_view *out, struct uvf_why *why)
{
	static const char what[] = "REGION_WRITE";
	struct uvf_msg_region_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if (access.count > max_xfer)
		return uvf__why(why, -E2BIG,
				"%s: region %" PRIu32 " count %" PRIu32 " above max_data_xfer_size %" PRIu32, what,
				access.region, access.count, max_xfer);
	if (len - sizeof(access) != access.count)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 16 + count %" PRIu32, what, len,
				access.count);
	if (uvf__wraps64(access.offset, access.count))
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " offset 0x%" PRIx64 " + count %" PRIu32 " wraps",
				what, access.region, access.offset, access.count);
	out->access = access;
	out->data = (const uint8_t *)payload + sizeof(access);
	return 0;
}

/* A reply must answer the access that was asked for, not another one. */
static int check_region_echo(const char *name, const struct uvf_msg_region_access *got,
			     const struct uvf_msg_region_access *request, struct uvf_why *why)
{
	if (got->region != request->region || got->offset != request->offset)
		return uvf__why(why, -EINVAL,
				"%s: region %" PRIu32 " offset 0x%" PRIx64 " does not echo region %" PRIu32
				" offset 0x%" PRIx64,
				name, got->region, got->offset, request->region, request->offset);
	if (got->count != request->count)
		return uvf__why(why, -EINVAL, "%s: region %" PRIu32 " count %" PRIu32 ", expected %" PRIu32, name,
				got->region, got->count, request->count);
	return 0;
}

int uvf__decode_region_read_reply(const void *payload, size_t len, size_t nfds,
				  const struct uvf_msg_region_access *request, struct uvf_region_access_view *out,
				  struct uvf_why *why)
{
	static const char what[] = "REGION_READ reply";
	struct uvf_msg_region_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if ((ret = check_region_echo(what, &access, request, why)) < 0)
		return ret;
	if (len - sizeof(access) != access.count)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 16 + count %" PRIu32, what, len,
				access.count);
	out->access = access;
	out->data = (const uint8_t *)payload + sizeof(access);
	return 0;
}

int uvf__decode_region_write_reply(const void *payload, size_t len, size_t nfds,
				   const struct uvf_msg_region_access *request, struct uvf_why *why)
{
	static const char what[] = "REGION_WRITE reply";
	struct uvf_msg_region_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	return check_region_echo(what, &access, request, why);
}

int uvf__decode_write_multi(const void *payload, size_t len, size_t nfds, struct uvf_write_multi_view *out,
			    struct uvf_why *why)
{
	static const char what[] = "REGION_WRITE_MULTI";
	const uint8_t *entries = (const uint8_t *)payload + sizeof(struct uvf_msg_write_multi);
	struct uvf_msg_write_multi_entry entry;
	struct uvf_msg_write_multi header;
	uint64_t i;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(header), why)) < 0)
		return ret;
	memcpy(&header, payload, sizeof(header));
	if (header.wr_cnt == 0 || header.wr_cnt > UVF_WRITE_MULTI_MAX_ENTRIES)
		return uvf__why(why, -EINVAL, "%s: wr_cnt %" PRIu64 " outside 1..%u", what, header.wr_cnt,
				UVF_WRITE_MULTI_MAX_ENTRIES);
	if ((len - sizeof(header)) / sizeof(entry) != header.wr_cnt || (len - sizeof(header)) % sizeof(entry) != 0)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 8 + 24 * wr_cnt %" PRIu64, what, len,
				header.wr_cnt);
	for (i = 0; i < header.wr_cnt; i++) {
		memcpy(&entry, entries + i * sizeof(entry), sizeof(entry));
		if (entry.count == 0 || entry.count > UVF_WRITE_MULTI_MAX_DATA)
			return uvf__why(why, -EINVAL, "%s: entry %" PRIu64 " count %" PRIu32 " outside 1..%u", what, i,
					entry.count, UVF_WRITE_MULTI_MAX_DATA);
		if (uvf__wraps64(entry.offset, entry.count))
			return uvf__why(why, -EINVAL,
					"%s: entry %" PRIu64 " region %" PRIu32 " offset 0x%" PRIx64 " + count %" PRIu32
					" wraps",
					what, i, entry.region, entry.offset, entry.count);
	}
	out->wr_cnt = header.wr_cnt;
	out->entries = (const struct uvf_msg_write_multi_entry *)entries;
	return 0;
}

static int check_dma_request(const char *name, const struct uvf_msg_dma_access *access, uint32_t max_xfer,
			     struct uvf_why *why)
{
	if (access->count == 0)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " count 0", name, access->address);
	if (access->count > max_xfer)
		return uvf__why(why, -E2BIG,
				"%s: address 0x%" PRIx64 " count %" PRIu64 " above max_data_xfer_size %" PRIu32, name,
				access->address, access->count, max_xfer);
	if (uvf__wraps64(access->address, access->count))
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " + count %" PRIu64 " wraps", name,
				access->address, access->count);
	return 0;
}

int uvf__decode_dma_read_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			     struct uvf_dma_access_view *out, struct uvf_why *why)
{
	static const char what[] = "DMA_READ";
	struct uvf_msg_dma_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if ((ret = check_dma_request(what, &access, max_xfer, why)) < 0)
		return ret;
	out->access = access;
	out->data = NULL;
	return 0;
}

int uvf__decode_dma_write_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			      struct uvf_dma_access_view *out, struct uvf_why *why)
{
	static const char what[] = "DMA_WRITE";
	struct uvf_msg_dma_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if ((ret = check_dma_request(what, &access, max_xfer, why)) < 0)
		return ret;
	if (len - sizeof(access) != access.count)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 16 + count %" PRIu64, what, len,
				access.count);
	out->access = access;
	out->data = (const uint8_t *)payload + sizeof(access);
	return 0;
}

int uvf__decode_dma_read_reply(const void *payload, size_t len, size_t nfds, const struct uvf_msg_dma_access *request,
			       struct uvf_dma_access_view *out, struct uvf_why *why)
{
	static const char what[] = "DMA_READ reply";
	struct uvf_msg_dma_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if (access.address != request->address)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 ", expected 0x%" PRIx64, what, access.address,
				request->address);
	/* A short read is a failed transfer, not a malformed message. */
	if (access.count < request->count)
		return uvf__why(why, -EIO, "%s: address 0x%" PRIx64 " short count %" PRIu64 " of %" PRIu64, what,
				access.address, access.count, request->count);
	if (access.count > request->count)
		return uvf__why(why, -EINVAL, "%s: address 0x%" PRIx64 " count %" PRIu64 " above the %" PRIu64 " asked",
				what, access.address, access.count, request->count);
	if (len - sizeof(access) != access.count)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 16 + count %" PRIu64, what, len,
				access.count);
	out->access = access;
	out->data = (const uint8_t *)payload + sizeof(access);
	return 0;
}

int uvf__decode_dma_write_reply(const void *payload, size_t len, size_t nfds, const struct uvf_msg_dma_access *request,
				struct uvf_why *why)
{
	static const char what[] = "DMA_WRITE reply";
	struct uvf_msg_dma_access access;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0)
		return ret;
	/* QEMU 10.1.0 answers with a bare header. */
	if (len == 0)
		return 0;
	if ((ret = uvf__expect_len(what, len, sizeof(access), why)) < 0)
		return ret;
	memcpy(&access, payload, sizeof(access));
	if (access.address != request->address || access.count != request->count)
		return uvf__why(why, -EINVAL,
				"%s: address 0x%" PRIx64 " count %" PRIu64 " does not echo address 0x%" PRIx64
				" count %" PRIu64,
				what, access.address, access.count, request->address, request->count);
	return 0;
}
