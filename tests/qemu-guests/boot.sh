#!/usr/bin/env bash
# Boot an end-to-end guest: the chroot's QEMU (vfio-user client) and kernel,
# a given initramfs, and one vfio-user-pci device per --socket.
#
# Usage: tests/qemu-guests/boot.sh --initrd FILE [options]
#
#   --initrd FILE          initramfs (mkinitramfs.sh)
#   --socket PATH          a uvf device's listening socket; may be repeated.
#                          It must lie inside the chroot (e.g. ROOT/run/uvf/x.sock)
#                          since QEMU runs chrooted. These devices come after
#                          the --qemu-arg ones (an IOMMU, a bridge they sit on)
#   --bus ID               put the device of the preceding --socket on bus ID
#                          (a bridge or root port given with --qemu-arg)
#   --memory shared|private
#                          shared (default): guest RAM is a memfd shared with
#                          the device (DMA by mmap); private: plain RAM (DMA
#                          through messages)
#   --machine pc|q35       default pc
#   --timeout SECONDS      kill QEMU after this (default 120; 0: none)
#   --log FILE             serial console and QEMU messages (default: stdout);
#                          the vfio_user* trace goes to FILE minus .log plus .trace
#   --trace FILE           the trace file instead of that
#   --trace-events PATTERN QEMU trace events (default vfio_user*; "" for none)
#   --append ARGS          more kernel command line
#   --qemu-arg ARG         one more QEMU argument; may be repeated
#   --interactive          stay at the guest console (Ctrl-A x quits QEMU)
#   --stderr FILE          with --interactive: QEMU's own messages go to FILE,
#                          not to the console
#
# Environment: UVF_E2E_ROOT (the chroot; default from setup-chroot.sh);
# the accelerator comes from accel.sh (UVF_E2E_ACCEL forces it,
# UVF_E2E_ACCEL_CHOSEN reuses a run's choice); UVF_E2E_KVM_INIT_TIMEOUT
# (seconds a KVM guest gets to reach /init, default 30).
#
# A guest that does not reach /init under KVM (no "UVF-E2E: INIT": QEMU
# stopped, or hung on a broken KVM) is booted once more under TCG, with a
# line "boot: ... rerunning once under tcg" on stderr; the KVM attempt's
# console goes to FILE minus .log plus .kvm.log. Not with --interactive.
#
# Exit status (not interactive): 0 when the guest printed "UVF-E2E: DONE"
# and no "UVF-E2E: FAIL", and then QEMU exited on its own with status 0
# within 15 s (the guest's poweroff; a clean exit); 1 when it printed a
# FAIL or the kernel panicked; 3 when QEMU ended without DONE; 4 when QEMU
# hung after DONE (killed); 5 when QEMU exited non-zero or by a signal
# after DONE (a crash at device teardown); 124 on timeout; 2 for bad
# usage. A summary line goes to stderr: "boot: <result> init=<s> done=<s>
# exit=<s> accel=<a>" (seconds since QEMU started at which the guest's
# /init began, DONE appeared and QEMU exited).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

die() { printf 'boot: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,46s/^# \{0,1\}//p' "$0" >&2; exit 2; }

INITRD='' MEMORY=shared MACHINE=pc TIMEOUT=120 LOG='' TRACE='' TRACE_EVENTS='vfio_user*'
APPEND='' INTERACTIVE=0 STDERR=''
SOCKETS=() BUSES=() EXTRA=()
while [ $# -gt 0 ]; do
	case $1 in
	--initrd) [ $# -ge 2 ] || usage; INITRD=$2; shift 2 ;;
	--socket) [ $# -ge 2 ] || usage; SOCKETS+=("$2"); BUSES+=(''); shift 2 ;;
	--bus)
		[ $# -ge 2 ] || usage
		[ ${#SOCKETS[@]} -gt 0 ] || die "--bus must follow a --socket"
		case $2 in ''|*[!A-Za-z0-9._-]*) die "bad bus id: $2" ;; esac
		BUSES[${#SOCKETS[@]} - 1]=$2
		shift 2
		;;
	--memory) [ $# -ge 2 ] || usage; MEMORY=$2; shift 2 ;;
	--machine) [ $# -ge 2 ] || usage; MACHINE=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--log) [ $# -ge 2 ] || usage; LOG=$2; shift 2 ;;
	--trace) [ $# -ge 2 ] || usage; TRACE=$2; shift 2 ;;
	--trace-events) [ $# -ge 2 ] || usage; TRACE_EVENTS=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; APPEND=$2; shift 2 ;;
	--qemu-arg) [ $# -ge 2 ] || usage; EXTRA+=("$2"); shift 2 ;;
	--interactive) INTERACTIVE=1; shift ;;
	--stderr) [ $# -ge 2 ] || usage; STDERR=$2; shift 2 ;;
	-h|--help) usage ;;
	*) die "unknown argument: $1" ;;
	esac
done
[ -n "$INITRD" ] || die "--initrd FILE is required"
[ -f "$INITRD" ] || die "no such initrd: $INITRD"
case $MEMORY in shared|private) ;; *) die "--memory must be shared or private" ;; esac
case $MACHINE in pc|q35) ;; *) die "--machine must be pc or q35" ;; esac
case $TIMEOUT in ''|*[!0-9]*) die "--timeout wants whole seconds" ;; esac
[ "$(id -u)" -eq 0 ] || die "needs root (chroot)"

ROOT=${UVF_E2E_ROOT:-}
if [ -z "$ROOT" ]; then
	ROOT=$("$HERE/setup-chroot.sh" | tail -n1)
fi
ROOT=$(realpath "$ROOT")
KERNEL=$(cd "$ROOT" && ls boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$KERNEL" ] || die "no kernel in $ROOT/boot"

if [ -n "$LOG" ] && [ -z "$TRACE" ] && [ -n "$TRACE_EVENTS" ]; then
	TRACE=${LOG%.log}.trace
fi

# Socket paths as QEMU sees them from inside the chroot.
DEVICES=()
for i in "${!SOCKETS[@]}"; do
	s=${SOCKETS[i]}
	[ -S "$s" ] || die "no listening socket at $s"
	abs=$(realpath "$s")
	case $abs in
	"$ROOT"/*) inner=${abs#"$ROOT"} ;;
	*) die "socket $s is outside the chroot $ROOT (QEMU cannot reach it)" ;;
	esac
	case $inner in *[\"\\]*) die "socket path has a quote or backslash: $s" ;; esac
	bus=
	[ -z "${BUSES[i]}" ] || bus="\"bus\":\"${BUSES[i]}\","
	DEVICES+=(-device "{\"driver\":\"vfio-user-pci\",$bus\"socket\":{\"type\":\"unix\",\"path\":\"$inner\"}}")
done

# Per-run folder inside the chroot for what QEMU must open (initrd, trace,
# console log); removed on exit, after copying results out.
mkdir -p "$ROOT/run/uvf"
RUN=$(mktemp -d "$ROOT/run/uvf/boot.XXXXXX")
RUN_IN=${RUN#"$ROOT"}
QEMU_PID=
# shellcheck disable=SC2317 # called by the traps
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$QEMU_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	if [ -n "$TRACE" ] && [ -f "$RUN/trace" ]; then
		cp "$RUN/trace" "$TRACE" 2>/dev/null || true
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$INITRD" "$RUN/initrd"

ACCEL=$("$HERE/accel.sh" "$ROOT") || die "cannot choose an accelerator"
KVM_INIT_TIMEOUT=${UVF_E2E_KVM_INIT_TIMEOUT:-30}
case $KVM_INIT_TIMEOUT in ''|*[!0-9]*) die "UVF_E2E_KVM_INIT_TIMEOUT wants whole seconds" ;; esac
WRAP=()
[ -z "${UVF_E2E_QEMU_WRAPPER:-}" ] || WRAP=("$UVF_E2E_QEMU_WRAPPER")

MEM=512M
QEMU=("${WRAP[@]}" chroot "$ROOT" qemu-system-x86_64 -no-user-config -nodefaults -nographic -no-reboot)
if [ "$MEMORY" = shared ]; then
	QEMU+=(-m "$MEM" -object "memory-backend-memfd,id=mem,size=$MEM,share=on" -machine "$MACHINE,memory-backend=mem")
else
	QEMU+=(-m "$MEM" -machine "$MACHINE")
fi
# no_timer_check: on a busy host a TCG guest's early check of the IO-APIC
# timer counts too few ticks and panics ("IO-APIC + timer doesn't work!").
QEMU+=(-kernel "/$KERNEL" -initrd "$RUN_IN/initrd" -append "console=ttyS0 panic=-1 quiet no_timer_check $APPEND")
[ -n "$TRACE_EVENTS" ] && QEMU+=(-trace "enable=$TRACE_EVENTS" -D "$RUN_IN/trace")
# Extra devices first: an IOMMU must exist before the devices it serves,
# a bridge before the devices on its bus.
QEMU+=("${EXTRA[@]}" "${DEVICES[@]}")

if [ "$INTERACTIVE" = 1 ]; then
	QEMU+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$RUN_IN/console")
	QEMU+=(-serial chardev:con -monitor chardev:con -accel "$ACCEL")
	[ "$ACCEL" != kvm ] || QEMU+=(-cpu host)
	rc=0
	if [ -n "$STDERR" ]; then
		"${QEMU[@]}" 2>"$STDERR" || rc=$?
	else
		"${QEMU[@]}" || rc=$?
	fi
	[ -z "$LOG" ] || cp "$RUN/console" "$LOG" 2>/dev/null || true
	exit "$rc"
fi

QEMU+=(-serial stdio -monitor none)
OWN_LOG=0
if [ -z "$LOG" ]; then
	LOG=$RUN/console
	OWN_LOG=1
fi
now() { local t; t=$(cat /proc/uptime); echo "${t%% *}"; }

# boot_once ACCEL: one boot; sets result, rc, t_init, t_done, t_exit.
boot_once() {
	local accel=$1 t0 start deadline init_deadline qemu_rc
	local cmd=("${QEMU[@]}" -accel "$accel")
	[ "$accel" != kvm ] || cmd+=(-cpu host)
	: >"$LOG"
	rm -f "$RUN/trace"
	t0=$(now)
	"${cmd[@]}" </dev/null >"$LOG" 2>&1 &
	QEMU_PID=$!
	elapsed() { awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
	t_init=- t_done=- result=
	deadline=$((TIMEOUT > 0 ? TIMEOUT : 1 << 30))
	# Under KVM a guest that is not at /init soon is not getting going.
	init_deadline=$deadline
	if [ "$accel" = kvm ] && [ "$KVM_INIT_TIMEOUT" -gt 0 ] && [ "$KVM_INIT_TIMEOUT" -lt "$deadline" ]; then
		init_deadline=$KVM_INIT_TIMEOUT
	fi
	start=$SECONDS
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$t_init" = - ] && grep -aq 'UVF-E2E: INIT' "$LOG"; then
			t_init=$(elapsed)
		fi
		if [ "$t_done" = - ] && grep -aq 'UVF-E2E: DONE' "$LOG"; then
			t_done=$(elapsed)
			# poweroff -f follows: QEMU must exit on its own, soon
			deadline=$((SECONDS - start + 15 < deadline ? SECONDS - start + 15 : deadline))
		fi
		if [ "$t_init" = - ] && [ $((SECONDS - start)) -ge "$init_deadline" ]; then
			result=no-init
			break
		fi
		if [ $((SECONDS - start)) -ge "$deadline" ]; then
			if [ "$t_done" = - ]; then result=timeout; else result=hung-after-done; fi
			break
		fi
		sleep 0.1
	done
	qemu_rc=0
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		sleep 1
		kill -KILL "$QEMU_PID" 2>/dev/null || true
	fi
	wait "$QEMU_PID" 2>/dev/null || qemu_rc=$?
	QEMU_PID=
	t_exit=$(elapsed)
	[ "$t_init" != - ] || ! grep -aq 'UVF-E2E: INIT' "$LOG" || t_init=$t_exit
	[ "$t_done" != - ] || ! grep -aq 'UVF-E2E: DONE' "$LOG" || t_done=$t_exit

	if [ "$result" = timeout ]; then
		rc=124
	elif [ "$result" = no-init ]; then
		result="no-init(kvm, ${init_deadline} s)" rc=124
	elif grep -aq 'UVF-E2E: FAIL' "$LOG"; then
		result=fail rc=1
	elif grep -aq 'Kernel panic' "$LOG"; then
		result=kernel-panic rc=1
	elif [ "$t_done" = - ]; then
		result="no-done(qemu-exit=$qemu_rc)" rc=3
	elif [ "$result" = hung-after-done ]; then
		rc=4
	elif [ "$qemu_rc" -ne 0 ]; then
		if [ "$qemu_rc" -gt 128 ]; then
			result="qemu-died-after-done(signal $((qemu_rc - 128)))"
		else
			result="qemu-exit-after-done($qemu_rc)"
		fi
		rc=5
	else
		result=pass rc=0
	fi
}

boot_once "$ACCEL"
if [ "$ACCEL" = kvm ] && [ "$t_init" = - ] && [ "$rc" -ne 0 ]; then
	printf 'boot: the guest did not reach /init under kvm (%s); rerunning once under tcg\n' "$result" >&2
	if [ "$OWN_LOG" = 0 ]; then
		cp "$LOG" "${LOG%.log}.kvm.log" 2>/dev/null || true
	else
		sed 's/^/kvm: /' "$LOG" >&2 || true
	fi
	ACCEL=tcg
	boot_once tcg
fi
[ "$OWN_LOG" = 0 ] || cat "$LOG"
printf 'boot: %s init=%s done=%s exit=%s accel=%s\n' "$result" "$t_init" "$t_done" "$t_exit" "$ACCEL" >&2
exit "$rc"
