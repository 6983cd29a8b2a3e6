"""What the operations page shows, followed live: tasks in flight, breakers, spend by tenant.

Two topics the supervisor already writes are enough, read from their start by every gateway
(no consumer group), so nothing new is written for the page:

- ``<ns>.supervisor-ledgers-changelog``: each task's ledger (usage against its limits, status)
  as the supervisor last wrote it. A task is live while it is running or stopped (parked for
  review); spend is the growth of each task's ``cost_usd``, put in the minute of the record
  that showed it. The changelog is compacted, so after a restart an older task's cost lands
  in the minute of its last update: the chart is exact from the gateway's start onward.
- ``<ns>.control``: the breakers' states (``breaker_open``, ``breaker_half_open``,
  ``breaker_closed`` records keyed ``scope:target``).

Subscribers get changes coalesced once a second, so a busy mesh does not flood a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from agentmesh.contracts import Codec, ControlCommand, DecodeError, SchemaStore, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
)
from agentmesh.core.views import TaskLedgerView

__all__ = ["OpsView", "SpendSeries"]

log = logging.getLogger(__name__)

_MINUTE_S = 60
_BREAKER_ACTIONS = {
    "breaker_open": "open",
    "breaker_half_open": "half_open",
    "breaker_closed": "closed",
}


class SpendSeries:
    """USD spent per tenant per minute over the last ``keep_minutes``."""

    def __init__(self, keep_minutes: int = 24 * 60) -> None:
        self.keep_minutes = keep_minutes
        self.minutes: dict[str, dict[int, Decimal]] = {}

    def add(self, tenant: str, at_s: float, usd: Decimal) -> None:
        if usd <= 0:
            return
        minute = int(at_s // _MINUTE_S)
        buckets = self.minutes.setdefault(tenant, {})
        buckets[minute] = buckets.get(minute, Decimal(0)) + usd
        horizon = minute - self.keep_minutes
        for old in [m for m in buckets if m <= horizon]:
            del buckets[old]

    def as_json(self, since_minutes: int = 60, now_s: float | None = None) -> dict[str, Any]:
        """The last ``since_minutes`` minutes: every tenant's USD per minute (oldest first)."""
        now_minute = int((time.time() if now_s is None else now_s) // _MINUTE_S)
        first = now_minute - since_minutes + 1
        return {
            "minute_s": _MINUTE_S,
            "start": datetime.fromtimestamp(first * _MINUTE_S, UTC).isoformat(),
            "tenants": {
                tenant: [str(buckets.get(m, Decimal(0))) for m in range(first, now_minute + 1)]
                for tenant, buckets in sorted(self.minutes.items())
            },
        }


class OpsView:
    """Follows the ledgers and control topics; ``subscribe`` for coalesced changes."""

    def __init__(
        self,
        settings: Settings,
        registry: SchemaStore,
        *,
        parked: Callable[[], Mapping[str, str]] = dict,
        keep_finished: int = 10_000,
        publish_every_s: float = 1.0,
    ) -> None:
        """``parked``: the tasks with work waiting for a person now, and what for (the review
        queue knows; the ledger does not)."""
        self.topics = Topics(settings.namespace)
        self.conn = KafkaConnection.from_settings(settings)
        self.control = Codec(ControlCommand, Topics.subject(self.topics.control), registry)
        self.live: dict[str, dict[str, Any]] = {}
        self.breakers: dict[str, dict[str, Any]] = {}
        self.spend = SpendSeries()
        self.completed = 0
        self.failed = 0
        # The last cost seen per task, to turn ledger values into spend; kept a while after a
        # task ends, for ledger records that follow its end.
        self._cost: OrderedDict[str, Decimal] = OrderedDict()
        self._parked = parked
        self._keep = keep_finished
        self._publish_every_s = publish_every_s
        self._changed: set[str] = set()
        self._removed: set[str] = set()
        self._breakers_changed = False
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        t = self.topics
        self._tasks = [
            asyncio.create_task(self._follow(t.ledgers, self._ledger), name="ops-ledgers"),
            asyncio.create_task(self._follow(t.control, self._control), name="ops-control"),
            asyncio.create_task(self._publisher(), name="ops-publisher"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def snapshot(self, limit: int = 200) -> dict[str, Any]:
        """Everything the page shows: the ``limit`` most recently updated live tasks."""
        self._mark_parked()
        tasks = sorted(self.live.values(), key=lambda t: t["updated_at"], reverse=True)
        return {
            "tasks": tasks[:limit],
            "live": len(self.live),
            "completed": self.completed,
            "failed": self.failed,
            "breakers": sorted(self.breakers.values(), key=lambda b: b["key"]),
            "spend": self.spend.as_json(),
        }

    # -- reading ---------------------------------------------------------------------------

    async def _follow(self, topic: str, apply: Any) -> None:
        """Read ``topic`` from its start, then live; waits for it to exist (the supervisor
        creates the ledgers topic when it first runs)."""
        while True:
            try:
                if not await partition_count(self.conn, topic, timeout_s=1.0):
                    await asyncio.sleep(2.0)
                    continue
                consumer = make_consumer(
                    self.conn, topic, options=ConsumerOptions(group_id=None, client_suffix="ops")
                )
                await consumer.start()
                try:
                    while True:
                        batch = await consumer.getmany(timeout_ms=500)
                        for records in batch.values():
                            for rec in records:
                                await apply(rec.key, rec.value, rec.timestamp / 1000)
                finally:
                    await consumer.stop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("operations view: reading %s failed; retrying in 2 s", topic)
                await asyncio.sleep(2.0)

    async def _ledger(self, key: bytes | None, value: bytes | None, at_s: float) -> None:
        if key is None:
            return
        try:
            task_id = orjson.loads(key)
        except orjson.JSONDecodeError:
            return
        if value is None:  # the supervisor dropped the task's ledger
            self._end(str(task_id))
            return
        try:
            ledger = TaskLedgerView.model_validate_json(value)
        except ValidationError:
            log.warning("operations view: skipping an unreadable ledger of %r", task_id)
            return
        known = ledger.task_id in self._cost
        previous = self._cost.pop(ledger.task_id, Decimal(0))
        self._cost[ledger.task_id] = ledger.cost_usd
        if len(self._cost) > self._keep:
            self._cost.popitem(last=False)
        self.spend.add(ledger.tenant, at_s, ledger.cost_usd - previous)
        if ledger.status in ("running", "stopped"):
            self.live[ledger.task_id] = _task_json(ledger, at_s)
            self._changed.add(ledger.task_id)
            self._removed.discard(ledger.task_id)
        elif ledger.task_id in self.live or not known:  # counted once, when it ends
            if ledger.status == "completed":
                self.completed += 1
            else:
                self.failed += 1
            self._end(ledger.task_id)

    def _mark_parked(self) -> None:
        """Note which live tasks wait for a review, and mark those whose answer changed."""
        parked = self._parked()
        for task_id, task in self.live.items():
            kind = parked.get(task_id)
            if task.get("parked") != kind:
                task["parked"] = kind
                self._changed.add(task_id)

    def _end(self, task_id: str) -> None:
        if self.live.pop(task_id, None) is not None:
            self._removed.add(task_id)
            self._changed.discard(task_id)

    async def _control(self, key: bytes | None, value: bytes | None, at_s: float) -> None:
        name = key.decode(errors="replace") if key else ""
        if value is None:
            if self.breakers.pop(name, None) is not None:
                self._breakers_changed = True
            return
        try:
            command = await self.control.decode(value)
        except DecodeError:
            log.warning("operations view: skipping an unreadable control record %r", name)
            return
        state = _BREAKER_ACTIONS.get(command.action)
        if state is None:
            return
        self.breakers[name] = {
            "key": f"{command.scope}:{command.target}",
            "state": state,
            "reason": command.reason,
            "since": command.issued_at.isoformat(),
        }
        self._breakers_changed = True

    # -- publishing ------------------------------------------------------------------------

    async def _publisher(self) -> None:
        while True:
            await asyncio.sleep(self._publish_every_s)
            self._mark_parked()
            if not self._subscribers:
                self._changed.clear()
                self._removed.clear()
                self._breakers_changed = False
                continue
            change: dict[str, Any] = {
                "tasks": [self.live[t] for t in self._changed if t in self.live],
                "removed": sorted(self._removed),
                "live": len(self.live),
                "completed": self.completed,
                "failed": self.failed,
                "spend": self.spend.as_json(),
            }
            if self._breakers_changed:
                change["breakers"] = sorted(self.breakers.values(), key=lambda b: b["key"])
            self._changed.clear()
            self._removed.clear()
            self._breakers_changed = False
            for queue in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(change)


def _task_json(ledger: TaskLedgerView, at_s: float) -> dict[str, Any]:
    """A live task as the page draws it: each figure used against its limit (if any)."""
    b = ledger.budget

    def figure(used: int | Decimal, limit: int | Decimal | None) -> dict[str, Any]:
        share = None if not limit else min(float(used) / float(limit), 9.99)
        return {
            "used": str(used),
            "limit": None if limit is None else str(limit),
            "share": share,
        }

    return {
        "task_id": ledger.task_id,
        "tenant": ledger.tenant,
        "agent": ledger.entry_agent,
        "status": ledger.status,
        "parked": None,
        "stopped_for": ledger.stopped_for,
        "submitted_at": ledger.submitted_at.isoformat() if ledger.submitted_at else None,
        "updated_at": datetime.fromtimestamp(at_s, UTC).isoformat(),
        "steps": figure(ledger.steps, b.max_steps),
        "tokens": figure(ledger.tokens, b.max_tokens),
        "cost_usd": figure(ledger.cost_usd, b.max_cost_usd),
        "hops": figure(ledger.hops, b.max_hops),
    }
