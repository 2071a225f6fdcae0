/* SPDX-License-Identifier: MIT */
/*
 * The trace: one line per message as its sender sent it,
 *   TIME DIR id=ID KIND DESCRIPTION bytes=N fds=N
 * ("0.000123 c>s id=3 request REGION_READ region=7 offset=0x0 count=4
 * bytes=32 fds=0"), the first --hexdump bytes of the payload below it, or
 * the same as one JSON object per line with --json.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proxy/proxy.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const dir_names[2] = {"c>s", "s>c"};

int proxy_trace_filter(struct proxy_trace *t, const char *list)
{
	char buf[512];
	char *save = NULL;

	if (strlen(list) >= sizeof(buf)) {
		proxy_log("--filter: list too long");
		return -EINVAL;
	}
	strcpy(buf, list);
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int cmd = uvf_wire_command_number(name);

		if (cmd < 0) {
			proxy_log("--filter: no command named \"%s\"", name);
			return -EINVAL;
		}
		t->filter[cmd] = true;
		t->filtered = true;
	}
	if (!t->filtered) {
		proxy_log("--filter: no command named");
		return -EINVAL;
	}
	return 0;
}

static void hexdump_text(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		fprintf(out, "    %04zx:", i);
		for (size_t j = i; j < i + 16 && j < n; j++)
			fprintf(out, " %02x", p[j]);
		fputc('\n', out);
	}
}

static void trace_text(struct proxy_trace *t, enum proxy_dir dir, const struct uvf_wire_msg *m, double secs,
		       const struct uvf_wire_desc *d)
{
	char line[1024];

	uvf_wire_format(d, line, sizeof(line));
	fprintf(t->out, "%.6f %s id=%u %s %s%s bytes=%u fds=%zu\n", secs, dir_names[dir], (unsigned)m->hdr.msg_id,
		d->kind, line, d->no_reply ? " no_reply" : "", (unsigned)m->hdr.msg_size, m->nfds);
	if (t->hexdump && m->len)
		hexdump_text(t->out, m->payload, m->len < t->hexdump ? m->len : t->hexdump);
}

static void trace_json(struct proxy_trace *t, enum proxy_dir dir, const struct uvf_wire_msg *m, double secs,
		       const struct uvf_wire_desc *d)
{
	json_object *o = json_object_new_object(), *fields = json_object_new_object();

	char when[32];

	snprintf(when, sizeof(when), "%.6f", secs);
	json_object_object_add(o, "time", json_object_new_double_s(secs, when));
	json_object_object_add(o, "dir", json_object_new_string(dir_names[dir]));
	json_object_object_add(o, "id", json_object_new_int(m->hdr.msg_id));
	json_object_object_add(o, "kind", json_object_new_string(d->kind));
	json_object_object_add(o, "command", json_object_new_string(d->command_name));
	for (size_t i = 0; i < d->nfields; i++) {
		const struct uvf_wire_field *f = &d->fields[i];

		json_object_object_add(fields, f->name,
				       f->format == UVF_WIRE_FIELD_TEXT ? json_object_new_string(f->text)
									: json_object_new_uint64(f->value));
	}
	json_object_object_add(o, "fields", fields);
	if (d->error) {
		json_object_object_add(o, "errno", json_object_new_int(d->error));
		if (d->error_name)
			json_object_object_add(o, "error", json_object_new_string(d->error_name));
	}
	if (d->no_reply)
		json_object_object_add(o, "no_reply", json_object_new_boolean(1));
	if (d->problem[0])
		json_object_object_add(o, "bad", json_object_new_string(d->problem));
	json_object_object_add(o, "bytes", json_object_new_uint64(m->hdr.msg_size));
	json_object_object_add(o, "fds", json_object_new_uint64(m->nfds));
	if (t->hexdump && m->len) {
		size_t n = m->len < t->hexdump ? m->len : t->hexdump;
		char *hex = malloc(2 * n + 1);

		if (hex) {
			for (size_t i = 0; i < n; i++)
				snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)m->payload)[i]);
			json_object_object_add(o, "hex", json_object_new_string(hex));
			free(hex);
		}
	}
	fprintf(t->out, "%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
}

void proxy_trace_msg(struct proxy_trace *t, enum proxy_dir dir, const struct uvf_wire_msg *m, uint64_t now_ns)
{
	struct uvf_wire_desc d = {.argsz = sizeof(d)};
	double secs = (double)(now_ns - t->start_ns) / 1e9;

	if (!t->out)
		return;
	if (t->filtered && (m->hdr.command > UVF_CMD_MAX || !t->filter[m->hdr.command]))
		return;
	if (uvf_wire_describe(&d, &m->hdr, m->payload, m->len, m->nfds) < 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->json)
		trace_json(t, dir, m, secs, &d);
	else
		trace_text(t, dir, m, secs, &d);
	fflush(t->out);
	pthread_mutex_unlock(&t->lock);
}

void proxy_trace_note(struct proxy_trace *t, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (!t->out)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&t->lock);
	if (t->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "note", json_object_new_string(text));
		fprintf(t->out, "%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
		json_object_put(o);
	} else {
		fprintf(t->out, "# %s\n", text);
	}
	fflush(t->out);
	pthread_mutex_unlock(&t->lock);
}
