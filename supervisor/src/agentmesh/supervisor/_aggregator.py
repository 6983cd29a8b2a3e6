"""Breakers and tenant spend: outcome and spend summaries, folded per breaker or tenant.

The ``govern`` agent counts outcomes and spend as it folds events (``observe``); a timer
sends them as one summary per key every fraction of a second (``flush``), and the
``aggregate`` agent folds the summaries, keyed by breaker or tenant, into their tables.

Exactly once, like the ledgers: every summary names the events it counts by position
(``agentmesh.supervisor._positions``) and each breaker and tenant keeps the last position it applied
per source partition, so a summary or an event delivered again adds nothing. Nothing is
lost either: the supervisor's consumer sends what is counted but not yet sent before it
commits input offsets (``agentmesh.supervisor._faust_overrides.before_commit``), and an
event delivered again after a crash is counted again even when its ledger had already
folded it. Which call events count is the task's ``CallTally``'s to say, as for the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from agentmesh.contracts import (
    AgentEvent,
    CallTally,
    LlmCall,
    StepFinished,
    TaskFailed,
    ToolCall,
)
from agentmesh.core.policy import Policy, SpendLimit
from agentmesh.supervisor._breakers import Breaker, Transition
from agentmesh.supervisor._metrics import breached, breaker_moved
from agentmesh.supervisor._outputs import ACTOR, Outputs
from agentmesh.supervisor._positions import Entries, fresh, merge, parts
from agentmesh.supervisor._spend import TenantSpend

__all__ = ["Aggregator"]

log = logging.getLogger(__name__)

# Failures that say nothing about an agent's health (they are decisions, not faults).
_NOT_AGENT_FAULTS = frozenset(
    {"Cancelled", "ToolBreakerOpen", "StepStopped", "BudgetExceeded", "ReviewRejected"}
)
_TENANT = "tenant:"


def _an_outcome(body: LlmCall | ToolCall, offset: int, calls: CallTally) -> bool:
    # A fallback member's failed attempt is no call of the task's, but it is an outcome of
    # its provider (never replayed: only the chain's answer is journaled).
    if isinstance(body, LlmCall) and body.attempt_of is not None:
        return True
    return calls.counted(body, offset)


class Aggregator:
    def __init__(self, policy: Policy, signals_topic: str, breakers: Any, spend: Any) -> None:
        self.policy = policy
        self.signals_topic = signals_topic
        self.breakers = breakers
        self.spend = spend
        self.out: Outputs | None = None  # set once the supervisor's outputs exist
        # key (breaker or tenant:<name>) → what was counted since the last flush; an
        # outcome entry's value is 0 (ok) or 1 (failed), a spend entry's the USD as text.
        self._pending: dict[str, Entries] = {}
        self._flushing = asyncio.Lock()

    def observe(self, event: AgentEvent, partition: int, offset: int, calls: CallTally) -> None:
        """Count the outcome and spend of the event at ``partition``/``offset`` of events;
        ``calls`` (its task's, with the event folded in) says whether a call event counts."""
        body = event.body
        source = str(partition)
        if isinstance(body, LlmCall | ToolCall) and not _an_outcome(body, offset, calls):
            return
        if isinstance(body, LlmCall):
            self._count(f"model:{body.provider}", source, offset, int(body.status != "ok"))
            if body.cost_usd and self._limited(event.tenant):
                self._count(f"{_TENANT}{event.tenant}", source, offset, str(body.cost_usd))
        elif isinstance(body, ToolCall):
            if body.status in ("ok", "error", "timeout"):
                self._count(f"tool:{body.tool}", source, offset, int(body.status != "ok"))
        elif isinstance(body, StepFinished) and body.outcome in ("handoff", "result", "waiting"):
            self._count(f"agent:{event.agent}", source, offset, 0)
        elif (
            isinstance(body, TaskFailed)
            and event.agent != ACTOR
            and body.error_class not in _NOT_AGENT_FAULTS
        ):
            self._count(f"agent:{event.agent}", source, offset, 1)

    def _count(self, key: str, source: str, offset: int, value: Any) -> None:
        self._pending.setdefault(key, {}).setdefault(source, []).append([offset, value])

    def _limited(self, tenant: str) -> bool:
        found = self.policy.budgets.tenants.get(tenant)
        return found is not None and found.spend_limit is not None

    async def flush(self) -> None:
        """Send what was counted since the last flush, one summary per key.

        Also called before every commit of input offsets: when it returns, every event
        folded so far is counted in a summary on its way to Kafka (faust then flushes its
        producer, then commits). What could not be sent stays for the next flush.
        """
        out = self.out
        if out is None:
            return
        async with self._flushing:  # a commit waits for the timer's flush in progress
            batch, self._pending = self._pending, {}
            at = time.time()
            try:
                for key in list(batch):
                    kind = "spend" if key.startswith(_TENANT) else "outcome"
                    for part in parts(batch[key]):
                        payload = {"k": kind, "key": key, "at": at, "src": part}
                        await out.send(self.signals_topic, key.encode(), orjson.dumps(payload))
                    del batch[key]
            except BaseException:
                # Sent again with the next flush, ahead of what was counted meanwhile (in
                # offset order); whatever of it did go out is skipped by position.
                for key, src in self._pending.items():
                    merge(batch.setdefault(key, {}), src)
                self._pending = batch
                raise

    async def flush_on_timer(self) -> None:
        """The timer's flush: a failure is retried on the next tick, nothing is dropped."""
        try:
            await self.flush()
        except Exception:
            log.warning("sending outcome and spend summaries failed; retrying", exc_info=True)

    def _out(self) -> Outputs:
        assert self.out is not None, "the supervisor sets outputs before any signal arrives"
        return self.out

    async def aggregate(self, signal: dict[str, Any], cause: str) -> None:
        key: str = signal["key"]
        if signal["k"] == "spend":
            await self._add_spend(key, signal, cause)
            return
        stored: Breaker | None = self.breakers.get(key)
        # Folded into a copy, stored once its outputs went out: a retried signal is neither
        # counted twice nor is its transition lost.
        breaker = Breaker(key=key) if stored is None else stored.clone()
        if signal["k"] == "tick":
            change = breaker.tick(time.time(), self.policy.breakers)
            if change is None:
                return
        else:
            ok, failed = _outcomes(breaker.applied, signal)
            if ok + failed == 0:
                return  # every event it counts was counted before
            change = breaker.record(signal["at"], ok, failed, self.policy.breakers)
        if change is not None:
            await self._transition(change, cause)
        self.breakers[key] = breaker

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
        breaker_moved(change.key, change.new)

    async def _add_spend(self, key: str, signal: dict[str, Any], cause: str) -> None:
        tenant = key.removeprefix(_TENANT)
        tenant_policy = self.policy.budgets.tenants.get(tenant)
        if tenant_policy is None or tenant_policy.spend_limit is None:
            return
        stored: TenantSpend | None = self.spend.get(key)
        spend = TenantSpend(tenant=tenant) if stored is None else stored.clone()
        usd = _usd(spend.applied, signal)
        if usd is None:
            return  # every call it counts was counted before
        until = spend.add(signal["at"], usd, tenant_policy.spend_limit)
        if until is not None:
            await self._pause_tenant(tenant, spend, tenant_policy.spend_limit, until, cause)
        self.spend[key] = spend

    async def _pause_tenant(
        self, tenant: str, spend: TenantSpend, limit: SpendLimit, until: float, cause: str
    ) -> None:
        reason = (
            f"budget: tenant {tenant!r} spent {spend.total()} USD in {limit.period_s:g} s, "
            f"over its limit of {limit.usd} USD"
        )
        out = self._out()
        breached("budget", "tenant_spend")
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


def _outcomes(applied: dict[str, int], signal: dict[str, Any]) -> tuple[int, int]:
    """(ok, failed) among the events of an outcome summary not counted yet."""
    src: Entries | None = signal.get("src")
    if src is None:  # a summary from before positions: counted as it comes
        return int(signal.get("ok", 0)), int(signal.get("failed", 0))
    values = fresh(applied, src)
    failed = sum(values)
    return len(values) - failed, failed


def _usd(applied: dict[str, int], signal: dict[str, Any]) -> Decimal | None:
    """What the calls of a spend summary not counted yet cost; None if there are none."""
    src: Entries | None = signal.get("src")
    if src is None:  # a summary from before positions: counted as it comes
        return Decimal(signal["usd"])
    values = fresh(applied, src)
    return sum((Decimal(v) for v in values), Decimal(0)) if values else None
