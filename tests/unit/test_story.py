"""A task's story from events, recordings and audit records (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from agentmesh.contracts import (
    AgentEvent,
    AuditRecord,
    EmittedHandoff,
    LlmCall,
    Recording,
    StepFinished,
)
from agentmesh.core.views._story import BREAKER_GRACE, build_story


def _event(agent: str, body: object) -> AgentEvent:
    return AgentEvent(task_id="t", agent=agent, instance="i", seq=0, body=body)


def _llm(call_id: str, *, replayed: bool = False) -> LlmCall:
    return LlmCall(
        call_id=call_id,
        provider="p",
        model="m",
        input_tokens=7,
        output_tokens=3,
        cost_usd=Decimal("0.01"),
        latency_ms=1,
        replayed=replayed,
    )


def _done(handoff_id: str, *children: tuple[str, str]) -> StepFinished:
    emitted = [
        EmittedHandoff(handoff_id=h, to_agent=a, hop=1, payload_hash="0" * 64, size_bytes=1)
        for h, a in children
    ]
    return StepFinished(handoff_id=handoff_id, outcome="handoff", duration_ms=5, handoffs=emitted)


def test_steps_form_a_tree_and_each_call_counts_once_recorded_or_not() -> None:
    events = [
        _event("planner", _llm("h0:0")),
        _event("planner", _llm("h0:0", replayed=True)),  # answered again after a crash
        _event("planner", _done("h0", ("h1", "worker"), ("h2", "worker"))),
        _event("worker", _llm("h1:0")),
        _event("worker", _done("h1")),
    ]
    recorded = Recording(
        recording_id="h0:0",
        task_id="t",
        agent="planner",
        handoff_id="h0",
        hop=0,
        kind="llm_call",
        mode="full",
        call_id="h0:0",
        seq=0,
        target="p",
        request_json='{"q": 1}',
        response_json='{"a": 2}',
    )
    audit = AuditRecord(
        chain="0",
        seq=0,
        prev_sha256="0" * 64,
        sha256="1" * 64,
        actor="supervisor",
        decision="budget_breach",
        task_id="t",
        subject="t",
        details_json="{}",
    )
    other = audit.model_copy(update={"task_id": "u"})
    story = build_story("t", events, [recorded], [audit, other])
    (root,) = story.roots
    assert [c.handoff_id for c in root.children] == ["h1"]  # h2 not handled yet
    assert [h["handoff_id"] for h in root.handoffs] == ["h1", "h2"]
    assert [c.call_id for c in root.calls] == ["h0:0"]
    assert root.usage == []
    (worker,) = root.children
    assert [u.call_id for u in worker.usage] == ["h1:0"]  # no recording: its usage event
    assert (story.tokens, root.tokens, worker.tokens) == (20, 10, 10)
    assert story.decisions == [audit]


def _breaker(subject: str, to: str, at: datetime) -> AuditRecord:
    return AuditRecord(
        chain="0",
        seq=0,
        prev_sha256="0" * 64,
        sha256="1" * 64,
        at=at,
        actor="supervisor",
        decision="breaker_transition",
        task_id=None,
        subject=subject,
        details_json=orjson.dumps({"from": "closed", "to": to, "reason": "r"}).decode(),
    )


def test_breaker_moves_of_what_the_task_called_while_it_ran_are_in_its_story() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        AgentEvent(task_id="t", agent="planner", instance="i", seq=0, at=t0, body=_llm("h0:0")),
        AgentEvent(task_id="t", agent="planner", instance="i", seq=1, at=t0, body=_done("h0")),
    ]
    opened_before = _breaker("model:p", "open", t0 - timedelta(minutes=5))
    closed_long_before = _breaker("model:p", "closed", t0 - timedelta(minutes=9))
    opened_after = _breaker("model:p", "half_open", t0 + timedelta(seconds=20))
    too_late = _breaker("model:p", "closed", t0 + BREAKER_GRACE + timedelta(seconds=1))
    other_tool = _breaker("tool:unused", "open", t0 + timedelta(seconds=1))
    audit = [closed_long_before, opened_before, opened_after, too_late, other_tool]

    story = build_story("t", events, [], audit)
    # The open breaker the task met, and the move during it (the supervisor lags its events).
    assert story.decisions == [opened_before, opened_after]
