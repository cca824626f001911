#!/usr/bin/env bash
# The GPU check, run on the device machine from the repo root with
# build-portable/ carried (bench/gpu/bundle.sh builds it here):
#   bash bench/gpu/run.sh            results in $OUT (or ./gpu-out)
# It traces real PyTorch (launch-bound loop, big matmuls, host<->device copies,
# allocations with PYTORCH_NO_CUDA_MEMORY_CACHING=1) and a CUDA C++ program
# built there with nvcc (-cudart shared and static), checks the counts and
# names against what the workloads report, and measures the overhead against
# untraced runs of the same call. Each step is bounded; a failure is recorded
# and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
exec > >(tee -a "$LOG") 2>&1
SCOPE=$PWD/build-portable/scope
export LD_LIBRARY_PATH=$PWD/build-portable/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PY=${PY:-python3}
WORK=/tmp/scope-gpu
mkdir -p "$WORK"
N_TORCH=${N_TORCH:-20000}
N_CU=${N_CU:-100000}
ROUNDS=${ROUNDS:-2}

say() { printf '\n== %s\n' "$*"; }

say "machine"
date -u
uname -r
nvidia-smi -L 2>&1 | head -2
nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -1
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
nvcc --version 2>&1 | tail -1
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
"$SCOPE" trace --help >/dev/null || { echo "scope does not run here"; exit 1; }

# A traced run: scope's summary to $OUT/<name>.summary.json, the workload's
# own JSON line to $OUT/<name>.workload.json (under --json the workload's stdout goes to
# scope's stderr, so that scope's stdout is JSON events only).
traced() {
  local name=$1
  shift
  local t0=$SECONDS
  # $GPU_TIMES empty: launches only (the overhead figure, as before GPU times); "on": with
  # scope's CUPTI library.
  local gpu=--no-gpu-times
  [ "${GPU_TIMES:-}" = on ] && gpu=
  timeout 300 "$SCOPE" trace --probes cuda $gpu --quiet --json -- "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$?
  grep '"event":"summary"' "$WORK/$name.out" | tail -1 >"$OUT/$name.summary.json"
  grep '^{' "$WORK/$name.err" | tail -1 >"$OUT/$name.workload.json"
  echo "$name: rc=$rc wall=$((SECONDS - t0))s $(cat "$OUT/$name.workload.json")"
  head -c 2000 "$WORK/$name.err"
}
untraced() {
  local name=$1
  shift
  local t0=$SECONDS
  timeout 300 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$?
  grep '^{' "$WORK/$name.out" | tail -1 >"$OUT/$name.workload.json"
  echo "$name: rc=$rc wall=$((SECONDS - t0))s $(cat "$OUT/$name.workload.json")"
}

say "CUDA C++ program built here with nvcc"
nvcc -O2 -cudart shared -o "$WORK/workload_shared" bench/gpu/workload.cu && echo built shared
nvcc -O2 -o "$WORK/workload_static" bench/gpu/workload.cu && echo built static
for r in $(seq 1 "$ROUNDS"); do
  for v in shared static; do
    untraced "cu_${v}_untraced_$r" "$WORK/workload_$v" "$N_CU"
    traced "cu_${v}_traced_$r" "$WORK/workload_$v" "$N_CU"
  done
done

say "PyTorch"
for r in $(seq 1 "$ROUNDS"); do
  untraced "torch_launch_untraced_$r" $PY bench/gpu/torch_workload.py launch "$N_TORCH"
  traced "torch_launch_traced_$r" $PY bench/gpu/torch_workload.py launch "$N_TORCH"
  GPU_TIMES=on traced "torch_launch_gputimes_$r" $PY bench/gpu/torch_workload.py launch "$N_TORCH"
done
# GPU times against torch.profiler (CUPTI too) on the same kernels, in separate runs: one
# process holds CUPTI's activity API at a time.
SCOPE_TORCH_PROFILE=1 untraced torch_profile_profiler $PY bench/gpu/torch_workload.py profile 200
GPU_TIMES=on traced torch_profile_scope $PY bench/gpu/torch_workload.py profile 200
for v in shared static; do
  GPU_TIMES=on traced "cu_${v}_gputimes" "$WORK/workload_$v" "$N_CU"
done
# Another profiler first: scope must say so and keep the launches.
SCOPE_TORCH_PROFILE=1 GPU_TIMES=on traced torch_profile_busy $PY bench/gpu/torch_workload.py profile 20
# Every family at once on the launch loop: they must coexist (counts checked by check.py).
t0=$SECONDS
timeout 300 "$SCOPE" trace --probes cuda,exec,open,syscalls,sched,net --quiet --json -- \
  $PY bench/gpu/torch_workload.py launch "$N_TORCH" >"$WORK/all.out" 2>"$WORK/all.err"
echo "torch_launch_all_families: rc=$? wall=$((SECONDS - t0))s"
grep '"event":"summary"' "$WORK/all.out" | tail -1 >"$OUT/torch_launch_all.summary.json"
grep '^{' "$WORK/all.err" | tail -1 >"$OUT/torch_launch_all.workload.json"
head -c 1000 "$WORK/all.err"
untraced torch_matmul_untraced $PY bench/gpu/torch_workload.py matmul 50
traced torch_matmul_traced $PY bench/gpu/torch_workload.py matmul 50
untraced torch_copy_untraced $PY bench/gpu/torch_workload.py copy 20
traced torch_copy_traced $PY bench/gpu/torch_workload.py copy 20
export PYTORCH_NO_CUDA_MEMORY_CACHING=1
untraced torch_alloc_untraced $PY bench/gpu/torch_workload.py alloc 2000
traced torch_alloc_traced $PY bench/gpu/torch_workload.py alloc 2000
unset PYTORCH_NO_CUDA_MEMORY_CACHING

# The floor: one no-op uprobe on the driver's cuLaunchKernel.
if [ -x build-portable/bench/noop_uprobe ]; then
  say "no-op uprobe floor"
  LIBCUDA=$($PY -c 'import torch; torch.zeros(1, device="cuda"); print([l.split()[-1] for l in open("/proc/self/maps") if "libcuda.so" in l][0])')
  echo "libcuda: $LIBCUDA"
  for r in $(seq 1 "$ROUNDS"); do
    timeout 300 build-portable/bench/noop_uprobe "$LIBCUDA" cuLaunchKernel -- \
      $PY bench/gpu/torch_workload.py launch "$N_TORCH" >"$WORK/floor_$r.out" 2>&1
    grep '^{' "$WORK/floor_$r.out" | tail -1 >"$OUT/torch_launch_floor_$r.workload.json"
    echo "floor_$r: $(cat "$OUT/torch_launch_floor_$r.workload.json")"
  done
fi

# scope up: the probes on every process and the embedded store; workloads
# started after it (PyTorch loads libcuda lazily) must be counted exactly.
say "scope up (system-wide, SQLite)"
UPDIR=$WORK/up
rm -rf "$UPDIR"
setsid "$SCOPE" up --probes cuda --data-dir "$UPDIR" --listen 127.0.0.1:0 \
  >"$WORK/up.out" 2>"$WORK/up.err" </dev/null &
UPPID=$!
for _ in $(seq 1 300); do [ -s "$UPDIR/endpoint.json" ] && break; sleep 0.1; done
head -c 500 "$WORK/up.err"
up_sql() { timeout 60 "$SCOPE" sql --data-dir "$UPDIR" --json "$1"; }
timeout 300 $PY bench/gpu/torch_workload.py launch "$N_TORCH" </dev/null >"$WORK/up_torch.out" 2>&1
grep '^{' "$WORK/up_torch.out" | tail -1 >"$OUT/up_torch.workload.json"
timeout 300 "$WORK/workload_shared" "$N_CU" </dev/null >"$WORK/up_cu.out" 2>&1
grep '^{' "$WORK/up_cu.out" | tail -1 >"$OUT/up_cu_shared.workload.json"
sleep 2
up_sql "SELECT count(*) FROM cuda_events WHERE op = 'launch' AND comm LIKE 'python%' AND kernel LIKE '%add%'" \
  >"$OUT/up_torch_add_launches.json"
up_sql "SELECT op, count(*) FROM cuda_events WHERE comm LIKE 'workload%' GROUP BY op" \
  >"$OUT/up_cu_ops.json"
up_sql "SELECT count(*) FROM cuda_events WHERE op = 'launch' AND kernel IS NULL" \
  >"$OUT/up_unnamed.json"
$PY -c "import json, urllib.request as u; print(u.urlopen(json.load(open('$UPDIR/endpoint.json'))['url'] + '/metrics').read().decode())" \
  2>&1 | grep -E '^scope_events_(stored|dropped)' >"$OUT/up_metrics.txt"
kill -TERM "$UPPID"; wait "$UPPID"; echo "scope up exit: $?"
tail -c 500 "$WORK/up.err"
cat "$OUT"/up_*.json "$OUT/up_metrics.txt" 2>/dev/null

say "checks"
$PY bench/gpu/check.py "$OUT" >"$OUT/gpu_results.txt"
tail -40 "$OUT/gpu_results.txt"
# Few files come back from the device machine: pack them into one.
(cd "$OUT" && tar czf /tmp/gpu-results.tgz --exclude=gpu-results.tgz . && rm -f ./*.json && mv /tmp/gpu-results.tgz .)
