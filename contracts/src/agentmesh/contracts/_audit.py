"""The tamper-evident record of every decision that changed a task's course."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import new_id, utcnow

__all__ = ["AuditDecision", "AuditRecord"]

AuditDecision = Literal[
    "budget_breach",
    "breaker_transition",
    "loop_stop",
    "review_requested",
    "review_released",
    "review_rejected",
    "review_escalated",
    "budget_extended",
    "decision_refused",
    "dead_lettered",
    "kill_switch",
    # A person put a dead letter back on its topic (agentmesh dlq redrive, the gateway).
    "dead_letter_redriven",
    # The chain's writer signed the chain up to the record before this one (its details
    # carry the signed checkpoint); see agentmesh.supervisor._checkpoints.
    "checkpoint",
]


class AuditRecord(Contract):
    """One link of the hash chain of its ``<ns>.audit`` partition."""

    audit_id: str = Field(default_factory=new_id)
    chain: str = Field(description="which chain (one writer per partition)")
    seq: int = Field(ge=0)
    prev_sha256: str = Field(description="hash of the previous record; 64 zeros for the first")
    sha256: str = Field(description="hash over prev_sha256 and this record's content")
    at: AwareDatetime = Field(default_factory=utcnow)
    actor: str
    decision: AuditDecision
    task_id: str | None = None
    subject: str = Field(description="what it was about: task, tool, agent, review id")
    details_json: str = Field(description="the decision's specifics, as a JSON object")
