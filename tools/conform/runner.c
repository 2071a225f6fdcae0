/* SPDX-License-Identifier: MIT */
/*
 * Runs the catalogue: for each case a fresh connection (handshaked unless
 * the case wants it raw), the case, a verdict from its outcome masks, then
 * the check that the server still serves a fresh client. Prints text or
 * JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conform.h"

static const struct case_table *const tables[] = {
	&conform_handshake_table, &conform_framing_table, &conform_info_table, &conform_irq_table,
	&conform_region_table,	  &conform_dma_table,	  &conform_misc_table, &conform_fds_table,
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_PASS:
		return "PASS";
	case V_FAIL:
		return "FAIL";
	case V_WARN:
		return "WARN";
	case V_SKIP:
		return "SKIP";
	case V_NONE:
		break;
	}
	return "?";
}

static bool selected(const struct conform_opts *o, const struct conform_case *k)
{
	if (!o->only)
		return true;
	/* comma-separated globs on the name, or plain substrings */
	const char *p = o->only;
	while (*p) {
		char one[128];
		size_t n = strcspn(p, ",");
		if (n && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = 0;
			if (fnmatch(one, k->name, 0) == 0 || strstr(k->name, one))
				return true;
		}
		p += n + (p[n] == ',');
	}
	return false;
}

size_t conform_case_count(void)
{
	size_t n = 0;
	for (size_t t = 0; t < NTABLES; t++)
		n += tables[t]->count;
	return n;
}

void conform_list(const struct conform_opts *o)
{
	for (size_t t = 0; t < NTABLES; t++) {
		for (size_t i = 0; i < tables[t]->count; i++) {
			const struct conform_case *k = &tables[t]->cases[i];
			if (selected(o, k))
				printf("%-44s  docs/protocol.md %-9s %s\n", k->name, k->section, k->requirement);
		}
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f) /* keeps the output valid UTF-8 */
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static enum verdict decide(const struct conform_case *k, struct result *r)
{
	if (r->verdict != V_NONE)
		return r->verdict;
	if (r->out == OUT_NONE || r->out == OUT_BAD_REPLY)
		return V_FAIL;
	unsigned bit = 1u << r->out;
	if (k->pass & bit) {
		if (r->out == OUT_ERROR && k->pass_errno && r->err != k->pass_errno) {
			snprintf(r->why, sizeof(r->why), "rejected, but with %s where %s is named", errno_name(r->err),
				 errno_name(k->pass_errno));
			return V_WARN;
		}
		return V_PASS;
	}
	if (k->warn & bit) {
		snprintf(r->why, sizeof(r->why), "%s: acceptable only under a loose reading of docs/protocol.md %s",
			 outcome_name(r->out), k->section);
		return V_WARN;
	}
	if (!r->why[0])
		snprintf(r->why, sizeof(r->why), "%s is not an acceptable answer", outcome_name(r->out));
	return V_FAIL;
}

static void run_case(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const struct conform_opts *o = x->opts;

	int ret = conn_connect(&x->conn, o->socket_path, o->timeout_ms > 3000 ? o->timeout_ms : 3000);
	if (ret < 0) {
		r_decide(r, V_FAIL, "cannot connect: %s", strerror(-ret));
		return;
	}
	if (!(k->flags & CASE_RAW)) {
		ret = conn_handshake(&x->conn, o->timeout_ms, NULL);
		if (ret < 0) {
			r_did(r, "no valid answer to the set-up VERSION");
			r_decide(r, V_FAIL, "set-up VERSION failed: %s", conn_error_text(ret));
			conn_close(&x->conn);
			return;
		}
	}
	k->run(x, k, r);
	conn_close(&x->conn);
}

int conform_run(const struct conform_opts *o)
{
	struct server_facts facts;
	char why[200];
	int npass = 0, nfail = 0, nwarn = 0, nskip = 0;
	bool first = true, gone = false;
	int status = 0;

	if (server_start(o) < 0)
		return 2;
	if (learn_facts(o, &facts, why, sizeof(why)) < 0) {
		fprintf(stderr, "uvf-conform: %s\n", why);
		server_stop();
		return 2;
	}
	if (o->one_shot && server_recovered(o, why, sizeof(why)) != OUT_NONE)
		fprintf(stderr, "uvf-conform: after the first session: %s\n", why);
	if (o->json) {
		printf("{\"socket\":");
		json_string(o->socket_path);
		printf(",\"version\":\"%u.%u\",\"capabilities\":", facts.major, facts.minor);
		json_string(facts.version_json);
		printf(",\"cases\":[\n");
	} else {
		printf("uvf-conform: server speaks %u.%u, %s; %u regions, %u IRQ indexes, flags 0x%x\n", facts.major,
		       facts.minor, facts.version_json, facts.info.num_regions, facts.info.num_irqs, facts.info.flags);
	}
	fflush(stdout);

	for (size_t t = 0; t < NTABLES; t++) {
		for (size_t i = 0; i < tables[t]->count; i++) {
			const struct conform_case *k = &tables[t]->cases[i];
			struct result r = {.verdict = V_NONE};
			struct ctx x = {.opts = o, .facts = &facts, .conn = {.fd = -1}};
			const char *skip;
			bool ran = false;
			int64_t start = conform_now_ms();

			if (!selected(o, k))
				continue;
			if (k->skip_if && (skip = k->skip_if(&facts))) {
				r_decide(&r, V_SKIP, "%s", skip);
			} else {
				if (o->one_shot && server_start(o) < 0) {
					fprintf(stderr, "uvf-conform: cannot start the server for %s; stopping\n",
						k->name);
					status = 2;
					goto done;
				}
				run_case(&x, k, &r);
				ran = true;
			}
			enum verdict v = decide(k, &r);
			if (ran) {
				enum outcome rec = server_recovered(o, why, sizeof(why));
				if (rec != OUT_NONE) {
					/* a case that failed by itself keeps its own reason first */
					size_t keep = v == V_FAIL && r.why[0] ? strlen(r.why) : 0;
					v = V_FAIL;
					if (rec == OUT_CRASH)
						r.out = OUT_CRASH;
					snprintf(r.why + keep, sizeof(r.why) - keep, "%s%s: %s", keep ? "; " : "",
						 rec == OUT_CRASH ? "crash" : "server did not recover", why);
					/* nobody will restart it: the remaining cases cannot run */
					if (rec == OUT_CRASH && !o->server_cmd)
						gone = true;
				}
			}
			switch (v) {
			case V_PASS:
				npass++;
				break;
			case V_FAIL:
				nfail++;
				break;
			case V_WARN:
				nwarn++;
				break;
			default:
				nskip++;
				break;
			}
			const char *what = r.did[0] ? r.did : outcome_name(r.out);
			if (o->json) {
				printf("%s{\"name\":", first ? "" : ",\n");
				json_string(k->name);
				printf(",\"group\":");
				json_string(tables[t]->group);
				printf(",\"section\":");
				json_string(k->section);
				printf(",\"requirement\":");
				json_string(k->requirement);
				printf(",\"outcome\":\"%s\",\"errno\":", outcome_name(r.out));
				if (r.out == OUT_ERROR)
					json_string(errno_name(r.err));
				else
					printf("null");
				printf(",\"server\":");
				json_string(what);
				printf(",\"verdict\":\"%s\",\"why\":", verdict_name(v));
				json_string(r.why);
				printf(",\"ms\":%" PRId64 "}", conform_now_ms() - start);
				first = false;
			} else {
				printf("%s  %s  (docs/protocol.md %s)\n", verdict_name(v), k->name, k->section);
				printf("      requires: %s\n", k->requirement);
				if (v != V_SKIP)
					printf("      server:   %s\n", what);
				if (o->verbose)
					printf("      time:     %" PRId64 " ms\n", conform_now_ms() - start);
				if (r.why[0] && v != V_PASS)
					printf("      why:      %s\n", r.why);
				else if (r.why[0] && o->verbose)
					printf("      note:     %s\n", r.why);
			}
			fflush(stdout);
			if (gone) {
				fprintf(stderr,
					"uvf-conform: the server is gone after %s; stopping (use --server-cmd "
					"to have it restarted)\n",
					k->name);
				status = 1;
				goto done;
			}
		}
	}
done:
	if (o->json)
		printf("\n],\"passed\":%d,\"failed\":%d,\"warnings\":%d,\"skipped\":%d}\n", npass, nfail, nwarn, nskip);
	server_stop();
	/* the summary goes to stdout in text mode, to stderr with --json */
	fprintf(o->json ? stderr : stdout, "uvf-conform: %d passed, %d failed, %d warnings, %d skipped\n", npass, nfail,
		nwarn, nskip);
	return status ? status : nfail ? 1 : 0;
}
