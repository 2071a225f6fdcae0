/* SPDX-License-Identifier: MIT */
/* Helpers shared by the whole library: version, log level names and error strings. */
#include <string.h>

#include "uvf/common.h"

const char *uvf_log_level_name(enum uvf_log_level level)
{
	switch (level) {
	case UVF_LOG_ERROR:
		return "error";
	case UVF_LOG_WARNING:
		return "warning";
	case UVF_LOG_INFO:
		return "info";
	case UVF_LOG_DEBUG:
		return "debug";
	}
	return "log";
}

const char *uvf_strerror(int err)
{
	if (err < 0)
		err = -err;
	return strerror(err);
}

const char *uvf_version(void)
{
	return UVF_VERSION_STRING;
}

unsigned long uvf_version_number(void)
{
	return UVF_VERSION_NUMBER;
}
