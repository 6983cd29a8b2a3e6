"""Suite-wide fixtures: a real Kafka broker and schema registry, and a fresh namespace per test.

When AGENTMESH_KAFKA_BOOTSTRAP / AGENTMESH_SCHEMA_REGISTRY_URL are set, those are used and
nothing is started. Otherwise the first test that needs a broker brings up the local
infrastructure (``agentmesh infra up``), and the session stops what it started (and only
that) at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import agentmesh.agents.providers
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, make_admin


@dataclass(frozen=True)
class Cluster:
    bootstrap: str
    registry_url: str


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that talks to a broker must say so, or `-m "not kafka"` would not be broker-free.
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("kafka"):
            raise pytest.UsageError(f"{item.nodeid} uses a real broker but is not marked `kafka`")


@pytest.fixture(autouse=True)
def _forbid_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test talks to a real model: providers refuse non-loopback URLs (fakes are local)."""
    monkeypatch.setattr(agentmesh.agents.providers, "ALLOW_MODEL_REQUESTS", False)


@pytest.fixture(autouse=True)
def _no_agent_process_outlives_its_test() -> Iterator[None]:
    from tests.runtime_helpers import LIVE_PROCESSES

    yield
    while LIVE_PROCESSES:
        proc = LIVE_PROCESSES.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    from agentmesh.infra import LocalInfra

    local = LocalInfra(Settings())
    result = local.up()
    yield Cluster(bootstrap=result.bootstrap, registry_url=result.registry_url)
    local.down(only=result.started)


@pytest.fixture
def namespace() -> str:
    """A topic prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(cluster: Cluster, namespace: str) -> Iterator[Settings]:
    yield Settings(
        kafka_bootstrap=cluster.bootstrap,
        schema_registry_url=cluster.registry_url,
        namespace=namespace,
    )
    # Every test makes a dozen topics; left behind, they exhaust the broker's file handles.
    asyncio.run(_delete_topics(KafkaConnection(bootstrap=cluster.bootstrap), namespace))


async def _delete_topics(conn: KafkaConnection, namespace: str) -> None:
    admin = make_admin(conn)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest.fixture
def conn(settings: Settings) -> KafkaConnection:
    return KafkaConnection.from_settings(settings)
