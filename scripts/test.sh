#!/usr/bin/env bash
# Run every uvf test: unit, integration and interop (against QEMU's own
# vfio-user server, built once and cached outside the clone), with gcc,
# with clang, and under AddressSanitizer + UndefinedBehaviorSanitizer; the
# multi-threaded tests also under ThreadSanitizer.
# Installs what it needs from Debian. Exits non-zero if anything fails.
#
# Environment:
#   UVF_SKIP_INTEROP=1   do not build or run the QEMU interop tests
#   UVF_SKIP_E2E=1       do not boot Linux guests under QEMU's vfio-user client
#   UVF_CACHE_DIR=DIR    where the QEMU build is cached
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/deps.sh

if [ "${UVF_SKIP_INTEROP:-0}" != 1 ]; then
	echo "== QEMU vfio-user server for the interop tests (cached after the first build)"
	UVF_QEMU_SERVER=$(bash tests/interop/qemu-server-setup.sh | tail -n 1)
	export UVF_QEMU_SERVER
	export UVF_REQUIRE_INTEROP=1
	echo "   $UVF_QEMU_SERVER"
fi

passed=0
failed=0
count_cases() { # meson build dir
	local log="$1/meson-logs/testlog.txt" p f
	# cmocka's closing lines: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"
	p=$({ grep -ho '\[  PASSED  \] [0-9]* test' "$log" || true; } | awk '{s+=$4} END {print s+0}')
	f=$({ grep -ho '\[  FAILED  \] [0-9]* test' "$log" || true; } | awk '{s+=$4} END {print s+0}')
	# script tests close with "name: N passed, M failed"
	local sp sf
	sp=$({ grep -hoE '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed$' "$log" || true; } | awk '{s+=$2} END {print s+0}')
	sf=$({ grep -hoE '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed$' "$log" || true; } | awk '{s+=$4} END {print s+0}')
	passed=$((passed + p + sp))
	failed=$((failed + f + sf))
	echo "   $1: $p passed, $f failed (cmocka cases); $sp passed, $sf failed (script checks)"
}

run_suite() { # name, build dir, meson setup args...
	local name="$1" dir="$2"
	shift 2
	echo "== $name"
	rm -rf "$dir"
	meson setup "$dir" -Dwerror=true "$@" >"$root/$dir.setup.log" 2>&1 || {
		cat "$root/$dir.setup.log"
		exit 1
	}
	ninja -C "$dir" >"$root/$dir.build.log" 2>&1 || {
		tail -n 60 "$root/$dir.build.log"
		exit 1
	}
	local rc=0
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${UVF_TEST_SUITE:+--suite "$UVF_TEST_SUITE"} || rc=$?
	count_cases "$dir"
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		echo "   $name: meson test exited $rc"
	fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CC=gcc
run_suite "gcc build and tests" build-test
if [ "${UVF_SKIP_E2E:-0}" != 1 ]; then
	echo "== Linux guests driving uvf devices through QEMU's vfio-user client"
	bash scripts/deps.sh debootstrap xz-utils # chroot set-up, guest kernel modules
	rc=0
	bash tests/e2e/run-e2e.sh build-test | tee build-test/e2e.out || rc=$?
	e2e=$(tail -n 1 build-test/e2e.out)
	p=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$e2e")
	f=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$e2e")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
	[ "$rc" -eq 0 ] || [ "${f:-1}" -gt 0 ] || failed=$((failed + 1))
fi

export CC=clang
run_suite "clang build and tests" build-test-clang
export CC=gcc
run_suite "AddressSanitizer + UndefinedBehaviorSanitizer" build-test-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
# The tests that drive the libraries from several threads at once, again
# under ThreadSanitizer (its runtime and ASan's cannot share a build).
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
UVF_TEST_SUITE=threads run_suite "ThreadSanitizer (suite threads)" build-test-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug

# ---- fuzzers (tests/fuzz): each libFuzzer target for a short run ----------
# clang with its fuzzer runtime; a crash fails and prints its reproducer.
if [ "${UVF_SKIP_FUZZ:-0}" != 1 ]; then
	echo "== libFuzzer targets (${UVF_FUZZ_SECONDS:-50} s each)"
	bash scripts/deps.sh libclang-rt-14-dev
	rm -rf build-test-fuzz
	if CC=clang meson setup build-test-fuzz -Dwerror=true -Dfuzz=true >build-test-fuzz.setup.log 2>&1 &&
		ninja -C build-test-fuzz tests/fuzz/fuzz_server_stream tests/fuzz/fuzz_client_replies \
			tests/fuzz/fuzz_caps_json tests/fuzz/fuzz_config_space tests/fuzz/fuzz_decoders >build-test-fuzz.build.log 2>&1; then
		bash tests/fuzz/run-fuzz.sh build-test-fuzz "${UVF_FUZZ_SECONDS:-50}" | tee build-test-fuzz/fuzz.out || true
		fz=$(tail -n 1 build-test-fuzz/fuzz.out)
		p=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$fz")
		f=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$fz")
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-1}))
	else
		tail -n 40 build-test-fuzz.setup.log build-test-fuzz.build.log
		failed=$((failed + 1))
	fi
fi

rm -f build-test*.log
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
