#!/bin/sh
# SPDX-License-Identifier: MIT
# The public headers compile as C++ (g++ and clang++, C++11 and C++20) and
# as ISO C11 (gcc and clang), with -Wall -Wextra -Werror -pedantic: each
# header on its own, then a translation unit using all of them (size
# checks of the wire structs, every *_INIT macro).
#
#   check-headers.sh TEST_DIR INCLUDE_DIR GENERATED_INCLUDE_DIR
#
# TEST_DIR holds headers.cc and headers.c; GENERATED_INCLUDE_DIR holds
# uvf/version.h from the build tree. A compiler that is not installed is
# reported as skipped.
set -u

NAME=abi-headers
if [ $# -ne 3 ]; then
	echo "usage: $0 TEST_DIR INCLUDE_DIR GENERATED_INCLUDE_DIR" >&2
	exit 2
fi
testdir=$1
incs="-I$2 -I$3"
warn="-Wall -Wextra -Werror -pedantic"
headers="common proto server client wire uvf version"

passed=0
failed=0
skipped=0

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# check LABEL COMMAND...: one check, its compiler output shown on failure.
check() {
	label=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		passed=$((passed + 1))
		echo "ok: $label"
	else
		failed=$((failed + 1))
		echo "FAIL: $label"
		sed 's/^/    /' "$tmp/out" | head -40
	fi
}

# compile COMPILER LANG STD SOURCE: every header alone, then SOURCE.
compile() {
	cc=$1 lang=$2 std=$3 src=$4
	if ! command -v "$cc" >/dev/null 2>&1; then
		skipped=$((skipped + 1))
		echo "skip: $cc -std=$std (not installed)"
		return
	fi
	for h in $headers; do
		# The declaration keeps ISO C happy with a header of macros only.
		printf '#include <uvf/%s.h>\nextern int uvf_abi_alone;\n' "$h" >"$tmp/alone.$lang"
		# shellcheck disable=SC2086 # word splitting of the flag lists is intended
		check "$cc -std=$std: uvf/$h.h alone" "$cc" -x "$lang" -std="$std" $warn $incs -fsyntax-only \
			"$tmp/alone.$lang"
	done
	# shellcheck disable=SC2086
	check "$cc -std=$std: $(basename "$src")" "$cc" -std="$std" $warn $incs -c "$src" -o "$tmp/out.o"
}

for cxx in g++ clang++; do
	for std in c++11 c++20; do
		compile "$cxx" c++ "$std" "$testdir/headers.cc"
	done
done
for cc in gcc clang; do
	compile "$cc" c c11 "$testdir/headers.c"
done

if [ "$skipped" -gt 0 ]; then
	echo "$NAME: $passed passed, $failed failed, $skipped skipped"
else
	echo "$NAME: $passed passed, $failed failed"
fi
if [ "$failed" -gt 0 ]; then
	exit 1
fi
if [ "$passed" -eq 0 ]; then
	exit 77
fi
exit 0
