/* SPDX-License-Identifier: MIT */
/*
 * Data transfers described by PRPs: the PRP entries and lists become a
 * list of guest segments, pages that follow each other in guest memory
 * merged into one. Then either the segments are mapped guest memory and
 * become iovecs for the backing file (zero copy, nvme_transfer_map), or
 * the data moves between a buffer and the guest by asynchronous DMA:
 * several DMA messages per command at once, each up to a piece of a
 * merged segment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "nvme_int.h"

/*
 * Message-based data moves, and why they cannot deadlock. Each piece of a
 * merged segment is an asynchronous transfer: the library's dispatch
 * thread sends its DMA_WRITE (data and all) or DMA_READ request, the
 * client (QEMU's main loop) answers it, and the reply to a DMA_READ
 * carries the data back. Dispatch sends with blocking writes, and so may
 * a client (uvf's own does; QEMU queues instead). Were our socket's send
 * buffer full, dispatch would wait in sendmsg and read nothing; a client
 * blocked sending us a DMA_READ reply (its own buffer full, since we do
 * not read) never gets to read our DMA_WRITE: both stop. The client
 * blocking alone is harmless: our dispatch thread goes on reading, and
 * that frees it.
 *
 * So the controller keeps two budgets, one per direction of the socket:
 *
 * - Ours: everything we send for the pieces in flight must fit our send
 *   buffer. The library grows it on accept and tells the budget it grants
 *   (uvf_dma_inflight_max(), margin for replies and overhead included). A
 *   DMA_WRITE piece counts its length, a DMA_READ request 4 KiB (each
 *   piece at least 4 KiB). PRP list reads (a 32-byte request each, one per
 *   command at most) are not counted: the library's margin holds them.
 *
 * - The client's: what the client sends us while the pieces are in flight
 *   must fit the client's send buffer. QEMU's vfio-user client
 *   (hw/vfio-user/proxy.c; seen with QEMU 11.1) writes to a non-blocking
 *   socket and takes a short write for a whole message: once its send
 *   buffer is full, the rest of a message is lost and the stream breaks
 *   (seen: at depth 32 with 512 KiB or 4 MiB of DMA_READ data in flight,
 *   uvf-nvme read guest data where a header belonged, dropped the client,
 *   and QEMU aborted). We can neither read nor set that buffer: Linux's
 *   default, net.core.wmem_default (208 KiB), less the kernel's overhead.
 *   A DMA_READ piece counts its length here (the reply carries the data),
 *   a DMA_WRITE piece NVME_DMA_REPLY_COST (its 32-byte reply, charged by
 *   the kernel as one buffer of about 768 bytes). NVME_DMA_CLIENT_BUDGET,
 *   128 KiB, stays inside the client's buffer and ran clean in every
 *   guest run.
 *
 * So a device read (DMA_WRITE to the guest) may keep several MiB in flight
 * while a device write (DMA_READ) keeps 128 KiB. A piece starts when none
 * is in flight, or when, in both budgets, what is in flight plus the
 * largest cost any piece may have fits: one rule for both kinds, so that
 * neither can starve the other. A piece is at most half its budget (so two
 * fit); the library splits it further at the client's max_data_xfer_size,
 * one message after the other.
 *
 * Each worker queues its jobs waiting for budget (the admin queue has a
 * queue of its own), oldest first; the budgets are the controller's,
 * both in one atomic word (ours in the low half, the client's in the high).
 */
#define NVME_DMA_CLIENT_BUDGET (128u << 10)
#define NVME_DMA_REPLY_COST    1024u
#define NVME_DMA_PIECE_MIN     NVME_PAGE
/* before a client's VERSION the library reports no budget: one small piece */
#define NVME_DMA_BUDGET_MIN (2 * NVME_DMA_PIECE_MIN)
/* our half of the word */
#define NVME_DMA_BUDGET_MAX (1u << 30)
/* A DMA_WRITE piece: larger pieces go out one message of the client's
 * max_data_xfer_size after the other (QEMU's: 1 MiB), and hold budget the
 * while. */
#define NVME_DMA_WRITE_MAX (1u << 20)

/* The two budgets, and the largest DMA_WRITE and DMA_READ piece: also the
 * largest cost any piece has in ours and in the client's (a DMA_READ costs
 * ours 4 KiB, a DMA_WRITE the client's 1 KiB: never more). */
struct dma_budget {
	uint64_t ours, client;
	uint32_t write_max, read_max;
};

static void dma_budget(struct nvme_ctrl *c, struct dma_budget *b)
{
	size_t ours = uvf_dma_inflight_max(c->dev);

	if (ours > NVME_DMA_BUDGET_MAX)
		ours = NVME_DMA_BUDGET_MAX;
	if (ours < NVME_DMA_BUDGET_MIN)
		ours = NVME_DMA_BUDGET_MIN;
	b->ours = ours;
	b->client = NVME_DMA_CLIENT_BUDGET;
	b->write_max = (uint32_t)(b->ours / 2 / NVME_PAGE * NVME_PAGE);
	if (b->write_max > NVME_DMA_WRITE_MAX)
		b->write_max = NVME_DMA_WRITE_MAX;
	b->read_max = (uint32_t)(b->client / 2 / NVME_PAGE * NVME_PAGE);
}

/* What a piece of n bytes counts for, in both budgets (one word). */
static uint64_t piece_cost(bool to_guest, uint32_t n)
{
	uint64_t len = n < NVME_DMA_PIECE_MIN ? NVME_DMA_PIECE_MIN : n;

	if (to_guest)
		return len | (uint64_t)NVME_DMA_REPLY_COST << 32;
	return NVME_DMA_PIECE_MIN | len << 32;
}

struct piece {
	struct nvme_job *job;
	uint64_t cost;
};

static void finish_transfer(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (!nvme_job_live(c, job)) {
		nvme_job_drop(c, job);
		return;
	}
	if (job->dma_error) {
		job->status = NVME_SC_DATA_XFER;
		nvme_complete(c, job);
		return;
	}
	job->after(c, job);
}

/* One of job's holds went: the last one finishes the transfer. */
static void release(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (--job->outstanding == 0)
		finish_transfer(c, job);
}

static void start_pieces(struct nvme_ctrl *c, struct nvme_dmaq *q);

/* The queue of jobs job waits in for budget, guarded by the job's lock. */
static struct nvme_dmaq *dmaq_of(struct nvme_ctrl *c, const struct nvme_job *job)
{
	return job->grp ? &job->grp->dmaq : &c->admin_dmaq;
}

static void piece_done(struct uvf_device *dev, void *data, int result)
{
	struct piece *p = data;
	struct nvme_job *job = p->job;
	struct nvme_ctrl *c = job->c;
	struct nvme_group *g = job->grp;
	struct nvme_dmaq *q = dmaq_of(c, job);

	(void)dev;
	nvme_lock_job(c, job);
	__atomic_fetch_sub(&c->dma_bytes, p->cost, __ATOMIC_SEQ_CST);
	free(p);
	if (result < 0 && !job->dma_error)
		job->dma_error = result;
	release(c, job); /* job may be gone from here */
	start_pieces(c, q);
	nvme_batch_end(c, g);
	if (g)
		nvme_unlock_group(g);
	else
		nvme_unlock_all(c);
	nvme_dma_unstarve(c); /* the budget this piece held, for the other queues */
}

/* Take a piece's cost from the controller's budgets: one piece always may
 * go, or a piece larger than what is left would wait for ever. */
static bool reserve(struct nvme_ctrl *c, uint64_t cost, const struct dma_budget *b)
{
	uint64_t cur = __atomic_load_n(&c->dma_bytes, __ATOMIC_SEQ_CST);

	do {
		if (cur && ((cur & UINT32_MAX) + b->write_max > b->ours || (cur >> 32) + b->read_max > b->client))
			return false;
	} while (!__atomic_compare_exchange_n(&c->dma_bytes, &cur, cur + cost, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return true;
}

enum { PIECE_NONE, PIECE_STARTED, PIECE_NO_BUDGET };

/* Start the next piece of job. */
static int start_piece(struct nvme_ctrl *c, struct nvme_job *job)
{
	while (job->piece_seg < job->nseg && job->piece_at == job->segs[job->piece_seg].len) {
		job->piece_seg++;
		job->piece_at = 0;
	}
	if (job->piece_seg == job->nseg || job->dma_error)
		return PIECE_NONE;
	const struct nvme_seg *s = &job->segs[job->piece_seg];
	struct dma_budget b;
	dma_budget(c, &b);
	uint32_t piece_max = job->to_host ? b.write_max : b.read_max;
	uint32_t n = s->len - job->piece_at < piece_max ? s->len - job->piece_at : piece_max;
	uint64_t cost = piece_cost(job->to_host, n);
	if (!reserve(c, cost, &b))
		return PIECE_NO_BUDGET;
	struct piece *p = malloc(sizeof(*p));
	if (!p) {
		__atomic_fetch_sub(&c->dma_bytes, cost, __ATOMIC_SEQ_CST);
		job->dma_error = -ENOMEM;
		return PIECE_NONE;
	}
	p->job = job;
	p->cost = cost;
	uint64_t addr = s->addr + job->piece_at;
	int ret = job->to_host ? uvf_dma_write_async(c->dev, addr, job->buf + job->piece_off, n, piece_done, p)
			       : uvf_dma_read_async(c->dev, addr, job->buf + job->piece_off, n, piece_done, p);
	if (ret < 0) {
		__atomic_fetch_sub(&c->dma_bytes, cost, __ATOMIC_SEQ_CST);
		free(p);
		job->dma_error = ret;
		return PIECE_NONE;
	}
	job->outstanding++;
	job->piece_at += n;
	job->piece_off += n;
	return PIECE_STARTED;
}

/* Start queued pieces, oldest job first, while the budget allows. A job
 * leaves the queue when its last piece started, and gives up its queue
 * hold then. Out of budget, the queue is marked starved, and looks once
 * more: a piece that finished meanwhile either sees the mark or left
 * budget this look sees. */
static void start_pieces(struct nvme_ctrl *c, struct nvme_dmaq *q)
{
	while (q->wait) {
		struct nvme_job *job = q->wait;
		int r = nvme_job_live(c, job) ? start_piece(c, job) : PIECE_NONE;
		if (r == PIECE_STARTED)
			continue;
		if (r == PIECE_NO_BUDGET) {
			__atomic_store_n(&q->starved, 1, __ATOMIC_SEQ_CST);
			r = start_piece(c, job);
			if (r == PIECE_NO_BUDGET)
				return;
			__atomic_store_n(&q->starved, 0, __ATOMIC_SEQ_CST);
			if (r == PIECE_STARTED)
				continue;
		}
		q->wait = job->dma_next;
		if (!q->wait)
			q->tail = &q->wait;
		job->dma_queued = false;
		release(c, job);
	}
}

/* No lock held: start the pieces that waited for budget in any queue. */
void nvme_dma_unstarve(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i <= c->nworkers; i++) {
		struct nvme_group *g = i < c->nworkers ? &c->group[i] : NULL;
		struct nvme_dmaq *q = g ? &g->dmaq : &c->admin_dmaq;
		if (!__atomic_exchange_n(&q->starved, 0, __ATOMIC_SEQ_CST))
			continue;
		if (g)
			nvme_lock_group(g);
		else
			nvme_lock_all(c);
		start_pieces(c, q);
		nvme_batch_end(c, g);
		if (g)
			nvme_unlock_group(g);
		else
			nvme_unlock_all(c);
	}
}

/* Move job->len bytes between job->buf and the segments by DMA. */
void nvme_move_data(struct nvme_ctrl *c, struct nvme_job *job, nvme_step_fn after)
{
	struct nvme_dmaq *q = dmaq_of(c, job);

	job->after = after;
	job->dma_error = 0;
	job->piece_seg = 0;
	job->piece_at = 0;
	job->piece_off = 0;
	job->outstanding = 1; /* the queue's hold, until every piece started */
	job->dma_queued = true;
	job->dma_next = NULL;
	if (!q->wait)
		q->tail = &q->wait;
	*q->tail = job;
	q->tail = &job->dma_next;
	start_pieces(c, q);
}

/* Jobs queued for DMA that a reset, quiesce or deletion made stale leave
 * their queue (their pieces in flight still return to them). */
static void purge(struct nvme_ctrl *c, struct nvme_dmaq *q)
{
	struct nvme_job **link = &q->wait;

	while (*link) {
		struct nvme_job *job = *link;
		if (nvme_job_live(c, job)) {
			link = &job->dma_next;
			continue;
		}
		*link = job->dma_next;
		job->dma_queued = false;
		release(c, job);
	}
	q->tail = &q->wait;
	while (*q->tail)
		q->tail = &(*q->tail)->dma_next;
	start_pieces(c, q);
}

void nvme_dma_purge(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i < c->nworkers; i++)
		purge(c, &c->group[i].dmaq);
	purge(c, &c->admin_dmaq);
}

void nvme_mark_dirty(struct nvme_ctrl *c, const struct nvme_job *job)
{
	for (size_t i = 0; i < job->nseg; i++)
		uvf_dma_mark_dirty(c->dev, job->segs[i].addr, job->segs[i].len);
}

/* The guest pages of every segment as iovecs (0), or -errno when one is
 * not mapped with an fd (message-based DMA) or lacks the permission. */
static int map_iov(struct nvme_ctrl *c, struct nvme_job *job)
{
	uint32_t prot = job->to_host ? UVF_DMA_MAP_FLAG_WRITE : UVF_DMA_MAP_FLAG_READ;

	job->niov = 0;
	for (size_t i = 0; i < job->nseg; i++) {
		for (;;) {
			if (job->iovcap - job->niov < 4) {
				int cap = job->iovcap ? job->iovcap * 2 : (int)job->nseg + 4;
				struct iovec *v = realloc(job->iov, (size_t)cap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				job->iov = v;
				job->iovcap = cap;
			}
			int n = uvf_dma_sg(c->dev, job->segs[i].addr, job->segs[i].len, prot, job->iov + job->niov,
					   job->iovcap - job->niov);
			if (n == -ENOSPC) {
				job->iovcap *= 2;
				struct iovec *v = realloc(job->iov, (size_t)job->iovcap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				job->iov = v;
				continue;
			}
			if (n < 0) {
				job->niov = 0;
				return n;
			}
			job->niov += n;
			break;
		}
	}
	return 0;
}

/* Every segment is known. */
static void segs_ready(struct nvme_ctrl *c, struct nvme_job *job)
{
	if (job->want_map) {
		/* not mapped: niov stays 0 and `after` takes the bounce path */
		if (map_iov(c, job) < 0)
			job->niov = 0;
		job->after(c, job);
		return;
	}
	nvme_move_data(c, job, job->after);
}

/* Append [addr, addr + len) to the segments, merged with the last one
 * when it follows it in guest memory. */
static int add_seg(struct nvme_job *job, uint64_t addr, size_t len)
{
	if (addr > UINT64_MAX - len)
		return -EFAULT;
	if (job->nseg) {
		struct nvme_seg *last = &job->segs[job->nseg - 1];
		if (last->addr + last->len == addr && (uint64_t)last->len + len <= UINT32_MAX) {
			last->len += (uint32_t)len;
			job->mapped += len;
			return 0;
		}
	}
	if (job->nseg == job->segcap) {
		size_t cap = job->segcap ? job->segcap * 2 : 16;
		struct nvme_seg *s = realloc(job->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		job->segs = s;
		job->segcap = cap;
	}
	job->segs[job->nseg].addr = addr;
	job->segs[job->nseg].len = (uint32_t)len;
	job->nseg++;
	job->mapped += len;
	return 0;
}

static void fail(struct nvme_ctrl *c, struct nvme_job *job, uint16_t status)
{
	job->status = status;
	nvme_complete(c, job);
}

static void read_list(struct nvme_ctrl *c, struct nvme_job *job);

static size_t list_count(const struct nvme_job *job)
{
	size_t slots = (NVME_PAGE - job->prp_list % NVME_PAGE) / 8;
	return job->prp_left < slots ? job->prp_left : slots;
}

/* The entries of one list page are in prp_tmp. */
static void take_list(struct nvme_ctrl *c, struct nvme_job *job)
{
	size_t cnt = list_count(job);
	bool more = job->prp_left > cnt; /* the last slot chains to the next list page */
	size_t data_entries = more ? cnt - 1 : cnt;
	for (size_t i = 0; i < data_entries; i++) {
		uint64_t e = job->prp_tmp[i];
		size_t n = job->len - job->mapped < NVME_PAGE ? job->len - job->mapped : NVME_PAGE;
		if (e % NVME_PAGE) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		if (add_seg(job, e, n) < 0) {
			fail(c, job, NVME_SC_DATA_XFER);
			return;
		}
	}
	job->prp_left -= data_entries;
	if (more) {
		job->prp_list = job->prp_tmp[cnt - 1];
		/* a chained list starts a page: every list page then adds
		 * entries, so a list pointing at itself cannot loop for ever */
		if (job->prp_list % NVME_PAGE || data_entries == 0) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		read_list(c, job);
		return;
	}
	free(job->prp_tmp);
	job->prp_tmp = NULL;
	segs_ready(c, job);
}

static void list_read(struct uvf_device *dev, void *data, int result)
{
	struct nvme_job *job = data;
	struct nvme_ctrl *c = job->c;

	struct nvme_group *g = job->grp;

	(void)dev;
	nvme_lock_job(c, job);
	if (!nvme_job_live(c, job))
		nvme_job_drop(c, job);
	else if (result < 0)
		fail(c, job, NVME_SC_DATA_XFER);
	else
		take_list(c, job);
	nvme_batch_end(c, g);
	if (g)
		nvme_unlock_group(g);
	else
		nvme_unlock_all(c);
}

static void read_list(struct nvme_ctrl *c, struct nvme_job *job)
{
	size_t cnt = list_count(job);

	if (!job->prp_tmp && !(job->prp_tmp = malloc(NVME_PAGE))) {
		fail(c, job, NVME_SC_DATA_XFER);
		return;
	}
	/* a mapped list is read in place, without a round through dispatch */
	const void *p = uvf_dma_ptr(c->dev, job->prp_list, cnt * 8, UVF_DMA_MAP_FLAG_READ);
	if (p) {
		memcpy(job->prp_tmp, p, cnt * 8);
		take_list(c, job);
		return;
	}
	if (uvf_dma_read_async(c->dev, job->prp_list, job->prp_tmp, cnt * 8, list_read, job) < 0)
		fail(c, job, NVME_SC_DATA_XFER);
}

static void transfer(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after)
{
	uint64_t prp1 = (uint64_t)job->sqe[7] << 32 | job->sqe[6];
	uint64_t prp2 = (uint64_t)job->sqe[9] << 32 | job->sqe[8];

	job->len = len;
	job->to_host = to_host;
	job->after = after;
	job->nseg = 0;
	job->mapped = 0;
	job->dma_error = 0;
	if (prp1 % 4) {
		fail(c, job, NVME_SC_PRP_OFFSET);
		return;
	}
	size_t first = NVME_PAGE - prp1 % NVME_PAGE;
	if (first > len)
		first = len;
	if (add_seg(job, prp1, first) < 0) {
		fail(c, job, NVME_SC_DATA_XFER);
		return;
	}
	size_t rest = len - first;
	if (rest == 0) {
		segs_ready(c, job);
		return;
	}
	size_t entries = (rest + NVME_PAGE - 1) / NVME_PAGE;
	if (entries == 1) {
		if (prp2 % NVME_PAGE) {
			fail(c, job, NVME_SC_PRP_OFFSET);
			return;
		}
		if (add_seg(job, prp2, rest) < 0) {
			fail(c, job, NVME_SC_DATA_XFER);
			return;
		}
		segs_ready(c, job);
		return;
	}
	if (prp2 % 8) {
		fail(c, job, NVME_SC_PRP_OFFSET);
		return;
	}
	job->prp_list = prp2;
	job->prp_left = entries;
	read_list(c, job);
}

/* Move len bytes between job->buf and the PRPs of the command, then after. */
void nvme_transfer(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after)
{
	job->want_map = false;
	transfer(c, job, len, to_host, after);
}

/* Resolve the PRPs of the command, then after: with job->iov/niov the
 * mapped guest pages, or niov 0 when they must be reached by message
 * (nvme_move_data() with a buffer then). */
void nvme_transfer_map(struct nvme_ctrl *c, struct nvme_job *job, size_t len, bool to_host, nvme_step_fn after)
{
	job->want_map = true;
	transfer(c, job, len, to_host, after);
}
