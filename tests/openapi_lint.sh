#!/usr/bin/env bash
# docs/api/openapi.json through @redocly/cli's recommended rules (docs/api/redocly.yaml): an
# error or a warning fails. The linter is web/swagger's dev dependency (scripts/build.sh installs
# it); without it the test skips (exit 77) and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
lint=web/swagger/node_modules/.bin/redocly
if [ ! -x "$lint" ]; then
  echo "skipped: $lint is missing (npm ci --ignore-scripts --prefix web/swagger)"
  exit 77
fi
out=$("$lint" lint --config docs/api/redocly.yaml docs/api/openapi.json 2>&1) || {
  echo "$out"
  exit 1
}
echo "$out" | tail -2
if echo "$out" | grep -qE "You have [0-9]+ (warning|error)"; then
  echo "$out"
  echo "openapi_lint: warnings in docs/api/openapi.json" >&2
  exit 1
fi
