#!/usr/bin/env sh
# The signing keys docker-compose.yml mounts as secrets, made once (never overwritten):
# the supervisor's audit checkpoint key and the gateway's review decision key, Ed25519 in
# PKCS#8 PEM, in ${AGENTMESH_SECRETS_DIR:-infra/compose/secrets} (kept out of git).
# The containers run as uid 10001 and must read them: the files are made readable to all
# (mode 0644), fine on a one-person laptop. On a shared host, chown them to 10001 and chmod 0400.
set -eu
dir=${AGENTMESH_SECRETS_DIR:-$(dirname "$0")/secrets}
mkdir -p "$dir"
for name in audit-signing-key gateway-signing-key; do
  key=$dir/$name.pem
  if [ -e "$key" ]; then
    echo "$key exists; kept"
    continue
  fi
  openssl genpkey -algorithm ed25519 -out "$key"
  chmod 0644 "$key"
  echo "made $key"
done
