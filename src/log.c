/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void uvf__log_stderr(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	fprintf(stderr, "uvf: %s%s\n", level == UVF_LOG_ERROR ? "error: " : "", line);
}

void uvf__logger_init(struct uvf_logger *lg, uvf_log_fn fn, void *data, enum uvf_log_level max_level)
{
	lg->fn = fn ? fn : uvf__log_stderr;
	lg->data = fn ? data : NULL;
	lg->max_level = max_level;
}

void uvf__log(const struct uvf_logger *lg, enum uvf_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!lg || level > lg->max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(lg->fn ? lg->fn : uvf__log_stderr)(lg->data, level, line);
}
