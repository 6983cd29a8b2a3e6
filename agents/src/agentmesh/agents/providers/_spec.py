"""Build a model from an ``AGENTMESH_LLM``-style spec such as ``openai:gpt-4o-mini``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

from agentmesh.agents._llm import ChatModel, LlmRequest
from agentmesh.agents._scripted import ScriptedModel
from agentmesh.agents.providers._anthropic import AnthropicChatModel, AnthropicConfig
from agentmesh.agents.providers._fallback import FallbackModel
from agentmesh.agents.providers._openai import OpenAIChatModel, OpenAIConfig
from agentmesh.agents.providers._prices import PriceTable

__all__ = ["SPEC_FORMS", "model_from_spec"]

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
SPEC_FORMS = (
    "'openai:<model>' (OPENAI_API_KEY; OPENAI_BASE_URL for vLLM, Ollama, LiteLLM...), "
    "'anthropic:<model>' (ANTHROPIC_API_KEY; optional ANTHROPIC_BASE_URL), "
    "'scripted' (echoes the last message) or 'scripted:<reply>', "
    "or several of these joined by ',' to fall back from one to the next"
)


def model_from_spec(
    spec: str,
    *,
    env: Mapping[str, str] | None = None,
    prices: PriceTable | None = None,
    timeout_s: float = 60.0,
) -> ChatModel:
    """The model ``spec`` names; keys and URLs come from ``env`` (default: ``os.environ``).

    ``prices`` defaults to :meth:`PriceTable.from_env` (the catalogue plus the override
    file named by ``AGENTMESH_LLM_PRICES``). Raises ``ValueError`` naming the accepted forms.
    """
    env = os.environ if env is None else env
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > 1:
        table = prices if prices is not None else PriceTable.from_env(env)
        return FallbackModel([_one(p, env, table, timeout_s) for p in parts])
    return _one(parts[0], env, prices, timeout_s)


def _one(
    spec: str, env: Mapping[str, str], prices: PriceTable | None, timeout_s: float
) -> ChatModel:
    kind, _, name = spec.partition(":")
    if kind == "scripted":
        return ScriptedModel([name or _echo], loop=True)
    if kind not in {"openai", "anthropic"} or not name:
        raise ValueError(f"unknown model spec {spec!r}; accepted: {SPEC_FORMS}")
    table = prices if prices is not None else PriceTable.from_env(env)
    if kind == "openai":
        return OpenAIChatModel(_openai(name, env, timeout_s), prices=table)
    return AnthropicChatModel(_anthropic(name, env, timeout_s), prices=table)


# Explicit default URLs: `env` is the whole truth, so the SDKs must not read os.environ too.


def _openai(name: str, env: Mapping[str, str], timeout_s: float) -> OpenAIConfig:
    base_url = env.get("OPENAI_BASE_URL")
    # Local OpenAI-compatible servers take no key, but the SDK insists on one.
    key = env.get("OPENAI_API_KEY") or ("unused" if base_url else _missing(name, "OPENAI"))
    return OpenAIConfig(name, base_url=base_url or OPENAI_URL, api_key=key, timeout_s=timeout_s)


def _anthropic(name: str, env: Mapping[str, str], timeout_s: float) -> AnthropicConfig:
    key = env.get("ANTHROPIC_API_KEY") or _missing(name, "ANTHROPIC")
    base_url = env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL
    return AnthropicConfig(name, api_key=key, base_url=base_url, timeout_s=timeout_s)


def _missing(model: str, prefix: str) -> NoReturn:
    provider = prefix.lower()
    raise ValueError(f"model spec '{provider}:{model}' needs {prefix}_API_KEY in the environment")


def _echo(request: LlmRequest) -> str:
    return request.messages[-1].content if request.messages else ""
