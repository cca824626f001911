#!/usr/bin/env bash
# Cost of the sched family on every context switch: a pipe ping-pong (bench/sched_pingpong.c,
# both processes pinned to one CPU, 2 switches per round trip), ROUNDS interleaved rounds of
#   (a) untraced,
#   (b) `scope trace --probes sched -- sched_pingpong` (the filter on; ping-pong traced),
#   (c) untraced ping-pong while `scope trace --probes sched` traces the whole machine
#       (no filter: every switch of every task is counted, ping-pong included).
# Medians of ns per round trip. Prints a Markdown fragment on stdout, progress on stderr.
#   bench/sched_overhead.sh [ROUND_TRIPS] [ROUNDS] [CPU]     (root; 100000 5 1)
source "$(dirname "$0")/common.sh"
N=${1:-100000}
ROUNDS=${2:-5}
CPU=${3:-1}
need_root
[[ -x $SCOPE ]] || { echo "missing $SCOPE (BUILD=...)" >&2; exit 1; }
PRIV=$(mktemp -d /tmp/scope-sched-bench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cp "$SCOPE" "$PRIV/scope"
SCOPE=$PRIV/scope
PP=$PRIV/sched_pingpong
cc -O2 -o "$PP" "$ROOT/bench/sched_pingpong.c"

declare -A NS
ns() { awk '/^ns_per_roundtrip/ {print $2}'; }
for ((r = 1; r <= ROUNDS; r++)); do
  NS[a]+="$("$PP" "$N" "$CPU" | ns) "
  out=$("$SCOPE" trace --probes sched --json -- "$PP" "$N" "$CPU" 2>&1)  # its stdout: stderr
  NS[b]+="$(ns <<<"$out") "
  SW_B=$(grep '"event":"summary"' <<<"$out" | jq '[.sched[].switches] | add')
  DROP_B=$(grep '"event":"summary"' <<<"$out" | jq '.dropped')
  "$SCOPE" trace --probes sched --quiet --json --duration 600 >"$PRIV/wide.json" &
  WIDE=$!
  sleep 1.5  # attached
  NS[c]+="$("$PP" "$N" "$CPU" | ns) "
  # The programs' own run time per call (kernel.bpf_stats_enabled), in the last round.
  if ((r == ROUNDS)); then
    OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -qw kernel.bpf_stats_enabled=1
    "$PP" "$N" "$CPU" >/dev/null
    PROG_NS=$(bpftool -j prog show | jq -r '.[] | select(.name == "sched_switch" or .name == "sched_wakeup")
      | select(.run_cnt > 0) | "\(.name) \(.run_time_ns / .run_cnt | floor) ns/call over \(.run_cnt) calls"' | paste -sd ';')
    sysctl -qw kernel.bpf_stats_enabled="$OLD_STATS"
  fi
  kill -INT "$WIDE"; wait "$WIDE" || true
  THREADS_C=$(jq '.sched | length' <"$PRIV/wide.json")
  DROP_C=$(jq '.dropped' <"$PRIV/wide.json")
  last() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | tail -1; }
  echo "round $r/$ROUNDS: a=$(last a) b=$(last b) c=$(last c) ns/round trip;" \
       "(b) switches=$SW_B dropped=$DROP_B; (c) threads(top 50)=$THREADS_C dropped=$DROP_C" >&2
done
med() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | median; }
A=$(med a); B=$(med b); C=$(med c)
ratio() { awk -v a="$A" -v x="$1" 'BEGIN {printf "%.3f", x / a}'; }
per_switch() { awk -v a="$A" -v x="$1" 'BEGIN {printf "%.0f", (x - a) / 2}'; }
cat <<MD
### sched: context-switch ping-pong ($N round trips on CPU $CPU, $ROUNDS interleaved rounds, medians)

| variant | ns/round trip (median) | ratio to untraced | added ns per switch | all rounds |
|---|---:|---:|---:|---|
| (a) untraced | $A | 1.000 | 0 | ${NS[a]} |
| (b) \`scope trace --probes sched -- sched_pingpong\` | $B | $(ratio "$B") | $(per_switch "$B") | ${NS[b]} |
| (c) machine-wide \`scope trace --probes sched\` | $C | $(ratio "$C") | $(per_switch "$C") | ${NS[c]} |

BPF program run time (bpf_stats, machine-wide, last round): $PROG_NS.
Last round: (b) counted $SW_B switches (expected about $((2 * N))), dropped $DROP_B; (c) dropped $DROP_C.
MD
