"""/metrics of every process after a run of 20 tasks: the agents (real processes), the
supervisor (a real process) and the gateway (served by uvicorn) each expose text that
prometheus_client's parser reads, and their counters equal what the events topic and the
supervisor's ledgers say happened."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentmesh.contracts import AgentEvent, LlmCall, StepFinished, TaskCompleted, ToolCall
from agentmesh.core import Settings
from agentmesh.core.views import read_ledger
from tests.gateway_helpers import auth, serving
from tests.integration.test_probe_agent import probe_url
from tests.runtime_helpers import AgentProcess, events_of, wait_for
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

APP = "tests.apps.pipeline:mesh"
PROBE = {"AGENTMESH_PROBE_PORT": "0", "AGENTMESH_PROBE_HOST": "127.0.0.1"}
AGENTS = ("planner", "worker", "collector")
TASKS = 20
RAN = ("result", "handoff", "waiting", "dead_lettered")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def test_counters_of_every_process_match_the_events_of_20_tasks(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  default: {max_steps: 50}\n")
    supervisor = SupervisorProcess(settings, policy, tmp_path)
    supervisor.env.update(PROBE)
    supervisor.start()
    agents = {n: AgentProcess(n, settings, APP, tmp_path, **PROBE).start() for n in AGENTS}
    async with serving(settings, tmp_path) as gateway, httpx.AsyncClient(timeout=15) as http:
        for a in agents.values():
            await a.wait_consuming()
        await supervisor.wait_ready()
        urls = {n: await probe_url(a) for n, a in agents.items()}
        urls["supervisor"] = await probe_url(supervisor)
        urls["gateway"] = gateway

        tenants = ("acme", "beta")
        for i in range(TASKS):
            body = {
                "agent": "planner",
                "input": {"question": f"q{i}", "parts": 2},
                "tenant": tenants[i % 2],
            }
            reply = await http.post(f"{gateway}/v1/tasks", json=body, headers=auth("sam"))
            assert reply.status_code == 202, reply.text

        events = await _events_until_done(settings)
        ledgers = await asyncio.gather(*(read_ledger(settings, t) for t in _tasks(events)))

        # Counted at commit and on the supervisor's tick: wait until the figures settle.
        expected = _expected(events)
        metrics: dict[str, Samples] = {}

        async def settled() -> bool:
            metrics.update({n: await _scrape(http, u) for n, u in urls.items()})
            return _actual(metrics) == expected

        try:
            await wait_for(settled, timeout=20)
        finally:
            assert _actual(metrics) == expected

        # The agents' paid calls are what the supervisor's ledgers hold, call for call.
        assert all(ledger is not None for ledger in ledgers)
        llm = _where(metrics["planner"], "agentmesh_llm_calls_total", status="ok")
        tokens = _where(metrics["planner"], "agentmesh_llm_tokens_total")
        cost = _where(metrics["planner"], "agentmesh_llm_cost_usd_total")
        tools = _where(metrics["worker"], "agentmesh_tool_calls_total", status="ok")
        steps = sum(ledger.steps for ledger in ledgers if ledger)
        assert (steps, sum(ledger.tokens for ledger in ledgers if ledger)) == (
            llm + tools,
            tokens,
        )
        ledger_cost = sum((ledger.cost_usd for ledger in ledgers if ledger), Decimal(0))
        assert cost == pytest.approx(float(ledger_cost), rel=1e-9)
        assert cost > 0

        # Idle: every group's lag is zero, on every partition each process owns. A partition
        # whose producer a loaded broker fenced is owned again once re-adopted (10 s later).
        async def caught_up() -> bool:
            metrics.update({n: await _scrape(http, u) for n, u in urls.items()})
            lags = {n: _lags(m) for n, m in metrics.items() if n != "gateway"}
            owned = all(len({p for _, _, p in lags[n]}) == 6 for n in AGENTS)
            zero = all(v == 0 for m in lags.values() for v in m.values())
            return all(lags.values()) and owned and zero

        with contextlib.suppress(TimeoutError):
            await wait_for(caught_up, timeout=45)
        assert all(v == 0 for n in urls if n != "gateway" for v in _lags(metrics[n]).values())
        for name in AGENTS:
            groups = {g for g, _, _ in _lags(metrics[name])}
            assert groups == {f"{settings.namespace}.agent.{name}.workers"}
            partitions = {p for _, _, p in _lags(metrics[name])}
            assert len(partitions) == 6  # one instance owns all of its group's partitions
    procs = [a.proc for a in agents.values() if a.proc is not None]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)  # all at once: each drains on its own
    assert [proc.wait(60) for proc in procs] == [0, 0, 0]


def _tasks(events: list[AgentEvent]) -> list[str]:
    return sorted({e.task_id for e in events})


async def _events_until_done(settings: Settings) -> list[AgentEvent]:
    deadline = time.monotonic() + 90
    while True:
        events = await events_of(settings, None, timeout=2)
        done = {e.task_id for e in events if isinstance(e.body, TaskCompleted)}
        if len(done) == TASKS or time.monotonic() > deadline:
            assert len(done) == TASKS, f"{len(done)} of {TASKS} tasks completed"
            return events
        await asyncio.sleep(0.5)


def _expected(events: list[AgentEvent]) -> dict[str, Any]:
    """What the metrics must say, from the events topic alone."""
    steps = collections.Counter(
        (e.agent, e.body.outcome) for e in events if isinstance(e.body, StepFinished)
    )
    calls = [e.body for e in events if isinstance(e.body, LlmCall) and not e.body.replayed]
    tools = [e.body for e in events if isinstance(e.body, ToolCall) and not e.body.replayed]
    # A task of two parts completes twice (each collector step has a result): one task.
    done = {e.task_id: e.tenant for e in events if isinstance(e.body, TaskCompleted)}
    per_tenant = collections.Counter(done.values())
    return {
        "steps": {f"{a} {o}": float(n) for (a, o), n in sorted(steps.items())},
        "timed": {
            a: float(sum(n for (b, o), n in steps.items() if b == a and o in RAN)) for a in AGENTS
        },
        "llm": (float(len(calls)), float(sum(c.input_tokens for c in calls))),
        "output_tokens": float(sum(c.output_tokens for c in calls)),
        "tools": float(len(tools)),
        "transactions_aborted": 0.0,
        "dead_letters": 0.0,
        "started": {t: float(n) for t, n in sorted(per_tenant.items())},
        "completed": {t: float(n) for t, n in sorted(per_tenant.items())},
        "in_flight_running": 0.0,
        "gateway_submitted": float(TASKS),
    }


def _actual(m: dict[str, Samples]) -> dict[str, Any]:
    if not m:
        return {}
    agents = {n: m[n] for n in AGENTS}
    steps: dict[str, float] = {}
    for name, samples in agents.items():
        for (metric, labels), v in samples.items():
            if metric == "agentmesh_steps_total" and v:
                assert dict(labels)["agent"] == name  # each process counts only its own
                steps[f"{name} {dict(labels)['outcome']}"] = v
    sup = m["supervisor"]
    return {
        "steps": dict(sorted(steps.items())),
        "timed": {n: _where(agents[n], "agentmesh_step_duration_seconds_count") for n in AGENTS},
        "llm": (
            _where(m["planner"], "agentmesh_llm_calls_total", status="ok"),
            _where(m["planner"], "agentmesh_llm_tokens_total", type="input"),
        ),
        "output_tokens": _where(m["planner"], "agentmesh_llm_tokens_total", type="output"),
        "tools": _where(m["worker"], "agentmesh_tool_calls_total", tool="search", status="ok"),
        "transactions_aborted": sum(
            _where(s, "agentmesh_transactions_total", result="aborted") for s in agents.values()
        ),
        "dead_letters": sum(_where(s, "agentmesh_dead_letters_total") for s in m.values()),
        "started": _by(sup, "agentmesh_tasks_started_total", "tenant"),
        "completed": _by(sup, "agentmesh_tasks_finished_total", "tenant", status="completed"),
        "in_flight_running": _where(sup, "agentmesh_tasks_in_flight", status="running"),
        "gateway_submitted": _where(m["gateway"], "agentmesh_gateway_tasks_submitted_total"),
    }


async def _scrape(http: httpx.AsyncClient, url: str) -> Samples:
    reply = await http.get(f"{url}/metrics")
    assert reply.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def _where(samples: Samples, metric: str, **labels: str) -> float:
    return sum(
        v
        for (name, have), v in samples.items()
        if name == metric and labels.items() <= dict(have).items()
    )


def _by(samples: Samples, metric: str, label: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = collections.defaultdict(float)
    for (name, have), v in samples.items():
        if name == metric and labels.items() <= dict(have).items() and v:
            out[dict(have)[label]] += v
    return dict(sorted(out.items()))


def _lags(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (d["group"], d["topic"], d["partition"]): v
        for (name, have), v in samples.items()
        if name == "agentmesh_consumer_lag_records"
        for d in (dict(have),)
    }


GOVERNED = """
budgets:
  default: {max_steps: 20}
loops: {max_repeats: 2}
breakers: {window_s: 60, min_calls: 3, failure_rate: 0.5, cooldown_s: 600}
"""


async def test_the_supervisor_reports_parked_work_breakers_and_breaches_as_they_happen(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmesh.contracts import AuditRecord, DeadLetter, TaskFailed, Topics
    from tests.apps import governed
    from tests.runtime_helpers import running
    from tests.supervisor_helpers import decoded

    flag = tmp_path / "lookup-down"
    flag.touch()
    monkeypatch.setenv("GOVERNED_FAIL_FLAG", str(flag))
    policy = tmp_path / "policy.yaml"
    policy.write_text(GOVERNED)
    s = settings.model_copy(update={"policy": policy})
    supervisor = SupervisorProcess(s, policy, tmp_path)
    supervisor.env.update(PROBE)
    supervisor.start()
    before = _local()  # the agents run in this process: their counters are this REGISTRY's
    try:
        async with (
            running(governed.mesh, ["looper", "fetcher"], s),
            serving(s, tmp_path) as gateway,
            httpx.AsyncClient(timeout=15) as http,
        ):
            await supervisor.wait_ready()
            url = await probe_url(supervisor)
            # A looper handing itself the same payload: the supervisor stops it as a loop.
            submit: list[tuple[str, dict[str, Any], str]] = [
                ("looper", {"n": 0, "same": True}, "acme")
            ]
            submit += [("fetcher", {"key": f"k{i}"}, "beta") for i in range(4)]
            for agent, payload, tenant in submit:
                body = {"agent": agent, "input": payload, "tenant": tenant}
                reply = await http.post(f"{gateway}/v1/tasks", json=body, headers=auth("sam"))
                assert reply.status_code == 202, reply.text
            sup: Samples = {}

            async def seen() -> bool:
                sup.update(await _scrape(http, url))
                return (
                    _where(sup, "agentmesh_breaker_state", breaker="tool:lookup") == 1
                    and _where(sup, "agentmesh_review_queue_depth", kind="loop") == 1
                    and _where(sup, "agentmesh_tasks_finished_total", status="failed") == 4
                )

            await wait_for(seen, timeout=60)
            topics = Topics(s.namespace)
            audit = await decoded(s, topics.audit, AuditRecord, None, timeout=2)
            letters = await decoded(s, topics.dlq, DeadLetter, None, timeout=2)
            events = await events_of(s, None, timeout=2)
    finally:
        supervisor.terminate()
    stops = [r for r in audit if r.decision in ("budget_breach", "loop_stop")]
    opened = [
        r
        for r in audit
        if r.decision == "breaker_transition"
        and r.subject == "tool:lookup"
        and orjson.loads(r.details_json)["to"] == "open"
    ]
    failed = {e.task_id for e in events if isinstance(e.body, TaskFailed) and e.tenant == "beta"}
    assert (
        _where(sup, "agentmesh_budget_breaches_total", limit="repeats"),
        _where(sup, "agentmesh_breaker_transitions_total", breaker="tool:lookup", state="open"),
        _where(sup, "agentmesh_tasks_in_flight", tenant="acme", status="stopped"),
        _where(sup, "agentmesh_tasks_finished_total", tenant="beta", status="failed"),
    ) == (float(len(stops)), float(len(opened)), 1.0, float(len(failed)))
    assert stops  # the check above compared something
    assert _where(sup, "agentmesh_review_oldest_age_seconds") > 0
    assert _where(sup, "agentmesh_review_next_timeout_seconds") > 0
    after = _local()
    dead = _where(after, "agentmesh_dead_letters_total", agent="fetcher") - _where(
        before, "agentmesh_dead_letters_total", agent="fetcher"
    )
    assert dead == len([d for d in letters if d.agent == "fetcher"]) == 4
    errors = {
        status: _where(after, "agentmesh_tool_calls_total", tool="lookup", status=status)
        - _where(before, "agentmesh_tool_calls_total", tool="lookup", status=status)
        for status in ("ok", "error")
    }
    tool_events = [e.body for e in events if isinstance(e.body, ToolCall)]
    assert errors == {"ok": 0.0, "error": float(len(tool_events))}


def _local() -> Samples:
    from prometheus_client import REGISTRY, generate_latest

    text = generate_latest(REGISTRY).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
