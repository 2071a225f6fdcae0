/* SPDX-License-Identifier: MIT */
/* The device context and the internal interfaces between server files. */
#ifndef UVF_SERVER_INTERNAL_H
#define UVF_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "log.h"
#include "proto/msg.h"
#include "server/dma_table.h"
#include "server/loop.h"
#include "server/msix.h"
#include "server/pci_config.h"
#include "server/twin.h"
#include "transport/transport.h"
#include "uvf/server.h"

#define UVF_SERVER_MAX_MSG_FDS 16u
#define UVF_SERVER_QUEUE_MAX 256u        /* client commands held during a DMA wait */
#define UVF_SERVER_QUEUE_BYTES (16u << 20)
#define UVF_SERVER_MAX_MMAP_AREAS 16u   /* per BAR, as uvf_device_set_bar_mmap_areas() allows */
#define UVF_SERVER_MAX_IOEVENTFDS 256u  /* per device */

struct uvf_bar {
	uint64_t size; /* 0 = absent (also the upper half of a 64-bit BAR) */
	uint32_t flags;
	uvf_region_read_fn read;
	uvf_region_write_fn write;
	void *data;
	uint8_t *mem; /* UVF_BAR_MEMORY */
	/* UVF_BAR_MMAP: mem is a MAP_SHARED mapping of this memfd (the field
	 * means nothing without that flag), handed to the client in
	 * DEVICE_GET_REGION_INFO; owned by the device */
	int mem_fd;
	/* UVF_BAR_MMAP: where the BAR starts in mem_fd (non-zero only for a
	 * file the device gave with uvf_device_set_bar_fd()) */
	uint64_t mem_fd_offset;
	bool device_file; /* mem_fd is the device's: a reset leaves its contents alone */
	/* UVF_BAR_MMAP: areas set with uvf_device_set_bar_mmap_areas(); 0 =
	 * the default (the BAR minus the MSI-X table and PBA pages) */
	unsigned nr_mmap_areas;
	struct uvf_mmap_area mmap_areas[UVF_SERVER_MAX_MMAP_AREAS];
};

/* A write the device wants signalled on an eventfd (uvf_device_add_ioeventfd). */
struct uvf_ioeventfd {
	unsigned bar;
	uint64_t offset;
	uint32_t size;  /* 1, 2, 4, 8, or 0 = any */
	uint32_t flags; /* UVF_IOEVENTFD_DATAMATCH */
	uint64_t datamatch;
	uvf_ioeventfd_fn fn;
	void *data;
	int fd; /* eventfd, owned by the device */
	struct uvf_watch *watch; /* with fn: the loop's watch (allocated: the array moves) */
};

struct uvf_irq_vector {
	int fd;       /* trigger eventfd, -1 when none */
	bool masked;
	bool pending; /* raised while masked */
};

struct uvf_irq_index {
	uint32_t count;
	struct uvf_irq_vector *vectors; /* count entries */
	int unmask_fd;                  /* INTx resample eventfd, -1 when none */
};

/* The INTx line as the device drives it (the status bit is their OR). */
struct uvf_intx_line {
	bool level; /* asserted with uvf_irq_set_intx_level() */
	bool edge;  /* raised by uvf_irq_trigger(), until the client unmasks */
};

/* Migration state (migration.c). Only the dispatch thread changes it;
 * other threads read state and quiesced atomically. */
struct uvf_migration {
	struct uvf_migration_callbacks cb;
	void *data;
	uint32_t flags;   /* UVF_MIGRATION_PRE_COPY */
	bool enabled;     /* uvf_device_set_migration() was called */
	uint32_t state;	  /* enum uvf_migration_state; atomic */
	bool quiesced;    /* atomic: uvf_dma_* refused (STOP, STOP_COPY, RESUMING, ERROR) */
	bool save_ended;  /* STOP_COPY: save() ended the stream */
	bool strict;      /* refuse what libvfio-user refuses in STOP/STOP_COPY (tests) */
};

/* A client command received while waiting for a DMA reply, run later. */
struct uvf_queued_msg {
	struct uvf_msg_header hdr;
	uint8_t *body;
	int fds[UVF_SERVER_MAX_MSG_FDS];
	size_t nfds;
	bool fds_overflow;
};

/* Config space bytes the device serves itself (uvf_device_set_config_access). */
#define UVF_SERVER_MAX_CONFIG_HOOKS 16u
struct uvf_config_hook {
	uint32_t start, end; /* [start, end) */
	uvf_config_access_fn fn;
	void *data;
};

struct uvf_device {
	void *user_data;
	struct uvf_logger log;

	/* description, frozen by listen */
	struct uvf_pci_ids ids;
	bool ids_set;
	struct uvf_bar bars[6];
	uint8_t *rom;
	uint64_t rom_size;
	uint32_t irq_count[UVF_PCI_NUM_IRQS];
	struct uvf_config_desc cfg_desc;
	struct uvf_config cfg;
	struct uvf_config_hook cfg_hooks[UVF_SERVER_MAX_CONFIG_HOOKS]; /* sorted, apart */
	unsigned nr_cfg_hooks;
	struct uvf_device_callbacks cb;
	void *cb_data;
	bool frozen;

	/* serving */
	struct uvf_serve_opts opts;
	int listen_fd;
	char *socket_path; /* unlinked at free when we created it and it is still ours */
	dev_t socket_dev;  /* the socket file's identity */
	ino_t socket_ino;
	struct uvf_loop loop; /* the event loop (loop.h, serve.c) */
	struct uvf_dma_op *dma_ops; /* asynchronous transfers, oldest first */

	/* the connection */
	int conn_fd;
	bool negotiated;
	bool drop_requested; /* disconnect once the current command is done */
	struct uvf_caps client_caps;
	struct uvf_rx rx;      /* main receiver */
	struct uvf_rx wait_rx; /* used while waiting for a DMA reply */
	struct uvf_rx_ahead ahead; /* read-ahead shared by rx and wait_rx */
	uint32_t max_msg_size;
	bool in_command;       /* a client command is being handled */
	uint64_t messages_handled; /* client messages run, for uvf_device_messages_handled() */
	uint16_t next_dma_id;  /* atomic: device threads take ids too */
	struct uvf_queued_msg *queue;
	size_t queue_len, queue_head, queue_bytes;

	/* DMA mappings and dirty logging (dma_table.h). Only the dispatch
	 * thread changes them; device threads look up inside read-side
	 * sections (dma_readers.h). */
	struct uvf_dma_table dma;

	/* Threads (see "Threads." in uvf/server.h) */
	pthread_t dispatch_thread;  /* the last thread that ran dispatch */
	bool dispatch_known;        /* atomic; dispatch_thread is set */
	bool client_live;           /* atomic; a client past VERSION */
	uint32_t dma_chunk;         /* atomic; largest DMA_READ/WRITE count, set at VERSION */
	size_t dma_inflight;        /* atomic; uvf_dma_inflight_max(), set at VERSION */
	/* IRQ state (irqs, intx, msix table and PBA, interrupt bits of config
	 * space) is changed and read under irq_lock, never held in a callback */
	pthread_mutex_t irq_lock;
	struct uvf_twin twin;       /* twin socket (twin.h) */
	/* asynchronous transfers started off the dispatch thread wait here
	 * until dispatch takes them; sub_cond wakes device threads waiting
	 * for a handed-over synchronous transfer */
	pthread_mutex_t sub_lock;
	pthread_cond_t sub_cond;
	struct uvf_dma_op *dma_submitted;
	bool locks_ready;           /* the locks above were initialised */

	struct uvf_irq_index irqs[UVF_PCI_NUM_IRQS];
	struct uvf_intx_line intx;
	struct uvf_msix msix; /* table and PBA of the MSI-X capability */

	/* ioeventfds, in id order; fixed at listen */
	struct uvf_ioeventfd *ioeventfds;
	unsigned nr_ioeventfds;

	struct uvf_migration mig; /* migration.c */
	/* interrupts raised now are latched as pending (under irq_lock) */
	bool irq_quiesced;
	/* before_command held a command (at the queue's head): nothing more
	 * runs until uvf_device_resume() sets resume_requested (atomic) */
	bool held;
	bool resume_requested;
};

/* Reply being built by a command handler. */
struct uvf_reply {
	struct iovec iov[4]; /* iov[0] is the header, filled by the sender */
	int iovcnt;
	uint8_t small[64];   /* fixed-size reply payloads live here */
	int fds[UVF_SERVER_MAX_MSG_FDS];
	size_t nfds;
	bool fds_owned;      /* fds are the reply's: closed once it is sent (or not) */
};

/* Append a payload piece (not copied: must live until the reply is sent). */
void uvf__reply_add(struct uvf_reply *reply, const void *buf, size_t len);
/* Copy a small fixed payload into reply->small and append it. */
void uvf__reply_add_small(struct uvf_reply *reply, const void *buf, size_t len);

#define dev_log(dev, level, ...) UVF__LOG(&(dev)->log, (level), __VA_ARGS__)
#define dev_warn(dev, ...) UVF__LOG(&(dev)->log, UVF_LOG_WARNING, __VA_ARGS__)
#define dev_info(dev, ...) UVF__LOG(&(dev)->log, UVF_LOG_INFO, __VA_ARGS__)
#define dev_debug(dev, ...) UVF__LOG(&(dev)->log, UVF_LOG_DEBUG, __VA_ARGS__)

/* dispatch.c: run one complete client message (a command or stray reply).
 * Sends the reply. Returns 0, or a negative errno when the client must be
 * dropped. The fds in *fds/nfds are owned by the caller; handlers that keep
 * one set it to -1 in the array. */
int uvf__handle_message(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, int *fds,
			size_t nfds, bool fds_overflow);

/* regions.c */
int uvf__region_info(struct uvf_device *dev, uint32_t index, struct uvf_msg_region_info *out);
int uvf__region_access(struct uvf_device *dev, uint32_t region, uint64_t offset, void *buf, uint32_t count,
		       bool is_write, const char *what);
void uvf__regions_reset(struct uvf_device *dev);
/* Library memory of a UVF_BAR_MEMORY BAR: zeroed, in a sealed memfd with
 * UVF_BAR_MMAP (size a multiple of 4096). Fills bar->mem (and mem_fd). */
int uvf__bar_memory_alloc(struct uvf_bar *bar, unsigned index, uint64_t size, uint32_t flags);
/* Unmap, close and free the library memory of every BAR. */
void uvf__bars_free(struct uvf_device *dev);
/* The areas of BAR `index` the client may map now (MSI-X table and PBA
 * pages left out), into out[UVF_SERVER_MAX_MMAP_AREAS]; 0 when the region
 * is not a mappable BAR or nothing of it is. */
unsigned uvf__region_mmap_areas(struct uvf_device *dev, uint32_t index, struct uvf_msg_region_sparse_area *out);

/* ioeventfd.c */
/* A client write of count bytes of buf at offset of region: when it
 * matches an ioeventfd, signal it and return true (the BAR is not
 * touched). The range was checked against the region by the caller. */
bool uvf__ioeventfd_write(struct uvf_device *dev, uint32_t region, uint64_t offset, const void *buf,
			  uint32_t count);
/* Whether BAR `bar` has ioeventfds (writes to it then mean something). */
bool uvf__ioeventfd_on_bar(const struct uvf_device *dev, uint32_t bar);
/* Number of ioeventfds of region `index` (0 for anything but a BAR). */
unsigned uvf__ioeventfd_count(const struct uvf_device *dev, uint32_t index);
/* The first max ioeventfds of region `index` as spec entries (fd_index i
 * for the i-th) and their eventfds (still owned by the device). */
void uvf__ioeventfd_entries(const struct uvf_device *dev, uint32_t index, unsigned max,
			    struct uvf_msg_io_fd_entry *entries, int *fds);
/* Close every eventfd (uvf_device_free). */
void uvf__ioeventfds_free(struct uvf_device *dev);
/* Reset the function: config space, library BAR memory, MSI-X table,
 * pending interrupts and INTx level, then the device's reset callback.
 * Returns the callback's result. */
int uvf__function_reset(struct uvf_device *dev, enum uvf_reset_reason reason);

/* dma.c */
int uvf__dma_map(struct uvf_device *dev, const struct uvf_msg_dma_map *req, int fd);
int uvf__dma_unmap(struct uvf_device *dev, const struct uvf_msg_dma_unmap *req);
void uvf__dma_unmap_all(struct uvf_device *dev);
void uvf__dma_free(struct uvf_device *dev);

/* irq.c */
int uvf__irqs_init(struct uvf_device *dev);
int uvf__irq_set(struct uvf_device *dev, const struct uvf_irq_set_view *view, int *fds, size_t nfds);
int uvf__irq_info(struct uvf_device *dev, uint32_t index, struct uvf_msg_irq_info *out);
void uvf__irqs_drop_client(struct uvf_device *dev);
void uvf__irqs_free(struct uvf_device *dev);
/* The INTx resample fd fired: unmask INTx. */
void uvf__irq_intx_resample(struct uvf_device *dev);
/* Config space changed the command register or MSI/MSI-X state, or the
 * client wrote the MSI-X table: deliver what no mask holds any more. */
void uvf__irq_config_changed(struct uvf_device *dev);
/* Forget pending interrupts and the INTx line (function reset). */
void uvf__irqs_reset(struct uvf_device *dev);

/* device.c: build config space, interrupts and the MSI-X table from the
 * description (listen): 0 or -errno. */
int uvf__device_build(struct uvf_device *dev);

/* serve.c */
/* The loop's fds and watches (uvf_device_new): 0 or -errno. */
int uvf__serve_init(struct uvf_device *dev);
/* Drop the client, stop listening (the socket file goes), close the loop's
 * fds (uvf_device_free). */
void uvf__serve_close(struct uvf_device *dev);
int uvf__send_to_client(struct uvf_device *dev, struct iovec *iov, int iovcnt, const int *fds, size_t nfds);
/* Watch or unwatch the INTx resample eventfd in the poll set. */
int uvf__watch_intx_unmask(struct uvf_device *dev, int fd, bool on);
/* Queue a client command that arrived during a DMA wait (takes the fds). */
int uvf__queue_push(struct uvf_device *dev, struct uvf_rx *rx);

/* dma_message.c: shared by the synchronous and asynchronous DMA paths */
uint64_t uvf__dma_chunk_max(const struct uvf_device *dev);
/* Derive uvf_dma_inflight_max() from the connection's send buffer. */
void uvf__dma_inflight_set(struct uvf_device *dev);
uint16_t uvf__dma_next_id(struct uvf_device *dev);
/* The pieces of a DMA request (hdr is filled); returns the iov count. */
int uvf__dma_request_iov(struct uvf_msg_header *hdr, struct iovec iov[3], uint16_t id, bool is_write,
			 const struct uvf_msg_dma_access *req, const void *data);
/* A transfer by messages of [addr, addr + len) (a mapping without fd),
 * from whichever thread: the main socket, the twin socket, or handed to
 * the dispatch thread. */
int uvf__dma_message(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write);
int uvf__dma_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_msg_dma_access *req,
			  const void *data);
int uvf__dma_take_reply(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, size_t nfds,
			bool is_write, const struct uvf_msg_dma_access *req, void *buf);

/* dma_async.c */
struct uvf_dma_op;
/* A DMA reply from the client: true when it belonged to an async transfer. */
bool uvf__dma_async_reply(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, size_t nfds);
/* Advance transfers, expire timed-out ones, call back finished ones. */
void uvf__dma_async_run(struct uvf_device *dev);
/* Finish every transfer with err (client gone, device freed). */
void uvf__dma_async_cancel(struct uvf_device *dev, int err);
/* A synchronous message-based transfer of a device thread without twin
 * socket: handed to the dispatch thread as an asynchronous one, waited for. */
int uvf__dma_async_wait(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write);

/* Threads and the twin socket */
/* serve.c */
/* Whether the caller is the dispatch thread (or none ran yet). */
bool uvf__on_dispatch_thread(struct uvf_device *dev);
/* Make the poll fd readable: dispatch has work. Any thread. */
void uvf__kick(struct uvf_device *dev);
/* Use fd (our end of the twin socket, taken) from now on. */
int uvf__twin_attach(struct uvf_device *dev, int fd);
/* twin.c: take the replies device threads read on the twin socket and,
 * with read_socket, read what came there (dispatch thread). Returns -errno
 * when the client must be dropped. */
int uvf__twin_service(struct uvf_device *dev, bool read_socket);
/* Forget the twin socket's stream state (dispatch, under the twin lock). */
void uvf__twin_reset_locked(struct uvf_device *dev);
/* Send a DMA request on the twin socket (twin lock held). */
int uvf__twin_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_msg_dma_access *req,
			   const void *data);
/* Transfer by messages on the twin socket (twin lock held, socket not
 * failed); on_dispatch: the caller is the dispatch thread. */
int uvf__twin_transfer(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write, bool on_dispatch);
/* migration.c */
/* DEVICE_FEATURE, MIG_DATA_READ, MIG_DATA_WRITE. *alloc_out gets a reply
 * buffer to free once the reply is sent. */
int uvf__handle_device_feature(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			       struct uvf_reply *reply, uint8_t **alloc_out, struct uvf_why *why);
int uvf__handle_mig_data_read(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, uint8_t **alloc_out, struct uvf_why *why);
int uvf__handle_mig_data_write(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			       struct uvf_why *why);
/* Whether `command` is legal in the current migration state (docs/migration.md). */
int uvf__migration_gate(struct uvf_device *dev, uint16_t command, struct uvf_why *why);
/* Tests only, before listen: refuse in STOP and STOP_COPY what
 * libvfio-user refuses there (docs/migration.md, "What a client must
 * expect"), so that clients can be checked against such servers. */
void uvf__migration_set_strict(struct uvf_device *dev, bool on);
/* DEVICE_RESET succeeded: back to RUNNING, streams dropped. */
void uvf__migration_reset(struct uvf_device *dev);
/* The client left: drop the streams and logging; a device in the middle
 * of saving goes back to RUNNING (docs/migration.md). */
void uvf__migration_client_gone(struct uvf_device *dev);
/* Whether device DMA and interrupts are held (any thread). */
bool uvf__migration_quiesced(const struct uvf_device *dev);

/* irq.c: hold interrupts as pending (on), or deliver what waits (off) */
void uvf__irqs_quiesce(struct uvf_device *dev, bool on);
/* irq.c: the IRQ lock, for config space and MSI-X table accesses */
void uvf__irq_lock(struct uvf_device *dev);
void uvf__irq_unlock(struct uvf_device *dev);

#endif /* UVF_SERVER_INTERNAL_H */
