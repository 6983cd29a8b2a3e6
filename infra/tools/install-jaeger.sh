#!/usr/bin/env bash
# Jaeger v2, the trace backend of the tracing test (tests/integration/test_tracing.py) and of
# `bench.hop --trace`: an OpenTelemetry Collector distribution with an OTLP receiver, in-memory
# storage and the query API, in one program.
#
# Built from the Go module proxy in a scratch Go module of its own (sharing one with another
# tool pulls newer OpenTelemetry Go modules, and the build then fails), once per version, into
# $AGENTMESH_TOOLS/jaeger-<version>/jaeger; $AGENTMESH_TOOLS/bin/jaeger points at it.
#
# Idempotent. On failure the reason goes to $AGENTMESH_TOOLS/jaeger.unavailable and the script
# exits 1; the tracing test then skips (or fails under AGENTMESH_REQUIRE_TOOLS=1) quoting it.
set -euo pipefail

JAEGER_VERSION=v1.75.0
tools=${AGENTMESH_TOOLS:-$HOME/.cache/agentmesh/tools}
marker=$tools/jaeger.unavailable
mkdir -p "$tools/bin"

fail() {
  echo "$1" >"$marker"
  echo "install-jaeger: $1" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || fail "no Go toolchain on PATH (Jaeger is built from the Go module proxy): install Go 1.25 or newer"

jaeger_dir=$tools/jaeger-$JAEGER_VERSION
if [ ! -x "$jaeger_dir/jaeger" ]; then
  build=$tools/build/jaeger-$JAEGER_VERSION
  mkdir -p "$build" "$jaeger_dir"
  (
    cd "$build"
    [ -f go.mod ] || go mod init agentmesh.local/tools/jaeger >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    go build -trimpath -ldflags "-s -w" -o "$jaeger_dir/jaeger.new" \
      github.com/jaegertracing/jaeger/cmd/jaeger
  ) || fail "building Jaeger $JAEGER_VERSION from the Go module proxy failed; see $tools/logs/jaeger.log"
  mv "$jaeger_dir/jaeger.new" "$jaeger_dir/jaeger"
fi
ln -sfn "$jaeger_dir/jaeger" "$tools/bin/jaeger"
"$tools/bin/jaeger" --help >/dev/null 2>&1 || fail "$tools/bin/jaeger does not run"

rm -f "$marker"
echo "jaeger $JAEGER_VERSION ready in $tools/bin"
