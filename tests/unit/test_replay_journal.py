"""Replay serves recorded answers only: a call that failed when recorded fails again the same
way (its own exception class, so handlers that catch it behave as they did), and nothing
live is called."""

from __future__ import annotations

from typing import Any

from agentmesh.agents import Context, Mesh, ScriptedModel, StepPolicy, Tool, agent, tool
from agentmesh.agents._replay import _harness, replay_task
from agentmesh.core.policy import Policy
from tests.apps.recorded import TICKET, Account, Answer, LookupArgs, Ticket

LIVE_CALLS: list[str] = []


@tool("charge")
async def charge(args: LookupArgs) -> Account:
    raise ValueError("card declined")


@tool("charge")
async def live_charge(args: LookupArgs) -> Account:
    LIVE_CALLS.append(args.card)
    raise AssertionError("replay called the live tool")


async def careful(ticket: Ticket, ctx: Context) -> Answer:
    try:
        await ctx.tool("charge", LookupArgs(card=ticket.customer.card))
    except ValueError as exc:
        return Answer(text=f"not charged: {exc}")
    return Answer(text="charged")


def _mesh(tool_: Tool[Any, Any]) -> Mesh:
    charger = agent("charger", output=Answer, tools=[tool_], policy=StepPolicy(attempts=1))
    return Mesh([charger(careful)], model=ScriptedModel([]))


async def test_a_recorded_failure_is_raised_again_as_itself_and_nothing_live_runs() -> None:
    recorder = await _harness(_mesh(charge), "charger", Policy())
    recorded = await recorder.run(TICKET, task_id="t-1")
    assert [(r.kind, r.status) for r in recorded.recordings] == [
        ("step_input", "ok"),
        ("tool_call", "error"),
    ]
    assert recorded.output == '{"text":"not charged: card declined"}'

    report = await replay_task(_mesh(live_charge), "t-1", recorded.recordings, events=[])
    assert [(s.agent, s.differences, s.output) for s in report.steps] == [
        ("charger", [], '{"text":"not charged: card declined"}')
    ]
    assert LIVE_CALLS == []
