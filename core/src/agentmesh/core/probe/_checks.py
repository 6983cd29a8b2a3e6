"""Readiness checks: small async callables a role registers with the probe server.

A check returns ``None`` when its part of the process is ready, or a sentence saying what is
not (shown to whoever reads ``/readyz``). Raising counts as not ready, with the error as the
sentence. The server knows nothing of agents, faust or Kafka: each role composes its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Check", "cached", "registry_check"]

Check = Callable[[], Awaitable[str | None]]
"""``None``: ready; a string: what is not ready and, where known, how to fix it."""


def cached(check: Check, ttl_s: float) -> Check:
    """``check``, asked at most once per ``ttl_s`` (a probe every second must not become a
    request per second to a shared service); concurrent probes share one call."""
    last: tuple[float, str | None] | None = None
    running: asyncio.Task[str | None] | None = None

    async def run() -> str | None:
        nonlocal last, running
        if last is not None and time.monotonic() - last[0] < ttl_s:
            return last[1]
        if running is None or running.done():
            running = asyncio.ensure_future(_answer(check))
        result = await asyncio.shield(running)
        last = (time.monotonic(), result)
        return result

    return run


async def _answer(check: Check) -> str | None:
    try:
        return await check()
    except Exception as exc:  # noqa: BLE001 - any failure of a check is its answer
        return f"{type(exc).__name__}: {exc}"


class _Registry(Protocol):
    async def ping(self) -> None: ...


def registry_check(registry: _Registry, ttl_s: float = 5.0) -> Check:
    """The schema registry answers (asked at most every ``ttl_s``)."""

    async def reachable() -> str | None:
        await registry.ping()
        return None

    return cached(reachable, ttl_s)
