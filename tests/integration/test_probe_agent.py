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
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

APP = "tests.apps.pipeline:mesh"
PROBE = {"AGENTMESH_PROBE_PORT": "0", "AGENTMESH_PROBE_HOST": "127.0.0.1"}
_LISTENING = re.compile(r"probe server listening on (http://[\d.]+:\d+)")


async def probe_url(agent: AgentProcess | SupervisorProcess, timeout: float = 90.0) -> str:
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


async def test_probes_follow_assignment_a_spare_warns_and_a_drain_commits_the_step_once(
    settings: Settings, tmp_path: Path
) -> None:
    await one_partition_topics(settings)
    inbox = Topics(settings.namespace).agent("worker")
    env = {**PROBE, "PIPELINE_WORK_DELAY_S": "5", "AGENTMESH_DRAIN_GRACE_S": "20"}
    replicas: list[AgentProcess] = []
    urls: list[str] = []
    early: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=5) as client:
        # One replica after the other, each asked as soon as its server is up: the server
        # starts before its worker joins the group. (Started together, one of them could,
        # on a loaded machine, join and take the partition before it was asked.)
        for _ in "ab":
            replicas.append(AgentProcess("worker", settings, APP, tmp_path, **env).start())
            urls.append(await probe_url(replicas[-1]))
            early.append(await client.get(f"{urls[-1]}/readyz"))
        alive = [await client.get(f"{u}/healthz") for u in urls]
    assert [r.status_code for r in early + alive] == [503, 503, 200, 200]
    owner, spare = await owner_and_spare(urls)
    ready = await wait_status(f"{urls[owner]}/readyz", 200)
    assert ready.json() == {
        "ready": True,
        "checks": {"partitions": "ok", "producers": "ok", "registry": "ok"},
    }

    # The replica beyond the inbox's one partition says so, and stays unready.
    deadline = time.monotonic() + 30
    while "is idle" not in flat_log(replicas[spare]) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    warning = flat_log(replicas[spare])
    assert "agent worker is idle: " in warning
    assert f"none of the 1 partition of {inbox}" in warning
    assert "Run fewer replicas" in warning
    assert "is idle" not in flat_log(replicas[owner])
    async with httpx.AsyncClient(timeout=5) as client:
        unready = await client.get(f"{urls[spare]}/readyz")
        metrics = await client.get(f"{urls[spare]}/metrics")
    assert (unready.status_code, unready.json()["checks"]["partitions"]) == (
        503,
        f"none assigned: more replicas than the 1 partition of {inbox}?",
    )
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert "process_cpu_seconds" in families

    # SIGTERM to the owner mid-step: unready at once, the step finishes and commits once.
    await send_handoffs(settings, pipeline.mesh, "worker", [Work(part=0, text="q")], ["t-drain"])
    while not await tool_called(settings):  # the step is under way: it now sleeps 5 s
        await asyncio.sleep(0.1)
    start = time.monotonic()
    process = replicas[owner].proc
    assert process is not None
    process.terminate()
    draining = await wait_status(f"{urls[owner]}/readyz", 503, timeout=2)
    assert draining.json()["checks"] == {
        "shutdown": "draining after SIGTERM: finishing the work in flight"
    }
    assert process.wait(30) == 0
    assert time.monotonic() - start < 20
    # The spare takes the partition over (the owner left the group on its way out).
    assert (await wait_status(f"{urls[spare]}/readyz", 200, timeout=30)).status_code == 200
    await asyncio.sleep(1)  # time for a duplicate, were there one
    findings = await inbox_of(settings, pipeline.mesh, "collector", None, timeout=2)
    assert [(f.task_id, f.payload.part) for f in findings] == [("t-drain", 0)]
    assert replicas[spare].terminate() == 0


def flat_log(agent: AgentProcess) -> str:
    return " ".join(agent.log.read_text().split())  # rich wraps long lines


async def owner_and_spare(urls: list[str]) -> tuple[int, int]:
    """Of two replicas of a one-partition inbox, which one the group gave the partition."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            partitions = [
                (await client.get(f"{u}/readyz")).json()["checks"]["partitions"] for u in urls
            ]
            if partitions.count("ok") == 1 and all(
                p == "ok" or p.startswith("none assigned") for p in partitions
            ):
                owner = partitions.index("ok")
                return owner, 1 - owner
            await asyncio.sleep(0.2)
    raise TimeoutError(f"no single owner: {partitions}")


async def tool_called(settings: Settings) -> bool:
    return any(e.body.kind == "tool_call" for e in await events_of(settings, None, timeout=1))


async def test_a_grace_shorter_than_the_step_aborts_it_and_the_next_owner_redoes_it_once(
    settings: Settings, tmp_path: Path
) -> None:
    await one_partition_topics(settings)
    slow = {**PROBE, "PIPELINE_WORK_DELAY_S": "5", "AGENTMESH_DRAIN_GRACE_S": "1"}
    replicas = [AgentProcess("worker", settings, APP, tmp_path, **slow).start() for _ in "ab"]
    urls = [await probe_url(r) for r in replicas]
    owner, spare = await owner_and_spare(urls)
    await send_handoffs(settings, pipeline.mesh, "worker", [Work(part=0, text="q")], ["t-abort"])
    while not await tool_called(settings):  # the step is under way: it now sleeps 5 s
        await asyncio.sleep(0.1)
    start = time.monotonic()
    assert replicas[owner].terminate(timeout=15) == 1
    assert time.monotonic() - start < 1 + 5 + 4  # the grace, the abort bound, a loaded machine
    assert "did not finish within the drain grace of 1 s" in flat_log(replicas[owner])
    # The spare takes the partition over and redoes the step.
    findings = await inbox_of(settings, pipeline.mesh, "collector", 1, timeout=30)
    await asyncio.sleep(1)  # nothing else arrives
    findings = await inbox_of(settings, pipeline.mesh, "collector", None, timeout=2)
    assert replicas[spare].terminate() == 0
    assert [(f.task_id, f.payload.part) for f in findings] == [("t-abort", 0)]
