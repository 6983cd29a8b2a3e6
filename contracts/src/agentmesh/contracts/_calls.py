"""Which of a task's model and tool call events count: every paid call exactly once.

An agent writes a call's event as soon as the call returns, outside the step's transaction,
and records the answer in its journal. When a step runs again (after a crash, or released
from review) its journaled calls are answered from the journal and written again with
``replayed=true``. So a call can have its original event and any number of replays, or,
when the agent died between the journal write and the event, replays only. The rule, used
by the supervisor's ledger, breakers and spend and by every timeline (`task show`, the
gateway), is one:

- an event that is not replayed reports a call that was made: it counts;
- a replayed event counts only when it is the first event of its call in the step's run
  (the original event was lost), and never again after that;
- a fallback member's failed attempt (``attempt_of``) is part of its chain's one call: it
  never counts as a call of its own.

Calls are told apart by ``call_id`` (``<handoff id>:<seq>``). A step's calls are forgotten
once the step is finished (any outcome but ``review``: a parked step runs again when
released and replays its calls), so the tally stays as small as the steps in flight.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentmesh.contracts._events import LlmCall, StepFinished, ToolCall

__all__ = ["CallTally"]

# Replayed first events are rare (an agent killed between two writes); the most recent are
# the ones a redelivery can ask about again.
_MAX_REPLAYS = 64


class CallTally(BaseModel):
    """What one task's call events have counted so far (a small value, kept with a ledger)."""

    open: dict[str, list[str]] = Field(
        default_factory=dict, description="per unfinished step (handoff id): its calls seen"
    )
    replays: dict[str, int] = Field(
        default_factory=dict,
        description="call id → position of the replayed event that counted for it",
    )

    def clone(self) -> CallTally:
        return CallTally(
            open={k: list(v) for k, v in self.open.items()}, replays=dict(self.replays)
        )

    def count(self, body: LlmCall | ToolCall, position: int | None = None) -> bool:
        """Fold the event at ``position`` in: True when it counts as a call."""
        if isinstance(body, LlmCall) and body.attempt_of is not None:
            return False
        step, _, seq = body.call_id.rpartition(":")
        seen = self.open.setdefault(step, [])
        first = seq not in seen
        if first:
            seen.append(seq)
        if not body.replayed:
            return True
        known = self.replays.get(body.call_id)
        if known is not None and (known == position or not first):
            return known == position  # the one that counted, folded again; or a repeat
        if first and position is not None:
            # (A known call seen first again is a new run of a finished step: a redrive.)
            self.replays[body.call_id] = position
            while len(self.replays) > _MAX_REPLAYS:
                self.replays.pop(next(iter(self.replays)))
        return first

    def counted(self, body: LlmCall | ToolCall, position: int) -> bool:
        """Whether the event at ``position``, folded in before, counted (no change)."""
        if isinstance(body, LlmCall) and body.attempt_of is not None:
            return False
        return not body.replayed or self.replays.get(body.call_id) == position

    def finished(self, step: StepFinished) -> None:
        """The step is over: its calls cannot be replayed any more."""
        if step.outcome != "review":
            self.open.pop(step.handoff_id, None)
