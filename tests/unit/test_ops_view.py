"""The operations overview's fold of ledger records: live tasks, ends counted once, spend as
the growth of each task's cost in the minute it was seen, parked tasks marked."""

from __future__ import annotations

from decimal import Decimal

import orjson

from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core import Settings
from agentmesh.gateway._ops import OpsView, SpendSeries

T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)


def _ledger(task_id: str, status: str, cost: str, tenant: str = "acme", steps: int = 1) -> bytes:
    return orjson.dumps(
        {
            "task_id": task_id,
            "tenant": tenant,
            "entry_agent": "planner",
            "status": status,
            "steps": steps,
            "tokens": 10 * steps,
            "cost_usd": cost,
            "max_hop": 1,
            "budget": {"max_steps": 4},
        }
    )


def _view(parked: dict[str, str] | None = None) -> OpsView:
    return OpsView(Settings(namespace="ops"), InMemorySchemaRegistry(), parked=lambda: parked or {})


async def test_live_tasks_carry_their_budget_use_and_leave_when_they_end() -> None:
    view = _view()
    await view._ledger(b'"t1"', _ledger("t1", "running", "0.5", steps=2), T0)
    await view._ledger(b'"t2"', _ledger("t2", "running", "0.25"), T0 + 1)
    snap = view.snapshot()
    assert [t["task_id"] for t in snap["tasks"]] == ["t2", "t1"]  # most recently active first
    assert snap["tasks"][1]["steps"] == {"used": "2", "limit": "4", "share": 0.5}
    assert snap["tasks"][1]["tokens"]["limit"] is None
    await view._ledger(b'"t1"', _ledger("t1", "completed", "0.75", steps=3), T0 + 2)
    await view._ledger(b'"t1"', _ledger("t1", "completed", "0.75", steps=3), T0 + 3)
    await view._ledger(b'"t2"', None, T0 + 4)  # the ledger was deleted
    snap = view.snapshot()
    assert snap["tasks"] == []
    assert (snap["live"], snap["completed"], snap["failed"]) == (0, 1, 0)


async def test_a_task_first_seen_finished_is_counted_once() -> None:
    view = _view()
    await view._ledger(b'"old"', _ledger("old", "failed", "1"), T0)
    await view._ledger(b'"old"', _ledger("old", "failed", "1"), T0 + 5)
    assert (view.failed, view.completed, view.live) == (1, 0, {})


async def test_spend_is_the_growth_of_each_tasks_cost_in_its_minute() -> None:
    view = _view()
    await view._ledger(b'"a"', _ledger("a", "running", "0.5"), T0 + 10)
    await view._ledger(b'"a"', _ledger("a", "running", "0.75"), T0 + 70)
    await view._ledger(b'"b"', _ledger("b", "running", "2", tenant="zeta"), T0 + 75)
    series = view.spend.as_json(since_minutes=3, now_s=T0 + 80)
    assert series["tenants"] == {"acme": ["0", "0.5", "0.25"], "zeta": ["0", "0", "2"]}


async def test_parked_tasks_are_marked_and_republished() -> None:
    parked: dict[str, str] = {}
    view = _view(parked)
    await view._ledger(b'"t"', _ledger("t", "running", "0"), T0)
    assert view.snapshot()["tasks"][0]["parked"] is None
    view._changed.clear()
    parked["t"] = "budget"
    assert view.snapshot()["tasks"][0]["parked"] == "budget"
    assert view._changed == {"t"}  # subscribers hear of it on the next tick


def test_the_spend_series_forgets_what_is_older_than_it_keeps() -> None:
    series = SpendSeries(keep_minutes=2)
    series.add("acme", T0, Decimal("1"))
    series.add("acme", T0 + 180, Decimal("1"))
    assert list(series.minutes["acme"]) == [int(T0 // 60) + 3]
    series.add("acme", T0 + 200, Decimal("0"))  # nothing spent: nothing recorded
    assert sum(series.minutes["acme"].values()) == Decimal("1")
