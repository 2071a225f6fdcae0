/* guest-bench: O_DIRECT throughput and IOPS on a block device, for the
 * nvme benchmark guest (bench/init-nvme.sh). Built static by
 * bench/nvme-guest.sh.
 *
 *   guest-bench DEV seqw|seqr MIB       sequential 1 MiB I/O over the first MIB MiB
 *   guest-bench DEV randw|randr COUNT   COUNT random 4 KiB I/O in the first 32 MiB
 *
 * Prints one line: "MODE VALUE UNIT" (MB/s for seq*, IOPS for rand*).
 * Writes end with fdatasync (an NVMe Flush), counted in the time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BS (1024 * 1024)
#define RAND_BS 4096
#define RAND_SPAN (32ULL * 1024 * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fixed seed: every run touches the same blocks in the same order. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int do_io(int fd, int wr, void *buf, size_t len, off_t off)
{
	ssize_t n = wr ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (n != (ssize_t)len) {
		fprintf(stderr, "guest-bench: %s at %lld: %s\n", wr ? "write" : "read", (long long)off,
			n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: guest-bench DEV seqw|seqr|randw|randr N\n");
		return 2;
	}
	const char *mode = argv[2];
	long n = strtol(argv[3], NULL, 0);
	int seq = !strncmp(mode, "seq", 3);
	int wr = mode[strlen(mode) - 1] == 'w';

	if (n <= 0 || n > 100000 || (strcmp(mode, "seqw") && strcmp(mode, "seqr") && strcmp(mode, "randw") &&
				     strcmp(mode, "randr"))) {
		fprintf(stderr, "guest-bench: bad mode or count\n");
		return 2;
	}
	int fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "guest-bench: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	void *buf;
	if (posix_memalign(&buf, 4096, SEQ_BS)) {
		return 1;
	}
	memset(buf, 0xa5, SEQ_BS);

	double t0 = now();
	for (long i = 0; i < n; i++) {
		off_t off = seq ? (off_t)i * SEQ_BS : (off_t)(next_rand() % (RAND_SPAN / RAND_BS)) * RAND_BS;
		if (do_io(fd, wr, buf, seq ? SEQ_BS : RAND_BS, off) < 0) {
			return 1;
		}
	}
	if (wr && fdatasync(fd) < 0) {
		fprintf(stderr, "guest-bench: fdatasync: %s\n", strerror(errno));
		return 1;
	}
	double dt = now() - t0;
	if (seq) {
		printf("%s %.2f MB/s\n", mode, (double)n * SEQ_BS / 1e6 / dt);
	} else {
		printf("%s %.0f IOPS\n", mode, (double)n / dt);
	}
	close(fd);
	free(buf);
	return 0;
}
