"""How the sends of one batch's transaction settle, and which failures end its producer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import (
    IllegalOperation,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

__all__ = ["UNUSABLE", "SendFailed", "settled"]

# The transactional producer cannot go on (fenced, fatal state, or its sequence numbers out of
# step with the broker after a refused send): nothing of the batch committed; take it anew.
UNUSABLE: tuple[type[BaseException], ...] = (
    ProducerFenced,
    IllegalOperation,
    AssertionError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)


class SendFailed(Exception):
    """A send of ``record``'s step failed (seen when the batch's sends are awaited)."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], error: BaseException) -> None:
        super().__init__(f"send for offset {record.offset} failed: {error!r}")
        self.record = record
        self.error = error


async def settled(sent: list[tuple[asyncio.Future[Any], ConsumerRecord[bytes, bytes]]]) -> None:
    """Wait for every send; raise the first failure, with the input it was for."""
    results = await asyncio.gather(*(f for f, _ in sent), return_exceptions=True)
    failures = [
        (r, e) for (_, r), e in zip(sent, results, strict=True) if isinstance(e, BaseException)
    ]
    for _, error in failures:
        if isinstance(error, UNUSABLE):
            raise error
    if failures:
        raise SendFailed(*failures[0])
