#!/usr/bin/env bash
# 1,000 enrolled nodes against one and two `scope server`s (issue 15, "beyond one machine"), on
# this machine's PostgreSQL and Redis (scripts/services.sh):
#  1. server A starts; build/bench/fleet_load enrolls NODES nodes through its API
#     (POST /api/v1/nodes with the admin token, POST /api/v1/nodes/enroll from each node's own
#     loopback address, an Ed25519 key pair per node);
#  2. ROUNDS rounds, each of two phases: "one" (server A alone in the consumer group) and "two"
#     (server B joins the same group, stream and schema); in each phase every node ships
#     BATCHES signed batches of EVENTS mixed events (launches, memory calls, opens, syscall
#     counts), and fleet_load times the first XADD to the last batch committed in PostgreSQL;
#  3. exactly once: every node's sequence numbers 0..N-1 stored once, and scope_batches agrees.
# Appends a section to BENCHMARKS.md (FLEET_LOAD_APPEND=0: print it only).
# Usage: bench/fleet_load.sh [NODES] [BATCHES] [EVENTS] [ROUNDS]   (default 1000 2 1000 2)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${1:-1000}
BATCHES=${2:-2}
EVENTS=${3:-1000}
ROUNDS=${4:-2}
SCOPE=build/scope
LOAD=build/bench/fleet_load
[ -x "$SCOPE" ] && [ -x "$LOAD" ] || { echo "build first: ninja -C build scope fleet_load" >&2; exit 1; }
# shellcheck source=../scripts/services.sh
source scripts/services.sh
PG=$SCOPE_TEST_POSTGRES_URL
REDIS=$SCOPE_TEST_REDIS_URL
schema=bench_load_$$
stream=scope:bench:load:$$
work=$(mktemp -d)
started=$(date +%s)
started_utc=$(date -u '+%Y-%m-%d %H:%M')
declare -A pid=()
stop_server() {
  local name=$1
  [ -n "${pid[$name]:-}" ] || return 0
  # Its store write time (sum and count of scope_batch_write_seconds) and its summary, per start.
  curl -sf "$(cat "$work/$name/url")/metrics" | awk '/^scope_batch_write_seconds_(sum|count)/ {printf "%s ", $2} END {print ""}' \
    >>"$work/$name.writes" || true
  kill -TERM "${pid[$name]}" 2>/dev/null || true
  wait "${pid[$name]}" 2>/dev/null || true
  tail -1 "$work/$name/out" >>"$work/$name.summaries"
  unset "pid[$name]"
}
cleanup() {
  for name in "${!pid[@]}"; do stop_server "$name"; done
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_auth CASCADE" \
    >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "$stream*" | while read -r key; do
    redis-cli -u "$REDIS" del "$key" >/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A `scope server` named $1 (its consumer name too) on the shared stream, group and schema.
start_server() {
  local name=$1 dir=$work/$1
  mkdir -p "$dir"
  $SCOPE server --redis "$REDIS" --postgres "$PG" --postgres-schema "$schema" --stream "$stream" \
    --consumer "$name" --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
  pid[$name]=$!
  until grep -q '/metrics on http://' "$dir/err" 2>/dev/null; do
    kill -0 "${pid[$name]}" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.2
  done
  grep -o 'http://127.0.0.1:[0-9]*' "$dir/err" | head -1 >"$dir/url"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
field() { sed -E "s/.*\"$1\":([0-9.e+]+).*/\1/"; }

machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo '+changes')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: $machine; commit $commit; load average $load_before"

start_server A
echo "== 1. enrolling $NODES nodes through server A's API"
enroll=$($LOAD enroll --server "$(cat "$work/A/url")" --admin-token "$work/A/data/admin.token" \
  --nodes "$NODES" --prefix "load$$" --keys "$work/keys")
echo "$enroll"

echo "== 2. $ROUNDS rounds of one server, then two; each phase $NODES nodes x $BATCHES batches x $EVENTS events"
one=() two=() lines=()
batch=0
for r in $(seq 1 "$ROUNDS"); do
  for phase in one two; do
    if [ "$phase" = two ]; then start_server B; else stop_server B; fi
    out=$($LOAD send --redis "$REDIS" --stream "$stream" --keys "$work/keys" --postgres "$PG" \
      --schema "$schema" --batches "$BATCHES" --events "$EVENTS" --first-batch "$batch")
    batch=$((batch + BATCHES))
    rate=$(echo "$out" | field events_per_s)
    sent=$(echo "$out" | field send_events_per_s)
    secs=$(echo "$out" | field stored_s)
    if [ "$phase" = one ]; then one+=("$rate"); else two+=("$rate"); fi
    line=$(printf '| %d | %s | %.0f | %.2f | %.0f |' "$r" "$phase" "$rate" "$secs" "$sent")
    lines+=("$line")
    echo "$line"
  done
done
stop_server B
one_med=$(printf '%s\n' "${one[@]}" | median)
two_med=$(printf '%s\n' "${two[@]}" | median)
ratio=$(echo "$two_med / $one_med" | bc -l)
printf 'median: one server %.0f events/s, two servers %.0f events/s, two/one %.3f\n' \
  "$one_med" "$two_med" "$ratio"

echo "== 3. exactly once, per node"
per_node=$((ROUNDS * 2 * BATCHES * EVENTS))
exact=0
check=$($LOAD check --postgres "$PG" --schema "$schema" --keys "$work/keys" --expect "$per_node") ||
  exact=1
echo "$check"
stop_server A
# Per server, over all its starts: batches and events stored, mean store write per batch.
stats() {
  local stored batches
  stored=$(sed -E 's/.*"stored":([0-9]+).*/\1/' "$work/$1.summaries" | paste -sd+ | bc)
  batches=$(sed -E 's/.*"batches":([0-9]+).*/\1/' "$work/$1.summaries" | paste -sd+ | bc)
  awk -v s="$stored" -v b="$batches" -v n="$(wc -l <"$work/$1.summaries")" \
    '{sum += $1; count += $2} END {printf "%d start(s), %d batches, %d events stored, mean store write %.1f ms per batch", n, b, s, count ? 1000 * sum / count : 0}' \
    "$work/$1.writes"
}
a_stats=$(stats A)
b_stats=$(stats B)
echo "server A: $a_stats"
echo "server B: $b_stats"
runtime=$(($(date +%s) - started))
echo "runtime: ${runtime} s"

section=$(
  cat <<EOF

## $NODES enrolled nodes, one and two servers (\`bench/fleet_load.sh $NODES $BATCHES $EVENTS $ROUNDS\`, $started_utc-$(date -u '+%H:%M') UTC)

Machine: $machine; load average before the run $load_before. Commit $commit. PostgreSQL and
Redis from \`scripts/services.sh\` on the same machine as both servers and the load generator.

- Enrollment, through server A's API (\`POST /api/v1/nodes\`, then \`POST /api/v1/nodes/enroll\`
  from each node's own loopback address, one Ed25519 key pair per node): \`$enroll\`.
- Each phase: $NODES nodes x $BATCHES signed batch(es) x $EVENTS mixed events (60 % CUDA launches,
  10 % memory calls, 15 % opens, 15 % syscall counts), encoded before the clock starts, shipped
  from 4 threads round by round (one batch per node per round), timed from the first XADD to the
  last batch committed in PostgreSQL. "one": server A alone in the consumer group; "two": server
  B (own consumer name, same stream, group and schema) joins it. Rounds interleave the two.

| round | servers | events/s stored | seconds | events/s added to the stream |
|---|---|---:|---:|---:|
$(printf '%s\n' "${lines[@]}")

- **Median: one server $(printf '%.0f' "$one_med") events/s (the baseline), two servers
  $(printf '%.0f' "$two_med") events/s: two/one = $(printf '%.3f' "$ratio").**
- Exactly once: \`$check\`.
- Server A: $a_stats
- Server B: $b_stats
- Runtime of the whole script: ${runtime} s.
EOF
)
echo "$section"
if [ "${FLEET_LOAD_APPEND:-1}" != 0 ]; then
  echo "$section" >>BENCHMARKS.md
  echo "appended to BENCHMARKS.md"
fi
[ "$exact" = 0 ] || { echo "NOT exactly once (above)" >&2; exit 1; }
