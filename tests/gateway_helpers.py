"""The gateway over HTTP: a real one on a free port of this machine, or the same app over
fakes of Kafka and the registry (broker-free)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from agentmesh.contracts import (
    Codec,
    Contract,
    ControlCommand,
    Handoff,
    ReviewDecision,
    Topics,
    avro_schema,
)
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.submission import Headers
from agentmesh.gateway import GatewayConfig, ReviewView, Signer, Submitter, TokenStore, create_app
from agentmesh.gateway._batcher import Record, TransactionalBatcher
from agentmesh.gateway._state import GatewayState

TOKENS = {
    "sam": "submitter-token-0123456789",
    "rita": "reviewer-token-0123456789",
    "rob": "reviewer2-token-0123456789",
    "ada": "auditor-token-0123456789",
    "root": "admin-token-0123456789",
}
ROLES = {
    "sam": "submitter",
    "rita": "reviewer",
    "rob": "reviewer",
    "ada": "auditor",
    "root": "admin",
}


def inline_tokens() -> str:
    return ";".join(f"{name}:{TOKENS[name]}:{ROLES[name]}" for name in TOKENS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@contextlib.asynccontextmanager
async def serving(
    settings: Settings,
    key_dir: Path,
    *,
    max_body_bytes: int = 1_000_000,
    ready: bool = True,
) -> AsyncIterator[str]:
    """The gateway served by uvicorn in this event loop; yields its base URL once it is ready
    (``/readyz``: Kafka clients and views up; on a loaded machine that takes seconds), or,
    with ``ready=False``, once it answers at all."""
    config = GatewayConfig(tokens=inline_tokens(), max_body_bytes=max_body_bytes)
    app = create_app(
        settings,
        config,
        tokens=TokenStore.load(None, config.tokens),
        signer=Signer.load_or_create(key_dir / "key.pem"),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    probe = "/readyz" if ready else "/healthz"
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        deadline = asyncio.get_running_loop().time() + 90
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(probe)).status_code == 200:
                    break
            await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        await task


# -- a broker-free gateway: the real app and routes over fakes of Kafka and the registry --


class FakeRegistry(InMemorySchemaRegistry):
    """The in-memory registry, plus the newest schema of a subject (the submit path's lookup)."""

    async def latest(self, subject: str) -> tuple[int, dict[str, Any]] | None:
        versions = self.subjects.get(subject)
        if not versions:
            return None
        return versions[-1], self._schemas[versions[-1]]


class RecordingBatcher(TransactionalBatcher):
    """Keeps the records of each transaction instead of writing them to Kafka."""

    def __init__(self) -> None:
        super().__init__(lambda: None)
        self.transactions: list[list[Record]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def write(self, records: list[Record], headers: Headers | None = None) -> None:
        await asyncio.sleep(0)  # a real write yields: concurrent requests interleave here
        self.transactions.append(records)


class FakeSubmitter(Submitter):
    """The real submit path; its transactions are recorded, its agents are given."""

    def __init__(
        self, settings: Settings, registry: FakeRegistry, policy: Policy, agents: list[str]
    ) -> None:
        super().__init__(settings, registry, policy)  # type: ignore[arg-type]
        self.writer = RecordingBatcher()
        self._writer = self.writer
        self.agents = sorted(agents)

    async def _remember_recent(self, per_partition: int = 10_000) -> None:
        return None  # no tasks topic to read

    async def known_agents(self) -> list[str]:
        return self.agents


class FakeProducer:
    """Records what the gateway sends outside transactions (decisions, control)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        await asyncio.sleep(0.01)  # a round trip to the broker: concurrent requests interleave
        self.sent.append((topic, value, key))

    async def stop(self) -> None:
        return None


@dataclass
class FakeGateway:
    client: httpx.AsyncClient
    state: GatewayState
    submitter: FakeSubmitter
    producer: FakeProducer
    registry: FakeRegistry


@contextlib.asynccontextmanager
async def fake_gateway(
    tmp_path: Path,
    *,
    inboxes: dict[str, type[Contract]] | None = None,
    policy: Path | None = None,
    max_body_bytes: int = 1_000_000,
    reviews_loaded: bool = True,
) -> AsyncIterator[FakeGateway]:
    """The gateway app, served in-process (httpx's ASGI transport), over fakes: submissions
    and decisions are recorded, nothing reaches Kafka. ``inboxes``: agent → input contract,
    registered as the agent's inbox schema."""
    settings = Settings(namespace="fake", policy=policy)
    config = GatewayConfig(tokens=inline_tokens(), max_body_bytes=max_body_bytes)
    app = create_app(
        settings,
        config,
        tokens=TokenStore.load(None, config.tokens),
        signer=Signer.load_or_create(tmp_path / "key.pem"),
    )
    gw: GatewayState = app.state.gateway
    registry = FakeRegistry()
    topics = gw.topics
    for agent, contract in (inboxes or {}).items():
        await registry.register(
            Topics.subject(topics.agent(agent)),
            avro_schema(Handoff[contract]),  # type: ignore[valid-type]
        )
    gw.registry = registry  # type: ignore[assignment]
    gw.decisions = Codec(ReviewDecision, Topics.subject(topics.review_decisions), registry)
    gw.control = Codec(ControlCommand, Topics.subject(topics.control), registry)
    await gw.decisions.register()
    await gw.control.register()
    submitter = FakeSubmitter(settings, registry, gw.policy, list(inboxes or {}))
    await submitter.start()
    gw.submitter = submitter
    producer = FakeProducer()
    gw.producer = producer
    gw.view = ReviewView(settings, registry)  # type: ignore[arg-type]
    if reviews_loaded:
        gw.view.caught_up.set()
    gw.up.set()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield FakeGateway(client, gw, submitter, producer, registry)
