/* SPDX-License-Identifier: MIT */
/* Internals of the NVMe controller, shared by its files. */
#ifndef UVF_DEVICES_NVME_INT_H
#define UVF_DEVICES_NVME_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nvme.h"

#define NVME_PAGE     4096u
#define NVME_LBA      512u
#define NVME_MDTS     10u /* max transfer 2^10 pages = 4 MiB */
#define NVME_MAX_XFER ((size_t)NVME_PAGE << NVME_MDTS)
#define NVME_MQES     1023u
#define NVME_AERL     3u

/* Register offsets */
#define NVME_REG_CAP	0x00
#define NVME_REG_VS	0x08
#define NVME_REG_INTMS	0x0c
#define NVME_REG_INTMC	0x10
#define NVME_REG_CC	0x14
#define NVME_REG_CSTS	0x1c
#define NVME_REG_AQA	0x24
#define NVME_REG_ASQ	0x28
#define NVME_REG_ACQ	0x30
#define NVME_DOORBELL	0x1000
#define NVME_BAR_SIZE	0x4000
#define NVME_MSIX_TABLE 0x2000
#define NVME_MSIX_PBA	0x3000

/* Status codes: (SCT << 8) | SC */
#define NVME_SC_SUCCESS	       0x000
#define NVME_SC_INVALID_OPCODE 0x001
#define NVME_SC_INVALID_FIELD  0x002
#define NVME_SC_DATA_XFER      0x004
#define NVME_SC_INTERNAL       0x006
#define NVME_SC_INVALID_NS     0x00b
#define NVME_SC_PRP_OFFSET     0x013
#define NVME_SC_LBA_RANGE      0x080
#define NVME_SC_CQ_INVALID     0x100
#define NVME_SC_QID_INVALID    0x101
#define NVME_SC_QSIZE_INVALID  0x102
#define NVME_SC_AER_LIMIT      0x105
#define NVME_SC_INVALID_LOG    0x109
#define NVME_SC_IV_INVALID     0x108
#define NVME_SC_QDEL_INVALID   0x10c
#define NVME_SC_DNR	       0x4000

struct nvme_backing {
	int fd;	      /* -1 for RAM */
	uint8_t *mem; /* RAM store */
	uint64_t size;
};

int nvme_backing_open(struct nvme_backing *b, const char *path, uint64_t size);
void nvme_backing_close(struct nvme_backing *b);
int nvme_backing_read(struct nvme_backing *b, uint64_t off, void *buf, size_t len);
int nvme_backing_write(struct nvme_backing *b, uint64_t off, const void *buf, size_t len);
int nvme_backing_zero(struct nvme_backing *b, uint64_t off, uint64_t len, bool deallocate);
int nvme_backing_flush(struct nvme_backing *b);
/* RAM store only: copy between the store and iov */
int nvme_backing_iov(struct nvme_backing *b, bool write, uint64_t off, const struct iovec *iov, int n);

struct nvme_job;
struct nvme_group;

struct nvme_cq {
	bool valid;
	bool ien;
	bool phase;
	uint16_t iv;
	uint32_t size, head, tail;
	uint64_t base;
	unsigned unsignalled;  /* entries posted since its last interrupt */
	uint64_t first_ns;     /* when the oldest of them was posted (coalesce.c) */
	struct nvme_job *wait; /* completions waiting for room, oldest first */
	struct nvme_job **wait_tail;
};

/* Commands one I/O SQ keeps in flight (the admin SQ runs one at a time). */
#define NVME_SQ_INFLIGHT 64u

/* What a quiesced SQ must finish when the controller runs again, one
 * record per command in flight. A command whose entry is still being
 * fetched is not recorded: the SQ head goes back to it and it is fetched
 * again. */
enum nvme_resume_kind {
	NVME_RESUME_NONE = 0,
	NVME_RESUME_POST = 1,	/* post a completion (status, dw0, cid) when the CQ has room */
	NVME_RESUME_REPOST = 2, /* write the completion entry cqe at slot cq_slot again */
	NVME_RESUME_RERUN = 3,	/* run the command sqe again: it had no effect yet
				 * (moving data; reads and writes are idempotent) */
};

struct nvme_resume {
	uint8_t kind; /* enum nvme_resume_kind */
	uint16_t status;
	uint16_t cid;
	uint32_t dw0;
	uint32_t cq_slot;
	uint32_t cqe[4];
	uint32_t sqe[16];
};

struct nvme_sq {
	bool valid;
	bool fetching; /* a DMA read of entries from head on is on its way */
	uint16_t cqid;
	uint32_t size, head, tail;
	uint64_t base;
	unsigned epoch;	       /* bumped at creation and deletion */
	unsigned inflight;     /* commands fetched and not yet completed */
	struct nvme_job *jobs; /* those commands (list through job->prev/next) */
	unsigned nresume;      /* recorded by nvme_queues_quiesce() */
	struct nvme_resume resume[NVME_SQ_INFLIGHT];
};

struct nvme_ctrl;

struct nvme_seg {
	uint64_t addr;
	uint32_t len;
};

typedef void (*nvme_step_fn)(struct nvme_ctrl *c, struct nvme_job *job);

/* aio.c: the backing file's I/O engine */
enum nvme_aio_op { NVME_AIO_READ, NVME_AIO_WRITE, NVME_AIO_FLUSH };

struct nvme_aio_req {
	struct nvme_aio_req *next;
	enum nvme_aio_op op;
	bool sync_only;
	int fd;
	uint64_t off;
	const struct iovec *iov;
	int iovcnt;
	size_t len;				/* bytes over iov */
	int result;				/* 0 or -errno */
	void (*done)(struct nvme_aio_req *req); /* under its group's lock (nvme_aio_poll) */
};

struct nvme_aio;
/* ready(ready_data) runs on an engine thread after requests finished;
 * submit, kick and poll are called under the owning group's lock. */
int nvme_aio_new(struct nvme_aio **out, struct uvf_device *dev, unsigned threads, void (*ready)(void *data),
		 void *ready_data);
void nvme_aio_free(struct nvme_aio *a);
void nvme_aio_submit(struct nvme_aio *a, struct nvme_aio_req *req); /* done always runs */
void nvme_aio_kick(struct nvme_aio *a);				    /* start what was submitted */
void nvme_aio_poll(struct nvme_aio *a);				    /* run finished requests' done */
void nvme_aio_wait_idle(struct nvme_aio *a); /* until no kicked request runs (their done still to poll) */
const char *nvme_aio_kind(const struct nvme_aio *a);
bool nvme_aio_idle(struct nvme_aio *a);		 /* nothing submitted runs */
int nvme_aio_run_here(struct nvme_aio_req *req); /* run on the calling thread: 0 or -errno */

enum nvme_job_state {
	NVME_JOB_RUNNING = 0, /* fetched, executing (maybe in the library or the engine) */
	NVME_JOB_WAITING,     /* done, waiting for room in its CQ (ours) */
	NVME_JOB_POSTING,     /* its completion entry is being written by message */
};

/* One command in progress, from fetch to completion post. */
struct nvme_job {
	struct nvme_ctrl *c;
	struct nvme_job *prev, *next; /* in its SQ's list while live */
	struct nvme_job *wait_next;   /* in its CQ's wait list */
	unsigned generation;
	uint16_t sqid;
	unsigned sq_epoch;
	struct nvme_group *grp; /* whose lock guards it; NULL for the admin queue (all locks) */
	uint8_t state;		/* enum nvme_job_state */
	bool parked;		/* stopped between two steps: nobody else holds it */
	bool want_map;		/* nvme_transfer_map(): try the guest pages directly */
	uint32_t sqe[16];
	uint32_t dw0; /* completion result */
	uint16_t status;
	uint32_t cqe[4];
	uint32_t cq_slot; /* where (while posting) */
	/* data transfer */
	uint8_t *buf; /* bounce buffer (message-based DMA, admin data) */
	size_t len;
	bool to_host; /* device -> host memory */
	struct nvme_seg *segs;
	size_t nseg, segcap;
	size_t mapped;	 /* bytes covered by segs */
	size_t prp_left; /* list entries still to read */
	uint64_t prp_list;
	uint64_t *prp_tmp; /* one list page, while reading lists */
	unsigned outstanding;
	int dma_error;
	/* message-based data: the next piece to start, while queued for budget */
	struct nvme_job *dma_next; /* in the controller's queue of jobs waiting to start pieces */
	bool dma_queued;
	size_t piece_seg;
	uint32_t piece_at;
	size_t piece_off;
	nvme_step_fn after; /* called once the data has moved (or is mapped) */
	/* zero copy: the data's guest pages, when all are mapped */
	struct iovec *iov;
	int niov, iovcap;
	struct nvme_aio_req aio;
};

/*
 * A worker: a group of I/O queue pairs with its lock and its engine (the
 * engine's threads run the group's completions). CQ y belongs to group
 * (y - 1) % workers, an I/O SQ to its CQ's group. See worker.c.
 */
#define NVME_MAX_WORKERS UVF_NVME_MAX_WORKERS

/* Message-based data moves (xfer.c): jobs waiting for room under the
 * controller's budget, oldest first. */
struct nvme_dmaq {
	struct nvme_job *wait, **tail;
	int starved; /* its first job waits for budget (atomic) */
};

struct nvme_group {
	struct nvme_ctrl *c;
	unsigned index;
	pthread_mutex_t mu;
	const void *owner; /* the holding thread's token (atomic), for nesting */
	unsigned depth;
	int ready;	      /* the engine finished requests (atomic) */
	struct nvme_aio *aio; /* NULL for a RAM namespace */
	struct nvme_dmaq dmaq;
};

struct nvme_ctrl {
	struct uvf_device *dev;
	uint8_t *regs;
	struct nvme_backing store;
	unsigned nworkers;
	struct nvme_group group[NVME_MAX_WORKERS];
	uint8_t sq_group[UVF_NVME_MAX_QUEUES + 1]; /* per I/O SQ (atomic: read before its lock is held) */
	uint64_t dma_bytes;			   /* DMA messages in flight: our bytes | the client's << 32 (atomic) */
	struct nvme_dmaq admin_dmaq;		   /* under every lock */
	pthread_mutex_t intx_lock;		   /* computing and setting the INTx level */
	uint64_t cq_pending[2];			   /* INTx: CQs holding unconsumed entries (atomic bits) */
	unsigned nq;				   /* I/O queue pairs */
	char serial[21];
	unsigned generation; /* bumped by controller reset */
	bool enabled;
	uint32_t csts;
	uint32_t intms;
	struct nvme_sq sq[UVF_NVME_MAX_QUEUES + 1];
	struct nvme_cq cq[UVF_NVME_MAX_QUEUES + 1];
	unsigned aer_pending;
	uint16_t aer_cid[NVME_AERL + 1]; /* command ids of the held AERs */
	/* asynchronous events (events.c) */
	uint32_t event_raised; /* bit per error event information, not yet taken (atomic) */
	uint16_t event_qid;    /* the queue of the last one raised (atomic) */
	uint8_t aer_events;    /* taken, waiting for an AER or the mask */
	bool aer_masked;       /* error events wait for a read of the error log */
	uint64_t err_count;    /* error log entries so far */
	uint16_t err_sqid;     /* the queue of the last */
	/* migration (migration.c) */
	bool stopped; /* quiesced: no fetch, no DMA, no interrupt */
	bool reraise; /* loaded from a stream: signal CQs with entries on resume */
	void *mig;    /* struct devmig, allocated on first use */
	uint32_t feat_arb, feat_pm, feat_vwc, feat_coal, feat_aec;
	uint64_t coal_disabled[2]; /* Interrupt Vector Configuration: CD per vector */
	struct nvme_coal *coal;	   /* the aggregation time's timer, once a TIME was set */
	uint64_t units_read, units_written, cmds_read, cmds_written;
	struct nvme_dbbuf *dbbuf; /* shadow doorbells (dbbuf.c) */
	void *crash;		  /* the crash record, mapped (crash.c); NULL without --state-file */
};

/*
 * worker.c. Locking: the state of I/O queue pair y (SQ, CQ, their jobs)
 * is guarded by its group's lock; the admin queue and controller-wide
 * state (enable, reset, generation, stopped, queue creation and deletion,
 * features, shadow doorbell setup) are changed only with every group's
 * lock held, on the dispatch thread. Locks nest on one thread; taking all
 * goes in index order, and no thread holding a group's lock waits for
 * another group's.
 */
int nvme_workers_init(struct nvme_ctrl *c, unsigned workers); /* 0: a default for the CPUs */
void nvme_workers_free(struct nvme_ctrl *c);		      /* after every thread using them stopped */
unsigned nvme_workers_default(unsigned queues);
struct nvme_group *nvme_cq_group(struct nvme_ctrl *c, uint16_t cqid); /* NULL for the admin CQ */
struct nvme_group *nvme_lock_sq(struct nvme_ctrl *c, uint16_t sqid);  /* NULL: all locks taken (admin) */
void nvme_lock_group(struct nvme_group *g);
void nvme_unlock_group(struct nvme_group *g);
void nvme_lock_all(struct nvme_ctrl *c);
void nvme_unlock_all(struct nvme_ctrl *c);
void nvme_lock_job(struct nvme_ctrl *c, const struct nvme_job *job);
void nvme_unlock_job(struct nvme_ctrl *c, const struct nvme_job *job);
bool nvme_group_held(const struct nvme_group *g); /* by the calling thread */

/* queue.c */
void nvme_kick(struct nvme_ctrl *c, uint16_t sqid);
void nvme_complete(struct nvme_ctrl *c, struct nvme_job *job);
void nvme_job_forget(struct nvme_ctrl *c, struct nvme_job *job); /* a held command: no completion now */
/* complete command cid of SQ sqid, forgotten before, now */
void nvme_post_completion(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0);
void nvme_job_drop(struct nvme_ctrl *c, struct nvme_job *job);
bool nvme_job_live(const struct nvme_ctrl *c, const struct nvme_job *job);
void nvme_job_free(struct nvme_job *job);
void nvme_batch_end(struct nvme_ctrl *c, struct nvme_group *g); /* start queued I/O, raise coalesced
								 * interrupts: of g, or of all (NULL) */
void nvme_io_drain(struct nvme_ctrl *c); /* all locks held: wait for the engines, run what they finished */
void nvme_sq_forget(struct nvme_ctrl *c, uint16_t sqid);
void nvme_queues_reset(struct nvme_ctrl *c);
void nvme_update_intx(struct nvme_ctrl *c, struct nvme_group *g); /* g: its CQs changed; NULL: any */
void nvme_cq_doorbell(struct nvme_ctrl *c, uint16_t cqid, uint32_t head);
void nvme_sq_doorbell(struct nvme_ctrl *c, uint16_t sqid, uint32_t tail);
void nvme_queues_quiesce(struct nvme_ctrl *c);
void nvme_queues_resume(struct nvme_ctrl *c);

/* xfer.c: PRP lists, guest pages as iovecs, message-based data moves */
void nvme_transfer(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after);
void nvme_transfer_map(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after);
void nvme_move_data(struct nvme_ctrl *c, struct nvme_job *job, nvme_step_fn after);
void nvme_mark_dirty(struct nvme_ctrl *c, const struct nvme_job *job);
void nvme_dma_purge(struct nvme_ctrl *c);    /* all locks held: after a reset, quiesce or SQ deletion */
void nvme_dma_unstarve(struct nvme_ctrl *c); /* no lock held: start pieces that waited for budget */

/* events.c: asynchronous events (error status) */
#define NVME_EVENT_INVALID_DB_REG   0x00u				 /* Invalid Doorbell Register */
#define NVME_EVENT_INVALID_DB_VALUE 0x01u				 /* Invalid Doorbell Write Value */
void nvme_event_raise(struct nvme_ctrl *c, uint16_t qid, unsigned info); /* any lock, any thread */
void nvme_events_deliver(struct nvme_ctrl *c);				 /* every lock held */
void nvme_events_log_read(struct nvme_ctrl *c, bool retain);		 /* every lock held */
void nvme_events_reset(struct nvme_ctrl *c);				 /* every lock held */

/* coalesce.c: interrupt coalescing, under the CQ's worker lock */
uint64_t nvme_now_ns(void);
bool nvme_coal_post(struct nvme_ctrl *c, struct nvme_cq *cq, uint16_t cqid); /* an entry: raise now? */
bool nvme_coal_due(struct nvme_ctrl *c, struct nvme_cq *cq, uint16_t cqid);  /* batch end: raise now? */
int nvme_coal_start(struct nvme_ctrl *c);				     /* every lock held */
void nvme_coal_stop(struct nvme_ctrl *c);				     /* no lock held */

/* ctrl.c */
void nvme_regs_sync(struct nvme_ctrl *c);

/* migration.c */
int nvme_migration_setup(struct nvme_ctrl *c);
void nvme_migration_free(struct nvme_ctrl *c);
void nvme_migration_reset(struct nvme_ctrl *c);

/* crash.c: whether the controller was enabled, kept in a file across
 * crashes (see there) */
int nvme_crash_open(struct nvme_ctrl *c, const char *path, bool *was_enabled);
void nvme_crash_close(struct nvme_ctrl *c);
void nvme_crash_note(struct nvme_ctrl *c); /* record c->enabled (every lock held) */

/* dbbuf.c: shadow doorbells and their poller */
#define NVME_DBBUF_POLL_US_DEFAULT 1000u
int nvme_dbbuf_create(struct nvme_ctrl *c, unsigned poll_us); /* 0: no poller */
void nvme_dbbuf_destroy(struct nvme_ctrl *c);
uint16_t nvme_dbbuf_config(struct nvme_ctrl *c, uint64_t dbs, uint64_t eis); /* NVMe status */
void nvme_dbbuf_clear(struct nvme_ctrl *c);				     /* reset, shutdown */
bool nvme_dbbuf_active(const struct nvme_ctrl *c);
void nvme_dbbuf_sq_refresh(struct nvme_ctrl *c, uint16_t sqid); /* take the shadow tail */
bool nvme_dbbuf_cq_refresh(struct nvme_ctrl *c, uint16_t cqid); /* take the shadow head; whether it moved */
void nvme_dbbuf_cq_eventidx(struct nvme_ctrl *c, uint16_t cqid);
void nvme_dbbuf_doorbell(struct nvme_ctrl *c, uint16_t qid); /* an MMIO SQ doorbell came */
void nvme_dbbuf_queue_changed(struct nvme_ctrl *c, uint16_t qid);
void nvme_dbbuf_unmap(struct nvme_ctrl *c, uint64_t addr, uint64_t size);
void nvme_dbbuf_mapped(struct nvme_ctrl *c);
void nvme_dbbuf_pause(struct nvme_ctrl *c, bool paused); /* migration quiesce / resume */
bool nvme_dbbuf_get(const struct nvme_ctrl *c, uint64_t *dbs, uint64_t *eis);
void nvme_dbbuf_set(struct nvme_ctrl *c, uint64_t dbs, uint64_t eis); /* from a migration stream */

/* admin.c and io.c: run a fetched command; each ends with nvme_complete() */
void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_job *job);
void nvme_io_exec(struct nvme_ctrl *c, struct nvme_job *job);

#endif /* UVF_DEVICES_NVME_INT_H */
