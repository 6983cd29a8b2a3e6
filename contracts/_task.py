"""A task as submitted: the record of who asked for what, with which budget."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from contracts._base import Contract
from contracts._common import Budget, new_id, utcnow

__all__ = ["TaskSubmitted"]


class TaskSubmitted(Contract):
    """A task accepted into the mesh (written to ``<ns>.tasks``, keyed by task id)."""

    task_id: str = Field(default_factory=new_id)
    tenant: str = "default"
    entry_agent: str = Field(description="the agent that receives the task's first handoff")
    input_json: str = Field(description="the entry agent's input payload, as JSON")
    budget: Budget = Field(default_factory=Budget)
    submitted_at: AwareDatetime = Field(default_factory=utcnow)
    submitted_by: str = "anonymous"
    idempotency_key: str | None = Field(
        default=None, description="a retried submission with the same key is the same task"
    )
    labels: dict[str, str] = Field(default_factory=dict)
