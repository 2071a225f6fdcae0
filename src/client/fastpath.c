/* SPDX-License-Identifier: MIT */
/* Fast region access: placeholder until the fast paths land. */
#include <errno.h>

#include "client/client_internal.h"

void uvf__client_fast_free(struct uvf_client *client)
{
	(void)client;
}

int uvf__client_fast_flush_locked(struct uvf_client *client)
{
	(void)client;
	return 0;
}
