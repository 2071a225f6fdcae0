/* SPDX-License-Identifier: MIT */
/* uvf/uvf.h - everything: the wire format, the server and the client API, whole messages. */
#ifndef UVF_UVF_H
#define UVF_UVF_H

#include "uvf/common.h"
#include "uvf/proto.h"
#include "uvf/server.h"
#include "uvf/client.h"
#include "uvf/wire.h"

#endif /* UVF_UVF_H */
