#!/usr/bin/env bash
# Choose the accelerator of the end-to-end guests: kvm when a real guest
# gets going under it, else tcg. Every script that boots a guest asks this
# one (boot.sh does when nobody asked before it).
#
# Usage: tests/qemu-guests/accel.sh [ROOT]      (ROOT: the chroot; default as boot.sh)
#
# Prints "kvm" or "tcg" on stdout and, on stderr, why:
#   e2e: accelerator tcg (no /dev/kvm)
#   e2e: accelerator tcg (kvm could not start a guest: KVM internal error...)
#   e2e: accelerator kvm (guest reached /init in 0.8 s)
#
# /dev/kvm opening is not enough (a host's KVM may open and create a VM yet
# fail on the guest's first instructions): the probe boots the chroot's
# guest kernel under KVM with a tiny initramfs whose /init prints a marker,
# and takes kvm only when the marker shows within UVF_E2E_PROBE_TIMEOUT
# seconds (default 10). It never needs TCG itself.
#
# Environment:
#   UVF_E2E_ACCEL          kvm or tcg: forced, no probe
#   UVF_E2E_ACCEL_CHOSEN   a choice made earlier in this run (kvm or tcg):
#                          reused as is, silently. A script that boots
#                          several guests runs accel.sh once and exports it
#   UVF_E2E_PROBE_TIMEOUT  seconds KVM gets to reach /init (default 10)
#   UVF_E2E_QEMU_WRAPPER   (tests only) a command put before
#                          "chroot ROOT qemu-system-x86_64" (boot.sh too)
#   UVF_E2E_FAKE_KVM=1     (tests only) take /dev/kvm as usable without
#                          looking at it
#
# Exit status 0 with a choice on stdout; 2 on bad usage or environment.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { say "accel: $*"; exit 2; }

case ${1:-} in -h | --help) sed -n '2,31s/^# \{0,1\}//p' "$0" >&2; exit 2 ;; esac
[ $# -le 1 ] || die "usage: accel.sh [ROOT]"

choose() { # accel why
	say "accelerator $1 ($2)"
	echo "$1"
	exit 0
}

if [ -n "${UVF_E2E_ACCEL:-}" ]; then
	case $UVF_E2E_ACCEL in kvm | tcg) ;; *) die "UVF_E2E_ACCEL must be kvm or tcg, not '$UVF_E2E_ACCEL'" ;; esac
	choose "$UVF_E2E_ACCEL" "forced by UVF_E2E_ACCEL"
fi
if [ -n "${UVF_E2E_ACCEL_CHOSEN:-}" ]; then
	case $UVF_E2E_ACCEL_CHOSEN in kvm | tcg) ;; *) die "UVF_E2E_ACCEL_CHOSEN must be kvm or tcg, not '$UVF_E2E_ACCEL_CHOSEN'" ;; esac
	echo "$UVF_E2E_ACCEL_CHOSEN"
	exit 0
fi
PROBE_TIMEOUT=${UVF_E2E_PROBE_TIMEOUT:-10}
case $PROBE_TIMEOUT in '' | *[!0-9]* | 0) die "UVF_E2E_PROBE_TIMEOUT wants whole seconds (> 0)" ;; esac

if [ "${UVF_E2E_FAKE_KVM:-0}" != 1 ]; then
	[ -c /dev/kvm ] || choose tcg "no /dev/kvm"
	if ! { exec 8<>/dev/kvm; } 2>/dev/null; then
		choose tcg "/dev/kvm cannot be opened"
	fi
	exec 8>&-
fi

ROOT=${1:-${UVF_E2E_ROOT:-}}
[ -n "$ROOT" ] || ROOT=$("$HERE/setup-chroot.sh" | tail -n1)
ROOT=$(realpath "$ROOT")
KERNEL=$(cd "$ROOT" && ls boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$KERNEL" ] || die "no kernel in $ROOT/boot"
BUSYBOX=$ROOT/usr/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox in $ROOT"
if [ "${UVF_E2E_FAKE_KVM:-0}" != 1 ] && [ ! -c "$ROOT/dev/kvm" ]; then
	mknod -m 0660 "$ROOT/dev/kvm" c 10 232 2>/dev/null || true
fi

mkdir -p "$ROOT/run/uvf"
WORK=$(mktemp -d "$ROOT/run/uvf/accel.XXXXXX")
QEMU_PID=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$QEMU_PID" ]; then
		kill -KILL "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The tiny initramfs: busybox and an /init that prints the marker.
mkdir -p "$WORK/stage/bin"
cp "$BUSYBOX" "$WORK/stage/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox echo UVF-E2E-PROBE: INIT\n/bin/busybox poweroff -f\n' >"$WORK/stage/init"
chmod 0755 "$WORK/stage/init"
(cd "$WORK/stage" && printf 'bin\nbin/busybox\ninit\n' | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) |
	gzip -1n >"$WORK/initrd"

WRAP=()
[ -z "${UVF_E2E_QEMU_WRAPPER:-}" ] || WRAP=("$UVF_E2E_QEMU_WRAPPER")
now() { local t; t=$(cat /proc/uptime); echo "${t%% *}"; }
t0=$(now)
"${WRAP[@]}" chroot "$ROOT" qemu-system-x86_64 -no-user-config -nodefaults -nographic -no-reboot \
	-accel kvm -cpu host -m 256M -serial stdio -monitor none \
	-kernel "/$KERNEL" -initrd "${WORK#"$ROOT"}/initrd" -append "console=ttyS0 panic=-1 quiet no_timer_check" \
	</dev/null >"$WORK/out" 2>&1 &
QEMU_PID=$!
reached=0 exited=''
end=$((SECONDS + PROBE_TIMEOUT))
while [ "$SECONDS" -lt "$end" ]; do
	if grep -aq 'UVF-E2E-PROBE: INIT' "$WORK/out"; then
		reached=1
		break
	fi
	if ! kill -0 "$QEMU_PID" 2>/dev/null; then
		rc=0
		wait "$QEMU_PID" || rc=$?
		QEMU_PID=
		exited=$rc
		grep -aq 'UVF-E2E-PROBE: INIT' "$WORK/out" && reached=1
		break
	fi
	sleep 0.05
done
took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
[ "$reached" = 0 ] || choose kvm "guest reached /init in $took s"

# What QEMU said first (its error, or the start of a register dump).
what=$(tr -d '\r' <"$WORK/out" | grep -a -v '^[[:space:]]*$' | head -n 1 | cut -c1-120)
if [ -n "$exited" ]; then
	choose tcg "kvm could not start a guest: QEMU exited with status $exited in $took s${what:+: $what}"
fi
choose tcg "kvm could not start a guest: no /init within $PROBE_TIMEOUT s${what:+; QEMU said: $what}"
