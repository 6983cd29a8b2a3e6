"""The OpenAI-compatible and Anthropic providers, against fake servers on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import agentmesh.agents.providers
from agentmesh.agents import LlmRequest, LlmResponse, Message, TransientError, tool
from agentmesh.agents.providers import (
    AnthropicChatModel,
    OpenAIChatModel,
    PriceTable,
    ProviderError,
    ToolDefinition,
)
from agentmesh.agents.providers.testing import (
    FakeAnthropicServer,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
)


@pytest.fixture(autouse=True)
def _forbid_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentmesh.agents.providers, "ALLOW_MODEL_REQUESTS", False)


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer() as server:
        yield server


async def ask(model: OpenAIChatModel | AnthropicChatModel, request: LlmRequest) -> LlmResponse:
    try:
        return await model.complete(request)
    finally:
        await model.aclose()


def openai_model(server: FakeOpenAIServer, **changes: Any) -> OpenAIChatModel:
    return OpenAIChatModel(dataclasses.replace(server.config("gpt-4o"), **changes))


def anthropic_model(server: FakeAnthropicServer, **changes: Any) -> AnthropicChatModel:
    return AnthropicChatModel(dataclasses.replace(server.config(), **changes))


HI = LlmRequest([Message("system", "Be brief."), Message("user", "hi")])
SCHEMA = {
    "title": "Answer",
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
}


class SearchArgs(BaseModel):
    query: str


class SearchResult(BaseModel):
    hits: list[str]


@tool()
async def search(args: SearchArgs) -> SearchResult:
    """Search the web."""
    return SearchResult(hits=[args.query])


# --- OpenAI-compatible ---


async def test_openai_text_usage_and_catalogue_cost(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply("hello", input_tokens=12, output_tokens=3)]
    request = dataclasses.replace(HI, temperature=0.2, max_tokens=50)

    reply = await ask(openai_model(openai_fake, price_as="openai"), request)

    # gpt-4o: $2.50 in, $10 out per million tokens.
    assert (
        LlmResponse(
            "hello", "openai", "gpt-4o", 12, 3, Decimal("0.00006"), {"finish_reason": "stop"}
        )
        == reply
    )
    assert [r.body for r in openai_fake.requests] == [
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "temperature": 0.2,
            "max_tokens": 50,
        }
    ]
    assert openai_fake.requests[0].headers["authorization"] == "Bearer test-key"


async def test_openai_local_model_price_is_unknown_not_zero(openai_fake: FakeOpenAIServer) -> None:
    reply = await ask(openai_model(openai_fake, model="llama3.1:8b", provider="ollama"), HI)

    assert (reply.provider, reply.model, reply.cost_usd) == ("ollama", "llama3.1:8b", None)


async def test_openai_private_model_priced_from_override_file(
    openai_fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  vllm:my-tune: {input_per_mtok: 0.2, output_per_mtok: '0.6'}\n")
    config = dataclasses.replace(openai_fake.config("my-tune"), provider="vllm")
    model = OpenAIChatModel(config, prices=PriceTable.from_file(prices))

    reply = await model.complete(HI)
    await model.aclose()

    assert Decimal("0.000005") == reply.cost_usd  # (10 * 0.2 + 5 * 0.6) / 1e6


async def test_openai_structured_output_request(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply('{"answer": 42}')]

    reply = await ask(openai_model(openai_fake), dataclasses.replace(HI, output_schema=SCHEMA))

    assert reply.text == '{"answer": 42}'
    assert openai_fake.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": SCHEMA, "strict": False},
    }


async def test_openai_newer_token_limit_name(openai_fake: FakeOpenAIServer) -> None:
    request = dataclasses.replace(HI, max_tokens=7)

    await ask(openai_model(openai_fake, max_tokens_param="max_completion_tokens"), request)

    body = openai_fake.requests[0].body
    assert (body.get("max_completion_tokens"), body.get("max_tokens")) == (7, None)


async def test_openai_tools_offered_and_calls_surfaced(openai_fake: FakeOpenAIServer) -> None:
    call = FakeToolCall("search", {"query": "kafka"}, id="call_9")
    openai_fake.replies = [FakeReply("", tool_calls=(call,))]
    model = OpenAIChatModel(openai_fake.config("gpt-4o")).with_tools([search])

    reply = await model.complete(HI)
    await model.aclose()

    assert reply.extra == {
        "finish_reason": "tool_calls",
        "tool_calls": [{"id": "call_9", "name": "search", "arguments": {"query": "kafka"}}],
    }
    assert [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web.",
                "parameters": SearchArgs.model_json_schema(),
            },
        }
    ] == openai_fake.requests[0].body["tools"]


async def test_openai_missing_usage_means_unknown_cost(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply("hi", usage=False)]

    reply = await ask(openai_model(openai_fake, price_as="openai"), HI)

    assert (
        reply.input_tokens,
        reply.output_tokens,
        reply.cost_usd,
        reply.extra["usage_missing"],
    ) == (0, 0, None, True)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_openai_retryable_statuses_are_transient(
    openai_fake: FakeOpenAIServer, status: int
) -> None:
    openai_fake.replies = [FakeReply(status=status)]

    with pytest.raises(TransientError, match=f"openai failed with HTTP {status}"):
        await ask(openai_model(openai_fake), HI)


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_openai_refusals_are_not_transient(
    openai_fake: FakeOpenAIServer, status: int
) -> None:
    openai_fake.replies = [FakeReply(status=status)]

    with pytest.raises(ProviderError) as caught:
        await ask(openai_model(openai_fake), HI)

    assert not isinstance(caught.value, TransientError)
    assert ("openai", status) == (caught.value.provider, caught.value.status)


async def test_openai_401_names_the_key(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply(status=401)]

    with pytest.raises(ProviderError, match=r"\[401\]: .*fake failure 401.*check the API key"):
        await ask(openai_model(openai_fake), HI)


async def test_openai_timeout_is_transient(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply(delay_s=5)]

    with pytest.raises(TransientError, match="timed out"):
        await ask(openai_model(openai_fake, timeout_s=0.2), HI)


async def test_openai_sdk_retries_before_giving_up(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.replies = [FakeReply(status=500), FakeReply("second time lucky")]

    reply = await ask(openai_model(openai_fake, max_retries=1), HI)

    assert (reply.text, len(openai_fake.requests)) == ("second time lucky", 2)


# --- Anthropic ---


async def test_anthropic_system_prompt_usage_and_cost(anthropic_fake: FakeAnthropicServer) -> None:
    anthropic_fake.replies = [FakeReply("hello", input_tokens=12, output_tokens=3)]
    request = LlmRequest(
        [
            Message("system", "Be brief."),
            Message("user", "hi"),
            Message("system", "Answer in English."),
            Message("user", "again"),
            Message("assistant", "hello"),
        ],
        max_tokens=64,
    )

    reply = await ask(anthropic_model(anthropic_fake, price_as="anthropic"), request)

    # claude-haiku-4-5: $1 in, $5 out per million tokens.
    assert (
        LlmResponse(
            "hello",
            "anthropic",
            "claude-haiku-4-5",
            12,
            3,
            Decimal("0.000027"),
            {"stop_reason": "end_turn"},
        )
        == reply
    )
    assert anthropic_fake.requests[0].body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "hi\n\nagain"},
            {"role": "assistant", "content": "hello"},
        ],
    }
    headers = anthropic_fake.requests[0].headers
    # Older SDKs send the key as x-api-key, newer ones as a bearer token.
    assert "test-key" in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )


async def test_anthropic_unknown_price_is_none(anthropic_fake: FakeAnthropicServer) -> None:
    reply = await ask(anthropic_model(anthropic_fake, model="claude-private-1"), HI)

    assert (reply.model, reply.cost_usd) == ("claude-private-1", None)


async def test_anthropic_structured_output_via_forced_tool(
    anthropic_fake: FakeAnthropicServer,
) -> None:
    answer = FakeToolCall("final_result", {"answer": 42}, id="toolu_1")
    anthropic_fake.replies = [FakeReply("", tool_calls=(answer,))]

    reply = await ask(
        anthropic_model(anthropic_fake), dataclasses.replace(HI, output_schema=SCHEMA)
    )

    assert (reply.text, reply.extra) == ('{"answer":42}', {"stop_reason": "tool_use"})
    body = anthropic_fake.requests[0].body
    assert (body["tools"], body["tool_choice"]) == (
        [
            {
                "name": "final_result",
                "description": "Give the final answer, shaped by this schema.",
                "input_schema": SCHEMA,
            }
        ],
        {"type": "tool", "name": "final_result"},
    )


async def test_anthropic_tool_calls_surfaced(anthropic_fake: FakeAnthropicServer) -> None:
    call = FakeToolCall("search", {"query": "kafka"}, id="toolu_2")
    anthropic_fake.replies = [FakeReply("Let me look.", tool_calls=(call,))]
    definition = ToolDefinition("search", SearchArgs.model_json_schema(), "Search the web.")
    model = AnthropicChatModel(anthropic_fake.config()).with_tools([definition])

    reply = await model.complete(HI)
    await model.aclose()

    assert (reply.text, reply.extra) == (
        "Let me look.",
        {
            "stop_reason": "tool_use",
            "tool_calls": [{"id": "toolu_2", "name": "search", "arguments": {"query": "kafka"}}],
        },
    )
    assert [
        {
            "name": "search",
            "description": "Search the web.",
            "input_schema": SearchArgs.model_json_schema(),
        }
    ] == anthropic_fake.requests[0].body["tools"]


@pytest.mark.parametrize("status", [429, 500, 529])
async def test_anthropic_retryable_statuses_are_transient(
    anthropic_fake: FakeAnthropicServer, status: int
) -> None:
    anthropic_fake.replies = [FakeReply(status=status)]

    with pytest.raises(TransientError, match=f"anthropic failed with HTTP {status}"):
        await ask(anthropic_model(anthropic_fake), HI)


async def test_anthropic_401_is_not_transient(anthropic_fake: FakeAnthropicServer) -> None:
    anthropic_fake.replies = [FakeReply(status=401)]

    with pytest.raises(ProviderError, match=r"anthropic rejected .*\[401\].*check the API key"):
        await ask(anthropic_model(anthropic_fake), HI)


async def test_anthropic_timeout_is_transient(anthropic_fake: FakeAnthropicServer) -> None:
    anthropic_fake.replies = [FakeReply(delay_s=5)]

    with pytest.raises(TransientError, match="timed out"):
        await ask(anthropic_model(anthropic_fake, timeout_s=0.2), HI)
