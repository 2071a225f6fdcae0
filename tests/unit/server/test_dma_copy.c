/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the mapped-DMA copy (server/dma_copy.h): every loop this
 * CPU has copies exactly the bytes asked for, at every size around its
 * block sizes and thresholds and at every relative alignment, and touches
 * nothing around them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/dma_copy.h"

#define GUARD 64u
#define SPAN  (UVF_DMA_COPY_VECTOR_MAX + 2 * 256u)

static const size_t sizes[] = {
	0,
	1,
	31,
	64,
	127,
	128,
	255,
	256,
	1000,
	UVF_DMA_COPY_VECTOR_MIN - 1,
	UVF_DMA_COPY_VECTOR_MIN,
	UVF_DMA_COPY_VECTOR_MIN + 1,
	UVF_DMA_COPY_VECTOR_MIN + 63,
	UVF_DMA_COPY_VECTOR_MIN + 127,
	UVF_DMA_COPY_VECTOR_MIN + 128,
	UVF_DMA_COPY_VECTOR_MIN + 255,
	3000,
	4095,
	4096,
	4097,
	4096 + 200,
	8192 - 1,
	12345,
	UVF_DMA_COPY_VECTOR_MAX - 1,
	UVF_DMA_COPY_VECTOR_MAX,
	UVF_DMA_COPY_VECTOR_MAX + 1,
	UVF_DMA_COPY_VECTOR_MAX + 129,
};

static uint8_t *src_buf, *dst_buf;

static int setup(void **state)
{
	(void)state;
	/* page-aligned, as client memory is: offsets below are exact */
	if (posix_memalign((void **)&src_buf, 4096, SPAN + 2 * GUARD + 64) ||
	    posix_memalign((void **)&dst_buf, 4096, SPAN + 2 * GUARD + 64))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(src_buf);
	free(dst_buf);
	uvf__dma_copy_force(NULL);
	return 0;
}

/* Copy with the loop named mode (skipped where this CPU lacks it). */
static void copies_exactly(const char *mode)
{
	int ret = uvf__dma_copy_force(mode);

	if (ret == -ENOTSUP) {
		print_message("no %s loop on this CPU or build: skipped\n", mode);
		skip();
	}
	assert_int_equal(ret, 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		for (size_t so = 0; so < 64; so += 5) {
			for (size_t d = 0; d < 64; d += 3) {
				uint8_t *src = src_buf + GUARD + so, *dst = dst_buf + GUARD + d;
				for (size_t i = 0; i < n; i++)
					src[i] = (uint8_t)(i * 7 + so + 1);
				memset(dst_buf, 0xa5, SPAN + 2 * GUARD + 64);
				uvf__dma_copy(dst, src, n);
				if (n && memcmp(dst, src, n) != 0)
					fail_msg(
						"%s: %zu bytes, source offset %zu, destination offset %zu: wrong bytes",
						mode, n, so, d);
				for (uint8_t *p = dst_buf; p < dst; p++)
					if (*p != 0xa5)
						fail_msg("%s: %zu bytes at offset %zu: byte %td before written", mode,
							 n, d, dst - p);
				for (uint8_t *p = dst + n; p < dst_buf + SPAN + 2 * GUARD + 64; p++)
					if (*p != 0xa5)
						fail_msg("%s: %zu bytes at offset %zu: byte %td after written", mode, n,
							 d, p - (dst + n));
			}
		}
	}
}

static void memcpy_loop_copies_exactly(void **state)
{
	(void)state;
	copies_exactly("memcpy");
}

static void avx2_loop_copies_exactly(void **state)
{
	(void)state;
	copies_exactly("avx2");
}

static void avx512_loop_copies_exactly(void **state)
{
	(void)state;
	copies_exactly("avx512");
}

static void cpu_choice_copies_exactly(void **state)
{
	(void)state;
	assert_int_equal(uvf__dma_copy_force(NULL), 0);
	/* the first copy chooses */
	uint8_t a[UVF_DMA_COPY_VECTOR_MIN + 40], b[sizeof(a)];
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i ^ 0x5a);
	memset(b, 0, sizeof(b));
	uvf__dma_copy(b + 1, a + 8, UVF_DMA_COPY_VECTOR_MIN + 3);
	assert_memory_equal(b + 1, a + 8, UVF_DMA_COPY_VECTOR_MIN + 3);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[UVF_DMA_COPY_VECTOR_MIN + 4], 0);
}

static void unknown_loops_are_refused(void **state)
{
	(void)state;
	assert_int_equal(uvf__dma_copy_force("sse"), -EINVAL);
	assert_int_equal(uvf__dma_copy_force(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(memcpy_loop_copies_exactly), cmocka_unit_test(avx2_loop_copies_exactly),
		cmocka_unit_test(avx512_loop_copies_exactly), cmocka_unit_test(cpu_choice_copies_exactly),
		cmocka_unit_test(unknown_loops_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
