/* SPDX-License-Identifier: MIT */
/*
 * The client's connection engine: connecting, VERSION negotiation, message
 * ids, and waiting for one reply at a time while the server's own commands
 * (DMA_READ/DMA_WRITE) are served as they come.
 *
 * Replies are matched by id AND command. Anything else that arrives as a
 * reply (the late answer to a request that timed out, or an id we never
 * used) is logged and dropped: the stream stays framed, so one bad reply
 * never costs the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"

/* Largest reply we accept apart from data replies: room for region info
 * capability chains and the VERSION JSON. */
#define RX_MIN_LIMIT (UVF_MSG_HEADER_SIZE + UVF_CLIENT_REGION_INFO_MAX_ARGSZ)

/* uvf_client_process() stops after this many messages so that a server
 * flooding us cannot keep the caller inside forever. */
#define PROCESS_MAX_MESSAGES 256

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int uvf__client_check(const struct uvf_client *client)
{
	if (client == NULL)
		return -EINVAL;
	return client->broken ? -ENOTCONN : 0;
}

/* Record the error that ended the connection (once) and return it. EPIPE
 * and ECONNRESET both mean "the server went away": report one of them. */
static int mark_broken(struct uvf_client *client, int err, const char *why)
{
	if (err == -EPIPE)
		err = -ECONNRESET;
	if (!client->broken) {
		client->broken = err;
		CLIENT_LOG(client, UVF_LOG_ERROR, "connection to the server lost: %s%s%s", uvf_strerror(err),
			   why && why[0] ? ": " : "", why ? why : "");
	}
	return err;
}

int uvf__client_send(struct uvf_client *client, const struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	int rc = uvf__msg_sendv(client->sock, iov, iovcnt, fds, nfds, client->timeout_ms);

	/* Part of the message may have gone out: the stream is no longer
	 * framed, so any failure but a refused argument ends the connection. */
	if (rc < 0 && rc != -EINVAL)
		return mark_broken(client, rc, "sending failed");
	return rc;
}

/* ------------------------------------------------------------------ */
/* Message ids                                                          */
/* ------------------------------------------------------------------ */

static bool is_stale(const struct uvf_client *client, uint16_t id)
{
	for (size_t i = 0; i < client->nstale; i++)
		if (client->stale[i].id == id)
			return true;
	return false;
}

static uint16_t next_msg_id(struct uvf_client *client)
{
	/* Skip ids whose late reply may still come, so it cannot be taken for
	 * the answer to a new request. Terminates: few ids are stale. */
	for (;;) {
		uint16_t id = client->next_id++;

		if (!is_stale(client, id))
			return id;
	}
}

static void remember_stale(struct uvf_client *client, uint16_t id, uint16_t command)
{
	if (client->nstale == UVF_CLIENT_STALE_IDS) {
		/* Forget the oldest: its reply is very unlikely to come now. */
		memmove(&client->stale[0], &client->stale[1], sizeof(client->stale[0]) * (UVF_CLIENT_STALE_IDS - 1));
		client->nstale--;
	}
	client->stale[client->nstale].id = id;
	client->stale[client->nstale].command = command;
	client->nstale++;
}

/* Log and forget the reply in client->rx, which no request waits for. */
static void drop_reply(struct uvf_client *client)
{
	const struct uvf_msg_header *hdr = &client->rx.hdr;

	for (size_t i = 0; i < client->nstale; i++) {
		if (client->stale[i].id == hdr->msg_id && client->stale[i].command == hdr->command) {
			memmove(&client->stale[i], &client->stale[i + 1],
				sizeof(client->stale[0]) * (client->nstale - i - 1));
			client->nstale--;
			CLIENT_LOG(client, UVF_LOG_INFO, "%s id %u: late reply to a request that timed out, dropped",
				   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
			uvf__rx_release(&client->rx);
			return;
		}
	}
	CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: reply to no pending request, dropped",
		   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
	uvf__rx_release(&client->rx);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */
/* ------------------------------------------------------------------ */

static int timed_out(struct uvf_client *client, uint16_t id, uint16_t command)
{
	remember_stale(client, id, command);
	CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: no reply within %d ms", uvf__cmd_name(command), (unsigned)id,
		   client->timeout_ms);
	return -ETIMEDOUT;
}

/*
 * Wait for the reply to (id, command). During the handshake nothing but
 * that reply may arrive: anything else means the peer is not a vfio-user
 * server and fails with -EPROTO at once instead of waiting for the timeout.
 */
static int wait_reply(struct uvf_client *client, uint16_t id, uint16_t command, bool handshake,
		      struct uvf_client_reply *reply)
{
	int64_t deadline = client->timeout_ms < 0 ? 0 : now_ms() + client->timeout_ms;
	int overdue = 0;

	for (;;) {
		struct uvf_why why = {{0}};
		const struct uvf_msg_header *hdr = &client->rx.hdr;
		int wait = -1;
		int rc;

		if (client->timeout_ms >= 0) {
			int64_t left = deadline - now_ms();

			/* Once the time is up, only read what already arrived, and
			 * not forever: a server busy sending commands must not
			 * hold us past the timeout. */
			if (left <= 0 && overdue++ >= PROCESS_MAX_MESSAGES)
				return timed_out(client, id, command);
			wait = left > 0 ? (int)left : 0;
		}
		rc = uvf__rx_read_wait(&client->rx, client->sock, wait, &why);
		if (rc == -ETIMEDOUT)
			return timed_out(client, id, command);
		if (rc < 0)
			return mark_broken(client, rc, why.text);

		CLIENT_LOG(client, UVF_LOG_DEBUG, "<- %s id %u %s, %u bytes, %zu fds", uvf__cmd_name(hdr->command),
			   (unsigned)hdr->msg_id,
			   (hdr->flags & UVF_MSG_TYPE_MASK) == UVF_MSG_TYPE_COMMAND ? "command" : "reply",
			   (unsigned)hdr->msg_size, client->rx.nfds);

		if (handshake && (hdr->msg_id != id || hdr->command != command ||
				  (hdr->flags & UVF_MSG_TYPE_MASK) != UVF_MSG_TYPE_REPLY)) {
			CLIENT_LOG(client, UVF_LOG_ERROR, "peer sent %s id %u instead of the VERSION reply",
				   uvf__cmd_name(hdr->command), (unsigned)hdr->msg_id);
			uvf__rx_release(&client->rx);
			return mark_broken(client, -EPROTO, "not a vfio-user server");
		}
		if ((hdr->flags & UVF_MSG_TYPE_MASK) == UVF_MSG_TYPE_COMMAND) {
			rc = uvf__client_serve_command(client);
			uvf__rx_release(&client->rx);
			if (rc < 0)
				return rc;
			continue;
		}
		if (hdr->msg_id != id || hdr->command != command) {
			drop_reply(client);
			continue;
		}
		if (hdr->flags & UVF_MSG_FLAG_ERROR) {
			int err = -uvf__msg_reply_errno(hdr);

			CLIENT_LOG(client, UVF_LOG_DEBUG, "%s id %u: server answered %s", uvf__cmd_name(command),
				   (unsigned)id, uvf_strerror(err));
			uvf__rx_release(&client->rx);
			return err;
		}
		if (client->rx.fds_overflow) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s id %u: reply carried more fds than allowed",
				   uvf__cmd_name(command), (unsigned)id);
			uvf__rx_release(&client->rx);
			return -EPROTO;
		}
		reply->hdr = hdr;
		reply->payload = client->rx.body;
		reply->len = hdr->msg_size - UVF_MSG_HEADER_SIZE;
		reply->nfds = client->rx.nfds;
		return 0;
	}
}

static int request(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt, const int *fds,
		   size_t nfds, bool handshake, struct uvf_client_reply *reply)
{
	struct iovec all[8];
	struct uvf_msg_header hdr;
	uint64_t total = UVF_MSG_HEADER_SIZE;
	uint16_t id;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	if (iovcnt < 0 || iovcnt > 7 || (nfds > 0 && fds == NULL))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
		if (iov[i].iov_len > UINT32_MAX || total > UINT32_MAX) {
			CLIENT_LOG(client, UVF_LOG_WARNING, "%s: message too large", uvf__cmd_name(command));
			return -EMSGSIZE;
		}
		all[i + 1] = iov[i];
	}
	id = next_msg_id(client);
	uvf__msg_header_init(&hdr, id, command, (uint32_t)total, UVF_MSG_TYPE_COMMAND, 0);
	all[0].iov_base = &hdr;
	all[0].iov_len = sizeof(hdr);
	CLIENT_LOG(client, UVF_LOG_DEBUG, "-> %s id %u, %u bytes, %zu fds", uvf__cmd_name(command), (unsigned)id,
		   (unsigned)total, nfds);
	rc = uvf__client_send(client, all, iovcnt + 1, fds, nfds);
	if (rc)
		return rc;
	return wait_reply(client, id, command, handshake, reply);
}

int uvf__client_request(struct uvf_client *client, uint16_t command, const struct iovec *iov, int iovcnt,
			const int *fds, size_t nfds, struct uvf_client_reply *reply)
{
	return request(client, command, iov, iovcnt, fds, nfds, false, reply);
}

void uvf__client_reply_done(struct uvf_client *client)
{
	uvf__rx_release(&client->rx);
}

int uvf__client_simple(struct uvf_client *client, uint16_t command, const void *payload, size_t len, const int *fds,
		       size_t nfds, size_t expect_len)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	struct uvf_client_reply reply;
	int rc;

	rc = uvf__client_request(client, command, &iov, len ? 1 : 0, fds, nfds, &reply);
	if (rc)
		return rc;
	if (reply.nfds != 0 || (reply.len != 0 && reply.len != expect_len)) {
		CLIENT_LOG(client, UVF_LOG_WARNING,
			   "%s: unexpected reply of %zu bytes with %zu fds (expected %zu bytes)",
			   uvf__cmd_name(command), reply.len, reply.nfds, expect_len);
		rc = -EPROTO;
	}
	uvf__client_reply_done(client);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

static void set_server_caps(struct uvf_client *client, const struct uvf_version_view *view, const struct uvf_caps *caps)
{
	struct uvf_server_caps *out = &client->caps;
	uint64_t big_pages = caps->pgsizes & ~(uint64_t)4095;

	out->major = view->major;
	out->minor = view->minor;
	out->max_msg_fds = caps->max_msg_fds;
	out->max_data_xfer_size = caps->max_data_xfer_size;
	out->max_dma_maps = caps->max_dma_maps;
	out->pgsizes = caps->pgsizes;
	out->write_multiple = caps->write_multiple;
	out->twin_socket = caps->twin_socket;
	if (view->json) {
		size_t n = view->json_len < sizeof(out->json) - 1 ? view->json_len : sizeof(out->json) - 1;

		memcpy(out->json, view->json, n);
		out->json[n] = '\0';
	}
	/* We never map below 4 KiB (the parser guarantees a bit >= 4096). */
	client->min_pgsize = big_pages ? big_pages & (~big_pages + 1) : 4096;
}

static int negotiate(struct uvf_client *client)
{
	struct uvf_version version = {.major = UVF_PROTO_MAJOR, .minor = UVF_PROTO_MINOR};
	char json[UVF_CAPS_JSON_MAX];
	struct uvf_version_view view;
	struct uvf_client_reply reply;
	struct uvf_why why = {{0}};
	struct uvf_caps ours, theirs;
	struct iovec iov[2];
	int len, rc;

	uvf__caps_defaults(&ours);
	ours.max_msg_fds = client->our_max_fds;
	ours.max_data_xfer_size = client->our_max_xfer;
	len = uvf__caps_encode(&ours, json, sizeof(json));
	if (len < 0) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "VERSION: cannot encode our capabilities: %s", uvf_strerror(len));
		return len;
	}
	iov[0].iov_base = &version;
	iov[0].iov_len = sizeof(version);
	iov[1].iov_base = json;
	iov[1].iov_len = (size_t)len;

	rc = request(client, UVF_CMD_VERSION, iov, 2, NULL, 0, true, &reply);
	if (rc == -EMSGSIZE)
		return -EPROTO; /* a header no vfio-user server would send */
	if (rc < 0 && !client->broken && rc != -ETIMEDOUT) {
		/* an error reply */
		CLIENT_LOG(client, UVF_LOG_ERROR, "the server refused VERSION %u.%u: %s", UVF_PROTO_MAJOR,
			   UVF_PROTO_MINOR, uvf_strerror(rc));
		return -EPROTO;
	}
	if (rc < 0)
		return rc;

	rc = uvf__decode_version(reply.payload, reply.len, reply.nfds, 1, &view, &why);
	if (rc) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "bad VERSION reply: %s", why.text);
		goto fail;
	}
	if (view.major != UVF_PROTO_MAJOR || view.minor > UVF_PROTO_MINOR) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "server answered VERSION %u.%u, we proposed %u.%u",
			   (unsigned)view.major, (unsigned)view.minor, UVF_PROTO_MAJOR, UVF_PROTO_MINOR);
		goto fail;
	}
	if (view.json) {
		rc = uvf__caps_parse(view.json, view.json_len, &theirs, &why);
		if (rc) {
			CLIENT_LOG(client, UVF_LOG_ERROR, "bad capabilities in the VERSION reply: %s", why.text);
			goto fail;
		}
	} else {
		/* No JSON: every key takes its default (max_msg_fds 1). */
		uvf__caps_defaults(&theirs);
	}
	if (reply.nfds > 0)
		/* Only a twin socket may come with the reply, and we did not
		 * offer one: the fd is closed with the reply. */
		CLIENT_LOG(client, UVF_LOG_WARNING, "VERSION reply carried %zu unrequested fd(s), closed", reply.nfds);
	set_server_caps(client, &view, &theirs);
	uvf__client_reply_done(client);
	CLIENT_LOG(client, UVF_LOG_INFO,
		   "connected: protocol %u.%u, server max_data_xfer_size %u, max_msg_fds %u, max_dma_maps %u",
		   (unsigned)client->caps.major, (unsigned)client->caps.minor,
		   (unsigned)client->caps.max_data_xfer_size, (unsigned)client->caps.max_msg_fds,
		   (unsigned)client->caps.max_dma_maps);
	return 0;

fail:
	uvf__client_reply_done(client);
	return -EPROTO;
}

static int check_opts(struct uvf_client *client, const struct uvf_client_opts *opts)
{
	if (opts->version < 1 || opts->version > UVF_CLIENT_OPTS_VERSION) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client options version %u unknown (expected %u)", opts->version,
			   UVF_CLIENT_OPTS_VERSION);
		return -EINVAL;
	}
	if (opts->timeout_ms < -1 || opts->timeout_ms == 0) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client timeout_ms %d: must be positive or -1", opts->timeout_ms);
		return -EINVAL;
	}
	if (opts->max_data_xfer_size < UVF_CAPS_MIN_XFER || opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client max_data_xfer_size %u outside %u..%u",
			   (unsigned)opts->max_data_xfer_size, UVF_CAPS_MIN_XFER, UVF_CAPS_MAX_XFER_LIMIT);
		return -EINVAL;
	}
	if (opts->max_msg_fds > UVF_TRANSPORT_MAX_FDS) {
		CLIENT_LOG(client, UVF_LOG_ERROR, "client max_msg_fds %u above %u", (unsigned)opts->max_msg_fds,
			   UVF_TRANSPORT_MAX_FDS);
		return -EINVAL;
	}
	return 0;
}

UVF_API int uvf_client_connect(struct uvf_client **out, const char *path, const struct uvf_client_opts *opts)
{
	static const struct uvf_client_opts defaults = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *client;
	struct uvf_why why = {{0}};
	uint32_t rx_limit;
	int rc;

	if (out == NULL || path == NULL)
		return -EINVAL;
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	client = calloc(1, sizeof(*client));
	if (client == NULL)
		return -ENOMEM;
	client->sock = -1;
	client->next_id = 1;
	uvf__logger_init(&client->log, opts->log, opts->log_data,
			 opts->log_level > UVF_LOG_DEBUG ? UVF_LOG_DEBUG : opts->log_level);
	/* Data replies carry at most our max_data_xfer_size bytes. */
	rx_limit = UVF_MSG_HEADER_SIZE + sizeof(struct uvf_region_access) + opts->max_data_xfer_size;
	if (opts->max_data_xfer_size > UVF_CAPS_MAX_XFER_LIMIT || rx_limit < RX_MIN_LIMIT)
		rx_limit = RX_MIN_LIMIT;
	uvf__rx_init(&client->rx, rx_limit);

	rc = check_opts(client, opts);
	if (rc)
		goto fail;
	client->timeout_ms = opts->timeout_ms;
	client->our_max_xfer = opts->max_data_xfer_size;
	client->our_max_fds = opts->max_msg_fds;

	rc = uvf__sock_connect(path, &client->sock, &why);
	if (rc) {
		if (why.text[0])
			CLIENT_LOG(client, UVF_LOG_ERROR, "cannot connect: %s", why.text);
		else
			CLIENT_LOG(client, UVF_LOG_ERROR, "cannot connect to %s: %s", path, uvf_strerror(rc));
		goto fail;
	}
	rc = negotiate(client);
	if (rc)
		goto fail;
	*out = client;
	return 0;

fail:
	uvf_client_close(client);
	return rc;
}

UVF_API void uvf_client_close(struct uvf_client *client)
{
	if (client == NULL)
		return;
	/* The server drops our DMA mappings and IRQ fds when we go away, so
	 * nothing needs to be sent first. */
	if (client->sock >= 0)
		close(client->sock);
	uvf__rx_destroy(&client->rx);
	uvf__client_dma_forget_all(client);
	free(client->dma);
	for (size_t i = 0; i < client->nregion_fds; i++)
		close(client->region_fds[i].fd);
	free(client->region_fds);
	free(client);
}

UVF_API const struct uvf_server_caps *uvf_client_server_caps(const struct uvf_client *client)
{
	return client ? &client->caps : NULL;
}

UVF_API int uvf_client_poll_fd(const struct uvf_client *client)
{
	return client ? client->sock : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Between calls                                                        */
/* ------------------------------------------------------------------ */

UVF_API int uvf_client_process(struct uvf_client *client)
{
	int served = 0;
	int rc;

	rc = uvf__client_check(client);
	if (rc)
		return rc;
	for (int i = 0; i < PROCESS_MAX_MESSAGES; i++) {
		struct uvf_why why = {{0}};

		rc = uvf__rx_read(&client->rx, client->sock, &why);
		if (rc == 0)
			break;
		if (rc < 0)
			return mark_broken(client, rc, why.text);
		if ((client->rx.hdr.flags & UVF_MSG_TYPE_MASK) == UVF_MSG_TYPE_REPLY) {
			/* No request is pending between calls. */
			drop_reply(client);
			continue;
		}
		rc = uvf__client_serve_command(client);
		uvf__rx_release(&client->rx);
		if (rc < 0)
			return rc;
		served++;
	}
	return served;
}

UVF_API int uvf_client_call(struct uvf_client *client, uint16_t command, const void *payload, size_t len,
			    const int *fds, size_t nfds, void *reply_buf, size_t reply_cap, size_t *reply_len)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	struct uvf_client_reply reply;
	int rc;

	if (reply_len)
		*reply_len = 0;
	if ((len > 0 && payload == NULL) || (nfds > 0 && fds == NULL) || (reply_cap > 0 && reply_buf == NULL))
		return -EINVAL;
	rc = uvf__client_request(client, command, &iov, len ? 1 : 0, fds, nfds, &reply);
	if (rc)
		return rc;
	if (reply_cap > 0 && reply.len > 0)
		memcpy(reply_buf, reply.payload, reply.len < reply_cap ? reply.len : reply_cap);
	if (reply_len)
		*reply_len = reply.len;
	rc = reply.len > reply_cap ? -EMSGSIZE : 0;
	/* fds that came with the reply have no place to go: closed here. */
	uvf__client_reply_done(client);
	return rc;
}
