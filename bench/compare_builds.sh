#!/usr/bin/env bash
# Launch overhead of this build's scope against another scope binary (an older build), in the
# same run, interleaved round by round with the untraced loop and the no-op uprobe floor:
#   sudo bench/compare_builds.sh OTHER_SCOPE [N] [ROUNDS]     (200000 launches, 15 rounds)
# Prints a Markdown table: ns/launch medians and (traced - untraced) / (floor - untraced) for
# each build.
source "$(dirname "$0")/common.sh"
OTHER=${1:?usage: bench/compare_builds.sh OTHER_SCOPE [N] [ROUNDS]}
N=${2:-200000}; ROUNDS=${3:-15}
need_root
need_built
make_private_copy
cp "$OTHER" "$PRIV/bin/other_scope"
declare -A NS
ns() { awk '/^ns_per_launch/ {print $2}'; }
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS" >&2
  NS[a]+="$("$LOOP" "$N" | ns) "
  NS[b]+="$("$NOOP" "$LIBCUDA" cuLaunchKernel -- "$LOOP" "$N" | ns) "
  # Under --json the loop's own stdout is on stderr (this build); the other may print it on stdout.
  NS[c]+="$("$SCOPE" trace --probes cuda --no-gpu-times --quiet --json -- "$LOOP" "$N" 2>&1 | ns) "
  NS[o]+="$("$PRIV/bin/other_scope" trace --probes cuda --quiet --json -- "$LOOP" "$N" 2>&1 | ns) "
done
med() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | median; }
A=$(med a); B=$(med b); C=$(med c); O=$(med o)
ratio() { awk -v x="$1" -v a="$A" -v b="$B" 'BEGIN {printf "%.3f", (x - a) / (b - a)}'; }
cat <<MD
| variant | ns/launch (median of $ROUNDS) | (x − untraced) / (floor − untraced) | all rounds |
|---|---:|---:|---|
| untraced \`launch_loop $N\` | $A | | ${NS[a]} |
| floor: no-op uprobe on cuLaunchKernel | $B | 1 | ${NS[b]} |
| this build: \`scope trace --probes cuda --quiet --json\` | $C | $(ratio "$C") | ${NS[c]} |
| other: \`$(basename "$OTHER")\` ($OTHER) | $O | $(ratio "$O") | ${NS[o]} |
MD
