# shellcheck shell=dash
# Checks shared by the end-to-end guests' /init scripts; run-e2e.sh puts
# this file in the initramfs as /lib/uvf-checks.sh, next to
# /lib/pcidesc.awk. Source it after /lib/uvf-e2e.sh (busybox sh).
#
#   uvf_find_device VENDOR DEVICE      sets UVF_DEV (sysfs folder) or fails
#   uvf_nvme_wait_namespace DEV        sets UVF_NVME_CONTROLLER, UVF_NVME_NAMESPACE or fails
#   uvf_check_enumeration PREFIX DEV EXPECT
#   uvf_check_reset PREFIX DEV METHOD REG VALUE ID_REG ID
#   uvf_irq_count IRQ                  interrupts counted for IRQ, all CPUs
#   uvf_bar_start DEV N                start address of BAR N (0 when none)
#   uvf_run_program NAME CHECKS COMMAND...
#                                      a guest program's checks, all of them

# uvf_find_device VENDOR DEVICE: the first function with these ids.
# shellcheck disable=SC2034 # UVF_DEV is for the caller
uvf_find_device() {
	UVF_DEV=
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			UVF_DEV=$d
			return 0
		fi
	done
	return 1
}

# uvf_nvme_wait_namespace DEV: the nvme driver probes asynchronously, so
# wait for DEV's controller, then for its first namespace (TCG is slow:
# 60 s at most). Sets UVF_NVME_CONTROLLER (nvmeN, empty when none showed) and
# UVF_NVME_NAMESPACE (/dev/nvmeNn1, empty when none showed); fails without one.
# shellcheck disable=SC2034 # UVF_NVME_* are for the caller
uvf_nvme_wait_namespace() {
	local dev=$1 c i=0
	UVF_NVME_CONTROLLER='' UVF_NVME_NAMESPACE=''
	while [ "$i" -lt 600 ]; do
		if [ -z "$UVF_NVME_CONTROLLER" ]; then
			for c in "$dev"/nvme/nvme*; do
				[ -e "$c" ] && UVF_NVME_CONTROLLER=${c##*/}
			done
		fi
		if [ -n "$UVF_NVME_CONTROLLER" ] && [ -b "/dev/${UVF_NVME_CONTROLLER}n1" ]; then
			UVF_NVME_NAMESPACE=/dev/${UVF_NVME_CONTROLLER}n1
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

uvf_bar_start() { # dev n
	sed -n "$(($2 + 1))p" "$1/resource" | { read -r start _ _ && echo $((start)); }
}

# The type of a sysfs resource line's flags, in pcidesc.awk's words.
uvf__res_type() { # flags
	# IORESOURCE_IO 0x100, _MEM 0x200, _PREFETCH 0x2000, _MEM_64 0x100000
	if [ $(($1 & 0x100)) -ne 0 ]; then
		echo io
	elif [ $(($1 & 0x200)) -ne 0 ]; then
		t=mem32
		[ $(($1 & 0x100000)) -eq 0 ] || t=mem64
		[ $(($1 & 0x2000)) -eq 0 ] || t=$t-pref
		echo "$t"
	else
		echo none
	fi
}

# The value of key KEY in a "key value" file (empty when absent).
uvf__get() { # file key
	sed -n "s/^$2 //p" "$1" | head -n 1
}

# uvf_check_enumeration PREFIX DEV EXPECT: compare the guest's view of DEV
# (sysfs identity files, resource sizes and types, config space
# capability chain read through sysfs) with EXPECT, the declaration the
# host took from the device itself (uvf-lspci through pcidesc.awk, plus
# barN_size / rom_size lines). One check per fact, named PREFIX-enum-KEY.
uvf_check_enumeration() {
	local p=$1 dev=$2 exp=$3 key want got i start end flags size
	if [ ! -s "$exp" ]; then
		uvf_fail "$p-enum" "no declaration file $exp"
		return
	fi
	od -A n -t x1 -v "$dev/config" | awk -f /lib/pcidesc.awk >/tmp/enum-actual 2>&1
	for key in vendor device class revision subsystem_vendor subsystem_device; do
		uvf_expect "$p-enum-$key" "$(uvf__get "$exp" "$key")" "$(cat "$dev/$key")"
	done
	uvf_expect "$p-enum-irq_pin" "$(uvf__get "$exp" irq_pin)" "$(uvf__get /tmp/enum-actual irq_pin)"
	uvf_expect "$p-enum-config_size" "$(uvf__get "$exp" config_size)" "$(stat -c %s "$dev/config")"
	# resource: lines for BARs 0-5, then the ROM
	i=0
	while read -r start end flags; do
		if [ $((start)) -eq 0 ] && [ $((end)) -eq 0 ]; then
			size=0
		else
			size=$((end - start + 1))
		fi
		if [ "$i" -lt 6 ]; then
			key=bar$i
		else
			key=rom
		fi
		want=$(uvf__get "$exp" "${key}_size")
		uvf_expect "$p-enum-${key}_size" "${want:-0}" "$size"
		want=$(uvf__get "$exp" "${key}_type")
		if [ -n "$want" ]; then
			uvf_expect "$p-enum-${key}_type" "$want" "$(uvf__res_type "$flags")"
		fi
		i=$((i + 1))
		[ "$i" -le 6 ] || break
	done <"$dev/resource"
	# capabilities, in chain order, with the fields pcidesc.awk decodes
	for key in cap ecap; do
		# extended capabilities only where the guest has extended config space
		[ "$key" = cap ] || [ "$(uvf__get "$exp" config_size)" = 4096 ] || continue
		grep "^$key" "$exp" >/tmp/enum-want || true
		grep "^$key" /tmp/enum-actual >/tmp/enum-got || true
		while read -r _ want; do
			got=$(grep -F -x -e "$key $want" /tmp/enum-got || true)
			if [ -n "$got" ]; then
				uvf_pass "$p-enum-$key-${want%% *}"
			else
				uvf_fail "$p-enum-$key-${want%% *}" \
					"declared '$want', guest sees: $(grep "^$key ${want%%@*}@" /tmp/enum-got | head -n 1 | cut -d' ' -f2-)"
			fi
		done </tmp/enum-want
		uvf_expect "$p-enum-$key-list" "$(cut -d' ' -f2 /tmp/enum-want | tr '\n' ' ')" \
			"$(cut -d' ' -f2 /tmp/enum-got | tr '\n' ' ')"
	done
}

# uvf_check_reset PREFIX DEV METHOD REG VALUE ID_REG ID: reset DEV through
# sysfs and check that it came back in its reset state. METHOD is the
# reset method the kernel must have picked (reset_method), or "none" when
# it must have none (then only that is checked). Before the reset, VALUE
# is written to the 32-bit BAR0 register at offset REG and must read back;
# after it, that register must read 0 and the one at ID_REG must read ID.
uvf_check_reset() {
	local p=$1 dev=$2 method=$3 reg=$4 value=$5 idreg=$6 id=$7 bar0 got
	if [ "$method" = none ]; then
		if [ -e "$dev/reset" ]; then
			uvf_fail "$p-reset-method" "expected none, kernel offers '$(cat "$dev/reset_method" 2>/dev/null)'"
		else
			echo "UVF-E2E: INFO $p: the kernel has no reset method for ${dev##*/}"
			uvf_pass "$p-reset-method"
		fi
		return
	fi
	got=$(cat "$dev/reset_method" 2>/dev/null || echo none)
	echo "UVF-E2E: INFO $p: reset_method of ${dev##*/}: $got"
	uvf_expect "$p-reset-method" "$method" "$got"
	if [ ! -e "$dev/reset" ]; then
		uvf_fail "$p-reset" "no $dev/reset: the kernel found no way to reset it"
		return
	fi
	echo 1 >"$dev/enable" 2>/dev/null || true
	bar0=$(uvf_bar_start "$dev" 0)
	if [ -z "$bar0" ] || [ "$bar0" -eq 0 ]; then
		uvf_fail "$p-reset" "BAR0 has no address"
		return
	fi
	devmem $((bar0 + reg)) 32 "$value"
	uvf_expect "$p-reset-before" "$(printf '0x%08X' "$value")" "$(devmem $((bar0 + reg)) 32)"
	if echo 1 >"$dev/reset" 2>/tmp/reset.err; then
		uvf_pass "$p-reset-write"
	else
		uvf_fail "$p-reset-write" "echo 1 > reset: $(cat /tmp/reset.err)"
		return
	fi
	# the kernel restores config space (BARs, command) after the reset
	uvf_expect "$p-reset-bar0-kept" "$bar0" "$(uvf_bar_start "$dev" 0)"
	uvf_expect "$p-reset-register" 0x00000000 "$(devmem $((bar0 + reg)) 32)"
	uvf_expect "$p-reset-id" "$(printf '0x%08X' "$id")" "$(devmem $((bar0 + idreg)) 32)"
}

# uvf_irq_count IRQ: the sum of the per-CPU counts of IRQ in /proc/interrupts.
uvf_irq_count() {
	awk -v irq="$1:" '$1 == irq { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s; found = 1 }
		END { if (!found) print 0 }' /proc/interrupts
}

# uvf_run_program NAME CHECKS COMMAND...: run a guest program that prints
# one "UVF-E2E: PASS name" or "UVF-E2E: FAIL name: why" line per check and
# closes with "PROGRAM: N passed, M failed" (PROGRAM: the command's base
# name); its output reaches the console as it comes. CHECKS is how many
# checks the caller knows the program makes (not the program's own count):
# check NAME-complete passes only when the program exited 0, printed
# exactly CHECKS PASS lines and no FAIL line, and closed with "CHECKS
# passed, 0 failed". A program that crashes or stops part-way fails it.
uvf_run_program() {
	local name=$1 want=$2 prog rc npass nfail last
	shift 2
	prog=$(basename "$1")
	rm -f "/tmp/$name.rc"
	{
		"$@" 2>&1
		echo "$?" >"/tmp/$name.rc"
	} | tee "/tmp/$name.out"
	rc=$(cat "/tmp/$name.rc" 2>/dev/null)
	npass=$(grep -c '^UVF-E2E: PASS ' "/tmp/$name.out")
	nfail=$(grep -c '^UVF-E2E: FAIL ' "/tmp/$name.out")
	last=$(grep -E "^$prog: [0-9]+ passed, [0-9]+ failed\$" "/tmp/$name.out" | tail -n 1)
	if [ "$rc" = 0 ] && [ "$npass" = "$want" ] && [ "$nfail" = 0 ] &&
		[ "$last" = "$prog: $want passed, 0 failed" ]; then
		uvf_pass "$name-complete"
	else
		uvf_fail "$name-complete" "$prog exited with status ${rc:-unknown}," \
			"printed $npass PASS and $nfail FAIL lines, closing line '${last:-none}';" \
			"want status 0 and all $want checks passed"
	fi
}
