"""The one small interface every model provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

__all__ = ["ChatModel", "LlmRequest", "LlmResponse", "Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


@dataclass(frozen=True, slots=True)
class LlmRequest:
    """What an agent asks a model."""

    messages: Sequence[Message]
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LlmResponse:
    """What the model answered, metered."""

    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChatModel(Protocol):
    """A model provider: OpenAI-compatible, Anthropic, or the scripted one in tests."""

    @property
    def provider(self) -> str: ...

    async def complete(self, request: LlmRequest) -> LlmResponse: ...
