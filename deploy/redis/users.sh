#!/usr/bin/env bash
# Writes Redis' users file for scope (redis-server --aclfile) to stdout, from the passwords in
# SCOPE_REDIS_PASSWORD (user `scope`: the servers) and SCOPE_REDIS_AGENT_PASSWORD (user
# `scope-agent`: the agents), stored as their SHA-256 (the file holds no password). The stream
# is SCOPE_STREAM (default scope:events), its keys those scope uses: the stream, its dead-letter
# stream (:dead), the nodes' control streams (:control:NODE) and the revoked tokens
# (:auth:revoked). `default` is off: nothing logs in without a password.
#   deploy/redis/users.sh > deploy/redis/users.acl
# The commands are those of src/transport/redis_stream.cpp, src/agent/control_link.cpp,
# src/server/fleet.cpp and src/auth/revoked_in_redis.cpp; tests/deploy_compose_test.sh runs a
# server and an agent through a Redis that reads this file.
set -euo pipefail
: "${SCOPE_REDIS_PASSWORD:?set SCOPE_REDIS_PASSWORD (user scope, for the servers)}"
: "${SCOPE_REDIS_AGENT_PASSWORD:?set SCOPE_REDIS_AGENT_PASSWORD (user scope-agent, for the agents)}"
stream=${SCOPE_STREAM:-scope:events}
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
echo "user default off resetkeys resetchannels -@all"
# Servers: the consumer group (create, read, ack, claim, pending, trim), the dead letters, the
# nodes' probe plans (XADD to :control:NODE) and the revoked tokens (a sorted set).
echo "user scope on #$(hash "$SCOPE_REDIS_PASSWORD") resetkeys ~$stream ~$stream:* resetchannels" \
  "-@all +ping +select +xadd +xreadgroup +xack +xautoclaim +xgroup|create +xinfo|groups" \
  "+xpending +xtrim +zadd +zrangebyscore +zremrangebyscore"
# Agents: XADD of batches and heartbeats to the stream (write only: an agent cannot read other
# nodes' batches) and reading the control streams (read only).
echo "user scope-agent on #$(hash "$SCOPE_REDIS_AGENT_PASSWORD") resetkeys %W~$stream" \
  "%R~$stream:control:* resetchannels -@all +ping +select +xadd +xread +xrevrange"
