/* SPDX-License-Identifier: MIT */
/*
 * Validation and decoding of vfio-user messages (internal).
 *
 * Pure functions: no I/O, no allocation (except json-c inside the
 * capabilities parser), no global state. Each check_* / decode_* function
 * looks at one received payload and either fills a decoded view (pointers
 * into the caller's buffer, which must outlive the view) and returns 0, or
 * returns a negative errno and writes a one-line human-readable reason into
 * *why ("REGION_WRITE: msg_size 40 does not match count 100").
 *
 * "payload" is the message body after the 16-byte header, "len" its length
 * (msg_size - 16), "nfds" the number of file descriptors that arrived with
 * the message. Every function checks the fd count it expects.
 *
 * Errno conventions: EINVAL for malformed content, E2BIG when a count
 * exceeds a negotiated limit, EMSGSIZE for a header whose msg_size is
 * beyond the receiver's limit, EPROTO for a header that breaks framing.
 */
#ifndef UVF_PROTO_MSG_H
#define UVF_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/proto.h"

#define UVF_WHY_SIZE 200

struct uvf_why {
	char text[UVF_WHY_SIZE];
};

/* printf into why (may be NULL); returns err unchanged so callers can
 * `return uvf__why(why, -EINVAL, "...")`. */
int uvf__why(struct uvf_why *why, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Name of a command number for logs ("REGION_READ", "command 77"). Never NULL.
 * The returned pointer is static for known commands; for unknown ones it
 * points at a thread-local buffer. */
const char *uvf__cmd_name(uint16_t command);

/* Name of a DEVICE_FEATURE index (flags & UVF_FEATURE_BITS) for logs and
 * descriptions ("MIG_DEVICE_STATE"), static; NULL for an index uvf does not
 * know, so that each caller says how to show it. */
const char *uvf__feature_name(uint32_t index);

/* ------------------------------------------------------------------ */
/* Header                                                               */
/* ------------------------------------------------------------------ */

/*
 * Check a received header before any body byte is read or allocated.
 * Rules: msg_size >= 16 (else -EPROTO); msg_size <= max_msg_size (else
 * -EMSGSIZE); type bits 0 or 1 (else -EPROTO); no unknown flag bits (-EPROTO);
 * NO_REPLY only on commands, ERROR only on replies (-EPROTO); command 1..18
 * and not 14 is NOT checked here (an unknown command is answered with an
 * error reply, not a framing failure).
 */
int uvf__msg_check_header(const struct uvf_msg_header *hdr, uint32_t max_msg_size, struct uvf_why *why);

/* Errno carried by an error reply: hdr->error, or EINVAL when it is 0 or
 * above 4095. Returns a positive value. */
int uvf__msg_reply_errno(const struct uvf_msg_header *hdr);

/* ------------------------------------------------------------------ */
/* Capabilities (VERSION JSON), json-c                                  */
/* ------------------------------------------------------------------ */

/* Upper bounds we accept in a peer's capabilities. */
#define UVF_CAPS_MAX_MSG_FDS_LIMIT 1024u
#define UVF_CAPS_MAX_XFER_LIMIT (64u << 20)  /* larger values are clamped */
#define UVF_CAPS_MIN_XFER 512u               /* smaller values are refused */
#define UVF_CAPS_JSON_MAX 4096u              /* longest JSON we accept or emit */

struct uvf_caps {
	uint32_t max_msg_fds;        /* default UVF_DEFAULT_MAX_MSG_FDS */
	uint32_t max_data_xfer_size; /* default UVF_DEFAULT_MAX_DATA_XFER_SIZE */
	uint32_t max_dma_maps;       /* default UVF_DEFAULT_MAX_DMA_MAPS */
	uint64_t pgsizes;            /* default UVF_DEFAULT_PGSIZES */
	bool twin_socket;            /* twin_socket.supported */
	bool twin_socket_has_index;  /* reply only: fd_index present */
	uint32_t twin_socket_fd_index;
	bool write_multiple;
	bool migration;              /* [legacy] object present */
	uint64_t migration_pgsize;
	uint64_t migration_max_bitmap_size;
	/* which keys were present in the parsed text */
	bool has_max_msg_fds, has_max_data_xfer_size, has_max_dma_maps, has_pgsizes;
};

/* Fill caps with the protocol defaults (as if the JSON had no keys). */
void uvf__caps_defaults(struct uvf_caps *caps);

/*
 * Parse VERSION JSON text (json points at len bytes; the NUL terminator,
 * if any, may be included in len or not). Starts from the defaults.
 * Unknown keys are ignored. Refused with -EINVAL: not an object, invalid
 * JSON, "capabilities" not an object, a known key of the wrong type,
 * negative or non-integer numbers, max_msg_fds > UVF_CAPS_MAX_MSG_FDS_LIMIT,
 * max_data_xfer_size < UVF_CAPS_MIN_XFER, max_dma_maps 0 or > UINT32_MAX,
 * pgsizes 0 or without a bit >= 4096, twin_socket not an object,
 * fd_index negative. max_data_xfer_size above UVF_CAPS_MAX_XFER_LIMIT is
 * clamped to the limit (a peer that can receive more is not wrong).
 * Integers beyond their field are refused; json-c reads any number above
 * 2^64 - 1 as 2^64 - 1, so that value is refused for the 64-bit keys too.
 * caps is written only on success.
 */
int uvf__caps_parse(const char *json, size_t len, struct uvf_caps *caps, struct uvf_why *why);

/*
 * Encode caps as compact JSON {"capabilities":{...}} into buf (size buflen),
 * NUL-terminated. Emits max_msg_fds, max_data_xfer_size always; max_dma_maps
 * and pgsizes when has_* is set; "twin_socket" when twin_socket is true
 * (with fd_index when twin_socket_has_index); "write_multiple":true when
 * set. Returns the string length including the NUL, or -ENOSPC.
 */
int uvf__caps_encode(const struct uvf_caps *caps, char *buf, size_t buflen);

/* ------------------------------------------------------------------ */
/* Per-command decoders                                                 */
/* ------------------------------------------------------------------ */

struct uvf_version_view {
	uint16_t major, minor;
	const char *json;  /* NULL when no JSON followed */
	size_t json_len;   /* without the NUL */
};

/* VERSION request or reply: len >= 4; if len > 4 the text must end with a
 * NUL at payload[len-1] and contain no other NUL; JSON length bounded by
 * UVF_CAPS_JSON_MAX; nfds must be <= max_fds (0 for a request, 1 for a
 * reply that may carry the twin socket). */
int uvf__decode_version(const void *payload, size_t len, size_t nfds, size_t max_fds,
			struct uvf_version_view *out, struct uvf_why *why);

/* DMA_MAP request: len == 32, argsz == 32, flags within READ|WRITE (ext bits
 * refused with -EINVAL unless allow_ext; an ext mode bit needs an fd, and
 * MMAP with FILE_IO is refused), size != 0, address + size and
 * offset + size do not wrap, nfds 0 or 1, offset == 0 when nfds == 0,
 * address and size aligned to the smallest page size in pgsizes. */
int uvf__decode_dma_map(const void *payload, size_t len, size_t nfds, uint64_t pgsizes, bool allow_ext,
			struct uvf_msg_dma_map *out, struct uvf_why *why);

/* DMA_UNMAP request: len == 24, argsz >= 24, flags 0 or ALL (others -EINVAL;
 * GET_DIRTY_BITMAP is legacy and refused), with ALL address == size == 0,
 * without ALL size != 0 and no wrap (ending exactly at 2^64 is
 * allowed), nfds == 0. */
int uvf__decode_dma_unmap(const void *payload, size_t len, size_t nfds, struct uvf_msg_dma_unmap *out,
			  struct uvf_why *why);

/* DEVICE_GET_INFO request: len == 16, argsz >= 16, nfds == 0. */
int uvf__decode_device_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_device_info *out,
				struct uvf_why *why);
/* DEVICE_GET_INFO reply: len >= 16 (only the first 16 used), argsz >= 16,
 * PCI flag set, num_regions in 9..max_regions, num_irqs in 5..max_irqs,
 * nfds == 0. */
int uvf__decode_device_info_reply(const void *payload, size_t len, size_t nfds, uint32_t max_regions, uint32_t max_irqs,
				  struct uvf_msg_device_info *out, struct uvf_why *why);

/* DEVICE_GET_REGION_INFO request: len == 32, argsz >= 32, nfds == 0. */
int uvf__decode_region_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_region_info *out,
				struct uvf_why *why);

struct uvf_region_info_view {
	struct uvf_msg_region_info info;
	/* valid capability chain, when present in the payload */
	const struct uvf_msg_region_sparse_area *sparse_areas; /* NULL if no SPARSE_MMAP cap;
								* non-NULL with 0 areas for an empty one */
	uint32_t nr_sparse_areas;
	bool has_type;
	uint32_t type, subtype;
	bool truncated; /* reply argsz > payload: caps not delivered, retry bigger */
};
/* DEVICE_GET_REGION_INFO reply: len >= 32; index == expected_index; unknown
 * flag bits refused; nfds <= 1, and nfds == 1 only with MMAP; argsz >= 32;
 * a second SPARSE_MMAP or TYPE cap is refused; when argsz <=
 * len the cap chain (if CAPS) is walked: cap_offset >= 32, each header and
 * body inside argsz, next strictly increasing (no loops), at most 16 caps,
 * sparse areas inside the region size and without wrap; when argsz > len
 * the reply is "truncated" and caps are not parsed. */
int uvf__decode_region_info_reply(const void *payload, size_t len, size_t nfds, uint32_t expected_index,
				  struct uvf_region_info_view *out, struct uvf_why *why);

/* DEVICE_GET_IRQ_INFO request: len == 16, argsz >= 16, nfds == 0. */
int uvf__decode_irq_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_irq_info *out,
			     struct uvf_why *why);
/* DEVICE_GET_IRQ_INFO reply: len >= 16, index == expected_index, unknown
 * flag bits refused, count <= 2048, nfds == 0. */
int uvf__decode_irq_info_reply(const void *payload, size_t len, size_t nfds, uint32_t expected_index,
			       struct uvf_msg_irq_info *out, struct uvf_why *why);

struct uvf_irq_set_view {
	struct uvf_msg_irq_set set;
	uint32_t data_type;   /* one of UVF_IRQ_SET_DATA_* */
	uint32_t action;      /* one of UVF_IRQ_SET_ACTION_* */
	const uint8_t *bools; /* DATA_BOOL: count bytes */
	bool deassign;        /* DATA_EVENTFD with zero fds */
};
/* DEVICE_SET_IRQS request: len >= 20, argsz == len, exactly one DATA bit and
 * one ACTION bit and nothing else, start + count without wrap, index <
 * UVF_PCI_NUM_IRQS; DATA_NONE: len == 20, nfds == 0; DATA_BOOL: len == 20 +
 * count, nfds == 0; DATA_EVENTFD: len == 20, nfds == count or 0; count == 0
 * only with start == 0 and DATA_NONE|ACTION_TRIGGER (disable the index).
 * The caller checks start/count against the vector count of the index. */
int uvf__decode_irq_set(const void *payload, size_t len, size_t nfds, struct uvf_irq_set_view *out,
			struct uvf_why *why);

struct uvf_region_access_view {
	struct uvf_msg_region_access access;
	const uint8_t *data; /* WRITE request / READ reply: count bytes */
};
/* REGION_READ request: len == 16, count <= max_xfer (-E2BIG), offset + count
 * does not wrap, nfds == 0. */
int uvf__decode_region_read_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
				struct uvf_region_access_view *out, struct uvf_why *why);
/* REGION_WRITE request: len == 16 + count, count <= max_xfer, no wrap, nfds == 0. */
int uvf__decode_region_write_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
				 struct uvf_region_access_view *out, struct uvf_why *why);
/* REGION_READ reply: len == 16 + count, region/offset echo the request,
 * count == expected_count, nfds == 0. */
int uvf__decode_region_read_reply(const void *payload, size_t len, size_t nfds,
				  const struct uvf_msg_region_access *request, struct uvf_region_access_view *out,
				  struct uvf_why *why);
/* REGION_WRITE reply: len == 16, echo of region/offset/count, nfds == 0. */
int uvf__decode_region_write_reply(const void *payload, size_t len, size_t nfds,
				   const struct uvf_msg_region_access *request, struct uvf_why *why);

struct uvf_dma_access_view {
	struct uvf_msg_dma_access access;
	const uint8_t *data;
};
/* DMA_READ request (S->C): len == 16, 0 < count <= max_xfer, no wrap, nfds == 0. */
int uvf__decode_dma_read_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			     struct uvf_dma_access_view *out, struct uvf_why *why);
/* DMA_WRITE request (S->C): len == 16 + count, 0 < count <= max_xfer, no wrap, nfds == 0. */
int uvf__decode_dma_write_req(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			      struct uvf_dma_access_view *out, struct uvf_why *why);
/* DMA_READ reply (C->S): len == 16 + count, address/count echo the request
 * (a short count is refused with -EIO), nfds == 0. */
int uvf__decode_dma_read_reply(const void *payload, size_t len, size_t nfds, const struct uvf_msg_dma_access *request,
			       struct uvf_dma_access_view *out, struct uvf_why *why);
/* DMA_WRITE reply (C->S): len == 16 with address/count echoing the request,
 * or len == 0 (QEMU 10.1.0 quirk), nfds == 0. */
int uvf__decode_dma_write_reply(const void *payload, size_t len, size_t nfds, const struct uvf_msg_dma_access *request,
				struct uvf_why *why);

/* DEVICE_RESET request: len == 0, nfds == 0. */
int uvf__decode_device_reset(const void *payload, size_t len, size_t nfds, struct uvf_why *why);

struct uvf_write_multi_view {
	uint64_t wr_cnt;
	const struct uvf_msg_write_multi_entry *entries; /* may be unaligned: memcpy */
};
#define UVF_WRITE_MULTI_MAX_ENTRIES 1024u
/* REGION_WRITE_MULTI request: len >= 8, 1 <= wr_cnt <= UVF_WRITE_MULTI_MAX_ENTRIES,
 * len == 8 + 24 * wr_cnt, every entry count 1..8, offset + count no wrap,
 * nfds == 0. */
int uvf__decode_write_multi(const void *payload, size_t len, size_t nfds, struct uvf_write_multi_view *out,
			    struct uvf_why *why);

struct uvf_device_feature_view {
	struct uvf_msg_device_feature feature;
	uint32_t index; /* flags & UVF_FEATURE_BITS */
	const uint8_t *data;
	size_t data_len;
};
/* DEVICE_FEATURE request: len >= 8; only GET/SET/PROBE bits above the index;
 * at least one of them; not GET and SET together unless PROBE; for SET or
 * PROBE argsz >= len; nfds == 0. */
int uvf__decode_device_feature(const void *payload, size_t len, size_t nfds, struct uvf_device_feature_view *out,
			       struct uvf_why *why);

/* MIG_DATA_READ request: len == 8, argsz >= 8 + size, size <= max_xfer, nfds == 0. */
int uvf__decode_mig_data_read(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			      struct uvf_msg_migration_data *out, struct uvf_why *why);
/* MIG_DATA_WRITE request: len == 8 + size, size <= max_xfer, argsz >= 8 + size, nfds == 0. */
int uvf__decode_mig_data_write(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			       struct uvf_msg_migration_data *out, const uint8_t **data, struct uvf_why *why);

/* MIG_DATA_READ reply to a request for asked bytes: nfds == 0, len >= 8,
 * size <= asked, argsz == 8 + size, 8 + size <= len <= 8 + asked (a server
 * may size its message for the size asked; size tells the data length).
 * *data (may be NULL) points at the size data bytes. */
int uvf__decode_mig_data_read_reply(const void *payload, size_t len, size_t nfds, uint32_t asked,
				    struct uvf_msg_migration_data *out, const uint8_t **data, struct uvf_why *why);
/* MIG_DATA_WRITE reply: len == 0, nfds == 0. */
int uvf__decode_mig_data_write_reply(const void *payload, size_t len, size_t nfds, struct uvf_why *why);

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE payloads: device state, DMA logging, replies          */
/* ------------------------------------------------------------------ */

/* MIG_DEVICE_STATE feature data (a SET request's or a GET reply's): len ==
 * 8, device_state <= UVF_MIGRATION_STATE_PRE_COPY_P2P. data_fd is not looked at
 * (unused in vfio-user). Which states may be requested is the server's
 * business. */
int uvf__decode_mig_state(const void *data, size_t len, struct uvf_msg_feature_migration_state *out,
			  struct uvf_why *why);

#define UVF_DMA_LOGGING_MAX_RANGES    65536u /* bounds the server's sort; the message bounds it anyway */
#define UVF_DMA_LOGGING_MIN_PAGE_SIZE 4096u  /* finest REPORT granularity we accept */

struct uvf_dma_logging_start_view {
	struct uvf_msg_dma_logging_control control;
	const uint8_t *ranges; /* control.num_ranges ranges, unaligned: NULL when none */
};
/* DMA_LOGGING_START feature data: len >= 16; num_ranges <=
 * UVF_DMA_LOGGING_MAX_RANGES (else -E2BIG); len == 16 + 16 * num_ranges;
 * page_size 0 (the server's choice) or a power of two; every range
 * non-empty and ending at or below 2^64. reserved is not looked at.
 * Overlaps are found by uvf__dma_logging_sort_ranges(). */
int uvf__decode_dma_logging_start(const void *data, size_t len, struct uvf_dma_logging_start_view *out,
				  struct uvf_why *why);
/* Copy the ranges of a decoded START into sorted (the caller's array of
 * num_ranges entries) in iova order; -EINVAL when two overlap. */
int uvf__dma_logging_sort_ranges(const struct uvf_dma_logging_start_view *view,
				 struct uvf_msg_dma_logging_range *sorted, struct uvf_why *why);
/* DMA_LOGGING_STOP feature data: len == 0. */
int uvf__decode_dma_logging_stop(const void *data, size_t len, struct uvf_why *why);

struct uvf_dma_logging_report_view {
	struct uvf_msg_dma_logging_report report;
	unsigned page_shift;   /* log2(report.page_size) */
	uint64_t bitmap_bytes; /* one bit per page, in whole 64-bit words */
};
/* DMA_LOGGING_REPORT feature data of a GET with request argsz: len >= 24
 * (the first 24 used); length != 0 and iova + length - 1 without wrap;
 * page_size a power of two >= UVF_DMA_LOGGING_MIN_PAGE_SIZE; the bitmap
 * (ceil(length / page_size) bits in 64-bit words) at most max_xfer bytes
 * (else -E2BIG); argsz >= 8 + 24 + bitmap. Whether the range is logged is
 * the server's business. */
int uvf__decode_dma_logging_report(const void *data, size_t len, uint32_t argsz, uint64_t max_xfer,
				   struct uvf_dma_logging_report_view *out, struct uvf_why *why);

struct uvf_feature_reply_view {
	struct uvf_msg_device_feature feature;
	const uint8_t *data; /* data_len bytes after the header, NULL when none */
	size_t data_len;
};
/* DEVICE_FEATURE reply: nfds == 0, len >= 8, the feature index of the
 * request (index & UVF_FEATURE_BITS) echoed. */
int uvf__decode_feature_reply(const void *payload, size_t len, size_t nfds, uint32_t index,
			      struct uvf_feature_reply_view *out, struct uvf_why *why);
/* GET reply: as above, and len == argsz == 8 + data_len. */
int uvf__decode_feature_get_reply(const void *payload, size_t len, size_t nfds, uint32_t index, size_t data_len,
				  struct uvf_feature_reply_view *out, struct uvf_why *why);
/* SET or PROBE reply that echoes the request exactly: len == 8 + data_len,
 * header {argsz 8 + data_len, flags}, then data_len bytes equal to data. */
int uvf__decode_feature_echo_reply(const void *payload, size_t len, size_t nfds, uint32_t flags, const void *data,
				   size_t data_len, struct uvf_why *why);
/* DMA_LOGGING_START reply: nfds == 0, len == 8 + 16 + 16 * num_ranges, the
 * header equal to request, num_ranges and the ranges equal to ours,
 * reserved 0, and a page size that is a power of two (the server may
 * choose its own: stored in *page_size). */
int uvf__decode_dma_logging_start_reply(const void *payload, size_t len, size_t nfds,
					const struct uvf_msg_device_feature *request,
					const struct uvf_msg_dma_logging_control *control,
					const struct uvf_msg_dma_logging_range *ranges, uint64_t *page_size,
					struct uvf_why *why);

struct uvf_dma_logging_bitmap_view {
	struct uvf_msg_dma_logging_report report;
	const uint8_t *bitmap; /* bitmap_bytes bytes of little-endian u64 words, unaligned */
	size_t bitmap_bytes;
};
/* DMA_LOGGING_REPORT reply to request (ours; page_size a power of two):
 * the DEVICE_FEATURE reply header, len == argsz == 8 + 24 + bitmap bytes
 * for ceil(length / page_size) bits in 64-bit words, and the report echoed
 * exactly. */
int uvf__decode_dma_logging_report_reply(const void *payload, size_t len, size_t nfds,
					 const struct uvf_msg_dma_logging_report *request,
					 struct uvf_dma_logging_bitmap_view *out, struct uvf_why *why);

/* ------------------------------------------------------------------ */
/* DEVICE_GET_REGION_IO_FDS                                             */
/* ------------------------------------------------------------------ */

/* DEVICE_GET_REGION_IO_FDS request: len == 16, nfds == 0, argsz >= 16,
 * flags == 0, count == 0, index < UVF_PCI_NUM_REGIONS. */
int uvf__decode_region_io_fds_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_region_io_fds *out,
				  struct uvf_why *why);

#define UVF_IO_FDS_MAX_ENTRIES 1024u

struct uvf_region_io_fds_view {
	struct uvf_msg_region_io_fds head;
	const uint8_t *entries; /* head.count entries of stride bytes: read with uvf__io_fds_entry() */
	size_t stride;		/* 40 (spec) or 48 (libvfio-user, docs/protocol.md 9 #2); 0 without entries */
	bool truncated;		/* entries left out: ask again with head.argsz */
};
/*
 * DEVICE_GET_REGION_IO_FDS reply to request (ours): len >= 16; index echoes
 * the request's; argsz >= 16. count == 0: no entries (fds that came along
 * are unused). argsz > len: "truncated" when nfds == 0 and request->argsz <
 * argsz <= max_argsz, refused otherwise. Else count <=
 * UVF_IO_FDS_MAX_ENTRIES, argsz - 16 == count * stride with stride 40 or
 * 48, and every entry has fd_index < nfds, offset < region_size and
 * offset + size <= region_size. Which entries are usable (type, size,
 * flags) is the caller's choice.
 */
int uvf__decode_region_io_fds_reply(const void *payload, size_t len, size_t nfds,
				    const struct uvf_msg_region_io_fds *request, uint32_t max_argsz,
				    uint64_t region_size, struct uvf_region_io_fds_view *out, struct uvf_why *why);
/* Entry i (< head.count) of a decoded reply: the spec's fields, datamatch
 * from the last 8 bytes of the stride (the first 32 bytes as received). */
void uvf__io_fds_entry(const struct uvf_region_io_fds_view *view, uint32_t i, struct uvf_msg_io_fd_entry *out);

/* ------------------------------------------------------------------ */
/* Encoding helpers                                                     */
/* ------------------------------------------------------------------ */

/* Fill a header. flags is UVF_MSG_TYPE_* plus flag bits. */
void uvf__msg_header_init(struct uvf_msg_header *hdr, uint16_t id, uint16_t command, uint32_t msg_size,
			  uint32_t flags, uint32_t error);

/* Build a header for an error reply to req with positive errno err. */
void uvf__msg_error_reply(struct uvf_msg_header *out, const struct uvf_msg_header *req, int err);

#endif /* UVF_PROTO_MSG_H */
