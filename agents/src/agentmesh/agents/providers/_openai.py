"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, LiteLLM...) on the official SDK."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import orjson

from agentmesh.agents._errors import TransientError
from agentmesh.agents._estimate import CallEstimate, TokenCounter, count_input_tokens, utf8_bytes
from agentmesh.agents._llm import LlmRequest, LlmResponse, Message
from agentmesh.agents._tools import Tool
from agentmesh.agents.providers._errors import status_error
from agentmesh.agents.providers._network import check_model_request
from agentmesh.agents.providers._prices import PriceLookup, PriceTable
from agentmesh.agents.providers._tooldefs import ToolDefinition, parse_arguments, tool_call

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageParam,
    )
    from openai.types.shared_params import ResponseFormatJSONSchema

__all__ = ["OpenAIChatModel", "OpenAIConfig"]


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    """How to reach one model on an OpenAI-compatible chat-completions endpoint."""

    model: str
    base_url: str | None = None  # None: OPENAI_BASE_URL, else https://api.openai.com/v1
    api_key: str | None = None  # None: OPENAI_API_KEY (local servers accept any string)
    timeout_s: float = 60.0
    max_retries: int = 2  # the SDK's own retries (429, 5xx, timeouts) before TransientError
    provider: str = "openai"  # breaker target, event field and price-override scope
    price_as: str | None = None  # genai-prices provider id; None: recognised from base URL
    tools: tuple[ToolDefinition, ...] = ()  # offered on every call; see OpenAIChatModel
    strict_schema: bool = False  # OpenAI strict mode needs every property required
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Counts a text's tokens before a call, to cap it to a budget; None: UTF-8 bytes, which
    # never count fewer than a byte-level BPE tokenizer (see agents' TokenCounter).
    count_tokens: TokenCounter | None = None
    # The model's own output limit, if known: a budget's cap above it need not be sent, and
    # one above 4,096 tokens is sent only when this is known (a larger limit than the
    # model's is refused as a bad request).
    max_output_tokens: int | None = None


class OpenAIChatModel:
    """A :class:`~agents.ChatModel` for any OpenAI-compatible server.

    ``output_schema`` is sent as ``response_format={"type": "json_schema", ...}`` and the
    JSON comes back as ``text``. Tools are offered from ``config.tools`` (or
    :meth:`with_tools`); when the model calls them, ``extra["tool_calls"]`` holds
    ``[{"id", "name", "arguments": {...}}]``. A ``tool`` role message is sent as a user
    message, since :class:`~agents.Message` carries no tool-call id.

    Before a call the runtime asks :meth:`estimate` for its input tokens and price, and caps
    the request's ``max_tokens`` (sent as ``config.max_tokens_param``) to what remains of
    the task's budget.

    Failures: timeouts, connection errors, 408/409/429 and 5xx raise
    :class:`~agents.TransientError` (after the SDK's ``max_retries``); other statuses
    (401, 400, 404...) raise :class:`ProviderError`.
    """

    def __init__(
        self,
        config: OpenAIConfig,
        *,
        prices: PriceTable | None = None,
        client: AsyncOpenAI | None = None,
    ) -> None:
        self.config = config
        self.prices = prices if prices is not None else PriceTable()
        self._client = client if client is not None else _client(config)
        self._prices = PriceLookup(self.prices, config.provider, config.price_as, self.base_url)

    @property
    def provider(self) -> str:
        """The name breakers, events and price overrides know this endpoint by."""
        return self.config.provider

    @property
    def base_url(self) -> str:
        """The endpoint actually called (after environment defaults)."""
        return str(self._client.base_url)

    def with_tools(self, tools: Sequence[ToolDefinition | Tool[Any, Any]]) -> OpenAIChatModel:
        """The same model and connection, offering ``tools`` (agent tools are converted)."""
        defs = tuple(
            t if isinstance(t, ToolDefinition) else ToolDefinition.from_tool(t) for t in tools
        )
        config = dataclasses.replace(self.config, tools=defs)
        return OpenAIChatModel(config, prices=self.prices, client=self._client)

    def estimate(self, request: LlmRequest) -> CallEstimate:
        """``request``'s input tokens (``config.count_tokens``, else UTF-8 bytes) and price."""
        tools = [orjson.dumps(_tool(t)).decode() for t in self.config.tools]
        tokens = count_input_tokens(request, self.config.count_tokens or utf8_bytes, tools)
        model = request.model or self.config.model
        return self._prices.estimate(tokens, model, self.config.max_output_tokens)

    async def complete(self, request: LlmRequest) -> LlmResponse:
        """Send ``request`` as one chat completion and meter the reply."""
        check_model_request(self.provider, self.base_url)
        completion = await self._create(request)
        return self._response(completion, request.model or self.config.model)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def _create(self, request: LlmRequest) -> ChatCompletion:
        import openai

        omit = openai.omit
        limit = omit if request.max_tokens is None else request.max_tokens
        # Reasoning models refuse `max_tokens`; some compatible servers ignore the newer name.
        newer = self.config.max_tokens_param == "max_completion_tokens"
        try:
            return await self._client.chat.completions.create(
                model=request.model or self.config.model,
                messages=[_message(m) for m in request.messages],
                temperature=omit if request.temperature is None else request.temperature,
                max_tokens=omit if newer else limit,
                max_completion_tokens=limit if newer else omit,
                tools=[_tool(t) for t in self.config.tools] or omit,
                response_format=_response_format(request.output_schema, self.config) or omit,
            )
        except openai.APIConnectionError as exc:  # timeouts are a subclass
            raise TransientError(f"{self.provider}: {exc}") from exc
        except openai.APIStatusError as exc:
            raise status_error(self.provider, exc.status_code, exc.message) from exc

    def _response(self, completion: ChatCompletion, requested: str) -> LlmResponse:
        if not completion.choices:
            raise TransientError(f"{self.provider}: the reply had no choices")
        choice = completion.choices[0]
        message = choice.message
        extra: dict[str, Any] = {"finish_reason": choice.finish_reason}
        calls = [
            tool_call(
                c.id,
                c.function.name,
                parse_arguments(self.provider, c.function.name, c.function.arguments),
            )
            for c in message.tool_calls or ()
            if c.type == "function"
        ]
        if calls:
            extra["tool_calls"] = calls
        if message.refusal:
            extra["refusal"] = message.refusal
        usage = completion.usage
        if usage is None:
            # Some compatible servers omit usage: tokens unknown, so the cost is unknown too.
            extra["usage_missing"] = True
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        model = completion.model or requested
        return LlmResponse(
            text=message.content or "",
            provider=self.provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=None if usage is None else self._cost(model, input_tokens, output_tokens),
            extra=extra,
        )

    def _cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
        return self.prices.cost(
            model,
            input_tokens,
            output_tokens,
            provider=self.provider,
            price_as=self.config.price_as,
            api_url=self.base_url,
        )


def _client(config: OpenAIConfig) -> AsyncOpenAI:
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


def _message(m: Message) -> ChatCompletionMessageParam:
    if m.role == "system":
        return {"role": "system", "content": m.content}
    if m.role == "assistant":
        return {"role": "assistant", "content": m.content}
    return {"role": "user", "content": m.content}


def _tool(t: ToolDefinition) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
    }


def _response_format(
    schema: dict[str, Any] | None, config: OpenAIConfig
) -> ResponseFormatJSONSchema | None:
    if schema is None:
        return None
    # The API wants a name matching ^[a-zA-Z0-9_-]{1,64}$; the schema's title is the natural one.
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", str(schema.get("title") or "output"))[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": config.strict_schema},
    }
