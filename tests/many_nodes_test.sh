#!/usr/bin/env bash
# Many nodes in one test: a small fleet made of network namespaces on this host.
#   scopesrv-PID       Redis (a password, an ACL user per agent, AOF on), a PostgreSQL cluster of
#                      its own, two `scope server`s, nginx with deploy/nginx/scope.conf (TLS with a
#                      throwaway certificate) in front of them
#   scopeagentN-PID    N = 1..3, each joined to the server namespace by a veth pair (a /30), each
#                      running an enrolled `scope agent --probes exec,open --cgroup` on a workload
#                      of its own: a loop in its own cgroup that execs a uniquely named copy of
#                      true and opens a uniquely named file a known number of times
# Mid-run one server is hung (until it holds unacknowledged entries) and killed (-9), and agent
# 2's link is cut for 20 s. At the end, through nginx only: every node's events are stored exactly
# once (each unique name counted, no (node, seq) twice, nothing on another node), GET
# /api/v1/nodes lists the three with agent 2's gap in its liveness, the spool and the take-over
# did their part, and the web UI is served. Everything it made is removed on exit (by pid, name).
#   tests/many_nodes_test.sh SOURCE_DIR SCOPE_BINARY
# KEEP=1 keeps the temporary directory (logs) for a look afterwards.
set -euo pipefail
src=$(realpath "$1") scope=$(realpath "$2")
skip() {
  echo "skipped: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, eBPF probes, cgroups)"
for tool in ip nsenter runuser nginx openssl redis-server redis-cli curl jq; do
  command -v "$tool" >/dev/null || skip "no $tool (scripts/install-deps.sh installs it)"
done
pgbin=
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pgbin=$d; done
[ -n "$pgbin" ] || skip "no PostgreSQL server in /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || skip "no postgres user to run PostgreSQL as"
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || skip "no cgroup v2 hierarchy mounted"
mkdir "$cgroot/scope-probe-$$" 2>/dev/null || skip "cannot create a cgroup in $cgroot"
rmdir "$cgroot/scope-probe-$$"
ip netns add "scopeprobe-$$" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
ip netns del "scopeprobe-$$"

# Sizes: every node's workload execs its binary ROUNDS times and opens its file 2*ROUNDS times.
ROUNDS=${ROUNDS:-300}
CUT_S=20
start_ns=$(date +%s%N)
elapsed() {
  local ms=$((($(date +%s%N) - start_ns) / 1000000))
  printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
say() { echo "[$(elapsed) s] $*"; }

S=scopesrv-$$
A=("" "scopeagent1-$$" "scopeagent2-$$" "scopeagent3-$$")
tmp=$(mktemp -d /tmp/scope-many-XXXXXX)
cg=$cgroot/scope-many-$$
pids=()         # every long-running process started here, killed by pid on exit
workloads=()
pg_started=0
failures=0

alive() { # PID: running (not gone, not a zombie)
  local st
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}
stop() { # PID: SIGTERM, then SIGKILL after 5 s
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    alive "$1" || return 0
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null
}
cleanup() {
  local rc=$?
  set +e
  for p in "${workloads[@]}"; do kill -9 "$p" 2>/dev/null; done
  # Last started first: the agents say they stop while Redis is there to hear it.
  for ((k = ${#pids[@]} - 1; k >= 0; k--)); do stop "${pids[k]}"; done
  wait 2>/dev/null
  [ "$pg_started" -eq 1 ] &&
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -m immediate -w stop >/dev/null 2>&1
  for ns in "$S" "${A[@]:1}"; do ip netns del "$ns" 2>/dev/null; done
  for i in 1 2 3; do rmdir "$cg/node$i" 2>/dev/null; done
  rmdir "$cg" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  return "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}
ok() { echo "ok   $*"; }
in_srv() { nsenter --net="/run/netns/$S" -- "$@"; }
in_agent() {
  local i=$1
  shift
  nsenter --net="/run/netns/${A[$i]}" -- "$@"
}
show_logs() {
  for f in "$tmp"/*.log "$tmp/pg/server.log"; do
    echo "--- $(basename "$f") (last 15 lines)"
    tail -15 "$f"
  done
}
die() {
  echo "FAIL $*"
  show_logs
  exit 1
}
wait_for() { # SECONDS WHAT COMMAND...: until the command succeeds
  local secs=$1 what=$2
  shift 2
  local until=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$until" ] || die "$what: not within $secs s"
    sleep 0.2
  done
}

# --- The network: one namespace for the servers, one per agent, a veth /30 to each.
ip netns add "$S"
ip -n "$S" link set lo up
for i in 1 2 3; do
  ip netns add "${A[$i]}"
  ip -n "${A[$i]}" link set lo up
  ip link add "vs$i-$$" netns "$S" type veth peer name "va$i-$$" netns "${A[$i]}"
  ip -n "$S" addr add "10.213.$i.1/30" dev "vs$i-$$"
  ip -n "${A[$i]}" addr add "10.213.$i.2/30" dev "va$i-$$"
  ip -n "$S" link set "vs$i-$$" up
  ip -n "${A[$i]}" link set "va$i-$$" up
done
say "namespaces $S and ${A[*]:1} joined by three veth /30s"

# --- Redis: the servers' password, one ACL user per agent (README, "Nodes"), AOF on.
mkdir -m 0700 "$tmp/redis"
redis_pw=$(openssl rand -hex 16)
declare -A agent_pw
{
  echo "port 6379"
  echo "bind 0.0.0.0"
  echo "dir $tmp/redis"
  echo "appendonly yes"
  echo 'save ""'
  echo "logfile $tmp/redis.log"
  echo "requirepass $redis_pw"
  for i in 1 2 3; do
    agent_pw[$i]=$(openssl rand -hex 16)
    echo "user scope-agent-node$i on >${agent_pw[$i]} resetkeys %W~scope:events" \
      "%R~scope:events:control:node$i resetchannels -@all +xadd +xread +xrevrange +ping +auth +hello"
  done
} >"$tmp/redis/redis.conf"
chmod 0600 "$tmp/redis/redis.conf"
nsenter --net="/run/netns/$S" -- redis-server "$tmp/redis/redis.conf" >/dev/null 2>&1 &
pids+=($!)
wait_for 10 "redis-server" in_srv redis-cli -a "$redis_pw" --no-auth-warning ping

# --- PostgreSQL: a cluster of this test's own, listening in the server namespace.
chmod 0755 "$tmp"
mkdir "$tmp/pg"
chown postgres: "$tmp/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -U postgres --auth=trust -E UTF8 --no-sync \
  --locale=C >"$tmp/initdb.log" 2>&1 || die "initdb"
pg_started=1
in_srv runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w -t 60 \
  -o "-p 5432 -k $tmp/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
  die "pg_ctl start"
in_srv "$pgbin/psql" -qAt -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE scope" >/dev/null
say "redis-server and PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') up"

# --- Two scope servers. Behind nginx a request may reach either: they share one admin token,
# the systemd credential admin-token (a file in $CREDENTIALS_DIRECTORY, as LoadCredential= gives it).
install -d -m 0700 "$tmp/creds"
(umask 077 && printf 'scope_%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  >"$tmp/creds/admin-token")
start_server() { # NAME PORT
  # shellcheck disable=SC2030 # the URLs only for this subshell, which becomes the server
  (
    export SCOPE_REDIS="redis://:$redis_pw@127.0.0.1:6379"
    export SCOPE_POSTGRES="postgresql://postgres@127.0.0.1:5432/scope"
    export CREDENTIALS_DIRECTORY="$tmp/creds"
    exec nsenter --net="/run/netns/$S" -- "$scope" server --listen "0.0.0.0:$2" \
      --consumer "$1" --data-dir "$tmp/$1" --claim-idle-ms 3000 >"$tmp/$1.log" 2>&1
  ) &
  pids+=($!)
  wait_for 30 "scope server $1" in_srv curl -sf "http://127.0.0.1:$2/health"
}
start_server server-a 18080
server_a=${pids[-1]}
start_server server-b 18081
admin=$(cat "$tmp/creds/admin-token")
for s in server-a server-b; do
  if [ "$(cat "$tmp/$s/admin.token")" = "$admin" ]; then
    ok "$s took the shared admin token (and keeps it in its data dir for the host's CLI)"
  else fail "$s's admin.token is not the shared one"; fi
done

# --- nginx with deploy/nginx/scope.conf as shipped, but for the certificate's directory.
mkdir -p "$tmp/nginx/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=scope.example.com \
  -keyout "$tmp/nginx/tls/privkey.pem" -out "$tmp/nginx/tls/fullchain.pem" 2>/dev/null
sed "s#/etc/scope/tls/#$tmp/nginx/tls/#" "$src/deploy/nginx/scope.conf" >"$tmp/nginx/scope.conf"
cat >"$tmp/nginx/nginx.conf" <<EOF
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx-error.log;
events {}
http {
  access_log $tmp/nginx/access.log;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  include $tmp/nginx/scope.conf;
}
EOF
nsenter --net="/run/netns/$S" -- nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx-error.log" \
  -g 'daemon off;' &
pids+=($!)
# Every API call below goes through nginx from agent 1's namespace, as a client elsewhere would.
api() { # METHOD PATH [BODY]: the body on stdout, fails on a status other than 2xx
  local args=(-sk --fail-with-body -X "$1" -H "Authorization: Bearer $admin"
    "https://10.213.1.1$2")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' -d "$3")
  in_agent 1 curl "${args[@]}"
}
wait_for 10 "nginx" api GET /api/v1/nodes
say "two scope servers behind nginx (TLS on 10.213.1.1:443 from agent 1's side)"

# --- The nodes: added through nginx, enrolled with their one-time tokens (the agent speaks
# http://, so it enrolls with a server directly over its veth: README, "Nodes").
for i in 1 2 3; do
  mkdir -m 0700 "$tmp/agent$i"
  api POST /api/v1/nodes "{\"name\":\"node$i\"}" | jq -r .enrollment_token >"$tmp/agent$i/enroll.token"
  port=$((18080 + (i % 2)))
  in_agent "$i" "$scope" agent --enroll-file "$tmp/agent$i/enroll.token" \
    --server "http://10.213.$i.1:$port" --data-dir "$tmp/agent$i" >>"$tmp/enroll.log" 2>&1 ||
    die "node$i: enrollment"
  rm "$tmp/agent$i/enroll.token"
done
say "$(grep -c enrolled "$tmp/enroll.log") nodes enrolled"

# --- Workloads, each in a cgroup of its own: a binary and a file whose names no one else uses.
mkdir -p "$tmp/bin" "$tmp/data" "$cg"
for i in 1 2 3; do
  mkdir "$cg/node$i"
  cp /bin/true "$tmp/bin/mnwl$i-$$"
  echo "node$i" >"$tmp/data/node$i-$$.txt"
done
cat >"$tmp/work.sh" <<'EOF'
#!/bin/bash
# CGROUP BINARY FILE ROUNDS: joins the cgroup, then execs BINARY and opens FILE twice per round.
echo $$ >"$1/cgroup.procs"
for ((r = 0; r < $4; r++)); do
  "$2"
  : <"$3"
  : <"$3"
  read -rt 0.1 <> <(:) || true
done
EOF
chmod +x "$tmp/work.sh"

for i in 1 2 3; do
  # shellcheck disable=SC2031
  (
    export SCOPE_REDIS="redis://scope-agent-node$i:${agent_pw[$i]}@10.213.$i.1:6379"
    exec nsenter --net="/run/netns/${A[$i]}" -- "$scope" agent --probes exec,open \
      --cgroup "/scope-many-$$/node$i" --data-dir "$tmp/agent$i" --listen 127.0.0.1:18090 \
      --batch-delay-ms 200 >"$tmp/agent$i.log" 2>&1
  ) &
  pids+=($!)
done
node_state() { api GET "/api/v1/nodes/$1" | jq -r .state; }
node_is() { [ "$(node_state "$1")" = "$2" ]; }
for i in 1 2 3; do wait_for 60 "node$i up" node_is "node$i" up; done
say "three agents up (a heartbeat each, through nginx)"

# --- The run: workloads on, one server killed, agent 2 cut off for CUT_S seconds.
for i in 1 2 3; do
  nsenter --net="/run/netns/${A[$i]}" -- "$tmp/work.sh" "$cg/node$i" "$tmp/bin/mnwl$i-$$" "$tmp/data/node$i-$$.txt" "$ROUNDS" &
  workloads+=($!)
done
say "workloads started: $ROUNDS execs and $((2 * ROUNDS)) opens per node"
sleep 4
# Hung first (SIGSTOP), so that it dies holding entries it read and never acknowledged (its
# blocked XREADGROUP is served while it cannot act on them): server-b takes them over after
# --claim-idle-ms. Caught busy instead of blocked, it holds none: it goes on and is hung again.
pending_a() {
  in_srv redis-cli -a "$redis_pw" --no-auth-warning --raw XPENDING scope:events scope-server - + \
    100 server-a | grep -c '^server-a$' || true
}
for try in $(seq 1 10); do
  kill -STOP "$server_a"
  sleep 0.7
  [ "$(pending_a)" -gt 0 ] && break
  kill -CONT "$server_a"
  sleep 0.3
done
held=$(pending_a)
kill -9 "$server_a"
{ wait "$server_a"; } 2>/dev/null || true
kill_ns=$(date +%s%N)
say "server-a hung (SIGSTOP; try $try) holding $held unacknowledged entries, then killed (-9)"
served=0
for _ in $(seq 1 20); do
  [ "$(api GET /api/v1/nodes | jq '.nodes | length')" = 3 ] && served=$((served + 1))
done
if [ "$served" = 20 ]; then
  ok "with server-a dead, nginx answered 20 of 20 API calls"
else
  fail "with server-a dead, nginx answered $served of 20 API calls"
fi

sleep 2
ip -n "${A[2]}" link set "va2-$$" down
cut_ns=$(date +%s%N)
say "node2's link down"
seen_gap=
while [ "$(date +%s%N)" -lt $((cut_ns + CUT_S * 1000000000)) ]; do
  state=$(node_state node2)
  [ "$state" != up ] && [ -z "$seen_gap" ] && seen_gap=$state && say "node2 is $state"
  sleep 0.5
done
ip -n "${A[2]}" link set "va2-$$" up
say "node2's link up again after $((($(date +%s%N) - cut_ns) / 1000000)) ms"
if [ -n "$seen_gap" ]; then
  ok "during the cut the API showed node2 $seen_gap"
else
  fail "node2 stayed up for the whole ${CUT_S} s cut"
fi

for p in "${workloads[@]}"; do wait "$p"; done
workloads=()
say "workloads done"

# --- Stored exactly once: per node, the executions of its binary and the opens of its file,
# each name counted wherever it was stored, and no (node, seq) twice.
sql() { # QUERY: the rows as JSON
  api POST /api/v1/sql "$(jq -cn --arg q "$1" '{query: $q}')" | jq -c .rows
}
counts_query="SELECT 'exec', node, filename, count(*) FROM exec_events WHERE call = 'execve' AND
  filename LIKE '$tmp/bin/%' GROUP BY 2, 3 UNION ALL SELECT 'open', node, path, count(*)
  FROM open_events WHERE path LIKE '$tmp/data/%' GROUP BY 2, 3 ORDER BY 1, 2, 3"
expected=$(jq -cn --arg tmp "$tmp" --arg pid "$$" --argjson n "$ROUNDS" '
  [range(1; 4) as $i | ["exec", "node\($i)", "\($tmp)/bin/mnwl\($i)-\($pid)", $n]] +
  [range(1; 4) as $i | ["open", "node\($i)", "\($tmp)/data/node\($i)-\($pid).txt", 2 * $n]]')
rows=
until=$(($(date +%s) + 60))
while :; do
  rows=$(sql "$counts_query" | jq -c 'map(.[3] |= tonumber)' || true)
  [ "$rows" = "$expected" ] && break
  [ "$(date +%s)" -lt "$until" ] || break
  sleep 1
done
say "store checked"
if [ "$rows" = "$expected" ]; then
  ok "every node's events stored, each name exactly as often as it ran:"
else
  fail "the stored counts are not the expected ones (node, name, count); expected:"
  jq -r '.[] | "       \(.[0]) \(.[1]) \(.[2] | split("/") | last) \(.[3])"' <<<"$expected"
  echo "     stored:"
fi
jq -r '.[] | "       \(.[0]) \(.[1]) \(.[2] | split("/") | last) \(.[3])"' <<<"${rows:-[]}"
dups=$(sql "SELECT 'exec', node, count(*) - count(DISTINCT seq) FROM exec_events GROUP BY 2
  UNION ALL SELECT 'open', node, count(*) - count(DISTINCT seq) FROM open_events GROUP BY 2
  ORDER BY 1, 2")
totals=$(sql "SELECT node, count(*) FROM exec_events GROUP BY 1 ORDER BY 1")
if jq -e 'length == 6 and all(.[]; .[2] == 0)' <<<"$dups" >/dev/null; then
  ok "no event stored twice (every node's exec and open rows have distinct seq; exec rows per node: $(jq -c 'map("\(.[0])=\(.[1])") | join(" ")' <<<"$totals"))"
else
  fail "duplicates (family, node, rows - distinct seq): $dups"
fi

# --- Liveness: the three nodes, node2's gap.
wait_for 30 "node2 up again" node_is node2 up
nodes=$(api GET /api/v1/nodes)
# (jq holds numbers as doubles: nanoseconds to within a microsecond, enough for seconds here)
jq -r --argjson t0 "$start_ns" '.nodes[] | "       \(.name) \(.state), since +\((.since_ns - $t0) /
  1e8 | round / 10) s, last seen +\((.last_seen_ns - $t0) / 1e8 | round / 10) s"' <<<"$nodes"
if [ "$(jq -c '[.nodes[] | select(.enrolled and .state == "up") | .name]' <<<"$nodes")" = \
  '["node1","node2","node3"]' ]; then
  ok "GET /api/v1/nodes: node1, node2 and node3 enrolled and up"
else
  fail "GET /api/v1/nodes: $nodes"
fi
since2=$(jq '.nodes[] | select(.name == "node2") | .since_ns' <<<"$nodes")
if [ "$since2" -ge "$cut_ns" ]; then
  ok "node2 up again since $(((since2 - cut_ns) / 1000000)) ms after the cut (up_since restarted)"
else
  fail "node2's since_ns $since2 is before the cut $cut_ns"
fi
for n in node1 node3; do
  s=$(jq ".nodes[] | select(.name == \"$n\") | .since_ns" <<<"$nodes")
  if [ "$s" -lt "$kill_ns" ]; then
    ok "$n up since before server-a was killed: no gap"
  else
    fail "$n: since_ns $s after server-a was killed ($kill_ns)"
  fi
done
history=$(api GET "/api/v1/nodes/node2?from=$start_ns" | jq -c '[.history[] | .heartbeats]')
history1=$(api GET "/api/v1/nodes/node1?from=$start_ns" | jq -c '[.history[] | .heartbeats]')
ok "heartbeats per minute: node1 $history1, node2 $history"

# --- What the agents and the surviving server counted.
metric() { # NAMESPACE PORT NAME: the sum of a metric's samples
  nsenter --net="/run/netns/$1" -- curl -s "http://127.0.0.1:$2/metrics" |
    awk -v n="$3" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}
spooled=$(metric "${A[2]}" 18090 scope_events_spooled_total)
replayed=$(metric "${A[2]}" 18090 scope_events_replayed_total)
claimed=$(metric "$S" 18081 scope_entries_claimed_total)
dupb=$(metric "$S" 18081 scope_batches_duplicate_total)
say "node2 spooled $spooled events and replayed $replayed; server-b claimed $claimed of server-a's pending entries and saw $dupb duplicate batches"
if [ "$spooled" -gt 0 ] && [ "$replayed" -ge "$spooled" ]; then
  ok "node2's events during the cut went through its spool"
else
  fail "node2 spooled $spooled and replayed $replayed events"
fi
if grep -q 'Redis at .* answers again' "$tmp/agent2.log"; then
  ok "node2's log says when Redis answered again: $(grep -m1 'answers again' "$tmp/agent2.log")"
else
  fail "node2's log has the outage but not its end: $(tr '\n' '|' <"$tmp/agent2.log")"
fi
if [ "$held" -gt 0 ] && [ "$claimed" -ge "$held" ]; then
  ok "server-b took over the $held entries server-a held when it died"
else
  fail "server-a held $held entries when it died, server-b claimed $claimed"
fi
if grep -h '^NOTICE\|^WARNING' "$tmp"/server-*.log; then
  fail "PostgreSQL's notices in the servers' logs (above)"
else
  ok "nothing but scope's own lines in the servers' logs"
fi

# --- The web UI through nginx.
page=$(in_agent 1 curl -sk --fail-with-body https://10.213.1.1/ || true)
script=$(grep -o 'src="/assets/[^"]*\.js"' <<<"$page" | head -1 | cut -d'"' -f2)
if [ ! -f "$src/web/ui/dist/index.html" ]; then
  echo "--   the web UI not checked: web/ui/dist is not built, nor then compiled into scope"
elif grep -q '<title>scope</title>' <<<"$page" && [ -n "$script" ]; then
  # Its script as a browser asks for it: gzip, through nginx's proxy buffers.
  got=$(in_agent 1 curl -sk -o /dev/null -w '%{http_code} %{size_download}' \
    -H 'Accept-Encoding: gzip' "https://10.213.1.1$script")
  if [ "${got% *}" = 200 ] && [ "${got#* }" -gt 0 ]; then
    ok "GET / through nginx: the web UI ($(wc -c <<<"$page") bytes of HTML; $script, ${got#* } bytes)"
  else
    fail "GET $script through nginx: $got"
  fi
else
  fail "GET / through nginx: $(head -c 300 <<<"$page")"
fi

say "done"
if [ "$failures" -eq 0 ]; then
  echo "many_nodes: all checks passed in $(elapsed) s"
else
  echo "many_nodes: $failures failed"
  show_logs
  exit 1
fi
