#!/usr/bin/env bash
# clang-tidy (.clang-tidy's checks, every warning an error) on the C++ files of src/ that changed:
# since BASE (default: SCOPE_TIDY_BASE, else the last 10 commits), or all of them with --all.
# Needs build/compile_commands.json (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--all" ]; then
  mapfile -t files < <(git ls-files 'src/*.cpp')
else
  base=${1:-${SCOPE_TIDY_BASE:-}}
  if [ -z "$base" ]; then
    base=$(git rev-list --max-count=11 HEAD | tail -1)
  fi
  mapfile -t files < <(git diff --name-only --diff-filter=d "$base" -- 'src/*.cpp' 'src/*.h' |
    sed 's/\.h$/.cpp/' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no changed C++ files"
  exit 0
fi
echo "tidy: ${#files[@]} files"
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-pedantic 2>/dev/null |
  tee /tmp/scope-tidy.$$ | grep -E "(warning|error):" || true
status=0
grep -qE "(warning|error):" /tmp/scope-tidy.$$ && status=1
rm -f /tmp/scope-tidy.$$
exit $status
