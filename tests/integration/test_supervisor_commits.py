"""The supervisor's committed position keeps up with transactional input, on the real broker.

Agents write their step events in Kafka transactions; every transaction leaves a commit
marker in ``<ns>.events`` (an offset no consumer is handed) and every aborted one leaves
records no read_committed consumer sees. The supervisor group's committed offsets must still
reach the end of each partition once the events are processed, so that lag as Kafka reports
it returns to zero when the mesh is idle and a restart re-reads nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from agentmesh.contracts import AgentEvent, Codec, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    make_admin,
    make_consumer,
    make_producer,
)
from agentmesh.supervisor._topology import SupervisorTopics
from bench._supervisor_load import make_events
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

# faust's default broker_commit_interval; the supervisor does not change it.
COMMIT_INTERVAL_S = 2.8


@pytest.fixture
async def supervisor(settings: Settings, tmp_path: Path) -> AsyncIterator[SupervisorProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  default: {max_steps: 1000000}\n")
    sup = SupervisorProcess(settings.model_copy(update={"policy": policy}), policy, tmp_path)
    sup.start()
    await sup.wait_ready()
    yield sup
    sup.terminate()


async def _write(settings: Settings, events: list[AgentEvent], *, per_txn: int) -> None:
    """``events`` in transactions of ``per_txn``, as agents write them; every fifth aborted
    (the events are written again in the next, as a redone step would)."""
    topic = Topics(settings.namespace).events
    registry = SchemaRegistry(settings.registry_url)
    producer = make_producer(
        KafkaConnection.from_settings(settings),
        ProducerOptions(transactional_id=f"{settings.namespace}.test-writer"),
    )
    codec = Codec(AgentEvent, Topics.subject(topic), registry)
    await codec.register()
    await producer.start()
    try:
        for n, start in enumerate(range(0, len(events), per_txn)):
            chunk = events[start : start + per_txn]
            for attempt in ("abort", "commit") if n % 5 == 4 else ("commit",):
                await producer.begin_transaction()
                for event in chunk:
                    await producer.send(topic, codec.encode(event), key=event.task_id.encode())
                if attempt == "abort":
                    await producer.abort_transaction()
                else:
                    await producer.commit_transaction()
    finally:
        await producer.stop()
        await registry.close()


async def _lag(settings: Settings) -> dict[int, int]:
    """Per partition of ``<ns>.events``: end offset minus the supervisor group's commit."""
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).events
    admin = make_admin(conn)
    reader = make_consumer(conn, options=ConsumerOptions(group_id=None))
    await admin.start()
    await reader.start()
    try:
        group = SupervisorTopics(Topics(settings.namespace)).app_id
        committed = await admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
        if not parts:
            await reader._client.force_metadata_update()
            parts = [
                TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])
            ]
        ends = await reader.end_offsets(parts)
        return {
            tp.partition: ends[tp] - (committed[tp].offset if tp in committed else 0)
            for tp in parts
        }
    finally:
        await reader.stop()
        await admin.close()


async def _seconds_until_caught_up(settings: Settings, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        lag = await _lag(settings)
        if lag and not any(lag.values()):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    lag = await _lag(settings)
    raise AssertionError(f"still behind after {limit:.0f} s: lag per partition {lag}")


async def test_the_committed_position_reaches_the_end_within_a_commit_interval(
    settings: Settings, supervisor: SupervisorProcess
) -> None:
    # 300 transactions of two events (plus 60 aborted): 360 markers and 120 aborted
    # records among 600 events, spread over the six partitions by task id.
    await _write(settings, make_events(600, tasks=120), per_txn=2)
    # The supervisor reads 600 events in well under a second here; what is allowed on
    # top is the commit interval and a fetch of the last marker (plus a noisy machine).
    took = await _seconds_until_caught_up(settings, limit=6 * COMMIT_INTERVAL_S)
    print(f"lag zero {took:.1f} s after the last transaction")

    # Idle, then a second burst: the position keeps up again, not just once.
    await asyncio.sleep(COMMIT_INTERVAL_S)
    await _write(settings, make_events(60, tasks=30, seed=8), per_txn=1)
    await _seconds_until_caught_up(settings, limit=6 * COMMIT_INTERVAL_S)
