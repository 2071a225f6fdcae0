#!/usr/bin/env bash
# uvf-nvme against QEMU's own emulated nvme, in one guest.
#
# Usage: bench/nvme-guest.sh [BUILD_DIR]      (default build-bench; needs root)
#
# Boots one q35 guest (512M, 1 vCPU) twice, with shared (memfd) and with
# private guest RAM. Each boot has two NVMe disks on identical 64 MiB
# sparse files: uvf-nvme through vfio-user-pci and QEMU's -device nvme.
# The guest (bench/init-nvme.sh) runs BENCH_REPS (5) repetitions, per
# disk, of sequential 1 MiB write and read (BENCH_SEQ_MIB, 32 MiB) and
# 4 KiB random write and read (BENCH_RAND_IOS, 2000 I/Os), O_DIRECT
# (bench/guest-bench.c). Printed: each figure's median for both disks and
# the ratio uvf/QEMU of the medians; then, from QEMU's vfio_user* trace
# of a separate phase of BENCH_MSG_IOS (1000) random I/Os on uvf-nvme
# alone, the vfio-user messages per 4 KiB I/O; and uvf-nvme's CPU use
# (/proc/PID/stat) in the 2 s the guest idles before that phase.
#
# Environment: BENCH_REPS, BENCH_SEQ_MIB, BENCH_RAND_IOS, BENCH_MSG_IOS,
# BENCH_TIMEOUT (seconds per boot, default 900), BENCH_MEMORY ("shared
# private"), BENCH_NVME_ARGS (more uvf-nvme options, e.g.
# --shadow-poll-us=0), BENCH_TRACE (1; 0: no QEMU trace, so no message counts, but
# no trace-writing cost on uvf-nvme's path either). Logs in BUILD_DIR/bench/. Exit status non-zero when a boot
# failed.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
E2E=$SRC/tests/qemu-guests
BUILD=$(realpath "${1:-$SRC/build-bench}")
REPS=${BENCH_REPS:-5} SEQ_MIB=${BENCH_SEQ_MIB:-32} RAND_IOS=${BENCH_RAND_IOS:-2000} MSG_IOS=${BENCH_MSG_IOS:-1000}
TIMEOUT=${BENCH_TIMEOUT:-900} TRACE_ON=${BENCH_TRACE:-1}
MEMORIES=${BENCH_MEMORY:-shared private} NVME_ARGS=${BENCH_NVME_ARGS:-}
SIZE=$((64 * 1024 * 1024))

die() { printf 'nvme-guest: %s\n' "$*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (chroot)"
[ -d "$BUILD" ] || die "no build dir $BUILD (meson setup $BUILD)"
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

gcc -static -O2 -Wall -Wextra -o "$WORK/guest-bench" "$HERE/guest-bench.c"
{
	echo "BENCH_REPS=$REPS"
	echo "BENCH_SEQ_MIB=$SEQ_MIB"
	echo "BENCH_RAND_IOS=$RAND_IOS"
	echo "BENCH_MSG_IOS=$MSG_IOS"
} >"$WORK/boot.conf"
"$E2E/mkinitramfs.sh" "$WORK/initrd.cpio.gz" --init "$HERE/init-nvme.sh" --module nvme \
	--file "$E2E/guest-lib.sh:/lib/uvf-checks.sh" --file "$WORK/guest-bench:/bin/guest-bench" \
	--file "$WORK/boot.conf:/etc/uvf-e2e/boot.conf"

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# count LOG MARK...: trace line counts recorded at each guest mark, and
# uvf-nvme's CPU time then (utime + stime, clock ticks) with the time (ms)
declare -A MARKS CPU_AT MS_AT
watch_marks() { # log trace
	local m
	# shellcheck disable=SC2013 # one word per mark
	for m in $(grep -a -o 'UVF-E2E: MARK [a-z-]*' "$1" 2>/dev/null | awk '{ print $3 }'); do
		if [ -z "${CPU_AT[$m]:-}" ] && [ -n "$DEV_PID" ]; then
			CPU_AT[$m]=$(awk '{ print $14 + $15 }' "/proc/$DEV_PID/stat" 2>/dev/null || echo -)
			MS_AT[$m]=$(date +%s%3N)
		fi
		if [ -z "${MARKS[$m]:-}" ]; then
			[ -f "$2" ] || [ "$TRACE_ON" = 0 ] || return 0 # QEMU has not opened its trace yet
			MARKS[$m]=$(wc -l <"$2" 2>/dev/null || echo 0)
		fi
	done
}

# idle_cpu FROM TO: uvf-nvme's CPU use between two marks, in percent of one CPU
idle_cpu() {
	local t0=${CPU_AT[$1]:-} t1=${CPU_AT[$2]:-} m0=${MS_AT[$1]:-} m1=${MS_AT[$2]:-}
	if [ -z "$t0" ] || [ -z "$t1" ] || [ "$t0" = - ] || [ "$t1" = - ] || [ "$m1" = "$m0" ]; then
		echo "-"
		return
	fi
	awk -v a="$t0" -v b="$t1" -v ms=$((m1 - m0)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.1f %% (%d ms of CPU in %d ms)", (b - a) * 100000 / hz / ms, (b - a) * 1000 / hz, ms }'
}

# msgs TRACE FROM TO: per-kind vfio-user message counts between two line numbers
msgs() {
	sed -n "$(($2 + 1)),$3p" "$1" | awk -v n="$MSG_IOS" '
		function hex(s,   v, i) { v = 0; s = tolower(substr(s, 3)); for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
		# BAR0 from 0x1000 on: the doorbells
		/vfio_user_region_rw/ { rw++; if ($3 == 0 && hex($5) >= 4096) db++ }
		# requests from the server (flags 0x0): DMA_READ 0xb, DMA_WRITE 0xc
		/vfio_user_recv_hdr/ && / cmd 0xb / && / flags 0x0$/ { dr++ }
		/vfio_user_recv_hdr/ && / cmd 0xc / && / flags 0x0$/ { dw++ }
		/vfio_user_recv_hdr/ { recv++ }
		/vfio_user_send_write/ { sent++ }
		END { printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", db / n, rw / n, dr / n, dw / n, sent / n, recv / n }'
}

RC=0
RESULTS=()
for mem in $MEMORIES; do
	name=nvme-$mem
	log=$OUT/$name.log trace=$WORK/trace
	rm -f "$WORK/uvf.img" "$WORK/qemu.img" "$WORK/uvf.sock" "$trace"
	truncate -s "$SIZE" "$WORK/uvf.img" "$WORK/qemu.img"
	: >"$log" # no marks from an earlier run
	# shellcheck disable=SC2086 # BENCH_NVME_ARGS: words
	"$NVME" "--socket-path=$WORK/uvf.sock" "--backing=$WORK/uvf.img" --serial=uvf-bench --queues=1 ${NVME_ARGS} \
		>"$OUT/$name.dev.out" 2>"$OUT/$name.dev.log" </dev/null &
	DEV_PID=$!
	for _ in $(seq 100); do
		[ -S "$WORK/uvf.sock" ] || sleep 0.05
	done
	[ -S "$WORK/uvf.sock" ] || die "uvf-nvme did not listen (see $OUT/$name.dev.log)"
	# QEMU's nvme writes through the host page cache like uvf-nvme's
	# pread/pwrite on its backing file (cache=writeback, a Flush fsyncs).
	tracing=()
	[ "$TRACE_ON" = 0 ] || tracing=(--qemu-arg -trace --qemu-arg 'enable=vfio_user*' --qemu-arg -D --qemu-arg "$WORK_IN/trace")
	"$E2E/boot.sh" --initrd "$WORK/initrd.cpio.gz" --machine q35 --memory "$mem" --timeout "$TIMEOUT" \
		--log "$log" --trace-events '' \
		--qemu-arg -drive --qemu-arg "file=$WORK_IN/qemu.img,if=none,format=raw,id=qnvme,cache=writeback,aio=threads" \
		--qemu-arg -device --qemu-arg "nvme,drive=qnvme,serial=qemu-bench" \
		"${tracing[@]}" --socket "$WORK/uvf.sock" 2>"$OUT/$name.boot" &
	BOOT_PID=$!
	MARKS=() CPU_AT=() MS_AT=()
	while kill -0 "$BOOT_PID" 2>/dev/null; do
		watch_marks "$log" "$trace"
		sleep 0.1
	done
	rc=0
	wait "$BOOT_PID" || rc=$?
	BOOT_PID=
	watch_marks "$log" "$trace"
	cpu_idle=$(idle_cpu idle randw-begin)
	stop_pid "$DEV_PID"
	DEV_PID=
	rm -f "$OUT/$name.trace"
	[ "$TRACE_ON" = 0 ] || cp "$trace" "$OUT/$name.trace" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "$name: boot failed ($(tail -n1 "$OUT/$name.boot")); console $log" >&2
		grep -a 'UVF-E2E: FAIL' "$log" >&2 || true
		RC=1
		continue
	fi

	echo "== $mem guest RAM ($(tail -n1 "$OUT/$name.boot" | sed 's/^boot: //'))"
	printf '%-7s %12s %12s %8s   %s\n' test uvf-nvme qemu-nvme uvf/qemu "runs (uvf | qemu)"
	for mode in seqw seqr randw randr; do
		u=$(grep -a "UVF-E2E: BENCH [0-9]* uvf $mode " "$log" | awk '{ print $6 }' | tr -d '\r')
		q=$(grep -a "UVF-E2E: BENCH [0-9]* qemu $mode " "$log" | awk '{ print $6 }' | tr -d '\r')
		unit=$(grep -a -m1 "UVF-E2E: BENCH [0-9]* uvf $mode " "$log" | awk '{ print $7 }' | tr -d '\r')
		mu=$(median <<<"$u") mq=$(median <<<"$q")
		ratio=$(awk -v a="$mu" -v b="$mq" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
		printf '%-7s %12s %12s %8s   %s | %s\n' "$mode" "$mu $unit" "$mq $unit" "$ratio" \
			"$(tr '\n' ' ' <<<"$u")" "$(tr '\n' ' ' <<<"$q")"
		RESULTS+=("$mem $mode $mu $mq $ratio")
	done
	echo "uvf-nvme CPU while the guest idles (marks idle .. randw-begin, 2 s): $cpu_idle"
	[ "$TRACE_ON" != 0 ] || continue
	idle=$(msgs "$trace" "${MARKS[idle]:-0}" "${MARKS[randw-begin]:-0}")
	echo "vfio-user messages per 4 KiB I/O on uvf-nvme ($MSG_IOS I/Os each; marks: ${MARKS[*]@K}):"
	printf '  %-6s %9s %9s %8s %9s %9s %9s\n' phase doorbell region_rw DMA_READ DMA_WRITE sent recv
	for ph in randw randr; do
		# shellcheck disable=SC2046,SC2183 # msgs prints the 6 numbers
		printf '  %-6s %9s %9s %8s %9s %9s %9s\n' "$ph" $(msgs "$trace" "${MARKS[$ph-begin]:-0}" "${MARKS[$ph-end]:-0}")
	done
	# shellcheck disable=SC2086 # 6 numbers
	printf '  %-6s %9s %9s %8s %9s %9s %9s\n' idle-2s $idle
done
exit "$RC"
