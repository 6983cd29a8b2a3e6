"""`agentmesh replay show`: a fanned-out task told as a tree of steps, from the real topics."""

from __future__ import annotations

import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import SchemaRegistry
from agentmesh.core import Settings
from agentmesh.core.views._story import read_story
from tests.apps import pipeline
from tests.apps.pipeline import Plan
from tests.integration.test_cli_review_tail import cli, cli_json
from tests.runtime_helpers import events_of, running, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_a_fanned_out_task_is_told_as_a_tree_with_every_call(settings: Settings) -> None:
    registry = SchemaRegistry(settings.registry_url)
    try:
        task = await submit_task(
            settings, pipeline.mesh, "planner", Plan(question="why", parts=2), registry
        )
    finally:
        await registry.close()

    async def collected() -> bool:
        events = await events_of(settings, None, timeout=1)
        done = [e for e in events if e.body.kind == "step_finished" and e.agent == "collector"]
        return len(done) == 2

    async with running(pipeline.mesh, ["planner", "worker", "collector"], settings):
        await wait_for(collected, timeout=90)

    story = await read_story(settings, task.task_id)
    (root,) = story.roots
    assert (root.agent, root.hop, root.outcome) == ("planner", 0, "handoff")
    assert root.input_json is not None
    assert '"why"' in root.input_json
    (asked,) = root.calls
    assert (asked.kind, asked.target, asked.status) == ("llm_call", "scripted", "ok")
    assert "split: why" in (asked.request_json or "")
    assert "sub-question" in (asked.response_json or "")
    assert [c.agent for c in root.children] == ["worker", "worker"]  # the fan-out
    for worker in root.children:
        assert [(c.kind, c.target) for c in worker.calls] == [("tool_call", "search")]
        assert [c.agent for c in worker.children] == ["collector"]
    assert story.tokens == root.tokens > 0
    assert story.decisions == []  # no supervisor ran

    shown = await cli_json(settings, "replay", "show", task.task_id)
    assert shown == orjson_roundtrip(story.as_json())
    code, text, _ = await cli(settings, "replay", "show", task.task_id)
    assert code == 0
    assert "planner (hop 0) handoff" in text
    assert "tool call search" in text


def orjson_roundtrip(data: object) -> object:
    import orjson

    return orjson.loads(orjson.dumps(data))
