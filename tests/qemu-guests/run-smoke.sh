#!/usr/bin/env bash
# The uvf-scratch boots of run-e2e.sh (pc shared memory, pc private memory,
# q35), kept under their old name.
#
# Usage: tests/qemu-guests/run-smoke.sh [BUILD_DIR]     (see run-e2e.sh)
UVF_E2E_ONLY='scratch-*' exec "$(dirname "$0")/run-e2e.sh" "$@"
