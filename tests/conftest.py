"""Suite-wide fixtures: a real Kafka broker and schema registry, and a fresh namespace per test.

When AGENTMESH_KAFKA_BOOTSTRAP / AGENTMESH_SCHEMA_REGISTRY_URL are set, those are used and
nothing is started. Otherwise the first test that needs a broker brings up the local
infrastructure (``agentmesh infra up``), and the session stops what it started (and only
that) at the end.

With pytest-xdist (``-n N``) every worker may be first: bringing the infrastructure up is
serialised with a file lock, what was started is noted in a file, and the controlling
process (which runs no test) stops it once every worker is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def _started_note() -> Path:
    return Settings().local_dir / "started-by-tests.json"


@contextlib.contextmanager
def _infra_lock() -> Iterator[None]:
    path = Settings().local_dir / "tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or the only process)
        _started_note().unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # a worker: others may still need the broker
    note = _started_note()
    if note.exists():
        from agentmesh.infra import LocalInfra

        LocalInfra(Settings()).down(only=json.loads(note.read_text()))
        note.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    from agentmesh.infra import LocalInfra

    with _infra_lock():
        result = LocalInfra(Settings()).up()
        if result.started:
            note = _started_note()
            before = json.loads(note.read_text()) if note.exists() else []
            note.write_text(json.dumps(sorted({*before, *result.started})))
    return Cluster(bootstrap=result.bootstrap, registry_url=result.registry_url)


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
