#!/usr/bin/env bash
# Run the cached QEMU 7.2 as a vfio-user server exporting one emulated PCI
# device on a UNIX socket. QEMU is exec'd in the foreground, so the pid of
# this script is QEMU's pid (kill it with SIGTERM to stop the server).
#
# Usage: tests/qemu-server/qemu-server-run.sh DEVICE SOCKET_PATH [EXTRA_QEMU_ARGS...]
#
#   DEVICE       lsi53c895a | e1000 | e1000e | nvme | any other PCI device
#                model; ",prop=value" suffixes are passed to -device.
#   SOCKET_PATH  UNIX socket QEMU listens on (a stale socket there is removed).
#
# Environment:
#   UVF_QEMU        QEMU binary (default: the one qemu-server-setup.sh built)
#   UVF_CACHE_DIR   cache directory of qemu-server-setup.sh (default /var/cache/uvf)
#
# The socket file appears ~60 ms after exec. It is bound before listen(), so
# a connect() right after it appears can fail with ECONNREFUSED: retry.
# Never probe with connect()+close(): a client that leaves before VERSION
# makes QEMU abort(). QEMU serves exactly one client and exits (status 0)
# when that client disconnects; the socket file is left behind.
# See QEMU-SERVER-FACTS.md.

set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 DEVICE SOCKET_PATH [EXTRA_QEMU_ARGS...]" >&2
    exit 2
fi
DEVICE=$1
SOCK=$2
shift 2

CACHE=${UVF_CACHE_DIR:-/var/cache/uvf}/qemu-7.2-vfio-user
QEMU=${UVF_QEMU:-$CACHE/qemu-system-x86_64}
if [ ! -x "$QEMU" ]; then
    echo "$0: $QEMU not found; run tests/qemu-server/qemu-server-setup.sh first" >&2
    exit 3
fi

if [ -S "$SOCK" ]; then
    rm -f "$SOCK"
elif [ -e "$SOCK" ]; then
    echo "$0: $SOCK exists and is not a socket" >&2
    exit 2
fi

model=${DEVICE%%,*}
devargs=()
# NICs get no netdev: QEMU then warns "nic uvfdev0 has no peer" on stderr,
# which is harmless (a hubport peer only swaps in another warning).
case "$model" in
    nvme)
        # A 64 MiB namespace backed by the null block driver (reads zeroes).
        devargs=(
            -blockdev driver=null-co,node-name=uvfnvm0,size=67108864,read-zeroes=on
            -device "$DEVICE,id=uvfdev0,serial=uvf-nvme-0,drive=uvfnvm0"
        )
        ;;
    *)
        devargs=(-device "$DEVICE,id=uvfdev0")
        ;;
esac

# Failed handshakes make QEMU abort(); do not leave core files around.
ulimit -c 0 2>/dev/null || true

exec "$QEMU" \
    -L "$CACHE/share" \
    -machine x-remote,vfio-user=on \
    -accel tcg \
    -nodefaults -display none -monitor none -serial none -parallel none \
    "${devargs[@]}" \
    -object "x-vfio-user-server,id=uvfvfu0,type=unix,path=$SOCK,device=uvfdev0" \
    "$@"
