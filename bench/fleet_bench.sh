#!/usr/bin/env bash
# Fleet benchmarks on this machine's PostgreSQL and Redis (scripts/services.sh):
#  1. end to end: `scope agent` (synthetic cuda launches, the test hook) → Redis → `scope server`
#     → PostgreSQL, events/s from the agent's start to the last row committed;
#  2. the baseline in the same run: one XADD per event, one INSERT per row;
#  3. query p95 over 10 million stored events; 4. bytes on disk per cuda launch.
# Usage: bench/fleet_bench.sh [EVENTS_END_TO_END] [BASELINE_EVENTS] [QUERY_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
NB=${2:-20000}
NQ=${3:-10000000}
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
echo "== 1. end to end, $N events"
psql -q "$PG" -c "DROP SCHEMA IF EXISTS bench_e2e CASCADE" >/dev/null
stream="scope:bench:e2e:$$"
redis-cli -u "$REDIS" del "$stream" >/dev/null
$SCOPE server --redis "$REDIS" --postgres "$PG" --postgres-schema bench_e2e --stream "$stream" \
  --listen 127.0.0.1:0 --data-dir "$work/server" >"$work/server.out" 2>"$work/server.err" &
server=$!
until psql -qAt "$PG" -c "SELECT 1 FROM pg_tables WHERE schemaname = 'bench_e2e' AND tablename = 'scope_meta'" 2>/dev/null | grep -q 1; do sleep 0.2; done
sleep 1
start=$(date +%s.%N)
$SCOPE agent --redis "$REDIS" --node bench --stream "$stream" --data-dir "$work/agent" \
  --test-synthetic-count "$N" --test-synthetic-rate 0 >"$work/agent.out" 2>"$work/agent.err" &
agent=$!
while :; do
  n=$(psql -qAt "$PG" -c "SELECT count(*) FROM bench_e2e.cuda_events")
  [ "$n" -ge "$N" ] && break
  sleep 0.1
done
end=$(date +%s.%N)
kill -TERM $agent $server
wait $agent $server || true
e2e=$(echo "$N / ($end - $start)" | bc -l)
printf 'end to end: %d events in %.2f s = %.0f events/s\n' "$N" "$(echo "$end - $start" | bc -l)" "$e2e"
echo "agent:  $(tail -1 "$work/agent.out")"
echo "server: $(tail -1 "$work/server.out")"
redis-cli -u "$REDIS" del "$stream" >/dev/null

echo "== 2. baseline: one XADD per event, one INSERT per row, $NB events"
base_json=$($BENCH baseline --redis "$REDIS" --postgres "$PG" --schema bench_base --events "$NB" | tail -1)
echo "$base_json"
base=$(echo "$base_json" | sed -E 's/.*"events_per_s":([0-9.]+).*/\1/')
printf 'ratio: %.1fx\n' "$(echo "$e2e / $base" | bc -l)"

echo "== 3. queries over $NQ mixed events"
$BENCH populate --postgres "$PG" --schema bench_q --events "$NQ"
$BENCH queries --postgres "$PG" --schema bench_q --runs 20

echo "== 4. bytes on disk per cuda launch (1,000,000 launches)"
$BENCH populate --postgres "$PG" --schema bench_bytes --events 1000000 --launches-only 1 >/dev/null
$BENCH bytes --postgres "$PG" --schema bench_bytes
