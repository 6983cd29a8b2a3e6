"""The sample mesh on a real provider path: OpenAIChatModel against the local fake server."""

import dataclasses
from decimal import Decimal

from agentmesh.agents import OpenAIChatModel
from agentmesh.agents.providers.testing import FakeOpenAIServer, FakeReply
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import LlmCall
from agentmesh_examples.research import ResearchQuestion, mesh


async def test_planner_runs_on_an_openai_compatible_model() -> None:
    async with FakeOpenAIServer() as server:
        server.replies = [
            FakeReply("1. What is a Kafka transaction?\n2. What is an idempotency key?", 120, 20)
        ]
        model = OpenAIChatModel(dataclasses.replace(server.config("gpt-4o"), price_as="openai"))
        run = await AgentHarness(mesh, "planner", model=model).run(
            ResearchQuestion(question="How do agents stay reliable?")
        )
    assert [h.payload.sub_question for h in run.handoffs] == [
        "What is a Kafka transaction?",
        "What is an idempotency key?",
    ]
    (call,) = [u for u in run.usage if isinstance(u, LlmCall)]
    # gpt-4o: $2.50 in, $10 out per million tokens, from genai-prices.
    assert (call.provider, call.model, call.input_tokens, call.output_tokens, call.cost_usd) == (
        "openai",
        "gpt-4o",
        120,
        20,
        Decimal("0.0005"),
    )
    assert server.requests[0].body["messages"][0]["content"].startswith("You plan research")
