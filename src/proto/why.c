/* SPDX-License-Identifier: MIT */
/* Reason texts for refused messages, and command and feature names for logs. */
#include <stdarg.h>
#include <stdio.h>

#include "proto/msg.h"

int uvf__why(struct uvf_why *why, int err, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return err;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
	return err;
}

static const char *const command_names[UVF_CMD_MAX + 1] = {
	[UVF_CMD_VERSION] = "VERSION",
	[UVF_CMD_DMA_MAP] = "DMA_MAP",
	[UVF_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[UVF_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[UVF_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[UVF_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[UVF_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[UVF_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[UVF_CMD_REGION_READ] = "REGION_READ",
	[UVF_CMD_REGION_WRITE] = "REGION_WRITE",
	[UVF_CMD_DMA_READ] = "DMA_READ",
	[UVF_CMD_DMA_WRITE] = "DMA_WRITE",
	[UVF_CMD_DEVICE_RESET] = "DEVICE_RESET",
	/* 14 (the removed DIRTY_PAGES) is left unnamed: it is not a command. */
	[UVF_CMD_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[UVF_CMD_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[UVF_CMD_MIGRATION_DATA_READ] = "MIG_DATA_READ",
	[UVF_CMD_MIGRATION_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *uvf__cmd_name(uint16_t command)
{
	/* Per thread, so that two threads logging unknown commands do not
	 * overwrite each other's text. */
	static _Thread_local char unknown[sizeof("command 65535")];

	if (command <= UVF_CMD_MAX && command_names[command] != NULL)
		return command_names[command];
	snprintf(unknown, sizeof(unknown), "command %u", (unsigned)command);
	return unknown;
}

const char *uvf__feature_name(uint32_t index)
{
	switch (index) {
	case UVF_FEATURE_MIGRATION:
		return "MIGRATION";
	case UVF_FEATURE_MIGRATION_DEVICE_STATE:
		return "MIG_DEVICE_STATE";
	case UVF_FEATURE_DMA_LOGGING_START:
		return "DMA_LOGGING_START";
	case UVF_FEATURE_DMA_LOGGING_STOP:
		return "DMA_LOGGING_STOP";
	case UVF_FEATURE_DMA_LOGGING_REPORT:
		return "DMA_LOGGING_REPORT";
	default:
		return NULL;
	}
}
