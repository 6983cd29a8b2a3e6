"""Commands that change what agents may do: cancel, pause, kill switch, breaker state."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import new_id, utcnow

__all__ = ["ControlCommand", "ControlScope"]

ControlScope = Literal["task", "agent", "tool", "model", "tenant", "global"]


class ControlCommand(Contract):
    """The current rule for one target (``<ns>.control``, compacted, keyed ``scope:target``)."""

    command_id: str = Field(default_factory=new_id)
    scope: ControlScope
    target: str = Field(description="task id, agent name, tool name, model, or '*' for global")
    action: Literal[
        "cancel", "pause", "resume", "breaker_open", "breaker_half_open", "breaker_closed"
    ]
    reason: str
    issued_by: str
    issued_at: AwareDatetime = Field(default_factory=utcnow)
    expires_at: AwareDatetime | None = None
    review_kind: Literal["budget", "loop", "pause"] | None = Field(
        default=None,
        description="a pause: what the work it parks is waiting for (shown to reviewers)",
    )

    @property
    def key(self) -> str:
        """The compaction key: one live rule per target."""
        return f"{self.scope}:{self.target}"
