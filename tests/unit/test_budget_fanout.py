"""A task's budget holds across the research mesh's fan-out and fan-in: whole tasks through
the harness, every agent's step fed the handoffs the previous ones emitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agentmesh.agents.testing import AgentHarness, HarnessRun
from agentmesh.contracts import Budget, Handoff, LlmCall
from agentmesh_examples.research import DEFAULT_QUESTION, ResearchQuestion, demo_model, mesh
from tests.apps import fanin
from tests.apps.fanin import Part


@dataclass
class Task:
    """What one task did across the mesh."""

    runs: list[tuple[str, HarnessRun]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(c.input_tokens + c.output_tokens for c in self.calls)

    @property
    def calls(self) -> list[LlmCall]:
        return [u for _, r in self.runs for u in r.usage if isinstance(u, LlmCall)]

    @property
    def completed(self) -> bool:
        return any(r.output is not None for _, r in self.runs)

    def handoffs_to(self, agent: str) -> list[Handoff[Any]]:
        return [h for _, r in self.runs for h in r.handoffs if h.to_agent == agent]

    def parked_at(self) -> list[str]:
        return [name for name, r in self.runs for _ in r.parked]


async def research(budget: Budget) -> Task:
    """The demo question through all four agents, in the order Kafka would deliver it."""
    model = demo_model()
    harnesses = {n: AgentHarness(mesh, n, model=model) for n in mesh.agents}
    task = Task()
    first = await harnesses["planner"].run(
        ResearchQuestion(question=DEFAULT_QUESTION), budget=budget
    )
    queue = [("planner", first)]
    while queue:
        name, run = queue.pop(0)
        task.runs.append((name, run))
        for handoff in run.handoffs:
            target = handoff.to_agent
            queue.append((target, await harnesses[target].run_envelope(handoff)))
    return task


async def test_a_fan_out_cannot_spend_its_budget_once_per_branch() -> None:
    # Each researcher used to get the planner's whole remainder (205) and spend ~280 of it:
    # 932 tokens against 300. Now the three share 205, and a call their share cannot
    # cover is not made: the researchers park for a person to extend the budget.
    task = await research(Budget(max_tokens=300))
    assert [h.budget.max_tokens for h in task.handoffs_to("researcher")] == [69, 68, 68]
    assert (task.tokens, task.parked_at()) == (95, ["researcher"] * 3)


@pytest.mark.parametrize("max_tokens", range(100, 3001, 100))
async def test_the_whole_task_never_spends_more_tokens_than_its_budget(max_tokens: int) -> None:
    task = await research(Budget(max_tokens=max_tokens))
    assert task.tokens <= max_tokens
    assert task.completed or task.parked_at()  # stopped for a person, never dropped


async def test_a_fan_in_spends_what_every_branch_left_and_the_task_completes() -> None:
    task = await research(Budget(max_tokens=5000))
    # Each finding carries its branch's remainder; the writer's draft step had all three.
    kept = sum(h.budget.max_tokens or 0 for h in task.handoffs_to("writer")[:3])
    (draft, *_) = task.handoffs_to("reviewer")
    writer_spent = task.calls[4].input_tokens + task.calls[4].output_tokens
    assert draft.budget.max_tokens == kept - writer_spent
    assert (task.completed, task.parked_at()) == (True, [])
    assert task.tokens <= 5000


async def test_the_budget_kept_by_a_waiting_fan_in_is_committed_with_its_state() -> None:
    harness = AgentHarness(fanin.mesh, "joiner")
    await harness.run(Part(n=0, of=3), budget=Budget(max_tokens=10, max_steps=2, max_hops=7))
    await harness.run(Part(n=1, of=3), budget=Budget(max_tokens=5, max_steps=1), commit=False)
    kept = harness.state.get("task-1")
    assert kept is not None
    assert Budget(max_tokens=10, max_steps=2) == kept.budget  # the crashed step kept nothing
    await harness.run(Part(n=1, of=3), budget=Budget(max_tokens=5, max_steps=1))
    state = harness.state.get("task-1")
    assert state is not None
    assert Budget(max_tokens=15, max_steps=3) == state.budget
    done = await harness.run(Part(n=2, of=3), budget=Budget(max_tokens=1))
    assert (done.output, harness.state.get("task-1")) == ('{"parts":[0,1,2]}', None)


async def test_a_step_without_state_keeps_nothing() -> None:
    harness = AgentHarness(fanin.mesh, "joiner")
    await harness.run(Part(n=0, of=1), budget=Budget(max_tokens=10))
    assert harness.state.get("task-1") is None
