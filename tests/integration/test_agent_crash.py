"""Agents as real OS processes, killed with SIGKILL mid-work: nothing lost, nothing twice."""

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from agentmesh.contracts import LlmCall
from agentmesh.core import Settings
from tests.apps import pipeline
from tests.apps.pipeline import Plan, Work
from tests.runtime_helpers import AgentProcess, events_of, inbox_of, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

APP = "tests.apps.pipeline:mesh"


async def committed_findings(settings: Settings) -> int:
    return len(await inbox_of(settings, pipeline.mesh, "collector", None, timeout=1.5))


async def test_read_committed_sees_each_handoff_exactly_once_across_repeated_kill9(
    settings: Settings, tmp_path: Path
) -> None:
    total = 240
    worker = AgentProcess("worker", settings, APP, tmp_path, PIPELINE_WORK_DELAY_S="0.03").start()
    await worker.wait_consuming()
    await send_handoffs(
        settings,
        pipeline.mesh,
        "worker",
        [Work(part=i, text=f"q{i}") for i in range(total)],
        [f"task-{i % 37}" for i in range(total)],
    )
    kills = 0
    for threshold in (total // 4, total // 2):
        while await committed_findings(settings) < threshold:
            await asyncio.sleep(0.2)
        worker.kill9()  # mid-batch: transactions in flight are left open
        kills += 1
        worker = AgentProcess(
            "worker", settings, APP, tmp_path, PIPELINE_WORK_DELAY_S="0.03"
        ).start()
        await worker.wait_consuming(timeout=90)
    findings = await inbox_of(settings, pipeline.mesh, "collector", total, timeout=120)
    assert worker.terminate() == 0
    parts = Counter(f.payload.part for f in findings)
    assert kills == 2
    assert sorted(parts) == list(range(total))  # nothing lost
    assert [p for p, n in parts.items() if n > 1] == []  # nothing twice


async def test_restart_after_kill9_reuses_the_journaled_llm_call(
    settings: Settings, tmp_path: Path
) -> None:
    slow = AgentProcess("planner", settings, APP, tmp_path, PIPELINE_PLAN_DELAY_S="60").start()
    await slow.wait_consuming()
    await send_handoffs(settings, pipeline.mesh, "planner", [Plan(question="q", parts=2)], ["t-j"])
    # The LLM call's usage event is written at once; the step then sleeps: crash now.
    while not [e for e in await events_of(settings, None, timeout=1) if e.body.kind == "llm_call"]:
        await asyncio.sleep(0.2)
    slow.kill9()
    fast = AgentProcess("planner", settings, APP, tmp_path).start()
    await fast.wait_consuming(timeout=90)
    handoffs = await inbox_of(settings, pipeline.mesh, "worker", 2, timeout=60)
    assert fast.terminate() == 0
    llm = [
        e.body for e in await events_of(settings, None, timeout=2) if isinstance(e.body, LlmCall)
    ]
    assert [(c.call_id, c.replayed) for c in llm] == [
        (llm[0].call_id, False),
        (llm[0].call_id, True),
    ]
    assert [h.payload.part for h in handoffs] == [0, 1]


async def test_sigterm_finishes_the_batch_and_leaves_the_group(
    settings: Settings, tmp_path: Path
) -> None:
    first = AgentProcess("collector", settings, APP, tmp_path).start()
    await first.wait_consuming()
    assert first.terminate(timeout=30) == 0
    # Left the group on the way out (the broker lists no member at once), so a successor gets
    # the partitions without waiting for the session timeout of a vanished member.
    group = f"{settings.namespace}.agent.collector.workers"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    assert described.members == [], [m.client_id for m in described.members]
    second = AgentProcess("collector", settings, APP, tmp_path).start()
    await second.wait_consuming()
    assert second.terminate() == 0
