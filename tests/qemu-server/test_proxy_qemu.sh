#!/usr/bin/env bash
# uvf-proxy in front of servers uvf did not write: QEMU 7.2's
# x-vfio-user-server (lsi53c895a and nvme), and libvfio-user's gpio sample
# (built here against the libvfio-user that QEMU's set-up built).
# uvf-lspci prints the same through the proxy as directly (neither offers
# a twin socket, so nothing differs), the trace decodes their replies, and
# the proxy leaves when its client did (QEMU) or when stopped (the gpio
# sample serves client after client). QEMU serves one client per process:
# one start each.
# Usage: test_proxy_qemu.sh SOURCE_DIR BUILD_DIR
# Environment: UVF_QEMU_SERVER (QEMU binary from qemu-server-setup.sh); the
# test is skipped (77) without it unless UVF_REQUIRE_INTEROP=1.
set -uo pipefail
src=$1
build=$2
if [ -z "${UVF_QEMU_SERVER:-}" ] || [ ! -x "${UVF_QEMU_SERVER:-}" ]; then
	if [ "${UVF_REQUIRE_INTEROP:-0}" = 1 ]; then
		echo "UVF_QEMU_SERVER not set or not executable"
		echo "proxy_qemu: 0 passed, 1 failed"
		exit 1
	fi
	echo "UVF_QEMU_SERVER not set: skipped"
	exit 77
fi
dir=$(mktemp -d /tmp/uvf-proxy-qemu.XXXXXX)
qemu_pid= proxy_pid= gpio_pid=
cleanup() {
	[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null
	[ -z "$gpio_pid" ] || kill "$gpio_pid" 2>/dev/null
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { # name, command...
	local name=$1
	shift
	if "$@"; then passed=$((passed + 1)); else echo "FAIL: $name"; failed=$((failed + 1)); fi
}
wait_socket() {
	for _ in $(seq 250); do [ -S "$1" ] && return 0; sleep 0.02; done
	echo "no socket at $1"
	return 1
}
qemu() { # device
	rm -f "$dir/qemu.sock"
	UVF_QEMU=$UVF_QEMU_SERVER bash "$src/tests/qemu-server/qemu-server-run.sh" "$1" "$dir/qemu.sock" \
		2>>"$dir/qemu.log" &
	qemu_pid=$!
	wait_socket "$dir/qemu.sock"
}
wait_qemu() {
	for _ in $(seq 250); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.02; done
	kill "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
}

for device in lsi53c895a nvme; do
	qemu "$device"
	"$build/tools/uvf-lspci" -vv "$dir/qemu.sock" >"$dir/direct.txt" 2>&1
	wait_qemu

	qemu "$device"
	"$build/tools/uvf-proxy" --listen "$dir/proxy.sock" --server "$dir/qemu.sock" --trace "$dir/trace.txt" \
		2>"$dir/proxy.err" &
	proxy_pid=$!
	wait_socket "$dir/proxy.sock"
	"$build/tools/uvf-lspci" -vv "$dir/proxy.sock" >"$dir/proxied.txt" 2>&1
	rc=0
	wait "$proxy_pid" || rc=$?
	proxy_pid=
	wait_qemu
	check "$device: the proxy exits 0 when its client left" test "$rc" -eq 0
	check "$device: lspci through the proxy" cmp "$dir/direct.txt" "$dir/proxied.txt"
	check "$device: QEMU's VERSION reply traced" grep -qE '^[0-9.]+ s>c id=1 reply VERSION major=0 minor=0 caps=\{"capabilities":\{"max_msg_fds":8,"max_data_xfer_size":1048576\}\} bytes=84 fds=0$' "$dir/trace.txt"
	check "$device: config space read traced" grep -qE 's>c id=[0-9]+ reply REGION_READ region=7 offset=0x0 count=' "$dir/trace.txt"
	check "$device: summary" grep -q '^DEVICE_GET_REGION_INFO ' "$dir/proxy.err"
done

# libvfio-user's gpio sample: one process serves client after client.
lvu=$(dirname "$UVF_QEMU_SERVER")
lvu_src=$lvu/src/qemu-7.2+dfsg/subprojects/libvfio-user
lvu_lib=$lvu/build/subprojects/libvfio-user/lib
gpio=$dir/gpio-pci-idio-16
if ${CC:-cc} -O2 -w -I"$lvu_src/include" -I"$lvu_src/lib" -o "$gpio" "$lvu_src/samples/gpio-pci-idio-16.c" \
	"$lvu_lib/libvfio-user.so.0" -Wl,-rpath,"$lvu_lib" 2>"$dir/gpio-build.log"; then
	"$gpio" "$dir/gpio.sock" 2>"$dir/gpio.log" &
	gpio_pid=$!
	wait_socket "$dir/gpio.sock"
	"$build/tools/uvf-lspci" -vv "$dir/gpio.sock" >"$dir/direct.txt" 2>&1
	"$build/tools/uvf-proxy" --listen "$dir/proxy.sock" --server "$dir/gpio.sock" --trace "$dir/trace.txt" \
		--keep 2>"$dir/proxy.err" &
	proxy_pid=$!
	wait_socket "$dir/proxy.sock"
	"$build/tools/uvf-lspci" -vv "$dir/proxy.sock" >"$dir/proxied.txt" 2>&1
	check "libvfio-user: lspci through the proxy" cmp "$dir/direct.txt" "$dir/proxied.txt"
	check "libvfio-user: its VERSION reply traced" grep -qE '^[0-9.]+ s>c id=[0-9]+ reply VERSION major=0 minor=[0-9]+ caps=' "$dir/trace.txt"
	check "libvfio-user: config space read traced" grep -qE 's>c id=[0-9]+ reply REGION_READ region=7 offset=0x0 count=' "$dir/trace.txt"
	kill "$proxy_pid"
	wait "$proxy_pid"
	check "libvfio-user: the proxy exits 0 on SIGTERM" test $? -eq 0
	proxy_pid=
	check "libvfio-user: the sample still serves" kill -0 "$gpio_pid"
else
	echo "the gpio sample did not build:"
	cat "$dir/gpio-build.log"
	failed=$((failed + 1))
fi
echo "proxy_qemu: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
