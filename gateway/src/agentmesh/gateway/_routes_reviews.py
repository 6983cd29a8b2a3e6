"""``/v1/reviews``: the queue of parked work, decisions, and live updates."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from sse_starlette.sse import EventSourceResponse

from agentmesh.contracts import ReviewDecision
from agentmesh.gateway._auth import Identity
from agentmesh.gateway._edits import edit_problem
from agentmesh.gateway._models import DecisionIn, DecisionOut
from agentmesh.gateway._reviews import ReviewItem, decided, shown_hash
from agentmesh.gateway._state import GatewayState, state_of, who

__all__ = ["router"]

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])
_RETRY_AFTER_S = 2
State = Annotated[GatewayState, Depends(state_of)]
Reader = Annotated[Identity, Depends(who("reviewer", "auditor"))]


@router.get("")
async def list_reviews(
    gw: State,
    _: Reader,
    status: Annotated[str, Query(pattern="^(pending|released|rejected|all)$")] = "pending",
) -> list[dict[str, Any]]:
    """Parked work with what a person needs to decide (task, agent, input, tools called,
    cost so far, why it was parked, trace id), oldest first."""
    items = sorted(gw.view.items.values(), key=lambda i: i.request.requested_at)
    return [i.as_json() for i in items if status in ("all", i.status)]


@router.get("/stream", tags=["streams"], response_class=EventSourceResponse)
async def review_updates(gw: State, _: Reader) -> EventSourceResponse:
    """Server-Sent Events: every new or changed review item, as it happens."""
    queue = gw.view.subscribe()

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                item = await queue.get()
                yield {"event": "review", "data": orjson.dumps(item).decode()}
        finally:
            gw.view.unsubscribe(queue)

    return EventSourceResponse(events())


@router.get("/{review_id}")
async def get_review(review_id: str, gw: State, _: Reader) -> dict[str, Any]:
    item = gw.view.items.get(review_id)
    if item is None:
        _loaded(gw)  # before the queue has loaded, a missing item is not a missing review
        raise HTTPException(404, f"no review {review_id!r}")
    return item.as_json()


def _loaded(gw: GatewayState) -> None:
    """503 until the review queue has been read to its end after a (re)start: before, an
    item may be missing, or shown pending when it was released already."""
    if not gw.view.caught_up.is_set():
        raise HTTPException(
            503,
            "the review queue is still loading (this gateway (re)started and is reading the "
            "review and audit topics); retry in a few seconds",
            headers={"Retry-After": str(_RETRY_AFTER_S)},
        )


@router.post("/{review_id}/decisions", status_code=201, response_model=DecisionOut)
async def decide(
    review_id: str,
    body: DecisionIn,
    gw: State,
    identity: Annotated[Identity, Depends(who("reviewer"))],
) -> DecisionOut:
    """Approve, approve with an edited payload, or reject — signed with the gateway's key.

    409 if the item is decided (it holds a rejection or enough distinct approvals, even
    before the supervisor has acted on them), if you decided it before (N-of-M counts
    distinct reviewers), or if what you were shown (`shown_sha256`) is not what is parked;
    503 (with Retry-After) while the review queue is still loading after a restart."""
    _loaded(gw)
    # Check, write and note the vote as one step per item: two requests at once must not
    # both pass the checks before either vote is noted.
    async with gw.review_locks.hold(review_id):
        item = gw.view.items.get(review_id)
        if item is None:
            raise HTTPException(404, f"no review {review_id!r}")
        _check_decidable(item, identity.name, body)
        if body.edited_payload is not None:
            problem = await edit_problem(gw.registry, item.request, body.edited_payload)
            if problem is not None:
                raise HTTPException(422, {"error": problem[1], "field": problem[0]})
        edited = None if body.edited_payload is None else orjson.dumps(body.edited_payload).decode()
        decision = gw.signer.sign(
            ReviewDecision(
                review_id=review_id,
                task_id=item.request.task_id,
                decision=body.decision,
                reviewer=identity.name,
                reason=body.reason,
                edited_payload_json=edited,
                shown_sha256=body.shown_sha256,
            )
        )
        await gw.producer.send_and_wait(
            gw.topics.review_decisions,
            gw.decisions.encode(decision),
            key=item.request.task_id.encode(),
        )
        gw.view.note_vote(decision)
    gw.decided.labels(body.decision).inc()
    signature = decision.signature
    return DecisionOut(
        decision_id=decision.decision_id,
        review_id=review_id,
        task_id=decision.task_id,
        decision=decision.decision,
        reviewer=decision.reviewer,
        reason=decision.reason,
        decided_at=decision.decided_at.isoformat(),
        shown_sha256=decision.shown_sha256,
        edited_payload_json=decision.edited_payload_json,
        key_id=decision.key_id,
        signature_b64=base64.b64encode(signature).decode() if signature else None,
        # Still 201: the supervisor has the last word, and its policy may have changed since.
        likely_refused=item.approval_blocked() if body.decision != "reject" else None,
    )


def _check_decidable(item: ReviewItem, reviewer: str, body: DecisionIn) -> None:
    """409 or 422 if ``reviewer`` may not decide ``item`` as ``body`` says."""
    why = decided(item)
    if why is not None:
        raise HTTPException(409, why)
    if reviewer in item.votes:
        raise HTTPException(
            409,
            f"{reviewer} decided review {item.request.review_id} already (approvals must come "
            "from different reviewers)",
        )
    if body.shown_sha256 != shown_hash(item.request):
        raise HTTPException(
            409, "what you were shown is not what is parked (reload the item and decide again)"
        )
    if (body.decision == "approve_edited") != (body.edited_payload is not None):
        error = "edited_payload goes with approve_edited, and only with it"
        raise HTTPException(422, {"error": error, "field": "edited_payload"})
