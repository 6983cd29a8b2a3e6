"""The review queue read straight from Kafka, and decisions written straight to it.

For `agentmesh review` without a gateway: the queue is folded from ``review.requests``,
``review.decisions`` and the supervisor's ``review_requested``, ``review_released``,
``review_rejected`` and ``decision_refused`` audit records, read to their end once; a
decision gets the gateway's checks (unknown review, decided already, same reviewer twice,
what was shown is what is parked) but no signature: only the gateway holds a signing key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from agentmesh.contracts import (
    AuditRecord,
    Codec,
    ReviewDecision,
    ReviewRequest,
    SchemaRegistry,
    Topics,
    shown_sha256,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import KafkaConnection, make_producer
from agentmesh.core.views._tail import TailRecord, TopicMissing, resolve_topic, tail_kafka

__all__ = [
    "ReviewConflict",
    "ReviewEntry",
    "ReviewError",
    "UnknownReview",
    "decide",
    "fold_reviews",
    "read_reviews",
]

Status = Literal["pending", "released", "rejected"]


class ReviewError(Exception):
    """A decision that cannot be taken; the message says why and what to do."""


class UnknownReview(ReviewError, LookupError):
    """No review with that id in the namespace."""


class ReviewConflict(ReviewError):
    """Decided already, decided by this reviewer already, or not what was shown."""


@dataclass
class ReviewEntry:
    """One parked item, its votes so far, and how it ended (the gateway's queue holds these
    too, so both show an item the same way)."""

    request: ReviewRequest
    votes: dict[str, ReviewDecision] = field(default_factory=dict)
    status: Status = "pending"
    usage: dict[str, Any] = field(default_factory=dict)  # the supervisor's ledger when parked
    outcome: str | None = None
    decided_at: datetime | None = None
    # Decisions the supervisor did not count (``decision_refused``), each with why.
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, found: ReviewDecision | AuditRecord) -> None:
        """Fold a vote, or the supervisor's audit record about this item, into it."""
        if isinstance(found, ReviewDecision):
            if not any(r["decision_id"] == found.decision_id for r in self.refusals):
                self.votes[found.reviewer] = found
        elif found.decision == "decision_refused":
            self._refused(found)
        elif found.decision == "review_requested":
            details = orjson.loads(found.details_json)
            keys = (
                "cost_so_far_usd",
                "tokens_so_far",
                "steps_so_far",
                "task_usage",
                "limits",
                "approval_blocked",
            )
            self.usage = {k: details[k] for k in keys if k in details}
        elif found.decision in ("review_released", "review_rejected"):
            released = found.decision == "review_released"
            self.status = "released" if released else "rejected"
            self.outcome = found.details_json
            self.decided_at = found.at

    def _refused(self, record: AuditRecord) -> None:
        """A vote the supervisor refused does not count: the item stays pending, and the
        reviewer may decide again (e.g. once the policy's extension was raised)."""
        details = orjson.loads(record.details_json)
        refusal = {
            "decision_id": details.get("decision_id"),
            "decision": details.get("decision"),
            "reviewer": details.get("reviewer"),
            "why": details.get("why"),
            "at": record.at.isoformat(),
        }
        if any(r["decision_id"] == refusal["decision_id"] for r in self.refusals):
            return
        self.refusals.append(refusal)
        vote = self.votes.get(str(refusal["reviewer"]))
        if vote is not None and vote.decision_id == refusal["decision_id"]:
            del self.votes[vote.reviewer]

    def reason(self) -> str:
        """Why the work is parked, the task's totals first: an agent parks a budget item on
        its own share of the budget (``tokens used 0 + 239 ..., allowed 69``), which says
        nothing of what the task as a whole has used."""
        r, task = self.request, self.usage.get("task_usage")
        if r.kind != "budget" or not task:
            return r.reason
        return f"the task used {task}; {r.agent} parked its step: {r.reason}"

    def approval_blocked(self) -> str | None:
        """Why approving could not let the work go on, as the supervisor said when it parked
        a budget item (it refuses such an approval, unless its policy changed since)."""
        if self.request.kind != "budget":
            return None
        blocked = self.usage.get("approval_blocked")
        return str(blocked) if blocked else None

    def as_json(self) -> dict[str, Any]:
        """An item as the gateway's ``GET /v1/reviews`` gives it."""
        r = self.request
        return {
            "review_id": r.review_id,
            "task_id": r.task_id,
            "agent": r.agent,
            "kind": r.kind,
            "reason": self.reason(),
            "step_reason": r.reason,  # the parked step's own words
            "requested_at": r.requested_at.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "target_topic": r.target_topic,
            "payload_json": r.payload_json,
            "shown_sha256": shown_sha256(r),
            "cost_so_far_usd": str(r.cost_so_far_usd)
            if r.cost_so_far_usd is not None
            else self.usage.get("cost_so_far_usd"),
            "tokens_so_far": self.usage.get("tokens_so_far"),
            "steps_so_far": self.usage.get("steps_so_far"),
            # The task's totals against its limits when parked, and why approving could not
            # let it go on (budget items; the supervisor refuses such an approval).
            "task_usage": self.usage.get("task_usage"),
            "limits": self.usage.get("limits"),
            "approval_blocked": self.approval_blocked(),
            "tools_called": r.tools_called,
            "trace_id": r.trace_id,
            "required_approvals": r.required_approvals,
            "escalations": r.escalations,
            "approvals": sorted(n for n, d in self.votes.items() if d.decision != "reject"),
            "refusals": self.refusals,
            "status": self.status,
            "outcome": self.outcome,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


def fold_reviews(
    requests: Iterable[ReviewRequest],
    decisions: Iterable[ReviewDecision],
    audit: Iterable[AuditRecord],
) -> dict[str, ReviewEntry]:
    """The queue, from each topic's records in their order: requests first, so a decision
    or an outcome read before its request is never lost."""
    items: dict[str, ReviewEntry] = {}
    for req in requests:
        item = items.get(req.review_id)
        if item is None:
            items[req.review_id] = ReviewEntry(req)
        else:
            item.request = req  # an escalation re-issues it
    for dec in decisions:
        item = items.get(dec.review_id)
        if item is not None:
            item.apply(dec)
    for rec in audit:
        item = items.get(rec.subject)
        if item is not None:
            item.apply(rec)
    return items


async def read_reviews(settings: Settings) -> dict[str, ReviewEntry]:
    """Every review of the namespace as the topics hold it now."""
    names = ("review.requests", "review.decisions", "audit")
    requests, decisions, audit = await asyncio.gather(
        *(_read_models(settings, name) for name in names)
    )
    return fold_reviews(
        [m for m in requests if isinstance(m, ReviewRequest)],
        [m for m in decisions if isinstance(m, ReviewDecision)],
        [m for m in audit if isinstance(m, AuditRecord)],
    )


async def _read_models(settings: Settings, name: str) -> list[object]:
    out: list[object] = []

    def keep(record: TailRecord) -> None:
        if record.model is not None:
            out.append(record.model)

    try:
        await tail_kafka(
            settings, resolve_topic(settings.namespace, name), keep, start="beginning", follow=False
        )
    except TopicMissing:
        return []  # nothing was ever parked in this namespace
    return out


async def decide(
    settings: Settings,
    review_id: str,
    *,
    decision: Literal["approve", "approve_edited", "reject"],
    reviewer: str,
    reason: str,
    edited_payload_json: str | None = None,
    expect_sha256: str | None = None,
) -> tuple[ReviewDecision, ReviewEntry]:
    """Check the item and write the decision to ``review.decisions``, keyed by task id.

    Unsigned: the supervisor accepts it, but only a gateway decision carries a signature.
    """
    items = await read_reviews(settings)
    item = items.get(review_id)
    if item is None:
        raise UnknownReview(
            f"no review {review_id!r} in namespace {settings.namespace} "
            "(`agentmesh review list --status all` lists them)"
        )
    if item.status != "pending":
        raise ReviewConflict(f"review {review_id} was {item.status} already")
    if reviewer in item.votes:
        raise ReviewConflict(
            f"{reviewer} decided review {review_id} already (approvals must come from "
            "different people; --by says who you are)"
        )
    shown = shown_sha256(item.request)
    if expect_sha256 is not None and expect_sha256 != shown:
        raise ReviewConflict(
            "what you were shown is not what is parked (shown_sha256 differs): list the "
            "review again and decide on what it holds now"
        )
    task_id = item.request.task_id
    made = ReviewDecision(
        review_id=review_id,
        task_id=task_id,
        decision=decision,
        reviewer=reviewer,
        reason=reason,
        edited_payload_json=edited_payload_json,
        shown_sha256=shown,
    )
    topic = Topics(settings.namespace).review_decisions
    registry = SchemaRegistry(settings.registry_url)
    try:
        codec = Codec(ReviewDecision, Topics.subject(topic), registry)
        await codec.register()
        producer = make_producer(KafkaConnection.from_settings(settings))
        await producer.start()
        try:
            await producer.send_and_wait(topic, codec.encode(made), key=task_id.encode())
        finally:
            await producer.stop()
    finally:
        await registry.close()
    item.votes[reviewer] = made
    return made, item
