#!/usr/bin/env bash
# Builds scope for the GPU machine (libbpf, libelf, zlib, zstd and the C++
# runtime linked in) and copies the shared libraries it still needs that such
# a machine may lack (spdlog, fmt) beside it: build-portable/{scope,lib/}.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset portable >/dev/null
ninja -C build-portable scope scope_cupti noop_uprobe noop_tp
mkdir -p build-portable/lib
for lib in $(ldd build-portable/scope | awk '/=> \// {print $3}'); do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) ;;
    *) cp -L "$lib" build-portable/lib/ ;;
  esac
done
# Debug info would take the carry limit (64 MiB) on its own.
strip --strip-debug build-portable/scope build-portable/libscope_cupti.so \
  build-portable/bench/noop_uprobe build-portable/bench/noop_tp
ls -la build-portable/scope build-portable/libscope_cupti.so build-portable/lib
