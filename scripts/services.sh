#!/usr/bin/env bash
# PostgreSQL and Redis for the integration tests and the fleet benchmark: a
# private PostgreSQL cluster and a private redis-server, both on 127.0.0.1 and
# free ports, their data under one directory (SCOPE_SERVICES_DIR, default
# /tmp/scope-services). Idempotent: servers already running are reused.
#
#   source scripts/services.sh        # start both, export the URLs below
#   scripts/services.sh start|stop|status
#   scripts/services.sh stop-postgres|start-postgres|stop-redis|start-redis|kill-redis
#
# Exports SCOPE_TEST_POSTGRES_URL, SCOPE_TEST_REDIS_URL, SCOPE_TEST_SERVICES (this
# script, for the fault tests' stop/start calls) and SCOPE_SERVICES_DIR.
# PostgreSQL refuses to run as root: as root the cluster belongs to `postgres`.

_scope_svc_dir="${SCOPE_SERVICES_DIR:-${TMPDIR:-/tmp}/scope-services}"
_scope_svc_script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

_scope_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

_scope_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port recorded in $1, or the first free one from $2 (recorded).
_scope_pick_port() {
  local file=$1 port=$2
  if [ -s "$file" ]; then
    cat "$file"
    return
  fi
  while ! _scope_port_free "$port"; do port=$((port + 1)); done
  echo "$port" >"$file"
  echo "$port"
}

_scope_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_scope_pg_running() {
  local bin
  bin=$(_scope_pg_bin) || return 1
  [ -f "$_scope_svc_dir/pg/data/postmaster.pid" ] &&
    _scope_as_pg "$bin/pg_ctl" -D "$_scope_svc_dir/pg/data" status >/dev/null 2>&1
}

scope_start_postgres() {
  local bin port
  bin=$(_scope_pg_bin) || { echo "services: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; return 1; }
  mkdir -p "$_scope_svc_dir/pg"
  port=$(_scope_pick_port "$_scope_svc_dir/pg/port" 55432)
  if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$_scope_svc_dir"
    chown postgres: "$_scope_svc_dir/pg"
  fi
  if [ ! -f "$_scope_svc_dir/pg/data/PG_VERSION" ]; then
    _scope_as_pg "$bin/initdb" -D "$_scope_svc_dir/pg/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C >"$_scope_svc_dir/pg/initdb.log" 2>&1 ||
      { cat "$_scope_svc_dir/pg/initdb.log" >&2; return 1; }
  fi
  if ! _scope_pg_running; then
    # fsync stays on: the fault tests stop and start this server and count rows.
    _scope_as_pg "$bin/pg_ctl" -D "$_scope_svc_dir/pg/data" -l "$_scope_svc_dir/pg/server.log" \
      -w -t 60 -o "-p $port -k $_scope_svc_dir/pg -c listen_addresses=127.0.0.1 \
      -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB \
      -c synchronous_commit=on" start >/dev/null ||
      { tail -20 "$_scope_svc_dir/pg/server.log" >&2; return 1; }
  fi
  local i
  for i in $(seq 1 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  if ! "$bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'scope_test'" | grep -q 1; then
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
      -c "CREATE DATABASE scope_test" >/dev/null || return 1
  fi
  export SCOPE_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/scope_test"
}

scope_stop_postgres() {
  local bin
  bin=$(_scope_pg_bin) || return 0
  _scope_pg_running || return 0
  _scope_as_pg "$bin/pg_ctl" -D "$_scope_svc_dir/pg/data" -w -t 60 -m fast stop >/dev/null
}

_scope_redis_port() { _scope_pick_port "$_scope_svc_dir/redis/port" 56379; }

_scope_redis_running() {
  [ -s "$_scope_svc_dir/redis/port" ] &&
    redis-cli -p "$(cat "$_scope_svc_dir/redis/port")" ping 2>/dev/null | grep -q PONG
}

scope_start_redis() {
  command -v redis-server >/dev/null 2>&1 ||
    { echo "services: redis-server is not installed (scripts/install-deps.sh)" >&2; return 1; }
  mkdir -p "$_scope_svc_dir/redis"
  local port
  port=$(_scope_redis_port)
  if ! _scope_redis_running; then
    # AOF on: a restarted Redis keeps the stream, the consumer group and its pending list.
    redis-server --port "$port" --bind 127.0.0.1 --dir "$_scope_svc_dir/redis" \
      --appendonly yes --appendfsync everysec --save "" --daemonize yes \
      --pidfile "$_scope_svc_dir/redis/redis.pid" --logfile "$_scope_svc_dir/redis/redis.log" \
      >/dev/null || return 1
    local i
    for i in $(seq 1 100); do
      _scope_redis_running && break
      sleep 0.05
    done
    _scope_redis_running || { tail -20 "$_scope_svc_dir/redis/redis.log" >&2; return 1; }
  fi
  export SCOPE_TEST_REDIS_URL="redis://127.0.0.1:$port"
}

# A clean stop: the AOF is flushed, nothing acknowledged is lost.
scope_stop_redis() {
  _scope_redis_running || return 0
  local pid
  pid=$(cat "$_scope_svc_dir/redis/redis.pid" 2>/dev/null || true)
  redis-cli -p "$(cat "$_scope_svc_dir/redis/port")" shutdown >/dev/null 2>&1 || true
  local i
  for i in $(seq 1 100); do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
}

scope_kill_redis() {
  local pid
  pid=$(cat "$_scope_svc_dir/redis/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  sleep 0.2
}

scope_start_services() {
  scope_start_postgres && scope_start_redis || return 1
  export SCOPE_TEST_SERVICES="$_scope_svc_script"
  export SCOPE_SERVICES_DIR="$_scope_svc_dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-start}" in
    start)
      scope_start_services
      echo "export SCOPE_TEST_POSTGRES_URL=$SCOPE_TEST_POSTGRES_URL"
      echo "export SCOPE_TEST_REDIS_URL=$SCOPE_TEST_REDIS_URL"
      echo "export SCOPE_TEST_SERVICES=$SCOPE_TEST_SERVICES"
      ;;
    stop) scope_stop_redis; scope_stop_postgres ;;
    status)
      _scope_pg_running && echo "postgres: running on port $(cat "$_scope_svc_dir/pg/port")" ||
        echo "postgres: stopped"
      _scope_redis_running && echo "redis: running on port $(cat "$_scope_svc_dir/redis/port")" ||
        echo "redis: stopped"
      ;;
    start-postgres) scope_start_postgres ;;
    stop-postgres) scope_stop_postgres ;;
    start-redis) scope_start_redis ;;
    stop-redis) scope_stop_redis ;;
    kill-redis) scope_kill_redis ;;
    *) echo "usage: $0 start|stop|status|start-postgres|stop-postgres|start-redis|stop-redis|kill-redis" >&2; exit 2 ;;
  esac
else
  scope_start_services || echo "services: PostgreSQL/Redis not started: their tests will skip" >&2
fi
