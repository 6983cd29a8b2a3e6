"""F9: a tool result too big for the journal is used, metered once as a success, not paid
for again (before, persisting it failed the already-paid call and the retry called it again)."""

from __future__ import annotations

from agentmesh.agents import Context, Mesh, agent, tool
from agentmesh.agents._journal import MAX_JOURNALED_BYTES, JournalView
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Contract, JournalEntry, ToolCall


class Ask(Contract):
    size: int


class Blob(Contract):
    data: str


class Size(Contract):
    length: int


CALLS: list[int] = []


@tool("fetch_blob")
async def fetch_blob(args: Ask) -> Blob:
    CALLS.append(args.size)
    return Blob(data="x" * args.size)


@agent("reader", tools=[fetch_blob], output=Size)
async def reader(ask: Ask, ctx: Context) -> Size:
    blob: Blob = await ctx.tool("fetch_blob", ask)
    return Size(length=len(blob.data))


mesh = Mesh([reader])


async def test_an_oversized_result_is_used_once_and_not_journaled() -> None:
    persisted: list[JournalEntry] = []

    async def persist(entry: JournalEntry) -> None:
        if len(entry.value_json) > 1_000_000:  # what the broker would refuse
            raise AssertionError("tried to journal a result over the message limit")
        persisted.append(entry)

    journal = JournalView({}, persist)
    harness = AgentHarness(mesh, "reader", journal=journal)  # type: ignore[arg-type]
    CALLS.clear()
    run = await harness.run(Ask(size=MAX_JOURNALED_BYTES + 200_000))
    assert run.output == '{"length":1100000}'
    assert CALLS == [1_100_000]
    (usage,) = [u for u in run.usage if isinstance(u, ToolCall)]
    assert (usage.status, usage.attempts) == ("ok", 1)
    assert persisted == []
    small = await harness.run(Ask(size=10), task_id="t2")
    assert small.output == '{"length":10}'
    assert len(persisted) == 1
