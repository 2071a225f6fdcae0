/* SPDX-License-Identifier: MIT */
/*
 * Interrupt coalescing (Set Features 08h and 09h). An I/O CQ's interrupt
 * waits until the aggregation threshold (THR + 1 entries) is reached, or
 * the aggregation time (TIME x 100 us) has passed since the oldest entry
 * it holds was posted, whichever comes first. TIME 0 raises it at the end
 * of the batch of work that posted the entries. The admin CQ, and the
 * vectors with Coalescing Disable set (Interrupt Vector Configuration),
 * are never held.
 *
 * The time runs in a timer thread, started the first time a host sets a
 * non-zero TIME: it sleeps until the earliest deadline armed, then runs
 * the end of a batch for every worker, which raises what is due and arms
 * what is not yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "nvme_int.h"

struct nvme_coal {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool stop;
	uint64_t deadline; /* the earliest armed, 0: none */
};

uint64_t nvme_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool coalesced(const struct nvme_ctrl *c, const struct nvme_cq *cq, uint16_t cqid)
{
	return cqid != 0 && !(c->coal_disabled[cq->iv / 64] >> (cq->iv % 64) & 1);
}

bool nvme_coal_post(struct nvme_ctrl *c, struct nvme_cq *cq, uint16_t cqid)
{
	unsigned threshold = (c->feat_coal & 0xff) + 1;

	if (!coalesced(c, cq, cqid) || ++cq->unsignalled >= threshold) {
		cq->unsignalled = 0;
		return true;
	}
	if (cq->unsignalled == 1 && c->feat_coal >> 8 & 0xff)
		cq->first_ns = nvme_now_ns();
	return false;
}

static void arm(struct nvme_ctrl *c, uint64_t when)
{
	struct nvme_coal *t = c->coal;

	if (!t)
		return; /* no timer: no TIME was set, nothing is held for long */
	pthread_mutex_lock(&t->lock);
	if (!t->deadline || when < t->deadline) {
		t->deadline = when;
		pthread_cond_signal(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
}

bool nvme_coal_due(struct nvme_ctrl *c, struct nvme_cq *cq, uint16_t cqid)
{
	uint64_t time_ns = (uint64_t)(c->feat_coal >> 8 & 0xff) * 100000u;

	if (!cq->unsignalled)
		return false;
	if (time_ns && coalesced(c, cq, cqid)) {
		uint64_t when = cq->first_ns + time_ns;
		if (nvme_now_ns() < when) {
			arm(c, when);
			return false;
		}
	}
	cq->unsignalled = 0;
	return true;
}

static void *timer(void *arg)
{
	struct nvme_ctrl *c = arg;
	struct nvme_coal *t = c->coal;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		if (!t->deadline) {
			pthread_cond_wait(&t->cond, &t->lock);
			continue;
		}
		uint64_t now = nvme_now_ns();
		if (now < t->deadline) {
			struct timespec ts = {(time_t)(t->deadline / 1000000000u), (long)(t->deadline % 1000000000u)};
			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
			continue;
		}
		t->deadline = 0;
		pthread_mutex_unlock(&t->lock);
		/* workers' locks without ours: they arm under theirs */
		for (unsigned i = 0; i < c->nworkers; i++) {
			nvme_lock_group(&c->group[i]);
			nvme_batch_end(c, &c->group[i]);
			nvme_unlock_group(&c->group[i]);
		}
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int nvme_coal_start(struct nvme_ctrl *c)
{
	struct nvme_coal *t;
	pthread_condattr_t attr;
	int ret;

	if (c->coal)
		return 0;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &attr);
	pthread_condattr_destroy(&attr);
	c->coal = t;
	if ((ret = pthread_create(&t->thread, NULL, timer, c)) != 0) {
		c->coal = NULL;
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return -ret;
	}
	return 0;
}

void nvme_coal_stop(struct nvme_ctrl *c)
{
	struct nvme_coal *t = c->coal;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	c->coal = NULL;
}
