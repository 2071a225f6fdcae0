#!/usr/bin/env bash
# The tables of one boot of bench/nvme-guest.sh, from what it kept.
#
# Usage: bench/nvme-report.sh LOG SAMPLES [TRACE]
#
#   LOG      the guest's console: "UVF-E2E: BENCH REP DISK TEST VALUE UNIT IOS"
#            lines (bench/init-nvme.sh), REP a number or "msg"
#   SAMPLES  "MARK TRACE_BYTES UVF_TICKS QEMU_TICKS UVF_NS WALL_NS" per
#            console mark, taken by the host when the mark appeared
#   TRACE    QEMU's vfio_user* trace (on only for the "msg" runs)
#
# Per test: median MiB/s or IOPS per disk; the ratio uvf/QEMU, median
# and min-max over the repetitions (each repetition's two runs paired);
# vfio-user messages per I/O in the "msg" run; CPU time per I/O (median
# over the repetitions) of uvf-nvme and QEMU during uvf-nvme's runs and of
# QEMU during its own nvme's runs. Then uvf-nvme's idle CPU use.

set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2; }
LOG=$1 SAMPLES=$2 TRACE=${3:-}
HZ=$(getconf CLK_TCK)

# BENCH lines as "REP DISK TEST VALUE UNIT IOS"
BENCH=$(tr -d '\r' <"$LOG" | awk '/UVF-E2E: BENCH / { sub(/.*UVF-E2E: BENCH /, ""); print }')
declare -A S=()
while read -r m rest; do
	S[$m]=$rest
done <"$SAMPLES"

# stats: "MEDIAN MIN-MAX" of the numbers on stdin ("- -" for none)
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s-%s\n", num(m), num(v[1]), num(v[NR]) }
		function num(x) { return (x >= 100 || x <= -100) ? sprintf("%.0f", x) : sprintf("%.3g", x) }'
}
median() { stats | awk '{ print $1 }'; }

# bench REP DISK TEST: "VALUE IOS" (empty when the run is missing)
bench() { awk -v r="$1" -v d="$2" -v t="$3" '$1 == r && $2 == d && $3 == t { print $4, $6 }' <<<"$BENCH"; }

# field N of a sample (1: trace bytes, 2: uvf ticks, 3: QEMU ticks, 4: uvf ns, 5: wall ns)
field() { awk -v i="$2" '{ print $i }' <<<"${S[$1]:-}"; }

# msgs FROM TO IOS: vfio-user messages per I/O between two byte offsets of
# the trace: doorbell writes, DMA_READ, DMA_WRITE (requests from the
# server), messages QEMU sent, messages it received
msgs() {
	head -c "$2" "$TRACE" | tail -c +$(($1 + 1)) | awk -v n="$3" '
		function hex(s,   v, i) { v = 0; s = tolower(substr(s, 3)); for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
		# BAR0 from 0x1000 on: the doorbells
		/^vfio_user_region_rw / { if ($3 == 0 && hex($5) >= 4096) db++ }
		# requests from the server (flags 0x0): DMA_READ 0xb, DMA_WRITE 0xc
		/^vfio_user_recv_hdr / && / cmd 0xb / && / flags 0x0$/ { dr++ }
		/^vfio_user_recv_hdr / && / cmd 0xc / && / flags 0x0$/ { dw++ }
		/^vfio_user_recv_hdr / { recv++ }
		/^vfio_user_send_write / { sent++ }
		END { if (n > 0) printf "%.2f %.2f %.2f %.2f %.2f\n", db / n, dr / n, dw / n, sent / n, recv / n; else print "- - - - -" }'
}

# per_io MARK_PREFIX FIELD IOS: microseconds of CPU per I/O between the
# begin and end marks of a run
per_io() {
	local a b
	a=$(field "$1-begin" "$2") b=$(field "$1-end" "$2")
	[ -n "$a" ] && [ -n "$b" ] || return 0
	awk -v d=$((b - a)) -v n="$3" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.1f\n", d * 1e6 / hz / n }'
}

REPS=$(awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { print m + 0 }' <<<"$BENCH")
TESTS=$(awk '$1 ~ /^[0-9]+$/ && !seen[$3]++ { print $3 }' <<<"$BENCH")

printf '| test | uvf-nvme | QEMU nvme | uvf/QEMU (min-max) | msgs/IO: doorbell, DMA_READ, DMA_WRITE, sent, recv | CPU us/IO, uvf run: uvf-nvme, QEMU | CPU us/IO, QEMU run: QEMU |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for t in $TESTS; do
	uv='' qv='' ratios='' ucpu='' uqcpu='' qcpu='' unit=''
	for ((r = 1; r <= REPS; r++)); do
		u=$(bench "$r" uvf "$t") q=$(bench "$r" qemu "$t")
		[ -n "$u" ] && [ -n "$q" ] || continue
		read -r uval uios <<<"$u"
		read -r qval qios <<<"$q"
		uv+="$uval"$'\n' qv+="$qval"$'\n'
		ratios+=$(awk -v a="$uval" -v b="$qval" 'BEGIN { if (b > 0) printf "%.4f", a / b }')$'\n'
		ucpu+=$(per_io "$r-uvf-$t" 2 "$uios")$'\n'
		uqcpu+=$(per_io "$r-uvf-$t" 3 "$uios")$'\n'
		qcpu+=$(per_io "$r-qemu-$t" 3 "$qios")$'\n'
	done
	unit=$(awk -v t="$t" '$3 == t { print $5; exit }' <<<"$BENCH")
	ms='-'
	mrun=$(bench msg uvf "$t")
	if [ -n "$TRACE" ] && [ -f "$TRACE" ] && [ -n "$mrun" ]; then
		a=$(field "msg-uvf-$t-begin" 1) b=$(field "msg-uvf-$t-end" 1)
		[ -z "$a" ] || [ -z "$b" ] || ms=$(msgs "$a" "$b" "${mrun#* }" | tr ' ' ',' | sed 's/,/, /g')
	fi
	read -r rmed rrange <<<"$(awk NF <<<"$ratios" | stats)"
	printf '| %s | %s %s | %s %s | **%s** (%s) | %s | %s, %s | %s |\n' "$t" \
		"$(awk NF <<<"$uv" | median)" "$unit" "$(awk NF <<<"$qv" | median)" "$unit" \
		"$rmed" "$rrange" "$ms" \
		"$(awk NF <<<"$ucpu" | median)" "$(awk NF <<<"$uqcpu" | median)" \
		"$(awk NF <<<"$qcpu" | median)"
done
a=$(field idle-a 4) b=$(field idle-b 4) wa=$(field idle-a 5) wb=$(field idle-b 5)
if [ -n "$a" ] && [ -n "$b" ]; then
	awk -v n=$((b - a)) -v w=$((wb - wa)) 'BEGIN { if (w > 0) printf "\nuvf-nvme idle, from 1 s after the last I/O, over %.1f s: %.2f%% of one CPU\n", w / 1e9, 100 * n / w }'
fi
