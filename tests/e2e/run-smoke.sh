#!/usr/bin/env bash
# End-to-end smoke test: QEMU's vfio-user client boots a Linux guest (TCG)
# that finds uvf-scratch and checks its identity, BARs, config space and
# registers (smoke-init.sh), in three set-ups: pc with shared memory, pc
# with private memory, q35 with shared memory.
#
# Usage: tests/e2e/run-smoke.sh [BUILD_DIR]
#
# Without BUILD_DIR, builds uvf in build-e2e at the top of the repository.
# Logs go to BUILD_DIR/e2e/ (per boot: .log serial console, .trace QEMU's
# vfio_user* trace, .dev.log the device's stderr). Needs root. Exits
# non-zero on any FAIL or timeout.
#
# Environment: UVF_E2E_TIMEOUT (seconds per boot, default 180), plus what
# setup-chroot.sh and boot.sh read.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TIMEOUT=${UVF_E2E_TIMEOUT:-180}

say() { printf 'e2e-smoke: %s\n' "$*" >&2; }

if [ $# -gt 1 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,15s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
if [ $# -eq 1 ]; then
	BUILD=$(realpath "$1")
else
	BUILD=$REPO/build-e2e
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "meson setup $BUILD"
		meson setup "$BUILD" "$REPO" >/dev/null
	fi
	ninja -C "$BUILD" -j2 devices/uvf-scratch >/dev/null
fi
SCRATCH=$BUILD/devices/uvf-scratch
[ -x "$SCRATCH" ] || { say "no $SCRATCH"; exit 1; }

ROOT=$("$HERE/setup-chroot.sh" | tail -n1)
export UVF_E2E_ROOT=$ROOT
OUT=$BUILD/e2e
mkdir -p "$OUT"

"$HERE/mkinitramfs.sh" "$OUT/smoke.cpio.gz" --init "$HERE/smoke-init.sh" --module uio_pci_generic

SRV_PID='' SOCK=''
stop_server() {
	local rc=0
	if [ -n "$SRV_PID" ]; then
		kill -TERM "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || rc=$?
		SRV_PID=
	fi
	[ -z "$SOCK" ] || rm -f "$SOCK"
	return "$rc"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0 failed=0
SUMMARY=()

# boot NAME MACHINE MEMORY
boot() {
	local name=$1 machine=$2 memory=$3 rc=0 srv_rc=0 line verdict
	local log=$OUT/smoke-$name.log
	SOCK=$ROOT/run/uvf/smoke-$$-$name.sock
	rm -f "$SOCK" "$log" "${log%.log}.trace"
	"$SCRATCH" --socket-path="$SOCK" -v 2>"${log%.log}.dev.log" &
	SRV_PID=$!
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S "$SOCK" ]; then
		stop_server || true
		failed=$((failed + 1))
		SUMMARY+=("$(printf '%-10s FAIL  uvf-scratch did not listen (see %s)' "$name" "${log%.log}.dev.log")")
		return
	fi
	line=$("$HERE/boot.sh" --initrd "$OUT/smoke.cpio.gz" --socket "$SOCK" --machine "$machine" \
		--memory "$memory" --timeout "$TIMEOUT" --log "$log" 2>&1 | tail -n1) || rc=$?
	stop_server || srv_rc=$?
	local g_pass g_fail
	g_pass=$(grep -ac 'UVF-E2E: PASS' "$log" || true)
	g_fail=$(grep -ac 'UVF-E2E: FAIL' "$log" || true)
	# "boot: RESULT init=S done=S exit=S accel=A"
	local t_init t_done t_exit accel
	t_init=$(sed -n 's/.* init=\([^ ]*\).*/\1/p' <<<"$line")
	t_done=$(sed -n 's/.* done=\([^ ]*\).*/\1/p' <<<"$line")
	t_exit=$(sed -n 's/.* exit=\([^ ]*\).*/\1/p' <<<"$line")
	accel=$(sed -n 's/.* accel=\([^ ]*\).*/\1/p' <<<"$line")
	if [ "$rc" -eq 0 ] && [ "$srv_rc" -eq 0 ]; then
		verdict=PASS
		passed=$((passed + 1))
	else
		verdict=FAIL
		failed=$((failed + 1))
	fi
	SUMMARY+=("$(printf '%-10s %s  /init at %5ss, DONE at %5ss, exit at %5ss (%s); guest checks: %s passed, %s failed' \
		"$name" "$verdict" "${t_init:--}" "${t_done:--}" "${t_exit:--}" "${accel:-?}" "$g_pass" "$g_fail")")
	# QEMU's and the device's warnings, printed once each at the end
	{
		grep -a '^qemu-system-x86_64:' "$log" |
			sed 's/^.*: \(warning: \)/\1/; s/vfio-user:[^ ]*sock/vfio-user:SOCKET/; s/^/QEMU: /'
		grep -a -E '^uvf-scratch: (warning|error):' "${log%.log}.dev.log"
	} >>"$OUT/smoke-messages.txt" || true
	if [ "$verdict" = FAIL ]; then
		grep -a 'UVF-E2E: FAIL' "$log" | sed 's/^.*UVF-E2E: /    guest: /' >&2 || true
		[ "$g_fail" -gt 0 ] || tail -n 15 "$log" | sed 's/^/    console: /' >&2 || true
		say "$name: ${line:-boot.sh said nothing}"
		[ "$srv_rc" -eq 0 ] || say "$name: uvf-scratch exited with status $srv_rc"
		say "$name: logs in $OUT/smoke-$name.*"
	fi
}

rm -f "$OUT/smoke-messages.txt"
boot pc-shared pc shared
boot pc-private pc private
boot q35-shared q35 shared

echo "e2e-smoke: $(chroot "$ROOT" qemu-system-x86_64 --version | head -n1)"
if [ -s "$OUT/smoke-messages.txt" ]; then
	sort "$OUT/smoke-messages.txt" | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/e2e-smoke: note (x\1) \2/'
fi
for s in "${SUMMARY[@]}"; do
	echo "e2e-smoke: $s"
done
echo "e2e-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
