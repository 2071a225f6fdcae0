/* SPDX-License-Identifier: MIT */
/*
 * Workers: the I/O queue pairs in groups, each with a lock and an engine
 * of its own, so that several queues use several CPUs.
 *
 * A group's engine threads (the io_uring reaper, or the pool threads) run
 * the group's completions themselves: post the completion entry, raise
 * the interrupt, fetch and start what the SQ holds next, hand it to the
 * group's engine. The dispatch thread takes MMIO doorbells, admin
 * commands and message-based DMA replies, and the shadow doorbell poller
 * takes new shadow tails; both run a queue's work under its group's lock.
 *
 * An engine thread never waits for a group's lock: it leaves the finished
 * requests on the engine's list, flags the group, and tries the lock; a
 * thread that holds the lock looks at the flag when it lets go. So the
 * dispatch thread may hold every lock while it waits for the engines to go
 * idle (reset, quiesce, unmap).
 */
#include <errno.h>
#include <unistd.h>

#include "nvme_int.h"

/* A per-thread address: who holds a group, for nesting. */
static __thread char self_token;

unsigned nvme_workers_default(unsigned queues)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 0 ? (unsigned)cpus : 1;

	if (n > queues)
		n = queues;
	if (n > NVME_MAX_WORKERS)
		n = NVME_MAX_WORKERS;
	return n ? n : 1;
}

bool nvme_group_held(const struct nvme_group *g)
{
	return __atomic_load_n(&g->owner, __ATOMIC_RELAXED) == &self_token;
}

static void take(struct nvme_group *g)
{
	__atomic_store_n(&g->owner, &self_token, __ATOMIC_RELAXED);
	g->depth = 1;
}

void nvme_lock_group(struct nvme_group *g)
{
	if (nvme_group_held(g)) {
		g->depth++;
		return;
	}
	pthread_mutex_lock(&g->mu);
	take(g);
}

/* Run what the engine finished, if nobody holds the group; else the
 * holder does when it lets go. */
static void reap(struct nvme_group *g)
{
	while (__atomic_load_n(&g->ready, __ATOMIC_SEQ_CST)) {
		if (pthread_mutex_trylock(&g->mu) != 0)
			return; /* the holder looks at the flag after it unlocks */
		take(g);
		__atomic_store_n(&g->ready, 0, __ATOMIC_SEQ_CST);
		nvme_aio_poll(g->aio);
		nvme_batch_end(g->c, g);
		g->depth = 0;
		__atomic_store_n(&g->owner, NULL, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&g->mu);
	}
}

void nvme_unlock_group(struct nvme_group *g)
{
	if (--g->depth)
		return;
	__atomic_store_n(&g->owner, NULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g->mu);
	if (g->aio)
		reap(g);
}

/* The engine's ready callback, on one of its threads. */
static void group_ready(void *data)
{
	struct nvme_group *g = data;

	__atomic_store_n(&g->ready, 1, __ATOMIC_SEQ_CST);
	reap(g);
}

void nvme_lock_all(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i < c->nworkers; i++)
		nvme_lock_group(&c->group[i]);
}

void nvme_unlock_all(struct nvme_ctrl *c)
{
	for (unsigned i = c->nworkers; i-- > 0;)
		nvme_unlock_group(&c->group[i]);
}

struct nvme_group *nvme_cq_group(struct nvme_ctrl *c, uint16_t cqid)
{
	return cqid ? &c->group[(cqid - 1u) % c->nworkers] : NULL;
}

struct nvme_group *nvme_lock_sq(struct nvme_ctrl *c, uint16_t sqid)
{
	if (sqid == 0) {
		nvme_lock_all(c);
		return NULL;
	}
	/* sq_group changes only with every lock held: once the lock of the
	 * group read is held, a second read is stable */
	for (;;) {
		struct nvme_group *g = &c->group[__atomic_load_n(&c->sq_group[sqid], __ATOMIC_RELAXED)];
		nvme_lock_group(g);
		if (__atomic_load_n(&c->sq_group[sqid], __ATOMIC_RELAXED) == g->index)
			return g;
		nvme_unlock_group(g);
	}
}

void nvme_lock_job(struct nvme_ctrl *c, const struct nvme_job *job)
{
	if (job->grp)
		nvme_lock_group(job->grp);
	else
		nvme_lock_all(c);
}

void nvme_unlock_job(struct nvme_ctrl *c, const struct nvme_job *job)
{
	if (job->grp)
		nvme_unlock_group(job->grp);
	else
		nvme_unlock_all(c);
}

int nvme_workers_init(struct nvme_ctrl *c, unsigned workers)
{
	unsigned n = workers ? workers : nvme_workers_default(c->nq);
	int ret;

	if (n > c->nq)
		n = c->nq;
	if (n < 1 || n > NVME_MAX_WORKERS)
		return -EINVAL;
	c->admin_dmaq.tail = &c->admin_dmaq.wait;
	if ((ret = pthread_mutex_init(&c->intx_lock, NULL)) != 0)
		return -ret;
	for (unsigned i = 0; i < n; i++) {
		struct nvme_group *g = &c->group[i];
		g->c = c;
		g->index = i;
		g->dmaq.tail = &g->dmaq.wait;
		if ((ret = pthread_mutex_init(&g->mu, NULL)) != 0) {
			c->nworkers = i;
			nvme_workers_free(c);
			return -ret;
		}
		c->nworkers = i + 1;
	}
	if (c->store.fd < 0)
		return 0;
	/* the pool threads (without io_uring): about 4 for the controller */
	unsigned threads = (c->nq < 4 ? c->nq : 4) / n;
	for (unsigned i = 0; i < n; i++) {
		ret = nvme_aio_new(&c->group[i].aio, c->dev, threads ? threads : 1, group_ready, &c->group[i]);
		if (ret < 0) {
			nvme_workers_free(c);
			return ret;
		}
	}
	uvf_device_log(c->dev, UVF_LOG_DEBUG, "nvme: %u workers, backing I/O through %s", n,
		       nvme_aio_kind(c->group[0].aio));
	return 0;
}

void nvme_workers_free(struct nvme_ctrl *c)
{
	for (unsigned i = 0; i < c->nworkers; i++) {
		nvme_aio_free(c->group[i].aio);
		c->group[i].aio = NULL;
	}
	for (unsigned i = 0; i < c->nworkers; i++)
		pthread_mutex_destroy(&c->group[i].mu);
	if (c->nworkers)
		pthread_mutex_destroy(&c->intx_lock);
	c->nworkers = 0;
}
