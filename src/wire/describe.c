/* SPDX-License-Identifier: MIT */
/* uvf/wire.h's descriptions of messages for people: the fields that matter
 * of each command, read with length checks; requests are also put through
 * the decoders, whose reason tells what is wrong with a bad one. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/msg.h"
#include "uvf/wire.h"

/* The description being built, and how much of its text is used. */
struct builder {
	struct uvf_wire_desc *d;
	size_t used;
};

static void add_field(struct builder *b, const char *name, enum uvf_wire_field_format format, uint64_t value,
		      const char *text)
{
	struct uvf_wire_desc *d = b->d;

	if (d->nfields >= UVF_WIRE_MAX_FIELDS)
		return;
	d->fields[d->nfields++] = (struct uvf_wire_field){.name = name, .format = format, .value = value, .text = text};
}

static void dec(struct builder *b, const char *name, uint64_t value)
{
	add_field(b, name, UVF_WIRE_FIELD_DEC, value, NULL);
}

static void hex(struct builder *b, const char *name, uint64_t value)
{
	add_field(b, name, UVF_WIRE_FIELD_HEX, value, NULL);
}

/* Keep text in the description's own room (cut to what is left). */
static const char *keep(struct builder *b, const char *s, size_t n)
{
	size_t room = sizeof(b->d->text) - b->used;
	char *at = b->d->text + b->used;

	if (room == 0)
		return "";
	if (n >= room)
		n = room - 1;
	memcpy(at, s, n);
	at[n] = '\0';
	b->used += n + 1;
	return at;
}

static void text(struct builder *b, const char *name, const char *s)
{
	add_field(b, name, UVF_WIRE_FIELD_TEXT, 0, keep(b, s, strlen(s)));
}

static void problem(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct builder *b, const char *fmt, ...)
{
	va_list ap;

	if (b->d->problem[0])
		return; /* the first reason found is the one that matters */
	va_start(ap, fmt);
	vsnprintf(b->d->problem, sizeof(b->d->problem), fmt, ap);
	va_end(ap);
}

/* The first n bytes of the payload into out, or a problem when short. */
static bool fixed(struct builder *b, const void *payload, size_t len, void *out, size_t n)
{
	if (len < n) {
		problem(b, "%zu payload bytes, %zu expected at least", len, n);
		return false;
	}
	memcpy(out, payload, n);
	return true;
}

static void decoded(struct builder *b, int rc, const struct uvf_why *why)
{
	if (rc < 0)
		problem(b, "%s", why->text[0] ? why->text : "does not decode");
}

static const char *dma_prot(uint32_t flags, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s", flags & UVF_DMA_MAP_FLAG_READ ? "r" : "",
		 flags & UVF_DMA_MAP_FLAG_WRITE ? "w" : "", (flags & 3u) == 0 ? "-" : "",
		 flags & UVF_DMA_MAP_FLAG_MMAP ? "+mmap" : "", flags & UVF_DMA_MAP_FLAG_FILE_IO ? "+file" : "");
	return buf;
}

static void describe_version(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_version v;
	struct uvf_version_view view;
	struct uvf_why why = {{0}};

	if (!fixed(b, payload, len, &v, sizeof(v)))
		return;
	dec(b, "major", v.major);
	dec(b, "minor", v.minor);
	decoded(b, uvf__decode_version(payload, len, nfds, request ? 0 : 1, &view, &why), &why);
	if (len > sizeof(v)) {
		const char *json = (const char *)payload + sizeof(v);

		add_field(b, "caps", UVF_WIRE_FIELD_TEXT, 0, keep(b, json, strnlen(json, len - sizeof(v))));
	}
}

static void describe_dma_map(struct builder *b, const void *payload, size_t len, size_t nfds)
{
	struct uvf_msg_dma_map m, out;
	struct uvf_why why = {{0}};
	char prot[16];

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	hex(b, "iova", m.address);
	hex(b, "size", m.size);
	hex(b, "offset", m.offset);
	text(b, "prot", dma_prot(m.flags, prot, sizeof(prot)));
	decoded(b, uvf__decode_dma_map(payload, len, nfds, UVF_DEFAULT_PGSIZES, true, &out, &why), &why);
}

static void describe_dma_unmap(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_dma_unmap m, out;
	struct uvf_why why = {{0}};

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	hex(b, "iova", m.address);
	hex(b, "size", m.size);
	if (m.flags & UVF_DMA_UNMAP_FLAG_ALL)
		text(b, "all", "yes");
	else if (m.flags)
		hex(b, "flags", m.flags);
	if (request)
		decoded(b, uvf__decode_dma_unmap(payload, len, nfds, &out, &why), &why);
}

static void describe_device_info(struct builder *b, const void *payload, size_t len, bool request)
{
	struct uvf_msg_device_info m;

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	if (request)
		return; /* argsz only */
	hex(b, "flags", m.flags);
	dec(b, "regions", m.num_regions);
	dec(b, "irqs", m.num_irqs);
}

static void describe_region_info(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_region_info m;
	char flags[32];

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "index", m.index);
	if (request) {
		struct uvf_why why = {{0}};

		decoded(b, uvf__decode_region_info_req(payload, len, nfds, &m, &why), &why);
		return;
	}
	snprintf(flags, sizeof(flags), "%s%s%s%s", m.flags & UVF_REGION_FLAG_READ ? "r" : "-",
		 m.flags & UVF_REGION_FLAG_WRITE ? "w" : "-", m.flags & UVF_REGION_FLAG_MMAP ? "m" : "-",
		 m.flags & UVF_REGION_FLAG_CAPS ? "c" : "-");
	text(b, "flags", flags);
	hex(b, "size", m.size);
	hex(b, "offset", m.offset);
}

static void describe_io_fds(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_region_io_fds m;

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "index", m.index);
	if (request) {
		struct uvf_why why = {{0}};

		decoded(b, uvf__decode_region_io_fds_req(payload, len, nfds, &m, &why), &why);
		return;
	}
	dec(b, "count", m.count);
}

static void describe_irq_info(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_irq_info m;

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "index", m.index);
	if (request) {
		struct uvf_why why = {{0}};

		decoded(b, uvf__decode_irq_info_req(payload, len, nfds, &m, &why), &why);
		return;
	}
	hex(b, "flags", m.flags);
	dec(b, "count", m.count);
}

static void describe_set_irqs(struct builder *b, const void *payload, size_t len, size_t nfds)
{
	struct uvf_msg_irq_set m;
	struct uvf_irq_set_view view;
	struct uvf_why why = {{0}};
	uint32_t action, data;

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "index", m.index);
	dec(b, "start", m.start);
	dec(b, "count", m.count);
	action = m.flags & UVF_IRQ_SET_ACTION_BITS;
	data = m.flags & UVF_IRQ_SET_DATA_BITS;
	text(b, "action",
	     action == UVF_IRQ_SET_ACTION_MASK	    ? "mask"
	     : action == UVF_IRQ_SET_ACTION_UNMASK  ? "unmask"
	     : action == UVF_IRQ_SET_ACTION_TRIGGER ? "trigger"
						    : "?");
	text(b, "data",
	     data == UVF_IRQ_SET_DATA_NONE	? "none"
	     : data == UVF_IRQ_SET_DATA_BOOL	? "bool"
	     : data == UVF_IRQ_SET_DATA_EVENTFD ? "eventfd"
						: "?");
	decoded(b, uvf__decode_irq_set(payload, len, nfds, &view, &why), &why);
}

static void describe_region_access(struct builder *b, uint16_t command, const void *payload, size_t len, size_t nfds,
				   bool request)
{
	struct uvf_msg_region_access m;
	struct uvf_region_access_view view;
	struct uvf_why why = {{0}};

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "region", m.region);
	hex(b, "offset", m.offset);
	dec(b, "count", m.count);
	if (request && command == UVF_CMD_REGION_READ)
		decoded(b, uvf__decode_region_read_req(payload, len, nfds, UINT32_MAX, &view, &why), &why);
	else if (request)
		decoded(b, uvf__decode_region_write_req(payload, len, nfds, UINT32_MAX, &view, &why), &why);
	else if (command == UVF_CMD_REGION_READ && len != sizeof(m) + m.count)
		problem(b, "%zu payload bytes for %u data bytes", len, (unsigned)m.count);
}

static void describe_dma_access(struct builder *b, uint16_t command, const void *payload, size_t len, size_t nfds,
				bool request)
{
	struct uvf_msg_dma_access m;
	struct uvf_dma_access_view view;
	struct uvf_why why = {{0}};

	if (len == 0 && !request && command == UVF_CMD_DMA_WRITE)
		return; /* the header-only DMA_WRITE reply some clients send */
	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	hex(b, "address", m.address);
	dec(b, "count", m.count);
	if (request && command == UVF_CMD_DMA_READ)
		decoded(b, uvf__decode_dma_read_req(payload, len, nfds, UINT32_MAX, &view, &why), &why);
	else if (request)
		decoded(b, uvf__decode_dma_write_req(payload, len, nfds, UINT32_MAX, &view, &why), &why);
}

static const char *const migration_states[] = {
	[UVF_MIGRATION_STATE_ERROR] = "ERROR",	     [UVF_MIGRATION_STATE_STOP] = "STOP",
	[UVF_MIGRATION_STATE_RUNNING] = "RUNNING",   [UVF_MIGRATION_STATE_STOP_COPY] = "STOP_COPY",
	[UVF_MIGRATION_STATE_RESUMING] = "RESUMING", [UVF_MIGRATION_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[UVF_MIGRATION_STATE_PRE_COPY] = "PRE_COPY", [UVF_MIGRATION_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static void describe_feature(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_device_feature m;
	const uint8_t *data;
	uint32_t index;
	const char *name;
	char op[24];

	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	data = (const uint8_t *)payload + sizeof(m);
	index = m.flags & UVF_FEATURE_BITS;
	name = uvf__feature_name(index);
	if (name)
		text(b, "feature", name);
	else
		dec(b, "feature", index);
	snprintf(op, sizeof(op), "%s%s%s", m.flags & UVF_FEATURE_PROBE ? "probe" : "",
		 (m.flags & UVF_FEATURE_PROBE) && (m.flags & (UVF_FEATURE_GET | UVF_FEATURE_SET)) ? "+" : "",
		 m.flags & UVF_FEATURE_GET   ? "get"
		 : m.flags & UVF_FEATURE_SET ? "set"
					     : "");
	text(b, "op", op[0] ? op : "none");
	if (request) {
		struct uvf_device_feature_view view;
		struct uvf_why why = {{0}};

		decoded(b, uvf__decode_device_feature(payload, len, nfds, &view, &why), &why);
	}
	/* The device state: of a SET request, and of the reply to a GET. */
	if (index == UVF_FEATURE_MIGRATION_DEVICE_STATE && !(m.flags & UVF_FEATURE_PROBE) &&
	    len - sizeof(m) >= sizeof(struct uvf_msg_feature_migration_state) &&
	    (request ? (m.flags & UVF_FEATURE_SET) != 0 : (m.flags & UVF_FEATURE_GET) != 0)) {
		struct uvf_msg_feature_migration_state st;

		memcpy(&st, data, sizeof(st));
		if (st.device_state < sizeof(migration_states) / sizeof(migration_states[0]))
			text(b, "state", migration_states[st.device_state]);
		else
			dec(b, "state", st.device_state);
	}
	if (index == UVF_FEATURE_MIGRATION && !request && (m.flags & UVF_FEATURE_GET) &&
	    len - sizeof(m) >= sizeof(struct uvf_msg_feature_migration)) {
		struct uvf_msg_feature_migration mig;

		memcpy(&mig, data, sizeof(mig));
		hex(b, "migration_flags", mig.flags);
	}
}

static void describe_mig_data(struct builder *b, uint16_t command, const void *payload, size_t len, size_t nfds,
			      bool request)
{
	struct uvf_msg_migration_data m;
	struct uvf_why why = {{0}};
	const uint8_t *data;

	if (len == 0 && !request)
		return; /* MIG_DATA_WRITE's reply is empty */
	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "size", m.size);
	if (request && command == UVF_CMD_MIGRATION_DATA_READ)
		decoded(b, uvf__decode_mig_data_read(payload, len, nfds, UINT32_MAX, &m, &why), &why);
	else if (request)
		decoded(b, uvf__decode_mig_data_write(payload, len, nfds, UINT32_MAX, &m, &data, &why), &why);
}

static void describe_write_multi(struct builder *b, const void *payload, size_t len, size_t nfds, bool request)
{
	struct uvf_msg_write_multi m;
	struct uvf_write_multi_view view;
	struct uvf_why why = {{0}};

	if (!request && len == 0)
		return;
	if (!fixed(b, payload, len, &m, sizeof(m)))
		return;
	dec(b, "writes", m.wr_cnt);
	if (request)
		decoded(b, uvf__decode_write_multi(payload, len, nfds, &view, &why), &why);
}

static void describe_payload(struct builder *b, uint16_t command, const void *payload, size_t len, size_t nfds,
			     bool request)
{
	switch (command) {
	case UVF_CMD_VERSION:
		describe_version(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DMA_MAP:
		if (request)
			describe_dma_map(b, payload, len, nfds);
		break;
	case UVF_CMD_DMA_UNMAP:
		describe_dma_unmap(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_GET_INFO:
		describe_device_info(b, payload, len, request);
		break;
	case UVF_CMD_DEVICE_GET_REGION_INFO:
		describe_region_info(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_GET_REGION_IO_FDS:
		describe_io_fds(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_GET_IRQ_INFO:
		describe_irq_info(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_SET_IRQS:
		if (request)
			describe_set_irqs(b, payload, len, nfds);
		break;
	case UVF_CMD_REGION_READ:
	case UVF_CMD_REGION_WRITE:
		describe_region_access(b, command, payload, len, nfds, request);
		break;
	case UVF_CMD_DMA_READ:
	case UVF_CMD_DMA_WRITE:
		describe_dma_access(b, command, payload, len, nfds, request);
		break;
	case UVF_CMD_REGION_WRITE_MULTI:
		describe_write_multi(b, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_FEATURE:
		describe_feature(b, payload, len, nfds, request);
		break;
	case UVF_CMD_MIGRATION_DATA_READ:
	case UVF_CMD_MIGRATION_DATA_WRITE:
		describe_mig_data(b, command, payload, len, nfds, request);
		break;
	case UVF_CMD_DEVICE_RESET:
		if (request && len)
			problem(b, "%zu payload bytes, none expected", len);
		break;
	default:
		problem(b, "unknown command");
		break;
	}
}

int uvf_wire_describe(struct uvf_wire_desc *desc, const struct uvf_msg_header *hdr, const void *payload, size_t len,
		      size_t nfds)
{
	struct builder b = {.d = desc};
	uint32_t type;
	const char *name;

	if (!desc || desc->argsz < sizeof(*desc) || !hdr || (len && !payload) ||
	    (uint64_t)hdr->msg_size != UVF_MSG_HEADER_SIZE + (uint64_t)len)
		return -EINVAL;
	memset((char *)desc + sizeof(desc->argsz), 0, sizeof(*desc) - sizeof(desc->argsz));
	desc->command = hdr->command;
	desc->nfds = nfds;
	name = uvf_wire_command_name(hdr->command);
	if (!name) {
		char unknown[sizeof("command 65535")];

		snprintf(unknown, sizeof(unknown), "command %u", (unsigned)hdr->command);
		name = keep(&b, unknown, strlen(unknown));
	}
	desc->command_name = name;
	type = hdr->flags & UVF_MSG_TYPE_BITS;
	if (type == UVF_MSG_TYPE_COMMAND) {
		desc->kind = "request";
		desc->no_reply = (hdr->flags & UVF_MSG_FLAG_NO_REPLY) != 0;
	} else if (type == UVF_MSG_TYPE_REPLY && (hdr->flags & UVF_MSG_FLAG_ERROR)) {
		desc->kind = "error";
		desc->error = (int)hdr->error;
		desc->error_name = uvf_wire_errno_name((int)hdr->error);
		if (len)
			problem(&b, "an error reply with %zu payload bytes", len);
		return 0;
	} else if (type == UVF_MSG_TYPE_REPLY) {
		desc->kind = "reply";
	} else {
		desc->kind = "?";
		problem(&b, "message type %u", (unsigned)type);
		return 0;
	}
	if (hdr->flags & ~UVF_MSG_FLAGS_KNOWN)
		problem(&b, "unknown flag bits 0x%x", (unsigned)(hdr->flags & ~UVF_MSG_FLAGS_KNOWN));
	describe_payload(&b, hdr->command, payload, len, nfds, type == UVF_MSG_TYPE_COMMAND);
	return 0;
}

const char *uvf_wire_command_name(uint16_t command)
{
	if (command == 0 || command > UVF_CMD_MAX || command == UVF_CMD_RESERVED_14)
		return NULL;
	return uvf__cmd_name(command);
}

int uvf_wire_command_number(const char *name)
{
	if (!name)
		return -EINVAL;
	for (uint16_t c = 1; c <= UVF_CMD_MAX; c++) {
		const char *n = uvf_wire_command_name(c);

		if (n && strcasecmp(n, name) == 0)
			return c;
	}
	return -ENOENT;
}

const char *uvf_wire_errno_name(int err)
{
	if (err <= 0 || err > 4095)
		return NULL;
	return strerrorname_np(err);
}

/* Append to buf what fits, counting the whole length. */
struct line {
	char *buf;
	size_t size, len;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	size_t room = l->len < l->size ? l->size - l->len : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? l->buf + l->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
}

/* A text value as is when it is one word (JSON text included), else
 * quoted with \" and \\ escaped. */
static bool one_word(const char *s)
{
	if (!s[0] || s[0] == '"')
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == '\\' || (unsigned char)*s == 0x7f)
			return false;
	}
	return true;
}

static void put_text(struct line *l, const char *s)
{
	if (one_word(s)) {
		put(l, "%s", s);
		return;
	}
	put(l, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			put(l, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			put(l, "\\x%02x", (unsigned)(unsigned char)*s);
		else
			put(l, "%c", *s);
	}
	put(l, "\"");
}

int uvf_wire_format(const struct uvf_wire_desc *desc, char *buf, size_t size)
{
	struct line l = {.buf = buf, .size = size};

	if (!desc || (!buf && size) || !desc->command_name)
		return -EINVAL;
	if (size)
		buf[0] = '\0';
	put(&l, "%s", desc->command_name);
	for (size_t i = 0; i < desc->nfields && i < UVF_WIRE_MAX_FIELDS; i++) {
		const struct uvf_wire_field *f = &desc->fields[i];

		put(&l, " %s=", f->name);
		if (f->format == UVF_WIRE_FIELD_HEX)
			put(&l, "0x%llx", (unsigned long long)f->value);
		else if (f->format == UVF_WIRE_FIELD_TEXT)
			put_text(&l, f->text ? f->text : "");
		else
			put(&l, "%llu", (unsigned long long)f->value);
	}
	if (desc->error) {
		if (desc->error_name)
			put(&l, " error=%s", desc->error_name);
		else
			put(&l, " error=%d", desc->error);
	}
	if (desc->problem[0]) {
		put(&l, " bad=");
		put_text(&l, desc->problem);
	}
	return l.len > INT32_MAX ? INT32_MAX : (int)l.len;
}
