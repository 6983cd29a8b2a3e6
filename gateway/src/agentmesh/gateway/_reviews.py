"""The review queue as the gateway sees it: requests, votes, and how each one ended.

Built by following ``review.requests`` and ``review.decisions`` and the supervisor's audit
records (``review_requested``, ``review_released``, ``review_rejected``, and
``decision_refused``: a refused vote is shown and no longer counts), so every gateway
instance converges to the same view whichever of them took a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import TopicPartition

from agentmesh.contracts import (
    AuditRecord,
    Codec,
    DecodeError,
    ReviewDecision,
    ReviewRequest,
    SchemaRegistry,
    Topics,
    shown_sha256,
)
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer
from agentmesh.core.views import ReviewEntry

__all__ = ["ReviewItem", "ReviewView", "decided", "shown_hash"]

log = logging.getLogger(__name__)


# One item model for the gateway and the CLI's direct path: both show an item alike.
ReviewItem = ReviewEntry
shown_hash = shown_sha256


def decided(item: ReviewItem) -> str | None:
    """Why ``item`` takes no more decisions, or None while it does.

    Decided is what the supervisor will make of the votes (any reject ends it; enough
    distinct approvals release it), not only what it has done: its release or rejection
    reaches the gateway later, and a vote cast in between would change nothing.
    """
    rid = item.request.review_id
    if item.status != "pending":
        return f"review {rid} was {item.status} already"
    rejected = sorted(n for n, d in item.votes.items() if d.decision == "reject")
    if rejected:
        return (
            f"review {rid} is decided: {', '.join(rejected)} rejected it (one rejection ends "
            "the work; the supervisor is dead-lettering it); nothing is left to decide"
        )
    approvals = sorted(item.votes)
    needed = item.request.required_approvals
    if len(approvals) >= needed:
        return (
            f"review {rid} is decided: approved by {', '.join(approvals)} ({needed} "
            "distinct approvals needed; the supervisor is releasing it); nothing is left "
            "to decide"
        )
    return None


class ReviewView:
    """Follows the review and audit topics; ``changes`` subscribers get every update."""

    def __init__(self, settings: Settings, registry: SchemaRegistry) -> None:
        self.topics = Topics(settings.namespace)
        self.conn = KafkaConnection.from_settings(settings)
        sub = Topics.subject
        self.requests = Codec(ReviewRequest, sub(self.topics.review_requests), registry)
        self.decisions = Codec(ReviewDecision, sub(self.topics.review_decisions), registry)
        self.audit = Codec(AuditRecord, sub(self.topics.audit), registry)
        self.items: dict[str, ReviewItem] = {}
        # Decisions and outcomes read before their request (the three topics are read in no
        # fixed order): applied when the request arrives.
        self._early: dict[str, list[ReviewDecision | AuditRecord]] = {}
        self.caught_up = asyncio.Event()
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="review-view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def parked(self) -> dict[str, str]:
        """Task id → kind of review, for every task with work pending a decision."""
        return {
            i.request.task_id: i.request.kind for i in self.items.values() if i.status == "pending"
        }

    def note_vote(self, decision: ReviewDecision) -> None:
        """Record a decision this gateway just wrote, before it comes back from Kafka."""
        item = self.items.get(decision.review_id)
        if item is not None:
            item.votes[decision.reviewer] = decision
            self._publish(item)

    def _publish(self, item: ReviewItem) -> None:
        data = item.as_json()
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(data)

    async def _follow(self) -> None:
        t = self.topics
        names = [t.review_requests, t.review_decisions, t.audit]
        while True:
            try:
                await self._consume(names)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("review view: consuming failed; retrying in 2 s")
                await asyncio.sleep(2)

    async def _consume(self, names: list[str]) -> None:
        consumer = make_consumer(
            self.conn, *names, options=ConsumerOptions(group_id=None, client_suffix="reviews")
        )
        try:
            await consumer.start()
            ends: dict[TopicPartition, int] | None = None
            while True:
                batch = await consumer.getmany(timeout_ms=300)
                for tp, records in batch.items():
                    for rec in records:
                        await self._apply(tp.topic, rec.value)
                if ends is None and consumer.assignment():
                    ends = await consumer.end_offsets(list(consumer.assignment()))
                if not self.caught_up.is_set() and ends is not None:
                    positions = [await consumer.position(tp) for tp in ends]
                    if all(p >= ends[tp] for p, tp in zip(positions, ends, strict=True)):
                        self.caught_up.set()
        finally:
            await consumer.stop()

    async def _apply(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        try:
            if topic == self.topics.review_requests:
                req = await self.requests.decode(value)
                item = self.items.get(req.review_id)
                if item is None:
                    item = self.items[req.review_id] = ReviewItem(req)
                    for early in self._early.pop(req.review_id, []):
                        item.apply(early)
                else:
                    item.request = req  # an escalation re-issues it
                self._publish(item)
                return
            found: ReviewDecision | AuditRecord
            if topic == self.topics.review_decisions:
                decision = await self.decisions.decode(value)
                found, review_id = decision, decision.review_id
            else:
                record = await self.audit.decode(value)
                if record.decision not in (
                    "review_requested",
                    "review_released",
                    "review_rejected",
                    "decision_refused",
                ):
                    return
                found, review_id = record, record.subject
            item = self.items.get(review_id)
            if item is None:
                self._early.setdefault(review_id, []).append(found)
                return
            item.apply(found)
            self._publish(item)
        except DecodeError:
            log.exception("review view: skipping an unreadable record on %s", topic)
