"""A tenant's spend over a rolling period, in per-minute buckets."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from agentmesh.core.policy import SpendLimit

__all__ = ["TenantSpend"]

_BUCKET_S = 60


class TenantSpend(BaseModel):
    tenant: str
    buckets: dict[int, Decimal] = Field(default_factory=dict, description="minute → USD")
    paused_until: float | None = None
    applied: dict[str, int] = Field(
        default_factory=dict, description="per source partition: the last offset counted"
    )

    def clone(self) -> TenantSpend:
        """A copy to fold into (its dicts copied; what they hold is immutable)."""
        return self.model_copy(
            update={"buckets": dict(self.buckets), "applied": dict(self.applied)}
        )

    def add(self, at: float, usd: Decimal, limit: SpendLimit) -> float | None:
        """Add spend; when the period's total goes over the limit, until when to pause."""
        minute = int(at // _BUCKET_S)
        self.buckets[minute] = self.buckets.get(minute, Decimal(0)) + usd
        horizon = int((at - limit.period_s) // _BUCKET_S)
        for old in [m for m in self.buckets if m <= horizon]:
            del self.buckets[old]
        if self.total() <= limit.usd:
            return None
        if self.paused_until is not None and self.paused_until > at:
            return None  # already paused
        self.paused_until = self._until_under(limit)
        return self.paused_until

    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))

    def _until_under(self, limit: SpendLimit) -> float:
        # The pause lasts until enough of the period's spend has aged out.
        total = self.total()
        for minute in sorted(self.buckets):
            total -= self.buckets[minute]
            if total <= limit.usd:
                return (minute + 1) * _BUCKET_S + limit.period_s
        return max(self.buckets) * _BUCKET_S + limit.period_s
