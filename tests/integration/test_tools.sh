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
lacks() { # output, pattern
	! grep -qF -- "$2" <<<"$1" || { echo "unexpected: $2"; echo "$1"; return 1; }
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

# uvf-conform against a server that misbehaves on purpose (replies that
# announce 64 MiB and stall or close, fds with messages cut short): a clear
# verdict in bounded time. In sanitizer builds a payload left behind makes
# LeakSanitizer report at exit, which ends the tool before its summary.
hostile() { # VALID_SESSIONS ACT...
	"$build/tools/conform-hostile-server" "$dir/hostile.sock" "$@" 2>"$dir/hostile.log" &
	pid=$!
	for _ in $(seq 100); do [ -S "$dir/hostile.sock" ] && return 0; sleep 0.05; done
	echo "FAIL: conform-hostile-server did not listen"; cat "$dir/hostile.log"; return 1
}
stop_hostile() {
	kill "$pid"
	wait "$pid" 2>/dev/null || : # killed on purpose: its status says nothing
	pid=
	rm -f "$dir/hostile.sock"
}

hostile 0 big-stall
rc=0
msg=$(timeout 30 "$build/tools/uvf-conform" --timeout 200 "$dir/hostile.sock" 2>&1) || rc=$?
check "conform: hostile VERSION exit 2" test "$rc" -eq 2
check "conform: hostile VERSION message" expect "$msg" "uvf-conform: VERSION failed: a message cut short (the rest did not come in time)"
stop_hostile

hostile 1 big-close fds-truncated:1 fds-short-header fds-oversized:1 big-stall:1 fds-oversized
rc=0
out=$(timeout 60 "$build/tools/uvf-conform" --timeout 100 --quiet 50 \
	--only 'handshake/version-valid,framing/garbage-1,info/region-info-7' "$dir/hostile.sock" 2>&1) || rc=$?
check "conform: hostile replies exit 1" test "$rc" -eq 1
check "conform: hostile replies verdicts" expect "$out" "uvf-conform: 0 passed, 3 failed, 0 warnings, 0 skipped"
check "conform: hostile replies reason" expect "$out" "server did not recover"
check "conform: no leak report" lacks "$msg$out" "LeakSanitizer"
stop_hostile

echo "tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
