/* SPDX-License-Identifier: MIT */
/*
 * The migration stream of the sample devices: a self-describing envelope
 * around each device's state, and the buffers behind the save/load
 * callbacks of struct uvf_migration_callbacks.
 *
 * Stream layout (every field little-endian, written byte by byte, never
 * as a struct dump):
 *
 *   0   u32  magic DEVMIG_MAGIC ("UVFM")
 *   4   u32  device tag (e.g. "DMAT"): a stream of another device type is
 *            refused
 *   8   u32  format version of that device's payload
 *   12  u32  payload length in bytes
 *   16  ...  payload (the device's fields, in its documented order)
 *   end u32  CRC-32 (IEEE 802.3, as zlib's crc32) of everything before it
 *
 * A truncated stream, extra bytes, a bad magic, tag, version or CRC all
 * give -EINVAL, before the device applies anything.
 */
#ifndef UVF_DEVICES_DEVMIG_H
#define UVF_DEVICES_DEVMIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DEVMIG_MAGIC	    0x4d465655u /* "UVFM" */
#define DEVMIG_HEADER_SIZE  16u
#define DEVMIG_TRAILER_SIZE 4u

/* CRC-32 (reflected, polynomial 0xedb88320), continuing from crc (0 to start). */
uint32_t devmig_crc32(uint32_t crc, const void *buf, size_t len);

/* ---- building a stream ---- */

struct devmig_writer {
	uint8_t *buf;
	size_t len, cap;
	int err; /* first error (-ENOMEM); later puts do nothing */
};

/* Start a stream for device `tag`, format `version`. */
void devmig_writer_begin(struct devmig_writer *w, uint32_t tag, uint32_t version);
void devmig_put_u8(struct devmig_writer *w, uint8_t v);
void devmig_put_u16(struct devmig_writer *w, uint16_t v);
void devmig_put_u32(struct devmig_writer *w, uint32_t v);
void devmig_put_u64(struct devmig_writer *w, uint64_t v);
void devmig_put_bytes(struct devmig_writer *w, const void *p, size_t len);
/* Fill in the length and the CRC. On success *out (malloc'ed, the
 * caller's) and *len hold the stream; on failure the buffer is freed. */
int devmig_writer_finish(struct devmig_writer *w, uint8_t **out, size_t *len);

/* ---- reading a payload ---- */

struct devmig_reader {
	const uint8_t *p;
	size_t len, pos;
	bool bad; /* read past the end: every later get returns 0 */
};

uint8_t devmig_get_u8(struct devmig_reader *r);
uint16_t devmig_get_u16(struct devmig_reader *r);
uint32_t devmig_get_u32(struct devmig_reader *r);
uint64_t devmig_get_u64(struct devmig_reader *r);
/* Copy len bytes out (zeros past the end). */
void devmig_get_bytes(struct devmig_reader *r, void *out, size_t len);
/* 0 when the payload was read exactly to its end, else -EINVAL. */
int devmig_reader_end(const struct devmig_reader *r);

/* ---- the save/load side of a device ---- */

struct devmig {
	/* outgoing: a stream built when saving starts, read by a cursor */
	uint8_t *out;
	size_t out_len, out_pos;
	/* incoming: accumulated in RESUMING, checked at RESUMING -> STOP */
	uint8_t *in;
	size_t in_len, in_cap, in_max;
};

/* Drop both buffers. */
void devmig_clear(struct devmig *m);

/* Take ownership of a finished stream to be saved from its start. */
void devmig_save_begin(struct devmig *m, uint8_t *stream, size_t len);
/* Copy the next bytes of the outgoing stream (0 at its end, or without one). */
ssize_t devmig_save(struct devmig *m, void *buf, size_t len);
/* Bytes still to save. */
uint64_t devmig_save_pending(const struct devmig *m);

/* Start receiving a stream of at most max bytes (anything longer is
 * refused by devmig_load). */
void devmig_load_begin(struct devmig *m, size_t max);
/* Append a chunk: -EINVAL beyond max or beyond the length the header
 * declares, -ENOMEM. */
int devmig_load(struct devmig *m, const void *buf, size_t len);
/*
 * Check the received stream: magic, tag, a version in [1, max_version],
 * length (complete, nothing extra), CRC. On success *r reads the payload
 * (valid until devmig_clear) and *version receives the format version.
 * -EINVAL otherwise.
 */
int devmig_load_finish(struct devmig *m, uint32_t tag, uint32_t max_version, struct devmig_reader *r,
		       uint32_t *version);

#endif /* UVF_DEVICES_DEVMIG_H */
