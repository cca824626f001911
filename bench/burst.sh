#!/usr/bin/env bash
# Burst: 1,000,000 launches from 4 threads under `scope trace --probes cuda`.
#   bench/burst.sh [N_PER_THREAD] [THREADS]    (root; 250000 x 4)
# Reports events received, dropped (must be 0), scope's wall time, its own CPU (user+sys of the
# scope process alone, sampled from /proc/PID/stat until it exits) and the tree's CPU (scope and
# launch_loop, from bash `times`), and events/s. Prints a Markdown fragment on stdout.
source "$(dirname "$0")/common.sh"
PER=${1:-250000}
THREADS=${2:-4}
TOTAL=$((PER * THREADS))
need_root
need_built
make_private_copy
TCK=$(getconf CLK_TCK)
OUT=$PRIV/scope.out

# Tree CPU: bash `times` run in this shell itself (a forked subshell starts with no children's
# time), before and after; it includes the sleeps and reads of the sampling loop (small).

# run_scope N THREADS: sets WALL, SELF_CPU (s), TREE_CPU (s), scope output in $OUT.
run_scope() {
  local c0 c1 t0 t1 line f=() u=0 s=0
  times >"$PRIV/times"; c0=$(tail -1 "$PRIV/times" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }')
  t0=$(now_s)
  # Under --json the command's own stdout (its ns_per_launch line) is on scope's stderr.
  "$SCOPE" trace --probes cuda --no-gpu-times --quiet --json -- "$LOOP" "$@" >"$OUT" 2>&1 &
  local pid=$!
  while read -r line 2>/dev/null <"/proc/$pid/stat"; do
    f=(${line##*) })  # fields after "(comm) ": f[0] is state (field 3)
    [[ ${f[0]} == Z ]] && break
    u=${f[11]}; s=${f[12]}
    sleep 0.05
  done
  wait "$pid"
  t1=$(now_s)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  SELF_CPU=$(awk -v u="$u" -v s="$s" -v t="$TCK" 'BEGIN {printf "%.2f", (u + s) / t}')
  SELF_U=$(awk -v u="$u" -v t="$TCK" 'BEGIN {printf "%.2f", u / t}')
  SELF_S=$(awk -v s="$s" -v t="$TCK" 'BEGIN {printf "%.2f", s / t}')
  times >"$PRIV/times"; c1=$(tail -1 "$PRIV/times" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }')
  TREE_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')
}

echo "burst: fixed cost (launch_loop 1)" >&2
run_scope 1
FIXED_WALL=$WALL; FIXED_CPU=$SELF_CPU
echo "  wall=${FIXED_WALL}s scope_cpu=${FIXED_CPU}s" >&2

echo "burst: launch_loop $PER $THREADS" >&2
run_scope "$PER" "$THREADS"
NS=$(awk '/^ns_per_launch/ {print $2}' "$OUT")
SUMMARY=$(grep '"event":"summary"' "$OUT" | tail -1)
EVENTS=$(jq -r '.events' <<<"$SUMMARY"); DROPPED=$(jq -r '.dropped' <<<"$SUMMARY")
LAUNCHES=$(jq -r '.cuda.launches' <<<"$SUMMARY")
LOOP_WALL=$(awk -v ns="$NS" -v n="$PER" 'BEGIN {printf "%.2f", ns * n / 1e9}')
echo "  events=$EVENTS dropped=$DROPPED wall=${WALL}s loop=${LOOP_WALL}s scope_cpu=${SELF_CPU}s tree_cpu=${TREE_CPU}s" >&2
FAIL=0; OK=ok
if [[ $EVENTS != "$TOTAL" || $DROPPED != 0 || $LAUNCHES != "$TOTAL" ]]; then FAIL=1; OK=FAIL; fi
rate() { awk -v e="$EVENTS" -v t="$1" 'BEGIN {if (t > 0) printf "%.0f", e / t; else print "n/a"}'; }

cat <<MD
### Burst (launch_loop $PER $THREADS: $TOTAL launches from $THREADS threads)

Command: \`scope trace --probes cuda --no-gpu-times --quiet --json -- launch_loop $PER $THREADS\`

| measure | value |
|---|---:|
| events received | $EVENTS (expected $TOTAL: $OK) |
| dropped | $DROPPED |
| cuda.launches | $LAUNCHES |
| scope wall time | ${WALL} s |
| launch_loop's own run (ns_per_launch × N per thread) | ${LOOP_WALL} s (${NS} ns/launch per thread) |
| scope process CPU, user + sys | ${SELF_CPU} s (${SELF_U} + ${SELF_S}) |
| whole tree CPU (scope + launch_loop, incl. uprobe traps) | ${TREE_CPU} s |
| events / scope wall | $(rate "$WALL") /s |
| events / launch_loop run (rate decoded live, no drops) | $(rate "$LOOP_WALL") /s |
| events / scope CPU second | $(rate "$SELF_CPU") /s |
| fixed cost: same command with \`launch_loop 1\` | ${FIXED_WALL} s wall, ${FIXED_CPU} s scope CPU |
MD
cat <<'MD'

The `launch_loop 1` row is scope's fixed cost (load, attach, detach): attaching uses one
uprobe_multi link per program and file, so detaching waits for a few RCU grace periods rather
than one per symbol (per-symbol perf uprobes made it ~20 s on this machine). "events /
launch_loop run" is the rate scope kept up with live (dropped = 0); its CPU per event is the
better measure of decoding cost. scope's own CPU is sampled every 50 ms from
/proc/PID/stat until it exits (clock-tick resolution).
MD
exit $FAIL
