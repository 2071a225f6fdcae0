/* SPDX-License-Identifier: MIT */
/* Checking and building the 16-byte message header. */
#include <errno.h>

#include "proto/msg.h"

/* Largest errno an error reply may carry; anything else means EINVAL. */
#define UVF_ERRNO_MAX 4095u

int uvf__msg_check_header(const struct uvf_msg_header *hdr, uint32_t max_msg_size, struct uvf_why *why)
{
	uint32_t flags = hdr->flags;
	uint32_t type = flags & UVF_MSG_TYPE_BITS;
	const char *name = uvf__cmd_name(hdr->command);

	if (hdr->msg_size < UVF_MSG_HEADER_SIZE)
		return uvf__why(why, -EPROTO, "%s id %u: msg_size %u smaller than the 16-byte header", name,
				(unsigned)hdr->msg_id, (unsigned)hdr->msg_size);
	if (hdr->msg_size > max_msg_size)
		return uvf__why(why, -EMSGSIZE, "%s id %u: msg_size %u above the limit %u", name, (unsigned)hdr->msg_id,
				(unsigned)hdr->msg_size, (unsigned)max_msg_size);
	if (type != UVF_MSG_TYPE_COMMAND && type != UVF_MSG_TYPE_REPLY)
		return uvf__why(why, -EPROTO, "%s id %u: message type %u is neither command (0) nor reply (1)", name,
				(unsigned)hdr->msg_id, (unsigned)type);
	if (flags & ~UVF_MSG_FLAGS_KNOWN)
		return uvf__why(why, -EPROTO, "%s id %u: unknown header flags 0x%x", name, (unsigned)hdr->msg_id,
				(unsigned)(flags & ~UVF_MSG_FLAGS_KNOWN));
	if (type == UVF_MSG_TYPE_REPLY && (flags & UVF_MSG_FLAG_NO_REPLY))
		return uvf__why(why, -EPROTO, "%s id %u: NO_REPLY flag on a reply", name, (unsigned)hdr->msg_id);
	if (type == UVF_MSG_TYPE_COMMAND && (flags & UVF_MSG_FLAG_ERROR))
		return uvf__why(why, -EPROTO, "%s id %u: ERROR flag on a command", name, (unsigned)hdr->msg_id);
	return 0;
}

int uvf__msg_reply_errno(const struct uvf_msg_header *hdr)
{
	/* The protocol allows ERROR with error 0; treat it, and nonsense
	 * values, as EINVAL so the caller always gets a usable errno. */
	if (hdr->error == 0 || hdr->error > UVF_ERRNO_MAX)
		return EINVAL;
	return (int)hdr->error;
}

void uvf__msg_header_init(struct uvf_msg_header *hdr, uint16_t id, uint16_t command, uint32_t msg_size, uint32_t flags,
			  uint32_t error)
{
	hdr->msg_id = id;
	hdr->command = command;
	hdr->msg_size = msg_size;
	hdr->flags = flags;
	hdr->error = error;
}

void uvf__msg_error_reply(struct uvf_msg_header *out, const struct uvf_msg_header *req, int err)
{
	/* Accept a negative errno too, and never put 0 on the wire: a peer
	 * would read an ERROR reply without a reason. */
	if (err == 0 || err > (int)UVF_ERRNO_MAX || err < -(int)UVF_ERRNO_MAX)
		err = EINVAL;
	else if (err < 0)
		err = -err;
	uvf__msg_header_init(out, req->msg_id, req->command, UVF_MSG_HEADER_SIZE,
			     UVF_MSG_TYPE_REPLY | UVF_MSG_FLAG_ERROR, (uint32_t)err);
}
