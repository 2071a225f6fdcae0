/* SPDX-License-Identifier: MIT */
/*
 * The I/O engine of a file-backed namespace: reads, writes and flushes of
 * the backing file run off the dispatch thread, many at once, straight
 * between the file and the iovecs they are given (mapped guest memory, or
 * a bounce buffer when the guest memory comes by message).
 *
 * With io_uring (built with liburing, and a kernel that grants a ring) the
 * submitter queues each request on the engine's ring and a reaper thread
 * collects the completions. Otherwise, or with UVF_NVME_AIO=threads in the
 * environment, a pool of threads runs preadv/pwritev/fdatasync. Either way
 * a finished request goes on the done list and the engine's ready callback
 * runs on the thread that finished it; the owner (a worker, worker.c) runs
 * the done callbacks under its lock, from that thread or from whoever
 * holds the lock. Submit, kick and poll are called under that lock.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef UVF_NVME_IO_URING
#include <liburing.h>
#endif

#include "nvme_int.h"

#define AIO_MAX_THREADS 8
#define AIO_RING_DEPTH	256u
#define AIO_WINDOW	64 /* iovecs per preadv/pwritev call when resuming a short transfer */

struct nvme_aio {
	struct uvf_device *dev;
	void (*ready)(void *data);
	void *ready_data;
	pthread_mutex_t lock;
	pthread_cond_t work;			/* pool: a request was queued, or stop */
	pthread_cond_t idle;			/* running dropped to 0 */
	struct nvme_aio_req *todo, **todo_tail; /* pool: to run */
	struct nvme_aio_req *done, **done_tail; /* finished, for nvme_aio_poll() */
	unsigned running;			/* submitted and not yet on the done list */
	bool stopping;
	unsigned nthreads;
	pthread_t threads[AIO_MAX_THREADS];
#ifdef UVF_NVME_IO_URING
	bool uring;
	struct io_uring ring;
	/* bumped (release) before each submit, read (acquire) by the reaper
	 * after each completion: the ring is shared with the kernel, so this
	 * is what orders the submitter's writes to a request before the
	 * reaper's reads for the compiler and for thread sanitizers */
	unsigned long submits;
#endif
};

/* ---- synchronous execution (pool workers, and io_uring leftovers) ---- */

/* Move req's bytes from byte `from` on with preadv/pwritev, resuming after
 * short transfers; a read past the end of a file that shrank reads zeros. */
static int run_sync(struct nvme_aio_req *req, size_t from)
{
	struct iovec win[AIO_WINDOW];
	size_t pos = from;

	if (req->op == NVME_AIO_FLUSH)
		return fdatasync(req->fd) < 0 ? -errno : 0;
	while (pos < req->len) {
		/* find the iovec holding byte pos, then a window from there */
		size_t skip = pos, i = 0;
		while (i < (size_t)req->iovcnt && skip >= req->iov[i].iov_len)
			skip -= req->iov[i++].iov_len;
		int n = 0;
		for (; i < (size_t)req->iovcnt && n < AIO_WINDOW; i++, n++) {
			win[n].iov_base = (uint8_t *)req->iov[i].iov_base + skip;
			win[n].iov_len = req->iov[i].iov_len - skip;
			skip = 0;
		}
		ssize_t got = req->op == NVME_AIO_READ ? preadv(req->fd, win, n, (off_t)(req->off + pos))
						       : pwritev(req->fd, win, n, (off_t)(req->off + pos));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0) {
			if (req->op != NVME_AIO_READ)
				return -EIO;
			for (int k = 0; k < n; k++) /* the file shrank: zeros */
				memset(win[k].iov_base, 0, win[k].iov_len);
			got = 0;
			for (int k = 0; k < n; k++)
				got += (ssize_t)win[k].iov_len;
		}
		pos += (size_t)got;
	}
	return 0;
}

/* A request finished (an engine thread): hand it over. */
static void finish(struct nvme_aio *a, struct nvme_aio_req *req, int result)
{
	req->result = result;
	req->next = NULL;
	pthread_mutex_lock(&a->lock);
	*a->done_tail = req;
	a->done_tail = &req->next;
	if (--a->running == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
	/* the owner runs the list now, or whoever holds its lock does */
	a->ready(a->ready_data);
}

static void *pool_worker(void *data)
{
	struct nvme_aio *a = data;

	for (;;) {
		pthread_mutex_lock(&a->lock);
		while (!a->todo && !a->stopping)
			pthread_cond_wait(&a->work, &a->lock);
		struct nvme_aio_req *req = a->todo;
		if (!req) {
			pthread_mutex_unlock(&a->lock);
			return NULL;
		}
		a->todo = req->next;
		if (!a->todo)
			a->todo_tail = &a->todo;
		pthread_mutex_unlock(&a->lock);
		finish(a, req, run_sync(req, 0));
	}
}

#ifdef UVF_NVME_IO_URING
/* user_data 0 on the ring: the reaper's signal to stop */
static void *uring_reaper(void *data)
{
	struct nvme_aio *a = data;

	for (;;) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&a->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			uvf_device_log(a->dev, UVF_LOG_ERROR, "nvme: io_uring wait: %s", uvf_strerror(ret));
			return NULL;
		}
		(void)__atomic_load_n(&a->submits, __ATOMIC_ACQUIRE);
		struct nvme_aio_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&a->ring, cqe);
		if (!req)
			return NULL;
		if (req->op == NVME_AIO_FLUSH || req->sync_only)
			res = req->sync_only ? run_sync(req, 0) : res;
		else if (res == -EINTR || res == -EAGAIN)
			res = run_sync(req, 0);
		else if (res >= 0) /* short: the rest the plain way */
			res = (size_t)res < req->len ? run_sync(req, (size_t)res) : 0;
		finish(a, req, res < 0 ? res : 0);
	}
}

static void uring_queue(struct nvme_aio *a, struct nvme_aio_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);

	if (!sqe) { /* ring full: hand the queued ones to the kernel first */
		__atomic_fetch_add(&a->submits, 1, __ATOMIC_RELEASE);
		io_uring_submit(&a->ring);
		sqe = io_uring_get_sqe(&a->ring);
	}
	if (!sqe) { /* cannot happen after a submit; run it here rather than lose it */
		finish(a, req, run_sync(req, 0));
		return;
	}
	req->sync_only = false;
	if (req->op == NVME_AIO_FLUSH)
		io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
	else if (req->iovcnt > IOV_MAX) {
		req->sync_only = true; /* too many for one readv: the reaper does it */
		io_uring_prep_nop(sqe);
	} else if (req->op == NVME_AIO_READ)
		io_uring_prep_readv(sqe, req->fd, req->iov, (unsigned)req->iovcnt, req->off);
	else
		io_uring_prep_writev(sqe, req->fd, req->iov, (unsigned)req->iovcnt, req->off);
	io_uring_sqe_set_data(sqe, req);
}
#endif

void nvme_aio_submit(struct nvme_aio *a, struct nvme_aio_req *req)
{
	req->next = NULL;
	pthread_mutex_lock(&a->lock);
	a->running++;
#ifdef UVF_NVME_IO_URING
	if (a->uring) {
		pthread_mutex_unlock(&a->lock);
		uring_queue(a, req);
		return;
	}
#endif
	*a->todo_tail = req;
	a->todo_tail = &req->next;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->lock);
}

void nvme_aio_kick(struct nvme_aio *a)
{
#ifdef UVF_NVME_IO_URING
	/* one io_uring_enter for every request queued since the last kick */
	if (a->uring && io_uring_sq_ready(&a->ring)) {
		__atomic_fetch_add(&a->submits, 1, __ATOMIC_RELEASE);
		io_uring_submit(&a->ring);
	}
#else
	(void)a;
#endif
}

void nvme_aio_poll(struct nvme_aio *a)
{
	pthread_mutex_lock(&a->lock);
	struct nvme_aio_req *list = a->done;
	a->done = NULL;
	a->done_tail = &a->done;
	pthread_mutex_unlock(&a->lock);
	while (list) {
		struct nvme_aio_req *req = list;
		list = req->next;
		req->done(req);
	}
}

bool nvme_aio_idle(struct nvme_aio *a)
{
	pthread_mutex_lock(&a->lock);
	bool idle = a->running == 0;
	pthread_mutex_unlock(&a->lock);
	return idle;
}

int nvme_aio_run_here(struct nvme_aio_req *req)
{
	return run_sync(req, 0);
}

void nvme_aio_wait_idle(struct nvme_aio *a)
{
	pthread_mutex_lock(&a->lock);
	while (a->running)
		pthread_cond_wait(&a->idle, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

const char *nvme_aio_kind(const struct nvme_aio *a)
{
#ifdef UVF_NVME_IO_URING
	if (a->uring)
		return "io_uring";
#endif
	(void)a;
	return "threads";
}

int nvme_aio_new(struct nvme_aio **out, struct uvf_device *dev, unsigned threads, void (*ready)(void *data),
		 void *ready_data)
{
	struct nvme_aio *a = calloc(1, sizeof(*a));
	const char *force = getenv("UVF_NVME_AIO");
	int ret = 0;

	if (!a)
		return -ENOMEM;
	a->dev = dev;
	a->ready = ready;
	a->ready_data = ready_data;
	a->todo_tail = &a->todo;
	a->done_tail = &a->done;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->idle, NULL);
#ifdef UVF_NVME_IO_URING
	if (!force || strcmp(force, "threads")) {
		ret = io_uring_queue_init(AIO_RING_DEPTH, &a->ring, 0);
		if (ret == 0) {
			ret = -pthread_create(&a->threads[0], NULL, uring_reaper, a);
			if (ret == 0) {
				a->uring = true;
				a->nthreads = 1;
				*out = a;
				return 0;
			}
			io_uring_queue_exit(&a->ring);
		}
		uvf_device_log(dev, UVF_LOG_INFO, "nvme: no io_uring (%s), using threads", uvf_strerror(ret));
	}
#else
	(void)force;
#endif
	if (threads < 1)
		threads = 1;
	if (threads > AIO_MAX_THREADS)
		threads = AIO_MAX_THREADS;
	for (unsigned i = 0; i < threads; i++) {
		ret = -pthread_create(&a->threads[i], NULL, pool_worker, a);
		if (ret < 0)
			break;
		a->nthreads++;
	}
	if (a->nthreads == 0) {
		nvme_aio_free(a);
		return ret;
	}
	*out = a;
	return 0;
}

void nvme_aio_free(struct nvme_aio *a)
{
	if (!a)
		return;
	nvme_aio_kick(a);
	nvme_aio_wait_idle(a);
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->lock);
#ifdef UVF_NVME_IO_URING
	if (a->uring) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
		if (!sqe) {
			nvme_aio_kick(a);
			sqe = io_uring_get_sqe(&a->ring);
		}
		if (sqe) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data(sqe, NULL);
			nvme_aio_kick(a);
		}
	}
#endif
	for (unsigned i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
#ifdef UVF_NVME_IO_URING
	if (a->uring)
		io_uring_queue_exit(&a->ring);
#endif
	/* nothing runs any more; finished requests still listed are the
	 * caller's to collect with nvme_aio_poll() before this */
	pthread_cond_destroy(&a->idle);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
