/* SPDX-License-Identifier: MIT */
/*
 * Tests of uvf-conform itself against a misbehaving server
 * (hostile_server.h): replies announcing a large msg_size that stall or
 * close, fds sent with messages cut short. The tool's connection code and
 * its whole run loop work in this process, so the tests compare the open
 * fds (/proc/self/fd) and the heap in use before and after: nothing of a
 * broken reply may stay behind, case after case.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conform.h"
#include "hostile_server.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
/* ASan's allocator replaces malloc: ask it, not glibc. */
extern size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Growth of the heap in use tolerated: less than the payloads a run
 * against these servers would leave behind (64 MiB, or 64 bytes each of
 * several times), yet some room for state a library allocates once. */
#define HEAP_SLACK 256

static char g_dir[64];
static char g_path[128];

static size_t heap_in_use(void)
{
#ifdef HAVE_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd; /* small chunks plus mmap()ed ones */
#endif
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Listens on g_path and serves it from a child process. */
static pid_t start_server(const struct hostile_plan *plan)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	unlink(g_path);
	strcpy(sa.sun_path, g_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hostile_serve(fd, plan);
		_exit(1);
	}
	close(fd);
	return pid;
}

static void stop_server(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(g_path);
}

static void check_nothing_kept(int fds_before, int fds_after, size_t heap_before, size_t heap_after)
{
	long grown = (long)heap_after - (long)heap_before;
	bool kept = false;

	if (fds_after != fds_before) {
		print_error("%d fds open before, %d after: received fds were kept\n", fds_before, fds_after);
		kept = true;
	}
	if (grown > HEAP_SLACK) {
		print_error("heap in use grew by %ld bytes (%zu -> %zu): reply payloads were kept\n", grown,
			    heap_before, heap_after);
		kept = true;
	}
	if (kept)
		fail();
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(g_dir, "/tmp/uvf-conform-test.XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_path, sizeof(g_path), "%s/hostile.sock", g_dir);
	/* as in uvf-conform's main(): a server that closes must not kill us */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(g_path);
	rmdir(g_dir);
	return 0;
}

/* ---- the handshake, alone ------------------------------------------ */

static const struct {
	struct hostile_act act;
	int err; /* what conn_handshake() returns against it */
} handshake_acts[] = {
	{{HOSTILE_BIG_CLOSE, 0}, -EPIPE},	 {{HOSTILE_FDS_TRUNCATED, 0}, -EPIPE},
	{{HOSTILE_FDS_SHORT_HEADER, 0}, -EPIPE}, {{HOSTILE_FDS_OVERSIZED, 0}, -EMSGSIZE},
	{{HOSTILE_BIG_STALL, 0}, -EBADMSG},
};
#define NR_HANDSHAKE_ACTS (sizeof(handshake_acts) / sizeof(handshake_acts[0]))

/* One connection per act, in the server's order; each VERSION fails with
 * the expected error, in bounded time. */
static void handshake_round(void)
{
	const int timeout_ms = 100;

	for (size_t i = 0; i < NR_HANDSHAKE_ACTS; i++) {
		struct conn c;
		struct msg reply;
		int64_t start = conform_now_ms();
		assert_int_equal(conn_connect(&c, g_path, 2000), 0);
		int ret = conn_handshake(&c, timeout_ms, &reply);
		conn_close(&c);
		if (ret != handshake_acts[i].err)
			fail_msg("act %zu: VERSION returned %d (%s), expected %s", i, ret,
				 ret < 0 ? errno_name(-ret) : "ok", errno_name(-handshake_acts[i].err));
		/* a message that has begun gets one more second (plus room for a busy machine) */
		long took = conform_now_ms() - start;
		if (took > timeout_ms + 1000 + 5000)
			fail_msg("act %zu: VERSION took %ld ms", i, took);
	}
}

static void test_failed_handshakes_release_payloads_and_fds(void **state)
{
	(void)state;
	struct hostile_act acts[NR_HANDSHAKE_ACTS];
	for (size_t i = 0; i < NR_HANDSHAKE_ACTS; i++)
		acts[i] = handshake_acts[i].act;
	struct hostile_plan plan = {.valid_sessions = 0, .acts = acts, .nacts = NR_HANDSHAKE_ACTS};
	pid_t pid = start_server(&plan);

	handshake_round(); /* first use: lazily allocated state settles */
	int fds = open_fds();
	size_t heap = heap_in_use();
	handshake_round();
	handshake_round();
	int fds_after = open_fds();
	size_t heap_after = heap_in_use();
	stop_server(pid);
	check_nothing_kept(fds, fds_after, heap, heap_after);
}

/* ---- the whole run loop -------------------------------------------- */

/* After one valid session (the facts), every connection misbehaves: at
 * once (the set-up VERSION) or at the second message (the case's own
 * command, or DEVICE_GET_INFO of the recovery check). Each case takes two
 * connections, so with nine acts case k meets acts 2k and 2k + 1 (mod 9):
 * framing/msg-size-64m, the first case with a set-up VERSION, meets act 6. */
static const struct hostile_act run_acts[] = {
	{HOSTILE_BIG_CLOSE, 0},	    {HOSTILE_FDS_TRUNCATED, 1}, {HOSTILE_FDS_SHORT_HEADER, 0},
	{HOSTILE_FDS_OVERSIZED, 1}, {HOSTILE_BIG_CLOSE, 1},	{HOSTILE_FDS_SHORT_HEADER, 1},
	{HOSTILE_FDS_TRUNCATED, 0}, {HOSTILE_FDS_OVERSIZED, 0}, {HOSTILE_BIG_STALL, 1},
};

/* Cases that reach every receive path: the set-up handshake, replies to
 * commands, NO_REPLY with its fence, raw VERSION variants, garbage and an
 * oversized message, then the recovery check after each. */
#define RUN_CASES                                                                                                      \
	"handshake/version-valid,handshake/version-with-fd,handshake/version-id-ffff,framing/garbage-1,"               \
	"framing/msg-size-64m,framing/no-reply-get-info,info/region-info-7"
#define RUN_CASE_COUNT 7

/* conform_run() with its stdout in *text (free it); returns its status. */
static int run_catalogue(char **text)
{
	struct conform_opts o = {.socket_path = g_path, .timeout_ms = 100, .quiet_ms = 50, .only = RUN_CASES};
	struct hostile_plan plan = {
		.valid_sessions = 1, .acts = run_acts, .nacts = sizeof(run_acts) / sizeof(run_acts[0])};
	int out = memfd_create("conform-output", MFD_CLOEXEC);
	assert_true(out >= 0);
	pid_t pid = start_server(&plan);

	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(out, STDOUT_FILENO) >= 0);
	int status = conform_run(&o);
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	stop_server(pid);

	off_t len = lseek(out, 0, SEEK_END);
	assert_true(len >= 0);
	*text = calloc(1, (size_t)len + 1);
	assert_non_null(*text);
	assert_int_equal(pread(out, *text, (size_t)len, 0), len);
	close(out);
	return status;
}

static void check_verdicts(int status, const char *text)
{
	char summary[96];

	snprintf(summary, sizeof(summary), "uvf-conform: 0 passed, %d failed, 0 warnings, 0 skipped\n", RUN_CASE_COUNT);
	if (status != 1 || !strstr(text, summary) || !strstr(text, "FAIL  handshake/version-valid") ||
	    !strstr(text, "set-up VERSION failed") || !strstr(text, "server did not recover")) {
		fprintf(stderr, "%s", text); /* whole: cmocka cuts long messages */
		fail_msg("status %d (1 expected), or not the verdicts expected in the output above", status);
	}
}

static void test_run_against_hostile_server_keeps_nothing(void **state)
{
	(void)state;
	char *text;
	int64_t start = conform_now_ms();

	int status = run_catalogue(&text); /* first use: lazily allocated state settles */
	check_verdicts(status, text);
	free(text);
	int fds = open_fds();
	size_t heap = heap_in_use();
	status = run_catalogue(&text);
	check_verdicts(status, text);
	free(text);
	int fds_after = open_fds();
	size_t heap_after = heap_in_use();
	check_nothing_kept(fds, fds_after, heap, heap_after);
	/* bounded: two runs of seven cases, each wait at most 1.1 s */
	long took = conform_now_ms() - start;
	if (took > 60000)
		fail_msg("two runs took %ld ms", took);
}

int main(int argc, char **argv)
{
	(void)argc;
#ifndef HAVE_ASAN
	/* glibc counts chunks parked in its per-thread cache as in use, which
	 * makes mallinfo2() drift by a few KiB from run to run; without the
	 * cache the heap in use is exact. */
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (!tunables || !strstr(tunables, "glibc.malloc.tcache_count=0")) {
		char value[512];
		snprintf(value, sizeof(value), "%s%sglibc.malloc.tcache_count=0", tunables ? tunables : "",
			 tunables ? ":" : "");
		setenv("GLIBC_TUNABLES", value, 1);
		execv("/proc/self/exe", argv);
		perror("test_conform: re-executing without the malloc cache");
		return 1;
	}
#else
	(void)argv;
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_handshakes_release_payloads_and_fds),
		cmocka_unit_test(test_run_against_hostile_server_keeps_nothing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
