/* SPDX-License-Identifier: MIT */
/*
 * uvf/wire.h - whole vfio-user messages with their fds, for programs that
 * stand on the wire itself (a proxy, a tracer) rather than on one end of it.
 *
 * A struct uvf_wire is one connected vfio-user socket and the receiver that
 * frames its bytes into messages: the same transport the server and the
 * client libraries use (non-blocking, close-on-exec sockets, fds received
 * with MSG_CMSG_CLOEXEC, a header checked before its body is read or
 * allocated). Nothing is interpreted beyond the 16-byte header: a message is
 * handed over as it came, to be looked at, changed or sent on.
 *
 * uvf_wire_describe() decodes a message for people: the command's name,
 * the fields that matter (region, offset and count, DMA address, size and
 * permissions, IRQ index, start, count and action, feature, migration
 * state), the errno of an error reply by name. It never fails on a
 * malformed payload: it says what is wrong with it instead.
 *
 * Not thread-safe per handle: one thread receives on a uvf_wire at a time,
 * and one sends (a receiving and a sending thread may share one).
 */
#ifndef UVF_WIRE_H
#define UVF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/common.h"
#include "uvf/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most fds one received message may carry: more are closed and the message
 * is flagged (fds_overflow). */
#define UVF_WIRE_MAX_FDS 64u

/* The largest message received unless uvf_wire_set_limits says otherwise:
 * the largest data transfer uvf negotiates (64 MiB) and room for a header. */
#define UVF_WIRE_DEFAULT_MAX_MSG_SIZE ((64u << 20) + 4096u)

/* How long uvf_wire_send waits for a peer that does not drain its socket,
 * unless uvf_wire_set_limits says otherwise. */
#define UVF_WIRE_DEFAULT_SEND_TIMEOUT_MS 30000

struct uvf_wire;

/*
 * Listen at path (mode 0600). A stale socket file is replaced; a live one
 * gives -EADDRINUSE, any other file -EEXIST. *out_fd is the non-blocking,
 * close-on-exec listening socket, owned by the caller (close it, and unlink
 * path, when done).
 */
UVF_API int uvf_wire_listen(const char *path, int *out_fd);

/* Accept one pending connection on listen_fd: -EAGAIN when none waits. */
UVF_API int uvf_wire_accept(struct uvf_wire **out, int listen_fd);

/* Connect to the vfio-user socket at path: -ENOENT when it is absent,
 * -ECONNREFUSED when nobody listens, -ENOTSOCK, -ENAMETOOLONG. */
UVF_API int uvf_wire_connect(struct uvf_wire **out, const char *path);

/* Wrap a connected AF_UNIX stream socket (made non-blocking and
 * close-on-exec); the handle owns fd from now on, also on failure. */
UVF_API int uvf_wire_from_fd(struct uvf_wire **out, int fd);

/* Close the socket and every fd of a message not taken; NULL is allowed. */
UVF_API void uvf_wire_close(struct uvf_wire *wire);

/* The socket, to poll for POLLIN; still owned by the handle. */
UVF_API int uvf_wire_fd(const struct uvf_wire *wire);

/*
 * Change the largest message accepted (header included, >= 16) and the
 * time uvf_wire_send waits for room in the socket (ms; -1 forever).
 * Takes effect from the next message. Call it from the receiving thread
 * (a sending thread reads the timeout atomically).
 */
UVF_API int uvf_wire_set_limits(struct uvf_wire *wire, uint32_t max_msg_size, int send_timeout_ms);

/* Why the last uvf_wire_recv failed, one line ("" when it did not). Valid
 * until the next uvf_wire_recv; for the receiving thread. */
UVF_API const char *uvf_wire_why(const struct uvf_wire *wire);

/* Why the last uvf_wire_send failed, the same way, for the sending
 * thread. */
UVF_API const char *uvf_wire_send_why(const struct uvf_wire *wire);

/* One received message. Everything points into the handle and stays valid
 * until the next uvf_wire_recv or uvf_wire_close on it. */
struct uvf_wire_msg {
	struct uvf_msg_header hdr;
	const void *payload; /* hdr.msg_size - 16 bytes */
	size_t len;
	const int *fds; /* owned by the handle unless taken with uvf_wire_take_fds */
	size_t nfds;
	bool fds_overflow; /* more than UVF_WIRE_MAX_FDS came (extra ones closed) */
};

/*
 * Receive without waiting. Returns 1 with the next whole message in *out;
 * 0 when the socket has no more for now (poll uvf_wire_fd, then call
 * again); or a negative errno when the connection cannot go on
 * (-ECONNRESET: closed by the peer, also in the middle of a message;
 * -EMSGSIZE: msg_size beyond the limit; -EPROTO: a header that breaks
 * framing (size below 16, unknown type or flag bits); -ENOMEM), with the
 * reason in uvf_wire_why. Bytes may already wait in the handle after a
 * message was returned: call again until it returns 0 before polling.
 * The previous message is released first: its fds not taken are closed.
 */
UVF_API int uvf_wire_recv(struct uvf_wire *wire, struct uvf_wire_msg *out);

/* Take ownership of up to max fds of the message last received, in order;
 * returns how many. Those left are closed with the message. */
UVF_API size_t uvf_wire_take_fds(struct uvf_wire *wire, int *fds, size_t max);

/*
 * Send one message: hdr (msg_size must be 16 + len, else -EINVAL) and len
 * payload bytes, with nfds fds (at most 253) attached to its first byte.
 * Waits for room in the socket up to the send timeout (-ETIMEDOUT).
 * -EPIPE or -ECONNRESET when the peer is gone; the reason in
 * uvf_wire_send_why. The fds stay the caller's.
 */
UVF_API int uvf_wire_send(struct uvf_wire *wire, const struct uvf_msg_header *hdr, const void *payload, size_t len,
			  const int *fds, size_t nfds);

/* ------------------------------------------------------------------ */
/* Describing messages                                                  */
/* ------------------------------------------------------------------ */

/* Command name for a number ("REGION_READ"), NULL when unknown. */
UVF_API const char *uvf_wire_command_name(uint16_t command);

/* Command number for a name as uvf_wire_command_name gives it (case does
 * not matter), or a negative errno (-ENOENT) when there is none. */
UVF_API int uvf_wire_command_number(const char *name);

/* Name of a positive errno ("ENOENT"), NULL when unknown. */
UVF_API const char *uvf_wire_errno_name(int err);

enum uvf_wire_field_format {
	UVF_WIRE_FIELD_DEC = 0,	 /* value, in decimal */
	UVF_WIRE_FIELD_HEX = 1,	 /* value, as 0x... */
	UVF_WIRE_FIELD_TEXT = 2, /* text */
};

struct uvf_wire_field {
	const char *name; /* static string: "region", "offset", "iova", ... */
	enum uvf_wire_field_format format;
	uint64_t value;
	const char *text; /* UVF_WIRE_FIELD_TEXT: into the description's own text */
};

#define UVF_WIRE_MAX_FIELDS	12u
#define UVF_WIRE_DESC_TEXT_SIZE 512u

/* A decoded message. The caller sets argsz to sizeof(struct uvf_wire_desc). */
struct uvf_wire_desc {
	uint32_t argsz;
	uint16_t command;
	const char *command_name; /* "REGION_READ", or "command 77" */
	const char *kind;	  /* "request", "reply" or "error" */
	int error;		  /* error reply: its positive errno, else 0 */
	const char *error_name;	  /* its name ("ENOENT"), or NULL */
	bool no_reply;		  /* a request sent NO_REPLY */
	size_t nfds;
	size_t nfields;
	struct uvf_wire_field fields[UVF_WIRE_MAX_FIELDS];
	char problem[UVF_WIRE_DESC_TEXT_SIZE]; /* why the payload does not decode, or "" */
	char text[UVF_WIRE_DESC_TEXT_SIZE];    /* room for names and text fields */
};

/*
 * Describe the message hdr + payload[0..len) that carried nfds fds. A reply
 * is described from its own bytes (a vfio-user reply repeats its request's
 * command). 0, or -EINVAL when desc's argsz is too small or len does not
 * match hdr.msg_size. A payload that does not decode is not a failure: its
 * reason is in desc->problem and the fields found before it are kept.
 */
UVF_API int uvf_wire_describe(struct uvf_wire_desc *desc, const struct uvf_msg_header *hdr, const void *payload,
			      size_t len, size_t nfds);

/*
 * Write desc as one line of text: "REGION_READ region=7 offset=0x4 count=4",
 * an error reply with " error=ENOENT", a problem as " bad=\"...\"". The
 * length of the whole line is returned (as snprintf does; the text is cut
 * to fit size, NUL included), or -EINVAL.
 */
UVF_API int uvf_wire_format(const struct uvf_wire_desc *desc, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* UVF_WIRE_H */
