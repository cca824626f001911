#!/usr/bin/env bash
# Fails when a C/C++ file differs from its clang-format output.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    echo "not clang-formatted: $f"
    bad=1
  fi
done < <(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' 'testdata/*.c' 'testdata/*.cpp' 'testdata/*.h' 'bpf/*.bpf.c' 'bpf/shared/*.h')
exit $bad
