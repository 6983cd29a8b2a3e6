"""Small helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], expected: T, timeout: float = 10.0) -> bool:
    """True once ``probe()`` returns ``expected`` (polled), False if it never does in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe() == expected:
            return True
        await asyncio.sleep(0.1)
    return False


async def drain(
    consumer: AIOKafkaConsumer, expected: int | None, timeout: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Poll until ``expected`` records arrived (then once more, to catch extras) or timeout.

    ``expected=None``: whatever arrives within ``timeout``, and at least everything up to the
    end offsets as they are once the reader has its partitions: on a loaded machine reaching
    that end may take longer than ``timeout`` (up to ``_TO_THE_END_S``). A topic that does not
    exist yet (no partitions within ``timeout``) reads as empty.
    """
    if expected is None:
        return await _to_the_end(consumer, timeout)
    out: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(records)
        if expected is not None and len(out) >= expected:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(records)
            break
    return out


_TO_THE_END_S = 30.0


async def _to_the_end(
    consumer: AIOKafkaConsumer, timeout: float
) -> list[ConsumerRecord[bytes, bytes]]:
    out: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        if time.monotonic() >= deadline:
            return out
        for records in (await consumer.getmany(timeout_ms=100)).values():
            out.extend(records)
    ends = await consumer.end_offsets(list(consumer.assignment()))
    at_the_end = False
    last_chance = time.monotonic() + max(timeout, _TO_THE_END_S)
    while time.monotonic() < (deadline if at_the_end else last_chance):
        if not at_the_end:
            positions = {tp: await consumer.position(tp) for tp in ends}
            at_the_end = all(positions[tp] >= end for tp, end in ends.items())
        for records in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(records)
    return out


async def read_all(
    conn: KafkaConnection, topic: str, expected: int | None, timeout: float = 15.0
) -> list[bytes]:
    """Values of ``topic`` as a fresh read_committed reader sees them, from the beginning."""
    consumer = make_consumer(conn, topic, options=ConsumerOptions(group_id=None))
    await consumer.start()
    try:
        return [r.value for r in await drain(consumer, expected, timeout) if r.value is not None]
    finally:
        await consumer.stop()
