#!/usr/bin/env bash
# Probes switched at runtime, and what a node with every probe off costs.
#   bench/probe_control_bench.sh [SWITCHES] [ROUNDS] [N]     (root; 20, 5, 2000000)
# A real `scope server` (the services of scripts/services.sh) and one enrolled `scope agent`.
# (1) SWITCHES plans PUT through the API, alternating on and off (exec; then cuda,ggml,llama):
#     seconds from the PUT to the node's heartbeat saying it applied the plan (GET .../probes,
#     polled every 10 ms): p50 and p95.
# (2) ROUNDS interleaved rounds of getppid_loop N and launch_loop N (the stand-in CUDA library;
#     N/100 launches under (c), where each one traps): (a) no scope at all, (b) the agent running with every probe off, (c) the same
#     agent with cuda,ggml,llama on. Ratios b/a and c/a of the medians: b/a is what "nothing
#     loaded" costs (1.00 ± noise), c/a shows the loops do see probes when there are some.
# Prints a Markdown fragment on stdout, progress on stderr.
source "$(dirname "$0")/common.sh"
SWITCHES=${1:-20}
ROUNDS=${2:-5}
N=${3:-2000000}
LAUNCHES=$N
TRAPPED_LAUNCHES=$((N / 100))
need_root
need_built
make_private_copy
cc -O2 -Wall -o "$PRIV/bin/getppid_loop" "$ROOT/bench/getppid_loop.c"
GETPPID=$PRIV/bin/getppid_loop
# shellcheck source=/dev/null
source "$ROOT/scripts/services.sh" >/dev/null
STREAM="scope:bench:control:$$"
SCHEMA="bench_control"
# A fresh schema each run (its nodes and plans live in SCHEMA_auth).
psql -q "$SCOPE_TEST_POSTGRES_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" \
  -c "DROP SCHEMA IF EXISTS ${SCHEMA}_auth CASCADE" 2>/dev/null
mkdir -p "$PRIV/server" "$PRIV/agent"
chmod 700 "$PRIV/server" "$PRIV/agent"

"$SCOPE" server --redis "$SCOPE_TEST_REDIS_URL" --postgres "$SCOPE_TEST_POSTGRES_URL" \
  --postgres-schema "$SCHEMA" --stream "$STREAM" --listen 127.0.0.1:0 \
  --data-dir "$PRIV/server" >"$PRIV/server.out" 2>"$PRIV/server.err" &
SERVER=$!
AGENT=
cleanup() {
  [[ -n $AGENT ]] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
  kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$PRIV"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -s $PRIV/server/endpoint.json ]] && break; sleep 0.1; done
URL=$(jq -r .url "$PRIV/server/endpoint.json")
TOKEN=$(cat "$PRIV/server/admin.token")
"$SCOPE" nodes add bench-node --token-file "$PRIV/node.token" --server "$URL" --token "$TOKEN" >&2
"$SCOPE" agent --enroll-file "$PRIV/node.token" --server "$URL" --data-dir "$PRIV/agent" >&2

start_agent() {
  "$SCOPE" agent --redis "$SCOPE_TEST_REDIS_URL" --node bench-node --stream "$STREAM" \
    --data-dir "$PRIV/agent" --probes exec 2>>"$PRIV/agent.err" >/dev/null &
  AGENT=$!
}
stop_agent() { kill "$AGENT"; wait "$AGENT" 2>/dev/null || true; AGENT=; }

# set_plan JSON: PUT it and wait for the node to say it applied it; prints the seconds it took.
set_plan() {
  python3 - "$URL" "$TOKEN" "$1" <<'PY'
import json, sys, time, urllib.error, urllib.request
url, token, plan = sys.argv[1], sys.argv[2], sys.argv[3]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=body and body.encode(),
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        sys.exit("%s %s: %d %s" % (method, path, e.code, e.read().decode(errors="replace")))
t0 = time.monotonic()
version = call("PUT", "/api/v1/nodes/bench-node/probes", plan)["version"]
while time.monotonic() - t0 < 30:
    p = call("GET", "/api/v1/nodes/bench-node/probes")
    if (p.get("applied") or {}).get("version", 0) >= version:
        print("%.3f" % (time.monotonic() - t0))
        sys.exit(0)
    time.sleep(0.01)
sys.exit("not applied in 30 s")
PY
}

start_agent
# (1) switch latency.
ON=()
OFF=()
for ((i = 1; i <= SWITCHES; i++)); do
  plan='{"families":["exec"]}'
  ((i > SWITCHES / 2)) && plan='{"families":["cuda","ggml","llama"]}'
  ON+=("$(set_plan "$plan")")
  OFF+=("$(set_plan '{"families":[]}')")
  echo "  switch $i: on ${ON[-1]} s, off ${OFF[-1]} s" >&2
done
ALL=("${ON[@]}" "${OFF[@]}")
pct() { tr ' ' '\n' <<<"$2" | grep . | sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
P50=$(pct 50 "${ALL[*]}"); P95=$(pct 95 "${ALL[*]}"); MAX=$(pct 100 "${ALL[*]}")

# (2) every probe off against no scope.
declare -A G L
held() { ls -l /proc/"$AGENT"/fd 2>/dev/null | grep -c 'anon_inode:bpf' || true; }
field() { awk -v k="$1" '$1 == k {print $2}'; }
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS" >&2
  [[ -n $AGENT ]] && stop_agent
  G[a]+="$("$GETPPID" "$N" | field ns_per_call) "
  L[a]+="$("$LOOP" "$LAUNCHES" | field ns_per_launch) "
  start_agent  # the plan it comes back to is the last one set: every probe off
  set_plan '{"families":[]}' >/dev/null
  B_HELD=$(held)
  G[b]+="$("$GETPPID" "$N" | field ns_per_call) "
  L[b]+="$("$LOOP" "$LAUNCHES" | field ns_per_launch) "
  set_plan '{"families":["cuda","ggml","llama"]}' >/dev/null
  G[c]+="$("$GETPPID" "$N" | field ns_per_call) "
  L[c]+="$("$LOOP" "$TRAPPED_LAUNCHES" | field ns_per_launch) "
  set_plan '{"families":[]}' >/dev/null
  last() { tr ' ' '\n' <<<"$1" | grep . | tail -1; }
  echo "  getppid ns: a=$(last "${G[a]}") b=$(last "${G[b]}") c=$(last "${G[c]}");" \
    "launch ns: a=$(last "${L[a]}") b=$(last "${L[b]}") c=$(last "${L[c]}"); bpf fds held when off: $B_HELD" >&2
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
GA=$(med "${G[a]}"); GB=$(med "${G[b]}"); GC=$(med "${G[c]}")
LA=$(med "${L[a]}"); LB=$(med "${L[b]}"); LC=$(med "${L[c]}")
ratio() { awk -v x="$1" -v a="$2" 'BEGIN {printf "%.3f", x / a}'; }

cat <<MD
### Probe control: switch latency and the cost of every probe off

$SWITCHES plans PUT through the API of a real \`scope server\` to one enrolled \`scope agent\`
(Redis control stream), half exec and half cuda,ggml,llama, each followed by every probe off;
time from the PUT to the node's heartbeat saying it applied it (GET .../probes polled every 10 ms):

| switches | p50 (s) | p95 (s) | max (s) | target |
|---:|---:|---:|---:|---|
| $((SWITCHES * 2)) | $P50 | $P95 | $MAX | p95 ≤ 2 s: $(awk -v p="$P95" 'BEGIN {print (p <= 2) ? "met" : "MISSED"}') |

$ROUNDS interleaved rounds (medians): (a) no scope, (b) the agent running with every probe off
(BPF fds it held: $B_HELD), (c) the same agent with cuda,ggml,llama on.

| loop | (a) no scope | (b) all off | (c) cuda,ggml,llama | b/a | c/a |
|---|---:|---:|---:|---:|---:|
| getppid_loop $N (CPU ns/call) | $GA | $GB | $GC | $(ratio "$GB" "$GA") | $(ratio "$GC" "$GA") |
| launch_loop $LAUNCHES ($TRAPPED_LAUNCHES under c) (ns/launch) | $LA | $LB | $LC | $(ratio "$LB" "$LA") | $(ratio "$LC" "$LA") |

All rounds: getppid a: ${G[a]}/ b: ${G[b]}/ c: ${G[c]}; launch a: ${L[a]}/ b: ${L[b]}/ c: ${L[c]}
MD
