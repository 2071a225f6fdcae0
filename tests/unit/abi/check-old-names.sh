#!/bin/sh
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2086 # word splitting of the flag lists is intended
# The names deprecated in this release still work for one release: a
# program using them (old_names.c, built as C with gcc and clang and as
# C++ with g++ and clang++) compiles warning-free apart from the
# deprecation warnings, links to the shared library and runs correctly.
# Two more checks per compiler show that the old names are really marked:
# without -Wno-deprecated-declarations the old functions warn, and with
# UVF_NO_DEPRECATED the old names are gone. Last, SED_SCRIPT (the
# rename script users run) turns the program into one that builds with
# UVF_NO_DEPRECATED and without any warning, and still runs correctly.
#
#   check-old-names.sh LIBUVF_SO SOURCE INCLUDE_DIR GENERATED_INCLUDE_DIR SED_SCRIPT
#
# A compiler that is not installed is reported as skipped. When the
# library was built with sanitizers (UVF_SANITIZE, meson's b_sanitize, and
# UVF_CC_ID, the compiler that built it), the programs are built with the
# same sanitizers, and only that compiler's family (gcc and g++, or clang
# and clang++) links and runs them: two sanitizer runtimes do not mix. The
# other family's link-and-run checks are reported as skipped.
set -u

NAME=abi-old-names
if [ $# -ne 5 ]; then
	echo "usage: $0 LIBUVF_SO SOURCE INCLUDE_DIR GENERATED_INCLUDE_DIR SED_SCRIPT" >&2
	exit 2
fi
lib=$1
src=$2
incs="-I$3 -I$4"
sed_script=$5
libdir=$(cd "$(dirname "$lib")" && pwd) || exit 2
warn="-Wall -Wextra -Werror -pedantic"
sanitize=${UVF_SANITIZE:-none}
cc_id=${UVF_CC_ID:-}
if [ "$sanitize" != none ]; then
	warn="$warn -fsanitize=$sanitize"
fi

passed=0
failed=0
skipped=0

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
cp "$src" "$tmp/old_names.c" || exit 2
cp "$src" "$tmp/old_names.cc" || exit 2
sed -f "$sed_script" "$src" >"$tmp/renamed.c" || exit 2
cp "$tmp/renamed.c" "$tmp/renamed.cc" || exit 2

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	sed 's/^/    /' "$tmp/out" | head -40
}

# one COMPILER STD SOURCE
one() {
	cc=$1 std=$2 file=$3
	label="$cc -std=$std"
	if ! command -v "$cc" >/dev/null 2>&1; then
		skipped=$((skipped + 1))
		echo "skip: $label (not installed)"
		return
	fi
	run=yes
	case $cc in
	*clang*) family=clang ;;
	*) family=gcc ;;
	esac
	if [ "$sanitize" != none ] && [ "$family" != "$cc_id" ]; then
		run=no
	fi
	if [ $run = no ]; then
		skipped=$((skipped + 1))
		echo "skip: $label: link and run (the library has $cc_id's $sanitize runtime)"
	elif "$cc" -std="$std" $warn -Wno-deprecated-declarations $incs "$file" -o "$tmp/prog" -pthread \
		-L"$libdir" -Wl,-rpath,"$libdir" -luvf >"$tmp/out" 2>&1; then
		if "$tmp/prog" >"$tmp/out" 2>&1; then
			pass "$label: the old names compile, link and behave like the new ones"
		else
			fail "$label: the program using the old names failed"
		fi
	else
		fail "$label: the program using the old names does not build"
	fi
	if "$cc" -std="$std" $warn $incs -fsyntax-only "$file" >"$tmp/out" 2>&1; then
		fail "$label: the old functions are not marked deprecated (no warning)"
	elif grep -q 'uvf_client_bar_read.*deprecated\|deprecated.*uvf_client_bar_read' "$tmp/out"; then
		pass "$label: the old functions warn as deprecated"
	else
		fail "$label: no deprecation warning for uvf_client_bar_read"
	fi
	if "$cc" -std="$std" $warn -Wno-deprecated-declarations -DUVF_NO_DEPRECATED $incs -fsyntax-only "$file" \
		>"$tmp/out" 2>&1; then
		fail "$label: UVF_NO_DEPRECATED leaves the old names visible"
	else
		pass "$label: UVF_NO_DEPRECATED hides the old names"
	fi
	renamed="$tmp/renamed.${file##*.}"
	if [ $run = no ]; then
		skipped=$((skipped + 1))
		echo "skip: $label: the renamed program (link and run)"
	elif "$cc" -std="$std" $warn -DUVF_NO_DEPRECATED $incs "$renamed" -o "$tmp/prog" -pthread \
		-L"$libdir" -Wl,-rpath,"$libdir" -luvf >"$tmp/out" 2>&1 && "$tmp/prog" >"$tmp/out" 2>&1; then
		pass "$label: after rename-deprecated.sed the program uses no old name and still works"
	else
		fail "$label: the program renamed by rename-deprecated.sed does not build or run with UVF_NO_DEPRECATED"
	fi
}

one gcc c11 "$tmp/old_names.c"
one clang c11 "$tmp/old_names.c"
one g++ c++11 "$tmp/old_names.cc"
one clang++ c++11 "$tmp/old_names.cc"

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
