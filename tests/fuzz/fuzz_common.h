/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets of tests/fuzz: the libFuzzer entry point, a
 * reader that turns the fuzzer's bytes into numbers, the fds a target may
 * attach to a message, an fd-leak check, and the device every server-side
 * target attacks (BARs of each kind, every IRQ index, every capability the
 * library builds, DMA from its BAR 0 registers, live migration with DMA
 * logging).
 *
 * Each target is linked twice: with libFuzzer (clang, meson -Dfuzz=true)
 * and with replay_main.c, which runs checked-in inputs through the same
 * function in every normal build (suite fuzz-regress).
 */
#ifndef UVF_FUZZ_COMMON_H
#define UVF_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvf/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Consume the fuzzer's bytes front to back; reads past the end give 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};
uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* Up to max bytes (fewer when the input ends): *len receives how many. */
const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t max, size_t *len);

/* Number of open fds of this process; fuzz_check_fds aborts (a crash the
 * fuzzer reports with its input) when the count differs from before. */
int fuzz_count_fds(void);
void fuzz_check_fds(int before, const char *target);

/* An fd of one of FUZZ_FD_KINDS kinds for a message (kind taken modulo):
 * eventfd, memfds of several sizes (empty included), a socket (the peer
 * end goes to *peer, -1 otherwise), /dev/null, a pipe end. Caller closes
 * both. -1 on failure. */
#define FUZZ_FD_KINDS 8
int fuzz_make_fd(unsigned kind, int *peer);

/* A log sink that formats nothing to a terminal (logging at DEBUG level
 * still runs every format string against fuzzed values). */
void fuzz_log_sink(void *data, enum uvf_log_level level, const char *line);

/* The device under attack, described but not listening. Its state (DMA
 * buffer, register file) lives in *state until uvf_device_free(). */
struct fuzz_device_state {
	uint64_t dma_addr; /* BAR 0 registers */
	uint32_t dma_len;
	uint32_t scratch[16];
	uint8_t buf[65536]; /* synchronous and asynchronous DMA */
	unsigned async_pending;
	size_t mig_saved; /* bytes of the migration stream saved in this phase */
};
#define FUZZ_BAR0_SIZE	   4096u
#define FUZZ_BAR1_SIZE	   4096u  /* UVF_BAR_MEMORY */
#define FUZZ_BAR2_SIZE	   16384u /* UVF_BAR_MEMORY | UVF_BAR_MMAP, MSI-X table and PBA */
#define FUZZ_IO_BAR_SIZE   256u   /* I/O, BAR 4 (2-3 is one 64-bit BAR) */
#define FUZZ_MSIX_TABLE	   0x3000u
#define FUZZ_MSIX_PBA	   0x3800u
#define FUZZ_MSIX_VECTORS  8u
struct uvf_device *fuzz_device_new(struct fuzz_device_state *state);

/* A listening socket in the abstract namespace, made once per process:
 * devices listen on dup()s of it. fuzz_connect() returns a connected,
 * non-blocking client socket, or -1. */
int fuzz_listen_fd(void);
int fuzz_connect(void);

#endif /* UVF_FUZZ_COMMON_H */
