#!/usr/bin/env bash
# The package's annotations and stub (uvf/_uvf.pyi) under mypy --strict,
# with a typical program using them (typing_sample.py). Closing line:
#   typing: N passed, M failed
# Usage: typecheck.sh PYTHON_SOURCE_DIR
set -uo pipefail
src=$1
passed=0 failed=0
check() { # name, mypy arguments...
	local name=$1
	shift
	if (cd "$src" && /usr/bin/python3 -m mypy --strict --cache-dir=/dev/null "$@"); then
		passed=$((passed + 1))
	else
		echo "FAIL: typing $name"
		failed=$((failed + 1))
	fi
}
check package -p uvf
check sample uvf tests/typing_sample.py
echo "typing: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
