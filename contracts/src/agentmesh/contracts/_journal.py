"""A completed LLM or tool call, kept so a restarted agent does not pay for it again."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import utcnow

__all__ = ["JournalEntry"]


class JournalEntry(Contract):
    """On ``<ns>.agent.<name>.journal`` (compacted, keyed ``handoff_id/seq``).

    Written as soon as the call returns, outside the step's transaction, and deleted with a
    tombstone inside the transaction that commits the step: only calls of unfinished steps
    stay in the journal.
    """

    task_id: str
    handoff_id: str
    seq: int = Field(ge=0, description="the call's index within the step")
    call_id: str
    kind: Literal["llm", "tool"]
    target: str
    value_json: str = Field(description="the call's result, as JSON")
    recorded_at: AwareDatetime = Field(default_factory=utcnow)
