#!/usr/bin/env bash
# Every test: installs what is missing, builds, checks formatting, runs the
# unit tests and the privileged BPF tests (they skip with a reason when not
# root). CTest prints the closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
scripts/check-format.sh
cd build
ctest --output-on-failure --timeout 600 "$@"
