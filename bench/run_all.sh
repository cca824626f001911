#!/usr/bin/env bash
# Runs the CPU benchmarks and writes their section of BENCHMARKS.md at the repo root (between
# <!-- cpu-bench:begin --> and <!-- cpu-bench:end -->; the rest of the file, e.g. a GPU section,
# is kept). Needs root and a built tree: cmake --preset dev && ninja -C build.
#   sudo bench/run_all.sh          (N=200000 ROUNDS=5 BURST_PER=250000 BURST_THREADS=4 to change)
source "$(dirname "$0")/common.sh"
need_root
need_built
N=${N:-200000}; ROUNDS=${ROUNDS:-5}; BURST_PER=${BURST_PER:-250000}; BURST_THREADS=${BURST_THREADS:-4}
MD=$ROOT/BENCHMARKS.md
TMP=$(mktemp -d /tmp/scope-bench-all.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

status=0
"$ROOT"/bench/launch_overhead.sh "$N" "$ROUNDS" >"$TMP/overhead.md" || status=1
"$ROOT"/bench/burst.sh "$BURST_PER" "$BURST_THREADS" >"$TMP/burst.md" || status=1

{
  echo "<!-- cpu-bench:begin -->"
  echo "## CPU benchmarks (stand-in CUDA libraries, no GPU)"
  echo
  echo "Written by \`sudo bench/run_all.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); all numbers below come from this one run."
  echo
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')$(grep -qw hypervisor /proc/cpuinfo && echo ' (virtual machine)'), kernel $(uname -r)"
  echo "- scope: \`$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')\` + working tree, build dir \`${BUILD#$ROOT/}\`"
  echo "- workload: \`build/testdata/bin/launch_loop N [threads]\` calls cudaLaunchKernel in the stand-in libcudart.so.13, which calls cuLaunchKernel in the stand-in libcuda.so.1 (dlopen'd). Every variant runs private copies of these files (own inodes, via LD_LIBRARY_PATH), so that uprobes other processes hold on build/testdata/lib do not trap the untraced runs."
  echo "- exact commands: \`bench/launch_overhead.sh $N $ROUNDS\`, \`bench/burst.sh $BURST_PER $BURST_THREADS\` (each table lists the command it ran)"
  echo
  cat "$TMP/overhead.md"
  echo
  cat "$TMP/burst.md"
  echo "<!-- cpu-bench:end -->"
} >"$TMP/section.md"

if [[ -f $MD ]] && grep -q '<!-- cpu-bench:begin -->' "$MD" && grep -q '<!-- cpu-bench:end -->' "$MD"; then
  awk -v sec="$TMP/section.md" '
    /<!-- cpu-bench:begin -->/ { while ((getline l < sec) > 0) print l; skip = 1; next }
    /<!-- cpu-bench:end -->/   { skip = 0; next }
    !skip' "$MD" >"$TMP/new.md"
else
  { if [[ -f $MD ]]; then cat "$MD"; echo; else echo "# Benchmarks"; echo; fi
    cat "$TMP/section.md"; } >"$TMP/new.md"
fi
cp "$TMP/new.md" "$MD"
echo "wrote $MD" >&2
cat "$TMP/section.md"
exit $status
