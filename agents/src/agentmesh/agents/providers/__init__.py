"""Real model providers for ``ctx.llm``: OpenAI-compatible and Anthropic, metered and routed.

    from agentmesh.agents.providers import (
        FallbackModel, OpenAIChatModel, OpenAIConfig, model_from_spec,
    )

    cheap = OpenAIChatModel(OpenAIConfig("llama3.1", base_url="http://localhost:11434/v1",
                                         api_key="unused", provider="ollama"))
    model = FallbackModel([cheap, model_from_spec("anthropic:claude-sonnet-4-5")],
                          validate=lambda r: Answer.model_validate_json(r.text))

Every reply is priced by a :class:`PriceTable` (``cost_usd`` is ``None`` when the price is
unknown). Retryable failures raise :class:`~agents.TransientError`; refusals that retrying
will not fix raise :class:`ProviderError`. SDKs are imported on first use, so importing
this package stays cheap.

Tests: set ``ALLOW_MODEL_REQUESTS = False`` (or ``AGENTMESH_ALLOW_MODEL_REQUESTS=0``) and
providers refuse any non-loopback URL; the fake servers in :mod:`agentmesh.agents.providers.testing`
listen on 127.0.0.1.
"""

from agentmesh.agents.providers._anthropic import ANSWER_TOOL, AnthropicChatModel, AnthropicConfig
from agentmesh.agents.providers._errors import ProviderError
from agentmesh.agents.providers._fallback import FallbackExhausted, FallbackModel, Validator
from agentmesh.agents.providers._network import (
    ModelRequestsForbidden,
    is_loopback_url,
    override_allow_model_requests,
)
from agentmesh.agents.providers._network import (
    allowed_by_env as _allowed_by_env,
)
from agentmesh.agents.providers._openai import OpenAIChatModel, OpenAIConfig
from agentmesh.agents.providers._prices import PRICES_ENV_VAR, ModelPrice, PriceTable
from agentmesh.agents.providers._spec import SPEC_FORMS, model_from_spec
from agentmesh.agents.providers._tooldefs import ToolDefinition

ALLOW_MODEL_REQUESTS: bool = _allowed_by_env()
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
