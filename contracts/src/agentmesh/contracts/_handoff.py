"""The envelope every piece of work travels in from one agent to the next."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import Budget, ContextRef, new_id, utcnow

__all__ = ["Handoff", "PayloadT"]

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Handoff(Contract, Generic[PayloadT]):
    """Work handed to an agent (``<ns>.agent.<to_agent>``, keyed by task id).

    The payload is the receiving agent's input model. ``Handoff[PlannerInput]`` is the schema
    registered for the planner's inbox; the checked-in envelope schema has a placeholder
    record ``dev.agentmesh.Payload`` in its place.
    """

    task_id: str
    handoff_id: str = Field(default_factory=new_id)
    parent_id: str | None = Field(default=None, description="the handoff this one came from")
    from_agent: str
    to_agent: str
    hop: int = Field(default=0, ge=0, description="handoffs since the task was submitted")
    created_at: AwareDatetime = Field(default_factory=utcnow)
    tenant: str = "default"
    budget: Budget = Field(default_factory=Budget, description="what remains of the task budget")
    context: list[ContextRef] = Field(default_factory=list)
    idempotency_key: str = Field(
        default_factory=new_id, description="stable across retries: receivers drop repeats"
    )
    payload: PayloadT
