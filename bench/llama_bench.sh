#!/usr/bin/env bash
# Tokens/s of the llama workload (node-llama-cpp's prebuilt llama.cpp on a
# generated GGUF model) untraced against `scope trace --probes llama,ggml`,
# in alternating rounds of the same run.
#   bench/llama_bench.sh [TOKENS] [ROUNDS]     (root; TOKENS=200, ROUNDS=5; BUILD=build dir)
# Two models: the tests' tiny one (2 layers, n_embd 64: a decode takes a
# fraction of a millisecond, the worst case for per-call probe costs) and a
# small one (6 layers, n_embd 384). The figure is the runner's generation rate
# (tokens/s over the wall time from the first to the last generated token);
# prompt processing is one decode per request and is left out. Prints a
# Markdown fragment on stdout, progress on stderr.
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
node "$PRIV/gen_gguf.mjs" "$PRIV/tiny.gguf" --layers 2 --embd 64 --ff 128 --vocab 512 2>/dev/null
node "$PRIV/gen_gguf.mjs" "$PRIV/small.gguf" --layers 6 --embd 384 --ff 1024 --heads 6 \
  --vocab 2048 2>/dev/null

rate() { jq -r 'select(.generation_tokens_per_s != null) | .generation_tokens_per_s'; }

echo "## llama/ggml families: tokens/s untraced vs traced"
echo
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- workload: \`node runner.mjs MODEL --tokens $TOKENS --threads 1\` (node-llama-cpp $(jq -r .version "$PRIV/node_modules/node-llama-cpp/package.json"), CPU build), greedy generation"
echo "- traced: \`scope trace --quiet --probes llama,ggml -- node runner.mjs ...\`; $ROUNDS alternating rounds per model"
echo
echo "| model | untraced tok/s (rounds) | traced tok/s (rounds) | slowdown (median of per-round ratios) | probe events per decode |"
echo "|---|---|---|---|---|"
for model in tiny small; do
  U=(); T=(); R=(); EPD=""
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "$model: round $r/$ROUNDS" >&2
    u=$(node "$PRIV/runner.mjs" "$PRIV/$model.gguf" --tokens "$TOKENS" --threads 1 | rate)
    out=$("$SCOPE" trace --quiet --json --probes llama,ggml -- node "$PRIV/runner.mjs" \
      "$PRIV/$model.gguf" --tokens "$TOKENS" --threads 1 2>/dev/null)
    t=$(rate <<<"$out")
    EPD=$(jq -r 'select(.event == "summary") | (.events / .llama.decode_calls * 10 | round / 10)' <<<"$out")
    U+=("$u"); T+=("$t")
    R+=("$(echo "1 - $t / $u" | bc -l)")
  done
  fmt() { for v in "$@"; do printf '%.0f ' "$v"; done; }
  med_u=$(printf '%s\n' "${U[@]}" | median)
  med_t=$(printf '%s\n' "${T[@]}" | median)
  med_r=$(printf '%s\n' "${R[@]}" | median)
  printf '| %s | %.0f (%s) | %.0f (%s) | %.1f %% | %s |\n' "$model" "$med_u" "$(fmt "${U[@]}")" \
    "$med_t" "$(fmt "${T[@]}")" "$(echo "$med_r * 100" | bc -l)" "$EPD"
done
