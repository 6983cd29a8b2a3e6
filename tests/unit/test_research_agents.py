"""The research mesh's agents through the harness: no broker, the demo model unless stated."""

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

import agentmesh_examples.research
from agentmesh.agents import ScriptedModel
from agentmesh.agents.testing import AgentHarness
from agentmesh_examples.research import (
    DEFAULT_QUESTION,
    Draft,
    Finding,
    Report,
    ResearchQuestion,
    SubQuestion,
    WriterInput,
    demo_model,
    mesh,
)
from agentmesh_examples.research._demo import DEMO_FEEDBACK
from agentmesh_examples.research._researcher import NOTHING_FOUND

Q = DEFAULT_QUESTION
SUB_QUESTIONS = [
    "Kafka transactions: what is known?",
    "Idempotency keys: what is known?",
    "Circuit breakers keep AI agents reliable: what is known?",
]
SUMMARIES = [
    "A transactional producer writes to several partitions and commits the consumer's input "
    "offsets in one atomic transaction. [kafka-transactions] A producer sends records with "
    "the same key to the same partition, by hashing the key. [kafka-keys-ordering]",
    "At-least-once delivery means a message may arrive more than once, for example after a "
    "retry or a crash. [idempotency-keys] A compacted topic keeps at least the latest record "
    "for every key and eventually removes older ones; a record with a null value, a "
    "tombstone, deletes its key. [kafka-compaction]",
    "A circuit breaker watches calls to a dependency and opens after too many failures, so "
    "later calls fail immediately instead of waiting for timeouts and piling up. "
    "[circuit-breaker] An LLM agent acts on the world by calling tools: functions with a "
    "name, a description and typed arguments that the model fills in. [tool-use]",
]
SOURCES = [
    ["kafka-transactions", "kafka-keys-ordering"],
    ["idempotency-keys", "kafka-compaction"],
    ["circuit-breaker", "tool-use"],
]
FINDINGS = [
    Finding(index=i, of=3, question=Q, sub_question=s, summary=m, sources=src)
    for i, (s, m, src) in enumerate(zip(SUB_QUESTIONS, SUMMARIES, SOURCES, strict=True))
]
FIRST_DRAFT = Draft(
    question=Q, text="\n\n".join([f"Report: {Q}", *SUMMARIES]), revision=0, findings=FINDINGS
)
SECOND_DRAFT = Draft(
    question=Q,
    text="\n\n".join(
        [
            f"Report: {Q}",
            "In short: A transactional producer writes to several partitions and commits the "
            "consumer's input offsets in one atomic transaction.",
            *SUMMARIES,
        ]
    ),
    revision=1,
    findings=FINDINGS,
)
ALL_SOURCES = [s for src in SOURCES for s in src]


def prompt_version(name: str) -> str:
    """What a prompt's version must be: sha256 of its file, 12 hex digits."""
    path = Path(agentmesh_examples.research.__file__).parent / "prompts" / f"{name}.txt"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _prompts(model: ScriptedModel) -> list[tuple[str | None, str | None]]:
    """The prompt name and version of every request the model was sent."""
    return [(r.prompt_name, r.prompt_version) for r in model.requests]


def _state(harness: AgentHarness, task_id: str = "task-1") -> dict[str, Any] | None:
    record = harness.state.get(task_id)
    return None if record is None else orjson.loads(record.state_json)


# planner


async def test_planner_fans_out_one_researcher_handoff_per_sub_question() -> None:
    model = demo_model()
    run = await AgentHarness(mesh, "planner", model=model).run(ResearchQuestion(question=Q))
    assert [(h.to_agent, h.hop, h.payload) for h in run.handoffs] == [
        ("researcher", 1, SubQuestion(index=i, of=3, question=Q, sub_question=s, max_revisions=2))
        for i, s in enumerate(SUB_QUESTIONS)
    ]
    assert _prompts(model) == [("planner", prompt_version("planner"))]


async def test_planner_cleans_up_a_chatty_reply_and_caps_the_fan_out() -> None:
    reply = (
        "Here are the sub-questions:\n\n1. What is A?\n2) **What is B?**\n- what is a?\n* C?\nD?"
    )
    harness = AgentHarness(mesh, "planner", model=ScriptedModel([reply]))
    run = await harness.run(ResearchQuestion(question="A,\n B?", max_revisions=0))
    assert [h.payload for h in run.handoffs] == [
        SubQuestion(index=i, of=3, question="A, B?", sub_question=s, max_revisions=0)
        for i, s in enumerate(["What is A?", "What is B?", "C?"])
    ]


async def test_planner_researches_the_question_itself_when_the_reply_has_no_line() -> None:
    harness = AgentHarness(mesh, "planner", model=ScriptedModel(["\n  \n"]))
    run = await harness.run(ResearchQuestion(question="Why?"))
    assert [h.payload for h in run.handoffs] == [
        SubQuestion(index=0, of=1, question="Why?", sub_question="Why?")
    ]


# researcher


async def test_researcher_searches_summarises_and_hands_its_finding_to_the_writer() -> None:
    model = demo_model()
    harness = AgentHarness(mesh, "researcher", model=model)
    run = await harness.run(
        SubQuestion(index=1, of=3, question=Q, sub_question=SUB_QUESTIONS[1]), hop=1
    )
    assert [(h.to_agent, h.hop, h.payload) for h in run.handoffs] == [
        ("writer", 2, WriterInput.of_finding(FINDINGS[1]))
    ]
    assert [type(u).__name__ for u in run.usage] == ["ToolCall", "LlmCall"]
    assert _prompts(model) == [("researcher", prompt_version("researcher"))]
    prompt = model.requests[0].messages[0].content
    results = prompt.split("\nSearch results:\n", 1)[1].splitlines()
    assert [line.split(" (", 1)[0] for line in results] == [
        "[idempotency-keys]",
        "[kafka-compaction]",
        "[kafka-keys-ordering]",
    ]


async def test_researcher_with_no_hits_reports_so_without_a_model_call() -> None:
    harness = AgentHarness(mesh, "researcher", model=ScriptedModel([]))
    run = await harness.run(SubQuestion(index=0, of=1, question="q", sub_question="zyxxy?"))
    assert [h.payload for h in run.handoffs] == [
        WriterInput.of_finding(
            Finding(index=0, of=1, question="q", sub_question="zyxxy?", summary=NOTHING_FOUND)
        )
    ]
    assert [type(u).__name__ for u in run.usage] == ["ToolCall"]


# writer


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0]])
async def test_writer_drafts_only_when_every_finding_has_arrived(order: list[int]) -> None:
    model = demo_model()
    harness = AgentHarness(mesh, "writer", model=model)
    for n, i in enumerate(order[:-1], start=1):
        run = await harness.run(WriterInput.of_finding(FINDINGS[i]))
        assert (run.handoffs, run.usage) == ([], [])
        stored = sorted(order[:n])
        assert _state(harness) == {
            "of": 3,
            "findings": {str(k): FINDINGS[k].model_dump(mode="json") for k in stored},
        }
    run = await harness.run(WriterInput.of_finding(FINDINGS[order[-1]]))
    assert [(h.to_agent, h.payload) for h in run.handoffs] == [("reviewer", FIRST_DRAFT)]
    assert _prompts(model) == [("writer", prompt_version("writer"))]
    assert _state(harness) is None  # the fan-in is done: its state is cleared


async def test_writer_counts_a_repeated_finding_index_once() -> None:
    harness = AgentHarness(mesh, "writer")
    repeat = FINDINGS[0].model_copy(update={"summary": "a second opinion"})
    for finding in [FINDINGS[0], repeat, FINDINGS[1], repeat]:
        assert (await harness.run(WriterInput.of_finding(finding))).handoffs == []
    assert _state(harness) == {
        "of": 3,
        "findings": {str(k): FINDINGS[k].model_dump(mode="json") for k in (0, 1)},
    }
    run = await harness.run(WriterInput.of_finding(FINDINGS[2]))
    assert [h.payload for h in run.handoffs] == [FIRST_DRAFT]


async def test_writer_state_survives_a_restart_and_a_step_that_did_not_commit() -> None:
    first = AgentHarness(mesh, "writer")
    await first.run(WriterInput.of_finding(FINDINGS[0]))
    # Crashes before its transaction commits: the finding must arrive again.
    await first.run(WriterInput.of_finding(FINDINGS[1]), commit=False)
    restarted = AgentHarness(mesh, "writer")
    restarted.state.index.update(first.state.index)  # what reading the state topic rebuilds
    assert (await restarted.run(WriterInput.of_finding(FINDINGS[2]))).handoffs == []
    run = await restarted.run(WriterInput.of_finding(FINDINGS[1]))
    assert [h.payload for h in run.handoffs] == [FIRST_DRAFT]


async def test_writer_revises_a_draft_with_the_reviewers_feedback() -> None:
    harness = AgentHarness(mesh, "writer")
    run = await harness.run(WriterInput.revise(FIRST_DRAFT, DEMO_FEEDBACK), hop=4)
    assert [(h.to_agent, h.hop, h.payload) for h in run.handoffs] == [("reviewer", 5, SECOND_DRAFT)]
    assert _state(harness) is None  # a revision needs no fan-in state


# reviewer


async def test_reviewer_sends_the_first_draft_back_with_feedback() -> None:
    model = demo_model()
    run = await AgentHarness(mesh, "reviewer", model=model).run(FIRST_DRAFT, hop=3)
    assert [(h.to_agent, h.hop, h.payload) for h in run.handoffs] == [
        ("writer", 4, WriterInput.revise(FIRST_DRAFT, DEMO_FEEDBACK))
    ]
    assert (run.output, _prompts(model)) == (None, [("reviewer", prompt_version("reviewer"))])


async def test_reviewer_approves_the_revision_and_completes_the_task_with_a_report() -> None:
    run = await AgentHarness(mesh, "reviewer").run(SECOND_DRAFT)
    assert run.handoffs == []
    assert run.kinds == ["task_completed", "step_finished"]
    assert run.output is not None
    assert Report.model_validate_json(run.output) == Report(
        question=Q, text=SECOND_DRAFT.text, revisions=1, approved=True, sources=ALL_SOURCES
    )


async def test_reviewer_stops_the_loop_at_max_revisions_without_approval() -> None:
    draft = FIRST_DRAFT.model_copy(update={"max_revisions": 0})
    harness = AgentHarness(mesh, "reviewer", model=ScriptedModel(["REVISE: more detail"]))
    run = await harness.run(draft)
    assert run.handoffs == []
    assert run.output is not None
    assert Report.model_validate_json(run.output) == Report(
        question=Q, text=FIRST_DRAFT.text, revisions=0, approved=False, sources=ALL_SOURCES
    )
