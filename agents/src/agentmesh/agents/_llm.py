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
    max_tokens: int | None = None  # output tokens; the runtime lowers it to fit the budget
    output_schema: dict[str, Any] | None = None
    # Input + output tokens the call may spend in all (set by the runtime from what remains
    # of the budget): a fallback chain shares it among the members it tries.
    max_total_tokens: int | None = None


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
