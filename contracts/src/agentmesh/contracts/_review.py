"""Work parked for a person, and what the person decided."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract, Usd
from agentmesh.contracts._common import new_id, utcnow
from agentmesh.contracts._deadletter import Header

__all__ = ["ReviewDecision", "ReviewRequest", "shown_sha256"]


class ReviewRequest(Contract):
    """Work held until people approve it (``<ns>.review.requests``, keyed by review id)."""

    review_id: str = Field(default_factory=new_id)
    task_id: str
    agent: str
    kind: Literal["handoff", "tool_call", "budget", "loop", "pause"]
    reason: str = Field(description="the policy rule that parked it, in words")
    requested_at: AwareDatetime = Field(default_factory=utcnow)
    target_topic: str = Field(description="where the parked message goes when approved")
    parked_key: bytes | None = None
    parked_value: bytes = Field(description="the parked message, exactly as it would be sent")
    parked_headers: list[Header] = Field(
        default_factory=list,
        description="its headers (a claim-checked message's ticket header among them)",
    )
    payload_json: str = Field(description="what the reviewer is shown")
    cost_so_far_usd: Usd | None = None
    tools_called: list[str] = Field(default_factory=list)
    trace_id: str | None = None
    required_approvals: int = Field(default=1, ge=1)
    expires_at: AwareDatetime | None = None
    on_timeout: Literal["reject", "escalate"] = "reject"
    escalations: int = Field(default=0, ge=0, description="times its deadline passed unanswered")


class ReviewDecision(Contract):
    """A person's decision (``<ns>.review.decisions``, keyed by review id)."""

    decision_id: str = Field(default_factory=new_id)
    review_id: str
    task_id: str | None = Field(
        default=None, description="the parked work's task (decisions are keyed by it)"
    )
    decision: Literal["approve", "approve_edited", "reject"]
    reviewer: str
    reason: str
    decided_at: AwareDatetime = Field(default_factory=utcnow)
    edited_payload_json: str | None = None
    shown_sha256: str = Field(description="hash of exactly what the reviewer was shown")
    signature: bytes | None = Field(default=None, description="Ed25519 over the decision")
    key_id: str | None = None


def shown_sha256(request: ReviewRequest) -> str:
    """The SHA-256 of what reviewers are shown of parked work (its payload JSON): a decision
    names it, so a decision about something else than what is parked does not count."""
    return hashlib.sha256(request.payload_json.encode()).hexdigest()
