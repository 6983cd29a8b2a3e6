"""One task's ledger: what it has used, folded from its events exactly once.

The fold is idempotent by position: every input topic's last applied offset is part of the
ledger, so a record delivered again after a crash (at-least-once) changes nothing. The
ledger and its offsets are one table value, written to the changelog together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from pydantic import BaseModel, Field

from agentmesh.contracts import (
    AgentEvent,
    Budget,
    CallTally,
    LlmCall,
    StepFinished,
    TaskCompleted,
    TaskFailed,
    TaskSubmitted,
    ToolCall,
)
from agentmesh.core.policy import Extension, Policy, effective_budget

__all__ = ["Breach", "TaskLedger", "extend", "shared_extension"]

# The ledger is rewritten to the changelog on every event: keep it small. A loop repeats the
# same handoff, so the most recent distinct handoffs are the ones worth counting.
_MAX_TRACKED_HANDOFFS = 64
# Review ids whose approval extended the ledger: enough to recognise a decision tried again.
_MAX_EXTENDED_FOR = 32
_USD_STEP = Decimal(1).scaleb(-10)  # the precision a budget's cost travels with


class Breach(BaseModel):
    """Why a task must stop: a budget limit, a loop, or the review rule on its cost."""

    kind: Literal["budget", "loop", "cost_review"]
    limit: str
    used: str
    allowed: str

    def describe(self) -> str:
        if self.kind == "loop":
            return f"loop: {self.used} (allowed {self.allowed})"
        if self.kind == "cost_review":
            return f"review: cost so far {self.used} USD reached {self.allowed} USD"
        return f"budget: {self.limit} used {self.used}, allowed {self.allowed}"


class TaskLedger(BaseModel):
    """Usage and status of one task across every agent and branch."""

    task_id: str
    tenant: str = "default"
    entry_agent: str | None = None
    submitted_at: datetime | None = None
    budget: Budget = Field(default_factory=Budget)
    submitted_budget: Budget | None = None
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    steps: int = 0
    max_hop: int = 0
    handoffs: int = 0
    repeats: dict[str, int] = Field(default_factory=dict)
    status: Literal["running", "stopped", "completed", "failed"] = "running"
    stopped_for: str | None = None
    cost_reviewed: bool = False
    extensions: int = 0
    extended_for: list[str] = Field(
        default_factory=list,
        description="the budget reviews whose approval extended the limits (each once)",
    )
    extra_hops: int = Field(
        default=0, description="hops allowed beyond the budget by approved hop-limit reviews"
    )
    applied: dict[str, int] = Field(
        default_factory=dict, description="per input topic: the last offset folded in"
    )
    calls: CallTally = Field(
        default_factory=CallTally, description="which call events counted (CallTally's rule)"
    )

    def clone(self) -> TaskLedger:
        """A copy to fold into (cheaper than a deep copy: only the dicts are mutable)."""
        copy = self.model_copy()
        copy.repeats = dict(self.repeats)
        copy.applied = dict(self.applied)
        copy.calls = self.calls.clone()
        return copy

    def seen(self, source: str, offset: int) -> bool:
        """True if the record at ``offset`` of ``source`` was already folded in."""
        return offset <= self.applied.get(source, -1)

    def mark(self, source: str, offset: int) -> None:
        self.applied[source] = offset

    # -- folding -------------------------------------------------------------------------

    def submitted(self, task: TaskSubmitted, policy: Policy) -> Breach | None:
        self.tenant = task.tenant
        self.entry_agent = task.entry_agent
        self.submitted_at = task.submitted_at
        self.submitted_budget = task.budget
        self._rebudget(policy)
        return self.check(policy, task.submitted_at)

    def event(
        self, event: AgentEvent, policy: Policy, position: int | None = None
    ) -> Breach | None:
        """Fold one event (at ``position`` of its partition); the breach it causes, if it
        is the first one. Each call counts once (see ``agentmesh.contracts.CallTally``)."""
        self.tenant = event.tenant
        body = event.body
        if isinstance(body, LlmCall):
            if self.calls.count(body, position):
                self.steps += 1
                self.tokens += body.input_tokens + body.output_tokens
                self.cost_usd += body.cost_usd or 0
        elif isinstance(body, ToolCall):
            if self.calls.count(body, position):
                self.steps += 1
        elif isinstance(body, StepFinished):
            self.calls.finished(body)
            loop = self._handoffs(body, policy)
            if loop is not None and self.status == "running":  # stopped once, as by check()
                return self._stop(loop)
        elif isinstance(body, TaskCompleted):
            self.status = "completed"
        elif isinstance(body, TaskFailed) and self.status == "running":
            self.status = "failed"
        if self.submitted_at is None:
            # Events can overtake the submission (another topic): budget from the policy
            # alone, relative to the first thing seen, until the submission arrives.
            self.submitted_at = event.at
            self._rebudget(policy)
        return self.check(policy, event.at)

    def _handoffs(self, body: StepFinished, policy: Policy) -> Breach | None:
        breach = None
        for h in body.handoffs:
            self.handoffs += 1
            self.max_hop = max(self.max_hop, h.hop)
            # 64 bits of the hash tell a task's handoffs apart; the ledger is written to its
            # changelog on every batch, so its 64 keys are kept short.
            key = f"{h.to_agent}:{h.payload_hash[:16]}"
            count = self.repeats.pop(key, 0) + 1
            self.repeats[key] = count  # newest last
            while len(self.repeats) > _MAX_TRACKED_HANDOFFS:
                self.repeats.pop(next(iter(self.repeats)))
            if count > policy.loops.max_repeats and breach is None:
                breach = Breach(
                    kind="loop",
                    limit="repeats",
                    used=f"the same handoff to {h.to_agent!r} {count} times",
                    allowed=str(policy.loops.max_repeats),
                )
        return breach

    def check(self, policy: Policy, now: datetime) -> Breach | None:
        """The first limit this task is over, once (a stopped task is not stopped again)."""
        if self.status != "running":
            return None
        b = self.budget
        found: Breach | None = None
        if b.max_steps is not None and self.steps > b.max_steps:
            found = Breach(
                kind="budget", limit="steps", used=str(self.steps), allowed=str(b.max_steps)
            )
        elif b.max_tokens is not None and self.tokens > b.max_tokens:
            found = Breach(
                kind="budget", limit="tokens", used=str(self.tokens), allowed=str(b.max_tokens)
            )
        elif b.max_cost_usd is not None and self.cost_usd > b.max_cost_usd:
            found = Breach(
                kind="budget",
                limit="cost_usd",
                used=str(self.cost_usd),
                allowed=str(b.max_cost_usd),
            )
        elif b.max_hops is not None and self.max_hop > b.max_hops:
            found = Breach(
                kind="loop", limit="hops", used=str(self.max_hop), allowed=str(b.max_hops)
            )
        elif b.deadline is not None and now >= b.deadline:
            found = Breach(
                kind="budget",
                limit="deadline",
                used=now.isoformat(),
                allowed=b.deadline.isoformat(),
            )
        if found is not None:
            return self._stop(found)
        return self._cost_review(policy)

    def spent(self, now: datetime) -> bool:
        """True when a limit is used up: the next call would go over it. An agent that
        carries the same budget parks its work here itself, before the ledger is over."""
        b = self.budget
        return (
            (b.max_steps is not None and self.steps >= b.max_steps)
            or (b.max_tokens is not None and self.tokens >= b.max_tokens)
            or (b.max_cost_usd is not None and self.cost_usd >= b.max_cost_usd)
            or (b.deadline is not None and now >= b.deadline)
        )

    def _cost_review(self, policy: Policy) -> Breach | None:
        if self.cost_reviewed:
            return None
        for rule in policy.reviews.rules:
            if rule.min_cost_usd is not None and self.cost_usd >= rule.min_cost_usd:
                self.cost_reviewed = True
                return self._stop(
                    Breach(
                        kind="cost_review",
                        limit=rule.name,
                        used=str(self.cost_usd),
                        allowed=str(rule.min_cost_usd),
                    )
                )
        return None

    def _stop(self, breach: Breach) -> Breach:
        self.status = "stopped"
        self.stopped_for = breach.describe()
        return breach

    def _rebudget(self, policy: Policy) -> None:
        limits = policy.limits_for(self.tenant, self.entry_agent or "")
        base = self.submitted_budget or Budget()
        budget = effective_budget(base, limits, self.submitted_at or _epoch())
        for _ in range(self.extensions):
            budget = extend(budget, policy)
        if self.extra_hops and budget.max_hops is not None:
            budget = budget.model_copy(update={"max_hops": budget.max_hops + self.extra_hops})
        self.budget = budget

    def usage(self) -> str:
        """What the task has used against its limits, e.g. ``tokens 932 of 300, steps 7``."""
        b = self.budget

        def of(used: object, limit: object) -> str:
            return f"{used}" if limit is None else f"{used} of {limit}"

        return (
            f"tokens {of(self.tokens, b.max_tokens)}, steps {of(self.steps, b.max_steps)}, "
            f"cost {of(self.cost_usd.normalize(), b.max_cost_usd)} USD, "
            f"hops {of(self.max_hop, b.max_hops)}"
        )

    def approval_blocked(self, policy: Policy, now: datetime) -> str | None:
        """Why approving a budget review could not let the task go on, if it could not:
        the policy's extension leaves a limit the task has used up still used up."""
        trial = self.clone()
        trial.budget = extend(trial.budget, policy)  # what approving it would do
        ext, now_b, b = policy.budgets.extension, self.budget, trial.budget
        short = [
            f"{name}: used {used}, approving would allow {limit} "
            f"({was} + {more} from budgets.extension.{name})"
            for name, used, was, limit, more in (
                ("tokens", trial.tokens, now_b.max_tokens, b.max_tokens, ext.tokens),
                ("steps", trial.steps, now_b.max_steps, b.max_steps, ext.steps),
                ("cost_usd", trial.cost_usd, now_b.max_cost_usd, b.max_cost_usd, ext.cost_usd),
            )
            if limit is not None and used >= limit
        ]
        if b.deadline is not None and now >= b.deadline:
            short.append(f"deadline: {b.deadline.isoformat()} has passed")
        if not short:
            return None
        return (
            f"approving cannot let the work go on ({'; '.join(short)}): reject it, or raise "
            "budgets.extension in the policy and approve again"
        )

    def extend(self, policy: Policy, review_ids: list[str]) -> bool:
        """A reviewer approved more budget for the parked items ``review_ids`` (decided
        together): apply the policy's extension once, and run again if stopped. False, and
        nothing changed, when one of them extended it already (the decision tried again
        after a failed send, or delivered again after a restart)."""
        if any(r in self.extended_for for r in review_ids):
            return False
        self.extensions += 1
        self.extended_for = [*self.extended_for, *review_ids][-_MAX_EXTENDED_FOR:]
        self.budget = extend(self.budget, policy)
        if self.status == "stopped":
            self.resume(policy)
        return True

    def resume(self, policy: Policy) -> bool:
        """A reviewer approved what stopped the task: run again; True if it allowed more hops.

        A repeated handoff is forgotten (its count starts again). Approving a hop-limit stop
        must also move the limit, or the very next event would stop the task again: the
        hops the task has already made are allowed, plus the policy's extension. A cost
        review is not asked again (``cost_reviewed`` stays): the approval answers it.
        """
        self.status = "running"
        self.stopped_for = None
        self.repeats.clear()
        b = self.budget
        if b.max_hops is None or self.max_hop <= b.max_hops:
            return False
        more = self.max_hop - b.max_hops + policy.budgets.extension.hops
        self.extra_hops += more
        self.budget = b.model_copy(update={"max_hops": b.max_hops + more})
        return True


def extend(budget: Budget, policy: Policy, share: Extension | None = None) -> Budget:
    """``budget`` plus the policy's extension, or ``share`` of it (unlimited stays
    unlimited)."""
    ext = policy.budgets.extension if share is None else share

    def plus(value: int | None, more: int) -> int | None:
        return None if value is None else value + more

    return Budget(
        max_tokens=plus(budget.max_tokens, ext.tokens),
        max_cost_usd=None if budget.max_cost_usd is None else budget.max_cost_usd + ext.cost_usd,
        max_steps=plus(budget.max_steps, ext.steps),
        max_hops=plus(budget.max_hops, ext.hops),
        deadline=None
        if budget.deadline is None
        else max(budget.deadline, datetime.now(UTC)) + timedelta(seconds=ext.deadline_s),
    )


def shared_extension(policy: Policy, branches: int) -> list[Extension]:
    """The policy's extension divided among the ``branches`` parked handoffs one approval
    releases, the way a fan-out divides what remains: tokens, steps and cost in equal shares
    that add up to the extension exactly (the task's limit grows by it once, so its branches
    together may spend no more); hops and the deadline bound each chain, so each keeps them."""
    ext = policy.budgets.extension
    if branches <= 1:
        return [ext] * branches
    tokens = _int_shares(ext.tokens, branches)
    steps = _int_shares(ext.steps, branches)
    cost = (ext.cost_usd / branches).quantize(_USD_STEP, rounding=ROUND_FLOOR)
    costs = [ext.cost_usd - cost * (branches - 1), *[cost] * (branches - 1)]
    return [
        ext.model_copy(update={"tokens": t, "steps": s, "cost_usd": c})
        for t, s, c in zip(tokens, steps, costs, strict=True)
    ]


def _int_shares(total: int, n: int) -> list[int]:
    """``n`` shares adding up to ``total`` exactly: the first ``total % n`` larger by one."""
    share, extra = divmod(total, n)
    return [share + (1 if i < extra else 0) for i in range(n)]


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
