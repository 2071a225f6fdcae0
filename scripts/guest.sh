#!/usr/bin/env bash
# See a Linux guest use a uvf device: build uvf, start the device, and boot
# an interactive Linux guest (QEMU's vfio-user client; KVM when it can run
# a guest, else TCG: tests/qemu-guests/accel.sh) whose console is a busybox shell
# with the device's driver loaded and a banner of things to try. When the
# guest powers off (or Ctrl-A x quits QEMU), the device is stopped.
#
# Usage: scripts/guest.sh scratch|dmatest|idio16|nvme
#
#   scratch   uvf-scratch (registers, GPIO LEDs, DMA window) on pc, behind a
#             PCI bridge so that the guest can reset it
#   dmatest   uvf-dmatest on q35 with QEMU's intel-iommu, vfio-pci loaded:
#             vfio-dmatest runs DMA and interrupt checks from user space
#   idio16    uvf-idio16 with Linux's gpio-pci-idio-16 driver; its inputs
#             are driven from the host through a FIFO (path printed)
#   nvme      uvf-nvme (64 MiB in RAM) on q35 with Linux's nvme driver:
#             /dev/nvme0n1, with ext4 at hand
#
# Needs root. The first run builds a Debian chroot with QEMU and a kernel
# (tests/qemu-guests/setup-chroot.sh, a few minutes, cached in /var/cache/uvf).
# The device's log goes to a file (path printed), not to the console.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
E2E=$REPO/tests/qemu-guests

usage() {
	sed -n '2,22s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
[ $# -eq 1 ] || usage
DEVICE=$1
case $DEVICE in
scratch | dmatest | idio16 | nvme) ;;
-h | --help) usage ;;
*) usage ;;
esac
if [ "$(id -u)" -ne 0 ]; then
	echo "guest.sh: needs root (Debian packages, chroot)" >&2
	exit 1
fi

bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build -j2 "devices/uvf-$DEVICE" >/dev/null
ROOT=$(bash "$E2E/setup-chroot.sh" | tail -n1)
export UVF_E2E_ROOT=$ROOT
# kvm or tcg, the same choice as the end-to-end tests (it says which, why)
UVF_E2E_ACCEL_CHOSEN=$(bash "$E2E/accel.sh" "$ROOT")
export UVF_E2E_ACCEL_CHOSEN

WORK=$(mktemp -d /tmp/uvf-guest.XXXXXX)
mkdir -p "$ROOT/run/uvf"
SOCK=$ROOT/run/uvf/guest-$$-$DEVICE.sock
PID=
# shellcheck disable=SC2317 # called by the traps
cleanup() {
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		echo "guest.sh: uvf-$DEVICE stopped; its log: $WORK/device.log"
	fi
	rm -f "$SOCK" "$WORK/initrd.gz" "$WORK/control"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

MK=("$WORK/initrd.gz" --init "$E2E/init/shell.sh" --file "$E2E/guest-lib.sh:/lib/uvf-checks.sh"
	--file "$E2E/pcidesc.awk:/lib/pcidesc.awk" --file "$WORK/boot.conf:/etc/uvf-e2e/boot.conf")
BOOT=(--initrd "$WORK/initrd.gz" --socket "$SOCK" --interactive --log "$WORK/console.log"
	--stderr "$WORK/qemu.log")
DEV=("build/devices/uvf-$DEVICE" -v)
HOST_NOTE=
case $DEVICE in
scratch)
	# shellcheck disable=SC2054 # commas inside one QEMU argument
	BOOT+=(--machine pc --qemu-arg -device --qemu-arg pci-bridge,id=br1,chassis_nr=1 --bus br1)
	;;
dmatest)
	gcc -static -O2 -o "$WORK/vfio-dmatest" "$E2E/guest/vfio-dmatest.c" "$E2E/guest/vfio-dmatest-checks.c"
	MK+=(--module vfio-pci --module vfio_iommu_type1 --file "$WORK/vfio-dmatest:/bin/vfio-dmatest")
	# shellcheck disable=SC2054
	BOOT+=(--machine q35 --append intel_iommu=on --qemu-arg -device --qemu-arg intel-iommu,caching-mode=on)
	;;
idio16)
	gcc -static -O2 -o "$WORK/idio16-check" "$E2E/guest/idio16-check.c"
	MK+=(--module gpio-pci-idio-16 --file "$WORK/idio16-check:/bin/idio16-check")
	BOOT+=(--machine pc)
	DEV+=("--control=$WORK/control")
	HOST_NOTE="inputs: echo 'inputs 0x00ff' > $WORK/control   outputs: tail -f $WORK/device.out"
	;;
nvme)
	MK+=(--module nvme --module ext4)
	BOOT+=(--machine q35)
	DEV+=(--size=64M)
	;;
esac
{
	echo "UVF_GUEST=$DEVICE"
	[ "$DEVICE" != idio16 ] || echo "UVF_HOST_FIFO=$WORK/control"
} >"$WORK/boot.conf"
bash "$E2E/mkinitramfs.sh" "${MK[@]}"

# A closed terminal hangs up QEMU and this script, not the device: the
# cleanup stops it by PID, so that it removes its socket.
(
	trap '' HUP
	exec "${DEV[@]}" --socket-path="$SOCK" >"$WORK/device.out" 2>"$WORK/device.log" </dev/null
) &
PID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.05
done
if [ ! -S "$SOCK" ]; then
	cat "$WORK/device.log" >&2
	echo "guest.sh: uvf-$DEVICE did not start" >&2
	exit 1
fi

cat <<EOF
guest.sh: uvf-$DEVICE (pid $PID) serves $SOCK
guest.sh: device log: tail -f $WORK/device.log; QEMU's messages: $WORK/qemu.log${HOST_NOTE:+
guest.sh: $HOST_NOTE}
guest.sh: booting Linux under QEMU ($UVF_E2E_ACCEL_CHOSEN; about 10 s with TCG); poweroff or Ctrl-A x ends it
EOF
rc=0
bash "$E2E/boot.sh" "${BOOT[@]}" || rc=$?
echo "guest.sh: QEMU exited ($rc); console log: $WORK/console.log"
if [ "$rc" -ne 0 ] && [ -s "$WORK/qemu.log" ]; then
	tail -n 5 "$WORK/qemu.log" | sed 's/^/guest.sh: QEMU: /'
fi
exit "$rc"
