"""Re-running a recorded task in process with the recorded answers: the same code does the
same thing, twice; changed code diverges at the step that changed, and says how."""

from __future__ import annotations

from typing import Any

import pytest

from agentmesh.agents import Context, Mesh, Outgoing, ScriptedModel, agent
from agentmesh.agents._replay import replay_task
from agentmesh.core import Settings
from agentmesh.core.views import read_timeline
from agentmesh.core.views._recordings import read_recordings
from tests.apps import pipeline
from tests.apps.pipeline import Plan, Work
from tests.runtime_helpers import run_pipeline_task

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

# A model that must never be called: every answer comes from the recordings.
NO_MODEL = ScriptedModel([])


def _mesh(planner: Any) -> Mesh:
    return Mesh([planner, pipeline.worker, pipeline.collector], model=NO_MODEL)


@agent("planner")
async def reworded(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"divide: {plan.question}")
    return [ctx.handoff("worker", Work(part=i, text=reply.text)) for i in range(plan.parts)]


@agent("planner")
async def one_fewer(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"split: {plan.question}")
    return [ctx.handoff("worker", Work(part=i, text=reply.text)) for i in range(plan.parts - 1)]


async def test_a_recorded_task_replays_the_same_and_changed_code_diverges_where_it_changed(
    settings: Settings,
) -> None:
    task_id = await run_pipeline_task(settings, parts=2)
    recordings = await read_recordings(settings, task_id)
    events = (await read_timeline(settings, task_id)).events
    recorded_output = next(e.body.output_json for e in events if e.body.kind == "task_completed")

    same = _mesh(pipeline.planner)
    first = await replay_task(same, task_id, recordings, events)
    second = await replay_task(same, task_id, recordings, events)
    assert [s.agent for s in first.steps] == [
        "planner",
        "worker",
        "worker",
        "collector",
        "collector",
    ]
    assert [s.differences for s in first.steps] == [[]] * 5
    assert first.first_divergence is None
    assert first.outputs == second.outputs
    assert recorded_output in first.outputs  # byte for byte

    changed = await replay_task(_mesh(reworded), task_id, recordings, events)
    diverged = changed.first_divergence
    assert diverged is not None
    assert diverged.agent == "planner"
    assert "call 0 (llm call scripted): request differs" in diverged.differences[0]
    assert '-      "content": "split: why"' in diverged.differences[0]
    assert '+      "content": "divide: why"' in diverged.differences[0]

    fewer = await replay_task(_mesh(one_fewer), task_id, recordings, events)
    diverged = fewer.first_divergence
    assert diverged is not None
    assert diverged.agent == "planner"
    assert diverged.differences == ["handoffs differ: [worker, worker] before, [worker] now"]


async def test_the_cli_replays_a_recorded_task_and_exits_1_at_a_divergence(
    settings: Settings,
) -> None:
    from tests.integration.test_cli_review_tail import cli, cli_json

    task_id = await run_pipeline_task(settings, parts=1)
    same = await cli_json(settings, "replay", "run", task_id, "--app", "tests.apps.pipeline:mesh")
    assert same["same"] is True
    assert [s["agent"] for s in same["steps"]] == ["planner", "worker", "collector"]
    code, text, _ = await cli(
        settings, "replay", "run", task_id, "--app", "tests.integration.test_replay_run:FEWER"
    )
    assert code == 1
    assert "first divergence:" in text
    assert "handoffs differ: [worker] before, [] now" in text
    app = ("--app", "tests.apps.pipeline:mesh")
    forked = await cli_json(settings, "replay", "run", task_id, *app, "--live-from", "1")
    assert [s["live"] for s in forked["steps"]] == [True, True, True]
    assert forked["output"] == forked["original_output"]  # the same scripted answers


FEWER = Mesh([one_fewer, pipeline.worker, pipeline.collector], model=NO_MODEL)


async def test_a_fork_serves_recordings_up_to_a_step_and_calls_the_model_from_there(
    settings: Settings,
) -> None:
    from agentmesh.agents._fork import fork_task

    task_id = await run_pipeline_task(settings, parts=2)
    recordings = await read_recordings(settings, task_id)
    events = (await read_timeline(settings, task_id)).events
    # The model the fork calls from the planner's step on answers differently.
    model = ScriptedModel(["another angle"], loop=True)
    live = Mesh([pipeline.planner, pipeline.worker, pipeline.collector], model=model)

    fork = await fork_task(live, task_id, recordings, events, live_from="1")
    assert [(s.agent, s.live) for s in fork.steps] == [
        ("planner", True),
        ("worker", True),
        ("worker", True),
        ("collector", True),
        ("collector", True),
    ]
    assert fork.original_output is not None
    assert "hit for sub-question" in fork.original_output
    assert fork.output is not None
    assert "hit for another angle" in fork.output
    assert len(model.requests) == 1  # only the planner's call went to the model

    # Forked at a worker: the planner and the other worker keep their recorded answers.
    second = await fork_task(live, task_id, recordings, events, live_from="2")
    assert [(s.agent, s.live) for s in second.steps][:3] == [
        ("planner", False),
        ("worker", True),
        ("collector", True),
    ]
