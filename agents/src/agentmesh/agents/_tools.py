"""Typed tools with a timeout and a retry policy for transient failures only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel

__all__ = ["RetryPolicy", "Tool", "tool"]

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for :class:`TransientError` and timeouts only."""

    attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Tool(Generic[A, R]):
    """A callable an agent may use, with typed arguments and result."""

    name: str
    args: type[A]
    result: type[R]
    fn: Callable[[A], Awaitable[R]]
    timeout_s: float = 30.0
    retry: RetryPolicy = RetryPolicy()
    description: str = ""

    async def __call__(self, args: A) -> R:
        return await self.fn(args)


def tool(
    name: str | None = None,
    *,
    timeout_s: float = 30.0,
    retry: RetryPolicy | None = None,
) -> Callable[[Callable[[A], Awaitable[R]]], Tool[A, R]]:
    """Make a tool of ``async def fn(args: ArgsModel) -> ResultModel``."""

    def wrap(fn: Callable[[A], Awaitable[R]]) -> Tool[A, R]:
        hints: dict[str, Any] = get_type_hints(fn)
        params = [v for k, v in hints.items() if k != "return"]
        if len(params) != 1 or "return" not in hints:
            raise TypeError(f"tool {fn.__name__} must be `async def f(args: Model) -> Model`")
        return Tool(
            name=name or fn.__name__,
            args=params[0],
            result=hints["return"],
            fn=fn,
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            description=(fn.__doc__ or "").strip(),
        )

    return wrap
