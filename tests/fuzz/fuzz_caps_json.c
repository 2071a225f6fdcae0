/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the VERSION payload decoder and the capabilities JSON
 * parser (src/proto). The input is a VERSION payload (major, minor,
 * NUL-terminated JSON); the first byte picks how many fds "arrived" and
 * the limit. Parsed capabilities must survive an encode/parse round trip
 * unchanged, and every accepted value must lie inside the documented
 * bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/msg.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_caps_json: %s\n", what);
		abort();
	}
}

static void check_bounds(const struct uvf_caps *c)
{
	check(c->max_msg_fds <= UVF_CAPS_MAX_MSG_FDS_LIMIT, "max_msg_fds above the limit accepted");
	check(c->max_data_xfer_size >= UVF_CAPS_MIN_XFER && c->max_data_xfer_size <= UVF_CAPS_MAX_XFER_LIMIT,
	      "max_data_xfer_size outside its bounds accepted");
	check(c->max_dma_maps != 0, "max_dma_maps 0 accepted");
	check((c->pgsizes & ~(uint64_t)4095) != 0, "pgsizes without a page size >= 4096 accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uvf_version_view view;
	struct uvf_why why = {{0}};
	struct uvf_caps caps, again;
	char text[UVF_CAPS_JSON_MAX + 256];

	if (!size)
		return 0;
	size_t nfds = data[0] & 1, max_fds = (data[0] >> 1) & 1;
	data++;
	size--;

	/* the whole payload, as it arrives in a VERSION message */
	if (uvf__decode_version(data, size, nfds, max_fds, &view, &why) == 0 && view.json) {
		check(view.json_len + 1 <= size - 4 && view.json[view.json_len] == '\0', "JSON view outside payload");
		check(memchr(view.json, '\0', view.json_len) == NULL, "JSON view holds a NUL");
		if (uvf__caps_parse(view.json, view.json_len, &caps, &why) == 0)
			check_bounds(&caps);
	}

	/* the parser alone, on arbitrary bytes (it must not need a NUL) */
	memset(&caps, 0x5a, sizeof(caps));
	struct uvf_caps before = caps;
	if (uvf__caps_parse((const char *)data, size, &caps, &why) < 0) {
		check(memcmp(&caps, &before, sizeof(caps)) == 0, "caps written by a failed parse");
		return 0;
	}
	check_bounds(&caps);

	/* what we send back must parse to the same values */
	caps.has_max_dma_maps = caps.has_pgsizes = true;
	int n = uvf__caps_encode(&caps, text, sizeof(text));
	check(n > 0 && (size_t)n <= sizeof(text) && text[n - 1] == '\0', "encode failed on parsed caps");
	check(uvf__caps_parse(text, (size_t)n, &again, &why) == 0, "our own JSON is refused");
	check(again.max_msg_fds == caps.max_msg_fds && again.max_data_xfer_size == caps.max_data_xfer_size &&
		      again.max_dma_maps == caps.max_dma_maps && again.pgsizes == caps.pgsizes &&
		      again.twin_socket == caps.twin_socket && again.write_multiple == caps.write_multiple,
	      "round trip changed a value");
	if (caps.twin_socket && caps.twin_socket_has_index)
		check(again.twin_socket_fd_index == caps.twin_socket_fd_index, "round trip changed fd_index");
	return 0;
}
