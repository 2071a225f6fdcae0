/* SPDX-License-Identifier: MIT */
/*
 * The server's fast paths, seen from a client over a real socket: mappable
 * BAR memory (memfd, sparse-mmap areas, MSI-X pages kept out), ioeventfds
 * (DEVICE_GET_REGION_IO_FDS, matching REGION_WRITEs signalled instead of
 * stored) and REGION_WRITE_MULTI. Raw sockets where the reply's fds or
 * exact layout matter; the harness checks for leaked fds after each test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PAGE 4096u

/* ------------------------------------------------------------------ */
/* Device pieces                                                        */
/* ------------------------------------------------------------------ */

/* What the device saw, written by the dispatch thread, read by the test. */
struct seen {
	atomic_int bar_writes;	 /* write callbacks of the mappable BAR */
	atomic_ullong doorbells; /* counts passed to the ioeventfd callback */
	int notify_fd;		 /* eventfd: the ioeventfd callback ran */
	/* callback BAR: the order of writes */
	uint32_t log_offset[16];
	uint64_t log_value[16];
	atomic_int log_len;
};

static struct seen seen;

static void seen_reset(void)
{
	memset(&seen, 0, sizeof(seen));
	seen.notify_fd = -1;
}

static int mem_bar_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset, (void)buf, (void)len;
	atomic_fetch_add(&seen.bar_writes, 1);
	return 0;
}

static int reg_bar_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	(void)dev, (void)data, (void)offset;
	memset(buf, 0, len);
	return 0;
}

static int reg_bar_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	(void)dev, (void)data;
	int n = atomic_load(&seen.log_len);
	if (n < 16) {
		uint64_t v = 0;
		memcpy(&v, buf, len < 8 ? len : 8);
		seen.log_offset[n] = (uint32_t)offset;
		seen.log_value[n] = v;
		atomic_store(&seen.log_len, n + 1);
	}
	return 0;
}

static void doorbell(struct uvf_device *dev, void *data, uint64_t count)
{
	(void)dev, (void)data;
	atomic_fetch_add(&seen.doorbells, count);
	uint64_t one = 1;
	if (seen.notify_fd >= 0 && write(seen.notify_fd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "notify eventfd full\n");
}

static void silent_log(void *data, enum uvf_log_level level, const char *line)
{
	(void)data, (void)level, (void)line;
}

static struct uvf_device *new_device(void)
{
	struct uvf_device *dev = NULL;
	struct uvf_pci_ids ids = {.vendor_id = 0x1af4, .device_id = 0x10f0, .class_code = 0xff0000};
	assert_int_equal(uvf_device_new(&dev), 0);
	uvf_device_set_log(dev, silent_log, NULL, UVF_LOG_DEBUG);
	assert_int_equal(uvf_device_set_pci_ids(dev, &ids), 0);
	return dev;
}

static void add_mmap_bar(struct uvf_device *dev, unsigned index, uint64_t size)
{
	struct uvf_bar_desc bar = {.size = size, .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP, .write = mem_bar_write};
	assert_int_equal(uvf_device_set_bar(dev, index, &bar), 0);
}

static void add_reg_bar(struct uvf_device *dev, unsigned index, uint32_t flags, uint64_t size)
{
	struct uvf_bar_desc bar = {.size = size, .flags = flags, .read = reg_bar_read, .write = reg_bar_write};
	assert_int_equal(uvf_device_set_bar(dev, index, &bar), 0);
}

static int add_ioeventfd(struct uvf_device *dev, unsigned bar, uint64_t offset, uint32_t size, bool match,
			 uint64_t value, bool with_fn)
{
	struct uvf_ioeventfd_desc d = {.version = UVF_IOEVENTFD_DESC_VERSION,
				       .bar = bar,
				       .offset = offset,
				       .size = size,
				       .flags = match ? UVF_IOEVENTFD_DATAMATCH : 0,
				       .datamatch = value,
				       .fn = with_fn ? doorbell : NULL};
	return uvf_device_add_ioeventfd(dev, &d);
}

/* Wait until the ioeventfd callback ran (the dispatch thread calls it). */
static uint64_t wait_doorbell(void)
{
	if (!harness_wait_eventfd(seen.notify_fd, 5000))
		return 0;
	return atomic_load(&seen.doorbells);
}

/* ------------------------------------------------------------------ */
/* Raw messages with fds                                                */
/* ------------------------------------------------------------------ */

/* Send a command on a raw socket and receive its reply with the fds that
 * came with it (MSG_CMSG_CLOEXEC; the caller closes them). Returns the
 * reply's -errno, or 0. */
static int raw_call_fds(int sock, uint16_t id, uint16_t command, const void *payload, size_t len, void *reply,
			size_t cap, size_t *rlen, int *fds, size_t max_fds, size_t *nfds)
{
	struct uvf_msg_header hdr = {.msg_id = id, .command = command, .msg_size = (uint32_t)(16 + len)};
	struct iovec iov[2] = {{&hdr, sizeof(hdr)}, {(void *)payload, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)(16 + len));

	/* header (and the fds) first, then the body */
	struct uvf_msg_header rh;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	struct iovec riov = {&rh, sizeof(rh)};
	struct msghdr rm = {
		.msg_iov = &riov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct pollfd p = {.fd = sock, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recvmsg(sock, &rm, MSG_CMSG_CLOEXEC | MSG_WAITALL), (ssize_t)sizeof(rh));
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&rm); c; c = CMSG_NXTHDR(&rm, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max_fds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	assert_int_equal(rh.msg_id, id);
	assert_int_equal(rh.command, command);
	size_t plen = rh.msg_size - 16;
	assert_true(plen <= cap);
	if (plen)
		assert_int_equal(recv(sock, reply, plen, MSG_WAITALL), (ssize_t)plen);
	*rlen = plen;
	return (rh.flags & UVF_MSG_FLAG_ERROR) ? -(int)rh.error : 0;
}

/* VERSION on a raw socket, offering max_fds fds. */
static void raw_version(int sock, unsigned max_fds)
{
	char json[128];
	uint8_t payload[4 + sizeof(json)];
	uint8_t reply[512];
	size_t rlen, nfds;
	int fds[1];
	int n = snprintf(json, sizeof(json), "{\"capabilities\":{\"max_msg_fds\":%u}}", max_fds);
	struct uvf_msg_version v = {0, 0};
	memcpy(payload, &v, 4);
	memcpy(payload + 4, json, (size_t)n + 1);
	assert_int_equal(raw_call_fds(sock, 1, UVF_CMD_VERSION, payload, 4 + (size_t)n + 1, reply, sizeof(reply), &rlen,
				      fds, 1, &nfds),
			 0);
	assert_int_equal(nfds, 0);
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* Mappable BARs                                                        */
/* ------------------------------------------------------------------ */

static void mappable_bar_is_shared_memory_between_client_and_device(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 4 * PAGE);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);

	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, 0, &r), 0);
	assert_int_equal(r.flags,
			 UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS);
	assert_int_equal(r.size, 4 * PAGE);
	assert_int_equal(r.offset, 0);
	assert_true(r.fd >= 0);
	assert_int_equal(r.nr_sparse_areas, 1);
	assert_int_equal(r.sparse_areas[0].offset, 0);
	assert_int_equal(r.sparse_areas[0].size, 4 * PAGE);

	size_t size = 0;
	volatile uint32_t *dmem = uvf_device_bar_memory(h.dev, 0, &size);
	assert_non_null(dmem);
	assert_int_equal(size, 4 * PAGE);
	volatile uint32_t *cmem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, (off_t)r.offset);
	assert_true(cmem != MAP_FAILED);

	/* a client store is seen by the device, without a message */
	cmem[0x100 / 4] = 0xdeadbeef;
	assert_int_equal(dmem[0x100 / 4], 0xdeadbeef);
	assert_int_equal(atomic_load(&seen.bar_writes), 0);
	/* a device store is seen by the client */
	dmem[0x3ffc / 4] = 0x12345678;
	assert_int_equal(cmem[0x3ffc / 4], 0x12345678);
	/* and the message path reaches the same memory */
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, 0x100, &v, 4), 0);
	assert_int_equal(v, 0xdeadbeef);
	v = 0xcafe;
	assert_int_equal(uvf_client_region_write(c, 0, 0x200, &v, 4), 0);
	assert_int_equal(cmem[0x200 / 4], 0xcafe);
	assert_int_equal(atomic_load(&seen.bar_writes), 1);

	/* a reset zeroes the memory and keeps sharing it */
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(cmem[0x100 / 4], 0);
	assert_int_equal(cmem[0x3ffc / 4], 0);
	cmem[0x10 / 4] = 7;
	assert_int_equal(dmem[0x10 / 4], 7);

	munmap((void *)cmem, 4 * PAGE);
	uvf_client_close(c);
	harness_stop(&h);
}

/* A device's own file as the BAR: the client maps it at the region
 * offset, the device and REGION_READ see the same bytes, a reset leaves
 * them alone. */
static void mappable_bar_can_be_the_devices_own_file(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 2 * PAGE);
	int fd = memfd_create("bar-file", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * PAGE), 0);
	/* refused: unaligned offset, file too short, not a mappable BAR */
	assert_int_equal(uvf_device_set_bar_fd(dev, 0, fd, 100), -EINVAL);
	assert_int_equal(uvf_device_set_bar_fd(dev, 0, fd, 2 * PAGE), -EINVAL);
	assert_int_equal(uvf_device_set_bar_fd(dev, 1, fd, 0), -EINVAL);
	assert_int_equal(uvf_device_set_bar_fd(dev, 0, -1, 0), -EINVAL);
	assert_int_equal(uvf_device_set_bar_fd(dev, 0, fd, PAGE), 0);
	uint32_t *mine = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mine != MAP_FAILED);
	harness_start(&h, dev, NULL);
	assert_int_equal(uvf_device_set_bar_fd(h.dev, 0, fd, PAGE), -EBUSY);
	struct uvf_client *c = harness_connect(&h);

	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, 0, &r), 0);
	assert_int_equal(r.offset, PAGE);
	assert_true(r.fd >= 0);
	volatile uint32_t *cmem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, (off_t)r.offset);
	assert_true(cmem != MAP_FAILED);
	mine[(PAGE + 0x40) / 4] = 0x600dcafe;
	assert_int_equal(cmem[0x40 / 4], 0x600dcafe);
	uint32_t v = 0;
	assert_int_equal(uvf_client_region_read(c, 0, 0x40, &v, 4), 0);
	assert_int_equal(v, 0x600dcafe);
	v = 0x1234;
	assert_int_equal(uvf_client_region_write(c, 0, 0x80, &v, 4), 0);
	assert_int_equal(mine[(PAGE + 0x80) / 4], 0x1234);
	assert_int_equal(uvf_client_reset(c), 0);
	assert_int_equal(mine[(PAGE + 0x40) / 4], 0x600dcafe);

	munmap((void *)cmem, 2 * PAGE);
	uvf_client_close(c);
	harness_stop(&h);
	munmap(mine, 3 * PAGE);
}

static void mappable_areas_leave_out_the_msix_pages(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 2, 4 * PAGE);
	/* declared after the BAR: the table page 0x1000 and the PBA page
	 * 0x3000 are cut out when the client asks */
	assert_int_equal(uvf_device_set_msix(dev, 8, 2, 0x1000, 2, 0x3800), 0);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);

	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, 2, &r), 0);
	assert_true(r.flags & UVF_REGION_FLAG_MMAP);
	assert_true(r.fd >= 0);
	assert_int_equal(r.nr_sparse_areas, 2);
	assert_int_equal(r.sparse_areas[0].offset, 0);
	assert_int_equal(r.sparse_areas[0].size, PAGE);
	assert_int_equal(r.sparse_areas[1].offset, 2 * PAGE);
	assert_int_equal(r.sparse_areas[1].size, PAGE);

	/* the table stays the library's: a message write masks/unmasks, the
	 * BAR memory underneath is untouched */
	uint32_t ctrl = 0;
	assert_int_equal(uvf_client_region_read(c, 2, 0x1000 + 12, &ctrl, 4), 0);
	assert_int_equal(ctrl, 1); /* masked */
	uint8_t *dmem = uvf_device_bar_memory(h.dev, 2, NULL);
	assert_int_equal(dmem[0x1000 + 12], 0);

	uvf_client_close(c);
	harness_stop(&h);
}

static void a_bar_made_only_of_msix_pages_is_not_mappable(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, PAGE);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 0, 0, 0x800), 0);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);
	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, 0, &r), 0);
	assert_int_equal(r.flags, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE);
	assert_int_equal(r.fd, -1);
	uvf_client_close(c);
	harness_stop(&h);
}

static void region_info_carries_the_fd_only_when_the_reply_fits(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 4 * PAGE);
	add_reg_bar(dev, 2, 0, 256);
	harness_start(&h, dev, NULL);
	int s = harness_raw_connect(&h);
	raw_version(s, 8);

	uint8_t reply[512];
	size_t rlen, nfds;
	int fds[4];
	const uint32_t full = 32 + 16 + 16;

	/* argsz 32: the argsz to retry with, no chain, no MMAP, no fd */
	struct uvf_msg_region_info req = {.argsz = 32, .index = 0};
	assert_int_equal(raw_call_fds(s, 2, UVF_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 4, &nfds),
			 0);
	struct uvf_msg_region_info info;
	assert_int_equal(rlen, 32);
	memcpy(&info, reply, sizeof(info));
	assert_int_equal(info.argsz, full);
	assert_int_equal(info.flags, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE);
	assert_int_equal(info.cap_offset, 0);
	assert_int_equal(nfds, 0);

	/* one byte short: the same */
	req.argsz = full - 1;
	assert_int_equal(raw_call_fds(s, 3, UVF_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 4, &nfds),
			 0);
	assert_int_equal(rlen, 32);
	assert_int_equal(nfds, 0);

	/* enough: the chain, exactly laid out, and one fd */
	req.argsz = full;
	assert_int_equal(raw_call_fds(s, 4, UVF_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 4, &nfds),
			 0);
	assert_int_equal(rlen, full);
	assert_int_equal(nfds, 1);
	memcpy(&info, reply, sizeof(info));
	assert_int_equal(info.argsz, full);
	assert_int_equal(info.flags,
			 UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE | UVF_REGION_FLAG_MMAP | UVF_REGION_FLAG_CAPS);
	assert_int_equal(info.cap_offset, 32);
	assert_int_equal(info.offset, 0);
	assert_int_equal(info.size, 4 * PAGE);
	struct uvf_msg_region_cap_sparse_mmap cap;
	memcpy(&cap, reply + 32, sizeof(cap));
	assert_int_equal(cap.header.id, UVF_REGION_CAP_SPARSE_MMAP);
	assert_int_equal(cap.header.version, 1);
	assert_int_equal(cap.header.next, 0);
	assert_int_equal(cap.nr_areas, 1);
	assert_int_equal(cap.reserved, 0);
	struct uvf_msg_region_sparse_area area;
	memcpy(&area, reply + 48, sizeof(area));
	assert_int_equal(area.offset, 0);
	assert_int_equal(area.size, 4 * PAGE);
	/* the fd is the BAR: a store through it is in the device's memory */
	uint32_t *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	assert_true(m != MAP_FAILED);
	m[1] = 0x55aa55aa;
	assert_int_equal(((uint32_t *)uvf_device_bar_memory(h.dev, 0, NULL))[1], 0x55aa55aa);
	/* and the client cannot shrink it under the device */
	assert_int_equal(ftruncate(fds[0], 0), -1);
	munmap(m, PAGE);
	close_all(fds, nfds);

	/* a BAR without memory: no MMAP, however large argsz is */
	req.index = 2;
	req.argsz = 4096;
	assert_int_equal(raw_call_fds(s, 5, UVF_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 4, &nfds),
			 0);
	memcpy(&info, reply, sizeof(info));
	assert_int_equal(rlen, 32);
	assert_int_equal(info.argsz, 32);
	assert_false(info.flags & UVF_REGION_FLAG_MMAP);
	assert_int_equal(nfds, 0);

	close(s);
	harness_stop(&h);
}

static void a_client_taking_no_fds_gets_no_mmap(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, PAGE);
	harness_start(&h, dev, NULL);
	int s = harness_raw_connect(&h);
	raw_version(s, 0);

	uint8_t reply[512];
	size_t rlen, nfds;
	int fds[4];
	struct uvf_msg_region_info req = {.argsz = 1024, .index = 0}, info;
	assert_int_equal(raw_call_fds(s, 2, UVF_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 4, &nfds),
			 0);
	assert_int_equal(rlen, 32);
	memcpy(&info, reply, sizeof(info));
	assert_int_equal(info.argsz, 32);
	assert_int_equal(info.flags, UVF_REGION_FLAG_READ | UVF_REGION_FLAG_WRITE);
	assert_int_equal(nfds, 0);
	close(s);
	harness_stop(&h);
}

static void mappable_bar_descriptions_are_validated(void **state)
{
	(void)state;
	int before = harness_count_fds();
	struct uvf_device *dev = new_device();
	struct uvf_bar_desc bar = {.size = PAGE, .flags = UVF_BAR_MEMORY | UVF_BAR_MMAP};
	/* mappable needs library memory, whole pages, memory space */
	bar.flags = UVF_BAR_MMAP;
	bar.read = reg_bar_read;
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), -EINVAL);
	bar.read = NULL;
	bar.flags = UVF_BAR_MEMORY | UVF_BAR_MMAP;
	bar.size = 2048;
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), -EINVAL);
	bar.flags = UVF_BAR_MEMORY;
	assert_int_equal(uvf_device_set_bar(dev, 0, &bar), 0); /* not mappable: fine */
	bar.flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_IO;
	bar.size = 256;
	assert_int_equal(uvf_device_set_bar(dev, 1, &bar), -EINVAL);
	bar.flags = UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_64BIT;
	bar.size = 16 * PAGE;
	assert_int_equal(uvf_device_set_bar(dev, 2, &bar), 0);
	assert_non_null(uvf_device_bar_memory(dev, 2, NULL));
	uvf_device_free(dev);
	assert_int_equal(harness_count_fds(), before); /* the memfd is closed */
}

static void custom_mmap_areas_are_validated(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 8 * PAGE);
	add_reg_bar(dev, 1, 0, 8 * PAGE);
	add_mmap_bar(dev, 2, 32 * PAGE);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 6 * PAGE, 0, 6 * PAGE + 0x800), 0);

	struct uvf_mmap_area ok[2] = {{0, 2 * PAGE}, {3 * PAGE, 2 * PAGE}};
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 0, ok, 2), 0);
	/* a BAR that is not mappable, or no BAR */
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 1, ok, 2), -EINVAL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 3, ok, 1), -EINVAL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 6, ok, 1), -EINVAL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(NULL, 0, ok, 1), -EINVAL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 0, NULL, 1), -EINVAL);
	/* 1..16 areas */
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 0, ok, 0), -EINVAL);
	struct uvf_mmap_area many[17];
	for (unsigned i = 0; i < 17; i++)
		many[i] = (struct uvf_mmap_area){i * 0x1000, 0x1000};
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 2, many, 17), -EINVAL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 2, many, 16), 0);
	/* page aligned, not empty, inside, sorted, apart */
	struct uvf_mmap_area bad[][2] = {
		{{0x800, PAGE}, {3 * PAGE, PAGE}},		 /* offset not aligned */
		{{0, 0x1800}, {3 * PAGE, PAGE}},		 /* size not aligned */
		{{0, 0}, {3 * PAGE, PAGE}},			 /* empty */
		{{0, PAGE}, {7 * PAGE, 2 * PAGE}},		 /* beyond the BAR */
		{{0, PAGE}, {UINT64_MAX & ~0xfffull, 2 * PAGE}}, /* wraps */
		{{2 * PAGE, PAGE}, {0, PAGE}},			 /* not sorted */
		{{0, 2 * PAGE}, {PAGE, PAGE}},			 /* overlapping */
		{{0, PAGE}, {5 * PAGE, 2 * PAGE}},		 /* covers the MSI-X table page */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uvf_device_set_bar_mmap_areas(dev, 0, bad[i], 2) != -EINVAL)
			fail_msg("bad area set %zu accepted", i);
	}
	/* adjacent areas are fine */
	struct uvf_mmap_area adjacent[2] = {{0, PAGE}, {PAGE, PAGE}};
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 0, adjacent, 2), 0);

	harness_start(&h, dev, NULL);
	assert_int_equal(uvf_device_set_bar_mmap_areas(h.dev, 0, ok, 2), -EBUSY);
	harness_stop(&h);
}

static void custom_mmap_areas_are_offered(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 8 * PAGE);
	struct uvf_mmap_area areas[3] = {{PAGE, PAGE}, {3 * PAGE, 2 * PAGE}, {6 * PAGE, PAGE}};
	assert_int_equal(uvf_device_set_bar_mmap_areas(dev, 0, areas, 3), 0);
	/* MSI-X declared after the areas: the area holding its table is
	 * withheld rather than handed out */
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 6 * PAGE, 0, 7 * PAGE), 0);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);
	struct uvf_client_region r = {.argsz = sizeof(r)};
	assert_int_equal(uvf_client_region_info(c, 0, &r), 0);
	assert_true(r.flags & UVF_REGION_FLAG_MMAP);
	assert_int_equal(r.nr_sparse_areas, 2);
	assert_int_equal(r.sparse_areas[0].offset, PAGE);
	assert_int_equal(r.sparse_areas[0].size, PAGE);
	assert_int_equal(r.sparse_areas[1].offset, 3 * PAGE);
	assert_int_equal(r.sparse_areas[1].size, 2 * PAGE);

	/* an area is mapped at its own offset in the fd */
	uint8_t *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd,
			  (off_t)(r.offset + r.sparse_areas[1].offset));
	assert_true(m != MAP_FAILED);
	m[PAGE + 5] = 0x42;
	uint8_t *dmem = uvf_device_bar_memory(h.dev, 0, NULL);
	assert_int_equal(dmem[4 * PAGE + 5], 0x42);
	munmap(m, 2 * PAGE);

	uvf_client_close(c);
	harness_stop(&h);
}

/* ------------------------------------------------------------------ */
/* ioeventfds                                                           */
/* ------------------------------------------------------------------ */

static void ioeventfd_descriptions_are_validated(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, 4 * PAGE);
	add_reg_bar(dev, 2, UVF_BAR_64BIT, 256);
	add_reg_bar(dev, 4, UVF_BAR_IO, 32);
	assert_int_equal(uvf_device_set_msix(dev, 4, 0, 2 * PAGE, 0, 3 * PAGE), 0);

	/* accepted */
	assert_int_equal(add_ioeventfd(dev, 0, 0x10, 4, false, 0, true), 0);
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 4, true, 1, false), 1);
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 4, true, 2, false), 2);  /* another value */
	assert_int_equal(add_ioeventfd(dev, 0, 0x10, 2, false, 0, false), 3); /* another size */
	assert_int_equal(add_ioeventfd(dev, 4, 0x1f, 1, true, 0xff, true), 4);
	assert_int_equal(add_ioeventfd(dev, 2, 0xf8, 8, true, UINT64_MAX, false), 5);
	assert_int_equal(add_ioeventfd(dev, 2, 0, 0, false, 0, false), 6);

	/* refused */
	assert_int_equal(add_ioeventfd(dev, 0, 0x10, 4, false, 0, false), -EINVAL); /* same as 0 */
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 4, false, 0, false), -EINVAL); /* matches 1 and 2 too */
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 0, false, 0, false), -EINVAL); /* any size matches 1 */
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 4, true, 1, false), -EINVAL);  /* same value */
	assert_int_equal(add_ioeventfd(dev, 1, 0, 4, false, 0, false), -EINVAL);    /* BAR not declared */
	assert_int_equal(add_ioeventfd(dev, 3, 0, 4, false, 0, false), -EINVAL);    /* upper half of BAR2 */
	assert_int_equal(add_ioeventfd(dev, 6, 0, 4, false, 0, false), -EINVAL);    /* not a BAR */
	assert_int_equal(add_ioeventfd(dev, 4, 0x1d, 4, false, 0, false), -EINVAL); /* beyond the BAR */
	assert_int_equal(add_ioeventfd(dev, 4, 32, 0, false, 0, false), -EINVAL);   /* beyond, any size */
	assert_int_equal(add_ioeventfd(dev, 0, 0x40, 3, false, 0, false), -EINVAL); /* size 3 */
	assert_int_equal(add_ioeventfd(dev, 0, 0x40, 16, false, 0, false), -EINVAL);
	assert_int_equal(add_ioeventfd(dev, 0, 0x40, 0, true, 0, false), -EINVAL);	    /* any size with a value */
	assert_int_equal(add_ioeventfd(dev, 0, 0x40, 2, true, 0x10000, false), -EINVAL);    /* value too wide */
	assert_int_equal(add_ioeventfd(dev, 0, 2 * PAGE + 8, 4, false, 0, false), -EINVAL); /* MSI-X table */
	assert_int_equal(add_ioeventfd(dev, 0, 3 * PAGE, 8, false, 0, false), -EINVAL);	    /* PBA */
	struct uvf_ioeventfd_desc d = {.version = 3, .bar = 0, .offset = 0x40, .size = 4};
	assert_int_equal(uvf_device_add_ioeventfd(dev, &d), -EINVAL);
	d.version = 0;
	assert_int_equal(uvf_device_add_ioeventfd(dev, &d), -EINVAL);
	d.version = UVF_IOEVENTFD_DESC_VERSION;
	d.flags = 0x4;
	assert_int_equal(uvf_device_add_ioeventfd(dev, &d), -EINVAL);
	/* the device's own fd: not in version 1, and it must be an fd */
	d.version = 1;
	d.flags = UVF_IOEVENTFD_DEVICE_FD;
	assert_int_equal(uvf_device_add_ioeventfd(dev, &d), -EINVAL);
	d.version = UVF_IOEVENTFD_DESC_VERSION;
	d.fd = -1;
	assert_int_equal(uvf_device_add_ioeventfd(dev, &d), -EINVAL);
	assert_int_equal(uvf_device_add_ioeventfd(dev, NULL), -EINVAL);
	assert_int_equal(uvf_device_add_ioeventfd(NULL, &d), -EINVAL);

	/* the eventfds */
	for (int id = 0; id <= 6; id++)
		assert_true(uvf_device_ioeventfd_fd(dev, id) >= 0);
	assert_int_equal(uvf_device_ioeventfd_fd(dev, 7), -ENOENT);
	assert_int_equal(uvf_device_ioeventfd_fd(dev, -1), -ENOENT);
	assert_int_equal(uvf_device_ioeventfd_fd(NULL, 0), -ENOENT);

	harness_start(&h, dev, NULL);
	assert_int_equal(add_ioeventfd(h.dev, 0, 0x80, 4, false, 0, false), -EBUSY);
	harness_stop(&h); /* every eventfd closed */
}

/* BAR0: mappable memory with a doorbell at 0x10 (value 0x1234, 4 bytes,
 * callback) and an any-size ioeventfd at 0x20 the device polls itself;
 * BAR4: I/O ports with a 2-byte doorbell at 4 (callback). */
static struct uvf_device *doorbell_device(void)
{
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, PAGE);
	add_reg_bar(dev, 4, UVF_BAR_IO, 32);
	assert_int_equal(add_ioeventfd(dev, 0, 0x10, 4, true, 0x1234, true), 0);
	assert_int_equal(add_ioeventfd(dev, 0, 0x20, 0, false, 0, false), 1);
	assert_int_equal(add_ioeventfd(dev, 4, 4, 2, false, 0, true), 2);
	return dev;
}

static void io_fds_lists_the_ioeventfds_of_a_region(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	seen.notify_fd = eventfd(0, EFD_CLOEXEC);
	harness_prepare(&h);
	harness_start(&h, doorbell_device(), NULL);
	int s = harness_raw_connect(&h);
	raw_version(s, 8);

	uint8_t reply[1024];
	size_t rlen, nfds;
	int fds[8];
	struct uvf_msg_region_io_fds req = {.argsz = 16, .index = 0}, head;

	/* too small: count and argsz, no entries, no fds */
	assert_int_equal(raw_call_fds(s, 2, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);
	assert_int_equal(rlen, 16);
	memcpy(&head, reply, sizeof(head));
	assert_int_equal(head.argsz, 16 + 2 * 40);
	assert_int_equal(head.count, 2);
	assert_int_equal(head.index, 0);
	assert_int_equal(nfds, 0);

	/* big enough: 40-byte entries, one fd each */
	req.argsz = 16 + 2 * 40;
	assert_int_equal(raw_call_fds(s, 3, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);
	assert_int_equal(rlen, 16 + 2 * 40);
	memcpy(&head, reply, sizeof(head));
	assert_int_equal(head.argsz, 16 + 2 * 40);
	assert_int_equal(head.count, 2);
	assert_int_equal(nfds, 2);
	struct uvf_msg_io_fd_entry e[2];
	memcpy(e, reply + 16, sizeof(e));
	assert_int_equal(e[0].offset, 0x10);
	assert_int_equal(e[0].size, 4);
	assert_int_equal(e[0].fd_index, 0);
	assert_int_equal(e[0].type, UVF_IO_FD_TYPE_IOEVENTFD);
	assert_int_equal(e[0].flags, UVF_IOEVENTFD_FLAG_DATAMATCH);
	assert_int_equal(e[0].padding, 0);
	assert_int_equal(e[0].datamatch, 0x1234);
	assert_int_equal(e[1].offset, 0x20);
	assert_int_equal(e[1].size, 0);
	assert_int_equal(e[1].fd_index, 1);
	assert_int_equal(e[1].flags, 0);
	assert_int_equal(e[1].datamatch, 0);

	/* the client writing an eventfd is the doorbell: the callback runs */
	uint64_t one = 1;
	assert_int_equal(write(fds[0], &one, sizeof(one)), sizeof(one));
	assert_int_equal(wait_doorbell(), 1);
	/* the one the device polls fires its eventfd */
	assert_int_equal(write(fds[1], &one, sizeof(one)), sizeof(one));
	assert_int_equal(harness_wait_eventfd(uvf_device_ioeventfd_fd(h.dev, 1), 5000), 1);
	close_all(fds, nfds);

	/* I/O BAR: PIO */
	req.index = 4;
	req.argsz = 1024;
	assert_int_equal(raw_call_fds(s, 4, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);
	memcpy(&head, reply, sizeof(head));
	assert_int_equal(head.count, 1);
	assert_int_equal(head.argsz, 16 + 40);
	assert_int_equal(rlen, 16 + 40);
	assert_int_equal(nfds, 1);
	memcpy(e, reply + 16, sizeof(e[0]));
	assert_int_equal(e[0].offset, 4);
	assert_int_equal(e[0].size, 2);
	assert_int_equal(e[0].flags, UVF_IOEVENTFD_FLAG_PIO);
	close_all(fds, nfds);

	/* regions without ioeventfds: an empty list */
	const uint32_t empty[] = {1, UVF_PCI_ROM_REGION, UVF_PCI_CONFIG_REGION, UVF_PCI_VGA_REGION};
	for (size_t i = 0; i < 4; i++) {
		req.index = empty[i];
		assert_int_equal(raw_call_fds(s, 5, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply,
					      sizeof(reply), &rlen, fds, 8, &nfds),
				 0);
		memcpy(&head, reply, sizeof(head));
		assert_int_equal(head.count, 0);
		assert_int_equal(head.argsz, 16);
		assert_int_equal(rlen, 16);
		assert_int_equal(nfds, 0);
	}

	/* bad requests */
	struct uvf_msg_region_io_fds bad[] = {
		{.argsz = 16, .index = UVF_PCI_NUM_REGIONS},
		{.argsz = 15, .index = 0},
		{.argsz = 1024, .index = 0, .count = 1},
		{.argsz = 1024, .index = 0, .flags = 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(raw_call_fds(s, 6, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &bad[i], sizeof(bad[i]), reply,
					      sizeof(reply), &rlen, fds, 8, &nfds),
				 -EINVAL);
		assert_int_equal(nfds, 0);
	}
	/* the connection survived */
	req.index = 0;
	req.argsz = 16;
	assert_int_equal(raw_call_fds(s, 7, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);

	close(s);
	harness_stop(&h);
	close(seen.notify_fd);
}

static void io_fds_sends_no_more_fds_than_the_client_takes(void **state)
{
	(void)state;
	struct harness h;
	harness_prepare(&h);
	harness_start(&h, doorbell_device(), NULL);
	uint8_t reply[1024];
	size_t rlen, nfds;
	int fds[8];
	struct uvf_msg_region_io_fds req = {.argsz = 1024, .index = 0}, head;

	int s = harness_raw_connect(&h);
	raw_version(s, 1);
	assert_int_equal(raw_call_fds(s, 2, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);
	memcpy(&head, reply, sizeof(head));
	assert_int_equal(head.count, 1);
	assert_int_equal(head.argsz, 16 + 40);
	assert_int_equal(nfds, 1);
	close_all(fds, nfds);
	close(s);

	s = harness_raw_connect(&h);
	raw_version(s, 0);
	assert_int_equal(raw_call_fds(s, 2, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), reply, sizeof(reply),
				      &rlen, fds, 8, &nfds),
			 0);
	memcpy(&head, reply, sizeof(head));
	assert_int_equal(head.count, 0);
	assert_int_equal(head.argsz, 16);
	assert_int_equal(nfds, 0);
	close(s);
	harness_stop(&h);
}

/* An ioeventfd on the device's own eventfd: a matching REGION_WRITE
 * signals it, and the library hands it out as the ioeventfd's fd. */
static void ioeventfd_can_use_the_devices_own_eventfd(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_mmap_bar(dev, 0, PAGE);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	struct uvf_ioeventfd_desc d = UVF_IOEVENTFD_DESC_INIT;
	d.bar = 0;
	d.offset = 0x20;
	d.size = 4;
	d.flags = UVF_IOEVENTFD_DEVICE_FD;
	d.fd = efd;
	int id = uvf_device_add_ioeventfd(dev, &d);
	assert_true(id >= 0);
	assert_int_equal(uvf_device_ioeventfd_fd(dev, id), efd);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);
	uint32_t v = 7;
	assert_int_equal(uvf_client_region_write(c, 0, 0x20, &v, 4), 0);
	uint64_t count = 0;
	assert_int_equal(read(efd, &count, sizeof(count)), (ssize_t)sizeof(count));
	assert_int_equal(count, 1);
	uvf_client_close(c);
	harness_stop(&h); /* closes efd: the device owns it */
	assert_int_equal(fcntl(efd, F_GETFD), -1);
}

static void matching_region_write_signals_instead_of_storing(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	seen.notify_fd = eventfd(0, EFD_CLOEXEC);
	harness_prepare(&h);
	harness_start(&h, doorbell_device(), NULL);
	struct uvf_client *c = harness_connect(&h);
	uint32_t *mem = uvf_device_bar_memory(h.dev, 0, NULL);

	/* matching value and size: the callback, not the BAR */
	uint32_t v = 0x1234;
	assert_int_equal(uvf_client_region_write(c, 0, 0x10, &v, 4), 0);
	assert_int_equal(wait_doorbell(), 1);
	assert_int_equal(mem[0x10 / 4], 0);
	assert_int_equal(atomic_load(&seen.bar_writes), 0);

	/* another value: the BAR */
	v = 0x9999;
	assert_int_equal(uvf_client_region_write(c, 0, 0x10, &v, 4), 0);
	assert_int_equal(mem[0x10 / 4], 0x9999);
	assert_int_equal(atomic_load(&seen.bar_writes), 1);
	/* the right value in another size: the BAR */
	uint16_t v16 = 0x1234;
	assert_int_equal(uvf_client_region_write(c, 0, 0x10, &v16, 2), 0);
	assert_int_equal(mem[0x10 / 4], 0x1234);
	assert_int_equal(atomic_load(&seen.bar_writes), 2);
	/* another offset: the BAR */
	v = 0x1234;
	assert_int_equal(uvf_client_region_write(c, 0, 0x14, &v, 4), 0);
	assert_int_equal(mem[0x14 / 4], 0x1234);
	assert_int_equal(atomic_load(&seen.bar_writes), 3);
	assert_int_equal(atomic_load(&seen.doorbells), 1); /* none of these rang */

	/* any size, no value: every write at 0x20 signals the polled eventfd */
	int polled = uvf_device_ioeventfd_fd(h.dev, 1);
	uint8_t b = 1;
	uint64_t q = 0x1122334455667788ull;
	assert_int_equal(uvf_client_region_write(c, 0, 0x20, &b, 1), 0);
	assert_int_equal(uvf_client_region_write(c, 0, 0x20, &q, 8), 0);
	assert_int_equal(harness_wait_eventfd(polled, 5000), 2);
	assert_int_equal(mem[0x20 / 4], 0);
	assert_int_equal(atomic_load(&seen.bar_writes), 3);

	/* the I/O BAR's doorbell */
	v16 = 0xabcd;
	assert_int_equal(uvf_client_region_write(c, 4, 4, &v16, 2), 0);
	assert_int_equal(wait_doorbell(), 2);
	assert_int_equal(atomic_load(&seen.log_len), 0);
	v = 0xabcd;
	assert_int_equal(uvf_client_region_write(c, 4, 4, &v, 4), 0);
	assert_int_equal(atomic_load(&seen.log_len), 1);

	uvf_client_close(c);
	harness_stop(&h);
	close(seen.notify_fd);
}

/* ------------------------------------------------------------------ */
/* REGION_WRITE_MULTI                                                   */
/* ------------------------------------------------------------------ */

static void put_entry(uint8_t *payload, unsigned i, uint32_t region, uint64_t offset, uint32_t count, uint64_t value)
{
	struct uvf_msg_write_multi_entry e = {.offset = offset, .region = region, .count = count};
	memcpy(e.data, &value, sizeof(e.data));
	memcpy(payload + 8 + i * sizeof(e), &e, sizeof(e));
}

static void put_count(uint8_t *payload, uint64_t wr_cnt)
{
	memcpy(payload, &wr_cnt, 8);
}

static void write_multi_is_advertised_and_applied_in_order(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	seen.notify_fd = eventfd(0, EFD_CLOEXEC);
	harness_prepare(&h);
	struct uvf_device *dev = doorbell_device();
	add_reg_bar(dev, 2, 0, 256);
	harness_start(&h, dev, NULL);
	/* our client does not offer write_multiple itself: the server's
	 * word is what counts */
	struct uvf_client *c = harness_connect(&h);
	const struct uvf_server_caps *caps = uvf_client_server_caps(c);
	assert_true(caps->write_multiple);
	assert_non_null(strstr(caps->json, "\"write_multiple\":true"));

	uint8_t payload[8 + 6 * 24];
	put_count(payload, 6);
	put_entry(payload, 0, 2, 0x08, 4, 1);
	put_entry(payload, 1, 2, 0x0c, 2, 2);
	put_entry(payload, 2, 2, 0x08, 8, 3);
	put_entry(payload, 3, 0, 0x40, 4, 0xaaaa);
	put_entry(payload, 4, 0, 0x40, 4, 0xbbbb); /* the later one wins */
	put_entry(payload, 5, 0, 0x10, 4, 0x1234); /* the doorbell */
	uint64_t wr_cnt = 0;
	size_t rlen = 0;
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, payload, sizeof(payload), NULL, 0, &wr_cnt,
					 sizeof(wr_cnt), &rlen),
			 0);
	assert_int_equal(rlen, 8);
	assert_int_equal(wr_cnt, 6);
	assert_int_equal(atomic_load(&seen.log_len), 3);
	assert_int_equal(seen.log_offset[0], 0x08);
	assert_int_equal(seen.log_value[0], 1);
	assert_int_equal(seen.log_offset[1], 0x0c);
	assert_int_equal(seen.log_value[1], 2);
	assert_int_equal(seen.log_offset[2], 0x08);
	assert_int_equal(seen.log_value[2], 3);
	uint32_t *mem = uvf_device_bar_memory(h.dev, 0, NULL);
	assert_int_equal(mem[0x40 / 4], 0xbbbb);
	assert_int_equal(mem[0x10 / 4], 0);
	assert_int_equal(wait_doorbell(), 1);

	uvf_client_close(c);
	harness_stop(&h);
	close(seen.notify_fd);
}

static void malformed_write_multi_is_refused(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_reg_bar(dev, 2, 0, 256);
	harness_start(&h, dev, NULL);
	struct uvf_client *c = harness_connect(&h);
	uint64_t wr_cnt;
	size_t rlen;

	static uint8_t big[8 + 1025 * 24];
	uint8_t p[8 + 2 * 24];
	memset(p, 0, sizeof(p));
	put_entry(p, 0, 2, 0x10, 4, 7);
	put_entry(p, 1, 2, 0x14, 4, 8);

	/* wr_cnt 0 */
	put_count(p, 0);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, 8, NULL, 0, &wr_cnt, 8, &rlen), -EINVAL);
	/* wr_cnt larger, or smaller, than the entries sent */
	put_count(p, 3);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	put_count(p, 1);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	/* a partial entry */
	put_count(p, 2);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p) - 1, NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	/* shorter than wr_cnt itself */
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, 4, NULL, 0, &wr_cnt, 8, &rlen), -EINVAL);
	/* more entries than we take in one message */
	put_count(big, 1025);
	for (unsigned i = 0; i < 1025; i++)
		put_entry(big, i, 2, 0x10, 4, i);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, big, sizeof(big), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	/* an entry of 0 or 9 bytes */
	put_entry(p, 1, 2, 0x14, 9, 8);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	put_entry(p, 1, 2, 0x14, 0, 8);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	/* none of the above touched the device */
	assert_int_equal(atomic_load(&seen.log_len), 0);

	/* an entry beyond the BAR: the ones before it were applied */
	put_entry(p, 1, 2, 0xfe, 4, 8);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);
	assert_int_equal(atomic_load(&seen.log_len), 1);
	assert_int_equal(seen.log_value[0], 7);
	/* a region that does not exist */
	put_entry(p, 1, 3, 0, 4, 8);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, p, sizeof(p), NULL, 0, &wr_cnt, 8, &rlen),
			 -EINVAL);

	/* 1024 entries are fine, and the connection is still good */
	put_count(big, 1024);
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, big, 8 + 1024 * 24, NULL, 0, &wr_cnt, 8, &rlen),
			 0);
	assert_int_equal(wr_cnt, 1024);

	uvf_client_close(c);
	harness_stop(&h);
}

static void write_multi_fits_a_server_with_a_small_transfer_size(void **state)
{
	(void)state;
	struct harness h;
	seen_reset();
	harness_prepare(&h);
	struct uvf_device *dev = new_device();
	add_reg_bar(dev, 2, 0, 256);
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	opts.max_data_xfer_size = 512;
	harness_start(&h, dev, &opts);
	struct uvf_client *c = harness_connect(&h);
	static uint8_t big[8 + 1024 * 24];
	put_count(big, 1024);
	for (unsigned i = 0; i < 1024; i++)
		put_entry(big, i, 2, 0x10, 4, i);
	uint64_t wr_cnt = 0;
	size_t rlen;
	assert_int_equal(uvf_client_call(c, UVF_CMD_REGION_WRITE_MULTI, big, sizeof(big), NULL, 0, &wr_cnt, 8, &rlen),
			 0);
	assert_int_equal(wr_cnt, 1024);
	uvf_client_close(c);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mappable_bar_is_shared_memory_between_client_and_device),
		cmocka_unit_test(mappable_bar_can_be_the_devices_own_file),
		cmocka_unit_test(mappable_areas_leave_out_the_msix_pages),
		cmocka_unit_test(a_bar_made_only_of_msix_pages_is_not_mappable),
		cmocka_unit_test(region_info_carries_the_fd_only_when_the_reply_fits),
		cmocka_unit_test(a_client_taking_no_fds_gets_no_mmap),
		cmocka_unit_test(mappable_bar_descriptions_are_validated),
		cmocka_unit_test(custom_mmap_areas_are_validated),
		cmocka_unit_test(custom_mmap_areas_are_offered),
		cmocka_unit_test(ioeventfd_descriptions_are_validated),
		cmocka_unit_test(io_fds_lists_the_ioeventfds_of_a_region),
		cmocka_unit_test(io_fds_sends_no_more_fds_than_the_client_takes),
		cmocka_unit_test(matching_region_write_signals_instead_of_storing),
		cmocka_unit_test(ioeventfd_can_use_the_devices_own_eventfd),
		cmocka_unit_test(write_multi_is_advertised_and_applied_in_order),
		cmocka_unit_test(malformed_write_multi_is_refused),
		cmocka_unit_test(write_multi_fits_a_server_with_a_small_transfer_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
