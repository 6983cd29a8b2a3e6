"""A record the supervisor fails to fold is tried again, never silently dropped (faust
acknowledges a record whose agent raised and never delivers it again)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from agentmesh.contracts import (
    AgentEvent,
    Budget,
    Codec,
    DeadLetter,
    EmittedHandoff,
    Handoff,
    LlmCall,
    RegistryUnavailableError,
    ReviewDecision,
    ReviewRequest,
    StepFinished,
    TaskSubmitted,
    Topics,
    utcnow,
)
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.supervisor import (
    Inbound,
    Release,
    ReviewBook,
    Supervisor,
    SupervisorOptions,
    TaskLedger,
)
from agentmesh.supervisor._batch import OpenLedgers
from agentmesh.supervisor._governor import Decoders, Governor
from agentmesh.supervisor._review_actions import ReviewActions


@pytest.fixture
def sup(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    real_sleep = asyncio.sleep

    async def quick(_: float) -> None:
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", quick)
    options = SupervisorOptions(partitions=1, audit_partitions=1, replication_factor=1)
    return Supervisor(Settings(namespace="unit"), Policy(), options)


REC = Inbound("unit.events", 0, 41, b"t1", b"x")


async def test_an_outage_is_waited_out_and_the_record_folded(sup: Supervisor) -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)
        if len(calls) < 8:
            raise RegistryUnavailableError("registry restarting")

    await sup._until_done(work, REC)
    assert len(calls) == 8  # outages never give up


async def test_a_record_that_keeps_failing_is_dead_lettered_not_dropped(
    sup: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected: list[tuple[Any, ...]] = []

    async def reject(rec: Inbound, error: str, stage: str = "decode") -> None:
        rejected.append((rec, error, stage))

    monkeypatch.setattr(sup, "_reject_record", reject)

    async def work() -> None:
        raise ValueError("a bug in folding")

    await sup._until_done(work, REC)
    assert rejected == [(REC, "ValueError: a bug in folding", "handler")]


class Recorder:
    """The supervisor's outputs, recorded; the first ``fail_on`` call raises (Kafka away)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.calls: list[tuple[str, Any]] = []
        self.review_codec = SimpleNamespace(registry=None)

    def _record(self, what: str, detail: Any) -> None:
        if what == self.fail_on:
            self.fail_on = None
            raise KafkaError("broker away")
        self.calls.append((what, detail))

    def seen(self, what: str) -> list[Any]:
        return [d for w, d in self.calls if w == what]

    async def command(self, scope: str, target: str, action: str, *_: Any, **__: Any) -> None:
        self._record("command", action)

    async def audit(self, decision: str, **_: Any) -> None:
        self._record("audit", decision)

    async def send(self, topic: str, *_: Any, **__: Any) -> None:
        self._record("send", topic)

    async def dead_letter(self, letter: DeadLetter) -> None:
        self._record("dead_letter", letter)

    async def event(self, *_: Any, **__: Any) -> None:
        self._record("event", None)


def governor_of(
    sup: Supervisor, out: Any, ledgers: dict[str, Any], reviews: dict[str, Any]
) -> Governor:
    """What ``sup`` builds to govern tasks once ready, over plain dicts for its tables and
    with its outputs recorded (no registry, no broker)."""
    registry, sub, t = InMemorySchemaRegistry(), Topics.subject, sup.topics
    decoders = Decoders(
        Codec(TaskSubmitted, sub(t.tasks), registry),
        Codec(AgentEvent, sub(t.events), registry),
        Codec(ReviewRequest, sub(t.review_requests), registry),
        Codec(ReviewDecision, sub(t.review_decisions), registry),
    )
    return sup.governor_type(
        sup.policy,
        t,
        ticks_topic=sup.names.ticks,
        trusted=sup._trusted,
        decoders=decoders,
        ledgers=ledgers,
        open_ledgers=OpenLedgers(ledgers),
        reviews=reviews,
        aggregator=sup.aggregator,
        out=out,
        actions=ReviewActions(out, ledgers, sup.policy, t.dlq),
        reject=sup._reject_record,
    )


def _hop_stopped(policy: Policy) -> TaskLedger:
    ledger = TaskLedger(task_id="t1", budget=Budget(max_hops=1), submitted_at=utcnow())
    step = StepFinished(
        handoff_id="h",
        outcome="handoff",
        duration_ms=1,
        handoffs=[
            EmittedHandoff(handoff_id="x", to_agent="b", hop=2, payload_hash="p", size_bytes=1)
        ],
    )
    breach = ledger.event(
        AgentEvent(task_id="t1", agent="a", instance="i", seq=0, body=step), policy
    )
    assert breach is not None
    return ledger


def _parked(kind: str, review_id: str = "r1") -> ReviewRequest:
    return ReviewRequest(
        review_id=review_id,
        task_id="t1",
        agent="b",
        kind=kind,
        reason="loop: 2 (allowed 1)",
        target_topic="unit.agent.b",
        parked_value=b"\x00\x01",
        payload_json="{}",
        expires_at=utcnow() - timedelta(seconds=1),
    )


async def test_a_release_whose_outputs_fail_leaves_the_ledger_to_be_resumed_on_retry() -> None:
    policy = Policy()
    stored = _hop_stopped(policy)
    ledgers = {"t1": stored}
    out = Recorder(fail_on="command")
    actions = ReviewActions(out, ledgers, policy, "unit.dlq")  # type: ignore[arg-type]
    release = Release(_parked("loop"), ("alice",), None, "ok")
    with pytest.raises(KafkaError):
        await actions.act("t1", [release], "cause")
    assert ledgers["t1"] is stored
    assert stored.status == "stopped"  # the stored ledger was not touched
    await actions.act("t1", [release], "cause")  # the decision tried again
    ledger = ledgers["t1"]
    # A hop-limit approval moves the limit (hops made + the policy's extension of 5).
    assert (ledger.status, ledger.budget.max_hops) == ("running", 7)
    # Audited on both tries, under one id (the chain writer keeps one).
    assert out.seen("audit") == ["budget_extended", "budget_extended", "review_released"]
    assert out.seen("command") == ["resume"]
    assert out.seen("send") == ["unit.agent.b"]


async def test_a_budget_the_agent_ran_out_of_is_extended_once_in_the_ledger_too() -> None:
    """The agent carries the task's budget and parks its work at the limit, before the
    ledger is over it: approving still extends the ledger (or the supervisor would stop the
    task at its very next call), only once for the task's several parked items (one
    decision releases them together), and once again if that decision is tried again."""
    policy = Policy.model_validate(
        {"budgets": {"default": {"max_steps": 2}, "extension": {"steps": 3}}}
    )
    registry = InMemorySchemaRegistry()
    codec = Codec(Handoff[Budget], Topics.subject("unit.agent.b"), registry)
    await codec.register()
    parked = codec.encode(
        Handoff[Budget](
            task_id="t1", from_agent="a", to_agent="b", payload=Budget(), budget=Budget(max_steps=0)
        )
    )
    ledger = TaskLedger(task_id="t1", submitted_at=utcnow())
    ledger._rebudget(policy)
    for _ in range(2):
        llm = LlmCall(
            call_id="c", provider="p", model="m", input_tokens=1, output_tokens=0, latency_ms=1
        )
        assert (
            ledger.event(AgentEvent(task_id="t1", agent="b", instance="i", seq=0, body=llm), policy)
            is None
        )
    assert (ledger.status, ledger.spent(utcnow())) == ("running", True)
    out = Recorder()
    out.review_codec = SimpleNamespace(registry=registry)
    ledgers = {"t1": ledger}
    actions = ReviewActions(out, ledgers, policy, "unit.dlq")  # type: ignore[arg-type]
    first, second = (
        _parked("budget", rid).model_copy(update={"parked_value": parked}) for rid in ("r1", "r2")
    )
    group = [Release(first, ("alice",), None, "ok"), Release(second, ("alice",), None, "ok")]
    await actions.act("t1", group, "cause")
    await actions.act("t1", group, "cause")  # e.g. delivered again after a restart
    assert (ledgers["t1"].status, ledgers["t1"].budget.max_steps) == ("running", 5)
    assert (ledgers["t1"].extensions, ledgers["t1"].extended_for) == (1, ["r1", "r2"])
    assert out.seen("audit").count("budget_extended") == 1


async def test_a_tick_whose_outputs_fail_decides_again_when_it_is_retried(
    sup: Supervisor,
) -> None:
    policy = sup.policy
    past = utcnow() - timedelta(seconds=1)
    late = TaskLedger(task_id="t1", budget=Budget(deadline=past), submitted_at=past)
    book = ReviewBook(task_id="t1")
    book.requested(_parked("tool_call"), policy, utcnow())
    # Typed as faust tables are: mypy would narrow a status read through a plain dict.
    ledgers: dict[str, Any] = {"t1": late}
    reviews: dict[str, Any] = {"t1": book}
    out = Recorder(fail_on="command")
    gov = governor_of(sup, out, ledgers, reviews)
    with pytest.raises(KafkaError):
        await gov._on_tick("t1")  # the pause could not be sent
    assert ledgers["t1"].status == "running"
    out.fail_on = "dead_letter"
    with pytest.raises(KafkaError):
        await gov._on_tick("t1")  # paused; the timed-out review could not be dead-lettered
    assert ledgers["t1"].status == "stopped"
    assert "r1" in reviews["t1"].pending
    await gov._on_tick("t1")
    assert out.seen("command") == ["pause", "cancel"]
    assert [d.error_class for d in out.seen("dead_letter")] == ["ReviewRejected"]
    assert reviews["t1"].pending == {}


async def test_a_record_that_keeps_failing_is_dead_lettered_as_a_handler_failure(
    sup: Supervisor,
) -> None:
    out = Recorder()
    sup.out = out  # type: ignore[assignment]
    await sup._reject_record(REC, "ValueError: a bug in folding", "handler")
    await sup._reject_record(REC, "bad bytes", "decode")
    (handler, decode) = out.seen("dead_letter")
    assert (handler.stage, handler.error_class) == ("handler", "SupervisorFoldFailed")
    assert (decode.stage, decode.error_class) == ("decode", "UnreadableRecord")
