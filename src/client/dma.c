/* SPDX-License-Identifier: MIT */
/*
 * DMA memory: the table of ranges announced with DMA_MAP, and serving the
 * server's DMA_READ/DMA_WRITE requests from it.
 *
 * The table is sorted by iova and never holds overlapping ranges, so one
 * binary search finds the only range that can contain an address. Ranges
 * allocated by uvf_client_dma_alloc are memfd-backed: the server gets the
 * fd and may map it, and we keep only our mapping (the memfd stays alive
 * through it). Ranges from uvf_client_dma_register are caller memory that
 * the server reaches by messages only.
 *
 * Threads: the table is read under dma_lock for reading while a server
 * request is served (the copy and the reply included), and changed under
 * it for writing. No thread holds it while waiting for a reply: a range is
 * reserved (pending) before its DMA_MAP goes out, and marked (unmapping)
 * before its DMA_UNMAP, so that concurrent registrations see it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/client_internal.h"

/* ------------------------------------------------------------------ */
/* The table                                                            */
/* ------------------------------------------------------------------ */

/* Index of the first range whose iova is above iova (0..ndma). */
static size_t upper_bound(const struct uvf_client *client, uint64_t iova)
{
	size_t lo = 0, hi = client->ndma;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (client->dma[mid].iova <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range holding all of [address, address + count), or NULL. count > 0
 * and the sum does not wrap (checked by the decoders). */
static struct uvf_client_dma_range *find_range(struct uvf_client *client, uint64_t address, uint64_t count)
{
	size_t pos = upper_bound(client, address);
	struct uvf_client_dma_range *range;

	if (pos == 0)
		return NULL;
	range = &client->dma[pos - 1];
	if (address - range->iova >= range->size || count > range->size - (address - range->iova))
		return NULL;
	return range;
}

static void release_range(struct uvf_client *client, struct uvf_client_dma_range *range)
{
	if (range->allocated)
		munmap(range->ptr, range->size);
	else
		__atomic_fetch_sub(&client->msg_dma_ranges, 1, __ATOMIC_RELAXED);
}

void uvf__client_dma_forget_all(struct uvf_client *client)
{
	pthread_rwlock_wrlock(&client->dma_lock);
	for (size_t i = 0; i < client->ndma; i++)
		release_range(client, &client->dma[i]);
	client->ndma = 0;
	pthread_rwlock_unlock(&client->dma_lock);
}

/* Index of the range starting exactly at iova, or ndma. */
static size_t find_exact(const struct uvf_client *client, uint64_t iova)
{
	size_t pos = upper_bound(client, iova);

	if (pos == 0 || client->dma[pos - 1].iova != iova)
		return client->ndma;
	return pos - 1;
}

static void remove_at(struct uvf_client *client, size_t pos)
{
	release_range(client, &client->dma[pos]);
	memmove(&client->dma[pos], &client->dma[pos + 1], (client->ndma - pos - 1) * sizeof(client->dma[0]));
	client->ndma--;
}

/* Validate a new range against the server's limits and our table, and
 * reserve it (pending) so that no other thread registers over it while
 * its DMA_MAP is on the way. Called with dma_lock held for writing. */
static int reserve_range(struct uvf_client *client, uint64_t iova, uint64_t size, uint32_t prot, void *ptr,
			 bool allocated)
{
	size_t pos;

	if (size == 0 || iova + size < iova) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA range 0x%llx + 0x%llx is empty or wraps",
			   (unsigned long long)iova, (unsigned long long)size);
		return -EINVAL;
	}
	if (prot == 0 || (prot & ~(UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE))) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA prot 0x%x: must be READ and/or WRITE", (unsigned)prot);
		return -EINVAL;
	}
	if (iova % client->min_pgsize || size % client->min_pgsize) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "DMA range 0x%llx + 0x%llx not aligned to the server page size 0x%llx",
			   (unsigned long long)iova, (unsigned long long)size, (unsigned long long)client->min_pgsize);
		return -EINVAL;
	}
	if (client->ndma >= client->caps.max_dma_maps) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA: the server takes at most %u mappings",
			   (unsigned)client->caps.max_dma_maps);
		return -ENOSPC;
	}
	pos = upper_bound(client, iova);
	if ((pos > 0 && client->dma[pos - 1].iova + client->dma[pos - 1].size > iova) ||
	    (pos < client->ndma && iova + size > client->dma[pos].iova)) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA range 0x%llx + 0x%llx overlaps a registered range",
			   (unsigned long long)iova, (unsigned long long)size);
		return -EEXIST;
	}
	if (client->ndma == client->dma_cap) {
		size_t cap = client->dma_cap ? client->dma_cap * 2 : 8;
		struct uvf_client_dma_range *grown = realloc(client->dma, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		client->dma = grown;
		client->dma_cap = cap;
	}
	memmove(&client->dma[pos + 1], &client->dma[pos], (client->ndma - pos) * sizeof(client->dma[0]));
	client->dma[pos] = (struct uvf_client_dma_range){
		.iova = iova,
		.size = size,
		.prot = prot,
		.ptr = ptr,
		.allocated = allocated,
		.pending = true,
	};
	client->ndma++;
	if (!allocated)
		__atomic_fetch_add(&client->msg_dma_ranges, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Reserve [iova, iova + size), DMA_MAP it with fd (or -1), and keep it or
 * drop it depending on the answer. A failed allocated range is unmapped. */
static int map_range(struct uvf_client *client, uint64_t iova, uint64_t size, uint32_t prot, void *ptr, int fd,
		     uint64_t offset)
{
	struct uvf_msg_dma_map map = {
		.argsz = sizeof(map),
		.flags = prot,
		.offset = offset,
		.address = iova,
		.size = size,
	};
	size_t pos;
	int rc;

	pthread_rwlock_wrlock(&client->dma_lock);
	rc = reserve_range(client, iova, size, prot, ptr, fd >= 0);
	pthread_rwlock_unlock(&client->dma_lock);
	if (rc) {
		if (fd >= 0)
			munmap(ptr, size);
		return rc;
	}
	rc = uvf__client_simple(client, UVF_CMD_DMA_MAP, &map, sizeof(map), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, 0);
	if (rc)
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA_MAP 0x%llx + 0x%llx failed: %s", (unsigned long long)iova,
			   (unsigned long long)size, uvf_strerror(rc));
	pthread_rwlock_wrlock(&client->dma_lock);
	pos = find_exact(client, iova);
	/* Only uvf_client_close() removes a pending range; it is still here. */
	if (pos < client->ndma) {
		if (rc)
			remove_at(client, pos);
		else
			client->dma[pos].pending = false;
	}
	pthread_rwlock_unlock(&client->dma_lock);
	return rc;
}

UVF_API int uvf_client_dma_alloc(struct uvf_client *client, uint64_t iova, size_t size, uint32_t prot, void **out_ptr)
{
	void *ptr;
	int fd, rc;

	if (out_ptr == NULL)
		return -EINVAL;
	*out_ptr = NULL;
	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (size == 0 || size % 4096 || size > (uint64_t)INT64_MAX) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA alloc of %zu bytes: must be a non-zero multiple of 4096",
			   size);
		return -EINVAL;
	}
	if (client->caps.max_msg_fds == 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA alloc: the server accepts no fds, register memory instead");
		return -ENOTSUP;
	}
	/* Refuse a bad range before creating anything. */
	pthread_rwlock_wrlock(&client->dma_lock);
	rc = reserve_range(client, iova, size, prot, NULL, false);
	if (rc == 0)
		remove_at(client, find_exact(client, iova));
	pthread_rwlock_unlock(&client->dma_lock);
	if (rc)
		return rc;

	fd = memfd_create("uvf-dma", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ptr == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = map_range(client, iova, size, prot, ptr, fd, 0);
	/* The server has its own copy of the fd and our mapping keeps the
	 * memory alive: holding the fd would only use up descriptors. On a
	 * failure map_range unmapped the memory. */
	close(fd);
	if (rc)
		return rc;
	*out_ptr = ptr;
	return 0;
}

UVF_API int uvf_client_dma_map_fd(struct uvf_client *client, uint64_t iova, size_t size, uint32_t prot, int fd,
				  uint64_t offset)
{
	void *ptr;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (fd < 0 || size == 0 || size % 4096 || size > (uint64_t)INT64_MAX || offset % 4096 ||
	    offset > (uint64_t)INT64_MAX - size) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "DMA map of fd %d: %zu bytes at offset 0x%llx: both must be multiples of 4096, size not 0",
			   fd, size, (unsigned long long)offset);
		return -EINVAL;
	}
	if (client->caps.max_msg_fds == 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA map of an fd: the server accepts no fds");
		return -ENOTSUP;
	}
	/* Refuse a bad range before mapping anything. */
	pthread_rwlock_wrlock(&client->dma_lock);
	rc = reserve_range(client, iova, size, prot, NULL, false);
	if (rc == 0)
		remove_at(client, find_exact(client, iova));
	pthread_rwlock_unlock(&client->dma_lock);
	if (rc)
		return rc;
	/* Our own view of the memory, to serve DMA_READ/DMA_WRITE messages
	 * like for allocated memory; only as writable as the server may. */
	ptr = mmap(NULL, size, PROT_READ | (prot & UVF_DMA_MAP_FLAG_WRITE ? PROT_WRITE : 0), MAP_SHARED, fd,
		   (off_t)offset);
	if (ptr == MAP_FAILED) {
		rc = -errno;
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA map: mmap of fd %d failed: %s", fd, uvf_strerror(rc));
		return rc;
	}
	/* map_range unmaps ptr on a failure; fd stays the caller's. */
	return map_range(client, iova, size, prot, ptr, fd, offset);
}

UVF_API int uvf_client_dma_register(struct uvf_client *client, uint64_t iova, void *ptr, size_t size, uint32_t prot)
{
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (ptr == NULL)
		return -EINVAL;
	return map_range(client, iova, size, prot, ptr, -1, 0);
}

UVF_API int uvf_client_dma_unregister(struct uvf_client *client, uint64_t iova, size_t size)
{
	struct uvf_msg_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = 0,
		.address = iova,
		.size = size,
	};
	size_t pos;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&client->dma_lock);
	pos = find_exact(client, iova);
	if (pos == client->ndma || client->dma[pos].size != size || client->dma[pos].pending ||
	    client->dma[pos].unmapping) {
		pthread_rwlock_unlock(&client->dma_lock);
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA unregister 0x%llx + 0x%zx: no such registration",
			   (unsigned long long)iova, size);
		return -ENOENT;
	}
	/* Still served until the server confirms. */
	client->dma[pos].unmapping = true;
	pthread_rwlock_unlock(&client->dma_lock);

	rc = uvf__client_simple(client, UVF_CMD_DMA_UNMAP, &unmap, sizeof(unmap), NULL, 0, sizeof(unmap));
	if (rc)
		/* Keep the range: the server may still be using it. */
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA_UNMAP 0x%llx + 0x%zx failed: %s", (unsigned long long)iova,
			   size, uvf_strerror(rc));
	pthread_rwlock_wrlock(&client->dma_lock);
	pos = find_exact(client, iova);
	/* unregister_all may have forgotten it meanwhile. */
	if (pos < client->ndma && client->dma[pos].unmapping) {
		if (rc)
			client->dma[pos].unmapping = false;
		else
			remove_at(client, pos);
	}
	pthread_rwlock_unlock(&client->dma_lock);
	return rc;
}

/* The last registration that is neither pending nor being unmapped. */
static bool last_settled(struct uvf_client *client, uint64_t *iova, uint64_t *size)
{
	bool found = false;

	pthread_rwlock_rdlock(&client->dma_lock);
	for (size_t i = client->ndma; i-- > 0;) {
		if (!client->dma[i].pending && !client->dma[i].unmapping) {
			*iova = client->dma[i].iova;
			*size = client->dma[i].size;
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&client->dma_lock);
	return found;
}

UVF_API int uvf_client_dma_unregister_all(struct uvf_client *client)
{
	struct uvf_msg_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = UVF_DMA_UNMAP_FLAG_ALL,
		.address = 0,
		.size = 0,
	};
	uint64_t iova, size;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	rc = uvf__client_simple(client, UVF_CMD_DMA_UNMAP, &unmap, sizeof(unmap), NULL, 0, sizeof(unmap));
	if (rc == -EINVAL) {
		/* The "all" flag is not in the base specification: a server
		 * may refuse it. Unmap one range at a time instead. */
		CLIENT_LOG(client, UVF_LOG_INFO, "DMA_UNMAP all refused, unmapping the ranges one by one");
		while (last_settled(client, &iova, &size)) {
			rc = uvf_client_dma_unregister(client, iova, (size_t)size);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "DMA_UNMAP all failed: %s", uvf_strerror(rc));
		return rc;
	}
	/* Ranges whose DMA_MAP is still on the way are the registering
	 * thread's business: they stay. */
	pthread_rwlock_wrlock(&client->dma_lock);
	for (size_t i = client->ndma; i-- > 0;)
		if (!client->dma[i].pending)
			remove_at(client, i);
	pthread_rwlock_unlock(&client->dma_lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Serving the server's requests                                        */
/* ------------------------------------------------------------------ */

/* The range the server may access for [address, +count) with permission
 * need, or a negative errno: EFAULT outside registered memory, EPERM
 * without the permission. */
static int lookup_for_server(struct uvf_client *client, const char *what, uint64_t address, uint64_t count,
			     uint32_t need, struct uvf_client_dma_range **out)
{
	struct uvf_client_dma_range *range = find_range(client, address, count);

	if (range == NULL) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "server %s 0x%llx + 0x%llx outside registered DMA memory", what,
			   (unsigned long long)address, (unsigned long long)count);
		return -EFAULT;
	}
	if (!(range->prot & need)) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "server %s 0x%llx + 0x%llx: range registered without %s permission",
			   what, (unsigned long long)address, (unsigned long long)count,
			   need == UVF_DMA_MAP_FLAG_READ ? "READ" : "WRITE");
		return -EPERM;
	}
	*out = range;
	return 0;
}

/* Called with dma_lock held for reading, which keeps the memory mapped
 * until the answer is sent. */
static int serve_dma_read(struct uvf_client *client, const struct uvf_client_msg *msg)
{
	struct uvf_dma_access_view view;
	struct uvf_client_dma_range *range;
	struct uvf_msg_header hdr;
	struct uvf_why why = {{0}};
	struct iovec iov[3];
	int rc;

	rc = uvf__decode_dma_read_req(msg->body, msg->len, msg->nfds, client->our_max_xfer, &view, &why);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "refused server request: %s", why.text);
		return rc;
	}
	rc = lookup_for_server(client, "DMA_READ", view.access.address, view.access.count, UVF_DMA_MAP_FLAG_READ,
			       &range);
	if (rc)
		return rc;
	if (msg->hdr->flags & UVF_MSG_FLAG_NO_REPLY)
		return 0; /* pointless, but the server asked for no reply */
	uvf__msg_header_init(&hdr, msg->hdr->msg_id, msg->hdr->command,
			     (uint32_t)(UVF_MSG_HEADER_SIZE + sizeof(view.access) + view.access.count),
			     UVF_MSG_TYPE_REPLY, 0);
	iov[0] = (struct iovec){.iov_base = &hdr, .iov_len = sizeof(hdr)};
	iov[1] = (struct iovec){.iov_base = &view.access, .iov_len = sizeof(view.access)};
	iov[2] = (struct iovec){.iov_base = range->ptr + (view.access.address - range->iova),
				.iov_len = (size_t)view.access.count};
	return uvf__client_answer(client, msg->on_twin, iov, 3);
}

static int serve_dma_write(struct uvf_client *client, const struct uvf_client_msg *msg)
{
	struct uvf_dma_access_view view;
	struct uvf_client_dma_range *range;
	struct uvf_msg_header hdr;
	struct uvf_why why = {{0}};
	struct iovec iov[2];
	int rc;

	rc = uvf__decode_dma_write_req(msg->body, msg->len, msg->nfds, client->our_max_xfer, &view, &why);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "refused server request: %s", why.text);
		return rc;
	}
	rc = lookup_for_server(client, "DMA_WRITE", view.access.address, view.access.count, UVF_DMA_MAP_FLAG_WRITE,
			       &range);
	if (rc)
		return rc;
	memcpy(range->ptr + (view.access.address - range->iova), view.data, (size_t)view.access.count);
	/* A posted write: the success reply is suppressed (errors are still
	 * reported, as other clients do). */
	if (msg->hdr->flags & UVF_MSG_FLAG_NO_REPLY)
		return 0;
	uvf__msg_header_init(&hdr, msg->hdr->msg_id, msg->hdr->command, UVF_MSG_HEADER_SIZE + sizeof(view.access),
			     UVF_MSG_TYPE_REPLY, 0);
	iov[0] = (struct iovec){.iov_base = &hdr, .iov_len = sizeof(hdr)};
	iov[1] = (struct iovec){.iov_base = &view.access, .iov_len = sizeof(view.access)};
	return uvf__client_answer(client, msg->on_twin, iov, 2);
}

int uvf__client_serve_command(struct uvf_client *client, const struct uvf_client_msg *msg)
{
	const struct uvf_msg_header *req = msg->hdr;
	struct uvf_msg_header err_hdr;
	struct iovec iov;
	int rc, broken;

	if (msg->fds_overflow) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "server %s id %u carried too many fds", uvf__cmd_name(req->command),
			   (unsigned)req->msg_id);
		rc = -EINVAL;
	} else if (req->command == UVF_CMD_DMA_READ || req->command == UVF_CMD_DMA_WRITE) {
		pthread_rwlock_rdlock(&client->dma_lock);
		rc = req->command == UVF_CMD_DMA_READ ? serve_dma_read(client, msg) : serve_dma_write(client, msg);
		pthread_rwlock_unlock(&client->dma_lock);
	} else {
		CLIENT_LOG(client, UVF_LOG_WARNING, "server sent %s id %u, which a client does not serve",
			   uvf__cmd_name(req->command), (unsigned)req->msg_id);
		rc = -ENOSYS;
	}
	broken = __atomic_load_n(&client->broken, __ATOMIC_ACQUIRE);
	if (broken)
		return broken;
	if (rc == 0)
		return 0;
	/* Error replies go out even for NO_REPLY commands: a server that
	 * posted a write must still learn that it failed. */
	uvf__msg_error_reply(&err_hdr, req, -rc);
	iov.iov_base = &err_hdr;
	iov.iov_len = sizeof(err_hdr);
	rc = uvf__client_answer(client, msg->on_twin, &iov, 1);
	return rc < 0 ? rc : 0;
}
