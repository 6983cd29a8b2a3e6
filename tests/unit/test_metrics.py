"""The metrics each process records: the call interceptor, step counting at commit, bounded
labels, consumer lag series and the supervisor's table snapshot, as /metrics shows them."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentmesh.agents._interceptors import Call, CallResult, compose
from agentmesh.agents._llm import LlmRequest, LlmResponse
from agentmesh.agents._metrics import PendingSteps, call_metrics
from agentmesh.contracts import Budget, ReviewRequest
from agentmesh.core.metrics import BoundedValues, ConsumerLag
from agentmesh.supervisor._breakers import Breaker
from agentmesh.supervisor._ledger import TaskLedger
from agentmesh.supervisor._metrics import observe_tables
from agentmesh.supervisor._reviews import Pending, ReviewBook


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def fresh_agent() -> str:
    return f"agent-{uuid.uuid4().hex[:8]}"


def llm_call(seq: int = 0) -> Call:
    return Call("llm", "scripted", seq, f"c{seq}", (object(), LlmRequest(messages=[])))


def answer(replayed: bool = False) -> Any:
    async def final(call: Call) -> CallResult:
        resp = LlmResponse("hi", "scripted", "m-1", 12, 5, Decimal("0.25"))
        return CallResult(resp, replayed=replayed)

    return final


async def test_paid_model_calls_count_calls_tokens_and_cost() -> None:
    agent = fresh_agent()
    chain = compose([call_metrics(agent, "acme")], answer())
    await chain(llm_call(0))
    await chain(llm_call(1))
    labels = {"agent": agent, "provider": "scripted", "model": "m-1", "tenant": "acme"}
    assert (
        value("agentmesh_llm_calls_total", **labels, status="ok"),
        value("agentmesh_llm_tokens_total", **labels, type="input"),
        value("agentmesh_llm_tokens_total", **labels, type="output"),
        value("agentmesh_llm_cost_usd_total", **labels),
        value(
            "agentmesh_llm_call_duration_seconds_count",
            agent=agent,
            provider="scripted",
            model="m-1",
        ),
    ) == (2.0, 24.0, 10.0, 0.5, 2.0)


async def test_calls_answered_from_the_journal_are_not_counted_again() -> None:
    agent = fresh_agent()
    chain = compose([call_metrics(agent, "acme")], answer(replayed=True))
    await chain(llm_call())
    labels = {"agent": agent, "provider": "scripted", "model": "m-1", "tenant": "acme"}
    assert value("agentmesh_llm_calls_total", **labels, status="ok") == 0.0
    assert value("agentmesh_llm_tokens_total", **labels, type="input") == 0.0


async def test_tool_calls_count_by_status() -> None:
    agent = fresh_agent()

    async def ok(call: Call) -> CallResult:
        return CallResult("done")

    async def slow(call: Call) -> CallResult:
        raise TimeoutError("too slow")

    async def broken(call: Call) -> CallResult:
        raise RuntimeError("boom")

    for final in (ok, ok, slow, broken):
        chain = compose([call_metrics(agent, "acme")], final)
        expect = (
            pytest.raises((TimeoutError, RuntimeError))
            if final is not ok
            else contextlib.nullcontext()
        )
        with expect:
            await chain(Call("tool", "search", 0, "t0", None))
    counts = {
        s: value("agentmesh_tool_calls_total", agent=agent, tool="search", status=s)
        for s in ("ok", "timeout", "error")
    }
    assert counts == {"ok": 2.0, "timeout": 1.0, "error": 1.0}


async def test_a_failed_model_call_counts_as_an_error_with_what_it_paid() -> None:
    agent = fresh_agent()

    class Rejected(Exception):
        responses = (LlmResponse("bad", "scripted", "m-1", 7, 3, Decimal("0.01")),)

    async def final(call: Call) -> CallResult:
        raise Rejected("every reply rejected")

    chain = compose([call_metrics(agent, "acme")], final)
    with pytest.raises(Rejected):
        await chain(Call("llm", "scripted", 0, "c0", (object(), LlmRequest([], model="m-1"))))
    labels = {"agent": agent, "provider": "scripted", "model": "m-1", "tenant": "acme"}
    assert (
        value("agentmesh_llm_calls_total", **labels, status="error"),
        value("agentmesh_llm_calls_total", **labels, status="ok"),
        value("agentmesh_llm_tokens_total", **labels, type="input"),
    ) == (1.0, 0.0, 7.0)


def test_bounded_values_report_newcomers_past_the_limit_as_other() -> None:
    bounded = BoundedValues(limit=3)
    seen = [bounded(v) for v in ("a", "b", "a", "c", "d", "e", "b", None)]
    assert seen == ["a", "b", "a", "c", "other", "other", "b", "other"]


async def test_a_flood_of_tenants_costs_one_extra_series() -> None:
    from agentmesh.agents import _metrics

    agent = fresh_agent()
    tenants = [f"t{uuid.uuid4().hex}" for _ in range(_metrics._tenants.limit + 50)]
    for tenant in tenants:
        await compose([call_metrics(agent, tenant)], answer())(llm_call())
    families = text_string_to_metric_families(generate_latest().decode())
    series = {
        s.labels["tenant"]
        for f in families
        if f.name == "agentmesh_llm_calls"
        for s in f.samples
        if s.labels.get("agent") == agent
    }
    assert len(series) <= _metrics._tenants.limit + 1
    assert "other" in series


def test_steps_count_when_their_transaction_commits_only() -> None:
    agent = fresh_agent()
    pending = PendingSteps()
    pending.step(0, "handoff", 40.0)
    pending.dead_letter(0, "handler")
    pending.discard(0)  # aborted: the inputs run again and count then
    pending.step(0, "handoff", 40.0)
    pending.step(0, "review", 0.0)
    pending.step(1, "result", 3000.0)
    pending.committed(0, agent)
    assert (
        value("agentmesh_steps_total", agent=agent, outcome="handoff"),
        value("agentmesh_steps_total", agent=agent, outcome="review"),
        value("agentmesh_steps_total", agent=agent, outcome="result"),
        value("agentmesh_dead_letters_total", agent=agent, stage="handler"),
    ) == (1.0, 1.0, 0.0, 0.0)
    # A parked step ran no handler: no latency observed for it.
    assert value("agentmesh_step_duration_seconds_count", agent=agent, outcome="review") == 0.0
    assert (
        value("agentmesh_step_duration_seconds_bucket", agent=agent, outcome="handoff", le="0.05")
        == 1.0
    )
    pending.committed(1, agent)
    assert (
        value("agentmesh_step_duration_seconds_bucket", agent=agent, outcome="result", le="2.5")
        == 0.0
    )
    assert (
        value("agentmesh_step_duration_seconds_bucket", agent=agent, outcome="result", le="5.0")
        == 1.0
    )


def test_lag_series_follow_the_partitions_a_process_owns() -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    lag = ConsumerLag(group)
    lag.set({("inbox", 0): 5, ("inbox", 1): -1})
    shown = {
        p: value("agentmesh_consumer_lag_records", group=group, topic="inbox", partition=p)
        for p in ("0", "1")
    }
    assert shown == {"0": 5.0, "1": 0.0}
    lag.set({("inbox", 1): 2})  # partition 0 moved to another instance
    sample = REGISTRY.get_sample_value(
        "agentmesh_consumer_lag_records", {"group": group, "topic": "inbox", "partition": "0"}
    )
    assert sample is None
    lag.clear()
    assert (
        REGISTRY.get_sample_value(
            "agentmesh_consumer_lag_records",
            {"group": group, "topic": "inbox", "partition": "1"},
        )
        is None
    )


def test_supervisor_snapshot_of_live_tasks_reviews_and_breakers() -> None:
    now = datetime.now(UTC)
    running = TaskLedger(task_id="a", tenant="acme", tokens=90, steps=1)
    running.budget = Budget(max_tokens=100, max_steps=10)
    stopped = TaskLedger(task_id="b", tenant="acme", status="stopped")
    done = TaskLedger(task_id="c", tenant="acme", status="completed")
    request = ReviewRequest(
        review_id="r1",
        task_id="b",
        agent="writer",
        kind="budget",
        reason="over",
        target_topic="t",
        parked_value=b"",
        payload_json="{}",
        requested_at=now - timedelta(seconds=120),
    )
    book = ReviewBook(
        task_id="b", pending={"r1": Pending(request=request, expires_at=now + timedelta(60))}
    )
    breaker = Breaker(key=f"tool:{uuid.uuid4().hex[:6]}", state="open")
    observe_tables([running, stopped, done], [book], [breaker], now)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest().decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for name in (
            "agentmesh_tasks_in_flight",
            "agentmesh_live_task_budget_used_ratio",
            "agentmesh_review_queue_depth",
            "agentmesh_review_oldest_age_seconds",
            "agentmesh_breaker_state",
        )
        for s in families[name].samples
    }
    assert (
        samples[("agentmesh_tasks_in_flight", (("status", "running"), ("tenant", "acme")))] == 1.0
    )
    assert (
        samples[("agentmesh_tasks_in_flight", (("status", "stopped"), ("tenant", "acme")))] == 1.0
    )
    bucket = "agentmesh_live_task_budget_used_ratio_bucket"
    assert samples[(bucket, (("le", "0.75"), ("limit", "tokens")))] == 0.0
    assert samples[(bucket, (("le", "0.9"), ("limit", "tokens")))] == 1.0
    assert samples[(bucket, (("le", "0.1"), ("limit", "steps")))] == 1.0
    assert samples[("agentmesh_review_queue_depth", (("kind", "budget"),))] == 1.0
    assert pytest.approx(samples[("agentmesh_review_oldest_age_seconds", ())], abs=1) == 120.0
    assert samples[("agentmesh_breaker_state", (("breaker", breaker.key),))] == 1.0
    left = REGISTRY.get_sample_value("agentmesh_review_next_timeout_seconds")
    assert left == pytest.approx(60 * 86400, abs=1)  # timedelta(60): sixty days


def test_supervisor_counts_a_task_started_once_and_ended_once() -> None:
    from agentmesh.supervisor._metrics import folded

    tenant = f"t-{uuid.uuid4().hex[:6]}"
    event_first = TaskLedger(task_id="x", tenant=tenant)  # an event overtook the submission
    folded(None, event_first, submission=False)
    submitted = TaskLedger(task_id="x", tenant=tenant, entry_agent="planner")
    folded(event_first, submitted, submission=True)
    folded(submitted, submitted, submission=True)  # the submission delivered again
    done = TaskLedger(task_id="x", tenant=tenant, entry_agent="planner", status="completed")
    folded(submitted, done, submission=False)
    folded(done, done, submission=False)  # a second branch completing the same task
    assert (
        value("agentmesh_tasks_started_total", tenant=tenant),
        value("agentmesh_tasks_finished_total", tenant=tenant, status="completed"),
        value("agentmesh_tasks_finished_total", tenant=tenant, status="failed"),
    ) == (1.0, 1.0, 0.0)


async def test_agent_lag_counts_from_the_committed_offset_past_commit_markers() -> None:
    from aiokafka import TopicPartition

    from agentmesh.agents._metrics import LagReporter

    class Consumer:
        """The three things the reporter asks of an aiokafka consumer."""

        def __init__(self) -> None:
            self.ends = {0: 120, 1: 51, 2: 9, 3: 0, 4: 7}
            self.positions = {0: 100, 1: 51, 2: 0, 3: 0, 4: 0}

        def assignment(self) -> set[TopicPartition]:
            return {TopicPartition("inbox", p) for p in (0, 1, 2, 3, 4)}

        def last_stable_offset(self, tp: TopicPartition) -> int:
            return self.ends[tp.partition]

        async def position(self, tp: TopicPartition) -> int:
            return self.positions[tp.partition]

    group = f"g-{uuid.uuid4().hex[:8]}"
    reporter = LagReporter(group, period_s=0)
    # 0: 20 records not committed yet; 1: committed up to 50 and read past the transaction's
    # commit marker at 50: nothing left; 2 and 3: adopted, but nothing ever committed (read
    # from the beginning): 9 records waiting, and an empty partition; 4: not adopted yet,
    # nothing known.
    await reporter.report(Consumer(), {0: 100, 1: 50, 2: None, 3: None})
    shown = {
        p: REGISTRY.get_sample_value(
            "agentmesh_consumer_lag_records", {"group": group, "topic": "inbox", "partition": p}
        )
        for p in ("0", "1", "2", "3", "4")
    }
    assert shown == {"0": 20.0, "1": 0.0, "2": 9.0, "3": 0.0, "4": None}
