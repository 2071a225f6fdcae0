/* SPDX-License-Identifier: MIT */
/*
 * The client's fast paths: mapped BAR areas, ioeventfds, posted writes,
 * corked writes (REGION_WRITE_MULTI or batched REGION_WRITEs) and the
 * fences that keep them ordered.
 *
 * Two kinds of peers: our own server in a thread (harness.h), for the
 * behaviour a device sees, and the scripted fake server of the client unit
 * tests, for the exact messages on the wire and for replies our server
 * would never send (other IO_FDS layouts, bad entries, no write_multiple).
 *
 * System calls are counted by wrapping sendmsg() and friends in this
 * executable (the library's calls resolve to them): "several writes per
 * system call" is then an observable, not a timing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_server.h"
#include "harness.h"

/* ------------------------------------------------------------------ */
/* Counting the sending system calls of this thread                     */
/* ------------------------------------------------------------------ */

static __thread unsigned g_send_calls;

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	g_send_calls++;
	return syscall(SYS_sendmsg, fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	g_send_calls++;
	return (int)syscall(SYS_sendmmsg, fd, vec, n, flags);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	g_send_calls++;
	return syscall(SYS_writev, fd, iov, n);
}

/* ------------------------------------------------------------------ */
/* The fake server's script                                             */
/* ------------------------------------------------------------------ */

#define FP_REGION_SIZE 0x4000u
#define FP_MAX_WRITES  2048
#define FP_MIRROR_AT   0x1000u /* a message write here is copied to mapped offset 0 */

/* One write the fake device applied, in order. */
struct fp_write {
	uint16_t command; /* REGION_WRITE or REGION_WRITE_MULTI */
	bool posted;	  /* came with NO_REPLY */
	uint64_t offset;
	uint32_t count;
	uint64_t value; /* first 8 bytes, little-endian */
};

struct fp_script {
	pthread_mutex_t lock;
	/* region 0 */
	int memfd;	 /* FP_REGION_SIZE bytes */
	uint8_t *mem;	 /* our mapping of it */
	bool mmap;	 /* report MMAP with the memfd */
	bool sparse_cap; /* with a sparse-mmap capability */
	struct uvf_msg_region_sparse_area areas[4];
	uint32_t nareas;
	/* DEVICE_GET_REGION_IO_FDS */
	uint8_t io_reply[1024];
	size_t io_len;
	int io_fds[4];
	size_t io_nfds;
	uint32_t io_error;     /* answer with this errno instead */
	uint32_t io_min_argsz; /* below it: only the head, with the needed argsz */
	unsigned io_requests;
	/* what arrived */
	struct fp_write writes[FP_MAX_WRITES];
	size_t nwrites;
	unsigned multi_messages;
	uint64_t multi_counts[16];
	unsigned write_messages;
	unsigned get_info_messages;
};

static void fp_record(struct fp_script *s, uint16_t command, bool posted, uint64_t offset, uint32_t count,
		      const uint8_t *data)
{
	struct fp_write *w;

	if (s->nwrites == FP_MAX_WRITES)
		return;
	w = &s->writes[s->nwrites++];
	w->command = command;
	w->posted = posted;
	w->offset = offset;
	w->count = count;
	w->value = 0;
	memcpy(&w->value, data, count < 8 ? count : 8);
}

static void fp_region_info(struct fake_server *fs, struct fp_script *s, struct fs_msg *msg)
{
	uint8_t reply[32 + 16 + 4 * 16];
	struct uvf_msg_region_info info;
	struct uvf_msg_region_cap_sparse_mmap cap = {.header = {.id = UVF_REGION_CAP_SPARSE_MMAP, .version = 1}};
	size_t len = sizeof(info);

	memcpy(&info, msg->body, sizeof(info));
	info.flags = UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE;
	info.size = FP_REGION_SIZE;
	info.offset = 0;
	info.cap_offset = 0;
	if (s->mmap)
		info.flags |= UVF_REGION_FLAG_MMAP;
	if (s->mmap && s->sparse_cap) {
		info.flags |= UVF_REGION_FLAG_CAPS;
		info.cap_offset = sizeof(info);
		cap.nr_areas = s->nareas;
		memcpy(reply + len, &cap, sizeof(cap));
		len += sizeof(cap);
		memcpy(reply + len, s->areas, s->nareas * sizeof(s->areas[0]));
		len += s->nareas * sizeof(s->areas[0]);
	}
	info.argsz = (uint32_t)len;
	memcpy(reply, &info, sizeof(info));
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, reply, len, NULL, 0,
		s->mmap ? &s->memfd : NULL, s->mmap ? 1 : 0);
}

static void fp_io_fds(struct fake_server *fs, struct fp_script *s, struct fs_msg *msg)
{
	struct uvf_msg_region_io_fds req;

	s->io_requests++;
	memcpy(&req, msg->body, sizeof(req));
	if (s->io_error) {
		fs_reply_error(fs, msg, s->io_error);
		return;
	}
	if (req.argsz < s->io_min_argsz) {
		struct uvf_msg_region_io_fds head;

		memcpy(&head, s->io_reply, sizeof(head));
		head.argsz = s->io_min_argsz;
		fs_reply(fs, msg, &head, sizeof(head));
		return;
	}
	fs_send(fs, msg->hdr.msg_id, msg->hdr.command, UVF_MSG_TYPE_REPLY, 0, s->io_reply, s->io_len, NULL, 0,
		s->io_fds, s->io_nfds);
}

static enum fs_action fp_hook(struct fake_server *fs, struct fs_msg *msg)
{
	struct fp_script *s = fs->data;
	bool posted = msg->hdr.flags & UVF_MSG_FLAG_NO_REPLY;
	enum fs_action action = FS_HANDLED;

	pthread_mutex_lock(&s->lock);
	switch (msg->hdr.command) {
	case UVF_CMD_DEVICE_GET_REGION_INFO: {
		struct uvf_msg_region_info req;

		memcpy(&req, msg->body, sizeof(req));
		if (req.index == 0)
			fp_region_info(fs, s, msg);
		else
			action = FS_DEFAULT;
		break;
	}
	case UVF_CMD_DEVICE_GET_REGION_IO_FDS:
		fp_io_fds(fs, s, msg);
		break;
	case UVF_CMD_DEVICE_GET_INFO:
		s->get_info_messages++;
		action = FS_DEFAULT;
		break;
	case UVF_CMD_REGION_WRITE: {
		struct uvf_msg_region_access acc;

		memcpy(&acc, msg->body, sizeof(acc));
		if (acc.region != 0) {
			action = FS_DEFAULT;
			break;
		}
		s->write_messages++;
		FS_CHECK(fs, msg->len == 16 + acc.count && acc.offset + acc.count <= sizeof(fs->region0));
		memcpy(fs->region0 + acc.offset, msg->body + 16, acc.count);
		fp_record(s, UVF_CMD_REGION_WRITE, posted, acc.offset, acc.count, msg->body + 16);
		if (acc.offset == FP_MIRROR_AT && s->mem)
			memcpy(s->mem, msg->body + 16, acc.count);
		if (!posted)
			fs_reply(fs, msg, &acc, sizeof(acc));
		break;
	}
	case UVF_CMD_REGION_WRITE_MULTI: {
		struct uvf_msg_write_multi head;

		memcpy(&head, msg->body, sizeof(head));
		FS_CHECK(fs, msg->len == 8 + 24 * head.wr_cnt);
		FS_CHECK(fs, posted);
		if (s->multi_messages < 16)
			s->multi_counts[s->multi_messages] = head.wr_cnt;
		s->multi_messages++;
		for (uint64_t i = 0; i < head.wr_cnt && 8 + 24 * (i + 1) <= msg->len; i++) {
			struct uvf_msg_write_multi_entry e;

			memcpy(&e, msg->body + 8 + 24 * i, sizeof(e));
			FS_CHECK(fs, e.region == 0 && e.count >= 1 && e.count <= 8);
			if (e.offset + e.count <= sizeof(fs->region0))
				memcpy(fs->region0 + e.offset, e.data, e.count);
			fp_record(s, UVF_CMD_REGION_WRITE_MULTI, posted, e.offset, e.count, e.data);
		}
		if (!posted) {
			fs_reply(fs, msg, &head, sizeof(head));
		}
		break;
	}
	default:
		action = FS_DEFAULT;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return action;
}

static const char CAPS_MULTI[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,\"write_multiple\":true}}";

/* A started fake server with the script; BAR0 is a memory BAR (its config
 * register reads 0). */
static struct fake_server *fp_start(struct fp_script *s, bool write_multiple)
{
	struct fake_server *fs = fs_new();

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->memfd = memfd_create("fp-bar0", MFD_CLOEXEC);
	assert_true(s->memfd >= 0);
	assert_int_equal(ftruncate(s->memfd, FP_REGION_SIZE), 0);
	s->mem = mmap(NULL, FP_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	assert_true(s->mem != MAP_FAILED);
	fs->hook = fp_hook;
	fs->data = s;
	if (write_multiple)
		fs->caps_json = CAPS_MULTI;
	return fs;
}

static void fp_stop(struct fake_server *fs, struct fp_script *s)
{
	munmap(s->mem, FP_REGION_SIZE);
	close(s->memfd);
	for (size_t i = 0; i < s->io_nfds; i++)
		close(s->io_fds[i]);
	fs_stop(fs);
	pthread_mutex_destroy(&s->lock);
}

static struct uvf_client *fp_connect(struct fake_server *fs, bool no_posted_writes)
{
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;

	opts.timeout_ms = 10000;
	opts.no_posted_writes = no_posted_writes;
	opts.log_level = getenv("UVF_TEST_VERBOSE") ? UVF_LOG_DEBUG : UVF_LOG_ERROR;
	fs_start(fs);
	assert_int_equal(uvf_client_connect(&c, fs->path, &opts), 0);
	return c;
}

/* Build an IO_FDS reply with count entries of `stride` bytes; the caller
 * fills them with fp_entry. */
static void fp_io_head(struct fp_script *s, uint32_t count, size_t stride)
{
	struct uvf_msg_region_io_fds head = {.argsz = (uint32_t)(16 + count * stride), .index = 0, .count = count};

	memset(s->io_reply, 0, sizeof(s->io_reply));
	memcpy(s->io_reply, &head, sizeof(head));
	s->io_len = 16 + count * stride;
}

static void fp_entry(struct fp_script *s, size_t stride, uint32_t i, uint64_t offset, uint64_t size, uint32_t fd_index,
		     uint32_t flags, uint64_t datamatch)
{
	uint8_t *p = s->io_reply + 16 + i * stride;
	uint32_t type = UVF_IO_FD_TYPE_IOEVENTFD;

	memcpy(p, &offset, 8);
	memcpy(p + 8, &size, 8);
	memcpy(p + 16, &fd_index, 4);
	memcpy(p + 20, &type, 4);
	memcpy(p + 24, &flags, 4);
	memcpy(p + stride - 8, &datamatch, 8);
}

static void fp_add_eventfds(struct fp_script *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s->io_fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(s->io_fds[i] >= 0);
	}
	s->io_nfds = n;
}

static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ------------------------------------------------------------------ */
/* Fake server: mapping                                                 */
/* ------------------------------------------------------------------ */

static void sparse_areas_are_mapped_and_unaligned_ones_skipped(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	uint32_t v = 0x11223344, got = 0;

	(void)state;
	s.mmap = true;
	s.sparse_cap = true;
	s.areas[0] = (struct uvf_msg_region_sparse_area){0, 0x1000};
	s.areas[1] = (struct uvf_msg_region_sparse_area){0x2010, 0x100}; /* not page-aligned */
	s.areas[2] = (struct uvf_msg_region_sparse_area){0x3000, 0};	 /* empty */
	s.areas[3] = (struct uvf_msg_region_sparse_area){0x3000, 0x1000};
	s.nareas = 4;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);

	assert_non_null(uvf_client_region_ptr(c, 0, 0, 8));
	assert_non_null(uvf_client_region_ptr(c, 0, 0x3ff8, 8));
	assert_null(uvf_client_region_ptr(c, 0, 0x2010, 4));
	assert_null(uvf_client_region_ptr(c, 0, 0x0ffc, 8)); /* crosses the area's end */
	assert_null(uvf_client_region_ptr(c, 0, 0x1000, 4));

	/* a store into the area lands in the server's memory, no message */
	assert_int_equal(uvf_client_access_write(c, 0, 0x10, &v, 4), 0);
	assert_memory_equal(s.mem + 0x10, &v, 4);
	memcpy(s.mem + 0x3004, &v, 4);
	assert_int_equal(uvf_client_access_read(c, 0, 0x3004, &got, 4), 0);
	assert_int_equal(got, v);
	/* outside the areas: a (posted) message to the region */
	assert_int_equal(uvf_client_access_write(c, 0, 0x2010, &v, 4), 0);
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 1);
	assert_int_equal(s.writes[0].offset, 0x2010);
	assert_true(s.writes[0].posted);
	pthread_mutex_unlock(&s.lock);

	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void mmap_without_sparse_cap_maps_the_whole_region(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	uint64_t v = 0x0102030405060708ull;

	(void)state;
	s.mmap = true;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_non_null(uvf_client_region_ptr(c, 0, 0, FP_REGION_SIZE));
	assert_null(uvf_client_region_ptr(c, 0, 0, FP_REGION_SIZE + 1));
	assert_int_equal(uvf_client_access_write(c, 0, 0x2000, &v, 8), 0);
	assert_memory_equal(s.mem + 0x2000, &v, 8);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void region_without_mmap_is_not_mapped(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;

	(void)state;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_null(uvf_client_region_ptr(c, 0, 0, 4));
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void map_refuses_config_space_and_bad_indexes(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;

	(void)state;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, UVF_PCI_CONFIG_REGION), -EINVAL);
	assert_int_equal(uvf_client_region_map(c, 9), -EINVAL);
	assert_int_equal(uvf_client_region_unmap(c, 9), -EINVAL);
	assert_int_equal(uvf_client_region_map(c, 1), 0); /* absent BAR: nothing to set up */
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void unmap_releases_mappings_and_fds(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	size_t n = 9;
	int before;

	(void)state;
	s.mmap = true;
	fp_add_eventfds(&s, 2);
	fp_io_head(&s, 2, 40);
	fp_entry(&s, 40, 0, 0x100, 4, 0, 0, 0);
	fp_entry(&s, 40, 1, 0x108, 4, 1, 0, 0);
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_info(c, 0, &(struct uvf_client_region){.argsz = sizeof(struct uvf_client_region)}),
			 0);
	before = harness_count_fds();
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(harness_count_fds(), before + 2);
	/* mapping again first undoes the previous set-up */
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(harness_count_fds(), before + 2);
	assert_int_equal(uvf_client_region_unmap(c, 0), 0);
	assert_int_equal(harness_count_fds(), before);
	assert_null(uvf_client_region_ptr(c, 0, 0, 4));
	assert_int_equal(uvf_client_region_io_fds(c, 0, NULL, 0, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(uvf_client_region_unmap(c, 0), 0); /* twice is fine */
	/* and close releases a set-up region too (fp_stop checks the fds) */
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

/* ------------------------------------------------------------------ */
/* Fake server: ioeventfds                                              */
/* ------------------------------------------------------------------ */

static void spec_entries_signal_matching_writes_only(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client_ioeventfd list[4];
	struct uvf_client *c;
	size_t n = 0;
	uint32_t v;
	uint16_t v16 = 7;

	(void)state;
	fp_add_eventfds(&s, 2);
	fp_io_head(&s, 2, 40);
	fp_entry(&s, 40, 0, 0x100, 4, 0, 0, 0);
	fp_entry(&s, 40, 1, 0x104, 4, 1, UVF_IOEVENTFD_FLAG_DATAMATCH, 0xabcd);
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, list, sizeof(struct uvf_client_ioeventfd), 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].offset, 0x100);
	assert_int_equal(list[0].size, 4);
	assert_int_equal(list[1].flags, UVF_IOEVENTFD_FLAG_DATAMATCH);
	assert_int_equal(list[1].datamatch, 0xabcd);
	assert_true(list[0].fd >= 0 && list[1].fd >= 0 && list[0].fd != list[1].fd);

	v = 5;
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v, 4), 0);
	v = 0xabcd;
	assert_int_equal(uvf_client_access_write(c, 0, 0x104, &v, 4), 0);
	assert_int_equal(eventfd_take(s.io_fds[0]), 1);
	assert_int_equal(eventfd_take(s.io_fds[1]), 1);
	/* wrong value, wrong size: messages */
	v = 0xabce;
	assert_int_equal(uvf_client_access_write(c, 0, 0x104, &v, 4), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v16, 2), 0);
	assert_int_equal(uvf_client_flush(c), 0);
	assert_int_equal(eventfd_take(s.io_fds[0]), 0);
	assert_int_equal(eventfd_take(s.io_fds[1]), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 2);
	assert_int_equal(s.writes[0].offset, 0x104);
	assert_int_equal(s.writes[0].value, 0xabce);
	assert_int_equal(s.writes[1].offset, 0x100);
	assert_int_equal(s.writes[1].count, 2);
	pthread_mutex_unlock(&s.lock);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void lvfu_entries_take_datamatch_from_the_end(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client_ioeventfd list[2];
	struct uvf_client *c;
	size_t n = 0;
	uint64_t v = 0x1122334455667788ull;

	(void)state;
	fp_add_eventfds(&s, 1);
	fp_io_head(&s, 2, 48);
	fp_entry(&s, 48, 0, 0x200, 8, 0, UVF_IOEVENTFD_FLAG_DATAMATCH, v);
	fp_entry(&s, 48, 1, 0x300, 0, 0, 0, 0); /* any size, same fd */
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, list, sizeof(struct uvf_client_ioeventfd), 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].datamatch, v);
	assert_int_equal(list[0].fd, list[1].fd);
	assert_int_equal(uvf_client_access_write(c, 0, 0x200, &v, 8), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x300, &v, 1), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x300, &v, 8), 0);
	assert_int_equal(eventfd_take(s.io_fds[0]), 3);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void io_fds_retry_with_the_argsz_the_server_asks(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	size_t n = 0;

	(void)state;
	fp_add_eventfds(&s, 1);
	fp_io_head(&s, 1, 40);
	fp_entry(&s, 40, 0, 0x100, 4, 0, 0, 0);
	s.io_min_argsz = 4096; /* more than the client's first guess */
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, NULL, 0, 0, &n), 0);
	assert_int_equal(n, 1);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.io_requests, 2);
	pthread_mutex_unlock(&s.lock);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

/* A refused reply leaves the region without ioeventfds (writes go by
 * message), and every fd that came with it is closed (fp_stop checks). */
static void expect_io_fds_refused(struct fp_script *s, struct fake_server *fs)
{
	struct uvf_client *c = fp_connect(fs, false);
	size_t n = 9;
	uint32_t v = 1;

	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 0, NULL, 0, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &v, 4), 0);
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->nwrites, 1);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < s->io_nfds; i++)
		assert_int_equal(eventfd_take(s->io_fds[i]), 0);
	uvf_client_close(c);
	fp_stop(fs, s);
}

static void io_fds_entry_with_bad_fd_index_is_refused(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);

	(void)state;
	fp_add_eventfds(&s, 1);
	fp_io_head(&s, 2, 40);
	fp_entry(&s, 40, 0, 0x100, 4, 0, 0, 0);
	fp_entry(&s, 40, 1, 0x104, 4, 1, 0, 0); /* only one fd came */
	expect_io_fds_refused(&s, fs);
}

static void io_fds_entry_outside_the_region_is_refused(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);

	(void)state;
	fp_add_eventfds(&s, 1);
	fp_io_head(&s, 2, 40);
	fp_entry(&s, 40, 0, 0x100, 4, 0, 0, 0);
	fp_entry(&s, 40, 1, FP_REGION_SIZE - 2, 4, 0, 0, 0);
	expect_io_fds_refused(&s, fs);
}

static void io_fds_with_odd_stride_is_refused(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);

	(void)state;
	fp_add_eventfds(&s, 1);
	fp_io_head(&s, 1, 44);
	fp_entry(&s, 44, 0, 0x100, 4, 0, 0, 0);
	expect_io_fds_refused(&s, fs);
}

static void io_fds_error_reply_means_none(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);

	(void)state;
	s.io_error = ENOSYS;
	expect_io_fds_refused(&s, fs);
}

/* ------------------------------------------------------------------ */
/* Fake server: posted and corked writes                                */
/* ------------------------------------------------------------------ */

static void memory_bar_writes_are_posted_in_order(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	uint32_t got = 0;

	(void)state;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	for (uint32_t i = 1; i <= 5; i++)
		assert_int_equal(uvf_client_access_write(c, 0, 0x40, &i, 4), 0);
	/* a later read (answered) sees the last one */
	assert_int_equal(uvf_client_access_read(c, 0, 0x40, &got, 4), 0);
	assert_int_equal(got, 5);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_true(s.writes[i].posted);
		assert_int_equal(s.writes[i].value, i + 1);
	}
	pthread_mutex_unlock(&s.lock);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void no_posted_writes_option_waits_for_each_write(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	uint32_t v = 9;

	(void)state;
	c = fp_connect(fs, true);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x40, &v, 4), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 1); /* already there: the write was answered */
	assert_false(s.writes[0].posted);
	pthread_mutex_unlock(&s.lock);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void unmapped_region_and_config_writes_are_synchronous(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	uint32_t v = 3;

	(void)state;
	c = fp_connect(fs, false);
	/* no uvf_client_region_map: every access is an answered message */
	assert_int_equal(uvf_client_access_write(c, 0, 0x40, &v, 4), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 1);
	assert_false(s.writes[0].posted);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(uvf_client_access_write(c, UVF_PCI_CONFIG_REGION, 0x40, &v, 4), 0);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void mapped_read_after_posted_write_is_fenced(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;
	unsigned fences;

	(void)state;
	s.mmap = true;
	s.sparse_cap = true;
	s.areas[0] = (struct uvf_msg_region_sparse_area){0, 0x1000};
	s.nareas = 1;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	pthread_mutex_lock(&s.lock);
	fences = s.get_info_messages;
	pthread_mutex_unlock(&s.lock);
	for (uint32_t i = 1; i <= 20; i++) {
		uint32_t got = 0;

		/* the device copies what arrives at FP_MIRROR_AT (a message)
		 * to mapped offset 0 */
		assert_int_equal(uvf_client_access_write(c, 0, FP_MIRROR_AT, &i, 4), 0);
		assert_int_equal(uvf_client_access_read(c, 0, 0, &got, 4), 0);
		assert_int_equal(got, i);
	}
	pthread_mutex_lock(&s.lock);
	assert_true(s.writes[0].posted);
	assert_int_equal(s.get_info_messages - fences, 20); /* one fence each */
	pthread_mutex_unlock(&s.lock);
	/* nothing posted since: no further fence */
	assert_int_equal(uvf_client_flush(c), 0);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void corked_writes_go_as_write_multi_in_order(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, true);
	struct uvf_client *c;
	uint8_t big[64];

	(void)state;
	c = fp_connect(fs, false);
	assert_true(uvf_client_server_caps(c)->write_multiple);
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_cork(c, true), 0);
	g_send_calls = 0;
	for (uint32_t i = 0; i < 450; i++)
		assert_int_equal(uvf_client_access_write(c, 0, 8 * (i % 64), &i, 4), 0);
	assert_int_equal(g_send_calls, 0); /* all queued */
	assert_int_equal(uvf_client_cork(c, false), 0);
	assert_int_equal(g_send_calls, 1); /* 3 messages, one system call */
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.multi_messages, 3);
	assert_int_equal(s.multi_counts[0], 200);
	assert_int_equal(s.multi_counts[1], 200);
	assert_int_equal(s.multi_counts[2], 50);
	assert_int_equal(s.write_messages, 0);
	assert_int_equal(s.nwrites, 450);
	for (size_t i = 0; i < 450; i++) {
		assert_int_equal(s.writes[i].offset, 8 * (i % 64));
		assert_int_equal(s.writes[i].value, i);
	}
	s.nwrites = 0;
	pthread_mutex_unlock(&s.lock);

	/* a larger write while corked: the queue goes first, order kept */
	memset(big, 0xee, sizeof(big));
	assert_int_equal(uvf_client_cork(c, true), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x100, &(uint32_t){1}, 4), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x200, big, sizeof(big)), 0);
	assert_int_equal(uvf_client_access_write(c, 0, 0x300, &(uint32_t){3}, 4), 0);
	/* an answered request sends the queue first, too */
	assert_int_equal(uvf_client_access_read(c, 0, 0x300, &(uint32_t){0}, 4), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 3);
	assert_int_equal(s.writes[0].offset, 0x100);
	assert_int_equal(s.writes[0].command, UVF_CMD_REGION_WRITE_MULTI);
	assert_int_equal(s.writes[1].offset, 0x200);
	assert_int_equal(s.writes[1].command, UVF_CMD_REGION_WRITE);
	assert_int_equal(s.writes[1].count, sizeof(big));
	assert_int_equal(s.writes[2].offset, 0x300);
	assert_int_equal(s.writes[2].command, UVF_CMD_REGION_WRITE_MULTI);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(uvf_client_cork(c, false), 0);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void full_cork_queue_is_sent_on_its_own(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, true);
	struct uvf_client *c;

	(void)state;
	c = fp_connect(fs, false);
	assert_int_equal(uvf_client_cork(c, true), 0);
	g_send_calls = 0;
	for (uint32_t i = 0; i < 1024; i++)
		assert_int_equal(uvf_client_region_write_posted(c, 0, 0x10, &i, 4), 0);
	assert_int_equal(g_send_calls, 0);
	assert_int_equal(uvf_client_region_write_posted(c, 0, 0x10, &(uint32_t){1024}, 4), 0);
	assert_int_equal(g_send_calls, 1);
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nwrites, 1025);
	assert_int_equal(s.writes[1024].value, 1024);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(uvf_client_cork(c, false), 0);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

static void corked_writes_without_write_multiple_are_batched_in_order(void **state)
{
	struct fp_script s;
	struct fake_server *fs = fp_start(&s, false);
	struct uvf_client *c;

	(void)state;
	c = fp_connect(fs, false);
	assert_false(uvf_client_server_caps(c)->write_multiple);
	assert_int_equal(uvf_client_cork(c, true), 0);
	for (uint32_t i = 0; i < 100; i++) {
		uint8_t bytes[8];
		size_t len = 1 + i % 8;

		memset(bytes, (int)i, sizeof(bytes));
		assert_int_equal(uvf_client_region_write_posted(c, 0, 16 * i, bytes, len), 0);
	}
	g_send_calls = 0;
	assert_int_equal(uvf_client_cork(c, false), 0);
	assert_int_equal(g_send_calls, 1); /* 100 messages, one system call */
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.multi_messages, 0);
	assert_int_equal(s.write_messages, 100);
	for (size_t i = 0; i < 100; i++) {
		assert_int_equal(s.writes[i].command, UVF_CMD_REGION_WRITE);
		assert_true(s.writes[i].posted);
		assert_int_equal(s.writes[i].offset, 16 * i);
		assert_int_equal(s.writes[i].count, 1 + i % 8);
		assert_int_equal(s.writes[i].value & 0xff, i);
	}
	pthread_mutex_unlock(&s.lock);
	uvf_client_close(c);
	fp_stop(fs, &s);
}

/* ------------------------------------------------------------------ */
/* Our server                                                           */
/* ------------------------------------------------------------------ */

/*
 * BAR0: 16 KiB shared library memory, mappable except the MSI-X table
 *       (0x3000) and PBA (0x3800) page.
 * BAR2: 256 bytes of callback registers; a write at 0x08 is also copied to
 *       BAR0 offset 0x100 (a device reacting to a register write); an
 *       ioeventfd at 0x40 (4 bytes, value 7) with a callback, one at 0x48
 *       (any size) that the test polls itself.
 */
struct fpdev {
	pthread_mutex_t lock;
	uint8_t regs[256];
	unsigned writes; /* write callbacks of BAR2 */
	uint32_t last[256];
	unsigned nlast;
	unsigned doorbells; /* ioeventfd callback counts */
	unsigned bar0_writes;
	int polled_id;
	uint32_t seq[4];   /* last value written at 0x80 + 4 * i */
	unsigned disorder; /* values at one of those offsets that went backwards */
};

static struct fpdev g_d;
static struct harness g_h;

static int bar2_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct fpdev *d = data;

	(void)dev;
	pthread_mutex_lock(&d->lock);
	memcpy(buf, d->regs + offset, len);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int bar2_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct fpdev *d = data;

	pthread_mutex_lock(&d->lock);
	memcpy(d->regs + offset, buf, len);
	d->writes++;
	if (len == 4 && d->nlast < 256)
		memcpy(&d->last[d->nlast++], buf, 4);
	if (len == 4 && offset >= 0x80 && offset < 0x90) {
		uint32_t v;

		memcpy(&v, buf, 4);
		if (v <= d->seq[(offset - 0x80) / 4])
			d->disorder++;
		d->seq[(offset - 0x80) / 4] = v;
	}
	pthread_mutex_unlock(&d->lock);
	if (offset == 0x08)
		memcpy((uint8_t *)uvf_device_bar_memory(dev, 0, NULL) + 0x100, buf, len);
	return 0;
}

static int bar0_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct fpdev *d = data;

	(void)dev, (void)offset, (void)buf, (void)len;
	pthread_mutex_lock(&d->lock);
	d->bar0_writes++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void on_doorbell(struct uvf_device *dev, void *data, uint64_t count)
{
	struct fpdev *d = data;

	(void)dev;
	pthread_mutex_lock(&d->lock);
	d->doorbells += count;
	pthread_mutex_unlock(&d->lock);
}

static struct uvf_device *make_device(struct fpdev *d)
{
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00fa, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {
		.size = 0x4000, .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP, .write = bar0_write, .data = d};
	struct uvf_bar_desc bar2 = {.size = 256, .read = bar2_read, .write = bar2_write, .data = d};
	struct uvf_ioeventfd_desc bell = {.version = UVF_IOEVENTFD_DESC_VERSION,
					  .bar = 2,
					  .offset = 0x40,
					  .size = 4,
					  .flags = UVF_IOEVENTFD_DATAMATCH,
					  .datamatch = 7,
					  .fn = on_doorbell,
					  .data = d};
	struct uvf_ioeventfd_desc polled = {.version = UVF_IOEVENTFD_DESC_VERSION, .bar = 2, .offset = 0x48};
	struct uvf_device *dev;

	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	assert_int_equal(uvf_device_new(&dev), 0);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar0), 0);
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar2), 0);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 0x3000, 0, 0x3800), 0);
	assert_true(uvf_device_add_ioeventfd(dev, &bell) >= 0);
	d->polled_id = uvf_device_add_ioeventfd(dev, &polled);
	assert_true(d->polled_id >= 0);
	return dev;
}

static int setup(void **state)
{
	harness_prepare(&g_h);
	harness_start(&g_h, make_device(&g_d), NULL);
	*state = &g_h;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_stop(&g_h);
	pthread_mutex_destroy(&g_d.lock);
	return 0;
}

static unsigned dev_count(unsigned *field)
{
	unsigned v;

	pthread_mutex_lock(&g_d.lock);
	v = *field;
	pthread_mutex_unlock(&g_d.lock);
	return v;
}

static void mapped_bar_is_shared_with_the_device(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	uint8_t *mem = uvf_device_bar_memory(h->dev, 0, NULL);
	uint32_t v = 0xcafe0001, got = 0;
	uint8_t *ptr;

	assert_int_equal(uvf_client_region_map(c, 0), 0);
	ptr = uvf_client_region_ptr(c, 0, 0, 0x3000);
	assert_non_null(ptr);
	assert_null(uvf_client_region_ptr(c, 0, 0x3000, 4)); /* MSI-X table: trapped */

	assert_int_equal(uvf_client_access_write(c, 0, 0x10, &v, 4), 0);
	assert_memory_equal(mem + 0x10, &v, 4);
	memcpy(mem + 0x20, &v, 4);
	assert_int_equal(uvf_client_access_read(c, 0, 0x20, &got, 4), 0);
	assert_int_equal(got, v);
	assert_ptr_equal(ptr + 0x20, uvf_client_region_ptr(c, 0, 0x20, 4));
	assert_int_equal(uvf_client_flush(c), 0);
	assert_int_equal(dev_count(&g_d.bar0_writes), 0); /* no message reached the BAR */

	/* the MSI-X table goes by message: unmask vector 1 and read it back */
	v = 0;
	assert_int_equal(uvf_client_access_write(c, 0, 0x3000 + 16 + 12, &v, 4), 0);
	got = 1;
	assert_int_equal(uvf_client_access_read(c, 0, 0x3000 + 16 + 12, &got, 4), 0);
	assert_int_equal(got & 1, 0);
	uvf_client_close(c);
}

static void matching_write_signals_the_ioeventfd_without_a_message(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	struct uvf_client_ioeventfd list[4];
	int polled = uvf_device_ioeventfd_fd(h->dev, g_d.polled_id);
	uint32_t v;
	size_t n = 0;

	assert_int_equal(uvf_client_region_map(c, 2), 0);
	assert_int_equal(uvf_client_region_io_fds(c, 2, list, sizeof(struct uvf_client_ioeventfd), 4, &n), 0);
	assert_int_equal(n, 2);

	v = 7;
	assert_int_equal(uvf_client_access_write(c, 2, 0x40, &v, 4), 0);
	for (int i = 0; i < 500 && dev_count(&g_d.doorbells) == 0; i++)
		usleep(10000);
	assert_int_equal(dev_count(&g_d.doorbells), 1);
	assert_int_equal(uvf_client_access_write(c, 2, 0x48, &v, 2), 0);
	assert_int_equal(harness_wait_eventfd(polled, 5000), 1);
	assert_int_equal(uvf_client_flush(c), 0);
	assert_int_equal(dev_count(&g_d.writes), 0);

	/* another value is an ordinary write */
	v = 8;
	assert_int_equal(uvf_client_access_write(c, 2, 0x40, &v, 4), 0);
	assert_int_equal(uvf_client_flush(c), 0);
	assert_int_equal(dev_count(&g_d.writes), 1);
	assert_int_equal(dev_count(&g_d.doorbells), 1);
	uvf_client_close(c);
}

static void posted_writes_reach_the_device_in_order(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	uint32_t got = 0;

	assert_int_equal(uvf_client_region_map(c, 2), 0);
	for (uint32_t i = 1; i <= 50; i++)
		assert_int_equal(uvf_client_access_write(c, 2, 0x10, &i, 4), 0);
	assert_int_equal(uvf_client_access_read(c, 2, 0x10, &got, 4), 0);
	assert_int_equal(got, 50);
	pthread_mutex_lock(&g_d.lock);
	assert_int_equal(g_d.nlast, 50);
	for (uint32_t i = 0; i < 50; i++)
		assert_int_equal(g_d.last[i], i + 1);
	pthread_mutex_unlock(&g_d.lock);
	uvf_client_close(c);
}

static void mapped_read_sees_the_effect_of_earlier_posted_writes(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);

	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_map(c, 2), 0);
	for (uint32_t i = 1; i <= 20; i++) {
		uint32_t got = 0;

		/* BAR2 0x08 is posted; the device copies it into mapped BAR0 */
		assert_int_equal(uvf_client_access_write(c, 2, 0x08, &i, 4), 0);
		assert_int_equal(uvf_client_access_read(c, 0, 0x100, &got, 4), 0);
		assert_int_equal(got, i);
	}
	uvf_client_close(c);
}

static void corked_writes_reach_the_device_in_order(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);

	assert_int_equal(uvf_client_region_map(c, 2), 0);
	assert_int_equal(uvf_client_cork(c, true), 0);
	for (uint32_t i = 1; i <= 250; i++)
		assert_int_equal(uvf_client_access_write(c, 2, 0x10 + 4 * (i % 4), &i, 4), 0);
	g_send_calls = 0;
	assert_int_equal(uvf_client_cork(c, false), 0);
	assert_int_equal(g_send_calls, 1);
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&g_d.lock);
	assert_int_equal(g_d.nlast, 250);
	for (uint32_t i = 0; i < 250; i++)
		assert_int_equal(g_d.last[i], i + 1);
	pthread_mutex_unlock(&g_d.lock);
	uvf_client_close(c);
}

static void unmap_closes_every_fd_of_the_region(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	int before;

	/* region info first, so the region's mmap fd is already counted */
	assert_int_equal(uvf_client_region_info(c, 0, &(struct uvf_client_region){.argsz = sizeof(struct uvf_client_region)}),
			 0);
	assert_int_equal(uvf_client_region_info(c, 2, &(struct uvf_client_region){.argsz = sizeof(struct uvf_client_region)}),
			 0);
	before = harness_count_fds();
	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_map(c, 2), 0);
	assert_true(harness_count_fds() > before); /* the ioeventfds */
	assert_int_equal(uvf_client_region_unmap(c, 2), 0);
	assert_int_equal(uvf_client_region_unmap(c, 0), 0);
	assert_int_equal(harness_count_fds(), before);
	uvf_client_close(c); /* harness_stop checks the rest */
}

#define THREAD_WRITES 300

struct writer {
	struct uvf_client *client;
	unsigned index;
	int rc;
};

/* Each thread posts an increasing sequence to its own register, corking
 * now and then, and reads mapped memory (fenced) in between. */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;

	for (uint32_t i = 1; i <= THREAD_WRITES && w->rc == 0; i++) {
		uint32_t got;

		if (i % 50 == 0)
			w->rc = uvf_client_cork(w->client, (i / 50) % 2);
		if (w->rc == 0)
			w->rc = uvf_client_access_write(w->client, 2, 0x80 + 4 * w->index, &i, 4);
		if (w->rc == 0 && i % 10 == 0)
			w->rc = uvf_client_access_read(w->client, 0, 0x200, &got, 4);
	}
	return NULL;
}

/* Maps and unmaps BAR0 while the writers read it: every read is served,
 * by memory or by message. */
static void *remap_thread(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < 30 && w->rc == 0; i++) {
		w->rc = uvf_client_region_unmap(w->client, 0);
		if (w->rc == 0)
			w->rc = uvf_client_region_map(w->client, 0);
	}
	return NULL;
}

static void threads_share_the_fast_paths(void **state)
{
	struct harness *h = *state;
	struct uvf_client *c = harness_connect(h);
	struct writer w[5];
	pthread_t t[5];

	assert_int_equal(uvf_client_region_map(c, 0), 0);
	assert_int_equal(uvf_client_region_map(c, 2), 0);
	for (unsigned i = 0; i < 5; i++) {
		w[i] = (struct writer){.client = c, .index = i};
		assert_int_equal(pthread_create(&t[i], NULL, i < 4 ? writer_thread : remap_thread, &w[i]), 0);
	}
	for (unsigned i = 0; i < 5; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(uvf_client_cork(c, false), 0);
	assert_int_equal(uvf_client_flush(c), 0);
	pthread_mutex_lock(&g_d.lock);
	assert_int_equal(g_d.disorder, 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(g_d.seq[i], THREAD_WRITES);
	pthread_mutex_unlock(&g_d.lock);
	uvf_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sparse_areas_are_mapped_and_unaligned_ones_skipped),
		cmocka_unit_test(mmap_without_sparse_cap_maps_the_whole_region),
		cmocka_unit_test(region_without_mmap_is_not_mapped),
		cmocka_unit_test(map_refuses_config_space_and_bad_indexes),
		cmocka_unit_test(unmap_releases_mappings_and_fds),
		cmocka_unit_test(spec_entries_signal_matching_writes_only),
		cmocka_unit_test(lvfu_entries_take_datamatch_from_the_end),
		cmocka_unit_test(io_fds_retry_with_the_argsz_the_server_asks),
		cmocka_unit_test(io_fds_entry_with_bad_fd_index_is_refused),
		cmocka_unit_test(io_fds_entry_outside_the_region_is_refused),
		cmocka_unit_test(io_fds_with_odd_stride_is_refused),
		cmocka_unit_test(io_fds_error_reply_means_none),
		cmocka_unit_test(memory_bar_writes_are_posted_in_order),
		cmocka_unit_test(no_posted_writes_option_waits_for_each_write),
		cmocka_unit_test(unmapped_region_and_config_writes_are_synchronous),
		cmocka_unit_test(mapped_read_after_posted_write_is_fenced),
		cmocka_unit_test(corked_writes_go_as_write_multi_in_order),
		cmocka_unit_test(full_cork_queue_is_sent_on_its_own),
		cmocka_unit_test(corked_writes_without_write_multiple_are_batched_in_order),
		cmocka_unit_test_setup_teardown(mapped_bar_is_shared_with_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(matching_write_signals_the_ioeventfd_without_a_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(posted_writes_reach_the_device_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(mapped_read_sees_the_effect_of_earlier_posted_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(corked_writes_reach_the_device_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(unmap_closes_every_fd_of_the_region, setup, teardown),
		cmocka_unit_test_setup_teardown(threads_share_the_fast_paths, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
