#!/bin/sh
# SPDX-License-Identifier: MIT
# Compare the symbols a shared libuvf exports with the checked-in list
# (src/libuvf.symbols), so that an ABI change is always deliberate: a
# symbol added, removed or renamed without updating the list fails.
#
#   scripts/check-symbols.sh LIBUVF_SO SYMBOL_LIST      check
#   scripts/check-symbols.sh --print LIBUVF_SO           print the list to check in
#
# Only names starting with uvf_ are compared: sanitizer and toolchain
# symbols (all starting with an underscore) come and go with the build
# options. Internal uvf__ names and any other name without a leading
# underscore must not be exported at all.
set -u

NAME=check-symbols
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

# Defined dynamic symbols of $1, one per line, without @version suffixes.
exported() {
	nm -D --defined-only "$1" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | LC_ALL=C sort -u
}

if [ "${1:-}" = "--print" ]; then
	[ $# -eq 2 ] || { echo "usage: $0 --print LIBUVF_SO" >&2; exit 2; }
	exported "$2" | grep '^uvf_' | grep -v '^uvf__'
	exit $?
fi
if [ $# -ne 2 ]; then
	echo "usage: $0 LIBUVF_SO SYMBOL_LIST | --print LIBUVF_SO" >&2
	exit 2
fi
lib=$1
list=$2
if ! command -v nm >/dev/null 2>&1; then
	echo "$NAME: nm not found (binutils)"
	echo "$NAME: 0 passed, 0 failed, 1 skipped"
	exit 77
fi
[ -r "$lib" ] || { echo "$NAME: cannot read $lib" >&2; exit 2; }
[ -r "$list" ] || { echo "$NAME: cannot read $list" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

if ! exported "$lib" >"$tmp/all"; then
	echo "$NAME: nm failed on $lib" >&2
	exit 2
fi
if [ ! -s "$tmp/all" ]; then
	fail "$lib exports nothing"
fi

# The list: one name a line, '#' comments, sorted without duplicates so
# that diffs of it stay readable.
grep -v '^[[:space:]]*\(#\|$\)' "$list" >"$tmp/listed"
if LC_ALL=C sort -uc "$tmp/listed" 2>/dev/null; then
	pass "$list is sorted, no duplicates"
else
	fail "$list is not sorted or has duplicates (LC_ALL=C sort -u)"
fi
LC_ALL=C sort -u "$tmp/listed" -o "$tmp/listed"

grep '^uvf__' "$tmp/all" >"$tmp/internal"
if [ -s "$tmp/internal" ]; then
	fail "internal symbols exported: $(tr '\n' ' ' <"$tmp/internal")"
else
	pass "no uvf__ internal symbol exported"
fi

grep -v '^uvf_' "$tmp/all" | grep -v '^_' >"$tmp/stray"
if [ -s "$tmp/stray" ]; then
	fail "symbols without the uvf_ prefix exported: $(tr '\n' ' ' <"$tmp/stray")"
else
	pass "every exported name is uvf_-prefixed or reserved (_*)"
fi

grep '^uvf_' "$tmp/all" | grep -v '^uvf__' | LC_ALL=C sort -u >"$tmp/public"
LC_ALL=C comm -13 "$tmp/public" "$tmp/listed" >"$tmp/missing"
LC_ALL=C comm -23 "$tmp/public" "$tmp/listed" >"$tmp/extra"
if [ -s "$tmp/missing" ]; then
	fail "listed but no longer exported (an ABI break): $(tr '\n' ' ' <"$tmp/missing")"
else
	pass "every listed symbol is exported"
fi
if [ -s "$tmp/extra" ]; then
	fail "exported but not listed (add to $list if intended): $(tr '\n' ' ' <"$tmp/extra")"
else
	pass "every exported uvf_ symbol is listed ($(wc -l <"$tmp/public") symbols)"
fi

echo "$NAME: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
