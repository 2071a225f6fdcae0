#!/usr/bin/env bash
# uvf-conform against every uvf sample device: each device is started by
# the tool itself (--server-cmd), so that a crash is told apart from a hang,
# and every case must end without FAIL (WARN and SKIP are reported only).
# The closing line counts cases over all devices, plus the checks that the
# tool fails a deliberately lax server and its exit statuses:
#   conform: N passed, M failed
# where a device whose run could not complete counts as one more failure.
# Usage: test_conform.sh BUILD_DIR
set -uo pipefail
build=$1
tool=$build/tools/uvf-conform
dir=$(mktemp -d /tmp/uvf-conform.XXXXXX)
trap 'rm -rf "$dir"' EXIT

passed=0 failed=0
run() { # name, device command line (without --socket-path)
	local name=$1 cmd=$2 rc=0
	"$tool" --json --server-cmd "exec $build/devices/$cmd --socket-path=$dir/$name.sock 2>>$dir/$name.log" \
		"$dir/$name.sock" >"$dir/$name.json" 2>"$dir/$name.err" || rc=$?
	local summary
	summary=$(grep '^uvf-conform: [0-9]* passed' "$dir/$name.err" | tail -n 1)
	local p f
	p=$(sed -n 's/^uvf-conform: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$summary")
	f=$(sed -n 's/^uvf-conform: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$summary")
	echo "$name: ${summary#uvf-conform: }"
	if [ -z "$p" ] || [ "$rc" -gt 1 ]; then
		echo "FAIL: $name: uvf-conform exited $rc"
		cat "$dir/$name.err"
		tail -n 20 "$dir/$name.log" 2>/dev/null
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		# the failing cases, readable
		python3 - "$dir/$name.json" <<'PY' || grep -o '"name":"[^"]*"[^}]*"verdict":"FAIL"[^}]*' "$dir/$name.json"
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c["verdict"] == "FAIL":
        print("FAIL: %s (PROTOCOL.md %s): %s; server: %s; %s" % (c["name"], c["section"], c["requirement"], c["server"], c["why"]))
PY
		echo "--- device log"
		tail -n 20 "$dir/$name.log"
		[ "$f" -gt 0 ] || failed=$((failed + 1))
	fi
	# the catalogue must stay above 150 cases and JSON must be well formed
	if ! python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(len(d["cases"]) < 150)' "$dir/$name.json"; then
		echo "FAIL: $name: JSON output malformed or fewer than 150 cases"
		failed=$((failed + 1))
	fi
}

run scratch uvf-scratch
run dmatest uvf-dmatest
run idio16 uvf-idio16
run nvme "uvf-nvme --size=1M"

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
