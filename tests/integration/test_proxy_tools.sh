#!/usr/bin/env bash
# uvf-proxy with the tools and devices as programs: uvf-lspci prints the
# same through the proxy as directly for every sample device, uvf-conform
# gives the same verdicts, and each trace option says what it should
# (golden lines: a field decoded wrong changes them).
# Usage: test_proxy_tools.sh BUILD_DIR
set -euo pipefail
build=$1
proxy=$build/tools/uvf-proxy
lspci=$build/tools/uvf-lspci
dir=$(mktemp -d /tmp/uvf-proxy-tools.XXXXXX)
dev_pid= proxy_pid=
cleanup() {
	[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || :
	[ -z "$dev_pid" ] || kill "$dev_pid" 2>/dev/null || :
	rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { # name, command...
	local name=$1
	shift
	if "$@"; then passed=$((passed + 1)); else echo "FAIL: $name"; failed=$((failed + 1)); fi
}
wait_socket() { # path
	for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.02; done
	echo "no socket at $1"
	return 1
}
serve() { # program args...
	"$build/devices/$1" --socket-path="$dir/dev.sock" "${@:2}" 2>"$dir/dev.log" &
	dev_pid=$!
	wait_socket "$dir/dev.sock"
}
stop_dev() {
	kill -TERM "$dev_pid"
	wait "$dev_pid" || :
	dev_pid=
}
start_proxy() { # proxy options...
	"$proxy" --listen "$dir/proxy.sock" --server "$dir/dev.sock" "$@" >"$dir/proxy.out" 2>"$dir/proxy.err" &
	proxy_pid=$!
	wait_socket "$dir/proxy.sock"
}
stop_proxy() { # SIGTERM; its exit status must be 0
	local rc=0
	kill -TERM "$proxy_pid"
	wait "$proxy_pid" || rc=$?
	proxy_pid=
	check "proxy exits 0 on SIGTERM" test "$rc" -eq 0
}
wait_proxy() { # the proxy exits by itself (its one client left): status 0
	local rc=0
	wait "$proxy_pid" || rc=$?
	proxy_pid=
	check "proxy exits 0 when its client left" test "$rc" -eq 0
}
expect() { # file, text
	grep -qF -- "$2" "$1" || { echo "missing in $(basename "$1"): $2"; head -n 40 "$1"; return 1; }
}
lacks() { # file, text
	! grep -qF -- "$2" "$1" || { echo "unexpected in $(basename "$1"): $2"; return 1; }
}

# uvf-lspci: the same report through the proxy as directly, per device
for device in "uvf-scratch" "uvf-dmatest" "uvf-idio16" "uvf-nvme --size=1M"; do
	# shellcheck disable=SC2086 # the device's own options
	serve $device
	name=${device%% *}
	"$lspci" -vv "$dir/dev.sock" >"$dir/direct.txt"
	start_proxy --trace "$dir/trace.txt"
	"$lspci" -vv "$dir/proxy.sock" >"$dir/proxied.txt"
	# the one difference: the twin socket is not offered through the proxy
	sed -i 's/ TwinSocket+$/ TwinSocket-/' "$dir/direct.txt"
	check "$name: lspci through the proxy" cmp "$dir/direct.txt" "$dir/proxied.txt"
	check "$name: no twin socket through the proxy" expect "$dir/proxied.txt" "WriteMulti+ TwinSocket-"
	wait_proxy
	check "$name: summary at exit" expect "$dir/proxy.err" "DEVICE_GET_REGION_INFO"
	check "$name: the client's leaving logged" expect "$dir/proxy.err" "uvf-proxy: client: connection closed by the peer"
	check "$name: traced" expect "$dir/trace.txt" "request DEVICE_GET_INFO bytes=32 fds=0"
	stop_dev
done

# uvf-conform: the same verdicts through the proxy as directly, no FAIL
serve uvf-dmatest
rc=0
timeout 300 "$build/tools/uvf-conform" "$dir/dev.sock" >"$dir/conform-direct.txt" 2>&1 || rc=$?
check "conform directly: exit 0" test "$rc" -eq 0
start_proxy --keep
rc=0
timeout 300 "$build/tools/uvf-conform" "$dir/proxy.sock" >"$dir/conform-proxy.txt" 2>&1 || rc=$?
check "conform through the proxy: exit 0" test "$rc" -eq 0
check "conform through the proxy: no FAIL" lacks "$dir/conform-proxy.txt" "FAIL "
grep -E '^(PASS|FAIL|WARN|SKIP) ' "$dir/conform-direct.txt" >"$dir/verdicts-direct.txt"
grep -E '^(PASS|FAIL|WARN|SKIP) ' "$dir/conform-proxy.txt" >"$dir/verdicts-proxy.txt"
check "conform: same verdicts through the proxy" cmp "$dir/verdicts-direct.txt" "$dir/verdicts-proxy.txt"
check "conform: bad framing logged by the proxy" expect "$dir/proxy.err" "uvf-proxy: client: DEVICE_GET_INFO id 7: unknown header flags"
stop_proxy
stop_dev

# the trace: golden lines of uvf-lspci against uvf-scratch
serve uvf-scratch
start_proxy --trace -
"$lspci" -vv "$dir/proxy.sock" >/dev/null
wait_proxy
t=$dir/proxy.out
check "trace: VERSION offer narrowed" expect "$t" "# VERSION: twin_socket offer removed"
check "trace: VERSION reply" grep -qE '^[0-9]+\.[0-9]{6} s>c id=1 reply VERSION major=0 minor=0 caps=\{"capabilities":\{"max_msg_fds":8,"max_data_xfer_size":1048576,.*\} bytes=[0-9]+ fds=0$' "$t"
check "trace: DEVICE_GET_INFO reply" expect "$t" "s>c id=2 reply DEVICE_GET_INFO flags=0x3 regions=9 irqs=5 bytes=32 fds=0"
check "trace: BAR0 info" expect "$t" "reply DEVICE_GET_REGION_INFO index=0 flags=rw-- size=0x1000 offset=0x0 bytes=48 fds=0"
check "trace: BAR2 info" expect "$t" "reply DEVICE_GET_REGION_INFO index=2 flags=rw-- size=0x20 offset=0x20000000000 bytes=48 fds=0"
check "trace: config read" expect "$t" "request REGION_READ region=7 offset=0x0 count=256 bytes=32 fds=0"
check "trace: config read reply" expect "$t" "reply REGION_READ region=7 offset=0x0 count=256 bytes=288 fds=0"
check "trace: MSI info" expect "$t" "reply DEVICE_GET_IRQ_INFO index=1 flags=0xb count=4 bytes=32 fds=0"
check "trace: an error reply by name" grep -qE 's>c id=[0-9]+ error DEVICE_GET_IRQ_INFO error=EINVAL bytes=16 fds=0$' "$t"
check "trace: no hexdump unasked" lacks "$t" "    0000:"

# --filter: only the commands named; --hexdump: the payload's first bytes
start_proxy --trace - --filter region_read,DEVICE_GET_INFO --hexdump 20
"$lspci" -vv "$dir/proxy.sock" >/dev/null
wait_proxy
check "filter: REGION_READ kept" expect "$t" "request REGION_READ region=7 offset=0x0 count=256"
check "filter: DEVICE_GET_INFO kept" expect "$t" "request DEVICE_GET_INFO"
check "filter: nothing else" test "$(grep -cvE '^#|^    |REGION_READ|DEVICE_GET_INFO' "$t")" -eq 0
check "hexdump: a request's bytes" expect "$t" "    0000: 00 00 00 00 00 00 00 00"
# the reply's payload: offset, region 7, count 256, then the config space
ids() { grep -A2 "reply REGION_READ region=7 offset=0x0 count=256" "$t" | tr '\n' '|' |
	grep -qF "|    0000: 00 00 00 00 00 00 00 00 07 00 00 00 00 01 00 00|    0010: e0 1d 01 00|"; }
check "hexdump: the device's ids in the read reply" ids
check "hexdump: at most 20 bytes" test "$(grep -cE '^    0010:( [0-9a-f]{2}){5}|^    0020:' "$t")" -eq 0

# --json: one object a line, the same fields; the summary as JSON
start_proxy --trace - --json --summary "$dir/summary.json"
"$lspci" -vv "$dir/proxy.sock" >/dev/null
wait_proxy
check "json: every line parses, fields decoded" /usr/bin/python3 - "$t" "$dir/summary.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
msgs = [l for l in lines if "note" not in l]
info = [m for m in msgs if m["command"] == "DEVICE_GET_INFO" and m["kind"] == "reply"][0]
assert info["fields"] == {"flags": 3, "regions": 9, "irqs": 5}, info
assert info["dir"] == "s>c" and info["id"] == 2 and info["bytes"] == 32 and info["fds"] == 0, info
rd = [m for m in msgs if m["command"] == "REGION_READ" and m["kind"] == "request"][0]
assert rd["fields"] == {"region": 7, "offset": 0, "count": 256}, rd
err = [m for m in msgs if m["kind"] == "error"][0]
assert err["error"] == "EINVAL" and err["errno"] == 22, err
summary = json.load(open(sys.argv[2]))["summary"]
by = {s["command"]: s for s in summary}
reads = len([m for m in msgs if m["command"] == "REGION_READ" and m["kind"] == "request"])
assert by["REGION_READ"]["requests"] == reads and by["REGION_READ"]["replies"] == reads, by["REGION_READ"]
assert by["DEVICE_GET_REGION_INFO"]["requests"] == 9, by
assert by["DEVICE_GET_IRQ_INFO"]["errors"] >= 1, by
assert by["VERSION"]["latency_samples"] == 1 and by["VERSION"]["median_us"] > 0, by
PY

# the summary: one line per command, counts matching the trace
start_proxy --trace "$dir/trace.txt" --summary "$dir/summary.txt"
"$lspci" -vv "$dir/proxy.sock" >/dev/null
wait_proxy
reads=$(grep -c 'c>s id=[0-9]* request REGION_READ ' "$dir/trace.txt")
check "summary: REGION_READ count" grep -qE "^REGION_READ +$reads +$reads +0 +[0-9]+ +[0-9.]+ +[0-9.]+$" "$dir/summary.txt"
check "summary: REGION_INFO count" grep -qE "^DEVICE_GET_REGION_INFO +9 +9 +0 +864 " "$dir/summary.txt"

# bad usage
rc=0
"$proxy" --listen "$dir/x.sock" --server "$dir/dev.sock" --filter NOPE 2>"$dir/err.txt" || rc=$?
check "bad filter: exit 2" test "$rc" -eq 2
check "bad filter: says which" expect "$dir/err.txt" 'no command named "NOPE"'
rc=0
"$proxy" --listen "$dir/x.sock" 2>/dev/null || rc=$?
check "no server: exit 2" test "$rc" -eq 2
stop_dev

# a server that is not there: the client is dropped, the proxy says why
start_proxy
rc=0
"$lspci" "$dir/proxy.sock" >/dev/null 2>&1 || rc=$?
wait "$proxy_pid" || rc=$?
proxy_pid=
check "absent server: logged" expect "$dir/proxy.err" "uvf-proxy: cannot connect to the server at $dir/dev.sock"

echo "proxy_tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
