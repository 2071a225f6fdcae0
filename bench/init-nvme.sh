#!/bin/sh
# /init of the nvme benchmark guest (bench/nvme-guest.sh): two NVMe
# controllers, uvf-nvme (serial uvf-bench) through vfio-user-pci and QEMU's
# own nvme (serial qemu-bench); each gets, per repetition, sequential 1 MiB
# write and read and 4 KiB random write and read (bin/guest-bench, O_DIRECT).
# Lines for the host: "UVF-E2E: BENCH REP DISK MODE VALUE UNIT"; then a
# traced phase on uvf-nvme alone between "UVF-E2E: MARK NAME" lines (the
# host counts the vfio-user trace lines between them; the guest idles 2 s
# after each mark so the host sees the count settle).
# boot.conf: BENCH_REPS, BENCH_SEQ_MIB, BENCH_RAND_IOS, BENCH_MSG_IOS.
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
BENCH_REPS=5 BENCH_SEQ_MIB=32 BENCH_RAND_IOS=2000 BENCH_MSG_IOS=1000
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

# Both controllers' namespaces, found by serial (probing is asynchronous).
uvf='' qemu='' i=0
while [ "$i" -lt 600 ] && { [ -z "$uvf" ] || [ -z "$qemu" ]; }; do
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/serial" ] || continue
		n=${c##*/}
		[ -b "/dev/${n}n1" ] || continue
		case $(cat "$c/serial") in
		*uvf-bench*) uvf=/dev/${n}n1 ;;
		*qemu-bench*) qemu=/dev/${n}n1 ;;
		esac
	done
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$uvf" ] || [ -z "$qemu" ]; then
	uvf_fail bench-disks "uvf-nvme '$uvf', QEMU nvme '$qemu'"
	uvf_done
fi
uvf_pass "bench-disks uvf=$uvf qemu=$qemu"
echo "UVF-E2E: INFO uvf $(cat "/sys/block/${uvf#/dev/}/device/model" 2>/dev/null) qemu $(cat "/sys/block/${qemu#/dev/}/device/model" 2>/dev/null)"

run() { # rep disk dev mode count
	if out=$(/bin/guest-bench "$3" "$4" "$5" 2>&1); then
		echo "UVF-E2E: BENCH $1 $2 $out"
	else
		uvf_fail "bench-$2-$4" "$out"
	fi
}

rep=1
while [ "$rep" -le "$BENCH_REPS" ]; do
	# alternate the order so neither disk always goes first
	if [ $((rep % 2)) -eq 1 ]; then order="uvf qemu"; else order="qemu uvf"; fi
	for d in $order; do
		if [ "$d" = uvf ]; then dev=$uvf; else dev=$qemu; fi
		run "$rep" "$d" "$dev" seqw "$BENCH_SEQ_MIB"
		run "$rep" "$d" "$dev" seqr "$BENCH_SEQ_MIB"
		run "$rep" "$d" "$dev" randw "$BENCH_RAND_IOS"
		run "$rep" "$d" "$dev" randr "$BENCH_RAND_IOS"
	done
	rep=$((rep + 1))
done

# Traced phase: uvf-nvme alone, a fixed number of I/Os between marks.
echo "UVF-E2E: MARK idle"
sleep 2
echo "UVF-E2E: MARK randw-begin"
sleep 2
run msg uvf "$uvf" randw "$BENCH_MSG_IOS"
echo "UVF-E2E: MARK randw-end"
sleep 2
echo "UVF-E2E: MARK randr-begin"
sleep 2
run msg uvf "$uvf" randr "$BENCH_MSG_IOS"
echo "UVF-E2E: MARK randr-end"
sleep 2
uvf_done
