/* SPDX-License-Identifier: MIT */
/*
 * UNIX socket transport for vfio-user messages (internal).
 *
 * Sockets are AF_UNIX/SOCK_STREAM, close-on-exec and non-blocking. A message
 * is sent with one sendmsg() carrying the fds with its first byte (further
 * sendmsg calls only if the kernel accepted a short write). Reception is
 * incremental: uvf__rx_read() consumes whatever the socket has and returns a
 * complete message only when header and body are in, so a message may arrive
 * split across any number of reads with pauses in between.
 * Framing received bytes and giving received fds to their message is done in
 * one place, rx_buffer.c, for the server's receivers and the client's engine.
 *
 * All functions return 0 (or a positive count where stated) or a negative
 * errno; none of them logs: the caller logs with the reason in *why.
 */
#ifndef UVF_TRANSPORT_H
#define UVF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "proto/msg.h"
#include "uvf/proto.h"

/* Most fds one received message may carry; more are closed and the message
 * is flagged (fds_overflow). */
#define UVF_TRANSPORT_MAX_FDS 64u

/* Most fds one sent message may carry (the kernel's SCM_MAX_FD). */
#define UVF_TRANSPORT_MAX_SEND_FDS 253u

/* ------------------------------------------------------------------ */
/* Socket set-up                                                        */
/* ------------------------------------------------------------------ */

/*
 * Create a listening socket at path with the given permission mode (0600 is
 * the library default). An existing socket file at path is replaced only if
 * nobody is listening on it (connect fails with ECONNREFUSED); an existing
 * live socket gives -EADDRINUSE; any other kind of file gives -EEXIST and is
 * left untouched. Path longer than sun_path: -ENAMETOOLONG.
 * The socket is bound at path itself (the name the kernel reports in
 * /proc/net/unix), with its mode set through the umask at bind(), and
 * listens right after; a client connecting in between is refused, which
 * uvf__sock_connect() retries. Starts on one path are serialised by an
 * exclusive flock on "path.lock", created beside it (mode 0644) and removed
 * again before returning: -EBUSY when another process holds it for 2
 * seconds, -EEXIST when path.lock is not a regular file.
 * On success *out_fd is the non-blocking, close-on-exec listening fd, owned
 * by the caller.
 */
int uvf__sock_listen(const char *path, mode_t mode, int *out_fd, struct uvf_why *why);

/* Same, and give the socket file group `group` ((gid_t)-1: leave it) before
 * it listens. A failing chown gives its errno (e.g. -EPERM) and no socket. */
int uvf__sock_listen_group(const char *path, mode_t mode, gid_t group, int *out_fd, struct uvf_why *why);

/* The identity of the socket file at path (call it right after listen
 * succeeded: nobody replaces a live socket), for uvf__sock_unlink_own. */
int uvf__sock_file_id(const char *path, dev_t *dev, ino_t *ino);

/* Remove path if it is still the socket file (dev, ino), under the same
 * lock as listen, so that a server that started on path since (after ours
 * stopped listening) keeps its socket. 0, or -errno (-ESTALE when path is
 * another file now: left alone). */
int uvf__sock_unlink_own(const char *path, dev_t dev, ino_t ino);

/* Credentials of the process at the other end of a connected socket
 * (SO_PEERCRED: as they were at connect time). */
int uvf__sock_peer_cred(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/* Make receives on the connected socket fd block (O_NONBLOCK off), each
 * for at most timeout_ms (SO_RCVTIMEO; > 0). Sends and the other receives
 * of the transport pass MSG_DONTWAIT, so only uvf__rx_read_block waits. */
int uvf__sock_block_receive(int fd, int timeout_ms);

/* Accept one pending connection: *out_fd non-blocking and close-on-exec,
 * owned by the caller, its send buffer grown to UVF_TRANSPORT_SEND_BUFFER
 * where the kernel allows. -EAGAIN when none is pending. */
int uvf__sock_accept(int listen_fd, int *out_fd);

/* The send buffer a server asks for on each accepted connection (bytes as
 * given to SO_SNDBUF; the kernel doubles it for its own bookkeeping). */
#define UVF_TRANSPORT_SEND_BUFFER (4u << 20)

/* Ask for a send buffer of UVF_TRANSPORT_SEND_BUFFER on fd, past
 * net.core.wmem_max when the process may (SO_SNDBUFFORCE); failures keep
 * what the socket has. */
void uvf__sock_grow_send_buffer(int fd);

/* The send buffer the kernel granted fd (SO_SNDBUF as getsockopt reads it,
 * bookkeeping included), or -errno. */
int uvf__sock_send_buffer(int fd);

/* Connect to path; *out_fd non-blocking and close-on-exec, owned by the
 * caller. A refused connect (a server between bind and listen) is retried
 * with short sleeps for up to 1 second. -ENOENT when the path is absent,
 * -ECONNREFUSED when nobody listens after that second, -ENOTSOCK when it is
 * not a socket, -ENAMETOOLONG as for listen, -ETIMEDOUT when the listener's
 * backlog stays full for 5 seconds. */
int uvf__sock_connect(const char *path, int *out_fd, struct uvf_why *why);

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

/*
 * Send one message made of iov[0..iovcnt) (the first bytes must be the
 * 16-byte header) with nfds fds attached to the first sendmsg. Uses
 * MSG_NOSIGNAL; retries on EINTR; on a short write keeps sending the rest,
 * waiting with poll() for at most timeout_ms per wait (-1 = forever) when the
 * socket is full. The fds stay owned by the caller. -EPIPE/-ECONNRESET when
 * the peer is gone, -ETIMEDOUT when the peer does not drain.
 * -EINVAL when iovcnt is not 1..8, the message is empty or nfds exceeds
 * UVF_TRANSPORT_MAX_SEND_FDS. The message content is not checked.
 */
int uvf__msg_sendv(int sock, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds, int timeout_ms);

/* Convenience: header + one payload buffer (payload may be NULL if len 0). */
int uvf__msg_send(int sock, const struct uvf_msg_header *hdr, const void *payload, size_t len, const int *fds,
		  size_t nfds, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Receiving                                                            */
/* ------------------------------------------------------------------ */

/*
 * Receive buffer: bytes read from a stream socket and the fds that came with
 * them. This is the one place where received bytes are framed into messages
 * and received fds find their message, for the client's engine and for the
 * server's read-ahead alike.
 *
 * Owner rule: a recvmsg on a stream UNIX socket ends right after the bytes
 * that carried fds, and a sender attaches its fds to its message's first
 * sendmsg, so the fds of one read belong to the message holding the last
 * byte of that read (byte fds_end - 1 of data). They are handed over when
 * that byte is taken. While they wait, uvf__rx_buffer_recv never reads past
 * the end of their message, so that fds of a later message cannot arrive
 * before these are handed over: at most one group of fds waits at a time.
 *
 * All zero is an empty buffer that allocates on first use (and grows to the
 * largest message); uvf__rx_buffer_init_fixed gives one over the caller's
 * storage, which never grows. Not thread-safe: one reader at a time.
 */
#define UVF_RX_BUFFER_FIRST_CAP 16384u

struct uvf_rx_buffer {
	uint8_t *data;
	size_t cap;
	size_t start, end; /* bytes received and not taken yet */
	bool fixed;	   /* data is the caller's storage: never grown nor freed */
	bool has_fds;	   /* fds/nfds/fds_overflow wait for the message holding byte fds_end - 1 */
	size_t fds_end;
	int fds[UVF_TRANSPORT_MAX_FDS]; /* slots set to -1 by a taker are not closed */
	size_t nfds;
	bool fds_overflow; /* more than UVF_TRANSPORT_MAX_FDS came, or MSG_CTRUNC */
	/*
	 * The direct receive's peeks (uvf__rx_buffer_peek_wait): the peeked
	 * bytes, copied to data[peek_at..], are still on the socket; before
	 * them on the socket, the answered bytes of earlier peeks, gone from
	 * the buffer. answered stays 0 unless the socket's peek offset
	 * (SO_PEEK_OFF) is on: then a peek skips both and waits for new
	 * bytes. The next receive that does not peek takes them all off
	 * first.
	 */
	size_t peek_at, peeked, answered;
	unsigned answered_peeks;
	signed char peek_off; /* SO_PEEK_OFF: 0 not tried yet, 1 on, -1 not available */
	bool slept; /* the last wait took UVF_RX_SLEPT_NS or more */
};

/* Answered bytes wait on the socket for at most this many peeks, or this
 * many bytes (or the buffer's size, if smaller), before they are taken
 * off; and the iovecs to take them off with. */
#define UVF_RX_ANSWERED_PEEKS 8u
#define UVF_RX_ANSWERED_BYTES 2048u
#define UVF_RX_SKIP_IOV 8u
/* A wait this long slept (a peek that finds bytes takes under 1 µs). */
#define UVF_RX_SLEPT_NS 5000u

/* A buffer over storage[0..size) that never grows. */
void uvf__rx_buffer_init_fixed(struct uvf_rx_buffer *b, void *storage, size_t size);

/*
 * One recvmsg (flags: 0 to block, MSG_DONTWAIT not to) appending at most
 * what fits after b->end, and never past the end of the message owning
 * waiting fds (for that, b->start must be where a message starts whenever
 * fds wait). A growable buffer first makes room (at least
 * UVF_RX_BUFFER_FIRST_CAP bytes). fds come with MSG_CMSG_CLOEXEC.
 * Returns the bytes read; -EAGAIN when nothing is there (or SO_RCVTIMEO
 * expired); -ECONNRESET on EOF; -ENOMEM; -ENOBUFS when a fixed buffer is
 * full; or -errno of recvmsg, with the reason in *why (may be NULL).
 */
ssize_t uvf__rx_buffer_recv(struct uvf_rx_buffer *b, int sock, int flags, struct uvf_why *why);

/*
 * Wait for bytes (the socket must block: O_NONBLOCK clear) and copy them
 * into the empty buffer, but leave them on the socket (MSG_PEEK); a later
 * uvf__rx_buffer_recv() or uvf__rx_buffer_settle() takes them off. So a
 * server that answers a request before it takes the request off the socket
 * does not wake the client twice: the kernel wakes a client sleeping in
 * recvmsg both when its sent bytes are taken (space to write) and when the
 * reply comes, and across CPUs each wake-up costs several microseconds.
 * With the socket's peek offset (SO_PEEK_OFF, turned on by the first
 * call), the bytes of the last peek count as answered and the peek skips
 * them and waits for new bytes. The answered bytes are taken off just
 * before the next peek, which is right after a reply, when the client is
 * awake: at once when the last wait slept (UVF_RX_SLEPT_NS: the client is
 * on another CPU), else every few peeks (UVF_RX_ANSWERED_*): a client on
 * this CPU has sent its next request by then and sleeps again, and a
 * request so costs one peek and one reply. Without a peek offset the last
 * peek's bytes are taken off first, in one recvmsg with whatever came
 * after them (returned then: no wait).
 * Bytes that came with fds are taken at once instead (a peek would
 * duplicate the fds). A signal ends the wait: -EINTR; a timeout
 * (SO_RCVTIMEO) is -EAGAIN. Otherwise as uvf__rx_buffer_recv().
 */
ssize_t uvf__rx_buffer_peek_wait(struct uvf_rx_buffer *b, int sock, struct uvf_why *why);

/* Take the peeked and answered bytes off the socket, nothing more: 0 or
 * -errno. */
int uvf__rx_buffer_settle(struct uvf_rx_buffer *b, int sock, struct uvf_why *why);

/*
 * Is a whole message at b->start? 1 with *hdr filled; 0 when more bytes are
 * needed (a growable buffer makes room for the whole message first); or a
 * negative errno when its header breaks framing (uvf__msg_check_header with
 * max_msg_size: -EMSGSIZE, -EPROTO; *hdr holds it), -ENOMEM, or -ENOBUFS
 * when it cannot fit in a fixed buffer.
 */
int uvf__rx_buffer_next(struct uvf_rx_buffer *b, uint32_t max_msg_size, struct uvf_msg_header *hdr,
			struct uvf_why *why);

/* Whether the waiting fds belong to the first len bytes at b->start. */
bool uvf__rx_buffer_owns_fds(const struct uvf_rx_buffer *b, size_t len);

/*
 * Take up to len bytes from b->start (copied to dst unless dst is NULL):
 * returns how many. If they include the byte the waiting fds belong to, the
 * fds are appended to fds[*nfds..UVF_TRANSPORT_MAX_FDS) (those beyond are
 * closed and *fds_overflow set, which an overflow of the group also sets),
 * or closed when fds is NULL.
 */
size_t uvf__rx_buffer_take(struct uvf_rx_buffer *b, void *dst, size_t len, int *fds, size_t *nfds, bool *fds_overflow);

/* Drop the first len bytes (a message dealt with), closing their fds. */
void uvf__rx_buffer_consume(struct uvf_rx_buffer *b, size_t len);

/*
 * Give the message of len bytes at b->start a buffer of its own, starting at
 * data[0] and holding the fds the message owns. copy_front copies it into
 * out (b goes on after it). split copies nothing of it: what follows it in b
 * (bytes, and fds that are not the message's) moves to rest, and b keeps the
 * message alone; only when b->start is 0. out/rest are emptied first and
 * become growable. 0; -ENOMEM with nothing moved; -EINVAL when len is more
 * than b holds or, for split, b->start is not 0.
 */
int uvf__rx_buffer_copy_front(struct uvf_rx_buffer *b, size_t len, struct uvf_rx_buffer *out);
int uvf__rx_buffer_split(struct uvf_rx_buffer *b, size_t len, struct uvf_rx_buffer *rest);

/* Empty: close the waiting fds (except slots set to -1), drop the bytes;
 * keeps the storage. */
void uvf__rx_buffer_reset(struct uvf_rx_buffer *b);

/* Reset and free the storage of a growable buffer. */
void uvf__rx_buffer_destroy(struct uvf_rx_buffer *b);

/*
 * One recvmsg of at most len bytes into buf with MSG_CMSG_CLOEXEC, retried
 * on EINTR: the fds that came are appended to fds[*nfds..) as
 * uvf__rx_buffer_take does. Returns the bytes read, -EAGAIN, -ECONNRESET on
 * EOF, or -errno. For a reader that never reads past its message.
 */
ssize_t uvf__rx_recvmsg(int sock, void *buf, size_t len, int flags, int *fds, size_t *nfds, bool *fds_overflow);

/*
 * Read-ahead for a receiver: one recvmsg fetches a header together with the
 * body (and whatever follows), so a small request costs one system call
 * instead of two. Several receivers reading the same socket (the server's
 * main and DMA-wait receivers) share one, so bytes are consumed in stream
 * order whoever reads them. It is a receive buffer over fixed storage, read
 * only when empty; its fds go to the receiver that takes their byte.
 */
#define UVF_RX_AHEAD_SIZE 4096u

struct uvf_rx_ahead {
	struct uvf_rx_buffer buf; /* over storage, set up on first read */
	uint8_t storage[UVF_RX_AHEAD_SIZE];
};

/* Empty: close held fds, drop buffered bytes (a new connection). */
void uvf__rx_ahead_reset(struct uvf_rx_ahead *ahead);

struct uvf_rx {
	/* limits, set by uvf__rx_init, may be changed between messages */
	uint32_t max_msg_size; /* largest msg_size accepted (header included) */
	struct uvf_rx_ahead *ahead; /* NULL: read exactly each message's bytes */

	/* message being received */
	struct uvf_msg_header hdr;
	size_t hdr_got;
	uint8_t *body;   /* malloc'ed, body_cap bytes; reused between messages */
	size_t body_cap;
	size_t body_got;
	int fds[UVF_TRANSPORT_MAX_FDS];
	size_t nfds;
	bool fds_overflow;  /* more fds than UVF_TRANSPORT_MAX_FDS arrived, or MSG_CTRUNC */
	bool complete;      /* a whole message is in hdr/body/fds */
};

void uvf__rx_init(struct uvf_rx *rx, uint32_t max_msg_size);

/* Whether bytes beyond the current message are buffered in rx->ahead (then
 * uvf__rx_read may complete a message without the socket becoming
 * readable: call it again instead of waiting for the socket). */
bool uvf__rx_buffered(const struct uvf_rx *rx);

/*
 * Read from the non-blocking socket until a whole message is in, or the
 * socket has nothing more for now.
 * Returns 1 when a complete message is ready (rx->hdr, rx->body with
 * hdr.msg_size - 16 bytes, rx->fds/nfds), 0 when more bytes are needed
 * (poll the socket and call again), or a negative errno when the connection
 * must be closed: -ECONNRESET on EOF or reset (also EOF in the middle of a
 * message), -EMSGSIZE / -EPROTO from uvf__msg_check_header (the body is NOT
 * read: the stream cannot be trusted any more), -ENOMEM.
 * After a return of 1 the caller must call uvf__rx_release() before reading
 * the next message. Before returning -EMSGSIZE/-EPROTO, rx->hdr holds the
 * offending header so the caller can log it or answer with an error reply.
 * fds are received with MSG_CMSG_CLOEXEC with any part of the message; if
 * more than UVF_TRANSPORT_MAX_FDS arrive or the kernel reports MSG_CTRUNC,
 * the extra fds are closed and rx->fds_overflow is set (the message is still
 * delivered so the caller can answer it with an error).
 * On a negative return the partial message is dropped (its fds closed, as
 * by uvf__rx_release) while rx->hdr keeps the last header bytes read; the
 * rx may then be reused on another socket or destroyed.
 * The reads use MSG_DONTWAIT, so a blocking socket works too.
 */
int uvf__rx_read(struct uvf_rx *rx, int sock, struct uvf_why *why);

/* Whether rx holds no part of a message (none started, none complete). */
static inline bool uvf__rx_idle(const struct uvf_rx *rx)
{
	return rx->hdr_got == 0 && !rx->complete;
}

/*
 * uvf__rx_read for a receiver with a read-ahead on a socket whose receives
 * block (uvf__sock_block_receive): when rx is idle and nothing is buffered,
 * it waits for bytes (uvf__rx_buffer_peek_wait: a peek, after the wait
 * when nothing was there); the rest of a message that came only in part is
 * read without waiting. The peeked bytes stay on the socket, after the
 * caller has answered them, until the read-ahead takes the answered bytes
 * off (every few waits), a read of rx that does not peek takes them, or
 * uvf__rx_settle() does. Returns as uvf__rx_read; 0 also when the wait timed out
 * without a byte (SO_RCVTIMEO), and -EINTR when a signal ended it without a
 * byte (rx and the connection stay usable).
 */
int uvf__rx_read_block(struct uvf_rx *rx, int sock, struct uvf_why *why);

/* Take bytes uvf__rx_read_block() peeked off the socket, before the socket
 * is watched for readability (it would stay readable) or handed to others:
 * 0, or -errno (the connection is unusable). */
int uvf__rx_settle(struct uvf_rx *rx, int sock, struct uvf_why *why);

/*
 * Wait (poll) up to timeout_ms (-1 forever) and read until a complete
 * message is in: 1 on success, -ETIMEDOUT, or an error from uvf__rx_read.
 */
int uvf__rx_read_wait(struct uvf_rx *rx, int sock, int timeout_ms, struct uvf_why *why);

/*
 * Take ownership of the received fds: copies up to max fds into out, marks
 * them taken so uvf__rx_release does not close them, returns the count.
 * Fds are taken in arrival order; a later call takes the ones still left.
 * rx->nfds keeps counting every fd that arrived; taken slots of rx->fds
 * become -1.
 */
size_t uvf__rx_take_fds(struct uvf_rx *rx, int *out, size_t max);

/* Forget the current message: close every fd not taken, reset counters;
 * keeps the body buffer for reuse. */
void uvf__rx_release(struct uvf_rx *rx);

/* Release and free everything. */
void uvf__rx_destroy(struct uvf_rx *rx);

#endif /* UVF_TRANSPORT_H */
