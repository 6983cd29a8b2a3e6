"""The records one step writes: its handoffs, events, review requests and dead letters.

:class:`~agentmesh.agents._processor.RecordProcessor` decides what becomes of a step; this
module turns that decision into the exact records, within the broker's limits and carrying
the task's trace, for the worker to write in the step's transaction.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import orjson

from agentmesh.agents._codecs import Codecs
from agentmesh.agents._context import StepEnv
from agentmesh.agents._errors import ReviewRequired
from agentmesh.agents._metrics import PendingSteps
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._review import parked_review_id
from agentmesh.agents._step import StepOutcome
from agentmesh.agents._step_records import (
    dead_letter_of,
    fit_dead_letter,
    payload_hash,
    record_key,
)
from agentmesh.agents._tracing import inject_headers
from agentmesh.contracts import (
    AgentEvent,
    EmittedHandoff,
    EventBody,
    Handoff,
    Header,
    ReviewRequest,
    StepDone,
    StepFinished,
    utcnow,
)
from agentmesh.core.policy import ReviewMatch, match_handoff

__all__ = [
    "OversizeError",
    "StepWrites",
    "UnencodableError",
    "shown_payload",
    "step_trace",
    "trace_headers",
]

_SHOWN_MAX = 100_000  # characters of a parked payload shown to reviewers
_GATED_IDS = uuid.UUID("3d8f4b2a-9c61-4e0f-b7a5-1e2c3d4f5a6b")
# (trace id, headers to forward or None to inject from the current span) of the running step.
_STEP_TRACE: ContextVar[tuple[str | None, list[tuple[str, bytes]] | None]] = ContextVar(
    "agentmesh_step_trace", default=(None, None)
)


@contextmanager
def step_trace(trace_id: str | None, forward: list[tuple[str, bytes]] | None) -> Iterator[None]:
    """The running step's trace, for the records it writes (partitions run concurrently, so
    it is a context variable, looked up once per step)."""
    token = _STEP_TRACE.set((trace_id, forward))
    try:
        yield
    finally:
        _STEP_TRACE.reset(token)


def trace_headers() -> list[tuple[str, bytes]]:
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


class OversizeError(ValueError):
    """A handoff too large even for the claim-check, or an event too large for the broker."""


class UnencodableError(ValueError):
    """A handoff the handler returned that Avro cannot encode (e.g. an int beyond 64 bits)."""


class StepWrites:
    """Builds the records of one agent's steps; numbers its events in the instance's sequence."""

    def __init__(
        self,
        codecs: Codecs,
        instance: str,
        counted: PendingSteps,
        *,
        max_message_bytes: int = 1_000_000,
        claim_threshold: int = 512 * 1024,
        max_claim_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.codecs = codecs
        self.instance = instance
        self.counted = counted
        self.max_message_bytes = max_message_bytes
        self.claim_threshold = claim_threshold
        self.max_claim_bytes = max_claim_bytes
        self._seq = itertools.count()

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

    def events(self, events: list[AgentEvent]) -> list[Emission]:
        topic, codec = self.codecs.topics.events, self.codecs.events
        headers = trace_headers() if events else []  # the supervisor's decisions join the trace
        return [Emission(topic, e.task_id.encode(), codec.encode(e), list(headers)) for e in events]

    async def children(
        self, children: list[Handoff[Any]], parent: Handoff[Any], env: StepEnv
    ) -> tuple[list[Emission], list[EmittedHandoff]]:
        """The handoffs a step emits (or their review requests, where a rule holds one)."""
        out: list[Emission] = []
        emitted: list[EmittedHandoff] = []
        for child in children:
            codec = await self.codecs.inbox_of(child.to_agent)
            try:
                value = codec.encode(child)
            except (OverflowError, ValueError, TypeError) as exc:  # fastavro's refusals
                raise UnencodableError(
                    f"handoff to {child.to_agent!r} cannot be encoded as Avro: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if len(value) > self.max_claim_bytes:
                raise OversizeError(
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
                out.append(Emission(topic, record_key(child), value, trace_headers(), claim=claim))
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
            parked_headers=[Header(key=k, value=v) for k, v in trace_headers()],
            trace_id=_STEP_TRACE.get()[0],
            required_approvals=gate.rule.approvals,
            expires_at=utcnow() + timedelta(seconds=gate.timeout_s),
            on_timeout="escalate" if gate.on_timeout == "escalate" else "reject",
        )
        return self._review(child.task_id, request)

    def parked(
        self,
        record: RawRecord,
        envelope: Handoff[Any],
        env: StepEnv,
        kind: str,
        reason: str,
        *,
        review: ReviewRequired | None,
    ) -> Emission:
        """The review request holding the step's input exactly as it came."""
        expires_at = None
        if review is not None and review.timeout_s is not None:
            expires_at = utcnow() + timedelta(seconds=review.timeout_s)
        # Work parked by a budget, a loop or a pause has no rule of its own: the policy's
        # review section says what its timeout does (the supervisor sets the expiry).
        if review is not None:
            on_timeout = review.on_timeout
        else:
            on_timeout = env.policy.reviews.on_timeout if env.policy is not None else "reject"
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
        return self._review(envelope.task_id, request)

    def _review(self, task_id: str, request: ReviewRequest) -> Emission:
        # Keyed by task: the supervisor keeps all of a task's parked work together.
        topic, encoded = self.codecs.topics.review_requests, self.codecs.review.encode(request)
        return Emission(topic, task_id.encode(), encoded, trace_headers())

    def done_marker(self, record: RawRecord, envelope: Handoff[Any]) -> Emission:
        """Durable memory of the repeat check, on the input's partition of the done topic."""
        marker = StepDone(
            idempotency_key=envelope.idempotency_key,
            task_id=envelope.task_id,
            handoff_id=envelope.handoff_id,
        )
        topic = self.codecs.topics.agent_done(envelope.to_agent)
        key = envelope.idempotency_key.encode()
        return Emission(topic, key, self.codecs.done.encode(marker), partition=record.partition)

    def state_change(
        self, record: RawRecord, envelope: Handoff[Any], outcome: StepOutcome, env: StepEnv
    ) -> list[Emission]:
        """The agent's per-task state as the step left it (staged until the commit)."""
        if outcome.state is None:
            return []
        change = outcome.state.record(envelope.task_id, env.agent.name)
        env.state.stage(envelope.task_id, change)
        value = None if change is None else self.codecs.state.encode(change)
        topic = self.codecs.topics.agent_state(env.agent.name)
        return [Emission(topic, envelope.task_id.encode(), value, partition=record.partition)]

    def journal_tombstones(
        self, env: StepEnv, envelope: Handoff[Any], record: RawRecord
    ) -> list[Emission]:
        """Deletes of the step's journaled calls: it will not run again."""
        keys = env.journal.keys_of(envelope.handoff_id)
        topic = self.codecs.topics.agent_journal(env.agent.name)
        return [Emission(topic, k.encode(), None, partition=record.partition) for k in keys]

    def dead_letter(
        self,
        record: RawRecord,
        envelope: Handoff[Any] | None,
        stage: str,
        error: BaseException,
        attempts: int,
        *,
        bare: bool = False,
    ) -> Emission:
        """``record`` on the dead-letter topic, with its coordinates and what went wrong
        (``bare``: without the original record, see :func:`fit_dead_letter`)."""
        letter = dead_letter_of(record, envelope, stage, error, attempts)
        # The dead letter must fit the broker's limit too (key included), or the partition
        # would block.
        limit = self.max_message_bytes - len(record.key or b"")
        encoded = fit_dead_letter(self.codecs.dlq, letter, max_bytes=limit, bare=bare)
        self.counted.dead_letter(record.partition, stage)
        return Emission(self.codecs.topics.dlq, record.key, encoded)

    def fitting(self, emissions: list[Emission]) -> list[Emission]:
        """``emissions``, or OversizeError if one is over the broker's message limit."""
        for e in emissions:
            size = len(e.value or b"") + len(e.key or b"")
            if not e.claim and size > self.max_message_bytes:
                raise OversizeError(
                    f"a record for {e.topic} would be {size} bytes, over the broker's "
                    f"{self.max_message_bytes}-byte message limit"
                )
        return emissions
