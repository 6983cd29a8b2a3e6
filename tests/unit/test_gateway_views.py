"""The gateway's review queue folds records in whatever order its topics deliver them."""

from __future__ import annotations

from agentmesh.contracts import AuditRecord, ReviewDecision, ReviewRequest
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core import Settings
from agentmesh.gateway import ReviewView, shown_hash


def _request() -> ReviewRequest:
    return ReviewRequest(
        review_id="r1",
        task_id="t1",
        agent="payer",
        kind="tool_call",
        reason="rule",
        target_topic="ns.agent.payer",
        parked_value=b"\x00",
        payload_json='{"amount": 150}',
        required_approvals=2,
    )


async def test_decisions_and_outcomes_read_before_their_request_still_count() -> None:
    view = ReviewView(Settings(namespace="ns"), InMemorySchemaRegistry())  # type: ignore[arg-type]
    for codec in (view.requests, view.decisions, view.audit):
        await codec.register()
    request = _request()
    vote = ReviewDecision(
        review_id="r1",
        task_id="t1",
        decision="approve",
        reviewer="rita",
        reason="ok",
        shown_sha256=shown_hash(request),
    )
    outcome = AuditRecord(
        chain="c",
        seq=0,
        prev_sha256="0" * 64,
        sha256="0" * 64,
        actor="supervisor",
        decision="review_released",
        task_id="t1",
        subject="r1",
        details_json="{}",
    )
    # A restarted gateway may read the audit topic and the decisions before the requests.
    await view._apply(view.topics.audit, view.audit.encode(outcome))
    await view._apply(view.topics.review_decisions, view.decisions.encode(vote))
    await view._apply(view.topics.review_requests, view.requests.encode(request))
    item = view.items["r1"]
    assert (item.status, sorted(item.votes)) == ("released", ["rita"])
