/* SPDX-License-Identifier: MIT */
/*
 * The client's connection engine: connecting, VERSION negotiation, message
 * ids, and pipelined requests from any number of threads.
 *
 * Each request registers a waiter (id, command, a condition variable) and
 * is sent under the send lock. Exactly one waiting thread at a time holds
 * the reader role: it reads the socket(s), hands each reply to its waiter,
 * serves the server's DMA_READ/DMA_WRITE commands, and gives the role to
 * another waiter once its own reply is in. The others sleep on their
 * condition variable until their reply is handed to them, their timeout
 * expires, or the role comes to them. A thread alone on the client is
 * always the reader: it pays one sendmsg and, in the common case, one
 * blocking recvmsg per round trip (the socket is blocking, with
 * SO_RCVTIMEO as the timeout, so no poll is needed), and uncontended locks.
 *
 * Bytes are read in bulk into a buffer (struct uvf_client_buf); a reply is
 * handed to its waiter by giving it the buffer that holds it, so a reply is
 * never copied in the common case.
 *
 * Replies are matched by id AND command. Anything else that arrives as a
 * reply (the late answer to a request that timed out, or an id we never
 * used) is logged and dropped: the stream stays framed, so one bad reply
 * never costs the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "util.h"

/* Largest reply we accept apart from data replies: room for region info
 * capability chains and the VERSION JSON. */
#define RX_MIN_LIMIT (UVF_MSG_HEADER_SIZE + UVF_CLIENT_REGION_INFO_MAX_ARGSZ)

/* uvf_client_process() stops after this many reads so that a server
 * flooding us cannot keep the caller inside forever; a reader past its
 * deadline reads at most this many times more. */
#define PROCESS_MAX_READS 256

/* Receive buffers kept for reuse (one per thread that waits at once). */
#define FREE_BUFS_MAX 16u

/* A blocking recvmsg waits the whole timeout (SO_RCVTIMEO): use it while
 * that ends at most this late; closer to the deadline, poll instead. */
#define RCVTIMEO_SLACK_MS 2

/* A request waiting for its reply (on the requesting thread's stack). */
struct uvf_client_waiter {
	uint16_t id, command;
	bool done;		    /* result (and buf) are final */
	bool sleeping;		    /* in pthread_cond_*wait: can take the reader role when woken */
	int result;		    /* 0: the reply is in buf; else -errno */
	struct uvf_client_buf *buf; /* the reply, data[0..msg_size) */
	pthread_cond_t cond;
	struct uvf_client_waiter *next;
};

/* Replies the calling thread holds between uvf__client_request() and
 * uvf__client_reply_done() (several clients may be in use by one thread). */
static _Thread_local struct uvf_client_buf *held_replies;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int broken_error(const struct uvf_client *client)
{
	return __atomic_load_n(&client->broken, __ATOMIC_ACQUIRE);
}

int uvf__client_check(const struct uvf_client *client)
{
	if (client == NULL)
		return -EINVAL;
	return broken_error(client) ? -ENOTCONN : 0;
}

/* ------------------------------------------------------------------ */
/* Receive buffers (framing and fds: transport/rx_buffer.c)             */
/* ------------------------------------------------------------------ */

static void buf_free(struct uvf_client_buf *b)
{
	if (b == NULL)
		return;
	uvf__rx_buffer_destroy(&b->rx);
	free(b);
}

static struct uvf_client_buf *buf_get_locked(struct uvf_client *client)
{
	struct uvf_client_buf *b = client->free_bufs;

	if (b) {
		client->free_bufs = b->next;
		client->nfree_bufs--;
		b->next = NULL;
		return b;
	}
	return calloc(1, sizeof(*b));
}

/* Return a buffer whose fds were already dropped. */
static void buf_put_locked(struct uvf_client *client, struct uvf_client_buf *b)
{
	b->rx.start = b->rx.end = 0;
	b->owner = NULL;
	if (client->nfree_bufs >= FREE_BUFS_MAX) {
		buf_free(b);
		return;
	}
	b->next = client->free_bufs;
	client->free_bufs = b;
	client->nfree_bufs++;
}

static void buf_release(struct uvf_client *client, struct uvf_client_buf *b)
{
	uvf__rx_buffer_reset(&b->rx); /* close() outside the lock */
	pthread_mutex_lock(&client->lock);
	buf_put_locked(client, b);
	pthread_mutex_unlock(&client->lock);
}

/*
 * One recvmsg on sock into b (flags 0 = blocking, up to SO_RCVTIMEO).
 * Returns the bytes read, 0 when nothing came (EAGAIN), or a negative errno
 * (-ECONNRESET on EOF) with the reason in *why.
 */
static ssize_t recv_some(int sock, struct uvf_client_buf *b, int flags, struct uvf_why *why)
{
	ssize_t n = uvf__rx_buffer_recv(&b->rx, sock, flags, why);

	return n == -EAGAIN ? 0 : n;
}

/* ------------------------------------------------------------------ */
/* Broken connections                                                   */
/* ------------------------------------------------------------------ */

int uvf__client_mark_broken(struct uvf_client *client, int err, const char *why)
{
	int expected = 0;

	/* EPIPE and ECONNRESET both mean "the server went away". */
	if (err == -EPIPE)
		err = -ECONNRESET;
	if (__atomic_compare_exchange_n(&client->broken, &expected, err, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "connection to the server lost: %s%s%s", uvf_strerror(err),
			   why && why[0] ? ": " : "", why ? why : "");
		/* Wakes a reader blocked in recvmsg: the stream is over. */
		shutdown(client->sock, SHUT_RDWR);
		if (client->twin >= 0)
			shutdown(client->twin, SHUT_RDWR);
	}
	pthread_mutex_lock(&client->lock);
	while (client->waiters) {
		struct uvf_client_waiter *w = client->waiters;

		client->waiters = w->next;
		w->done = true;
		w->result = broken_error(client);
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&client->lock);
	return err;
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

void uvf__client_send_lock(struct uvf_client *client)
{
	pthread_mutex_lock(&client->send_lock);
}

void uvf__client_send_unlock(struct uvf_client *client)
{
	pthread_mutex_unlock(&client->send_lock);
}

int uvf__client_send_locked(struct uvf_client *client, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	rc = uvf__msg_sendv(client->sock, iov, iovcnt, fds, nfds, client->timeout_ms);
	/* Part of the message may have gone out: the stream is no longer
	 * framed, so any failure but a refused argument ends the connection. */
	if (rc < 0 && rc != -EINVAL)
		return uvf__client_mark_broken(client, rc, "sending failed");
	return rc;
}

int uvf__client_send(struct uvf_client *client, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	int rc;

	uvf__client_send_lock(client);
	rc = uvf__client_send_locked(client, iov, iovcnt, fds, nfds);
	uvf__client_send_unlock(client);
	return rc;
}

int uvf__client_answer(struct uvf_client *client, bool on_twin, const struct iovec *iov, int iovcnt)
{
	int rc;

	if (!on_twin)
		return uvf__client_send(client, iov, iovcnt, NULL, 0);
	/* Only the reader answers on the twin socket: no lock needed. */
	rc = uvf__client_check(client);
	if (rc)
		return rc;
	rc = uvf__msg_sendv(client->twin, iov, iovcnt, NULL, 0, client->timeout_ms);
	if (rc < 0 && rc != -EINVAL)
		return uvf__client_mark_broken(client, rc, "sending on the twin socket failed");
	return rc;
}

/* ------------------------------------------------------------------ */
/* Message ids                                                          */
/* ------------------------------------------------------------------ */

static bool id_in_use_locked(const struct uvf_client *client, uint16_t id)
{
	for (size_t i = 0; i < client->nstale; i++)
		if (client->stale[i].id == id)
			return true;
	for (const struct uvf_client_waiter *w = client->waiters; w; w = w->next)
		if (w->id == id)
			return true;
	return false;
}

static uint16_t next_id_locked(struct uvf_client *client)
{
	/* Skip ids whose reply may still come, so that it cannot be taken for
	 * the answer to a new request. Terminates: few ids are in use. */
	for (;;) {
		uint16_t id = client->next_id++;

		if (!id_in_use_locked(client, id))
			return id;
	}
}

uint16_t uvf__client_next_id(struct uvf_client *client)
{
	uint16_t id;

	pthread_mutex_lock(&client->lock);
	id = next_id_locked(client);
	pthread_mutex_unlock(&client->lock);
	return id;
}

static void remember_stale_locked(struct uvf_client *client, uint16_t id, uint16_t command)
{
	if (client->nstale == UVF_CLIENT_STALE_IDS) {
		/* Forget the oldest: its reply is very unlikely to come now. */
		memmove(&client->stale[0], &client->stale[1], sizeof(client->stale[0]) * (UVF_CLIENT_STALE_IDS - 1));
		client->nstale--;
	}
	client->stale[client->nstale].id = id;
	client->stale[client->nstale].command = command;
	client->nstale++;
}

/* Log a reply no request waits for (and forget its id if it was stale). */
static void drop_reply_locked(struct uvf_client *client, const struct uvf_msg_header *hdr)
{
	for (size_t i = 0; i < client->nstale; i++) {
		if (client->stale[i].id == hdr->msg_id && client->stale[i].command == hdr->command) {
			memmove(&client->stale[i], &client->stale[i + 1],
				sizeof(client->stale[0]) * (client->nstale - i - 1));
			client->nstale--;
			CLIENT_LOG(client, UVF_LOG_INFO, "%s id %u: late reply to a request that timed out, dropped",
				   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
			return;
		}
	}
	CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: reply to no pending request, dropped",
		   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
}

/* ------------------------------------------------------------------ */
/* Waiters                                                              */
/* ------------------------------------------------------------------ */

static void remove_waiter_locked(struct uvf_client *client, struct uvf_client_waiter *w)
{
	for (struct uvf_client_waiter **p = &client->waiters; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			return;
		}
	}
}

static void timed_out_locked(struct uvf_client *client, struct uvf_client_waiter *w)
{
	remove_waiter_locked(client, w);
	remember_stale_locked(client, w->id, w->command);
	w->done = true;
	w->result = -ETIMEDOUT;
	CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: no reply within %d ms", uvf__cmd_name(w->command),
		   (unsigned)w->id, client->timeout_ms);
}

/* The reader role is free: offer it to a sleeping waiter. One that is not
 * asleep yet looks at the role before it sleeps. */
static void pass_reader_role_locked(struct uvf_client *client)
{
	if (client->reading)
		return;
	for (struct uvf_client_waiter *w = client->waiters; w; w = w->next) {
		if (w->sleeping) {
			pthread_cond_signal(&w->cond);
			return;
		}
	}
}

/*
 * Hand the reply of `size` bytes at the front of the reader's buffer to its
 * waiter. The waiter gets a buffer with the reply at offset 0: the reader's
 * buffer itself when the reply starts it (the bytes after it move to a fresh
 * buffer that the reader goes on with), else a copy. Sets *own when the
 * reply is self's.
 */
static void deliver_reply(struct uvf_client *client, const struct uvf_msg_header *hdr, struct uvf_client_waiter *self,
			  bool *own)
{
	struct uvf_client_buf *b = client->rx;
	size_t size = hdr->msg_size;
	struct uvf_client_waiter *w;
	struct uvf_client_buf *nb;

	pthread_mutex_lock(&client->lock);
	for (w = client->waiters; w; w = w->next)
		if (w->id == hdr->msg_id && w->command == hdr->command)
			break;
	if (w == NULL) {
		drop_reply_locked(client, hdr);
		pthread_mutex_unlock(&client->lock);
		uvf__rx_buffer_consume(&b->rx, size);
		return;
	}
	remove_waiter_locked(client, w);
	w->done = true;
	nb = buf_get_locked(client);
	if (nb && b->rx.start == 0 && uvf__rx_buffer_split(&b->rx, size, &nb->rx) == 0) {
		client->rx = nb;
		nb = b;
	} else if (nb && b->rx.start > 0 && uvf__rx_buffer_copy_front(&b->rx, size, &nb->rx) == 0) {
		/* nb holds a copy */
	} else {
		if (nb)
			buf_put_locked(client, nb);
		nb = NULL;
	}
	if (nb) {
		nb->hdr = *hdr;
		w->buf = nb;
		w->result = 0;
	} else {
		CLIENT_LOG(client, UVF_LOG_ERROR, "%s id %u: no memory to hand the reply over",
			   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
		w->result = -ENOMEM;
	}
	if (w == self)
		*own = true;
	else
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&client->lock);
	if (nb == NULL)
		uvf__rx_buffer_consume(&b->rx, size);
}

/* ------------------------------------------------------------------ */
/* The reader                                                           */
/* ------------------------------------------------------------------ */

/*
 * Dispatch every whole message buffered from one socket: serve commands,
 * hand replies over. During the handshake nothing but self's reply may
 * arrive: anything else means the peer is not a vfio-user server.
 */
static int dispatch(struct uvf_client *client, bool on_twin, struct uvf_client_waiter *self, bool handshake, bool *own,
		    int *served)
{
	for (;;) {
		struct uvf_client_buf *b = on_twin ? client->twin_rx : client->rx;
		struct uvf_why why;
		struct uvf_msg_header hdr;
		bool own_fds;
		uint32_t type;
		int rc;

		why.text[0] = '\0'; /* what an error leaves unsaid stays empty */
		rc = uvf__rx_buffer_next(&b->rx, client->rx_limit, &hdr, &why);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return uvf__client_mark_broken(client, rc, why.text);
		own_fds = uvf__rx_buffer_owns_fds(&b->rx, hdr.msg_size);
		type = hdr.flags & UVF_MSG_TYPE_BITS;
		CLIENT_LOG(client, UVF_LOG_DEBUG, "<- %s id %u %s%s, %u bytes, %zu fds", uvf__cmd_name(hdr.command),
			   (unsigned)hdr.msg_id, type == UVF_MSG_TYPE_COMMAND ? "command" : "reply",
			   on_twin ? " (twin socket)" : "", (unsigned)hdr.msg_size, own_fds ? b->rx.nfds : 0);

		if (handshake && !*own &&
		    (self == NULL || hdr.msg_id != self->id || hdr.command != self->command ||
		     type != UVF_MSG_TYPE_REPLY)) {
			CLIENT_LOG(client, UVF_LOG_ERROR, "peer sent %s id %u instead of the VERSION reply",
				   uvf__cmd_name(hdr.command), (unsigned)hdr.msg_id);
			uvf__rx_buffer_consume(&b->rx, hdr.msg_size);
			return uvf__client_mark_broken(client, -EPROTO, "not a vfio-user server");
		}
		if (type == UVF_MSG_TYPE_COMMAND) {
			struct uvf_client_msg msg = {
				.hdr = &hdr,
				.body = b->rx.data + b->rx.start + UVF_MSG_HEADER_SIZE,
				.len = hdr.msg_size - UVF_MSG_HEADER_SIZE,
				.nfds = own_fds ? b->rx.nfds : 0,
				.fds_overflow = own_fds && b->rx.fds_overflow,
				.on_twin = on_twin,
			};

			rc = uvf__client_serve_command(client, &msg);
			uvf__rx_buffer_consume(&b->rx, hdr.msg_size);
			if (rc < 0)
				return rc;
			if (served)
				(*served)++;
			continue;
		}
		if (on_twin) {
			/* We send no commands there: nothing can be answered. */
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: reply on the twin socket, dropped",
				   uvf__cmd_name(hdr.command), (unsigned)hdr.msg_id);
			uvf__rx_buffer_consume(&b->rx, hdr.msg_size);
			continue;
		}
		deliver_reply(client, &hdr, self, own);
	}
}

/* Dispatch what is buffered on both sockets. */
static int dispatch_all(struct uvf_client *client, struct uvf_client_waiter *self, bool handshake, bool *own,
			int *served)
{
	int rc = dispatch(client, false, self, handshake, own, served);

	if (rc == 0 && client->twin >= 0)
		rc = dispatch(client, true, self, false, own, served);
	return rc;
}

/* Read without waiting from both sockets: >0 when bytes came, 0 when none,
 * or a negative errno. */
static ssize_t read_now(struct uvf_client *client, struct uvf_why *why)
{
	ssize_t n = recv_some(client->sock, client->rx, MSG_DONTWAIT, why);
	ssize_t t;

	/* the twin socket carries requests only for memory registered
	 * without an fd (see fill): none, no read there (a poll loop then
	 * costs one recvmsg per turn) */
	if (n < 0 || client->twin < 0 || __atomic_load_n(&client->msg_dma_ranges, __ATOMIC_RELAXED) == 0)
		return n;
	t = recv_some(client->twin, client->twin_rx, MSG_DONTWAIT, why);
	if (t < 0)
		return t;
	return n + t;
}

/*
 * Wait up to wait_ms (-1 forever) for bytes on the socket(s) and read them:
 * >0 when bytes came, 0 when the time ran out, or a negative errno.
 */
static ssize_t fill(struct uvf_client *client, int wait_ms, struct uvf_why *why)
{
	struct pollfd pfd[2];
	ssize_t n;
	int rc;

	if (client->poll_us > 0 && wait_ms != 0) {
		/* Adaptive polling: a reply that comes within poll_us costs
		 * no sleep and wake-up. */
		int64_t begin = now_us();
		int64_t spent;

		do {
			n = read_now(client, why);
			if (n != 0)
				return n;
			spent = now_us() - begin;
		} while (spent < client->poll_us);
		if (wait_ms > 0)
			wait_ms = spent / 1000 >= wait_ms ? 0 : wait_ms - (int)(spent / 1000);
	}
	if (wait_ms == 0)
		return read_now(client, why);
	/* The server sends DMA_READ/WRITE on the twin socket only for memory
	 * registered without an fd; a registration's DMA_MAP is answered on
	 * the main socket, so a reader blocked there wakes up and looks again
	 * before such a request can come. */
	bool twin_idle = client->twin < 0 || __atomic_load_n(&client->msg_dma_ranges, __ATOMIC_RELAXED) == 0;
	if (twin_idle && (wait_ms < 0 || wait_ms + RCVTIMEO_SLACK_MS >= client->timeout_ms))
		/* The common case: one blocking recvmsg, ended by SO_RCVTIMEO. */
		return recv_some(client->sock, client->rx, 0, why);
	pfd[0] = (struct pollfd){.fd = client->sock, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = client->twin, .events = POLLIN};
	rc = poll(pfd, client->twin >= 0 ? 2 : 1, wait_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : uvf__why(why, -errno, "poll: %s", strerror(errno));
	if (rc == 0)
		return 0;
	/* Only the sockets that have something: no recvmsg in vain. */
	n = 0;
	if (pfd[0].revents) {
		n = recv_some(client->sock, client->rx, MSG_DONTWAIT, why);
		if (n < 0)
			return n;
	}
	if (client->twin >= 0 && pfd[1].revents) {
		ssize_t t = recv_some(client->twin, client->twin_rx, MSG_DONTWAIT, why);

		if (t < 0)
			return t;
		n += t;
	}
	return n;
}

/*
 * Hold the reader role until self's reply is in (0), the deadline passed
 * (-ETIMEDOUT) or the connection broke. Whatever is already buffered when
 * the reply comes is dispatched too: the socket will not signal it again.
 */
static int lead(struct uvf_client *client, struct uvf_client_waiter *self, int64_t deadline, bool handshake)
{
	int overdue = 0;

	for (;;) {
		struct uvf_why why;
		bool own = false;
		int wait_ms = -1;
		ssize_t n;
		int rc;

		rc = dispatch_all(client, self, handshake, &own, NULL);
		if (own)
			return 0;
		if (rc < 0)
			return rc;
		rc = broken_error(client);
		if (rc)
			return rc;
		if (client->timeout_ms >= 0) {
			int64_t left = deadline - uvf__now_ms();

			/* Once the time is up, only read what already arrived, and
			 * not forever: a server busy sending commands must not
			 * hold us past the timeout. */
			if (left <= 0 && overdue++ >= PROCESS_MAX_READS)
				return -ETIMEDOUT;
			wait_ms = left > 0 ? (int)left : 0;
		}
		why.text[0] = '\0';
		n = fill(client, wait_ms, &why);
		if (n < 0)
			return uvf__client_mark_broken(client, (int)n, why.text);
		if (n == 0 && wait_ms >= 0 && deadline - uvf__now_ms() <= 0)
			return -ETIMEDOUT;
	}
}

static void deadline_timespec(int64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = deadline_ms / 1000;
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000;
}

/* Wait for w's reply, as the reader or as a sleeper. */
static int wait_reply(struct uvf_client *client, struct uvf_client_waiter *w, bool handshake)
{
	int64_t deadline = client->timeout_ms < 0 ? 0 : uvf__now_ms() + client->timeout_ms;
	struct timespec until;
	int rc;

	deadline_timespec(deadline, &until);
	pthread_mutex_lock(&client->lock);
	while (!w->done) {
		if (!client->reading) {
			client->reading = true;
			pthread_mutex_unlock(&client->lock);
			rc = lead(client, w, deadline, handshake);
			pthread_mutex_lock(&client->lock);
			client->reading = false;
			if (!w->done) {
				if (rc == -ETIMEDOUT) {
					timed_out_locked(client, w);
				} else {
					remove_waiter_locked(client, w);
					w->done = true;
					w->result = rc < 0 ? rc : -EIO;
				}
			}
			break;
		}
		w->sleeping = true;
		if (client->timeout_ms < 0)
			rc = pthread_cond_wait(&w->cond, &client->lock);
		else
			rc = pthread_cond_timedwait(&w->cond, &client->lock, &until);
		w->sleeping = false;
		if (rc == ETIMEDOUT && !w->done) {
			timed_out_locked(client, w);
			break;
		}
	}
	/* If the role is free (ours, or handed to us after our reply came),
	 * someone still waiting must get it. */
	pass_reader_role_locked(client);
	rc = w->result;
	pthread_mutex_unlock(&client->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */
/* ------------------------------------------------------------------ */

static void waiter_init(struct uvf_client_waiter *w, uint16_t command)
{
	pthread_condattr_t attr;

	memset(w, 0, sizeof(*w));
	w->command = command;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
}

static void hold_reply(struct uvf_client *client, struct uvf_client_buf *b, struct uvf_client_reply *reply)
{
	b->owner = client;
	b->next = held_replies;
	held_replies = b;
	reply->hdr = &b->hdr;
	reply->payload = b->rx.data + UVF_MSG_HEADER_SIZE;
	reply->len = b->hdr.msg_size - UVF_MSG_HEADER_SIZE;
	reply->nfds = b->rx.has_fds ? b->rx.nfds : 0;
	reply->fds = b->rx.fds;
}

static int request(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt, const int *fds,
		   size_t nfds, bool handshake, struct uvf_client_reply *reply)
{
	struct uvf_client_waiter w;
	struct iovec all[8];
	struct uvf_msg_header hdr;
	struct uvf_client_buf *b;
	uint64_t total = UVF_MSG_HEADER_SIZE;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (iovcnt < 0 || iovcnt > 7 || (nfds > 0 && fds == NULL))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
		if (iov[i].iov_len > UINT32_MAX || total > UINT32_MAX) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s: message too large", uvf__cmd_name(command));
			return -EMSGSIZE;
		}
		all[i + 1] = iov[i];
	}
	waiter_init(&w, command);
	/* Registered before sending: the reply may be read at once by
	 * another thread. */
	pthread_mutex_lock(&client->lock);
	w.id = next_id_locked(client);
	w.next = client->waiters;
	client->waiters = &w;
	pthread_mutex_unlock(&client->lock);

	uvf__msg_header_init(&hdr, w.id, command, (uint32_t)total, UVF_MSG_TYPE_COMMAND, 0);
	all[0].iov_base = &hdr;
	all[0].iov_len = sizeof(hdr);
	CLIENT_LOG(client, UVF_LOG_DEBUG, "-> %s id %u, %u bytes, %zu fds", uvf__cmd_name(command), (unsigned)w.id,
		   (unsigned)total, nfds);
	uvf__client_send_lock(client);
	/* Posted writes queued by fastpath.c go first: the server must see
	 * them before this request. */
	rc = handshake ? 0 : uvf__client_fast_flush_locked(client);
	if (rc == 0)
		rc = uvf__client_send_locked(client, all, iovcnt + 1, fds, nfds);
	uvf__client_send_unlock(client);
	if (rc == 0)
		rc = wait_reply(client, &w, handshake);
	else {
		pthread_mutex_lock(&client->lock);
		if (!w.done)
			remove_waiter_locked(client, &w);
		pthread_mutex_unlock(&client->lock);
	}
	pthread_cond_destroy(&w.cond);
	if (rc)
		return rc;

	b = w.buf;
	if (b->hdr.flags & UVF_MSG_FLAG_ERROR) {
		int err = -uvf__msg_reply_errno(&b->hdr);

		CLIENT_LOG(client, UVF_LOG_DEBUG, "%s id %u: server answered %s", uvf__cmd_name(command),
			   (unsigned)w.id, uvf_strerror(err));
		buf_release(client, b);
		return err;
	}
	if (b->rx.has_fds && b->rx.fds_overflow) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: reply carried more fds than allowed",
			   uvf__cmd_name(command), (unsigned)w.id);
		buf_release(client, b);
		return -EPROTO;
	}
	hold_reply(client, b, reply);
	return 0;
}

int uvf__client_request(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt,
			const int *fds, size_t nfds, struct uvf_client_reply *reply)
{
	return request(client, command, iov, iovcnt, fds, nfds, false, reply);
}

void uvf__client_reply_done(struct uvf_client *client)
{
	for (struct uvf_client_buf **p = &held_replies; *p; p = &(*p)->next) {
		struct uvf_client_buf *b = *p;

		if (b->owner == client) {
			*p = b->next;
			b->next = NULL;
			buf_release(client, b);
			return;
		}
	}
}

size_t uvf__client_reply_take_fds(struct uvf_client_reply *reply, int *out, size_t max)
{
	size_t taken = 0;

	for (size_t i = 0; i < reply->nfds && taken < max; i++) {
		if (reply->fds[i] < 0)
			continue;
		out[taken++] = reply->fds[i];
		reply->fds[i] = -1;
	}
	return taken;
}

int uvf__client_simple(struct uvf_client *client, uint16_t command, const void *payload, size_t len, const int *fds,
		       size_t nfds, size_t expect_len)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	struct uvf_client_reply reply;
	int rc;

	rc = uvf__client_request(client, command, &iov, len ? 1 : 0, fds, nfds, &reply);
	if (rc)
		return rc;
	if (reply.nfds != 0 || (reply.len != 0 && reply.len != expect_len)) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "%s: unexpected reply of %zu bytes with %zu fds (expected %zu bytes)",
			   uvf__cmd_name(command), reply.len, reply.nfds, expect_len);
		rc = -EPROTO;
	}
	uvf__client_reply_done(client);
	return rc;
}

int uvf__client_post(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt)
{
	struct uvf_msg_header hdr;
	struct iovec all[8];
	uint64_t total = UVF_MSG_HEADER_SIZE;
	uint16_t id;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (iovcnt < 0 || iovcnt > 7)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
		if (iov[i].iov_len > UINT32_MAX || total > UINT32_MAX)
			return -EMSGSIZE;
		all[i + 1] = iov[i];
	}
	id = uvf__client_next_id(client);
	uvf__msg_header_init(&hdr, id, command, (uint32_t)total, UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0);
	all[0].iov_base = &hdr;
	all[0].iov_len = sizeof(hdr);
	CLIENT_LOG(client, UVF_LOG_DEBUG, "-> %s id %u, %u bytes, posted", uvf__cmd_name(command), (unsigned)id,
		   (unsigned)total);
	uvf__client_send_lock(client);
	rc = uvf__client_fast_flush_locked(client);
	if (rc == 0)
		rc = uvf__client_send_locked(client, all, iovcnt + 1, NULL, 0);
	uvf__client_send_unlock(client);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

static void set_server_caps(struct uvf_client *client, const struct uvf_version_view *view, const struct uvf_caps *caps)
{
	struct uvf_server_caps *out = &client->caps;
	uint64_t big_pages = caps->pgsizes & ~(uint64_t)4095;

	out->size = sizeof(*out);
	out->major = view->major;
	out->minor = view->minor;
	out->max_msg_fds = caps->max_msg_fds;
	out->max_data_xfer_size = caps->max_data_xfer_size;
	out->max_dma_maps = caps->max_dma_maps;
	out->pgsizes = caps->pgsizes;
	out->write_multiple = caps->write_multiple;
	out->twin_socket = false; /* set once the twin socket is in hand */
	if (view->json) {
		size_t n = view->json_len < sizeof(out->json) - 1 ? view->json_len : sizeof(out->json) - 1;

		memcpy(out->json, view->json, n);
		out->json[n] = '\0';
	}
	/* We never map below 4 KiB (the parser guarantees a bit >= 4096). */
	client->min_pgsize = big_pages ? big_pages & (~big_pages + 1) : 4096;
}

/*
 * The twin socket the server sent with the VERSION reply (docs/protocol.md
 * 1.10): "supported" with a valid fd_index and fd turns it on; "supported"
 * without them is inconsistent and ends the connection.
 */
static int accept_twin(struct uvf_client *client, const struct uvf_caps *theirs, bool offered,
		       struct uvf_client_reply *reply)
{
	struct stat st;
	int fd;

	if (!theirs->twin_socket)
		return 0;
	if (!offered) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "the server enabled a twin socket we did not offer: ignored");
		return 0;
	}
	if (!theirs->twin_socket_has_index || theirs->twin_socket_fd_index >= reply->nfds) {
		CLIENT_LOG(client, UVF_LOG_ERROR,
			   "VERSION reply: twin socket supported but fd_index %s%u with %zu fd(s): inconsistent",
			   theirs->twin_socket_has_index ? "" : "absent, ", (unsigned)theirs->twin_socket_fd_index,
			   reply->nfds);
		return -EPROTO;
	}
	fd = reply->fds[theirs->twin_socket_fd_index];
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "VERSION reply: the twin socket fd is not a socket");
		return -EPROTO;
	}
	reply->fds[theirs->twin_socket_fd_index] = -1;
	/* Read with MSG_DONTWAIT after poll; non-blocking for our sends. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&client->lock);
	client->twin_rx = buf_get_locked(client);
	pthread_mutex_unlock(&client->lock);
	if (client->twin_rx == NULL) {
		close(fd);
		return -ENOMEM;
	}
	client->twin = fd;
	client->caps.twin_socket = true;
	return 0;
}

static int negotiate(struct uvf_client *client, bool offer_twin)
{
	struct uvf_msg_version version = {.major = UVF_PROTO_MAJOR, .minor = UVF_PROTO_MINOR};
	char json[UVF_CAPS_JSON_MAX];
	struct uvf_version_view view;
	struct uvf_client_reply reply;
	struct uvf_why why = {{0}};
	struct uvf_caps ours, theirs;
	struct iovec iov[2];
	int len, rc;

	uvf__caps_defaults(&ours);
	ours.max_msg_fds = client->our_max_fds;
	ours.max_data_xfer_size = client->our_max_xfer;
	ours.twin_socket = offer_twin;
	len = uvf__caps_encode(&ours, json, sizeof(json));
	if (len < 0) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "VERSION: cannot encode our capabilities: %s", uvf_strerror(len));
		return len;
	}
	iov[0].iov_base = &version;
	iov[0].iov_len = sizeof(version);
	iov[1].iov_base = json;
	iov[1].iov_len = (size_t)len;

	rc = request(client, UVF_CMD_VERSION, iov, 2, NULL, 0, true, &reply);
	if (rc == -EMSGSIZE)
		return -EPROTO; /* a header no vfio-user server would send */
	if (rc < 0 && !broken_error(client) && rc != -ETIMEDOUT) {
		/* an error reply */
		CLIENT_LOG(client, UVF_LOG_ERROR, "the server refused VERSION %u.%u: %s", UVF_PROTO_MAJOR,
			   UVF_PROTO_MINOR, uvf_strerror(rc));
		return -EPROTO;
	}
	if (rc < 0)
		return rc;

	rc = uvf__decode_version(reply.payload, reply.len, reply.nfds, 1, &view, &why);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "bad VERSION reply: %s", why.text);
		goto fail;
	}
	if (view.major != UVF_PROTO_MAJOR || view.minor > UVF_PROTO_MINOR) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "server answered VERSION %u.%u, we proposed %u.%u",
			   (unsigned)view.major, (unsigned)view.minor, UVF_PROTO_MAJOR, UVF_PROTO_MINOR);
		goto fail;
	}
	if (view.json) {
		rc = uvf__caps_parse(view.json, view.json_len, &theirs, &why);
		if (rc) {
			CLIENT_LOG(client, UVF_LOG_ERROR, "bad capabilities in the VERSION reply: %s", why.text);
			goto fail;
		}
	} else {
		/* No JSON: every key takes its default (max_msg_fds 1). */
		uvf__caps_defaults(&theirs);
	}
	set_server_caps(client, &view, &theirs);
	rc = accept_twin(client, &theirs, offer_twin, &reply);
	if (rc) {
		uvf__client_reply_done(client);
		return rc;
	}
	if (reply.nfds > (client->twin >= 0 ? 1u : 0u))
		/* Only a twin socket may come with the reply: other fds are
		 * closed with it. */
		CLIENT_LOG(client, UVF_LOG_WARNING, "VERSION reply carried %zu unrequested fd(s), closed",
			   reply.nfds - (client->twin >= 0 ? 1u : 0u));
	uvf__client_reply_done(client);
	CLIENT_LOG(client, UVF_LOG_INFO,
		   "connected: protocol %u.%u, server max_data_xfer_size %u, max_msg_fds %u, max_dma_maps %u%s",
		   (unsigned)client->caps.major, (unsigned)client->caps.minor,
		   (unsigned)client->caps.max_data_xfer_size, (unsigned)client->caps.max_msg_fds,
		   (unsigned)client->caps.max_dma_maps, client->twin >= 0 ? ", twin socket" : "");
	return 0;

fail:
	uvf__client_reply_done(client);
	return -EPROTO;
}

static int check_opts(struct uvf_client *client, const struct uvf_client_opts *opts)
{
	if (opts->version < 1 || opts->version > UVF_CLIENT_OPTS_VERSION) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client options version %u unknown (expected %u)", opts->version,
			   UVF_CLIENT_OPTS_VERSION);
		return -EINVAL;
	}
	if (opts->timeout_ms < -1 || opts->timeout_ms == 0) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client timeout_ms %d: must be positive or -1", opts->timeout_ms);
		return -EINVAL;
	}
	if (opts->max_data_xfer_size < UVF_CAPS_MIN_XFER || opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client max_data_xfer_size %u outside %u..%u",
			   (unsigned)opts->max_data_xfer_size, UVF_CAPS_MIN_XFER, UVF_CAPS_MAX_XFER_LIMIT);
		return -EINVAL;
	}
	if (opts->max_msg_fds > UVF_TRANSPORT_MAX_FDS) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client max_msg_fds %u above %u", (unsigned)opts->max_msg_fds,
			   UVF_TRANSPORT_MAX_FDS);
		return -EINVAL;
	}
	if (opts->version >= 2 && opts->poll_us > 1000000) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client poll_us %u above 1000000", (unsigned)opts->poll_us);
		return -EINVAL;
	}
	return 0;
}

/* Blocking reads and writes on the main socket, bounded by the timeout:
 * a reply then costs one recvmsg and no poll. */
static int setup_socket(struct uvf_client *client)
{
	int flags = fcntl(client->sock, F_GETFL);

	if (flags < 0 || fcntl(client->sock, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return -errno;
	if (client->timeout_ms > 0) {
		struct timeval tv = {
			.tv_sec = client->timeout_ms / 1000,
			.tv_usec = (client->timeout_ms % 1000) * 1000,
		};

		if (setsockopt(client->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    setsockopt(client->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
	}
	return 0;
}

UVF_API int uvf_client_connect(struct uvf_client **out, const char *path, const struct uvf_client_opts *opts)
{
	static const struct uvf_client_opts defaults = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *client;
	struct uvf_why why = {{0}};
	bool offer_twin;
	int rc;

	if (out == NULL || path == NULL)
		return -EINVAL;
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	client = calloc(1, sizeof(*client));
	if (client == NULL)
		return -ENOMEM;
	client->sock = -1;
	client->twin = -1;
	client->next_id = 1;
	pthread_mutex_init(&client->lock, NULL);
	pthread_mutex_init(&client->send_lock, NULL);
	pthread_rwlock_init(&client->dma_lock, NULL);
	uvf__logger_init(&client->log, opts->log, opts->log_data,
			 opts->log_level > UVF_LOG_DEBUG ? UVF_LOG_DEBUG : opts->log_level);
	/* Data replies carry at most our max_data_xfer_size bytes. */
	client->rx_limit = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_region_access) + opts->max_data_xfer_size;
	if (opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT || client->rx_limit < RX_MIN_LIMIT)
		client->rx_limit = RX_MIN_LIMIT;
	client->rx = calloc(1, sizeof(*client->rx));
	if (client->rx == NULL) {
		rc = -ENOMEM;
		goto fail;
	}

	rc = check_opts(client, opts);
	if (rc)
		goto fail;
	client->timeout_ms = opts->timeout_ms;
	client->our_max_xfer = opts->max_data_xfer_size;
	client->our_max_fds = opts->max_msg_fds;
	if (opts->version >= 2) {
		client->poll_us = opts->poll_us;
		client->posted_writes_off = opts->no_posted_writes;
	}
	/* The twin socket travels as an fd: only if we accept one. */
	offer_twin = !(opts->version >= 2 && opts->no_twin_socket) && client->our_max_fds > 0;

	rc = uvf__sock_connect(path, &client->sock, &why);
	if (rc) {
		if (why.text[0])
			CLIENT_LOG(client, UVF_LOG_ERROR, "cannot connect: %s", why.text);
		else
			CLIENT_LOG(client, UVF_LOG_ERROR, "cannot connect to %s: %s", path, uvf_strerror(rc));
		goto fail;
	}
	rc = setup_socket(client);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "cannot set up the socket: %s", uvf_strerror(rc));
		goto fail;
	}
	rc = negotiate(client, offer_twin);
	if (rc)
		goto fail;
	*out = client;
	return 0;

fail:
	uvf_client_close(client);
	return rc;
}

UVF_API void uvf_client_close(struct uvf_client *client)
{
	if (client == NULL)
		return;
	uvf__client_fast_free(client);
	/* The server drops our DMA mappings and IRQ fds when we go away, so
	 * nothing needs to be sent first. */
	if (client->sock >= 0)
		close(client->sock);
	if (client->twin >= 0)
		close(client->twin);
	buf_free(client->rx);
	buf_free(client->twin_rx);
	while (client->free_bufs) {
		struct uvf_client_buf *b = client->free_bufs;

		client->free_bufs = b->next;
		buf_free(b);
	}
	uvf__client_dma_forget_all(client);
	free(client->dma);
	for (size_t i = 0; i < client->nregion_fds; i++)
		close(client->region_fds[i].fd);
	free(client->region_fds);
	pthread_rwlock_destroy(&client->dma_lock);
	pthread_mutex_destroy(&client->send_lock);
	pthread_mutex_destroy(&client->lock);
	free(client);
}

UVF_API const struct uvf_server_caps *uvf_client_server_caps(const struct uvf_client *client)
{
	return client ? &client->caps : NULL;
}

UVF_API int uvf_client_poll_fd(const struct uvf_client *client)
{
	if (client == NULL)
		return -EINVAL;
	return client->twin >= 0 ? client->twin : client->sock;
}

bool uvf__client_cached_device_info(struct uvf_client *client, struct uvf_msg_device_info *out)
{
	bool have;

	pthread_mutex_lock(&client->lock);
	have = client->have_device_info;
	if (have && out)
		*out = client->device_info;
	pthread_mutex_unlock(&client->lock);
	return have;
}

/* ------------------------------------------------------------------ */
/* Between calls                                                        */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_process(struct uvf_client *client)
{
	int served = 0;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	pthread_mutex_lock(&client->lock);
	if (client->reading) {
		/* A thread waiting for a reply reads the socket and serves the
		 * server's commands already. */
		pthread_mutex_unlock(&client->lock);
		return 0;
	}
	client->reading = true;
	pthread_mutex_unlock(&client->lock);

	for (int i = 0; i < PROCESS_MAX_READS; i++) {
		struct uvf_why why = {{0}};
		bool own = false;
		ssize_t n;

		rc = dispatch_all(client, NULL, false, &own, &served);
		if (rc < 0)
			break;
		n = read_now(client, &why);
		if (n < 0)
			rc = uvf__client_mark_broken(client, (int)n, why.text);
		if (n <= 0)
			break;
	}
	if (rc == 0) {
		bool own = false;

		rc = dispatch_all(client, NULL, false, &own, &served);
	}
	pthread_mutex_lock(&client->lock);
	client->reading = false;
	pass_reader_role_locked(client);
	pthread_mutex_unlock(&client->lock);
	return rc < 0 ? rc : served;
}

UVF_API int uvf_client_call(struct uvf_client *client, uint16_t command, const void *payload, size_t len,
			    const int *fds, size_t nfds, void *reply_buf, size_t reply_cap, size_t *reply_len)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	struct uvf_client_reply reply;
	int rc;

	if (reply_len)
		*reply_len = 0;
	if ((len > 0 && payload == NULL) || (nfds > 0 && fds == NULL) || (reply_cap > 0 && reply_buf == NULL))
		return -EINVAL;
	rc = uvf__client_request(client, command, &iov, len ? 1 : 0, fds, nfds, &reply);
	if (rc)
		return rc;
	if (reply_cap > 0 && reply.len > 0)
		memcpy(reply_buf, reply.payload, reply.len < reply_cap ? reply.len : reply_cap);
	if (reply_len)
		*reply_len = reply.len;
	rc = reply.len > reply_cap ? -EMSGSIZE : 0;
	/* fds that came with the reply have no place to go: closed here. */
	uvf__client_reply_done(client);
	return rc;
}
