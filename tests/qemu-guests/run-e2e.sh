#!/usr/bin/env bash
# End-to-end tests: QEMU's vfio-user client boots Linux guests that use uvf
# devices. Each boot starts its device(s), reads what they declare with
# uvf-lspci, boots a guest (bounded in time) whose /init checks its view of
# the device against that and drives it, then stops the device(s) by PID.
#
#   scratch-pc-shared   uvf-scratch, pc, shared memory, on the root bus
#   scratch-pc-private  pc, private memory (DMA by message), behind a PCI
#                       bridge (so the kernel can reset it: bus reset)
#   scratch-q35-shared  q35, behind a PCIe-to-PCI bridge (bus reset)
#   idio16-pc-shared    uvf-idio16 with Linux's gpio-pci-idio-16 driver:
#                       outputs, inputs and edge events by INTx, which the
#                       host drives through the device's control FIFO
#   idio16py-pc-shared  the same checks against the Python model of the card
#                       (python/examples/idio16_wired.py); skipped when
#                       the build has no Python package
#   dmatest-q35-shared  uvf-dmatest through the guest's vfio-pci, behind
#   dmatest-q35-private QEMU's intel-iommu: DMA both ways, MSI-X per vector,
#                       MSI, INTx, FLR through sysfs and VFIO_DEVICE_RESET
#   dmatestproxy-q35-shared
#                       the same guest with QEMU connected to uvf-proxy
#                       --trace in front of uvf-dmatest (dmatest-proxy.sh):
#                       the guest's BAR4 accesses (mapped) must leave no
#                       REGION_READ/REGION_WRITE of region 4 in the trace
#   nvme-{q35,pc}-{shared,private}
#                       uvf-nvme on a 64 MiB sparse backing file with
#                       Linux's nvme driver (shadow doorbells configured
#                       with shared RAM, refused with private RAM):
#                       patterns written with O_DIRECT
#                       and read back, a controller reset, an ext2 round
#                       trip; on q35 also fio --verify=crc32c at queue
#                       depth 32 from 4 jobs (both I/O queues with 2
#                       vCPUs); the host then checks the backing file.
#                       A failure when there is no uvf-nvme, unless
#                       UVF_E2E_SKIP_NVME=1 (then skipped)
#   sgldma-pc-{shared,private}
#                       vfu-sgl-dma, a device written against the
#                       libvfio-user API (compat/libvfio-user/samples),
#                       driven through sysfs resource0 by a guest program:
#                       FILL and SUM of guest pages by DMA (sgl API;
#                       mapped with shared RAM, by message with private);
#                       skipped when the build has no libvfio-user compat
#   nvmeproxy-q35-{shared,private}
#                       uvf-nvme behind uvf-proxy (nvme-proxy.sh, with
#                       --state-file): the guest writes and verifies
#                       patterns in a loop while the host upgrades
#                       uvf-nvme 5 times and kills it 3 times; no I/O
#                       error may reach the guest program, one
#                       controller reset per kill (io_timeout 10 s)
#   accel-fallback      not a device boot: accel-test.sh, the accelerator
#                       choice and boot.sh's rerun under TCG on a host
#                       whose KVM opens but cannot run a guest (faked)
#
# Usage: tests/qemu-guests/run-e2e.sh [BUILD_DIR]
#
# Without BUILD_DIR, builds uvf in build-e2e at the top of the repository.
# Per boot NAME, in BUILD_DIR/e2e/: NAME.log (serial console), NAME.trace
# (QEMU's vfio_user* trace), NAME.dev.log and NAME.dev.out (the device's
# stderr and stdout), NAME.lspci and NAME.expect (what the device declares),
# NAME.host (the checks made on the host). Prints one line per boot, then
# "e2e: N passed, M failed, K skipped" (boots; skipped: left out by
# UVF_E2E_ONLY or UVF_E2E_SKIP_NVME) as its last line; exits non-zero on
# any failure. Needs root.
#
# The accelerator is chosen once per run (accel.sh: kvm when a guest
# really gets going under it, else tcg; UVF_E2E_ACCEL=kvm|tcg forces it)
# and shared by every boot; a boot that does not reach /init under KVM is
# rerun under TCG (boot.sh), and the rest of the run then uses TCG.
#
# Environment: UVF_E2E_TIMEOUT (seconds per boot, default 180),
# UVF_E2E_ONLY (space-separated shell patterns of the boots to run, e.g.
# "scratch-*"; the others count as skipped; a pattern matching none is a
# failure), UVF_E2E_SKIP_NVME=1 (skip the nvme boots), plus what
# setup-chroot.sh, accel.sh and boot.sh read.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TIMEOUT=${UVF_E2E_TIMEOUT:-180}
ONLY=${UVF_E2E_ONLY:-}

say() { printf 'e2e: %s\n' "$*" >&2; }

if [ $# -gt 1 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,67s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
case $TIMEOUT in '' | *[!0-9]*) say "UVF_E2E_TIMEOUT wants whole seconds"; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
	say "needs root (chroot)"
	exit 1
fi
TARGETS=(devices/uvf-scratch devices/uvf-idio16 devices/uvf-dmatest tools/uvf-lspci tools/uvf-proxy)
if [ $# -eq 1 ]; then
	BUILD=$(realpath "$1")
else
	BUILD=$REPO/build-e2e
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "meson setup $BUILD"
		meson setup "$BUILD" "$REPO" >/dev/null
	fi
	ninja -C "$BUILD" -j2 "${TARGETS[@]}" >/dev/null
	# the Python package, when this build has it (meson option python)
	mapfile -t PY_TARGETS < <(ninja -C "$BUILD" -t targets all | sed -n 's|^\(python/uvf/[^:]*\):.*|\1|p')
	[ ${#PY_TARGETS[@]} -eq 0 ] || ninja -C "$BUILD" -j2 "${PY_TARGETS[@]}" >/dev/null
fi
for t in "${TARGETS[@]}"; do
	[ -x "$BUILD/$t" ] || { say "no $BUILD/$t (build uvf first)"; exit 1; }
done
# The nvme boots fail without uvf-nvme, unless asked to skip them.
NVME=$BUILD/devices/uvf-nvme NVME_MISSING='' NVME_SKIP=''
if [ "${UVF_E2E_SKIP_NVME:-0}" = 1 ]; then
	NVME_SKIP="UVF_E2E_SKIP_NVME=1"
else
	if [ $# -eq 0 ] && ninja -C "$BUILD" -t targets all 2>/dev/null | grep '^devices/uvf-nvme:' >/dev/null; then
		if ! ninja -C "$BUILD" -j2 devices/uvf-nvme >"$BUILD/uvf-nvme.build.log" 2>&1; then
			NVME_MISSING="uvf-nvme does not build (see $BUILD/uvf-nvme.build.log)"
		fi
	fi
	if [ -z "$NVME_MISSING" ] && [ ! -x "$NVME" ]; then
		NVME_MISSING="no uvf-nvme ($NVME)"
	fi
fi
LSPCI=$BUILD/tools/uvf-lspci

ROOT=$("$HERE/setup-chroot.sh" | tail -n1)
export UVF_E2E_ROOT=$ROOT
QEMU_VERSION=$(chroot "$ROOT" qemu-system-x86_64 --version | head -n1)
QEMU_SHORT=$(sed -n 's/^QEMU emulator version \([^ ]*\).*/\1/p' <<<"$QEMU_VERSION")
OUT=$BUILD/e2e
mkdir -p "$OUT" "$ROOT/run/uvf"
# One accelerator for the whole run (its line says which and why).
ACCEL=$("$HERE/accel.sh" "$ROOT")
export UVF_E2E_ACCEL_CHOSEN=$ACCEL

# Guest programs: static, for the initramfs (not part of the meson build).
GUEST=$OUT/guest
mkdir -p "$GUEST"
for prog in vfio-dmatest idio16-check nvme-io; do
	# A program is PROG.c plus its parts PROG-*.c, if any.
	srcs=("$HERE/guest/$prog.c")
	for part in "$HERE/guest/$prog"-*.c; do
		[ -e "$part" ] && srcs+=("$part")
	done
	if ! gcc -static -O2 -Wall -Wextra -o "$GUEST/$prog" "${srcs[@]}" >"$GUEST/$prog.build.log" 2>&1; then
		cat "$GUEST/$prog.build.log" >&2
		say "cannot build the guest program $prog"
		exit 1
	fi
done

# --- devices -------------------------------------------------------------------
# One boot's devices: PIDs, sockets, names, and how each one ended.
DEV_PIDS=() DEV_SOCKS=() DEV_NAMES=() DEV_FAILS=() DEV_OK=()
BOOT_PID=

# start_device NAME SOCKET OUTBASE PROGRAM ARGS...: start a device serving
# SOCKET (stdout OUTBASE.dev.out, stderr OUTBASE.dev.log), wait until it
# listens. Returns 1 when it does not.
start_device() {
	local name=$1 sock=$2 base=$3 pid
	shift 3
	rm -f "$sock"
	"$@" --socket-path="$sock" >"$base.dev.out" 2>"$base.dev.log" </dev/null &
	pid=$!
	DEV_PIDS+=("$pid") DEV_SOCKS+=("$sock") DEV_NAMES+=("$name")
	for _ in $(seq 100); do
		if [ -S "$sock" ]; then
			echo "PASS $name-listens: on $sock" >>"$base.host"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	DEV_FAILS+=("$name did not listen on $sock")
	return 1
}

# Stop every device of the boot by PID (TERM, KILL after 5 s); a device
# must exit 0 and remove its socket file.
stop_devices() {
	local i pid rc
	for i in "${!DEV_PIDS[@]}"; do
		pid=${DEV_PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			DEV_FAILS+=("${DEV_NAMES[i]} ignored SIGTERM for 5 s: killed")
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		[ "$rc" -eq 0 ] || DEV_FAILS+=("${DEV_NAMES[i]} exited with status $rc")
		if [ -e "${DEV_SOCKS[i]}" ]; then
			DEV_FAILS+=("${DEV_NAMES[i]} left its socket ${DEV_SOCKS[i]} behind")
			rm -f "${DEV_SOCKS[i]}"
		fi
		[ "$rc" -ne 0 ] || [ -e "${DEV_SOCKS[i]}" ] || DEV_OK+=("${DEV_NAMES[i]}-stops: exit 0 on SIGTERM, socket removed")
	done
	DEV_PIDS=() DEV_SOCKS=() DEV_NAMES=()
}

# On interrupt: the running boot (boot.sh stops its QEMU), then the devices.
abort() {
	if [ -n "$BOOT_PID" ]; then
		kill -TERM "$BOOT_PID" 2>/dev/null || true
		wait "$BOOT_PID" 2>/dev/null || true
	fi
	stop_devices
}
trap abort EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# declare_device SOCKET BASE MACHINE: what the device declares, read with
# uvf-lspci, as pcidesc.awk lines plus barN_size/rom_size, in BASE.expect.
declare_device() {
	local sock=$1 base=$2 machine=$3 regions entry name size bars=''
	if ! timeout 30 "$LSPCI" -n -v -xxxx -t 5000 "$sock" >"$base.lspci" 2>&1; then
		DEV_FAILS+=("uvf-lspci could not read the device (see $base.lspci)")
		return 1
	fi
	# "vfio-user regions: BAR0 size=0x1000 flags=...; BAR2 size=0x20 ...; CONFIG ..."
	regions=$(sed -n 's/^[[:space:]]*vfio-user regions: //p' "$base.lspci")
	: >"$base.sizes"
	IFS=';' read -r -a entries <<<"$regions"
	for entry in "${entries[@]}"; do
		read -r name size _ <<<"$entry"
		size=${size#size=}
		case $name in
		BAR[0-5])
			bars="$bars ${name#BAR}"
			echo "bar${name#BAR}_size $((size))" >>"$base.sizes"
			;;
		ROM) echo "rom_size $((size))" >>"$base.sizes" ;;
		esac
	done
	awk -v bars="$bars" -f "$HERE/pcidesc.awk" "$base.lspci" >"$base.expect.tmp"
	cat "$base.sizes" >>"$base.expect.tmp"
	rm -f "$base.sizes"
	# pc's host bridge gives the guest no extended config space access:
	# 256 bytes, no extended capabilities, whatever the device has.
	if [ "$machine" = pc ]; then
		sed -i -e '/^ecap/d' -e 's/^config_size .*/config_size 256/' "$base.expect.tmp"
	fi
	mv "$base.expect.tmp" "$base.expect"
	echo "PASS declared: $(grep -c '^cap' "$base.expect") capabilities, BARs$bars (uvf-lspci)" >>"$base.host"
}

# --- boots -----------------------------------------------------------------------
passed=0 failed=0 skipped=0
SUMMARY=()
MESSAGES=$OUT/messages.txt
: >"$MESSAGES"

# selected NAME: whether to run it; counts it as skipped when not.
selected() {
	local p
	if [ -n "$ONLY" ]; then
		for p in $ONLY; do
			# shellcheck disable=SC2053 # a pattern on purpose
			[[ $1 == $p ]] && { any_selected=1; return 0; }
		done
		skipped=$((skipped + 1))
		return 1
	fi
	any_selected=1
	return 0
}
any_selected=0

# Host side of the idio16 boot, called while the guest runs: answer each
# WAIT-INPUT through the control FIFO, and when the guest says which
# outputs it set, compare with the device's last "outputs=" line.
IDIO_SENT=0 IDIO_OUTPUTS_CHECKED=0
idio16_watch() { # base fifo
	local base=$1 fifo=$2 log=$1.log n v want last
	n=$(grep -ac 'UVF-E2E: WAIT-INPUT' "$log" || true)
	while [ "$IDIO_SENT" -lt "${n:-0}" ]; do
		v=$(grep -a 'UVF-E2E: WAIT-INPUT' "$log" | sed -n "$((IDIO_SENT + 1))s/.*WAIT-INPUT \(0x[0-9a-fA-F]*\).*/\1/p")
		IDIO_SENT=$((IDIO_SENT + 1))
		# shellcheck disable=SC2016 # expanded by that sh
		if [ -p "$fifo" ] && timeout 5 sh -c 'echo "inputs $1" >"$2"' sh "$v" "$fifo"; then
			echo "PASS idio16-host-input-$IDIO_SENT: wrote 'inputs $v' to the control FIFO" >>"$base.host"
		else
			echo "FAIL idio16-host-input-$IDIO_SENT: cannot write 'inputs $v' to $fifo" >>"$base.host"
		fi
	done
	if [ "$IDIO_OUTPUTS_CHECKED" = 0 ] && grep -aq 'UVF-E2E: OUTPUTS' "$log"; then
		IDIO_OUTPUTS_CHECKED=1
		want=$(grep -a 'UVF-E2E: OUTPUTS' "$log" | head -n1 | sed 's/.*OUTPUTS \(0x[0-9a-fA-F]*\).*/\1/')
		last=$(grep -a '^outputs=' "$base.dev.out" | tail -n1)
		if [ "$last" = "outputs=$want" ]; then
			echo "PASS idio16-host-outputs: the device's outputs are $want" >>"$base.host"
		else
			echo "FAIL idio16-host-outputs: guest set $want, device's last line is '${last:-none}'" >>"$base.host"
		fi
	fi
}

# After the idio16 boot: every input change asked for was applied.
idio16_after() { # base
	local base=$1 asked applied
	asked=$(grep -ac 'UVF-E2E: WAIT-INPUT' "$base.log" || true)
	applied=$(grep -ac '^inputs=' "$base.dev.out" || true)
	if [ "${asked:-0}" -gt 0 ] && [ "$asked" = "$applied" ]; then
		echo "PASS idio16-host-inputs-applied: $applied input change(s)" >>"$base.host"
	else
		echo "FAIL idio16-host-inputs-applied: guest asked for ${asked:-0}, device applied ${applied:-0}" >>"$base.host"
	fi
	[ "$IDIO_OUTPUTS_CHECKED" = 1 ] ||
		echo "FAIL idio16-host-outputs: the guest never said which outputs it set" >>"$base.host"
}

# After the dmatest boot behind uvf-proxy: the guest's loads and stores on
# its mapped BAR4 (vfio-dmatest's BAR4 checks) went to the shared memory,
# not through the proxy: no REGION_READ or REGION_WRITE of region 4 in the
# proxy's trace, while the trace has those of other regions.
barproxy_after() { # base
	local base=$1 trace=$1.proxy-trace bar4 other
	if [ ! -s "$trace" ]; then
		echo "FAIL barproxy-trace: no proxy trace $trace" >>"$base.host"
		return
	fi
	bar4=$(grep -acE ' (request|reply|error) REGION_(READ|WRITE) region=4 ' "$trace" || true)
	other=$(grep -aE ' request REGION_(READ|WRITE) region=[0-9]+ ' "$trace" | grep -acv ' region=4 ' || true)
	if [ "${other:-0}" -eq 0 ]; then
		echo "FAIL barproxy-trace: no REGION_READ or REGION_WRITE request for a region other than 4 in $trace" >>"$base.host"
	else
		echo "PASS barproxy-trace: $other REGION_READ/REGION_WRITE requests for other regions" >>"$base.host"
	fi
	if [ "${bar4:-0}" -eq 0 ]; then
		echo "PASS barproxy-bar4-mapped: no REGION_READ or REGION_WRITE of region 4 through the proxy" >>"$base.host"
	else
		echo "FAIL barproxy-bar4-mapped: $bar4 REGION_READ/REGION_WRITE messages of region 4 in $trace" >>"$base.host"
	fi
}

# run_boot NAME KIND MACHINE MEMORY RESET_METHOD [boot.sh args...]
# KIND (scratch, idio16, dmatest, dmatestproxy, ...) picks the device, /init, modules and
# host-side checks.
run_boot() {
	local name=$1 kind=$2 machine=$3 memory=$4 reset=$5
	shift 5
	local base=$OUT/$name sock=$ROOT/run/uvf/e2e-$$-$name.sock
	local rc=0 line verdict fifo='' g_pass g_fail h_pass h_fail
	local init modules=() files=() programs=() dev_cmd=() watch='' conf=() after=''
	selected "$name" || return 0
	rm -f "$base".*
	: >"$base.host"
	DEV_FAILS=() DEV_OK=()
	case $kind in
	scratch)
		init=$HERE/init/scratch.sh
		dev_cmd=("$BUILD/devices/uvf-scratch" -v)
		;;
	idio16)
		init=$HERE/init/idio16.sh
		modules=(gpio-pci-idio-16)
		files=("$GUEST/idio16-check:/bin/idio16-check")
		fifo=$base.control
		dev_cmd=("$BUILD/devices/uvf-idio16" -v "--control=$fifo")
		IDIO_SENT=0 IDIO_OUTPUTS_CHECKED=0
		watch=idio16_watch
		;;
	idio16py)
		# the Python model of the same card, under the same checks
		init=$HERE/init/idio16.sh
		modules=(gpio-pci-idio-16)
		files=("$GUEST/idio16-check:/bin/idio16-check")
		fifo=$base.control
		dev_cmd=(env "PYTHONPATH=$BUILD/python" /usr/bin/python3 "$REPO/python/examples/idio16_wired.py" -v
			"--control=$fifo")
		IDIO_SENT=0 IDIO_OUTPUTS_CHECKED=0
		watch=idio16_watch
		;;
	dmatest)
		init=$HERE/init/dmatest.sh
		modules=(vfio-pci vfio_iommu_type1)
		files=("$GUEST/vfio-dmatest:/bin/vfio-dmatest")
		dev_cmd=("$BUILD/devices/uvf-dmatest" -v)
		;;
	dmatestproxy)
		# the same guest, QEMU talking to uvf-proxy in front of uvf-dmatest
		init=$HERE/init/dmatest.sh
		modules=(vfio-pci vfio_iommu_type1)
		files=("$GUEST/vfio-dmatest:/bin/vfio-dmatest")
		dev_cmd=("$HERE/dmatest-proxy.sh" "$BUILD/tools/uvf-proxy" "$BUILD/devices/uvf-dmatest" "$base.proxy-trace")
		after=barproxy_after
		;;
	sgldma)
		init=$HERE/init/sgldma.sh
		files=("$GUEST/vfu-sgl-check:/bin/vfu-sgl-check")
		dev_cmd=("$SGLDMA" -v)
		conf=("UVF_SGLDMA_MEMORY=$memory")
		after=sgldma_after
		;;
	nvme)
		init=$HERE/init/nvme.sh
		# ext4 also mounts ext2 (CONFIG_EXT4_USE_FOR_EXT2)
		modules=(nvme ext4)
		files=("$GUEST/nvme-io:/bin/nvme-io")
		rm -f "$base.img"
		truncate -s "$NVME_SIZE" "$base.img"
		dev_cmd=("$NVME" -v "--backing=$base.img" --serial=uvf-e2e-nvme)
		conf=("UVF_NVME_SIZE=$NVME_SIZE" "UVF_NVME_SERIAL=uvf-e2e-nvme" "UVF_NVME_FIO=$NVME_FIO")
		[ "$NVME_FIO" = 0 ] || programs=(/usr/bin/fio)
		after=nvme_after
		;;
	nvmeproxy)
		init=$HERE/init/nvme-churn.sh
		modules=(nvme)
		files=("$GUEST/nvme-io:/bin/nvme-io")
		rm -f "$base.img" "$base.state"
		truncate -s "$NVME_SIZE" "$base.img"
		dev_cmd=("$HERE/nvme-proxy.sh" "$BUILD/tools/uvf-proxy" "$NVME" "$base.img" "$base.state")
		conf=("UVF_NVME_SIZE=$NVME_SIZE")
		churn_reset
		watch=churn_watch
		after=churn_after
		;;
	esac

	local t_init=- t_done=- accel='?' accel_note=''
	if start_device "uvf-$kind" "$sock" "$base" "${dev_cmd[@]}" && declare_device "$sock" "$base" "$machine"; then
		{
			echo "UVF_RESET_METHOD=$reset"
			for m in "${conf[@]}"; do echo "$m"; done
		} >"$base.boot.conf"
		local mk=("$base.cpio.gz" --init "$init" --file "$HERE/guest-lib.sh:/lib/uvf-checks.sh"
			--file "$HERE/pcidesc.awk:/lib/pcidesc.awk" --file "$base.expect:/etc/uvf-e2e/expect"
			--file "$base.boot.conf:/etc/uvf-e2e/boot.conf") m
		for m in "${modules[@]}"; do mk+=(--module "$m"); done
		for m in "${files[@]}"; do mk+=(--file "$m"); done
		for m in "${programs[@]}"; do mk+=(--program "$m"); done
		"$HERE/mkinitramfs.sh" "${mk[@]}"
		: >"$base.log"
		"$HERE/boot.sh" --initrd "$base.cpio.gz" --socket "$sock" --machine "$machine" --memory "$memory" \
			--timeout "$TIMEOUT" --log "$base.log" "$@" 2>"$base.boot" &
		BOOT_PID=$!
		while kill -0 "$BOOT_PID" 2>/dev/null; do
			[ -z "$watch" ] || "$watch" "$base" "$fifo"
			sleep 0.2
		done
		wait "$BOOT_PID" || rc=$?
		BOOT_PID=
		[ -z "$watch" ] || "$watch" "$base" "$fifo"
		case $kind in idio16 | idio16py) idio16_after "$base" ;; esac
		line=$(tail -n1 "$base.boot")
		# boot.sh gave up on KVM for this boot: TCG for the rest of the run
		if grep -q 'rerunning once under tcg' "$base.boot"; then
			say "$name: $(grep 'rerunning once under tcg' "$base.boot" | sed 's/^boot: //')"
			if [ "$UVF_E2E_ACCEL_CHOSEN" = kvm ]; then
				say "accelerator tcg for the rest of the run (kvm failed $name)"
				UVF_E2E_ACCEL_CHOSEN=tcg
			fi
			accel_note=" after kvm failed"
		fi
		# "boot: RESULT init=S done=S exit=S accel=A"
		t_init=$(sed -n 's/.* init=\([^ ]*\).*/\1/p' <<<"$line")
		t_done=$(sed -n 's/.* done=\([^ ]*\).*/\1/p' <<<"$line")
		accel=$(sed -n 's/.* accel=\([^ ]*\).*/\1/p' <<<"$line")
	else
		rc=1
		line="not booted"
	fi
	stop_devices
	rm -f "$base.cpio.gz"
	for f in "${DEV_OK[@]}"; do
		echo "PASS $f" >>"$base.host"
	done
	for f in "${DEV_FAILS[@]}"; do
		echo "FAIL device: $f" >>"$base.host"
	done
	# host checks on what the device left behind, once it has stopped
	[ -z "$after" ] || [ "$line" = "not booted" ] || "$after" "$base"

	g_pass=$(grep -ac 'UVF-E2E: PASS' "$base.log" 2>/dev/null || true)
	g_fail=$(grep -ac 'UVF-E2E: FAIL' "$base.log" 2>/dev/null || true)
	h_pass=$(grep -c '^PASS' "$base.host" || true)
	h_fail=$(grep -c '^FAIL' "$base.host" || true)
	if [ "$rc" -eq 0 ] && [ "${g_fail:-0}" -eq 0 ] && [ "${h_fail:-0}" -eq 0 ]; then
		verdict=PASS
		passed=$((passed + 1))
	else
		verdict=FAIL
		failed=$((failed + 1))
	fi
	SUMMARY+=("$(printf '%-19s %s  /init %5ss  DONE %5ss  QEMU %s (%s)  guest checks %3s passed %s failed, host %s passed %s failed' \
		"$name" "$verdict" "${t_init:--}" "${t_done:--}" "$QEMU_SHORT" "${accel:-?}$accel_note" "${g_pass:-0}" "${g_fail:-0}" \
		"${h_pass:-0}" "${h_fail:-0}")")
	# QEMU's and the devices' warnings, printed once each at the end
	{
		grep -a '^qemu-system-x86_64:' "$base.log" |
			sed 's/^qemu-system-x86_64: //; s/^.*: \(warning: \)/\1/; s/vfio-user:[^ ,]*sock/vfio-user:SOCKET/; s/^/QEMU: /'
		grep -a -E '^uvf-[a-z0-9]*: (warning|error):' "$base.dev.log"
	} >>"$MESSAGES" 2>/dev/null || true
	if [ "$verdict" = FAIL ]; then
		say "$name: FAIL ($line)"
		grep -a 'UVF-E2E: FAIL' "$base.log" 2>/dev/null | sed 's/^.*UVF-E2E: /    guest: /' >&2 || true
		grep '^FAIL' "$base.host" | sed 's/^/    host: /' >&2 || true
		if [ "${g_fail:-0}" -eq 0 ] && [ -f "$base.log" ]; then
			tail -n 15 "$base.log" | sed 's/^/    console: /' >&2 || true
		fi
		say "$name: console $base.log"
		say "$name: QEMU trace $base.trace"
		say "$name: device $base.dev.log $base.dev.out"
		say "$name: declared $base.lspci $base.expect; host checks $base.host"
	fi
}

# --- nvme ------------------------------------------------------------------------
NVME_SIZE=$((64 << 20))

# After an nvme boot, the device stopped: the backing file holds, at each
# region the guest reported ("UVF-E2E: NVME-WROTE OFFSET LENGTH SEED"),
# the pattern it wrote (the same nvme-io computes it); when the guest made
# a file system ("UVF-E2E: NVME-FS KBYTES"), e2fsck finds it clean and
# debugfs reads the guest's files back. The image goes when all is well.
nvme_after() { # base
	local base=$1 img=$1.img n=0 off len seed out ok=1 queues want
	# Linux's driver configures shadow doorbells when Identify offers them
	# (OACS bit 8): uvf-nvme takes them with shared guest RAM, and refuses
	# them with private RAM (the driver then keeps its MMIO doorbells).
	case $base in
	*-shared) want='nvme: shadow doorbells at 0x' ;;
	*) want='Doorbell Buffer Config refused' ;;
	esac
	if grep -aq "$want" "$base.dev.log" 2>/dev/null; then
		echo "PASS nvme-host-shadow-doorbells: the device log says '$want'" >>"$base.host"
	else
		echo "FAIL nvme-host-shadow-doorbells: no '$want' in $base.dev.log" >>"$base.host"
	fi
	# the fio check ran where asked for, on every I/O queue the guest had
	if [ "$NVME_FIO" = 1 ]; then
		queues=$(awk '/UVF-E2E: PASS nvme-irq-/ { n++ } END { print n + 0 }' "$base.log")
		if grep -aq 'UVF-E2E: PASS nvme-fio-verify' "$base.log" &&
			[ "$(awk '/UVF-E2E: PASS nvme-fio-irq-/ { n++ } END { print n + 0 }' "$base.log")" = "$queues" ]; then
			echo "PASS nvme-host-fio: the guest's fio verified its writes, interrupts on all $queues I/O queues" >>"$base.host"
		else
			echo "FAIL nvme-host-fio: no passed fio verify on all $queues I/O queues in the guest's log" >>"$base.host"
		fi
	fi
	if [ ! -f "$img" ]; then
		echo "FAIL nvme-host-backing: $img is gone" >>"$base.host"
		return
	fi
	if [ "$(stat -c %s "$img")" = "$NVME_SIZE" ]; then
		echo "PASS nvme-host-backing-size: $NVME_SIZE bytes" >>"$base.host"
	else
		echo "FAIL nvme-host-backing-size: $(stat -c %s "$img") bytes, want $NVME_SIZE" >>"$base.host"
	fi
	while read -r off len seed; do
		n=$((n + 1))
		if out=$("$GUEST/nvme-io" verify "$img" "$off" "$len" "$seed" 2>&1); then
			echo "PASS nvme-host-backing-$off+$len: the guest's pattern $seed" >>"$base.host"
		else
			echo "FAIL nvme-host-backing-$off+$len: $out" >>"$base.host"
			ok=0
		fi
	done < <(grep -a 'UVF-E2E: NVME-WROTE' "$base.log" | sed 's/.*NVME-WROTE //; s/\r$//')
	# init/nvme.sh writes 7 regions
	if [ "$n" -lt 7 ]; then
		echo "FAIL nvme-host-regions: the guest reported $n regions written, want 7" >>"$base.host"
		ok=0
	fi
	# The file system round trip must have run, and be checked here.
	if ! grep -aq 'UVF-E2E: NVME-FS' "$base.log"; then
		echo "FAIL nvme-host-fs: the guest made no file system (no 'UVF-E2E: NVME-FS' line)" >>"$base.host"
		ok=0
	elif ! command -v e2fsck >/dev/null || ! command -v debugfs >/dev/null; then
		echo "FAIL nvme-host-fs: no e2fsck or debugfs on the host (install e2fsprogs)" >>"$base.host"
		ok=0
	else
		if out=$(e2fsck -fn "$img" 2>&1); then
			echo "PASS nvme-host-fs-e2fsck: clean" >>"$base.host"
		else
			echo "FAIL nvme-host-fs-e2fsck: $(tail -n 3 <<<"$out" | tr '\n' ' ')" >>"$base.host"
			ok=0
		fi
		rm -f "$base.fs-pattern" "$base.fs-busybox"
		debugfs -R "dump /pattern.bin $base.fs-pattern" "$img" >/dev/null 2>&1 || true
		debugfs -R "dump /busybox $base.fs-busybox" "$img" >/dev/null 2>&1 || true
		if out=$("$GUEST/nvme-io" verify "$base.fs-pattern" 0 300000 42 2>&1); then
			echo "PASS nvme-host-fs-pattern: /pattern.bin read back with debugfs" >>"$base.host"
		else
			echo "FAIL nvme-host-fs-pattern: /pattern.bin: $out" >>"$base.host"
			ok=0
		fi
		if cmp -s "$base.fs-busybox" "$ROOT/usr/bin/busybox"; then
			echo "PASS nvme-host-fs-busybox: /busybox is the guest's busybox" >>"$base.host"
		else
			echo "FAIL nvme-host-fs-busybox: /busybox differs from $ROOT/usr/bin/busybox" >>"$base.host"
			ok=0
		fi
		out=$(debugfs -R "cat /dir/hello" "$img" 2>/dev/null || true)
		if [ "$out" = "hello from the uvf-nvme guest" ]; then
			echo "PASS nvme-host-fs-hello: /dir/hello" >>"$base.host"
		else
			echo "FAIL nvme-host-fs-hello: /dir/hello reads '$out'" >>"$base.host"
			ok=0
		fi
		rm -f "$base.fs-pattern" "$base.fs-busybox"
	fi
	[ "$ok" = 0 ] || rm -f "$img"
}

# --- uvf-nvme behind uvf-proxy: upgrades and kills during I/O ----------------
# The guest (init/nvme-churn.sh) writes and verifies patterns in a loop,
# one "CHURN-PASS N" line per verified pass. Two passes after it starts,
# and two passes after each event, the host makes the next event: five
# upgrades in place (SIGUSR1 to the proxy; done when the proxy logs
# "upgrade done: pause N ms"), then three SIGKILLs of the running
# uvf-nvme (done when the proxy logs "server back after", and the guest
# finished a pass after the kill: its driver timed out, found CFS and
# reset the controller). Then it writes the stop pattern for the guest.
CHURN_EVENTS=(upgrade upgrade upgrade upgrade upgrade kill kill kill)
churn_reset() {
	CHURN_STEP=0 CHURN_WAIT='' CHURN_MARK=2 CHURN_STOPPED=0 CHURN_AT=0 CHURN_UPGRADES=0 CHURN_KILLS=0
}
churn_watch() { # base fifo
	local base=$1 passes n pid proxy
	grep -aq 'UVF-E2E: CHURN-RUNNING' "$base.log" || return 0
	passes=$(grep -ac 'UVF-E2E: CHURN-PASS' "$base.log" || true)
	case $CHURN_WAIT in
	upgrade)
		n=$(grep -ac 'uvf-proxy: upgrade done' "$base.dev.log" || true)
		if grep -aq 'uvf-proxy: upgrade failed' "$base.dev.log"; then
			echo "FAIL churn-upgrade-$CHURN_UPGRADES: $(grep -a 'uvf-proxy: upgrade failed' "$base.dev.log" | head -n1)" >>"$base.host"
			CHURN_STEP=${#CHURN_EVENTS[@]} CHURN_WAIT=''
			return 0
		fi
		[ "${n:-0}" -ge "$CHURN_UPGRADES" ] || return 0
		echo "PASS churn-upgrade-$CHURN_UPGRADES: $(grep -a 'uvf-proxy: upgrade done' "$base.dev.log" | sed -n "${CHURN_UPGRADES}s/.*upgrade done: //p")" >>"$base.host"
		CHURN_WAIT='' CHURN_MARK=$((passes + 2))
		;;
	kill)
		# the pass under way at the kill and the next: the stalled one
		# is among them
		n=$(grep -ac 'uvf-proxy: server back after' "$base.dev.log" || true)
		[ "${n:-0}" -ge "$CHURN_KILLS" ] && [ "$passes" -ge $((CHURN_AT + 2)) ] || return 0
		n=$(grep -a 'UVF-E2E: CHURN-PASS' "$base.log" | tr -d '\r' |
			awk -v a="$CHURN_AT" '$3 > a && $3 <= a + 2 && $4 > m { m = $4 } END { print m + 0 }')
		echo "PASS churn-kill-$CHURN_KILLS: the guest's longest pass after SIGKILL took $n ms; proxy: $(grep -a 'uvf-proxy: server back after' "$base.dev.log" | sed -n "${CHURN_KILLS}s/.*\(server back after [0-9]* ms\).*/\1/p")" >>"$base.host"
		CHURN_WAIT='' CHURN_MARK=$((passes + 1))
		;;
	esac
	[ -z "$CHURN_WAIT" ] && [ "$passes" -ge "$CHURN_MARK" ] || return 0
	if [ "$CHURN_STEP" -lt ${#CHURN_EVENTS[@]} ]; then
		proxy=${DEV_PIDS[0]}
		case ${CHURN_EVENTS[CHURN_STEP]} in
		upgrade)
			CHURN_UPGRADES=$((CHURN_UPGRADES + 1))
			kill -USR1 "$proxy"
			;;
		kill)
			pid=$(grep -a -o -E '(started the server: pid|new server pid) [0-9]+' "$base.dev.log" | tail -n1 | awk '{ print $NF }')
			CHURN_KILLS=$((CHURN_KILLS + 1))
			CHURN_AT=$passes
			if [ -z "$pid" ] || ! kill -KILL "$pid"; then
				echo "FAIL churn-kill-$CHURN_KILLS: no uvf-nvme to kill (pid '${pid:-none}')" >>"$base.host"
				CHURN_STEP=${#CHURN_EVENTS[@]}
				return 0
			fi
			;;
		esac
		CHURN_WAIT=${CHURN_EVENTS[CHURN_STEP]}
		CHURN_STEP=$((CHURN_STEP + 1))
	elif [ "$CHURN_STOPPED" = 0 ]; then
		"$GUEST/nvme-io" write "$base.img" $((NVME_SIZE - 4096)) 4096 99 >/dev/null
		CHURN_STOPPED=1
	fi
}

# After the churn boot: every event done, the guest's last patterns in
# the backing file.
churn_after() { # base
	local base=$1 n=0 off len seed out ok=1
	if [ "$CHURN_STOPPED" = 1 ]; then
		echo "PASS churn-events: $CHURN_UPGRADES upgrades, $CHURN_KILLS kills during the guest's I/O" >>"$base.host"
	else
		echo "FAIL churn-events: stopped at event $CHURN_STEP of ${#CHURN_EVENTS[@]} (waiting for '${CHURN_WAIT:-guest passes}')" >>"$base.host"
		ok=0
	fi
	while read -r off len seed; do
		n=$((n + 1))
		if out=$("$GUEST/nvme-io" verify "$base.img" "$off" "$len" "$seed" 2>&1); then
			echo "PASS churn-host-backing-$off+$len: the guest's pattern $seed" >>"$base.host"
		else
			echo "FAIL churn-host-backing-$off+$len: $out" >>"$base.host"
			ok=0
		fi
	done < <(grep -a 'UVF-E2E: NVME-WROTE' "$base.log" | sed 's/.*NVME-WROTE //; s/\r$//')
	if [ "$n" -lt 4 ]; then
		echo "FAIL churn-host-regions: the guest reported $n regions, want 4" >>"$base.host"
		ok=0
	fi
	# the guest's driver reset the controller once per kill (it set up its
	# queues once more each time), and never for an upgrade
	n=$(grep -ac 'UVF-E2E: INFO dmesg:.* nvme nvme[0-9]*: .*default/read/poll queues' "$base.log" || true)
	if [ "$n" = $((CHURN_KILLS + 1)) ]; then
		echo "PASS churn-guest-resets: $CHURN_KILLS controller resets in the guest's dmesg, one per kill" >>"$base.host"
	else
		echo "FAIL churn-guest-resets: the guest's driver set up its queues $n times, want $((CHURN_KILLS + 1)) (probe and one per kill)" >>"$base.host"
		ok=0
	fi
	# ... because it found Controller Fatal Status (uvf-nvme --state-file),
	# not after an Abort timed out as well
	n=$(grep -ac 'UVF-E2E: INFO dmesg:.* controller is down; will reset: CSTS=0x3' "$base.log" || true)
	if [ "$n" = "$CHURN_KILLS" ]; then
		echo "PASS churn-guest-cfs: the driver found CSTS=0x3 (RDY, CFS) after each of the $CHURN_KILLS kills" >>"$base.host"
	else
		echo "FAIL churn-guest-cfs: 'controller is down; will reset: CSTS=0x3' $n times in the guest's dmesg, want $CHURN_KILLS" >>"$base.host"
		ok=0
	fi
	[ "$ok" = 0 ] || rm -f "$base.img" "$base.state"
}

# nvme_boot NAME MACHINE MEMORY FIO [boot.sh args...]: a uvf-nvme boot
# (FIO 1: with the fio verify check; FIO churn: behind uvf-proxy, the
# upgrade and kill check); a failure when there is no uvf-nvme, skipped
# under UVF_E2E_SKIP_NVME=1.
NVME_FIO=0
nvme_boot() {
	local name=$1 machine=$2 memory=$3 kind=nvme
	NVME_FIO=$4
	[ "$NVME_FIO" != churn ] || kind=nvmeproxy
	shift 4
	selected "$name" || return 0
	if [ -n "$NVME_SKIP" ]; then
		skipped=$((skipped + 1))
		SUMMARY+=("$(printf '%-19s skipped: %s' "$name" "$NVME_SKIP")")
		return 0
	fi
	if [ -n "$NVME_MISSING" ]; then
		failed=$((failed + 1))
		SUMMARY+=("$(printf '%-19s FAIL  not booted: %s' "$name" "$NVME_MISSING")")
		say "$name: FAIL (not booted: $NVME_MISSING; UVF_E2E_SKIP_NVME=1 skips the nvme boots)"
		return 0
	fi
	run_boot "$name" "$kind" "$machine" "$memory" none "$@"
}

# The Python IDIO-16 boot: skipped when the build has no Python package.
idio16py_boot() {
	local name=idio16py-pc-shared
	selected "$name" || return 0
	if ! ls "$BUILD"/python/uvf/_uvf*.so >/dev/null 2>&1; then
		skipped=$((skipped + 1))
		SUMMARY+=("$(printf '%-19s skipped: %s' "$name" "no Python package in $BUILD (meson option python)")")
		return 0
	fi
	run_boot "$name" idio16py pc shared none
}

# vfu-sgl-dma, the libvfio-user API sample, on uvf's libvfio-user.so.0:
# sgldma_boot NAME MEMORY. Built here when the build has its target;
# skipped when the build was configured without the compat library
# (meson option libvfio_user_compat=false), else a failure when missing.
SGLDMA=$BUILD/compat/libvfio-user/samples/vfu-sgl-dma
sgldma_boot() {
	local name=$1 memory=$2 prog=vfu-sgl-check target=compat/libvfio-user/samples/vfu-sgl-dma why=''
	selected "$name" || return 0
	if grep -q '"name": "libvfio_user_compat", "value": false' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null; then
		skipped=$((skipped + 1))
		SUMMARY+=("$(printf '%-19s skipped: %s' "$name" "built with libvfio_user_compat=false")")
		return 0
	fi
	# (grep without -q reads all of ninja's output: no SIGPIPE under pipefail)
	if ninja -C "$BUILD" -t targets all 2>/dev/null | grep "^$target:" >/dev/null &&
		! ninja -C "$BUILD" -j2 "$target" >"$BUILD/vfu-sgl-dma.build.log" 2>&1; then
		why="vfu-sgl-dma does not build (see $BUILD/vfu-sgl-dma.build.log)"
	elif [ ! -x "$SGLDMA" ]; then
		why="no $SGLDMA"
	elif ! gcc -static -O2 -Wall -Wextra -o "$GUEST/$prog" "$HERE/guest/$prog.c" >"$GUEST/$prog.build.log" 2>&1; then
		cat "$GUEST/$prog.build.log" >&2
		why="cannot build the guest program $prog"
	fi
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		SUMMARY+=("$(printf '%-19s FAIL  not booted: %s' "$name" "$why")")
		say "$name: FAIL (not booted: $why)"
		return 0
	fi
	run_boot "$name" sgldma pc "$memory" none
}

# After a vfu-sgl-dma boot: QEMU gave the device its guest RAM mapped
# (shared memory: the sample works in place through vfu_sgl_get) or by
# message only (private: vfu_sgl_read and vfu_sgl_write), as the sample's
# DMA register callback logged it.
sgldma_after() { # base
	local base=$1 mapped bymsg
	mapped=$(grep -ac 'DMA range .* mapped$' "$base.dev.log" || true)
	bymsg=$(grep -ac 'DMA range .* by message$' "$base.dev.log" || true)
	case $base in
	*-shared)
		if [ "${mapped:-0}" -gt 0 ]; then
			echo "PASS sgldma-host-dma-mapped: $mapped DMA range(s) mapped, $bymsg by message" >>"$base.host"
		else
			echo "FAIL sgldma-host-dma-mapped: no mapped DMA range in $base.dev.log" >>"$base.host"
		fi
		;;
	*)
		if [ "${mapped:-0}" = 0 ] && [ "${bymsg:-0}" -gt 0 ]; then
			echo "PASS sgldma-host-dma-by-message: $bymsg DMA range(s), none mapped" >>"$base.host"
		else
			echo "FAIL sgldma-host-dma-by-message: $mapped mapped and $bymsg by message in $base.dev.log" >>"$base.host"
		fi
		;;
	esac
}

# The accelerator choice and the fallback to TCG, on a faked broken KVM.
accel_fallback() {
	local name=accel-fallback base=$OUT/accel-fallback start rc=0 verdict
	selected "$name" || return 0
	start=$SECONDS
	"$HERE/accel-test.sh" >"$base.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ] && tail -n 1 "$base.out" | grep -q '^accel-test: [1-9][0-9]* passed, 0 failed$'; then
		verdict=PASS
		passed=$((passed + 1))
	else
		verdict=FAIL
		failed=$((failed + 1))
		say "$name: FAIL (accel-test.sh exited $rc; see $base.out)"
		grep '^FAIL' "$base.out" | sed 's/^/    /' >&2 || true
	fi
	SUMMARY+=("$(printf '%-19s %s  %s in %d s' "$name" "$verdict" "$(tail -n 1 "$base.out")" $((SECONDS - start)))")
}

# shellcheck disable=SC2054 # commas inside one QEMU argument
Q35_IOMMU=(--append intel_iommu=on --qemu-arg -device --qemu-arg intel-iommu,caching-mode=on)

run_boot scratch-pc-shared scratch pc shared none
run_boot scratch-pc-private scratch pc private bus \
	--qemu-arg -device --qemu-arg pci-bridge,id=br1,chassis_nr=1 --bus br1
# Behind a PCIe-to-PCI bridge, not a PCIe root port: after a secondary bus
# reset of QEMU's root port the guest waits for Data Link Layer Link Active,
# which QEMU never reports for a conventional PCI device under it; the
# kernel gives up ("Link Active not set in 100 msec") and fails the reset.
run_boot scratch-q35-shared scratch q35 shared bus \
	--qemu-arg -device --qemu-arg pcie-pci-bridge,id=pb1 --bus pb1
run_boot idio16-pc-shared idio16 pc shared none
idio16py_boot
run_boot dmatest-q35-shared dmatest q35 shared flr "${Q35_IOMMU[@]}"
run_boot dmatest-q35-private dmatest q35 private flr "${Q35_IOMMU[@]}"
# QEMU connected to uvf-proxy: BAR4 stays mapped, off the message path
run_boot dmatestproxy-q35-shared dmatestproxy q35 shared flr "${Q35_IOMMU[@]}"
sgldma_boot sgldma-pc-shared shared
sgldma_boot sgldma-pc-private private
# two vCPUs: the driver makes one I/O queue pair per CPU; fio verifies
# at queue depth 32 on both queues, and with private memory on one
nvme_boot nvme-q35-shared q35 shared 1 --qemu-arg -smp --qemu-arg 2
nvme_boot nvme-q35-private q35 private 1
nvme_boot nvme-pc-shared pc shared 0
nvme_boot nvme-pc-private pc private 0
# behind uvf-proxy: 5 upgrades and 3 kills during I/O; the driver's
# command timeout (10 s here, 30 s by default) bounds each kill's stall
nvme_boot nvmeproxy-q35-shared q35 shared churn --append nvme_core.io_timeout=10
nvme_boot nvmeproxy-q35-private q35 private churn --append nvme_core.io_timeout=10
accel_fallback

if [ -n "$ONLY" ] && [ "$any_selected" = 0 ]; then
	say "UVF_E2E_ONLY='$ONLY' selects no boot"
	failed=$((failed + 1))
fi

# Nothing of ours may be left in the chroot's socket folder.
leftover=$(find "$ROOT/run/uvf" -maxdepth 1 -name "e2e-$$-*" 2>/dev/null || true)
if [ -n "$leftover" ]; then
	say "left behind: $leftover"
	find "$ROOT/run/uvf" -maxdepth 1 -name "e2e-$$-*" -exec rm -rf {} +
	failed=$((failed + 1))
fi

echo "e2e: $QEMU_VERSION"
# The warnings, alike ones (differing in numbers only) counted together.
if [ -s "$MESSAGES" ]; then
	sed -E 's/0x[0-9a-fA-F]+/0x_/g; s/[0-9]+ ms/_ ms/g' "$MESSAGES" | sort | uniq -c | sort -rn >"$OUT/notes.txt"
	head -n 12 "$OUT/notes.txt" | sed 's/^ *\([0-9]*\) \(.*\)/e2e: note (x\1) \2/'
	n=$(wc -l <"$OUT/notes.txt")
	[ "$n" -le 12 ] || echo "e2e: note ... $((n - 12)) more kinds in $OUT/notes.txt"
fi
for s in "${SUMMARY[@]}"; do
	echo "e2e: $s"
done
echo "e2e: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
