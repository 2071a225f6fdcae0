/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every layer uses (internal): powers of two, range ends
 * and the monotonic clock. Atomics are GCC's __atomic builtins throughout the
 * library (one style, usable on plain fields shared with other code).
 */
#ifndef UVF_UTIL_H
#define UVF_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline bool uvf__is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* log2 of v, rounded down (0 for 0). */
static inline unsigned uvf__log2(uint64_t v)
{
	return v ? 63u - (unsigned)__builtin_clzll(v) : 0;
}

/* The last byte of [addr, addr + size): size > 0 and no wrap past 2^64
 * (checked by a decoder or the caller). */
static inline uint64_t uvf__range_last(uint64_t addr, uint64_t size)
{
	return addr + (size - 1);
}

/* CLOCK_MONOTONIC in nanoseconds and in milliseconds. */
static inline uint64_t uvf__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t uvf__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* UVF_UTIL_H */
