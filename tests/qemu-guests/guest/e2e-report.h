/* SPDX-License-Identifier: MIT */
/*
 * The result lines of the guest check programs, on stdout (the serial
 * console, where the host reads them), one line each and flushed at once
 * so that a guest that hangs afterwards still shows them:
 *
 *   UVF-E2E: PASS <name>            a check passed
 *   UVF-E2E: FAIL <name>: <why>     a check failed
 *   UVF-E2E: INFO <text>            what was found
 *
 * passes and failures count the checks for the program's closing line.
 * Included by one .c file per program (the guest programs are each built
 * from their own sources, statically, by run-e2e.sh).
 */
#ifndef UVF_E2E_REPORT_H
#define UVF_E2E_REPORT_H

#include <stdarg.h>
#include <stdio.h>

static int passes, failures;

static inline void pass(const char *name)
{
	passes++;
	printf("UVF-E2E: PASS %s\n", name);
	fflush(stdout);
}

static inline void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("UVF-E2E: FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void info(const char *fmt, ...)
{
	va_list ap;

	printf("UVF-E2E: INFO ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#endif /* UVF_E2E_REPORT_H */
