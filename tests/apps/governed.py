"""A mesh for supervisor tests: a runaway looper, a payer whose refunds need approval, and
an agent whose tool fails on demand (breakers)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agentmesh.agents import (
    Context,
    Mesh,
    Outgoing,
    RetryPolicy,
    ScriptedModel,
    TransientError,
    agent,
    tool,
)
from agentmesh.contracts import Contract


class Spin(Contract):
    n: int = 0
    same: bool = False  # True: hand on the same payload every time (a loop by content)


class Refund(Contract):
    order: str
    amount: float


class Receipt(Contract):
    order: str
    refunded: float


class RefundArgs(Contract):
    order: str
    amount: float


class Lookup(Contract):
    key: str


class Found(Contract):
    value: str


@agent("looper")
async def looper(spin: Spin, ctx: Context) -> Outgoing:
    """Never finishes on its own: one paid call, then hands itself the next step."""
    await ctx.llm(f"step {spin.n}")
    await asyncio.sleep(float(os.environ.get("LOOPER_DELAY_S", "0.2")))
    nxt = spin if spin.same else Spin(n=spin.n + 1)
    return ctx.handoff("looper", nxt)


REFUNDS: list[RefundArgs] = []


@tool("refund", timeout_s=2.0)
async def refund(args: RefundArgs) -> Receipt:
    REFUNDS.append(args)
    return Receipt(order=args.order, refunded=args.amount)


@agent("payer", tools=[refund], output=Receipt)
async def payer(req: Refund, ctx: Context) -> Receipt:
    result: Receipt = await ctx.tool("refund", RefundArgs(order=req.order, amount=req.amount))
    return result


def _failing() -> bool:
    flag = os.environ.get("GOVERNED_FAIL_FLAG")
    return flag is not None and Path(flag).exists()


@tool("lookup", timeout_s=1.0, retry=RetryPolicy(attempts=1))
async def lookup(args: Lookup) -> Found:
    """Fails while the flag file exists (a backend that is down)."""
    if _failing():
        raise TransientError("lookup backend unavailable")
    return Found(value=f"v-{args.key}")


@agent("fetcher", tools=[lookup], output=Found)
async def fetcher(req: Lookup, ctx: Context) -> Found:
    found: Found = await ctx.tool("lookup", req)
    return found


mesh = Mesh(
    [looper, payer, fetcher],
    model=ScriptedModel(["ok"], loop=True),
)
