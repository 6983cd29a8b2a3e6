"""A step cancelled after some calls tombstones what it journaled: it will never run again,
so its entries would otherwise stay in the compacted journal for good."""

from __future__ import annotations

from agentmesh.agents import Context, Mesh, ScriptedModel, agent, tool
from agentmesh.agents._control import ControlState
from agentmesh.agents._records import RawRecord
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Contract, ControlCommand

CONTROL = ControlState()


class Job(Contract):
    task: str


class Ok(Contract):
    ok: bool


@tool("cancel_me")
async def cancel_me(job: Job) -> Ok:
    # Someone cancels the task while this step is under way.
    command = ControlCommand(
        scope="task", target=job.task, action="cancel", reason="not needed", issued_by="ops"
    )
    CONTROL.apply(command.key, command)
    return Ok(ok=True)


@agent("two_calls", tools=[cancel_me], output=Ok)
async def two_calls(job: Job, ctx: Context) -> Ok:
    await ctx.llm("first")
    await ctx.tool("cancel_me", job)
    await ctx.llm("second")  # stopped before this call
    return Ok(ok=True)


mesh = Mesh([two_calls], model=ScriptedModel(["a", "b"]))


async def test_a_cancelled_step_tombstones_its_journal() -> None:
    harness = AgentHarness(mesh, "two_calls", control=CONTROL)
    await harness.codecs.register()
    envelope = mesh.inbox_model("two_calls")(
        task_id="t-c", from_agent="x", to_agent="two_calls", payload=Job(task="t-c")
    )
    record = RawRecord(
        harness.topics.agent("two_calls"), 0, 0, b"t-c", harness.codecs.inbox.encode(envelope)
    )
    emissions = await harness.processor.process(record)
    journal_topic = harness.topics.agent_journal("two_calls")
    tombstones = sorted(
        (e.key or b"").decode() for e in emissions if e.topic == journal_topic and e.value is None
    )
    assert tombstones == [f"{envelope.handoff_id}/0", f"{envelope.handoff_id}/1"]
    kinds = [
        (await harness.codecs.events.decode(e.value)).body.kind
        for e in emissions
        if e.topic == harness.topics.events and e.value is not None
    ]
    assert kinds == ["step_finished", "task_failed"]
