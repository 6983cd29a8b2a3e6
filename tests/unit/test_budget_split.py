"""A fan-out divides what remains of the budget among its handoffs: equal shares, or asked."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agentmesh.agents import BudgetExceeded, Context, Mesh, Outgoing, agent
from agentmesh.agents._split import split_budget
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Budget
from tests.apps import pipeline
from tests.apps.pipeline import Plan, Work

DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)


def test_equal_shares_add_up_to_what_remains_and_chain_limits_are_kept() -> None:
    remaining = Budget(
        max_tokens=100,
        max_cost_usd=Decimal(1),
        max_steps=10,
        max_hops=5,
        deadline=DEADLINE,
    )
    shares = split_budget(remaining, [None, None, None])
    third = Decimal("0.3333333333")
    assert [
        Budget(
            max_tokens=34,
            max_cost_usd=Decimal(1) - 2 * third,
            max_steps=4,
            max_hops=5,
            deadline=DEADLINE,
        ),
        Budget(max_tokens=33, max_cost_usd=third, max_steps=3, max_hops=5, deadline=DEADLINE),
        Budget(max_tokens=33, max_cost_usd=third, max_steps=3, max_hops=5, deadline=DEADLINE),
    ] == shares


def test_one_handoff_gets_everything_that_remains() -> None:
    remaining = Budget(max_tokens=95, max_steps=3, max_cost_usd=Decimal("0.25"))
    assert [remaining] == split_budget(remaining, [None])


def test_an_asked_amount_is_taken_first_and_the_others_share_the_rest() -> None:
    remaining = Budget(max_tokens=100, max_steps=9)
    shares = split_budget(remaining, [Budget(max_tokens=60), None, None])
    # Tokens: 60 asked, the other two share 40. Steps: nobody asked, all three share.
    assert [(s.max_tokens, s.max_steps) for s in shares] == [(60, 3), (20, 3), (20, 3)]


def test_asking_for_more_than_remains_stops_the_step_naming_the_dimension() -> None:
    remaining = Budget(max_tokens=100)
    with pytest.raises(BudgetExceeded) as raised:
        split_budget(remaining, [Budget(max_tokens=70), Budget(max_tokens=40)])
    assert (raised.value.limit, str(raised.value)) == (
        "tokens",
        "budget exceeded: tokens used 110 asked by this step's handoffs, allowed 100",
    )


def test_unlimited_dimensions_stay_unlimited_unless_a_handoff_asks_for_a_limit() -> None:
    shares = split_budget(Budget(), [Budget(max_tokens=500), None])
    assert [Budget(max_tokens=500), Budget()] == shares


def test_hops_and_deadline_may_only_be_tightened() -> None:
    remaining = Budget(max_hops=5, deadline=DEADLINE)
    sooner = DEADLINE - timedelta(minutes=1)
    asked = [
        Budget(max_hops=9, deadline=DEADLINE + timedelta(days=1)),
        Budget(max_hops=2, deadline=sooner),
    ]
    shares = split_budget(remaining, asked)
    assert [(5, DEADLINE), (2, sooner)] == [(s.max_hops, s.deadline) for s in shares]


@agent("chooser")
async def chooser(plan: Plan, ctx: Context) -> list[Outgoing]:
    """Gives the first handoff ``parts`` tokens of its own; the other two share the rest."""
    return [
        ctx.handoff("worker", Work(part=0, text="big"), budget=Budget(max_tokens=plan.parts)),
        ctx.handoff("worker", Work(part=1, text="small")),
        ctx.handoff("worker", Work(part=2, text="small")),
    ]


CHOOSER_MESH = Mesh([chooser, *pipeline.mesh.agents.values()])


async def test_a_handoff_asks_for_its_own_budget_on_the_wire() -> None:
    harness = AgentHarness(CHOOSER_MESH, "chooser")
    run = await harness.run(Plan(question="q", parts=50), budget=Budget(max_tokens=90))
    assert [h.budget.max_tokens for h in run.handoffs] == [50, 20, 20]


async def test_handoffs_asking_for_more_than_remains_park_the_step_for_a_person() -> None:
    harness = AgentHarness(CHOOSER_MESH, "chooser")
    run = await harness.run(Plan(question="q", parts=91), budget=Budget(max_tokens=90))
    (review,) = run.parked
    assert (run.handoffs, run.dead_letters, review.kind) == ([], [], "budget")
    assert "tokens used 91 asked by this step's handoffs, allowed 90" in review.reason
