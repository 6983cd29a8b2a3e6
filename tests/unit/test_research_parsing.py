"""Reading model replies robustly, and the demo model's own replies."""

import pytest

from agentmesh.agents import LlmRequest, Message
from agentmesh_examples.research import PROMPTS, demo_model
from agentmesh_examples.research._demo import DEMO_FEEDBACK, demo_clauses
from agentmesh_examples.research._planner import parse_subquestions
from agentmesh_examples.research._prompts import PromptName
from agentmesh_examples.research._reviewer import DEFAULT_FEEDBACK, Verdict, parse_verdict


@pytest.mark.parametrize(
    ("reply", "limit", "expected"),
    [
        ("A?\nB?\nC?", 3, ["A?", "B?", "C?"]),
        ("A?\nB?\nC?\nD?", 2, ["A?", "B?"]),
        ("Sure! Here they are:\n1. A?\n2) B?\n(3) C?", 5, ["A?", "B?", "C?"]),
        ("- **A?**\n* `B?`\n• C?\nQ4: D?", 5, ["A?", "B?", "C?", "D?"]),
        ("A?\n\n  a?  \nA?", 5, ["A?"]),
        ("", 3, []),
    ],
)
def test_parse_subquestions(reply: str, limit: int, expected: list[str]) -> None:
    assert parse_subquestions(reply, limit) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("APPROVE", Verdict(approved=True)),
        ("approved.", Verdict(approved=True)),
        ("**Approve** - reads well", Verdict(approved=True)),
        ("REVISE: cite the sources", Verdict(approved=False, feedback="cite the sources")),
        ("revise:   ", Verdict(approved=False, feedback=DEFAULT_FEEDBACK)),
        ("The second paragraph is vague.", Verdict(False, "The second paragraph is vague.")),
        ("I would not approve this", Verdict(False, "I would not approve this")),
    ],
)
def test_parse_verdict(reply: str, expected: Verdict) -> None:
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize(
    ("question", "limit", "expected"),
    [
        (
            "How do Kafka transactions, idempotency keys and circuit breakers keep agents safe?",
            3,
            ["Kafka transactions", "idempotency keys", "circuit breakers keep agents safe"],
        ),
        ("A b, c d, e f, g h?", 2, ["A b", "c d and e f and g h"]),
        ("What is the waggle dance?", 3, ["the waggle dance"]),
        ("Do bees, wasps and ants sleep?", 3, ["bees", "wasps", "ants sleep"]),
        ("Why do bees swarm and how?", 3, ["bees swarm"]),
    ],
)
def test_demo_clauses(question: str, limit: int, expected: list[str]) -> None:
    assert demo_clauses(question, limit) == expected


async def _ask(name: PromptName, **values: object) -> str:
    prompt = PROMPTS[name]
    request = LlmRequest(
        messages=[Message("user", prompt.render(**values))],
        prompt_name=prompt.name,
        prompt_version=prompt.version,
    )
    return (await demo_model().complete(request)).text


async def test_demo_planner_writes_one_line_per_clause_up_to_the_limit() -> None:
    reply = await _ask("planner", question="What are bees and wasps?", max_subquestions=1)
    assert reply == "Bees and wasps: what is known?"


@pytest.mark.parametrize(
    ("revision", "expected"), [(0, f"REVISE: {DEMO_FEEDBACK}"), (1, "APPROVE"), (2, "APPROVE")]
)
async def test_demo_reviewer_asks_for_one_revision(revision: int, expected: str) -> None:
    reply = await _ask("reviewer", question="q", revision=revision, max_revisions=2, draft="d")
    assert reply == expected


async def test_demo_model_refuses_prompts_it_does_not_know() -> None:
    request = LlmRequest(messages=[Message("user", "hi")], prompt_name="poet")
    with pytest.raises(ValueError, match="not 'poet'"):
        await demo_model().complete(request)
