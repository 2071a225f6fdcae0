/* SPDX-License-Identifier: MIT */
/* The namespace's store: a file, a block device, or anonymous RAM. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nvme_int.h"

int nvme_backing_open(struct nvme_backing *b, const char *path, uint64_t size)
{
	struct stat st;

	b->fd = -1;
	b->mem = NULL;
	b->size = 0;
	if (!path) {
		if (size < NVME_LBA || size > ((uint64_t)1 << 40))
			return -EINVAL;
		size -= size % NVME_LBA;
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		b->mem = p;
		b->size = size;
		return 0;
	}
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			goto fail;
		b->size = bytes;
	} else if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size;
	} else {
		close(fd);
		return -EINVAL;
	}
	b->size -= b->size % NVME_LBA;
	if (b->size == 0) {
		close(fd);
		return -EINVAL;
	}
	b->fd = fd;
	return 0;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

void nvme_backing_close(struct nvme_backing *b)
{
	if (b->fd >= 0) {
		fsync(b->fd);
		close(b->fd);
	}
	if (b->mem)
		munmap(b->mem, b->size);
	b->fd = -1;
	b->mem = NULL;
}

static bool in_range(const struct nvme_backing *b, uint64_t off, uint64_t len)
{
	return off <= b->size && len <= b->size - off;
}

int nvme_backing_read(struct nvme_backing *b, uint64_t off, void *buf, size_t len)
{
	if (!in_range(b, off, len))
		return -EINVAL;
	if (b->mem) {
		memcpy(buf, b->mem + off, len);
		return 0;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(b->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) { /* a file that shrank reads as zeros */
			memset((uint8_t *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

int nvme_backing_write(struct nvme_backing *b, uint64_t off, const void *buf, size_t len)
{
	if (!in_range(b, off, len))
		return -EINVAL;
	if (b->mem) {
		memcpy(b->mem + off, buf, len);
		return 0;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(b->fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int nvme_backing_zero(struct nvme_backing *b, uint64_t off, uint64_t len, bool deallocate)
{
	static const uint8_t zeros[65536];

	if (!in_range(b, off, len))
		return -EINVAL;
	if (b->mem) {
		memset(b->mem + off, 0, len);
		return 0;
	}
	/* punching a hole reads back as zeros; fall back to writing zeros */
	if (deallocate && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		int ret = nvme_backing_write(b, off, zeros, n);
		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

int nvme_backing_flush(struct nvme_backing *b)
{
	if (b->fd >= 0 && fsync(b->fd) < 0)
		return -errno;
	return 0;
}

int nvme_backing_iov(struct nvme_backing *b, bool write, uint64_t off, const struct iovec *iov, int n)
{
	if (!b->mem)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (!in_range(b, off, iov[i].iov_len))
			return -EINVAL;
		if (write)
			memcpy(b->mem + off, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, b->mem + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}
