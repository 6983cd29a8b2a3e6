#!/usr/bin/env bash
# One-time set-up of the programs the container, chart, tracing and alert tests use: a Docker
# engine with Compose, Helm, Jaeger and promtool. Each infra/tools/install-<tool>.sh runs in
# parallel (the Go builds take minutes on a cold machine), is idempotent, and caches what it
# builds under $AGENTMESH_TOOLS (default ~/.cache/agentmesh/tools) by version.
#
# A tool that cannot be installed here does not stop `make test`: its script leaves the reason
# in $AGENTMESH_TOOLS/<tool>.unavailable and the tests that need it skip, saying why. With
# AGENTMESH_REQUIRE_TOOLS=1 (as CI sets it) a missing tool fails those tests instead.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGENTMESH_TOOLS=${AGENTMESH_TOOLS:-$HOME/.cache/agentmesh/tools}
logs=$AGENTMESH_TOOLS/logs
mkdir -p "$logs"

names=()
pids=()
for script in "$here"/install-*.sh; do
  [ -e "$script" ] || continue
  name=$(basename "$script" .sh)
  name=${name#install-}
  names+=("$name")
  bash "$script" >"$logs/$name.log" 2>&1 &
  pids+=($!)
done

for i in "${!pids[@]}"; do
  name=${names[$i]}
  if wait "${pids[$i]}"; then
    echo "tools: $name ready"
  else
    reason="install-$name.sh failed; see $logs/$name.log"
    [ -s "$AGENTMESH_TOOLS/$name.unavailable" ] || echo "$reason" >"$AGENTMESH_TOOLS/$name.unavailable"
    echo "tools: $name unavailable: $(cat "$AGENTMESH_TOOLS/$name.unavailable")" >&2
  fi
done
exit 0
