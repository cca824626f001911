#!/usr/bin/env bash
# Sets up the llama/ggml test workload in OUTDIR from nothing: node-llama-cpp
# and its prebuilt llama.cpp for Linux x64 from the npm registry (the versions
# pinned in package-lock.json, no install scripts, so nothing is built or
# downloaded from elsewhere), the runner, and a tiny generated GGUF model.
# Writes OUTDIR/status: "ok", or why the package could not be installed (the
# tests then skip with that reason). Exits 0 either way unless OUTDIR is bad.
#
# `npm ci` is not used: node-llama-cpp lists optional packages for platforms
# that are not published for this version (linux-riscv64, mac-*, win-*), so
# no lockfile npm writes ever satisfies `npm ci`; `npm install` with the
# committed lockfile installs the same pinned versions.
set -uo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: setup.sh OUTDIR}"
mkdir -p "$out" || exit 1
cp "$src/package.json" "$src/package-lock.json" "$src/runner.mjs" "$src/gen_gguf.mjs" "$out/"
status="$out/status"

fail() {
  echo "$1" >"$status"
  echo "llama fixture: $1" >&2
  exit 0
}

command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh installs nodejs)"
command -v npm >/dev/null || fail "npm is not installed (scripts/install-deps.sh installs npm)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
  fail "node-llama-cpp 3 needs Node.js 20 or newer (found $(node --version))"

# Reinstall only when the lockfile changed.
stamp="$out/node_modules/.scope-lock"
if ! cmp -s "$out/package-lock.json" "$stamp" 2>/dev/null; then
  rm -rf "$out/node_modules"
  (cd "$out" && npm install --ignore-scripts --omit=optional --no-audit --no-fund --no-save \
      --loglevel=error >"$out/npm.log" 2>&1) ||
    fail "npm could not install node-llama-cpp from the registry (see $out/npm.log)"
  cp "$out/package-lock.json" "$stamp"
fi
[ -f "$out/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so" ] ||
  fail "@node-llama-cpp/linux-x64 installed without its prebuilt libraries"

# A stripped copy (symbol tables removed but .dynsym, which a shared library
# keeps to be linked at all) for the bad-input tests.
mkdir -p "$out/stripped"
strip --strip-all -o "$out/stripped/libggml-base.so" \
  "$out/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so" ||
  fail "strip could not copy libggml-base.so"

node "$out/gen_gguf.mjs" "$out/tiny.gguf" --layers 2 --embd 64 --ff 128 --vocab 512 2>/dev/null ||
  fail "gen_gguf.mjs could not write $out/tiny.gguf"
echo ok >"$status"
