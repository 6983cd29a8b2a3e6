"""The supervisor against the real broker: budgets, loops, breakers, reviews, audit, kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import (
    AgentEvent,
    AuditRecord,
    Budget,
    ControlCommand,
    ReviewDecision,
    ReviewRequest,
    SchemaRegistry,
    TaskFailed,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.views import read_timeline
from agentmesh.supervisor import verify_chain
from tests.apps import governed
from tests.apps.governed import Lookup, Refund, Spin
from tests.runtime_helpers import dead_letters, events_of, running, wait_for
from tests.supervisor_helpers import (
    SupervisorProcess,
    decoded,
    ledgers,
    send_decision,
    table_values,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = """
budgets:
  default: {max_steps: 5}
  extension: {steps: 2}
loops: {max_repeats: 3}
breakers: {window_s: 30, min_calls: 3, failure_rate: 0.5, cooldown_s: 3}
reviews:
  rules:
    - name: big refunds need two people
      tool: refund
      approvals: 2
      field: {path: amount, gt: 100}
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def governed_settings(settings: Settings, policy_file: Path) -> Settings:
    return settings.model_copy(update={"policy": policy_file})


@pytest.fixture
async def supervisor(
    governed_settings: Settings, policy_file: Path, tmp_path: Path
) -> AsyncIterator[SupervisorProcess]:
    sup = SupervisorProcess(governed_settings, policy_file, tmp_path).start()
    await sup.wait_ready()
    yield sup
    sup.terminate()


async def _submit(settings: Settings, agent: str, payload: object, **kw: object) -> str:
    registry = SchemaRegistry(settings.registry_url)
    try:
        task = await submit_task(settings, governed.mesh, agent, payload, registry, **kw)  # type: ignore[arg-type]
    finally:
        await registry.close()
    return task.task_id


async def test_a_runaway_agent_is_stopped_within_its_budget_plus_one_step(
    governed_settings: Settings, supervisor: SupervisorProcess
) -> None:
    s = governed_settings
    topics = Topics(s.namespace)
    async with running(governed.mesh, ["looper"], s):
        # Submitted by a client that does not know the policy: the handoffs carry no limit
        # the runtime could check on its own, so the policy's 5 steps are the supervisor's.
        task_id = await _submit(s.model_copy(update={"policy": None}), "looper", Spin())

        async def parked() -> bool:
            found = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
            return any(r.task_id == task_id for r in found)

        await wait_for(parked, timeout=60)
    events = [e for e in await events_of(s, None, timeout=3) if e.task_id == task_id]
    llm_calls = [e for e in events if e.body.kind == "llm_call"]
    assert 5 < len(llm_calls) <= 6, f"{len(llm_calls)} LLM calls for a budget of 5 steps"
    (request,) = [
        r
        for r in await decoded(s, topics.review_requests, ReviewRequest, None, timeout=2)
        if r.task_id == task_id
    ]
    assert request.kind == "budget"
    assert "steps used 6, allowed 5" in request.reason
    commands = await decoded(s, topics.control, ControlCommand, None, timeout=2)
    assert any(c.target == task_id and c.action == "pause" for c in commands)
    audit = await decoded(s, topics.audit, AuditRecord, None, timeout=5)
    assert [a.decision for a in audit if a.task_id == task_id][:2] == [
        "budget_breach",
        "review_requested",
    ]
    ledger = await _ledger_when(s, task_id, lambda led: led["status"] == "stopped")
    assert (ledger["steps"], ledger["status"]) == (6, "stopped")


async def test_a_task_submitted_under_the_policy_stops_itself_at_its_budget(
    governed_settings: Settings, supervisor: SupervisorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first handoff carries the policy's 5 steps: the agent refuses the 6th call itself
    and parks its work for a person, whatever the supervisor's lag; approving it extends the
    budget (agent and ledger alike) and the task goes on."""
    s = governed_settings
    topics = Topics(s.namespace)
    monkeypatch.setenv("LOOPER_DELAY_S", "0")  # no pause between calls for the supervisor
    async with running(governed.mesh, ["looper"], s):
        task_id = await _submit(s, "looper", Spin())

        async def parked() -> list[ReviewRequest]:
            found = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
            return [r for r in found if r.task_id == task_id]

        async def calls() -> int:
            events = await events_of(s, None, timeout=2)
            return len([e for e in events if e.task_id == task_id and e.body.kind == "llm_call"])

        await wait_for(parked, timeout=60)
        (request,) = await parked()
        assert request.kind == "budget"
        assert "budget exceeded: steps used 1, allowed 0" in request.reason
        assert await calls() == 5
        # Approved: the policy's extension (2 steps) for the parked work and the ledger.
        await send_decision(s, _decision(request, "alice", "approve"))

        async def parked_again() -> bool:
            return len(await parked()) == 2

        await wait_for(parked_again, timeout=60)
        assert await calls() == 7
    audit = await decoded(s, topics.audit, AuditRecord, None, timeout=5)
    decisions = [a.decision for a in audit if a.task_id == task_id]
    assert "budget_breach" not in decisions, decisions  # never over: the agent stopped first
    assert "budget_extended" in decisions
    # The supervisor folds the last calls on its own time: wait for them, then compare.
    ledger = await _ledger_when(s, task_id, lambda led: led["steps"] >= 7)
    assert (ledger["steps"], ledger["status"]) == (7, "running")


async def test_a_loop_by_content_is_stopped_and_sent_to_review(
    governed_settings: Settings, supervisor: SupervisorProcess
) -> None:
    s = governed_settings
    topics = Topics(s.namespace)
    async with running(governed.mesh, ["looper"], s):
        task_id = await _submit(s, "looper", Spin(same=True), budget=Budget(max_steps=50))

        async def parked() -> list[ReviewRequest]:
            found = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
            return [r for r in found if r.task_id == task_id]

        await wait_for(parked, timeout=60)
    (request,) = await parked()
    assert request.kind == "loop"
    assert "the same handoff to 'looper' 4 times" in request.reason
    audit = [a for a in await decoded(s, topics.audit, AuditRecord, None) if a.task_id == task_id]
    assert audit[0].decision == "loop_stop"
    # Every partition's chain is intact.
    await _assert_chains_intact(s)


async def _assert_chains_intact(s: Settings) -> None:
    from agentmesh.core.transport import KafkaConnection
    from agentmesh.supervisor import read_chains

    chains = await read_chains(KafkaConnection.from_settings(s), s)
    assert chains, "no audit records at all"
    for partition, records in chains.items():
        assert verify_chain(records) == [], f"audit partition {partition} is broken"
        assert [r.seq for _, r in records] == list(range(len(records)))


async def _events_for(s: Settings, task_id: str) -> list[AgentEvent]:
    return [e for e in await events_of(s, None, timeout=2) if e.task_id == task_id]


def _decision(request: ReviewRequest, reviewer: str, decision: str, **kw: object) -> ReviewDecision:
    return ReviewDecision(
        review_id=request.review_id,
        task_id=request.task_id,
        decision=decision,
        reviewer=reviewer,
        reason=str(kw.pop("reason", "looks right")),
        shown_sha256=hashlib.sha256(request.payload_json.encode()).hexdigest(),
        **kw,
    )


async def _parked_for(s: Settings, task_id: str, timeout: float = 30) -> ReviewRequest:
    topics = Topics(s.namespace)

    async def found() -> list[ReviewRequest]:
        got = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
        return [r for r in got if r.task_id == task_id]

    await wait_for(found, timeout=timeout)
    return (await found())[0]


async def test_a_tool_call_needing_two_approvals_parks_then_completes(
    governed_settings: Settings, supervisor: SupervisorProcess
) -> None:
    s = governed_settings
    governed.REFUNDS.clear()
    async with running(governed.mesh, ["payer"], s):
        small = await _submit(s, "payer", Refund(order="o-1", amount=20))
        big = await _submit(s, "payer", Refund(order="o-2", amount=150))
        request = await _parked_for(s, big)
        assert (request.kind, request.required_approvals, request.agent) == (
            "tool_call",
            2,
            "payer",
        )
        assert orjson.loads(request.payload_json) == {
            "tool": "refund",
            "arguments": {"order": "o-2", "amount": 150.0},
        }
        # The small refund needed nobody; the big one has not run.
        assert [r.order for r in governed.REFUNDS] == ["o-1"]
        await send_decision(s, _decision(request, "alice", "approve"))
        await send_decision(s, _decision(request, "alice", "approve"))  # the same person again
        await asyncio.sleep(3)
        assert [r.order for r in governed.REFUNDS] == ["o-1"], "one reviewer released it"
        # Parked work and the votes so far survive a restart of the supervisor.
        supervisor.kill9()
        supervisor.start()
        await supervisor.wait_ready()
        edited = orjson.dumps({"order": "o-2", "amount": 120.0}).decode()
        await send_decision(
            s, _decision(request, "bob", "approve_edited", edited_payload_json=edited)
        )

        async def completed() -> bool:
            return any(e.body.kind == "task_completed" for e in await _events_for(s, big))

        await wait_for(completed, timeout=30)
    assert [(r.order, r.amount) for r in governed.REFUNDS] == [("o-1", 20.0), ("o-2", 120.0)]
    assert small != big
    audit = [
        a
        for a in await decoded(s, Topics(s.namespace).audit, AuditRecord, None)
        if a.task_id == big
    ]
    released = [a for a in audit if a.decision == "review_released"]
    assert len(released) == 1
    details = orjson.loads(released[0].details_json)
    assert (details["reviewers"], details["edited"]) == (["alice", "bob"], True)


async def test_a_rejected_tool_call_ends_with_the_reason(
    governed_settings: Settings, supervisor: SupervisorProcess
) -> None:
    s = governed_settings
    governed.REFUNDS.clear()
    async with running(governed.mesh, ["payer"], s):
        task_id = await _submit(s, "payer", Refund(order="o-9", amount=500))
        request = await _parked_for(s, task_id)
        await send_decision(
            s, _decision(request, "carol", "reject", reason="customer already refunded")
        )

        async def failed() -> list[AgentEvent]:
            return [e for e in await _events_for(s, task_id) if e.body.kind == "task_failed"]

        await wait_for(failed, timeout=30)
    (event,) = await failed()
    assert isinstance(event.body, TaskFailed)
    assert event.body.error_class == "ReviewRejected"
    assert "customer already refunded" in event.body.message
    letters = [d for d in await dead_letters(s, None, timeout=3) if d.task_id == task_id]
    (letter,) = letters
    assert (letter.stage, letter.original_topic) == ("policy", Topics(s.namespace).agent("payer"))
    assert letter.original_value == request.parked_value
    assert governed.REFUNDS == []


async def test_a_failing_tool_trips_its_breaker_then_recovers_through_half_open(
    governed_settings: Settings,
    supervisor: SupervisorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = governed_settings
    topics = Topics(s.namespace)
    flag = tmp_path / "lookup-down"
    flag.touch()
    monkeypatch.setenv("GOVERNED_FAIL_FLAG", str(flag))

    async def actions() -> list[str]:
        got = await decoded(s, topics.control, ControlCommand, None, timeout=1)
        return [c.action for c in got if c.scope == "tool" and c.target == "lookup"]

    async with running(governed.mesh, ["fetcher"], s):
        for i in range(2):
            await _submit(s, "fetcher", Lookup(key=f"k{i}"))
        # Two tasks, each failing its calls with retries and backoff: a bound, generous
        # for a machine busy with other test processes, not a speed claim.
        await wait_for(lambda: _has(actions, "breaker_open"), timeout=60)
        # Open: the next call fails fast, the tool is not even tried.
        fast = await _submit(s, "fetcher", Lookup(key="fast"))

        async def refused() -> list[Any]:
            return [
                d
                for d in await dead_letters(s, None, timeout=1)
                if d.task_id == fast and d.error_class == "ToolBreakerOpen"
            ]

        await wait_for(refused, timeout=30)
        assert not [e for e in await _events_for(s, fast) if e.body.kind == "tool_call"]
        flag.unlink()  # the backend is back
        await wait_for(lambda: _has(actions, "breaker_half_open"), timeout=30)
        probe = await _submit(s, "fetcher", Lookup(key="probe"))
        await wait_for(lambda: _has(actions, "breaker_closed"), timeout=30)
    assert any(e.body.kind == "task_completed" for e in await _events_for(s, probe))
    assert (await actions())[:3] == ["breaker_open", "breaker_half_open", "breaker_closed"]
    audit = await decoded(s, topics.audit, AuditRecord, None)
    moves = [orjson.loads(a.details_json)["to"] for a in audit if a.subject == "tool:lookup"]
    assert moves[:3] == ["open", "half_open", "closed"]


async def _has(probe: Any, action: str) -> bool:
    return action in await probe()


async def test_ledgers_spend_and_breakers_stay_exact_across_a_kill_9_of_the_supervisor(
    settings: Settings, tmp_path: Path
) -> None:
    from decimal import Decimal

    from agentmesh.contracts import Codec, LlmCall, StepFinished, ToolCall
    from agentmesh.core.transport import KafkaConnection, make_producer

    policy = tmp_path / "counting.yaml"
    # Spend and outcomes are counted but no limit is ever reached.
    policy.write_text(
        "budgets: {tenants: {default: {spend_limit: {usd: 1000000}}}}\n"
        "breakers: {window_s: 3600, window_calls: 1000000, min_calls: 1000000}\n"
    )
    s = settings.model_copy(update={"policy": policy})
    topics = Topics(s.namespace)
    sup = SupervisorProcess(s, policy, tmp_path).start()
    await sup.wait_ready()
    registry = SchemaRegistry(s.registry_url)
    codec = Codec(AgentEvent, Topics.subject(topics.events), registry)
    await codec.register()
    producer = make_producer(KafkaConnection.from_settings(s))
    await producer.start()
    tasks = [f"task-{i}" for i in range(12)]
    expected = {t: {"steps": 0, "tokens": 0} for t in tasks}
    calls = {"tool:search": 0, "model:scripted": 0}
    spent = [Decimal(0)]

    def call(n: int, replayed: bool) -> tuple[Any, int]:
        if n % 4 == 3:
            tool = ToolCall(
                call_id=f"h{n}:0", tool="search", status="ok", latency_ms=1.0, replayed=replayed
            )
            return tool, 0
        tokens = 10 + n % 7
        llm = LlmCall(
            call_id=f"h{n}:0",
            provider="scripted",
            model="m",
            input_tokens=tokens,
            output_tokens=0,
            cost_usd=Decimal("0.001"),
            latency_ms=1.0,
            replayed=replayed,
        )
        return llm, tokens

    async def write(count: int, rate_per_s: float, first: int = 0) -> None:
        for n in range(first, first + count):
            task = tasks[n % len(tasks)]
            # As agents leave them: every fifth call was answered again from the journal
            # after a crash (its original and a replay), every seventh lost its original
            # event to a kill -9 between the journal write and the event (a replay only).
            # Either way it is one paid call.
            lost, again = n % 7 == 6, n % 5 == 4
            bodies = [call(n, replayed=True)] if lost else [call(n, replayed=False)]
            if again:
                bodies.append(call(n, replayed=True))
            done = StepFinished(handoff_id=f"h{n}", outcome="handoff", duration_ms=1.0)
            for body in [*(b for b, _ in bodies), done]:
                event = AgentEvent(task_id=task, agent="a", instance="i", seq=n, body=body)
                await producer.send(topics.events, codec.encode(event), key=task.encode())
            body, tokens = bodies[0]
            calls["tool:search" if isinstance(body, ToolCall) else "model:scripted"] += 1
            if isinstance(body, LlmCall):
                spent[0] += Decimal("0.001")
            expected[task]["steps"] += 1
            expected[task]["tokens"] += tokens
            if n % 50 == 49:
                await asyncio.sleep(50 / rate_per_s)
        await producer.flush()

    try:
        writing = asyncio.create_task(write(3000, rate_per_s=1000))
        await asyncio.sleep(1.5)
        sup.kill9()  # mid-stream: folded but uncommitted records will be delivered again
        await writing
        await write(600, rate_per_s=5000, first=3000)
        sup.start()
        await sup.wait_ready()

        async def caught_up() -> bool:
            found = await ledgers(s, timeout=1)
            counted: int = sum(found.get(t, {}).get("steps", 0) for t in tasks)
            return counted >= 3600

        await wait_for(caught_up, timeout=90)
        await asyncio.sleep(3)  # anything counted twice would show up by now
        found = await ledgers(s, timeout=2)
        got = {t: {"steps": found[t]["steps"], "tokens": found[t]["tokens"]} for t in tasks}
        assert got == expected
        # Breakers and tenant spend, folded from summaries, count every call once too:
        # none delivered twice, none lost with the killed process's unsent summaries.
        counted: dict[str, int] = {}

        async def breakers_counted() -> bool:
            breakers = await table_values(s, "breakers", timeout=2)
            counted.update(
                {
                    key: sum(ok + failed for _, ok, failed in breakers[key]["window"])
                    for key in calls
                    if key in breakers
                }
            )
            return sum(counted.values()) >= sum(calls.values())

        await wait_for(breakers_counted, timeout=30)
        await asyncio.sleep(3)  # anything counted twice would show up by now
        await breakers_counted()
        assert counted == calls
        spend = (await table_values(s, "spend", timeout=2))["tenant:default"]
        assert sum((Decimal(v) for v in spend["buckets"].values()), Decimal(0)) == spent[0]
        # `task show` and the gateway read a task's timeline by the same rule.
        for task in tasks[:3]:
            timeline = await read_timeline(s, task)
            calls_in_timeline = timeline.llm_calls + timeline.tool_calls
            assert {"steps": calls_in_timeline, "tokens": timeline.tokens} == expected[task]
    finally:
        await producer.stop()
        await registry.close()
        sup.terminate()


async def test_the_kill_switch_from_the_cli_is_obeyed_listed_and_audited(
    governed_settings: Settings, supervisor: SupervisorProcess
) -> None:
    import subprocess
    import sys

    s = governed_settings
    env = {**supervisor.env}

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "agentmesh.cli", *args, "--json"],
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        return orjson.loads(done.stdout)

    issued = cli("control", "pause", "--all", "--reason", "incident 42", "--by", "ops-dana")
    assert (issued["scope"], issued["target"], issued["action"]) == ("global", "*", "pause")
    rules = cli("control", "list")
    assert [(r["scope"], r["action"], r["issued_by"]) for r in rules] == [
        ("global", "pause", "ops-dana")
    ]
    topics = Topics(s.namespace)

    async def audited() -> list[AuditRecord]:
        got = await decoded(s, topics.audit, AuditRecord, None, timeout=1)
        return [a for a in got if a.decision == "kill_switch"]

    await wait_for(audited, timeout=30)
    (record,) = await audited()
    assert (record.actor, record.subject) == ("ops-dana", "global:*")
    assert orjson.loads(record.details_json)["reason"] == "incident 42"
    cli("control", "resume", "--all", "--reason", "resolved", "--by", "ops-dana")
    assert cli("control", "list") == []
    verdict = cli("audit", "verify")
    assert verdict["ok"] is True


async def test_a_silent_task_past_its_deadline_is_stopped_by_the_clock(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "deadline.yaml"
    policy.write_text("budgets:\n  default: {deadline_s: 2}\n")
    s = settings.model_copy(update={"policy": policy})
    topics = Topics(s.namespace)
    sup = SupervisorProcess(s, policy, tmp_path).start()
    await sup.wait_ready()
    monkeypatch.setenv("LOOPER_DELAY_S", "6")  # one call, then six silent seconds
    try:
        async with running(governed.mesh, ["looper"], s):
            task_id = await _submit(s, "looper", Spin())

            async def breach() -> list[AuditRecord]:
                got = await decoded(s, topics.audit, AuditRecord, None, timeout=1)
                return [a for a in got if a.task_id == task_id and a.decision == "budget_breach"]

            # No event arrives after the deadline: only the supervisor's clock can notice.
            await wait_for(breach, timeout=5.5)
            (record,) = await breach()
            assert orjson.loads(record.details_json)["limit"] == "deadline"
            request = await _parked_for(s, task_id, timeout=20)
            assert request.kind == "budget"
    finally:
        sup.terminate()


async def _ledger_when(
    s: Settings, task_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """The task's ledger once ``check`` holds for it (or as it is after ``timeout``)."""
    found: dict[str, Any] = {}

    async def ready() -> bool:
        found.update((await ledgers(s, timeout=2)).get(task_id, {}))
        return bool(found) and check(found)

    with contextlib.suppress(TimeoutError):
        await wait_for(ready, timeout=timeout)
    return found
