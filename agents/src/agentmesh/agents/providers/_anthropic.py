"""Anthropic's messages API on the official SDK."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from agentmesh.agents._errors import TransientError
from agentmesh.agents._estimate import CallEstimate, TokenCounter, count_input_tokens, utf8_bytes
from agentmesh.agents._llm import LlmRequest, LlmResponse, Message
from agentmesh.agents._tools import Tool
from agentmesh.agents.providers._errors import status_error
from agentmesh.agents.providers._network import check_model_request
from agentmesh.agents.providers._prices import PriceLookup, PriceTable
from agentmesh.agents.providers._tooldefs import ToolDefinition, tool_call

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Message as AnthropicMessage
    from anthropic.types import MessageParam, ToolChoiceParam, ToolParam

__all__ = ["ANSWER_TOOL", "AnthropicChatModel", "AnthropicConfig"]

ANSWER_TOOL = "final_result"

TOOL_USE_OVERHEAD_TOKENS = 600
"""Input tokens the API adds to a request that offers tools (a system prompt of about 350
tokens for current Claude models), counted with room to spare."""


@dataclass(frozen=True, slots=True)
class AnthropicConfig:
    """How to reach one Claude model."""

    model: str
    api_key: str | None = None  # None: ANTHROPIC_API_KEY
    base_url: str | None = None  # None: ANTHROPIC_BASE_URL, else https://api.anthropic.com
    timeout_s: float = 60.0
    max_retries: int = 2  # the SDK's own retries (429, 5xx, timeouts) before TransientError
    max_tokens: int = 1024  # the API requires a limit; used when the request sets none
    provider: str = "anthropic"  # breaker target, event field and price-override scope
    price_as: str | None = None  # genai-prices provider id; None: recognised from base URL
    tools: tuple[ToolDefinition, ...] = ()  # offered on every call; see AnthropicChatModel
    # Counts a text's tokens before a call, to cap it to a budget; None: UTF-8 bytes, which
    # never count fewer than a byte-level BPE tokenizer (see agents' TokenCounter).
    count_tokens: TokenCounter | None = None


class AnthropicChatModel:
    """A :class:`~agents.ChatModel` for Claude via the messages API.

    System messages are joined into the separate ``system`` parameter, and consecutive
    messages of one role are merged, since the API alternates user and assistant turns
    (``tool`` messages are sent as user turns: :class:`~agents.Message` has no tool id).

    Structured output uses the tool-use trick, which every tool-capable Claude model
    supports: ``output_schema`` becomes the input schema of a tool named
    ``final_result`` that the model is made to call (``tool_choice`` names it; with other
    tools configured, ``any`` lets the model pick one of those instead), and the tool's
    input comes back as JSON ``text``. Other tool calls surface in
    ``extra["tool_calls"]`` as ``[{"id", "name", "arguments": {...}}]``.

    Before a call the runtime asks :meth:`estimate` for its input tokens and price, and caps
    the request's ``max_tokens`` to what remains of the task's budget.

    Failures map as for :class:`OpenAIChatModel`.
    """

    def __init__(
        self,
        config: AnthropicConfig,
        *,
        prices: PriceTable | None = None,
        client: AsyncAnthropic | None = None,
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

    def with_tools(self, tools: Sequence[ToolDefinition | Tool[Any, Any]]) -> AnthropicChatModel:
        """The same model and connection, offering ``tools`` (agent tools are converted)."""
        defs = tuple(
            t if isinstance(t, ToolDefinition) else ToolDefinition.from_tool(t) for t in tools
        )
        config = dataclasses.replace(self.config, tools=defs)
        return AnthropicChatModel(config, prices=self.prices, client=self._client)

    def estimate(self, request: LlmRequest) -> CallEstimate:
        """``request``'s input tokens (``config.count_tokens``, else UTF-8 bytes) and price."""
        tools = [orjson.dumps(_tool(t)).decode() for t in self.config.tools]
        tokens = count_input_tokens(request, self.config.count_tokens or utf8_bytes, tools)
        if tools or request.output_schema is not None:
            tokens += TOOL_USE_OVERHEAD_TOKENS
        # With no limit in the request, the call is sent with config.max_tokens.
        model = request.model or self.config.model
        return self._prices.estimate(tokens, model, self.config.max_tokens)

    async def complete(self, request: LlmRequest) -> LlmResponse:
        """Send ``request`` as one message and meter the reply."""
        check_model_request(self.provider, self.base_url)
        return self._response(await self._create(request), request.model or self.config.model)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def _create(self, request: LlmRequest) -> AnthropicMessage:
        import anthropic

        omit = anthropic.omit
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        tools = [_tool(t) for t in self.config.tools]
        choice: ToolChoiceParam | None = None
        if request.output_schema is not None:
            tools.append(_answer_tool(request.output_schema))
            choice = {"type": "any"} if self.config.tools else {"type": "tool", "name": ANSWER_TOOL}
        try:
            return await self._client.messages.create(
                model=request.model or self.config.model,
                max_tokens=request.max_tokens or self.config.max_tokens,
                messages=_turns(request.messages),
                system=system or omit,
                # The SDK no longer types sampling parameters; the API still takes
                # temperature for the models that support it.
                extra_body=None
                if request.temperature is None
                else {"temperature": request.temperature},
                tools=tools or omit,
                tool_choice=choice or omit,
            )
        except anthropic.APIConnectionError as exc:  # timeouts are a subclass
            raise TransientError(f"{self.provider}: {exc}") from exc
        except anthropic.APIStatusError as exc:
            raise status_error(self.provider, exc.status_code, exc.message) from exc

    def _response(self, message: AnthropicMessage, requested: str) -> LlmResponse:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use" and block.name == ANSWER_TOOL:
                texts = [orjson.dumps(block.input).decode()]
                break
            elif block.type == "tool_use":
                calls.append(tool_call(block.id, block.name, dict(block.input)))
        extra: dict[str, Any] = {"stop_reason": message.stop_reason}
        if calls:
            extra["tool_calls"] = calls
        model = message.model or requested
        usage = message.usage
        return LlmResponse(
            text="".join(texts),
            provider=self.provider,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=self._cost(model, usage.input_tokens, usage.output_tokens),
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


def _client(config: AnthropicConfig) -> AsyncAnthropic:
    from anthropic import AsyncAnthropic

    return AsyncAnthropic(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


def _turns(messages: Iterable[Message]) -> list[MessageParam]:
    grouped: list[tuple[str, list[str]]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        if grouped and grouped[-1][0] == role:
            grouped[-1][1].append(m.content)
        else:
            grouped.append((role, [m.content]))
    return [_turn(role, "\n\n".join(parts)) for role, parts in grouped]


def _turn(role: str, content: str) -> MessageParam:
    if role == "assistant":
        return {"role": "assistant", "content": content}
    return {"role": "user", "content": content}


def _tool(t: ToolDefinition) -> ToolParam:
    return {"name": t.name, "description": t.description, "input_schema": t.parameters}


def _answer_tool(schema: dict[str, Any]) -> ToolParam:
    return {
        "name": ANSWER_TOOL,
        "description": "Give the final answer, shaped by this schema.",
        "input_schema": schema,
    }
