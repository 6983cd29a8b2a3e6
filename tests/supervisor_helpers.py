"""Running the supervisor as a real process, and reading what it decided."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import orjson

from agentmesh.contracts import Codec, Contract, ReviewDecision, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer, make_producer
from tests.kafka_helpers import drain, read_all
from tests.runtime_helpers import LIVE_PROCESSES

M = TypeVar("M", bound=Contract)


class SupervisorProcess:
    """``agentmesh run supervisor`` as an OS process (kill -9 tests need a real one)."""

    def __init__(self, settings: Settings, policy: Path, log_dir: Path) -> None:
        self.log = log_dir / f"supervisor-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
            # faust may hang while stopping; the supervisor exits after this bound anyway.
            "AGENTMESH_DRAIN_GRACE_S": "15",
            "AGENTMESH_POLICY": str(policy),
            "COLUMNS": "200",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> SupervisorProcess:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentmesh.cli", "run", "supervisor"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        LIVE_PROCESSES.append(self.proc)
        return self

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if text.count("Worker]: Ready") >= self.starts:
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisor exited:\n{text[-5000:]}")
            await asyncio.sleep(0.2)
        raise TimeoutError(f"supervisor never became ready:\n{self.log.read_text()[-5000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM; the supervisor bounds its own shutdown (see agentmesh.supervisor._run)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


async def decoded(
    settings: Settings, topic: str, model: type[M], expected: int | None, timeout: float = 20.0
) -> list[M]:
    """Every message of ``topic``, decoded as ``model`` (read_committed, from the start)."""
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(model, Topics.subject(topic), registry)
    try:
        raw = await read_all(KafkaConnection.from_settings(settings), topic, expected, timeout)
        return [await codec.decode(v) for v in raw]
    finally:
        await registry.close()


async def ledgers(settings: Settings, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """The supervisor's task ledgers as its changelog holds them (last value per task)."""
    return await table_values(settings, "ledgers", timeout)


async def table_values(
    settings: Settings, table: str, timeout: float = 5.0
) -> dict[str, dict[str, Any]]:
    """One of the supervisor's tables (ledgers, reviews, breakers, spend) from its changelog."""
    topic = f"{settings.namespace}.supervisor-{table}-changelog"
    consumer = make_consumer(
        KafkaConnection.from_settings(settings), topic, options=ConsumerOptions(group_id=None)
    )
    await consumer.start()
    try:
        records = await drain(consumer, None, timeout)
    finally:
        await consumer.stop()
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.key is None:
            continue
        key = orjson.loads(r.key)
        if r.value is None:
            out.pop(key, None)
        else:
            out[key] = orjson.loads(r.value)
    return out


async def send_decision(settings: Settings, decision: ReviewDecision) -> None:
    """Write a reviewer's decision, as the gateway would (keyed by task id)."""
    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(ReviewDecision, Topics.subject(topics.review_decisions), registry)
    await codec.register()
    producer = make_producer(KafkaConnection.from_settings(settings))
    await producer.start()
    try:
        assert decision.task_id is not None
        await producer.send_and_wait(
            topics.review_decisions, codec.encode(decision), key=decision.task_id.encode()
        )
    finally:
        await producer.stop()
        await registry.close()
