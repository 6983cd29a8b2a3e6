"""The gateway under test: one entry agent made to exist, then `agentmesh run gateway` as a
subprocess on a free port, ready when ``/readyz`` answers 200, stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from agentmesh.agents import Context, Mesh, agent
from agentmesh.agents._submit import submit_task
from agentmesh.contracts import Contract, SchemaRegistry
from agentmesh.core import Settings

__all__ = ["AGENT", "GatewayStartFailed", "Order", "Server", "make_agent_exist", "serving"]

AGENT = "intake"
"""The entry agent tasks are submitted to. No worker ever runs it: the benchmark stops at
the gateway's 202, when the task record and first handoff are committed to Kafka."""

_ROOT = Path(__file__).resolve().parent.parent  # where `agentmesh` and `bench` import from


class Order(Contract):
    """A small input: what a real submission of a refund or lookup carries."""

    order: str
    amount: float


@agent(AGENT)
async def intake(order: Order, ctx: Context) -> None:
    """Never runs (see :data:`AGENT`)."""


MESH = Mesh([intake])


class GatewayStartFailed(RuntimeError):
    """The gateway process exited, or was not ready in time; the message ends with its log."""


async def make_agent_exist(settings: Settings) -> None:
    """Create the agent's inbox topic and register its schema, as its first task does.

    The gateway validates a submission against the schema registered for the agent's inbox
    and only knows agents whose inbox topic exists; one task published the way
    ``agentmesh task submit`` does it leaves both behind (and ``<ns>.tasks``).
    """
    registry = SchemaRegistry(settings.registry_url)
    try:
        await submit_task(
            settings,
            MESH,
            AGENT,
            Order(order="setup", amount=1.0),
            registry,
            submitted_by="bench-setup",
        )
    finally:
        await registry.close()


@dataclass(frozen=True)
class Server:
    """A running gateway: where it listens, and the submitter's bearer token."""

    url: str
    token: str
    pid: int
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(
    settings: Settings, scratch: Path, *, ready_timeout_s: float = 90.0, app: str | None = None
) -> Iterator[Server]:
    """Run ``python -m agentmesh.cli run gateway`` for ``settings``' namespace until the block ends.

    Its signing key and log live in ``scratch``; the only token is a submitter's, random.
    ``app`` (``AGENTMESH_APP``): the mesh whose input models check submissions.
    """
    port, token = _free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        "AGENTMESH_NAMESPACE": settings.namespace,
        "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
        "AGENTMESH_GATEWAY_TOKENS": f"bench:{token}:submitter",
        "AGENTMESH_GATEWAY_SIGNING_KEY_FILE": str(scratch / "signing-key.pem"),
        "AGENTMESH_GATEWAY_HOST": "127.0.0.1",
        "AGENTMESH_GATEWAY_PORT": str(port),
    }
    env.pop("AGENTMESH_GATEWAY_TOKENS_FILE", None)
    if app is not None:
        env["AGENTMESH_APP"] = app
    log = scratch / "gateway.log"
    argv = [sys.executable, "-m", "agentmesh.cli", "run", "gateway"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", token, proc.pid, log)
    try:
        _wait_ready(proc, server, ready_timeout_s)
        yield server
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], server: Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise GatewayStartFailed(
                    f"the gateway exited with {proc.returncode} before it was ready:\n"
                    + _log_tail(server.log)
                )
            try:
                answer = client.get("/readyz")
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            else:
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:500]}"
            time.sleep(0.2)
    raise GatewayStartFailed(
        f"the gateway was not ready within {timeout_s:.0f} s (last /readyz: {last}):\n"
        + _log_tail(server.log)
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn drains and the gateway closes its Kafka clients), SIGKILL if stuck."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _log_tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log: {exc})"
