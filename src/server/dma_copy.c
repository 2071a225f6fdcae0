/* SPDX-License-Identifier: MIT */
/*
 * Mid-sized copies for mapped DMA (dma_copy.h).
 *
 * Which loop runs is decided once, from the CPU: 64-byte moves on AMD CPUs
 * with AVX-512 (full-width stores cost them no clock speed), 32-byte moves
 * elsewhere with AVX2 when the two buffers are misaligned against each
 * other (for a pair at the same offset `rep movsb` is as fast), memcpy
 * otherwise. Under ThreadSanitizer always memcpy: it checks a memcpy's
 * whole range but not wide vector accesses.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "server/dma_copy.h"

#if defined(__SANITIZE_THREAD__)
#define DMA_COPY_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMA_COPY_PLAIN 1
#endif
#endif

#if defined(__x86_64__) && !defined(DMA_COPY_PLAIN) && (defined(__GNUC__) || defined(__clang__))
#define DMA_COPY_X86 1
#include <immintrin.h>
#endif

enum copy_mode {
	MODE_UNSET = 0,
	MODE_MEMCPY = 1,
	MODE_AVX2 = 2,
	MODE_AVX512 = 3,
};

static int mode; /* atomic: enum copy_mode */

#ifdef DMA_COPY_X86
/* One block: four 32-byte moves (avx2) or four 64-byte moves (avx512);
 * all loads before the stores. */
__attribute__((target("avx2"), always_inline)) static inline void block_avx2(uint8_t *dst, const uint8_t *src)
{
	__m256i a = _mm256_loadu_si256((const __m256i *)src);
	__m256i b = _mm256_loadu_si256((const __m256i *)(src + 32));
	__m256i c = _mm256_loadu_si256((const __m256i *)(src + 64));
	__m256i d = _mm256_loadu_si256((const __m256i *)(src + 96));
	_mm256_storeu_si256((__m256i *)dst, a);
	_mm256_storeu_si256((__m256i *)(dst + 32), b);
	_mm256_storeu_si256((__m256i *)(dst + 64), c);
	_mm256_storeu_si256((__m256i *)(dst + 96), d);
}

__attribute__((target("avx512f"), always_inline)) static inline void block_avx512(uint8_t *dst, const uint8_t *src)
{
	__m512i a = _mm512_loadu_si512(src);
	__m512i b = _mm512_loadu_si512(src + 64);
	__m512i c = _mm512_loadu_si512(src + 128);
	__m512i d = _mm512_loadu_si512(src + 192);
	_mm512_storeu_si512(dst, a);
	_mm512_storeu_si512(dst + 64, b);
	_mm512_storeu_si512(dst + 128, c);
	_mm512_storeu_si512(dst + 192, d);
}

/* n >= 128. Blocks of 128 bytes, then the last 128 bytes, overlapping
 * what the loop copied (the same bytes again: src and dst do not overlap). */
__attribute__((target("avx2"))) static void copy_avx2(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i + 128 <= n; i += 128)
		block_avx2(dst + i, src + i);
	if (i < n)
		block_avx2(dst + n - 128, src + n - 128);
	_mm256_zeroupper();
}

/* n >= 256, the same with 256-byte blocks. */
__attribute__((target("avx512f"))) static void copy_avx512(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i + 256 <= n; i += 256)
		block_avx512(dst + i, src + i);
	if (i < n)
		block_avx512(dst + n - 256, src + n - 256);
	_mm256_zeroupper();
}

static bool cpu_has(int m)
{
	__builtin_cpu_init(); /* idempotent; a library may run before libgcc's constructor */
	if (m == MODE_AVX512)
		return __builtin_cpu_supports("avx512f");
	if (m == MODE_AVX2)
		return __builtin_cpu_supports("avx2");
	return m == MODE_MEMCPY;
}

static int choose(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_is("amd") && cpu_has(MODE_AVX512))
		return MODE_AVX512;
	if (cpu_has(MODE_AVX2))
		return MODE_AVX2;
	return MODE_MEMCPY;
}
#else
static bool cpu_has(int m)
{
	return m == MODE_MEMCPY;
}

static int choose(void)
{
	return MODE_MEMCPY;
}
#endif

void uvf__dma_copy_vector(void *dst, const void *src, size_t n)
{
	int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);

	if (__builtin_expect(m == MODE_UNSET, 0)) {
		m = choose();
		__atomic_store_n(&mode, m, __ATOMIC_RELAXED); /* every thread finds the same */
	}
#ifdef DMA_COPY_X86
	if (m == MODE_AVX512 && n >= 256) {
		copy_avx512(dst, src, n);
		return;
	}
	if (m == MODE_AVX2 && n >= 128 && (((uintptr_t)dst - (uintptr_t)src) & 63)) {
		copy_avx2(dst, src, n);
		return;
	}
#endif
	memcpy(dst, src, n);
}

int uvf__dma_copy_force(const char *name)
{
	int m = !name			  ? MODE_UNSET
		: !strcmp(name, "memcpy") ? MODE_MEMCPY
		: !strcmp(name, "avx2")	  ? MODE_AVX2
		: !strcmp(name, "avx512") ? MODE_AVX512
					  : -1;

	if (m < 0)
		return -EINVAL;
	if (m != MODE_UNSET && !cpu_has(m))
		return -ENOTSUP;
	__atomic_store_n(&mode, m, __ATOMIC_RELAXED);
	return 0;
}
