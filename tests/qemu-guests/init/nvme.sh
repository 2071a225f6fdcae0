#!/bin/sh
# /init of the uvf-nvme guests (run-e2e.sh): the guest's own nvme driver
# (nvme, nvme-core, loaded by uvf_setup) binds to the controller; its
# namespace must appear with the size of the host's backing file; known
# patterns (guest/nvme-io.c, one seed per region) are written with O_DIRECT
# at several offsets and sizes (one page, two pages, a buffer starting
# 512 bytes into its page, 256 KiB and 1 MiB: PRP lists and split
# requests), flushed, read back after dropping the caches; the controller
# is reset through sysfs and I/O goes on; then an ext2 file system in the
# first 16 MiB (busybox mke2fs, the ext4 driver) gets some files, is
# unmounted, mounted again and read back. With UVF_NVME_FIO=1, fio
# (Debian's, from the chroot) writes 8 MiB past the regions at queue
# depth 32 from 4 jobs spread over the CPUs (so over the I/O queues) and
# verifies every block's crc32c.
#
# Lines for the host, which checks the backing file after the guest
# powered off: "UVF-E2E: NVME-WROTE OFFSET LENGTH SEED" per region written
# and still good at the end, "UVF-E2E: NVME-FS KBYTES" when the file system
# was made and checked (the host then runs e2fsck and debugfs on it).
# boot.conf: UVF_NVME_ID ("VENDOR DEVICE"), UVF_NVME_SIZE (bytes),
# UVF_NVME_SERIAL (checked when set), UVF_NVME_FIO (1: the fio check).
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_NVME_ID="0x1de0 0x0010"
UVF_NVME_SIZE=67108864
UVF_NVME_SERIAL=
UVF_NVME_FIO=0
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

# The driver's own words, whatever happens.
nvme_dmesg() {
	dmesg | grep -i -E 'nvme|blk_update|I/O error|EXT[24]' | tail -n 40 | sed 's/^/UVF-E2E: INFO dmesg: /'
}

finish() {
	nvme_dmesg
	uvf_done
}

# shellcheck disable=SC2086 # two words on purpose
if ! uvf_find_device $UVF_NVME_ID; then
	uvf_fail found "no $UVF_NVME_ID device in /sys/bus/pci/devices"
	finish
fi
dev=$UVF_DEV
uvf_pass "found ${dev##*/}"
[ ! -s /etc/uvf-e2e/expect ] || uvf_check_enumeration nvme "$dev" /etc/uvf-e2e/expect
uvf_expect nvme-class 0x010802 "$(cat "$dev/class")"

# The driver probes asynchronously: the controller, then its namespace.
uvf_nvme_wait_namespace "$dev"
ctrl=$UVF_NVME_CONTROLLER ns=$UVF_NVME_NAMESPACE
uvf_expect nvme-driver nvme "$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
if [ -z "$ns" ]; then
	uvf_fail nvme-namespace "no namespace block device after 60 s (controller '${ctrl:-none}', state $(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null))"
	finish
fi
uvf_pass "nvme-namespace $ns"
# shellcheck disable=SC2012 # counting sysfs folders
echo "UVF-E2E: INFO $ctrl: model '$(cat "/sys/class/nvme/$ctrl/model" 2>/dev/null)' serial '$(cat "/sys/class/nvme/$ctrl/serial" 2>/dev/null)' I/O queues $(ls -d "/sys/block/${ns##*/}/mq"/* 2>/dev/null | wc -l) max_hw_sectors_kb $(cat "/sys/block/${ns##*/}/queue/max_hw_sectors_kb" 2>/dev/null)"
[ -z "$UVF_NVME_SERIAL" ] ||
	uvf_expect nvme-serial "$UVF_NVME_SERIAL" "$(sed 's/ *$//' "/sys/class/nvme/$ctrl/serial" 2>/dev/null)"
uvf_expect nvme-size "$UVF_NVME_SIZE" "$(blockdev --getsize64 "$ns")"
uvf_expect nvme-lba-size 512 "$(blockdev --getss "$ns")"

# Regions: OFFSET LENGTH SEED MEMOFF, all past the file system's 16 MiB.
REGIONS="
25165824 4096 1 0
26214400 8192 2 0
27263488 65536 3 512
31457280 262144 4 0
41943040 1048576 5 0
$((UVF_NVME_SIZE - 4096)) 4096 6 0
"
AFTER_RESET="52428800 131072 7 2048"

# With several CPUs the driver has one I/O queue per CPU: regions go
# round the CPUs (by seed) so that every queue carries some.
NCPU=$(nproc 2>/dev/null || echo 1)
on_cpu() { # seed command...
	cpu=$(($1 % NCPU))
	shift
	if [ "$NCPU" -gt 1 ]; then
		taskset -c "$cpu" "$@"
	else
		"$@"
	fi
}

write_region() { # off len seed memoff
	if on_cpu "$3" /bin/nvme-io -d write "$ns" "$1" "$2" "$3" "$4" >/tmp/io.out 2>&1; then
		uvf_pass "nvme-write-$1+$2"
	else
		uvf_fail "nvme-write-$1+$2" "$(cat /tmp/io.out)"
	fi
}

# verify_region TAG off len seed memoff: O_DIRECT, from the device.
verify_region() {
	if on_cpu "$4" /bin/nvme-io -d verify "$ns" "$2" "$3" "$4" "$5" >/tmp/io.out 2>&1; then
		uvf_pass "nvme-$1-$2+$3"
		return 0
	fi
	uvf_fail "nvme-$1-$2+$3" "$(cat /tmp/io.out)"
	return 1
}

drop_caches() {
	sync
	blockdev --flushbufs "$ns" 2>/dev/null || true
	echo 3 >/proc/sys/vm/drop_caches
}

echo "$REGIONS" | while read -r off len seed memoff; do
	[ -z "$off" ] || write_region "$off" "$len" "$seed" "$memoff"
done
drop_caches
echo "$REGIONS" | while read -r off len seed memoff; do
	[ -z "$off" ] || verify_region read "$off" "$len" "$seed" "$memoff" || true
done
# Through the page cache too (buffered reads: readahead, other sizes).
echo "$REGIONS" | while read -r off len seed _; do
	[ -n "$off" ] || continue
	if /bin/nvme-io verify "$ns" "$off" "$len" "$seed" >/tmp/io.out 2>&1; then
		uvf_pass "nvme-buffered-read-$off+$len"
	else
		uvf_fail "nvme-buffered-read-$off+$len" "$(cat /tmp/io.out)"
	fi
done
# Each I/O queue's MSI-X vector (nvme0qN in /proc/interrupts) fired.
grep -E " ${ctrl}q[0-9]+\$" /proc/interrupts | sed 's/^/UVF-E2E: INFO interrupts:/'
nq=0
# shellcheck disable=SC2013 # one word per line
for q in $(grep -o -E " ${ctrl}q[1-9][0-9]*\$" /proc/interrupts); do
	nq=$((nq + 1))
	n=$(grep -E " $q\$" /proc/interrupts | awk '{ s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }')
	if [ "${n:-0}" -gt 0 ]; then
		uvf_pass "nvme-irq-$q"
	else
		uvf_fail "nvme-irq-$q" "no interrupt counted for I/O queue $q"
	fi
done
uvf_expect nvme-io-queues "$NCPU" "$nq"

# busybox dd, 256 KiB blocks with O_DIRECT: the region at 30 MiB lands at
# the same offset of a sparse copy in /tmp, which nvme-io checks.
if dd if="$ns" of=/tmp/dd.bin bs=262144 count=1 skip=120 seek=120 iflag=direct 2>/tmp/dd.err &&
	/bin/nvme-io verify /tmp/dd.bin 31457280 262144 4 >/tmp/io.out 2>&1; then
	uvf_pass nvme-dd-direct-read
else
	uvf_fail nvme-dd-direct-read "$(cat /tmp/dd.err /tmp/io.out | tr '\n' ' ')"
fi
rm -f /tmp/dd.bin

# Controller reset from the guest; I/O must go on.
state=$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)
uvf_expect nvme-state-before-reset live "$state"
if echo 1 >"/sys/class/nvme/$ctrl/reset_controller" 2>/tmp/reset.err; then
	uvf_pass nvme-reset-write
else
	uvf_fail nvme-reset-write "$(cat /tmp/reset.err)"
fi
i=0
while [ "$i" -lt 300 ]; do
	state=$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)
	[ "$state" != live ] || break
	sleep 0.1
	i=$((i + 1))
done
uvf_expect nvme-state-after-reset live "$state"
verify_region after-reset-read 25165824 4096 1 0 || true
# shellcheck disable=SC2086 # the fields
write_region $AFTER_RESET
drop_caches
# shellcheck disable=SC2086
verify_region after-reset-read $AFTER_RESET || true

# fio at queue depth 32, 4 jobs split over the CPUs, each its own 2 MiB
# from 54 MiB on (between the regions and the last page): random writes
# of 4-128 KiB, each block's crc32c verified by reading it back; fio
# stops at the first bad block. Every job must have written and verified
# all of its 2 MiB, and each I/O queue must have taken interrupts.
queue_irqs() { # the interrupt count of each I/O queue, "qN COUNT" lines
	grep -E " ${ctrl}q[1-9][0-9]*\$" /proc/interrupts |
		awk '{ s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print $NF, s }'
}
if [ "$UVF_NVME_FIO" = 1 ]; then
	if ! command -v fio >/dev/null 2>&1; then
		uvf_fail nvme-fio-verify "no fio in the guest"
	else
		queue_irqs >/tmp/irq.before
		if fio --name=verify --filename="$ns" --direct=1 --ioengine=libaio --iodepth=32 \
			--numjobs=4 --offset=54M --size=2M --offset_increment=2M \
			--rw=randwrite --bsrange=4k-128k --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--cpus_allowed="0-$((NCPU - 1))" --cpus_allowed_policy=split \
			--output-format=terse --terse-version=3 --group_reporting >/tmp/fio.out 2>&1; then
			# terse v3, all jobs: read KiB $6 (the verify pass), write KiB $47
			got=$(grep '^3;' /tmp/fio.out | awk -F';' '{ print $5, $6, $47 }')
			uvf_expect nvme-fio-verify "0 8192 8192" "$got"
		else
			uvf_fail nvme-fio-verify "fio failed: $(grep -v '^3;' /tmp/fio.out | tail -n 5 | tr '\n' ' ')"
		fi
		queue_irqs >/tmp/irq.after
		while read -r q n; do
			m=$(awk -v q="$q" '$1 == q { print $2 }' /tmp/irq.before)
			if [ "$n" -gt "${m:-0}" ]; then
				uvf_pass "nvme-fio-irq-$q $((n - ${m:-0}))"
			else
				uvf_fail "nvme-fio-irq-$q" "no interrupt on I/O queue $q during fio"
			fi
		done </tmp/irq.after
	fi
fi

# Every region still good at the end: tell the host which to check.
echo "$REGIONS
$AFTER_RESET" | while read -r off len seed memoff; do
	[ -n "$off" ] || continue
	if /bin/nvme-io -d verify "$ns" "$off" "$len" "$seed" "$memoff" >/tmp/io.out 2>&1; then
		echo "UVF-E2E: NVME-WROTE $off $len $seed"
	else
		uvf_fail "nvme-final-$off+$len" "$(cat /tmp/io.out)"
	fi
done

# File system round trip, in the first 16 MiB (the regions lie past it).
FS_KB=16384
# It must run: a guest without mke2fs or ext2 fails it, not skips it.
if ! command -v mke2fs >/dev/null 2>&1; then
	uvf_fail nvme-fs "no mke2fs in the guest: the file system round trip cannot run"
elif ! grep -q -w ext2 /proc/filesystems; then
	uvf_fail nvme-fs "no ext2 in the guest kernel (ext4 module not loaded?): the file system round trip cannot run"
else
	fs_ok=1
	fs_step() { # name command...
		fs_name=$1
		shift
		if "$@" >/tmp/fs.out 2>&1; then
			uvf_pass "nvme-fs-$fs_name"
		else
			uvf_fail "nvme-fs-$fs_name" "$* : $(tail -n 3 /tmp/fs.out | tr '\n' ' ')"
			fs_ok=0
		fi
	}
	mkdir -p /mnt
	fs_step mke2fs mke2fs -F -L uvf-e2e "$ns" "$FS_KB"
	[ "$fs_ok" = 0 ] || fs_step mount mount -t ext2 "$ns" /mnt
	if [ "$fs_ok" = 1 ]; then
		fs_step copy cp /bin/busybox /mnt/busybox
		mkdir -p /mnt/dir
		echo "hello from the uvf-nvme guest" >/mnt/dir/hello
		fs_step pattern-file /bin/nvme-io write /mnt/pattern.bin 0 300000 42
		fs_step sync sync
		fs_step umount umount /mnt
	fi
	drop_caches
	[ "$fs_ok" = 0 ] || fs_step remount mount -t ext2 -o ro "$ns" /mnt
	if [ "$fs_ok" = 1 ]; then
		fs_step read-busybox cmp /bin/busybox /mnt/busybox
		fs_step read-pattern /bin/nvme-io verify /mnt/pattern.bin 0 300000 42
		uvf_expect nvme-fs-read-hello "hello from the uvf-nvme guest" "$(cat /mnt/dir/hello 2>/dev/null)"
		fs_step umount-again umount /mnt
	fi
	[ "$fs_ok" = 0 ] || echo "UVF-E2E: NVME-FS $FS_KB"
fi

finish
