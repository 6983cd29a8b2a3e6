"""A small mesh for runtime tests: a planner fans out to workers, which hand to a collector."""

from __future__ import annotations

import asyncio
import os

from agentmesh.agents import (
    Context,
    Mesh,
    Outgoing,
    RetryPolicy,
    ScriptedModel,
    StepPolicy,
    TransientError,
    agent,
    tool,
)
from agentmesh.contracts import Contract


class Plan(Contract):
    question: str
    parts: int = 2


class Work(Contract):
    part: int
    text: str


class Finding(Contract):
    part: int
    summary: str


class Report(Contract):
    text: str


class SearchArgs(Contract):
    query: str


class SearchHits(Contract):
    hits: list[str]


FLAKY_FAILURES: dict[str, int] = {}


@tool("search", timeout_s=0.2, retry=RetryPolicy(attempts=3, initial_backoff_s=0.01))
async def search(args: SearchArgs) -> SearchHits:
    """Pretend search; 'flaky:N' fails transiently N times, 'slow' times out."""
    if args.query.startswith("flaky:"):
        left = FLAKY_FAILURES.setdefault(args.query, int(args.query.split(":")[1]))
        if left > 0:
            FLAKY_FAILURES[args.query] = left - 1
            raise TransientError("search backend reset the connection")
    if args.query == "slow":
        await asyncio.sleep(5)
    return SearchHits(hits=[f"hit for {args.query}"])


@agent("planner")
async def planner(plan: Plan, ctx: Context) -> list[Outgoing]:
    reply = await ctx.llm(f"split: {plan.question}")
    # A crash window after a paid call, for the journal-resume test.
    await asyncio.sleep(float(os.environ.get("PIPELINE_PLAN_DELAY_S", "0")))
    return [ctx.handoff("worker", Work(part=i, text=reply.text)) for i in range(plan.parts)]


@agent("worker", tools=[search], policy=StepPolicy(attempts=3, initial_backoff_s=0.01))
async def worker(work: Work, ctx: Context) -> Outgoing:
    hits = await ctx.tool("search", SearchArgs(query=work.text))
    # Lets kill tests land mid-batch: each step takes a moment.
    await asyncio.sleep(float(os.environ.get("PIPELINE_WORK_DELAY_S", "0")))
    return ctx.handoff("collector", Finding(part=work.part, summary=hits.hits[0]))


@agent("collector", output=Report)
async def collector(finding: Finding, ctx: Context) -> Report:
    return Report(text=f"part {finding.part}: {finding.summary}")


mesh = Mesh([planner, worker, collector], model=ScriptedModel(["sub-question"], loop=True))
