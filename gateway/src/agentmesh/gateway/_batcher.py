"""Group commit: the writes of concurrent requests share one Kafka transaction.

A transactional producer holds one open transaction at a time, so requests cannot each run
their own at once. Queued writes are taken together, written in one transaction and
acknowledged when it commits: atomic per request (a request's records are in the same
transaction), and the commit cost is shared under load instead of serialising it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Record", "TransactionalBatcher"]

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes]  # topic, key, value
_MAX_BATCH = 500


class TransactionalBatcher:
    def __init__(self, new_producer: Callable[[], Any]) -> None:
        self._new_producer = new_producer
        self._producer: Any = None
        self._queue: asyncio.Queue[tuple[list[Record], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = self._new_producer()
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name="gateway-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()

    async def write(self, records: list[Record]) -> None:
        """Write ``records`` atomically; returns once their transaction committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((records, done))
        await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                async with self._producer.transaction():
                    for records, _ in batch:
                        for topic, key, value in records:
                            await self._producer.send(topic, value, key=key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error
                log.warning("a submission transaction failed (%r); starting a new producer", exc)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                await self._renew()
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _renew(self) -> None:
        # After a failed transaction the producer may be fenced or in an error state.
        with contextlib.suppress(Exception):
            await self._producer.stop()
        while True:
            try:
                self._producer = self._new_producer()
                await self._producer.start()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Kafka away: keep trying; requests meanwhile get their error.
                log.warning("cannot start a producer; retrying in 2 s", exc_info=True)
                await asyncio.sleep(2)
            else:
                return
