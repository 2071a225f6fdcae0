/* SPDX-License-Identifier: MIT */
/*
 * The copy behind uvf_dma_read/uvf_dma_write through mapped client memory.
 *
 * Client memory is page-aligned, a device's buffer usually is not: the two
 * sides of a copy are then misaligned against each other. For a few KiB
 * glibc's memcpy uses `rep movsb` there, which on some CPUs (AMD Zen among
 * them) copies such a pair at two thirds of the speed it copies two buffers
 * at the same offset; a loop of unaligned vector loads and stores does not
 * care. Sizes where memcpy takes its own vector loops (small) or streams
 * (large) go to memcpy.
 */
#ifndef UVF_SERVER_DMA_COPY_H
#define UVF_SERVER_DMA_COPY_H

#include <stddef.h>
#include <string.h>

/* The sizes, in bytes, copied by the vector loop when the CPU has one. */
#define UVF_DMA_COPY_VECTOR_MIN 2048u
#define UVF_DMA_COPY_VECTOR_MAX 16384u

/* Copy n bytes that lie in [UVF_DMA_COPY_VECTOR_MIN, UVF_DMA_COPY_VECTOR_MAX]
 * from src to dst (no overlap), with vector moves if the CPU has them. */
void uvf__dma_copy_vector(void *dst, const void *src, size_t n);

/* For tests and benchmarks: use the loop named "memcpy", "avx2" or
 * "avx512" from now on (NULL: the CPU's choice again). 0, -ENOTSUP when
 * this CPU or build does not have it, -EINVAL for another name. */
int uvf__dma_copy_force(const char *name);

/* memcpy(dst, src, n), faster for mid-sized copies between buffers
 * misaligned against each other. */
static inline void uvf__dma_copy(void *dst, const void *src, size_t n)
{
	if (n >= UVF_DMA_COPY_VECTOR_MIN && n <= UVF_DMA_COPY_VECTOR_MAX)
		uvf__dma_copy_vector(dst, src, n);
	else
		memcpy(dst, src, n);
}

#endif /* UVF_SERVER_DMA_COPY_H */
