"""The gateway's group commit: the writes of concurrent requests share one Kafka
transaction (:class:`agentmesh.core.submission.GroupCommit`), so the commit cost is shared
under load instead of serialising requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentmesh.core.submission import GroupCommit, Headers, Record

__all__ = ["Record", "TransactionalBatcher"]

_MAX_BATCH = 500  # requests per transaction


class TransactionalBatcher:
    """What the gateway's submitter writes through: one request's records, atomically. A
    failed transaction fails its requests (503: retry with the same Idempotency-Key), and
    the next one starts a new producer."""

    def __init__(self, new_producer: Callable[[], Any]) -> None:
        self._group = GroupCommit(new_producer, max_batch=_MAX_BATCH, name="gateway-commit")

    async def start(self) -> None:
        await self._group.start()

    async def stop(self) -> None:
        await self._group.stop()

    async def write(self, records: list[Record], headers: Headers | None = None) -> None:
        """Write ``records`` atomically; returns once their transaction committed."""
        await self._group.write(records, headers)
