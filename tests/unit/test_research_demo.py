"""The research mesh end to end through the harness, and what its usage events record."""

from typing import Any

from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import LlmCall, ToolCall
from agentmesh_examples.research import Report, ResearchQuestion, demo_model, mesh
from tests.unit.test_research_agents import ALL_SOURCES, SECOND_DRAFT, Q, prompt_version


def _call_name(usage: LlmCall | ToolCall) -> str:
    return "llm" if isinstance(usage, LlmCall) else usage.tool


async def test_prompt_name_and_version_are_recorded_on_llm_call_usage_events() -> None:
    run = await AgentHarness(mesh, "planner").run(ResearchQuestion(question=Q))
    assert [(u.prompt_name, u.prompt_version) for u in run.usage if isinstance(u, LlmCall)] == [
        ("planner", prompt_version("planner"))
    ]


async def test_a_demo_task_goes_through_every_agent_and_the_loop_once() -> None:
    models = {name: demo_model() for name in mesh.agents}
    harnesses = {name: AgentHarness(mesh, name, model=models[name]) for name in mesh.agents}
    inbox: list[tuple[str, Any, int]] = [("planner", ResearchQuestion(question=Q), 0)]
    steps: list[str] = []
    calls: list[str] = []
    outputs: list[str] = []
    hops = 0
    while inbox:
        to, payload, hop = inbox.pop(0)
        run = await harnesses[to].run(payload, hop=hop)
        assert run.dead_letters == []
        steps.append(to)
        calls.extend(_call_name(u) for u in run.usage)
        inbox.extend((h.to_agent, h.payload, h.hop) for h in run.handoffs)
        hops = max([hops, *(h.hop for h in run.handoffs)])
        outputs.extend([run.output] if run.output else [])
    assert steps == [
        "planner",
        *["researcher"] * 3,
        *["writer"] * 3,
        "reviewer",
        "writer",
        "reviewer",
    ]
    assert calls == ["llm", *["search", "llm"] * 3, "llm", "llm", "llm", "llm"]
    assert [r.prompt_name for m in models.values() for r in m.requests] == [
        "planner",
        *["researcher"] * 3,
        *["writer"] * 2,
        *["reviewer"] * 2,
    ]
    assert hops == 5
    assert [Report.model_validate_json(o) for o in outputs] == [
        Report(question=Q, text=SECOND_DRAFT.text, revisions=1, approved=True, sources=ALL_SOURCES)
    ]
