#!/bin/sh
# /init of the uvf-dmatest guests (run-e2e.sh; q35 with a virtual IOMMU):
# checks the guest's view of the device against the declaration the host
# read from it (/etc/uvf-e2e/expect), resets it through sysfs (the kernel
# must pick the method boot.conf names), then binds it to vfio-pci and
# runs /bin/vfio-dmatest (DMA both ways, every MSI-X vector, MSI, INTx,
# VFIO_DEVICE_RESET; see tests/qemu-guests/guest/README.md), which must make
# every one of its DMATEST_CHECKS checks and pass them all.
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_RESET_METHOD=flr
# The checks vfio-dmatest makes on uvf-dmatest (type1 IOMMU, with the
# reset checks; see guest/README.md): 15 vfio, config space, BAR and IRQ
# info checks up to bar0-identity; 4 DMA (dma-buffers, -copy, -fill,
# -unmapped); 6 MSI-X (enable, vectors 0-3, disable), 3 MSI, 4 INTx;
# 6 BAR4; 5 reset. Change it with the program or the device.
DMATEST_CHECKS=43
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

if ! uvf_find_device 0x1de0 0x0002; then
	uvf_fail found "no 1de0:0002 device in /sys/bus/pci/devices"
	uvf_done
fi
dev=$UVF_DEV
bdf=${dev##*/}
uvf_pass "found $bdf"
uvf_check_enumeration dmatest "$dev" /etc/uvf-e2e/expect
# SRC_LO (0x08) must read 0 after the reset, ID (0x0) be back.
uvf_check_reset dmatest "$dev" "$UVF_RESET_METHOD" 0x08 0x12345678 0 0x54414d44

# vfio-pci takes every 1de0:0002 function without a driver
echo 1de0 0002 >/sys/bus/pci/drivers/vfio-pci/new_id
uvf_expect vfio-bind vfio-pci "$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
uvf_run_program vfio-dmatest "$DMATEST_CHECKS" /bin/vfio-dmatest "$bdf"
uvf_done
