/* SPDX-License-Identifier: MIT */
/*
 * uvf-migrate: move a live device from one vfio-user server to another
 * server of the same device type. This process is the client of both and
 * holds the guest memory, which both servers map (one memfd), so memory
 * needs no copying: dirty pages are counted per round as a VMM would copy
 * them. Interrupts: one eventfd per vector of the first index that has
 * vectors (MSI-X, else MSI, else INTx) is attached to both servers, so
 * the device can signal before and after it moves.
 *
 *   uvf-migrate SRC_SOCKET DST_SOCKET [options]
 *
 * Exit status 0 after a migration, 1 on failure (the source is left
 * RUNNING and the destination is disconnected, its half-loaded state
 * discarded), 2 on bad usage.
 *
 * The requests keep to what servers that refuse most commands while
 * stopped (libvfio-user) accept: see docs/migration.md, "What a client
 * must expect from other servers". Servers that resend their whole state
 * in STOP_COPY after pre-copy (libvfio-user's sample) need --no-precopy.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migrate/migrate.h"
#include "uvf/client.h"

#define MAX_VECTORS 2048

static void usage(FILE *out)
{
	fprintf(out,
		"usage: uvf-migrate SRC_SOCKET DST_SOCKET [options]\n"
		"Move a running device from the server at SRC_SOCKET to the one at DST_SOCKET.\n"
		"  --mem SIZE            guest memory shared with both servers (default 16M; 0 = none)\n"
		"  --max-rounds N        pre-copy rounds at most (default 8, at most %d)\n"
		"  --converge-bytes N    end pre-copy after a round with at most N bytes of device data (0)\n"
		"  --converge-pages N    ... and at most N dirty pages (0)\n"
		"  --round-delay MS      pause between pre-copy rounds (default 10)\n"
		"  --no-precopy          go straight to stop-and-copy; needed with servers that send their\n"
		"                        whole state again in STOP_COPY after pre-copy (libvfio-user's sample)\n"
		"  --no-irqs             attach no interrupt eventfds\n"
		"  --timeout MS          per reply (default 5000)\n"
		"  --hold                after migrating, stay connected until SIGINT/SIGTERM\n"
		"  --json                print a JSON summary on stdout\n"
		"  --quiet               no progress on stderr\n",
		MIGRATE_MAX_ROUNDS);
}

/* "16M", "4096", "1G": bytes, or -1. */
static long long parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > (1ull << 40))
		return -1;
	return (long long)v;
}

static long long parse_number(const char *s, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end != '\0' || v < 0 || v > max)
		return -1;
	return v;
}

/* Attach eventfds to the first IRQ index with vectors on both clients
 * (as many as both have; devices that differ are refused later, with a
 * clearer message). *index = the index used (-1 = none); fds[0..*count)
 * are ours to close. */
static int wire_irqs(struct uvf_client *src, struct uvf_client *dst, int *fds, uint32_t *count, int *index)
{
	static const uint32_t order[] = {UVF_PCI_MSIX_IRQ, UVF_PCI_MSI_IRQ, UVF_PCI_INTX_IRQ};
	struct uvf_msg_device_info src_info, dst_info;
	int rc;

	*count = 0;
	*index = -1;
	rc = uvf_client_device_info(src, &src_info);
	if (rc == 0)
		rc = uvf_client_device_info(dst, &dst_info);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct uvf_msg_irq_info a, b;
		uint32_t n;

		if (order[i] >= src_info.num_irqs || order[i] >= dst_info.num_irqs ||
		    uvf_client_irq_info(src, order[i], &a) != 0 || uvf_client_irq_info(dst, order[i], &b) != 0)
			continue;
		if (!(a.flags & b.flags & UVF_IRQ_INFO_EVENTFD))
			continue;
		n = a.count < b.count ? a.count : b.count;
		n = n < MAX_VECTORS ? n : MAX_VECTORS;
		if (n == 0)
			continue;
		for (uint32_t v = 0; v < n; v++) {
			fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (fds[v] < 0) {
				rc = -errno;
				for (uint32_t k = 0; k < v; k++)
					close(fds[k]);
				return rc;
			}
		}
		*count = n;
		*index = (int)order[i];
		rc = uvf_client_set_irq_eventfds(src, order[i], 0, n, fds);
		if (rc == 0)
			rc = uvf_client_set_irq_eventfds(dst, order[i], 0, n, fds);
		return rc;
	}
	return 0;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned)(unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static volatile sig_atomic_t stop_holding;

static void on_signal(int sig)
{
	(void)sig;
	stop_holding = 1;
}

int main(int argc, char **argv)
{
	enum {
		OPT_MEM = 256,
		OPT_ROUNDS,
		OPT_CBYTES,
		OPT_CPAGES,
		OPT_DELAY,
		OPT_NOPRE,
		OPT_NOIRQ,
		OPT_TIMEOUT,
		OPT_HOLD,
		OPT_JSON,
		OPT_QUIET
	};
	static const struct option long_opts[] = {
		{"mem", required_argument, NULL, OPT_MEM},
		{"max-rounds", required_argument, NULL, OPT_ROUNDS},
		{"converge-bytes", required_argument, NULL, OPT_CBYTES},
		{"converge-pages", required_argument, NULL, OPT_CPAGES},
		{"round-delay", required_argument, NULL, OPT_DELAY},
		{"no-precopy", no_argument, NULL, OPT_NOPRE},
		{"no-irqs", no_argument, NULL, OPT_NOIRQ},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"hold", no_argument, NULL, OPT_HOLD},
		{"json", no_argument, NULL, OPT_JSON},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct migrate_opts mopts = MIGRATE_OPTS_INIT;
	struct uvf_client_opts copts = UVF_CLIENT_OPTS_INIT;
	struct migrate_result res;
	struct uvf_client *src = NULL, *dst = NULL;
	static int irq_fds[MAX_VECTORS];
	uint32_t nirq = 0;
	int irq_index = -1;
	long long mem = 16ll << 20, v;
	bool json = false, quiet = false, hold = false, no_irqs = false;
	void *guest = NULL;
	int c, rc, status = 1;

	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_MEM:
			mem = parse_size(optarg);
			if (mem < 0 || mem % 4096) {
				fprintf(stderr, "uvf-migrate: --mem %s: a size in bytes (K/M/G), a multiple of 4096\n",
					optarg);
				return 2;
			}
			break;
		case OPT_ROUNDS:
			if ((v = parse_number(optarg, MIGRATE_MAX_ROUNDS)) < 1) {
				fprintf(stderr, "uvf-migrate: --max-rounds %s: 1..%d\n", optarg, MIGRATE_MAX_ROUNDS);
				return 2;
			}
			mopts.max_rounds = (unsigned)v;
			break;
		case OPT_CBYTES:
		case OPT_CPAGES:
			if ((v = parse_number(optarg, INT64_MAX)) < 0) {
				fprintf(stderr, "uvf-migrate: %s: a number\n", optarg);
				return 2;
			}
			if (c == OPT_CBYTES)
				mopts.converge_bytes = (uint64_t)v;
			else
				mopts.converge_pages = (uint64_t)v;
			break;
		case OPT_DELAY:
			if ((v = parse_number(optarg, 60000)) < 0) {
				fprintf(stderr, "uvf-migrate: --round-delay %s: 0..60000 ms\n", optarg);
				return 2;
			}
			mopts.round_delay_ms = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if ((v = parse_number(optarg, 3600000)) < 1) {
				fprintf(stderr, "uvf-migrate: --timeout %s: 1..3600000 ms\n", optarg);
				return 2;
			}
			copts.timeout_ms = (int)v;
			break;
		case OPT_NOPRE:
			mopts.no_precopy = true;
			break;
		case OPT_NOIRQ:
			no_irqs = true;
			break;
		case OPT_HOLD:
			hold = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_QUIET:
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	mopts.mem_size = (uint64_t)mem;
	mopts.progress = quiet ? NULL : stderr;
	copts.log_level = UVF_LOG_ERROR;

	rc = uvf_client_connect(&src, argv[optind], &copts);
	if (rc) {
		fprintf(stderr, "uvf-migrate: error: source %s: %s\n", argv[optind], uvf_strerror(rc));
		return 1;
	}
	rc = uvf_client_connect(&dst, argv[optind + 1], &copts);
	if (rc) {
		fprintf(stderr, "uvf-migrate: error: destination %s: %s\n", argv[optind + 1], uvf_strerror(rc));
		uvf_client_close(src);
		return 1;
	}
	if (mem > 0) {
		struct uvf_client *both[2] = {src, dst};

		rc = migrate_share_memory(both, 2, 0, (size_t)mem, &guest);
		if (rc) {
			fprintf(stderr, "uvf-migrate: error: guest memory of %lld bytes: %s\n", mem, uvf_strerror(rc));
			goto out;
		}
	}
	if (!no_irqs) {
		rc = wire_irqs(src, dst, irq_fds, &nirq, &irq_index);
		if (rc) {
			fprintf(stderr, "uvf-migrate: error: interrupts: %s\n", uvf_strerror(rc));
			goto out;
		}
	}

	rc = migrate_run(src, dst, &mopts, &res);
	if (rc) {
		fprintf(stderr, "uvf-migrate: error: %s; the source runs on, the destination is discarded\n",
			res.error);
		if (json) {
			printf("{\"ok\":false,\"errno\":%d,\"error\":", -rc);
			print_json_string(res.error);
			printf("}\n");
		}
		goto out;
	}
	status = 0;
	if (!quiet)
		fprintf(stderr, "uvf-migrate: done: %u rounds, %llu + %llu bytes, %llu dirty pages\n", res.rounds,
			(unsigned long long)res.precopy_bytes, (unsigned long long)res.stopcopy_bytes,
			(unsigned long long)res.dirty_total);
	if (json) {
		printf("{\"ok\":true,\"precopy\":%s,\"logging\":%s,\"page_size\":%llu,\"rounds\":%u,"
		       "\"precopy_bytes\":%llu,\"stopcopy_bytes\":%llu,\"dirty_pages\":%llu,"
		       "\"final_dirty_pages\":%llu,\"round_dirty_pages\":[",
		       res.precopy ? "true" : "false", res.logging ? "true" : "false",
		       (unsigned long long)res.page_size, res.rounds, (unsigned long long)res.precopy_bytes,
		       (unsigned long long)res.stopcopy_bytes, (unsigned long long)res.dirty_total,
		       (unsigned long long)res.final_dirty);
		for (unsigned i = 0; i < res.rounds; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)res.round_dirty[i]);
		printf("],\"irq_index\":%d,\"irq_vectors\":%u,\"downtime_ms\":%.3f,\"total_ms\":%.3f}\n", irq_index,
		       nirq, res.downtime_ms, res.total_ms);
	} else {
		printf("downtime: %.3f ms\n", res.downtime_ms);
	}
	fflush(stdout);
	if (hold) {
		/* Keep the memory and interrupts attached while the device runs
		 * on the destination. */
		sigset_t block, old;
		struct sigaction sa = {.sa_handler = on_signal};

		/* Blocked until sigsuspend, so that no signal slips in
		 * between the check and the wait. */
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigprocmask(SIG_BLOCK, &block, &old);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		while (!stop_holding)
			sigsuspend(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
out:
	/* Closing discards the destination after a failure (its state was
	 * half-loaded) and, after a success, leaves both devices without a
	 * client (docs/protocol.md 1.12: they keep their state). */
	uvf_client_close(dst);
	uvf_client_close(src);
	for (uint32_t i = 0; i < nirq; i++)
		close(irq_fds[i]);
	if (guest)
		munmap(guest, (size_t)mem);
	return status;
}
