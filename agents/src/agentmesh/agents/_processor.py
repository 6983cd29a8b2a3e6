"""One input record to the records its step writes: decode, dedupe, control, run, encode.

Nothing here talks to Kafka; the worker writes the returned emissions in the step's
transaction. Undecodable input becomes a dead letter at once, with its coordinates.
"""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from opentelemetry import trace

from agentmesh.agents._codecs import Codecs
from agentmesh.agents._context import StepEnv
from agentmesh.agents._control import RELEASED_AT
from agentmesh.agents._errors import BudgetExceeded, ReviewRequired, StepStopped
from agentmesh.agents._metrics import PendingSteps, transaction
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._review import parked_review_id, released_at
from agentmesh.agents._step import StepOutcome, run_step
from agentmesh.agents._step_records import (
    finished,
    fit_dead_letter,
    payload_hash,
    record_key,
    stage_of,
    task_id_from_key,
)
from agentmesh.agents._tracing import (
    current_trace_id,
    inject_headers,
    passthrough,
    record_error,
    step_span,
    tag_step,
    tracing_enabled,
)
from agentmesh.contracts import (
    AgentEvent,
    DeadLetter,
    DecodeError,
    EmittedHandoff,
    EventBody,
    Handoff,
    Header,
    ReviewRequest,
    StepDone,
    StepFinished,
    TaskCompleted,
    TaskFailed,
    utcnow,
)
from agentmesh.core.policy import ReviewMatch, match_handoff

__all__ = ["Halted", "RecordProcessor"]

_DLQ_HEADROOM = 64 * 1024
_SHOWN_MAX = 100_000  # characters of a parked payload shown to reviewers
_GATED_IDS = uuid.UUID("3d8f4b2a-9c61-4e0f-b7a5-1e2c3d4f5a6b")
# (trace id, headers to forward or None to inject from the current span) of the running step.
_STEP_TRACE: ContextVar[tuple[str | None, list[tuple[str, bytes]] | None]] = ContextVar(
    "agentmesh_step_trace", default=(None, None)
)


def _trace_headers() -> list[tuple[str, bytes]]:
    """W3C headers for a record the running step writes, so its reader (the supervisor, a
    reviewer's release) continues the task's trace: what came in, or the step span's."""
    forward = _STEP_TRACE.get()[1]
    return inject_headers() if forward is None else list(forward)


def shown_payload(envelope: Handoff[Any]) -> str:
    """The payload as reviewers see it; a very large one as its beginning, still JSON."""
    text: str = envelope.payload.model_dump_json()
    if len(text) <= _SHOWN_MAX:
        return text
    head = {"truncated": True, "size_chars": len(text), "head": text[:_SHOWN_MAX]}
    return orjson.dumps(head).decode()


class Halted(Exception):
    """A kill switch covers this agent: abort the transaction, keep the input, stop consuming."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class RecordProcessor:
    """Turns inputs of one agent into emissions; holds the per-partition dedup memory."""

    def __init__(
        self,
        env_for: Callable[[int], StepEnv],
        codecs: Codecs,
        instance: str,
        *,
        max_message_bytes: int = 1_000_000,
        claim_threshold: int = 512 * 1024,
        max_claim_bytes: int = 64 * 1024 * 1024,
        dedup_size: int = 10_000,
    ) -> None:
        self.env_for = env_for
        self.codecs = codecs
        self.instance = instance
        self.max_message_bytes = max_message_bytes
        self.claim_threshold = claim_threshold
        self.max_claim_bytes = max_claim_bytes
        self._seq = itertools.count()
        self._seen: dict[int, OrderedDict[str, None]] = {}
        self._dedup_size = dedup_size
        # Per partition: what steps in the open transaction change once it commits.
        self._pending: dict[int, list[_Done]] = {}
        self._pending_keys: dict[int, set[str]] = {}
        self.counted = PendingSteps()  # metrics of the open transactions' steps

    async def process(self, record: RawRecord) -> list[Emission]:
        env = self.env_for(record.partition)
        # Trace context is looked up once per step and kept in a context variable (partitions
        # run concurrently); without an SDK, spans are skipped and the headers pass through.
        if not tracing_enabled():
            token = _STEP_TRACE.set(passthrough(record.headers))
            try:
                return await self._process(record, env)
            finally:
                _STEP_TRACE.reset(token)
        with step_span(env.agent.name, record):
            token = _STEP_TRACE.set((current_trace_id(), None))
            try:
                return await self._process(record, env)
            finally:
                _STEP_TRACE.reset(token)

    async def _process(self, record: RawRecord, env: StepEnv) -> list[Emission]:
        try:
            envelope = await self.codecs.inbox.decode(record.value or b"")
        except DecodeError as exc:
            return [await self._dead_letter(record, None, exc.stage, exc, 0)]
        tag_step(envelope.task_id, envelope.handoff_id)
        if self._repeat(record.partition, envelope.idempotency_key):
            return []
        done = _Done(envelope.idempotency_key)
        if env.recorder is not None:
            env.recorder.begin(envelope)
        emissions = await self._run(record, envelope, env)
        if env.recorder is not None:
            # In the step's transaction, whatever its outcome: one recording per call.
            emissions += env.recorder.emissions(envelope)
        done.journal_keys = env.journal.keys_of(envelope.handoff_id)
        # A parked step is not done: released, it must run again (not be dropped as a
        # repeat) and find its journaled calls (not pay for them again).
        done.parked = any(e.topic == self.codecs.topics.review_requests for e in emissions)
        if not done.parked:
            # Durable memory of the repeat check, in the step's transaction: a worker that
            # takes the partition later (after a restart) still recognises this input.
            emissions.append(self._done_marker(record, envelope))
        self._pending.setdefault(record.partition, []).append(done)
        self._pending_keys.setdefault(record.partition, set()).add(done.idempotency_key)
        return emissions

    def _done_marker(self, record: RawRecord, envelope: Handoff[Any]) -> Emission:
        marker = StepDone(
            idempotency_key=envelope.idempotency_key,
            task_id=envelope.task_id,
            handoff_id=envelope.handoff_id,
        )
        topic = self.codecs.topics.agent_done(envelope.to_agent)
        key = envelope.idempotency_key.encode()
        return Emission(topic, key, self.codecs.done.encode(marker), partition=record.partition)

    async def reject(self, record: RawRecord, error: DecodeError) -> list[Emission]:
        """Dead-letter a record that could not even be turned into a message."""
        return [await self._dead_letter(record, None, error.stage, error, 0)]

    def committed(self, partition: int) -> None:
        """The partition's transaction committed: remember its handoffs, drop their journal."""
        env = self.env_for(partition)
        self.counted.committed(partition, env.agent.name)
        transaction(env.agent.name, committed=True)
        self._pending_keys.pop(partition, None)
        for done in self._pending.pop(partition, []):
            if done.parked:
                continue
            self.remember(partition, done.idempotency_key)
            env.journal.forget(done.journal_keys)
        env.state.commit()

    def rolled_back(self, partition: int) -> None:
        """The partition's transaction aborted: its steps will run again (journal kept)."""
        self._pending.pop(partition, None)
        self._pending_keys.pop(partition, None)
        self.counted.discard(partition)
        env = self.env_for(partition)
        transaction(env.agent.name, committed=False)
        env.state.discard()

    async def _run(self, record: RawRecord, envelope: Handoff[Any], env: StepEnv) -> list[Emission]:
        # Events are stamped (time, sequence) when they happen, written when the step commits.
        events: list[AgentEvent] = []
        token = RELEASED_AT.set(released_at(record.headers))
        try:
            rule = env.control.stopping(envelope.task_id, env.agent.name, envelope.tenant)
            if rule is not None:
                return await self._stopped(record, envelope, StepStopped(rule), events)
            outcome = await run_step(env, envelope, (record.topic, record.partition, record.offset))
        finally:
            RELEASED_AT.reset(token)
        if outcome.error is not None:
            record_error(trace.get_current_span(), outcome.error)
            return await self._failed(record, envelope, outcome, events, env)
        return await self._succeeded(record, envelope, outcome, events, env)

    async def _stopped(
        self, record: RawRecord, envelope: Handoff[Any], stop: StepStopped, events: list[AgentEvent]
    ) -> list[Emission]:
        """A control rule stops the step: halt the agent, park the input, or cancel it."""
        command = stop.command
        if command.scope in ("global", "agent"):
            raise Halted(str(stop))
        if command.action == "pause":
            kind = command.review_kind or "pause"
            return await self._parked(record, envelope, kind, f"paused: {stop}", events)
        return await self._cancelled(record, envelope, stop, events)

    def remember(self, partition: int, idempotency_key: str) -> None:
        """Mark a handoff as done (after its transaction committed)."""
        seen = self._seen.setdefault(partition, OrderedDict())
        seen[idempotency_key] = None
        if len(seen) > self._dedup_size:
            seen.popitem(last=False)

    def forget_partition(self, partition: int) -> None:
        self._seen.pop(partition, None)
        self.counted.discard(partition)
        self._pending.pop(partition, None)
        self._pending_keys.pop(partition, None)

    def _repeat(self, partition: int, key: str) -> bool:
        return key in self._seen.get(partition, ()) or key in self._pending_keys.get(partition, ())

    async def _succeeded(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        outcome: StepOutcome,
        events: list[AgentEvent],
        env: StepEnv,
    ) -> list[Emission]:
        # What the handler produced but cannot be written is the step's failure (dead letter),
        # not the batch's: retrying would fail the same way and block the partition.
        before = list(events)
        try:
            out, emitted = await self._encode_children(outcome.handoffs, envelope, env)
            if outcome.output is not None:
                output = TaskCompleted(output_json=outcome.output.model_dump_json())
                events.append(self.event(envelope, output))
            kind = "result" if outcome.output else "handoff" if outcome.handoffs else "waiting"
            summary = finished(record, envelope, kind, outcome, emitted)
            written = self._fitting(self._events([*events, self.event(envelope, summary)]))
        except (_OversizeError, _UnencodableError) as exc:
            stage = "oversize" if isinstance(exc, _OversizeError) else "handler"
            failed = StepOutcome(outcome.attempts, 0.0, error=exc)
            return await self._failed(record, envelope, failed, before, env, stage=stage)
        if env.recorder is not None:
            children = list(zip(outcome.handoffs, emitted, strict=True))
            env.recorder.finished(envelope, kind, children, outcome.output)
        # Only a step whose records can all be written changes the task's state.
        state = self._state_change(record, envelope, outcome, env)
        return [*state, *out, *self._journal_tombstones(env, envelope, record), *written]

    async def _encode_children(
        self, children: list[Handoff[Any]], parent: Handoff[Any], env: StepEnv
    ) -> tuple[list[Emission], list[EmittedHandoff]]:
        out: list[Emission] = []
        emitted: list[EmittedHandoff] = []
        for child in children:
            codec = await self.codecs.inbox_of(child.to_agent)
            try:
                value = codec.encode(child)
            except (OverflowError, ValueError, TypeError) as exc:  # fastavro's refusals
                raise _UnencodableError(
                    f"handoff to {child.to_agent!r} cannot be encoded as Avro: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if len(value) > self.max_claim_bytes:
                raise _OversizeError(
                    f"handoff to {child.to_agent!r} is {len(value)} bytes, over the "
                    f"{self.max_claim_bytes}-byte claim-check limit; pass large data by reference"
                )
            topic = self.codecs.topics.agent(child.to_agent)
            gate = None
            if env.policy is not None and env.policy.reviews.rules:
                data = child.payload.model_dump(mode="json")
                gate = match_handoff(env.policy, child.to_agent, data)
            if gate is not None:
                out.append(self._gated(child, parent, topic, value, gate))
            else:
                claim = len(value) > self.claim_threshold
                headers = _STEP_TRACE.get()[1]
                headers = inject_headers() if headers is None else list(headers)
                out.append(Emission(topic, record_key(child), value, headers, claim=claim))
            emitted.append(
                EmittedHandoff(
                    handoff_id=child.handoff_id,
                    to_agent=child.to_agent,
                    hop=child.hop,
                    payload_hash=payload_hash(child),
                    size_bytes=len(value),
                )
            )
        return out, emitted

    def _gated(
        self, child: Handoff[Any], parent: Handoff[Any], topic: str, value: bytes, gate: ReviewMatch
    ) -> Emission:
        """A handoff a review rule holds: parked whole, delivered to ``topic`` on approval."""
        request = ReviewRequest(
            review_id=uuid.uuid5(_GATED_IDS, child.handoff_id).hex,
            task_id=child.task_id,
            agent=parent.to_agent,
            kind="handoff",
            reason=f"{gate.reason}: handoff to {child.to_agent!r}",
            target_topic=topic,
            parked_key=record_key(child),
            parked_value=value,
            payload_json=child.payload.model_dump_json(),
            # released, the handoff carries on the trace it would have carried
            parked_headers=[Header(key=k, value=v) for k, v in _trace_headers()],
            trace_id=_STEP_TRACE.get()[0],
            required_approvals=gate.rule.approvals,
            expires_at=utcnow() + timedelta(seconds=gate.timeout_s),
            on_timeout="escalate" if gate.on_timeout == "escalate" else "reject",
        )
        review_topic = self.codecs.topics.review_requests
        encoded = self.codecs.review.encode(request)
        return Emission(review_topic, child.task_id.encode(), encoded, _trace_headers())

    async def _failed(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        outcome: StepOutcome,
        events: list[AgentEvent],
        env: StepEnv,
        *,
        stage: str | None = None,
    ) -> list[Emission]:
        error = outcome.error
        assert error is not None
        if isinstance(error, StepStopped):
            return await self._stopped(record, envelope, error, events)
        if isinstance(error, ReviewRequired):
            return await self._parked(
                record, envelope, error.kind, error.reason, events, review=error
            )
        if isinstance(error, BudgetExceeded):
            # What remains of the task's budget ran out on the way: a person may extend it.
            return await self._parked(record, envelope, "budget", str(error), events)
        stage = stage or stage_of(error)
        if env.recorder is not None:
            env.recorder.finished(envelope, "dead_lettered", error=error)
        letter = await self._dead_letter(record, envelope, stage, error, outcome.attempts)
        events.append(self.event(envelope, finished(record, envelope, "dead_lettered", outcome)))
        failed = TaskFailed(error_class=type(error).__name__, message=str(error)[:2000])
        events.append(self.event(envelope, failed))
        return [letter, *self._journal_tombstones(env, envelope, record), *self._events(events)]

    async def _cancelled(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        stop: StepStopped,
        events: list[AgentEvent],
    ) -> list[Emission]:
        cancelled = StepOutcome(attempts=0, duration_ms=0.0)
        events.append(self.event(envelope, finished(record, envelope, "cancelled", cancelled)))
        events.append(self.event(envelope, TaskFailed(error_class="Cancelled", message=str(stop))))
        # The step will not run again: what it journaled before the stop goes too.
        env = self.env_for(record.partition)
        if env.recorder is not None:
            env.recorder.finished(envelope, "cancelled")
        return [*self._journal_tombstones(env, envelope, record), *self._events(events)]

    async def _parked(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        kind: str,
        reason: str,
        events: list[AgentEvent],
        *,
        review: ReviewRequired | None = None,
    ) -> list[Emission]:
        """The step's input, kept exactly as it came, until a reviewer releases or ends it."""
        expires_at = None
        if review is not None and review.timeout_s is not None:
            expires_at = utcnow() + timedelta(seconds=review.timeout_s)
        env = self.env_for(record.partition)
        # Work parked by a budget, a loop or a pause has no rule of its own: the policy's
        # review section says what its timeout does (the supervisor sets the expiry).
        on_timeout = review.on_timeout if review else _policy_on_timeout(env)
        request = ReviewRequest(
            review_id=parked_review_id(record),
            task_id=envelope.task_id,
            agent=envelope.to_agent,
            kind=kind,
            reason=reason,
            target_topic=record.topic,
            parked_key=record.key,
            # A claim-checked input parks as its ticket (the chunks stay on the claims topic),
            # with its headers: released, it is resolved again like any claim-checked input.
            parked_value=record.ticket if record.ticket is not None else record.value or b"",
            parked_headers=[Header(key=k, value=v) for k, v in record.headers],
            payload_json=review.payload_json if review else shown_payload(envelope),
            tools_called=[
                e.target for e in env.journal.entries_of(envelope.handoff_id) if e.kind == "tool"
            ],
            trace_id=_STEP_TRACE.get()[0],
            required_approvals=review.approvals if review else 1,
            expires_at=expires_at,
            on_timeout=on_timeout,
        )
        parked = StepOutcome(attempts=0, duration_ms=0.0)
        if env.recorder is not None:
            env.recorder.finished(envelope, "review")
        events.append(self.event(envelope, finished(record, envelope, "review", parked)))
        topic = self.codecs.topics.review_requests
        # Keyed by task: the supervisor keeps all of a task's parked work together.
        key = envelope.task_id.encode()
        request_record = Emission(topic, key, self.codecs.review.encode(request), _trace_headers())
        return [request_record, *self._events(events)]

    def _state_change(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        outcome: StepOutcome,
        env: StepEnv,
    ) -> list[Emission]:
        if outcome.state is None:
            return []
        change = outcome.state.record(envelope.task_id, env.agent.name)
        env.state.stage(envelope.task_id, change)
        value = None if change is None else self.codecs.state.encode(change)
        topic = self.codecs.topics.agent_state(env.agent.name)
        return [Emission(topic, envelope.task_id.encode(), value, partition=record.partition)]

    def _journal_tombstones(
        self, env: StepEnv, envelope: Handoff[Any], record: RawRecord
    ) -> list[Emission]:
        keys = env.journal.keys_of(envelope.handoff_id)
        topic = self.codecs.topics.agent_journal(env.agent.name)
        return [Emission(topic, k.encode(), None, partition=record.partition) for k in keys]

    def _events(self, events: list[AgentEvent]) -> list[Emission]:
        topic, codec = self.codecs.topics.events, self.codecs.events
        headers = _trace_headers() if events else []  # the supervisor's decisions join the trace
        return [Emission(topic, e.task_id.encode(), codec.encode(e), list(headers)) for e in events]

    def event(self, envelope: Handoff[Any], body: EventBody) -> AgentEvent:
        """An event about ``envelope``'s step, numbered in this instance's sequence."""
        if isinstance(body, StepFinished) and body.input_partition is not None:
            self.counted.step(body.input_partition, body.outcome, body.duration_ms)
        return AgentEvent(
            task_id=envelope.task_id,
            agent=envelope.to_agent,
            instance=self.instance,
            seq=next(self._seq),
            tenant=envelope.tenant,
            step=envelope.hop,
            trace_id=_STEP_TRACE.get()[0],
            body=body,
        )

    async def _dead_letter(
        self,
        record: RawRecord,
        envelope: Handoff[Any] | None,
        stage: str,
        error: BaseException,
        attempts: int,
    ) -> Emission:
        # A claim-checked input is dead-lettered as it came, its ticket: small, and complete
        # for a redrive (the chunks stay on the claims topic), where the resolved bytes
        # would be cut to fit.
        value = record.ticket if record.ticket is not None else record.value
        message = str(error)[:4000]
        letter = DeadLetter(
            task_id=envelope.task_id if envelope else task_id_from_key(record.key),
            agent=envelope.to_agent if envelope else None,
            stage=stage,
            error_class=type(error).__name__,
            error_message=message,
            attempts=attempts,
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            original_timestamp_ms=record.timestamp_ms,
            original_key=record.key,
            original_value=value,
            original_headers=[Header(key=k, value=v) for k, v in record.headers],
        )
        # The dead letter must fit the broker's limit too (key included), or the partition
        # would block.
        limit = self.max_message_bytes - len(record.key or b"")
        encoded = fit_dead_letter(self.codecs.dlq, letter, max_bytes=limit, headroom=_DLQ_HEADROOM)
        self.counted.dead_letter(record.partition, stage)
        return Emission(self.codecs.topics.dlq, record.key, encoded)

    def _fitting(self, emissions: list[Emission]) -> list[Emission]:
        """``emissions``, or _OversizeError if one is over the broker's message limit."""
        for e in emissions:
            size = len(e.value or b"") + len(e.key or b"")
            if not e.claim and size > self.max_message_bytes:
                raise _OversizeError(
                    f"a record for {e.topic} would be {size} bytes, over the broker's "
                    f"{self.max_message_bytes}-byte message limit"
                )
        return emissions


def _policy_on_timeout(env: StepEnv) -> str:
    return env.policy.reviews.on_timeout if env.policy is not None else "reject"


class _OversizeError(ValueError):
    """A handoff too large even for the claim-check, or an event too large for the broker."""


class _UnencodableError(ValueError):
    """A handoff the handler returned that Avro cannot encode (e.g. an int beyond 64 bits)."""


@dataclass(slots=True)
class _Done:
    """A step in the open transaction, and what its commit makes true."""

    idempotency_key: str
    journal_keys: list[str] = field(default_factory=list)
    parked: bool = False
