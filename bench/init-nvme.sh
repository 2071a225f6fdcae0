#!/bin/sh
# /init of the nvme benchmark guest (bench/nvme-guest.sh): two NVMe
# controllers, uvf-nvme (serial uvf-bench) through vfio-user-pci and QEMU's
# own nvme (serial qemu-bench). Per repetition, every test runs on both
# disks, back to back, the first disk alternating with the repetition:
# Debian's fio, libaio engine, O_DIRECT, one job, time-based.
#   seqw, seqr     sequential 1 MiB write, read
#   randw, randr   random 4 KiB write, read (no random map)
# each at every queue depth of BENCH_QDS ("1 32").
# Lines for the host:
#   UVF-E2E: MARK REP-DISK-TEST-begin / -end
#       printed by fio itself right before its I/O starts and right after
#       it ends (exec_prerun / exec_postrun); the host samples the trace
#       size and the CPU times of uvf-nvme and QEMU at each;
#   UVF-E2E: BENCH REP DISK TEST VALUE UNIT IOS
#       TEST is MODE-qdN, VALUE MiB/s (seq) or IOPS (rand), IOS the I/Os done;
#   UVF-E2E: MARK idle-begin, idle-a (1 s later), idle-b (BENCH_IDLE s later)
#       the host measures uvf-nvme's CPU use between idle-a and idle-b;
#   UVF-E2E: MARK trace-on
#       (BENCH_TRACE=1) the host turns QEMU's vfio_user* trace on; each
#       test then runs once more on uvf-nvme alone, BENCH_MSG_RUNTIME s,
#       as repetition "msg", for the message counts. The timed runs
#       above ran untraced.
# boot.conf: BENCH_REPS, BENCH_RUNTIME (s per fio run), BENCH_QDS,
# BENCH_IDLE, BENCH_TRACE, BENCH_MSG_RUNTIME, BENCH_JOBS (fio jobs per
# run, each at the queue depth, reported together; job k starts at
# k * BENCH_DISK_MB / BENCH_JOBS MiB), BENCH_DISK_MB (each disk's size).
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
BENCH_REPS=3 BENCH_RUNTIME=3 BENCH_QDS="1 32" BENCH_IDLE=3 BENCH_TRACE=1 BENCH_MSG_RUNTIME=1 BENCH_JOBS=1 BENCH_DISK_MB=64
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
echo "UVF-E2E: INFO $(fio --version) engine libaio, $BENCH_JOBS job(s) per run; vCPUs $(nproc); I/O queues: uvf $(ls -d "/sys/block/${uvf#/dev/}/mq"/* | wc -l) qemu $(ls -d "/sys/block/${qemu#/dev/}/mq"/* | wc -l)"

run() { # rep disk dev mode qd [runtime]
	case $4 in
	seqw) rw=write bs=1M ;;
	seqr) rw=read bs=1M ;;
	randw) rw=randwrite bs=4k ;;
	randr) rw=randread bs=4k ;;
	esac
	tag=$1-$2-$4-qd$5
	if ! out=$(fio --name="$tag" --filename="$3" --direct=1 --ioengine=libaio \
		--rw="$rw" --bs="$bs" --iodepth="$5" --numjobs="$BENCH_JOBS" --group_reporting \
		--offset_increment=$((BENCH_DISK_MB / BENCH_JOBS))M --norandommap --randrepeat=0 \
		--time_based --runtime="${6:-$BENCH_RUNTIME}" \
		--exec_prerun="echo 'UVF-E2E: MARK $tag-begin' >/dev/console; sleep 0.3" \
		--exec_postrun="echo 'UVF-E2E: MARK $tag-end' >/dev/console; sleep 0.3" \
		--output-format=terse --terse-version=3 2>/tmp/fio.err); then
		uvf_fail "bench-$tag" "fio: $(tail -n 3 /tmp/fio.err | tr '\n' ' ')"
		return
	fi
	# terse v3: 5 error; read 6 KiB, 7 KiB/s, 8 IOPS; write 47, 48, 49
	line=$(echo "$out" | grep '^3;' | tail -n 1 | awk -F';' -v rw="$rw" -v mode="$4" '
		{ if (rw ~ /read/) { kb = $6; bw = $7; iops = $8 } else { kb = $47; bw = $48; iops = $49 }
		  bs = (mode ~ /^seq/) ? 1024 : 4
		  if ($5 != 0 || kb <= 0) { print "error " $5; exit }
		  if (mode ~ /^seq/) printf "%.1f MiB/s %d\n", bw / 1024, kb / bs
		  else printf "%d IOPS %d\n", iops, kb / bs }')
	case $line in
	'' | error*) uvf_fail "bench-$tag" "fio: ${line:-no terse line} $(tail -n 3 /tmp/fio.err | tr '\n' ' ')" ;;
	*) echo "UVF-E2E: BENCH $1 $2 $4-qd$5 $line" ;;
	esac
}

rep=1
while [ "$rep" -le "$BENCH_REPS" ]; do
	# alternate the order so neither disk always goes first
	if [ $((rep % 2)) -eq 1 ]; then order="uvf qemu"; else order="qemu uvf"; fi
	for qd in $BENCH_QDS; do
		for mode in seqw seqr randw randr; do
			for d in $order; do
				if [ "$d" = uvf ]; then dev=$uvf; else dev=$qemu; fi
				run "$rep" "$d" "$dev" "$mode" "$qd"
			done
		done
	done
	rep=$((rep + 1))
done

# uvf-nvme idle: its CPU use from 1 s after the last I/O on.
echo "UVF-E2E: MARK idle-begin"
sleep 1
echo "UVF-E2E: MARK idle-a"
sleep "$BENCH_IDLE"
echo "UVF-E2E: MARK idle-b"

if [ "$BENCH_TRACE" = 1 ]; then
	echo "UVF-E2E: MARK trace-on"
	sleep 1
	for qd in $BENCH_QDS; do
		for mode in seqw seqr randw randr; do
			run msg uvf "$uvf" "$mode" "$qd" "$BENCH_MSG_RUNTIME"
		done
	done
fi
uvf_done
