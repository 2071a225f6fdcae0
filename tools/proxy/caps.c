/* SPDX-License-Identifier: MIT */
/*
 * The VERSION capabilities the proxy changes on their way. The twin socket
 * is not offered through the proxy: server-to-client commands then come on
 * the main socket, which the proxy forwards like any other message (a
 * second pair of sockets to watch would buy nothing a proxy needs).
 * max_msg_fds is lowered to what the proxy receives with one message,
 * max_data_xfer_size to the largest transfer it forwards; each side's
 * max_data_xfer_size sets the largest message the proxy takes from the
 * other side (as uvf's server does).
 * Anything else passes as it came.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proxy/proxy.h"

/* The capabilities object of the JSON text after the 4-byte version, or
 * NULL when there is none that parses. *root is to be put by the caller. */
static json_object *parse_caps(const void *payload, size_t len, json_object **root)
{
	const char *text = (const char *)payload + sizeof(struct uvf_msg_version);
	size_t text_len = len - sizeof(struct uvf_msg_version);
	json_tokener *tok;
	json_object *caps = NULL;

	*root = NULL;
	if (len <= sizeof(struct uvf_msg_version) || text[text_len - 1] != '\0' || strlen(text) != text_len - 1)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	*root = json_tokener_parse_ex(tok, text, (int)(text_len - 1));
	if (*root && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(*root, json_type_object) && json_object_object_get_ex(*root, "capabilities", &caps) &&
	    json_object_is_type(caps, json_type_object)) {
		json_tokener_free(tok);
		return caps;
	}
	json_tokener_free(tok);
	json_object_put(*root);
	*root = NULL;
	return NULL;
}

/* Lower max_msg_fds to what one message through the proxy may carry. */
static bool clamp_fds(json_object *caps)
{
	json_object *v;

	if (!json_object_object_get_ex(caps, "max_msg_fds", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) <= (int64_t)UVF_WIRE_MAX_FDS)
		return false;
	json_object_object_add(caps, "max_msg_fds", json_object_new_int64(UVF_WIRE_MAX_FDS));
	return true;
}

/* The peer's max_data_xfer_size (the default when absent), lowered to
 * the largest the proxy forwards. */
static bool clamp_xfer(json_object *caps, uint32_t *xfer)
{
	json_object *v;
	int64_t n;

	*xfer = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	if (!json_object_object_get_ex(caps, "max_data_xfer_size", &v) || !json_object_is_type(v, json_type_int))
		return false;
	n = json_object_get_int64(v);
	if (n <= 0)
		return false; /* refused by the other side */
	if (n <= (int64_t)PROXY_MAX_XFER) {
		*xfer = (uint32_t)n;
		return false;
	}
	*xfer = PROXY_MAX_XFER;
	json_object_object_add(caps, "max_data_xfer_size", json_object_new_int64(PROXY_MAX_XFER));
	return true;
}

/* The payload again: version, the JSON text, its NUL. */
static int encode(const void *payload, json_object *root, void **out, size_t *out_len)
{
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(text) + 1;
	uint8_t *buf = malloc(sizeof(struct uvf_msg_version) + n);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, payload, sizeof(struct uvf_msg_version));
	memcpy(buf + sizeof(struct uvf_msg_version), text, n);
	*out = buf;
	*out_len = sizeof(struct uvf_msg_version) + n;
	return 0;
}

int proxy_caps_narrow_request(const void *payload, size_t len, void **out, size_t *out_len, bool *changed_twin,
			      uint32_t *xfer)
{
	json_object *root, *caps = parse_caps(payload, len, &root);
	bool changed = false;
	int rc = 0;

	*out = NULL;
	*out_len = 0;
	*changed_twin = false;
	*xfer = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	if (!caps)
		return 0;
	changed |= clamp_xfer(caps, xfer);
	if (json_object_object_get_ex(caps, "twin_socket", NULL)) {
		json_object_object_del(caps, "twin_socket");
		changed = *changed_twin = true;
	}
	changed |= clamp_fds(caps);
	if (changed)
		rc = encode(payload, root, out, out_len);
	json_object_put(root);
	return rc;
}

int proxy_caps_narrow_reply(const void *payload, size_t len, size_t nfds, void **out, size_t *out_len, uint32_t *xfer,
			    char *why, size_t why_size)
{
	json_object *root, *caps, *twin, *supported;
	bool changed;
	int rc = 0;

	*out = NULL;
	*out_len = 0;
	*xfer = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	if (nfds) {
		snprintf(why, why_size, "VERSION reply with %zu fds: no twin socket was offered", nfds);
		return -EPROTO;
	}
	caps = parse_caps(payload, len, &root);
	if (!caps)
		return 0;
	if (json_object_object_get_ex(caps, "twin_socket", &twin) && json_object_is_type(twin, json_type_object) &&
	    json_object_object_get_ex(twin, "supported", &supported) && json_object_get_boolean(supported)) {
		snprintf(why, why_size, "VERSION reply enables a twin socket that was not offered");
		json_object_put(root);
		return -EPROTO;
	}
	changed = clamp_xfer(caps, xfer);
	changed |= clamp_fds(caps);
	if (changed)
		rc = encode(payload, root, out, out_len);
	json_object_put(root);
	return rc;
}
