/* SPDX-License-Identifier: MIT */
/*
 * The serving loop's watched fds (serve.c): each carries the callback that
 * handles it, so a file that needs an fd watched (the twin socket, an INTx
 * resample eventfd, an ioeventfd) brings its own handler instead of a tag
 * that the loop must know.
 */
#ifndef UVF_SERVER_LOOP_H
#define UVF_SERVER_LOOP_H

#include <stdbool.h>

struct uvf_device;

/* What the callbacks of one round of events ask of the loop; it runs that
 * work after all callbacks, in a fixed order (serve.c). */
struct uvf_loop_round {
	bool conn_ready;  /* read the connection */
	bool twin_ready;  /* read the twin socket */
	bool kicked;      /* queued work: commands, DMA, device threads' replies */
	bool timer_fired; /* asynchronous DMA deadline */
	int err;          /* fatal: uvf_device_run returns it */
};

struct uvf_watch;
typedef void (*uvf_watch_fn)(struct uvf_device *dev, struct uvf_watch *w, struct uvf_loop_round *round);

struct uvf_watch {
	uvf_watch_fn fn;
	int fd;
	unsigned id; /* for the callback's own use (an ioeventfd's id) */
};

/* Watch fd for input with fn (on), or stop watching it: 0 or -errno.
 * w must stay in place while watched. */
int uvf__watch(struct uvf_device *dev, struct uvf_watch *w, int fd, uvf_watch_fn fn, bool on);

#endif /* UVF_SERVER_LOOP_H */
