# agentmesh's image: one role (or all) of the mesh, from the locked dependencies in uv.lock.
#
#   docker build -t agentmesh .                                             # every role
#   docker build -t agentmesh-gateway --build-arg PACKAGES=agentmesh-gateway .
#   docker run --rm agentmesh run agent researcher --app mypkg:mesh
#
# Build arguments (docs/deploy.md, "Images"):
#   BASE_IMAGE      the Python 3.11 image both stages start from (python3 on PATH).
#   UV_IMAGE        where the build stage copies uv from.
#   PACKAGES        the workspace distributions to install: agentmesh-agents (agent workers),
#                   agentmesh-supervisor, agentmesh-gateway; several, space-separated.
#   EXTRA_CA_CERTS  PEM text of CA certificates the build stage must trust to reach the package
#                   index (a TLS-inspecting proxy); never in the final image.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS deps
COPY --from=uv /uv /usr/local/bin/uv
# A self-contained virtual environment at the path the final stage uses; bytecode compiled now,
# because the final image runs with a read-only root filesystem.
ENV UV_PROJECT_ENVIRONMENT=/opt/agentmesh \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON=python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system
ARG PACKAGES="agentmesh-agents agentmesh-supervisor agentmesh-gateway"
ARG EXTRA_CA_CERTS=""
WORKDIR /src

# The third-party dependencies first, from the lock file alone: this stage is rebuilt only when
# uv.lock or a pyproject.toml changes, not on every code change. --locked: a lock file out of
# date with the pyproject files fails the build instead of resolving anew.
COPY pyproject.toml uv.lock README.md ./
COPY contracts/pyproject.toml contracts/README.md contracts/
COPY core/pyproject.toml core/README.md core/
COPY agents/pyproject.toml agents/README.md agents/
COPY agents/examples/pyproject.toml agents/examples/README.md agents/examples/
COPY supervisor/pyproject.toml supervisor/README.md supervisor/
COPY gateway/pyproject.toml gateway/README.md gateway/
COPY infra/pyproject.toml infra/README.md infra/
RUN set -eu; \
    cat /etc/ssl/certs/ca-certificates.crt > /tmp/ca.pem 2>/dev/null || true; \
    printf '%s\n' "$EXTRA_CA_CERTS" >> /tmp/ca.pem; \
    for p in $PACKAGES; do \
      SSL_CERT_FILE=/tmp/ca.pem uv sync --locked --no-dev --no-install-workspace --inexact --package "$p"; \
    done; \
    rm -f /tmp/ca.pem

# ---------------------------------------------------------------------------------------------
FROM deps AS build
ARG PACKAGES="agentmesh-agents agentmesh-supervisor agentmesh-gateway"
ARG EXTRA_CA_CERTS=""
# Then agentmesh itself, installed as wheels (not editable): the environment needs no sources.
# What this adds to the environment is gathered in /overlay, so the final image's layer for a
# code change is agentmesh's own files, not the whole environment again.
COPY contracts/ contracts/
COPY core/ core/
COPY agents/ agents/
COPY supervisor/ supervisor/
COPY gateway/ gateway/
RUN set -eu; \
    cat /etc/ssl/certs/ca-certificates.crt > /tmp/ca.pem 2>/dev/null || true; \
    printf '%s\n' "$EXTRA_CA_CERTS" >> /tmp/ca.pem; \
    touch /tmp/before; sleep 1; \
    for p in $PACKAGES; do \
      SSL_CERT_FILE=/tmp/ca.pem UV_COMPILE_BYTECODE=0 \
        uv sync --locked --no-dev --no-editable --inexact --package "$p"; \
    done; \
    rm -f /tmp/ca.pem; \
    cd /; \
    find opt/agentmesh -newer /tmp/before -name '*.py' -print0 \
      | xargs -0r /opt/agentmesh/bin/python -m compileall -q; \
    mkdir /overlay; \
    find opt/agentmesh -newer /tmp/before \( -type f -o -type l \) -print0 \
      | xargs -0r cp -a --parents -t /overlay; \
    /opt/agentmesh/bin/agentmesh --help >/dev/null

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# tini as PID 1: it forwards SIGTERM to agentmesh (which drains, docs/deploy.md) and reaps
# zombies. The public slim image lacks it; a base that has it (Debian's package) skips apt.
RUN set -eu; \
    if ! command -v tini >/dev/null 2>&1; then \
      apt-get update; \
      apt-get install -y --no-install-recommends tini; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system --gid 10001 agentmesh; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp/agentmesh \
      --shell /usr/sbin/nologin agentmesh
COPY --from=deps /opt/agentmesh /opt/agentmesh
COPY --from=build /overlay/ /
# HOME and AGENTMESH_HOME under /tmp: the root filesystem may be read-only (mount a writable
# /tmp); the supervisor's faust data dir is under the temp dir too. The probe server (/healthz,
# /readyz, /metrics) of `run agent` and `run supervisor` listens on 8081; the gateway on 8080.
ENV PATH=/opt/agentmesh/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp/agentmesh \
    AGENTMESH_HOME=/tmp/agentmesh \
    AGENTMESH_PROBE_PORT=8081 \
    AGENTMESH_GATEWAY_HOST=0.0.0.0 \
    AGENTMESH_GATEWAY_PORT=8080
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["tini", "--", "agentmesh"]
CMD ["run", "gateway"]
