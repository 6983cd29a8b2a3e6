"""The gateway checks a task's input as the agent will (broker-free, over the fake gateway):
by the entry agent's own model when it has the mesh (AGENTMESH_APP), else by the
registered schema; errors name the field as the user wrote it. Also: an undecodable body,
control characters in Idempotency-Key and Last-Event-ID positions beyond Kafka's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentmesh.contracts import Codec, TaskSubmitted, Topics
from agentmesh.core.submission import InputRejected, check_input
from agentmesh.gateway import parse_positions
from agentmesh_examples.research import ResearchQuestion
from tests.gateway_helpers import auth, fake_gateway

INBOXES: dict[str, Any] = {"planner": ResearchQuestion}
RESEARCH = "agentmesh_examples.research:mesh"


async def _refusal(tmp_path: Path, body: dict[str, Any]) -> tuple[int, Any]:
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post("/v1/tasks", json=body, headers=auth("sam"))
        assert fake.submitter.writer.transactions == []
    return r.status_code, r.json()


@pytest.mark.parametrize(
    "given",
    [
        {"question": ""},
        {"question": "q", "max_subquestions": 99},
        {"question": "q", "colour": "red"},
        {"question": 5, "max_revisions": -1},
        {},
    ],
)
async def test_with_the_mesh_the_gateway_refuses_what_the_agent_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: dict[str, Any]
) -> None:
    monkeypatch.setenv("AGENTMESH_APP", RESEARCH)
    status, body = await _refusal(tmp_path, {"agent": "planner", "input": given})
    # The same function as `agentmesh task submit` and agents.Submitter: the same verdict.
    with pytest.raises(InputRejected) as same:
        check_input(ResearchQuestion, given)
    assert (status, body) == (
        422,
        {"error": str(same.value), "field": same.value.field, "detail": same.value.as_dicts()},
    )


async def test_with_the_mesh_accepted_input_is_recorded_as_the_model_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMESH_APP", RESEARCH)
    body = {"agent": "planner", "input": {"question": "why?", "max_subquestions": 2}}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post("/v1/tasks", json=body, headers=auth("sam"))
        ((tasks, _, value), _) = fake.submitter.writer.transactions[-1]
        codec = Codec(TaskSubmitted, Topics.subject(tasks), fake.registry)
        task = await codec.decode(value)
    assert r.status_code == 202, r.text
    assert orjson.loads(task.input_json) == {
        "question": "why?",
        "max_subquestions": 2,
        "max_revisions": 2,
    }


@pytest.mark.parametrize(
    ("given", "field", "error"),
    [
        ({}, "input.question", "Field required"),
        ({"question": "q", "colour": "red"}, "input.colour", "Extra inputs are not permitted"),
        ({"question": 5}, "input.question", "Input should be a string (got 5)"),
        (
            {"question": "q", "max_subquestions": 2.5},
            "input.max_subquestions",
            "Input should be an integer (got 2.5)",
        ),
    ],
)
async def test_without_the_mesh_the_registered_schema_names_the_users_field(
    tmp_path: Path, given: dict[str, Any], field: str, error: str
) -> None:
    status, body = await _refusal(tmp_path, {"agent": "planner", "input": given})
    assert (status, body) == (
        422,
        {
            "error": f"{field}: {error}",
            "field": field,
            "detail": [{"field": field, "error": error}],
        },
    )


async def test_a_body_that_is_not_utf8_is_422_like_any_bad_body(tmp_path: Path) -> None:
    headers = {**auth("sam"), "content-type": "application/json"}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post(
            "/v1/tasks", content=b'{"agent": "planner\xff"}', headers=headers
        )
    assert r.status_code == 422
    assert r.json() == {
        "error": "malformed body: not JSON text in UTF-8 ('utf-8' codec can't decode byte 0xff "
        "in position 18: invalid start byte); send UTF-8 encoded JSON",
        "field": None,
        "detail": None,
    }


@pytest.mark.parametrize("key", ["order\x0142", "order\x7f", "order\x85"])
async def test_an_idempotency_key_with_a_control_character_is_refused(
    tmp_path: Path, key: str
) -> None:
    body = {"agent": "planner", "input": {"question": "q"}}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post(
            "/v1/tasks",
            json=body,
            # HTTP headers are bytes; servers read them as Latin-1.
            headers=[
                *((k.encode(), v.encode()) for k, v in auth("sam").items()),
                (b"idempotency-key", key.encode("latin-1")),
            ],
        )
        assert fake.submitter.writer.transactions == []
    assert (r.status_code, r.json()["field"]) == (422, "idempotency-key")
    assert r.json()["error"].startswith("idempotency-key: holds a control character (")


def test_positions_beyond_what_kafka_holds_are_malformed() -> None:
    top = 2**63 - 1
    assert parse_positions(f"0:{top},2147483647:1") == {0: top, 2147483647: 1}
    for bad in (f"0:{top + 1}", "2147483648:1", "²:1", "0:" + "9" * 5000, "-1:3", "0:-1"):
        assert parse_positions(bad) == {}, bad
