#!/bin/sh
# /init of the uvf-scratch guests (run-e2e.sh): finds the device (1de0:0001)
# among the guest's PCI devices; checks the guest's view of it against the
# declaration the host read from the device (/etc/uvf-e2e/expect), and
# against what devices/scratch/scratch.h documents; uses its registers through
# BAR0 and BAR2, a config write, a DMA read; last, resets it through sysfs
# (/etc/uvf-e2e/boot.conf says which reset method the kernel must pick).
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_RESET_METHOD=none
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

echo "PCI devices (slot vendor device class):"
dev=
for d in /sys/bus/pci/devices/*; do
	v=$(cat "$d/vendor") p=$(cat "$d/device") c=$(cat "$d/class")
	echo "  ${d##*/} $v $p $c"
	[ "$v:$p" = 0x1de0:0x0001 ] && dev=$d
done
if [ -z "$dev" ]; then
	uvf_fail found "no 1de0:0001 device in /sys/bus/pci/devices"
	uvf_done
fi
uvf_pass "found ${dev##*/}"
uvf_check_enumeration scratch "$dev" /etc/uvf-e2e/expect

uvf_expect vendor 0x1de0 "$(cat "$dev/vendor")"
uvf_expect device 0x0001 "$(cat "$dev/device")"
uvf_expect class 0xff0000 "$(cat "$dev/class")"
uvf_expect subsystem_vendor 0x1de0 "$(cat "$dev/subsystem_vendor")"
uvf_expect subsystem_device 0x0001 "$(cat "$dev/subsystem_device")"
uvf_expect revision 0x01 "$(cat "$dev/revision")"

# sysfs resource: one "start end flags" line per BAR 0-5, then the ROM.
# Expected: BAR0 4 KiB 32-bit non-prefetchable memory, BAR2 32 bytes of I/O
# ports, nothing else.
echo "resource:"
sed 's/^/  /' "$dev/resource"
i=0
bar0='' bar2=''
while read -r start end flags; do
	if [ $((start)) -eq 0 ] && [ $((end)) -eq 0 ]; then
		size=0
	else
		size=$((end - start + 1))
	fi
	case $i in
	0)
		bar0=$start
		uvf_expect bar0-size 4096 "$size"
		# IORESOURCE_MEM 0x200 set; IO 0x100, PREFETCH 0x2000, MEM_64 0x100000 clear
		uvf_expect bar0-type 0x200 "$(printf '0x%x' $((flags & 0x102300)))"
		;;
	2)
		bar2=$start
		uvf_expect bar2-size 32 "$size"
		uvf_expect bar2-type 0x100 "$(printf '0x%x' $((flags & 0x102300)))"
		;;
	1|3|4|5|6) uvf_expect "bar$i-size" 0 "$size" ;;
	esac
	i=$((i + 1))
done <"$dev/resource"

# Config space as the guest reads it (through QEMU from the device).
echo "config:"
hexdump -C "$dev/config" | sed 's/^/  /'
# byte N of config space, as two hex digits
cfg() { od -A n -t x1 -v -j "$1" -N 1 "$dev/config" | tr -d ' \n'; }
uvf_expect config-ids "e0 1d 01 00" "$(cfg 0) $(cfg 1) $(cfg 2) $(cfg 3)"
uvf_expect config-class "01 00 00 ff" "$(cfg 8) $(cfg 9) $(cfg 10) $(cfg 11)"
uvf_expect config-subsystem "e0 1d 01 00" "$(cfg 44) $(cfg 45) $(cfg 46) $(cfg 47)"
uvf_expect config-header-type 00 "$(cfg 14)"
uvf_expect config-interrupt-pin 01 "$(cfg 61)"
uvf_expect config-status-caplist 10 "$(printf '%02x' $((0x$(cfg 6) & 0x10)))"

# Walk the capability list: PM (01), MSI (05) and vendor specific (09).
caps='' ptr=$((0x$(cfg 52) & 0xfc)) n=0
while [ "$ptr" -ne 0 ] && [ "$n" -lt 48 ]; do
	caps="$caps $(cfg "$ptr")"
	ptr=$((0x$(cfg $((ptr + 1))) & 0xfc))
	n=$((n + 1))
done
# shellcheck disable=SC2086 # one capability id per word
caps=$(printf '%s\n' $caps | sort | tr '\n' ' ')
uvf_expect capabilities "01 05 09 " "$caps"

# Registers: enable the device (memory and I/O decoding), then read the ID
# and VERSION registers and a scratch register through BAR0 (devmem on its
# physical address) and through BAR2 (read() on the sysfs I/O resource).
if echo 1 >"$dev/enable" 2>/tmp/enable.err; then
	uvf_pass enable
else
	uvf_fail enable "$(cat /tmp/enable.err)"
fi
if [ -n "$bar0" ] && [ $((bar0)) -ne 0 ]; then
	uvf_expect bar0-id 0x53465655 "$(devmem $((bar0)) 32)"
	uvf_expect bar0-version 0x00010000 "$(devmem $((bar0 + 4)) 32)"
	devmem $((bar0 + 0x10)) 32 0xc0ffee42
	uvf_expect bar0-scratch 0xC0FFEE42 "$(devmem $((bar0 + 0x10)) 32)"
	devmem $((bar0 + 0x800)) 8 0xa5
	uvf_expect bar0-window-byte 0xA5 "$(devmem $((bar0 + 0x800)) 8)"
else
	uvf_fail bar0-access "BAR0 has no address"
fi
# DMA: the device reads 64 bytes of guest memory at 0xf0000 (the BIOS
# copy, which the CPU can read through /dev/mem) into its window, which must
# then hold what the CPU sees there. With shared memory the device reads its
# mapping of guest RAM; with private memory it asks QEMU by message, which
# QEMU only serves while bus mastering is on: set it through sysfs config
# (a config space write that goes to the device).
mem64() { dd if=/dev/mem bs=64 count=1 skip=$(($1 / 64)) 2>/dev/null | od -A n -t x1 -v | tr -d ' \n'; }
# 64 bytes of the window as hex bytes, 4 at a time through devmem
window64() {
	off=0
	while [ $off -lt 64 ]; do
		w=$(devmem $((bar0 + 0x800 + off)) 32)
		w=${w#0x}
		printf '%s%s%s%s' "${w#??????}" "$(echo "$w" | cut -c5-6)" "$(echo "$w" | cut -c3-4)" "${w%??????}"
		off=$((off + 4))
	done | tr 'ABCDEF' 'abcdef'
}
if [ -n "$bar0" ] && [ $((bar0)) -ne 0 ]; then
	cmd=$((0x$(cfg 4) | 4))
	# shellcheck disable=SC2059 # the format is the byte to write
	printf "\\$(printf '%03o' "$cmd")" | dd of="$dev/config" bs=1 seek=4 count=1 conv=notrunc 2>/dev/null
	uvf_expect config-write-bus-master 04 "$(printf '%02x' $((0x$(cfg 4) & 4)))"
	devmem $((bar0 + 0x70)) 32 0x000f0000
	devmem $((bar0 + 0x74)) 32 0
	devmem $((bar0 + 0x78)) 32 64
	devmem $((bar0 + 0x7c)) 32 1
	uvf_expect dma-read-status 0x00000000 "$(devmem $((bar0 + 0x80)) 32)"
	want=$(mem64 $((0xf0000)))
	if [ -z "$want" ] || [ "$want" = "$(printf '%0128d' 0)" ]; then
		uvf_fail dma-read "cannot read guest memory at 0xf0000 through /dev/mem"
	else
		uvf_expect dma-read "$want" "$(window64)"
	fi
fi

io32() { dd if="$dev/resource2" bs=4 count=1 skip="$1" 2>/dev/null | od -A n -t x4 | tr -d ' '; }
if [ -n "$bar2" ] && [ $((bar2)) -ne 0 ]; then
	uvf_expect bar2-id 53465655 "$(io32 0)"
	uvf_expect bar2-scratch c0ffee42 "$(io32 2)"
else
	uvf_fail bar2-access "BAR2 has no address"
fi

# Reset: SCRATCH[0] (0x10) must read 0 after, ID (0x0) be back.
uvf_check_reset scratch "$dev" "$UVF_RESET_METHOD" 0x10 0x5eed1e55 0 0x53465655

uvf_done
