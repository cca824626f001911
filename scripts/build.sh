#!/usr/bin/env bash
# Configures and builds scope, its fixtures, tests and benchmarks into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset dev >/dev/null
ninja -C build
