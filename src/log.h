/* SPDX-License-Identifier: MIT */
/* Logging through a replaceable callback (internal, shared by server and client). */
#ifndef UVF_LOG_H
#define UVF_LOG_H

#include "uvf/common.h"

struct uvf_logger {
	uvf_log_fn fn; /* NULL = default: stderr */
	void *data;
	enum uvf_log_level max_level;
};

/* Default sink: "uvf: <line>" on stderr. */
void uvf__log_stderr(void *data, enum uvf_log_level level, const char *line);

void uvf__logger_init(struct uvf_logger *lg, uvf_log_fn fn, void *data, enum uvf_log_level max_level);

/* Format and emit one line if level <= max_level. */
void uvf__log(const struct uvf_logger *lg, enum uvf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* uvf__log() where the level is looked at first: the arguments (names of
 * commands, for instance) are worked out only for a line that is kept.
 * A statement. */
#define UVF__LOG(lg, level, ...)                                                                                       \
	do {                                                                                                           \
		const struct uvf_logger *uvf_lg_ = (lg);                                                               \
		enum uvf_log_level uvf_level_ = (level);                                                               \
		if (uvf_lg_ && uvf_level_ <= uvf_lg_->max_level)                                                       \
			uvf__log(uvf_lg_, uvf_level_, __VA_ARGS__);                                                    \
	} while (0)

#endif /* UVF_LOG_H */
