#!/usr/bin/env bash
# deploy/ as a host would use it: the systemd units pass `systemd-analyze verify` (a warning
# fails too), the nginx configuration passes `nginx -t` (with a throwaway certificate), the Debian
# package that CPack makes holds the binary, the units and the nginx configuration, and its binary
# runs and reads its secrets from systemd credentials ($CREDENTIALS_DIRECTORY).
#   tests/deploy_test.sh SOURCE_DIR BUILD_DIR SCOPE_BINARY
set -euo pipefail
src=$(realpath "$1") build=$(realpath "$2") scope=$(realpath "$3")
for tool in systemd-analyze nginx openssl cpack dpkg-deb; do
  if ! command -v "$tool" >/dev/null; then
    echo "skipped: no $tool (scripts/install-deps.sh installs it)"
    exit 77
  fi
done
tmp=$(mktemp -d /tmp/scope-deploy-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { # WHAT, then the command: ok when it succeeds and prints nothing on stderr
  local what=$1
  shift
  if out=$("$@" 2>&1 >/dev/null) && [ -z "$out" ]; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    printf '%s\n' "$out" | sed 's/^/     /'
    failures=$((failures + 1))
  fi
}

# systemd: the units as packaged, ExecStart pointing at this build's binary.
mkdir "$tmp/units"
for unit in "$src"/deploy/systemd/*.service; do
  sed "s#/usr/bin/scope#$scope#g" "$unit" >"$tmp/units/$(basename "$unit")"
done
for unit in scope-agent.service scope-up.service scope-server@18080.service; do
  check "systemd-analyze verify $unit" systemd-analyze verify "$tmp/units/$unit"
done
grep -q '^CapabilityBoundingSet=$' "$tmp/units/scope-server@.service" &&
  grep -q '^DynamicUser=yes' "$tmp/units/scope-server@.service" &&
  echo "ok   scope-server runs as a dynamic user with no capability" ||
  { echo "FAIL scope-server@.service is not unprivileged"; failures=$((failures + 1)); }

# nginx: the configuration inside a minimal nginx.conf, with a self-signed certificate.
mkdir -p "$tmp/nginx/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=scope.test \
  -keyout "$tmp/nginx/tls/privkey.pem" -out "$tmp/nginx/tls/fullchain.pem" 2>/dev/null
sed "s#/etc/scope/tls/#$tmp/nginx/tls/#" "$src/deploy/nginx/scope.conf" >"$tmp/nginx/scope.conf"
printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include %s/scope.conf;\n}\n' \
  "$tmp/nginx" "$tmp/nginx" >"$tmp/nginx/nginx.conf"
if nginx -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e stderr >"$tmp/nginx.out" 2>&1; then
  echo "ok   nginx -t: $(grep -c . "$tmp/nginx.out") lines, $(grep -c '\[warn\]' "$tmp/nginx.out" || true) warnings"
  if grep -q '\[warn\]' "$tmp/nginx.out"; then
    sed 's/^/     /' "$tmp/nginx.out"
    failures=$((failures + 1))
  fi
else
  echo "FAIL nginx -t"
  sed 's/^/     /' "$tmp/nginx.out"
  failures=$((failures + 1))
fi

# The Debian package of this build.
if (cd "$build" && cpack -G DEB -B "$tmp/deb" >"$tmp/cpack.out" 2>&1); then
  deb=$(ls "$tmp"/deb/scope_*.deb)
  listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for f in ./usr/bin/scope ./usr/lib/scope/libscope_cupti.so ./usr/lib/systemd/system/scope-agent.service \
    ./usr/lib/systemd/system/scope-server@.service ./usr/lib/systemd/system/scope-up.service \
    ./usr/share/scope/nginx/scope.conf ./usr/share/scope/grafana/dashboards/cuda.json \
    ./usr/share/scope/grafana/provisioning/datasources/scope.yaml; do
    if grep -qx -- "$f" <<<"$listing"; then echo "ok   the package holds $f"; else
      echo "FAIL the package lacks $f"
      failures=$((failures + 1))
    fi
  done
  depends=$(dpkg-deb -f "$deb" Depends)
  for lib in libbpf1 libsqlite3-0 libpq5 libhiredis; do
    grep -q "$lib" <<<"$depends" && echo "ok   it depends on $lib" ||
      { echo "FAIL Depends lacks $lib: $depends"; failures=$((failures + 1)); }
  done
  dpkg-deb -x "$deb" "$tmp/root"
  check "the packaged binary runs (scope --help)" "$tmp/root/usr/bin/scope" --help
  # Secrets from credentials: an unparsable Redis URL there is what the server reports.
  mkdir "$tmp/cred"
  printf 'not-a-redis-url\n' >"$tmp/cred/redis"
  printf 'postgresql://scope@127.0.0.1:1/scope\n' >"$tmp/cred/postgres"
  if out=$(env -u SCOPE_REDIS -u SCOPE_POSTGRES CREDENTIALS_DIRECTORY="$tmp/cred" \
    "$tmp/root/usr/bin/scope" server --data-dir "$tmp/state" 2>&1); then
    echo "FAIL scope server started with an unparsable Redis URL"
    failures=$((failures + 1))
  elif grep -q -- '--redis: .*not-a-redis-url\|--redis: ' <<<"$out"; then
    echo "ok   scope server reads --redis from the credential ($out)"
  else
    echo "FAIL scope server did not read the credential: $out"
    failures=$((failures + 1))
  fi
  rm "$tmp/cred/redis"
  out=$(env -u SCOPE_REDIS CREDENTIALS_DIRECTORY="$tmp/cred" "$tmp/root/usr/bin/scope" server 2>&1 || true)
  grep -q 'systemd credential redis' <<<"$out" && echo "ok   without it, the error says where it may come from" ||
    { echo "FAIL no credential: $out"; failures=$((failures + 1)); }
else
  echo "FAIL cpack -G DEB"
  sed 's/^/     /' "$tmp/cpack.out"
  failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] && echo "deploy: all checks passed" || echo "deploy: $failures failed"
[ "$failures" -eq 0 ]
