/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: a uvf device served by a thread of the test
 * process on a socket in a temporary folder, and uvf clients connecting to
 * it. Every test checks that no file descriptor leaked.
 */
#ifndef UVF_TEST_HARNESS_H
#define UVF_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "uvf/client.h"
#include "uvf/server.h"

struct harness {
	char dir[64];
	char path[128];
	struct uvf_device *dev;
	pthread_t thread;
	bool running;
	int server_ret;
	int fds_before;
};

/* Number of open fds of this process. */
int harness_count_fds(void);

/* Record the open fds; call before creating the device. */
void harness_prepare(struct harness *h);

/* Start serving dev (already described) at a fresh socket path, with
 * opts (NULL = defaults). Asserts on failure. Takes ownership of dev. */
void harness_start(struct harness *h, struct uvf_device *dev, const struct uvf_serve_opts *opts);

/* Stop the server thread, free the device, remove the folder, and assert
 * that the fd count is back to what it was at harness_prepare. */
void harness_stop(struct harness *h);

/* Connect a client (asserts success). */
struct uvf_client *harness_connect(struct harness *h);

/* A raw connected socket to the server (no VERSION sent). */
int harness_raw_connect(struct harness *h);

/* Send VERSION on a raw socket and read the reply; returns 0 or -errno. */
int harness_raw_version(int sock);

/* Send one raw message (header built from the arguments) and, unless
 * no_reply, read the reply header and payload into reply/rlen. Returns
 * the reply's -errno for error replies, 0 for success, or -ECONNRESET
 * when the server closed the connection. */
int harness_raw_call(int sock, uint16_t id, uint16_t command, uint32_t flags, const void *payload, size_t len,
		     void *reply, size_t reply_cap, size_t *rlen);

/* Whether the server closed the raw socket (reads EOF within 2 s). */
bool harness_raw_closed(int sock);

/* Wait up to timeout_ms for an eventfd to fire; returns its counter or 0. */
uint64_t harness_wait_eventfd(int fd, int timeout_ms);

#endif /* UVF_TEST_HARNESS_H */
