#!/bin/sh
# /init of the vfu-sgl-dma guests (run-e2e.sh; pc, no IOMMU): the device
# is compat/libvfio-user/samples/sgl_dma.c, written against the
# libvfio-user API and run on uvf's libvfio-user.so.0. The guest's view of
# it is checked against the declaration the host read from it
# (/etc/uvf-e2e/expect); then /bin/vfu-sgl-check, with no driver, writes
# its BAR0 registers through sysfs resource0 and has it FILL and SUM guest
# pages at their physical addresses (the sample reaches them with
# vfu_addr_to_sgl and vfu_sgl_get/put with shared guest RAM,
# vfu_sgl_read/write with private), and checks the memory and the results.
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_RESET_METHOD=none
# shared or private guest RAM (boot.conf)
UVF_SGLDMA_MEMORY=shared
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup
# vfu-sgl-check's checks: bar0-map, bus-master, registers, page, fill,
# sum, hugepage, fill-pages, sum-64k, refused-len-0, refused-len-big,
# refused-addr, fill-after-refused; with private RAM no sum and sum-64k
# (see the program). Change them with the program.
SGLDMA_CHECKS=13 private=
if [ "$UVF_SGLDMA_MEMORY" = private ]; then
	SGLDMA_CHECKS=11 private=--private
fi

if ! uvf_find_device 0x4e58 0x0102; then
	uvf_fail found "no 4e58:0102 device in /sys/bus/pci/devices"
	uvf_done
fi
dev=$UVF_DEV
uvf_pass "found ${dev##*/}"
uvf_check_enumeration sgldma "$dev" /etc/uvf-e2e/expect
uvf_check_reset sgldma "$dev" "$UVF_RESET_METHOD" 0 0 0 0
# shellcheck disable=SC2086 # $private: no word or one
uvf_run_program vfu-sgl-check "$SGLDMA_CHECKS" /bin/vfu-sgl-check $private "${dev##*/}"
uvf_done
