"""The gateway against the real broker: with the mesh (AGENTMESH_APP) it refuses what the
entry agent would refuse, naming the field; a Last-Event-ID beyond Kafka's offsets starts
the stream afresh instead of stalling it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agentmesh.agents import Submitter
from agentmesh.contracts import TaskSubmitted, Topics
from agentmesh.core import Settings
from agentmesh_examples import research
from tests.apps import governed
from tests.gateway_helpers import auth, serving
from tests.integration.test_gateway import _sse
from tests.runtime_helpers import running, wait_for
from tests.supervisor_helpers import decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


async def _ready(c: httpx.AsyncClient) -> bool:
    return (await c.get("/readyz")).status_code == 200


async def test_with_the_mesh_the_gateway_refuses_what_the_planner_would(
    settings: Settings, tmp_path: Path
) -> None:
    async with Submitter(settings, research.mesh) as submitter:  # the planner's inbox exists
        setup = await submitter.submit("planner", {"question": "setup"})
    s = settings.model_copy(update={"app": "agentmesh_examples.research:mesh"})
    async with serving(s, tmp_path) as url, httpx.AsyncClient(base_url=url, timeout=15) as c:
        await wait_for(lambda: _ready(c), timeout=30)
        answers = [
            await c.post("/v1/tasks", json={"agent": "planner", "input": i}, headers=auth("sam"))
            for i in (
                {"question": ""},
                {"question": "q", "max_subquestions": 99},
                {"question": "q", "colour": "red"},
                {},
            )
        ]
        fine = {"agent": "planner", "input": {"question": "q", "max_subquestions": 10}}
        accepted = await c.post("/v1/tasks", json=fine, headers=auth("sam"))
    assert [(a.status_code, a.json()["field"]) for a in answers] == [
        (422, "input.question"),
        (422, "input.max_subquestions"),
        (422, "input.colour"),
        (422, "input.question"),
    ]
    assert accepted.status_code == 202
    on_topic = await decoded(s, Topics(s.namespace).tasks, TaskSubmitted, 2)
    assert sorted(t.task_id for t in on_topic) == sorted(
        [setup.task_id, accepted.json()["task_id"]]
    )


async def test_a_last_event_id_beyond_kafkas_offsets_starts_the_stream_afresh(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        running(governed.mesh, ["payer"], settings),
        serving(settings, tmp_path) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as c,
    ):
        await wait_for(lambda: _ready(c), timeout=30)
        body = {"agent": "payer", "input": {"order": "o-1", "amount": 5}}
        accepted = (await c.post("/v1/tasks", json=body, headers=auth("sam"))).json()
        beyond = ",".join(f"{p}:{2**63}" for p in range(64))  # whichever partition it is on
        headers = {**auth("sam"), "Last-Event-ID": beyond}
        events = await _sse(c, accepted["events_url"], headers, until="task_completed")
    assert events[-1]["event"] == "task_completed"
