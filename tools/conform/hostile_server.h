/* SPDX-License-Identifier: MIT */
/*
 * A fake vfio-user server that misbehaves on purpose, for the tests of
 * uvf-conform itself: replies that announce a large msg_size and then
 * stall or close, fds sent with messages cut short, headers announcing
 * more than the tool accepts. The tool must give a verdict against it in
 * bounded time and keep neither memory nor fds of the broken replies.
 */
#ifndef UVF_CONFORM_HOSTILE_SERVER_H
#define UVF_CONFORM_HOSTILE_SERVER_H

#include <stddef.h>

enum hostile_kind {
	/* a reply header announcing 64 MiB, 4 KiB of it with two fds, then
	 * silence until the client leaves */
	HOSTILE_BIG_STALL,
	/* the same, then the server closes the connection */
	HOSTILE_BIG_CLOSE,
	/* a 64-byte reply cut after 8 payload bytes, three fds with its
	 * header, then close */
	HOSTILE_FDS_TRUNCATED,
	/* 8 bytes of a header carrying two fds, then close */
	HOSTILE_FDS_SHORT_HEADER,
	/* a header announcing 4 GiB - 1 bytes, with two fds, then silence */
	HOSTILE_FDS_OVERSIZED,
};

struct hostile_act {
	enum hostile_kind kind;
	unsigned after; /* messages of the connection answered validly first */
};

struct hostile_plan {
	/* the first valid_sessions connections are served validly throughout,
	 * as a minimal PCI device (config space only, no IRQ vectors) */
	unsigned valid_sessions;
	/* connection valid_sessions + k gets acts[k % nacts] */
	const struct hostile_act *acts;
	size_t nacts;
};

/* Serves connections on listen_fd one at a time, forever: run it in a
 * child process and kill that. */
void hostile_serve(int listen_fd, const struct hostile_plan *plan);

/* "big-stall", "big-close", "fds-truncated", "fds-short-header",
 * "fds-oversized" with an optional ":AFTER"; 0 or -EINVAL. */
int hostile_parse_act(const char *text, struct hostile_act *act);

#endif /* UVF_CONFORM_HOSTILE_SERVER_H */
