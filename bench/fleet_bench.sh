#!/usr/bin/env bash
# Fleet benchmarks on this machine's PostgreSQL and Redis (scripts/services.sh):
#  1. end to end: `scope agent` (synthetic cuda launches, the test hook) → Redis → `scope server`
#     → PostgreSQL, events/s from the agent's start to the last row committed, with signed
#     batches (an enrolled agent) and unsigned ones (--allow-unsigned-batches), rounds interleaved;
#  2. the baseline in the same run: one XADD per event, one INSERT per row;
#  3. query p95 over 10 million stored events; 4. bytes on disk per cuda launch.
# Usage: bench/fleet_bench.sh [EVENTS_END_TO_END] [BASELINE_EVENTS] [QUERY_EVENTS] [ROUNDS]
# QUERY_EVENTS 0 leaves out 3 and 4. SCOPE_BENCH_OLD_SCOPE=PATH adds a round of an earlier
# build's agent and server to 1 (the same-run baseline for a change to the pipeline).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
NB=${2:-20000}
NQ=${3:-10000000}
ROUNDS=${4:-3}
SCOPE=build/scope
BENCH=build/bench/fleet_bench
[ -x "$SCOPE" ] && [ -x "$BENCH" ] || { echo "build first: ninja -C build scope fleet_bench" >&2; exit 1; }
# shellcheck source=../scripts/services.sh
source scripts/services.sh
PG=$SCOPE_TEST_POSTGRES_URL
REDIS=$SCOPE_TEST_REDIS_URL
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
# One end-to-end run: signed (the agent enrolled first, as in production) or unsigned (a server
# with --allow-unsigned-batches and an agent that is not enrolled: the pipeline before node keys).
# "old": both from $SCOPE_BENCH_OLD_SCOPE (a build of an earlier commit), as it runs by itself.
# Prints events/s; the agent's and server's summaries go to $work/last.*.
e2e() {
  local mode=$1 i=$2 bin=$SCOPE
  [ "$mode" = old ] && bin=$SCOPE_BENCH_OLD_SCOPE
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS bench_e2e CASCADE; DROP SCHEMA IF EXISTS bench_e2e_auth CASCADE" >/dev/null 2>&1
  local stream="scope:bench:e2e:$$:$i" dir="$work/run$i" extra=()
  mkdir -p "$dir"
  redis-cli -u "$REDIS" del "$stream" >/dev/null
  [ "$mode" = unsigned ] && extra=(--allow-unsigned-batches)
  $bin server --redis "$REDIS" --postgres "$PG" --postgres-schema bench_e2e --stream "$stream" \
    --listen 127.0.0.1:0 --data-dir "$dir/server" "${extra[@]}" >"$dir/server.out" 2>"$dir/server.err" &
  local server=$!
  until grep -q '/metrics on http://' "$dir/server.err" 2>/dev/null; do sleep 0.2; done
  local url
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/server.err" | head -1)
  if [ "$mode" = signed ]; then
    curl -sf -X POST -H "Authorization: Bearer $(cat "$dir/server/admin.token")" \
      -d '{"name":"bench"}' "$url/api/v1/nodes" |
      sed -E 's/.*"enrollment_token":"([^"]+)".*/\1/' >"$dir/enroll.token"
    $SCOPE agent --enroll-file "$dir/enroll.token" --server "$url" --data-dir "$dir/agent" >/dev/null
  fi
  sleep 1
  local start end n
  start=$(date +%s.%N)
  $bin agent --redis "$REDIS" --node bench --stream "$stream" --data-dir "$dir/agent" \
    --test-synthetic-count "$N" --test-synthetic-rate 0 >"$dir/agent.out" 2>"$dir/agent.err" &
  local agent=$!
  while :; do
    n=$(psql -qAt "$PG" -c "SELECT count(*) FROM bench_e2e.cuda_events")
    [ "$n" -ge "$N" ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  kill -TERM $agent $server
  wait $agent $server || true
  if [ "$mode" != old ]; then
    cp "$dir/agent.out" "$work/last.agent"
    cp "$dir/server.out" "$work/last.server"
  fi
  redis-cli -u "$REDIS" del "$stream" >/dev/null
  echo "$N / ($end - $start)" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "== 1. end to end, $N events, $ROUNDS rounds of signed (enrolled agent) and unsigned, interleaved"
signed=() unsigned=() old=()
for i in $(seq 1 "$ROUNDS"); do
  s=$(e2e signed "s$i")
  u=$(e2e unsigned "u$i")
  signed+=("$s") unsigned+=("$u")
  printf 'round %d: signed %.0f events/s, unsigned %.0f events/s' "$i" "$s" "$u"
  if [ -n "${SCOPE_BENCH_OLD_SCOPE:-}" ]; then
    o=$(e2e old "o$i")
    old+=("$o")
    printf ', old build %.0f events/s' "$o"
  fi
  echo
done
e2e=$(printf '%s\n' "${signed[@]}" | median)
e2e_unsigned=$(printf '%s\n' "${unsigned[@]}" | median)
printf 'end to end, signed (median): %.0f events/s; unsigned: %.0f events/s; signed/unsigned %.3f\n' \
  "$e2e" "$e2e_unsigned" "$(echo "$e2e / $e2e_unsigned" | bc -l)"
if [ -n "${SCOPE_BENCH_OLD_SCOPE:-}" ]; then
  e2e_old=$(printf '%s\n' "${old[@]}" | median)
  printf 'old build (%s, median): %.0f events/s; signed/old %.3f\n' "$SCOPE_BENCH_OLD_SCOPE" \
    "$e2e_old" "$(echo "$e2e / $e2e_old" | bc -l)"
fi
echo "agent:  $(tail -1 "$work/last.agent")"
echo "server: $(tail -1 "$work/last.server")"

echo "== 1b. batch authentication alone, one 8192-launch batch (the agent's default)"
$BENCH sign --events 8192 | tail -1

echo "== 2. baseline: one XADD per event, one INSERT per row, $NB events"
base_json=$($BENCH baseline --redis "$REDIS" --postgres "$PG" --schema bench_base --events "$NB" | tail -1)
echo "$base_json"
base=$(echo "$base_json" | sed -E 's/.*"events_per_s":([0-9.]+).*/\1/')
printf 'ratio: %.1fx\n' "$(echo "$e2e / $base" | bc -l)"

[ "$NQ" -gt 0 ] || exit 0
echo "== 3. queries over $NQ mixed events"
$BENCH populate --postgres "$PG" --schema bench_q --events "$NQ"
$BENCH queries --postgres "$PG" --schema bench_q --runs 20

echo "== 4. bytes on disk per cuda launch (1,000,000 launches)"
$BENCH populate --postgres "$PG" --schema bench_bytes --events 1000000 --launches-only 1 >/dev/null
$BENCH bytes --postgres "$PG" --schema bench_bytes
