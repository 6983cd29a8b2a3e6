"""How the handoffs of one step share what remains of the task's budget.

Every handoff carries the budget its receiver may spend. Were each branch of a fan-out
handed the whole remainder, N branches could spend N times it; so the remainder of each
dimension that is spent (tokens, cost, steps) is divided among the step's handoffs. A
handoff may ask for its own amount of a dimension (``ctx.handoff(..., budget=...)``); the
others share what is left of it equally. Hops and the deadline bound each chain, not a sum,
so every handoff keeps them (an asked value may only tighten them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

from agentmesh.agents._errors import BudgetExceeded
from agentmesh.contracts import Budget

__all__ = ["keep", "pooled", "split_budget"]

_USD_STEP = Decimal(1).scaleb(-10)  # the precision a budget's cost travels with

_T = TypeVar("_T", int, datetime)
_N = TypeVar("_N", int, Decimal)


def split_budget(remaining: Budget, asked: Sequence[Budget | None]) -> list[Budget]:
    """One budget per handoff: what each asked for, the rest of ``remaining`` in equal shares.

    Raises :class:`BudgetExceeded` when the amounts asked for add up to more than remains
    of a dimension: a person may extend the budget, and the step then runs again.
    """
    asks = [a or Budget() for a in asked]
    tokens = _split("tokens", remaining.max_tokens, [a.max_tokens for a in asks], _int_shares)
    steps = _split("steps", remaining.max_steps, [a.max_steps for a in asks], _int_shares)
    cost = _split("cost_usd", remaining.max_cost_usd, [a.max_cost_usd for a in asks], _usd_shares)
    return [
        Budget(
            max_tokens=tokens[i],
            max_cost_usd=cost[i],
            max_steps=steps[i],
            max_hops=_tightest(remaining.max_hops, a.max_hops),
            deadline=_tightest(remaining.deadline, a.deadline),
        )
        for i, a in enumerate(asks)
    ]


def pooled(handed: Budget, kept: Budget | None) -> Budget:
    """``handed`` plus what an agent's earlier steps of the task ``kept``: a fan-in's step
    spends what every part it collected brought. Unlimited dimensions stay unlimited."""
    if kept is None:
        return handed

    def plus(a: _N | None, b: _N | None) -> _N | None:
        return None if a is None else a if b is None else a + b

    return handed.model_copy(
        update={
            "max_tokens": plus(handed.max_tokens, kept.max_tokens),
            "max_cost_usd": plus(handed.max_cost_usd, kept.max_cost_usd),
            "max_steps": plus(handed.max_steps, kept.max_steps),
        }
    )


def keep(remaining: Budget) -> Budget | None:
    """What a step that hands nothing on keeps for the agent's next step of the task: the
    dimensions that add up (hops and the deadline come with each handoff); ``None`` when
    they are all unlimited."""
    kept = Budget(
        max_tokens=remaining.max_tokens,
        max_cost_usd=remaining.max_cost_usd,
        max_steps=remaining.max_steps,
    )
    return None if kept == Budget() else kept


def _split(
    limit: str, left: _N | None, asked: list[_N | None], divide: Callable[[_N, int], list[_N]]
) -> list[_N | None]:
    if left is None:
        return asked  # unlimited: an asked amount is that branch's own limit
    total = sum((a for a in asked if a is not None), type(left)(0))
    if total > left:
        raise BudgetExceeded(limit, f"{total} asked by this step's handoffs", left)
    shares = iter(divide(left - total, asked.count(None)))
    return [next(shares) if a is None else a for a in asked]


def _int_shares(rest: int, n: int) -> list[int]:
    """``n`` shares adding up to ``rest`` exactly: the first ``rest % n`` larger by one."""
    share, extra = divmod(rest, n) if n else (0, 0)
    return [share + (1 if i < extra else 0) for i in range(n)]


def _usd_shares(rest: Decimal, n: int) -> list[Decimal]:
    """``n`` shares adding up to ``rest`` exactly: the first takes the rounding's leftover."""
    if n == 0:
        return []
    share = (rest / n).quantize(_USD_STEP, rounding=ROUND_FLOOR)
    return [rest - share * (n - 1), *[share] * (n - 1)]


def _tightest(limit: _T | None, asked: _T | None) -> _T | None:
    if limit is None or asked is None:
        return asked if limit is None else limit
    return min(limit, asked)
