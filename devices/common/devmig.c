/* SPDX-License-Identifier: MIT */
/* The sample devices' migration stream envelope (layout in devmig.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "devmig.h"

uint32_t devmig_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void le32_store(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_load(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- writer ---- */

static uint8_t *reserve(struct devmig_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->err = -ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = b;
		w->cap = cap;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

void devmig_writer_begin(struct devmig_writer *w, uint32_t tag, uint32_t version)
{
	memset(w, 0, sizeof(*w));
	devmig_put_u32(w, DEVMIG_MAGIC);
	devmig_put_u32(w, tag);
	devmig_put_u32(w, version);
	devmig_put_u32(w, 0); /* length, filled in by finish */
}

static void put_le(struct devmig_writer *w, uint64_t v, size_t n)
{
	uint8_t *p = reserve(w, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void devmig_put_u8(struct devmig_writer *w, uint8_t v)
{
	put_le(w, v, 1);
}

void devmig_put_u16(struct devmig_writer *w, uint16_t v)
{
	put_le(w, v, 2);
}

void devmig_put_u32(struct devmig_writer *w, uint32_t v)
{
	put_le(w, v, 4);
}

void devmig_put_u64(struct devmig_writer *w, uint64_t v)
{
	put_le(w, v, 8);
}

void devmig_put_bytes(struct devmig_writer *w, const void *src, size_t len)
{
	uint8_t *p = reserve(w, len);
	if (p && len)
		memcpy(p, src, len);
}

int devmig_writer_finish(struct devmig_writer *w, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!w->err && w->len - DEVMIG_HEADER_SIZE > UINT32_MAX)
		w->err = -ENOMEM; /* cannot be described by the header */
	if (!w->err)
		le32_store(w->buf + 12, (uint32_t)(w->len - DEVMIG_HEADER_SIZE));
	uint32_t crc = w->err ? 0 : devmig_crc32(0, w->buf, w->len);
	devmig_put_u32(w, crc);
	if (w->err) {
		free(w->buf);
		w->buf = NULL;
		return w->err;
	}
	*out = w->buf;
	*len = w->len;
	w->buf = NULL;
	return 0;
}

/* ---- reader ---- */

static const uint8_t *take(struct devmig_reader *r, size_t n)
{
	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint64_t get_le(struct devmig_reader *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t devmig_get_u8(struct devmig_reader *r)
{
	return (uint8_t)get_le(r, 1);
}

uint16_t devmig_get_u16(struct devmig_reader *r)
{
	return (uint16_t)get_le(r, 2);
}

uint32_t devmig_get_u32(struct devmig_reader *r)
{
	return (uint32_t)get_le(r, 4);
}

uint64_t devmig_get_u64(struct devmig_reader *r)
{
	return get_le(r, 8);
}

void devmig_get_bytes(struct devmig_reader *r, void *out, size_t len)
{
	const uint8_t *p = take(r, len);

	if (p)
		memcpy(out, p, len);
	else
		memset(out, 0, len);
}

int devmig_reader_end(const struct devmig_reader *r)
{
	return !r->bad && r->pos == r->len ? 0 : -EINVAL;
}

/* ---- save/load buffers ---- */

void devmig_clear(struct devmig *m)
{
	free(m->out);
	free(m->in);
	memset(m, 0, sizeof(*m));
}

void devmig_save_begin(struct devmig *m, uint8_t *stream, size_t len)
{
	free(m->out);
	m->out = stream;
	m->out_len = len;
	m->out_pos = 0;
}

ssize_t devmig_save(struct devmig *m, void *buf, size_t len)
{
	size_t left = m->out_len - m->out_pos;
	size_t n = len < left ? len : left;

	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (n)
		memcpy(buf, m->out + m->out_pos, n);
	m->out_pos += n;
	return (ssize_t)n;
}

uint64_t devmig_save_pending(const struct devmig *m)
{
	return m->out_len - m->out_pos;
}

void devmig_load_begin(struct devmig *m, size_t max)
{
	free(m->in);
	m->in = NULL;
	m->in_len = 0;
	m->in_cap = 0;
	m->in_max = max;
}

int devmig_load(struct devmig *m, const void *buf, size_t len)
{
	if (len > m->in_max - m->in_len)
		return -EINVAL;
	if (len > m->in_cap - m->in_len) {
		size_t cap = m->in_cap ? m->in_cap : 4096;
		while (cap - m->in_len < len)
			cap = cap > m->in_max / 2 ? m->in_max : cap * 2;
		uint8_t *b = realloc(m->in, cap);
		if (!b)
			return -ENOMEM;
		m->in = b;
		m->in_cap = cap;
	}
	if (len)
		memcpy(m->in + m->in_len, buf, len);
	/* once the header is in, the stream cannot exceed what it declares:
	 * the chunk that goes beyond is refused whole */
	if (m->in_len + len >= DEVMIG_HEADER_SIZE) {
		uint64_t total = (uint64_t)le32_load(m->in + 12) + DEVMIG_HEADER_SIZE + DEVMIG_TRAILER_SIZE;
		if (m->in_len + len > total)
			return -EINVAL;
	}
	m->in_len += len;
	return 0;
}

int devmig_load_finish(struct devmig *m, uint32_t tag, uint32_t max_version, struct devmig_reader *r, uint32_t *version)
{
	memset(r, 0, sizeof(*r));
	if (m->in_len < DEVMIG_HEADER_SIZE + DEVMIG_TRAILER_SIZE)
		return -EINVAL; /* truncated (or nothing at all) */
	const uint8_t *p = m->in;
	uint32_t v = le32_load(p + 8);
	uint64_t plen = le32_load(p + 12);
	if (le32_load(p) != DEVMIG_MAGIC || le32_load(p + 4) != tag || v < 1 || v > max_version ||
	    plen + DEVMIG_HEADER_SIZE + DEVMIG_TRAILER_SIZE != m->in_len)
		return -EINVAL;
	size_t body = m->in_len - DEVMIG_TRAILER_SIZE;
	if (devmig_crc32(0, p, body) != le32_load(p + body))
		return -EINVAL;
	r->p = p + DEVMIG_HEADER_SIZE;
	r->len = (size_t)plen;
	*version = v;
	return 0;
}
