/* SPDX-License-Identifier: MIT */
/*
 * The public headers under strict ISO C11 (-std=c11 -pedantic): every
 * header compiles and every *_INIT macro initialises every member
 * (-Wextra warns about a missing one; the test builds with -Werror).
 */
#include <uvf/uvf.h>
#include <uvf/version.h>

unsigned uvf_abi_c_versions(void);
unsigned uvf_abi_c_versions(void)
{
	struct uvf_serve_opts serve = UVF_SERVE_OPTS_INIT;
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	struct uvf_device_callbacks callbacks = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_migration_callbacks migration = UVF_MIGRATION_CALLBACKS_INIT;
	struct uvf_ioeventfd_desc ioeventfd = UVF_IOEVENTFD_DESC_INIT;
	struct uvf_client_opts client = UVF_CLIENT_OPTS_INIT;

	return serve.version + pcie.version + callbacks.version + migration.version + ioeventfd.version +
	       client.version;
}

/* uvf/wire.h: a description as a C program fills it. */
int uvf_abi_c_wire(void);
int uvf_abi_c_wire(void)
{
	struct uvf_wire_desc desc = {.argsz = sizeof(desc)};
	struct uvf_msg_header hdr = {.msg_id = 1, .command = UVF_CMD_DEVICE_RESET, .msg_size = UVF_MSG_HEADER_SIZE};

	return uvf_wire_describe(&desc, &hdr, NULL, 0, 0);
}
