/* SPDX-License-Identifier: MIT */
/*
 * conform-hostile-server SOCKET VALID_SESSIONS ACT[:AFTER]...
 *
 * The misbehaving fake server (hostile_server.h) on its own, for script
 * tests of the uvf-conform program: serves the first VALID_SESSIONS
 * connections validly, then each further connection with the next ACT.
 * Runs until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostile_server.h"

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct hostile_act acts[32];
	struct hostile_plan plan = {.acts = acts};
	char *end;

	if (argc < 4 || argc - 3 > (int)(sizeof(acts) / sizeof(acts[0]))) {
		fprintf(stderr, "usage: %s SOCKET VALID_SESSIONS ACT[:AFTER]...\n", argv[0]);
		return 2;
	}
	plan.valid_sessions = (unsigned)strtoul(argv[2], &end, 10);
	if (!argv[2][0] || *end) {
		fprintf(stderr, "%s: bad VALID_SESSIONS '%s'\n", argv[0], argv[2]);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (hostile_parse_act(argv[i], &acts[plan.nacts++]) < 0) {
			fprintf(stderr, "%s: unknown act '%s'\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long\n", argv[0]);
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	hostile_serve(fd, &plan);
	return 1;
}
