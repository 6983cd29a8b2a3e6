"""Every LLM and tool call passes through a chain of small policies, outermost first.

Each interceptor is ``async (call, next) -> result``; it may stop the call by raising
(control, budget, breaker), answer it itself (journal replay), or wrap it (metering, retry,
timeout). Each is testable alone, and the order is the whole policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Literal

__all__ = ["Call", "CallResult", "Interceptor", "Next", "compose"]


@dataclass(slots=True)
class Call:
    """One LLM or tool call on its way out."""

    kind: Literal["llm", "tool"]
    target: str  # tool name, or model provider
    seq: int  # index of the call within its step: the journal key
    call_id: str  # stable across retries and replays: the supervisor's dedup key
    request: Any
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class CallResult:
    """A call's value, and whether it was answered from the journal instead of paid again."""

    value: Any
    replayed: bool = False


Next = Callable[[Call], Awaitable[CallResult]]
Interceptor = Callable[[Call, Next], Awaitable[CallResult]]


def compose(interceptors: Sequence[Interceptor], final: Next) -> Next:
    """One callable running ``interceptors`` in order around ``final``."""

    def wrap(inner: Next, outer: Interceptor) -> Next:
        async def call(c: Call) -> CallResult:
            return await outer(c, inner)

        return call

    return reduce(wrap, reversed(interceptors), final)
