#!/usr/bin/env bash
# The soak: `scope up` with every family under a steady mixed load for MINUTES (default 30):
# memory flat after the warm-up (<= 5 % growth), no file-descriptor or BPF-link growth, and every
# event the load made stored. Memory goes in a sawtooth (batches, the store's caches, ring-buffer
# pages touched for the first time), so growth compares the lowest and the highest sample of the
# first and second half after the warm-up, for the whole RSS and for anonymous memory alone (the
# rings are mapped files). Prints one JSON line per sample and a summary line; run as root.
#   bench/soak.sh [MINUTES] [SAMPLE_SECONDS]
# Load, every second: launch_loop (1,000 launches, the stand-in CUDA runtime), 20 execs of
# /bin/true, a syscall_workload burst; every 10 s a tar of /usr/share/doc.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
every=${2:-30}
ninja -C build scope launch_loop syscall_workload >/dev/null
dir=$(mktemp -d /tmp/scope-soak.XXXXXX)
marker=$(mktemp -d /tmp/scope-soak-bin.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir" "$marker"' EXIT
# A /bin/true under a name of its own, so the store's count of its execs is the load's alone.
cp /bin/true "$marker/soak_true"
families=cuda,ggml,llama,exec,open,syscalls,sched,net
build/scope up --probes "$families" --data-dir "$dir/data" --listen 127.0.0.1:0 \
  >"$dir/up.out" 2>"$dir/up.err" &
up=$!
for _ in $(seq 1 300); do [ -s "$dir/data/endpoint.json" ] && break; sleep 0.1; done
[ -s "$dir/data/endpoint.json" ] || { cat "$dir/up.err"; exit 1; }

load() {
  local n=0
  while [ ! -e "$dir/stop" ]; do
    build/testdata/bin/launch_loop 1000 >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do "$marker/soak_true"; done
    build/testdata/bin/syscall_workload >/dev/null 2>&1 || true
    n=$((n + 1))
    if [ $((n % 10)) -eq 0 ]; then tar cf - /usr/share/doc 2>/dev/null | cat >/dev/null; fi
    echo "$n" >"$dir/rounds"
    sleep 1
  done
}
load &
loader=$!

count() { build/scope sql --data-dir "$dir/data" --json "$1" 2>/dev/null | jq '.rows[0][0] // 0'; }
sample() {
  local t=$1
  local rss anon fds links
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$up/status")
  anon=$(awk '/^Anonymous/ {print $2}' "/proc/$up/smaps_rollup")
  fds=$(ls "/proc/$up/fd" | wc -l)
  links=$(for f in /proc/$up/fd/*; do readlink "$f"; done 2>/dev/null | grep -c 'bpf_link' || true)
  echo "{\"t_s\":$t,\"rss_kib\":$rss,\"anon_kib\":$anon,\"fds\":$fds,\"bpf_links\":$links,\"rounds\":$(cat "$dir/rounds" 2>/dev/null || echo 0)}"
}

start=$SECONDS
end=$((start + minutes * 60))
samples=()
while [ $SECONDS -lt $end ]; do
  s=$(sample $((SECONDS - start)))
  echo "$s"
  samples+=("$s")
  sleep "$every"
done
touch "$dir/stop" # the load ends its round, so that the counts are whole rounds
wait "$loader" 2>/dev/null || true
rounds=$(cat "$dir/rounds")
sleep 5 # the last events through the store
launches=$(count "SELECT count(*) FROM cuda_events WHERE op = 'launch' AND comm = 'launch_loop'")
execs=$(count "SELECT count(*) FROM exec_events WHERE call LIKE 'exec%' AND filename LIKE '%/soak_true'")
dropped=$(curl -s "$(jq -r .url "$dir/data/endpoint.json")/metrics" | awk '/^scope_events_dropped_total/ {s += $2} END {print s + 0}')
last=$(sample $((SECONDS - start)))
kill -TERM "$up"
wait "$up" || true
# Warm-up: the first quarter of the run (at most 5 minutes).
warm=$(( minutes * 60 / 4 < 300 ? minutes * 60 / 4 : 300 ))
printf '%s\n' "${samples[@]}" | jq -s --argjson warm "$warm" --argjson rounds "$rounds" \
  --argjson launches "$launches" --argjson execs "$execs" --argjson dropped "${dropped:-0}" \
  --argjson last "$last" '
  map(select(.t_s >= $warm)) as $s | ($s | length / 2 | floor) as $h |
  ($s[0:$h]) as $a | ($s[$h:]) as $b |
  def pct(x; y): ((y - x) / x * 1000 | round) / 10;
  {summary: "soak", minutes: ($s | last | .t_s / 60 | floor), rounds: $rounds,
   warmup_s: $warm, samples_after_warmup: ($s | length),
   rss_kib_low: [($a | map(.rss_kib) | min), ($b | map(.rss_kib) | min)],
   rss_kib_high: [($a | map(.rss_kib) | max), ($b | map(.rss_kib) | max)],
   anon_kib_low: [($a | map(.anon_kib) | min), ($b | map(.anon_kib) | min)],
   anon_kib_high: [($a | map(.anon_kib) | max), ($b | map(.anon_kib) | max)],
   rss_low_growth_pct: pct($a | map(.rss_kib) | min; $b | map(.rss_kib) | min),
   rss_high_growth_pct: pct($a | map(.rss_kib) | max; $b | map(.rss_kib) | max),
   anon_low_growth_pct: pct($a | map(.anon_kib) | min; $b | map(.anon_kib) | min),
   rss_kib_after_the_count_queries: $last.rss_kib,
   fds: [($s | first | .fds), $last.fds], bpf_links: [($s | first | .bpf_links), $last.bpf_links],
   launches_made: ($rounds * 1000), launches_stored: $launches,
   execs_made: ($rounds * 20), execs_stored: $execs, dropped: $dropped}'
