"""Request and response bodies of the HTTP API (they make its OpenAPI document)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentmesh.gateway._json import text_problem, unencodable

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


def _writable_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _writable_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    found = unencodable(value)
    if found is not None:
        raise ValueError(found[1])
    return value


# JSON parses a lone surrogate ("\ud800") into a str that cannot be written as UTF-8: a
# 422 here, not a 500 when the record is encoded.
Text = Annotated[str, AfterValidator(_writable_text)]


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
    tenant: Text = Field(default="default", min_length=1, max_length=128)
    labels: dict[Text, Text] = Field(default_factory=dict)


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str
    events_url: str
    duplicate: bool = Field(description="true: a retry with the same Idempotency-Key")


class TaskStatus(BaseModel):
    task_id: str
    state: Literal["running", "completed", "failed"]
    hops: int
    steps: int = Field(description="LLM calls plus tool calls: what the budget's max_steps limits")
    llm_calls: int
    tool_calls: int
    agent_runs: int = Field(description="inputs an agent finished handling (step_finished events)")
    tokens: int
    cost_usd: str
    budget: dict[str, Any] | None = Field(
        default=None,
        description="the supervisor's ledger: status, used and limits (null: no supervisor "
        "has seen the task)",
    )
    output: Any = None
    failure: str | None = None
    events: list[dict[str, Any]]


class DecisionIn(_In):
    decision: Literal["approve", "approve_edited", "reject"]
    reason: Text = Field(min_length=1, max_length=4000, description="required for every choice")
    shown_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the payload JSON the reviewer saw"
    )
    edited_payload: Annotated[dict[str, Any] | None, AfterValidator(_writable_json)] = Field(
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
    likely_refused: str | None = Field(
        None,
        description="For an approval of a budget item: why the supervisor will likely refuse "
        "it (the item's approval_blocked); the refusal then shows on the item.",
    )


class ControlIn(_In):
    scope: Literal["task", "agent", "tenant", "global"]
    target: Text = Field(min_length=1, max_length=256, description="'*' for global")
    action: Literal["pause", "resume", "cancel"]
    reason: Text = Field(min_length=1, max_length=2000)


class ErrorOut(BaseModel):
    error: str
    field: str | None = None
    detail: Any = None
