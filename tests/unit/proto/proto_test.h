/* SPDX-License-Identifier: MIT */
/* Helpers for the proto unit tests. Include after <cmocka.h>. */
#ifndef UVF_TEST_PROTO_TEST_H
#define UVF_TEST_PROTO_TEST_H

#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

/*
 * Copy src into a heap block that ends exactly at byte len, at an odd
 * address: ASan catches any read past len, UBSan any misaligned load.
 * Bytes beyond src_len are zero.
 */
static inline uint8_t *wire_copy(const void *src, size_t src_len, size_t len)
{
	uint8_t *block = malloc(len + 1);

	assert_non_null(block);
	memset(block, 0, len + 1);
	if (src_len > len)
		src_len = len;
	if (src_len > 0)
		memcpy(block + 1, src, src_len);
	return block + 1;
}

static inline void wire_free(uint8_t *payload)
{
	free(payload - 1);
}

/* A refusal must carry the expected errno and a reason naming the command. */
#define assert_refused(ret, err, why, name)                                                                            \
	do {                                                                                                           \
		assert_int_equal((ret), (err));                                                                        \
		assert_non_null(strstr((why).text, (name)));                                                           \
	} while (0)

#endif /* UVF_TEST_PROTO_TEST_H */
