"""What one step has used so far, checked against what remains of the task's budget."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from agentmesh.agents._errors import BudgetExceeded
from agentmesh.agents._estimate import CallEstimate
from agentmesh.contracts import Budget, utcnow

__all__ = ["StepLedger"]


@dataclass(slots=True)
class StepLedger:
    """Usage of the current step against the remaining budget carried by its handoff.

    This is the agent's local guard; the supervisor keeps the task-wide ledger across
    agents and fan-out. Checked before each call; a model call is also capped to what
    remains (:meth:`check_llm_call`), so it cannot spend past it.
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

    def check_llm_call(self, estimate: CallEstimate) -> int | None:
        """The most output tokens a model call may produce, given its input (``None``: no
        limit); refuse it when what remains cannot cover its input and one output token."""
        self.check_before_call()
        caps = [c for c in (self._token_cap(estimate), self._cost_cap(estimate)) if c is not None]
        return min(caps, default=None)

    def _token_cap(self, estimate: CallEstimate) -> int | None:
        allowed = self.remaining.max_tokens
        if allowed is None:
            return None
        cap = allowed - self.tokens - estimate.input_tokens
        if cap < 1:
            used = f"{self.tokens} + {estimate.input_tokens + 1} for the next call at least"
            raise BudgetExceeded("tokens", used, allowed)
        return cap

    def _cost_cap(self, estimate: CallEstimate) -> int | None:
        allowed = self.remaining.max_cost_usd
        per_input, per_output = estimate.input_usd_per_token, estimate.output_usd_per_token
        if allowed is None or per_input is None or per_output is None:
            return None  # an unpriced model's calls are not counted in cost either
        left = allowed - self.cost_usd - per_input * estimate.input_tokens
        if per_output == 0:
            cap = None if left >= 0 else 0
        else:
            cap = int((left / per_output).to_integral_value(rounding=ROUND_FLOOR))
        if cap is not None and cap < 1:
            needed = per_input * estimate.input_tokens + per_output
            used = f"{self.cost_usd} + {needed} for the next call at least"
            raise BudgetExceeded("cost_usd", used, allowed)
        return cap

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
