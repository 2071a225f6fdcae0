#!/usr/bin/env bash
# uvf-nvme against QEMU's own emulated nvme, in one guest.
#
# Usage: bench/nvme-guest.sh [BUILD_DIR]      (default build-bench; needs root)
#
# Boots one q35 guest (512M, BENCH_VCPUS vCPUs) per guest RAM mode, shared (memfd)
# and private. Each boot has two NVMe disks on identical 64 MiB sparse
# files: uvf-nvme (--queues=BENCH_QUEUES) through vfio-user-pci, and
# QEMU's -device nvme (cache=writeback, aio=threads: both write through
# the host page cache). The guest (bench/init-nvme.sh) runs Debian's fio
# (libaio, O_DIRECT, one job, BENCH_RUNTIME s per run) for sequential
# 1 MiB and random 4 KiB, write and read, at each queue depth of
# BENCH_QDS, on both disks back to back, the first disk alternating with
# the repetition (BENCH_REPS).
#
# Printed per test: the median MiB/s or IOPS of each disk; the ratio
# uvf/QEMU (median and min-max over the repetitions, each repetition's
# two runs paired); the host CPU time per I/O (utime+stime of all
# threads, /proc/PID/stat) of uvf-nvme and of QEMU, sampled by the host
# when fio marks the start and end of its I/O; the vfio-user messages per
# I/O on uvf-nvme (doorbell writes, DMA_READ and DMA_WRITE requests from
# the server, all messages QEMU sent and received), counted in QEMU's
# vfio_user* trace during one more run per test on uvf-nvme alone: the
# host turns the trace on through QMP only then, so the timed runs carry
# no trace-writing cost. Then the idle CPU use of uvf-nvme (percent of
# one CPU, per-thread schedstat) over BENCH_IDLE s that start 1 s after
# the last I/O.
#
# Default run time under TCG on 2 shared cores: about 4-5 min per boot,
# 8.5 min in all, 11 under heavy load (per boot: 10-25 s to /init, 3 reps
# x 16 tests x 2 disks x ~4.5 s, 16 traced runs x ~2.5 s).
#
# Environment: BENCH_REPS (3), BENCH_RUNTIME (3), BENCH_QDS ("1 32"),
# BENCH_QUEUES (1), BENCH_VCPUS (1), BENCH_JOBS (fio jobs per run, each at
# the queue depth; default BENCH_VCPUS), BENCH_IDLE (3), BENCH_TIMEOUT (seconds per boot,
# default 1800), BENCH_MEMORY ("shared private"), BENCH_TRACE (1; 0: no
# traced runs, no message counts), BENCH_MSG_RUNTIME (1, seconds per
# traced run), BENCH_NVME_ARGS (more uvf-nvme options, words, e.g.
# --shadow-poll-us=0). Logs in BUILD_DIR/bench/. Exit status non-zero when a boot
# failed.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
E2E=$SRC/tests/qemu-guests
BUILD=$(realpath "${1:-$SRC/build-bench}")
REPS=${BENCH_REPS:-3} RUNTIME=${BENCH_RUNTIME:-3} QDS=${BENCH_QDS:-1 32} QUEUES=${BENCH_QUEUES:-1}
IDLE=${BENCH_IDLE:-3} TIMEOUT=${BENCH_TIMEOUT:-1800} TRACE_ON=${BENCH_TRACE:-1}
MSG_RUNTIME=${BENCH_MSG_RUNTIME:-1}
VCPUS=${BENCH_VCPUS:-1} JOBS=${BENCH_JOBS:-${BENCH_VCPUS:-1}}
MEMORIES=${BENCH_MEMORY:-shared private} NVME_ARGS=${BENCH_NVME_ARGS:-}
SIZE=$((64 * 1024 * 1024))

die() { printf 'nvme-guest: %s\n' "$*" >&2; exit 2; }
case $VCPUS$JOBS in *[!0-9]* | '') die "BENCH_VCPUS and BENCH_JOBS are numbers" ;; esac
if [ "$VCPUS" -lt 1 ] || [ "$JOBS" -lt 1 ]; then die "BENCH_VCPUS and BENCH_JOBS are at least 1"; fi
[ "$(id -u)" -eq 0 ] || die "needs root (chroot)"
[ -d "$BUILD" ] || die "no build dir $BUILD (meson setup $BUILD)"
# chroot set-up, guest kernel modules, the QMP client
bash "$SRC/scripts/deps.sh" debootstrap xz-utils python3 >&2
ninja -C "$BUILD" -j2 devices/uvf-nvme >/dev/null || die "uvf-nvme does not build"
NVME=$BUILD/devices/uvf-nvme
OUT=$BUILD/bench
mkdir -p "$OUT"

ROOT=$(realpath "$("$E2E/setup-chroot.sh" | tail -n1)")
export UVF_E2E_ROOT=$ROOT
# Both boots on the accelerator the end-to-end tests would pick (kvm only
# when it really runs a guest); boot.sh reruns a boot that KVM fails.
UVF_E2E_ACCEL_CHOSEN=$("$E2E/accel.sh" "$ROOT") || die "cannot choose an accelerator"
export UVF_E2E_ACCEL_CHOSEN
mkdir -p "$ROOT/run/uvf"
WORK=$(mktemp -d "$ROOT/run/uvf/bench.XXXXXX")
WORK_IN=${WORK#"$ROOT"}
DEV_PID='' BOOT_PID=''

stop_pid() { # pid: TERM, KILL after 5 s, reap
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # called by the traps
cleanup() {
	stop_pid "$BOOT_PID" # boot.sh stops its QEMU on TERM
	stop_pid "$DEV_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
	echo "BENCH_REPS=$REPS"
	echo "BENCH_RUNTIME=$RUNTIME"
	echo "BENCH_QDS='$QDS'"
	echo "BENCH_IDLE=$IDLE"
	echo "BENCH_TRACE=$TRACE_ON"
	echo "BENCH_MSG_RUNTIME=$MSG_RUNTIME"
	echo "BENCH_JOBS=$JOBS"
	echo "BENCH_DISK_MB=$((SIZE >> 20))"
} >"$WORK/boot.conf"
"$E2E/mkinitramfs.sh" "$WORK/initrd.cpio.gz" --init "$HERE/init-nvme.sh" --module nvme \
	--program /usr/bin/fio --file "$WORK/boot.conf:/etc/uvf-e2e/boot.conf"


# ticks PID: utime+stime of a process, all its threads, dead ones too
ticks() {
	local f
	read -r -a f <"/proc/$1/stat" 2>/dev/null || { echo 0; return; }
	# the fields after "(comm)": field 14 is index 11 there
	local rest=${f[*]}
	rest=${rest##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}
# runns PID: nanoseconds on CPU, the sum over its live threads
runns() {
	local t s=0 v
	for t in /proc/"$1"/task/*/schedstat; do
		read -r v _ <"$t" 2>/dev/null || continue
		s=$((s + v))
	done
	echo "$s"
}

# sample: trace bytes, uvf-nvme ticks, QEMU ticks, uvf-nvme ns, wall ns
sample() {
	local qpid tsize=0
	qpid=$(cat "$WORK/qemu.pid" 2>/dev/null) || qpid=
	[ ! -f "$WORK/trace" ] || tsize=$(stat -c %s "$WORK/trace")
	echo "$tsize $(ticks "$DEV_PID") $( [ -n "$qpid" ] && ticks "$qpid" || echo 0) $(runns "$DEV_PID") ${EPOCHREALTIME/./}000"
}

# trace_on: QEMU's vfio_user* trace events on, through its QMP socket
trace_on() {
	/usr/bin/python3 - "$WORK/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(cmd, **args):
	f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
	f.flush()
	while True:
		r = json.loads(f.readline())
		if "return" in r or "error" in r:
			return r
json.loads(f.readline())  # greeting
call("qmp_capabilities")
r = call("trace-event-set-state", name="vfio_user*", enable=True)
sys.exit(0 if "return" in r else "trace-event-set-state: %s" % r)
PY
}

RC=0
for mem in $MEMORIES; do
	name=nvme-$mem
	log=$OUT/$name.log trace=$WORK/trace
	rm -f "$WORK/uvf.img" "$WORK/qemu.img" "$WORK/uvf.sock" "$trace" "$WORK/qemu.pid"
	truncate -s "$SIZE" "$WORK/uvf.img" "$WORK/qemu.img"
	: >"$log" # no marks from an earlier run
	# shellcheck disable=SC2086 # BENCH_NVME_ARGS: words
	"$NVME" "--socket-path=$WORK/uvf.sock" "--backing=$WORK/uvf.img" --serial=uvf-bench "--queues=$QUEUES" ${NVME_ARGS} \
		>"$OUT/$name.dev.out" 2>"$OUT/$name.dev.log" </dev/null &
	DEV_PID=$!
	for _ in $(seq 100); do
		[ -S "$WORK/uvf.sock" ] || sleep 0.05
	done
	[ -S "$WORK/uvf.sock" ] || die "uvf-nvme did not listen (see $OUT/$name.dev.log)"
	tracing=()
	[ "$TRACE_ON" = 0 ] || tracing=(--qemu-arg -D --qemu-arg "$WORK_IN/trace"
		--qemu-arg -qmp --qemu-arg "unix:$WORK_IN/qmp.sock,server=on,wait=off")
	"$E2E/boot.sh" --initrd "$WORK/initrd.cpio.gz" --machine q35 --memory "$mem" --timeout "$TIMEOUT" \
		--log "$log" --trace-events '' --qemu-arg -smp --qemu-arg "$VCPUS" --qemu-arg -pidfile --qemu-arg "$WORK_IN/qemu.pid" \
		--qemu-arg -drive --qemu-arg "file=$WORK_IN/qemu.img,if=none,format=raw,id=qnvme,cache=writeback,aio=threads" \
		--qemu-arg -device --qemu-arg "nvme,drive=qnvme,serial=qemu-bench" \
		"${tracing[@]}" --socket "$WORK/uvf.sock" 2>"$OUT/$name.boot" &
	BOOT_PID=$!
	# Sample at each mark as the console line arrives (tail follows the
	# log until boot.sh ends); the guest pauses 0.3 s after each mark.
	declare -A S=()
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		*'UVF-E2E: MARK '*)
			m=${line##*UVF-E2E: MARK }
			S[$m]=$(sample)
			if [ "$m" = trace-on ] && ! trace_on >"$OUT/$name.qmp" 2>&1; then
				echo "$name: could not turn QEMU's trace on (see $OUT/$name.qmp)" >&2
				RC=1
			fi
			;;
		esac
	done < <(tail -n +1 -F --pid="$BOOT_PID" "$log" 2>/dev/null)
	rc=0
	wait "$BOOT_PID" || rc=$?
	BOOT_PID=
	stop_pid "$DEV_PID"
	DEV_PID=
	rm -f "$OUT/$name.trace"
	[ "$TRACE_ON" = 0 ] || [ ! -f "$trace" ] || cp "$trace" "$OUT/$name.trace"
	if [ "$rc" -ne 0 ]; then
		echo "$name: boot failed ($(tail -n1 "$OUT/$name.boot")); console $log" >&2
		grep -a 'UVF-E2E: FAIL' "$log" >&2 || true
		RC=1
		continue
	fi
	for m in "${!S[@]}"; do echo "$m ${S[$m]}"; done | sort >"$OUT/$name.samples"

	echo "== $mem guest RAM ($(tail -n1 "$OUT/$name.boot" | sed 's/^boot: //'); $(tr -d '\r' <"$log" | sed -n 's/.*UVF-E2E: INFO \(fio-.*\)/\1/p' | head -n1))"
	tr=()
	[ "$TRACE_ON" = 0 ] || tr=("$OUT/$name.trace")
	"$HERE/nvme-report.sh" "$log" "$OUT/$name.samples" "${tr[@]}" | tee "$OUT/$name.report"
done
exit "$RC"
