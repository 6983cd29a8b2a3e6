"""Breakers and tenant spend: outcome and spend summaries, folded per breaker or tenant.

The ``govern`` agent counts outcomes and spend as it folds events (``observe``); a timer
sends them as one summary per key every fraction of a second (``flush``), and the
``aggregate`` agent folds the summaries, keyed by breaker or tenant, into their tables.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from agentmesh.policy import Policy
from contracts import AgentEvent, LlmCall, StepFinished, TaskFailed, ToolCall
from supervisor._breakers import Breaker, Transition
from supervisor._outputs import ACTOR, Outputs
from supervisor._spend import TenantSpend

__all__ = ["Aggregator"]

# Failures that say nothing about an agent's health (they are decisions, not faults).
_NOT_AGENT_FAULTS = frozenset(
    {"Cancelled", "ToolBreakerOpen", "StepStopped", "BudgetExceeded", "ReviewRejected"}
)


class Aggregator:
    def __init__(self, policy: Policy, signals_topic: str, breakers: Any, spend: Any) -> None:
        self.policy = policy
        self.signals_topic = signals_topic
        self.breakers = breakers
        self.spend = spend
        self.out: Outputs | None = None  # set once the supervisor's outputs exist
        self._outcomes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._spend: dict[str, Decimal] = defaultdict(Decimal)

    def observe(self, event: AgentEvent) -> None:
        """Count outcomes for breakers and spend for tenants (sent in summaries)."""
        body = event.body
        if isinstance(body, LlmCall) and not body.replayed:
            self._outcomes[f"model:{body.provider}"][0 if body.status == "ok" else 1] += 1
            if body.cost_usd:
                self._spend[event.tenant] += body.cost_usd
        elif isinstance(body, ToolCall) and not body.replayed:
            if body.status in ("ok", "error", "timeout"):
                self._outcomes[f"tool:{body.tool}"][0 if body.status == "ok" else 1] += 1
        elif isinstance(body, StepFinished) and body.outcome in ("handoff", "result", "waiting"):
            self._outcomes[f"agent:{event.agent}"][0] += 1
        elif (
            isinstance(body, TaskFailed)
            and event.agent != ACTOR
            and body.error_class not in _NOT_AGENT_FAULTS
        ):
            self._outcomes[f"agent:{event.agent}"][1] += 1

    async def flush(self) -> None:
        """Send what was counted since the last flush, one summary per key."""
        out = self.out
        if out is None:
            return
        outcomes, self._outcomes = self._outcomes, defaultdict(lambda: [0, 0])
        spend, self._spend = self._spend, defaultdict(Decimal)
        at = time.time()
        for key, (ok, failed) in outcomes.items():
            payload = {"k": "outcome", "key": key, "at": at, "ok": ok, "failed": failed}
            await out.send(self.signals_topic, key.encode(), orjson.dumps(payload))
        for tenant, usd in spend.items():
            if (
                tenant in self.policy.budgets.tenants
                and self.policy.budgets.tenants[tenant].spend_limit
            ):
                payload = {"k": "spend", "key": f"tenant:{tenant}", "at": at, "usd": str(usd)}
                await out.send(
                    self.signals_topic, f"tenant:{tenant}".encode(), orjson.dumps(payload)
                )

    def _out(self) -> Outputs:
        assert self.out is not None, "the supervisor sets outputs before any signal arrives"
        return self.out

    async def aggregate(self, signal: dict[str, Any], cause: str) -> None:
        key: str = signal["key"]
        if signal["k"] == "spend":
            await self._add_spend(key, signal, cause)
            return
        breaker: Breaker = self.breakers.get(key) or Breaker(key=key)
        if signal["k"] == "tick":
            change = breaker.tick(time.time(), self.policy.breakers)
        else:
            change = breaker.record(
                signal["at"], signal["ok"], signal["failed"], self.policy.breakers
            )
        self.breakers[key] = breaker
        if change is not None:
            await self._transition(change, cause)

    async def _transition(self, change: Transition, cause: str) -> None:
        scope, _, name = change.key.partition(":")
        target = f"{name}/breaker" if scope == "agent" else name
        action = {
            "open": "breaker_open",
            "half_open": "breaker_half_open",
            "closed": "breaker_closed",
        }[change.new]
        out = self._out()
        await out.command(scope, target, action, change.reason, cause=cause)
        await out.audit(
            "breaker_transition",
            cause=cause,
            subject=change.key,
            task_id=None,
            details={"from": change.old, "to": change.new, "reason": change.reason},
        )

    async def _add_spend(self, key: str, signal: dict[str, Any], cause: str) -> None:
        tenant = key.removeprefix("tenant:")
        tenant_policy = self.policy.budgets.tenants.get(tenant)
        if tenant_policy is None or tenant_policy.spend_limit is None:
            return
        spend: TenantSpend = self.spend.get(key) or TenantSpend(tenant=tenant)
        until = spend.add(signal["at"], Decimal(signal["usd"]), tenant_policy.spend_limit)
        self.spend[key] = spend
        if until is None:
            return
        limit = tenant_policy.spend_limit
        reason = (
            f"budget: tenant {tenant!r} spent {spend.total()} USD in {limit.period_s:g} s, "
            f"over its limit of {limit.usd} USD"
        )
        out = self._out()
        await out.command(
            "tenant",
            tenant,
            "pause",
            reason,
            cause=cause,
            expires_at=datetime.fromtimestamp(until, UTC),
            review_kind="budget",
        )
        await out.audit(
            "budget_breach",
            cause=cause,
            subject=f"tenant:{tenant}",
            task_id=None,
            details={
                "reason": reason,
                "paused_until": datetime.fromtimestamp(until, UTC).isoformat(),
            },
        )
