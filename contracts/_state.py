"""An agent's durable memory of one task (for fan-in: what has arrived so far)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from contracts._base import Contract
from contracts._common import utcnow

__all__ = ["TaskStateRecord"]


class TaskStateRecord(Contract):
    """On ``<ns>.agent.<name>.state`` (compacted, keyed by task id, co-partitioned with the
    inbox). Written in the transaction of the step that changed it; a tombstone clears it."""

    task_id: str
    agent: str
    state_json: str = Field(description="the state, a JSON object")
    version: int = Field(ge=1, description="how many steps have written it")
    updated_at: AwareDatetime = Field(default_factory=utcnow)
