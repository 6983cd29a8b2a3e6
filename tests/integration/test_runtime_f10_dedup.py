"""F10: an input handled before a restart is recognised as a repeat after it (the memory of
handled inputs is in a co-partitioned topic, written in each step's transaction)."""

from __future__ import annotations

import pytest

from agentmesh.contracts import Codec, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, make_producer
from tests.apps import pipeline
from tests.apps.pipeline import Finding
from tests.runtime_helpers import events_of, running, send_handoffs, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _send_same_handoff(settings: Settings) -> None:
    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    model = pipeline.mesh.inbox_model("collector")
    codec = Codec(model, Topics.subject(topics.agent("collector")), registry)
    await codec.register()
    envelope = model(
        task_id="t-dup",
        handoff_id="h-dup",
        idempotency_key="h-dup",
        from_agent="worker",
        to_agent="collector",
        payload=Finding(part=0, summary="s"),
    )
    producer = make_producer(KafkaConnection.from_settings(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.agent("collector"), codec.encode(envelope), key=b"t-dup"
        )
    finally:
        await producer.stop()
        await registry.close()


async def _results(settings: Settings) -> int:
    events = await events_of(settings, None, timeout=2)
    return sum(1 for e in events if e.body.kind == "task_completed")


async def test_a_repeat_after_a_restart_is_not_handled_again(settings: Settings) -> None:
    async def results(n: int) -> bool:
        return await _results(settings) >= n

    async with running(pipeline.mesh, ["collector"], settings):
        await _send_same_handoff(settings)
        await wait_for(lambda: results(1), timeout=30)
    # A new worker (a restart: no memory in the process) gets the very same handoff again,
    # e.g. redelivered by an at-least-once releaser, and a fresh one after it.
    async with running(pipeline.mesh, ["collector"], settings):
        await _send_same_handoff(settings)
        fresh = [Finding(part=1, summary="new")]
        await send_handoffs(settings, pipeline.mesh, "collector", fresh, ["t-new"])
        await wait_for(lambda: results(2), timeout=30)
    events = await events_of(settings, None, timeout=2)
    done = [e.task_id for e in events if e.body.kind == "task_completed"]
    assert sorted(done) == ["t-dup", "t-new"]
