#!/usr/bin/env bash
# Launch overhead of `scope trace --probes cuda` against the floor of any uprobe.
#   bench/launch_overhead.sh [N] [ROUNDS]      (root; N=200000, ROUNDS=5)
# Rounds interleave the variants (a) untraced, (b) no-op uprobe on cuLaunchKernel (the floor),
# (c) scope, (d) scope waking its reader for every event (SCOPE_WAKEUP_BYTES=1), both with
# --no-gpu-times (the launch probe alone), (e) scope with GPU times (scope's CUPTI library over
# the stand-in CUPTI: what scope adds per launch, the stand-in's record writing included; a real
# CUPTI's own cost is measured on the GPU by bench/gpu/run.sh); medians of
# launch_loop's ns_per_launch. Ratio = (c - a) / (b - a): 1.00 means scope's probe costs no more
# than an empty uprobe. Prints a Markdown fragment on stdout, progress on stderr.
source "$(dirname "$0")/common.sh"
N=${1:-200000}
ROUNDS=${2:-5}
need_root
need_built
make_private_copy

declare -A NS
WALL_C=(); FAIL=0; CHECKS=()

# scope_run LABEL [ENV...]: run scope, record ns/launch and check its summary.
scope_run() {
  local label=$1; shift
  local out t0 t1 gpu=--no-gpu-times want=$N
  [[ $label == e ]] && gpu= && want=$((2 * N)) # each launch and its run on the GPU
  t0=$(now_s)
  # Under --json the command's own stdout (its ns_per_launch line) is on scope's stderr.
  out=$(env "$@" "$SCOPE" trace --probes cuda $gpu --quiet --json -- "$LOOP" "$N" 2>&1)
  t1=$(now_s)
  NS[$label]+="$(awk '/^ns_per_launch/ {print $2}' <<<"$out") "
  local summary events dropped launches
  summary=$(grep '"event":"summary"' <<<"$out" | tail -1)
  events=$(jq -r '.events' <<<"$summary"); dropped=$(jq -r '.dropped' <<<"$summary")
  launches=$(jq -r '.cuda.launches' <<<"$summary")
  local wall; wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  [[ $label == c ]] && WALL_C+=("$wall")
  local ok=ok
  if [[ $events != "$want" || $dropped != 0 || $launches != "$N" ]]; then ok=FAIL; FAIL=1; fi
  CHECKS+=("$label: events=$events dropped=$dropped cuda.launches=$launches scope_wall=${wall}s $ok")
  echo "  ($label) events=$events dropped=$dropped launches=$launches wall=${wall}s $ok" >&2
}

for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS" >&2
  NS[a]+="$("$LOOP" "$N" | awk '/^ns_per_launch/ {print $2}') "
  NS[b]+="$("$NOOP" "$LIBCUDA" cuLaunchKernel -- "$LOOP" "$N" | awk '/^ns_per_launch/ {print $2}') "
  scope_run c
  scope_run d SCOPE_WAKEUP_BYTES=1
  scope_run e
  last() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | tail -1; }
  echo "  ns/launch: a=$(last a) b=$(last b) c=$(last c) d=$(last d) e=$(last e)" >&2
done

med() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | median; }
A=$(med a); B=$(med b); C=$(med c); D=$(med d); E=$(med e)
ratio() { awk -v a="$A" -v b="$B" -v x="$1" 'BEGIN {printf "%.3f", (x - a) / (b - a)}'; }
RC=$(ratio "$C"); RD=$(ratio "$D")
VERDICT=$(awk -v r="$RC" 'BEGIN {print (r <= 1.15) ? "met" : "MISSED"}')

cat <<MD
### Launch overhead (launch_loop $N, $ROUNDS interleaved rounds, medians)

| variant | command | ns/launch (median) | all rounds |
|---|---|---:|---|
| (a) untraced | \`launch_loop $N\` | $A | ${NS[a]} |
| (b) floor: no-op uprobe | \`bench/noop_uprobe libcuda.so.1 cuLaunchKernel -- launch_loop $N\` | $B | ${NS[b]} |
| (c) scope | \`scope trace --probes cuda --no-gpu-times --quiet --json -- launch_loop $N\` | $C | ${NS[c]} |
| (d) scope, naive wakeups | \`SCOPE_WAKEUP_BYTES=1 scope trace --probes cuda --no-gpu-times --quiet --json -- launch_loop $N\` | $D | ${NS[d]} |
| (e) scope with GPU times (stand-in CUPTI) | \`scope trace --probes cuda --quiet --json -- launch_loop $N\` | $E | ${NS[e]} |

- ratio (c − a) / (b − a) = **$RC** (target ≤ 1.15: $VERDICT); naive (d − a) / (b − a) = $RD
- per launch: traced − untraced = $(awk -v a="$A" -v c="$C" 'BEGIN {printf "%.0f", c - a}') ns; floor − untraced (the uprobe trap alone) = $(awk -v a="$A" -v b="$B" 'BEGIN {printf "%.0f", b - a}') ns; scope beyond the floor (its BPF program, ring buffer, reader) = $(awk -v b="$B" -v c="$C" 'BEGIN {printf "%.0f", c - b}') ns; naive wakeups beyond the floor = $(awk -v b="$B" -v d="$D" 'BEGIN {printf "%.0f", d - b}') ns
- GPU times (e) − (c) = $(awk -v c="$C" -v e="$E" 'BEGIN {printf "%.0f", e - c}') ns per launch: scope's CUPTI library, the stand-in CUPTI's records, one probe hit per 32 records and their events
- summary checks (events == $N, or 2 × $N with GPU times; dropped == 0, cuda.launches == $N):
$(printf '  - %s\n' "${CHECKS[@]}")
MD
exit $FAIL
