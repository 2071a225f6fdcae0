/* SPDX-License-Identifier: MIT */
/*
 * Client internals shared by the files of src/client/ (not installed).
 *
 * connection.c  the engine: socket, VERSION, message ids, waiting for a
 *               reply while serving the server's commands
 * device.c      discovery (device/region/IRQ info), region access, reset
 * dma.c         DMA registrations and serving DMA_READ/DMA_WRITE
 * irq.c         DEVICE_SET_IRQS
 */
#ifndef UVF_CLIENT_INTERNAL_H
#define UVF_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "log.h"
#include "proto/msg.h"
#include "transport/transport.h"
#include "uvf/client.h"

/* Upper bounds on what a server may report, to bound our allocations. */
#define UVF_CLIENT_MAX_REGIONS 1024u
#define UVF_CLIENT_MAX_IRQS    64u

/* Largest reply payload we ask for in DEVICE_GET_REGION_INFO. */
#define UVF_CLIENT_REGION_INFO_MAX_ARGSZ 65536u

/* Ids of requests that timed out, remembered so that their late replies are
 * recognised (and the ids not reused while they may still come). */
#define UVF_CLIENT_STALE_IDS 32u

/* One range of our memory the server was told about with DMA_MAP. */
struct uvf_client_dma_range {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;	/* UVF_DMA_MAP_FLAG_READ|WRITE */
	uint8_t *ptr;	/* where the range lives in this process */
	bool allocated; /* mmap'ed by uvf_client_dma_alloc: munmap when forgotten */
	bool pending;	/* DMA_MAP sent, no answer yet: reserved, already served */
	bool unmapping; /* DMA_UNMAP sent, no answer yet: still served */
};

/* An mmap fd received with a region info reply, owned by the client. */
struct uvf_client_region_fd {
	uint32_t index;
	int fd;
};

struct uvf_client_stale {
	uint16_t id;
	uint16_t command;
};

/*
 * Bytes read from a socket (one or more messages, the last one possibly
 * partial) and their fds, framed by transport/rx_buffer.c. A buffer is also
 * how a reply travels from the thread that read it to the thread that waits
 * for it (the message then starts at rx.data[0] and rx.fds are its own).
 */
struct uvf_client_buf {
	struct uvf_rx_buffer rx;
	struct uvf_msg_header hdr;	/* a held reply: its header */
	const struct uvf_client *owner; /* a held reply: its client */
	struct uvf_client_buf *next;	/* free list, or the thread's held replies */
};

struct uvf_client_waiter;

struct uvf_client {
	int sock;	/* blocking: one recvmsg waits for a reply */
	int twin;	/* -1, or the twin socket for the server's commands (docs/protocol.md 1.10) */
	int broken;	/* 0, or the error that made the connection unusable (atomic) */
	int timeout_ms; /* per reply, -1 = forever */
	uint32_t our_max_xfer;
	uint32_t our_max_fds;
	uint32_t rx_limit;	/* largest message we accept */
	uint32_t poll_us;	/* busy-poll this long before sleeping in recvmsg */
	bool posted_writes_off; /* opts no_posted_writes: for fastpath.c */
	struct uvf_logger log;

	/* read-only after connecting */
	struct uvf_server_caps caps;
	uint64_t min_pgsize; /* smallest page size in caps.pgsizes */

	/*
	 * Lock order: dma_lock, then send_lock, then lock. Nobody waits for a
	 * reply while holding any of them.
	 */
	pthread_mutex_t lock; /* everything below up to dma_lock */
	uint16_t next_id;
	struct uvf_client_stale stale[UVF_CLIENT_STALE_IDS];
	size_t nstale;
	struct uvf_client_waiter *waiters; /* requests sent and not answered */
	bool reading;			   /* one thread holds the reader role */
	struct uvf_client_buf *rx;	   /* main socket bytes (the reader's) */
	struct uvf_client_buf *twin_rx;	   /* twin socket bytes (the reader's) */
	struct uvf_client_buf *free_bufs;
	size_t nfree_bufs;
	bool have_device_info;
	struct uvf_msg_device_info device_info;
	struct uvf_client_region_fd *region_fds;
	size_t nregion_fds;

	pthread_mutex_t send_lock; /* one whole message at a time on the main socket */

	struct uvf_client_fast *fast; /* fastpath.c */

	/* sorted by iova, never overlapping; serving reads it under a read
	 * lock, so memory is never unmapped under a copy */
	pthread_rwlock_t dma_lock;
	struct uvf_client_dma_range *dma;
	size_t ndma;
	/* ranges registered without an fd (atomic): only those are reached
	 * by server DMA_READ/WRITE, so without any the reader need not watch
	 * the twin socket */
	unsigned msg_dma_ranges;
	size_t dma_cap;
};

/* A reply held by the calling thread until uvf__client_reply_done(). */
struct uvf_client_reply {
	const struct uvf_msg_header *hdr;
	const uint8_t *payload;
	size_t len;
	size_t nfds;
	int *fds; /* nfds fds, closed by uvf__client_reply_done() unless set to -1 */
};

/* A server command, as the reader hands it to uvf__client_serve_command. */
struct uvf_client_msg {
	const struct uvf_msg_header *hdr;
	const uint8_t *body; /* hdr->msg_size - 16 bytes */
	size_t len;
	size_t nfds; /* fds that came with it (closed by the engine) */
	bool fds_overflow;
	bool on_twin; /* arrived on (and is answered on) the twin socket */
};

/* 0 when the connection can be used, else -ENOTCONN. */
int uvf__client_check(const struct uvf_client *client);

/*
 * Send a command made of the payload parts iov[0..iovcnt) (iovcnt <= 7; the
 * header is added here) with nfds fds, and wait for its reply, serving the
 * server's commands meanwhile. Thread-safe. On 0 the reply is held by the
 * calling thread: it reads it through *reply and then calls
 * uvf__client_reply_done(). On an error reply returns the server's -errno
 * (nothing held); -ETIMEDOUT when no reply came in time (a late one will be
 * dropped); a transport error marks the connection broken.
 */
int uvf__client_request(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt,
			const int *fds, size_t nfds, struct uvf_client_reply *reply);

/* Release the reply the calling thread holds from uvf__client_request
 * (closes its fds unless taken). */
void uvf__client_reply_done(struct uvf_client *client);

/* Take up to max of the held reply's fds (they become the caller's);
 * returns how many. */
size_t uvf__client_reply_take_fds(struct uvf_client_reply *reply, int *out, size_t max);

/* Request with a single payload buffer whose reply payload must be empty or
 * exactly expect_len bytes (checked, then discarded). */
int uvf__client_simple(struct uvf_client *client, uint16_t command, const void *payload, size_t len, const int *fds,
		       size_t nfds, size_t expect_len);

/* Send one message (header included in iov[0]) on the main socket, taking
 * the send lock; a failure marks the connection broken. */
int uvf__client_send(struct uvf_client *client, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds);

/* Send an answer to a server command on the socket it came from. */
int uvf__client_answer(struct uvf_client *client, bool on_twin, const struct iovec *iov, int iovcnt);

/* Answer (or refuse) a server command (DMA_READ/DMA_WRITE). Returns 0, or
 * a negative errno when answering broke the connection. */
int uvf__client_serve_command(struct uvf_client *client, const struct uvf_client_msg *msg);

/* Record the error that ended the connection (once), wake every waiting
 * thread with it, and return it. */
int uvf__client_mark_broken(struct uvf_client *client, int err, const char *why);

/* The device info cache: copy it out under the lock (false when not known). */
bool uvf__client_cached_device_info(struct uvf_client *client, struct uvf_msg_device_info *out);

/* Fetch DEVICE_GET_INFO into the cache unless it is there already. */
int uvf__client_ensure_device_info(struct uvf_client *client);

/* Forget every DMA registration, releasing what uvf_client_dma_alloc mapped. */
void uvf__client_dma_forget_all(struct uvf_client *client);

/*
 * fastpath.c: mapped regions, ioeventfds, posted and corked writes.
 * Its state hangs off client->fast (NULL until first used).
 *
 * Contract with the engine (connection.c):
 * - the engine calls uvf__client_fast_free() from uvf_client_close();
 * - before sending any request that will be answered, the engine calls
 *   uvf__client_fast_flush_locked() with the send lock held, so that corked
 *   posted writes go out first (it sends them with uvf__client_send_locked);
 * - posted writes are sent with uvf__client_post().
 */
struct uvf_client_fast;
void uvf__client_fast_free(struct uvf_client *client);
int uvf__client_fast_flush_locked(struct uvf_client *client);

/* Engine: send a command with NO_REPLY set (payload iov[0..iovcnt), header
 * added here), ordered with every other send; thread-safe. */
int uvf__client_post(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt);

/* Engine: take/release the send lock, and send one whole message (header
 * included in iov[0]) while holding it; a failure marks the connection
 * broken. */
void uvf__client_send_lock(struct uvf_client *client);
void uvf__client_send_unlock(struct uvf_client *client);
int uvf__client_send_locked(struct uvf_client *client, const struct iovec *iov, int iovcnt, const int *fds,
			    size_t nfds);

/* Engine: a fresh message id (thread-safe). */
uint16_t uvf__client_next_id(struct uvf_client *client);

#define CLIENT_LOG(client, level, ...) UVF__LOG(&(client)->log, (level), __VA_ARGS__)

#endif /* UVF_CLIENT_INTERNAL_H */
