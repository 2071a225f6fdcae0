#!/usr/bin/env bash
# uvf-conform against QEMU 7.2's x-vfio-user-server (lsi53c895a and nvme).
# QEMU's verdicts are reported, not judged: this test fails only if the tool
# itself crashes or misbehaves (exit status other than 0 or 1) or QEMU
# cannot be started. QEMU serves one client per process and exits when it
# leaves, so the tool starts it for every case (--one-shot).
# Each device gets its own line with QEMU's verdicts, then its FAIL cases:
#   conform qemu-nvme: 80 pass, 9 fail, 3 warn, 2 skip (QEMU's, not judged)
# The closing line counts one check per device:
#   conform_qemu: N passed, M failed
# Usage: test_conform_qemu.sh SOURCE_DIR BUILD_DIR
# Environment: UVF_QEMU_SERVER (QEMU binary from qemu-server-setup.sh); the
# test is skipped (77) without it unless UVF_REQUIRE_INTEROP=1.
set -uo pipefail
src=$1
build=$2
tool=$build/tools/uvf-conform
if [ -z "${UVF_QEMU_SERVER:-}" ] || [ ! -x "${UVF_QEMU_SERVER:-}" ]; then
	if [ "${UVF_REQUIRE_INTEROP:-0}" = 1 ]; then
		echo "UVF_QEMU_SERVER not set or not executable"
		echo "conform_qemu: 0 passed, 1 failed"
		exit 1
	fi
	echo "UVF_QEMU_SERVER not set: skipped"
	exit 77
fi
dir=$(mktemp -d /tmp/uvf-conform-qemu.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# One QEMU start per case (~0.25 s): the whole catalogue against
# lsi53c895a, and against nvme the device-dependent groups only (the
# handshake and framing are handled by the same library code), unless
# UVF_CONFORM_QEMU_FULL=1.
only_nvme='info/*,irq/*,region/*,dma/*,reset/*,fds/*'
[ "${UVF_CONFORM_QEMU_FULL:-0}" = 1 ] && only_nvme='*'
passed=0 failed=0
for device in lsi53c895a nvme; do
	rc=0
	only='*'
	[ "$device" = nvme ] && only=$only_nvme
	"$tool" --one-shot --json --timeout 500 --quiet 100 --only "$only" \
		--server-cmd "UVF_QEMU=$UVF_QEMU_SERVER exec bash $src/tests/qemu-server/qemu-server-run.sh $device $dir/$device.sock 2>>$dir/$device.log" \
		"$dir/$device.sock" >"$dir/$device.json" 2>"$dir/$device.err" || rc=$?
	summary=$(grep '^uvf-conform: [0-9]* passed' "$dir/$device.err" | tail -n 1)
	counts=$(sed -n 's/^uvf-conform: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) warnings, \([0-9]*\) skipped$/\1 pass, \2 fail, \3 warn, \4 skip/p' <<<"$summary")
	if [ "$rc" -gt 1 ] || [ -z "$counts" ]; then
		echo "conform qemu-$device: did not complete (uvf-conform exited $rc)"
		echo "FAIL: uvf-conform against QEMU $device exited $rc"
		cat "$dir/$device.err"
		tail -n 20 "$dir/$device.log"
		failed=$((failed + 1))
		continue
	fi
	echo "conform qemu-$device: $counts (QEMU's, not judged)"
	# QEMU's FAILs, one line each (reported, not counted); the JSON must read
	if python3 - "$dir/$device.json" <<'PY'; then
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c["verdict"] == "FAIL":
        print("  qemu FAIL %s: %s; server: %s; %s" % (c["name"], c["requirement"], c["server"], c["why"]))
PY
		passed=$((passed + 1))
	else
		echo "FAIL: uvf-conform against QEMU $device: malformed JSON report"
		failed=$((failed + 1))
	fi
done
echo "conform_qemu: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
