#!/bin/sh
# uvf-dmatest behind uvf-proxy, started as one device by run-e2e.sh (which
# appends --socket-path=SOCKET): the proxy listens at SOCKET for QEMU,
# starts uvf-dmatest at SOCKET-dev (--restart-cmd) and traces every
# message to TRACE, where the host then looks for BAR4 accesses.
#
# Usage: dmatest-proxy.sh PROXY DMATEST TRACE --socket-path=SOCKET
# The proxy replaces this shell (exec): SIGTERM to this PID stops the
# proxy, which stops the uvf-dmatest it started.
set -eu
[ $# -eq 4 ] || { echo "usage: dmatest-proxy.sh PROXY DMATEST TRACE --socket-path=SOCKET" >&2; exit 2; }
proxy=$1 dmatest=$2 trace=$3
case $4 in --socket-path=?*) sock=${4#--socket-path=} ;; *) echo "dmatest-proxy.sh: want --socket-path=SOCKET" >&2; exit 2 ;; esac
# --keep: uvf-lspci reads the device first, then QEMU comes
exec "$proxy" --listen "$sock" --server "$sock-dev" --keep --trace "$trace" \
	--restart-cmd "exec '$dmatest' -v --socket-path=\"\$UVF_PROXY_SOCKET\""
