/* SPDX-License-Identifier: MIT */
/*
 * uvf-conform: a conformance and robustness checker for any vfio-user
 * server. It speaks the protocol with raw sockets (tools/conform/wire.c),
 * so that it can send exactly the malformed messages a hostile client
 * would, and it depends only on the wire format in <uvf/proto.h>.
 *
 * The catalogue is a set of tables (cases_*.c). A case names what
 * docs/protocol.md requires, builds its messages, and reports what the server
 * did as an outcome; the runner (runner.c) turns the outcome into a verdict
 * with the case's masks and then checks that the server still serves a
 * fresh client.
 */
#ifndef UVF_CONFORM_H
#define UVF_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvf/proto.h"

/* What the server did in answer to the message that matters in a case. */
enum outcome {
	OUT_NONE = 0,  /* the case never got as far as asking */
	OUT_OK,	       /* a well-formed success reply */
	OUT_ERROR,     /* a well-formed error reply; result.err holds the errno */
	OUT_CLOSED,    /* the server closed the connection */
	OUT_SILENT,    /* no reply, yet the server answered a later command */
	OUT_HANG,      /* no reply and no answer to anything else either */
	OUT_BAD_REPLY, /* something came back that is not a valid reply */
	OUT_CRASH,     /* the connection closed and the server is gone */
};
#define O_OK	 (1u << OUT_OK)
#define O_ERROR	 (1u << OUT_ERROR)
#define O_CLOSED (1u << OUT_CLOSED)
#define O_SILENT (1u << OUT_SILENT)
#define O_HANG	 (1u << OUT_HANG)
/* The usual answer to a bad command: an error reply, or closing. */
#define O_REJECT (O_ERROR | O_CLOSED)

enum verdict {
	V_PASS = 0,
	V_FAIL,
	V_WARN,
	V_SKIP,
	V_NONE, /* not decided by the case: the runner applies the masks */
};

#define RESULT_TEXT 320

struct result {
	enum outcome out;
	int err;	       /* errno of an error reply (positive) */
	enum verdict verdict;  /* V_NONE unless the case decided itself */
	char did[RESULT_TEXT]; /* what the server did, beyond the outcome */
	char why[RESULT_TEXT]; /* why the verdict, when the case decided it */
};

/* Facts learned from one valid session before the catalogue runs. */
#define FACT_REGIONS 9
#define FACT_IRQS    5
struct server_facts {
	uint16_t major, minor;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool write_multiple;
	struct uvf_msg_device_info info;
	struct {
		uint32_t flags;
		uint64_t size;
	} region[FACT_REGIONS];
	struct {
		uint32_t flags;
		uint32_t count;
	} irq[FACT_IRQS];
	bool migration; /* DEVICE_FEATURE GET of MIGRATION succeeded */
	char version_json[512];
};

struct conform_opts {
	const char *socket_path;
	int timeout_ms; /* how long to wait for a reply that is due */
	int quiet_ms;	/* how long to wait when no reply is expected */
	int verbose;
	bool json;
	const char *only;	/* fnmatch pattern on case names, or NULL */
	const char *server_cmd; /* shell command starting the server, or NULL */
	bool one_shot;		/* the server serves one session then exits */
};

/* A message received from the server. */
#define MSG_MAX_FDS 32
struct msg {
	struct uvf_msg_header hdr;
	uint8_t *payload; /* msg_size - 16 bytes, owned; NULL when empty */
	size_t len;
	int fds[MSG_MAX_FDS]; /* received fds, owned (closed by msg_free) */
	int nfds;
};

/* One client connection. */
struct conn {
	int fd;
	uint16_t next_id;
};

/* What a case gets: its connection, the options and the facts. */
struct ctx {
	struct conn conn;
	const struct conform_opts *opts;
	const struct server_facts *facts;
};

struct conform_case;
typedef void (*case_fn)(struct ctx *x, const struct conform_case *k, struct result *r);

/* Case flags. */
#define CASE_RAW 0x1u /* the connection is not handshaked before run() */

struct conform_case {
	const char *name;	 /* "group/name" */
	const char *section;	 /* docs/protocol.md section(s), e.g. "1.11" */
	const char *requirement; /* what the protocol requires */
	case_fn run;
	uint64_t arg, arg2; /* case parameters for shared run functions */
	unsigned pass;	    /* outcome masks that pass */
	unsigned warn;	    /* outcome masks that warn */
	int pass_errno;	    /* if set, other errnos in an error reply warn */
	unsigned flags;
	/* NULL, or returns why the case does not apply to this server (SKIP) */
	const char *(*skip_if)(const struct server_facts *f);
};

/* The catalogue, one table per group. */
struct case_table {
	const char *group;
	const struct conform_case *cases;
	size_t count;
};
extern const struct case_table conform_handshake_table;
extern const struct case_table conform_framing_table;
extern const struct case_table conform_info_table;
extern const struct case_table conform_irq_table;
extern const struct case_table conform_region_table;
extern const struct case_table conform_dma_table;
extern const struct case_table conform_misc_table;
extern const struct case_table conform_fds_table;

/* ---- wire.c: raw protocol I/O ---- */

/* Connects, retrying ECONNREFUSED/ENOENT (a server that is still starting
 * or still busy with its previous client) until timeout_ms. */
/* CLOCK_MONOTONIC in milliseconds (deadlines, case durations). */
int64_t conform_now_ms(void);

int conn_connect(struct conn *c, const char *path, int timeout_ms);
void conn_close(struct conn *c);
uint16_t conn_id(struct conn *c);
/* Sends bytes in one sendmsg() carrying the fds (then loops for the rest). */
int conn_send_raw(struct conn *c, const void *buf, size_t len, const int *fds, int nfds);
/* Builds a header (msg_size = 16 + len) and sends header and payload. */
int conn_send(struct conn *c, uint16_t id, uint16_t cmd, uint32_t flags, const void *payload, size_t len,
	      const int *fds, int nfds);
/* Receives one message: 1 got one, 0 timed out, -EPIPE closed, -EBADMSG
 * cut short (the rest did not come in time), -EMSGSIZE a msg_size below 16
 * or above 64 MiB, other <0 errors. Only on 1 does *m hold anything (payload and fds, released by
 * msg_free()); on any other return it is empty, whatever part of a message
 * had arrived already freed and closed. */
int conn_recv(struct conn *c, struct msg *m, int timeout_ms);
/* Frees the payload and closes the fds; safe to call again. */
void msg_free(struct msg *m);
/* What a negative return of conn_recv() or conn_handshake() means, in words. */
const char *conn_error_text(int err);
/* True when the server closed the connection within timeout_ms. */
bool conn_wait_closed(struct conn *c, int timeout_ms);

/* The standard VERSION payload of the tool and a valid session. */
int conn_handshake(struct conn *c, int timeout_ms, struct msg *reply);
size_t version_payload(uint8_t *buf, size_t size, uint16_t major, uint16_t minor, const char *json, bool nul);

const char *errno_name(int err);
const char *command_name(unsigned cmd);
const char *outcome_name(enum outcome o);

/* fds to send */
int make_memfd(size_t size);
int make_eventfd(void);
/* A pipe whose write end is sent: when the server closes it, the read end
 * sees end-of-file, which shows whether a received fd was released. */
struct fd_probe {
	int read_end;
	int write_end; /* send this; then fd_probe_sent() closes our copy */
};
int fd_probe_open(struct fd_probe *p);
void fd_probe_sent(struct fd_probe *p);
bool fd_probe_released(struct fd_probe *p, int timeout_ms);
void fd_probe_close(struct fd_probe *p);

/* ---- helpers for cases (cases_common.c) ---- */

void r_did(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void r_decide(struct result *r, enum verdict v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends a command and classifies the answer. The OK reply is kept in
 * *reply when reply is not NULL (msg_free it). */
enum outcome xact(struct ctx *x, struct result *r, uint16_t cmd, uint32_t flags, const void *p, size_t len,
		  const int *fds, int nfds, struct msg *reply);
/* Waits for the answer to command id/cmd already sent. */
enum outcome await_reply(struct ctx *x, struct result *r, uint16_t id, uint16_t cmd, int wait_ms, struct msg *reply);
/* Sends cmd with NO_REPLY followed by a DEVICE_GET_INFO fence: SILENT when
 * the fence is answered first, OK/ERROR when the server answered anyway. */
enum outcome xact_no_reply(struct ctx *x, struct result *r, uint16_t cmd, const void *p, size_t len, const int *fds,
			   int nfds);
/* Waits for the answer without a fence: SILENT on timeout (used where a
 * fence would be read as part of a broken message). */
enum outcome await_no_fence(struct ctx *x, struct result *r, uint16_t id, uint16_t cmd, int wait_ms);
/* After a silence: tells SILENT (a fence is answered) from HANG. */
enum outcome fence(struct ctx *x, struct result *r);

/* Valid set-up steps; 0 or negative errno (the case fails on error). */
int do_region_read(struct ctx *x, uint32_t region, uint64_t offset, uint32_t count, void *data);
int do_region_write(struct ctx *x, uint32_t region, uint64_t offset, uint32_t count, const void *data);
int do_dma_map(struct ctx *x, uint64_t address, uint64_t size, int fd, uint64_t offset);
int do_dma_unmap(struct ctx *x, uint64_t address, uint64_t size, uint32_t flags);

/* The first BAR (index 0..5) with READ and size > 0, or -1. */
int first_bar(const struct server_facts *f);
/* An IRQ index with vectors (preferring MSI-X, MSI, INTx), or -1. */
int irq_with_vectors(const struct server_facts *f);
/* Page size used for DMA cases (smallest advertised, at least 4096). */
uint64_t dma_page(const struct server_facts *f);
/* Base address for DMA cases: far from anything a real client would use. */
#define DMA_BASE 0x7f0000000000ull

/* ---- server.c: the server under test ---- */
int server_start(const struct conform_opts *o);
/* After a case: the server serves a fresh client (or, one-shot, ended
 * cleanly). 0 ok; otherwise fills why and returns OUT_CRASH/OUT_HANG. */
enum outcome server_recovered(const struct conform_opts *o, char *why, size_t size);
void server_stop(void);
/* Stops the started server when the tool is killed. */
void server_cleanup_on_signals(void);
int learn_facts(const struct conform_opts *o, struct server_facts *f, char *why, size_t size);

/* ---- runner.c ---- */
void conform_list(const struct conform_opts *o);
/* 0 no FAIL, 1 some FAIL, 2 the server could not be reached */
int conform_run(const struct conform_opts *o);
size_t conform_case_count(void);

#endif /* UVF_CONFORM_H */
