#!/usr/bin/env bash
# The front door's cost on this machine, all in one run against one `scope up`:
#  1. requests/s of an authenticated small GET (/api/v1/auth/me with a JWT) with wrk, 100
#     keep-alive connections, beside the same run's unauthenticated GET /health (the baseline)
#     and the admin token;
#  2. JWT verifications/s and one argon2id hash, in process (build/bench/auth_verify);
#  3. login latency over HTTP: N sequential logins, p50/p95/max.
# Usage: sudo bench/http_bench.sh [SECONDS_PER_WRK_RUN] [LOGINS]      (10 s, 50 logins)
# Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
LOGINS=${2:-50}
SCOPE=build/scope
[ -x "$SCOPE" ] && [ -x build/bench/auth_verify ] || { echo "build first: ninja -C build scope auth_verify" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (scope up loads probes)" >&2; exit 1; }
work=$(mktemp -d)
mkdir -m 700 "$work/data"
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
$SCOPE up --probes exec --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/up.out" 2>"$work/up.err" &
for _ in $(seq 100); do [ -f "$work/data/endpoint.json" ] && break; sleep 0.1; done
admin=$(cat "$work/data/admin.token")
curl -sf -XPOST "$url/api/v1/auth/register" -H "Authorization: Bearer $admin" \
  -d '{"username":"bench","password":"correct horse battery"}' >/dev/null
jwt=$(curl -sf -XPOST "$url/api/v1/auth/login" -d '{"username":"bench","password":"correct horse battery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

rps() {  # wrk's Requests/sec and p99 latency for one target
  wrk -t2 -c100 -d"${SECS}s" --latency "$@" 2>&1 | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} /Non-2xx/ {e=$NF} END {printf "%s %s %s", r, p, (e ? e : 0)}'
}
read -r h_rps h_p99 h_err <<<"$(rps "$url/health")"
read -r j_rps j_p99 j_err <<<"$(rps -H "Authorization: Bearer $jwt" "$url/api/v1/auth/me")"
read -r a_rps a_p99 a_err <<<"$(rps -H "Authorization: Bearer $admin" "$url/api/v1/auth/me")"
read -r h2_rps h2_p99 h2_err <<<"$(rps "$url/health")"

verify=$(build/bench/auth_verify 3)
v_per_s=$(awk '/verify_per_s/ {print $2}' <<<"$verify")
v_us=$(awk '/verify_us/ {print $2}' <<<"$verify")
a_ms=$(awk '/argon2id_ms/ {print $2}' <<<"$verify")

: >"$work/logins"
# Paced under the login routes' per-address rate limit (2/s): only answered logins (200) count.
refused=0
for _ in $(seq "$LOGINS"); do
  read -r code t <<<"$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -XPOST "$url/api/v1/auth/login" \
    -d '{"username":"bench","password":"correct horse battery"}')"
  if [ "$code" = 200 ]; then echo "$t" >>"$work/logins"; else refused=$((refused + 1)); fi
  sleep 0.5
done
read -r l50 l95 lmax <<<"$(sort -n "$work/logins" | awk '{v[NR]=$1} END {printf "%.1f %.1f %.1f", 1000*v[int(NR*0.5+0.5)], 1000*v[int(NR*0.95+0.5)], 1000*v[NR]}')"

cat <<MD
Written by \`sudo bench/http_bench.sh $SECS $LOGINS\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD); machine: $(nproc) CPUs, $(uname -r); \`scope up --probes exec\` on loopback, wrk 4.1 \`-t2 -c100 -d${SECS}s\` on the same 2 CPUs.

| request | requests/s | p99 | non-2xx |
|---|---:|---:|---:|
| baseline: \`GET /health\` (no auth; its JSON is built per request), before | $h_rps | $h_p99 | $h_err |
| \`GET /api/v1/auth/me\` with a JWT (HS256 verify, revocation check) | $j_rps | $j_p99 | $j_err |
| \`GET /api/v1/auth/me\` with the admin token | $a_rps | $a_p99 | $a_err |
| baseline: \`GET /health\` (no auth), after | $h2_rps | $h2_p99 | $h2_err |

- JWT requests/s ÷ mean baseline: $(awk -v j="$j_rps" -v a="$h_rps" -v b="$h2_rps" 'BEGIN {printf "%.3f", j / ((a + b) / 2)}')
- token verification in process: $v_per_s verifications/s ($v_us µs each, one core)
- argon2id (m=19 MiB, t=2, p=1) in process: $a_ms ms a hash
- login over HTTP, $LOGINS sequential 0.5 s apart ($refused not 200): p50 $l50 ms, p95 $l95 ms, max $lmax ms (target p95 ≤ 250 ms)
MD
