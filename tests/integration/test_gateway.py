"""The gateway over real HTTP against the real broker: tasks, auth, bad input, reviews,
signatures, streams, readiness, metrics."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agentmesh.contracts import ReviewDecision, TaskSubmitted, Topics
from agentmesh.core import Settings
from agentmesh.gateway import verify_decision
from tests.apps import governed
from tests.gateway_helpers import auth, serving
from tests.runtime_helpers import running, wait_for
from tests.supervisor_helpers import SupervisorProcess, decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = """
reviews:
  rules:
    - name: big refunds need two people
      tool: refund
      approvals: 2
      field: {path: amount, gt: 100}
"""


@pytest.fixture
async def client(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running(governed.mesh, ["payer"], settings),
        serving(settings, tmp_path) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as c,
    ):
        await wait_for(lambda: _ready(c), timeout=30)
        yield c


async def _ready(c: httpx.AsyncClient) -> bool:
    return (await c.get("/readyz")).status_code == 200


async def _tasks_on_topic(settings: Settings) -> list[TaskSubmitted]:
    return await decoded(settings, Topics(settings.namespace).tasks, TaskSubmitted, None, timeout=2)


async def test_a_task_submitted_over_http_runs_and_a_retry_is_the_same_task(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = {"agent": "payer", "input": {"order": "o-1", "amount": 5}}
    headers = {**auth("sam"), "Idempotency-Key": "order-o-1"}
    first = await client.post("/v1/tasks", json=body, headers=headers)
    again = await client.post("/v1/tasks", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    task_id = first.json()["task_id"]
    assert again.json() == {**first.json(), "duplicate": True}

    async def done() -> bool:
        r = await client.get(f"/v1/tasks/{task_id}", headers=auth("sam"))
        return r.status_code == 200 and r.json()["state"] == "completed"

    await wait_for(done, timeout=30)
    status = (await client.get(f"/v1/tasks/{task_id}", headers=auth("ada"))).json()
    assert status["output"] == {"order": "o-1", "refunded": 5.0}
    assert [t.task_id for t in await _tasks_on_topic(settings)] == [task_id]


async def test_every_call_is_authorized(client: httpx.AsyncClient) -> None:
    body = {"agent": "payer", "input": {"order": "o", "amount": 1}}
    assert (await client.post("/v1/tasks", json=body)).status_code == 401
    bad = {"Authorization": "Bearer not-a-real-token-000000"}
    assert (await client.post("/v1/tasks", json=body, headers=bad)).status_code == 401
    denied = await client.post("/v1/tasks", json=body, headers=auth("rita"))
    assert denied.status_code == 403
    assert "needs role: submitter" in denied.json()["error"]
    assert (await client.get("/v1/reviews", headers=auth("sam"))).status_code == 403
    assert (await client.get("/v1/reviews", headers=auth("rita"))).status_code == 200
    assert (await client.get("/v1/dlq", headers=auth("ada"))).status_code == 200
    pause = {"scope": "agent", "target": "payer", "action": "pause", "reason": "drill"}
    assert (await client.post("/v1/control", json=pause, headers=auth("ada"))).status_code == 403
    assert (await client.post("/v1/control", json=pause, headers=auth("root"))).status_code == 202
    resume = {**pause, "action": "resume"}
    assert (await client.post("/v1/control", json=resume, headers=auth("root"))).status_code == 202
    assert (await client.get("/healthz")).status_code == 200  # no token needed


async def test_bad_input_is_refused_with_the_field_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    h = auth("sam")
    malformed = await client.post(
        "/v1/tasks",
        content=b'{"agent": "payer", "input": ',
        headers={**h, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert "malformed JSON" in malformed.json()["error"]
    wrong_type = await client.post(
        "/v1/tasks", json={"agent": "payer", "input": {"order": 7, "amount": 1}}, headers=h
    )
    assert (wrong_type.status_code, wrong_type.json()["field"]) == (422, "input.order")
    missing = await client.post("/v1/tasks", json={"agent": "payer"}, headers=h)
    assert (missing.status_code, missing.json()["field"]) == (422, "input")
    extra = await client.post(
        "/v1/tasks", json={"agent": "payer", "input": {}, "colour": "red"}, headers=h
    )
    assert (extra.status_code, extra.json()["field"]) == (422, "colour")
    unknown = await client.post("/v1/tasks", json={"agent": "nobody", "input": {}}, headers=h)
    assert unknown.status_code == 404
    assert "payer" in unknown.json()["detail"]["known"]
    huge = await client.post(
        "/v1/tasks", json={"agent": "payer", "input": {"order": "x" * 2_000_000}}, headers=h
    )
    assert huge.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent": "payer", "input": {"order": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'", "amount": 1}}'

    streamed = await client.post(
        "/v1/tasks", content=chunks(), headers={**h, "content-type": "application/json"}
    )
    assert (streamed.status_code, "limit" in streamed.json()["error"]) == (413, True)
    unwritable = await client.post(
        "/v1/tasks", json={"agent": "payer", "input": {"order": "o", "amount": 10**30}}, headers=h
    )
    assert (unwritable.status_code, unwritable.json()["field"]) == (422, "input.amount")
    assert await _tasks_on_topic(settings) == []


async def test_reviews_need_distinct_reviewers_are_signed_and_refuse_a_second_decision(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    s = settings.model_copy(update={"policy": policy})
    sup = SupervisorProcess(s, policy, tmp_path).start()
    await sup.wait_ready()
    try:
        async with (
            running(governed.mesh, ["payer"], s),
            serving(s, tmp_path) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as c,
        ):
            await wait_for(lambda: _ready(c), timeout=30)
            await _review_flow(c, s)
    finally:
        sup.terminate()


async def _review_flow(c: httpx.AsyncClient, s: Settings) -> None:
    body = {"agent": "payer", "input": {"order": "big", "amount": 500}}
    task_id = (await c.post("/v1/tasks", json=body, headers=auth("sam"))).json()["task_id"]

    async def pending() -> list[dict[str, Any]]:
        items = (await c.get("/v1/reviews", headers=auth("rita"))).json()
        return [i for i in items if i["task_id"] == task_id]

    await wait_for(pending, timeout=30)
    (item,) = await pending()
    assert (item["kind"], item["required_approvals"], item["agent"]) == ("tool_call", 2, "payer")
    assert item["shown_sha256"] == hashlib.sha256(item["payload_json"].encode()).hexdigest()
    url = f"/v1/reviews/{item['review_id']}/decisions"
    ok = {
        "decision": "approve",
        "reason": "customer verified",
        "shown_sha256": item["shown_sha256"],
    }
    stale = await c.post(url, json={**ok, "shown_sha256": "0" * 64}, headers=auth("rita"))
    assert stale.status_code == 409
    no_choice = await c.post(
        url, json={"reason": "x", "shown_sha256": item["shown_sha256"]}, headers=auth("rita")
    )
    assert (no_choice.status_code, no_choice.json()["field"]) == (422, "decision")
    # A held tool call cannot be edited: refused before anything is written; still pending.
    edit = {**ok, "decision": "approve_edited", "edited_payload": {"order": "big", "amount": 1}}
    refused = await c.post(url, json=edit, headers=auth("rita"))
    assert (refused.status_code, refused.json()["field"]) == (422, "decision")
    me = (await c.get("/v1/me", headers=auth("rita"))).json()
    assert me == {"name": "rita", "roles": ["reviewer"]}

    async def with_usage() -> bool:
        got = (await c.get(f"/v1/reviews/{item['review_id']}", headers=auth("rita"))).json()
        return got["steps_so_far"] is not None  # the supervisor's ledger, from its audit

    await wait_for(with_usage, timeout=30)
    first = await c.post(url, json=ok, headers=auth("rita"))
    assert first.status_code == 201
    twice = await c.post(url, json=ok, headers=auth("rita"))
    assert (twice.status_code, "already" in twice.json()["error"]) == (409, True)
    assert (await c.post(url, json=ok, headers=auth("rob"))).status_code == 201

    async def completed() -> bool:
        r = await c.get(f"/v1/tasks/{task_id}", headers=auth("sam"))
        return r.status_code == 200 and r.json()["state"] == "completed"

    await wait_for(completed, timeout=30)

    async def released() -> bool:
        got = (await c.get(f"/v1/reviews/{item['review_id']}", headers=auth("rita"))).json()
        return bool(got["status"] == "released")

    await wait_for(released, timeout=30)
    late = await c.post(url, json=ok, headers=auth("root"))
    assert (late.status_code, "released already" in late.json()["error"]) == (409, True)
    # Each decision on the topic carries a valid Ed25519 signature by the gateway's key.
    key = (await c.get("/v1/keys")).json()
    decisions = await decoded(
        s, Topics(s.namespace).review_decisions, ReviewDecision, None, timeout=2
    )
    assert sorted(d.reviewer for d in decisions) == ["rita", "rob"]
    for d in decisions:
        assert d.key_id == key["key_id"]
        assert verify_decision(d, key["public_key_pem"].encode())
        forged = d.model_copy(update={"reason": "something else"})
        assert not verify_decision(forged, key["public_key_pem"].encode())
    # The audit stream shows the release; resuming from its id repeats nothing.
    events = await _sse(
        c, "/v1/audit/stream?from_beginning=true", auth("ada"), until="review_released"
    )
    assert events[-1]["event"] == "review_released"
    after = await _sse(
        c,
        "/v1/audit/stream",
        {**auth("ada"), "Last-Event-ID": events[-1]["id"]},
        until=None,
        wait_s=2,
    )
    seen = {orjson.loads(e["data"])["audit_id"] for e in events}
    assert not seen & {orjson.loads(e["data"])["audit_id"] for e in after}


async def _sse(
    c: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    *,
    until: str | None,
    wait_s: float = 20,
) -> list[dict[str, str]]:
    """Events of a Server-Sent Events stream, until one named ``until`` (or ``wait_s``)."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def read() -> None:
        async with c.stream("GET", url, headers=headers, timeout=None) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if not line.strip():
                    if current:
                        out.append(dict(current))
                        if until is not None and current.get("event") == until:
                            return
                        current.clear()
                    continue
                name, _, value = line.partition(":")
                current[name] = value.strip()

    try:
        await asyncio.wait_for(read(), wait_s)
    except TimeoutError:
        if until is not None:
            raise
    return out


async def test_readiness_names_what_is_unreachable(settings: Settings, tmp_path: Path) -> None:
    down = settings.model_copy(update={"schema_registry_url": "http://127.0.0.1:9/apis/ccompat/v7"})
    async with (
        serving(down, tmp_path, ready=False) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as c,
    ):
        assert (await c.get("/healthz")).status_code == 200
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert "schema registry" in " ".join(ready.json()["detail"])
        refused = await c.post(
            "/v1/tasks", json={"agent": "payer", "input": {}}, headers=auth("sam")
        )
        assert refused.status_code == 503
        assert "not ready" in refused.json()["error"]


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/v1/reviews", headers=auth("rita"))
    text = (await client.get("/metrics")).text
    assert (
        'agentmesh_gateway_request_seconds_count{method="GET",route="/v1/reviews",status="200"}'
        in text
    )


async def test_a_retry_after_a_gateway_restart_is_still_the_same_task(
    settings: Settings, tmp_path: Path
) -> None:
    body = {"agent": "payer", "input": {"order": "o-r", "amount": 2}}
    headers = {**auth("sam"), "Idempotency-Key": "retry-across-restarts"}
    ids = []
    async with running(governed.mesh, ["payer"], settings):
        for _ in range(2):  # two gateway lifetimes
            async with serving(settings, tmp_path) as url, httpx.AsyncClient(base_url=url) as c:
                await wait_for(lambda c=c: _ready(c), timeout=30)
                r = await c.post("/v1/tasks", json=body, headers=headers, timeout=15)
                ids.append((r.status_code, r.json()["task_id"], r.json()["duplicate"]))
    assert ids[0][0] == ids[1][0] == 202
    assert ids[0][1] == ids[1][1]
    assert (ids[0][2], ids[1][2]) == (False, True)
    assert [t.task_id for t in await _tasks_on_topic(settings)] == [ids[0][1]]


async def test_a_task_submitted_over_http_flows_through_the_sample_mesh(
    settings: Settings, tmp_path: Path
) -> None:
    from agentmesh_examples import research

    agents = list(research.mesh.agents)
    async with (
        running(research.mesh, agents, settings),
        serving(settings, tmp_path) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as c,
    ):
        await wait_for(lambda: _ready(c), timeout=30)
        body = {"agent": "planner", "input": {"question": research.DEFAULT_QUESTION}}
        accepted = await c.post("/v1/tasks", json=body, headers=auth("sam"))
        assert accepted.status_code == 202
        events_url = accepted.json()["events_url"]
        # The task's own event stream, live, until the result.
        events = await _sse(c, events_url, auth("sam"), until="task_completed", wait_s=60)
        agents_seen = {orjson.loads(e["data"])["agent"] for e in events}
        assert agents_seen == {"planner", "researcher", "writer", "reviewer"}
        status = (await c.get(accepted.json()["status_url"], headers=auth("ada"))).json()
        assert status["state"] == "completed"
        assert status["hops"] >= 3
        report = status["output"]
        assert report["question"] == research.DEFAULT_QUESTION
        assert report["approved"] is True
        assert report["text"]


async def test_dead_letters_are_listed_with_their_original_bytes(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    import base64

    from tests.runtime_helpers import send_raw

    garbage = b"\x00\xff not avro \xfe"
    await send_raw(settings, Topics(settings.namespace).agent("payer"), garbage, b"t-bad")

    async def listed() -> list[dict[str, Any]]:
        r = await client.get("/v1/dlq", params={"task": "t-bad"}, headers=auth("ada"))
        assert r.status_code == 200, r.text
        return list(r.json())

    await wait_for(listed, timeout=30)
    (letter,) = await listed()
    assert letter["stage"] == "decode"
    assert base64.b64decode(letter["original_value"]) == garbage
    assert letter["original_topic"] == Topics(settings.namespace).agent("payer")


async def test_concurrent_submissions_all_land_and_concurrent_retries_are_one_task(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def submit(i: int, key: str | None) -> httpx.Response:
        headers = auth("sam") if key is None else {**auth("sam"), "Idempotency-Key": key}
        body = {"agent": "payer", "input": {"order": f"c-{i}", "amount": 1}}
        return await client.post("/v1/tasks", json=body, headers=headers)

    many = await asyncio.gather(*(submit(i, None) for i in range(40)))
    assert [r.status_code for r in many] == [202] * 40
    same = await asyncio.gather(*(submit(99, "one-order") for _ in range(10)))
    assert [r.status_code for r in same] == [202] * 10
    assert len({r.json()["task_id"] for r in same}) == 1
    assert sorted(r.json()["duplicate"] for r in same) == [False] + [True] * 9
    on_topic = [t.task_id for t in await _tasks_on_topic(settings)]
    assert len(on_topic) == len(set(on_topic)) == 41
