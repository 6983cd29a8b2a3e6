"""What a handler returns: handoffs to other agents, the task's result, or nothing yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentmesh.contracts import Budget, ContextRef, Contract

__all__ = ["Outcome", "Outgoing", "normalize"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A handoff the handler asked for, already validated against the receiver's input."""

    to: str
    payload: Contract
    context: tuple[ContextRef, ...] = ()  # references added to what the task carries
    budget: Budget | None = None  # asked for; None: an equal share of what remains


Outcome = Outgoing | Sequence[Outgoing] | Contract | None


def normalize(outcome: Outcome) -> tuple[list[Outgoing], Contract | None]:
    """Split an outcome into (handoffs, result)."""
    if outcome is None:
        return [], None
    if isinstance(outcome, Outgoing):
        return [outcome], None
    if isinstance(outcome, Contract):
        return [], outcome
    items = list(outcome)
    if not all(isinstance(o, Outgoing) for o in items):
        raise TypeError("a handler may return a list of handoffs only (use ctx.handoff)")
    return items, None
