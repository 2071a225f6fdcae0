/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the libvfio-user compatibility tests: a vfu context served
 * by a thread in libvfio-user's non-blocking style, a log of what reached
 * the device's callbacks, and raw messages on a socket.
 */
#ifndef UVF_COMPAT_UTIL_H
#define UVF_COMPAT_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libvfio-user.h"

struct vfu_server {
	char dir[64];
	char path[128];
	vfu_ctx_t *ctx;
	pthread_t thread;
	atomic_bool stop;
	atomic_int enotconn; /* vfu_run_ctx() said ENOTCONN this many times */
	atomic_int attaches;
	bool running;
};

/* A fresh socket path in a temporary folder. */
void compat_path(struct vfu_server *s);

/* Serve s->ctx (realized) from a thread: attach, run, attach again after
 * ENOTCONN, as a libvfio-user device's main loop does. */
void compat_serve(struct vfu_server *s);

/* A small PCI device on a new context at path: the tests' ids, a 256-byte
 * BAR0 served by access, reset, and compat_quiet_log. */
vfu_ctx_t *compat_small_device(const char *path, int flags, void *pvt, vfu_region_access_cb_t *access,
			       vfu_reset_cb_t *reset);

/* Stop the thread, destroy the context, remove the folder. */
void compat_stop(struct vfu_server *s);

/* Wait up to 5 s for cond to hold (polling). */
bool compat_wait(bool (*cond)(void *), void *arg);

/* The callback log: one "name(args)" per event, space separated. */
void compat_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void compat_events(char *out, size_t cap);
void compat_events_clear(void);

/* A log function that keeps quiet unless COMPAT_LOG is set. */
void compat_quiet_log(vfu_ctx_t *ctx, int level, const char *msg);

/* Raw socket: connect to path; send a message; read one reply. */
int compat_raw_connect(const char *path);
void compat_raw_send(int sock, uint16_t id, uint16_t cmd, const void *payload, size_t len);
/* Returns the reply's error (0 or errno) and copies up to cap payload bytes. */
int compat_raw_reply(int sock, uint16_t id, void *payload, size_t cap, size_t *len);
/* A VERSION payload (JSON with max_msg_fds 8) into buf; returns its size. */
size_t compat_version_payload(void *buf, size_t cap);

#endif /* UVF_COMPAT_UTIL_H */
