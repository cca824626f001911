#!/usr/bin/env bash
# The main job until `scope up` lands: build scope and trace the bundled CUDA
# demo (a stand-in runtime and driver with the real ABI; no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
exec $SUDO build/scope trace -- build/testdata/bin/cuda_demo --threads 2 --iterations 3 "$@"
