#!/bin/sh
# uvf-nvme behind uvf-proxy, started as one device by run-e2e.sh (which
# appends --socket-path=SOCKET): the proxy listens at SOCKET for QEMU,
# starts uvf-nvme at SOCKET-dev (--restart-cmd, after a kill too) and
# upgrades it in place on SIGUSR1 (--upgrade-cmd, the same program).
# uvf-nvme keeps its crash record in STATE (--state-file), so that a
# restarted controller reports Controller Fatal Status to the guest.
#
# Usage: nvme-proxy.sh PROXY NVME IMAGE STATE --socket-path=SOCKET
# The proxy replaces this shell (exec): SIGTERM to this PID stops the
# proxy, which stops the uvf-nvme it started.
set -eu
[ $# -eq 5 ] || { echo "usage: nvme-proxy.sh PROXY NVME IMAGE STATE --socket-path=SOCKET" >&2; exit 2; }
proxy=$1 nvme=$2 image=$3 state=$4
case $5 in --socket-path=?*) sock=${5#--socket-path=} ;; *) echo "nvme-proxy.sh: want --socket-path=SOCKET" >&2; exit 2 ;; esac
cmd="exec '$nvme' -v --socket-path=\"\$UVF_PROXY_SOCKET\" --backing='$image' --serial=uvf-e2e-nvme --state-file='$state'"
# --keep: uvf-lspci reads the device first, then QEMU comes
exec "$proxy" --listen "$sock" --server "$sock-dev" --keep --hold-ms 30000 \
	--restart-cmd "$cmd" --upgrade-cmd "$cmd"
