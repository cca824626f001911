#!/usr/bin/env bash
# Installs what scope needs to build and test, from Debian's packages.
set -euo pipefail
PKGS=(cmake ninja-build g++ clang llvm bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev
      pkg-config libcli11-dev libspdlog-dev nlohmann-json3-dev libgtest-dev libgmock-dev
      libbenchmark-dev clang-format clang-tidy jq bc libsqlite3-dev sqlite3 libpq-dev libhiredis-dev
      libboost1.81-dev libjwt-dev libsodium-dev wrk postgresql redis-server libclang-rt-14-dev strace
      nginx openssl systemd dpkg-dev chromium protobuf-compiler)
# The llama/ggml workload (node-llama-cpp) needs Node.js 20+ with npm. A node
# already installed (e.g. NodeSource's, which bundles npm) is kept; Debian 12's
# own nodejs is 18, with which the llama tests skip with that reason.
command -v node >/dev/null || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
