#!/usr/bin/env bash
# A QEMU wrapper for accel-test.sh (UVF_E2E_QEMU_WRAPPER): runs its
# arguments (chroot ROOT qemu-system-x86_64 ...) unchanged, except when
# they ask for "-accel kvm". Then, by FAKE_KVM_MODE:
#
#   hang   (default) print what QEMU printed on a host whose KVM opens but
#          cannot run a guest (an internal error and a register dump) and
#          hang, as that QEMU did, until killed
#   exit   print the same and exit with status 1
#   tcg    a working KVM, stood in for by TCG: "-accel kvm -cpu host"
#          becomes "-accel tcg" (the guest does get going)
set -u

kvm=0 args=() prev=''
for a in "$@"; do
	if [ "$prev" = -accel ] && [ "$a" = kvm ]; then
		kvm=1
	fi
	args+=("$a")
	prev=$a
done
[ "$kvm" = 1 ] || exec "$@"

mode=${FAKE_KVM_MODE:-hang}
if [ "$mode" = tcg ]; then
	out=() prev=''
	for a in "${args[@]}"; do
		if [ "$prev" = -accel ] && [ "$a" = kvm ]; then
			out+=(tcg)
		elif [ "$prev" = -cpu ] && [ "$a" = host ]; then
			unset 'out[${#out[@]}-1]' # -cpu host needs KVM
		else
			out+=("$a")
		fi
		prev=$a
	done
	exec "${out[@]}"
fi

cat >&2 <<'DUMP'
KVM internal error. Suberror: 3
extra data[0]: 0x0000000080000b0e
extra data[1]: 0x0000000000000031
EAX=00000000 EBX=00000000 ECX=00000000 EDX=000806f8
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000
EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 00000000 0000ffff 00009300
CS =f000 ffff0000 0000ffff 00009b00
Code=<fake> kvm-pvm: INTERNAL_ERROR in batch emul (fake-broken-kvm.sh)
DUMP
case $mode in
exit) exit 1 ;;
*) exec sleep 3600 ;;
esac
