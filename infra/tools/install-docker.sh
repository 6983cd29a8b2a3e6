#!/usr/bin/env bash
# A Docker engine with the Compose v2 plugin, and the local images the container test builds
# from, for machines where no image registry is reachable (see docs/deploy.md, "Building here").
#
# Idempotent; run by `make tools` (infra/tools/install.sh) beside the other installers:
#  1. Debian's docker.io and debootstrap, when missing (apt-get as root, sudo otherwise);
#  2. dockerd in the background when no engine answers (log: $AGENTMESH_TOOLS/logs/dockerd.log);
#  3. Compose v2 built from the Go module proxy into ~/.docker/cli-plugins/docker-compose
#     (Compose is not a Debian package; the build is cached by version under $AGENTMESH_TOOLS);
#  4. the base image agentmesh-local/python:3.11-slim-bookworm: a debootstrap'd Debian bookworm
#     (python3 3.11, CA certificates, tini) imported with `docker import`, standing in for the
#     public python:3.11-slim-bookworm that cannot be pulled here. Its tarball is cached by
#     suite and package list, so a re-run after `docker system prune` takes seconds;
#  5. agentmesh-local/uv:<version>: the uv binary on this machine as an image, standing in for
#     ghcr.io/astral-sh/uv:<version> (the Dockerfile copies uv from such an image).
# Any step that cannot work here writes the reason to $AGENTMESH_TOOLS/docker.unavailable and
# exits 1; the container test then skips (fails under AGENTMESH_REQUIRE_TOOLS=1) with it.
set -euo pipefail

COMPOSE_VERSION=5.6.0
SUITE=bookworm
BASE_IMAGE=agentmesh-local/python:3.11-slim-bookworm
# What the public slim image has that the test needs, plus tini (PID 1 in the final stage).
BASE_PACKAGES=python3,ca-certificates,tini
JRE_IMAGE=agentmesh-local/jre:17-bookworm
JRE_PACKAGES=openjdk-17-jre-headless,ca-certificates
# Bump when the recipe changes so cached tarballs are rebuilt.
BASE_RECIPE=1

tools=${AGENTMESH_TOOLS:-$HOME/.cache/agentmesh/tools}
mkdir -p "$tools/logs" "$tools/bin" "$tools/images"
marker=$tools/docker.unavailable
rm -f "$marker"

fail() {
  echo "$*" >"$marker"
  echo "install-docker: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    fail "needs root for: $* (no password-less sudo)"
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "no apt-get to install $*; install them by hand"
  # dpkg holds one lock: another installer running apt-get at the same time is waited for.
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "$@" \
    || { as_root "${apt[@]}" update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
      "${apt[@]}" install -y -qq --no-install-recommends "$@"; } \
    || fail "apt-get install $* failed"
}

# 1. Packages.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
command -v docker >/dev/null 2>&1 || fail "docker.io installed no docker client"
debootstrap=$(command -v debootstrap || echo /usr/sbin/debootstrap)

# 2. The engine.
if ! docker info >/dev/null 2>&1; then
  if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null 2>&1; then
    echo "install-docker: dockerd is running but not answering yet; waiting"
  else
    echo "install-docker: starting dockerd (log: $tools/logs/dockerd.log)"
    # setsid: the engine outlives this script and `make tools`.
    as_root setsid nohup dockerd >>"$tools/logs/dockerd.log" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 \
    || fail "dockerd did not start within 60 s; last lines of $tools/logs/dockerd.log: $(tail -n 3 "$tools/logs/dockerd.log" | tr '\n' ' ')"
fi

# 3. Compose v2, from its Go module in a scratch module of its own (sharing a module with other
# Go tools pulls incompatible versions of common dependencies).
plugin=$HOME/.docker/cli-plugins/docker-compose
built=$tools/bin/docker-compose-$COMPOSE_VERSION
if [ ! -x "$built" ]; then
  command -v go >/dev/null 2>&1 || fail "no Go toolchain to build Compose $COMPOSE_VERSION (Compose v2 is not a Debian package)"
  mod=$tools/go/compose-$COMPOSE_VERSION
  mkdir -p "$mod"
  (
    cd "$mod"
    [ -f go.mod ] || go mod init agentmesh.local/compose >/dev/null 2>&1
    go get -tool "github.com/docker/compose/v5/cmd@v$COMPOSE_VERSION"
    go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=v$COMPOSE_VERSION" \
      -o "$built.tmp" github.com/docker/compose/v5/cmd
  ) || fail "building Compose $COMPOSE_VERSION from the Go module proxy failed"
  mv "$built.tmp" "$built"
fi
if ! cmp -s "$built" "$plugin" 2>/dev/null; then
  mkdir -p "$(dirname "$plugin")"
  cp "$built" "$plugin.tmp" && mv "$plugin.tmp" "$plugin"
fi
docker compose version >/dev/null 2>&1 || fail "docker compose does not run after installing $plugin"

# 4. The local base images: Python for agentmesh's image, a JRE for Kafka and the registry in
# compose (infra/compose/local-jars.yml runs them from the jars `agentmesh infra up` fetched).
debian_image() { # NAME PACKAGES ENV...
  local name=$1 packages=$2
  shift 2
  docker image inspect "$name" >/dev/null 2>&1 && return 0
  local tarball
  tarball=$tools/images/debian-$SUITE-minbase-$(echo "$packages" | tr ',' '-')-r$BASE_RECIPE.tar
  if [ ! -s "$tarball" ]; then
    local root
    root=$(mktemp -d "$tools/images/rootfs.XXXXXX")
    as_root "$debootstrap" --variant=minbase --include="$packages" "$SUITE" "$root" \
      http://deb.debian.org/debian >"$tools/logs/debootstrap-${name//[\/:]/_}.log" 2>&1 \
      || { as_root rm -rf "$root"; fail "debootstrap $SUITE ($packages) failed; see $tools/logs/debootstrap-${name//[\/:]/_}.log"; }
    # What the public images do too: no apt lists or caches.
    as_root rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    as_root tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    as_root rm -rf "$root"
  fi
  local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV LANG=C.UTF-8')
  local env
  for env in "$@"; do changes+=(--change "$env"); done
  docker import "${changes[@]}" "$tarball" "$name" >/dev/null || fail "docker import of $tarball failed"
}
# The public python image's python3 is /usr/local/bin/python3; here it is Debian's /usr/bin/python3.
debian_image "$BASE_IMAGE" "$BASE_PACKAGES" 'CMD ["python3"]'
debian_image "$JRE_IMAGE" "$JRE_PACKAGES" 'CMD ["java", "-version"]'

# 5. uv as an image, from the uv this machine uses.
uv=$(command -v uv || echo "$tools/bin/uv")
[ -x "$uv" ] || fail "no uv at $uv; run \`make install\` first"
uv_version=$("$uv" --version | awk '{print $2}')
if ! docker image inspect "agentmesh-local/uv:$uv_version" >/dev/null 2>&1; then
  dir=$(mktemp -d)
  cp "$uv" "$dir/uv"
  tar -C "$dir" -cf - uv | docker import - "agentmesh-local/uv:$uv_version" >/dev/null \
    || fail "docker import of uv $uv_version failed"
  rm -rf "$dir"
fi

echo "install-docker: engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short), $BASE_IMAGE, $JRE_IMAGE, agentmesh-local/uv:$uv_version"
