#!/usr/bin/env bash
# Run the pytest suites of the uvf package (python/tests) with Debian's
# python3; its closing line "python: N passed, M failed, K skipped" is
# written by conftest.py. Usage: run-pytest.sh TESTS_DIR [pytest args]
set -uo pipefail
dir=$1
shift
cd "$dir" || exit 1
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs "$@" .
