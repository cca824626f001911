#!/usr/bin/env bash
# The host families' benchmarks on the GPU machine: many quiet cores, where the ratios this
# project's 2-CPU VM blurs (its noise is as large as the targets' margins) can be read. Run from
# the repo root with build-portable/ carried (bench/gpu/bundle.sh builds it, noop_tp included):
#   ROUNDS=5 OUT=$OUT bash bench/gpu/host.sh       results in $OUT (or ./gpu-out)
# Carry: build-portable/scope, build-portable/lib, build-portable/bench/noop_tp.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export BUILD=$PWD/build-portable
export LD_LIBRARY_PATH=$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
{ date -u; uname -r; nproc; } >"$OUT/host_machine.txt"
timeout 330 bash bench/host_bench.sh "${ROUNDS:-5}" >"$OUT/host_bench.md" 2>"$OUT/host_bench.err"
echo "host_bench rc=$?" >>"$OUT/host_machine.txt"
timeout 150 bash bench/syscalls_bench.sh 2000000 "${ROUNDS:-5}" >"$OUT/syscalls_bench.md" \
  2>"$OUT/syscalls_bench.err"
echo "syscalls_bench rc=$?" >>"$OUT/host_machine.txt"
cat "$OUT/host_machine.txt" "$OUT/host_bench.md" "$OUT/syscalls_bench.md"
