"""Circuit breakers over call outcomes: closed → open → half-open → closed (or open again)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agentmesh.core.policy import BreakerPolicy

__all__ = ["Breaker", "BreakerState", "Transition"]

BreakerState = Literal["closed", "open", "half_open"]


class Transition(BaseModel):
    """A change of state: becomes a control record and an audit record."""

    key: str
    old: BreakerState
    new: BreakerState
    reason: str


class Breaker(BaseModel):
    """One breaker (``tool:<name>``, ``model:<provider>`` or ``agent:<name>``).

    The window holds per-flush buckets ``(at, ok, failed)``: the supervisor counts outcomes
    locally and sends a summary per key every fraction of a second, so a breaker costs one
    update per key and flush rather than one per call.
    """

    key: str
    state: BreakerState = "closed"
    window: list[tuple[float, int, int]] = Field(default_factory=list)
    opened_at: float | None = None
    applied: dict[str, int] = Field(
        default_factory=dict, description="per source partition: the last offset counted"
    )

    def clone(self) -> Breaker:
        """A copy to fold into (its lists and dicts copied; what they hold is immutable)."""
        return self.model_copy(update={"window": list(self.window), "applied": dict(self.applied)})

    def record(self, at: float, ok: int, failed: int, policy: BreakerPolicy) -> Transition | None:
        """Fold a bucket of outcomes observed at ``at`` (seconds since the epoch)."""
        if self.state == "open":
            return None  # calls fail fast while open; stragglers from before say nothing new
        if self.state == "half_open":
            # The probe: the first outcome after the cool-down decides.
            if failed:
                return self._move("open", at, f"probe failed ({failed} of {ok + failed})")
            if ok:
                self.window.clear()
                return self._move("closed", at, "probe succeeded")
            return None
        self.window.append((at, ok, failed))
        self._trim(at, policy)
        total = sum(b[1] + b[2] for b in self.window)
        fails = sum(b[2] for b in self.window)
        if total >= policy.min_calls and fails / total >= policy.failure_rate:
            rate = fails / total
            return self._move(
                "open",
                at,
                f"{fails} of the last {total} calls failed ({rate:.0%} ≥ "
                f"{policy.failure_rate:.0%} within {policy.window_s:g} s)",
            )
        return None

    def tick(self, now: float, policy: BreakerPolicy) -> Transition | None:
        """Time passing: an open breaker whose cool-down is over becomes half-open."""
        if self.due(now, policy):
            return self._move("half_open", now, f"cool-down of {policy.cooldown_s:g} s over")
        return None

    def due(self, now: float, policy: BreakerPolicy) -> bool:
        return (
            self.state == "open"
            and self.opened_at is not None
            and now - self.opened_at >= policy.cooldown_s
        )

    def _trim(self, now: float, policy: BreakerPolicy) -> None:
        horizon = now - policy.window_s
        self.window = [b for b in self.window if b[0] >= horizon]
        # Keep at most window_calls calls, dropping the oldest buckets first.
        while len(self.window) > 1 and sum(b[1] + b[2] for b in self.window[1:]) >= (
            policy.window_calls
        ):
            self.window.pop(0)

    def _move(self, new: BreakerState, at: float, reason: str) -> Transition:
        old = self.state
        self.state = new
        if new == "open":
            self.opened_at = at
            self.window.clear()
        return Transition(key=self.key, old=old, new=new, reason=reason)
