"""The supervisor as a faust-streaming app: tables, agents, timers.

Three faust agents, each over topics co-partitioned by its table's key:

* ``govern`` — tasks, events, review requests and decisions, and its own ticks, all keyed by
  task id: the per-task ``ledgers`` and ``reviews`` tables, budgets, loops, review gating;
* ``aggregate`` — outcome and spend summaries keyed by breaker or tenant: ``breakers`` and
  ``spend`` tables;
* ``audit`` — decisions to append, one hash chain per partition;

plus ``watch_control``, which audits kill switches that people issue.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch
from pydantic import BaseModel

from agentmesh._settings import Settings
from agentmesh.policy import Policy
from agentmesh.transport import KafkaConnection
from contracts import (
    CLAIM_HEADER,
    RELEASED_AT_HEADER,
    REVIEW_ID_HEADER,
    AgentEvent,
    AuditRecord,
    Codec,
    ControlCommand,
    DeadLetter,
    DecodeError,
    EditRejected,
    Header,
    LlmCall,
    RegistryUnavailableError,
    ReviewDecision,
    ReviewRequest,
    SchemaRegistry,
    SchemaStore,
    StepFinished,
    TaskFailed,
    TaskSubmitted,
    ToolCall,
    Topics,
    rewrite_handoff,
)
from supervisor import _state_codecs as state_codecs
from supervisor import _transport
from supervisor._auditor import ChainWriter
from supervisor._breakers import Breaker, Transition
from supervisor._ledger import Breach, TaskLedger, extend
from supervisor._outputs import ACTOR, Outputs, parked_dead_letter, stable_id
from supervisor._reviews import TASK_LEVEL, Escalate, Reject, Release, ReviewAction, ReviewBook
from supervisor._spend import TenantSpend
from supervisor._topology import SupervisorTopics

__all__ = ["Inbound", "Supervisor", "SupervisorOptions"]

log = logging.getLogger(__name__)

_ATTEMPTS = 5  # a record whose folding keeps failing (not an outage) is dead-lettered

# Failures that say nothing about an agent's health (they are decisions, not faults).
_NOT_AGENT_FAULTS = frozenset(
    {"Cancelled", "ToolBreakerOpen", "StepStopped", "BudgetExceeded", "ReviewRejected"}
)


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


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    partitions: int
    audit_partitions: int
    replication_factor: int
    signal_flush_s: float = 0.2
    tick_s: float = 1.0
    instance: str = "supervisor"


class Supervisor:
    """Builds the faust app for one namespace and policy."""

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
        self.options = options
        self.topics = Topics(settings.namespace)
        self.names = SupervisorTopics(self.topics)
        self.conn = KafkaConnection.from_settings(settings)
        self._registry = registry
        self._ready: asyncio.Event | None = None
        self._outcomes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._spend: dict[str, Decimal] = defaultdict(Decimal)
        self.app = self._build_app()

    # -- wiring ------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        s = self.settings
        brokers = ";".join(f"{_transport.SCHEME}://{b}" for b in s.bootstrap.split(","))
        app = faust.App(
            self.names.app_id,
            broker=brokers,
            broker_client_id=f"{s.client_id}.supervisor",
            store="memory://",
            web_enabled=False,
            topic_partitions=self.options.partitions,
            topic_replication_factor=self.options.replication_factor,
            topic_allow_declare=True,
            table_standby_replicas=0,
            key_serializer="raw",
            value_serializer="raw",
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            # A supervisor killed with -9 holds its partitions until its session expires:
            # keep that short so a replacement takes over within seconds.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            broker_credentials=_credentials(s),
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
        self.ledgers = _table(app, "ledgers", state_codecs.LEDGER, TaskLedger)
        self.reviews = _table(app, "reviews", state_codecs.BOOK, ReviewBook)
        self.breakers = _table(app, "breakers", state_codecs.BREAKER, Breaker)
        self.spend = _table(app, "spend", state_codecs.SPEND, TenantSpend)

        app.agent(governed, name="govern")(self._govern)
        app.agent(signals, name="aggregate")(self._aggregate)
        app.agent(intents, name="audit")(self._audit)
        app.agent(control, name="watch_control")(self._watch_control)
        app.timer(self.options.signal_flush_s)(self._flush_signals)
        app.timer(self.options.tick_s)(self._tick)

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def _revoked(app: Any, revoked: Any, **_: Any) -> None:
            if self._chain is not None:
                self._chain.forget()

        self._chain: ChainWriter | None = None
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

            self._chain = ChainWriter(self.conn, self.topics.audit, self.audit_codec, send)
            self._ready.set()
        await self._ready.wait()

    # -- govern: one task's records ------------------------------------------------------

    async def _govern(self, stream: Any) -> None:
        await self.ready()
        async for event in stream.events():
            rec = Inbound.of(event.message)
            await self._until_done(functools.partial(self.govern, rec), rec)

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

    async def govern(self, rec: Inbound) -> None:
        """Fold one record of a task into its ledger or its review book."""
        topic, offset, key, value = rec.topic, rec.offset, rec.key, rec.value
        if key is None or value is None:
            if topic != self.names.ticks:
                await self._reject_record(rec, "no task id key")
            return
        task_id = key.decode(errors="replace")
        if topic == self.names.ticks:
            await self._on_tick(task_id)
            return
        try:
            if topic == self.topics.events:
                message: Any = await self.event_codec.decode(value)
            elif topic == self.topics.tasks:
                message = await self.task_codec.decode(value)
            elif topic == self.topics.review_requests:
                message = await self.request_codec.decode(value)
            else:
                message = await self.decision_codec.decode(value)
        except DecodeError as exc:
            await self._reject_record(rec, str(exc), exc.stage)
            return
        if topic in (self.topics.events, self.topics.tasks):
            await self._fold_ledger(task_id, topic, offset, message)
        else:
            await self._fold_reviews(task_id, topic, offset, message)

    async def _fold_ledger(self, task_id: str, topic: str, offset: int, message: Any) -> None:
        stored: TaskLedger | None = self.ledgers.get(task_id)
        if stored is not None and stored.seen(topic, offset):
            return  # delivered again after a restart: already counted
        # Folded into a copy, stored only after the outputs went out: if sending fails and
        # the record is tried again, it is neither counted twice nor its decision lost.
        ledger = TaskLedger(task_id=task_id) if stored is None else stored.clone()
        if isinstance(message, TaskSubmitted):
            breach = ledger.submitted(message, self.policy)
        else:
            breach = ledger.event(message, self.policy)
        ledger.mark(topic, offset)
        if breach is not None:
            await self._stop(ledger, breach, cause=f"{topic}:{offset}")
        self.ledgers[task_id] = ledger
        if not isinstance(message, TaskSubmitted):
            self._observe(message)

    def _observe(self, event: AgentEvent) -> None:
        """Count outcomes for breakers and spend for tenants (sent in summaries)."""
        body = event.body
        if isinstance(body, LlmCall) and not body.replayed:
            self._outcomes[f"model:{body.provider}"][0 if body.status == "ok" else 1] += 1
            if body.cost_usd:
                self._spend[event.tenant] += body.cost_usd
        elif isinstance(body, ToolCall) and not body.replayed:
            if body.status in ("ok", "error", "timeout"):
                self._outcomes[f"tool:{body.tool}"][0 if body.status == "ok" else 1] += 1
        elif isinstance(body, StepFinished) and body.outcome in ("handoff", "result", "waiting"):
            self._outcomes[f"agent:{event.agent}"][0] += 1
        elif (
            isinstance(body, TaskFailed)
            and event.agent != ACTOR
            and body.error_class not in _NOT_AGENT_FAULTS
        ):
            self._outcomes[f"agent:{event.agent}"][1] += 1

    async def _stop(self, ledger: TaskLedger, breach: Breach, cause: str) -> None:
        kind = "loop" if breach.kind == "loop" else "budget"
        await self.out.control(
            ControlCommand(
                command_id=stable_id("stop", ledger.task_id, cause),
                scope="task",
                target=ledger.task_id,
                action="pause",
                reason=breach.describe(),
                issued_by=ACTOR,
                review_kind=kind,
            )
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
                        **_usage(self.ledgers.get(task_id)),
                    },
                )
        else:
            actions = book.decision(message)
        book.mark(topic, offset)
        await self._act(task_id, actions, cause)
        self.reviews[task_id] = book

    async def _act(self, task_id: str, actions: list[ReviewAction], cause: str) -> None:
        for action in actions:
            if isinstance(action, Release):
                await self._release(task_id, action, cause)
            elif isinstance(action, Reject):
                await self._reject(task_id, action, cause)
            elif isinstance(action, Escalate):
                await self.out.review_request(action.request)
                await self.out.audit(
                    "review_escalated",
                    cause=cause,
                    subject=action.request.review_id,
                    task_id=task_id,
                    details={
                        "escalations": action.request.escalations,
                        "reason": action.request.reason,
                    },
                )

    async def _release(self, task_id: str, action: Release, cause: str) -> bool:
        req = action.request
        budget_fn = None
        if req.kind in TASK_LEVEL:
            ledger: TaskLedger = self.ledgers.get(task_id) or TaskLedger(task_id=task_id)
            if req.kind == "budget" and ledger.status == "stopped":
                ledger.extend(self.policy, datetime.now(UTC))
                await self.out.audit(
                    "budget_extended",
                    cause=cause,
                    subject=task_id,
                    task_id=task_id,
                    details={
                        "by": list(action.reviewers),
                        "budget": ledger.budget.model_dump(mode="json"),
                    },
                )
            elif ledger.status == "stopped":
                ledger.status, ledger.stopped_for = "running", None
                ledger.repeats.clear()
            self.ledgers[task_id] = ledger
            if req.kind == "budget":
                policy = self.policy
                budget_fn = lambda b: extend(b, policy)  # noqa: E731
            await self.out.control(
                ControlCommand(
                    command_id=stable_id("resume", task_id, cause),
                    scope="task",
                    target=task_id,
                    action="resume",
                    reason=f"review {req.review_id} approved by {', '.join(action.reviewers)}",
                    issued_by=ACTOR,
                )
            )
        claimed = any(h.key == CLAIM_HEADER for h in req.parked_headers)
        try:
            _no_edit_of_claimed(claimed, action.edited_payload_json)
            value = await rewrite_handoff(
                self.out.review_codec.registry,
                req.parked_value,
                payload_json=action.edited_payload_json,
                # A ticket is not a handoff: its budget travels in the claimed bytes.
                budget_fn=None if claimed else budget_fn,
            )
        except EditRejected as exc:
            await self._reject(task_id, Reject(req, ACTOR, str(exc)), cause)
            return False
        released_at = datetime.now(UTC).isoformat().encode()
        ours = (REVIEW_ID_HEADER, RELEASED_AT_HEADER)
        headers = [(h.key, h.value or b"") for h in req.parked_headers if h.key not in ours]
        headers += [(REVIEW_ID_HEADER, req.review_id.encode()), (RELEASED_AT_HEADER, released_at)]
        await self.out.send(req.target_topic, req.parked_key, value, headers=headers)
        await self.out.audit(
            "review_released",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={
                "kind": req.kind,
                "reviewers": list(action.reviewers),
                "edited": action.edited_payload_json is not None,
                "target_topic": req.target_topic,
                "reason": action.reason,
            },
        )
        return True

    async def _reject(self, task_id: str, action: Reject, cause: str) -> None:
        req = action.request
        await self.out.dead_letter(parked_dead_letter(req, action.reason, action.by))
        await self.out.control(
            ControlCommand(
                command_id=stable_id("cancel", task_id, cause),
                scope="task",
                target=task_id,
                action="cancel",
                reason=action.reason,
                issued_by=ACTOR,
            )
        )
        await self.out.event(
            task_id,
            (self.ledgers.get(task_id) or TaskLedger(task_id=task_id)).tenant,
            TaskFailed(error_class="ReviewRejected", message=action.reason[:2000]),
            cause=f"{cause}:{req.review_id}",
        )
        await self.out.audit(
            "review_rejected",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={"kind": req.kind, "by": action.by, "reason": action.reason},
        )
        await self.out.audit(
            "dead_lettered",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={"topic": self.topics.dlq, "stage": "policy", "from": req.target_topic},
        )

    async def _on_tick(self, task_id: str) -> None:
        now = datetime.now(UTC)
        ledger: TaskLedger | None = self.ledgers.get(task_id)
        if ledger is not None and ledger.status == "running":
            breach = ledger.check(self.policy, now)
            if breach is not None:
                self.ledgers[task_id] = ledger
                await self._stop(
                    ledger, breach, cause=f"tick:{breach.limit}:{ledger.budget.deadline}"
                )
        book: ReviewBook | None = self.reviews.get(task_id)
        if book is not None and book.due(now):
            actions = book.tick(now, self.policy)
            self.reviews[task_id] = book
            await self._act(task_id, actions, cause=f"tick:{now.timestamp():.0f}")

    async def _reject_record(self, rec: Inbound, error: str, stage: str = "decode") -> None:
        """A record the supervisor cannot read: dead-lettered with its coordinates, skipped."""
        log.error(
            "%s[%d]@%d unreadable (%s): dead-lettered to %s",
            rec.topic,
            rec.partition,
            rec.offset,
            error,
            self.topics.dlq,
        )
        headers = [Header(key=k, value=v) for k, v in rec.headers]
        await self.out.dead_letter(
            DeadLetter(
                dead_letter_id=stable_id("dlq", rec.topic, rec.partition, rec.offset),
                stage="decode" if stage not in ("decode", "validate") else stage,
                error_class="UnreadableRecord",
                error_message=f"supervisor could not read it: {error}"[:4000],
                original_topic=rec.topic,
                original_partition=rec.partition,
                original_offset=rec.offset,
                original_key=rec.key,
                original_value=rec.value,
                original_headers=headers,
            )
        )

    # -- aggregate: breakers and tenant spend --------------------------------------------

    async def _flush_signals(self) -> None:
        if self._ready is None or not self._ready.is_set():
            return
        outcomes, self._outcomes = self._outcomes, defaultdict(lambda: [0, 0])
        spend, self._spend = self._spend, defaultdict(Decimal)
        at = time.time()
        for key, (ok, failed) in outcomes.items():
            payload = {"k": "outcome", "key": key, "at": at, "ok": ok, "failed": failed}
            await self.out.send(self.names.signals, key.encode(), orjson.dumps(payload))
        for tenant, usd in spend.items():
            if (
                tenant in self.policy.budgets.tenants
                and self.policy.budgets.tenants[tenant].spend_limit
            ):
                payload = {"k": "spend", "key": f"tenant:{tenant}", "at": at, "usd": str(usd)}
                await self.out.send(
                    self.names.signals, f"tenant:{tenant}".encode(), orjson.dumps(payload)
                )

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
            await self._until_done(
                functools.partial(self.aggregate, signal, cause), Inbound.of(msg)
            )

    async def aggregate(self, signal: dict[str, Any], cause: str) -> None:
        key: str = signal["key"]
        if signal["k"] == "spend":
            await self._add_spend(key, signal, cause)
            return
        breaker: Breaker = self.breakers.get(key) or Breaker(key=key)
        if signal["k"] == "tick":
            change = breaker.tick(time.time(), self.policy.breakers)
        else:
            change = breaker.record(
                signal["at"], signal["ok"], signal["failed"], self.policy.breakers
            )
        self.breakers[key] = breaker
        if change is not None:
            await self._transition(change, cause)

    async def _transition(self, change: Transition, cause: str) -> None:
        scope, _, name = change.key.partition(":")
        target = f"{name}/breaker" if scope == "agent" else name
        action = {
            "open": "breaker_open",
            "half_open": "breaker_half_open",
            "closed": "breaker_closed",
        }[change.new]
        await self.out.control(
            ControlCommand(
                command_id=stable_id("breaker", change.key, cause),
                scope=scope,
                target=target,
                action=action,
                reason=change.reason,
                issued_by=ACTOR,
            )
        )
        await self.out.audit(
            "breaker_transition",
            cause=cause,
            subject=change.key,
            task_id=None,
            details={"from": change.old, "to": change.new, "reason": change.reason},
        )

    async def _add_spend(self, key: str, signal: dict[str, Any], cause: str) -> None:
        tenant = key.removeprefix("tenant:")
        tenant_policy = self.policy.budgets.tenants.get(tenant)
        if tenant_policy is None or tenant_policy.spend_limit is None:
            return
        spend: TenantSpend = self.spend.get(key) or TenantSpend(tenant=tenant)
        until = spend.add(signal["at"], Decimal(signal["usd"]), tenant_policy.spend_limit)
        self.spend[key] = spend
        if until is None:
            return
        limit = tenant_policy.spend_limit
        reason = (
            f"budget: tenant {tenant!r} spent {spend.total()} USD in {limit.period_s:g} s, "
            f"over its limit of {limit.usd} USD"
        )
        await self.out.control(
            ControlCommand(
                command_id=stable_id("tenant", key, cause),
                scope="tenant",
                target=tenant,
                action="pause",
                reason=reason,
                issued_by=ACTOR,
                expires_at=datetime.fromtimestamp(until, UTC),
                review_kind="budget",
            )
        )
        await self.out.audit(
            "budget_breach",
            cause=cause,
            subject=f"tenant:{tenant}",
            task_id=None,
            details={
                "reason": reason,
                "paused_until": datetime.fromtimestamp(until, UTC).isoformat(),
            },
        )

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
        t = now.timestamp()
        for key, breaker in list(self.breakers.items()):
            if breaker.due(t, self.policy.breakers):
                tick = orjson.dumps({"k": "tick", "key": key})
                await self.out.send(self.names.signals, key.encode(), tick)


def _no_edit_of_claimed(claimed: bool, edited: str | None) -> None:
    if claimed and edited is not None:
        raise EditRejected("a claim-checked (large) payload cannot be edited on release")


async def _appended(chain: ChainWriter, partition: int, value: bytes) -> None:
    await chain.append(partition, value)


def _usage(ledger: TaskLedger | None) -> dict[str, Any]:
    if ledger is None:
        return {}
    return {
        "cost_so_far_usd": str(ledger.cost_usd),
        "tokens_so_far": ledger.tokens,
        "steps_so_far": ledger.steps,
    }


def _table(app: faust.App, name: str, codec: str, model: type[BaseModel]) -> Any:
    """A table whose values are pydantic models, kept as objects and logged as JSON."""
    table: Any = app.Table(name)
    # faust derives the serializer from a faust Record value type; ours are pydantic models.
    table.value_serializer = codec

    # Recovery reads the changelog through faust's own JSON codec (the changelog topic is
    # made when the table is registered): turn what it returns back into the model.
    def to_value(value: Any) -> Any:
        return model.model_validate(value) if isinstance(value, dict) else value

    table._to_value = to_value
    return table


def _credentials(settings: Settings) -> Any:
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = settings.kafka_sasl_password
        ssl_context = None
        if settings.kafka_security_protocol == "SASL_SSL":
            import ssl

            ssl_context = ssl.create_default_context(
                cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
            )
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context,
        )
    if settings.kafka_security_protocol == "SSL":
        import ssl

        return faust.SSLCredentials(
            ssl.create_default_context(
                cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
            )
        )
    return None
