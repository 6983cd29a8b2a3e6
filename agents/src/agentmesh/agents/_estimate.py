"""Counting a model call before it is made, so it can be capped to what remains of a budget.

A call is made only if what remains covers its input, and its maximum output tokens is set
to what is left after that input (see :meth:`StepLedger.check_llm_call`). Both need the
input counted before the call: a model may count it itself (``estimate``, e.g. the
scripted model exactly, a provider with a tokenizer given to it), and otherwise
:func:`count_input_tokens` gives a conservative estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

import orjson

from agentmesh.agents._llm import ChatModel, LlmRequest

__all__ = [
    "ALWAYS_ACCEPTED_MAX_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "REPLY_OVERHEAD_TOKENS",
    "CallEstimate",
    "Estimating",
    "TokenCounter",
    "count_input_tokens",
    "estimate_call",
    "output_cap",
    "utf8_bytes",
]

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens added per message for the role and its delimiters (OpenAI's chat format uses 3-4,
Llama 3's about 5): more than any chat template we know of spends."""

REPLY_OVERHEAD_TOKENS = 8
"""Tokens added once per request for priming the reply (OpenAI's format uses 3)."""

TokenCounter = Callable[[str], int]
"""Counts one text's tokens: a provider's own tokenizer, e.g. with tiktoken
``lambda text: len(tiktoken.get_encoding("o200k_base").encode(text))``."""


def utf8_bytes(text: str) -> int:
    """The default count: ``text``'s UTF-8 length.

    Byte-level BPE tokenizers (OpenAI's, Claude's, Llama 3's...) never make a token of less
    than one byte, so this never counts fewer tokens than they do; for English it counts
    about four times as many. A provider given its real tokenizer counts exactly instead.
    """
    return len(text.encode())


ALWAYS_ACCEPTED_MAX_TOKENS = 4096
"""The largest output limit sent to a model whose own limit is unknown: every chat model we
know of accepts it, while a limit above the model's own is refused by some APIs (OpenAI's,
vLLM's) as a bad request."""


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """A model call before it is made: its input tokens (never fewer than the provider will
    count), the price per token when known (to cap the call to a remaining cost too), and
    the most output tokens it produces when the request sets no limit (``None``: unknown)."""

    input_tokens: int
    input_usd_per_token: Decimal | None = None
    output_usd_per_token: Decimal | None = None
    output_limit: int | None = None

    @property
    def priced(self) -> bool:
        """Whether both prices are known."""
        return self.input_usd_per_token is not None and self.output_usd_per_token is not None


@runtime_checkable
class Estimating(Protocol):
    """A :class:`~agents.ChatModel` that counts a request's input itself (optional)."""

    def estimate(self, request: LlmRequest) -> CallEstimate: ...


def count_input_tokens(
    request: LlmRequest, counter: TokenCounter = utf8_bytes, extra: Iterable[str] = ()
) -> int:
    """Tokens ``request`` sends: its messages, its output schema and ``extra`` texts (tool
    definitions...), each counted by ``counter``, plus the per-message and reply overheads."""
    texts = [m.content for m in request.messages]
    if request.output_schema is not None:
        texts.append(orjson.dumps(request.output_schema).decode())
    texts.extend(extra)
    overhead = MESSAGE_OVERHEAD_TOKENS * len(request.messages) + REPLY_OVERHEAD_TOKENS
    return sum(counter(t) for t in texts) + overhead


def estimate_call(model: ChatModel, request: LlmRequest) -> CallEstimate:
    """``model``'s own estimate of ``request``, else the conservative count, unpriced."""
    if isinstance(model, Estimating):
        return model.estimate(request)
    return CallEstimate(count_input_tokens(request))


def output_cap(request: LlmRequest, estimate: CallEstimate, cap: int) -> int | None:
    """The ``max_tokens`` to send so the call stays within ``cap`` output tokens, or ``None``
    when the request's own limit (or the model's) already does, or when a limit this large
    might be refused by a model whose own limit is unknown."""
    limit = request.max_tokens if request.max_tokens is not None else estimate.output_limit
    if limit is not None:
        return cap if cap < limit else None
    return cap if cap <= ALWAYS_ACCEPTED_MAX_TOKENS else None
