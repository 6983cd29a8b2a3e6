"""The runtime's side of governance, broker-free: review gates, released input, tenant
pauses and agent breakers."""

from __future__ import annotations

from datetime import timedelta

from agentmesh.agents import ScriptedModel
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import ControlCommand, StepFinished, utcnow
from agentmesh.core.policy import Policy
from tests.apps import governed, pipeline
from tests.apps.governed import Refund
from tests.apps.pipeline import Plan

GATES = Policy.model_validate(
    {
        "reviews": {
            "rules": [
                {
                    "name": "big refunds",
                    "tool": "refund",
                    "approvals": 2,
                    "field": {"path": "amount", "gt": 100},
                    "timeout_s": 600,
                },
                {
                    "name": "second opinion",
                    "agent": "worker",
                    "field": {"path": "part", "equals": 1},
                },
            ]
        }
    }
)


def _released(seconds_ago: float = 0) -> list[tuple[str, bytes]]:
    at = utcnow() - timedelta(seconds=seconds_ago)
    return [("agentmesh-review-id", b"r1"), ("agentmesh-released-at", at.isoformat().encode())]


async def test_a_gated_tool_call_parks_the_step_before_the_tool_runs() -> None:
    governed.REFUNDS.clear()
    harness = AgentHarness(governed.mesh, "payer", policy=GATES)
    assert (await harness.run(Refund(order="a", amount=5))).output is not None
    run = await harness.run(Refund(order="b", amount=500), task_id="t-b")
    (request,) = run.parked
    assert (request.kind, request.required_approvals, request.task_id) == ("tool_call", 2, "t-b")
    assert "big refunds" in request.reason
    assert request.expires_at is not None
    assert [r.order for r in governed.REFUNDS] == ["a"]
    # Released by reviewers: the same bytes run again and the tool is called.
    again = await harness.run_raw(request.parked_value, b"t-b", headers=_released())
    assert again.output is not None
    assert [r.order for r in governed.REFUNDS] == ["a", "b"]


async def test_a_gated_handoff_is_parked_for_its_target_and_others_flow() -> None:
    harness = AgentHarness(pipeline.mesh, "planner", model=ScriptedModel(["x"]), policy=GATES)
    run = await harness.run(Plan(question="q", parts=3))
    assert sorted(h.payload.part for h in run.handoffs) == [0, 2]
    (request,) = run.parked
    assert (request.kind, request.target_topic) == ("handoff", "harness.agent.worker")
    held = await (await harness.codecs.inbox_of("worker")).decode(request.parked_value)
    assert held.payload.part == 1
    (finished,) = [e.body for e in run.events if isinstance(e.body, StepFinished)]
    assert len(finished.handoffs) == 3  # the supervisor still sees all three


async def test_a_tenant_pause_parks_that_tenants_work_only() -> None:
    harness = AgentHarness(governed.mesh, "payer")
    harness.apply(
        ControlCommand(
            scope="tenant",
            target="default",
            action="pause",
            reason="spend limit",
            issued_by="supervisor",
            review_kind="budget",
        )
    )
    run = await harness.run(Refund(order="c", amount=1))
    assert [r.kind for r in run.parked] == ["budget"]


async def test_work_parked_by_a_pause_times_out_as_the_policy_says() -> None:
    pause = ControlCommand(
        scope="task", target="t9", action="pause", reason="loop", issued_by="supervisor"
    )
    escalating = Policy.model_validate({"reviews": {"on_timeout": "escalate"}})
    for policy, expected in ((escalating, "escalate"), (None, "reject")):
        harness = AgentHarness(governed.mesh, "payer", policy=policy)
        harness.apply(pause)
        (parked,) = (await harness.run(Refund(order="e", amount=1), task_id="t9")).parked
        assert (parked.kind, parked.on_timeout) == ("pause", expected)


async def test_release_time_lets_a_step_through_an_older_pause_but_not_a_newer_one() -> None:
    harness = AgentHarness(governed.mesh, "payer")
    harness.apply(
        ControlCommand(scope="task", target="t1", action="pause", reason="loop", issued_by="sv")
    )
    parked = (await harness.run(Refund(order="d", amount=1), task_id="t1")).parked[0]
    # Released a minute before the pause was issued: the pause still holds it.
    stale = await harness.run_raw(parked.parked_value, b"t1", headers=_released(seconds_ago=60))
    assert [r.kind for r in stale.parked] == ["pause"]
    ok = await harness.run_raw(parked.parked_value, b"t1", headers=_released())
    assert ok.output is not None


async def test_an_open_agent_breaker_halts_the_agent() -> None:
    import pytest

    from agentmesh.agents._processor import Halted

    harness = AgentHarness(governed.mesh, "payer")
    harness.apply(
        ControlCommand(
            scope="agent",
            target="payer/breaker",
            action="breaker_open",
            reason="failing",
            issued_by="sv",
        )
    )
    with pytest.raises(Halted):
        await harness.run(Refund(order="e", amount=1))
    harness.apply(
        ControlCommand(
            scope="agent",
            target="payer/breaker",
            action="breaker_half_open",
            reason="probe",
            issued_by="sv",
        )
    )
    assert (await harness.run(Refund(order="e", amount=1))).output is not None
