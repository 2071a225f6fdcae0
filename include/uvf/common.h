/* SPDX-License-Identifier: MIT */
/*
 * uvf/common.h - definitions shared by the server and the client library.
 *
 * Conventions of the whole API:
 *  - functions return 0 (or a documented non-negative value) on success and
 *    a negative errno on failure; errno itself is not used;
 *  - handles are opaque and created by *_new / *_connect functions;
 *  - option structs carry a `version` field; initialise them with their
 *    *_INIT macro so that later versions of the library can grow them;
 *  - whoever receives ownership of a file descriptor or buffer is stated at
 *    each function.
 */
#ifndef UVF_COMMON_H
#define UVF_COMMON_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UVF_API __attribute__((visibility("default")))
#else
#define UVF_API
#endif

#define UVF_VERSION_STRING "0.1.0"

enum uvf_log_level {
	UVF_LOG_ERROR = 0,
	UVF_LOG_WARNING = 1,
	UVF_LOG_INFO = 2,
	UVF_LOG_DEBUG = 3,
};

/*
 * Log callback: one complete line (no trailing newline) per call. The string
 * is valid only during the call. The default logger writes lines of level
 * WARNING and above to stderr as "uvf: <line>".
 */
typedef void (*uvf_log_fn)(void *data, enum uvf_log_level level, const char *line);

/* Name of a log level ("error", "warning", "info", "debug"). */
UVF_API const char *uvf_log_level_name(enum uvf_log_level level);

/* Human-readable description of a negative errno returned by uvf. */
UVF_API const char *uvf_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* UVF_COMMON_H */
