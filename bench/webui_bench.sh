#!/usr/bin/env bash
# The web UI's numbers (BENCHMARKS.md, "Web UI"; bench/webui_bench.mjs): fills STORE_DIR with
# EVENTS synthetic events through query_bench (an hour that ends a few minutes after the fill
# starts, so that it is the pages' default hour when they are measured), then runs the browser
# bench LOADS times per page against `scope up` on that store. A store already there is reused
# when its data ended less than 20 minutes ago (REFILL=1 fills it again). Then the same
# endpoints through query_bench alone on that store (the baseline). Needs root and chromium.
#   bench/webui_bench.sh [STORE_DIR] [EVENTS] [LOADS]
set -euo pipefail
cd "$(dirname "$0")/.."
store=$(realpath -m "${1:-build/webui-bench-store}")
events=${2:-10000000}
loads=${3:-20}
mkdir -p "$store"
# (The data's end is kept in STORE_DIR/end: scope up writes into the store, so its mtime says
# nothing about the data's age.)
if [ "${REFILL:-0}" = 1 ] || [ ! -f "$store/query_bench.db" ] || [ ! -f "$store/end" ] ||
  [ $(($(date +%s) - $(cat "$store/end"))) -gt 1200 ]; then
  # The hour ends when the fill is about done (about 150 s per 10 million events on SQLite on
  # the 2-vCPU VM; later is fine: the pages' hour then holds the data's last minutes).
  end=$(($(date +%s) + 150 * events / 10000000))
  echo "webui_bench: filling $store with $events events ending at $(date -u -d "@$end" +%T) UTC" >&2
  echo "$end" >"$store/end"
  SCOPE_BENCH_END=$end SCOPE_BENCH_PATHS=/cuda/syncs build/bench/query_bench sqlite "$store" "$events" 1 >/dev/null
fi
uptime >&2
node bench/webui_bench.mjs "$store" "$loads"
# The baseline, same store, same run: each endpoint's handler alone (no HTTP, no browser, one
# call at a time) over the data's last 5 minutes and its hour.
uptime >&2
SCOPE_BENCH_END=$(cat "$store/end") build/bench/query_bench sqlite "$store" 0 "$loads"
