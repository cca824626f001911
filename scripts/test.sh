#!/usr/bin/env bash
# Every test: installs what is missing, builds, checks formatting, the include layering and
# clang-tidy on the files the last commits changed, runs the
# unit tests, the privileged BPF tests (they skip with a reason when not
# root) and the integration tests against a private PostgreSQL and Redis. CTest prints the closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
scripts/check-format.sh
scripts/check-layers.sh
scripts/tidy.sh
# PostgreSQL and Redis on loopback for the integration tests (they skip without them).
# shellcheck source=services.sh
source scripts/services.sh
cd build
ctest --output-on-failure --timeout 600 "$@"
