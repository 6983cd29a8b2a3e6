"""The live set of control rules every agent instance obeys (from ``<ns>.control``)."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import datetime

from agentmesh.contracts import ControlCommand, utcnow

__all__ = ["RELEASED_AT", "ControlState"]

# When the running step's input was released from review (its record's
# ``agentmesh-released-at`` header): a task pause issued before then does not apply to it.
RELEASED_AT: ContextVar[datetime | None] = ContextVar("agentmesh_released_at", default=None)

_STOPPING = ("cancel", "pause")
_LIFTING = ("resume", "breaker_closed")


class ControlState:
    """Current rules by ``scope:target``; the control topic is compacted the same way."""

    def __init__(self) -> None:
        self._rules: dict[str, ControlCommand] = {}
        self._probes: dict[str, asyncio.Lock] = {}  # per half-open breaker

    def apply(self, key: str, command: ControlCommand | None) -> None:
        """Fold one control record (``None`` is a tombstone) into the state."""
        if command is None or command.action in _LIFTING:
            self._rules.pop(key, None)
        else:
            self._rules[key] = command
        if command is None or command.action != "breaker_half_open":
            self._probes.pop(key, None)

    def _live(self, key: str) -> ControlCommand | None:
        rule = self._rules.get(key)
        if rule is not None and rule.expires_at is not None and rule.expires_at <= utcnow():
            return None
        return rule

    def halting(self, agent: str) -> ControlCommand | None:
        """A kill switch for everything or for this agent, or the agent's open breaker:
        stop consuming, lose nothing."""
        for key in ("global:*", f"agent:{agent}"):
            rule = self._live(key)
            if rule is not None and rule.action in _STOPPING:
                return rule
        rule = self._live(f"agent:{agent}/breaker")
        return rule if rule is not None and rule.action == "breaker_open" else None

    def stopping(self, task_id: str, agent: str, tenant: str = "default") -> ControlCommand | None:
        """The rule that stops this task's next call, if any."""
        halt = self.halting(agent)
        if halt is not None:
            return halt
        released_at = RELEASED_AT.get()
        for key in (f"tenant:{tenant}", f"task:{task_id}"):
            rule = self._live(key)
            if rule is None or rule.action not in _STOPPING:
                continue
            if released_at is not None and rule.action == "pause" and rule.issued_at <= released_at:
                continue  # a reviewer released this input after the pause: it runs
            return rule
        return None

    def breaker(self, scope: str, name: str) -> ControlCommand | None:
        """The open breaker of a tool or model provider (half-open lets probes through)."""
        rule = self._live(f"{scope}:{name}")
        return rule if rule is not None and rule.action == "breaker_open" else None

    def probe(self, scope: str, name: str) -> asyncio.Lock | None:
        """While the breaker of a tool or provider is half-open: the lock its calls from this
        instance take, so they go one at a time (each a probe) until it closes or re-opens."""
        key = f"{scope}:{name}"
        rule = self._live(key)
        if rule is None or rule.action != "breaker_half_open":
            return None
        return self._probes.setdefault(key, asyncio.Lock())
