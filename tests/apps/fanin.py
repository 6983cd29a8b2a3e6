"""A fan-in agent: waits for every part of a task, keeping what arrived in ctx.state."""

from __future__ import annotations

from agentmesh.agents import Context, Mesh, agent
from agentmesh.contracts import Contract


class Part(Contract):
    n: int
    of: int


class Whole(Contract):
    parts: list[int]


@agent("joiner", output=Whole)
async def joiner(part: Part, ctx: Context) -> Whole | None:
    seen = sorted({*ctx.state.get().get("parts", []), part.n})
    if len(seen) < part.of:
        ctx.state.set({"parts": seen})
        return None
    ctx.state.clear()
    return Whole(parts=seen)


mesh = Mesh([joiner])
