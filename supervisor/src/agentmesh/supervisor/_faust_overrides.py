"""Every place the supervisor changes what faust-streaming does, in one module.

Each override leans on faust internals (private methods and their data structures), so each
has a test in ``tests/unit/test_faust_overrides.py`` that runs faust's own code around it and
fails when an upgrade changes what the override relies on. faust-streaming is pinned below
0.16 for the same reason.

1. **read_committed.** In at-least-once mode faust reads ``read_uncommitted``. Agents write
   their step events in Kafka transactions, and an aborted step's events must never reach a
   ledger (the step is redone and writes them again).
2. **A hook before commits.** The supervisor counts outcomes and spend in memory between
   flushes of its summaries; those must be on their way before the offsets of the events
   they count are committed, or a crash right after the commit would lose them. The
   consumer runs the app's ``before_commit`` once it has chosen the offsets to commit and
   before it flushes its producer and commits them.
3. **Commits that keep up with transactional input.** Every agent transaction ends with a
   commit marker, an offset no record is delivered for. faust records such a gap with the
   record after it included (``_drain_messages`` passes that record's offset as the gap's
   inclusive end), so that offset is counted twice, the run of consecutive offsets stops
   there, and each commit advanced past one marker only: the committed position fell ever
   further behind. (Worse, the record counted as a gap is "done" before it is processed.)
   The gap recorded here ends before the record. faust also skips the gap after offset 0
   (it tests the offset read for truth), which a new topic's first transaction leaves.
4. **Lag zero when idle.** A partition's last transaction leaves its marker at the end, and
   no record ever comes after it to carry the commit past it. Once every record fetched so
   far has been handed on and acknowledged, the commit goes to the fetch position, which
   the client has already moved past markers and aborted records.
5. **Tables of pydantic models.** Recovery reads a changelog through faust's JSON codec;
   ``_to_value`` turns what it returns back into the table's model.
6. **Table writes for an event of a batch.** faust sends a table's changelog record to the
   partition of the event being iterated (a context variable), and a batch taken with
   ``take_events`` is handled outside that iteration; ``in_event`` sets it for one event.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from pydantic import BaseModel

__all__ = ["SCHEME", "Transport", "before_commit", "in_event", "model_values"]

log = logging.getLogger(__name__)

SCHEME = "agentmesh"
_HOOK = "_agentmesh_before_commit"


def before_commit(app: Any, hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` before each commit of ``app``'s input offsets (not committed if it fails)."""
    setattr(app, _HOOK, hook)


@contextmanager
def in_event(event: Any) -> Iterator[None]:
    """Table writes in this block go to ``event``'s partition, as in faust's iteration of it."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def model_values(table: Any, model: type[BaseModel]) -> None:
    """Make ``table`` (a faust Table) hold ``model`` objects when recovered from its changelog."""

    def to_value(value: Any) -> Any:
        return model.model_validate(value) if isinstance(value, dict) else value

    table._to_value = to_value


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher on start(); there is no other way in.
        consumer._isolation_level = "read_committed"
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    # (offset last handed on, fetch position) per partition, read between fetches.
    _am_fetched: dict[Any, tuple[int, int]]
    _am_batch: dict[Any, int]  # the last offset per partition of the fetch being handed on

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_tps(self, tps: Any, start_new_transaction: bool) -> bool:
        # faust's _new_offset takes the offsets it chooses out of its bookkeeping; if they
        # are then not committed, they must go back, or the next commit would find a hole
        # where they were and never move again.
        tps = list(tps)
        chosen = {tp: (list(self._acked[tp]), self._gap[tp].copy()) for tp in tps}
        try:
            if await super()._commit_tps(tps, start_new_transaction):
                return True
        except _NotNow:
            pass  # tried again at the next commit interval
        for tp, (acked, gap) in chosen.items():
            self._restore(tp, acked, gap)
        return False

    def _restore(self, tp: Any, acked: list[int], gap: Any) -> None:
        committed = self._committed_offset[tp] or 0
        back = [o for o in acked if o >= committed]
        now = self._acked[tp]
        now[:] = sorted(set(now).union(back))
        self._acked_index[tp].update(back)
        tree = self._gap[tp]
        for interval in gap:
            if interval.end > committed:
                tree.add(interval)
        tree.merge_overlaps()

    async def _handle_attached(self, commit_offsets: Mapping[Any, int]) -> None:
        # faust has chosen what to commit: only records whose processing is done (acked).
        # Whatever the hook sends is flushed with the rest before the commit.
        hook = getattr(self.app, _HOOK, None)
        if hook is not None:
            try:
                await hook()
            except Exception as exc:
                log.warning("not committing offsets yet: before-commit hook failed: %r", exc)
                raise _NotNow from exc
        await super()._handle_attached(commit_offsets)

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109 - faust's signature
        records, active = await super()._wait_next_records(timeout)
        self._am_batch = {tp: rs[-1].offset for tp, rs in (records or {}).items() if rs}
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:  # noqa: ASYNC109
        """faust's fetch, then each partition's position once all it fetched was handed on."""
        fetched = self.__dict__.setdefault("_am_fetched", {})
        read = self._read_offset
        async for tp, message in super().getmany(timeout):
            if read.get(tp) == 0 and message.offset > 1:
                # faust tests the last offset read for truth before it records a gap, so
                # the marker after offset 0 (a new topic's first transaction) is never
                # recorded and would hold the commit at 1 for a round.
                await self._add_gap(tp, 1, message.offset)  # as faust passes it
            yield tp, message
        # faust stops handing on early when its flow stops or a rebalance begins; then the
        # client's positions run ahead of what was handed on, and nothing is noted.
        batch = getattr(self, "_am_batch", {})
        if any(read.get(tp) != last for tp, last in batch.items()):
            fetched.clear()
            return
        # Positions move only when this task fetches, so they are stable until the next one.
        # An idle fetch (nothing returned) reads them all: a marker may have come alone.
        for tp in batch or self.assignment():
            last = read.get(tp)
            if last is not None:
                position = await self.position(tp)
                if position is not None:
                    fetched[tp] = (last, position)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # faust's fetch loop passes the offset of the record it is about to hand on as the
        # gap's inclusive end (3.); the gap is the offsets before it.
        await super()._add_gap(tp, offset_from, offset_to - 1)

    def _new_offset(self, tp: Any) -> int | None:
        """faust's rule (the end of the run of acknowledged offsets and gaps), or the fetch
        position once everything handed on is acknowledged (4.)."""
        run_end = super()._new_offset(tp)
        done = run_end if run_end is not None else self._committed_offset[tp]
        read = self._read_offset.get(tp)
        noted = self.__dict__.get("_am_fetched", {}).get(tp)
        if (
            noted is not None
            and read is not None
            and noted[0] == read  # nothing handed on since the position was read
            and done == read + 1  # and all of it acknowledged
            and noted[1] > done
            and not self._acked[tp]
        ):
            return int(noted[1])
        return run_end


class _NotNow(Exception):
    """The hook failed: commit nothing now (the records stay uncommitted, not lost)."""


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
