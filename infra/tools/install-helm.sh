#!/usr/bin/env bash
# Helm and k8scheck, for the chart checks (tests/integration/test_chart.py).
#
# Helm is built from the Go module proxy in a scratch Go module of its own (its dependency set
# must not be mixed with other tools' builds), once per version, into
# $AGENTMESH_TOOLS/helm-<version>/helm; $AGENTMESH_TOOLS/bin/helm points at it.
#
# k8scheck (infra/tools/k8scheck) decodes every object `helm template` renders strictly into the
# Kubernetes API types, unknown fields being errors. It is rebuilt whenever its source changes
# (cached by a hash of its files) into $AGENTMESH_TOOLS/bin/k8scheck.
#
# Idempotent. On failure the reason goes to $AGENTMESH_TOOLS/helm.unavailable and the script
# exits 1; the chart tests then skip (or fail under AGENTMESH_REQUIRE_TOOLS=1) quoting it.
set -euo pipefail

HELM_VERSION=v4.3.2
here=$(cd "$(dirname "$0")" && pwd)
tools=${AGENTMESH_TOOLS:-$HOME/.cache/agentmesh/tools}
marker=$tools/helm.unavailable
mkdir -p "$tools/bin"

fail() {
  echo "$1" >"$marker"
  echo "install-helm: $1" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || fail "no Go toolchain on PATH (Helm and k8scheck are built from the Go module proxy): install Go 1.25 or newer"

# Helm: the module's own version variable is set so `helm version` tells the truth.
helm_dir=$tools/helm-$HELM_VERSION
if [ ! -x "$helm_dir/helm" ]; then
  build=$tools/build/helm-$HELM_VERSION
  mkdir -p "$build" "$helm_dir"
  (
    cd "$build"
    [ -f go.mod ] || go mod init agentmesh.local/tools/helm >/dev/null 2>&1
    go get -tool "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      -o "$helm_dir/helm.new" helm.sh/helm/v4/cmd/helm
  ) || fail "building Helm $HELM_VERSION from the Go module proxy failed; see $tools/logs/helm.log"
  mv "$helm_dir/helm.new" "$helm_dir/helm"
fi
ln -sfn "$helm_dir/helm" "$tools/bin/helm"
"$tools/bin/helm" version >/dev/null || fail "$tools/bin/helm does not run"

# k8scheck: its go.mod and go.sum are in the repository, so the build is reproducible.
src=$here/k8scheck
sum=$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)
check_dir=$tools/k8scheck-$sum
if [ ! -x "$check_dir/k8scheck" ]; then
  mkdir -p "$check_dir"
  (cd "$src" && go build -ldflags "-s -w" -o "$check_dir/k8scheck.new" .) \
    || fail "building infra/tools/k8scheck failed; see $tools/logs/helm.log"
  mv "$check_dir/k8scheck.new" "$check_dir/k8scheck"
fi
ln -sfn "$check_dir/k8scheck" "$tools/bin/k8scheck"

rm -f "$marker"
echo "helm $HELM_VERSION and k8scheck ($sum) ready in $tools/bin"
