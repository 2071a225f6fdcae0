#!/usr/bin/env bash
# The main job: build uvf, serve the sample device on a socket in a
# temporary folder, inspect it with uvf-lspci, and stop the device.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

dir=$(mktemp -d /tmp/uvf-demo.XXXXXX)
sock="$dir/scratch.sock"
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

./build/devices/uvf-scratch --socket-path="$sock" &
pid=$!
for _ in $(seq 1 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done
echo "uvf-scratch (pid $pid) serving on $sock"
echo
./build/tools/uvf-lspci -vv "$sock"
echo
./build/tools/uvf-lspci -x "$sock"
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
echo
echo "uvf-scratch stopped (exit status $status); socket removed: $([ -e "$sock" ] && echo no || echo yes)"
