#!/usr/bin/env bash
# uvf-migrate between real device programs: each sample device moved from
# one process to another and back; devices of different types refused
# with exit status 1, the source left running (it migrates afterwards);
# bad usage exit status 2.
# Usage: test_migrate_tool.sh BUILD_DIR
# Ends with "test_migrate_tool: N passed, M failed" (what scripts/test.sh
# sums) and exits non-zero when M > 0, also when the script stops early.
set -euo pipefail
build=$1
dir=$(mktemp -d /tmp/uvf-migrate.XXXXXX)
pids=()
passed=0 failed=0 finished=0
cleanup() {
	local status=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
	if [ "$finished" -eq 0 ]; then
		# stopped by an unexpected error: that is a failure too
		echo "FAIL: the script stopped early (status $status)"
		echo "test_migrate_tool: $passed passed, $((failed + 1)) failed"
		exit 1
	fi
}
trap cleanup EXIT
check() { # name, command...
	local name=$1
	shift
	if "$@"; then passed=$((passed + 1)); else echo "FAIL: $name"; failed=$((failed + 1)); fi
}

serve() { # name, program (in devices/, or a path in the build folder), args...
	local name=$1 prog=$2
	shift 2
	[[ "$prog" == */* ]] || prog=devices/$prog
	"$build/$prog" --socket-path="$dir/$name.sock" "$@" 2>"$dir/$name.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && return 0; sleep 0.05; done
	echo "FAIL: $prog did not listen"; cat "$dir/$name.log"; return 1
}

migrate() { # src, dst, options...: sets $out and $rc
	local src=$1 dst=$2
	shift 2
	rc=0
	out=$("$build/tools/uvf-migrate" "$dir/$src.sock" "$dir/$dst.sock" --mem 4M --round-delay 1 "$@" \
		2>"$dir/migrate.err") || rc=$?
}

expect() { # output, pattern
	grep -qF -- "$2" <<<"$1" || { echo "missing: $2"; echo "$1"; cat "$dir/migrate.err"; return 1; }
}

check "dma1 listens" serve dma1 uvf-dmatest
check "dma2 listens" serve dma2 uvf-dmatest
check "idio1 listens" serve idio1 uvf-idio16
check "idio2 listens" serve idio2 uvf-idio16
check "nvme1 listens" serve nvme1 uvf-nvme --size=1M
check "nvme2 listens" serve nvme2 uvf-nvme --size=1M
devs="dma idio nvme"
# a device written against the libvfio-user API (compat/libvfio-user), when built
vfu_mig=compat/libvfio-user/samples/vfu-mmap-mig
if [ -x "$build/$vfu_mig" ]; then
	check "vfu1 listens" serve vfu1 "$vfu_mig"
	check "vfu2 listens" serve vfu2 "$vfu_mig"
	devs="$devs vfu"
fi

for dev in $devs; do
	migrate "${dev}1" "${dev}2" --json
	check "$dev: migrated" test "$rc" -eq 0
	check "$dev: JSON summary" expect "$out" '{"ok":true,"precopy":true,"logging":true,'
	check "$dev: progress on stderr" expect "$(cat "$dir/migrate.err")" "uvf-migrate: round 1: "
	# and back: the old source, stopped, takes the state again
	migrate "${dev}2" "${dev}1"
	check "$dev: migrated back" test "$rc" -eq 0
	check "$dev: downtime printed" expect "$out" "downtime: "
done

migrate dma1 idio1 --json
check "different devices refused" test "$rc" -eq 1
check "different devices: JSON error" expect "$out" '"ok":false'
check "different devices: error on stderr" expect "$(cat "$dir/migrate.err")" "the devices differ"
migrate dma1 dma2 --quiet
check "the refused source still migrates" test "$rc" -eq 0

migrate dma1 nowhere
check "missing destination: exit 1" test "$rc" -eq 1
migrate dma1 dma2 --max-rounds 0
check "bad option: exit 2" test "$rc" -eq 2

for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do
	r=0
	wait "$p" || r=$?
	check "device exits 0 on SIGTERM" test "$r" -eq 0
done
pids=()

finished=1
echo "test_migrate_tool: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
