#!/usr/bin/env bash
# Host families under realistic loads, in one run (interleaved rounds):
#  1. building a small C project (zstd's examples from libzstd-dev: 9 programs, make -j$(nproc);
#     without libzstd-dev, scope's C test sources), ten clean builds per round: exec-, open- and
#     fork-heavy, as a CI job or a data pipeline's preprocessing is;
#  2. tar of /usr/share into a pipe: ~900,000 syscalls and ~60,000 opens a second, the
#     syscall-heavy extreme;
#  for each: traced / untraced (target <= 1.05) in the steady state (wall and CPU time of the
#  workload itself, scope already attached) and for scope's whole run, against the floor of any
#  syscall tracing; and scope's own CPU while tracing it;
#  3. exec/open at 10,000 opens/s: the workload's CPU time traced / untraced;
#  4. the agent: `scope up` tracing the whole machine with the host families and storing every
#     event in its SQLite store while one C-build round and one tar run: its CPU (% of one core)
#     and the rows it stored.
# Usage: bench/host_bench.sh [ROUNDS=3]; prints a Markdown section on stdout.
source "$(dirname "$0")/common.sh"
need_root
ROUNDS=${1:-3}
[[ -x $SCOPE ]] || { echo "build scope first" >&2; exit 1; }
EXAMPLES=${EXAMPLES:-/usr/share/doc/libzstd-dev/examples}
LIBZSTD=$(ls /usr/lib/*/libzstd.a 2>/dev/null | head -1 || true)
PRIV=$(mktemp -d /tmp/scope-hostbench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cp "$SCOPE" "$PRIV/scope"
SCOPE=$PRIV/scope
cc -O2 -o "$PRIV/open_rate" "$ROOT/bench/open_rate.c"
FAMILIES=exec,open,syscalls,sched,net # the host families (not cuda, llama, ggml: uprobes)

# Each workload times itself ("wall user sys", bash's `time`, children included), so under scope
# the figure starts after every probe is attached (scope holds the command until then) and ends
# before the summary: the steady-state tracing cost, without scope's load/attach/detach. The whole
# run, scope's start to its exit, is measured too. CPU = user + sys of the workload's processes:
# BPF programs run in them, and it leaves out waiting for a CPU that others (or scope) hold.
cat >"$PRIV/tar.sh" <<'SH'
#!/bin/bash
TIMEFORMAT='%R %U %S'
{ time tar cf - /usr/share 2>/dev/null | cat >/dev/null; } 2>"$1"
SH
# The C project: zstd's examples where libzstd-dev is installed (scripts/install-deps.sh does), else
# (the GPU machine) scope's own C test sources, compiled to objects by a generated Makefile.
if [[ -f $EXAMPLES/Makefile && -n $LIBZSTD ]]; then
  PROJECT="zstd's examples (libzstd-dev, 9 programs)"
  SRC=$EXAMPLES MAKEARGS="LIB=$LIBZSTD"
else
  PROJECT="scope's C test sources (testdata/, 8 files; no libzstd-dev here)"
  SRC=$PRIV/src MAKEARGS=""
  mkdir -p "$SRC"
  cp "$ROOT"/testdata/standin/*.[ch] "$ROOT"/testdata/demo/*.c "$ROOT"/testdata/llama/*.c "$SRC/"
  objs=$(cd "$SRC" && ls *.c | sed 's/\.c$/.o/' | paste -sd' ')
  printf 'all: %s\n%%.o: %%.c\n\t$(CC) -O2 -g -I. -c -o $@ $<\nclean:\n\trm -f *.o\n' "$objs" >"$SRC/Makefile"
fi
cat >"$PRIV/build.sh" <<SH
#!/bin/bash
TIMEFORMAT='%R %U %S'
D=\$(mktemp -d $PRIV/build.XXXXXX)
cp -r $SRC/. "\$D/"
{ time for i in 1 2 3 4 5 6 7 8 9 10; do
    make -s -C "\$D" -j$(nproc) $MAKEARGS >/dev/null 2>&1 || exit 1
    make -s -C "\$D" clean >/dev/null 2>&1
  done; } 2>"\$1"
rm -rf "\$D"
SH
chmod +x "$PRIV/tar.sh" "$PRIV/build.sh"
"$PRIV/build.sh" "$PRIV/el" || { echo "$PROJECT does not build here" >&2; exit 1; }
find_noop_tp "$PRIV"
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wall_of() { awk '{print $1}' "$PRIV/el"; }
cpu_in() { awk '{print $2 + $3}' "$PRIV/el"; }
med() { printf '%s\n' "$@" | median; }
least() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

# measure NAME: ROUNDS interleaved rounds of untraced, floor and traced runs of $PRIV/NAME.sh;
# leaves the rounds in <NAME>_{UW,UC,FW,FC,TW,TC,WHOLE,C} and the last summary in $PRIV/NAME.json.
measure() {
  local name=$1 r v t0 t1 sp cpu
  local -n uw=${name}_UW uc=${name}_UC fw=${name}_FW fc=${name}_FC tw=${name}_TW tc=${name}_TC \
    whole=${name}_WHOLE c=${name}_C
  local order=(untraced floor traced)
  for r in $(seq 1 "$ROUNDS"); do
    # The order rotates from round to round: whatever one run leaves behind (page cache, freed
    # maps, a warm CPU) does not always favour the same variant.
    for v in "${order[@]:$(((r - 1) % 3))}" "${order[@]:0:$(((r - 1) % 3))}"; do
      case $v in
        untraced)
          "$PRIV/$name.sh" "$PRIV/el"
          uw+=("$(wall_of)"); uc+=("$(cpu_in)") ;;
        floor)
          "$NOOP_TP" -- "$PRIV/$name.sh" "$PRIV/el"
          fw+=("$(wall_of)"); fc+=("$(cpu_in)") ;;
        traced)
          t0=$(now_s)
          "$SCOPE" trace --probes "$FAMILIES" --quiet --json -- "$PRIV/$name.sh" "$PRIV/el" >"$PRIV/$name.json" 2>"$PRIV/$name.err" &
          sp=$!
          cpu=0
          while kill -0 $sp 2>/dev/null; do cpu=$(cpu_of $sp); sleep 0.05; done
          wait $sp
          t1=$(now_s)
          whole+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
          tw+=("$(wall_of)"); tc+=("$(cpu_in)")
          c+=("$cpu") ;;
      esac
    done
    echo "$name round $r: wall untraced ${uw[-1]} floor ${fw[-1]} traced ${tw[-1]} (whole ${whole[-1]}); cpu ${uc[-1]} ${fc[-1]} ${tc[-1]}" >&2
  done
}

# table NAME TITLE: the Markdown rows and round lists of one workload.
table() {
  local name=$1 title=$2
  local -n uw=${name}_UW uc=${name}_UC fw=${name}_FW fc=${name}_FC tw=${name}_TW tc=${name}_TC \
    whole=${name}_WHOLE c=${name}_C
  local muw mfw mtw muc mfc mtc lu lf lt mwhole mc events dropped
  muw=$(med "${uw[@]}"); mfw=$(med "${fw[@]}"); mtw=$(med "${tw[@]}")
  muc=$(med "${uc[@]}"); mfc=$(med "${fc[@]}"); mtc=$(med "${tc[@]}")
  # On a shared machine the least-disturbed round is the best estimate of each variant's own cost.
  lu=$(least "${uc[@]}"); lf=$(least "${fc[@]}"); lt=$(least "${tc[@]}")
  mwhole=$(med "${whole[@]}"); mc=$(med "${c[@]}")
  events=$(json_field '["events"]' <"$PRIV/$name.json")
  dropped=$(json_field '["dropped"]' <"$PRIV/$name.json")
  cat <<MD
| $title | (a) untraced | (b) floor | (c) scope | (c)/(a) | (b)/(a) |
|---|---:|---:|---:|---:|---:|
| steady state, wall s (the workload's own time, scope attached) | $muw | $mfw | $mtw | $(ratio "$mtw" "$muw") | $(ratio "$mfw" "$muw") |
| steady state, CPU s (user + sys of the workload) | $muc | $mfc | $mtc | **$(ratio "$mtc" "$muc")** | $(ratio "$mfc" "$muc") |
| steady state, CPU s, least of the rounds | $lu | $lf | $lt | $(ratio "$lt" "$lu") | $(ratio "$lf" "$lu") |
| whole run, wall s (scope's start to its exit: + load, attach, detach, summary) | $muw | | $mwhole | $(ratio "$mwhole" "$muw") | |

- wall rounds: untraced ${uw[*]}; floor ${fw[*]}; traced ${tw[*]}; whole ${whole[*]}
- CPU rounds: untraced ${uc[*]}; floor ${fc[*]}; traced ${tc[*]}
- scope's own CPU while tracing it: ${mc} s over ${mwhole} s wall = $(awk -v c="$mc" -v w="$mwhole" 'BEGIN {printf "%.1f", 100 * c / w}') % of one core; last run: ${events} events, ${dropped} dropped
MD
}

declare -a build_UW build_UC build_FW build_FC build_TW build_TC build_WHOLE build_C
declare -a tar_UW tar_UC tar_FW tar_FC tar_TW tar_TC tar_WHOLE tar_C
measure build
measure tar

declare -a OU OT
for r in $(seq 1 "$ROUNDS"); do
  OU+=("$("$PRIV/open_rate" 10000 3 | awk '{print $6}')")
  OT+=("$("$SCOPE" trace --probes "$FAMILIES" --quiet --json -- "$PRIV/open_rate" 10000 3 2>&1 | grep '^opens' | awk '{print $6}')")
done
ou=$(med "${OU[@]}")
ot=$(med "${OT[@]}")

UPDIR=$PRIV/up
"$SCOPE" up --probes "$FAMILIES" --data-dir "$UPDIR" --listen 127.0.0.1:0 >"$PRIV/up.out" 2>"$PRIV/up.err" &
uppid=$!
for _ in $(seq 1 100); do grep -q serving "$PRIV/up.err" && break; sleep 0.2; done
grep -q serving "$PRIV/up.err" || { cat "$PRIV/up.err" >&2; echo "scope up did not start" >&2; exit 1; }
sleep 1
uc0=$(awk '{print $14 + $15}' "/proc/$uppid/stat"); ut0=$(now_s)
"$PRIV/build.sh" "$PRIV/el"; upbuild=$(cpu_in)
"$PRIV/tar.sh" "$PRIV/el"; uptar=$(cpu_in)
uc1=$(awk '{print $14 + $15}' "/proc/$uppid/stat"); ut1=$(now_s)
sleep 1.5 # the last batch (100 ms) into the store
uprows=$("$SCOPE" sql --data-dir "$UPDIR" --csv "SELECT (SELECT count(*) FROM exec_events) + (SELECT count(*) FROM open_events) + (SELECT count(*) FROM syscalls_events) + (SELECT count(*) FROM sched_events) + (SELECT count(*) FROM net_events)" | tail -1)
kill -INT $uppid
wait $uppid || true
upcpu=$(awk -v a="$uc0" -v b="$uc1" 'BEGIN {printf "%.2f", (b - a) / 100}')
upwall=$(awk -v a="$ut0" -v b="$ut1" 'BEGIN {printf "%.2f", b - a}')

cat <<MD
### Host families under load (\`bench/host_bench.sh $ROUNDS\`, families: $FAMILIES)

$(nproc) CPUs, kernel $(uname -r); $ROUNDS interleaved rounds (the variants' order rotating), medians. (a) untraced; (b) floor: two
no-op BPF programs on raw_syscalls sys_enter/sys_exit (\`bench/noop_tp.c\`), the least any
per-syscall tracing costs; (c) \`scope trace --probes $FAMILIES --quiet --json\`.

$(table build "build a small C project: $PROJECT, 10 clean \`make -j$(nproc)\` builds")

$(table tar "\`tar cf - /usr/share \| cat\`")

| workload | untraced | traced | ratio |
|---|---:|---:|---:|
| 10,000 opens/s for 3 s, the workload's CPU s (median) | $ou | $ot | $(ratio "$ot" "$ou") |

- open rounds (CPU s): untraced ${OU[*]}; traced ${OT[*]}

The agent: \`scope up --probes $FAMILIES\` (every process on the machine, every event stored in
SQLite) while one C-build round (CPU $upbuild s; untraced median above: $(med "${build_UC[@]}")) and
one tar (CPU $uptar s; untraced median: $(med "${tar_UC[@]}")) ran: **$upcpu s of CPU over $upwall s
= $(awk -v c="$upcpu" -v w="$upwall" 'BEGIN {printf "%.1f", 100 * c / w}') % of one core**, $uprows rows stored.
MD
