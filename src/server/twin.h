/* SPDX-License-Identifier: MIT */
/* The twin socket's state (twin.c). */
#ifndef UVF_SERVER_TWIN_H
#define UVF_SERVER_TWIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "transport/transport.h"
#include "uvf/proto.h"

/* An async reply a device thread read on the twin socket, for dispatch. */
struct uvf_twin_stray {
	struct uvf_twin_stray *next;
	struct uvf_msg_header hdr;
	size_t nfds;
	uint8_t body[]; /* hdr.msg_size - 16 bytes */
};

/* fd changes only on the dispatch thread, under lock; device threads use
 * the socket (send, read replies) under lock. */
struct uvf_twin {
	pthread_mutex_t lock;
	int fd;                       /* our end, -1 when not negotiated */
	struct uvf_rx rx;
	bool failed;                  /* a device thread found the stream broken */
	struct uvf_twin_stray *stray; /* async replies a device thread read */
};

#endif /* UVF_SERVER_TWIN_H */
