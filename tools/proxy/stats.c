/* SPDX-License-Identifier: MIT */
/* The summary at exit: per command, the requests, replies and error
 * replies seen, the bytes of both, and the time from a request to its
 * reply (median and 99th percentile). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proxy/proxy.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

#define IDS	65536u
#define UNKNOWN (UVF_CMD_MAX + 1)

int proxy_stats_init(struct proxy_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int d = 0; d < 2; d++) {
		s->pending_ns[d] = calloc(IDS, sizeof(uint64_t));
		if (!s->pending_ns[d]) {
			free(s->pending_ns[0]);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void proxy_stats_destroy(struct proxy_stats *s)
{
	for (size_t i = 0; i < sizeof(s->cmd) / sizeof(s->cmd[0]); i++)
		free(s->cmd[i].samples_ns);
	free(s->pending_ns[0]);
	free(s->pending_ns[1]);
	pthread_mutex_destroy(&s->lock);
}

void proxy_stats_reset_pending(struct proxy_stats *s)
{
	pthread_mutex_lock(&s->lock);
	memset(s->pending_ns[0], 0, IDS * sizeof(uint64_t));
	memset(s->pending_ns[1], 0, IDS * sizeof(uint64_t));
	pthread_mutex_unlock(&s->lock);
}

static void add_sample(struct proxy_command_stats *c, uint64_t ns)
{
	if (c->nsamples == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		uint64_t *grown;

		if (cap > PROXY_STATS_MAX_SAMPLES)
			return;
		grown = realloc(c->samples_ns, cap * sizeof(*grown));
		if (!grown)
			return; /* the summary goes without this one */
		c->samples_ns = grown;
		c->cap = cap;
	}
	c->samples_ns[c->nsamples++] = ns;
}

void proxy_stats_record(struct proxy_stats *s, enum proxy_dir dir, const struct uvf_msg_header *hdr, uint64_t now_ns)
{
	unsigned i = uvf_wire_command_name(hdr->command) ? hdr->command : UNKNOWN;
	struct proxy_command_stats *c = &s->cmd[i];
	bool reply = (hdr->flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_REPLY;

	pthread_mutex_lock(&s->lock);
	c->bytes += hdr->msg_size;
	if (!reply) {
		c->requests++;
		/* 0 marks "none in flight": a request at time 0 is taken as 1 ns */
		if (!(hdr->flags & UVF_MSG_FLAG_NO_REPLY))
			s->pending_ns[dir][hdr->msg_id] = now_ns ? now_ns : 1;
	} else {
		/* the request went the other way */
		uint64_t *start = &s->pending_ns[dir == PROXY_C2S ? PROXY_S2C : PROXY_C2S][hdr->msg_id];

		c->replies++;
		if (hdr->flags & UVF_MSG_FLAG_ERROR)
			c->errors++;
		if (*start && now_ns >= *start)
			add_sample(c, now_ns - *start);
		*start = 0;
	}
	pthread_mutex_unlock(&s->lock);
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-th quantile (0..1) of sorted samples, nearest rank. */
static uint64_t quantile(const uint64_t *v, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n + 0.999999);

	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* Microseconds as JSON, to a tenth (what the clock is good for here). */
static json_object *us_number(double us)
{
	char text[32];

	snprintf(text, sizeof(text), "%.1f", us);
	return json_object_new_double_s(us, text);
}

static const char *name_of(unsigned i)
{
	return i == UNKNOWN ? "unknown" : uvf_wire_command_name((uint16_t)i);
}

void proxy_stats_print(struct proxy_stats *s, FILE *out, bool json)
{
	json_object *all = json ? json_object_new_array() : NULL;

	pthread_mutex_lock(&s->lock);
	if (!json)
		fprintf(out, "%-24s %9s %9s %7s %12s %11s %11s\n", "command", "requests", "replies", "errors", "bytes",
			"median_us", "p99_us");
	for (unsigned i = 1; i <= UNKNOWN; i++) {
		struct proxy_command_stats *c = &s->cmd[i];
		double median = 0, p99 = 0;

		if (!c->requests && !c->replies)
			continue;
		if (c->nsamples) {
			qsort(c->samples_ns, c->nsamples, sizeof(uint64_t), compare_u64);
			median = (double)quantile(c->samples_ns, c->nsamples, 0.5) / 1000.0;
			p99 = (double)quantile(c->samples_ns, c->nsamples, 0.99) / 1000.0;
		}
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "command", json_object_new_string(name_of(i)));
			json_object_object_add(o, "requests", json_object_new_uint64(c->requests));
			json_object_object_add(o, "replies", json_object_new_uint64(c->replies));
			json_object_object_add(o, "errors", json_object_new_uint64(c->errors));
			json_object_object_add(o, "bytes", json_object_new_uint64(c->bytes));
			json_object_object_add(o, "latency_samples", json_object_new_uint64(c->nsamples));
			json_object_object_add(o, "median_us", us_number(median));
			json_object_object_add(o, "p99_us", us_number(p99));
			json_object_array_add(all, o);
		} else if (c->nsamples) {
			fprintf(out, "%-24s %9llu %9llu %7llu %12llu %11.1f %11.1f\n", name_of(i),
				(unsigned long long)c->requests, (unsigned long long)c->replies,
				(unsigned long long)c->errors, (unsigned long long)c->bytes, median, p99);
		} else {
			fprintf(out, "%-24s %9llu %9llu %7llu %12llu %11s %11s\n", name_of(i),
				(unsigned long long)c->requests, (unsigned long long)c->replies,
				(unsigned long long)c->errors, (unsigned long long)c->bytes, "-", "-");
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "summary", all);
		fprintf(out, "%s\n", json_object_to_json_string_ext(root, JSON_FLAGS));
		json_object_put(root);
	}
	fflush(out);
}
