/* SPDX-License-Identifier: MIT */
/*
 * What the proxy keeps of a session to replay it to a restarted server
 * (state.c), and the ioeventfd relays that keep the client's old
 * ioeventfds working after a restart (relay.c). Only in reconnect mode.
 *
 * Kept, from the requests the server accepted: the VERSION sent, every
 * live DMA mapping (with a duplicate of its fd), the eventfd of every IRQ
 * vector, the bytes the client wrote to config space, the values it wrote
 * to BAR dwords (for the MSI-X table entries among them), and the ioeventfds the server handed out (duplicates
 * of the fds the client holds).
 */
#ifndef UVF_PROXY_STATE_H
#define UVF_PROXY_STATE_H

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/wire.h"

/* A client message kept by the proxy: a request in flight (to re-send if
 * the server goes before answering) or one held while the server is away.
 * Owns its fds. Counted references: the list or table that holds it has
 * one, and the thread sending it one more while it sends (the reply may be
 * handled before the send returns). */
struct proxy_msg {
	struct proxy_msg *next;
	int refs;
	uint64_t seq;	   /* arrival order */
	uint64_t since_ns; /* arrival time */
	struct uvf_msg_header hdr;
	size_t len, nfds;
	int fds[UVF_WIRE_MAX_FDS];
	uint8_t payload[];
};

/* A duplicate of fd (close-on-exec), or -1. */
static inline int fcntl_dupfd(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* A copy of m (fds duplicated) with one reference, or NULL. */
struct proxy_msg *proxy_msg_copy(const struct uvf_wire_msg *m, uint64_t seq, uint64_t now_ns);
/* Take one more reference; drop one (the last frees m; NULL is allowed). */
void proxy_msg_get(struct proxy_msg *m);
void proxy_msg_put(struct proxy_msg *m);

struct proxy_dma_map {
	struct proxy_dma_map *next;
	struct uvf_msg_dma_map map;
	int fd; /* -1: memory reached by message */
};

#define PROXY_MAX_VECTORS 2048u

/* One ioeventfd the server handed out: fd is our duplicate of the one the
 * client holds; relay_to is the restarted server's fd for it (or -1). */
struct proxy_io_fd {
	struct uvf_msg_io_fd_entry entry;
	int fd;
	int relay_to;
};

struct proxy_io_region {
	bool asked; /* the client fetched this region's ioeventfds */
	struct proxy_io_fd *fds;
	size_t nfds;
};

#define PROXY_MAX_BAR_DWORDS 8192u

struct proxy_bar_dword {
	uint64_t key; /* region << 56 | dword offset; 0: free slot */
	uint32_t value;
	uint8_t written; /* which of its bytes the client wrote */
};

struct proxy_state {
	uint8_t *version; /* the VERSION payload sent, NULL before */
	size_t version_len;
	struct proxy_dma_map *dma;
	size_t ndma;
	int *irq_fds[UVF_PCI_NUM_IRQS]; /* per vector, -1 when none; NULL before any */
	/* the config space bytes the client wrote */
	uint8_t config_written[UVF_PCIE_CONFIG_SIZE];
	uint8_t config_value[UVF_PCIE_CONFIG_SIZE];
	/* the last value the client wrote to each BAR dword, of which the
	 * replay writes again those in the restarted server's MSI-X table (its
	 * place is read from that server): an open-addressed table of at most
	 * PROXY_MAX_BAR_DWORDS dwords; beyond, new dwords are not kept */
	struct proxy_bar_dword *bar_dwords;
	size_t nbar_dwords;
	bool bar_dwords_full;
	struct proxy_io_region io[UVF_PCI_NUM_REGIONS];
	/* ioeventfd relays */
	int relay_epoll, relay_stop;
	pthread_t relay_thread;
	bool relay_running;
	pthread_mutex_t relay_lock;
};

int proxy_state_init(struct proxy_state *st);
void proxy_state_destroy(struct proxy_state *st);

/* A request went to the server with NO_REPLY: count it done. */
void proxy_state_posted(struct proxy_state *st, const struct proxy_msg *req);

/* The server answered req with reply (an error reply changes nothing). */
void proxy_state_reply(struct proxy_state *st, const struct proxy_msg *req, const struct uvf_wire_msg *reply);

/* Requests of the proxy's own on a connection no client request is in
 * flight on (ids from 0xf000). */
struct proxy_caller {
	struct uvf_wire *w;
	int timeout_ms;
	uint16_t next_id;
	char *why;
	size_t why_size;
	/* the last reply, valid until the next call */
	struct uvf_wire_msg reply;
};

/* Send one request and wait for its reply (in r->reply): 0, the error
 * reply's -errno, or -ECONNRESET/-ETIMEDOUT/-EPROTO (and others of the
 * connection) with the reason in r->why. Requests of the server that come
 * meanwhile are refused with EAGAIN. */
int proxy_call(struct proxy_caller *r, uint16_t command, const void *payload, size_t len, const int *fds, size_t nfds);

/* Called by the replay after the IRQs (phase 0) and after config space
 * and the MSI-X table (phase 1): 0, or -errno to end the replay. */
typedef int (*proxy_replay_hook)(struct proxy_caller *r, int phase, void *arg);

/*
 * Replay the session to the server at the other end of w (a new
 * connection), waiting up to timeout_ms per reply: 0, or -errno with the
 * reason in why. *server_xfer gets the restarted server's
 * max_data_xfer_size. In order: VERSION, DMA mappings, IRQ eventfds,
 * hook phase 0, config space, the MSI-X table, hook phase 1, ioeventfds.
 */
int proxy_state_replay(struct proxy_state *st, struct uvf_wire *w, int timeout_ms, uint32_t *server_xfer, char *why,
		       size_t why_size, proxy_replay_hook hook, void *hook_arg);

/* relay.c: (re)start forwarding each kept ioeventfd's signals to its
 * relay_to fd; 0 or -errno. */
int proxy_relay_update(struct proxy_state *st);
void proxy_relay_stop(struct proxy_state *st);

#endif /* UVF_PROXY_STATE_H */
