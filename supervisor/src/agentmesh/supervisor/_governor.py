"""Governing one task: its records folded into its ledger and its review book.

The supervisor's ``govern`` faust agent hands every record keyed by a task id — a task
submitted, an agent's event, a review request or decision, or the supervisor's own tick for
the task — to :meth:`Governor.govern`, one at a time and in order per task. The governor
decodes it and folds it: budgets, deadlines and loops over the ledger (a breach pauses the
task and parks its work for review), review requests and decisions over the review book (with
the policy's trusted keys, only signed decisions count). What it decides goes out through
the supervisor's :class:`~agentmesh.supervisor._outputs.Outputs` and
:class:`~agentmesh.supervisor._review_actions.ReviewActions`.

Records it cannot read go to ``reject`` (the supervisor's dead-lettering); an error escaping
``govern`` is the supervisor's to retry (see ``Supervisor._until_done``), so every fold works
on a copy stored only once its outputs went out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentmesh.contracts import (
    AgentEvent,
    Codec,
    DecodeError,
    ReviewDecision,
    ReviewRequest,
    TaskSubmitted,
    Topics,
    verify_decision,
)
from agentmesh.core.policy import Policy
from agentmesh.supervisor._aggregator import Aggregator
from agentmesh.supervisor._batch import OpenLedgers
from agentmesh.supervisor._ledger import Breach, TaskLedger
from agentmesh.supervisor._metrics import breached, folded
from agentmesh.supervisor._outputs import Outputs
from agentmesh.supervisor._review_actions import ReviewActions, usage
from agentmesh.supervisor._reviews import Refuse, ReviewBook
from agentmesh.supervisor._tracing import ended

__all__ = ["Decoders", "Governor", "Inbound", "Reject"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One record the supervisor reads, with its coordinates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, msg: Any) -> Inbound:
        headers = msg.headers or ()
        if isinstance(headers, dict):
            headers = headers.items()
        return cls(msg.topic, msg.partition, msg.offset, msg.key, msg.value, tuple(headers))


# (record, error, stage): dead-letters a record that cannot be read or folded.
Reject = Callable[[Inbound, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Decoders:
    """The codecs of the records a task is governed by."""

    tasks: Codec[TaskSubmitted]
    events: Codec[AgentEvent]
    requests: Codec[ReviewRequest]
    decisions: Codec[ReviewDecision]


class Governor:
    """Folds the records of tasks into their ``ledgers`` and ``reviews`` and acts on them."""

    def __init__(
        self,
        policy: Policy,
        topics: Topics,
        *,
        ticks_topic: str,
        trusted: Sequence[Ed25519PublicKey],
        decoders: Decoders,
        ledgers: Any,
        open_ledgers: OpenLedgers,
        reviews: Any,
        aggregator: Aggregator,
        out: Outputs,
        actions: ReviewActions,
        reject: Reject,
    ) -> None:
        self.policy = policy
        self.topics = topics
        self.ticks_topic = ticks_topic
        # When the policy names trusted keys, a decision counts only if one of them signed it.
        self.trusted = trusted
        self.decoders = decoders
        self.ledgers = ledgers
        self.open_ledgers = open_ledgers
        self.reviews = reviews
        self.aggregator = aggregator
        self.out = out
        self.actions = actions
        self.reject = reject

    async def govern(self, rec: Inbound) -> None:
        """Fold one record of a task into its ledger or its review book."""
        topic, offset, key, value = rec.topic, rec.offset, rec.key, rec.value
        if key is None or value is None:
            if topic != self.ticks_topic:
                await self.reject(rec, "no task id key", "decode")
            return
        task_id = key.decode(errors="replace")
        if topic == self.ticks_topic:
            await self._on_tick(task_id)
            return
        codecs = self.decoders
        try:
            if topic == self.topics.events:
                message: Any = await codecs.events.decode(value)
            elif topic == self.topics.tasks:
                message = await codecs.tasks.decode(value)
            elif topic == self.topics.review_requests:
                message = await codecs.requests.decode(value)
            else:
                message = await codecs.decisions.decode(value)
        except DecodeError as exc:
            await self.reject(rec, str(exc), exc.stage)
            return
        if topic in (self.topics.events, self.topics.tasks):
            await self._fold_ledger(task_id, rec, message)
        else:
            await self._fold_reviews(task_id, topic, offset, message)

    async def _fold_ledger(self, task_id: str, rec: Inbound, message: Any) -> None:
        topic, offset = rec.topic, rec.offset
        stored: TaskLedger | None = self.open_ledgers.get(task_id)
        if stored is not None and stored.seen(topic, offset):
            # Delivered again after a restart: already in the ledger. Its outcome and spend
            # may not have reached a summary before the crash: counted again, and skipped
            # by position where they had.
            if not isinstance(message, TaskSubmitted):
                self.aggregator.observe(message, rec.partition, offset, stored.calls)
            return
        # Folded into a copy, stored only after the outputs went out: if sending fails and
        # the record is tried again, it is neither counted twice nor its decision lost.
        ledger = TaskLedger(task_id=task_id) if stored is None else stored.clone()
        if isinstance(message, TaskSubmitted):
            breach = ledger.submitted(message, self.policy)
        else:
            breach = ledger.event(message, self.policy, offset)
        ledger.mark(topic, offset)
        if breach is not None:
            await self._stop(ledger, breach, cause=f"{topic}:{offset}")
        self.open_ledgers.put(task_id, ledger)
        folded(stored, ledger, isinstance(message, TaskSubmitted))
        ended(stored, ledger, cause=f"{topic}:{offset}")
        if not isinstance(message, TaskSubmitted):
            self.aggregator.observe(message, rec.partition, offset, ledger.calls)

    async def _stop(self, ledger: TaskLedger, breach: Breach, cause: str) -> None:
        kind = "loop" if breach.kind == "loop" else "budget"
        breached(breach.kind, breach.limit)
        await self.out.command(
            "task", ledger.task_id, "pause", breach.describe(), cause=cause, review_kind=kind
        )
        await self.out.audit(
            "loop_stop" if kind == "loop" else "budget_breach",
            cause=cause,
            subject=ledger.task_id,
            task_id=ledger.task_id,
            details={
                "limit": breach.limit,
                "used": breach.used,
                "allowed": breach.allowed,
                "reason": breach.describe(),
                "then": f"task paused; its work is parked for review ({kind})",
                "steps": ledger.steps,
                "tokens": ledger.tokens,
                "cost_usd": str(ledger.cost_usd),
            },
        )

    async def _fold_reviews(self, task_id: str, topic: str, offset: int, message: Any) -> None:
        stored: ReviewBook | None = self.reviews.get(task_id)
        if stored is not None and stored.seen(topic, offset):
            return
        # As for ledgers: a copy, stored once its actions went out.
        book = ReviewBook(task_id=task_id) if stored is None else stored.model_copy(deep=True)
        now = datetime.now(UTC)
        cause = f"{topic}:{offset}"
        if isinstance(message, ReviewRequest):
            new = message.review_id not in book.pending and message.review_id not in book.decided
            actions = book.requested(message, self.policy, now)
            if new:
                await self.out.audit(
                    "review_requested",
                    cause=cause,
                    subject=message.review_id,
                    task_id=task_id,
                    details={
                        "kind": message.kind,
                        "agent": message.agent,
                        "reason": message.reason,
                        "required_approvals": message.required_approvals,
                        # What the task has used so far, for the people who decide.
                        **usage(self.ledgers.get(task_id), self.policy),
                    },
                )
        elif self.trusted and not any(verify_decision(message, k) for k in self.trusted):
            log.warning(
                "decision %s on review %s by %r is not signed by a trusted key; not counted",
                message.decision_id,
                message.review_id,
                message.reviewer,
            )
            unsigned = "it carries no signature" if message.signature is None else None
            why = unsigned or f"its signature (key {message.key_id}) is not by a trusted key"
            actions = [Refuse(message, why)]
        else:
            ledger: TaskLedger | None = self.ledgers.get(task_id)
            blocked = None if ledger is None else ledger.approval_blocked(self.policy, now)
            actions = book.decision(message, blocked)
        book.mark(topic, offset)
        await self.actions.act(task_id, actions, cause)
        self.reviews[task_id] = book

    async def _on_tick(self, task_id: str) -> None:
        # Copies again, stored after their outputs: a tick tried again after a failed send
        # still finds the task running and the review pending, and decides again.
        now = datetime.now(UTC)
        stored: TaskLedger | None = self.ledgers.get(task_id)
        if stored is not None and stored.status == "running":
            ledger = stored.clone()
            breach = ledger.check(self.policy, now)
            if breach is not None:
                await self._stop(
                    ledger, breach, cause=f"tick:{breach.limit}:{ledger.budget.deadline}"
                )
                self.ledgers[task_id] = ledger
        stored_book: ReviewBook | None = self.reviews.get(task_id)
        if stored_book is not None and stored_book.due(now):
            book = stored_book.model_copy(deep=True)
            actions = book.tick(now, self.policy)
            await self.actions.act(task_id, actions, cause=f"tick:{now.timestamp():.0f}")
            self.reviews[task_id] = book
