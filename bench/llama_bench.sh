#!/usr/bin/env bash
# Tokens/s of the llama workload (node-llama-cpp's prebuilt llama.cpp on
# generated GGUF models) untraced, traced with `--probes llama` and traced
# with `--probes llama,ggml`, in alternating rounds of the same run.
#   bench/llama_bench.sh [TOKENS] [ROUNDS]     (root; TOKENS=200, ROUNDS=5; BUILD=build dir)
# Three models: the tests' tiny one (2 layers, n_embd 64: a decode takes a
# fraction of a millisecond, the worst case for per-call probe costs), a
# small one (6 layers, n_embd 384) and a medium one (8 layers, n_embd 768).
# The figure is the runner's generation rate (tokens/s over the wall time
# from the first to the last generated token); prompt processing is one
# decode per request and is left out. Slowdown = 1 - traced/untraced, the
# median of the per-round ratios.
# On a busy machine tokens/s swing more between rounds than the probes cost,
# so the cost is also measured where it is steady: the CPU time a traced
# ggml_aligned_malloc+free pair (3 uprobe traps) adds, on the calling
# thread's CPU clock, against untraced and against one no-op perf uprobe (the
# floor of any uprobe); and per model, traps per decode x that cost over the
# untraced CPU time per token gives the expected slowdown.
# Prints a Markdown fragment on stdout, progress on stderr.
source "$(dirname "$0")/common.sh"
TOKENS=${1:-200}
ROUNDS=${2:-5}
need_root
FIX=$BUILD/testdata/llama
[[ -x $SCOPE ]] || { echo "$(basename "$0"): missing $SCOPE (cmake --preset dev && ninja -C build)" >&2; exit 1; }
[[ $(cat "$FIX/status" 2>/dev/null) == ok ]] ||
  { echo "$(basename "$0"): the llama fixture is not set up ($FIX/status: $(cat "$FIX/status" 2>/dev/null))" >&2; exit 1; }

# Private copies: a uprobe is set on a file (inode), so probes another scope or
# a test holds on build/testdata/llama would make the untraced rounds trap too.
PRIV=$(mktemp -d /tmp/scope-llamabench.XXXXXX)
trap 'rm -rf "$PRIV"' EXIT
cp -r "$FIX/node_modules" "$FIX/runner.mjs" "$FIX/gen_gguf.mjs" "$FIX/package.json" "$PRIV/"
cp "$SCOPE" "$PRIV/scope"
SCOPE=$PRIV/scope
gen() { node "$PRIV/gen_gguf.mjs" "$PRIV/$1.gguf" "${@:2}" 2>/dev/null; }
gen tiny --layers 2 --embd 64 --ff 128 --vocab 512
gen small --layers 6 --embd 384 --ff 1024 --heads 6 --vocab 2048
gen medium --layers 8 --embd 768 --ff 2048 --heads 12 --vocab 4096

rate() { jq -r 'select(.generation_tokens_per_s != null) | .generation_tokens_per_s'; }
cpu_us() { jq -r 'select(.generation_cpu_ns != null) | .generation_cpu_ns / .generation_decodes / 1000'; }
# Uprobe traps per decode from a traced run's summary: two per call with a
# duration (decode, graph compute, malloc), one per free.
traps() {
  jq -r 'select(.event == "summary") | .llama.decode_calls as $d |
    if $d == 0 then 0 else
      ((2 * $d + 2 * (.ggml.graph_computes // 0) +
        ([.ggml.memory[]?.allocs] | add // 0) * 2 + ([.ggml.memory[]?.frees] | add // 0)) / $d)
    end'
}
run() {  # PROBES MODEL -> the runner's JSON (and scope's summary when traced)
  if [[ $1 == none ]]; then
    node "$PRIV/runner.mjs" "$PRIV/$2.gguf" --tokens "$TOKENS" --threads 1
  else
    # Under --json the runner's own stdout is on scope's stderr: its JSON lines with scope's.
    "$SCOPE" trace --quiet --json --probes "$1" -- node "$PRIV/runner.mjs" "$PRIV/$2.gguf" \
      --tokens "$TOKENS" --threads 1 2>&1 | grep '^{'
  fi
}

echo "## llama/ggml families: tokens/s untraced vs traced"
echo
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- workload: \`node runner.mjs MODEL --tokens $TOKENS --threads 1\` (node-llama-cpp $(jq -r .version "$PRIV/node_modules/node-llama-cpp/package.json"), CPU build), greedy generation"
echo "- traced: \`scope trace --quiet --json --probes P -- node runner.mjs ...\`; $ROUNDS rounds per model, each running the three variants in turn"
echo
# ---- the cost of one trap -------------------------------------------------------
cp "$BUILD/testdata/bin/ggml_alloc" "$PRIV/"
cp "$PRIV/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so" "$PRIV/libggml-pair.so"
PA=(); PT=(); PF=()
pair() { jq -r 'select(.cpu_ns_per_pair != null) | .cpu_ns_per_pair'; }
for ((r = 1; r <= ROUNDS; r++)); do
  echo "alloc+free pairs: round $r/$ROUNDS" >&2
  PA+=("$("$PRIV/ggml_alloc" "$PRIV/libggml-pair.so" --loop 20000 | pair)")
  PT+=("$("$SCOPE" trace --quiet --json --probes ggml -- "$PRIV/ggml_alloc" "$PRIV/libggml-pair.so" \
    --loop 20000 2>&1 | grep '^{' | pair)")
  [[ -x $NOOP ]] && PF+=("$("$NOOP" "$PRIV/libggml-pair.so" ggml_aligned_malloc -- "$PRIV/ggml_alloc" \
    "$PRIV/libggml-pair.so" --loop 20000 2>/dev/null | pair)")
done
pa=$(printf '%s\n' "${PA[@]}" | median); pt=$(printf '%s\n' "${PT[@]}" | median)
TRAP_NS=$(echo "($pt - $pa) / 3" | bc -l)
echo "| ggml_aligned_malloc(4 KiB) + ggml_aligned_free, CPU ns per pair | median (rounds) |"
echo "|---|---|"
printf '| untraced | %.1f (%s) |\n' "$pa" "$(printf '%.0f ' "${PA[@]}")"
printf '| `--probes ggml` (malloc entry + return, free entry: 3 traps) | %.1f (%s) |\n' "$pt" \
  "$(printf '%.0f ' "${PT[@]}")"
if [[ ${#PF[@]} -gt 0 ]]; then
  printf '| floor: one no-op perf uprobe on ggml_aligned_malloc (1 trap) | %.1f (%s) |\n' \
    "$(printf '%s\n' "${PF[@]}" | median)" "$(printf '%.0f ' "${PF[@]}")"
fi
printf '\nscope: %.2f µs per trap (its BPF programs and ring buffer included).\n\n' \
  "$(echo "$TRAP_NS / 1000" | bc -l)"

echo "| model | untraced tok/s (rounds) | \`--probes llama\` tok/s (rounds) | slowdown | \`--probes llama,ggml\` tok/s (rounds) | slowdown | untraced CPU µs/token | traps per decode (llama / llama,ggml) | expected slowdown from traps (llama / llama,ggml) |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in tiny small medium; do
  declare -A V=()
  RL=(); RG=(); CU=(); TR=""
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "$model: round $r/$ROUNDS" >&2
    plain=$(run none "$model")
    u=$(rate <<<"$plain"); CU+=("$(cpu_us <<<"$plain")")
    l=$(run llama "$model" | rate)
    out=$(run llama,ggml "$model")
    g=$(rate <<<"$out")
    TR=$(traps <<<"$out")
    V[u]+="$u "; V[l]+="$l "; V[g]+="$g "
    RL+=("$(echo "1 - $l / $u" | bc -l)"); RG+=("$(echo "1 - $g / $u" | bc -l)")
  done
  med() { tr ' ' '\n' | grep . | median; }
  fmt() { for v in $1; do printf '%.0f ' "$v"; done; }
  cu=$(printf '%s\n' "${CU[@]}" | median)
  printf '| %s | %.0f (%s) | %.0f (%s) | %.1f %% | %.0f (%s) | %.1f %% | %.0f | 2 / %.1f | %.1f %% / %.1f %% |\n' \
    "$model" "$(med <<<"${V[u]}")" "$(fmt "${V[u]}")" "$(med <<<"${V[l]}")" "$(fmt "${V[l]}")" \
    "$(echo "$(printf '%s\n' "${RL[@]}" | median) * 100" | bc -l)" \
    "$(med <<<"${V[g]}")" "$(fmt "${V[g]}")" \
    "$(echo "$(printf '%s\n' "${RG[@]}" | median) * 100" | bc -l)" "$cu" "$TR" \
    "$(echo "100 * 2 * $TRAP_NS / ($cu * 1000 + 2 * $TRAP_NS)" | bc -l)" \
    "$(echo "100 * $TR * $TRAP_NS / ($cu * 1000 + $TR * $TRAP_NS)" | bc -l)"
done
