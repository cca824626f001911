#!/usr/bin/env bash
# Host families under a realistic load, in one run (interleaved rounds):
#  1. tar of /usr/share into a pipe: wall time traced / untraced (target <= 1.05), and scope's
#     own CPU while tracing it (% of one core);
#  2. exec/open at 10,000 opens/s: the workload's CPU time traced / untraced.
# Usage: bench/host_bench.sh [ROUNDS=3]; prints a Markdown section on stdout.
source "$(dirname "$0")/common.sh"
need_root
ROUNDS=${1:-3}
[[ -x $SCOPE ]] || { echo "build scope first" >&2; exit 1; }
PRIV=$(mktemp -d /tmp/scope-hostbench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cp "$SCOPE" "$PRIV/scope"
SCOPE=$PRIV/scope
cc -O2 -o "$PRIV/open_rate" "$ROOT/bench/open_rate.c"
FAMILIES=$("$SCOPE" trace --help | grep -o 'this build: [a-z,]*' | sed 's/this build: //' | tr ',' '\n' | grep -v cuda | paste -sd,)
[[ -n $FAMILIES ]] || FAMILIES=exec,open,syscalls,sched,net

tar_cmd=(sh -c 'tar cf - /usr/share 2>/dev/null | cat >/dev/null')
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }

declare -a U T C
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now_s); "${tar_cmd[@]}"; t1=$(now_s)
  U+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now_s)
  "$SCOPE" trace --probes "$FAMILIES" --quiet --json -- "${tar_cmd[@]}" >"$PRIV/tar.json" 2>"$PRIV/tar.err" &
  sp=$!
  cpu=0
  while kill -0 $sp 2>/dev/null; do cpu=$(cpu_of $sp); sleep 0.05; done
  wait $sp
  t1=$(now_s)
  T+=("$(echo "$t1 - $t0" | bc -l)")
  C+=("$cpu")
done
u=$(printf '%s\n' "${U[@]}" | median)
t=$(printf '%s\n' "${T[@]}" | median)
c=$(printf '%s\n' "${C[@]}" | median)
events=$(tail -1 "$PRIV/tar.json" | jq -r '.events')
dropped=$(tail -1 "$PRIV/tar.json" | jq -r '.dropped')

declare -a OU OT
for r in $(seq 1 "$ROUNDS"); do
  OU+=("$("$PRIV/open_rate" 10000 3 | awk '{print $6}')")
  OT+=("$("$SCOPE" trace --probes "$FAMILIES" --quiet --json -- "$PRIV/open_rate" 10000 3 2>/dev/null | grep '^opens' | awk '{print $6}')")
done
ou=$(printf '%s\n' "${OU[@]}" | median)
ot=$(printf '%s\n' "${OT[@]}" | median)

cat <<MD
### Host families under load (\`bench/host_bench.sh $ROUNDS\`, families: $FAMILIES)

| workload | untraced | traced | ratio |
|---|---:|---:|---:|
| \`tar cf - /usr/share \| cat\`, wall s (median of $ROUNDS) | $u | $t | $(echo "$t / $u" | bc -l | cut -c1-5) |
| 10,000 opens/s for 3 s, the workload's CPU s (median) | $ou | $ot | $(echo "$ot / $ou" | bc -l | cut -c1-5) |

- tar rounds: untraced ${U[*]}; traced ${T[*]}
- scope's own CPU while tracing tar: ${c} s over ${t} s wall = $(echo "100 * $c / $t" | bc -l | cut -c1-5) % of one core; last run: ${events} events, ${dropped} dropped
- open rounds (CPU s): untraced ${OU[*]}; traced ${OT[*]}
MD
