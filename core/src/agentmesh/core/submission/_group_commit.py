"""Group commit: the writes of concurrent submissions share one Kafka transaction.

A transactional producer holds one open transaction at a time, so submissions cannot each
run their own at once. Queued writes are taken together, written in one transaction and
acknowledged when it commits: atomic per submission (its records are in the same
transaction), and the cost of a commit is shared under load instead of paid per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

__all__ = ["GroupCommit", "Headers", "Record"]

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes]
"""topic, key, value"""
Headers = Sequence[tuple[str, bytes]]


class _Write:
    __slots__ = ("done", "headers", "records")

    def __init__(self, records: Sequence[Record], headers: Headers | None) -> None:
        self.records = records
        self.headers = list(headers) if headers else None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _TooLarge(Exception):
    """One write's record is over the producer's request size: that write alone fails."""

    def __init__(self, write: _Write, error: Exception) -> None:
        self.write = write
        self.error = error


class GroupCommit:
    """One transactional producer, writing queued submissions in shared transactions.

    ``new_producer`` makes an unstarted transactional producer (a fresh transactional id
    each time): after a failed transaction the producer may be fenced or in an error state,
    so the next batch starts a new one.
    """

    def __init__(
        self,
        new_producer: Callable[[], Any],
        *,
        max_batch: int = 500,
        name: str = "group-commit",
    ) -> None:
        self._new_producer = new_producer
        self._max_batch = max_batch
        self._name = name
        self._producer: Any = None
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the producer (so a broker that is away is said now) and the writer."""
        self._producer = self._new_producer()
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Write what is queued, then stop the producer."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_producer()

    def enqueue(
        self, records: Sequence[Record], headers: Headers | None = None
    ) -> asyncio.Future[None]:
        """Queue ``records`` to be written atomically; the future resolves once their
        transaction committed (or holds why it did not)."""
        if self._closing or self._task is None:
            raise RuntimeError(f"{self._name} is not running")
        write = _Write(records, headers)
        self._queue.put_nowait(write)
        return write.done

    async def write(self, records: Sequence[Record], headers: Headers | None = None) -> None:
        """Write ``records`` atomically; returns once their transaction committed."""
        await self.enqueue(records, headers)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch, last = [first], False
            while len(batch) < self._max_batch and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    last = True
                    break
                batch.append(more)
            await self._commit(batch)
            if last:
                return

    async def _commit(self, batch: list[_Write]) -> None:
        # A caller that gave up (its request was cancelled) has nothing written.
        live = [w for w in batch if not w.done.done()]
        while live:
            try:
                await self._transaction(live)
            except _TooLarge as exc:
                # Its other records may be in the aborted transaction: retry the rest alone.
                _settle(exc.write, exc.error)
                live = [w for w in live if w is not exc.write]
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - each waiting submission gets the error
                log.warning("a submission transaction failed (%r); a new producer is next", exc)
                for w in live:
                    _settle(w, exc)
                await self._drop_producer()
                return
            for w in live:
                _settle(w, None)
            return

    async def _transaction(self, writes: list[_Write]) -> None:
        if self._producer is None:
            self._producer = self._new_producer()
            await self._producer.start()
        producer = self._producer
        async with producer.transaction():
            for w in writes:
                for topic, key, value in w.records:
                    try:
                        await producer.send(topic, value, key=key, headers=w.headers)
                    except MessageSizeTooLargeError as exc:
                        raise _TooLarge(w, exc) from None

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


def _settle(write: _Write, error: BaseException | None) -> None:
    if write.done.done():
        return
    if error is None:
        write.done.set_result(None)
    else:
        write.done.set_exception(error)
        write.done.exception()  # marked retrieved: a caller that gave up never reads it
