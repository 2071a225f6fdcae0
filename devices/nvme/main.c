/* SPDX-License-Identifier: MIT */
/*
 * uvf-nvme: an NVMe 1.4 controller with one namespace as a vfio-user server.
 *
 *   uvf-nvme --socket-path=PATH (--backing=FILE | --size=SIZE) [--queues=N] [--serial=S]
 *            [--shadow-poll-us=N] [--workers=N] [--state-file=PATH] [-v]
 *
 * The controller migrates (live migration v2, no option needed): its
 * registers, queues, features, held AERs and SMART counters travel, I/O in
 * flight is recorded and finished at the destination; the namespace does
 * not: start the destination with the same --backing=FILE and --queues
 * (a --size RAM namespace is not migrated). See nvme/nvme.h.
 *
 * Reads and writes of a --backing file go between the file and the guest's
 * pages without a copy when guest memory is shared, many at a time, through
 * io_uring when built with liburing, else (or with UVF_NVME_AIO=threads in
 * the environment) through a pool of up to 4 threads. The I/O queue pairs
 * are spread over workers (--workers, default one per CPU up to the queue
 * count), each with its own lock and engine, whose threads run their
 * queues' completions side by side.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sample_server.h"
#include "nvme/nvme.h"

#define PROG "uvf-nvme"

static void nvme_usage(void)
{
	printf("NVMe options:\n"
	       "  --backing=FILE      store the namespace in FILE (regular file or block device)\n"
	       "  --size=SIZE         or keep it in RAM: SIZE bytes, suffixes K, M, G\n"
	       "  --queues=N          I/O queue pairs, 1..%d (default 4)\n"
	       "  --serial=S          serial number, up to 20 characters\n"
	       "  --shadow-poll-us=N  poll the shadow doorbells N microseconds after the last\n"
	       "                      submission (0..1000000, default %u; 0: no polling)\n"
	       "  --workers=N         spread the I/O queues over N workers, 1..%d (default: one\n"
	       "                      per CPU, at most one per queue)\n"
	       "  --state-file=PATH   note in PATH whether the controller is enabled; started\n"
	       "                      again after a crash with the same PATH, report\n"
	       "                      Controller Fatal Status so that the host resets it\n\n",
	       UVF_NVME_MAX_QUEUES, 1000u, UVF_NVME_MAX_WORKERS);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Take our option from argv[*i] (forms --name=V and --name V); NULL if it
 * is not this option. */
static const char *take(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct uvf_nvme_opts opts = {.queues = 4};
	const char *size = NULL, *queues = NULL, *poll = NULL, *workers = NULL;
	struct sample_args args;
	struct uvf_nvme *model;
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0, ret;

	if (!rest)
		return 1;
	rest[nrest++] = argv[0];
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = take(argc, argv, &i, "--backing", &missing)))
			opts.backing = v;
		else if (!missing && (v = take(argc, argv, &i, "--size", &missing)))
			size = v;
		else if (!missing && (v = take(argc, argv, &i, "--queues", &missing)))
			queues = v;
		else if (!missing && (v = take(argc, argv, &i, "--serial", &missing)))
			opts.serial = v;
		else if (!missing && (v = take(argc, argv, &i, "--shadow-poll-us", &missing)))
			poll = v;
		else if (!missing && (v = take(argc, argv, &i, "--workers", &missing)))
			workers = v;
		else if (!missing && (v = take(argc, argv, &i, "--state-file", &missing)))
			opts.state_file = v;
		else if (missing) {
			fprintf(stderr, PROG ": %s needs a value\n", argv[i]);
			free(rest);
			return 2;
		} else {
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
				nvme_usage();
			rest[nrest++] = argv[i];
		}
	}
	ret = sample_parse_args(nrest, rest, PROG, "An NVMe 1.4 controller with one namespace", &args);
	if (ret >= 0) {
		free(rest);
		return ret;
	}
	free(rest);
	if (!opts.backing == !size) {
		fprintf(stderr, PROG ": give either --backing=FILE or --size=SIZE\n");
		return 2;
	}
	if (size && (parse_size(size, &opts.size) < 0 || opts.size < 512)) {
		fprintf(stderr, PROG ": bad --size '%s' (a number of bytes, at least 512, with K, M or G)\n", size);
		return 2;
	}
	if (queues) {
		char *end;
		errno = 0;
		long q = strtol(queues, &end, 10);
		if (errno || end == queues || *end || q < 1 || q > UVF_NVME_MAX_QUEUES) {
			fprintf(stderr, PROG ": bad --queues '%s' (1..%d)\n", queues, UVF_NVME_MAX_QUEUES);
			return 2;
		}
		opts.queues = (unsigned)q;
	}
	if (poll) {
		char *end;
		errno = 0;
		long us = strtol(poll, &end, 10);
		if (errno || end == poll || *end || us < 0 || us > 1000000) {
			fprintf(stderr, PROG ": bad --shadow-poll-us '%s' (0..1000000)\n", poll);
			return 2;
		}
		opts.shadow_poll_us = us ? (int)us : -1;
	}
	if (workers) {
		char *end;
		errno = 0;
		long n = strtol(workers, &end, 10);
		if (errno || end == workers || *end || n < 1 || n > UVF_NVME_MAX_WORKERS) {
			fprintf(stderr, PROG ": bad --workers '%s' (1..%d)\n", workers, UVF_NVME_MAX_WORKERS);
			return 2;
		}
		opts.workers = (unsigned)n;
	}
	if (opts.serial && (!*opts.serial || strlen(opts.serial) > 20)) {
		fprintf(stderr, PROG ": --serial must have 1..20 characters\n");
		return 2;
	}
	ret = uvf_nvme_create(&model, &opts);
	if (ret < 0) {
		if (opts.state_file && ret == -EINVAL)
			fprintf(stderr, PROG ": cannot use %s or %s: %s (a state file is uvf-nvme's own, 16 bytes)\n",
				opts.backing ? opts.backing : "the RAM namespace", opts.state_file, uvf_strerror(ret));
		else if (opts.backing)
			fprintf(stderr, PROG ": cannot use %s: %s\n", opts.backing, uvf_strerror(ret));
		else
			fprintf(stderr, PROG ": cannot set up the device: %s\n", uvf_strerror(ret));
		return 1;
	}
	ret = sample_serve(uvf_nvme_device(model), &args);
	/* destroying the model fsyncs and closes the backing file */
	uvf_nvme_destroy(model);
	return ret;
}
