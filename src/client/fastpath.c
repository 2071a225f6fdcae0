/* SPDX-License-Identifier: MIT */
/*
 * Fast region access: mapped BAR areas, ioeventfds, posted and corked
 * writes (the "Fast region access" section of uvf/client.h).
 *
 * State lives in struct uvf_client_fast, hanging off client->fast, created
 * on first use and published with an atomic compare-and-swap so that two
 * threads racing to create it agree on one.
 *
 * Locks:
 * - fast->regions_lock (a rwlock) guards the table of set-up regions.
 *   Accesses hold it for reading while they touch a mapping or an
 *   ioeventfd, so uvf_client_region_unmap() (writer) never pulls memory or
 *   an fd from under them.
 * - the engine's send lock guards the cork flag and the queue of corked
 *   writes: the engine flushes the queue with that lock held before every
 *   answered request (uvf__client_fast_flush_locked), so a queued write can
 *   never be overtaken by a later request.
 *
 * Ordering: the server handles messages in arrival order (docs/protocol.md 1.9),
 * so an answered request completes every earlier posted write. Mapped
 * memory and ioeventfds bypass the socket, so before touching them we fence
 * with one round trip when posted writes were sent since the last fence
 * (posted_seq and fenced_seq count them).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_internal.h"

/* Corked writes queued before the queue is sent on its own. */
#define QUEUE_MAX 1024u

/* Entries per REGION_WRITE_MULTI message (QEMU's choice, well below the
 * 1024 our server accepts); fewer when the server's max_data_xfer_size is
 * smaller. */
#define MULTI_MAX_ENTRIES 200u

/* A posted REGION_WRITE of at most 8 data bytes, as queued in the fallback
 * (no write_multiple): header, access header, data. */
#define SMALL_WRITE_MAX_BYTES (UVF_MSG_HEADER_SIZE + sizeof(struct uvf_msg_region_access) + UVF_WRITE_MULTI_MAX_DATA)

/* DEVICE_GET_REGION_IO_FDS: first argsz (room for 32 entries of the larger
 * layout) and the most we accept. */
#define IO_FDS_FIRST_ARGSZ (sizeof(struct uvf_msg_region_io_fds) + 32u * 48u)
#define IO_FDS_MAX_ARGSZ   UVF_CLIENT_REGION_INFO_MAX_ARGSZ
#define IO_FDS_TRIES	   3

/* PCI config space: first BAR register; bit 0 set = I/O space. */
#define PCI_BAR0_OFFSET 0x10u
#define PCI_BAR_IO	0x1u

struct fast_area {
	uint64_t offset; /* in the region */
	uint64_t size;
	uint8_t *ptr; /* mapping of exactly [offset, offset + size) */
};

/* One region set up by uvf_client_region_map(). */
struct fast_region {
	uint32_t index;
	uint32_t flags; /* UVF_REGION_FLAG_* */
	uint64_t size;
	bool memory_bar; /* a memory BAR: writes may be posted */
	unsigned nareas;
	struct fast_area areas[UVF_CLIENT_MAX_SPARSE_AREAS];
	struct uvf_client_ioeventfd *ioeventfds;
	size_t nioeventfds;
	int *fds; /* distinct ioeventfds, owned here */
	size_t nfds;
};

struct uvf_client_fast {
	pthread_rwlock_t regions_lock;
	struct fast_region **regions; /* by region index, NULL = not set up */
	uint32_t nregions;

	/* posted writes sent or queued, and the count covered by the last fence */
	uint64_t posted_seq; /* atomic */
	uint64_t fenced_seq; /* atomic */

	/* under the engine's send lock */
	bool corked;
	struct uvf_msg_write_multi_entry *queue;
	size_t nqueue;
	uint8_t *send_buf; /* messages built from the queue */
	size_t send_buf_size;
};

/* ------------------------------------------------------------------ */
/* State                                                                */
/* ------------------------------------------------------------------ */

static struct uvf_client_fast *fast_get(const struct uvf_client *client)
{
	return __atomic_load_n(&client->fast, __ATOMIC_ACQUIRE);
}

static void fast_destroy(struct uvf_client_fast *fast)
{
	pthread_rwlock_destroy(&fast->regions_lock);
	free(fast->queue);
	free(fast->send_buf);
	free(fast->regions);
	free(fast);
}

/* The fast state, created on first use (NULL only when out of memory). */
static struct uvf_client_fast *fast_ensure(struct uvf_client *client)
{
	struct uvf_client_fast *fast = fast_get(client);
	struct uvf_client_fast *expected = NULL;

	if (fast)
		return fast;
	fast = calloc(1, sizeof(*fast));
	if (fast == NULL)
		return NULL;
	/* The send buffer fits the whole queue in the larger of the two
	 * encodings: separate REGION_WRITEs. */
	fast->send_buf_size = QUEUE_MAX * SMALL_WRITE_MAX_BYTES;
	fast->queue = calloc(QUEUE_MAX, sizeof(*fast->queue));
	fast->send_buf = malloc(fast->send_buf_size);
	if (fast->queue == NULL || fast->send_buf == NULL || pthread_rwlock_init(&fast->regions_lock, NULL)) {
		free(fast->queue);
		free(fast->send_buf);
		free(fast);
		return NULL;
	}
	if (!__atomic_compare_exchange_n(&client->fast, &expected, fast, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* Another thread was quicker: use its state. */
		fast_destroy(fast);
		return expected;
	}
	return fast;
}

static void region_free(struct fast_region *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->nareas; i++)
		munmap(r->areas[i].ptr, r->areas[i].size);
	for (size_t i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	free(r->fds);
	free(r->ioeventfds);
	free(r);
}

/* The set-up region `index`, with regions_lock held. */
static struct fast_region *region_find(struct uvf_client_fast *fast, uint32_t index)
{
	return index < fast->nregions ? fast->regions[index] : NULL;
}

void uvf__client_fast_free(struct uvf_client *client)
{
	struct uvf_client_fast *fast = fast_get(client);

	if (fast == NULL)
		return;
	for (uint32_t i = 0; i < fast->nregions; i++)
		region_free(fast->regions[i]);
	fast_destroy(fast);
	client->fast = NULL;
}

/* The area of r holding all of [offset, offset + len), or NULL. */
static const struct fast_area *area_find(const struct fast_region *r, uint64_t offset, size_t len)
{
	for (unsigned i = 0; i < r->nareas; i++) {
		const struct fast_area *a = &r->areas[i];

		if (offset >= a->offset && offset - a->offset <= a->size && len <= a->size - (offset - a->offset))
			return a;
	}
	return NULL;
}

/* Whether the user turned posted writes off (uvf_client_opts.no_posted_writes). */
static bool posted_writes_allowed(const struct uvf_client *client)
{
	return !client->posted_writes_off;
}

/* Whether index is beyond the device's regions, as far as we know (the
 * server checks again). */
static bool region_index_bad(struct uvf_client *client, uint32_t index, uint32_t *num_regions)
{
	struct uvf_msg_device_info info;

	if (!uvf__client_cached_device_info(client, &info))
		return false;
	if (num_regions)
		*num_regions = info.num_regions;
	return index >= info.num_regions;
}

/* ------------------------------------------------------------------ */
/* Posted writes and the cork queue                                     */
/* ------------------------------------------------------------------ */

/* Entries per WRITE_MULTI message so that its payload stays within the
 * server's max_data_xfer_size. */
static size_t multi_entries_per_message(const struct uvf_client *client)
{
	size_t fit = (client->caps.max_data_xfer_size - sizeof(struct uvf_msg_write_multi)) /
		     sizeof(struct uvf_msg_write_multi_entry);

	if (fit > MULTI_MAX_ENTRIES)
		fit = MULTI_MAX_ENTRIES;
	return fit ? fit : 1;
}

/* Encode the queue as REGION_WRITE_MULTI messages into the send buffer;
 * returns the byte count. */
static size_t encode_multi(struct uvf_client *client, struct uvf_client_fast *fast)
{
	size_t per_msg = multi_entries_per_message(client);
	uint8_t *p = fast->send_buf;

	for (size_t done = 0; done < fast->nqueue;) {
		size_t n = fast->nqueue - done < per_msg ? fast->nqueue - done : per_msg;
		struct uvf_msg_write_multi head = {.wr_cnt = n};
		size_t payload = sizeof(head) + n * sizeof(struct uvf_msg_write_multi_entry);
		struct uvf_msg_header hdr;

		uvf__msg_header_init(&hdr, uvf__client_next_id(client), UVF_CMD_REGION_WRITE_MULTI,
				     (uint32_t)(UVF_MSG_HEADER_SIZE + payload),
				     UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0);
		memcpy(p, &hdr, sizeof(hdr));
		memcpy(p + sizeof(hdr), &head, sizeof(head));
		memcpy(p + sizeof(hdr) + sizeof(head), &fast->queue[done],
		       n * sizeof(struct uvf_msg_write_multi_entry));
		p += sizeof(hdr) + payload;
		done += n;
	}
	return (size_t)(p - fast->send_buf);
}

/* Encode the queue as separate posted REGION_WRITEs (server without
 * write_multiple); returns the byte count. */
static size_t encode_separate(struct uvf_client *client, struct uvf_client_fast *fast)
{
	uint8_t *p = fast->send_buf;

	for (size_t i = 0; i < fast->nqueue; i++) {
		const struct uvf_msg_write_multi_entry *e = &fast->queue[i];
		struct uvf_msg_region_access access = {.offset = e->offset, .region = e->region, .count = e->count};
		struct uvf_msg_header hdr;

		uvf__msg_header_init(&hdr, uvf__client_next_id(client), UVF_CMD_REGION_WRITE,
				     (uint32_t)(UVF_MSG_HEADER_SIZE + sizeof(access) + e->count),
				     UVF_MSG_TYPE_COMMAND | UVF_MSG_FLAG_NO_REPLY, 0);
		memcpy(p, &hdr, sizeof(hdr));
		memcpy(p + sizeof(hdr), &access, sizeof(access));
		memcpy(p + sizeof(hdr) + sizeof(access), e->data, e->count);
		p += sizeof(hdr) + sizeof(access) + e->count;
	}
	return (size_t)(p - fast->send_buf);
}

int uvf__client_fast_flush_locked(struct uvf_client *client)
{
	struct uvf_client_fast *fast = fast_get(client);
	struct iovec iov;
	size_t len;

	if (fast == NULL || fast->nqueue == 0)
		return 0;
	/* The protocol is a byte stream: all the queued messages go out
	 * back to back in one send (one system call when the socket has
	 * room). */
	len = client->caps.write_multiple ? encode_multi(client, fast) : encode_separate(client, fast);
	CLIENT_LOG(client, UVF_LOG_DEBUG, "-> %zu corked write(s) as %s, %zu bytes", fast->nqueue,
		   client->caps.write_multiple ? "REGION_WRITE_MULTI" : "REGION_WRITEs", len);
	/* Whatever happens, the queue is spent: a failed send broke the
	 * connection. */
	fast->nqueue = 0;
	iov.iov_base = fast->send_buf;
	iov.iov_len = len;
	return uvf__client_send_locked(client, &iov, 1, NULL, 0);
}

static int check_posted(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf, size_t len)
{
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	if ((buf == NULL && len > 0) || offset + len < offset) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "posted REGION_WRITE region %u: offset 0x%llx + %zu wraps or no buffer", (unsigned)region,
			   (unsigned long long)offset, len);
		return -EINVAL;
	}
	if (region_index_bad(client, region, NULL)) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "posted REGION_WRITE region %u: no such region", (unsigned)region);
		return -EINVAL;
	}
	return 0;
}

UVF_API int uvf_client_region_write_posted(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
					   size_t len)
{
	struct uvf_client_fast *fast;
	uint32_t chunk;
	size_t done = 0;
	int rc;

	rc = check_posted(client, region, offset, buf, len);
	if (rc || len == 0)
		return rc;
	fast = fast_ensure(client);
	if (fast == NULL)
		return -ENOMEM;

	uvf__client_send_lock(client);
	if (fast->corked && len <= UVF_WRITE_MULTI_MAX_DATA) {
		struct uvf_msg_write_multi_entry *e;

		rc = 0;
		if (fast->nqueue == QUEUE_MAX)
			rc = uvf__client_fast_flush_locked(client);
		if (rc == 0) {
			e = &fast->queue[fast->nqueue++];
			memset(e, 0, sizeof(*e));
			e->offset = offset;
			e->region = region;
			e->count = (uint32_t)len;
			memcpy(e->data, buf, len);
			__atomic_fetch_add(&fast->posted_seq, 1, __ATOMIC_SEQ_CST);
		}
		uvf__client_send_unlock(client);
		return rc;
	}
	/* Sent directly: queued writes go first, to keep the order. */
	rc = uvf__client_fast_flush_locked(client);
	uvf__client_send_unlock(client);
	if (rc)
		return rc;

	chunk = client->caps.max_data_xfer_size;
	while (done < len) {
		uint32_t n = len - done < chunk ? (uint32_t)(len - done) : chunk;
		struct uvf_msg_region_access access = {.offset = offset + done, .region = region, .count = n};
		struct iovec iov[2] = {
			{.iov_base = &access, .iov_len = sizeof(access)},
			{.iov_base = (uint8_t *)buf + done, .iov_len = n},
		};

		rc = uvf__client_post(client, UVF_CMD_REGION_WRITE, iov, 2);
		if (rc)
			return rc;
		done += n;
	}
	__atomic_fetch_add(&fast->posted_seq, 1, __ATOMIC_SEQ_CST);
	return 0;
}

UVF_API int uvf_client_cork(struct uvf_client *client, bool corked)
{
	struct uvf_client_fast *fast;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	fast = fast_ensure(client);
	if (fast == NULL)
		return -ENOMEM;
	uvf__client_send_lock(client);
	fast->corked = corked;
	rc = corked ? 0 : uvf__client_fast_flush_locked(client);
	uvf__client_send_unlock(client);
	return rc;
}

/* Raise fenced_seq to at least seq. */
static void fence_done(struct uvf_client_fast *fast, uint64_t seq)
{
	uint64_t old = __atomic_load_n(&fast->fenced_seq, __ATOMIC_SEQ_CST);

	while (old < seq &&
	       !__atomic_compare_exchange_n(&fast->fenced_seq, &old, seq, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* Send the queue and wait until every posted write counted so far is done. */
static int fence(struct uvf_client *client, struct uvf_client_fast *fast)
{
	struct uvf_msg_device_info req = {.argsz = sizeof(req)};
	uint64_t seq = __atomic_load_n(&fast->posted_seq, __ATOMIC_SEQ_CST);
	int rc;

	if (__atomic_load_n(&fast->fenced_seq, __ATOMIC_SEQ_CST) >= seq)
		return 0;
	uvf__client_send_lock(client);
	rc = uvf__client_fast_flush_locked(client);
	uvf__client_send_unlock(client);
	if (rc)
		return rc;
	/* Any answered request will do; every server answers this one. */
	rc = uvf__client_simple(client, UVF_CMD_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0, sizeof(req));
	if (rc)
		return rc;
	fence_done(fast, seq);
	return 0;
}

UVF_API int uvf_client_flush(struct uvf_client *client)
{
	struct uvf_client_fast *fast;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	fast = fast_get(client);
	/* Without fast state nothing was ever posted. */
	return fast ? fence(client, fast) : 0;
}

/* ------------------------------------------------------------------ */
/* Setting up a region                                                  */
/* ------------------------------------------------------------------ */

/* Map the areas the server lets us map. An area we cannot use is skipped
 * (with a warning): its accesses then go by message, which is always
 * correct. Fails only when mmap itself fails. */
static int map_areas(struct uvf_client *client, const struct uvf_client_region *info, struct fast_region *r)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct uvf_msg_region_sparse_area whole = {.offset = 0, .size = info->size};
	const struct uvf_msg_region_sparse_area *areas = info->sparse_areas;
	uint32_t n = info->nr_sparse_areas;
	int prot = 0;

	if (!(info->flags & UVF_REGION_FLAG_MMAP))
		return 0;
	if (info->fd < 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: MMAP flag without a file descriptor, not mapped",
			   (unsigned)info->index);
		return 0;
	}
	if (info->flags & UVF_REGION_FLAG_READ)
		prot |= PROT_READ;
	if (info->flags & UVF_REGION_FLAG_WRITE)
		prot |= PROT_WRITE;
	if (prot == 0)
		return 0;
	if (n == 0) {
		/* MMAP without a sparse-mmap capability: all of it. */
		areas = &whole;
		n = 1;
	}
	/* A page of a file mapped past its end faults (SIGBUS) when touched. */
	struct stat st;
	uint64_t file_size = fstat(info->fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const struct uvf_msg_region_sparse_area *a = &areas[i];
		struct fast_area *out = &r->areas[r->nareas];
		uint64_t file_offset = info->offset + a->offset;
		void *ptr;

		if (a->size == 0)
			continue;
		if (a->offset > info->size || a->size > info->size - a->offset || file_offset < info->offset ||
		    file_offset > (uint64_t)INT64_MAX - a->size || a->size > SIZE_MAX) {
			CLIENT_LOG(
				client, UVF_LOG_WARNING,
				"region %u: sparse area 0x%llx + 0x%llx outside the region (size 0x%llx), not mapped",
				(unsigned)info->index, (unsigned long long)a->offset, (unsigned long long)a->size,
				(unsigned long long)info->size);
			continue;
		}
		if (file_offset > file_size || a->size > file_size - file_offset) {
			CLIENT_LOG(client, UVF_LOG_WARNING,
				   "region %u: sparse area 0x%llx + 0x%llx (fd offset 0x%llx) past the end of its file "
				   "(0x%llx bytes), not mapped",
				   (unsigned)info->index, (unsigned long long)a->offset, (unsigned long long)a->size,
				   (unsigned long long)file_offset, (unsigned long long)file_size);
			continue;
		}
		if (file_offset % page || a->offset % page || a->size % page) {
			CLIENT_LOG(client, UVF_LOG_WARNING,
				   "region %u: sparse area 0x%llx + 0x%llx (fd offset 0x%llx) unaligned, skipped",
				   (unsigned)info->index, (unsigned long long)a->offset, (unsigned long long)a->size,
				   (unsigned long long)file_offset);
			continue;
		}
		ptr = mmap(NULL, (size_t)a->size, prot, MAP_SHARED, info->fd, (off_t)file_offset);
		if (ptr == MAP_FAILED) {
			int err = -errno;

			CLIENT_LOG(client, UVF_LOG_ERROR, "region %u: mmap of area 0x%llx + 0x%llx failed: %s",
				   (unsigned)info->index, (unsigned long long)a->offset, (unsigned long long)a->size,
				   uvf_strerror(err));
			return err;
		}
		out->offset = a->offset;
		out->size = a->size;
		out->ptr = ptr;
		r->nareas++;
	}
	return 0;
}

static bool io_fd_size_ok(uint64_t size)
{
	return size == 0 || size == 1 || size == 2 || size == 4 || size == 8;
}

/*
 * Check and keep the ioeventfds of one IO_FDS reply to request. fds[0..nfds)
 * were taken from the reply and are ours: each is kept in r or closed.
 * Returns 0 (r filled, possibly with none), 1 with *retry_argsz when the
 * server asks for a larger argsz, or -EPROTO for a reply we refuse.
 */
static int parse_io_fds(struct uvf_client *client, struct fast_region *r, const uint8_t *payload, size_t len,
			const struct uvf_msg_region_io_fds *request, int *fds, size_t nfds, uint32_t *retry_argsz)
{
	struct uvf_region_io_fds_view view;
	struct uvf_why why = {{0}};
	bool used[UVF_TRANSPORT_MAX_FDS] = {false};
	int rc;

	rc = uvf__decode_region_io_fds_reply(payload, len, nfds, request, IO_FDS_MAX_ARGSZ, r->size, &view, &why);
	if (rc < 0) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: %s", (unsigned)r->index, why.text);
		rc = -EPROTO;
		goto out;
	}
	if (view.truncated) {
		/* The server left the entries (and fds) out: ask again. */
		*retry_argsz = view.head.argsz;
		return 1;
	}
	if (view.head.count == 0)
		goto out;
	r->ioeventfds = calloc(view.head.count, sizeof(*r->ioeventfds));
	if (r->ioeventfds == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < view.head.count; i++) {
		struct uvf_msg_io_fd_entry e;
		struct uvf_client_ioeventfd *out;

		/* fd_index and the range inside the region are checked */
		uvf__io_fds_entry(&view, i, &e);
		/* Kinds we cannot act on are left out: their writes go by
		 * message, which the server serves the same way. */
		if (e.type != UVF_IO_FD_TYPE_IOEVENTFD || !io_fd_size_ok(e.size) ||
		    (e.flags & ~(uint32_t)(UVF_IOEVENTFD_FLAG_DATAMATCH | UVF_IOEVENTFD_FLAG_PIO)) ||
		    (e.size == 0 && (e.flags & UVF_IOEVENTFD_FLAG_DATAMATCH))) {
			CLIENT_LOG(
				client, UVF_LOG_INFO,
				"DEVICE_GET_REGION_IO_FDS region %u: entry %u (type %u, size %llu, flags 0x%x) unused",
				(unsigned)r->index, (unsigned)i, (unsigned)e.type, (unsigned long long)e.size,
				(unsigned)e.flags);
			continue;
		}
		out = &r->ioeventfds[r->nioeventfds++];
		out->offset = e.offset;
		out->size = e.size;
		out->flags = e.flags;
		out->datamatch = e.datamatch;
		out->fd = fds[e.fd_index];
		used[e.fd_index] = true;
	}
out:
	if (rc) {
		free(r->ioeventfds);
		r->ioeventfds = NULL;
		r->nioeventfds = 0;
		memset(used, 0, sizeof(used));
	}
	for (size_t i = 0; i < nfds; i++) {
		if (used[i] && r->fds)
			r->fds[r->nfds++] = fds[i];
		else
			close(fds[i]);
	}
	return rc;
}

/* Fetch the region's ioeventfds. A server without them (an error reply,
 * or a reply we refuse) leaves the region without; only a broken or
 * silent connection fails. */
static int fetch_io_fds(struct uvf_client *client, struct fast_region *r)
{
	uint32_t argsz = IO_FDS_FIRST_ARGSZ;

	for (int attempt = 0; attempt < IO_FDS_TRIES; attempt++) {
		struct uvf_msg_region_io_fds req = {.argsz = argsz, .index = r->index};
		struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
		struct uvf_client_reply reply;
		int fds[UVF_TRANSPORT_MAX_FDS];
		uint32_t retry_argsz = 0;
		size_t nfds;
		int rc;

		rc = uvf__client_request(client, UVF_CMD_DEVICE_GET_REGION_IO_FDS, &iov, 1, NULL, 0, &reply);
		if (rc) {
			if (rc == -ETIMEDOUT || uvf__client_check(client))
				return rc;
			CLIENT_LOG(client, UVF_LOG_DEBUG, "region %u: no ioeventfds (%s)", (unsigned)r->index,
				   uvf_strerror(rc));
			return 0;
		}
		nfds = uvf__client_reply_take_fds(&reply, fds, UVF_TRANSPORT_MAX_FDS);
		if (nfds > 0) {
			r->fds = calloc(nfds, sizeof(*r->fds));
			if (r->fds == NULL) {
				for (size_t i = 0; i < nfds; i++)
					close(fds[i]);
				uvf__client_reply_done(client);
				return -ENOMEM;
			}
		}
		rc = parse_io_fds(client, r, reply.payload, reply.len, &req, fds, nfds, &retry_argsz);
		uvf__client_reply_done(client);
		if (rc == 1) {
			argsz = retry_argsz;
			continue;
		}
		if (r->nfds == 0) {
			free(r->fds);
			r->fds = NULL;
		}
		return rc == -ENOMEM ? rc : 0;
	}
	CLIENT_LOG(client, UVF_LOG_WARNING, "region %u: server keeps asking for a bigger IO_FDS argsz",
		   (unsigned)r->index);
	return 0;
}

/* Whether BAR `index` is a memory BAR, from its config space register. */
static bool is_memory_bar(struct uvf_client *client, uint32_t index)
{
	uint32_t bar;

	if (index > UVF_PCI_BAR5_REGION)
		return false; /* ROM, config space, VGA, device regions: never posted */
	if (uvf_client_config_read32(client, PCI_BAR0_OFFSET + 4 * index, &bar))
		return false; /* unknown: writes stay synchronous */
	return !(bar & PCI_BAR_IO);
}

/* Publish r as the set-up of its index (r NULL: remove), handing back the
 * previous one. */
static int region_swap(struct uvf_client_fast *fast, uint32_t index, uint32_t num_regions, struct fast_region *r,
		       struct fast_region **old)
{
	int rc = 0;

	*old = NULL;
	pthread_rwlock_wrlock(&fast->regions_lock);
	if (index >= fast->nregions && r) {
		uint32_t n = num_regions > index ? num_regions : index + 1;
		struct fast_region **grown = realloc(fast->regions, n * sizeof(*grown));

		if (grown == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memset(grown + fast->nregions, 0, (n - fast->nregions) * sizeof(*grown));
		fast->regions = grown;
		fast->nregions = n;
	}
	if (index < fast->nregions) {
		*old = fast->regions[index];
		fast->regions[index] = r;
	}
out:
	pthread_rwlock_unlock(&fast->regions_lock);
	return rc;
}

UVF_API int uvf_client_region_unmap(struct uvf_client *client, uint32_t index)
{
	struct uvf_client_fast *fast;
	struct fast_region *old;

	if (client == NULL)
		return -EINVAL;
	if (region_index_bad(client, index, NULL))
		return -EINVAL;
	fast = fast_get(client);
	if (fast == NULL)
		return 0;
	region_swap(fast, index, 0, NULL, &old);
	region_free(old);
	return 0;
}

UVF_API int uvf_client_region_map(struct uvf_client *client, uint32_t index)
{
	struct uvf_client_region info = {.argsz = sizeof(info)};
	struct uvf_client_fast *fast;
	struct fast_region *r, *old;
	uint32_t num_regions = 0;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	rc = uvf__client_ensure_device_info(client);
	if (rc)
		return rc;
	if (region_index_bad(client, index, &num_regions) || index == UVF_PCI_CONFIG_REGION) {
		CLIENT_LOG(client, UVF_LOG_WARNING, "region %u cannot be mapped (the device has %u regions)",
			   (unsigned)index, (unsigned)num_regions);
		return -EINVAL;
	}
	fast = fast_ensure(client);
	if (fast == NULL)
		return -ENOMEM;
	uvf_client_region_unmap(client, index);

	rc = uvf_client_region_info(client, index, &info);
	if (rc)
		return rc;
	if (info.size == 0)
		return 0; /* not implemented by the device: nothing to set up */
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->index = index;
	r->flags = info.flags;
	r->size = info.size;
	rc = map_areas(client, &info, r);
	if (rc == 0)
		rc = fetch_io_fds(client, r);
	if (rc == 0)
		r->memory_bar = is_memory_bar(client, index);
	if (rc == 0)
		rc = region_swap(fast, index, num_regions, r, &old);
	if (rc) {
		region_free(r);
		return rc;
	}
	region_free(old);
	CLIENT_LOG(client, UVF_LOG_INFO, "region %u: %u area(s) mapped, %zu ioeventfd(s), %s", (unsigned)index,
		   r->nareas, r->nioeventfds, r->memory_bar ? "memory BAR (posted writes)" : "synchronous writes");
	return 0;
}

UVF_API void *uvf_client_region_ptr(struct uvf_client *client, uint32_t index, uint64_t offset, size_t len)
{
	struct uvf_client_fast *fast = client ? fast_get(client) : NULL;
	const struct fast_area *a;
	const struct fast_region *r;
	void *ptr = NULL;

	if (fast == NULL)
		return NULL;
	pthread_rwlock_rdlock(&fast->regions_lock);
	r = region_find(fast, index);
	a = r ? area_find(r, offset, len) : NULL;
	if (a)
		ptr = a->ptr + (offset - a->offset);
	pthread_rwlock_unlock(&fast->regions_lock);
	return ptr;
}

/* The first version of struct uvf_client_ioeventfd ends with `fd`. */
#define CLIENT_IOEVENTFD_MIN_SIZE (offsetof(struct uvf_client_ioeventfd, fd) + sizeof(int))

UVF_API int uvf_client_region_io_fds(struct uvf_client *client, uint32_t index, struct uvf_client_ioeventfd *out,
				     size_t entry_size, size_t cap, size_t *count)
{
	struct uvf_client_fast *fast;
	const struct fast_region *r;
	size_t copy = entry_size < sizeof(*out) ? entry_size : sizeof(*out);
	size_t n = 0;

	if (client == NULL || count == NULL || (out == NULL && cap > 0))
		return -EINVAL;
	if (cap > 0 && entry_size < CLIENT_IOEVENTFD_MIN_SIZE)
		return -EINVAL;
	*count = 0;
	if (region_index_bad(client, index, NULL))
		return -EINVAL;
	fast = fast_get(client);
	if (fast == NULL)
		return 0;
	pthread_rwlock_rdlock(&fast->regions_lock);
	r = region_find(fast, index);
	if (r) {
		n = r->nioeventfds;
		/* Entries are entry_size apart; each gets what both sides know. */
		for (size_t i = 0; i < n && i < cap; i++)
			memcpy((char *)out + i * entry_size, &r->ioeventfds[i], copy);
	}
	pthread_rwlock_unlock(&fast->regions_lock);
	*count = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Guest-style access                                                   */
/* ------------------------------------------------------------------ */

static bool aligned(const void *p, size_t len)
{
	return ((uintptr_t)p & (len - 1)) == 0;
}

/* Copy from device memory: one load of the access size when it can be one. */
static void mmio_read(const uint8_t *src, void *buf, size_t len)
{
	if (len == 1) {
		uint8_t v = *(const volatile uint8_t *)src;

		memcpy(buf, &v, 1);
	} else if (len == 2 && aligned(src, 2)) {
		uint16_t v = *(const volatile uint16_t *)(const void *)src;

		memcpy(buf, &v, 2);
	} else if (len == 4 && aligned(src, 4)) {
		uint32_t v = *(const volatile uint32_t *)(const void *)src;

		memcpy(buf, &v, 4);
	} else if (len == 8 && aligned(src, 8)) {
		uint64_t v = *(const volatile uint64_t *)(const void *)src;

		memcpy(buf, &v, 8);
	} else {
		memcpy(buf, src, len);
	}
}

/* Copy to device memory: one store of the access size when it can be one. */
static void mmio_write(uint8_t *dst, const void *buf, size_t len)
{
	if (len == 1) {
		uint8_t v;

		memcpy(&v, buf, 1);
		*(volatile uint8_t *)dst = v;
	} else if (len == 2 && aligned(dst, 2)) {
		uint16_t v;

		memcpy(&v, buf, 2);
		*(volatile uint16_t *)(void *)dst = v;
	} else if (len == 4 && aligned(dst, 4)) {
		uint32_t v;

		memcpy(&v, buf, 4);
		*(volatile uint32_t *)(void *)dst = v;
	} else if (len == 8 && aligned(dst, 8)) {
		uint64_t v;

		memcpy(&v, buf, 8);
		*(volatile uint64_t *)(void *)dst = v;
	} else {
		memcpy(dst, buf, len);
	}
}

/* The ioeventfd a write of len bytes at offset signals, or NULL. */
static const struct uvf_client_ioeventfd *ioeventfd_match(const struct fast_region *r, uint64_t offset, const void *buf,
							  size_t len)
{
	uint8_t bytes[8] = {0};
	uint64_t value;

	if (len > sizeof(bytes))
		return NULL;
	memcpy(bytes, buf, len);
	memcpy(&value, bytes, sizeof(value));
	value = le64toh(value);
	for (size_t i = 0; i < r->nioeventfds; i++) {
		const struct uvf_client_ioeventfd *e = &r->ioeventfds[i];

		if (e->offset != offset || (e->size != 0 && e->size != len))
			continue;
		if ((e->flags & UVF_IOEVENTFD_FLAG_DATAMATCH) && e->datamatch != value)
			continue;
		return e;
	}
	return NULL;
}

static int signal_eventfd(int fd)
{
	uint64_t one = 1;

	for (;;) {
		ssize_t n = write(fd, &one, sizeof(one));

		if (n == (ssize_t)sizeof(one))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		/* A full counter still has a signal pending for the device. */
		if (n < 0 && errno == EAGAIN)
			return 0;
		return n < 0 ? -errno : -EIO;
	}
}

static int check_bar_access(struct uvf_client *client, uint64_t offset, const void *buf, size_t len)
{
	int rc = uvf__client_check(client);

	if (rc)
		return rc;
	if ((buf == NULL && len > 0) || offset + len < offset)
		return -EINVAL;
	return 0;
}

UVF_API int uvf_client_access_read(struct uvf_client *client, uint32_t region, uint64_t offset, void *buf, size_t len)
{
	struct uvf_client_fast *fast;
	const struct fast_region *r;
	int rc;

	rc = check_bar_access(client, offset, buf, len);
	if (rc || len == 0)
		return rc;
	fast = fast_get(client);
	if (fast) {
		const struct fast_area *a;

		pthread_rwlock_rdlock(&fast->regions_lock);
		r = region_find(fast, region);
		a = r && (r->flags & UVF_REGION_FLAG_READ) ? area_find(r, offset, len) : NULL;
		if (a) {
			rc = fence(client, fast);
			if (rc == 0)
				mmio_read(a->ptr + (offset - a->offset), buf, len);
			pthread_rwlock_unlock(&fast->regions_lock);
			return rc;
		}
		pthread_rwlock_unlock(&fast->regions_lock);
	}
	return uvf_client_region_read(client, region, offset, buf, len);
}

UVF_API int uvf_client_access_write(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
				    size_t len)
{
	struct uvf_client_fast *fast;
	const struct fast_region *r;
	bool posted = false;
	int rc;

	rc = check_bar_access(client, offset, buf, len);
	if (rc || len == 0)
		return rc;
	fast = fast_get(client);
	if (fast) {
		const struct uvf_client_ioeventfd *e = NULL;
		const struct fast_area *a = NULL;

		pthread_rwlock_rdlock(&fast->regions_lock);
		r = region_find(fast, region);
		if (r && (r->flags & UVF_REGION_FLAG_WRITE))
			a = area_find(r, offset, len);
		if (r && a == NULL)
			e = ioeventfd_match(r, offset, buf, len);
		if (a || e) {
			/* Memory and eventfds bypass the socket: earlier
			 * posted writes must be done first. */
			rc = fence(client, fast);
			if (rc == 0 && a)
				mmio_write(a->ptr + (offset - a->offset), buf, len);
			else if (rc == 0)
				rc = signal_eventfd(e->fd);
			pthread_rwlock_unlock(&fast->regions_lock);
			return rc;
		}
		posted = r && r->memory_bar && posted_writes_allowed(client);
		pthread_rwlock_unlock(&fast->regions_lock);
	}
	if (posted)
		return uvf_client_region_write_posted(client, region, offset, buf, len);
	return uvf_client_region_write(client, region, offset, buf, len);
}
