#!/usr/bin/env bash
# Build a small initramfs (newc cpio, gzip) for an end-to-end guest.
#
# Usage: tests/qemu-guests/mkinitramfs.sh OUT.cpio.gz --init SCRIPT
#            [--module NAME ...] [--file SRC:DEST ...] [--program PATH ...]
#
#   --init SCRIPT    becomes /init (a /bin/sh script run by the kernel)
#   --module NAME    a kernel module of the chroot's kernel; it and the
#                    modules it depends on (modules.dep) are put in, unpacked,
#                    and listed in load order in /etc/uvf-e2e/modules
#   --file SRC:DEST  copy a host file or folder to DEST in the initramfs
#   --program PATH   a dynamically linked program of the chroot (e.g.
#                    /usr/bin/fio): it, its shared libraries (as the
#                    chroot's ldd finds them), the dynamic loader and
#                    ld.so.cache, at the same paths as in the chroot, in a
#                    second archive cached beside the chroot
#
# Environment: UVF_E2E_ROOT, the chroot (default: what setup-chroot.sh
# prints; it is built on first use).
#
# The initramfs has busybox-static with a /bin symlink for every applet and
# /lib/uvf-e2e.sh, a helper library for /init (see below: uvf_setup,
# uvf_pass, uvf_fail, uvf_done). Quiet on success; errors go to stderr.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

die() { printf 'mkinitramfs: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,18s/^# \{0,1\}//p' "$0" >&2; exit 2; }

OUT='' INIT=''
MODULES=() FILES=() PROGRAMS=()
[ $# -gt 0 ] || usage
case $1 in -h|--help) usage ;; -*) die "first argument must be the output file" ;; esac
OUT=$1
shift
while [ $# -gt 0 ]; do
	case $1 in
	--init) [ $# -ge 2 ] || usage; INIT=$2; shift 2 ;;
	--module) [ $# -ge 2 ] || usage; MODULES+=("$2"); shift 2 ;;
	--file) [ $# -ge 2 ] || usage; FILES+=("$2"); shift 2 ;;
	--program) [ $# -ge 2 ] || usage; PROGRAMS+=("$2"); shift 2 ;;
	-h|--help) usage ;;
	*) die "unknown argument: $1" ;;
	esac
done
[ -n "$INIT" ] || die "--init SCRIPT is required"
[ -f "$INIT" ] || die "no such init script: $INIT"

ROOT=${UVF_E2E_ROOT:-}
if [ -z "$ROOT" ]; then
	ROOT=$("$HERE/setup-chroot.sh" | tail -n1)
fi
BUSYBOX=$ROOT/usr/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox in $ROOT (run setup-chroot.sh)"
# The newest kernel of the chroot: boot.sh boots the same one.
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/*/ | sort -V | tail -n1)")
MODDIR=$ROOT/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || die "no modules.dep in $MODDIR"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/uvf-initramfs.XXXXXX")
trap 'rm -rf "$STAGE" "$STAGE.programs"' EXIT

mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,run,etc/uvf-e2e,lib/modules}
ln -s bin "$STAGE/sbin"
mkdir -p "$STAGE/usr"
ln -s ../bin "$STAGE/usr/bin"
ln -s ../bin "$STAGE/usr/sbin"
cp "$BUSYBOX" "$STAGE/bin/busybox"
# The static busybox runs on the host too: ask it for its applets.
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$STAGE/bin/$applet"
done

# --- modules -----------------------------------------------------------------
# modules.dep: "path: dep dep ...", paths relative to MODDIR, dependencies
# listed so that the last one is loaded first.
declare -A DEP_OF=() PATH_OF=() SEEN=()
while IFS= read -r line; do
	path=${line%%:*}
	name=${path##*/}
	name=${name%%.ko*}
	name=${name//-/_}
	PATH_OF[$name]=$path
	DEP_OF[$path]=${line#*:}
done <"$MODDIR/modules.dep"

ORDER=()
add_module() { # path
	local path=$1 deps i
	[ -z "${SEEN[$path]:-}" ] || return 0
	SEEN[$path]=1
	read -r -a deps <<<"${DEP_OF[$path]:-}"
	for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
		add_module "${deps[i]}"
	done
	ORDER+=("$path")
}

unpack() { # src dest
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -q -dc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*.ko) cp "$1" "$2" ;;
	*) die "unknown module file type: $1" ;;
	esac
}

for m in "${MODULES[@]}"; do
	key=${m//-/_}
	if [ -n "${PATH_OF[$key]:-}" ]; then
		add_module "${PATH_OF[$key]}"
	elif grep -qE "/${m//[-_]/[-_]}\.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
		: # built into the kernel: nothing to load
	else
		die "no module $m in $MODDIR"
	fi
done

: >"$STAGE/etc/uvf-e2e/modules"
for path in "${ORDER[@]}"; do
	dest=lib/modules/$KVER/${path%.ko*}.ko
	mkdir -p "$STAGE/$(dirname "$dest")"
	unpack "$MODDIR/$path" "$STAGE/$dest" || die "cannot unpack $path"
	echo "/$dest" >>"$STAGE/etc/uvf-e2e/modules"
done

# --- extra files ---------------------------------------------------------------
for spec in "${FILES[@]}"; do
	src=${spec%%:*}
	dest=${spec#*:}
	[ "$src" != "$spec" ] && [ -n "$dest" ] || die "--file wants SRC:DEST, got $spec"
	[ -e "$src" ] || die "no such file: $src"
	dest=${dest#/}
	mkdir -p "$STAGE/$(dirname "$dest")"
	cp -a "$src" "$STAGE/$dest"
done

# --- programs of the chroot with their libraries ---------------------------------
# They go into a second archive, which the kernel unpacks after the first
# (concatenated newc archives). It is cached next to the chroot, keyed by
# the programs, the chroot's recipe stamps and the programs' files, since
# compressing fio's 56 MB of libraries takes longer than all the rest.
PROGRAM_ARCHIVE=
if [ ${#PROGRAMS[@]} -gt 0 ]; then
	key=$({
		printf '%s\n' "${PROGRAMS[@]}"
		cat "$ROOT"/.uvf-e2e-*stamp 2>/dev/null
		for prog in "${PROGRAMS[@]}"; do stat -L -c '%s %Y' "$ROOT/$prog" 2>/dev/null; done
	} | sha256sum | cut -c1-16)
	PROGRAM_ARCHIVE=$(dirname "$ROOT")/initramfs-programs-$key.cpio.gz
fi
if [ -n "$PROGRAM_ARCHIVE" ] && [ ! -s "$PROGRAM_ARCHIVE" ]; then
	PSTAGE=$STAGE.programs
	mkdir -p "$PSTAGE"
	# /usr/bin is a link to /bin in the initramfs: programs go to /bin.
	copy_from_root() { # path in the chroot -> the same path (links followed)
		local dest=${1#/}
		case $dest in usr/bin/* | usr/sbin/* | sbin/*) dest=bin/${dest##*/} ;; esac
		[ -e "$PSTAGE/$dest" ] && return 0
		mkdir -p "$PSTAGE/$(dirname "$dest")"
		cp -L "$ROOT/$1" "$PSTAGE/$dest" || die "cannot copy $1 from $ROOT"
	}
	for prog in "${PROGRAMS[@]}"; do
		[ -x "$ROOT/$prog" ] || die "no program $prog in $ROOT"
		libs=$(chroot "$ROOT" ldd "$prog") || die "ldd $prog failed in $ROOT"
		copy_from_root "$prog"
		# "name => /path (addr)" and the loader's "/path (addr)"
		for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
			copy_from_root "$lib"
		done
	done
	copy_from_root /etc/ld.so.cache
	(cd "$PSTAGE" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) |
		gzip -6n >"$PROGRAM_ARCHIVE.tmp.$$"
	rm -rf "$PSTAGE"
	# archives of an earlier chroot or program set are not needed any more
	find "$(dirname "$ROOT")" -maxdepth 1 -name 'initramfs-programs-*.cpio.gz' ! -name "${PROGRAM_ARCHIVE##*/}" -delete
	mv "$PROGRAM_ARCHIVE.tmp.$$" "$PROGRAM_ARCHIVE"
fi

# --- helpers for /init ---------------------------------------------------------
cat >"$STAGE/lib/uvf-e2e.sh" <<'EOF'
# Helpers for an end-to-end guest's /init: source with ". /lib/uvf-e2e.sh".
# Result lines on the console, read by the host:
#   UVF-E2E: INIT            /init started (uvf_setup)
#   UVF-E2E: PASS name
#   UVF-E2E: FAIL name: why
#   UVF-E2E: DONE            all checks ran (uvf_done)
UVF_FAILS=0

uvf_pass() { echo "UVF-E2E: PASS $*"; }

uvf_fail() { # name why...
	local name=$1
	shift
	echo "UVF-E2E: FAIL $name: $*"
	UVF_FAILS=$((UVF_FAILS + 1))
}

# uvf_expect name expected actual: PASS when equal.
uvf_expect() {
	if [ "$2" = "$3" ]; then
		uvf_pass "$1"
	else
		uvf_fail "$1" "expected '$2', got '$3'"
	fi
}

# Mount the pseudo file systems, quiet the kernel, load the modules that
# mkinitramfs put in (in dependency order, with their parameters from the
# kernel command line).
uvf_setup() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
	mount -t tmpfs tmpfs /tmp
	dmesg -n 1
	# own line: the firmware leaves escape codes before it
	printf '\nUVF-E2E: INIT\n'
	local ko name opts w
	while read -r ko; do
		[ -n "$ko" ] || continue
		# MODULE.PARAM=VALUE on the kernel command line, as modprobe
		# would pass it (insmod does not look)
		name=$(basename "$ko" .ko | tr - _)
		opts=''
		for w in $(cat /proc/cmdline); do
			case $w in "$name".?*=*) opts="$opts ${w#"$name".}" ;; esac
		done
		# shellcheck disable=SC2086 # one word per parameter
		if insmod "$ko" $opts 2>/tmp/insmod.err; then
			:
		else
			uvf_fail "insmod-$(basename "$ko" .ko)" "$(cat /tmp/insmod.err)"
		fi
	done </etc/uvf-e2e/modules
}

# Print DONE and power off (QEMU runs with -no-reboot and exits).
uvf_done() {
	echo "UVF-E2E: DONE ($UVF_FAILS failed)"
	sync
	poweroff -f
	sleep 5
}
EOF

install -m 0755 "$INIT" "$STAGE/init"

# --- archive ---------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) |
	gzip -6n >"$OUT.tmp"
[ -z "$PROGRAM_ARCHIVE" ] || cat "$PROGRAM_ARCHIVE" >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
