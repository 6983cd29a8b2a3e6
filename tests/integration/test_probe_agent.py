"""`agentmesh run agent` as a real process: its probes, the spare-replica warning, and drain."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentmesh.agents._topology import ensure_agent_topics
from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection
from tests.apps import pipeline
from tests.apps.pipeline import Work
from tests.runtime_helpers import AgentProcess, events_of, inbox_of, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

APP = "tests.apps.pipeline:mesh"
PROBE = {"AGENTMESH_PROBE_PORT": "0", "AGENTMESH_PROBE_HOST": "127.0.0.1"}
_LISTENING = re.compile(r"probe server listening on (http://[\d.]+:\d+)")


async def probe_url(agent: AgentProcess, timeout: float = 30.0) -> str:
    """The probe server's base URL, as the process logged it (it asked for any free port)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _LISTENING.search(agent.log.read_text(errors="replace"))
        if found:
            return found.group(1)
        assert agent.proc is not None
        assert agent.proc.poll() is None, agent.log.read_text()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no probe server logged:\n{agent.log.read_text()}")


async def wait_status(url: str, status: int, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            reply = await client.get(url)
            if reply.status_code == status or time.monotonic() > deadline:
                return reply
            await asyncio.sleep(0.1)


async def one_partition_topics(settings: Settings) -> None:
    await ensure_agent_topics(
        KafkaConnection.from_settings(settings),
        Topics(settings.namespace),
        pipeline.mesh,
        "worker",
        settings=settings,
        partitions=1,
    )


async def test_probes_follow_assignment_and_a_spare_replica_warns_and_stays_unready(
    settings: Settings, tmp_path: Path
) -> None:
    await one_partition_topics(settings)
    inbox = Topics(settings.namespace).agent("worker")
    first = AgentProcess("worker", settings, APP, tmp_path, **PROBE).start()
    url = await probe_url(first)
    async with httpx.AsyncClient(timeout=5) as client:
        early = await client.get(f"{url}/readyz")
        assert (await client.get(f"{url}/healthz")).status_code == 200
    assert early.status_code == 503  # the server starts before the worker joins its group
    ready = await wait_status(f"{url}/readyz", 200)
    assert ready.json() == {
        "ready": True,
        "checks": {"partitions": "ok", "producers": "ok", "registry": "ok"},
    }

    second = AgentProcess("worker", settings, APP, tmp_path, **PROBE).start()
    second_url = await probe_url(second)
    # The group may give the one partition to either replica: the other is the spare.
    idle = "agent worker is idle"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = {a: " ".join(a.log.read_text().split()) for a in (first, second)}  # rich wraps
        if any(idle in text for text in logs.values()):
            break
        await asyncio.sleep(0.2)
    spare = first if idle in logs[first] else second
    busy, busy_url = (second, second_url) if spare is first else (first, url)
    spare_url = url if spare is first else second_url
    assert idle not in logs[busy]
    assert f"none of the 1 partitions of {inbox}" in logs[spare]
    assert "Run fewer replicas" in logs[spare]
    async with httpx.AsyncClient(timeout=5) as client:
        unready = await client.get(f"{spare_url}/readyz")
        metrics = await client.get(f"{spare_url}/metrics")
    working = await wait_status(f"{busy_url}/readyz", 200)
    assert (unready.status_code, unready.json()["checks"]["partitions"]) == (
        503,
        f"none assigned: more replicas than the 1 partitions of {inbox}?",
    )
    assert working.status_code == 200
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert "process_cpu_seconds" in families
    assert spare.terminate() == 0
    assert busy.terminate() == 0


async def tool_called(settings: Settings) -> bool:
    return any(e.body.kind == "tool_call" for e in await events_of(settings, None, timeout=1))


async def test_sigterm_mid_step_finishes_it_commits_once_and_exits_0(
    settings: Settings, tmp_path: Path
) -> None:
    slow = {**PROBE, "PIPELINE_WORK_DELAY_S": "3", "AGENTMESH_DRAIN_GRACE_S": "20"}
    agent = AgentProcess("worker", settings, APP, tmp_path, **slow).start()
    url = await probe_url(agent)
    await wait_status(f"{url}/readyz", 200)
    await send_handoffs(settings, pipeline.mesh, "worker", [Work(part=0, text="q")], ["t-drain"])
    while not await tool_called(settings):  # the step is under way: it now sleeps 3 s
        await asyncio.sleep(0.1)
    start = time.monotonic()
    assert agent.proc is not None
    agent.proc.terminate()
    draining = await wait_status(f"{url}/readyz", 503, timeout=2)
    assert draining.json()["checks"] == {
        "shutdown": "draining after SIGTERM: finishing the work in flight"
    }
    assert agent.proc.wait(30) == 0
    assert time.monotonic() - start < 20
    findings = await inbox_of(settings, pipeline.mesh, "collector", 1, timeout=10)
    assert [(f.task_id, f.payload.part) for f in findings] == [("t-drain", 0)]


async def test_a_grace_shorter_than_the_step_aborts_it_and_the_next_owner_redoes_it_once(
    settings: Settings, tmp_path: Path
) -> None:
    slow = {**PROBE, "PIPELINE_WORK_DELAY_S": "8", "AGENTMESH_DRAIN_GRACE_S": "1"}
    agent = AgentProcess("worker", settings, APP, tmp_path, **slow).start()
    await agent.wait_consuming()
    await send_handoffs(settings, pipeline.mesh, "worker", [Work(part=0, text="q")], ["t-abort"])
    while not await tool_called(settings):
        await asyncio.sleep(0.1)
    start = time.monotonic()
    assert agent.terminate(timeout=15) == 1
    stopped_s = time.monotonic() - start
    assert stopped_s < 1 + 5  # the grace, then the abort's bound
    text = " ".join(agent.log.read_text().split())
    assert "did not finish within the drain grace of 1 s" in text
    assert await inbox_of(settings, pipeline.mesh, "collector", None, timeout=2) == []

    successor = AgentProcess("worker", settings, APP, tmp_path).start()
    await successor.wait_consuming()
    findings = await inbox_of(settings, pipeline.mesh, "collector", 1, timeout=30)
    await asyncio.sleep(1)  # nothing else arrives
    findings = await inbox_of(settings, pipeline.mesh, "collector", None, timeout=2)
    assert successor.terminate() == 0
    assert [(f.task_id, f.payload.part) for f in findings] == [("t-abort", 0)]
