/* SPDX-License-Identifier: MIT */
/* Shared helpers of the transport unit tests: a fixture that fails a test
 * which leaks an fd, a scratch folder, raw socket writes, socketpairs. */
#ifndef UVF_TEST_TRANSPORT_UTIL_H
#define UVF_TEST_TRANSPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "uvf/proto.h"

struct fixture {
	int open_fds; /* entries of /proc/self/fd before the test */
	char dir[64]; /* fresh scratch folder, removed after the test */
	char path[256];
};

/* cmocka setup/teardown: every test runs between them. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

int count_open_fds(void);

/* Build dir/name into f->path and return it. */
const char *fixture_path(struct fixture *f, const char *name);

/* A connected, non-blocking AF_UNIX stream socketpair (asserts), and its
 * closing. */
void make_pair(int sv[2]);
void close_pair(int sv[2]);

/* sendmsg the whole buffer in one call (asserts), with fds attached. */
void raw_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

struct uvf_msg_header make_header(uint16_t id, uint16_t command, uint32_t msg_size, uint32_t flags);

/* An fd of a fresh, unlinked file in the scratch folder. */
int open_scratch_file(struct fixture *f, const char *name);

/* Same file (device and inode)? */
int same_file(int a, int b);

int is_cloexec(int fd);
int is_nonblocking(int fd);

#endif
