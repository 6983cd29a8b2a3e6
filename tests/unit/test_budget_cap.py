"""A model call is counted before it is made and capped to what remains of the budget."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Literal

import pytest

import agentmesh.agents.providers
from agentmesh.agents import (
    BudgetExceeded,
    ChatModel,
    Context,
    LlmRequest,
    LlmResponse,
    Mesh,
    Message,
    ScriptedModel,
    agent,
)
from agentmesh.agents._estimate import (
    CallEstimate,
    count_input_tokens,
    estimate_call,
    output_cap,
)
from agentmesh.agents._ledger import StepLedger
from agentmesh.agents.providers import (
    AnthropicChatModel,
    FallbackModel,
    ModelPrice,
    OpenAIChatModel,
    PriceTable,
)
from agentmesh.agents.providers.testing import FakeAnthropicServer, FakeOpenAIServer, FakeReply
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Budget, Contract, LlmCall


@pytest.fixture(autouse=True)
def _forbid_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentmesh.agents.providers, "ALLOW_MODEL_REQUESTS", False)


class Ask(Contract):
    prompt: str


class Said(Contract):
    text: str


@agent("asker", output=Said)
async def asker(ask: Ask, ctx: Context) -> Said:
    return Said(text=(await ctx.llm(ask.prompt)).text)


MESH = Mesh([asker])
TWENTY_WORDS = " ".join(f"w{i}" for i in range(20))


def llm_calls(usage: list[Any]) -> list[LlmCall]:
    return [u for u in usage if isinstance(u, LlmCall)]


# --- the ledger's check ------------------------------------------------------------------


def test_the_output_cap_is_what_remains_after_the_input() -> None:
    ledger = StepLedger(Budget(max_tokens=100), tokens=30)
    assert ledger.check_llm_call(CallEstimate(input_tokens=50)) == 20


def test_a_call_whose_input_what_remains_cannot_cover_is_refused() -> None:
    ledger = StepLedger(Budget(max_tokens=100), tokens=30)
    with pytest.raises(BudgetExceeded) as raised:
        ledger.check_llm_call(CallEstimate(input_tokens=70))
    assert str(raised.value) == (
        "budget exceeded: tokens used 30 + 71 for the next call at least, allowed 100"
    )


def test_a_priced_call_is_capped_to_the_remaining_cost_too() -> None:
    ledger = StepLedger(Budget(max_tokens=1000, max_cost_usd=Decimal("0.001")))
    # 100 input tokens at $1/M leave $0.0009 for output at $10/M: 90 tokens.
    estimate = CallEstimate(100, Decimal("0.000001"), Decimal("0.00001"))
    assert ledger.check_llm_call(estimate) == 90
    with pytest.raises(BudgetExceeded, match="cost_usd"):
        StepLedger(Budget(max_cost_usd=Decimal("0.0001"))).check_llm_call(estimate)


def test_no_token_or_priced_cost_limit_means_no_cap() -> None:
    ledger = StepLedger(Budget(max_cost_usd=Decimal(1), max_steps=5))
    assert ledger.check_llm_call(CallEstimate(10**6)) is None  # unpriced: cost not counted


def test_a_cap_is_sent_only_below_the_limit_the_call_would_have_anyway() -> None:
    asked = LlmRequest([Message("user", "hi")], max_tokens=50)
    unasked = LlmRequest([Message("user", "hi")])
    assert [
        output_cap(asked, CallEstimate(1), 40),
        output_cap(asked, CallEstimate(1), 60),
        output_cap(unasked, CallEstimate(1, output_limit=1024), 900),
        output_cap(unasked, CallEstimate(1, output_limit=1024), 2000),
        # The model's own limit unknown: a larger limit might be refused as a bad request.
        output_cap(unasked, CallEstimate(1), 4096),
        output_cap(unasked, CallEstimate(1), 4097),
    ] == [40, None, 900, None, 4096, None]


# --- counting the input --------------------------------------------------------------------


class Unsized:
    """A model that cannot count its input: the runtime's conservative count applies."""

    provider = "unsized"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        raise AssertionError("not called")


def test_without_a_tokenizer_the_count_is_utf8_bytes_plus_overheads() -> None:
    request = LlmRequest([Message("system", "Be brief."), Message("user", "héllo")])
    # 9 + 6 bytes, 8 per message, 8 for the reply.
    assert CallEstimate(9 + 6 + 2 * 8 + 8) == estimate_call(Unsized(), request)


def test_the_scripted_model_counts_exactly_what_it_will_bill() -> None:
    model = ScriptedModel(["a b c"], price_per_token_usd=Decimal("0.000002"))
    request = LlmRequest([Message("user", "one two three four")])
    expected = CallEstimate(4, Decimal("0.000002"), Decimal("0.000002"))
    assert expected == estimate_call(model, request)


def test_a_provider_given_its_tokenizer_counts_with_it() -> None:
    request = LlmRequest([Message("user", "one two three")])
    assert count_input_tokens(request, lambda text: len(text.split())) == 3 + 8 + 8


# --- through a step ------------------------------------------------------------------------


async def test_the_call_is_capped_so_the_step_spends_exactly_what_remains() -> None:
    model = ScriptedModel([TWENTY_WORDS])
    harness = AgentHarness(MESH, "asker", model=model)
    run = await harness.run(Ask(prompt="four words of prompt"), budget=Budget(max_tokens=10))
    (call,) = llm_calls(run.usage)
    assert (call.input_tokens, call.output_tokens, model.requests[0].max_tokens) == (4, 6, 6)
    assert run.output == '{"text":"w0 w1 w2 w3 w4 w5"}'


async def test_a_call_that_cannot_be_covered_is_not_made_and_the_step_parks() -> None:
    model = ScriptedModel([TWENTY_WORDS])
    harness = AgentHarness(MESH, "asker", model=model)
    run = await harness.run(Ask(prompt=TWENTY_WORDS), budget=Budget(max_tokens=20))
    (review,) = run.parked
    assert (model.calls, llm_calls(run.usage), review.kind) == (0, [], "budget")
    assert "tokens used 0 + 21 for the next call at least, allowed 20" in review.reason


async def test_without_a_token_budget_the_request_is_left_as_it_was() -> None:
    model = ScriptedModel([TWENTY_WORDS])
    await AgentHarness(MESH, "asker", model=model).run(Ask(prompt="hi"), budget=Budget())
    assert (model.requests[0].max_tokens, model.requests[0].max_total_tokens) == (None, None)


# --- the real providers receive the cap ----------------------------------------------------


# The prompt "one two three" as the fake servers bill it, and as `words` counts it:
# 3 words + 8 for the message + 8 for the reply.
BILLED_INPUT = 19
LONG = FakeReply("long answer", input_tokens=BILLED_INPUT, output_tokens=500)


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer([LONG]) as server:
        yield server


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer([LONG]) as server:
        yield server


def words(text: str) -> int:
    return len(text.split())


async def run_on(model: ChatModel, budget: Budget) -> list[LlmCall]:
    try:
        run = await AgentHarness(MESH, "asker", model=model).run(
            Ask(prompt="one two three"), budget=budget
        )
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    return llm_calls(run.usage)


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_openai_is_sent_the_cap_under_the_name_it_takes(
    openai_fake: FakeOpenAIServer, param: Literal["max_tokens", "max_completion_tokens"]
) -> None:
    config = dataclasses.replace(openai_fake.config(), count_tokens=words, max_tokens_param=param)
    (call,) = await run_on(OpenAIChatModel(config), Budget(max_tokens=100))
    # Input counted as 19: 81 tokens left for the reply, which stops there.
    assert openai_fake.requests[0].body[param] == 81
    assert (call.input_tokens, call.output_tokens) == (BILLED_INPUT, 81)


async def test_openai_with_an_unknown_output_limit_is_not_sent_a_large_one(
    openai_fake: FakeOpenAIServer,
) -> None:
    config = dataclasses.replace(openai_fake.config(), count_tokens=words)
    await run_on(OpenAIChatModel(config), Budget(max_tokens=100_000))
    assert "max_tokens" not in openai_fake.requests[0].body
    known = dataclasses.replace(config, max_output_tokens=200_000)
    await run_on(OpenAIChatModel(known), Budget(max_tokens=100_000))
    assert openai_fake.requests[1].body["max_tokens"] == 100_000 - 19


async def test_anthropic_is_sent_the_cap_when_below_its_default_limit(
    anthropic_fake: FakeAnthropicServer,
) -> None:
    config = dataclasses.replace(anthropic_fake.config(), count_tokens=words)
    (call,) = await run_on(AnthropicChatModel(config), Budget(max_tokens=100))
    await run_on(AnthropicChatModel(config), Budget(max_tokens=100_000))
    assert [r.body["max_tokens"] for r in anthropic_fake.requests] == [81, 1024]
    assert (call.input_tokens, call.output_tokens) == (BILLED_INPUT, 81)


async def test_a_provider_caps_to_the_remaining_cost_with_its_prices(
    openai_fake: FakeOpenAIServer,
) -> None:
    # $1 per million input tokens, $10 per million output tokens.
    prices = PriceTable({"gpt-4o-mini": ModelPrice(Decimal(1), Decimal(10))}, catalog=False)
    config = dataclasses.replace(openai_fake.config(), count_tokens=words)
    model = OpenAIChatModel(config, prices=prices)
    # 19 input tokens cost $0.000019; $0.0005 leaves room for 48 output tokens.
    (call,) = await run_on(model, Budget(max_cost_usd=Decimal("0.0005")))
    assert openai_fake.requests[0].body["max_tokens"] == 48
    assert call.cost_usd == Decimal("0.000499")


# --- a fallback chain shares the cap -------------------------------------------------------


async def test_a_fallback_chain_shares_what_remains_among_the_members_it_pays() -> None:
    first = ScriptedModel(["bad " + " ".join(["x"] * 9)])  # 10 words, rejected
    second = ScriptedModel([TWENTY_WORDS])
    chain = FallbackModel([first, second], validate=lambda r: not r.text.startswith("bad"))
    harness = AgentHarness(MESH, "asker", model=chain)
    run = await harness.run(Ask(prompt="four words of prompt"), budget=Budget(max_tokens=30))
    # First member: 4 in, 10 out of a 26-token cap. The second gets 30 - 14 - 4 = 12.
    assert (first.requests[0].max_tokens, second.requests[0].max_tokens) == (26, 12)
    (call,) = llm_calls(run.usage)
    assert (call.input_tokens + call.output_tokens, run.output is not None) == (30, True)


async def test_a_fallback_member_whose_input_cannot_be_covered_is_skipped() -> None:
    first = ScriptedModel(["bad " + " ".join(["x"] * 21)])  # 22 words: the whole cap
    second = ScriptedModel([TWENTY_WORDS])
    chain = FallbackModel([first, second], validate=lambda r: not r.text.startswith("bad"))
    request = LlmRequest([Message("user", "four words of prompt")], max_tokens=22)
    request = dataclasses.replace(request, max_total_tokens=26)
    with pytest.raises(agentmesh.agents.providers.FallbackExhausted) as raised:
        await chain.complete(request)
    assert [a["outcome"] for a in raised.value.attempts] == ["rejected", "budget"]
    assert second.calls == 0
