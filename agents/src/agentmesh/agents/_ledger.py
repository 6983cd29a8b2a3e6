"""What one step has used so far, checked against what remains of the task's budget."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agentmesh.agents._errors import BudgetExceeded
from agentmesh.contracts import Budget, utcnow

__all__ = ["StepLedger"]


@dataclass(slots=True)
class StepLedger:
    """Usage of the current step against the remaining budget carried by its handoff.

    This is the agent's local guard; the supervisor keeps the task-wide ledger across
    agents and fan-out. Checked before each call, so a step overruns by at most the call
    already in flight.
    """

    remaining: Budget
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    steps: int = 0

    def check_before_call(self) -> None:
        b = self.remaining
        if b.deadline is not None and utcnow() >= b.deadline:
            raise BudgetExceeded("deadline", utcnow().isoformat(), b.deadline.isoformat())
        if b.max_steps is not None and self.steps + 1 > b.max_steps:
            raise BudgetExceeded("steps", self.steps + 1, b.max_steps)
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            raise BudgetExceeded("tokens", self.tokens, b.max_tokens)
        if b.max_cost_usd is not None and self.cost_usd >= b.max_cost_usd:
            raise BudgetExceeded("cost_usd", self.cost_usd, b.max_cost_usd)

    def check_hop(self, hop: int) -> None:
        if self.remaining.max_hops is not None and hop > self.remaining.max_hops:
            raise BudgetExceeded("hops", hop, self.remaining.max_hops)

    def add(self, *, tokens: int = 0, cost_usd: Decimal | None = None) -> None:
        self.steps += 1
        self.tokens += tokens
        self.cost_usd += cost_usd or 0

    def after(self) -> Budget:
        """What remains for the handoffs this step emits."""
        b = self.remaining
        return Budget(
            max_tokens=None if b.max_tokens is None else max(0, b.max_tokens - self.tokens),
            max_cost_usd=None
            if b.max_cost_usd is None
            else max(Decimal(0), b.max_cost_usd - self.cost_usd),
            max_steps=None if b.max_steps is None else max(0, b.max_steps - self.steps),
            max_hops=b.max_hops,
            deadline=b.deadline,
        )
