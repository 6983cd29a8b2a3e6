"""Running agents for integration tests: in this process, or as real OS processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from agentmesh.agents import Mesh
from agentmesh.agents._worker import AgentWorker, WorkerOptions
from agentmesh.contracts import (
    AgentEvent,
    Budget,
    Codec,
    DeadLetter,
    Handoff,
    SchemaRegistry,
    Topics,
)
from agentmesh.core import Settings
from tests.kafka_helpers import read_all


@contextlib.asynccontextmanager
async def running(
    mesh: Mesh, names: Sequence[str], settings: Settings, options: WorkerOptions | None = None
) -> AsyncIterator[list[AgentWorker]]:
    """Workers for ``names`` running as tasks of this event loop."""
    workers = [AgentWorker(mesh, n, settings, options=options) for n in names]
    tasks = [asyncio.create_task(w.run(), name=f"worker-{w.agent.name}") for w in workers]

    async def all_ready() -> None:
        for w in workers:
            await w.ready.wait()

    ready = asyncio.create_task(all_ready())
    done, _ = await asyncio.wait([*tasks, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ready
    for task in tasks:
        if task in done:
            task.result()  # a worker that died during start-up: raise its error here
    try:
        yield workers
    finally:
        for w in workers:
            w.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]


async def events_of(
    settings: Settings, expected: int | None, timeout: float = 30.0
) -> list[AgentEvent]:
    """Decoded events of the namespace, as a read_committed reader sees them."""
    from agentmesh.core.transport import KafkaConnection

    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AgentEvent, Topics.subject(topics.events), registry)
    try:
        raw = await read_all(
            KafkaConnection.from_settings(settings), topics.events, expected, timeout
        )
        return [await codec.decode(v) for v in raw]
    finally:
        await registry.close()


async def wait_for(predicate_coro: object, timeout: float = 30.0) -> None:
    """Poll an async predicate until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate_coro():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("condition not met in time")


LIVE_PROCESSES: list[subprocess.Popen[bytes]] = []  # killed after each test (conftest)


class AgentProcess:
    """``agentmesh run agent NAME`` as a real OS process (for kill -9 tests)."""

    def __init__(self, name: str, settings: Settings, app: str, log_dir: Path, **env: str) -> None:
        self.name = name
        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
            "AGENTMESH_APP": app,
            "COLUMNS": "200",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentmesh.cli", "run", "agent", self.name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        LIVE_PROCESSES.append(self.proc)
        return self

    async def wait_consuming(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "consuming partitions" in self.log.read_text(errors="replace"):
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent {self.name} exited:\n{self.log.read_text()}")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"agent {self.name} never started consuming:\n{self.log.read_text()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


async def send_handoffs(
    settings: Settings, mesh: Mesh, agent: str, payloads: Sequence[object], task_ids: Sequence[str]
) -> None:
    """Write handoffs to ``agent``'s inbox, as an upstream agent would (one transaction)."""
    from agentmesh.contracts import new_id
    from agentmesh.core.transport import KafkaConnection, ProducerOptions, make_producer

    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(mesh.inbox_model(agent), Topics.subject(topics.agent(agent)), registry)
    await codec.register()
    producer = make_producer(
        KafkaConnection.from_settings(settings),
        ProducerOptions(transactional_id=f"test-{new_id()}"),
    )
    await producer.start()
    try:
        async with producer.transaction():
            for payload, task_id in zip(payloads, task_ids, strict=True):
                envelope = mesh.inbox_model(agent)(
                    task_id=task_id, from_agent="test", to_agent=agent, payload=payload
                )
                await producer.send(
                    topics.agent(agent), codec.encode(envelope), key=task_id.encode()
                )
    finally:
        await producer.stop()
        await registry.close()


async def send_raw(settings: Settings, topic: str, value: bytes, key: bytes) -> None:
    """Write raw bytes (e.g. garbage) to a topic."""
    from agentmesh.core.transport import KafkaConnection, make_producer

    producer = make_producer(KafkaConnection.from_settings(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def send_control(settings: Settings, command: object) -> None:
    """Write a control record, as the supervisor or gateway would."""
    from agentmesh.contracts import ControlCommand
    from agentmesh.core.views import publish_control

    assert isinstance(command, ControlCommand)
    await publish_control(settings, command)


async def inbox_of(
    settings: Settings, mesh: Mesh, agent: str, expected: int | None, timeout: float = 30.0
) -> list[Handoff[Any]]:
    """Decoded handoffs on ``agent``'s inbox (read_committed, from the beginning)."""
    from agentmesh.core.transport import KafkaConnection

    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(mesh.inbox_model(agent), Topics.subject(topics.agent(agent)), registry)
    try:
        raw = await read_all(
            KafkaConnection.from_settings(settings), topics.agent(agent), expected, timeout
        )
        return [await codec.decode(v) for v in raw]
    finally:
        await registry.close()


async def dead_letters(
    settings: Settings, expected: int | None, timeout: float = 30.0
) -> list[DeadLetter]:
    """Decoded dead letters of the namespace."""
    from agentmesh.core.transport import KafkaConnection

    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(DeadLetter, Topics.subject(topics.dlq), registry)
    try:
        raw = await read_all(KafkaConnection.from_settings(settings), topics.dlq, expected, timeout)
        return [await codec.decode(v) for v in raw]
    finally:
        await registry.close()


async def run_pipeline_task(
    settings: Settings, question: str = "why", parts: int = 2, budget: Budget | None = None
) -> str:
    """Submit one task to the pipeline test mesh and run its agents until every part reached
    the collector (the task recorded end to end); its id."""
    from agentmesh.agents._submit import submit_task
    from tests.apps import pipeline

    registry = SchemaRegistry(settings.registry_url)
    try:
        plan = pipeline.Plan(question=question, parts=parts)
        task = await submit_task(settings, pipeline.mesh, "planner", plan, registry, budget=budget)
    finally:
        await registry.close()

    async def collected() -> bool:
        events = await events_of(settings, None, timeout=1)
        done = sum(e.body.kind == "step_finished" and e.agent == "collector" for e in events)
        return done == parts

    async with running(pipeline.mesh, ["planner", "worker", "collector"], settings):
        await wait_for(collected, timeout=90)
    return str(task.task_id)
