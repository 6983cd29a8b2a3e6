"""Recordings on the real broker: once per call, redacted before writing, after kill -9 too."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from agentmesh.contracts import Codec, Recording, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection
from agentmesh.core.views._recordings import read_recordings
from tests.apps import pipeline, recorded
from tests.apps.pipeline import Plan
from tests.apps.recorded import CARD, EMAIL, EMAIL_PATTERN, TICKET, Bulk
from tests.kafka_helpers import read_all
from tests.runtime_helpers import AgentProcess, events_of, running, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


def _with_policy(settings: Settings, tmp_path: Path, mode: str = "full") -> Settings:
    path = tmp_path / "policy.yaml"
    redact = {"paths": ["customer.card", "card", "account"], "patterns": [EMAIL_PATTERN]}
    path.write_text(orjson.dumps({"recording": {"mode": mode, "redact": redact}}).decode())
    return settings.model_copy(update={"policy": path})


async def _raw_recordings(settings: Settings, expected: int | None, timeout: float) -> list[bytes]:
    conn = KafkaConnection.from_settings(settings)
    return await read_all(conn, Topics(settings.namespace).recordings, expected, timeout)


async def _decoded(settings: Settings, raw: list[bytes]) -> list[Recording]:
    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(Recording, Topics.subject(topics.recordings), registry)
    try:
        return [await codec.decode(v) for v in raw]
    finally:
        await registry.close()


async def _completed(settings: Settings, count: int, timeout: float = 60.0) -> None:
    async def done() -> bool:
        events = await events_of(settings, None, timeout=1)
        return sum(e.body.kind == "task_completed" for e in events) >= count

    deadline = asyncio.get_running_loop().time() + timeout
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, "the task did not complete"
        await asyncio.sleep(0.3)


def _body(text: str | None) -> object:
    return None if text is None else orjson.loads(text)


async def test_the_pipeline_records_each_call_once_with_each_steps_input(
    settings: Settings,
) -> None:
    async with running(pipeline.mesh, ["planner", "worker", "collector"], settings):
        await send_handoffs(settings, pipeline.mesh, "planner", [Plan(question="q")], ["t-rec"])
        await _completed(settings, 2)
    found = await _decoded(settings, await _raw_recordings(settings, 8, 30))
    assert Counter(r.kind for r in found) == {"step_input": 5, "tool_call": 2, "llm_call": 1}
    assert Counter(r.agent for r in found if r.kind == "step_input") == {
        "planner": 1,
        "worker": 2,
        "collector": 2,
    }
    assert len({r.recording_id for r in found}) == len(found)  # each once
    [llm] = [r for r in found if r.kind == "llm_call"]
    assert (llm.target, llm.model, llm.status, llm.replayed) == (
        "scripted",
        "scripted",
        "ok",
        False,
    )
    assert _body(llm.request_json) == {
        "messages": [{"role": "user", "content": "split: q"}],
        "tools": [],
        "output_schema": None,
        "parameters": dict.fromkeys(("model", "temperature", "max_tokens", "max_total_tokens")),
    }
    usage = {
        "provider": "scripted",
        "model": "scripted",
        "input_tokens": 2,
        "output_tokens": 1,
        "cost_usd": "0.000003",
    }
    assert _body(llm.response_json) == {
        "text": "sub-question",
        "tool_calls": [],
        "structured": None,
        "usage": usage,
        "extra": {},
    }
    tools = [
        (_body(r.request_json), _body(r.response_json)) for r in found if r.kind == "tool_call"
    ]
    assert (
        tools
        == [
            (
                {"arguments": {"query": "sub-question"}},
                {"result": {"hits": ["hit for sub-question"]}},
            )
        ]
        * 2
    )
    planner_input = next(r for r in found if r.kind == "step_input" and r.agent == "planner")
    assert _body(planner_input.request_json)["payload"] == {"question": "q", "parts": 2}  # type: ignore[index]
    # The gateway's reader gives the same recordings, in the order written.
    assert [r.recording_id for r in await read_recordings(settings, "t-rec")] == [
        r.recording_id for r in found
    ]


async def test_redacted_fields_never_reach_the_recordings_topic(
    settings: Settings, tmp_path: Path
) -> None:
    governed = _with_policy(settings, tmp_path)
    async with running(recorded.mesh, ["intake"], governed):
        await send_handoffs(governed, recorded.mesh, "intake", [TICKET], ["t-red"])
        await _completed(governed, 1)
    raw = await _raw_recordings(governed, 3, 30)
    assert len(raw) == 3
    blob = b"".join(raw)
    assert CARD.encode() not in blob
    assert EMAIL.encode() not in blob
    # The input's card and e-mail, the tool's argument and result, the e-mail in the prompt.
    assert blob.count(b"[redacted]") == 5
    # The data was there to redact: the model was asked about the customer.
    [llm] = [r for r in await _decoded(governed, raw) if r.kind == "llm_call"]
    assert orjson.loads(llm.request_json or "")["messages"][1]["content"] == (
        "Help [redacted] (Bob) with: my card was charged twice"
    )


async def test_a_large_recording_travels_by_claim_check(settings: Settings) -> None:
    size = 700_000
    async with running(recorded.mesh, ["bulky"], settings):
        await send_handoffs(settings, recorded.mesh, "bulky", [Bulk(size=size)], ["t-big"])
        await _completed(settings, 1)
    raw = await _raw_recordings(settings, 2, 30)
    assert sum(map(len, raw)) < 10_000  # the tool call's recording is on the topic as a ticket
    found = await read_recordings(settings, "t-big")
    assert [r.kind for r in found] == ["step_input", "tool_call"]
    assert _body(found[1].response_json) == {"result": {"text": "x" * size}}


@pytest.mark.parametrize("mode", ["off", "metadata"])
async def test_off_writes_nothing_and_metadata_writes_no_bodies(
    settings: Settings, tmp_path: Path, mode: str
) -> None:
    governed = _with_policy(settings, tmp_path, mode)
    async with running(recorded.mesh, ["intake"], governed):
        await send_handoffs(governed, recorded.mesh, "intake", [TICKET], ["t-mode"])
        await _completed(governed, 1)
    found = await _decoded(governed, await _raw_recordings(governed, None, 3))
    if mode == "off":
        assert found == []
    else:
        assert [(r.kind, r.mode, r.request_json, r.response_json) for r in found] == [
            ("step_input", "metadata", None, None),
            ("tool_call", "metadata", None, None),
            ("llm_call", "metadata", None, None),
        ]
        assert [r.prompt_version for r in found] == [None, None, "v2"]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_step_killed_mid_way_has_one_recording_per_call(
    settings: Settings, tmp_path: Path
) -> None:
    app = "tests.apps.recorded:mesh"
    policy = str(_with_policy(settings, tmp_path).policy)
    slow = AgentProcess(
        "intake", settings, app, tmp_path, RECORDED_DELAY_S="60", AGENTMESH_POLICY=policy
    ).start()
    await slow.wait_consuming()
    # One batch, one transaction: the first step finishes (its records are sent, not yet
    # committed), the second pays for its calls and then sleeps.
    second = TICKET.model_copy(update={"text": "slow: charged three times"})
    await send_handoffs(settings, recorded.mesh, "intake", [TICKET, second], ["t-kill"] * 2)
    while "paid, sleeping" not in slow.log.read_text(errors="replace"):
        await asyncio.sleep(0.1)
    slow.kill9()
    fast = AgentProcess("intake", settings, app, tmp_path, AGENTMESH_POLICY=policy).start()
    await fast.wait_consuming(timeout=90)
    await _completed(settings, 2, timeout=90)
    assert fast.terminate() == 0
    # Both steps ran twice, their calls answered from the journal the second time.
    assert [c.replayed for c in await _calls(settings, "llm_call")] == [False, False, True, True]
    found = await _decoded(settings, await _raw_recordings(settings, None, 3))
    assert Counter(r.recording_id for r in found) == dict.fromkeys(
        [f"{h}:{s}" for h in {r.handoff_id for r in found} for s in ("input", "0", "1")], 1
    )
    # Written by the run that committed.
    assert [r.replayed for r in found if r.kind != "step_input"] == [True] * 4


async def _calls(settings: Settings, kind: str) -> list[Any]:
    return [e.body for e in await events_of(settings, None, timeout=1) if e.body.kind == kind]


async def test_the_gateway_serves_a_tasks_recordings_to_auditors_and_admins_only(
    settings: Settings,
) -> None:
    import httpx
    from fastapi import FastAPI

    from agentmesh.gateway._auth import TokenStore
    from agentmesh.gateway._routes_recordings import router

    async with running(pipeline.mesh, ["planner", "worker", "collector"], settings):
        await send_handoffs(settings, pipeline.mesh, "planner", [Plan(question="q")], ["t-gw"])
        await _completed(settings, 2)
    app = FastAPI()
    app.include_router(router)
    tokens = "alice:auditor-token-0001:auditor;root:admin-token-00000001:admin;"
    tokens += "sam:submit-token-000001:submitter"
    app.state.gateway = SimpleNamespace(settings=settings, tokens=TokenStore.load(None, tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:

        async def get(task: str, token: str | None) -> httpx.Response:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            return await client.get(f"/v1/tasks/{task}/recordings", headers=headers)

        assert [(await get("t-gw", t)).status_code for t in (None, "submit-token-000001")] == [
            401,
            403,
        ]
        seen = await get("t-gw", "auditor-token-0001")
        assert (await get("t-gw", "admin-token-00000001")).json() == seen.json()
        assert (await get("t-none", "auditor-token-0001")).status_code == 404
        # The task's story, as `agentmesh replay show --json` prints it, to auditors only.
        story_url = "/v1/tasks/t-gw/story"
        denied = await client.get(
            story_url, headers={"Authorization": "Bearer submit-token-000001"}
        )
        assert denied.status_code == 403
        told = await client.get(story_url, headers={"Authorization": "Bearer auditor-token-0001"})
    from agentmesh.core.views._story import read_story

    expected = orjson.loads(orjson.dumps((await read_story(settings, "t-gw")).as_json()))
    assert (told.status_code, told.json()) == (200, expected)
    assert [c["agent"] for c in told.json()["steps"][0]["children"]] == ["worker", "worker"]
    body = seen.json()
    assert seen.status_code == 200
    assert [r["kind"] for r in body["recordings"]].count("step_input") == 5
    [llm] = [r for r in body["recordings"] if r["kind"] == "llm_call"]
    assert (llm["request"]["messages"], llm["response"]["text"]) == (
        [{"role": "user", "content": "split: q"}],
        "sub-question",
    )
