#!/usr/bin/env bash
# The main job: install what is missing, build, and run `scope up` (probes on
# every process, the embedded SQLite store and the HTTP API on 127.0.0.1:18080).
# Arguments go to `scope up` (e.g. --probes cuda,exec,open --data-dir /tmp/scope).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
exec $SUDO build/scope up "$@"
