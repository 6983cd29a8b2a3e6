"""Real model providers for ``ctx.llm``: OpenAI-compatible and Anthropic, metered and routed.

    from agents.providers import OpenAIChatModel, OpenAIConfig, FallbackModel, model_from_spec

    cheap = OpenAIChatModel(OpenAIConfig("llama3.1", base_url="http://localhost:11434/v1",
                                         api_key="unused", provider="ollama"))
    model = FallbackModel([cheap, model_from_spec("anthropic:claude-sonnet-4-5")],
                          validate=lambda r: Answer.model_validate_json(r.text))

Every reply is priced by a :class:`PriceTable` (``cost_usd`` is ``None`` when the price is
unknown). Retryable failures raise :class:`~agents.TransientError`; refusals that retrying
will not fix raise :class:`ProviderError`. SDKs are imported on first use, so importing
this package stays cheap.

Tests: set ``ALLOW_MODEL_REQUESTS = False`` (or ``AGENTMESH_ALLOW_MODEL_REQUESTS=0``) and
providers refuse any non-loopback URL; the fake servers in :mod:`agents.providers.testing`
listen on 127.0.0.1.
"""

from agents.providers._anthropic import ANSWER_TOOL, AnthropicChatModel, AnthropicConfig
from agents.providers._errors import ProviderError
from agents.providers._fallback import FallbackExhausted, FallbackModel, Validator
from agents.providers._network import (
    ModelRequestsForbidden,
    allowed_by_env,
    is_loopback_url,
    override_allow_model_requests,
)
from agents.providers._openai import OpenAIChatModel, OpenAIConfig
from agents.providers._prices import PRICES_ENV_VAR, ModelPrice, PriceTable
from agents.providers._spec import SPEC_FORMS, model_from_spec
from agents.providers._tooldefs import ToolDefinition

ALLOW_MODEL_REQUESTS: bool = allowed_by_env()
"""Whether providers may call non-loopback URLs; read at each call (tests set it False)."""

__all__ = [
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
