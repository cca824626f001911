#!/usr/bin/env bash
# Fails when a file in src/ includes a folder its layer may not depend on: each folder below
# may include itself and the folders listed for it (bpf/shared, the records shared with the
# kernel, from anywhere). A lower layer never calls up: the server knows nothing of agents, the
# families nothing of the session that drives them.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [common]=""
  [inject]=""
  [discover]="common"
  [probe]="common"
  [event]="common"
  [export]="common event store"
  [store]="common event"
  [http]="common export"
  [auth]="common export http transport"
  [transport]="common event"
  [families]="common discover probe event"
  [session]="common discover probe event families"
  [agent]="common discover probe event families session export store transport http auth"
  [server]="common event export store transport http auth"
  [cli]="common discover probe event families session export store transport http auth agent server"
)
bad=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [ -z "${allowed[$layer]+set}" ]; then
    echo "src/$layer: a folder scripts/check-layers.sh does not know: give it its layer"
    bad=1
    continue
  fi
  while IFS=: read -r file _ include; do
    target=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$include")
    [ "$target" = "$layer" ] || [ "$target" = "bpf" ] && continue
    if [[ " ${allowed[$layer]} " != *" $target "* ]]; then
      echo "$file: includes $target/ (src/$layer may include: ${allowed[$layer]:-only itself})"
      bad=1
    fi
  done < <(grep -rn '#include "[a-z_]*/' "$dir" || true)
done
exit $bad
