"""Breakers and tenant spend count every event exactly once, across redelivery and crashes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka

from agentmesh.contracts import AgentEvent, CallTally, LlmCall, ToolCall
from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.supervisor import Inbound, Supervisor, SupervisorOptions
from agentmesh.supervisor import _faust_overrides as transport
from agentmesh.supervisor._aggregator import Aggregator
from agentmesh.supervisor._breakers import Breaker
from agentmesh.supervisor._ledger import TaskLedger
from agentmesh.supervisor._positions import MAX_ENTRIES, parts
from agentmesh.supervisor._spend import TenantSpend
from tests.unit.test_supervisor_retries import governor_of

POLICY = Policy.model_validate(
    {
        "budgets": {"tenants": {"acme": {"spend_limit": {"usd": 1000, "period_s": 3600}}}},
        "breakers": {"min_calls": 1000, "window_calls": 1000, "window_s": 3600},
    }
)


class FakeOut:
    """The supervisor's outputs, recorded; ``fail`` sends raise before being recorded."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.signals: list[dict[str, Any]] = []
        self.commands: list[str] = []

    async def send(self, topic: str, key: bytes, value: bytes, **_: Any) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker away")
        self.signals.append(orjson.loads(value))

    async def command(self, scope: str, target: str, action: str, *_: Any, **__: Any) -> None:
        self.commands.append(action)

    async def audit(self, *_: Any, **__: Any) -> None:
        pass


def _llm(n: int, status: str = "ok") -> AgentEvent:
    body = LlmCall(
        call_id=f"c{n}",
        provider="p",
        model="m",
        input_tokens=1,
        output_tokens=0,
        cost_usd=Decimal("0.01"),
        latency_ms=1,
        status=status,
    )
    return AgentEvent(task_id="t", agent="a", instance="i", seq=n, tenant="acme", body=body)


def _tool(n: int) -> AgentEvent:
    body = ToolCall(call_id=f"c{n}", tool="search", status="ok", latency_ms=1.0)
    return AgentEvent(task_id="t", agent="a", instance="i", seq=n, tenant="acme", body=body)


def _aggregator(out: FakeOut, breakers: dict[str, Breaker], spend: dict[str, TenantSpend]) -> Any:
    agg = Aggregator(POLICY, "unit.supervisor.signals", breakers, spend)
    agg.out = out  # type: ignore[assignment]
    return agg


def _calls(breakers: dict[str, Breaker], key: str) -> int:
    return sum(ok + failed for _, ok, failed in breakers[key].window)


async def test_a_summary_delivered_again_is_not_counted_again() -> None:
    breakers: dict[str, Breaker] = {}
    spend: dict[str, TenantSpend] = {}
    out = FakeOut()
    agg = _aggregator(out, breakers, spend)
    for offset in range(10):
        agg.observe(_llm(offset, "ok" if offset % 3 else "error"), 0, offset, CallTally())
    await agg.flush()
    assert {s["key"] for s in out.signals} == {"model:p", "tenant:acme"}
    for signal in out.signals * 2:  # the aggregate agent reads them twice (kill -9)
        await agg.aggregate(signal, "cause")
    assert _calls(breakers, "model:p") == 10
    assert sum(b[2] for b in breakers["model:p"].window) == 4
    assert spend["tenant:acme"].total() == Decimal("0.10")


async def test_events_counted_again_after_a_crash_are_skipped_by_position() -> None:
    breakers: dict[str, Breaker] = {}
    spend: dict[str, TenantSpend] = {}
    out = FakeOut()
    first = _aggregator(out, breakers, spend)
    for offset in range(5):
        first.observe(_tool(offset), 3, offset, CallTally())
    await first.flush()
    first.observe(_tool(5), 3, 5, CallTally())  # counted, then the process dies before the flush
    for signal in out.signals:
        await first.aggregate(signal, "cause")
    # The restarted supervisor reads events 2.. again (its last commit) and counts them.
    out.signals.clear()
    again = _aggregator(out, breakers, spend)
    for offset in range(2, 9):
        again.observe(_tool(offset), 3, offset, CallTally())
    await again.flush()
    for signal in out.signals:
        await again.aggregate(signal, "cause")
    assert _calls(breakers, "tool:search") == 9  # offsets 0..8, once each
    assert breakers["tool:search"].applied == {"3": 8}


async def test_a_failed_flush_keeps_what_it_could_not_send_in_order() -> None:
    out = FakeOut(fail=1)
    breakers: dict[str, Breaker] = {}
    agg = _aggregator(out, breakers, {})
    agg.observe(_tool(0), 0, 0, CallTally())
    with pytest.raises(ConnectionError):
        await agg.flush()
    agg.observe(_tool(1), 0, 1, CallTally())
    await agg.flush()
    (signal,) = out.signals
    assert signal["src"] == {"0": [[0, 0], [1, 0]]}
    await agg.aggregate(signal, "cause")
    assert _calls(breakers, "tool:search") == 2


async def test_a_breaker_transition_that_failed_to_go_out_is_not_lost_on_retry() -> None:
    policy = Policy.model_validate({"breakers": {"min_calls": 2, "failure_rate": 0.5}})
    breakers: dict[str, Breaker] = {}
    broken, out = FakeOut(), FakeOut()
    agg = Aggregator(policy, "sig", breakers, {})
    agg.out = broken  # type: ignore[assignment]
    signal = {"k": "outcome", "key": "tool:x", "at": 1.0, "src": {"0": [[0, 1], [1, 1]]}}

    async def refuse(*_: Any, **__: Any) -> None:
        raise ConnectionError("broker away")

    broken.command = refuse  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await agg.aggregate(signal, "cause")
    assert "tool:x" not in breakers  # folded into a copy: nothing stored
    agg.out = out  # type: ignore[assignment]
    await agg.aggregate(signal, "cause")  # the retry
    assert out.commands == ["breaker_open"]
    assert breakers["tool:x"].state == "open"


def test_large_summaries_are_cut_into_records_of_bounded_size() -> None:
    src = {"0": [[i, 0] for i in range(MAX_ENTRIES + 10)], "1": [[7, 1]]}
    cut = list(parts(src))
    assert [sum(len(v) for v in p.values()) for p in cut] == [MAX_ENTRIES, 11]
    assert cut[1]["0"][0] == [MAX_ENTRIES, 0]
    assert cut[1]["1"] == [[7, 1]]


async def test_a_redelivered_event_already_in_its_ledger_is_counted_for_the_summaries() -> None:
    options = SupervisorOptions(partitions=1, audit_partitions=1, replication_factor=1)
    sup = Supervisor(Settings(namespace="unit"), POLICY, options)
    ledgers: dict[str, TaskLedger] = {}
    gov = governor_of(sup, FakeOut(), ledgers, {})
    rec = Inbound("unit.events", 2, 7, b"t", b"")
    await gov._fold_ledger("t", rec, _tool(7))
    await gov._fold_ledger("t", rec, _tool(7))  # read again after a kill -9
    assert ledgers["t"].steps == 1  # the ledger counts it once
    # Both are in the next summary (the first may never have reached one before the crash);
    # the aggregate agent keeps one of them.
    assert sup.aggregator._pending["tool:search"] == {"2": [[7, 0], [7, 0]]}


async def test_the_consumer_sends_the_summaries_before_it_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def faust_commit(self: Any, tps: Any, start_new_transaction: bool) -> bool:
        await self._handle_attached({"tp": 5})  # faust: offsets chosen, attached sent...
        calls.append("commit")  # ...then its producer flushed and the offsets committed
        return True

    async def faust_attached(self: Any, offsets: Any) -> None:
        calls.append("attached")

    base = faust_aiokafka.Consumer
    monkeypatch.setattr(base, "_commit_tps", faust_commit)
    monkeypatch.setattr(base, "_handle_attached", faust_attached)

    class App:
        pass

    consumer: Any = transport._Consumer.__new__(transport._Consumer)
    consumer.app = App()
    assert await consumer._commit_tps([], True)  # no hook: faust as it is
    assert calls == ["attached", "commit"]

    calls.clear()
    failures = [ConnectionError("broker away")]

    async def hook() -> None:
        calls.append("summaries")
        if failures:
            raise failures.pop()

    transport.before_commit(consumer.app, hook)
    assert not await consumer._commit_tps([], True)  # the hook failed: nothing committed
    assert calls == ["summaries"]
    calls.clear()
    assert await consumer._commit_tps([], True)
    assert calls == ["summaries", "attached", "commit"]


def test_folding_into_a_clone_leaves_the_stored_breaker_and_spend_alone() -> None:
    policy = Policy.model_validate({"breakers": {"min_calls": 2, "failure_rate": 0.5}})
    stored = Breaker(key="tool:x", window=[(0.0, 1, 0)], applied={"0": 4})
    copy = stored.clone()
    copy.applied["0"] = 9
    assert copy.record(1.0, 0, 5, policy.breakers) is not None  # opens: clears its window
    assert (stored.state, stored.window, stored.applied) == ("closed", [(0.0, 1, 0)], {"0": 4})
    limit = POLICY.budgets.tenants["acme"].spend_limit
    assert limit is not None
    spend = TenantSpend(tenant="acme", buckets={0: Decimal(1)})
    again = spend.clone()
    again.add(1.0, Decimal(2), limit)
    assert (spend.total(), again.total()) == (Decimal(1), Decimal(3))
