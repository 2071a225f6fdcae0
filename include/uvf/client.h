/* SPDX-License-Identifier: MIT */
/*
 * uvf/client.h - the VMM-side API: talk to any vfio-user server.
 *
 *   uvf_client_connect()          connect and negotiate VERSION
 *   uvf_client_device_info()      discover regions and IRQs
 *   uvf_client_region_info()
 *   uvf_client_irq_info()
 *   uvf_client_dma_alloc()        share memory with the device
 *   uvf_client_set_irq_eventfds() wire interrupts
 *   uvf_client_region_read() ...  access the device
 *   uvf_client_close()
 *
 * Every call that waits for a reply waits at most the configured timeout
 * (-ETIMEDOUT); a reply that arrives later is recognised by its id and
 * dropped, so the stream stays in step. While waiting, the client serves the
 * server's DMA_READ/DMA_WRITE requests from registered memory. Between
 * calls, a program that registered fd-less DMA memory should watch
 * uvf_client_poll_fd() and call uvf_client_process() so that the server's
 * requests are answered.
 *
 * Threads: every call may be made from several threads at once on one
 * client (except uvf_client_close()). Requests are pipelined: each thread
 * sends its request and waits for the reply with its own id; one waiting
 * thread at a time reads the socket and hands replies to their owners,
 * serving the server's DMA requests on the way. A thread alone on the
 * client pays no extra system call for this.
 *
 * Fast paths (see "Fast region access" below): after uvf_client_region_map()
 * the calls uvf_client_access_read()/uvf_client_access_write() reach mappable
 * BAR areas with loads and stores, signal the server's ioeventfds instead
 * of sending matching writes, and post the other memory BAR writes
 * (REGION_WRITE with NO_REPLY, coalesced into REGION_WRITE_MULTI while
 * corked when the server supports it). Posted writes stay ordered: any
 * later answered request, and any access to mapped memory, comes after
 * them (the client fences with a round trip when needed).
 */
#ifndef UVF_CLIENT_H
#define UVF_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/common.h"
#include "uvf/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uvf_client;

#define UVF_CLIENT_OPTS_VERSION 2

struct uvf_client_opts {
	unsigned version;            /* UVF_CLIENT_OPTS_VERSION (1 is still accepted) */
	int timeout_ms;              /* per reply; default 5000; -1 = wait forever */
	uint32_t max_data_xfer_size; /* what we accept from the server; default 1 MiB */
	uint32_t max_msg_fds;        /* what we accept from the server; default 8 */
	uvf_log_fn log;              /* NULL = default logger */
	void *log_data;
	enum uvf_log_level log_level; /* default UVF_LOG_WARNING */
	/* version 2 */
	uint32_t poll_us;            /* adaptive polling: busy-poll for a reply this long
				      * (microseconds) before sleeping; 0 = off, at most 1000000 */
	bool no_posted_writes;       /* uvf_client_access_write() always waits for the reply */
	bool no_twin_socket;         /* do not offer a twin socket in VERSION */
};

#define UVF_CLIENT_OPTS_INIT                                                                                       \
	{UVF_CLIENT_OPTS_VERSION, 5000, 1048576, 8, NULL, NULL, UVF_LOG_WARNING, 0, false, false}

/*
 * Connect to the server socket at path and negotiate VERSION (opts may be
 * NULL). *out is owned by the caller (uvf_client_close()).
 * A server binds its socket file a moment before it listens, and a connect
 * in between is refused: a refusal is retried with short sleeps for up to
 * about 1 second (whatever timeout_ms says) before it is reported.
 * Errors: -ENOENT (no such socket), -ECONNREFUSED (nobody listening),
 * -ENOTSOCK (not a socket), -ETIMEDOUT (no VERSION reply), -EPROTO (the peer
 * does not speak vfio-user: bad reply, bad JSON, unsupported major),
 * -ECONNRESET (the peer hung up), -EINVAL (bad opts: unknown version,
 * timeout_ms 0 or below -1, max_data_xfer_size outside 512..64 MiB,
 * max_msg_fds above 64).
 * After a transport failure (EOF, framing error) on a connected client,
 * every call returns -ENOTCONN; only uvf_client_close() remains useful.
 */
UVF_API int uvf_client_connect(struct uvf_client **out, const char *path, const struct uvf_client_opts *opts);

/* Close the connection, unmap and free everything registered. NULL is fine. */
UVF_API void uvf_client_close(struct uvf_client *client);

/* What the server answered in VERSION. Owned by the client object; later
 * versions only add fields at the end, and `size` says how much of the
 * struct this library fills: a program built with newer headers checks
 * offsetof(struct uvf_server_caps, field) < size before reading a field
 * added later. */
struct uvf_server_caps {
	uint32_t size; /* sizeof(struct uvf_server_caps) in the library */
	uint16_t major, minor;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool write_multiple;
	bool twin_socket;
	char json[512]; /* the server's JSON text, truncated if longer */
};
UVF_API const struct uvf_server_caps *uvf_client_server_caps(const struct uvf_client *client);

/* ------------------------------------------------------------------ */
/* Discovery                                                            */
/* ------------------------------------------------------------------ */

/* DEVICE_GET_INFO. The result is also cached for the range checks below. */
UVF_API int uvf_client_device_info(struct uvf_client *client, struct uvf_msg_device_info *out);

#define UVF_CLIENT_MAX_SPARSE_AREAS 16

/* Output of uvf_client_region_info(). Set argsz to sizeof(struct
 * uvf_client_region) before the call: the library writes only that many
 * bytes (fields it does not know stay untouched) and sets argsz to the
 * bytes it wrote. */
struct uvf_client_region {
	uint32_t argsz; /* in: sizeof the caller's struct; out: bytes written */
	uint32_t index;
	uint32_t flags;  /* UVF_REGION_FLAG_* */
	uint64_t size;   /* 0 = absent */
	uint64_t offset; /* mmap offset in fd */
	int fd;          /* -1, or an fd owned by the client object (do not close);
			  * valid until the next uvf_client_region_info() of the
			  * same index or uvf_client_close() (mappings survive) */
	uint32_t nr_sparse_areas;
	struct uvf_msg_region_sparse_area sparse_areas[UVF_CLIENT_MAX_SPARSE_AREAS];
	bool has_type;
	uint32_t type, subtype;
};

/* DEVICE_GET_REGION_INFO, retrying with a larger argsz when the server asks
 * for it. -EINVAL for an index >= num_regions, or for out->argsz smaller
 * than the first version of the struct (every field up to `subtype`). */
UVF_API int uvf_client_region_info(struct uvf_client *client, uint32_t index, struct uvf_client_region *out);

/* DEVICE_GET_IRQ_INFO. */
UVF_API int uvf_client_irq_info(struct uvf_client *client, uint32_t index, struct uvf_msg_irq_info *out);

/* ------------------------------------------------------------------ */
/* Region access                                                        */
/* ------------------------------------------------------------------ */

/* Read or write len bytes at offset of a region; split into messages no
 * larger than the server's max_data_xfer_size. Writes wait for the reply. */
UVF_API int uvf_client_region_read(struct uvf_client *client, uint32_t region, uint64_t offset, void *buf,
				   size_t len);
UVF_API int uvf_client_region_write(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
				    size_t len);

/* PCI config space (region 7) helpers, little-endian values. */
UVF_API int uvf_client_config_read8(struct uvf_client *client, uint32_t offset, uint8_t *value);
UVF_API int uvf_client_config_read16(struct uvf_client *client, uint32_t offset, uint16_t *value);
UVF_API int uvf_client_config_read32(struct uvf_client *client, uint32_t offset, uint32_t *value);
UVF_API int uvf_client_config_write8(struct uvf_client *client, uint32_t offset, uint8_t value);
UVF_API int uvf_client_config_write16(struct uvf_client *client, uint32_t offset, uint16_t value);
UVF_API int uvf_client_config_write32(struct uvf_client *client, uint32_t offset, uint32_t value);

/* ------------------------------------------------------------------ */
/* Fast region access                                                   */
/* ------------------------------------------------------------------ */

/*
 * Set up the fast paths of region `index` (a BAR or the ROM): map the
 * areas the server lets us map (MMAP flag and sparse-mmap capability),
 * fetch its ioeventfds (DEVICE_GET_REGION_IO_FDS; a server without them
 * is fine) and learn whether it is a memory or I/O BAR (from config
 * space). Calling it again first undoes the previous set-up. Mappings
 * survive until uvf_client_region_unmap(), a DEVICE_RESET does not undo
 * them, uvf_client_close() does. Returns 0, -EINVAL for a bad index (also
 * config space, region 7), or the error of a failed request or mmap.
 * An absent region (size 0) sets up nothing. MMAP without sparse-mmap
 * areas means the whole region; an area not page-aligned or not inside
 * the region is left unmapped (its accesses go by message). ioeventfds the
 * client cannot signal (other types, sizes other than 0, 1, 2, 4, 8) are
 * left out, and a malformed IO_FDS reply is ignored as a whole (logged).
 * Unmapping a region that is not set up is fine.
 */
UVF_API int uvf_client_region_map(struct uvf_client *client, uint32_t index);
UVF_API int uvf_client_region_unmap(struct uvf_client *client, uint32_t index);

/* Pointer to [offset, offset + len) of region `index` when it lies in one
 * mapped area, else NULL. Valid until uvf_client_region_unmap/close. */
UVF_API void *uvf_client_region_ptr(struct uvf_client *client, uint32_t index, uint64_t offset, size_t len);

/* One ioeventfd of a region, as the server described it. */
struct uvf_client_ioeventfd {
	uint64_t offset; /* in the region */
	uint64_t size;   /* 0 = any size */
	uint32_t flags;  /* UVF_IOEVENTFD_FLAG_DATAMATCH, UVF_IOEVENTFD_FLAG_PIO (proto.h) */
	uint64_t datamatch;
	int fd;          /* owned by the client: a VMM may hand it to KVM (dup it) */
};

/* The ioeventfds fetched by uvf_client_region_map(): up to cap entries
 * into out, *count = how many there are (0 for a region not set up).
 * entry_size is sizeof(struct uvf_client_ioeventfd) as the caller knows
 * it: the stride of out, of which the library fills what it knows (a
 * later version may grow the struct). -EINVAL when out is given with an
 * entry_size below the first version of the struct (every field up to
 * `fd`). */
UVF_API int uvf_client_region_io_fds(struct uvf_client *client, uint32_t index, struct uvf_client_ioeventfd *out,
				     size_t entry_size, size_t cap, size_t *count);

/*
 * Guest-style access to a region, the fastest legal way: mapped areas by
 * loads and stores of the access size (1, 2, 4 and 8 byte accesses are
 * single accesses), a write matching an ioeventfd by signalling it, other
 * writes to a memory BAR as posted writes (unless no_posted_writes), and
 * everything else (config space, I/O BARs, ROM, reads) by REGION_READ /
 * REGION_WRITE. Without uvf_client_region_map() every access is a message.
 * An access must lie in one mapped area to be a load or store (else it is
 * a message). Before a load or store to mapped memory, or an ioeventfd
 * signal, posted writes not yet known done are fenced with one round trip.
 * A posted write's failure on the server is not reported (it is logged
 * there).
 */
UVF_API int uvf_client_access_read(struct uvf_client *client, uint32_t region, uint64_t offset, void *buf, size_t len);
UVF_API int uvf_client_access_write(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
				    size_t len);

/* REGION_WRITE with NO_REPLY: returns once sent (or queued while corked). */
UVF_API int uvf_client_region_write_posted(struct uvf_client *client, uint32_t region, uint64_t offset,
					   const void *buf, size_t len);

/*
 * Cork: while corked, posted writes of at most 8 bytes are queued and sent
 * together, as REGION_WRITE_MULTI messages when the server advertised
 * write_multiple (several per system call otherwise). Uncorking, any
 * answered request, uvf_client_flush() and a full queue send them.
 */
UVF_API int uvf_client_cork(struct uvf_client *client, bool corked);

/* Send queued posted writes and wait until the server has processed every
 * posted write sent so far (one round trip). */
UVF_API int uvf_client_flush(struct uvf_client *client);

/* ------------------------------------------------------------------ */
/* DMA memory                                                           */
/* ------------------------------------------------------------------ */

/*
 * Allocate size bytes (a multiple of 4096) of memfd-backed memory, map it in
 * this process and DMA_MAP it at DMA address iova with prot
 * (UVF_DMA_MAP_FLAG_READ|WRITE), passing the fd so the server accesses it
 * directly. *out_ptr is owned by the client object (freed by
 * uvf_client_dma_unregister or uvf_client_close).
 * iova and size must be aligned to the server's smallest page size
 * (-EINVAL); at most the server's max_dma_maps ranges (-ENOSPC); a range
 * overlapping a registered one gives -EEXIST; -ENOTSUP when the server
 * accepts no fds (max_msg_fds 0).
 */
UVF_API int uvf_client_dma_alloc(struct uvf_client *client, uint64_t iova, size_t size, uint32_t prot,
				 void **out_ptr);

/*
 * DMA_MAP [offset, offset + size) of the caller's shareable fd (a memfd,
 * a file) at iova with prot, as uvf_client_dma_alloc() does with its own
 * memfd: the way to show the same memory to several servers (live
 * migration: the source and destination map one guest memory). The
 * client maps the fd too, to serve DMA_READ/DMA_WRITE messages (the
 * mapping is released by uvf_client_dma_unregister or uvf_client_close);
 * fd stays owned by the caller, who may close it after the call.
 * size and offset multiples of 4096 (-EINVAL); the other errors as for
 * uvf_client_dma_alloc().
 */
UVF_API int uvf_client_dma_map_fd(struct uvf_client *client, uint64_t iova, size_t size, uint32_t prot, int fd,
				  uint64_t offset);

/*
 * Register caller memory [ptr, ptr + size) at iova without passing an fd:
 * the server reaches it with DMA_READ/DMA_WRITE messages that the client
 * serves. The memory stays owned by the caller and must stay valid until
 * unregistered.
 */
UVF_API int uvf_client_dma_register(struct uvf_client *client, uint64_t iova, void *ptr, size_t size,
				    uint32_t prot);

/* DMA_UNMAP the range registered at exactly (iova, size); frees memory
 * allocated by uvf_client_dma_alloc. */
UVF_API int uvf_client_dma_unregister(struct uvf_client *client, uint64_t iova, size_t size);

/* DMA_UNMAP with the "all" flag; forgets every registration. A server that
 * refuses the flag (EINVAL) gets one DMA_UNMAP per registration instead. */
UVF_API int uvf_client_dma_unregister_all(struct uvf_client *client);

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

/*
 * Attach eventfds fds[0..count) to vectors start..start+count-1 of IRQ index
 * `index` (ACTION_TRIGGER), in messages of at most the server's max_msg_fds
 * fds. An fd of -1 detaches that vector. The fds stay owned by the caller
 * (the server receives duplicates). On an error, the messages sent before
 * it stay applied. -ENOTSUP when the server accepts no fds.
 */
UVF_API int uvf_client_set_irq_eventfds(struct uvf_client *client, uint32_t index, uint32_t start,
					uint32_t count, const int *fds);

/* Disable a whole IRQ index (DATA_NONE | ACTION_TRIGGER, count 0). */
UVF_API int uvf_client_irq_disable(struct uvf_client *client, uint32_t index);

/* Mask or unmask vectors start..start+count-1 (DATA_NONE). */
UVF_API int uvf_client_irq_mask(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count,
				bool masked);

/* Ask the server to fire vectors itself (DATA_NONE | ACTION_TRIGGER), for tests. */
UVF_API int uvf_client_irq_trigger(struct uvf_client *client, uint32_t index, uint32_t start, uint32_t count);

/* ------------------------------------------------------------------ */
/* Reset and event processing                                           */
/* ------------------------------------------------------------------ */

/* DEVICE_RESET (-ENOTSUP if the server did not report RESET). */
UVF_API int uvf_client_reset(struct uvf_client *client);

/* Socket fd to poll for the server's requests (the twin socket when one
 * was negotiated). Owned by the client. */
UVF_API int uvf_client_poll_fd(const struct uvf_client *client);

/* Serve every pending server request (DMA_READ/DMA_WRITE) without blocking.
 * Returns the number served, or a negative errno when the connection is
 * broken. */
UVF_API int uvf_client_process(struct uvf_client *client);

/* Send a raw command and wait for its reply (for tools and tests).
 * reply_buf receives the reply payload (up to reply_cap bytes); *reply_len
 * its length. Returns 0, the server's negative errno for an error reply,
 * or a transport error. fds (may be NULL) are sent with the message (not
 * checked against the server's max_msg_fds, so that tests can probe it).
 * A reply longer than reply_cap is truncated: -EMSGSIZE with *reply_len
 * set to its full length. fds arriving with the reply are closed. */
UVF_API int uvf_client_call(struct uvf_client *client, uint16_t command, const void *payload, size_t len,
			    const int *fds, size_t nfds, void *reply_buf, size_t reply_cap, size_t *reply_len);

/* ------------------------------------------------------------------ */
/* Live migration (docs/protocol.md 4.15-4.17, 6)                            */
/* ------------------------------------------------------------------ */

/* DEVICE_FEATURE MIGRATION: *flags = UVF_MIGRATION_* the server offers;
 * -ENOTSUP when it does not migrate (its PROBE is refused with EINVAL,
 * ENOTSUP, ENOSYS or ENOTTY). Every reply of the calls below is checked
 * against its request (echo, sizes, feature index); one that does not
 * fit is -EPROTO. */
UVF_API int uvf_client_migration_features(struct uvf_client *client, uint64_t *flags);

/* GET / SET MIG_DEVICE_STATE (enum uvf_migration_state). SET returns once the
 * server has walked the whole path, or its error. */
UVF_API int uvf_client_migration_state(struct uvf_client *client, uint32_t *state);
UVF_API int uvf_client_set_migration_state(struct uvf_client *client, uint32_t state);

/* MIG_DATA_READ: up to len bytes (split at the server's max transfer
 * size and ours) into buf; *got = bytes read; *got < len means the end of
 * the data available in this phase (docs/protocol.md 9 #13). On an error,
 * *got still counts the bytes read before it (they left the stream). */
UVF_API int uvf_client_migration_data_read(struct uvf_client *client, void *buf, size_t len, size_t *got);

/* MIG_DATA_WRITE: feed len bytes (split as needed) to a RESUMING server. */
UVF_API int uvf_client_migration_data_write(struct uvf_client *client, const void *buf, size_t len);

/* DMA logging. start: page_size is a hint (*chosen, may be NULL, gets the
 * server's granularity); ranges NULL/0 = everything. report: read and
 * clear the dirty bits of [iova, iova + length) at page_size granularity
 * into bitmap (bit n = page n, u64 words, little-endian; bitmap_bytes >=
 * ceil(length / page_size / 64) * 8). start PROBEs first: -ENOTSUP when
 * the server does not log; a START reply that cannot be trusted is
 * followed by a STOP. report splits a large range into requests whose
 * replies fit both sides' transfer sizes; bits past the range are
 * cleared. page_size must be a power of two (-EINVAL). */
UVF_API int uvf_client_dma_logging_start(struct uvf_client *client, uint64_t page_size,
					 const struct uvf_msg_dma_logging_range *ranges, uint32_t nranges,
					 uint64_t *chosen);
UVF_API int uvf_client_dma_logging_stop(struct uvf_client *client);
UVF_API int uvf_client_dma_logging_report(struct uvf_client *client, uint64_t iova, uint64_t length,
					  uint64_t page_size, uint64_t *bitmap, size_t bitmap_bytes);

/* ------------------------------------------------------------------ */
/* Deprecated names, removed in the next release                        */
/* ------------------------------------------------------------------ */

/* The functions before the naming pass of this release, still exported
 * (same behaviour as the new names). Define UVF_NO_DEPRECATED to hide
 * them. */
#ifndef UVF_NO_DEPRECATED

/* Use uvf_client_access_read() / uvf_client_access_write(). */
UVF_DEPRECATED UVF_API int uvf_client_bar_read(struct uvf_client *client, uint32_t region, uint64_t offset,
					       void *buf, size_t len);
UVF_DEPRECATED UVF_API int uvf_client_bar_write(struct uvf_client *client, uint32_t region, uint64_t offset,
						const void *buf, size_t len);

/* Use uvf_client_migration_data_read() / uvf_client_migration_data_write(). */
UVF_DEPRECATED UVF_API int uvf_client_mig_data_read(struct uvf_client *client, void *buf, size_t len,
						    size_t *got);
UVF_DEPRECATED UVF_API int uvf_client_mig_data_write(struct uvf_client *client, const void *buf, size_t len);

#endif /* UVF_NO_DEPRECATED */

#ifdef __cplusplus
}
#endif

#endif /* UVF_CLIENT_H */
