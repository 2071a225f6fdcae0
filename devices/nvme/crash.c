/* SPDX-License-Identifier: MIT */
/*
 * The crash record (--state-file): a small file, mapped shared, in which
 * the controller notes whether the host has it enabled. A process killed
 * with SIGKILL leaves the last note in the page cache; the next process
 * started with the same file reads it and, when the controller it
 * replaces was enabled, comes up with Controller Fatal Status (CSTS.CFS
 * and RDY set). A host driver whose commands time out then finds CFS and
 * resets the controller (Linux: nvme_timeout() -> nvme_should_reset()),
 * queueing its commands again, instead of failing them.
 *
 * Layout: 8 bytes of magic, u32 layout version, u32 enabled (0 or 1),
 * native byte order. A file of another size or magic is refused.
 *
 * During a planned upgrade the old and the new process both have the
 * file. Only enabling and resetting the controller change the note, and
 * those are host register writes, which reach one process at a time: the
 * old one until the switch, the new one after. The state the new one
 * loads says enabled exactly when the note does, as both come from the
 * old controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_int.h"

#define CRASH_MAGIC   "uvfnvmcr"
#define CRASH_VERSION 1u

struct nvme_crash_record {
	char magic[8];
	uint32_t version;
	uint32_t enabled;
};

_Static_assert(sizeof(struct nvme_crash_record) == 16, "crash record layout");

int nvme_crash_open(struct nvme_ctrl *c, const char *path, bool *was_enabled)
{
	struct nvme_crash_record *rec;
	struct stat st;
	int fd, ret;

	*was_enabled = false;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || (st.st_size != 0 && st.st_size != (off_t)sizeof(*rec))) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0 && ftruncate(fd, sizeof(*rec)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	rec = mmap(NULL, sizeof(*rec), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ret = rec == MAP_FAILED ? -errno : 0;
	close(fd); /* the mapping keeps the file */
	if (ret < 0)
		return ret;
	if (st.st_size == 0) {
		memcpy(rec->magic, CRASH_MAGIC, 8);
		rec->version = CRASH_VERSION;
		__atomic_store_n(&rec->enabled, 0, __ATOMIC_RELEASE);
	} else if (memcmp(rec->magic, CRASH_MAGIC, 8) || rec->version != CRASH_VERSION ||
		   __atomic_load_n(&rec->enabled, __ATOMIC_ACQUIRE) > 1) {
		munmap(rec, sizeof(*rec));
		return -EINVAL;
	}
	*was_enabled = __atomic_load_n(&rec->enabled, __ATOMIC_ACQUIRE) == 1;
	c->crash = rec;
	return 0;
}

void nvme_crash_close(struct nvme_ctrl *c)
{
	if (c->crash) {
		munmap(c->crash, sizeof(struct nvme_crash_record));
		c->crash = NULL;
	}
}

/* Every lock held, or before the device serves. */
void nvme_crash_note(struct nvme_ctrl *c)
{
	struct nvme_crash_record *rec = c->crash;

	if (rec)
		__atomic_store_n(&rec->enabled, c->enabled ? 1u : 0u, __ATOMIC_RELEASE);
}
