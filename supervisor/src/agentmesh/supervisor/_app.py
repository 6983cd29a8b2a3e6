"""The supervisor as a faust-streaming app: tables, agents, timers.

Three faust agents, each over topics co-partitioned by its table's key:

* ``govern`` — tasks, events, review requests and decisions, and its own ticks, all keyed by
  task id: the per-task ``ledgers`` and ``reviews`` tables, read in batches and handed one
  record at a time to the :class:`~agentmesh.supervisor._governor.Governor` (budgets, loops,
  review gating);
* ``aggregate`` — outcome and spend summaries keyed by breaker or tenant: ``breakers`` and
  ``spend`` tables;
* ``audit`` — decisions to append, one hash chain per partition;

plus ``watch_control``, which audits kill switches that people issue, and a timer that sends
a task its tick when a deadline or a review timeout is due. Every record is handled until
done: outages are waited out, a record that keeps failing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch

from agentmesh.contracts import (
    AuditRecord,
    Codec,
    ControlCommand,
    DeadLetter,
    DecodeError,
    Header,
    RegistryUnavailableError,
    ReviewDecision,
    SchemaRegistry,
    SchemaStore,
    TaskSubmitted,
    Topics,
    load_public_key,
)
from agentmesh.core import Settings
from agentmesh.core.metrics import ConsumerLag
from agentmesh.core.policy import Policy
from agentmesh.core.transport import KafkaConnection
from agentmesh.supervisor import _faust_overrides
from agentmesh.supervisor import _state_codecs as state_codecs
from agentmesh.supervisor._aggregator import Aggregator
from agentmesh.supervisor._auditor import ChainWriter, CheckpointOptions, schedule_checkpoints
from agentmesh.supervisor._batch import OpenLedgers
from agentmesh.supervisor._breakers import Breaker
from agentmesh.supervisor._faust import new_app, table
from agentmesh.supervisor._governor import Decoders, Governor, Inbound
from agentmesh.supervisor._ledger import TaskLedger
from agentmesh.supervisor._metrics import observe_tables, report_lag
from agentmesh.supervisor._outputs import ACTOR, Outputs, stable_id
from agentmesh.supervisor._review_actions import ReviewActions
from agentmesh.supervisor._reviews import ReviewBook
from agentmesh.supervisor._spend import TenantSpend
from agentmesh.supervisor._topology import SupervisorTopics
from agentmesh.supervisor._tracing import caused_by, decision

__all__ = ["Inbound", "Supervisor", "SupervisorOptions"]

log = logging.getLogger(__name__)

_ATTEMPTS = 5  # a record whose folding keeps failing (not an outage) is dead-lettered


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    partitions: int
    audit_partitions: int
    replication_factor: int
    signal_flush_s: float = 0.2
    tick_s: float = 1.0
    # Records folded per batch (one ledger write per task per batch), and how long a batch
    # waits to fill: the latency a decision can gain.
    batch_max: int = 2000
    batch_within_s: float = 0.05
    instance: str = "supervisor"


class Supervisor:
    """Builds the faust app for one namespace and policy."""

    # What governs each task; a subclass (the benchmark's, which counts) may take its place.
    governor_type: ClassVar[type[Governor]] = Governor

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        options: SupervisorOptions,
        *,
        registry: SchemaStore | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        # When the policy names trusted keys, a decision counts only if one of them signed it.
        self._trusted = [load_public_key(p.read_bytes()) for p in policy.reviews.trusted_keys]
        self.options = options
        self.topics = Topics(settings.namespace)
        self.names = SupervisorTopics(self.topics)
        self.conn = KafkaConnection.from_settings(settings)
        self._registry = registry
        self._ready: asyncio.Event | None = None
        self.app = self._build_app()

    # -- wiring ------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        app = new_app(
            self.settings,
            self.names.app_id,
            partitions=self.options.partitions,
            replication_factor=self.options.replication_factor,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        t = self.topics
        governed = app.topic(
            t.tasks, t.events, t.review_requests, t.review_decisions, self.names.ticks, **raw
        )
        signals = app.topic(self.names.signals, **raw)
        intents = app.topic(
            self.names.audit_intents, partitions=self.options.audit_partitions, **raw
        )
        control = app.topic(t.control, **raw)
        self.ledgers = table(app, "ledgers", state_codecs.LEDGER, TaskLedger)
        self.open_ledgers = OpenLedgers(self.ledgers)
        self._ledger_topics = (t.events, t.tasks)
        self.reviews = table(app, "reviews", state_codecs.BOOK, ReviewBook)
        self.breakers = table(app, "breakers", state_codecs.BREAKER, Breaker)
        self.spend = table(app, "spend", state_codecs.SPEND, TenantSpend)
        self.aggregator = Aggregator(self.policy, self.names.signals, self.breakers, self.spend)

        app.agent(governed, name="govern")(self._govern)
        app.agent(signals, name="aggregate")(self._aggregate)
        app.agent(intents, name="audit")(self._audit)
        app.agent(control, name="watch_control")(self._watch_control)
        app.timer(self.options.signal_flush_s)(self.aggregator.flush_on_timer)
        # Counted but unsent outcomes and spend go out before the offsets of their events
        # are committed: a crash can then lose no summary (see agentmesh.supervisor._aggregator).
        _faust_overrides.before_commit(app, self.aggregator.flush)
        app.timer(self.options.tick_s)(self._tick)
        schedule_checkpoints(app, lambda: self._chain, self.settings.audit_checkpoint_interval_s)

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def _revoked(app: Any, revoked: Any, **_: Any) -> None:
            if self._chain is not None:
                await self._chain.forget_after_writes()

        self._chain: ChainWriter | None = None
        self._lag = ConsumerLag(self.names.app_id)
        return app

    async def ready(self) -> None:
        """Codecs registered (once, on faust's loop: the registry client is bound to it)."""
        if self._ready is None:
            self._ready = asyncio.Event()
            registry = self._registry or SchemaRegistry(self.settings.registry_url)
            self._registry = registry
            self.out = Outputs(self.app, self.topics, registry, self.options.instance)
            sub = Topics.subject
            self.task_codec = Codec(TaskSubmitted, sub(self.topics.tasks), registry)
            self.event_codec = self.out.event_codec
            self.request_codec = self.out.review_codec
            self.decision_codec = Codec(ReviewDecision, sub(self.topics.review_decisions), registry)
            self.command_codec = self.out.control_codec
            self.audit_codec = Codec(AuditRecord, sub(self.topics.audit), registry)
            await self.out.register()
            for codec in (self.task_codec, self.decision_codec, self.audit_codec):
                await codec.register()

            async def send(topic: str, key: bytes, value: bytes, partition: int) -> None:
                await self.out.send(topic, key, value, partition=partition)

            checkpoints = CheckpointOptions.from_settings(self.settings)
            self._chain = ChainWriter(
                self.conn, self.topics.audit, self.audit_codec, send, checkpoints
            )
            self.actions = ReviewActions(self.out, self.ledgers, self.policy, self.topics.dlq)
            self.aggregator.out = self.out
            self.governor = self.governor_type(
                self.policy,
                self.topics,
                ticks_topic=self.names.ticks,
                trusted=self._trusted,
                decoders=Decoders(
                    self.task_codec, self.event_codec, self.request_codec, self.decision_codec
                ),
                ledgers=self.ledgers,
                open_ledgers=self.open_ledgers,
                reviews=self.reviews,
                aggregator=self.aggregator,
                out=self.out,
                actions=self.actions,
                reject=self._reject_record,
            )
            self._ready.set()
        await self._ready.wait()

    # -- govern: one task's records, handed to the governor ------------------------------

    async def _govern(self, stream: Any) -> None:
        await self.ready()
        govern = self.governor.govern
        o = self.options
        async for batch in stream.take_events(o.batch_max, within=o.batch_within_s):
            with self.open_ledgers.batch():
                for event in batch:
                    rec = Inbound.of(event.message)
                    if rec.topic not in self._ledger_topics:
                        self.open_ledgers.store()  # reviews and the clock read stored ledgers
                    # caused_by: decisions about the record are spans in its task's trace
                    with _faust_overrides.in_event(event), caused_by(rec.headers):
                        await self._until_done(functools.partial(govern, rec), rec)

    async def _until_done(self, work: Callable[[], Awaitable[None]], rec: Inbound) -> None:
        """Do ``work`` for one record until it succeeds.

        faust acknowledges a record when its agent raises, restarts the agent and never
        delivers that record again: an error escaping here would leave a ledger short. Kafka
        and registry outages are waited out; anything else is tried a few times, then the
        record is dead-lettered with the error (and is no longer silently lost).
        """
        delay = 0.2
        for attempt in itertools.count(1):
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except (RegistryUnavailableError, KafkaError, PartitionsMismatch) as exc:
                log.warning("%s[%d]@%d: %r; retrying", rec.topic, rec.partition, rec.offset, exc)
            except Exception as exc:
                if attempt >= _ATTEMPTS:
                    log.exception(
                        "%s[%d]@%d failed %d times", rec.topic, rec.partition, rec.offset, attempt
                    )
                    await self._reject_record(rec, f"{type(exc).__name__}: {exc}", "handler")
                    return
                log.warning(
                    "%s[%d]@%d: %r; trying again", rec.topic, rec.partition, rec.offset, exc
                )
            else:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _reject_record(self, rec: Inbound, error: str, stage: str = "decode") -> None:
        """A record the supervisor cannot read or fold: dead-lettered with its coordinates."""
        verb = "fold" if stage == "handler" else "read"
        log.error(
            "%s[%d]@%d: could not %s it (%s): dead-lettered to %s",
            rec.topic,
            rec.partition,
            rec.offset,
            verb,
            error,
            self.topics.dlq,
        )
        headers = [Header(key=k, value=v) for k, v in rec.headers]
        where = {"stage": stage, "error": error, "from": rec.topic}
        task_id = rec.key.decode(errors="replace") if rec.key else None
        cause = f"{rec.topic}:{rec.offset}"
        decision("dead_lettered", subject=cause, task_id=task_id, cause=cause, details=where)
        await self.out.dead_letter(
            DeadLetter(
                dead_letter_id=stable_id("dlq", rec.topic, rec.partition, rec.offset),
                # "handler": it was read but folding it kept failing (a bug, not bad bytes).
                stage=stage if stage in ("decode", "validate", "handler") else "decode",
                error_class="UnreadableRecord" if stage != "handler" else "SupervisorFoldFailed",
                error_message=f"supervisor could not {verb} it: {error}"[:4000],
                original_topic=rec.topic,
                original_partition=rec.partition,
                original_offset=rec.offset,
                original_key=rec.key,
                original_value=rec.value,
                original_headers=headers,
            )
        )

    # -- aggregate: breakers and tenant spend --------------------------------------------

    async def _aggregate(self, stream: Any) -> None:
        await self.ready()
        async for event in stream.events():
            msg = event.message
            try:
                signal = orjson.loads(msg.value)
            except orjson.JSONDecodeError:
                log.exception(
                    "unreadable signal at %s[%d]@%d", msg.topic, msg.partition, msg.offset
                )
                continue
            cause = f"{msg.topic}:{msg.partition}:{msg.offset}"
            fold = functools.partial(self.aggregator.aggregate, signal, cause)
            await self._until_done(fold, Inbound.of(msg))

    # -- audit: the chain writer ---------------------------------------------------------

    async def _audit(self, stream: Any) -> None:
        await self.ready()
        async for event in stream.events():
            msg = event.message
            chain = self._chain
            assert chain is not None
            append = functools.partial(_appended, chain, msg.partition, msg.value)
            await self._until_done(append, Inbound.of(msg))

    # -- kill switches that people issue -------------------------------------------------

    async def _watch_control(self, stream: Any) -> None:
        await self.ready()
        async for event in stream.events():
            msg = event.message
            if msg.value is None:
                continue
            try:
                command = await self.command_codec.decode(msg.value)
            except DecodeError:
                log.exception("unreadable control record at offset %d", msg.offset)
                continue
            if command.issued_by != ACTOR and command.action in ("cancel", "pause", "resume"):
                audit = functools.partial(self._audit_kill_switch, command)
                await self._until_done(audit, Inbound.of(msg))

    async def _audit_kill_switch(self, command: ControlCommand) -> None:
        await self.out.audit(
            "kill_switch",
            cause=command.command_id,
            subject=command.key,
            task_id=command.target if command.scope == "task" else None,
            actor=command.issued_by,
            details={
                "scope": command.scope,
                "target": command.target,
                "action": command.action,
                "reason": command.reason,
            },
        )

    # -- time ----------------------------------------------------------------------------

    async def _tick(self) -> None:
        """Deadlines, review timeouts and breaker cool-downs need time, not records."""
        if self._ready is None or not self._ready.is_set():
            return
        now = datetime.now(UTC)
        due: set[str] = set()
        for task_id, ledger in list(self.ledgers.items()):
            deadline = ledger.budget.deadline
            if ledger.status == "running" and deadline is not None and deadline <= now:
                due.add(task_id)
        for task_id, book in list(self.reviews.items()):
            if book.due(now):
                due.add(task_id)
        for task_id in due:
            await self.out.send(self.names.ticks, task_id.encode(), b"{}")
        self._observe(now)
        t = now.timestamp()
        for key, breaker in list(self.breakers.items()):
            if breaker.due(t, self.policy.breakers):
                tick = orjson.dumps({"k": "tick", "key": key})
                await self.out.send(self.names.signals, key.encode(), tick)

    def _observe(self, now: datetime) -> None:
        """Refresh what /metrics shows of the tables and of this instance's consumer lag."""
        observe_tables(self.ledgers.values(), self.reviews.values(), self.breakers.values(), now)
        report_lag(self._lag, self.app.consumer)


async def _appended(chain: ChainWriter, partition: int, value: bytes) -> None:
    await chain.append(partition, value)
