#!/usr/bin/env bash
# promtool, for the alert-rule checks (tests/unit/test_alerts.py): `promtool check rules` and
# `promtool test rules` over infra/prometheus/.
#
# Debian's `prometheus` package carries promtool. Only the program is wanted: the package's
# Prometheus server must not start, so invoke-rc.d is told not to start services while it is
# installed (policy-rc.d), and a server the package started anyway is stopped and disabled.
# $AGENTMESH_TOOLS/bin/promtool points at the installed program.
#
# Idempotent. On failure the reason goes to $AGENTMESH_TOOLS/promtool.unavailable and the
# script exits 1; the alert tests then skip (or fail under AGENTMESH_REQUIRE_TOOLS=1) quoting it.
set -euo pipefail

tools=${AGENTMESH_TOOLS:-$HOME/.cache/agentmesh/tools}
marker=$tools/promtool.unavailable
mkdir -p "$tools/bin"

fail() {
  echo "$1" >"$marker"
  echo "install-promtool: $1" >&2
  exit 1
}

if ! command -v promtool >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 \
    || fail "no apt-get here: install promtool (Prometheus 2.x) and put it on PATH"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "installing Debian's prometheus package needs root (or sudo)"
    sudo="sudo -n"
  fi
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    # Exit status 101: "action forbidden", so the package's server is not started.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  # dpkg holds one lock: another installer running apt-get at the same time is waited for.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends prometheus || status=$?
  if [ "$status" != 0 ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || true
    status=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y \
      --no-install-recommends prometheus || status=$?
  fi
  [ "$own_policy" = 1 ] && $sudo rm -f "$policy"
  [ "$status" = 0 ] || fail "apt-get install prometheus failed (exit $status); see $tools/logs/promtool.log"
fi

# Whatever started it (a systemd host ignores policy-rc.d for enabled units): no server stays.
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

found=$(command -v promtool) || fail "the prometheus package installed no promtool on PATH"
ln -sfn "$found" "$tools/bin/promtool"
"$tools/bin/promtool" --version >/dev/null 2>&1 || fail "$tools/bin/promtool does not run"

rm -f "$marker"
echo "promtool ready: $("$tools/bin/promtool" --version 2>&1 | head -n 1)"
