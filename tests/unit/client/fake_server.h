/* SPDX-License-Identifier: MIT */
/*
 * A scripted fake vfio-user server for the client unit tests: a thread of
 * the test process listening on a socket in a fresh temporary folder. It
 * reads the client's messages with plain blocking socket calls (not the
 * library's transport, so the wire is checked independently), records each
 * one, and answers with canned replies; a test's hook may answer instead,
 * send server commands, or misbehave on purpose.
 *
 * The thread may not use cmocka asserts: it records the first failure in
 * fs->failure, and fs_stop() asserts that it stayed empty and that no fd of
 * the process leaked.
 */
#ifndef UVF_TEST_FAKE_SERVER_H
#define UVF_TEST_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/proto.h"

#define FS_MAX_FDS	64
#define FS_MAX_RECORDS	512
#define FS_RECORD_BYTES 64

struct fs_msg {
	struct uvf_msg_header hdr;
	uint8_t *body; /* hdr.msg_size - 16 bytes */
	size_t len;
	int fds[FS_MAX_FDS];
	size_t nfds;
};

/* What the fake server saw, in order. */
struct fs_record {
	struct uvf_msg_header hdr;
	size_t len;
	size_t nfds;
	uint8_t payload[FS_RECORD_BYTES]; /* first bytes of the payload */
};

enum fs_action {
	FS_DEFAULT, /* let the canned handler answer */
	FS_HANDLED, /* the hook dealt with it */
	FS_STOP,    /* close the connection and end the thread */
};

struct fake_server;
typedef enum fs_action (*fs_hook_fn)(struct fake_server *fs, struct fs_msg *msg);

struct fake_server {
	char dir[64];
	char path[100];
	int listen_fd;
	int conn;
	pthread_t thread;
	bool started;
	int fds_before;

	/* canned behaviour, set between fs_new() and fs_start() */
	const char *caps_json; /* VERSION reply JSON; NULL = reply without JSON */
	uint16_t version_major, version_minor;
	bool close_on_accept; /* hang up before reading anything */
	uint32_t dev_flags, num_regions, num_irqs;
	uint32_t max_xfer_check; /* fail if a REGION_READ/WRITE count exceeds it (0 = off) */
	fs_hook_fn hook;
	void *data;

	uint8_t region0[65536]; /* BAR0 contents */
	uint8_t config[256];	/* config space */

	/* results, read after fs_stop() */
	struct fs_record rec[FS_MAX_RECORDS];
	size_t nrec;
	char client_json[512];
	char failure[512];
	int state;    /* free for hooks */
	int owned_fd; /* -1, or an fd a hook opened: fs_stop() closes it once the thread ended */
};

/* Number of open fds of the process. */
int fs_count_fds(void);

/* A fake server with defaults: caps max_msg_fds 8, max_data_xfer_size 1 MiB,
 * PCI|RESET device with 9 regions and 5 IRQ indexes. Counts the fds. */
struct fake_server *fs_new(void);

/* Listen and start the thread. */
void fs_start(struct fake_server *fs);

/* Wait for the thread to end (the client must be closed first, or the
 * hook must have returned FS_STOP), so that what it recorded can be read
 * without racing it; fs_stop() then only cleans up. */
void fs_join(struct fake_server *fs);

/* Wait for the thread (the client must be closed first, or the hook must
 * have returned FS_STOP), remove the folder, assert no failure and no fd
 * leak, free fs. */
void fs_stop(struct fake_server *fs);

/* Record a failure (first one wins). */
void fs_fail(struct fake_server *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define FS_CHECK(fs, cond)                                                                                             \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			fs_fail((fs), "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);                           \
	} while (0)

/* Read one message (blocking, 10 s at most). 0, or -1 on EOF/timeout. */
int fs_recv(struct fake_server *fs, struct fs_msg *msg);
void fs_msg_free(struct fs_msg *msg);

/* Send header + up to two payload parts with fds. */
void fs_send(struct fake_server *fs, uint16_t id, uint16_t command, uint32_t flags, uint32_t error, const void *p1,
	     size_t l1, const void *p2, size_t l2, const int *fds, size_t nfds);
void fs_reply(struct fake_server *fs, const struct fs_msg *req, const void *payload, size_t len);
void fs_reply_error(struct fake_server *fs, const struct fs_msg *req, uint32_t err);

/* Send raw bytes. */
void fs_send_raw(struct fake_server *fs, const void *buf, size_t len);

/* The canned answer for msg (what FS_DEFAULT does). */
void fs_default(struct fake_server *fs, struct fs_msg *msg);

/* Records of one command, in order: returns how many, fills out[0..max). */
size_t fs_records(const struct fake_server *fs, uint16_t command, const struct fs_record **out, size_t max);

#endif /* UVF_TEST_FAKE_SERVER_H */
