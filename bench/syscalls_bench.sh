#!/usr/bin/env bash
# Overhead of `scope trace --probes syscalls` on the cheapest syscall, against the floor of any
# program on the syscall tracepoints.
#   bench/syscalls_bench.sh [N] [ROUNDS]      (root; N=2000000, ROUNDS=5; BUILD=build dir)
# Rounds interleave (a) untraced getppid_loop, (b) the floor: two empty BPF programs on
# raw_syscalls:sys_enter/sys_exit (bench/noop_tp.c), (c) scope trace --probes syscalls,sched
# (syscalls alone when this build has no sched family); and, to show what the exec, open and net
# families cost every syscall on the host: (d) the floor plus two empty programs on the
# syscalls:sys_{enter,exit}_openat tracepoints (what those families attach to without the syscalls
# family: the kernel's perf syscall handlers then run on every syscall), (e) scope trace --probes
# exec,open,syscalls,sched,net (those families' handlers tail-called from the syscalls family's
# programs instead). The figure is getppid_loop's CPU time
# per call (user + system of the looping thread: BPF programs run in it), so time spent waiting
# for a CPU on a busy machine is left out; wall time per call is listed too.
# Ratio = (c - a) / (b - a). Prints a Markdown fragment on stdout, progress on stderr.
source "$(dirname "$0")/common.sh"
N=${1:-2000000}
ROUNDS=${2:-5}
need_root
[[ -x $SCOPE ]] || { echo "$(basename "$0"): missing $SCOPE (cmake --preset dev && ninja -C build)" >&2; exit 1; }
PRIV=$(mktemp -d /tmp/scope-sysbench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cc -O2 -Wall -o "$PRIV/getppid_loop" "$ROOT/bench/getppid_loop.c"
find_noop_tp "$PRIV"
cp "$SCOPE" "$PRIV/scope"  # others may rebuild build/scope meanwhile
SCOPE=$PRIV/scope
LOOP=$PRIV/getppid_loop

PROBES=${PROBES:-syscalls,sched}
if ! "$SCOPE" trace --probes "$PROBES" --quiet --json -- true >/dev/null 2>"$PRIV/err"; then
  echo "  --probes syscalls,sched failed ($(head -1 "$PRIV/err")): measuring --probes syscalls" >&2
  PROBES=syscalls
fi

# Other programs on the syscall tracepoints (another scope, a test) slow every variant.
others() { bpftool -j link show 2>/dev/null | python3 -c 'import json, sys; print(sum(l.get("type") in ("raw_tracepoint", "tracing") for l in json.load(sys.stdin)))' 2>/dev/null || echo "?"; }

declare -A NS WALL
FAIL=0; CHECKS=()
field() { awk -v k="$1" '$1 == k {print $2}'; }
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS (raw_tracepoint/tracing links before: $(others))" >&2
  out=$("$LOOP" "$N")
  NS[a]+="$(field ns_per_call <<<"$out") "; WALL[a]+="$(field wall_ns_per_call <<<"$out") "
  out=$("$NOOP_TP" -- "$LOOP" "$N")
  NS[b]+="$(field ns_per_call <<<"$out") "; WALL[b]+="$(field wall_ns_per_call <<<"$out") "
  out=$("$NOOP_TP" --syscall openat -- "$LOOP" "$N")
  NS[d]+="$(field ns_per_call <<<"$out") "; WALL[d]+="$(field wall_ns_per_call <<<"$out") "
  # Under --json the loop's own stdout is on scope's stderr.
  out=$("$SCOPE" trace --probes exec,open,syscalls,sched,net --quiet --json -- "$LOOP" "$N" 2>&1)
  NS[e]+="$(field ns_per_call <<<"$out") "; WALL[e]+="$(field wall_ns_per_call <<<"$out") "
  out=$("$SCOPE" trace --probes "$PROBES" --quiet --json -- "$LOOP" "$N" 2>&1)
  NS[c]+="$(field ns_per_call <<<"$out") "; WALL[c]+="$(field wall_ns_per_call <<<"$out") "
  summary=$(grep '"event":"summary"' <<<"$out" | tail -1)
  getppid=$(python3 -c 'import json, sys; print(sum(s["count"] for s in json.loads(sys.stdin.read())["syscalls"] if s["name"] == "getppid"))' <<<"$summary")
  dropped=$(json_field '["dropped"]' <<<"$summary")
  ok=ok
  # The loop warms up with 10000 calls before the timed N.
  if [[ $getppid != "$((N + 10000))" || $dropped != 0 ]]; then ok=FAIL; FAIL=1; fi
  CHECKS+=("round $r: syscalls getppid count=$getppid (expected $((N + 10000))) dropped=$dropped $ok")
  last() { tr ' ' '\n' <<<"${NS[$1]}" | grep . | tail -1; }
  echo "  ns/call: a=$(last a) b=$(last b) c=$(last c) d=$(last d) e=$(last e)  getppid=$getppid dropped=$dropped $ok" >&2
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
A=$(med "${NS[a]}"); B=$(med "${NS[b]}"); C=$(med "${NS[c]}"); D=$(med "${NS[d]}"); E=$(med "${NS[e]}")
RC=$(awk -v a="$A" -v b="$B" -v c="$C" 'BEGIN {printf "%.2f", (c - a) / (b - a)}')
VERDICT=$(awk -v r="$RC" 'BEGIN {print (r <= 1.5) ? "met" : "MISSED"}')

cat <<MD
### Syscall overhead (getppid_loop $N, $ROUNDS interleaved rounds, medians)

$(nproc) CPUs, kernel $(uname -r), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource).

| variant | command | CPU ns/call (median) | all rounds | wall ns/call, all rounds |
|---|---|---:|---|---|
| (a) untraced | \`getppid_loop $N\` | $A | ${NS[a]} | ${WALL[a]} |
| (b) floor: 2 no-op raw_tp | \`noop_tp -- getppid_loop $N\` | $B | ${NS[b]} | ${WALL[b]} |
| (c) scope | \`scope trace --probes $PROBES --quiet --json -- getppid_loop $N\` | $C | ${NS[c]} | ${WALL[c]} |
| (d) floor + 2 no-op syscalls:openat | \`noop_tp --syscall openat -- getppid_loop $N\` | $D | ${NS[d]} | ${WALL[d]} |
| (e) scope, every host family | \`scope trace --probes exec,open,syscalls,sched,net --quiet --json -- getppid_loop $N\` | $E | ${NS[e]} | ${WALL[e]} |

(c − a) / (b − a) = **$RC** (target ≤ 1.5: $VERDICT). (d) − (b): what a program on any
syscalls:* tracepoint adds to every syscall; (e) − (c): what exec, open and net add to a syscall
they do not handle, through the syscalls family's dispatch.

$(printf -- '- %s\n' "${CHECKS[@]}")
MD
exit $FAIL
