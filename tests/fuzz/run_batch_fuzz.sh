#!/usr/bin/env bash
# Builds the batch decoder with clang's libFuzzer, ASan and UBSan, and fuzzes
# it for a bounded time (FUZZ_SECONDS, default 60). A crash fails the test and
# leaves the input in the build dir. Run by CTest (label fuzz).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$src/build/fuzz}"
seconds="${FUZZ_SECONDS:-60}"
mkdir -p "$out/corpus"
if ! command -v clang++ >/dev/null; then
  echo "skipped: clang++ is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
sources=(src/event/batch.cpp src/event/row.cpp src/event/schema.cpp src/common/text.cpp)
flags=(-std=c++20 -O1 -g -I"$src" -I"$src/src")
cd "$src"
clang++ "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  tests/fuzz/batch_fuzz.cpp "${sources[@]}" -lzstd -o "$out/batch_fuzz"
clang++ "${flags[@]}" tests/fuzz/seed_batch.cpp "${sources[@]}" -lzstd -o "$out/seed_batch"
"$out/seed_batch" "$out/corpus"
cd "$out"
./batch_fuzz -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
  corpus 2>&1 | tail -n 15
