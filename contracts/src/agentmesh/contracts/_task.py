"""A task as submitted: the record of who asked for what, with which budget."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import Budget, new_id, utcnow

__all__ = ["TaskSubmitted", "task_id_for"]

_TASK_IDS = uuid.UUID("0b6f3f8e-6c1d-4d55-9a7e-3f2d7c9e1a44")


def task_id_for(idempotency_key: str) -> str:
    """The task id of a submission with this idempotency key: a retry is the same task,
    whoever submits it (CLI, gateway)."""
    return uuid.uuid5(_TASK_IDS, idempotency_key).hex


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
