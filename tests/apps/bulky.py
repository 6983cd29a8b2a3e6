"""Agents that pass large things: a payload over the broker's message limit, and a long chain."""

from __future__ import annotations

import hashlib

from agentmesh.agents import Context, Mesh, Outgoing, agent
from agentmesh.contracts import Contract


class Make(Contract):
    size_bytes: int


class Blob(Contract):
    text: str


class Digest(Contract):
    size_bytes: int
    sha256: str


class Hop(Contract):
    n: int
    of: int


@agent("maker")
async def maker(make: Make, ctx: Context) -> Outgoing:
    text = ("0123456789abcdef" * (make.size_bytes // 16 + 1))[: make.size_bytes]
    return ctx.handoff("eater", Blob(text=text))


@agent("eater", output=Digest)
async def eater(blob: Blob, ctx: Context) -> Digest:
    data = blob.text.encode()
    return Digest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


class Recalled(Contract):
    """What the last hop read back, by reference, of the oldest input it still refers to."""

    oldest_n: int
    refs: int


@agent("chain", output=Recalled)
async def chain(hop: Hop, ctx: Context) -> Outgoing | Recalled:
    """Hands to itself ``of`` times, adding a reference (with a long summary) to its input."""
    if hop.n >= hop.of:
        refs = ctx.envelope.context
        oldest = await ctx.fetch(refs[0])
        return Recalled(oldest_n=oldest.payload.n, refs=len(refs))
    note = ctx.input_ref(summary="x" * 2000)
    return ctx.handoff("chain", Hop(n=hop.n + 1, of=hop.of), context=[note])


mesh = Mesh([maker, eater, chain])
