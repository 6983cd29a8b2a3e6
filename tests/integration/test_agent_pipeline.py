"""Agents as Kafka consumers against the real broker: a task flows through the mesh."""

import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import SchemaRegistry
from agentmesh.core import Settings
from tests.apps import pipeline
from tests.apps.pipeline import Plan
from tests.runtime_helpers import events_of, running

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_task_flows_planner_to_workers_to_collector(settings: Settings) -> None:
    registry = SchemaRegistry(settings.registry_url)
    async with running(pipeline.mesh, ["planner", "worker", "collector"], settings):
        task = await submit_task(
            settings, pipeline.mesh, "planner", Plan(question="q", parts=2), registry
        )
        # planner: finished (+1 llm usage); each worker: finished (+1 tool usage); each
        # collector: completed, finished. Handoffs are listed on their step's finished event.
        events = await events_of(settings, 2 + 2 * 2 + 2 * 2, timeout=60)
    await registry.close()
    mine = [e for e in events if e.task_id == task.task_id]
    by_agent = {
        a: sorted(e.body.kind for e in mine if e.agent == a)
        for a in ("planner", "worker", "collector")
    }
    assert by_agent == {
        "planner": sorted(["llm_call", "step_finished"]),
        "worker": sorted(["tool_call", "step_finished"] * 2),
        "collector": sorted(["task_completed", "step_finished"] * 2),
    }


async def test_a_retried_submission_with_the_same_key_is_the_same_task(settings: Settings) -> None:
    registry = SchemaRegistry(settings.registry_url)
    try:
        first = await submit_task(
            settings,
            pipeline.mesh,
            "collector",
            {"part": 1, "summary": "s"},
            registry,
            idempotency_key="order-42",
        )
        again = await submit_task(
            settings,
            pipeline.mesh,
            "collector",
            {"part": 1, "summary": "s"},
            registry,
            idempotency_key="order-42",
        )
    finally:
        await registry.close()
    assert first.task_id == again.task_id
    async with running(pipeline.mesh, ["collector"], settings):
        events = await events_of(settings, 2)  # one step: completed + finished, not two
    assert [e.body.kind for e in events] == ["task_completed", "step_finished"]
