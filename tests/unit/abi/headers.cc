// SPDX-License-Identifier: MIT
// The public headers as a C++ program sees them: every header compiles,
// every wire struct keeps its size check (UVF_STATIC_ASSERT is
// static_assert here), and every *_INIT macro is a valid aggregate
// initialiser that names the current version and leaves no member out
// (-Wextra warns about a missing one; the test builds with -Werror).
#include <uvf/uvf.h>
#include <uvf/version.h>

#include <cstring>

static_assert(UVF_VERSION_NUMBER == UVF_VERSION_NUMBER_OF(UVF_VERSION_MAJOR, UVF_VERSION_MINOR, UVF_VERSION_PATCH),
	      "version number");
static_assert(UVF_VERSION_MINOR < 256 && UVF_VERSION_PATCH < 256, "version parts fit the number");

namespace
{

constexpr uvf_serve_opts serve = UVF_SERVE_OPTS_INIT;
static_assert(serve.version == UVF_SERVE_OPTS_VERSION, "UVF_SERVE_OPTS_INIT");
constexpr uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
static_assert(pcie.version == UVF_PCIE_OPTS_VERSION, "UVF_PCIE_OPTS_INIT");
constexpr uvf_device_callbacks callbacks = UVF_DEVICE_CALLBACKS_INIT;
static_assert(callbacks.version == UVF_DEVICE_CALLBACKS_VERSION, "UVF_DEVICE_CALLBACKS_INIT");
constexpr uvf_migration_callbacks migration = UVF_MIGRATION_CALLBACKS_INIT;
static_assert(migration.version == UVF_MIGRATION_CALLBACKS_VERSION, "UVF_MIGRATION_CALLBACKS_INIT");
constexpr uvf_ioeventfd_desc ioeventfd = UVF_IOEVENTFD_DESC_INIT;
static_assert(ioeventfd.version == UVF_IOEVENTFD_DESC_VERSION, "UVF_IOEVENTFD_DESC_INIT");
constexpr uvf_client_opts client = UVF_CLIENT_OPTS_INIT;
static_assert(client.version == UVF_CLIENT_OPTS_VERSION, "UVF_CLIENT_OPTS_INIT");

// uvf/wire.h: its enum and bounds as C++ sees them.
static_assert(UVF_WIRE_MAX_FDS == 64u, "UVF_WIRE_MAX_FDS");
static_assert(UVF_WIRE_FIELD_TEXT == 2, "uvf_wire_field_format");

} // namespace

// Referenced so that no compiler calls them unused.
unsigned uvf_abi_cxx_versions();
unsigned uvf_abi_cxx_versions()
{
	// The non-constexpr form a C++ program usually writes.
	uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	uvf_client_region region;
	uvf_wire_desc desc;
	uvf_msg_header hdr = {1, UVF_CMD_DEVICE_RESET, UVF_MSG_HEADER_SIZE, UVF_MSG_TYPE_COMMAND, 0};

	std::memset(&region, 0, sizeof(region));
	std::memset(&desc, 0, sizeof(desc));
	desc.argsz = sizeof(desc);
	if (uvf_wire_describe(&desc, &hdr, nullptr, 0, 0) == 0)
		opts.max_msg_fds = 2;
	region.argsz = sizeof(region);
	opts.max_msg_fds += 2;
	return serve.version + pcie.version + callbacks.version + migration.version + ioeventfd.version +
	       client.version + opts.max_msg_fds + region.argsz;
}
