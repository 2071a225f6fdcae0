/* SPDX-License-Identifier: MIT */
/*
 * uvf/common.h - definitions shared by the server and the client library.
 *
 * Conventions of the whole API:
 *  - functions return 0 (or a documented non-negative value) on success and
 *    a negative errno on failure; errno itself is not used;
 *  - handles are opaque and created by *_new / *_connect functions;
 *  - option structs carry a `version` field; initialise them with their
 *    *_INIT macro so that later versions of the library can grow them
 *    (the macros are positional brace initialisers: they work in C and in
 *    C++11 and later alike);
 *  - output structs the caller allocates and that may grow carry an
 *    `argsz` the caller sets to sizeof the struct; the library writes only
 *    that many bytes and sets argsz to what it wrote; output arrays take
 *    the size of one entry for the same purpose; structs the library owns
 *    and lends (const pointers) only grow at their end;
 *  - whoever receives ownership of a file descriptor or buffer is stated at
 *    each function.
 *
 * The headers compile as C11 and as C++11 or later. docs/api-guide.md
 * ("ABI") says what stays stable between releases.
 */
#ifndef UVF_COMMON_H
#define UVF_COMMON_H

#include <stdarg.h>

#include "uvf/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UVF_API __attribute__((visibility("default")))
#else
#define UVF_API
#endif

/*
 * UVF_DEPRECATED marks a declaration kept for one more release under an
 * old name: using it warns (-Wdeprecated-declarations). It goes first in
 * a declaration, where both the GNU attribute and C++14's [[deprecated]]
 * are accepted. Defining UVF_NO_DEPRECATED before including the headers
 * hides every deprecated name, so that a program can check it uses none.
 */
#if defined(__GNUC__)
#define UVF_DEPRECATED __attribute__((deprecated))
#elif defined(__cplusplus) && __cplusplus >= 201402L
#define UVF_DEPRECATED [[deprecated]]
#else
#define UVF_DEPRECATED
#endif

/* A compile-time check that works in C11 and C++11 alike (the headers
 * check the size of every wire struct with it). */
#if defined(__cplusplus)
#define UVF_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define UVF_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/*
 * The version of the library in use at run time, which may be newer than
 * the headers a program was built with (UVF_VERSION_STRING and
 * UVF_VERSION_NUMBER in uvf/version.h): "MAJOR.MINOR.PATCH", a static
 * string, and the same as a number (UVF_VERSION_NUMBER_OF(major, minor,
 * patch)). A program that needs something added in a later release
 * checks uvf_version_number() >= UVF_VERSION_NUMBER_OF(...) first.
 */
UVF_API const char *uvf_version(void);
UVF_API unsigned long uvf_version_number(void);

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
