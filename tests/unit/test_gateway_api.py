"""The gateway's HTTP API over fakes of Kafka and the registry: what it refuses, and what
it writes (broker-free; the same checks against the real broker are in
tests/integration/test_gateway.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentmesh.contracts import (
    Budget,
    Codec,
    Contract,
    Handoff,
    ReviewRequest,
    TaskSubmitted,
    Topics,
    avro_schema,
)
from agentmesh.core.policy import load_policy
from agentmesh.gateway import ReviewItem, shown_hash
from agentmesh.supervisor import TaskLedger
from tests.gateway_helpers import FakeGateway, auth, fake_gateway


class Refund(Contract):
    order: str
    amount: float


INBOXES: dict[str, type[Contract]] = {"payer": Refund}


async def _written(fake: FakeGateway) -> tuple[TaskSubmitted, Handoff[Any]]:
    """The task record and first handoff of the only submission recorded."""
    ((tasks, _, task_value), (inbox, _, handoff_value)) = fake.submitter.writer.transactions[-1]
    topics = fake.state.topics
    assert (tasks, inbox) == (topics.tasks, topics.agent("payer"))
    task = await Codec(TaskSubmitted, Topics.subject(tasks), fake.registry).decode(task_value)
    handoff_codec = Codec(Handoff[Refund], Topics.subject(inbox), fake.registry)
    return task, await handoff_codec.decode(handoff_value)


# -- 1: input that fits the schema but cannot be written ------------------------------------


@pytest.mark.parametrize(
    ("raw_input", "field"),
    [
        (b'{"order": "o-1", "amount": 1000000000000000000000000000000}', "input.amount"),
        (b'{"order": "\\ud800", "amount": 1}', "input.order"),
        (b'{"order": "o-1", "amount": NaN}', "input.amount"),
    ],
)
async def test_input_valid_for_the_schema_but_not_writable_is_422_naming_the_field(
    tmp_path: Path, raw_input: bytes, field: str
) -> None:
    body = b'{"agent": "payer", "input": ' + raw_input + b"}"
    headers = {**auth("sam"), "content-type": "application/json"}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post("/v1/tasks", content=body, headers=headers)
        again = await fake.client.post(
            "/v1/tasks", content=body, headers={**headers, "Idempotency-Key": "k-1"}
        )
        assert fake.submitter.writer.transactions == []
    for response in (r, again):
        assert (response.status_code, response.json()["field"]) == (422, field), response.text
        assert "cannot be written" in response.json()["error"]


async def test_text_fields_with_a_lone_surrogate_are_422_not_500(tmp_path: Path) -> None:
    h = {**auth("sam"), "content-type": "application/json"}
    tenant = b'{"agent": "payer", "input": {"order": "o", "amount": 1}, "tenant": "\\udfff"}'
    label = b'{"agent": "payer", "input": {"order": "o", "amount": 1}, "labels": {"a": "\\ud800"}}'
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r_tenant = await fake.client.post("/v1/tasks", content=tenant, headers=h)
        r_label = await fake.client.post("/v1/tasks", content=label, headers=h)
        assert fake.submitter.writer.transactions == []
    assert (r_tenant.status_code, r_tenant.json()["field"]) == (422, "tenant")
    assert (r_label.status_code, r_label.json()["field"]) == (422, "labels.a")
    assert "lone surrogate" in r_label.json()["error"]


# -- 2 and 3: review decisions --------------------------------------------------------------


def _parked(review_id: str = "r1", approvals: int = 2) -> ReviewItem:
    return ReviewItem(
        ReviewRequest(
            review_id=review_id,
            task_id="t1",
            agent="payer",
            kind="tool_call",
            reason="big refunds need two people",
            target_topic="fake.agent.payer",
            parked_value=b"\x00",
            payload_json='{"amount": 150}',
            required_approvals=approvals,
        )
    )


def _vote(item: ReviewItem, decision: str = "approve") -> dict[str, str]:
    return {"decision": decision, "reason": "checked", "shown_sha256": shown_hash(item.request)}


@pytest.fixture
async def reviews(tmp_path: Path) -> AsyncIterator[FakeGateway]:
    async with fake_gateway(tmp_path) as fake:
        yield fake


async def test_a_rejection_decides_the_item_before_the_supervisor_acts(
    reviews: FakeGateway,
) -> None:
    item = reviews.state.view.items["r1"] = _parked()
    url = "/v1/reviews/r1/decisions"
    first = await reviews.client.post(url, json=_vote(item, "reject"), headers=auth("rita"))
    after = await reviews.client.post(url, json=_vote(item), headers=auth("rob"))
    assert first.status_code == 201
    assert after.status_code == 409
    assert "is decided: rita rejected it" in after.json()["error"]
    assert item.status == "pending"  # the supervisor's rejection has not arrived
    assert len(reviews.producer.sent) == 1


async def test_enough_distinct_approvals_decide_the_item_before_the_supervisor_acts(
    reviews: FakeGateway,
) -> None:
    item = reviews.state.view.items["r1"] = _parked(approvals=2)
    url = "/v1/reviews/r1/decisions"
    codes = [
        (await reviews.client.post(url, json=_vote(item), headers=auth(who))).status_code
        for who in ("rita", "rita", "rob", "root")
    ]
    assert codes == [201, 409, 201, 409]
    late = await reviews.client.post(url, json=_vote(item, "reject"), headers=auth("root"))
    assert late.status_code == 409
    assert "approved by rita, rob (2 distinct approvals needed" in late.json()["error"]
    assert len(reviews.producer.sent) == 2


async def test_approving_a_budget_item_the_supervisor_will_refuse_says_so(
    reviews: FakeGateway,
) -> None:
    # 201 all the same (the supervisor's policy may have changed since it parked the item),
    # but the answer carries what the supervisor said about approving it.
    blocked = "approving cannot let the work go on (steps: used 4, approving would allow 3)"
    budget = _parked("b1", approvals=1)
    budget.request = budget.request.model_copy(update={"kind": "budget"})
    budget.usage = {"task_usage": "steps 4 of 3", "approval_blocked": blocked}
    other = reviews.state.view.items["r1"] = _parked("r1", approvals=1)
    reviews.state.view.items["b1"] = budget
    approved = await reviews.client.post(
        "/v1/reviews/b1/decisions", json=_vote(budget), headers=auth("rita")
    )
    plain = await reviews.client.post(
        "/v1/reviews/r1/decisions", json=_vote(other), headers=auth("rita")
    )
    assert (approved.status_code, approved.json()["likely_refused"]) == (201, blocked)
    assert (plain.status_code, plain.json()["likely_refused"]) == (201, None)


async def test_concurrent_decisions_on_one_item_are_taken_one_at_a_time(
    reviews: FakeGateway,
) -> None:
    views = reviews.state.view.items
    same = views["same"] = _parked("same", approvals=2)
    quorum = views["quorum"] = _parked("quorum", approvals=1)

    async def vote(review_id: str, item: ReviewItem, who: str) -> int:
        url = f"/v1/reviews/{review_id}/decisions"
        return (await reviews.client.post(url, json=_vote(item), headers=auth(who))).status_code

    # One reviewer's retries at once; then two reviewers racing for a 1-of-N item.
    by_rita = await asyncio.gather(*(vote("same", same, "rita") for _ in range(5)))
    racing = await asyncio.gather(*(vote("quorum", quorum, w) for w in ["rita", "rob"] * 3))
    assert sorted(by_rita) == [201] + [409] * 4
    assert sorted(racing) == [201] + [409] * 5
    assert len(reviews.producer.sent) == 2
    assert len(reviews.state.review_locks) == 0  # no lock outlives its decisions


async def test_decisions_wait_until_the_review_queue_has_loaded(tmp_path: Path) -> None:
    async with fake_gateway(tmp_path, reviews_loaded=False) as fake:
        item = _parked()
        url = "/v1/reviews/r1/decisions"
        early = await fake.client.post(url, json=_vote(item), headers=auth("rita"))
        missing = await fake.client.get("/v1/reviews/r1", headers=auth("rita"))
        fake.state.view.items["r1"] = item
        fake.state.view.caught_up.set()
        loaded = await fake.client.post(url, json=_vote(item), headers=auth("rita"))
        unknown = await fake.client.get("/v1/reviews/r2", headers=auth("rita"))
    for r in (early, missing):
        assert r.status_code == 503
        assert r.headers["retry-after"].isdigit()
        assert "still loading" in r.json()["error"]
    assert (loaded.status_code, unknown.status_code) == (201, 404)
    assert len(fake.producer.sent) == 1


# -- 4: a streamed body over the limit -------------------------------------------------------


async def test_a_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent": "payer", "input": {"order": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'", "amount": 1}}'

    headers = {**auth("sam"), "content-type": "application/json"}
    async with fake_gateway(tmp_path, inboxes=INBOXES, max_body_bytes=1000) as fake:
        r = await fake.client.post("/v1/tasks", content=chunks(), headers=headers)
        assert fake.submitter.writer.transactions == []
    assert "content-length" not in r.request.headers  # streamed, length not announced
    assert r.status_code == 413, r.text
    assert "1000-byte limit" in r.json()["error"]


async def test_who_is_asking_is_settled_before_the_body_is_read(tmp_path: Path) -> None:
    broken, json_type = b'{"agent": ', {"content-type": "application/json"}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:

        async def post(headers: dict[str, str]) -> Any:
            return await fake.client.post("/v1/tasks", content=broken, headers=headers)

        nobody = await post(json_type)
        stranger = await post({**json_type, "Authorization": "Bearer not-a-token-000000"})
        known = await post({**json_type, **auth("sam")})
        wrong_role = await fake.client.post(
            "/v1/tasks", json={"agent": "payer", "input": {}}, headers=auth("rita")
        )
        assert fake.submitter.writer.transactions == []
    assert (nobody.status_code, nobody.json()["error"]) == (401, "missing bearer token")
    assert nobody.headers["www-authenticate"] == "Bearer"
    assert (stranger.status_code, stranger.json()["error"]) == (401, "invalid token")
    assert known.status_code == 422  # the caller is known: now its JSON is judged
    assert wrong_role.status_code == 403


# -- 5: Idempotency-Key ---------------------------------------------------------------------


async def test_an_empty_idempotency_key_is_refused_saying_what_a_key_is_for(
    tmp_path: Path,
) -> None:
    body = {"agent": "payer", "input": {"order": "o", "amount": 1}}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        r = await fake.client.post(
            "/v1/tasks", json=body, headers={**auth("sam"), "Idempotency-Key": ""}
        )
        assert fake.submitter.writer.transactions == []
    assert (r.status_code, r.json()["field"]) == (422, "idempotency-key")
    assert "a retry of it is the same task" in r.json()["error"]


async def test_an_idempotency_key_reused_for_a_different_request_is_refused(
    tmp_path: Path,
) -> None:
    headers = {**auth("sam"), "Idempotency-Key": "order-7"}

    def body(amount: float, tenant: str = "default") -> dict[str, Any]:
        return {"agent": "payer", "input": {"order": "o-7", "amount": amount}, "tenant": tenant}

    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        first = await fake.client.post("/v1/tasks", json=body(5), headers=headers)
        retry = await fake.client.post("/v1/tasks", json=body(5.0), headers=headers)
        other_input = await fake.client.post("/v1/tasks", json=body(6), headers=headers)
        other_tenant = await fake.client.post("/v1/tasks", json=body(5, "acme"), headers=headers)
        # At once: the one that is not the same request is refused, not made a duplicate.
        racing = await asyncio.gather(
            fake.client.post(
                "/v1/tasks", json=body(1), headers={**headers, "Idempotency-Key": "k"}
            ),
            fake.client.post(
                "/v1/tasks", json=body(2), headers={**headers, "Idempotency-Key": "k"}
            ),
        )
        assert len(fake.submitter.writer.transactions) == 2
    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry.json() == {**first.json(), "duplicate": True}
    for r in (other_input, other_tenant):
        assert (r.status_code, r.json()["field"]) == (422, "Idempotency-Key")
        assert "used for a different request" in r.json()["error"]
        assert r.json()["detail"] == {"task_id": first.json()["task_id"]}
    assert sorted(r.status_code for r in racing) == [202, 422]


# -- 6: the policy's budget on the first handoff ---------------------------------------------

POLICY = """
budgets:
  default: {max_steps: 5, deadline_s: 600}
  agents:
    payer: {max_tokens: 2000}
  tenants:
    acme: {budget: {max_cost_usd: "0.50", deadline_s: 60}}
"""


async def test_the_first_handoff_carries_the_tightest_of_the_budget_and_the_policy(
    tmp_path: Path,
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    body = {
        "agent": "payer",
        "input": {"order": "o", "amount": 1},
        "tenant": "acme",
        "budget": {"max_steps": 10, "max_tokens": 1000, "max_hops": 3},
    }
    async with fake_gateway(tmp_path, inboxes=INBOXES, policy=policy_file) as fake:
        r = await fake.client.post("/v1/tasks", json=body, headers=auth("sam"))
        assert r.status_code == 202, r.text
        task, handoff = await _written(fake)
    # The task record keeps what was submitted ...
    assert task.budget == Budget(max_steps=10, max_tokens=1000, max_hops=3)
    # ... its first handoff what agents must enforce: field by field the tightest.
    assert handoff.budget == Budget(
        max_steps=5,
        max_tokens=1000,
        max_hops=3,
        max_cost_usd=Decimal("0.50"),
        deadline=task.submitted_at + timedelta(seconds=60),
    )
    # The supervisor's ledger derives the same budget from the task record.
    ledger = TaskLedger(task_id=task.task_id)
    ledger.submitted(task, load_policy(policy_file))
    assert ledger.budget == handoff.budget


async def test_without_a_policy_the_first_handoff_carries_the_submitted_budget(
    tmp_path: Path,
) -> None:
    body = {"agent": "payer", "input": {"order": "o", "amount": 1}, "budget": {"max_steps": 4}}
    async with fake_gateway(tmp_path, inboxes=INBOXES) as fake:
        assert (await fake.client.post("/v1/tasks", json=body, headers=auth("sam"))).is_success
        task, handoff = await _written(fake)
    assert task.budget == handoff.budget == Budget(max_steps=4)


class Order(Contract):
    order: str
    amount: float
    note: str = ""


def test_a_key_names_the_same_request_whichever_client_wrote_it() -> None:
    from agentmesh.gateway._schema_check import fingerprint as _fingerprint

    schema = next(
        f["type"] for f in avro_schema(Handoff[Order])["fields"] if f["name"] == "payload"
    )
    # The CLI's task record holds every field, 5 as 5.0; a client of the gateway may omit
    # defaults and write 5.
    cli = orjson.loads(Order(order="o", amount=5).model_dump_json())
    same = _fingerprint("payer", "default", {"order": "o", "amount": 5}, schema)
    assert _fingerprint("payer", "default", cli, schema) == same
    assert _fingerprint("payer", "default", {"order": "o", "amount": 5.5}, schema) != same
    assert _fingerprint("payer", "acme", cli, schema) != same
