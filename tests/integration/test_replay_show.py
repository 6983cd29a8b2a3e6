"""`agentmesh replay show`: a fanned-out task told as a tree of steps, from the real topics."""

from __future__ import annotations

import pytest

from agentmesh.core import Settings
from agentmesh.core.views._story import read_story
from tests.integration.test_cli_review_tail import cli, cli_json
from tests.runtime_helpers import run_pipeline_task

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_a_fanned_out_task_is_told_as_a_tree_with_every_call(settings: Settings) -> None:
    task_id = await run_pipeline_task(settings, parts=2)

    story = await read_story(settings, task_id)
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

    shown = await cli_json(settings, "replay", "show", task_id)
    assert shown == orjson_roundtrip(story.as_json())
    code, text, _ = await cli(settings, "replay", "show", task_id)
    assert code == 0
    assert "planner (hop 0) handoff" in text
    assert "tool call search" in text


def orjson_roundtrip(data: object) -> object:
    import orjson

    return orjson.loads(orjson.dumps(data))
