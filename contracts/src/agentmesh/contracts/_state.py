"""An agent's durable memory of one task (for fan-in: what has arrived so far)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import Budget, utcnow

__all__ = ["StepDone", "TaskStateRecord"]


class TaskStateRecord(Contract):
    """On ``<ns>.agent.<name>.state`` (compacted, keyed by task id, co-partitioned with the
    inbox). Written in the transaction of the step that changed it; a tombstone clears it."""

    task_id: str
    agent: str
    state_json: str = Field(description="the state, a JSON object")
    version: int = Field(ge=1, description="how many steps have written it")
    updated_at: AwareDatetime = Field(default_factory=utcnow)
    budget: Budget | None = Field(
        default=None,
        description="what remains of the budgets of this agent's steps of the task that "
        "handed nothing on (a fan-in's parts so far), added to its next step's",
    )


class StepDone(Contract):
    """On ``<ns>.agent.<name>.done`` (compacted and time-retained, keyed by the handoff's
    idempotency key, co-partitioned with the inbox): this input was handled. Written in the
    step's transaction, read back when a worker takes the partition, so a repeat is
    recognised even after a restart."""

    idempotency_key: str
    task_id: str
    handoff_id: str
    done_at: AwareDatetime = Field(default_factory=utcnow)
