#!/usr/bin/env bash
# Run every uvf test: unit, integration and interop (against QEMU's own
# vfio-user server, built once and cached outside the clone), with gcc,
# with clang, and under AddressSanitizer + UndefinedBehaviorSanitizer; the
# multi-threaded tests also under ThreadSanitizer; Linux guests driving uvf
# devices through QEMU's vfio-user client; a short run of each fuzzer.
# Installs what it needs from Debian. Exits non-zero if anything fails.
#
# The last line counts checks over everything that ran:
#   tests: N passed, M failed, K skipped
# A check is a cmocka case, a check of a script test (its closing line
# "NAME: N passed, M failed[, K skipped]"), or a test program of neither
# kind as a whole; a script test without its closing line, or any test
# meson saw fail without a failed check to show for it, is one failure.
# Skips are counted, never silent: a skipped meson test, cmocka case or
# guest boot, and each part skipped on purpose below, is one skip, and the
# lines before the last one say what was skipped and why. The interop tests
# are required when they are enabled: a skipped one is a failure.
#
# Environment:
#   UVF_SKIP_INTEROP=1   do not build QEMU's server: the interop tests skip
#   UVF_SKIP_E2E=1       do not boot Linux guests under QEMU's vfio-user client
#   UVF_SKIP_FUZZ=1      do not run the libFuzzer targets
#   UVF_FUZZ_SECONDS=N   run each libFuzzer target N seconds (default 50)
#   UVF_CACHE_DIR=DIR    where the QEMU build and the guest chroot are cached
#                        (default /var/cache/uvf)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=/usr/bin/python3

bash scripts/deps.sh python3

passed=0
failed=0
skipped=0
recap=() # the skips and failures, repeated before the last line

require_interop=0
if [ "${UVF_SKIP_INTEROP:-0}" != 1 ]; then
	echo "== QEMU vfio-user server for the interop tests (cached after the first build)"
	# required from here on: without the server the interop tests fail
	require_interop=1
	export UVF_REQUIRE_INTEROP=1
	rc=0
	UVF_QEMU_SERVER=$(bash tests/qemu-server/qemu-server-setup.sh | tail -n 1) || rc=$?
	if [ "$rc" -ne 0 ] || [ ! -x "$UVF_QEMU_SERVER" ]; then
		echo "FAIL: tests/qemu-server/qemu-server-setup.sh exited $rc without a QEMU binary"
		recap+=("FAIL: QEMU's vfio-user server could not be built (qemu-server-setup.sh exited $rc)")
		failed=$((failed + 1))
		UVF_QEMU_SERVER=
	fi
	export UVF_QEMU_SERVER
	echo "   ${UVF_QEMU_SERVER:-(none)}"
else
	unset UVF_REQUIRE_INTEROP UVF_QEMU_SERVER
	echo "== interop tests skipped on purpose (UVF_SKIP_INTEROP=1): QEMU's vfio-user server is not built"
	recap+=("SKIP: interop tests against QEMU 7.2's vfio-user server, on purpose (UVF_SKIP_INTEROP=1); each skipped test is counted")
fi

# Counts the checks of one meson run from its testlog.json, one test at a
# time (see the top of this file); prints a line per build, the per-device
# conformance lines, a line per skip or failure, and last "= P F S".
count_build() { # build dir, name
	"$python" - "$1/meson-logs/testlog.json" "$require_interop" "$2" <<'PY'
import json, re, sys

log, require_interop, build = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
closing = re.compile(r"^[A-Za-z0-9_.-]+: ([0-9]+) passed, ([0-9]+) failed(?:, ([0-9]+) skipped)?$", re.M)
cmocka = {k: re.compile(r"\[  %s\] ([0-9]+) test\(s\)" % k) for k in ("PASSED  ", "FAILED  ", "SKIPPED ")}
cmocka_skipped = re.compile(r"^\[  SKIPPED \] (\S+)$", re.M)
total = [0, 0, 0]
lines, notes = [], []
try:
    tests = [json.loads(line) for line in open(log) if line.strip()]
except (OSError, ValueError) as e:
    print("   FAIL: %s: no meson test log (%s)" % (build, e))
    print("= 0 1 0")
    sys.exit(0)
for t in tests:
    suites_part, _, short = t["name"].partition(" / ")
    suites = suites_part.split(":")[-1].split("+")
    required = require_interop and "interop" in suites
    result, rc = t.get("result"), t.get("returncode")
    out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
    script = any(str(a).endswith(".sh") for a in t.get("command") or [])
    p = f = s = 0
    if result == "SKIP":
        why = next((l.strip() for l in out.splitlines() if l.strip()), "exit status %s" % rc)
        if required:
            f = 1
            notes.append("FAIL: %s skipped, but the interop tests are required (%s)" % (short, why))
        else:
            s = 1
            notes.append("SKIP: %s (%s)" % (short, why))
    else:
        if script:
            m = closing.findall(out)
            if m:
                p, f, s = int(m[-1][0]), int(m[-1][1]), int(m[-1][2] or 0)
            else:
                f = -1  # counted and told below
        else:
            c = [sum(int(n) for n in cmocka[k].findall(out)) for k in ("PASSED  ", "FAILED  ", "SKIPPED ")]
            if any(c):
                p, f, s = c
            elif result == "OK":
                p = 1  # a program that is one check
        if f < 0:
            f = 1
            notes.append("FAIL: %s printed no closing line \"NAME: N passed, M failed[, K skipped]\" (%s, exit %s)"
                         % (short, result, rc))
        elif result not in ("OK", "EXPECTEDFAIL") and f == 0:
            f = 1
            notes.append("FAIL: %s: meson result %s (exit %s) and no failed check in its output: one failure" % (short, result, rc))
        elif f:
            notes.append("FAIL: %s: %d failed (%s, exit %s)" % (short, f, result, rc))
        if s:
            names = sorted(set(cmocka_skipped.findall(out)))
            what = "%d skipped%s" % (s, ": " + ", ".join(names) if names else "")
            if required:
                f, s = f + s, 0
                notes.append("FAIL: %s: %s, but the interop tests are required" % (short, what))
            else:
                notes.append("SKIP: %s: %s" % (short, what))
    lines += ["      " + l for l in out.splitlines() if re.match(r"^conform \S+: ", l)]
    total = [total[0] + p, total[1] + f, total[2] + s]
print("   %s: %d passed, %d failed, %d skipped (%d meson tests)" % (build, total[0], total[1], total[2], len(tests)))
for l in lines:
    print(l)
for n in notes:
    print("      " + n)
print("= %d %d %d" % tuple(total))
PY
}

# Adds a report's counts to the totals and its skips and failures to the
# recap; false if it produced none.
add_counts() { # name, output of count_build
	local out=$2 last p f s
	last=$(tail -n 1 <<<"$out")
	head -n -1 <<<"$out"
	read -r _ p f s <<<"$last"
	[[ "$last" =~ ^=\ [0-9]+\ [0-9]+\ [0-9]+$ ]] || return 1
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	while IFS= read -r l; do
		l=${l#"${l%%[! ]*}"}
		case "$l" in FAIL:* | SKIP:*) recap+=("$1: $l") ;; esac
	done <<<"$out"
}

run_suite() { # name, build dir, meson setup args...
	local name="$1" dir="$2"
	shift 2
	echo "== $name"
	rm -rf "$dir"
	if ! meson setup "$dir" -Dwerror=true "$@" >"$root/$dir.setup.log" 2>&1; then
		cat "$root/$dir.setup.log"
		recap+=("FAIL: $name: meson setup failed; its tests did not run")
		failed=$((failed + 1))
		return
	fi
	if ! ninja -C "$dir" >"$root/$dir.build.log" 2>&1; then
		tail -n 60 "$root/$dir.build.log"
		recap+=("FAIL: $name: the build failed; its tests did not run")
		failed=$((failed + 1))
		return
	fi
	local rc=0 before=$failed
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${UVF_TEST_SUITE:+--suite "$UVF_TEST_SUITE"} || rc=$?
	if ! add_counts "$name" "$(count_build "$dir" "$dir")"; then
		recap+=("FAIL: $name: the test log could not be counted")
		failed=$((failed + 1))
	fi
	if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
		echo "   FAIL: $name: meson test exited $rc with no failure counted"
		recap+=("FAIL: $name: meson test exited $rc")
		failed=$((failed + 1))
	fi
}

# A script run outside meson (e2e, fuzz): its closing line
# "NAME: N passed, M failed[, K skipped]" is counted; none, or a non-zero
# exit with no failure in it, is a failure.
add_closing_line() { # name, exit status, output file
	local name=$1 rc=$2 line p f s
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?\$" "$3" | tail -n 1) || true
	if [ -z "$line" ]; then
		echo "FAIL: $name: no closing line \"$name: N passed, M failed[, K skipped]\" (exit $rc)"
		recap+=("FAIL: $name: no closing line (exit $rc)")
		failed=$((failed + 1))
		return
	fi
	read -r p f s <<<"$(sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/' <<<"$line")"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
	[ "$f" -eq 0 ] || recap+=("FAIL: $line")
	[ "${s:-0}" -eq 0 ] || recap+=("SKIP: $line (see its output above)")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited $rc although its closing line counts no failure"
		recap+=("FAIL: $name exited $rc")
		failed=$((failed + 1))
	fi
}

if [ -n "${UVF_TEST_SUITE:-}" ]; then
	recap+=("SKIP: only the meson suite '$UVF_TEST_SUITE' ran (UVF_TEST_SUITE); the others are not counted")
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CC=gcc
run_suite "gcc build and tests" build-test
if [ "${UVF_SKIP_E2E:-0}" != 1 ]; then
	echo "== Linux guests driving uvf devices through QEMU's vfio-user client"
	bash scripts/deps.sh debootstrap xz-utils # chroot set-up, guest kernel modules
	rc=0
	if [ -d build-test ]; then
		bash tests/qemu-guests/run-e2e.sh build-test | tee build-test/e2e.out || rc=$?
		add_closing_line e2e "$rc" build-test/e2e.out
	else
		echo "FAIL: e2e: no gcc build to boot guests with"
		recap+=("FAIL: e2e: not run, the gcc build is missing")
		failed=$((failed + 1))
	fi
else
	echo "== e2e skipped on purpose (UVF_SKIP_E2E=1): no Linux guest is booted (counted as 1 skipped)"
	recap+=("SKIP: e2e, Linux guests driving uvf devices under QEMU's vfio-user client, on purpose (UVF_SKIP_E2E=1)")
	skipped=$((skipped + 1))
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
			tests/fuzz/fuzz_caps_json tests/fuzz/fuzz_config_space tests/fuzz/fuzz_decoders \
			tests/fuzz/fuzz_wire_describe tests/fuzz/fuzz_proxy_state >build-test-fuzz.build.log 2>&1; then
		rc=0
		bash tests/fuzz/run-fuzz.sh build-test-fuzz "${UVF_FUZZ_SECONDS:-50}" | tee build-test-fuzz/fuzz.out || rc=$?
		add_closing_line fuzz "$rc" build-test-fuzz/fuzz.out
	else
		tail -n 40 build-test-fuzz.setup.log build-test-fuzz.build.log
		recap+=("FAIL: fuzz: the libFuzzer build failed; no target ran")
		failed=$((failed + 1))
	fi
else
	echo "== fuzzing skipped on purpose (UVF_SKIP_FUZZ=1): no libFuzzer target runs (counted as 1 skipped)"
	recap+=("SKIP: fuzz, the libFuzzer targets, on purpose (UVF_SKIP_FUZZ=1)")
	skipped=$((skipped + 1))
fi

rm -f build-test*.log
echo
if [ ${#recap[@]} -gt 0 ]; then
	echo "== skipped and failed"
	printf '   %s\n' "${recap[@]}"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
