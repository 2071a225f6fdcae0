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
	/* Set by whoever creates the watch, before it is first watched: the
	 * fd is one of the loop's own (serve.c), whose events reach the loop
	 * without epoll_wait while it receives directly. A watch without it
	 * (the zeroed default: ioeventfds, INTx resampling) keeps the loop
	 * in epoll_wait while watched (extra_watched). */
	bool loop_own;
};

/* The loop's own state: its epoll set, the fds that wake it, and the
 * watches of the fds serve.c owns. */
struct uvf_loop {
	int epoll_fd;
	int stop_fd;            /* eventfd written by uvf_device_stop */
	int kick_fd;            /* eventfd: queued commands wait to be run */
	int dma_timer_fd;       /* timerfd: the earliest asynchronous DMA deadline */
	int handshake_timer_fd; /* timerfd: a connected client's VERSION deadline */
	bool stopping;          /* uvf_device_stop was seen: leave after this round */
	bool listen_watched;    /* off while a client is connected */
	/* Direct receive (serve.c): while the connection is the only source
	 * of work, uvf_device_run waits in recvmsg on it instead of in
	 * epoll_wait. Wakers bump `wakeups` (after setting stop_requested or
	 * queueing their work, before writing their eventfd); a count other
	 * than the one the last epoll round saw sends the loop back to epoll. */
	unsigned wakeups;       /* atomic */
	unsigned wakeups_seen;  /* dispatch thread only */
	bool stop_requested;    /* atomic: uvf_device_stop was called */
	bool threads_kick;      /* atomic, never cleared: a device thread handed
				 * work to the loop, so it stays in epoll */
	bool direct_ready;      /* the connection's receives block (with a timeout) */
	unsigned extra_watched; /* watched fds whose watch is not loop_own */
	/* The connection is out of the epoll set while uvf_device_run
	 * receives directly: a watched socket makes every wake-up on it (each
	 * message in, each reply the client takes) run epoll's callback too,
	 * which costs a cross-CPU round trip a fifth of its time. */
	bool conn_parked;
	unsigned posted_streak; /* client messages in a row that wanted no reply */
	bool interrupted;       /* a signal ended the direct receive's wait */
	struct uvf_watch stop_watch, kick_watch, dma_timer_watch, handshake_watch;
	struct uvf_watch listen_watch, conn_watch, twin_watch, intx_watch;
};

/* Longest wait in recvmsg before the loop looks at its wakers again: the
 * most a stop or a hand-over from another thread can wait while it waits
 * in the kernel (a signal delivered to the dispatch thread ends it at once). */
#define UVF_LOOP_DIRECT_WAIT_MS 50

/* Posted messages in a row after which uvf_device_run yields the CPU
 * before reading again (serve.c). */
#define UVF_LOOP_POSTED_STREAM 2

/* Watch fd for input with fn (on), or stop watching it: 0 or -errno.
 * w must stay in place while watched. */
int uvf__watch(struct uvf_device *dev, struct uvf_watch *w, int fd, uvf_watch_fn fn, bool on);

#endif /* UVF_SERVER_LOOP_H */
