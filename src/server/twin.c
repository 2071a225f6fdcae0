/* SPDX-License-Identifier: MIT */
/*
 * The twin socket (docs/protocol.md 1.10): a second socket on which the
 * server sends its DMA_READ/DMA_WRITE requests and the client answers
 * them, so a device thread can transfer by message while the dispatch
 * thread keeps serving the main socket. Any thread uses it under the twin
 * lock, one message at a time; replies that belong to asynchronous
 * transfers are handed to the dispatch thread, which owns those.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* Send a DMA request on the twin socket (twin lock held). */
int uvf__twin_send_request(struct uvf_device *dev, uint16_t id, bool is_write, const struct uvf_msg_dma_access *req,
			   const void *data)
{
	struct uvf_msg_header hdr;
	struct iovec iov[3];
	int iovcnt = uvf__dma_request_iov(&hdr, iov, id, is_write, req, data);
	return uvf__msg_sendv(dev->twin.fd, iov, iovcnt, NULL, 0, dev->opts.dma_timeout_ms);
}

/* ------------------------------------------------------------------ */
/* By message on the twin socket (any thread, under the twin lock)          */
/* ------------------------------------------------------------------ */

void uvf__twin_reset_locked(struct uvf_device *dev)
{
	uvf__rx_destroy(&dev->twin.rx);
	uvf__rx_init(&dev->twin.rx, dev->max_msg_size);
	while (dev->twin.stray) {
		struct uvf_twin_stray *s = dev->twin.stray;
		dev->twin.stray = s->next;
		free(s);
	}
	dev->twin.failed = false;
}

/* A reply for an asynchronous transfer, read by a device thread: keep a
 * copy for the dispatch thread, which owns those transfers. */
static void stash_reply(struct uvf_device *dev, const struct uvf_rx *rx)
{
	size_t len = rx->hdr.msg_size - UVF_MSG_HEADER_SIZE;
	struct uvf_twin_stray **tail = &dev->twin.stray;
	size_t count = 0, bytes = len;

	/* A client could send replies nobody waits for: bound what is kept
	 * as the queue of commands held during a DMA wait is bounded. */
	while (*tail) {
		count++;
		bytes += (*tail)->hdr.msg_size;
		tail = &(*tail)->next;
	}
	if (count >= UVF_SERVER_QUEUE_MAX || bytes > UVF_SERVER_QUEUE_BYTES) {
		dev_warn(dev, "twin socket: more than %u replies (%zu bytes) waiting to be matched",
			 UVF_SERVER_QUEUE_MAX, bytes);
		dev->twin.failed = true;
		return;
	}
	struct uvf_twin_stray *s = malloc(sizeof(*s) + len);
	if (!s) {
		dev->twin.failed = true; /* a lost reply would stall its transfer */
		return;
	}
	s->next = NULL;
	s->hdr = rx->hdr;
	s->nfds = rx->nfds;
	memcpy(s->body, rx->body, len);
	*tail = s;
}

/*
 * Transfer by messages on the twin socket; twin lock held. Only replies
 * come on this socket: ours is taken, any other belongs to an asynchronous
 * transfer. A client command here, or a broken stream, fails the twin
 * socket and the client is dropped by the dispatch thread.
 */
int uvf__twin_transfer(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, bool is_write, bool on_dispatch)
{
	struct uvf_rx *rx = &dev->twin.rx;
	uint64_t chunk_max = uvf__dma_chunk_max(dev);
	uint16_t command = is_write ? UVF_CMD_DMA_WRITE : UVF_CMD_DMA_READ;
	int ret = 0;

	while (len && ret == 0) {
		struct uvf_why why = {{0}};
		struct uvf_msg_dma_access req = {.address = addr, .count = len < chunk_max ? len : chunk_max};
		uint16_t id = uvf__dma_next_id(dev);
		ret = uvf__twin_send_request(dev, id, is_write, &req, buf);
		if (ret < 0) {
			dev_warn(dev, "%s on the twin socket: sending failed: %s", uvf__cmd_name(command),
				 uvf_strerror(ret));
			dev->twin.failed = true;
			break;
		}
		for (;;) {
			ret = uvf__rx_read_wait(rx, dev->twin.fd, dev->opts.dma_timeout_ms, &why);
			if (ret < 0) {
				dev_warn(dev, "%s on the twin socket: waiting for the client's reply: %s",
					 uvf__cmd_name(command), why.text[0] ? why.text : uvf_strerror(ret));
				/* a late reply of ours would be taken for another's */
				dev->twin.failed = true;
				break;
			}
			if ((rx->hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_REPLY) {
				dev_warn(dev, "a client command (%s) on the twin socket",
					 uvf__cmd_name(rx->hdr.command));
				uvf__rx_release(rx);
				dev->twin.failed = true;
				ret = -EPROTO;
				break;
			}
			if (rx->hdr.msg_id == id && rx->hdr.command == command) {
				ret = uvf__dma_take_reply(dev, &rx->hdr, rx->body, rx->nfds, is_write, &req, buf);
				uvf__rx_release(rx);
				break;
			}
			if (on_dispatch) {
				if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds))
					dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket",
						 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id);
			} else {
				stash_reply(dev, rx);
			}
			uvf__rx_release(rx);
		}
		addr += req.count;
		buf = (uint8_t *)buf + req.count;
		len -= (size_t)req.count;
	}
	if (dev->twin.failed || dev->twin.stray)
		uvf__kick(dev); /* dispatch drops the client, or takes the replies */
	return ret;
}

int uvf__twin_service(struct uvf_device *dev, bool read_socket)
{
	struct uvf_twin_stray *strays;
	int ret = 0;

	if (dev->twin.fd < 0)
		return 0;
	pthread_mutex_lock(&dev->twin.lock);
	strays = dev->twin.stray;
	dev->twin.stray = NULL;
	while (read_socket && !dev->twin.failed) {
		struct uvf_why why = {{0}};
		ret = uvf__rx_read(&dev->twin.rx, dev->twin.fd, &why);
		if (ret == 0)
			break;
		if (ret < 0) {
			dev_info(dev, "twin socket: %s", why.text[0] ? why.text : uvf_strerror(ret));
			dev->twin.failed = true;
			break;
		}
		struct uvf_rx *rx = &dev->twin.rx;
		if ((rx->hdr.flags & UVF_MSG_TYPE_BITS) != UVF_MSG_TYPE_REPLY) {
			dev_warn(dev, "a client command (%s) on the twin socket", uvf__cmd_name(rx->hdr.command));
			dev->twin.failed = true;
		} else if (!uvf__dma_async_reply(dev, &rx->hdr, rx->body, rx->nfds)) {
			dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket that answers nothing outstanding",
				 uvf__cmd_name(rx->hdr.command), rx->hdr.msg_id);
		}
		uvf__rx_release(rx);
	}
	ret = dev->twin.failed ? -EPROTO : 0;
	pthread_mutex_unlock(&dev->twin.lock);
	while (strays) {
		struct uvf_twin_stray *s = strays;
		strays = s->next;
		if (!uvf__dma_async_reply(dev, &s->hdr, s->body, s->nfds))
			dev_warn(dev, "ignoring a %s reply (id %u) on the twin socket that answers nothing outstanding",
				 uvf__cmd_name(s->hdr.command), s->hdr.msg_id);
		free(s);
	}
	return ret;
}

