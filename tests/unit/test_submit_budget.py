"""A submission carries the budget the policy allows, so agents enforce it before every call
(the supervisor then only backs it up across agents and fan-out)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from agentmesh.agents._build_task import build_task
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Budget, StepFinished
from agentmesh.core.policy import Policy
from tests.apps import governed
from tests.apps.governed import Refund, Spin

POLICY = Policy.model_validate(
    {
        "budgets": {
            "default": {"max_steps": 5, "deadline_s": 60},
            "agents": {"looper": {"max_steps": 3}},
            "tenants": {"acme": {"budget": {"max_cost_usd": "0.10"}}},
        }
    }
)


def test_the_first_handoff_carries_the_tightest_of_submission_and_policy() -> None:
    task, handoff = build_task(
        governed.mesh,
        "looper",
        Spin(),
        budget=Budget(max_steps=10, max_tokens=500),
        policy=POLICY,
        task_id=None,
        tenant="acme",
        submitted_by="t",
        idempotency_key=None,
    )
    b = handoff.budget
    assert (b.max_steps, b.max_tokens, b.max_cost_usd) == (3, 500, Decimal("0.10"))
    assert b.deadline == task.submitted_at + timedelta(seconds=60)
    # The task record keeps what was asked for: the supervisor recomputes the same budget.
    assert (task.budget.max_steps, task.budget.max_cost_usd) == (10, None)


def test_without_a_policy_the_submission_is_the_budget() -> None:
    _, handoff = build_task(
        governed.mesh,
        "payer",
        Refund(order="o", amount=1),
        budget=Budget(max_steps=7),
        task_id=None,
        tenant="default",
        submitted_by="t",
        idempotency_key=None,
    )
    assert handoff.budget == Budget(max_steps=7)


async def test_an_agent_stops_itself_at_a_stamped_policy_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The looper would call its model forever; the stamped 3 steps park it after 3."""
    monkeypatch.setenv("LOOPER_DELAY_S", "0")
    _, handoff = build_task(
        governed.mesh,
        "looper",
        Spin(),
        budget=Budget(),
        policy=POLICY,
        task_id="t-loop",
        tenant="default",
        submitted_by="t",
        idempotency_key=None,
    )
    harness = AgentHarness(governed.mesh, "looper")
    calls = 0
    current = handoff
    for _ in range(10):
        run = await harness.run_envelope(current)
        calls += sum(1 for u in run.usage if u.kind == "llm_call")
        if run.parked:
            (parked,) = run.parked
            assert parked.kind == "budget"
            # A handoff carries what remains: nothing left for the 4th call.
            assert "budget exceeded: steps used 1, allowed 0" in parked.reason
            break
        assert any(isinstance(e.body, StepFinished) for e in run.events)
        (current,) = run.handoffs
    else:
        raise AssertionError("the looper was never stopped")
    assert calls == 3
