"""Prices, fallback routing, model specs and the switch that forbids real model requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

import agentmesh.agents.providers
from agentmesh.agents import LlmRequest, LlmResponse, Message, ScriptedModel, TransientError
from agentmesh.agents.providers import (
    SPEC_FORMS,
    AnthropicChatModel,
    AnthropicConfig,
    FallbackExhausted,
    FallbackModel,
    ModelPrice,
    ModelRequestsForbidden,
    OpenAIChatModel,
    OpenAIConfig,
    PriceTable,
    ProviderError,
    is_loopback_url,
    model_from_spec,
    override_allow_model_requests,
)
from agentmesh.agents.providers.testing import FakeAnthropicServer, FakeOpenAIServer, FakeReply


@pytest.fixture(autouse=True)
def _forbid_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentmesh.agents.providers, "ALLOW_MODEL_REQUESTS", False)


HI = LlmRequest([Message("user", "hi")])


class Answer(BaseModel):
    answer: int


class Stub:
    """A member with its own provider name that answers, or fails, from a list."""

    def __init__(self, provider: str, outcomes: list[LlmResponse | Exception]) -> None:
        self._provider = provider
        self.outcomes = outcomes
        self.calls = 0

    @property
    def provider(self) -> str:
        return self._provider

    async def complete(self, request: LlmRequest) -> LlmResponse:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def reply(provider: str, text: str, cost: Decimal | None = Decimal("0.001")) -> LlmResponse:
    return LlmResponse(text, provider, f"{provider}-model", 10, 5, cost)


# --- prices ---


def test_override_scoped_to_provider_beats_bare_name() -> None:
    table = PriceTable(
        {
            "llama3.1:8b": ModelPrice(Decimal("0.1"), Decimal("0.2")),
            "vllm:llama3.1:8b": ModelPrice(Decimal(1), Decimal(2)),
        }
    )

    assert (Decimal("0.000005"), Decimal("0.00005")) == (
        table.cost("llama3.1:8b", 10, 20, provider="ollama"),
        table.cost("llama3.1:8b", 10, 20, provider="vllm"),
    )


def test_catalogue_by_provider_id_or_url_else_unknown() -> None:
    table = PriceTable()

    assert (Decimal("12.5"), Decimal("12.5"), None, None) == (
        table.cost("gpt-4o", 1_000_000, 1_000_000, provider="x", price_as="openai"),
        table.cost(
            "gpt-4o", 1_000_000, 1_000_000, provider="x", api_url="https://api.openai.com/v1"
        ),
        table.cost(
            "gpt-4o", 1_000_000, 1_000_000, provider="x", api_url="http://127.0.0.1:8000/v1"
        ),
        table.cost("gpt-4o", 1_000_000, 1_000_000, provider="x"),  # never guessed from the name
    )


def test_catalogue_unknown_model_and_catalogue_off_are_none() -> None:
    assert (
        PriceTable().cost("no-such-model", 1, 1, provider="openai", price_as="openai"),
        PriceTable(catalog=False).cost("gpt-4o", 1, 1, provider="openai", price_as="openai"),
    ) == (None, None)


def test_override_file_json_and_env(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"models": {"my-model": {"input_per_mtok": "3", "output_per_mtok": 15}}}')

    table = PriceTable.from_env({"AGENTMESH_LLM_PRICES": str(path)})

    assert {"my-model": ModelPrice(Decimal(3), Decimal(15))} == table.overrides


def test_bad_override_file_says_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  m: {input: 1}\n")

    with pytest.raises(ValueError, match=r"expected `models: \{<\[provider:\]model>"):
        PriceTable.from_file(path)


# --- fallback ---


async def test_falls_back_on_transient_failure_to_a_real_provider() -> None:
    async with (
        FakeOpenAIServer([FakeReply(status=500)]) as cheap_server,
        FakeAnthropicServer(["from claude"]) as strong_server,
    ):
        cheap = OpenAIChatModel(cheap_server.config("gpt-4o-mini"))
        strong = AnthropicChatModel(strong_server.config("claude-private"))
        model = FallbackModel([cheap, strong])
        answer = await model.complete(HI)
        await model.aclose()

    assert (
        model.provider,
        answer.text,
        answer.provider,
        answer.model,
    ) == ("fallback(openai,anthropic)", "from claude", "anthropic", "claude-private")
    assert [a["outcome"] for a in answer.extra["fallback"]] == ["failed", "ok"]


async def test_falls_back_when_validation_fails_and_bills_both() -> None:
    cheap = Stub("cheap", [reply("cheap", "not json")])
    strong = Stub("strong", [reply("strong", '{"answer": 42}', Decimal("0.01"))])
    model = FallbackModel([cheap, strong], validate=lambda r: Answer.model_validate_json(r.text))

    answer = await model.complete(HI)

    attempts = [
        {"provider": "cheap", "model": "cheap-model", "outcome": "rejected"},
        {"provider": "strong", "model": "strong-model", "outcome": "ok"},
    ]
    assert dataclasses.replace(
        reply("strong", '{"answer": 42}'),
        input_tokens=20,
        output_tokens=10,
        cost_usd=Decimal("0.011"),
    ) == dataclasses.replace(answer, extra={})
    assert attempts == [
        {k: a[k] for k in ("provider", "model", "outcome")} for a in answer.extra["fallback"]
    ]


async def test_an_unpriced_rejected_reply_makes_the_total_unknown() -> None:
    cheap = Stub("cheap", [reply("cheap", "no", cost=None)])
    strong = Stub("strong", [reply("strong", "yes")])
    model = FallbackModel([cheap, strong], validate=lambda r: r.text == "yes")

    assert (await model.complete(HI)).cost_usd is None


async def test_skips_members_whose_breaker_is_open() -> None:
    cheap = Stub("cheap", [])
    strong = Stub("strong", [reply("strong", "yes")])
    model = FallbackModel([cheap, strong], is_open=lambda provider: provider == "cheap")

    answer = await model.complete(HI)

    assert (answer.provider, cheap.calls) == ("strong", 0)


async def test_exhausted_is_transient_and_lists_attempts() -> None:
    cheap = Stub("cheap", [TransientError("429")])
    strong = Stub("strong", [reply("strong", "nope")])
    model = FallbackModel([cheap, strong], validate=lambda r: False)

    with pytest.raises(FallbackExhausted) as caught:
        await model.complete(HI)

    assert isinstance(caught.value, TransientError)
    assert str(caught.value) == (
        "fallback(cheap,strong): no model gave an acceptable answer: "
        "cheap: failed (429); strong: rejected (validator returned False)"
    )
    assert [reply("strong", "nope")] == caught.value.responses


async def test_non_transient_errors_propagate_without_fallback() -> None:
    cheap = Stub("cheap", [ProviderError("cheap", 401, "bad key")])
    strong = Stub("strong", [reply("strong", "yes")])

    with pytest.raises(ProviderError):
        await FallbackModel([cheap, strong]).complete(HI)
    assert strong.calls == 0


# --- specs ---


def test_spec_openai_reads_key_and_base_url() -> None:
    hosted = model_from_spec("openai:gpt-4o-mini", env={"OPENAI_API_KEY": "sk-1"})
    local = model_from_spec("openai:llama3.1", env={"OPENAI_BASE_URL": "http://localhost:11434/v1"})

    assert isinstance(hosted, OpenAIChatModel)
    assert isinstance(local, OpenAIChatModel)
    assert (
        (hosted.config.model, hosted.config.api_key, hosted.base_url),
        (local.config.model, local.config.api_key, local.base_url),
    ) == (
        ("gpt-4o-mini", "sk-1", "https://api.openai.com/v1/"),
        ("llama3.1", "unused", "http://localhost:11434/v1/"),
    )


def test_spec_anthropic_and_fallback_chain() -> None:
    env = {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "sk-ant"}

    claude = model_from_spec("anthropic:claude-sonnet-4-5", env=env)
    chain = model_from_spec("openai:gpt-4o-mini, anthropic:claude-sonnet-4-5", env=env)

    assert isinstance(claude, AnthropicChatModel)
    assert (
        AnthropicConfig("claude-sonnet-4-5", api_key="sk-ant", base_url="https://api.anthropic.com")
        == claude.config
    )
    assert chain.provider == "fallback(openai,anthropic)"


async def test_spec_scripted_echoes_or_repeats() -> None:
    echo = model_from_spec("scripted", env={})
    fixed = model_from_spec("scripted:all good", env={})

    assert isinstance(echo, ScriptedModel)
    assert (
        (await echo.complete(HI)).text,
        (await fixed.complete(HI)).text,
        (await fixed.complete(HI)).text,
    ) == ("hi", "all good", "all good")


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "mistral:large", ""])
def test_spec_errors_name_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="accepted: ") as caught:
        model_from_spec(spec, env={})

    assert str(caught.value) == f"unknown model spec {spec!r}; accepted: {SPEC_FORMS}"


def test_spec_missing_key_is_named() -> None:
    with pytest.raises(ValueError, match="needs ANTHROPIC_API_KEY"):
        model_from_spec("anthropic:claude-sonnet-4-5", env={})


# --- the switch ---


def hosted_openai() -> OpenAIChatModel:
    return OpenAIChatModel(
        OpenAIConfig("gpt-4o", api_key="sk-1", base_url="https://api.openai.com/v1")
    )


def hosted_anthropic() -> AnthropicChatModel:
    return AnthropicChatModel(AnthropicConfig("claude-sonnet-4-5", api_key="sk-ant"))


@pytest.mark.parametrize("make", [hosted_openai, hosted_anthropic])
async def test_switch_refuses_non_loopback_urls(
    make: Callable[[], OpenAIChatModel | AnthropicChatModel],
) -> None:
    model = make()

    with pytest.raises(ModelRequestsForbidden) as caught:
        await model.complete(HI)
    await model.aclose()

    assert str(caught.value).startswith(
        f"{model.provider}: refusing a real model request to {model.base_url} because "
        "agentmesh.agents.providers.ALLOW_MODEL_REQUESTS is False"
    )


def test_override_restores_the_switch() -> None:
    with override_allow_model_requests(True):
        inside = agentmesh.agents.providers.ALLOW_MODEL_REQUESTS

    assert (inside, agentmesh.agents.providers.ALLOW_MODEL_REQUESTS) == (True, False)


def test_loopback_urls() -> None:
    urls = ["http://127.0.0.1:9/v1", "http://localhost/v1", "http://[::1]:8/", "http://10.0.0.1/"]

    assert [is_loopback_url(u) for u in urls] == [True, True, True, False]


def test_public_api() -> None:
    assert agentmesh.agents.providers.__all__ == [
        "ALLOW_MODEL_REQUESTS",
        "ANSWER_TOOL",
        "PRICES_ENV_VAR",
        "SPEC_FORMS",
        "AnthropicChatModel",
        "AnthropicConfig",
        "FallbackExhausted",
        "FallbackModel",
        "ModelPrice",
        "ModelRequestsForbidden",
        "OpenAIChatModel",
        "OpenAIConfig",
        "PriceTable",
        "ProviderError",
        "ToolDefinition",
        "Validator",
        "is_loopback_url",
        "model_from_spec",
        "override_allow_model_requests",
    ]


# --- what the mesh sees of a fallback chain ---


async def test_a_member_that_fails_inside_a_chain_is_reported_for_its_breaker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmesh.agents.testing import AgentHarness
    from agentmesh.contracts import AgentEvent, LlmCall
    from agentmesh.core.policy import Policy
    from agentmesh.core.views import TaskTimeline
    from agentmesh.supervisor import TaskLedger
    from agentmesh.supervisor._aggregator import Aggregator
    from tests.apps import governed

    monkeypatch.setenv("LOOPER_DELAY_S", "0")
    cheap = Stub("cheap", [TransientError("503 from cheap")])
    strong = Stub("strong", [reply("strong", "fine")])
    harness = AgentHarness(governed.mesh, "looper", model=FallbackModel([cheap, strong]))
    run = await harness.run(governed.Spin(), task_id="t-fb")

    failed, answered = run.usage
    assert isinstance(failed, LlmCall)
    assert isinstance(answered, LlmCall)
    assert (failed.provider, failed.status, failed.attempt_of) == (
        "cheap",
        "error",
        answered.call_id,
    )
    assert "503 from cheap" in (failed.error or "")
    assert (answered.provider, answered.status, answered.attempt_of) == ("strong", "ok", None)
    # One call of the task: one step for its budget, one call in its timeline.
    ledger, timeline = TaskLedger(task_id="t-fb"), TaskTimeline("t-fb")
    counts = Aggregator(Policy(), "unit.signals", {}, {})
    for offset, body in enumerate(run.usage):
        event = AgentEvent(task_id="t-fb", agent="looper", instance="i", seq=0, body=body)
        ledger.event(event, Policy(), offset)
        timeline.add(event, offset)
        counts.observe(event, 0, offset, ledger.calls)
    assert (ledger.steps, timeline.llm_calls) == (1, 1)
    # Each provider's breaker counts its own outcome: a failure for cheap, a success for strong.
    assert counts._pending["model:cheap"] == {"0": [[0, 1]]}
    assert counts._pending["model:strong"] == {"0": [[1, 0]]}


async def test_replies_a_chain_rejected_are_paid_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmesh.agents.testing import AgentHarness
    from agentmesh.contracts import AgentEvent, LlmCall
    from agentmesh.core.policy import Policy
    from agentmesh.core.views import TaskTimeline
    from agentmesh.supervisor import TaskLedger
    from tests.apps import governed

    monkeypatch.setenv("LOOPER_DELAY_S", "0")
    rejected = [reply("strong", "nope") for _ in range(10)]
    model = FallbackModel([Stub("strong", list(rejected))], validate=lambda r: False)
    harness = AgentHarness(governed.mesh, "looper", model=model)
    run = await harness.run(governed.Spin(), task_id="t-rej")
    failed = [b for b in run.usage if isinstance(b, LlmCall) and b.attempt_of is None]
    assert failed, "the chain's failures are reported"
    # Each failed call reports the reply it paid for and threw away (10 + 5 tokens).
    assert {(b.status, b.input_tokens, b.output_tokens, b.cost_usd) for b in failed} == {
        ("error", 10, 5, Decimal("0.001"))
    }
    ledger, timeline = TaskLedger(task_id="t-rej"), TaskTimeline("t-rej")
    for offset, body in enumerate(run.usage):
        event = AgentEvent(task_id="t-rej", agent="looper", instance="i", seq=0, body=body)
        ledger.event(event, Policy(), offset)
        timeline.add(event, offset)
    assert ledger.tokens == timeline.tokens == 15 * len(failed)
