/* SPDX-License-Identifier: MIT */
/*
 * The exported functions of the names deprecated in this release: each
 * forwards to its new name, so that programs built against the old names
 * keep linking and running. Removed in the next release, with the
 * "Deprecated names" blocks of the public headers.
 */

/* The project builds with UVF_NO_DEPRECATED; this file is where the old
 * names are defined, so it needs their declarations. */
#undef UVF_NO_DEPRECATED

#include "uvf/client.h"

UVF_API int uvf_client_bar_read(struct uvf_client *client, uint32_t region, uint64_t offset, void *buf, size_t len)
{
	return uvf_client_access_read(client, region, offset, buf, len);
}

UVF_API int uvf_client_bar_write(struct uvf_client *client, uint32_t region, uint64_t offset, const void *buf,
				 size_t len)
{
	return uvf_client_access_write(client, region, offset, buf, len);
}

UVF_API int uvf_client_mig_data_read(struct uvf_client *client, void *buf, size_t len, size_t *got)
{
	return uvf_client_migration_data_read(client, buf, len, got);
}

UVF_API int uvf_client_mig_data_write(struct uvf_client *client, const void *buf, size_t len)
{
	return uvf_client_migration_data_write(client, buf, len);
}
