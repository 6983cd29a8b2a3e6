"""`agentmesh replay topic`: a slice of the mesh copied into a sandbox namespace, where real
agents run against it; the source is only read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.replay import SliceError, SliceSpec, copy_slice
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_admin, make_consumer
from tests.apps import pipeline
from tests.apps.pipeline import Plan
from tests.conftest import _delete_topics
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
