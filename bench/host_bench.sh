#!/usr/bin/env bash
# Host families under a realistic load, in one run (interleaved rounds):
#  1. tar of /usr/share into a pipe: traced / untraced (target <= 1.05) in the steady state (wall
#     and CPU time of the pipeline itself, scope already attached) and for scope's whole run,
#     against the floor of any syscall tracing; and scope's own CPU while tracing it;
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

# The tar pipeline times itself ("wall user sys" of the pipeline, bash's `time`), so under scope
# the figure starts after every probe is attached (scope holds the command until then) and ends
# before the summary: the steady-state tracing cost, without scope's load/attach/detach. The whole
# run, scope's start to its exit, is measured too. CPU = user + sys of tar and cat: BPF programs
# run in them, and it leaves out waiting for a CPU that others (or scope itself) hold.
cat >"$PRIV/tar.sh" <<'SH'
#!/bin/bash
TIMEFORMAT='%R %U %S'
{ time tar cf - /usr/share 2>/dev/null | cat >/dev/null; } 2>"$1"
SH
chmod +x "$PRIV/tar.sh"
cc -O2 -Wall -o "$PRIV/noop_tp" "$ROOT/bench/noop_tp.c" -lbpf
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wall_of() { awk '{print $1}' "$PRIV/el"; }
cpu_in() { awk '{print $2 + $3}' "$PRIV/el"; }

declare -a UW UC FW FC TW TC WHOLE C
for r in $(seq 1 "$ROUNDS"); do
  "$PRIV/tar.sh" "$PRIV/el"
  UW+=("$(wall_of)"); UC+=("$(cpu_in)")
  "$PRIV/noop_tp" -- "$PRIV/tar.sh" "$PRIV/el"
  FW+=("$(wall_of)"); FC+=("$(cpu_in)")
  t0=$(now_s)
  "$SCOPE" trace --probes "$FAMILIES" --quiet --json -- "$PRIV/tar.sh" "$PRIV/el" >"$PRIV/tar.json" 2>"$PRIV/tar.err" &
  sp=$!
  cpu=0
  while kill -0 $sp 2>/dev/null; do cpu=$(cpu_of $sp); sleep 0.05; done
  wait $sp
  t1=$(now_s)
  WHOLE+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
  TW+=("$(wall_of)"); TC+=("$(cpu_in)")
  C+=("$cpu")
  echo "round $r: wall untraced ${UW[-1]} floor ${FW[-1]} traced ${TW[-1]} (whole ${WHOLE[-1]}); cpu ${UC[-1]} ${FC[-1]} ${TC[-1]}" >&2
done
med() { printf '%s\n' "$@" | median; }
least() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
uw=$(med "${UW[@]}"); uc=$(med "${UC[@]}"); fw=$(med "${FW[@]}"); fc=$(med "${FC[@]}")
tw=$(med "${TW[@]}"); tc=$(med "${TC[@]}"); whole=$(med "${WHOLE[@]}"); c=$(med "${C[@]}")
# On a shared machine the least-disturbed round is the best estimate of each variant's own cost.
luc=$(least "${UC[@]}"); lfc=$(least "${FC[@]}"); ltc=$(least "${TC[@]}")
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

$(nproc) CPUs, kernel $(uname -r); $ROUNDS interleaved rounds, medians. (a) untraced; (b) floor: two
no-op BPF programs on raw_syscalls sys_enter/sys_exit (\`bench/noop_tp.c\`), the least any
per-syscall tracing costs; (c) \`scope trace --probes $FAMILIES --quiet --json\`.

| \`tar cf - /usr/share \| cat\` | (a) untraced | (b) floor | (c) scope | (c)/(a) | (b)/(a) |
|---|---:|---:|---:|---:|---:|
| steady state, wall s (the pipeline's own time, scope attached) | $uw | $fw | $tw | $(ratio "$tw" "$uw") | $(ratio "$fw" "$uw") |
| steady state, CPU s (user + sys of tar and cat) | $uc | $fc | $tc | $(ratio "$tc" "$uc") | $(ratio "$fc" "$uc") |
| steady state, CPU s, least of the rounds | $luc | $lfc | $ltc | $(ratio "$ltc" "$luc") | $(ratio "$lfc" "$luc") |
| whole run, wall s (scope's start to its exit: + load, attach, detach, summary) | $uw | | $whole | $(ratio "$whole" "$uw") | |

| workload | untraced | traced | ratio |
|---|---:|---:|---:|
| 10,000 opens/s for 3 s, the workload's CPU s (median) | $ou | $ot | $(ratio "$ot" "$ou") |

- tar wall rounds: untraced ${UW[*]}; floor ${FW[*]}; traced ${TW[*]}; whole ${WHOLE[*]}
- tar CPU rounds: untraced ${UC[*]}; floor ${FC[*]}; traced ${TC[*]}
- scope's own CPU while tracing tar: ${c} s over ${whole} s wall = $(awk -v c="$c" -v w="$whole" 'BEGIN {printf "%.1f", 100 * c / w}') % of one core; last run: ${events} events, ${dropped} dropped
- open rounds (CPU s): untraced ${OU[*]}; traced ${OT[*]}
MD
