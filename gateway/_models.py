"""Request and response bodies of the HTTP API (they make its OpenAPI document)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BudgetIn",
    "ControlIn",
    "DecisionIn",
    "DecisionOut",
    "ErrorOut",
    "SubmitTask",
    "TaskAccepted",
    "TaskStatus",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetIn(_In):
    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: Decimal | None = Field(default=None, ge=0, max_digits=22, decimal_places=10)
    max_steps: int | None = Field(default=None, ge=0)
    max_hops: int | None = Field(default=None, ge=0)
    deadline_s: float | None = Field(default=None, gt=0, le=30 * 86400)


class SubmitTask(_In):
    agent: str = Field(min_length=1, max_length=63, description="the entry agent")
    input: dict[str, Any] = Field(description="the entry agent's input payload")
    budget: BudgetIn | None = None
    tenant: str = Field(default="default", min_length=1, max_length=128)
    labels: dict[str, str] = Field(default_factory=dict)


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str
    events_url: str
    duplicate: bool = Field(description="true: a retry with the same Idempotency-Key")


class TaskStatus(BaseModel):
    task_id: str
    state: Literal["running", "completed", "failed"]
    hops: int
    steps: int
    llm_calls: int
    tool_calls: int
    tokens: int
    cost_usd: str
    output: Any = None
    failure: str | None = None
    events: list[dict[str, Any]]


class DecisionIn(_In):
    decision: Literal["approve", "approve_edited", "reject"]
    reason: str = Field(min_length=1, max_length=4000, description="required for every choice")
    shown_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the payload JSON the reviewer saw"
    )
    edited_payload: dict[str, Any] | None = Field(
        default=None, description="with approve_edited only: the payload to release instead"
    )


class DecisionOut(BaseModel):
    decision_id: str
    review_id: str
    task_id: str | None
    decision: str
    reviewer: str
    reason: str
    decided_at: str
    shown_sha256: str
    edited_payload_json: str | None
    key_id: str | None
    signature_b64: str | None


class ControlIn(_In):
    scope: Literal["task", "agent", "tenant", "global"]
    target: str = Field(min_length=1, max_length=256, description="'*' for global")
    action: Literal["pause", "resume", "cancel"]
    reason: str = Field(min_length=1, max_length=2000)


class ErrorOut(BaseModel):
    error: str
    field: str | None = None
    detail: Any = None
