"""The policy file's shape: typed, strict (a misspelt key is an error, not a silent no-op)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentmesh.contracts import Budget

__all__ = [
    "MIN_AUDIT_RETENTION_DAYS",
    "AuditPolicy",
    "BreakerPolicy",
    "BudgetPolicy",
    "Extension",
    "FieldMatch",
    "Limits",
    "LoopPolicy",
    "Policy",
    "RecordingPolicy",
    "Redaction",
    "ReviewPolicy",
    "ReviewRule",
    "SpendLimit",
    "TenantPolicy",
    "effective_budget",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Budget limits as written in the file (a deadline is relative: seconds from submission)."""

    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: Decimal | None = Field(default=None, ge=0)
    max_steps: int | None = Field(default=None, ge=0)
    max_hops: int | None = Field(default=None, ge=0)
    deadline_s: float | None = Field(default=None, gt=0)


class SpendLimit(_Strict):
    """What one tenant may spend over a rolling period (e.g. 100 USD per 86,400 s)."""

    usd: Decimal = Field(gt=0)
    period_s: float = Field(default=86_400.0, gt=0)


class TenantPolicy(_Strict):
    budget: Limits = Field(default_factory=Limits)
    spend_limit: SpendLimit | None = None


class Extension(_Strict):
    """What approving a budget review adds to the task's limits.

    A field left out keeps its default (as when the whole block is left out): writing
    ``extension: {steps: 20}`` still adds 10,000 tokens. Write 0 to add nothing; the
    supervisor then refuses an approval that could not let the stopped work go on.
    """

    tokens: int = Field(default=10_000, ge=0)
    cost_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    steps: int = Field(default=10, ge=0)
    hops: int = Field(default=5, ge=0)
    deadline_s: float = Field(default=300.0, ge=0)


class BudgetPolicy(_Strict):
    """Task budgets: the tightest of the submission, the defaults and the tenant's wins."""

    default: Limits = Field(default_factory=Limits)
    agents: dict[str, Limits] = Field(default_factory=dict, description="defaults by entry agent")
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)
    on_breach: Literal["review", "dead_letter"] = "review"
    extension: Extension = Field(default_factory=Extension)


class LoopPolicy(_Strict):
    max_repeats: int = Field(
        default=3, ge=1, description="the same handoff (target and content) this often is a loop"
    )
    on_loop: Literal["review", "dead_letter"] = "review"


class BreakerPolicy(_Strict):
    """Per tool, model provider and agent: failure rate over a sliding window."""

    window_s: float = Field(default=60.0, gt=0)
    window_calls: int = Field(default=20, ge=1, description="at most this many recent calls")
    min_calls: int = Field(default=5, ge=1, description="no verdict on fewer calls")
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    cooldown_s: float = Field(default=30.0, gt=0, description="open → half-open after this")


class FieldMatch(_Strict):
    """A payload (or tool argument) field, by dotted path, and what makes it match."""

    path: str = Field(min_length=1)
    equals: Any = None
    exists: bool | None = None
    gt: float | None = None


class ReviewRule(_Strict):
    """Which work needs approval. Every given condition must hold."""

    name: str
    tool: str | None = Field(default=None, description="a call of this tool")
    agent: str | None = Field(default=None, description="a handoff to this agent")
    field: FieldMatch | None = None
    min_cost_usd: Decimal | None = Field(
        default=None, description="a task whose cost so far reaches this (the supervisor checks)"
    )
    approvals: int = Field(default=1, ge=1, description="distinct reviewers needed (N of M)")
    timeout_s: float | None = Field(default=None, gt=0)
    on_timeout: Literal["reject", "escalate"] | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> ReviewRule:
        subjects = [self.tool, self.agent, self.min_cost_usd]
        if sum(s is not None for s in subjects) != 1:
            raise ValueError(
                f"review rule {self.name!r} needs exactly one of tool, agent or min_cost_usd"
            )
        return self


class ReviewPolicy(_Strict):
    timeout_s: float = Field(default=3600.0, gt=0)
    on_timeout: Literal["reject", "escalate"] = "reject"
    max_escalations: int = Field(default=1, ge=0, description="then a timeout rejects")
    rules: list[ReviewRule] = Field(default_factory=list)
    trusted_keys: list[Path] = Field(
        default_factory=list,
        description="PEM files of Ed25519 public keys (a gateway's: GET /v1/keys): "
        "when set, only decisions signed by one of them count; relative to the policy file",
    )


class Redaction(_Strict):
    """What recordings never contain: replaced by ``[redacted]`` before anything is written."""

    paths: list[str] = Field(
        default_factory=list,
        description="dotted JSON paths into step payloads, tool arguments and tool results "
        "(`customer.email`, `items.*.card`; `*` is any key or list item; `$.` is optional)",
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions replaced in every recorded text: prompts, replies, "
        "and the strings of payloads, arguments and results",
    )

    @model_validator(mode="after")
    def _compiles(self) -> Redaction:
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact pattern {pattern!r} is not a regex: {exc}") from None
        return self


class RecordingPolicy(_Strict):
    """What agents record of each step and call on ``<ns>.recordings``."""

    mode: Literal["full", "metadata", "off"] = Field(
        default="full",
        description="full: requests and responses; metadata: who, what, usage, no bodies",
    )
    redact: Redaction = Field(default_factory=Redaction)
    retention_days: float = Field(
        default=7.0, gt=0, description="of the recordings topic, when agents create it"
    )


MIN_AUDIT_RETENTION_DAYS = 400


class AuditPolicy(_Strict):
    """How long the audit trail is kept (the EU AI Act asks at least six months of logs)."""

    retention_days: float | None = Field(
        default=None,
        description="of the audit topic; unset: kept forever (never expires by time or size); "
        f"at least {MIN_AUDIT_RETENTION_DAYS}",
    )

    @model_validator(mode="after")
    def _long_enough(self) -> AuditPolicy:
        days = self.retention_days
        if days is not None and days < MIN_AUDIT_RETENTION_DAYS:
            raise ValueError(
                f"audit.retention_days is {days:g} but must be at least "
                f"{MIN_AUDIT_RETENTION_DAYS} (or left unset to keep the audit trail forever)"
            )
        return self


class Policy(_Strict):
    """The whole governance policy; every section has safe defaults."""

    budgets: BudgetPolicy = Field(default_factory=BudgetPolicy)
    loops: LoopPolicy = Field(default_factory=LoopPolicy)
    breakers: BreakerPolicy = Field(default_factory=BreakerPolicy)
    reviews: ReviewPolicy = Field(default_factory=ReviewPolicy)
    recording: RecordingPolicy = Field(default_factory=RecordingPolicy)
    audit: AuditPolicy = Field(default_factory=AuditPolicy)

    def limits_for(self, tenant: str, entry_agent: str) -> list[Limits]:
        """The policy limits that apply to a task, tightest-wins with its own budget."""
        found = [self.budgets.default]
        if entry_agent in self.budgets.agents:
            found.append(self.budgets.agents[entry_agent])
        if tenant in self.budgets.tenants:
            found.append(self.budgets.tenants[tenant].budget)
        return found


def _tightest(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def effective_budget(submitted: Budget, limits: list[Limits], submitted_at: datetime) -> Budget:
    """Field by field, the tightest of what was submitted and what the policy allows."""
    budget = submitted
    for lim in limits:
        deadline = (
            None if lim.deadline_s is None else submitted_at + timedelta(seconds=lim.deadline_s)
        )
        budget = Budget(
            max_tokens=_tightest(budget.max_tokens, lim.max_tokens),
            max_cost_usd=_tightest(budget.max_cost_usd, lim.max_cost_usd),
            max_steps=_tightest(budget.max_steps, lim.max_steps),
            max_hops=_tightest(budget.max_hops, lim.max_hops),
            deadline=_tightest(budget.deadline, deadline),
        )
    return budget
