/*
 * nvme-io: write or check a deterministic pattern in a block device or a
 * file, for the uvf-nvme end-to-end boots. Runs in the guest (on
 * /dev/nvme0n1, with O_DIRECT so that each call becomes NVMe commands
 * whose data sits in this process's buffer) and on the host (on the
 * device's backing file, after the guest powered off): both sides compute
 * the same bytes, so the host can check that what the guest wrote reached
 * the backing store at the same offsets.
 *
 * Usage: nvme-io [-d] write|verify PATH OFFSET LENGTH SEED [MEMOFF]
 *
 *   -d       O_DIRECT (OFFSET, LENGTH, MEMOFF multiples of 512)
 *   MEMOFF   where the data starts inside its page-aligned buffer, so the
 *            first PRP entry of a request can carry an offset (default 0)
 *
 * The byte at absolute offset P is a hash of SEED and P (32-bit words,
 * little-endian): a block written to the wrong place does not match.
 * write: one pwrite of LENGTH bytes, then fsync (an NVMe Flush when the
 * controller has a volatile write cache). verify: one pread, then a
 * compare; prints the first difference and the number of differing words.
 * Exit status 0 on success, 1 on a failed check, 2 on bad usage.
 *
 * Build: gcc -static -O2 -Wall -Wextra -o nvme-io tests/qemu-guests/guest/nvme-io.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t pattern_word(uint32_t seed, uint64_t pos)
{
	/* murmur3's finaliser over seed and word index: cheap, well mixed */
	uint64_t k = (pos / 4) ^ ((uint64_t)seed << 32) ^ 0x9e3779b97f4a7c15ull;
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (uint32_t)k;
}

static void fill(unsigned char *buf, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i;
		uint32_t w = pattern_word(seed, pos);
		buf[i] = (unsigned char)(w >> (8 * (pos % 4)));
	}
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: nvme-io [-d] write|verify PATH OFFSET LENGTH SEED [MEMOFF]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int direct = 0;
	uint64_t off, len, seed, memoff = 0;

	if (argc > 1 && strcmp(argv[1], "-d") == 0) {
		direct = 1;
		argc--;
		argv++;
	}
	if (argc != 6 && argc != 7)
		usage();
	int writing = strcmp(argv[1], "write") == 0;
	if (!writing && strcmp(argv[1], "verify") != 0)
		usage();
	const char *path = argv[2];
	if (parse_u64(argv[3], &off) || parse_u64(argv[4], &len) || parse_u64(argv[5], &seed) ||
	    (argc == 7 && parse_u64(argv[6], &memoff)))
		usage();
	if (len == 0 || len > (1u << 30) || memoff >= 4096 || seed > UINT32_MAX)
		usage();
	if (direct && (off % 512 || len % 512 || memoff % 512)) {
		fprintf(stderr, "nvme-io: -d wants OFFSET, LENGTH, MEMOFF multiples of 512\n");
		return 2;
	}

	int flags = writing ? O_RDWR : O_RDONLY;
	if (direct)
		flags |= O_DIRECT;
	struct stat st;
	if (writing && (stat(path, &st) != 0 || !S_ISBLK(st.st_mode)))
		flags |= O_CREAT;
	int fd = open(path, flags, 0644);
	if (fd < 0) {
		printf("nvme-io: open %s: %s\n", path, strerror(errno));
		return 1;
	}

	unsigned char *base;
	if (posix_memalign((void **)&base, 4096, memoff + len + 4096) != 0) {
		printf("nvme-io: out of memory\n");
		return 1;
	}
	unsigned char *buf = base + memoff;
	unsigned char *want = NULL;
	if (writing) {
		fill(buf, off, len, (uint32_t)seed);
	} else {
		want = malloc(len);
		if (!want) {
			printf("nvme-io: out of memory\n");
			return 1;
		}
		fill(want, off, len, (uint32_t)seed);
		memset(buf, 0xa5, len);
	}

	ssize_t n = writing ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
	if (n < 0) {
		printf("nvme-io: %s %s at %" PRIu64 " (%" PRIu64 " bytes): %s\n", argv[1], path, off, len,
		       strerror(errno));
		return 1;
	}
	if ((uint64_t)n != len) {
		printf("nvme-io: %s %s at %" PRIu64 ": %zd of %" PRIu64 " bytes\n", argv[1], path, off, n,
		       len);
		return 1;
	}
	if (writing) {
		if (fsync(fd) != 0) {
			printf("nvme-io: fsync %s: %s\n", path, strerror(errno));
			return 1;
		}
		close(fd);
		return 0;
	}
	close(fd);

	uint64_t first = UINT64_MAX, bad = 0;
	for (uint64_t i = 0; i < len; i++) {
		if (buf[i] != want[i]) {
			if (first == UINT64_MAX)
				first = i;
			bad++;
		}
	}
	if (bad == 0)
		return 0;
	printf("nvme-io: %s: %" PRIu64 " of %" PRIu64 " bytes differ; first at offset %" PRIu64
	       " (want %02x, got %02x)\n",
	       path, bad, len, off + first, want[first], buf[first]);
	return 1;
}
