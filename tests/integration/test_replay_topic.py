"""`agentmesh replay topic`: a slice of the mesh copied into a sandbox namespace, where real
agents run against it; the source is only read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.replay import SliceError, SliceSpec, copy_slice
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_admin, make_consumer
from tests.apps import pipeline
from tests.apps.pipeline import Plan
from tests.conftest import _delete_topics
from tests.kafka_helpers import drain
from tests.runtime_helpers import events_of, inbox_of, running

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
async def sandbox(settings: Settings) -> AsyncIterator[Settings]:
    into = settings.model_copy(update={"namespace": f"{settings.namespace}-sandbox"})
    yield into
    await _delete_topics(KafkaConnection(bootstrap=settings.bootstrap), into.namespace)


async def _ends(settings: Settings) -> dict[tuple[str, int], int]:
    """End offset of every partition of every topic of the namespace."""
    conn = KafkaConnection.from_settings(settings)
    admin = make_admin(conn)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(f"{settings.namespace}.")]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    reader = make_consumer(conn, options=ConsumerOptions(group_id=None))
    await reader.start()
    try:
        return {
            (tp.topic, tp.partition): end for tp, end in (await reader.end_offsets(tps)).items()
        }
    finally:
        await reader.stop()


async def test_a_task_is_copied_into_a_sandbox_where_an_agent_runs_against_it(
    settings: Settings, sandbox: Settings
) -> None:
    registry = SchemaRegistry(settings.registry_url)
    try:
        tasks = [
            await submit_task(
                settings, pipeline.mesh, "planner", Plan(question=q, parts=2), registry
            )
            for q in ("first", "second")
        ]
    finally:
        await registry.close()
    async with running(pipeline.mesh, ["planner"], settings):
        await inbox_of(settings, pipeline.mesh, "worker", 4, timeout=60)
    before = await _ends(settings)

    chosen = tasks[0].task_id
    report = await copy_slice(settings, SliceSpec(into=sandbox.namespace, task_id=chosen))

    src = Topics(settings.namespace)
    assert report.copied[src.tasks] == 1
    assert report.copied[src.agent("planner")] == 1
    assert report.copied[src.agent("worker")] == 2  # the chosen task's two parts
    assert await _ends(settings) == before  # the source was only read
    copied_events = await events_of(sandbox, None, timeout=3)
    assert copied_events
    assert {e.task_id for e in copied_events} == {chosen}

    # A real worker in the sandbox takes the copied work and hands it on there.
    async with running(pipeline.mesh, ["worker"], sandbox):
        handed = await inbox_of(sandbox, pipeline.mesh, "collector", 2, timeout=60)
    assert sorted(h.payload.part for h in handed) == [0, 1]
    assert {h.task_id for h in handed} == {chosen}
    await asyncio.sleep(0)
    assert await _ends(settings) == before

    with pytest.raises(SliceError, match="is not fresh"):
        await copy_slice(settings, SliceSpec(into=sandbox.namespace))


async def _records(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = make_consumer(
        KafkaConnection.from_settings(settings), topic, options=ConsumerOptions(group_id=None)
    )
    await consumer.start()
    try:
        return await drain(consumer, None, timeout=2)
    finally:
        await consumer.stop()


async def test_a_time_range_and_an_offset_range_copy_exactly_their_records(
    settings: Settings, sandbox: Settings
) -> None:
    registry = SchemaRegistry(settings.registry_url)
    try:
        ids = []
        for q in ("early", "middle", "late"):
            task = await submit_task(settings, pipeline.mesh, "planner", Plan(question=q), registry)
            ids.append(task.task_id)
            await asyncio.sleep(0.3)  # apart in time: the range's bounds fall between them
    finally:
        await registry.close()
    src = Topics(settings.namespace)
    source = {r.key.decode(): r for r in await _records(settings, src.tasks) if r.key}
    early, middle, late = (source[i] for i in ids)
    before = await _ends(settings)

    # --since/--until: between the first and second, and the second and third submissions.
    since = _between(early, middle)
    until = _between(middle, late)
    timed = SliceSpec(into=sandbox.namespace, since=since, until=until)
    report = await copy_slice(settings, timed)
    assert report.copied[src.tasks] == 1
    copied = await _records(sandbox, Topics(sandbox.namespace).tasks)
    assert [(r.key, r.partition, r.timestamp) for r in copied] == [
        (middle.key, middle.partition, middle.timestamp)  # its key, partition and time kept
    ]
    assert await _ends(settings) == before

    # --from offsets: on every partition of the tasks topic, the first record from the
    # middle submission on (or the partition's end); the early task is left behind.
    starts = {
        ("tasks", p): min(
            (
                r.offset
                for r in source.values()
                if r.partition == p and r.timestamp >= middle.timestamp
            ),
            default=end,
        )
        for (topic, p), end in before.items()
        if topic == src.tasks
    }
    offsets = f"{sandbox.namespace}-from"
    try:
        report = await copy_slice(settings, SliceSpec(into=offsets, from_offsets=starts))
        copied = await _records(
            settings.model_copy(update={"namespace": offsets}), f"{offsets}.tasks"
        )
        assert sorted(r.key for r in copied) == sorted([middle.key, late.key])
        assert report.copied[src.tasks] == 2
    finally:
        await _delete_topics(KafkaConnection(bootstrap=settings.bootstrap), offsets)
    assert await _ends(settings) == before  # the source was only read


def _between(a: ConsumerRecord[bytes, bytes], b: ConsumerRecord[bytes, bytes]) -> datetime:
    assert a.timestamp < b.timestamp, "submissions 0.3 s apart got the same timestamp"
    return datetime.fromtimestamp((a.timestamp + b.timestamp) / 2000, tz=UTC)
