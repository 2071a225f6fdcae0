#!/bin/sh
# /init of the uvf-idio16 guest (run-e2e.sh): Linux's own driver
# (gpio-pci-idio-16, loaded by uvf_setup) binds to the card; the guest's
# view of it is checked against the declaration the host read from the
# device (/etc/uvf-e2e/expect); /bin/idio16-check sets the outputs and
# waits for input edges that the host drives (see tests/qemu-guests/guest/); the
# edges arrive by INTx, so the card's interrupt line must have counted
# some in /proc/interrupts.
# shellcheck source=/dev/null
. /lib/uvf-e2e.sh
# shellcheck source=/dev/null
. /lib/uvf-checks.sh
UVF_RESET_METHOD=none
# idio16-check's checks with two rounds: driver-bound, find-chip,
# line-names, set-outputs, inputs-differ, edge-event, read-inputs,
# edge-event-2, read-inputs-2.
IDIO16_CHECKS=9
# shellcheck source=/dev/null
[ ! -f /etc/uvf-e2e/boot.conf ] || . /etc/uvf-e2e/boot.conf
uvf_setup

if ! uvf_find_device 0x494f 0x0dc8; then
	uvf_fail found "no 494f:0dc8 device in /sys/bus/pci/devices"
	uvf_done
fi
dev=$UVF_DEV
uvf_pass "found ${dev##*/}"
uvf_check_enumeration idio16 "$dev" /etc/uvf-e2e/expect
uvf_check_reset idio16 "$dev" "$UVF_RESET_METHOD" 0 0 0 0
driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)
uvf_expect idio16-driver pci-idio-16 "$driver"

irq=$(cat "$dev/irq")
before=$(uvf_irq_count "$irq")
uvf_run_program idio16-check "$IDIO16_CHECKS" /bin/idio16-check --timeout=60 --rounds=2
after=$(uvf_irq_count "$irq")
echo "UVF-E2E: INFO /proc/interrupts:$(grep "^ *$irq:" /proc/interrupts)"
if [ "$after" -gt "$before" ] && [ "$after" -gt 0 ]; then
	uvf_pass "idio16-intx-counted"
else
	uvf_fail "idio16-intx-counted" "IRQ $irq counted $before before the input rounds, $after after"
fi
uvf_done
