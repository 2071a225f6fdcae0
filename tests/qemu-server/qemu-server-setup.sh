#!/usr/bin/env bash
# Build (once) and cache a QEMU 7.2 qemu-system-x86_64 that has the
# x-vfio-user-server object, from Debian bookworm's qemu *source* package.
#
# Usage: tests/qemu-server/qemu-server-setup.sh
#
# Environment:
#   UVF_CACHE_DIR          cache directory (default /var/cache/uvf); the build is in its qemu-7.2-vfio-user/
#   UVF_APT_SOURCES_LIST   optional file with deb-src lines to use instead of
#                          the ones derived from the system's apt sources
#
# Progress goes to stderr, the full build output to $CACHE/build.log.
# The last line on stdout is the path of the cached binary, so
#   QEMU=$(tests/qemu-server/qemu-server-setup.sh)
# works. Runs that find a valid stamp finish in well under a second.
#
# Cache layout ($CACHE):
#   apt/                 private apt state (sources.list, lists, cache)
#   src/                 apt-get source output (patched tree qemu-7.2+dfsg/)
#   build/               meson/ninja build directory
#   share/               option ROMs (-L directory for qemu-server-run.sh)
#   qemu-system-x86_64   symlink to build/qemu-system-x86_64
#   build.log            log of all steps
#   stamp                written last; holds the recipe id
#
# Nothing is written outside $CACHE except the apt-get install of the
# packages listed in PKGS (only those that are missing).

set -euo pipefail

CACHE=${UVF_CACHE_DIR:-/var/cache/uvf}/qemu-7.2-vfio-user
LOG=$CACHE/build.log
STAMP=$CACHE/stamp
BIN=$CACHE/qemu-system-x86_64

# Debian packages needed to fetch, build and run (found by trial on a
# bookworm system; libcmocka-dev is a hard dependency of the embedded
# libvfio-user's meson.build, libfdt-dev because x86_64-softmmu needs fdt and
# the dfsg tarball has no dtc copy, meson because the tarball has no bundled
# meson, ipxe-qemu for the e1000/e1000e option ROMs).
PKGS=(
    dpkg-dev build-essential python3 ninja-build meson pkg-config
    libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev libjson-c-dev
    libcmocka-dev ipxe-qemu
)

CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --without-default-features
    --enable-kvm            # Kconfig: MULTIPROCESS depends on KVM (runtime uses TCG)
    --enable-multiprocess   # provides the x-remote machine
    --enable-vfio-user-server
    --disable-docs --disable-tools --disable-guest-agent
    --disable-debug-info --disable-werror
)

# Bump when the recipe changes: a different id forces a rebuild.
RECIPE="uvf-qemu-7.2-vfio-user-1 ${CONFIGURE_ARGS[*]}"

ROMS=(efi-e1000.rom efi-e1000e.rom)

say() { printf 'qemu-setup: %s\n' "$*" >&2; }

fail_tail() {
    local rc=$?
    say "FAILED (exit $rc); last lines of $LOG:"
    tail -n 40 "$LOG" >&2 2>/dev/null || true
    exit "$rc"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root to run: $*"
        return 1
    fi
}

# --- step 0: cache dir, lock, log ------------------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# --- step 1: packages (fast when everything is installed) ------------------
missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done

rom_ok() {
    local r
    for r in "${ROMS[@]}"; do [ -s "$CACHE/share/$r" ] || return 1; done
}

# --- fast path ---------------------------------------------------------------
if [ ${#missing[@]} -eq 0 ] && [ -f "$STAMP" ] &&
   [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$BIN" ] && rom_ok &&
   "$BIN" --version >/dev/null 2>&1; then
    echo "$BIN"
    exit 0
fi

trap fail_tail ERR
: >>"$LOG"
printf '\n==== %s qemu-server-setup run ====\n' "$(date -u +%FT%TZ)" >>"$LOG"

if [ ${#missing[@]} -gt 0 ]; then
    say "installing packages: ${missing[*]}"
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update ||
            say "apt-get update failed, trying install anyway"
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}"
    } >>"$LOG" 2>&1
fi

# --- step 2: source via a private apt directory ----------------------------
APTDIR=$CACHE/apt
APT_OPTS=(
    -o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "APT::Sandbox::User=root"
)

# Derive deb-src lines from the system's bookworm "deb" entries (deb822
# *.sources and one-line *.list); fall back to deb.debian.org.
derive_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                    n = split(suites, S, " "); m = split(uris, U, " ")
                    for (i = 1; i <= m; i++) for (j = 1; j <= n; j++)
                        if (S[j] ~ /^bookworm/ && U[i] ~ /debian/)
                            printf "deb-src [signed-by=%s] %s %s main\n", \
                                (sb != "" ? sb : "/usr/share/keyrings/debian-archive-keyring.gpg"), \
                                U[i], S[j]
                }
                types = uris = suites = sb = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                k = $1; sub(/:$/, "", k); $1 = ""; v = $0; sub(/^[ \t]+/, "", v)
                k = tolower(k)
                if (k == "types") types = v
                else if (k == "uris") uris = v
                else if (k == "suites") suites = v
                else if (k == "signed-by" && v ~ /^\//) sb = v
                else if (k == "enabled") enabled = tolower(v)
            }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                opt = ""; i = 2
                if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opt = opt $i " "; i++ } opt = opt $i " "; i++ }
                if ($(i+1) ~ /^bookworm/ && $i ~ /debian/) print "deb-src " opt $i " " $(i+1) " main"
            }' "$f"
    done
}

if [ ! -f "$CACHE/src/.fetched" ]; then
    say "fetching qemu source (apt-get source, private apt dir)"
    rm -rf "$APTDIR" "$CACHE/src"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$CACHE/src"
    if [ -n "${UVF_APT_SOURCES_LIST:-}" ]; then
        cp "$UVF_APT_SOURCES_LIST" "$APTDIR/sources.list"
    else
        derive_sources | sort -u >"$APTDIR/sources.list"
    fi
    if ! [ -s "$APTDIR/sources.list" ]; then
        for s in bookworm bookworm-updates; do
            echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $s main"
        done >"$APTDIR/sources.list"
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" \
            >>"$APTDIR/sources.list"
    fi
    (
        echo "--- private sources.list:"; cat "$APTDIR/sources.list"
        apt-get "${APT_OPTS[@]}" update
        cd "$CACHE/src"
        apt-get "${APT_OPTS[@]}" source qemu
    ) >>"$LOG" 2>&1
    srcdir=$(find "$CACHE/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-7.2*' | head -n1)
    [ -n "$srcdir" ] && [ -f "$srcdir/subprojects/libvfio-user/meson.build" ] || {
        echo "no qemu-7.2 tree with subprojects/libvfio-user found" >>"$LOG"
        false
    }
    basename "$srcdir" >"$CACHE/src/.fetched"
fi
SRC=$CACHE/src/$(cat "$CACHE/src/.fetched")
say "source tree: $SRC"

# --- step 3: configure -------------------------------------------------------
BUILD=$CACHE/build
if [ ! -f "$BUILD/.configured" ] || [ "$(cat "$BUILD/.configured")" != "$RECIPE" ]; then
    say "configuring (x86_64-softmmu, vfio-user server)"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    (cd "$BUILD" && "$SRC/configure" "${CONFIGURE_ARGS[@]}") >>"$LOG" 2>&1
    echo "$RECIPE" >"$BUILD/.configured"
fi

# --- step 4: build -----------------------------------------------------------
say "building qemu-system-x86_64 with ninja -j$(nproc) (log: $LOG)"
start=$(date +%s)
ninja -C "$BUILD" -j"$(nproc)" qemu-system-x86_64 >>"$LOG" 2>&1
say "build finished in $(( $(date +%s) - start ))s"

# --- step 5: runtime files ---------------------------------------------------
mkdir -p "$CACHE/share"
for r in "${ROMS[@]}"; do
    cp -f "/usr/lib/ipxe/qemu/$r" "$CACHE/share/$r"
done
ln -sfn build/qemu-system-x86_64 "$BIN"
"$BIN" -object help 2>>"$LOG" | grep -q x-vfio-user-server || {
    echo "built binary lacks x-vfio-user-server" >>"$LOG"
    false
}

echo "$RECIPE" >"$STAMP"
trap - ERR
say "done"
echo "$BIN"
