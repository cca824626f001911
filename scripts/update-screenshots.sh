#!/usr/bin/env bash
# README's screenshots (docs/screenshots/*.png): the web UI's e2e test (web/ui/e2e/e2e.mjs) run
# with SCOPE_DOCS_SCREENSHOTS, which writes the main pages' light viewport screenshots there.
# Needs a build (scripts/build.sh), root and Debian's chromium, as the test does.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCOPE_DOCS_SCREENSHOTS=$PWD/docs/screenshots
export SCOPE_BIN=${SCOPE_BIN:-$PWD/build/scope}
export SCOPE_TESTDATA_BIN=${SCOPE_TESTDATA_BIN:-$PWD/build/testdata/bin}
export SCOPE_E2E_ARTIFACTS=${SCOPE_E2E_ARTIFACTS:-$PWD/build/webui-e2e}
tests/webui_test.sh e2e
ls -l "$SCOPE_DOCS_SCREENSHOTS"
