#!/usr/bin/env bash
# Install the Debian packages uvf needs to build and test, if missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

pkgs=(gcc g++ libc6-dev clang meson ninja-build pkg-config libjson-c-dev libcmocka-dev liburing-dev
	python3 python3-dev python3-pytest python3-mypy "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "uvf: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "uvf: need root to install Debian packages: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
