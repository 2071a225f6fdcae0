/* SPDX-License-Identifier: MIT */
/* The migration tests' pair of servers: a source and a destination server
 * of this process, a client on each, one shared guest memory, and moving a
 * device's state between them (migration_pair.c). */
#ifndef UVF_TEST_MIGRATION_PAIR_H
#define UVF_TEST_MIGRATION_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "idio16/idio16.h"

#define IOVA	 0x100000ull
#define MEM_SIZE 0x40000u
#define FIRES_MS 2000
#define QUIET_MS 100
#define RW	 (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

struct server {
	struct harness h;
	struct uvf_idio16 *model; /* served by uvf_idio16_run() when set */
	struct uvf_client *c;
};

extern int g_fds_before;
void server_start(struct server *s, struct uvf_device *dev, struct uvf_idio16 *model, const char *name);
void server_stop(struct server *s);
int setup(void **state);
int teardown(void **state);
uint8_t *share_memory_by(struct server *src, struct server *dst, bool by_message);
uint8_t *share_memory(struct server *src, struct server *dst);
uint32_t mig_state(struct uvf_client *c);
size_t save_stream(struct uvf_client *c, uint8_t **out);
int load_stream(struct uvf_client *c, const uint8_t *buf, size_t len);
void migrate(struct server *src, struct server *dst);
void retag(uint8_t *buf, size_t len, uint32_t tag);
void broken_streams_are_refused(struct server *src, struct server *dst, const uint8_t *good, size_t len);

#endif
