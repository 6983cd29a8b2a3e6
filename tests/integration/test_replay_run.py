"""Re-running a recorded task in process with the recorded answers: the same code does the
same thing, twice; changed code diverges at the step that changed, and says how."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from agentmesh.agents import Context, Mesh, Outgoing, ScriptedModel, StepPolicy, agent, tool
from agentmesh.agents._llm import LlmRequest, LlmResponse
from agentmesh.agents._replay import NOT_COMPARED, replay_task
from agentmesh.contracts import Budget, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_admin, make_consumer
from agentmesh.core.views import read_timeline
from agentmesh.core.views._recordings import read_recordings
from tests.apps import pipeline
from tests.apps.pipeline import Finding, Plan, SearchArgs, SearchHits, Work
from tests.runtime_helpers import run_pipeline_task

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


class MustNotCall:
    """A model that must never be called: every answer comes from the recordings. It counts
    (a model that only fails would be hidden: the step would just fail)."""

    def __init__(self, provider: str = "scripted") -> None:
        self._provider = provider
        self.calls = 0

    @property
    def provider(self) -> str:
        return self._provider

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self.calls += 1
        raise AssertionError(f"replay called the live model: {request.messages}")


NO_MODEL = MustNotCall()
LIVE_TOOL_CALLS: list[str] = []


@tool("search")
async def live_search(args: SearchArgs) -> SearchHits:
    LIVE_TOOL_CALLS.append(args.query)
    raise AssertionError(f"replay called the live tool with {args.query!r}")


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
    assert NO_MODEL.calls == 0
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
    # The task's events expire (retention): the recordings alone still show the divergence.
    await _expire_events(settings)
    assert (await read_timeline(settings, task_id)).events == []
    code, text, _ = await cli(
        settings, "replay", "run", task_id, "--app", "tests.integration.test_replay_run:FEWER"
    )
    assert (code, "handoffs differ: [worker] before, [] now" in text) == (1, True)
    app = ("--app", "tests.apps.pipeline:mesh")
    forked = await cli_json(settings, "replay", "run", task_id, *app, "--live-from", "1")
    assert [s["live"] for s in forked["steps"]] == [True, True, True]
    assert forked["output"] == forked["original_output"]  # the same scripted answers
    assert forked["usage"] == forked["original_usage"]  # the same calls, metered again
    assert forked["usage"]["tokens"] > 0


FEWER = Mesh([one_fewer, pipeline.worker, pipeline.collector], model=NO_MODEL)


async def _expire_events(settings: Settings) -> None:
    """Delete every record of ``<ns>.events``, as its retention would."""
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).events
    admin = make_admin(conn)
    reader = make_consumer(conn, options=ConsumerOptions(group_id=None))
    await admin.start()
    await reader.start()
    try:
        (described,) = await admin.describe_topics([topic])
        tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await reader.end_offsets(tps)
        await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items()})
    finally:
        await reader.stop()
        await admin.close()


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
    # The events expired: the steps' recorded outcomes say which steps the fork replaces.
    expired = await fork_task(live, task_id, recordings, [], live_from="2")
    assert [(s.agent, s.live) for s in expired.steps] == [(s.agent, s.live) for s in second.steps]
    assert expired.original_output == second.original_output


@agent("planner")
async def asks_twice(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"split: {plan.question}")
    await ctx.llm("a question the recording never saw")
    return [ctx.handoff("worker", Work(part=i, text=reply.text)) for i in range(plan.parts)]


OTHER_MODEL = MustNotCall("openai")


@agent("planner")
async def asks_another_model(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"split: {plan.question}", model=OTHER_MODEL)
    return [ctx.handoff("worker", Work(part=i, text=reply.text)) for i in range(plan.parts)]


@agent("worker", tools=[live_search], policy=StepPolicy(attempts=1))
async def searches_twice(work: Work, ctx: Context) -> Outgoing:
    hits = await ctx.tool("search", SearchArgs(query=work.text))
    await ctx.tool("search", SearchArgs(query="once more"))
    return ctx.handoff("collector", Finding(part=work.part, summary=hits.hits[0]))


@agent("planner")
async def shouts(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"split: {plan.question}")
    return [ctx.handoff("worker", Work(part=i, text=reply.text.upper())) for i in range(plan.parts)]


async def test_a_call_the_recording_lacks_is_refused_never_sent_to_the_live_model_or_tool(
    settings: Settings,
) -> None:
    task_id = await run_pipeline_task(settings, parts=1)
    recordings = await read_recordings(settings, task_id)
    events = (await read_timeline(settings, task_id)).events

    extra = Mesh([asks_twice, searches_twice, pipeline.collector], model=NO_MODEL)
    report = await replay_task(extra, task_id, recordings, events)
    assert {s.agent: s.differences for s in report.steps} == {
        "planner": [
            "a call the recording does not have: call 1 (llm call scripted)",
            "2 calls instead of 1",
            "the step ended with 'dead_lettered' instead of 'handoff'",
            "handoffs differ: [worker] before, [] now",
        ],
        "worker": [
            "a call the recording does not have: call 1 (tool call search)",
            "2 calls instead of 1",
            "the step ended with 'dead_lettered' instead of 'handoff'",
            "handoffs differ: [collector] before, [] now",
        ],
        "collector": [],
    }
    other = await replay_task(_mesh(asks_another_model), task_id, recordings, events)
    assert other.steps[0].differences[0] == (
        "a call the recording does not have: call 0 (llm call openai); the recording has a "
        "llm call to scripted there"
    )
    # Nothing live was asked: not the mesh's model, not the other one, not the tool.
    assert (NO_MODEL.calls, OTHER_MODEL.calls, LIVE_TOOL_CALLS) == (0, 0, [])


async def test_handoffs_are_compared_with_the_recording_when_the_events_have_expired(
    settings: Settings,
) -> None:
    task_id = await run_pipeline_task(settings, parts=2)
    recordings = await read_recordings(settings, task_id)

    # No events at all (expired): the steps' own recordings say what they handed on.
    fewer = await replay_task(_mesh(one_fewer), task_id, recordings, events=[])
    assert [s.differences for s in fewer.steps] == [
        ["handoffs differ: [worker, worker] before, [worker] now"],
        *[[]] * 4,
    ]
    # Same targets, other payloads: each payload diffed.
    louder = await replay_task(_mesh(shouts), task_id, recordings, events=[])
    assert [s.differences for s in louder.steps] == [
        [
            f"handoff {i} to worker: payload differs:\n--- recorded\n+++ now\n@@ -2,3 +2,3 @@\n"
            f'   "part": {i},\n-  "text": "sub-question"\n+  "text": "SUB-QUESTION"\n }}'
            for i in (0, 1)
        ],
        *[[]] * 4,
    ]
    # Recorded before steps kept their outcome, and no events: said, and not "the same".
    older = [r.model_copy(update={"outcome": None}) for r in recordings]
    unknown = await replay_task(_mesh(pipeline.planner), task_id, older, events=[])
    assert [s.differences for s in unknown.steps] == [[NOT_COMPARED]] * 5
    assert unknown.first_divergence is not None
    assert NO_MODEL.calls == 0


async def test_a_forks_live_calls_are_metered_and_its_budget_stops_it(settings: Settings) -> None:
    """Recorded within a budget of 2 steps (the planner's call, the worker's search); the
    fork's planner asks its model twice, so the worker's share is spent: it is parked for its
    budget, as in the mesh. The fork's live calls are metered (tokens and cost)."""
    from agentmesh.agents._fork import fork_task

    task_id = await run_pipeline_task(settings, parts=1, budget=Budget(max_steps=2))
    recordings = await read_recordings(settings, task_id)
    events = (await read_timeline(settings, task_id)).events
    assert any(e.body.kind == "task_completed" for e in events)  # the recorded run fitted
    model = ScriptedModel(["two words"], loop=True)
    greedy = Mesh([asks_twice, pipeline.worker, pipeline.collector], model=model)

    fork = await fork_task(greedy, task_id, recordings, events, live_from="1")
    assert [(s.agent, s.live, s.outcome) for s in fork.steps] == [
        ("planner", True, "handoff"),
        ("worker", True, "review"),
    ]
    assert fork.steps[1].stopped == ("parked for review: budget exceeded: steps used 1, allowed 0")
    assert fork.output is None
    assert len(model.requests) == 2
    # Metered like any call: ScriptedModel counts words and prices each token at $0.000001.
    spent = sum(len(" ".join(m.content for m in r.messages).split()) + 2 for r in model.requests)
    assert (fork.usage.tokens, fork.usage.cost_usd) == (spent, Decimal(spent) / 1_000_000)
    assert fork.steps[0].usage == fork.usage  # all of it the planner's
    assert fork.original_usage.tokens > 0  # the recorded run's, beside it
