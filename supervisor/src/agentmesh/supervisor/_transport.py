"""faust's Kafka transport, reading committed data only, with a hook before commits.

In at-least-once mode faust reads ``read_uncommitted``. Agents write their step events in
Kafka transactions, and an aborted step's events must never reach a ledger (the step is
redone and writes them again), so the supervisor's consumer reads ``read_committed``.

The supervisor also counts outcomes and spend in memory between flushes of its summaries;
those must be on their way before the offsets of the events they count are committed, or a
crash right after the commit would lose them. faust has no such hook, so the consumer runs
the app's ``before_commit`` once it has chosen the offsets to commit and before it flushes
its producer and commits them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["SCHEME", "Transport", "before_commit"]

log = logging.getLogger(__name__)

SCHEME = "agentmesh"
_HOOK = "_agentmesh_before_commit"


def before_commit(app: Any, hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` before each commit of ``app``'s input offsets (not committed if it fails)."""
    setattr(app, _HOOK, hook)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher on start(); there is no other way in.
        consumer._isolation_level = "read_committed"
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_tps(self, tps: Any, start_new_transaction: bool) -> bool:
        try:
            return bool(await super()._commit_tps(tps, start_new_transaction))
        except _NotNow:
            return False  # tried again at the next commit interval

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


class _NotNow(Exception):
    """The hook failed: commit nothing now (the records stay uncommitted, not lost)."""


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
