"""Docker for the container tests: the engine (or a skip saying why), the images, commands."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from agentmesh.core import Settings
from tests.tools import TOOLS, need_tool

__all__ = ["BUILD_TIMES", "ROOT", "built_images", "compose_env", "docker_or_skip", "sh", "succeeds"]

ROOT = Path(__file__).resolve().parents[2]
# The local stand-ins for python:3.11-slim-bookworm and ghcr.io/astral-sh/uv that
# infra/tools/install-docker.sh makes where no image registry is reachable.
BASE_IMAGE = os.environ.get("AGENTMESH_BASE_IMAGE", "agentmesh-local/python:3.11-slim-bookworm")
IMAGE = "agentmesh:test"
EXAMPLES_IMAGE = "agentmesh-examples:test"
# Locally added CA certificates (a TLS-inspecting proxy) the build stage must trust too.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
BUILD_TIMES: dict[str, float] = {}


def sh(
    *argv: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    input_file: Path | None = None,
) -> str:
    """stdout of ``argv``; with ``check``, an AssertionError carrying its output if it failed."""
    stdin = input_file.open("rb") if input_file is not None else subprocess.DEVNULL
    try:
        done = subprocess.run(
            argv, cwd=ROOT, env=env, stdin=stdin, capture_output=True, timeout=timeout, check=False
        )
    finally:
        if input_file is not None:
            stdin.close()  # type: ignore[union-attr]
    out = done.stdout.decode(errors="replace")
    if check and done.returncode != 0:
        err = done.stderr.decode(errors="replace")
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}\n{out[-3000:]}\n{err[-3000:]}"
        )
    return out


def succeeds(*argv: str, timeout: float = 30) -> bool:
    """Whether ``argv`` exits 0 (its output discarded)."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _unavailable(reason: str) -> None:
    message = f"docker is unavailable: {reason}; `make tools` installs and starts it"
    if os.environ.get("AGENTMESH_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def docker_or_skip() -> None:
    """A Docker engine with Compose v2 and the local base images, or skip (fail on CI) why."""
    need_tool("docker", "docker")
    marker = TOOLS / "docker.unavailable"
    why = marker.read_text().strip() if marker.exists() else None
    if not succeeds("docker", "info"):
        _unavailable(why or "no Docker engine answers (`docker info` fails)")
    if not succeeds("docker", "compose", "version"):
        _unavailable(why or "no Compose v2 plugin (`docker compose version` fails)")
    for image in (BASE_IMAGE, _uv_image(), "agentmesh-local/jre:17-bookworm"):
        if not succeeds("docker", "image", "inspect", image):
            _unavailable(why or f"no local image {image}")


def _uv_image() -> str:
    uv = os.environ.get("UV") or str(TOOLS / "bin" / "uv")
    version = sh(uv, "--version").split()[1]
    return f"agentmesh-local/uv:{version}"


def built_images() -> dict[str, str]:
    """agentmesh's image and the sample mesh's on top of it, built (cached layers) from this
    working tree; one build at a time on this machine."""
    lock_path = TOOLS / "docker-build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    cas = "".join(p.read_text() for p in sorted(LOCAL_CAS.glob("*.crt")))
    common = ["--build-arg", f"UV_IMAGE={_uv_image()}", "--build-arg", f"EXTRA_CA_CERTS={cas}"]
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build("image", "-t", IMAGE, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", *common, ".")
        _build(
            "examples", "-t", EXAMPLES_IMAGE, "-f", "infra/docker/Dockerfile.example",
            "--build-arg", f"AGENTMESH_IMAGE={IMAGE}", *common, "agents/examples",
        )  # fmt: skip
    return {"image": IMAGE, "examples": EXAMPLES_IMAGE}


def _build(what: str, *args: str) -> None:
    start = time.monotonic()
    sh("docker", "build", "--quiet", "--force-rm", *args, env=compose_env(), timeout=900)
    BUILD_TIMES[what] = time.monotonic() - start


def compose_env(**extra: str) -> dict[str, str]:
    """The environment of a docker or compose command: where the jars are, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["AGENTMESH_HOME"] = str(Settings().home)
    env["DOCKER_BUILDKIT"] = "0"  # the classic builder: no buildx plugin is needed
    env.update(extra)
    return env
