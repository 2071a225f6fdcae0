/* SPDX-License-Identifier: MIT */
/* The MSI-X table and pending bit array (see msix.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/msix.h"

#define ENTRY_CTRL  12
#define CTRL_MASKED 0x1u

/* Writable bits of one entry, byte by byte: address low bits 1:0 are
 * reserved (dword aligned messages), vector control has only its mask. */
static const uint8_t entry_wmask[UVF_MSIX_ENTRY_SIZE] = {
	0xfc, 0xff, 0xff, 0xff, /* address */
	0xff, 0xff, 0xff, 0xff, /* upper address */
	0xff, 0xff, 0xff, 0xff, /* data */
	0x01, 0x00, 0x00, 0x00, /* vector control */
};

static size_t pba_words(uint32_t count)
{
	return ((size_t)count + 63) / 64;
}

int uvf__msix_init(struct uvf_msix *m, uint32_t count, unsigned table_bar, uint64_t table_offset, unsigned pba_bar,
		   uint64_t pba_offset)
{
	memset(m, 0, sizeof(*m));
	if (count == 0 || count > 2048)
		return -EINVAL;
	m->table = calloc(count, UVF_MSIX_ENTRY_SIZE);
	m->pba = calloc(pba_words(count), sizeof(*m->pba));
	if (!m->table || !m->pba) {
		uvf__msix_free(m);
		return -ENOMEM;
	}
	m->count = count;
	m->table_bar = table_bar;
	m->table_offset = table_offset;
	m->pba_bar = pba_bar;
	m->pba_offset = pba_offset;
	uvf__msix_reset(m);
	return 0;
}

void uvf__msix_free(struct uvf_msix *m)
{
	free(m->table);
	free(m->pba);
	memset(m, 0, sizeof(*m));
}

void uvf__msix_reset(struct uvf_msix *m)
{
	if (!m->count)
		return;
	memset(m->table, 0, (size_t)m->count * UVF_MSIX_ENTRY_SIZE);
	for (uint32_t v = 0; v < m->count; v++)
		m->table[v * UVF_MSIX_ENTRY_SIZE + ENTRY_CTRL] = CTRL_MASKED;
	memset(m->pba, 0, pba_words(m->count) * sizeof(*m->pba));
	m->table_written = false;
}

uint64_t uvf__msix_pba_size(const struct uvf_msix *m)
{
	return pba_words(m->count) * 8;
}

uint64_t uvf__msix_split(const struct uvf_msix *m, unsigned bar, uint64_t offset, uint64_t len, bool *ours)
{
	const struct {
		bool here;
		uint64_t start, end;
	} ranges[2] = {
		{m->count && bar == m->table_bar, m->table_offset,
		 m->table_offset + (uint64_t)m->count * UVF_MSIX_ENTRY_SIZE},
		{m->count && bar == m->pba_bar, m->pba_offset, m->pba_offset + uvf__msix_pba_size(m)},
	};
	uint64_t piece = len;

	*ours = false;
	for (unsigned i = 0; i < 2; i++) {
		if (!ranges[i].here)
			continue;
		if (offset >= ranges[i].start && offset < ranges[i].end) {
			*ours = true;
			return len < ranges[i].end - offset ? len : ranges[i].end - offset;
		}
		if (ranges[i].start > offset && ranges[i].start - offset < piece)
			piece = ranges[i].start - offset;
	}
	return piece;
}

static uint8_t pba_byte(const struct uvf_msix *m, uint64_t at)
{
	return (uint8_t)(m->pba[at / 8] >> (8 * (at % 8)));
}

void uvf__msix_access(struct uvf_msix *m, unsigned bar, uint64_t offset, void *buf, size_t len, bool is_write)
{
	uint8_t *bytes = buf;
	uint64_t table_size = (uint64_t)m->count * UVF_MSIX_ENTRY_SIZE;

	for (size_t i = 0; i < len; i++) {
		uint64_t at = offset + i;

		if (bar == m->table_bar && at >= m->table_offset && at - m->table_offset < table_size) {
			uint64_t t = at - m->table_offset;
			uint8_t wm = entry_wmask[t % UVF_MSIX_ENTRY_SIZE];
			if (is_write) {
				m->table[t] = (uint8_t)((m->table[t] & ~wm) | (bytes[i] & wm));
				m->table_written = true;
			} else {
				bytes[i] = m->table[t];
			}
		} else if (bar == m->pba_bar && at >= m->pba_offset && at - m->pba_offset < uvf__msix_pba_size(m)) {
			if (!is_write)
				bytes[i] = pba_byte(m, at - m->pba_offset);
		} else if (!is_write) {
			bytes[i] = 0; /* not ours: the caller's split was wrong */
		}
	}
}

bool uvf__msix_entry_masked(const struct uvf_msix *m, uint32_t v)
{
	if (v >= m->count)
		return true;
	return m->table[v * UVF_MSIX_ENTRY_SIZE + ENTRY_CTRL] & CTRL_MASKED;
}

void uvf__msix_set_pending(struct uvf_msix *m, uint32_t v, bool pending)
{
	if (v >= m->count)
		return;
	uint64_t bit = 1ull << (v % 64);
	m->pba[v / 64] = pending ? m->pba[v / 64] | bit : m->pba[v / 64] & ~bit;
}

bool uvf__msix_pending(const struct uvf_msix *m, uint32_t v)
{
	return v < m->count && ((m->pba[v / 64] >> (v % 64)) & 1);
}
