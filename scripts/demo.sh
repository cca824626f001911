#!/usr/bin/env bash
# Build scope and trace the bundled CUDA demo with `scope trace` (a stand-in
# runtime and driver with the real ABI; no GPU needed). The main job is scripts/up.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
exec $SUDO build/scope trace -- build/testdata/bin/cuda_demo --threads 2 --iterations 3 "$@"
