#!/usr/bin/env bash
# The web UI's tests (web/ui): `unit` runs vitest; `e2e` drives Debian's chromium through the UI
# of a real `scope up` (web/ui/e2e/e2e.mjs; needs root, as scope up does). Without web/ui's
# node_modules they fail on CI (CI set) and skip elsewhere (exit 77), saying how to get them.
set -euo pipefail
mode=$1
# Paths given relative to where the test was started, made absolute before the cd below.
for var in SCOPE_BIN SCOPE_TESTDATA_BIN SCOPE_E2E_ARTIFACTS; do
  if [ -n "${!var:-}" ]; then export "$var=$(realpath -m "${!var}")"; fi
done
cd "$(dirname "$0")/../web/ui"
if [ ! -d node_modules/vitest ] || [ ! -d node_modules/playwright-core ]; then
  echo "web/ui/node_modules is missing: run scripts/build.sh (npm ci --prefix web/ui --ignore-scripts)"
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 77
fi
case $mode in
  unit) exec npx --no-install vitest run ;;
  e2e)
    if [ "$(id -u)" != 0 ]; then
      echo "skipped: scope up needs root"
      exit 77
    fi
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
      echo "skipped: no chromium (apt-get install chromium)"
      exit 77
    fi
    exec node e2e/e2e.mjs
    ;;
  *) echo "usage: $0 unit|e2e" >&2; exit 2 ;;
esac
