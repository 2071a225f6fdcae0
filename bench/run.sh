#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The uvf micro-benchmarks in one command:
#
#     bash bench/run.sh
#
# Builds a release build in build-microbench/ (BENCH_BUILD to change it),
# prints the machine, runs every benchmark and prints one Markdown table
# per benchmark: each figure is a ratio against a floor measured in the
# same repetition (min / median / max over BENCH_REPS repetitions, default
# 5; in the round-trip, posted, polling and peer tables the floor and
# uvf's path take turns in ten slices per repetition); the "floor" column
# names each row's floor. A benchmark whose uvf half
# made no call into uvf, or whose raw floor did, stops with an error, and
# so does this script.
# About 1 minute on 2 quiet cores, up to 4 when other work runs. Environment:
#   BENCH_SCALE=0.2      fewer iterations (quick look), 3 = steadier figures
#   BENCH_REPS=9         more repetitions (at most 64)
#   BENCH_CPUS=0,1       CPU of the client, CPU of the server for "different"
#   BENCH_ONLY="region irq"  run only these of: region mapped dma irq
#                        migration proxy compat python strace
#   BENCH_STRACE=0       skip the system call count (needs strace)
#   BENCH_PEER_GPIO=BIN  libvfio-user's gpio sample for the peer row; by
#                        default built here (one file) from the source and
#                        the libvfio-user.so that tests/qemu-server's set-up
#                        left in UVF_CACHE_DIR (default /var/cache/uvf);
#                        without that cache the row says "skipped (why)"
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$root/build-microbench}
programs=(region mapped dma irq migration proxy compat)
read -r -a only <<<"${BENCH_ONLY:-${programs[*]} python}"

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
elif ! meson introspect --buildoptions "$build" | grep -q '"name": "buildtype", "value": "release"'; then
	meson configure "$build" --buildtype=release >/dev/null
fi
targets=()
for p in "${programs[@]}"; do targets+=("bench/uvf-bench-$p"); done
targets+=(tools/uvf-proxy) # uvf-bench-proxy runs it
export BENCH_PROXY=$build/tools/uvf-proxy
# python: the package in BUILD/python (the build's python option) and the C halves
if [[ " ${only[*]} " == *" python "* ]]; then
	targets+=(bench/uvf-bench-readloop)
	mapfile -t -O "${#targets[@]}" targets < <(ninja -C "$build" -t targets all | sed -n 's|^\(python/uvf/[^:]*\):.*|\1|p')
fi
ninja -C "$build" -j2 "${targets[@]}" >/dev/null

# The peer row: libvfio-user as the QEMU 7.2 set-up built it. Only its
# gpio sample (one source file) is compiled, against that library.
if [ -z "${BENCH_PEER_GPIO:-}" ] && [[ " ${only[*]} " == *" region "* ]]; then
	lvu=${UVF_CACHE_DIR:-/var/cache/uvf}/qemu-7.2-vfio-user
	lvu_src=$lvu/src/qemu-7.2+dfsg/subprojects/libvfio-user
	lvu_lib=$lvu/build/subprojects/libvfio-user/lib
	if [ ! -f "$lvu_lib/libvfio-user.so.0" ] || [ ! -f "$lvu_src/samples/gpio-pci-idio-16.c" ]; then
		export BENCH_PEER_SKIP="skipped (no libvfio-user build in $lvu: run tests/qemu-server/qemu-server-setup.sh)"
	else
		mkdir -p "$build/peer"
		if ${CC:-cc} -O2 -w -I"$lvu_src/include" -I"$lvu_src/lib" -o "$build/peer/gpio-pci-idio-16" \
			"$lvu_src/samples/gpio-pci-idio-16.c" "$lvu_lib/libvfio-user.so.0" -Wl,-rpath,"$lvu_lib" \
			2>"$build/peer/build.log"; then
			export BENCH_PEER_GPIO=$build/peer/gpio-pci-idio-16
		else
			export BENCH_PEER_SKIP="skipped (the gpio sample did not build: $build/peer/build.log)"
		fi
	fi
fi

echo "# uvf micro-benchmarks"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) online of $(grep -c '^processor' /proc/cpuinfo) cores"
echo "- kernel: $(uname -sr), $(uname -m)"
echo "- compiler: $(${CC:-cc} --version | head -1), buildtype release"
echo "- settings: BENCH_REPS=${BENCH_REPS:-5} BENCH_SCALE=${BENCH_SCALE:-1} BENCH_CPUS=${BENCH_CPUS:-0,1} (client CPU, other CPU)"
echo
echo "Ratio = uvf / floor of each repetition, the two measured next to each other (higher is better;"
echo "1.00 = as fast as the floor). The floor column names what each row is compared with."
echo "Rates are per second; the time in brackets is per operation."

for p in "${only[@]}"; do
	case "$p" in
	strace) ;;
	python)
		if ls "$build"/python/uvf/_uvf*.so >/dev/null 2>&1; then
			PYTHONPATH="$build/python" /usr/bin/python3 "$root/bench/bench_python.py" "$build"
		else
			echo
			echo "### The Python package: skipped (not built: the python option found no python3-dev)"
		fi
		;;
	*) "$build/bench/uvf-bench-$p" ;;
	esac
done

# System calls per operation: strace two runs of N and 3N operations
# (nothing else) and divide the difference, so that set-up and tear-down
# cancel out.
if [ "${BENCH_STRACE:-1}" != 0 ] && command -v strace >/dev/null && [[ " ${only[*]} " == *" region "* || " ${only[*]} " == *" strace "* ]]; then
	tmp=$(mktemp -d /tmp/uvf-bench-strace.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	count() { # dir n [posted] -> lines "side syscall count"
		local dir=$1 n=$2 client
		mkdir -p "$dir"
		client=$(strace -f -ff -qq -o "$dir/t" "$build/bench/uvf-bench-region" --strace "$n" ${3:+"$3"} | awk '{print $2}')
		for f in "$dir"/t.*; do
			local side=server
			[ "$f" = "$dir/t.$client" ] && side=client
			awk -v side="$side" '/^[a-z_0-9]+\(/ { sub(/\(.*/, ""); print side, $0 }' "$f"
		done | sort | uniq -c | awk '{print $2, $3, $1}'
	}
	n1=1000 n2=3000
	echo
	echo "### System calls per operation (strace, different CPUs)"
	echo
	echo "| operation | client | side | per operation | calls |"
	echo "| --- | --- | --- | ---: | --- |"
	for run in "read 0" "read 1" "posted 0"; do
		read -r op twin <<<"$run"
		label="default (twin socket offered)"
		[ "$twin" = 1 ] && label="no_twin_socket"
		name="REGION_READ 4 B round trip"
		[ "$op" = posted ] && name="posted REGION_WRITE 4 B"
		mode=""
		[ "$op" = posted ] && mode=posted
		export BENCH_NO_TWIN_SOCKET=$twin
		count "$tmp/a-$op$twin" $n1 $mode >"$tmp/a-$op$twin.txt"
		count "$tmp/b-$op$twin" $n2 $mode >"$tmp/b-$op$twin.txt"
		awk -v d=$((n2 - n1)) -v label="$label" -v name="$name" '
			FNR == NR { a[$1 " " $2] = $3; next }
			{ k = $1 " " $2; per = ($3 - a[k]) / d
			  if (per >= 0.05) { total[$1] += per; calls[$1] = calls[$1] sprintf("%s%s %.2f", calls[$1] ? ", " : "", $2, per) } }
			END { for (s in total) printf "| %s | %s | %s | %.2f | %s |\n", name, label, s, total[s], calls[s] }' \
			"$tmp/a-$op$twin.txt" "$tmp/b-$op$twin.txt" | sort -t'|' -k4
	done
	unset BENCH_NO_TWIN_SOCKET
fi
