"""The sample mesh's demo task, recorded, replayed with `agentmesh replay run`: the same code
gives the same result twice; a changed prompt diverges at the step that uses it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
import pytest

from agentmesh.agents import Context, Mesh, Outgoing, agent
from agentmesh.agents._submit import submit_task
from agentmesh.contracts import SchemaRegistry
from agentmesh.core import Settings
from agentmesh_examples import research
from agentmesh_examples.research import DEMO_INPUT, ResearchQuestion
from tests.runtime_helpers import events_of, running, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

APP = "agentmesh_examples.research:mesh"
FEWER_APP = "tests.integration.test_replay_sample:FEWER"


async def _replay(settings: Settings, task_id: str, **env: str) -> tuple[int, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "agentmesh.cli", "replay", "run", task_id, "--json"),
        *("--app", FEWER_APP if env.pop("REPLAY_APP", None) == "fewer" else APP),
        env={
            **os.environ,
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    assert out, err.decode()
    return proc.returncode, orjson.loads(out)


async def test_the_demo_task_replays_identically_and_a_changed_prompt_diverges_there(
    settings: Settings,
) -> None:
    registry = SchemaRegistry(settings.registry_url)
    try:
        task = await submit_task(
            settings, research.mesh, "planner", ResearchQuestion(**DEMO_INPUT), registry
        )
    finally:
        await registry.close()

    async def completed() -> list[str]:
        events = await events_of(settings, None, timeout=1)
        return [e.body.output_json for e in events if e.body.kind == "task_completed"]

    agents = ["planner", "researcher", "writer", "reviewer"]
    async with running(research.mesh, agents, settings):
        await wait_for(completed, timeout=120)
    (recorded,) = await completed()

    for _ in range(2):
        code, report = await _replay(settings, task.task_id)
        assert (code, report["same"]) == (0, True), report
        assert [s["output"] for s in report["steps"] if s["output"]] == [recorded]

    writer_now = research.PROMPTS["writer"].version
    code, report = await _replay(settings, task.task_id, AGENTMESH_PROMPTS="writer=v1")
    assert code == 1
    diverged = [s for s in report["steps"] if not s["same"]]
    assert diverged[0]["agent"] == "writer"
    assert all(s["same"] for s in report["steps"][: report["steps"].index(diverged[0])])
    assert any(
        f"prompt writer@{writer_now} before, writer@" in d and "now" in d
        for d in diverged[0]["differences"]
    ), diverged[0]["differences"]

    # A planner that hands one sub-question fewer diverges at the planner's handoffs.
    code, report = await _replay(settings, task.task_id, REPLAY_APP="fewer")
    assert code == 1
    first = next(s for s in report["steps"] if not s["same"])
    assert first["agent"] == "planner"
    assert first["differences"] == [
        "handoffs differ: [researcher, researcher, researcher] before, [researcher, researcher] now"
    ]


@agent("planner")
async def _fewer(request: ResearchQuestion, ctx: Context) -> list[Outgoing]:
    handed = await research.planner.handler(request, ctx)
    assert isinstance(handed, list)
    return handed[:-1]


FEWER = Mesh(
    [_fewer, research.researcher, research.writer, research.reviewer],
    model=research.mesh.model,
)
