#!/usr/bin/env bash
# Build (once) and cache a Debian chroot whose QEMU has the vfio-user client
# (-device vfio-user-pci, QEMU >= 10.1), a guest kernel and busybox-static
# for the end-to-end tests, plus fio for the guests' I/O load (a second
# layer, installed with the chroot's apt, so adding it does not
# bootstrap the chroot again).
#
# Usage: tests/qemu-guests/setup-chroot.sh
#
# Environment:
#   UVF_CACHE_DIR    cache directory (default /var/cache/uvf); the chroot is in its e2e-chroot/
#   UVF_E2E_SUITE    Debian suite to bootstrap (default testing)
#   UVF_E2E_MIRROR   mirror (default http://deb.debian.org/debian)
#
# Progress goes to stderr, the debootstrap output to $CACHE/e2e-setup.log.
# The last line on stdout is the chroot path, so
#   ROOT=$(tests/qemu-guests/setup-chroot.sh)
# works. A run that finds a valid stamp finishes in well under a second.
#
# Cache layout ($CACHE):
#   e2e-root/                      the chroot (complete once the stamp is in)
#   e2e-root/.uvf-e2e-stamp        written last; holds the recipe id
#   e2e-root/.uvf-e2e-extra-stamp  the extra layer's recipe id (fio)
#   e2e-root/run/uvf/              where device sockets go (QEMU sees /run/uvf)
#   e2e-setup.log                  log of all steps
#   e2e.lock                       serializes concurrent runs
#
# QEMU is run as `chroot ROOT qemu-system-x86_64 ...` (its libraries live
# there), so paths given to it are relative to ROOT. Needs root.

set -euo pipefail

CACHE=${UVF_CACHE_DIR:-/var/cache/uvf}/e2e-chroot
SUITE=${UVF_E2E_SUITE:-testing}
MIRROR=${UVF_E2E_MIRROR:-http://deb.debian.org/debian}
ROOT=$CACHE/e2e-root
LOG=$CACHE/e2e-setup.log
STAMP=$ROOT/.uvf-e2e-stamp
INCLUDE=qemu-system-x86,linux-image-amd64,busybox-static
EXTRA=fio
EXTRA_STAMP=$ROOT/.uvf-e2e-extra-stamp

# Bump when the recipe changes: a different id forces a rebuild.
RECIPE="uvf-e2e-chroot-1 $SUITE $INCLUDE"
# The extra layer's id: a change installs EXTRA again on the same chroot.
EXTRA_RECIPE="uvf-e2e-extra-1 $EXTRA"

say() { printf 'e2e-setup: %s\n' "$*" >&2; }

fail_tail() {
	local rc=$?
	say "FAILED (exit $rc); last lines of $LOG:"
	tail -n 30 "$LOG" >&2 2>/dev/null || true
	exit "$rc"
}

if [ "$(id -u)" -ne 0 ]; then
	say "needs root (debootstrap and chroot)"
	exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/e2e.lock"
flock 9

# The chroot is usable when QEMU starts inside it and knows vfio-user-pci.
chroot_ok() {
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] || return 1
	ls "$ROOT"/boot/vmlinuz-* >/dev/null 2>&1 || return 1
	[ -x "$ROOT/usr/bin/busybox" ] || return 1
	chroot "$ROOT" qemu-system-x86_64 -device vfio-user-pci,help 2>/dev/null | grep -q socket
}

extra_ok() {
	[ -f "$EXTRA_STAMP" ] && [ "$(cat "$EXTRA_STAMP")" = "$EXTRA_RECIPE" ] || return 1
	chroot "$ROOT" fio --version >/dev/null 2>&1
}

# The extra layer: EXTRA from the chroot's own apt (its lists may be stale
# on a chroot bootstrapped long ago: update them once when install fails).
install_extra() {
	local start
	start=$(date +%s)
	say "installing $EXTRA in the chroot (log: $LOG)"
	rm -f "$EXTRA_STAMP"
	{
		chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends ${EXTRA//,/ } ||
			{ chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update &&
			  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y --no-install-recommends ${EXTRA//,/ }; }
		rm -f "$ROOT"/var/cache/apt/archives/*.deb
		chroot "$ROOT" fio --version
	} >>"$LOG" 2>&1
	echo "$EXTRA_RECIPE" >"$EXTRA_STAMP"
	say "$EXTRA installed in $(( $(date +%s) - start ))s"
}

if chroot_ok; then
	if ! extra_ok; then
		trap fail_tail ERR
		printf '\n==== %s e2e extra layer ====\n' "$(date -u +%FT%TZ)" >>"$LOG"
		install_extra
		trap - ERR
	fi
	echo "$ROOT"
	exit 0
fi

trap fail_tail ERR
: >>"$LOG"
printf '\n==== %s e2e setup run ====\n' "$(date -u +%FT%TZ)" >>"$LOG"

if ! command -v debootstrap >/dev/null 2>&1; then
	say "installing debootstrap"
	{
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; }
	} >>"$LOG" 2>&1
fi

# Bootstrap next to the final place and rename at the end, so an interrupted
# run never leaves a chroot that looks complete.
TMP=$CACHE/e2e-root.tmp
rm -rf "$TMP" "$ROOT"
say "debootstrap $SUITE into $ROOT (about a minute, ~900 MB; log: $LOG)"
start=$(date +%s)
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$TMP" "$MIRROR" >>"$LOG" 2>&1
# Downloaded .debs are not needed any more.
rm -f "$TMP"/var/cache/apt/archives/*.deb
mkdir -p "$TMP/run/uvf"
mv "$TMP" "$ROOT"
say "debootstrap finished in $(( $(date +%s) - start ))s"

{
	echo "--- qemu inside the chroot:"
	chroot "$ROOT" qemu-system-x86_64 --version
	echo "--- vfio-user-pci properties:"
	chroot "$ROOT" qemu-system-x86_64 -device vfio-user-pci,help
} >>"$LOG" 2>&1
chroot "$ROOT" qemu-system-x86_64 -device vfio-user-pci,help 2>/dev/null | grep -q socket || {
	echo "qemu in the chroot has no vfio-user-pci device" >>"$LOG"
	false
}
echo "$RECIPE" >"$STAMP"
chroot_ok
install_extra
extra_ok
trap - ERR
say "$(chroot "$ROOT" qemu-system-x86_64 --version | head -n1), kernel $(basename "$(ls "$ROOT"/boot/vmlinuz-* | tail -n1)"), $(du -sh "$ROOT" | cut -f1)"
echo "$ROOT"
