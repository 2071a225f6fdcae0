/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: uvf_wire_describe() and uvf_wire_format(), which uvf-proxy
 * runs on every message either peer sends. Input:
 *
 *   nfds:u8 header[16] payload[rest]
 *
 * msg_size is set to match the payload (the transport guarantees it);
 * everything else of the header is the fuzzer's. The payload is a heap
 * block of exactly its length, so ASan sees any read past it. The
 * description must keep its promises: at most UVF_WIRE_MAX_FIELDS
 * fields, text fields inside the description or static, the line's
 * length as counted whatever the buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "uvf/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	struct uvf_msg_header hdr;
	size_t nfds = fuzz_u8(&in) % (UVF_WIRE_MAX_FDS + 1), len, hlen;
	const uint8_t *h = fuzz_bytes(&in, sizeof(hdr), &hlen);
	const uint8_t *rest;
	uint8_t *payload;
	char big[4096], small[16];
	int n, m;

	memset(&hdr, 0, sizeof(hdr));
	memcpy(&hdr, h, hlen);
	rest = fuzz_bytes(&in, 1u << 20, &len);
	payload = malloc(len ? len : 1);
	if (!payload)
		return 0;
	memcpy(payload, rest, len);
	hdr.msg_size = (uint32_t)(UVF_MSG_HEADER_SIZE + len);
	if (uvf_wire_describe(&d, &hdr, len ? payload : NULL, len, nfds) != 0)
		abort();
	if (d.nfields > UVF_WIRE_MAX_FIELDS || !d.command_name || !d.kind || d.nfds != nfds)
		abort();
	for (size_t i = 0; i < d.nfields; i++) {
		if (!d.fields[i].name)
			abort();
		if (d.fields[i].format == UVF_WIRE_FIELD_TEXT && !d.fields[i].text)
			abort();
	}
	n = uvf_wire_format(&d, big, sizeof(big));
	m = uvf_wire_format(&d, small, sizeof(small));
	if (n < 0 || n != m || strlen(small) != (size_t)(n < (int)sizeof(small) ? n : (int)sizeof(small) - 1))
		abort();
	if (n < (int)sizeof(big) && strlen(big) != (size_t)n)
		abort();
	free(payload);
	return 0;
}
