/* SPDX-License-Identifier: MIT */
/*
 * uvf-conform: checks that a vfio-user server follows the protocol and
 * survives hostile clients. See docs/conform.md.
 *
 *   uvf-conform [options] SOCKET
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform/conform.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: uvf-conform [options] SOCKET\n"
		"Runs %zu conformance and robustness cases against the vfio-user server\n"
		"listening on SOCKET; after each case a fresh client must still be served.\n"
		"\n"
		"  --list             list the cases (name, docs/protocol.md section, requirement)\n"
		"  --only PATTERNS    run only cases whose name matches one of the comma-separated\n"
		"                     globs or contains one of them ('dma/*,irq/*')\n"
		"  --timeout MS       how long a reply may take (default 1000)\n"
		"  --quiet MS         how long to wait where no reply is expected (default 200)\n"
		"  --json             machine-readable results on stdout\n"
		"  --server-cmd CMD   start the server with 'sh -c CMD' (restarted if it dies),\n"
		"                     so that a crash is told apart from a hang\n"
		"  --one-shot         the server serves one client and exits (needs --server-cmd):\n"
		"                     started for every case; a clean exit after the case counts\n"
		"                     as recovered, death by a signal as a crash\n"
		"  -v, --verbose      print notes of passing cases too\n"
		"  -h, --help         this text\n"
		"\n"
		"Exit status: 0 no case failed, 1 some case failed, 2 usage or connection error.\n",
		conform_case_count());
}

static int parse_ms(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < 1 || v > 600000)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"list", no_argument, NULL, 'l'},	   {"only", required_argument, NULL, 'o'},
		{"timeout", required_argument, NULL, 't'}, {"quiet", required_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},	   {"server-cmd", required_argument, NULL, 's'},
		{"one-shot", no_argument, NULL, '1'},	   {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	struct conform_opts o = {.timeout_ms = 1000, .quiet_ms = 200};
	bool list = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			list = true;
			break;
		case 'o':
			o.only = optarg;
			break;
		case 't':
			if (parse_ms(optarg, &o.timeout_ms) < 0) {
				fprintf(stderr, "uvf-conform: bad --timeout '%s' (milliseconds, 1..600000)\n", optarg);
				return 2;
			}
			break;
		case 'q':
			if (parse_ms(optarg, &o.quiet_ms) < 0) {
				fprintf(stderr, "uvf-conform: bad --quiet '%s' (milliseconds, 1..600000)\n", optarg);
				return 2;
			}
			break;
		case 'j':
			o.json = true;
			break;
		case 's':
			o.server_cmd = optarg;
			break;
		case '1':
			o.one_shot = true;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (list) {
		conform_list(&o);
		return 0;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (o.one_shot && !o.server_cmd) {
		fprintf(stderr, "uvf-conform: --one-shot needs --server-cmd\n");
		return 2;
	}
	o.socket_path = argv[optind];
	/* a server that closes on us must show up as a disconnect, not kill us */
	signal(SIGPIPE, SIG_IGN);
	server_cleanup_on_signals();
	return conform_run(&o);
}
