#!/usr/bin/env bash
# The main job in miniature: each sample device served on a socket and
# described by uvf-lspci; the device stops cleanly on SIGTERM.
# Usage: test_tools.sh BUILD_DIR
set -euo pipefail
build=$1
dir=$(mktemp -d /tmp/uvf-tools.XXXXXX)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { # name, command...
	local name=$1
	shift
	if "$@"; then passed=$((passed + 1)); else echo "FAIL: $name"; failed=$((failed + 1)); fi
}

serve() { # program
	"$build/devices/$1" --socket-path="$dir/dev.sock" 2>"$dir/dev.log" &
	pid=$!
	for _ in $(seq 100); do [ -S "$dir/dev.sock" ] && return 0; sleep 0.05; done
	echo "FAIL: $1 did not listen"; cat "$dir/dev.log"; return 1
}

stop() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	check "device exits 0 on SIGTERM" test "$rc" -eq 0
	check "socket removed" test ! -e "$dir/dev.sock"
}

expect() { # output, pattern
	grep -qF -- "$2" <<<"$1" || { echo "missing: $2"; echo "$1"; return 1; }
}

serve uvf-scratch
out=$("$build/tools/uvf-lspci" -vv "$dir/dev.sock")
check "scratch header" expect "$out" "Unassigned class [ff00]: Device 1de0:0001 (rev 01)"
check "scratch BAR0" expect "$out" "Region 0: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=4K]"
check "scratch BAR2" expect "$out" "Region 2: I/O ports at <unassigned> [disabled] [size=32]"
check "scratch shows BAR0 and BAR2 only" test "$(grep -c $'^\tRegion ' <<<"$out")" -eq 2
check "scratch MSI" expect "$out" "Capabilities: [40] MSI: Enable- Count=1/4 Maskable+ 64bit+"
hex=$("$build/tools/uvf-lspci" -x "$dir/dev.sock")
check "scratch hexdump" expect "$hex" "00: e0 1d 01 00"
stop

serve uvf-dmatest
out=$("$build/tools/uvf-lspci" -vv "$dir/dev.sock")
check "dmatest header" expect "$out" "Device 1de0:0002"
check "dmatest MSI-X" expect "$out" "MSI-X: Enable- Count=4 Masked-"
check "dmatest PCIe" expect "$out" "Express (v2) Endpoint"
stop

serve uvf-idio16
out=$("$build/tools/uvf-lspci" -vv "$dir/dev.sock")
check "idio16 header" expect "$out" "Device 494f:0dc8"
check "idio16 BAR2" expect "$out" "Region 2: I/O ports at <unassigned> [disabled] [size=8]"
check "idio16 shows BAR2 only" test "$(grep -c $'^\tRegion ' <<<"$out")" -eq 1
stop

# errors: a missing socket is exit 1 with a clear message
rc=0
msg=$("$build/tools/uvf-lspci" "$dir/absent.sock" 2>&1) || rc=$?
check "missing socket exit 1" test "$rc" -eq 1
check "missing socket message" expect "$msg" "cannot connect to $dir/absent.sock: No such file or directory"

echo "tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
