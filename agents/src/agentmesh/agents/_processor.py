"""One input record to the records its step writes: decode, dedupe, control, run, encode.

Nothing here talks to Kafka; the worker writes the returned emissions in the step's
transaction. Undecodable input becomes a dead letter at once, with its coordinates. What
becomes of a step is decided here; the records that carry it out are built by
:class:`~agentmesh.agents._step_writes.StepWrites`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from agentmesh.agents._codecs import Codecs
from agentmesh.agents._context import StepEnv
from agentmesh.agents._control import RELEASED_AT
from agentmesh.agents._errors import BudgetExceeded, ReviewRequired, StepStopped
from agentmesh.agents._metrics import PendingSteps, transaction
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._review import released_at
from agentmesh.agents._step import StepOutcome, run_step
from agentmesh.agents._step_records import finished, stage_of
from agentmesh.agents._step_writes import OversizeError, StepWrites, UnencodableError, step_trace
from agentmesh.agents._tracing import (
    current_trace_id,
    passthrough,
    record_error,
    step_span,
    tag_step,
    tracing_enabled,
)
from agentmesh.contracts import AgentEvent, DecodeError, Handoff, TaskCompleted, TaskFailed

__all__ = ["Halted", "RecordProcessor"]


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
        self.counted = PendingSteps()  # metrics of the open transactions' steps
        self.writes = StepWrites(
            codecs,
            instance,
            self.counted,
            max_message_bytes=max_message_bytes,
            claim_threshold=claim_threshold,
            max_claim_bytes=max_claim_bytes,
        )
        self._seen: dict[int, OrderedDict[str, None]] = {}
        self._dedup_size = dedup_size
        # Per partition: what steps in the open transaction change once it commits.
        self._pending: dict[int, list[_Done]] = {}
        self._pending_keys: dict[int, set[str]] = {}

    async def process(self, record: RawRecord) -> list[Emission]:
        env = self.env_for(record.partition)
        # Trace context is looked up once per step and kept in a context variable (partitions
        # run concurrently); without an SDK, spans are skipped and the headers pass through.
        if not tracing_enabled():
            with step_trace(*passthrough(record.headers)):
                return await self._process(record, env)
        with step_span(env.agent.name, record), step_trace(current_trace_id(), None):
            return await self._process(record, env)

    async def _process(self, record: RawRecord, env: StepEnv) -> list[Emission]:
        try:
            envelope = await self.codecs.inbox.decode(record.value or b"")
        except DecodeError as exc:
            return [self.writes.dead_letter(record, None, exc.stage, exc, 0)]
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
            emissions.append(self.writes.done_marker(record, envelope))
        self._pending.setdefault(record.partition, []).append(done)
        self._pending_keys.setdefault(record.partition, set()).add(done.idempotency_key)
        return emissions

    async def reject(self, record: RawRecord, error: DecodeError) -> list[Emission]:
        """Dead-letter a record that could not even be turned into a message."""
        return [self.writes.dead_letter(record, None, error.stage, error, 0)]

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
            out, emitted = await self.writes.children(outcome.handoffs, envelope, env)
            if outcome.output is not None:
                output = TaskCompleted(output_json=outcome.output.model_dump_json())
                events.append(self.writes.event(envelope, output))
            kind = "result" if outcome.output else "handoff" if outcome.handoffs else "waiting"
            summary = finished(record, envelope, kind, outcome, emitted)
            events.append(self.writes.event(envelope, summary))
            written = self.writes.fitting(self.writes.events(events))
        except (OversizeError, UnencodableError) as exc:
            stage = "oversize" if isinstance(exc, OversizeError) else "handler"
            failed = StepOutcome(outcome.attempts, 0.0, error=exc)
            return await self._failed(record, envelope, failed, before, env, stage=stage)
        if env.recorder is not None:
            children = list(zip(outcome.handoffs, emitted, strict=True))
            env.recorder.finished(envelope, kind, children, outcome.output)
        # Only a step whose records can all be written changes the task's state.
        state = self.writes.state_change(record, envelope, outcome, env)
        return [*state, *out, *self.writes.journal_tombstones(env, envelope, record), *written]

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
        letter = self.writes.dead_letter(record, envelope, stage, error, outcome.attempts)
        lettered = finished(record, envelope, "dead_lettered", outcome)
        failed = TaskFailed(error_class=type(error).__name__, message=str(error)[:2000])
        events += [self.writes.event(envelope, lettered), self.writes.event(envelope, failed)]
        tombstones = self.writes.journal_tombstones(env, envelope, record)
        return [letter, *tombstones, *self.writes.events(events)]

    async def _cancelled(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        stop: StepStopped,
        events: list[AgentEvent],
    ) -> list[Emission]:
        cancelled = finished(record, envelope, "cancelled", StepOutcome(0, 0.0))
        failed = TaskFailed(error_class="Cancelled", message=str(stop))
        events += [self.writes.event(envelope, cancelled), self.writes.event(envelope, failed)]
        # The step will not run again: what it journaled before the stop goes too.
        env = self.env_for(record.partition)
        if env.recorder is not None:
            env.recorder.finished(envelope, "cancelled")
        return [*self.writes.journal_tombstones(env, envelope, record), *self.writes.events(events)]

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
        env = self.env_for(record.partition)
        request = self.writes.parked(record, envelope, env, kind, reason, review=review)
        if env.recorder is not None:
            env.recorder.finished(envelope, "review")
        parked = finished(record, envelope, "review", StepOutcome(0, 0.0))
        events.append(self.writes.event(envelope, parked))
        return [request, *self.writes.events(events)]


@dataclass(slots=True)
class _Done:
    """A step in the open transaction, and what its commit makes true."""

    idempotency_key: str
    journal_keys: list[str] = field(default_factory=list)
    parked: bool = False
