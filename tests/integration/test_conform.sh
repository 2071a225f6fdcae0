#!/usr/bin/env bash
# uvf-conform against every uvf sample device: each device is started by
# the tool itself (--server-cmd), so that a crash is told apart from a hang,
# and every case must end without FAIL (WARN and SKIP are reported only).
#
# The catalogue's ~300 cases are mostly the same library checks for every
# device, so a device's whole run is ONE check here: it passes iff the tool
# completed with exit 0, no case is FAIL and the JSON holds the catalogue.
# Each device gets its own line with the case verdicts:
#   conform uvf-nvme: 288 pass, 0 fail, 12 warn, 18 skip
# followed by its WARN cases (and FAIL cases, with the reason). The other
# checks are that the tool fails a deliberately lax server and its exit
# statuses. The closing line is
#   conform: N passed, M failed
# Usage: test_conform.sh BUILD_DIR
set -uo pipefail
build=$1
tool=$build/tools/uvf-conform
dir=$(mktemp -d /tmp/uvf-conform.XXXXXX)
trap 'rm -rf "$dir"' EXIT

passed=0 failed=0
# The verdicts of one JSON report: "P F W S" (-1s if it cannot be read),
# then one line per WARN and FAIL case.
verdicts() { # json file
	python3 - "$1" <<'PY'
import json, sys
try:
    cases = json.load(open(sys.argv[1]))["cases"]
except (OSError, ValueError, KeyError, TypeError):
    print("-1 -1 -1 -1 0")
    sys.exit(0)
n = {v: sum(1 for c in cases if c.get("verdict") == v) for v in ("PASS", "FAIL", "WARN", "SKIP")}
print(n["PASS"], n["FAIL"], n["WARN"], n["SKIP"], len(cases))
for c in cases:
    if c.get("verdict") in ("WARN", "FAIL"):
        print("  %s %s (docs/protocol.md %s): %s; server: %s; %s" % (c["verdict"], c["name"], c["section"],
              c["requirement"], c["server"], c["why"]))
PY
}

run() { # name, device command line (without --socket-path), under devices/ or the build folder given (at)
	local name=$1 cmd=$2 at=${3:-devices} rc=0
	"$tool" --json --server-cmd "exec $build/$at/$cmd --socket-path=$dir/$name.sock 2>>$dir/$name.log" \
		"$dir/$name.sock" >"$dir/$name.json" 2>"$dir/$name.err" || rc=$?
	local device=${cmd%% *} why=() out p f w s total
	out=$(verdicts "$dir/$name.json")
	read -r p f w s total <<<"$(head -n 1 <<<"$out")"
	if ! [[ "$p" =~ ^[0-9]+$ ]]; then
		echo "conform $device: no readable JSON report (uvf-conform exited $rc)"
		why+=("JSON output missing or malformed")
	else
		echo "conform $device: $p pass, $f fail, $w warn, $s skip"
		tail -n +2 <<<"$out"
		[ "$f" -eq 0 ] || why+=("$f case(s) FAIL")
		# the catalogue must stay above 150 cases
		[ "$total" -ge 150 ] || why+=("only $total cases in the report, expected at least 150")
		# the tool's own summary must agree with its JSON
		local summary
		summary=$(grep '^uvf-conform: [0-9]* passed' "$dir/$name.err" | tail -n 1)
		if [ "$summary" != "uvf-conform: $p passed, $f failed, $w warnings, $s skipped" ]; then
			why+=("summary line \"$summary\" disagrees with the JSON ($p/$f/$w/$s)")
		fi
	fi
	[ "$rc" -eq 0 ] || why+=("uvf-conform exited $rc")
	if [ ${#why[@]} -eq 0 ]; then
		passed=$((passed + 1))
		return
	fi
	failed=$((failed + 1))
	local msg
	printf -v msg '%s; ' "${why[@]}"
	echo "FAIL: conform $device: ${msg%; }"
	cat "$dir/$name.err"
	echo "--- device log"
	tail -n 20 "$dir/$name.log" 2>/dev/null
}

run scratch uvf-scratch
run dmatest uvf-dmatest
run idio16 uvf-idio16
run nvme "uvf-nvme --size=1M"
# devices written against the libvfio-user API (compat/libvfio-user), when built
if [ -x "$build/compat/libvfio-user/samples/vfu-gpio" ]; then
	run vfu-gpio vfu-gpio compat/libvfio-user/samples
	run vfu-mmap-mig vfu-mmap-mig compat/libvfio-user/samples
	run vfu-sgl-dma vfu-sgl-dma compat/libvfio-user/samples
else
	echo "conform: libvfio-user samples not built (libvfio_user_compat=false): skipped"
fi

# The checker must be able to fail: a lax server that accepts everything
# must get exit status 1 and these cases as FAIL.
rc=0
"$tool" --json --server-cmd "exec python3 $(dirname "$0")/conform_lax_server.py $dir/lax.sock" "$dir/lax.sock" \
	>"$dir/lax.json" 2>"$dir/lax.err" || rc=$?
if [ "$rc" -eq 1 ]; then passed=$((passed + 1)); else echo "FAIL: lax server: exit $rc, expected 1"; cat "$dir/lax.err"; failed=$((failed + 1)); fi
for c in handshake/version-major-1 framing/posted-write region/read-past-end dma/map-zero-size dma/map-wrap \
	dma/map-fd-smaller-than-size irq/count-1-two-fds; do
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not any(c["name"] == sys.argv[2] and c["verdict"] == "FAIL" for c in d["cases"]))' "$dir/lax.json" "$c" 2>/dev/null; then
		passed=$((passed + 1))
	else
		echo "FAIL: lax server: $c not reported as FAIL"
		failed=$((failed + 1))
	fi
done

# usage and connection errors are exit status 2
rc=0
"$tool" "$dir/absent.sock" >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then passed=$((passed + 1)); else echo "FAIL: missing socket exit $rc, expected 2"; failed=$((failed + 1)); fi
rc=0
"$tool" --bogus >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then passed=$((passed + 1)); else echo "FAIL: bad option exit $rc, expected 2"; failed=$((failed + 1)); fi

echo "conform: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
