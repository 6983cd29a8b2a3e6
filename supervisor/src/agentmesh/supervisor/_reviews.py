"""A task's parked work and the decisions about it: N-of-M approvals, rejection, timeouts.

Pure: the supervisor feeds requests, decisions and clock ticks in and carries out the
actions that come back (release to the target topic, dead-letter, resume, escalate).
Work parked for the task as a whole (budget, loop, pause) is decided together: approving
one such item releases every one of them, as rejecting one ends them all.

Requests and decisions arrive on different topics, so after a backlog or a restart a
decision can be folded before the request it answers: it is kept (a bounded number per
task) and applied when the request arrives.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_serializer, field_validator

from agentmesh.contracts import ReviewDecision, ReviewRequest, shown_sha256
from agentmesh.core.policy import Policy

__all__ = ["Escalate", "Pending", "Refuse", "Reject", "Release", "ReviewAction", "ReviewBook"]

TASK_LEVEL = ("budget", "loop", "pause")
_MAX_DECIDED = 1024
_MAX_EARLY = 256  # decisions kept for requests not seen yet, per task (oldest dropped)


_BYTES_FIELDS = ("parked_key", "parked_value")


class Pending(BaseModel):
    request: ReviewRequest
    expires_at: datetime
    approvals: dict[str, str | None] = Field(
        default_factory=dict, description="reviewer → edited payload JSON (None: as shown)"
    )

    # The parked bytes are arbitrary binary: base64 in the table's JSON.
    @field_serializer("request", when_used="json")
    def _request_json(self, request: ReviewRequest) -> dict[str, Any]:
        data = request.model_dump(mode="json", exclude=set(_BYTES_FIELDS))
        for name in _BYTES_FIELDS:
            raw = getattr(request, name)
            data[name] = None if raw is None else base64.b64encode(raw).decode()
        return data

    @field_validator("request", mode="before")
    @classmethod
    def _request_from_json(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            for name in _BYTES_FIELDS:
                if isinstance(value.get(name), str):
                    value[name] = base64.b64decode(value[name])
        return value


@dataclass(frozen=True, slots=True)
class Release:
    request: ReviewRequest
    reviewers: tuple[str, ...]
    edited_payload_json: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    request: ReviewRequest
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    request: ReviewRequest  # the re-issued request (escalations + 1, new deadline)


@dataclass(frozen=True, slots=True)
class Refuse:
    decision: ReviewDecision  # does not count: audited with why, the work stays parked
    why: str


ReviewAction = Release | Reject | Escalate | Refuse


class ReviewBook(BaseModel):
    """Everything parked for one task (``reviews`` table, keyed by task id)."""

    task_id: str
    pending: dict[str, Pending] = Field(default_factory=dict)
    decided: dict[str, str] = Field(default_factory=dict, description="review id → outcome")
    early: list[ReviewDecision] = Field(
        default_factory=list, description="decisions folded before their request, in order"
    )
    applied: dict[str, int] = Field(default_factory=dict)

    def seen(self, source: str, offset: int) -> bool:
        return offset <= self.applied.get(source, -1)

    def mark(self, source: str, offset: int) -> None:
        self.applied[source] = offset

    def requested(self, req: ReviewRequest, policy: Policy, now: datetime) -> list[ReviewAction]:
        """New parked work (or the re-issue of an escalated one)."""
        if req.review_id in self.decided:
            return []
        if req.review_id in self.pending:
            # An escalation we issued ourselves: take its new deadline, keep the votes.
            self.pending[req.review_id].request = req
            if req.expires_at is not None:
                self.pending[req.review_id].expires_at = req.expires_at
            return []
        auto = _policy_verdict(req, policy)
        if auto is not None:
            self._decide(req.review_id, "rejected")
            return [Reject(req, "supervisor", auto)]
        expires = req.expires_at or now + timedelta(seconds=policy.reviews.timeout_s)
        self.pending[req.review_id] = Pending(request=req, expires_at=expires)
        return self._early_for(req.review_id)

    def decision(self, dec: ReviewDecision, blocked: str | None = None) -> list[ReviewAction]:
        """Fold a decision; ``blocked`` says why approving the task's budget review could not
        let its work go on (the approval is then refused and the work stays parked)."""
        item = self.pending.get(dec.review_id)
        if item is None:
            if dec.review_id not in self.decided:
                self._keep_early(dec)
            return []  # decided already (a second decision changes nothing), or early
        if dec.shown_sha256 != shown_sha256(item.request):
            why = "it names a different payload than the one parked (shown_sha256 differs)"
            return [Refuse(dec, why)]
        if dec.decision == "reject":
            return self._reject(item, dec.reviewer, f"rejected by {dec.reviewer}: {dec.reason}")
        if blocked is not None and item.request.kind == "budget":
            return [Refuse(dec, blocked)]
        item.approvals[dec.reviewer] = dec.edited_payload_json
        if len(item.approvals) < item.request.required_approvals:
            return []
        return self._release(item, dec.reason)

    def tick(self, now: datetime, policy: Policy) -> list[ReviewAction]:
        """Deadlines: reject or escalate what nobody decided in time."""
        actions: list[ReviewAction] = []
        for item in list(self.pending.values()):
            if item.request.review_id not in self.pending or item.expires_at > now:
                continue
            req = item.request
            if req.on_timeout == "escalate" and req.escalations < policy.reviews.max_escalations:
                again = req.model_copy(
                    update={
                        "escalations": req.escalations + 1,
                        "expires_at": now + timedelta(seconds=policy.reviews.timeout_s),
                        "reason": f"{req.reason} (escalated: no decision by "
                        f"{item.expires_at.isoformat()})",
                    }
                )
                item.request = again
                item.expires_at = again.expires_at or now
                actions.append(Escalate(again))
            else:
                actions += self._reject(
                    item, "supervisor", f"timed out: no decision by {item.expires_at.isoformat()}"
                )
        return actions

    def _keep_early(self, dec: ReviewDecision) -> None:
        # The signature is not checked here, and arbitrary bytes do not fit the table's
        # JSON: kept without it.
        self.early.append(dec.model_copy(update={"signature": None}))
        del self.early[:-_MAX_EARLY]

    def _early_for(self, review_id: str) -> list[ReviewAction]:
        """The decisions that arrived before the request ``review_id``, applied in order."""
        mine = [d for d in self.early if d.review_id == review_id]
        if not mine:
            return []
        self.early = [d for d in self.early if d.review_id != review_id]
        actions: list[ReviewAction] = []
        for dec in mine:
            actions += self.decision(dec)
        return actions

    def due(self, now: datetime) -> bool:
        return any(p.expires_at <= now for p in self.pending.values())

    def _group(self, item: Pending) -> list[Pending]:
        if item.request.kind in TASK_LEVEL:
            return [p for p in self.pending.values() if p.request.kind in TASK_LEVEL]
        return [item]

    def _reject(self, item: Pending, by: str, reason: str) -> list[ReviewAction]:
        actions: list[ReviewAction] = []
        for p in self._group(item):
            self.pending.pop(p.request.review_id, None)
            self._decide(p.request.review_id, "rejected")
            actions.append(Reject(p.request, by, reason))
        return actions

    def _release(self, item: Pending, reason: str) -> list[ReviewAction]:
        actions: list[ReviewAction] = []
        reviewers = tuple(sorted(item.approvals))
        edits = [e for e in item.approvals.values() if e is not None]
        for p in self._group(item):
            self.pending.pop(p.request.review_id, None)
            self._decide(p.request.review_id, "released")
            edited = edits[-1] if p is item and edits else None
            actions.append(Release(p.request, reviewers, edited, reason))
        return actions

    def _decide(self, review_id: str, outcome: str) -> None:
        self.decided[review_id] = outcome
        if self.early:  # e.g. the request went straight to the dead letters by policy
            self.early = [d for d in self.early if d.review_id != review_id]
        while len(self.decided) > _MAX_DECIDED:
            self.decided.pop(next(iter(self.decided)))


def _policy_verdict(req: ReviewRequest, policy: Policy) -> str | None:
    """Work the policy sends straight to the dead-letter topic instead of to a person."""
    if req.kind == "budget" and policy.budgets.on_breach == "dead_letter":
        return f"budget policy: dead-letter on breach ({req.reason})"
    if req.kind == "loop" and policy.loops.on_loop == "dead_letter":
        return f"loop policy: dead-letter on loop ({req.reason})"
    return None
