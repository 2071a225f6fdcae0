#!/usr/bin/env bash
# The accelerator choice (accel.sh) and boot.sh's fallback to TCG, on a
# host whose KVM opens but cannot run a guest, faked: UVF_E2E_FAKE_KVM=1
# makes /dev/kvm look usable and fake-broken-kvm.sh stands in front of
# QEMU (UVF_E2E_QEMU_WRAPPER). Checks, each bounded in time:
#
#   probe-hang      KVM hangs after a register dump: tcg, "kvm could not
#                   start a guest", within the probe's bound
#   probe-exit      QEMU exits at once under KVM: tcg, with its message
#   probe-works     a KVM that works (TCG in disguise): kvm, "guest
#                   reached /init"
#   boot-fallback   UVF_E2E_ACCEL=kvm on the hanging KVM: boot.sh gives up
#                   on KVM when the guest is not at /init, says so, boots
#                   it under TCG, and the guest's checks pass
#
# Usage: tests/qemu-guests/accel-test.sh      (needs root and the chroot)
# Last line: "accel-test: N passed, M failed". Logs in a temporary folder,
# printed when something failed.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "accel-test: needs root (chroot)" >&2; exit 1; }
ROOT=${UVF_E2E_ROOT:-$("$HERE/setup-chroot.sh" | tail -n1)}
export UVF_E2E_ROOT=$ROOT
# Nothing from the caller's run may decide for the tests.
unset UVF_E2E_ACCEL UVF_E2E_ACCEL_CHOSEN UVF_E2E_PROBE_TIMEOUT UVF_E2E_KVM_INIT_TIMEOUT FAKE_KVM_MODE
export UVF_E2E_FAKE_KVM=1 UVF_E2E_QEMU_WRAPPER=$HERE/fake-broken-kvm.sh

WORK=$(mktemp -d /tmp/uvf-accel-test.XXXXXX)
passed=0 failed=0 keep=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); keep=1; }
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "accel-test: logs in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# probe NAME MODE PROBE_TIMEOUT WANT_ACCEL WANT_WORDS BOUND
probe() {
	local name=$1 mode=$2 ptimeout=$3 want=$4 words=$5 bound=$6 got start took
	start=$SECONDS
	got=$(FAKE_KVM_MODE=$mode UVF_E2E_PROBE_TIMEOUT=$ptimeout timeout $((bound + 30)) "$HERE/accel.sh" "$ROOT" \
		2>"$WORK/$name.err") || got="(exit $?)"
	took=$((SECONDS - start))
	if [ "$got" != "$want" ]; then
		fail "$name: chose '$got', want $want: $(cat "$WORK/$name.err")"
	elif ! grep -q "^e2e: accelerator $want ($words" "$WORK/$name.err"; then
		fail "$name: no line 'e2e: accelerator $want ($words...' in: $(cat "$WORK/$name.err")"
	elif [ "$took" -gt "$bound" ]; then
		fail "$name: took $took s, bound $bound s"
	else
		pass "$name: $(cat "$WORK/$name.err") in $took s"
	fi
}

probe probe-hang hang 4 tcg "kvm could not start a guest: no /init within 4 s; QEMU said: KVM internal error" 10
probe probe-exit exit 4 tcg "kvm could not start a guest: QEMU exited with status 1" 8
probe probe-works tcg 150 kvm "guest reached /init in" 150

# boot-fallback: a guest whose /init passes one check and is done.
cat >"$WORK/init.sh" <<'INIT'
#!/bin/sh
. /lib/uvf-e2e.sh
uvf_setup
uvf_pass accel-test-guest
uvf_done
INIT
"$HERE/mkinitramfs.sh" "$WORK/initrd.gz" --init "$WORK/init.sh"
start=$SECONDS
rc=0
FAKE_KVM_MODE=hang UVF_E2E_ACCEL=kvm UVF_E2E_KVM_INIT_TIMEOUT=5 \
	"$HERE/boot.sh" --initrd "$WORK/initrd.gz" --timeout 150 --trace-events '' \
	--log "$WORK/boot.log" 2>"$WORK/boot.err" || rc=$?
took=$((SECONDS - start))
summary=$(tail -n 1 "$WORK/boot.err")
if [ "$rc" -ne 0 ]; then
	fail "boot-fallback: boot.sh exited $rc ($summary)"
elif ! grep -q 'did not reach /init under kvm.*rerunning once under tcg' "$WORK/boot.err"; then
	fail "boot-fallback: no line about rerunning under tcg in $WORK/boot.err"
elif ! grep -q 'KVM internal error' "$WORK/boot.kvm.log"; then
	fail "boot-fallback: the KVM attempt's console ($WORK/boot.kvm.log) lacks the fake register dump"
elif [[ $summary != "boot: pass "*" accel=tcg" ]]; then
	fail "boot-fallback: summary '$summary', want a pass under tcg"
elif ! grep -aq 'UVF-E2E: PASS accel-test-guest' "$WORK/boot.log"; then
	fail "boot-fallback: the guest's check did not pass"
elif [ "$took" -gt 180 ]; then
	fail "boot-fallback: took $took s, bound 180 s"
else
	pass "boot-fallback: $summary, $took s in all"
fi

echo "accel-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
