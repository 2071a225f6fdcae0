#!/bin/sh
# /init of the interactive guest of scripts/guest.sh: loads the driver
# modules (uvf_setup), finds the uvf device named in /etc/uvf-e2e/boot.conf
# (UVF_GUEST=scratch|dmatest|idio16|nvme; UVF_HOST_FIFO: the host's path of
# idio16's control FIFO), prints what to try, and runs a
# busybox shell on the console. Powers off when the shell exits.
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_GUEST=scratch
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

# The login shell's profile: a prompt and the helpers the banner names.
cat >/etc/profile <<'EOF'
PS1='uvf-guest:\w# '
export PS1
# lspci: every PCI function, from sysfs (busybox has no lspci)
lspci() {
	for d in /sys/bus/pci/devices/*; do
		drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
		printf '%s  class %s  %s:%s rev %s  %s\n' "${d##*/}" "$(cut -c3-6 "$d/class")" \
			"$(cut -c3- "$d/vendor")" "$(cut -c3- "$d/device")" "$(cut -c3- "$d/revision")" \
			"${drv:+driver $drv}"
	done
}
# uvfdev: the uvf device's resources and config space, decoded
uvfdev() {
	d=/sys/bus/pci/devices/$UVF_BDF
	echo "$UVF_BDF: resource (start end flags), BARs 0-5 then ROM:"
	head -n 7 "$d/resource" | sed 's/^/  /'
	echo "config space, as the guest reads it:"
	od -A n -t x1 -v "$d/config" | awk -f /lib/pcidesc.awk | sed 's/^/  /'
	echo "irq $(cat "$d/irq"), reset_method: $(cat "$d/reset_method" 2>/dev/null || echo none)"
}
uvfhelp() { cat /etc/uvf-e2e/banner; }
# /init is a plain script, not an init that acts on poweroff's signal
alias poweroff='poweroff -f' halt='poweroff -f' reboot='poweroff -f'
uvfhelp
EOF

if [ "$UVF_GUEST" = idio16 ]; then
	uvf_find_device 0x494f 0x0dc8 || true
elif [ "$UVF_GUEST" = nvme ]; then
	uvf_find_device 0x1de0 0x0010 || true
elif [ "$UVF_GUEST" = dmatest ]; then
	uvf_find_device 0x1de0 0x0002 || true
else
	uvf_find_device 0x1de0 0x0001 || true
fi
BDF=${UVF_DEV##*/}
sed -i '1i UVF_BDF='"$BDF" /etc/profile

# One banner row: the command, then what it does (on the next line when
# the command is long); more arguments are more lines of explanation.
row() {
	if [ ${#1} -le 30 ]; then
		printf '  %-30s %s\n' "$1" "$2"
	else
		printf '  %s\n  %-30s %s\n' "$1" '' "$2"
	fi
	shift 2
	for more in "$@"; do
		printf '  %-30s %s\n' '' "$more"
	done
}

# What to try, with this boot's addresses filled in.
{
	echo
	echo "=== uvf guest: uvf-$UVF_GUEST through QEMU's vfio-user-pci ==="
	if [ -z "$BDF" ]; then
		echo "The device is missing from /sys/bus/pci/devices: see the host's device log."
	else
		echo 1 >"$UVF_DEV/enable" 2>/dev/null || true
		bar0=$(uvf_bar_start "$UVF_DEV" 0)
		hex() { printf '0x%x' "$1"; }
		sys=/sys/bus/pci/devices/$BDF
		echo "Device $BDF ($(cut -c3- "$UVF_DEV/vendor"):$(cut -c3- "$UVF_DEV/device")), decoding enabled."
		row "lspci" "PCI functions, from sysfs"
		row "uvfdev" "its resources, capabilities, reset method"
		case $UVF_GUEST in
		scratch)
			row "devmem $(hex "$bar0") 32" "ID register: 0x53465655 (\"UVFS\")"
			row "devmem $(hex $((bar0 + 0x10))) 32 0xc0ffee" "write SCRATCH[0]; read it back: no value"
			row "devmem $(hex $((bar0 + 0x50))) 32 0xa5" "GPIO_OUT: the device logs LEDs 0-7"
			row "dd if=$sys/resource2 bs=4 count=1 | hexdump -C" \
				"the ID through the I/O BAR at $(hex "$(uvf_bar_start "$UVF_DEV" 2)")"
			row "echo 1 > $sys/reset" "bus reset (it sits behind a bridge):" "SCRATCH[0] reads 0 again"
			;;
		dmatest)
			row "devmem $(hex "$bar0") 32" "ID register: 0x54414d44 (\"DMAT\")"
			row "echo 1 > $sys/reset" "FLR: the registers read 0 again"
			row "echo 1de0 0002 > /sys/bus/pci/drivers/vfio-pci/new_id" "hand it to vfio-pci, then:"
			row "vfio-dmatest $BDF" "DMA both ways, MSI-X, MSI, INTx, reset"
			;;
		nvme)
			echo "Driver $(basename "$(readlink "$UVF_DEV/driver" 2>/dev/null)" 2>/dev/null): a 64 MiB namespace in the host's RAM."
			row "cat /sys/class/nvme/nvme0/model /sys/block/nvme0n1/size" "the controller and its size in sectors"
			row "dd if=/dev/urandom of=/tmp/p bs=64k count=16" "then:"
			row "dd if=/tmp/p of=/dev/nvme0n1 bs=64k oflag=direct" "1 MiB written through PRP lists"
			row "dd if=/dev/nvme0n1 bs=64k count=16 iflag=direct | cmp - /tmp/p" "read back and compared"
			row "mke2fs /dev/nvme0n1 && mount -t ext4 /dev/nvme0n1 /mnt" "a file system on it"
			row "echo 1 > /sys/class/nvme/nvme0/reset_controller" "controller reset; I/O goes on after"
			row "grep nvme /proc/interrupts" "one MSI-X vector per queue"
			;;
		idio16)
			base=
			for c in /sys/class/gpio/gpiochip*; do
				[ "$(cat "$c/label" 2>/dev/null)" = "$BDF" ] && base=$(cat "$c/base")
			done
			g=/sys/class/gpio
			echo "Driver $(basename "$(readlink "$UVF_DEV/driver" 2>/dev/null)" 2>/dev/null): GPIO $base-$((base + 15)) are the outputs OUT0-15,"
			echo "$((base + 16))-$((base + 31)) the inputs IIN0-15 (legacy sysfs numbers). FIFO on the host:"
			echo "${UVF_HOST_FIFO:-the path guest.sh printed}"
			row "idio16-check --timeout=30" "the e2e check: outputs, then edge events" \
				"by INTx; answer each WAIT-INPUT 0xHHHH" "on the host: echo 'inputs 0xHHHH' > FIFO" \
				"(before exporting lines through sysfs:" "exported lines are busy for it)"
			row "echo $base > $g/export" "then:"
			row "echo 1 > $g/gpio$base/value" "OUT0 on: the host's device output" "says outputs=0x0001"
			row "echo $((base + 16)) > $g/export" "then:"
			row "cat $g/gpio$((base + 16))/value" "IIN0; set the inputs on the host:" \
				"echo 'inputs 0x0001' > FIFO"
			row "grep '^ *$(cat "$UVF_DEV/irq"):' /proc/interrupts" "the card's INTx count"
			echo "  (Not the sysfs edge files: with this driver's nested IRQs the 7.2 kernel oopses.)"
			;;
		esac
	fi
	row "poweroff" "shut down: QEMU exits, guest.sh stops the device" \
		"(Ctrl-A x quits QEMU at once; uvfhelp: this again)"
	echo
} >/etc/uvf-e2e/banner

setsid cttyhack sh -l
echo "uvf guest: shell ended, powering off"
sync
poweroff -f
sleep 5
