# Shared by the bench/*.sh scripts (sourced, not run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SCOPE=$BUILD/scope
NOOP=$BUILD/bench/noop_uprobe

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "$(basename "$0"): needs root (uprobes and BPF); run it with sudo" >&2
    exit 1
  fi
}

need_built() {
  local f
  for f in "$SCOPE" "$NOOP" "$BUILD/testdata/bin/launch_loop" "$BUILD/testdata/lib/libcuda.so.1" \
           "$BUILD/testdata/lib/libcudart.so.13"; do
    [[ -x $f || -f $f ]] || { echo "$(basename "$0"): missing $f (cmake --preset dev && ninja -C build)" >&2; exit 1; }
  done
}

# Private copies of the stand-in libraries and launch_loop. A uprobe is set on a file (inode), not
# on a process: any other scope or test attached to build/testdata/lib/libcuda.so.1 would make
# every launch of an "untraced" run trap too. Copies have their own inodes; LD_LIBRARY_PATH puts
# them ahead of launch_loop's RUNPATH and of libcudart's dlopen("libcuda.so.1").
make_private_copy() {
  PRIV=$(mktemp -d /tmp/scope-bench.XXXXXX)
  mkdir -p "$PRIV/lib" "$PRIV/bin"
  cp -L "$BUILD/testdata/lib/libcuda.so.1" "$BUILD/testdata/lib/libcudart.so.13" \
    "$BUILD/testdata/lib/libcupti.so.13" "$PRIV/lib/"
  cp "$BUILD/testdata/bin/launch_loop" "$PRIV/bin/"
  # scope itself too: others may rebuild build/scope while a run is under way.
  cp "$SCOPE" "$NOOP" "$PRIV/bin/"
  # scope's CUPTI library, found beside the binary (GPU times).
  [ -f "$BUILD/libscope_cupti.so" ] && cp "$BUILD/libscope_cupti.so" "$PRIV/bin/"
  SCOPE=$PRIV/bin/scope
  NOOP=$PRIV/bin/noop_uprobe
  LOOP=$PRIV/bin/launch_loop
  LIBCUDA=$PRIV/lib/libcuda.so.1
  export LD_LIBRARY_PATH=$PRIV/lib
  trap 'rm -rf "$PRIV"' EXIT
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

now_s() { date +%s.%N; }

# A field of the JSON object on stdin's last line (python3 rather than jq: the GPU machine has it).
json_field() { tail -1 | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())'"$1"')'; }

# noop_tp (bench/noop_tp.c): the build's copy when there is one (the portable bundle carries it),
# else compiled here against libbpf. Sets NOOP_TP.
find_noop_tp() {
  local dir=$1
  if [[ -x $BUILD/bench/noop_tp ]]; then
    cp "$BUILD/bench/noop_tp" "$dir/noop_tp"
  else
    cc -O2 -Wall -o "$dir/noop_tp" "$ROOT/bench/noop_tp.c" -lbpf
  fi
  NOOP_TP=$dir/noop_tp
}
