/* SPDX-License-Identifier: MIT */
/*
 * DMA by message: DMA_READ/DMA_WRITE requests to the client for memory it
 * shared without an fd, and their replies. On the main socket only the
 * dispatch thread talks (waiting for a reply, it queues the client
 * commands that come in between); with a twin socket any thread does
 * (twin.c); a device thread without one hands its transfer to the
 * dispatch thread (dma_async.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

uint64_t uvf__dma_chunk_max(const struct uvf_device *dev)
{
	return __atomic_load_n(&dev->dma_chunk, __ATOMIC_RELAXED);
}

/*
 * The dispatch thread sends DMA requests and replies with blocking sends:
 * were the socket full while the client blocks sending to us (a DMA_READ
 * reply), neither would read again. So what a device keeps in flight must
 * fit the send buffer with room to spare. The kernel charges each message
 * its length plus per-buffer overhead (up to about a third more for
 * messages of a few KiB, counted as at least 4 KiB by the contract) and
 * lets one more buffer past the limit: half of the granted buffer holds
 * that. The margin is for the replies to the client's own commands and the
 * requests the device does not count (small ones, such as a PRP list).
 */
#define INFLIGHT_MARGIN (128u << 10)
#define INFLIGHT_MIN	(16u << 10)

void uvf__dma_inflight_set(struct uvf_device *dev)
{
	/* the socket the requests go out on */
	int granted = uvf__sock_send_buffer(dev->twin.fd >= 0 ? dev->twin.fd : dev->conn_fd);
	size_t budget = INFLIGHT_MIN;

	if (granted > (int)(INFLIGHT_MARGIN + 2 * INFLIGHT_MIN))
		budget = ((size_t)granted - INFLIGHT_MARGIN) / 2;
	__atomic_store_n(&dev->dma_inflight, budget, __ATOMIC_RELAXED);
	dev_debug(dev, "send buffer %d bytes: %zu bytes of DMA messages may be in flight", granted, budget);
}

size_t uvf_dma_inflight_max(struct uvf_device *dev)
{
	return dev ? __atomic_load_n(&dev->dma_inflight, __ATOMIC_RELAXED) : 0;
}

uint16_t uvf__dma_next_id(struct uvf_device *dev)
{
	return __atomic_fetch_add(&dev->next_dma_id, 1, __ATOMIC_RELAXED);
}

/* The pieces of a DMA request (hdr is filled); returns the iov count. */
int uvf__dma_request_iov(struct uvf_msg_header *hdr, struct iovec iov[3], uint16_t id, bool is_write,
			 const struct uvf_msg_dma_access *req, const void *data)
{
	int iovcnt = 2;

	uvf__msg_header_init(hdr, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ,
			     (uint32_t)(sizeof(*hdr) + sizeof(*req) + (is_write ? req->count : 0)),
			     UVF_MSG_TYPE_COMMAND, 0);
	iov[0] = (struct iovec){hdr, sizeof(*hdr)};
	iov[1] = (struct iovec){(void *)req, sizeof(*req)};
	if (is_write)
		iov[iovcnt++] = (struct iovec){(void *)data, (size_t)req->count};
	return iovcnt;
}

/* Called on the dispatch thread by the asynchronous path. */
int uvf__dma_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_msg_dma_access *req,
			  const void *data)
{
	if (dev->twin.fd < 0) {
		struct uvf_msg_header hdr;
		struct iovec iov[3];
		int iovcnt = uvf__dma_request_iov(&hdr, iov, id, is_write, req, data);
		return uvf__send_to_client(dev, iov, iovcnt, NULL, 0);
	}
	/* device threads send on the twin socket too: one message at a time */
	pthread_mutex_lock(&dev->twin.lock);
	int ret = uvf__twin_send_request(dev, id, is_write, req, data);
	pthread_mutex_unlock(&dev->twin.lock);
	if (ret < 0) {
		dev_warn(dev, "sending on the twin socket failed: %s", uvf_strerror(ret));
		dev->drop_requested = true;
	}
	return ret;
}

int uvf__dma_take_reply(struct uvf_device *dev, const struct uvf_msg_header *hdr, const uint8_t *body, size_t nfds,
			bool is_write, const struct uvf_msg_dma_access *req, void *buf)
{
	struct uvf_why why = {{0}};
	size_t rlen = hdr->msg_size - UVF_MSG_HEADER_SIZE;
	int ret;

	if (hdr->flags & UVF_MSG_FLAG_ERROR) {
		ret = -uvf__msg_reply_errno(hdr);
		dev_warn(dev, "%s 0x%" PRIx64 "+0x%" PRIx64 ": client answered %s", uvf__cmd_name(hdr->command),
			 req->address, req->count, uvf_strerror(ret));
		return ret;
	}
	if (is_write) {
		ret = uvf__decode_dma_write_reply(body, rlen, nfds, req, &why);
	} else {
		struct uvf_dma_access_view v;
		ret = uvf__decode_dma_read_reply(body, rlen, nfds, req, &v, &why);
		if (ret == 0)
			memcpy(buf, v.data, (size_t)req->count);
	}
	if (ret < 0 && why.text[0])
		dev_warn(dev, "%s", why.text);
	return ret;
}

/* ------------------------------------------------------------------ */
/* By message on the main socket (dispatch thread, no twin socket)      */
/* ------------------------------------------------------------------ */

/*
 * Wait for the reply to our request `id`. Client commands that arrive in
 * between are queued and run after the current one: the protocol lets them
 * interleave on one socket. Returns 0 with rx holding the reply (the
 * caller releases it), or a negative errno.
 */
static int wait_dma_reply(struct uvf_device *dev, struct uvf_rx *rx, uint16_t id, uint16_t command)
{
	struct uvf_why why = {{0}};

	for (;;) {
		int ret = uvf__rx_read_wait(rx, dev->conn_fd, dev->opts.dma_timeout_ms, &why);
		if (ret < 0) {
			dev_warn(dev, "%s: waiting for the client's reply: %s", uvf__cmd_name(command),
				 why.text[0] ? why.text : uvf_strerror(ret));
			/* a half-received message or a broken stream cannot be resumed */
			if (ret != -ETIMEDOUT || rx->hdr_got)
				dev->drop_requested = true;
			return ret;
		}
		if ((rx->hdr.flags & UVF_MSG_TYPE_BITS) == UVF_MSG_TYPE_REPLY) {
			if (rx->hdr.msg_id == id && rx->hdr.command == command)
				return 0;
			if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds))
				dev_warn(dev, "ignoring a %s reply (id %u) while waiting for %s id %u",
					 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id, uvf__cmd_name(command), id);
			uvf__rx_release(rx);
			continue;
		}
		ret = uvf__queue_push(dev, rx);
		uvf__rx_release(rx);
		if (ret < 0) {
			dev_warn(dev, "%s: too many client commands queued while waiting: %s", uvf__cmd_name(command),
				 uvf_strerror(ret));
			dev->drop_requested = true;
			return ret;
		}
	}
}

static int message_main(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	/* Inside a command the main receiver holds that command: read with
	 * the second one. Outside, the main one may hold a partial message
	 * and must go on from where it is. */
	struct uvf_rx *rx = dev->in_command ? &dev->wait_rx : &dev->rx;
	uint64_t chunk_max = uvf__dma_chunk_max(dev);

	if (dev->conn_fd < 0)
		return -ENOTCONN;
	while (len) {
		struct uvf_msg_dma_access req = {.address = addr, .count = len < chunk_max ? len : chunk_max};
		uint16_t id = uvf__dma_next_id(dev);
		int ret = uvf__dma_send_request(dev, id, is_write, &req, buf);
		if (ret < 0)
			return ret;
		ret = wait_dma_reply(dev, rx, id, is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ);
		if (ret < 0)
			return ret;
		ret = uvf__dma_take_reply(dev, &rx->hdr, rx->body, rx->nfds, is_write, &req, buf);
		uvf__rx_release(rx);
		if (ret < 0)
			return ret;
		addr += req.count;
		buf = (uint8_t *)buf + req.count;
		len -= (size_t)req.count;
	}
	return 0;
}

/* A message-based piece, from whichever thread. */
int uvf__dma_message(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write)
{
	bool on_dispatch = uvf__on_dispatch_thread(dev);
	int ret;

	if (on_dispatch && dev->twin.fd < 0)
		return message_main(dev, addr, buf, len, is_write);
	pthread_mutex_lock(&dev->twin.lock);
	if (dev->twin.fd >= 0 && !dev->twin.failed) {
		ret = uvf__twin_transfer(dev, addr, buf, len, is_write, on_dispatch);
		pthread_mutex_unlock(&dev->twin.lock);
		return ret;
	}
	bool failed = dev->twin.fd >= 0;
	pthread_mutex_unlock(&dev->twin.lock);
	if (failed)
		return -ENOTCONN; /* the client is about to be dropped */
	/* A device thread without twin socket: only the dispatch thread may
	 * talk on the main socket. */
	return uvf__dma_async_wait(dev, addr, buf, len, is_write);
}

