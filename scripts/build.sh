#!/usr/bin/env bash
# Configures and builds scope, its fixtures, tests and benchmarks into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Swagger UI's files (compiled in; without them scope builds without /swagger). --ignore-scripts:
# the package's dependencies have install scripts (analytics) that have no business running here.
if [ ! -f web/swagger/node_modules/.package-lock.json ] ||
  [ web/swagger/package-lock.json -nt web/swagger/node_modules/.package-lock.json ]; then
  npm ci --prefix web/swagger --ignore-scripts --no-audit --no-fund --loglevel=error ||
    echo "build: npm ci in web/swagger failed: building without Swagger UI" >&2
fi
# The web UI (compiled in from web/ui/dist; without it scope builds without the UI and / says how
# to get it). --ignore-scripts as above: esbuild's binary comes as an optional dependency.
if [ ! -f web/ui/node_modules/.package-lock.json ] ||
  [ web/ui/package-lock.json -nt web/ui/node_modules/.package-lock.json ]; then
  npm ci --prefix web/ui --ignore-scripts --no-audit --no-fund --loglevel=error ||
    echo "build: npm ci in web/ui failed: building without the web UI" >&2
fi
# Built again when a source of it is newer than the last build (web/ui/dist/index.html).
if [ -f web/ui/node_modules/.package-lock.json ] && { [ ! -f web/ui/dist/index.html ] ||
  [ -n "$(find web/ui/src web/ui/index.html web/ui/vite.config.ts web/ui/package-lock.json \
    web/ui/scripts -newer web/ui/dist/index.html | head -1)" ]; }; then
  npm run --prefix web/ui build >/dev/null ||
    echo "build: npm run build in web/ui failed: building without the web UI" >&2
fi
cmake --preset dev >/dev/null
ninja -C build
