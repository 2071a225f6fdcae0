/* SPDX-License-Identifier: MIT */
/*
 * DEVICE_SET_IRQS: valid wiring and disabling, and every inconsistency
 * between index, start, count, flags, data and fds.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

#define DN UVF_IRQ_SET_DATA_NONE
#define DB UVF_IRQ_SET_DATA_BOOL
#define DE UVF_IRQ_SET_DATA_EVENTFD
#define AM UVF_IRQ_SET_ACTION_MASK
#define AU UVF_IRQ_SET_ACTION_UNMASK
#define AT UVF_IRQ_SET_ACTION_TRIGGER

/* Index choices resolved at run time. */
#define IX_VEC	 1000u /* an index with vectors */
#define IX_EMPTY 1001u /* an index without vectors */
/* Count choices. */
#define C_ALL  0xfffff000u /* every vector of the index (bounded by max_msg_fds) */
#define C_OVER 0xfffff001u /* one more than the index has */

struct irq_variant {
	uint32_t index, flags, start, count;
	int nfds;	 /* fds attached; -1 = count */
	int data;	 /* DATA_BOOL bytes; -1 = count */
	int argsz_extra; /* added to the right argsz */
	int fd_kind;	 /* 0 eventfd, 1 pipe */
	int post;	 /* 2: sent with NO_REPLY */
};

static const struct irq_variant variants[] = {
	/* 0 */ {IX_VEC, DE | AT, 0, 1, -1, 0, 0, 0, 0},
	/* 1 */ {IX_VEC, DE | AT, 0, C_ALL, -1, 0, 0, 0, 0},
	/* 2 */ {IX_VEC, DE | AT, 0, 1, 0, 0, 0, 0, 0},
	/* 3 */ {IX_VEC, DN | AT, 0, 0, 0, 0, 0, 0, 0},
	/* 4 */ {5, DN | AT, 0, 0, 0, 0, 0, 0, 0},
	/* 5 */ {0xffffffffu, DN | AT, 0, 1, 0, 0, 0, 0, 0},
	/* 6 */ {IX_VEC, DN | AT, 0xffffffffu, 2, 0, 0, 0, 0, 0},
	/* 7 */ {IX_VEC, DN | AT, C_ALL, 1, 0, 0, 0, 0, 0},
	/* 8 */ {IX_VEC, DN | AT, 0, C_OVER, 0, 0, 0, 0, 0},
	/* 9 */ {IX_VEC, DE | AT, 0, 2, 1, 0, 0, 0, 0},
	/* 10 */ {IX_VEC, DE | AT, 0, 1, 2, 0, 0, 0, 0},
	/* 11 */ {IX_VEC, DE | AT, 0, 253, 253, 0, 0, 0, 0},
	/* 12 */ {IX_VEC, DB | AT, 0, 4, 0, 2, 0, 0, 0},
	/* 13 */ {IX_VEC, DB | AT, 0, 1, 0, 1, 80, 0, 0},
	/* 14 */ {IX_VEC, AT, 0, 1, 0, 0, 0, 0, 0},
	/* 15 */ {IX_VEC, DN | DB | AT, 0, 1, 0, 1, 0, 0, 0},
	/* 16 */ {IX_VEC, DN | AM | AU, 0, 1, 0, 0, 0, 0, 0},
	/* 17 */ {IX_VEC, DN, 0, 1, 0, 0, 0, 0, 0},
	/* 18 */ {IX_VEC, 0x40 | DN | AT, 0, 1, 0, 0, 0, 0, 0},
	/* 19 */ {UVF_PCI_MSI_IRQ, DN | AU, 0, 1, 0, 0, 0, 0, 0},
	/* 20 */ {IX_EMPTY, DE | AT, 0, 1, -1, 0, 0, 0, 0},
	/* 21 */ {IX_VEC, DN | AT, 0, 1, 1, 0, 0, 0, 0},
	/* 22 */ {IX_VEC, DE | AT, 0, 1, -1, 0, 0, 1, 0},
	/* 23 */ {UVF_PCI_ERR_IRQ, DN | AT, 0, 2, 0, 0, 0, 0, 0},
	/* 24 */ {UVF_PCI_ERR_IRQ, DN | AM, 0, 1, 0, 0, 0, 0, 0},
	/* 25 */ {IX_VEC, DN | AT, 0, 1, 0, 0, 0, 0, 0},
	/* 26 */ {IX_VEC, DE | AT, 0, 1, -1, 0, 0, 0, 2},
	/* 27 */ {IX_VEC, DN | AT, 5, 0, 0, 0, 0, 0, 0},
	/* 28 */ {IX_VEC, DN | AM, 0, 0, 0, 0, 0, 0, 0},
	/* 29 */ {UVF_PCI_INTX_IRQ, DN | AM, 0, 1, 0, 0, 0, 0, 0},
	/* 30 */ {UVF_PCI_INTX_IRQ, DE | AU, 0, 1, -1, 0, 0, 0, 0},
	/* 31 */ {IX_VEC, DB | AT, 0, 0xffffffffu, 0, 4, 0, 0, 0},
	/* 32 */ {IX_VEC, DE | AT, 0, 1, -1, 0, -12, 0, 0},
	/* 33 */ {UVF_PCI_INTX_IRQ, DN | AU, 0, 1, 0, 0, 0, 0, 0},
	/* 34 */ {UVF_PCI_REQ_IRQ, DE | AT, 0, 1, -1, 0, 0, 0, 0},
};

static const char *need_vectors(const struct server_facts *f)
{
	return irq_with_vectors(f) < 0 ? "no IRQ index with vectors" : NULL;
}

static const char *need_empty(const struct server_facts *f)
{
	for (int i = 0; i < FACT_IRQS; i++)
		if (!f->irq[i].count)
			return NULL;
	return "every IRQ index has vectors";
}

static const char *need_intx(const struct server_facts *f)
{
	return f->irq[UVF_PCI_INTX_IRQ].count ? NULL : "no INTx";
}

static const char *need_req(const struct server_facts *f)
{
	return f->irq[UVF_PCI_REQ_IRQ].count ? NULL : "no REQ vector";
}

static void run_set_irqs(struct ctx *x, const struct conform_case *k, struct result *r)
{
	const struct irq_variant *v = &variants[k->arg];
	const struct server_facts *f = x->facts;
	struct uvf_msg_irq_set s = {.flags = v->flags, .start = v->start, .count = v->count};
	int fds[253];
	int nfds = 0;
	uint8_t *buf;

	s.index = v->index;
	if (v->index == IX_VEC) {
		s.index = (uint32_t)irq_with_vectors(f);
	} else if (v->index == IX_EMPTY) {
		for (int i = FACT_IRQS - 1; i >= 0; i--)
			if (!f->irq[i].count)
				s.index = (uint32_t)i;
	}
	uint32_t vectors = s.index < FACT_IRQS ? f->irq[s.index].count : 0;
	uint32_t limit = f->max_msg_fds < 253 ? f->max_msg_fds : 253;
	if (s.count == C_ALL)
		s.count = vectors < limit ? vectors : limit;
	if (s.count == C_OVER)
		s.count = vectors + 1;
	if (s.start == C_ALL)
		s.start = vectors;
	nfds = v->nfds < 0 ? (int)s.count : v->nfds;
	if (nfds > 253)
		nfds = 253;
	size_t data = v->data < 0 ? s.count : (size_t)v->data;
	s.argsz = (uint32_t)((int)(sizeof(s) + data) + v->argsz_extra);
	buf = calloc(1, sizeof(s) + data);
	if (!buf)
		return;
	memcpy(buf, &s, sizeof(s));
	memset(buf + sizeof(s), 1, data);
	struct fd_probe probe = {-1, -1};
	for (int i = 0; i < nfds; i++) {
		if (v->fd_kind == 1 && i == 0 && fd_probe_open(&probe) == 0)
			fds[i] = probe.write_end;
		else
			fds[i] = make_eventfd();
	}
	size_t len = sizeof(s) + data;
	if (v->argsz_extra < 0)
		len = sizeof(s) + v->argsz_extra; /* a payload shorter than the struct */
	if (v->post == 2)
		xact_no_reply(x, r, UVF_CMD_DEVICE_SET_IRQS, buf, len, fds, nfds);
	else
		xact(x, r, UVF_CMD_DEVICE_SET_IRQS, 0, buf, len, fds, nfds, NULL);
	free(buf);
	r_did(r, "(index %u start %u count %u flags 0x%x, %d fds)", s.index, s.start, s.count, s.flags, nfds);

	if (k->arg == 19 && r->out == OUT_OK && vectors && !(f->irq[s.index].flags & UVF_IRQ_INFO_MASKABLE))
		r_decide(r, V_WARN, "UNMASK accepted on an index not reporting MASKABLE (4.7)");
	else if (k->arg == 19 && r->out == OUT_OK)
		r_decide(r, V_PASS, "maskable index");
	for (int i = 0; i < nfds; i++)
		if (!(v->fd_kind == 1 && i == 0))
			close(fds[i]);
	if (v->fd_kind == 1)
		fd_probe_close(&probe);
}

/* Wire one eventfd, fire it through DATA_BOOL TRIGGER, see it fire. */
static void run_loopback(struct ctx *x, const struct conform_case *k, struct result *r)
{
	int index = irq_with_vectors(x->facts);
	int efd = make_eventfd();
	struct uvf_msg_irq_set s = {.argsz = 20, .flags = DE | AT, .index = (uint32_t)index, .start = 0, .count = 1};
	struct result setup = {0};
	if (xact(x, &setup, UVF_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), &efd, 1, NULL) != OUT_OK) {
		r_decide(r, V_FAIL, "set-up: wiring an eventfd failed: %s", setup.did);
		close(efd);
		return;
	}
	uint8_t buf[21];
	s.argsz = 21;
	s.flags = (uint32_t)(k->arg ? DB : DN) | AT;
	memcpy(buf, &s, sizeof(s));
	buf[20] = 1;
	xact(x, r, UVF_CMD_DEVICE_SET_IRQS, 0, buf, k->arg ? 21 : 20, NULL, 0, NULL);
	if (r->out == OUT_OK) {
		struct pollfd p = {.fd = efd, .events = POLLIN};
		if (poll(&p, 1, 200) == 1)
			r_did(r, "the eventfd fired");
		else
			r_decide(r, V_WARN, "accepted, but the eventfd did not fire within 200 ms (4.8)");
	} else if (r->out == OUT_ERROR) {
		r_decide(r, V_WARN, "the loopback trigger is optional in practice, refused");
	}
	close(efd);
}

#define I(name_, sec, req, n, pass_, warn_, skip_)                                                                     \
	{                                                                                                              \
		"irq/" name_, sec, req, run_set_irqs, n, 0, pass_, warn_, 0, 0, skip_                                  \
	}

static const struct conform_case cases[] = {
	I("trigger-eventfd", "4.8", "one eventfd for vector 0 with DATA_EVENTFD | TRIGGER is accepted", 0, O_OK, 0,
	  need_vectors),
	I("trigger-eventfd-all", "4.8, 1.8", "an eventfd for every vector (up to max_msg_fds) is accepted", 1, O_OK, 0,
	  need_vectors),
	I("deassign", "4.8, 1.8", "DATA_EVENTFD with zero fds de-assigns: accepted", 2, O_OK, 0, need_vectors),
	I("disable", "4.8, 9 #11", "DATA_NONE | TRIGGER, start 0, count 0 disables the index", 3, O_OK, 0,
	  need_vectors),
	I("index-5", "4.8", "IRQ index 5 does not exist: refused", 4, O_REJECT, 0, NULL),
	I("index-max", "4.8", "IRQ index 0xffffffff: refused", 5, O_REJECT, 0, NULL),
	I("start-count-overflow", "4.8, 1.1", "start 0xffffffff + count 2 wraps: refused", 6, O_REJECT, 0,
	  need_vectors),
	I("start-past-vectors", "4.8", "start = number of vectors: refused", 7, O_REJECT, 0, need_vectors),
	I("count-past-vectors", "4.8", "count = vectors + 1: refused", 8, O_REJECT, 0, need_vectors),
	I("count-2-one-fd", "4.8, 1.8", "count 2 with one fd: inconsistent, refused", 9, O_REJECT, 0, need_vectors),
	I("count-1-two-fds", "4.8, 1.8", "count 1 with two fds: inconsistent, refused", 10, O_REJECT, 0, need_vectors),
	I("too-many-fds", "1.7, 1.8", "253 fds, above max_msg_fds: refused, all closed", 11, O_REJECT, 0, need_vectors),
	I("bool-short-payload", "4.8", "DATA_BOOL count 4 with 2 bytes of data: refused", 12, O_REJECT, 0,
	  need_vectors),
	I("bool-argsz-mismatch", "1.6, 4.8", "DATA_BOOL with argsz larger than the payload: refused", 13, O_REJECT,
	  O_OK, need_vectors),
	I("bool-count-max", "4.8", "DATA_BOOL count 0xffffffff with 4 bytes: refused", 31, O_REJECT, 0, need_vectors),
	I("no-data-flag", "4.8", "no DATA bit: refused (exactly one needed)", 14, O_REJECT, 0, need_vectors),
	I("two-data-flags", "4.8", "NONE and BOOL together: refused", 15, O_REJECT, 0, need_vectors),
	I("two-action-flags", "4.8", "MASK and UNMASK together: refused", 16, O_REJECT, 0, need_vectors),
	I("no-action-flag", "4.8", "no ACTION bit: refused", 17, O_REJECT, 0, need_vectors),
	I("unknown-flag", "4.8", "flag bit 0x40: refused", 18, O_REJECT, 0, need_vectors),
	I("unmask-msi", "4.7, 4.8", "UNMASK on MSI: refused unless MSI is MASKABLE", 19, O_REJECT | O_OK, 0, NULL),
	I("eventfd-on-empty-index", "4.8", "an eventfd for an index without vectors: refused", 20, O_REJECT, 0,
	  need_empty),
	I("fd-with-data-none", "1.8, 4.8", "an fd with DATA_NONE: unexpected fd, refused", 21, O_REJECT, O_OK,
	  need_vectors),
	I("pipe-as-eventfd", "4.8", "a pipe instead of an eventfd: refused or harmless", 22, O_REJECT, O_OK,
	  need_vectors),
	I("err-count-2", "5.3", "ERR has at most one vector: count 2 refused", 23, O_REJECT, 0, NULL),
	I("err-mask", "5.3", "ERR is TRIGGER only: MASK refused", 24, O_REJECT, O_OK, NULL),
	I("trigger-without-eventfd", "4.8", "DATA_NONE | TRIGGER with no eventfd attached: answered or refused", 25,
	  O_OK | O_ERROR, 0, need_vectors),
	I("req-eventfd", "5.3, 4.8", "an eventfd on REQ is accepted when REQ has a vector", 34, O_OK, 0, need_req),
	I("no-reply", "1.5", "SET_IRQS with NO_REPLY is executed and not answered", 26, O_SILENT, O_ERROR,
	  need_vectors),
	I("disable-start-5", "9 #11", "count 0 with start 5: refused", 27, O_REJECT, 0, need_vectors),
	I("count-0-mask", "9 #11", "count 0 with MASK (not TRIGGER): refused", 28, O_REJECT, 0, need_vectors),
	I("intx-mask", "5.3", "INTx MASK with DATA_NONE (QEMU sends it) is accepted", 29, O_OK, O_ERROR, need_intx),
	I("intx-unmask", "5.3", "INTx UNMASK with DATA_NONE (QEMU sends it) is accepted", 33, O_OK, O_ERROR, need_intx),
	I("intx-unmask-eventfd", "4.8, 5.3", "an INTx UNMASK eventfd (resample) is accepted", 30, O_OK, O_ERROR,
	  need_intx),
	I("payload-short", "1.11", "a SET_IRQS payload of 8 bytes: refused", 32, O_REJECT, 0, need_vectors),
	{"irq/loopback-none", "4.8", "DATA_NONE | TRIGGER fires the attached eventfd", run_loopback, 0, 0, O_OK, 0, 0,
	 0, need_vectors},
	{"irq/loopback-bool", "4.8", "DATA_BOOL | TRIGGER with data 1 fires the attached eventfd", run_loopback, 1, 0,
	 O_OK, 0, 0, 0, need_vectors},
};

const struct case_table conform_irq_table = {"irq", cases, sizeof(cases) / sizeof(cases[0])};
