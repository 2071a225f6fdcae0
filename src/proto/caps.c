/* SPDX-License-Identifier: MIT */
/* VERSION capabilities: parsing the peer's JSON (json-c) and emitting ours. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "proto/msg.h"

/* Page sizes below this are not real pages; pgsizes must offer one at least this big. */
#define UVF_CAPS_MIN_PGSIZE 4096u

/*
 * json-c reads any integer above 2^64 - 1 as 2^64 - 1, so that value cannot
 * be told apart from an overflow: 64-bit keys accept one less.
 */
#define UVF_CAPS_U64_MAX (UINT64_MAX - 1)

void uvf__caps_defaults(struct uvf_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->max_msg_fds = UVF_DEFAULT_MAX_MSG_FDS;
	caps->max_data_xfer_size = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	caps->max_dma_maps = UVF_DEFAULT_MAX_DMA_MAPS;
	caps->pgsizes = UVF_DEFAULT_PGSIZES;
}

/* Fetch member key of obj; false when absent. */
static bool member(struct json_object *obj, const char *key, struct json_object **value)
{
	return json_object_object_get_ex(obj, key, value);
}

static int get_uint(struct json_object *value, const char *key, uint64_t max, uint64_t *out, struct uvf_why *why)
{
	enum json_type type = json_object_get_type(value);
	int64_t signed_value;
	uint64_t unsigned_value;

	if (type != json_type_int)
		return uvf__why(why, -EINVAL, "VERSION: capability %s is %s, expected an integer", key,
				json_type_to_name(type));
	/* An int object holds either an int64 or (above INT64_MAX) a uint64;
	 * the signed view tells the sign, the unsigned one the exact value. */
	signed_value = json_object_get_int64(value);
	if (signed_value < 0)
		return uvf__why(why, -EINVAL, "VERSION: capability %s is negative (%" PRId64 ")", key, signed_value);
	unsigned_value = json_object_get_uint64(value);
	if (unsigned_value > max)
		return uvf__why(why, -EINVAL, "VERSION: capability %s %" PRIu64 " above %" PRIu64, key, unsigned_value,
				max);
	*out = unsigned_value;
	return 0;
}

static int get_bool(struct json_object *value, const char *key, bool *out, struct uvf_why *why)
{
	enum json_type type = json_object_get_type(value);

	if (type != json_type_boolean)
		return uvf__why(why, -EINVAL, "VERSION: capability %s is %s, expected a boolean", key,
				json_type_to_name(type));
	*out = json_object_get_boolean(value);
	return 0;
}

static int need_object(struct json_object *value, const char *key, struct uvf_why *why)
{
	enum json_type type = json_object_get_type(value);

	if (type != json_type_object)
		return uvf__why(why, -EINVAL, "VERSION: %s is %s, expected an object", key, json_type_to_name(type));
	return 0;
}

static int parse_limits(struct json_object *caps_obj, struct uvf_caps *caps, struct uvf_why *why)
{
	struct json_object *value;
	uint64_t number;
	int ret;

	if (member(caps_obj, "max_msg_fds", &value)) {
		ret = get_uint(value, "max_msg_fds", UVF_CAPS_MAX_MSG_FDS_LIMIT, &number, why);
		if (ret < 0)
			return ret;
		caps->max_msg_fds = (uint32_t)number;
		caps->has_max_msg_fds = true;
	}
	if (member(caps_obj, "max_data_xfer_size", &value)) {
		/* No upper bound here: larger values are clamped below. */
		ret = get_uint(value, "max_data_xfer_size", UINT64_MAX, &number, why);
		if (ret < 0)
			return ret;
		if (number < UVF_CAPS_MIN_XFER)
			return uvf__why(why, -EINVAL, "VERSION: capability max_data_xfer_size %" PRIu64 " below %u",
					number, UVF_CAPS_MIN_XFER);
		if (number > UVF_CAPS_MAX_XFER_LIMIT)
			number = UVF_CAPS_MAX_XFER_LIMIT;
		caps->max_data_xfer_size = (uint32_t)number;
		caps->has_max_data_xfer_size = true;
	}
	if (member(caps_obj, "max_dma_maps", &value)) {
		ret = get_uint(value, "max_dma_maps", UINT32_MAX, &number, why);
		if (ret < 0)
			return ret;
		if (number == 0)
			return uvf__why(why, -EINVAL, "VERSION: capability max_dma_maps is 0");
		caps->max_dma_maps = (uint32_t)number;
		caps->has_max_dma_maps = true;
	}
	if (member(caps_obj, "pgsizes", &value)) {
		ret = get_uint(value, "pgsizes", UVF_CAPS_U64_MAX, &number, why);
		if (ret < 0)
			return ret;
		if ((number & ~(uint64_t)(UVF_CAPS_MIN_PGSIZE - 1)) == 0)
			return uvf__why(why, -EINVAL,
					"VERSION: capability pgsizes 0x%" PRIx64 " has no page size >= %u", number,
					UVF_CAPS_MIN_PGSIZE);
		caps->pgsizes = number;
		caps->has_pgsizes = true;
	}
	return 0;
}

static int parse_twin_socket(struct json_object *twin, struct uvf_caps *caps, struct uvf_why *why)
{
	struct json_object *value;
	uint64_t number;
	int ret;

	ret = need_object(twin, "capability twin_socket", why);
	if (ret < 0)
		return ret;
	if (member(twin, "supported", &value)) {
		ret = get_bool(value, "twin_socket.supported", &caps->twin_socket, why);
		if (ret < 0)
			return ret;
	}
	if (member(twin, "fd_index", &value)) {
		ret = get_uint(value, "twin_socket.fd_index", UINT32_MAX, &number, why);
		if (ret < 0)
			return ret;
		caps->twin_socket_fd_index = (uint32_t)number;
		caps->twin_socket_has_index = true;
	}
	return 0;
}

static int parse_migration(struct json_object *migration, struct uvf_caps *caps, struct uvf_why *why)
{
	struct json_object *value;
	int ret;

	ret = need_object(migration, "capability migration", why);
	if (ret < 0)
		return ret;
	caps->migration = true;
	if (member(migration, "pgsize", &value)) {
		ret = get_uint(value, "migration.pgsize", UVF_CAPS_U64_MAX, &caps->migration_pgsize, why);
		if (ret < 0)
			return ret;
	}
	if (member(migration, "max_bitmap_size", &value)) {
		ret = get_uint(value, "migration.max_bitmap_size", UVF_CAPS_U64_MAX, &caps->migration_max_bitmap_size,
			       why);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int parse_root(struct json_object *root, struct uvf_caps *caps, struct uvf_why *why)
{
	struct json_object *caps_obj, *value;
	int ret;

	ret = need_object(root, "JSON", why);
	if (ret < 0)
		return ret;
	if (!member(root, "capabilities", &caps_obj))
		return 0;
	ret = need_object(caps_obj, "capabilities", why);
	if (ret < 0)
		return ret;

	ret = parse_limits(caps_obj, caps, why);
	if (ret < 0)
		return ret;
	if (member(caps_obj, "twin_socket", &value)) {
		ret = parse_twin_socket(value, caps, why);
		if (ret < 0)
			return ret;
	}
	if (member(caps_obj, "write_multiple", &value)) {
		ret = get_bool(value, "write_multiple", &caps->write_multiple, why);
		if (ret < 0)
			return ret;
	}
	if (member(caps_obj, "migration", &value)) {
		ret = parse_migration(value, caps, why);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int uvf__caps_parse(const char *json, size_t len, struct uvf_caps *caps, struct uvf_why *why)
{
	struct json_tokener *tokener;
	struct json_object *root;
	enum json_tokener_error error;
	struct uvf_caps parsed;
	size_t parse_end;
	int ret;

	if (len > 0 && json[len - 1] == '\0')
		len--;
	if (len == 0)
		return uvf__why(why, -EINVAL, "VERSION: empty JSON text");
	if (len > UVF_CAPS_JSON_MAX)
		return uvf__why(why, -EINVAL, "VERSION: JSON text of %zu bytes above %u", len, UVF_CAPS_JSON_MAX);
	/* json-c would silently stop at a NUL; the text must be one string. */
	if (memchr(json, '\0', len) != NULL)
		return uvf__why(why, -EINVAL, "VERSION: NUL byte inside the JSON text at offset %zu",
				(size_t)((const char *)memchr(json, '\0', len) - json));

	tokener = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (tokener == NULL)
		return uvf__why(why, -ENOMEM, "VERSION: cannot allocate the JSON parser");
	/* Strict: refuse trailing text, trailing commas and invalid UTF-8. */
	json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tokener, json, (int)len);
	error = json_tokener_get_error(tokener);
	parse_end = json_tokener_get_parse_end(tokener);
	json_tokener_free(tokener);

	if (root == NULL || error != json_tokener_success) {
		json_object_put(root);
		if (error == json_tokener_continue)
			return uvf__why(why, -EINVAL, "VERSION: JSON text of %zu bytes is incomplete", len);
		return uvf__why(why, -EINVAL, "VERSION: invalid JSON at offset %zu: %s", parse_end,
				json_tokener_error_desc(error));
	}
	if (parse_end != len) {
		json_object_put(root);
		return uvf__why(why, -EINVAL, "VERSION: %zu bytes of trailing text after the JSON value",
				len - parse_end);
	}

	uvf__caps_defaults(&parsed);
	ret = parse_root(root, &parsed, why);
	json_object_put(root);
	if (ret < 0)
		return ret;
	*caps = parsed;
	return 0;
}

/* Appends to a fixed buffer with snprintf; remembers running out of room. */
struct caps_writer {
	char *buf;
	size_t size;
	size_t len;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void emit(struct caps_writer *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->size - w->len) {
		w->full = true;
		return;
	}
	w->len += (size_t)n;
}

int uvf__caps_encode(const struct uvf_caps *caps, char *buf, size_t buflen)
{
	struct caps_writer w = {.buf = buf, .size = buflen};

	if (buf == NULL || buflen == 0)
		return -ENOSPC;
	/* Compact on purpose: QEMU refuses a VERSION reply longer than its request. */
	emit(&w, "{\"capabilities\":{\"max_msg_fds\":%" PRIu32 ",\"max_data_xfer_size\":%" PRIu32, caps->max_msg_fds,
	     caps->max_data_xfer_size);
	if (caps->has_max_dma_maps)
		emit(&w, ",\"max_dma_maps\":%" PRIu32, caps->max_dma_maps);
	if (caps->has_pgsizes)
		emit(&w, ",\"pgsizes\":%" PRIu64, caps->pgsizes);
	if (caps->twin_socket) {
		emit(&w, ",\"twin_socket\":{\"supported\":true");
		if (caps->twin_socket_has_index)
			emit(&w, ",\"fd_index\":%" PRIu32, caps->twin_socket_fd_index);
		emit(&w, "}");
	}
	if (caps->write_multiple)
		emit(&w, ",\"write_multiple\":true");
	emit(&w, "}}");
	if (w.full || w.len > UVF_CAPS_JSON_MAX) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)(w.len + 1);
}
