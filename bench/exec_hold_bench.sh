#!/usr/bin/env bash
# What `scope trace -- COMMAND` costs an exec-heavy command with the default probes (cuda, ggml,
# llama): each process the command starts is held until scope has looked at what it maps.
#   bench/exec_hold_bench.sh [N=1000] [ROUNDS=5]     (root)
# The command runs N execs of /bin/true and times itself (so scope's own start and end are left
# out); rounds interleave untraced and traced runs. Prints a Markdown fragment on stdout.
source "$(dirname "$0")/common.sh"
N=${1:-1000}
ROUNDS=${2:-5}
need_root
[[ -x $SCOPE ]] || { echo "build scope first" >&2; exit 1; }
PRIV=$(mktemp -d /tmp/scope-execbench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cp "$SCOPE" "$PRIV/scope"
cat >"$PRIV/loop.sh" <<SH
#!/bin/bash
TIMEFORMAT='%R'
{ time for i in \$(seq 1 $N); do /bin/true; done; } 2>"\$1"
SH
chmod +x "$PRIV/loop.sh"
U=(); T=(); HELD=""
for r in $(seq 1 "$ROUNDS"); do
  "$PRIV/loop.sh" "$PRIV/t"; U+=("$(cat "$PRIV/t")")
  "$PRIV/scope" trace --quiet --json -- "$PRIV/loop.sh" "$PRIV/t" >"$PRIV/s.json" 2>/dev/null
  T+=("$(cat "$PRIV/t")")
  HELD=$(tail -1 "$PRIV/s.json" | jq -c '.held')
  echo "round $r: untraced ${U[-1]} s, traced ${T[-1]} s" >&2
done
u=$(printf '%s\n' "${U[@]}" | median); t=$(printf '%s\n' "${T[@]}" | median)
cat <<MD
### Exec-heavy command under \`scope trace -- COMMAND\` (\`bench/exec_hold_bench.sh $N $ROUNDS\`)

$(nproc) CPUs, kernel $(uname -r); $N execs of /bin/true, default probes, $ROUNDS interleaved rounds, medians.

| | untraced | traced | per exec |
|---|---:|---:|---:|
| wall s | $u | $t | +$(awk -v u="$u" -v t="$t" -v n="$N" 'BEGIN {printf "%.3f", (t - u) * 1000 / n}') ms |

- rounds: untraced ${U[*]}; traced ${T[*]}
- holds in the last traced run: $HELD
MD
