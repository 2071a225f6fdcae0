/* SPDX-License-Identifier: MIT */
/*
 * What every sample device program shares: the vfio-user server command
 * line (docs/protocol.md 1.1: --socket-path=PATH or --fd=N), logging to stderr,
 * SIGTERM/SIGINT handling and the serve loop.
 */
#ifndef UVF_DEVICES_SAMPLE_SERVER_H
#define UVF_DEVICES_SAMPLE_SERVER_H

#include "uvf/server.h"

struct sample_args {
	const char *socket_path; /* NULL when fd is used */
	int fd;			 /* an already listening socket, or -1 */
	int verbose;		 /* 0: warnings, 1 (-v): info, 2 (-vv): debug */
};

/*
 * Parse the command line of program `prog` (described by `summary` in
 * --help). Returns -1 to go on, or the exit status to leave with: 0 after
 * --help/--version, 2 for bad usage (the message was printed).
 */
int sample_parse_args(int argc, char **argv, const char *prog, const char *summary, struct sample_args *args);

/* Log a line from device code to stderr as "prog: level: ...", if the
 * verbosity chosen on the command line asks for that level. */
void sample_log(enum uvf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Install the logger on dev, listen as args say, serve clients until
 * SIGTERM or SIGINT (which call uvf_device_stop()). Returns the exit
 * status: 0 after a signal, 1 when listening or serving failed. The caller
 * still owns dev and frees it (which removes the socket file).
 */
int sample_serve(struct uvf_device *dev, const struct sample_args *args);

/* The same with the program's own serving loop instead of
 * uvf_device_run(): run(data) must return 0 once uvf_device_stop() was
 * called, or a negative errno. */
int sample_serve_loop(struct uvf_device *dev, const struct sample_args *args, int (*run)(void *data), void *data);

#endif /* UVF_DEVICES_SAMPLE_SERVER_H */
