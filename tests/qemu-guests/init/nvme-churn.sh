#!/bin/sh
# /init of the uvf-nvme guests behind uvf-proxy (run-e2e.sh, nvmeproxy-*):
# the guest's nvme driver binds to the controller, then a loop writes and
# verifies patterns (guest/nvme-io.c, O_DIRECT, one seed per pass) in four
# 512 KiB regions in turn, while the host upgrades uvf-nvme in place and
# kills it with SIGKILL (the proxy restarting it). Every write and every
# verify must succeed: an I/O error reaching this program is a FAIL. The
# driver gets through a kill by its command timeout (nvme_core.io_timeout
# on the kernel command line), finding Controller Fatal Status on the
# restarted controller and resetting it.
#
# Lines for the host: "UVF-E2E: CHURN-PASS N MS" after each verified pass
# (MS: how long it took; the host paces its upgrades and kills by them); the loop stops when
# the host has written the stop pattern (nvme-io seed 99) in the last
# 4 KiB of the namespace, or after 600 passes. Then "UVF-E2E: NVME-WROTE
# OFFSET LENGTH SEED" for each region's last pattern (the host checks
# the backing file), the block layer's error count, and the guest's whole
# dmesg (lines "UVF-E2E: INFO dmesg: ...").
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_NVME_SIZE=67108864
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

finish() {
	dmesg | sed 's/^/UVF-E2E: INFO dmesg: /'
	uvf_done
}

if ! uvf_find_device 0x1de0 0x0010; then
	uvf_fail found "no 1de0:0010 device in /sys/bus/pci/devices"
	finish
fi
dev=$UVF_DEV
uvf_pass "found ${dev##*/}"

uvf_nvme_wait_namespace "$dev"
ctrl=$UVF_NVME_CONTROLLER ns=$UVF_NVME_NAMESPACE
if [ -z "$ns" ]; then
	uvf_fail nvme-namespace "no namespace block device after 60 s (controller '${ctrl:-none}')"
	finish
fi
uvf_pass "nvme-namespace $ns"
uvf_expect nvme-size "$UVF_NVME_SIZE" "$(blockdev --getsize64 "$ns")"
# the command timeout asked for on the kernel command line, if any
want=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^nvme_core\.io_timeout=//p')
if [ -n "$want" ]; then
	uvf_expect nvme-io-timeout "$want" "$(cat /sys/module/nvme_core/parameters/io_timeout 2>/dev/null)"
else
	echo "UVF-E2E: INFO io_timeout $(cat /sys/module/nvme_core/parameters/io_timeout 2>/dev/null) s"
fi

REGION_LEN=524288
STOP_OFF=$((UVF_NVME_SIZE - 4096))
pass=0 bad=0
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
: >/tmp/last
echo "UVF-E2E: CHURN-RUNNING"
while [ "$pass" -lt 600 ]; do
	t0=$(now_ms)
	# every read and write inside a pass's time (the host looks there
	# for the stall after a kill)
	if /bin/nvme-io -d verify "$ns" "$STOP_OFF" 4096 99 >/dev/null 2>&1; then
		break
	fi
	pass=$((pass + 1))
	off=$((8388608 + (pass % 4) * REGION_LEN))
	seed=$((1000 + pass))
	if ! /bin/nvme-io -d write "$ns" "$off" "$REGION_LEN" "$seed" >/tmp/io.out 2>&1; then
		uvf_fail "churn-write-$pass" "$(cat /tmp/io.out)"
		bad=$((bad + 1))
		break
	fi
	if ! /bin/nvme-io -d verify "$ns" "$off" "$REGION_LEN" "$seed" >/tmp/io.out 2>&1; then
		uvf_fail "churn-verify-$pass" "$(cat /tmp/io.out)"
		bad=$((bad + 1))
		break
	fi
	# the region's last pattern
	grep -v "^$off " /tmp/last >/tmp/last.new || true
	echo "$off $REGION_LEN $seed" >>/tmp/last.new
	mv /tmp/last.new /tmp/last
	echo "UVF-E2E: CHURN-PASS $pass $(($(now_ms) - t0))"
done
if [ "$bad" = 0 ]; then
	uvf_pass "churn $pass passes written and verified"
fi
# each region once more, after everything
while read -r off len seed; do
	if /bin/nvme-io -d verify "$ns" "$off" "$len" "$seed" >/tmp/io.out 2>&1; then
		echo "UVF-E2E: NVME-WROTE $off $len $seed"
	else
		uvf_fail "churn-final-$off" "$(cat /tmp/io.out)"
	fi
done </tmp/last
# no I/O error reached the block layer's users
errs=$(dmesg | grep -c -E 'I/O error|blk_update_request|Buffer I/O error' || true)
uvf_expect churn-block-errors 0 "${errs:-0}"
echo "UVF-E2E: INFO controller state $(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)"
finish
