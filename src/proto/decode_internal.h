/* SPDX-License-Identifier: MIT */
/* Small checks shared by the decoders (internal to src/proto). */
#ifndef UVF_PROTO_DECODE_INTERNAL_H
#define UVF_PROTO_DECODE_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "proto/msg.h"

/* True when a + b does not fit in 64 bits (an end address would wrap). */
static inline bool uvf__wraps64(uint64_t a, uint64_t b)
{
	uint64_t sum;

	return __builtin_add_overflow(a, b, &sum);
}

static inline int uvf__expect_no_fds(const char *what, size_t nfds, struct uvf_why *why)
{
	if (nfds != 0)
		return uvf__why(why, -EINVAL, "%s: %zu file descriptors, expected none", what, nfds);
	return 0;
}

static inline int uvf__expect_len(const char *what, size_t len, size_t expected, struct uvf_why *why)
{
	if (len != expected)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected %zu", what, len, expected);
	return 0;
}

static inline int uvf__expect_min_len(const char *what, size_t len, size_t minimum, struct uvf_why *why)
{
	if (len < minimum)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected at least %zu", what, len, minimum);
	return 0;
}

static inline int uvf__expect_min_argsz(const char *what, uint32_t argsz, size_t minimum, struct uvf_why *why)
{
	if (argsz < minimum)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " below %zu", what, argsz, minimum);
	return 0;
}

#endif /* UVF_PROTO_DECODE_INTERNAL_H */
