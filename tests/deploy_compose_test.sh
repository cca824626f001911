#!/usr/bin/env bash
# deploy/docker-compose.yml, deploy/Dockerfile and deploy/redis/users.sh, checked without Docker
# (the build machine has no daemon):
#  1. the compose file parses (python3-yaml) and holds the six services; every file it mounts
#     exists, but those an operator makes (TLS, secrets, the Redis users file);
#  2. the two servers listen on the ports of deploy/nginx/scope.conf's upstream, with their own
#     consumer names;
#  3. the Dockerfile's runtime image installs the package of every library `scope` links (NEEDED
#     entries, through dpkg -S);
#  4. a real redis-server reading the users file users.sh writes: `scope server` (user scope) and
#     an enrolled `scope agent` (user scope-agent) carry 20,000 synthetic events into PostgreSQL
#     (scripts/services.sh) with no NOPERM; what the users may not do is refused.
#   tests/deploy_compose_test.sh SOURCE_DIR SCOPE_BINARY
set -euo pipefail
src=$(realpath "$1") scope=$(realpath "$2")
for tool in python3 readelf dpkg redis-server redis-cli psql curl; do
  command -v "$tool" >/dev/null || { echo "skipped: no $tool (scripts/install-deps.sh)"; exit 77; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "skipped: no python3-yaml"; exit 77; }
failures=0
ok() { echo "ok   $1"; }
fail() {
  echo "FAIL $1"
  failures=$((failures + 1))
}

# 1 and 2: the compose file against the nginx configuration.
if out=$(python3 - "$src/deploy" <<'EOF' 2>&1
import os, re, sys, yaml
deploy = sys.argv[1]
doc = yaml.safe_load(open(os.path.join(deploy, "docker-compose.yml")))
errors = []
want = {"timescaledb", "redis", "nginx", "scope-server-1", "scope-server-2", "grafana"}
services = doc.get("services", {})
if set(services) != want:
    errors.append(f"services {sorted(services)} != {sorted(want)}")
# Made by the operator before the first `up` (the file's header says how).
made_by_operator = ("./tls", "./secrets/", "./redis/users.acl")
for name, s in services.items():
    if "image" not in s and "build" not in s:
        errors.append(f"{name}: neither image nor build")
    for v in s.get("volumes", []):
        source = v.split(":")[0]
        if not source.startswith("."):
            if source not in doc.get("volumes", {}):
                errors.append(f"{name}: volume {source} not declared")
            continue
        if source.startswith(made_by_operator):
            continue
        if not os.path.exists(os.path.join(deploy, source)):
            errors.append(f"{name}: mounts {source}, which does not exist")
    build = s.get("build")
    if build and not os.path.exists(os.path.join(deploy, build["context"], build["dockerfile"])):
        errors.append(f"{name}: no {build['dockerfile']}")
# Grafana's provisioning names variables: the grafana service sets each one.
graf_env = services.get("grafana", {}).get("environment", {})
import re as _re
for root, _, files in os.walk(os.path.join(deploy, "grafana", "provisioning")):
    for f in files:
        text = "".join(l for l in open(os.path.join(root, f)) if not l.lstrip().startswith("#"))
        for var in _re.findall(r"\$\{(\w+)\}", text):
            if var not in graf_env:
                errors.append(f"grafana: provisioning file {f} names ${{{var}}}, which the service does not set")
for secret in doc.get("secrets", {}).values():
    if not secret["file"].startswith("./secrets/"):
        errors.append(f"secret file {secret['file']} outside ./secrets/")
conf = open(os.path.join(deploy, "nginx", "scope.conf")).read()
upstream = re.search(r"upstream scope_servers \{(.*?)\}", conf, re.S).group(1)
ports = sorted(re.findall(r"server 127\.0\.0\.1:(\d+)", upstream))
servers = [s for n, s in services.items() if n.startswith("scope-server")]
listen = sorted(s["environment"]["SCOPE_LISTEN"].split(":")[1] for s in servers)
if listen != ports:
    errors.append(f"servers listen on {listen}, nginx's upstream is {ports}")
if len({s["environment"]["SCOPE_CONSUMER"] for s in servers}) != len(servers):
    errors.append("two servers share a consumer name")
for s in servers:
    if s.get("network_mode") != "service:nginx":
        errors.append("a server outside nginx's network namespace: 127.0.0.1 is not nginx's")
redis_cmd = " ".join(services["redis"]["command"])
for flag in ("--aclfile", "--appendonly yes"):
    if flag not in redis_cmd:
        errors.append(f"redis without {flag}")
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
); then
  ok "docker-compose.yml: six services, mounts present, servers on nginx's upstream ports"
  [ -z "$out" ] || echo "$out" | sed 's/^/     /'
else
  fail "docker-compose.yml"
  echo "$out" | sed 's/^/     /'
fi

# 3: the runtime image's packages against the libraries the binary needs.
runtime=$(awk '/^FROM .* AS runtime/ {r = 1} r' "$src/deploy/Dockerfile")
missing=()
for lib in $(readelf -d "$scope" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !p {print $NF; p = 1}')
  [ -n "$path" ] || { missing+=("$lib(not found)"); continue; }
  pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null ||
    dpkg -S "/usr$path" 2>/dev/null || true)
  pkg=${pkg%%:*}
  case "$pkg" in
  libc6 | libgcc-s1 | libstdc++6 | zlib1g) continue ;; # in debian:bookworm-slim
  esac
  grep -qw -- "$pkg" <<<"$runtime" || missing+=("$lib($pkg)")
done
if [ ${#missing[@]} -eq 0 ]; then
  ok "Dockerfile: the runtime image installs every library scope links"
else
  fail "Dockerfile: the runtime image lacks ${missing[*]}"
fi

# 4: Redis with the users file, scope's fleet path through it.
# shellcheck source=../scripts/services.sh
if ! source "$src/scripts/services.sh" >/dev/null 2>&1 || [ -z "${SCOPE_TEST_POSTGRES_URL:-}" ]; then
  echo "skipped: PostgreSQL from scripts/services.sh is not available"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
PG=$SCOPE_TEST_POSTGRES_URL
tmp=$(mktemp -d /tmp/scope-compose-XXXXXX)
schema=deploy_acl_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_auth CASCADE" \
    >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export SCOPE_REDIS_PASSWORD=server-$$-$RANDOM SCOPE_REDIS_AGENT_PASSWORD=agent-$$-$RANDOM
"$src/deploy/redis/users.sh" >"$tmp/users.acl"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --aclfile "$tmp/users.acl" --appendonly yes \
  --dir "$tmp" --save '' >"$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  REDISCLI_AUTH=$SCOPE_REDIS_PASSWORD redis-cli -p "$port" --user scope ping 2>/dev/null |
    grep -q PONG && break
  sleep 0.1
done
server_url="redis://scope:$SCOPE_REDIS_PASSWORD@127.0.0.1:$port"
agent_url="redis://scope-agent:$SCOPE_REDIS_AGENT_PASSWORD@127.0.0.1:$port"
"$scope" server --redis "$server_url" --postgres "$PG" --postgres-schema "$schema" \
  --listen 127.0.0.1:0 --data-dir "$tmp/server" >"$tmp/server.out" 2>"$tmp/server.err" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '/metrics on http://' "$tmp/server.err" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/server.err" | head -1)
curl -sf -X POST -H "Authorization: Bearer $(cat "$tmp/server/admin.token")" \
  -d '{"name":"acl-node"}' "$url/api/v1/nodes" |
  sed -E 's/.*"enrollment_token":"([^"]+)".*/\1/' >"$tmp/enroll.token"
"$scope" agent --enroll-file "$tmp/enroll.token" --server "$url" --data-dir "$tmp/agent" >/dev/null
"$scope" agent --redis "$agent_url" --node acl-node --data-dir "$tmp/agent" \
  --test-synthetic-count 20000 --test-synthetic-rate 0 >"$tmp/agent.out" 2>"$tmp/agent.err" &
pids+=($!)
n=0
for _ in $(seq 300); do
  n=$(psql -qAt "$PG" -c "SELECT count(*) FROM $schema.cuda_events" 2>/dev/null || echo 0)
  [ "$n" -ge 20000 ] && break
  sleep 0.1
done
sleep 1 # a heartbeat and the control stream's read go through too
if [ "$n" -eq 20000 ] && ! grep -qi noperm "$tmp/server.err" "$tmp/agent.err"; then
  ok "users file: server (scope) and agent (scope-agent) carry 20000 events, no NOPERM"
else
  fail "users file: $n of 20000 events stored"
  grep -hi noperm "$tmp/server.err" "$tmp/agent.err" | head -5 | sed 's/^/     /'
fi
refused() { # WHAT USER PASSWORD COMMAND...: the command must be refused (NOPERM, NOAUTH, WRONGPASS)
  local what=$1 user=$2 pass=$3
  shift 3
  local out
  out=$(REDISCLI_AUTH=$pass redis-cli -p "$port" --user "$user" "$@" 2>&1 || true)
  if grep -Eq 'NOPERM|NOAUTH|WRONGPASS' <<<"$out"; then ok "refused: $what"; else
    fail "not refused: $what ($out)"
  fi
}
refused "the agent reading the events stream" scope-agent "$SCOPE_REDIS_AGENT_PASSWORD" \
  XRANGE scope:events - + COUNT 1
refused "the agent writing a control stream" scope-agent "$SCOPE_REDIS_AGENT_PASSWORD" \
  XADD scope:events:control:other '*' v 1
refused "the agent deleting the stream" scope-agent "$SCOPE_REDIS_AGENT_PASSWORD" DEL scope:events
refused "the server on a key not scope's" scope "$SCOPE_REDIS_PASSWORD" SET other 1
refused "the server flushing Redis" scope "$SCOPE_REDIS_PASSWORD" FLUSHALL
refused "the server reading the configuration" scope "$SCOPE_REDIS_PASSWORD" CONFIG GET '*'
refused "the default user" default "" PING
[ "$failures" -eq 0 ] || exit 1
