#!/usr/bin/env bash
# Run the libFuzzer targets of a build configured with
#   CC=clang meson setup BUILD -Dfuzz=true
# each for SECONDS, starting from a temporary copy of its seed corpus (the
# checked-in corpus is not modified). A crash, leak, sanitizer report or
# timeout fails that target, and so does a run that executed no input; a
# reproducer is kept under BUILD/fuzz-artifacts/ and its path printed.
# Replay one with
#   BUILD/tests/fuzz/TARGET REPRODUCER
# and, once fixed, copy it to tests/fuzz/regressions/TARGET/ so that every
# build replays it (suite fuzz-regress).
#
# Usage: tests/fuzz/run-fuzz.sh BUILD [SECONDS] [TARGET ...]
# Extra libFuzzer flags can be passed in UVF_FUZZ_FLAGS (e.g. -jobs=4).
# The last line is "fuzz: N passed, M failed" (one count per target).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run-fuzz.sh BUILD [SECONDS] [TARGET ...]}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_server_stream fuzz_client_replies fuzz_caps_json fuzz_config_space fuzz_decoders
	fuzz_wire_describe fuzz_proxy_state)

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1
passed=0
failed=0
for t in "${targets[@]}"; do
	bin="$build/tests/fuzz/$t"
	if [ ! -x "$bin" ]; then
		echo "$t: not built ($bin missing: configure with CC=clang and -Dfuzz=true)"
		failed=$((failed + 1))
		continue
	fi
	corpus=$(mktemp -d "${TMPDIR:-/tmp}/uvf-$t.XXXXXX")
	cp -r "$here/corpus/$t/." "$corpus/"
	[ -d "$here/regressions/$t" ] && cp -r "$here/regressions/$t/." "$corpus/"
	log="$artifacts/$t.log"
	dict=()
	[ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
	rm -f "$artifacts/$t"-*
	# -timeout: one input taking this long is a hang; -rss_limit_mb: a
	# peer-driven allocation without bound shows up as an out-of-memory.
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		-print_final_stats=1 -artifact_prefix="$artifacts/$t-" "${dict[@]}" ${UVF_FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ "${runs:-0}" -gt 0 ]; then
		echo "$t: ok, $runs runs in ${seconds} s, ${cov:-cov: ?}"
		passed=$((passed + 1))
	elif [ "$rc" -eq 0 ]; then
		# exit 0 without a single input run (e.g. a flag that only
		# prints help) has tested nothing
		echo "$t: FAILED (libFuzzer exited 0 but ran no input); log: $log"
		tail -n 5 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	else
		echo "$t: FAILED (libFuzzer exited $rc); log: $log"
		grep -E 'ERROR: |SUMMARY: |runtime error|fuzz_[a-z_]*: ' "$log" | head -n 8 | sed 's/^/    /'
		for a in "$artifacts/$t"-*; do
			[ -e "$a" ] && echo "    reproducer: $a (run: $bin $a)"
		done
		failed=$((failed + 1))
	fi
	rm -rf "$corpus"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
