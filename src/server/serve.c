/* SPDX-License-Identifier: MIT */
/*
 * Serving a device: freezing its description and listening, the one
 * connection (accept, peer checks, the VERSION deadline, dropping a
 * client), and the event loop. Every fd the loop watches carries a
 * callback of its own (struct uvf_watch); a round of events runs those,
 * then the work they asked for, in a fixed order. While the connection is
 * the only source of work, uvf_device_run waits in recvmsg on it instead
 * (the direct receive, docs/design.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"
#include "util.h"

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int uvf__watch(struct uvf_device *dev, struct uvf_watch *w, int fd, uvf_watch_fn fn, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};

	if (on) {
		w->fn = fn;
		w->fd = fd;
	}
	if (epoll_ctl(dev->loop.epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		return -errno;
	if (!w->loop_own)
		dev->loop.extra_watched += on ? 1 : -1;
	return 0;
}

/* A waker's work is in place: the loop must look at it (see loop.h). */
static void note_wakeup(struct uvf_device *dev)
{
	__atomic_add_fetch(&dev->loop.wakeups, 1, __ATOMIC_SEQ_CST);
}

static void drop_client(struct uvf_device *dev, const char *why);
static void handshake_timer(struct uvf_device *dev, int ms);
static void on_stop(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);
static void on_kick(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);
static void on_dma_timer(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);
static void on_handshake_timer(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);

int uvf__serve_init(struct uvf_device *dev)
{
	struct uvf_loop *l = &dev->loop;

	/* The loop's own watches: stop and kick bump `wakeups`, the VERSION
	 * deadline runs before negotiation (no direct receive yet), the
	 * listening socket is off while a client is connected, the connection
	 * is what the direct receive reads, and the DMA timer matters only
	 * while dev->dma_ops keeps the loop in epoll_wait anyway. The twin
	 * socket brings only replies to our DMA requests: those of device
	 * threads are read by them, those of asynchronous transfers come
	 * while dev->dma_ops holds the loop in epoll_wait too. */
	l->stop_watch.loop_own = l->kick_watch.loop_own = l->dma_timer_watch.loop_own = true;
	l->handshake_watch.loop_own = l->listen_watch.loop_own = l->conn_watch.loop_own = true;
	l->twin_watch.loop_own = true;
	dev->listen_fd = -1;
	dev->conn_fd = -1;
	dev->loop.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	dev->loop.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->loop.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->loop.dma_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	dev->loop.handshake_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (dev->loop.epoll_fd < 0 || dev->loop.stop_fd < 0 || dev->loop.kick_fd < 0 || dev->loop.dma_timer_fd < 0 ||
	    dev->loop.handshake_timer_fd < 0)
		return -errno;
	int ret;
	if ((ret = uvf__watch(dev, &dev->loop.stop_watch, dev->loop.stop_fd, on_stop, true)) < 0 ||
	    (ret = uvf__watch(dev, &dev->loop.kick_watch, dev->loop.kick_fd, on_kick, true)) < 0 ||
	    (ret = uvf__watch(dev, &dev->loop.dma_timer_watch, dev->loop.dma_timer_fd, on_dma_timer, true)) < 0 ||
	    (ret = uvf__watch(dev, &dev->loop.handshake_watch, dev->loop.handshake_timer_fd, on_handshake_timer, true)) < 0)
		return ret;
	return 0;
}

void uvf__serve_close(struct uvf_device *dev)
{
	if (dev->conn_fd >= 0)
		drop_client(dev, "device freed");
	uvf__dma_async_cancel(dev, -ECANCELED);
	close_fd(&dev->listen_fd);
	if (dev->socket_path) {
		/* A server that started on the path since ours stopped listening
		 * keeps its socket. */
		int err = uvf__sock_unlink_own(dev->socket_path, dev->socket_dev, dev->socket_ino);
		if (err == -ESTALE)
			dev_info(dev, "%s is another server's socket now: left in place", dev->socket_path);
		else if (err < 0 && err != -ENOENT)
			dev_warn(dev, "cannot remove %s: %s", dev->socket_path, uvf_strerror(err));
		free(dev->socket_path);
		dev->socket_path = NULL;
	}
	close_fd(&dev->loop.epoll_fd);
	close_fd(&dev->loop.stop_fd);
	close_fd(&dev->loop.kick_fd);
	close_fd(&dev->loop.dma_timer_fd);
	close_fd(&dev->loop.handshake_timer_fd);
	uvf__rx_destroy(&dev->rx);
	uvf__rx_destroy(&dev->wait_rx);
	uvf__rx_ahead_reset(&dev->ahead);
	free(dev->queue);
	dev->queue = NULL;
}

/* ------------------------------------------------------------------ */
/* Freezing and listening                                               */
/* ------------------------------------------------------------------ */

static int freeze(struct uvf_device *dev, const struct uvf_serve_opts *opts)
{
	if (dev->frozen)
		return -EBUSY;
	if (!dev->ids_set) {
		dev_log(dev, UVF_LOG_ERROR, "device has no PCI ids: call uvf_device_set_pci_ids first");
		return -EINVAL;
	}
	if (opts) {
		if (opts->version != 1 && opts->version != UVF_SERVE_OPTS_VERSION)
			return -EINVAL;
		if (opts->max_data_xfer_size < UVF_CAPS_MIN_XFER || opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT ||
		    opts->max_msg_fds > UVF_SERVER_MAX_MSG_FDS || opts->max_dma_maps == 0 ||
		    opts->max_dma_maps > 65535)
			return -EINVAL;
		if (opts->version >= 2 &&
		    (opts->poll_us > 1000000 ||
		     (opts->peer_check & ~(UVF_PEER_SAME_UID | UVF_PEER_UID | UVF_PEER_GID)) ||
		     opts->handshake_timeout_ms < -1))
			return -EINVAL;
		/* a version 1 struct ends before the version 2 fields */
		struct uvf_serve_opts o = UVF_SERVE_OPTS_INIT;
		o.socket_mode = opts->socket_mode;
		o.max_data_xfer_size = opts->max_data_xfer_size;
		o.max_msg_fds = opts->max_msg_fds;
		o.max_dma_maps = opts->max_dma_maps;
		o.dma_timeout_ms = opts->dma_timeout_ms;
		if (opts->version >= 2) {
			o.poll_us = opts->poll_us;
			o.no_twin_socket = opts->no_twin_socket;
			o.socket_group = opts->socket_group;
			o.peer_check = opts->peer_check;
			o.peer_uid = opts->peer_uid;
			o.peer_gid = opts->peer_gid;
			if (opts->handshake_timeout_ms)
				o.handshake_timeout_ms = opts->handshake_timeout_ms;
		}
		dev->opts = o;
	}

	int ret = uvf__device_build(dev);
	if (ret < 0)
		return ret;

	/* Largest message we accept: a full REGION_WRITE, or VERSION JSON. */
	dev->max_msg_size = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_region_access) + dev->opts.max_data_xfer_size;
	if (dev->max_msg_size < UVF_MSG_HEADER_SIZE + 4 + UVF_CAPS_JSON_MAX + 1)
		dev->max_msg_size = UVF_MSG_HEADER_SIZE + 4 + UVF_CAPS_JSON_MAX + 1;
	/* ... or the largest REGION_WRITE_MULTI we accept */
	if (dev->max_msg_size < UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_write_multi) +
					UVF_WRITE_MULTI_MAX_ENTRIES * sizeof(struct uvf_msg_write_multi_entry))
		dev->max_msg_size = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_write_multi) +
				    UVF_WRITE_MULTI_MAX_ENTRIES * sizeof(struct uvf_msg_write_multi_entry);
	uvf__rx_init(&dev->rx, dev->max_msg_size);
	uvf__rx_init(&dev->wait_rx, dev->max_msg_size);
	dev->rx.ahead = dev->wait_rx.ahead = &dev->ahead;
	dev->frozen = true;
	return 0;
}

static void on_listen(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);
static void on_conn(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);
static void on_twin(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);

static int start_listening(struct uvf_device *dev, int fd)
{
	int ret = uvf__watch(dev, &dev->loop.listen_watch, fd, on_listen, true);
	if (ret < 0) {
		dev->frozen = false;
		return ret; /* fd stays with the caller */
	}
	dev->listen_fd = fd;
	dev->loop.listen_watched = true;
	return 0;
}

int uvf_device_listen(struct uvf_device *dev, const char *path, const struct uvf_serve_opts *opts)
{
	struct uvf_why why = {{0}};
	int fd, ret;

	if (!dev || !path)
		return -EINVAL;
	ret = freeze(dev, opts);
	if (ret < 0)
		return ret;
	ret = uvf__sock_listen_group(path, dev->opts.socket_mode ? dev->opts.socket_mode : 0600, dev->opts.socket_group,
				     &fd, &why);
	if (ret < 0) {
		dev_log(dev, UVF_LOG_ERROR, "cannot listen on %s: %s", path, why.text[0] ? why.text : uvf_strerror(ret));
		dev->frozen = false;
		return ret;
	}
	dev->socket_path = strdup(path);
	/* the file's identity: free removes it only while it is still ours */
	ret = dev->socket_path ? uvf__sock_file_id(path, &dev->socket_dev, &dev->socket_ino) : -ENOMEM;
	if (ret < 0) {
		close(fd);
		unlink(path);
		free(dev->socket_path);
		dev->socket_path = NULL;
		dev->frozen = false;
		return ret;
	}
	ret = start_listening(dev, fd);
	if (ret < 0) {
		close(fd);
		unlink(path);
		free(dev->socket_path);
		dev->socket_path = NULL;
		return ret;
	}
	dev_info(dev, "listening on %s", path);
	return 0;
}

int uvf_device_listen_fd(struct uvf_device *dev, int fd, const struct uvf_serve_opts *opts)
{
	if (!dev || fd < 0)
		return -EINVAL;
	int ret = freeze(dev, opts);
	if (ret < 0)
		return ret;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		dev->frozen = false;
		return -errno;
	}
	return start_listening(dev, fd);
}

int uvf_device_poll_fd(struct uvf_device *dev)
{
	return dev ? dev->loop.epoll_fd : -EINVAL;
}

bool uvf_device_client_connected(struct uvf_device *dev)
{
	return dev && __atomic_load_n(&dev->client_live, __ATOMIC_ACQUIRE);
}

bool uvf__on_dispatch_thread(struct uvf_device *dev)
{
	if (!__atomic_load_n(&dev->dispatch_known, __ATOMIC_ACQUIRE))
		return true; /* nothing dispatched yet: no client either */
	pthread_t t;
	__atomic_load(&dev->dispatch_thread, &t, __ATOMIC_ACQUIRE);
	return pthread_equal(t, pthread_self());
}

/* Remember the dispatch thread; a store only when it changes. */
static void note_dispatch_thread(struct uvf_device *dev)
{
	pthread_t self = pthread_self();

	if (__atomic_load_n(&dev->dispatch_known, __ATOMIC_RELAXED) && pthread_equal(dev->dispatch_thread, self))
		return;
	/* a different thread dispatches from now on (the application's
	 * choice: never two at once) */
	__atomic_store_n(&dev->dispatch_known, false, __ATOMIC_RELEASE);
	__atomic_store(&dev->dispatch_thread, &self, __ATOMIC_RELEASE);
	__atomic_store_n(&dev->dispatch_known, true, __ATOMIC_RELEASE);
}

void uvf__kick(struct uvf_device *dev)
{
	uint64_t one = 1;

	/* a thread other than the dispatch thread cannot end a wait in
	 * recvmsg at once: from now on the loop waits in epoll_wait */
	if (!uvf__on_dispatch_thread(dev))
		__atomic_store_n(&dev->loop.threads_kick, true, __ATOMIC_SEQ_CST);
	note_wakeup(dev);
	ssize_t n = write(dev->loop.kick_fd, &one, sizeof(one));
	(void)n; /* a full counter already means "run" */
}

void uvf_device_stop(struct uvf_device *dev)
{
	uint64_t one = 1;
	/* Lock-free atomics and write(2) are async-signal-safe; the result
	 * does not matter: a full counter already means "stop". */
	if (dev && dev->loop.stop_fd >= 0) {
		__atomic_store_n(&dev->loop.stop_requested, true, __ATOMIC_SEQ_CST);
		note_wakeup(dev);
		ssize_t n = write(dev->loop.stop_fd, &one, sizeof(one));
		(void)n;
	}
}

/* ------------------------------------------------------------------ */
/* The connection                                                       */
/* ------------------------------------------------------------------ */

int uvf__send_to_client(struct uvf_device *dev, struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	if (dev->conn_fd < 0)
		return -ENOTCONN;
	int ret = uvf__msg_sendv(dev->conn_fd, iov, iovcnt, fds, nfds, dev->opts.dma_timeout_ms);
	if (ret < 0) {
		dev_warn(dev, "sending to the client failed: %s", uvf_strerror(ret));
		dev->drop_requested = true;
	}
	return ret;
}

static void queue_clear(struct uvf_device *dev)
{
	for (size_t i = dev->queue_head; i < dev->queue_len; i++) {
		struct uvf_queued_msg *q = &dev->queue[i];
		for (size_t f = 0; f < q->nfds; f++)
			if (q->fds[f] >= 0)
				close(q->fds[f]);
		free(q->body);
	}
	dev->queue_len = dev->queue_head = dev->queue_bytes = 0;
}

int uvf__queue_push(struct uvf_device *dev, struct uvf_rx *rx)
{
	size_t len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;

	if (dev->queue_len - dev->queue_head >= UVF_SERVER_QUEUE_MAX ||
	    dev->queue_bytes + len > UVF_SERVER_QUEUE_BYTES)
		return -ENOBUFS;
	if (dev->queue_head == dev->queue_len)
		dev->queue_head = dev->queue_len = 0;
	if (!dev->queue) {
		dev->queue = calloc(UVF_SERVER_QUEUE_MAX, sizeof(*dev->queue));
		if (!dev->queue)
			return -ENOMEM;
	}
	if (dev->queue_len == UVF_SERVER_QUEUE_MAX) {
		/* compact */
		size_t live = dev->queue_len - dev->queue_head;
		memmove(dev->queue, dev->queue + dev->queue_head, live * sizeof(*dev->queue));
		dev->queue_head = 0;
		dev->queue_len = live;
	}
	struct uvf_queued_msg *q = &dev->queue[dev->queue_len];
	memset(q, 0, sizeof(*q));
	q->hdr = rx->hdr;
	if (len) {
		q->body = malloc(len);
		if (!q->body)
			return -ENOMEM;
		memcpy(q->body, rx->body, len);
	}
	q->nfds = uvf__rx_take_fds(rx, q->fds, UVF_SERVER_MAX_MSG_FDS);
	q->fds_overflow = rx->fds_overflow || rx->nfds > q->nfds;
	dev->queue_len++;
	dev->queue_bytes += len;
	/* make the poll fd readable: the queue must run even if the socket
	 * has nothing more to say */
	uvf__kick(dev);
	return 0;
}

int uvf__twin_attach(struct uvf_device *dev, int fd)
{
	pthread_mutex_lock(&dev->twin.lock);
	dev->twin.fd = fd;
	uvf__twin_reset_locked(dev);
	pthread_mutex_unlock(&dev->twin.lock);
	return uvf__watch(dev, &dev->loop.twin_watch, fd, on_twin, true);
}

static void twin_detach(struct uvf_device *dev)
{
	if (dev->twin.fd < 0)
		return;
	/* wake a device thread waiting for a reply there: it lets go of the
	 * lock at once instead of at its timeout */
	shutdown(dev->twin.fd, SHUT_RDWR);
	pthread_mutex_lock(&dev->twin.lock);
	uvf__watch(dev, &dev->loop.twin_watch, dev->twin.fd, NULL, false);
	close_fd(&dev->twin.fd);
	uvf__twin_reset_locked(dev);
	pthread_mutex_unlock(&dev->twin.lock);
}

static void drop_client(struct uvf_device *dev, const char *why)
{
	if (dev->conn_fd < 0)
		return;
	dev_info(dev, "client disconnected: %s", why);
	/* device threads start no more DMA for this client (see dma_async.c) */
	pthread_mutex_lock(&dev->sub_lock);
	__atomic_store_n(&dev->client_live, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->sub_lock);
	twin_detach(dev);
	handshake_timer(dev, -1);
	bool was_negotiated = dev->negotiated;
	if (!dev->loop.conn_parked)
		uvf__watch(dev, &dev->loop.conn_watch, dev->conn_fd, NULL, false);
	dev->loop.conn_parked = false;
	close_fd(&dev->conn_fd);
	dev->negotiated = false;
	dev->drop_requested = false;
	/* forget any half-received message of the departed client */
	uvf__rx_destroy(&dev->rx);
	uvf__rx_destroy(&dev->wait_rx);
	uvf__rx_ahead_reset(&dev->ahead);
	uvf__rx_init(&dev->rx, dev->max_msg_size);
	uvf__rx_init(&dev->wait_rx, dev->max_msg_size);
	dev->rx.ahead = dev->wait_rx.ahead = &dev->ahead;
	queue_clear(dev);
	dev->held = false;
	/* transfers in flight end before their memory goes away */
	uvf__dma_async_cancel(dev, -ENOTCONN);
	uvf__migration_client_gone(dev); /* logging off, streams dropped */
	uvf__dma_unmap_all(dev);
	uvf__irqs_drop_client(dev);
	if (dev->listen_fd >= 0 && !dev->loop.listen_watched &&
	    uvf__watch(dev, &dev->loop.listen_watch, dev->listen_fd, on_listen, true) == 0)
		dev->loop.listen_watched = true;
	if (was_negotiated && dev->cb.client)
		dev->cb.client(dev, dev->cb_data, false);
}

/* Arm (ms >= 0) or disarm (ms < 0) the VERSION deadline. */
static void handshake_timer(struct uvf_device *dev, int ms)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (ms >= 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
		if (ms == 0)
			its.it_value.tv_nsec = 1; /* zero would disarm it */
	}
	timerfd_settime(dev->loop.handshake_timer_fd, 0, &its, NULL);
}

/* The peer checks of the serve options: whether the process at the other
 * end of fd may be served. Refusals are logged with who it was. */
static bool peer_allowed(struct uvf_device *dev, int fd)
{
	uint32_t checks = dev->opts.peer_check;
	pid_t pid;
	uid_t uid;
	gid_t gid;

	if (!checks)
		return true;
	int ret = uvf__sock_peer_cred(fd, &pid, &uid, &gid);
	if (ret < 0) {
		dev_warn(dev, "refusing a client whose credentials cannot be read: %s", uvf_strerror(ret));
		return false;
	}
	if (((checks & UVF_PEER_SAME_UID) && uid == geteuid()) || ((checks & UVF_PEER_UID) && uid == dev->opts.peer_uid) ||
	    ((checks & UVF_PEER_GID) && gid == dev->opts.peer_gid))
		return true;
	dev_warn(dev, "refusing a client: pid %ld uid %lu gid %lu fails the peer check", (long)pid, (unsigned long)uid,
		 (unsigned long)gid);
	return false;
}

static int accept_client(struct uvf_device *dev)
{
	int fd;
	int ret = uvf__sock_accept(dev->listen_fd, &fd);

	if (ret == -EAGAIN || ret == -EINTR || ret == -ECONNABORTED)
		return 0;
	if (ret < 0) {
		dev_log(dev, UVF_LOG_ERROR, "accept failed: %s", uvf_strerror(ret));
		/* EMFILE and friends are transient; only a dead socket is fatal */
		return (ret == -EBADF || ret == -EINVAL || ret == -ENOTSOCK) ? ret : 0;
	}
	if (!peer_allowed(dev, fd)) {
		close(fd);
		return 0; /* the listening socket stays watched for the next one */
	}
	/* receives that wait in the kernel, for the direct receive; without
	 * them the loop stays in epoll_wait */
	ret = uvf__sock_block_receive(fd, UVF_LOOP_DIRECT_WAIT_MS);
	dev->loop.direct_ready = ret == 0;
	if (ret < 0)
		dev_debug(dev, "connection receives stay non-blocking: %s", uvf_strerror(ret));
	dev->conn_fd = fd;
	dev->negotiated = false;
	dev->drop_requested = false;
	__atomic_store_n(&dev->next_dma_id, 1, __ATOMIC_RELAXED); /* device threads take ids */
	ret = uvf__watch(dev, &dev->loop.conn_watch, fd, on_conn, true);
	if (ret < 0) {
		close_fd(&dev->conn_fd);
		return 0;
	}
	/* one client at a time: others wait in the backlog */
	if (dev->loop.listen_watched && uvf__watch(dev, &dev->loop.listen_watch, dev->listen_fd, NULL, false) == 0)
		dev->loop.listen_watched = false;
	handshake_timer(dev, dev->opts.handshake_timeout_ms);
	dev_info(dev, "client connected");
	return 0;
}

/* Run one message held by rx, then release it. */
/* Whether the device holds this command (before_command said -EAGAIN). */
static bool device_holds(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body)
{
	if (!dev->cb.before_command || !dev->negotiated || (hdr->flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_REPLY)
		return false;
	return dev->cb.before_command(dev, dev->cb_data, hdr->command, body, hdr->msg_size - UVF_MSG_HEADER_SIZE) ==
	       -EAGAIN;
}

static void run_rx_message(struct uvf_device *dev, struct uvf_rx *rx)
{
	bool was_negotiated = dev->negotiated;
	if (device_holds(dev, &rx->hdr, rx->body)) {
		/* it waits at the head of the queue, and the rest behind it */
		if (uvf__queue_push(dev, rx) < 0)
			dev->drop_requested = true;
		else
			dev->held = true;
		uvf__rx_release(rx);
		return;
	}
	if (rx->hdr.flags & UVF_MSG_FLAG_NO_REPLY)
		dev->loop.posted_streak++;
	else
		dev->loop.posted_streak = 0;
	dev->in_command = true;
	int ret = uvf__handle_message(dev, &rx->hdr, rx->body, rx->fds, rx->nfds, rx->fds_overflow);
	dev->in_command = false;
	dev->messages_handled++;
	/* handlers that keep an fd set its slot to -1; release closes the rest */
	uvf__rx_release(rx);
	if (ret < 0)
		dev->drop_requested = true;
	else if (!was_negotiated && dev->negotiated) {
		handshake_timer(dev, -1);
		if (dev->cb.client)
			dev->cb.client(dev, dev->cb_data, true);
	}
}

/* Run queued commands while none is held, at most max of them; returns
 * how many ran. */
static size_t run_queued(struct uvf_device *dev, size_t max)
{
	size_t done = 0;

	while (done < max && dev->conn_fd >= 0 && !dev->drop_requested && !dev->held &&
	       dev->queue_head < dev->queue_len) {
		if (device_holds(dev, &dev->queue[dev->queue_head].hdr, dev->queue[dev->queue_head].body)) {
			dev->held = true;
			break;
		}
		struct uvf_queued_msg q = dev->queue[dev->queue_head++];
		dev->queue_bytes -= q.hdr.msg_size - UVF_MSG_HEADER_SIZE;
		dev->in_command = true;
		int ret = uvf__handle_message(dev, &q.hdr, q.body, q.fds, q.nfds, q.fds_overflow);
		dev->in_command = false;
		dev->messages_handled++;
		done++;
		for (size_t f = 0; f < q.nfds; f++)
			if (q.fds[f] >= 0)
				close(q.fds[f]);
		free(q.body);
		if (ret < 0)
			dev->drop_requested = true;
	}
	return done;
}

/* How much of the connection one round serves. */
enum serve_mode {
	SERVE_NEXT, /* the next message and those a read brought along */
	SERVE_ALL,  /* every complete message */
	SERVE_ONE,  /* at most one message, queued or read */
};

/* Read and run client messages as mode says (SERVE_NEXT: the next
 * epoll_wait tells whether more came, which saves a read that finds
 * nothing). With block, the first read waits in recvmsg (the direct
 * receive); a signal that ends that wait sets loop.interrupted. Returns
 * whether a message ran or, for SERVE_ONE, was taken (run or held). */
static bool service_connection(struct uvf_device *dev, enum serve_mode mode, bool block)
{
	struct uvf_why why = {{0}};
	bool ran = false;

	if (run_queued(dev, mode == SERVE_ONE ? 1 : SIZE_MAX) && mode == SERVE_ONE) {
		ran = true;
		goto one_done;
	}
	while (dev->conn_fd >= 0 && !dev->drop_requested && !dev->held) {
		int ret = block ? uvf__rx_read_block(&dev->rx, dev->conn_fd, &why)
				: uvf__rx_read(&dev->rx, dev->conn_fd, &why);
		block = false;
		if (ret == -EINTR) {
			dev->loop.interrupted = true;
			break;
		}
		if (ret == 0)
			break;
		if (ret < 0) {
			if (ret == -ECONNRESET)
				drop_client(dev, "connection closed by the client");
			else {
				dev_warn(dev, "dropping client: %s", why.text[0] ? why.text : uvf_strerror(ret));
				drop_client(dev, "malformed message");
			}
			return ran;
		}
		run_rx_message(dev, &dev->rx);
		ran = true;
		if (mode != SERVE_ONE)
			run_queued(dev, SIZE_MAX);
		/* move DMA a command started (or a reply let go on) before the
		 * next command, so the client sees its effect in order */
		if (dev->dma_ops)
			uvf__dma_async_run(dev);
		if (mode == SERVE_ONE)
			break;
		/* bytes already read ahead will not wake epoll again */
		if (mode == SERVE_NEXT && !uvf__rx_buffered(&dev->rx))
			break;
	}
one_done:
	if (dev->drop_requested)
		drop_client(dev, "protocol error");
	/* what is left in our buffers will not make the socket readable:
	 * keep the poll fd readable for it instead */
	else if (mode == SERVE_ONE && ran && dev->conn_fd >= 0 && !dev->held &&
		 (uvf__rx_buffered(&dev->rx) || dev->rx.complete || dev->queue_head < dev->queue_len))
		uvf__kick(dev);
	return ran;
}

/* The watches' callbacks: each says what it needs in the round; the
 * round then runs it in process_events' order. */
static void on_stop(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	uint64_t counter;

	(void)dev;
	(void)round;
	/* drained only: stop_requested says whether to stop */
	if (read(w->fd, &counter, sizeof(counter)) < 0)
		counter = 0;
}

static int accept_client(struct uvf_device *dev);

static void on_listen(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	(void)w;
	if (dev->conn_fd < 0 && !round->err)
		round->err = accept_client(dev);
}

static void on_conn(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	(void)dev;
	(void)w;
	round->conn_ready = true;
}

static void on_kick(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	uint64_t counter;

	(void)dev;
	if (read(w->fd, &counter, sizeof(counter)) < 0)
		counter = 0; /* already drained */
	/* queued commands, DMA to start, or replies a device thread read on
	 * the twin socket */
	round->kicked = round->conn_ready = true;
}

static void on_twin(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	(void)dev;
	(void)w;
	round->twin_ready = true;
}

static void on_dma_timer(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	(void)dev;
	(void)w;
	round->timer_fired = true; /* drained by uvf__dma_async_run */
}

static void on_handshake_timer(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	uint64_t counter;

	(void)round;
	if (read(w->fd, &counter, sizeof(counter)) == sizeof(counter) && dev->conn_fd >= 0 && !dev->negotiated) {
		dev_warn(dev, "client did not complete VERSION within %d ms", dev->opts.handshake_timeout_ms);
		drop_client(dev, "handshake timeout");
	}
}

/* Handle what epoll reported. Other than SERVE_NEXT (uvf_device_run),
 * the connection is read whatever was reported. Returns 1 once stopped, a
 * negative errno for a fatal error, else 0; *ran tells whether a client
 * message ran. */
static int process_events(struct uvf_device *dev, const struct epoll_event *events, int n, enum serve_mode mode,
			  bool *ran)
{
	bool drain = mode != SERVE_NEXT;
	struct uvf_loop_round round = {.conn_ready = drain, .twin_ready = drain};

	note_dispatch_thread(dev);
	*ran = false;
	/* Wakers counted since the last round: their work is in place now,
	 * whether or not their eventfd write came yet. */
	unsigned wakeups = __atomic_load_n(&dev->loop.wakeups, __ATOMIC_SEQ_CST);
	if (wakeups != dev->loop.wakeups_seen) {
		dev->loop.wakeups_seen = wakeups;
		round.kicked = round.conn_ready = true;
	}
	if (__atomic_exchange_n(&dev->loop.stop_requested, false, __ATOMIC_SEQ_CST))
		dev->loop.stopping = true;
	if (__atomic_exchange_n(&dev->resume_requested, false, __ATOMIC_SEQ_CST) && dev->held) {
		dev->held = false;
		round.conn_ready = true;
	}
	for (int i = 0; i < n && !round.err; i++) {
		struct uvf_watch *w = events[i].data.ptr;
		w->fn(dev, w, &round);
	}
	if (round.err)
		return round.err;
	if ((round.twin_ready || round.kicked) && dev->twin.fd >= 0 && uvf__twin_service(dev, round.twin_ready) < 0)
		drop_client(dev, "twin socket failed");
	if (dev->conn_fd >= 0 && round.conn_ready)
		*ran = service_connection(dev, mode, false);
	if (dev->dma_ops || round.timer_fired || round.kicked)
		uvf__dma_async_run(dev);
	/* e.g. an asynchronous DMA request that could not be sent */
	if (dev->drop_requested && dev->conn_fd >= 0)
		drop_client(dev, "protocol error");
	if (dev->loop.stopping) {
		dev->loop.stopping = false;
		return 1;
	}
	return 0;
}

void uvf_device_resume(struct uvf_device *dev)
{
	if (!dev)
		return;
	__atomic_store_n(&dev->resume_requested, true, __ATOMIC_SEQ_CST);
	uvf__kick(dev);
}

uint64_t uvf_device_messages_handled(struct uvf_device *dev)
{
	return dev ? dev->messages_handled : 0;
}

static int dispatch(struct uvf_device *dev, enum serve_mode mode)
{
	struct epoll_event events[8];
	bool ran;

	if (!dev || !dev->frozen || dev->listen_fd < 0)
		return -EINVAL;
	int n = epoll_wait(dev->loop.epoll_fd, events, 8, 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	return process_events(dev, events, n < 0 ? 0 : n, mode, &ran);
}

int uvf_device_dispatch(struct uvf_device *dev)
{
	return dispatch(dev, SERVE_ALL);
}

int uvf_device_dispatch_one(struct uvf_device *dev)
{
	return dispatch(dev, SERVE_ONE);
}

/*
 * Whether the connection is the only source of work: then the loop waits
 * for the next message in recvmsg on it (one system call per request, not
 * epoll_wait and recvmsg). Anything else that needs the loop (ioeventfds,
 * INTx resampling, asynchronous DMA and with it the twin socket's replies,
 * queued commands, the VERSION deadline, a stop or a hand-over from a
 * device thread) sends it back to epoll_wait.
 */
static bool direct_receive_ok(struct uvf_device *dev)
{
	const struct uvf_loop *l = &dev->loop;

	return l->direct_ready && dev->conn_fd >= 0 && dev->negotiated && !dev->drop_requested && !dev->held &&
	       l->extra_watched == 0 && !dev->dma_ops && dev->queue_head == dev->queue_len && uvf__rx_idle(&dev->rx) &&
	       !__atomic_load_n(&l->threads_kick, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&l->wakeups, __ATOMIC_SEQ_CST) == l->wakeups_seen;
}

/* Take the connection out of the epoll set (park) for the direct receive,
 * or put it back before epoll_wait. A connection that cannot be watched
 * again cannot be served: it is dropped. */
static void conn_park(struct uvf_device *dev, bool park)
{
	struct uvf_loop *l = &dev->loop;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->conn_watch};

	if (dev->conn_fd < 0)
		return;
	if (!park) {
		/* what the direct receive peeked, and answered, leaves the
		 * socket first: epoll would see it as readable */
		struct uvf_why why = {{0}};
		int err = uvf__rx_settle(&dev->rx, dev->conn_fd, &why);
		if (err) {
			dev_warn(dev, "dropping client: %s", why.text[0] ? why.text : uvf_strerror(err));
			l->conn_parked = false;
			drop_client(dev, "connection lost received bytes");
			return;
		}
	}
	if (l->conn_parked == park)
		return;
	if (epoll_ctl(l->epoll_fd, park ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, dev->conn_fd, &ev) == 0) {
		l->conn_parked = park;
		return;
	}
	int err = errno;
	if (park)
		return; /* stays watched: the direct receive works all the same */
	dev_warn(dev, "dropping client: cannot watch the connection again: %s", uvf_strerror(-err));
	l->conn_parked = false;
	drop_client(dev, "connection not watchable");
}

/*
 * Sleep in recvmsg on the connection while it is the only source of work
 * (direct_receive_ok), else in epoll_wait (one system call per wake-up
 * either way). With poll_us, after a client message the loop polls without
 * sleeping until poll_us passed with nothing to do: a client answering
 * quickly then finds us awake, at the price of a busy CPU.
 */
int uvf_device_run(struct uvf_device *dev)
{
	return uvf_device_run_flags(dev, 0);
}

int uvf_device_run_flags(struct uvf_device *dev, unsigned flags)
{
	struct epoll_event events[8];
	uint64_t poll_ns, deadline = 0;
	bool polling = false, yielded = false;
	bool signal_returns = flags & UVF_RUN_SIGNAL_RETURNS;

	if (!dev || !dev->frozen || dev->listen_fd < 0 || (flags & ~UVF_RUN_SIGNAL_RETURNS))
		return -EINVAL;
	poll_ns = (uint64_t)dev->opts.poll_us * 1000u;
	dev->loop.interrupted = false;
	for (;;) {
		bool ran;

		if (direct_receive_ok(dev)) {
			note_dispatch_thread(dev);
			conn_park(dev, true);
			/* polling, or after a yield: a read that does not
			 * wait, and no epoll_wait */
			ran = service_connection(dev, SERVE_NEXT, !polling && !yielded);
			yielded = false;
			if (dev->loop.interrupted) {
				dev->loop.interrupted = false;
				if (signal_returns) {
					conn_park(dev, false); /* the caller may poll or dispatch next */
					return -EINTR;
				}
			}
			if (!ran && polling && uvf__now_ns() >= deadline)
				polling = false;
			/*
			 * A stream of posted writes: let the client (on this
			 * CPU, if it shares it) go on writing before we look
			 * again, then take all it wrote in one read, instead of
			 * being woken for each message. One read without
			 * waiting follows; a lone posted write is not delayed.
			 */
			if (ran && !poll_ns && dev->loop.posted_streak >= UVF_LOOP_POSTED_STREAM) {
				sched_yield();
				yielded = true;
			}
		} else {
			yielded = false;
			conn_park(dev, false);
			int n = epoll_wait(dev->loop.epoll_fd, events, 8, polling ? 0 : -1);
			if (n < 0) {
				if (errno == EINTR && !signal_returns)
					continue;
				return -errno;
			}
			if (n == 0) {
				if (polling && uvf__now_ns() >= deadline)
					polling = false;
				continue;
			}
			int ret = process_events(dev, events, n, SERVE_NEXT, &ran);
			if (ret < 0)
				return ret;
			if (ret == 1)
				return 0;
		}
		if (ran && poll_ns) {
			polling = true;
			deadline = uvf__now_ns() + poll_ns;
		}
	}
}

static void on_intx_unmask(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round)
{
	(void)w;
	(void)round;
	uvf__irq_intx_resample(dev);
}

int uvf__watch_intx_unmask(struct uvf_device *dev, int fd, bool on)
{
	return uvf__watch(dev, &dev->loop.intx_watch, fd, on_intx_unmask, on);
}
