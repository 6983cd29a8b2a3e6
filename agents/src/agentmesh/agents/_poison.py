"""Inputs whose step cannot be written: dead-letter them instead of blocking their partition.

A batch can fail after its handlers ran, while its records are encoded or sent. Why decides
what happens to the input that failed it:

- the infrastructure (broker, registry, producer state): not the input's fault; the batch is
  retried as long as it takes and nothing is dead-lettered;
- the data (a record over the broker's message limit, an output Avro cannot encode): retrying
  would fail the same way, so the input is dead-lettered on the next attempt;
- anything else: counted per offset; an input whose batch failed ``max_failures`` times is
  dead-lettered.

A failure no input can be blamed for yet (at the commit, or a record the broker refused from
a batch several inputs shared) has the batch redone one input per transaction, so the next
failure names its input.

Dead-lettering keeps the rest of the batch: it is redone with that one input replaced by its
dead letter (and the step's ``dead_lettered`` and ``task_failed`` events), committed with the
offsets like any step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from agentmesh.agents._claims import ClaimNotYetReadable
from agentmesh.agents._processor import RecordProcessor
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._step import StepOutcome
from agentmesh.agents._step_records import finished
from agentmesh.agents._transaction import SendFailed
from agentmesh.contracts import DecodeError, RegistryUnavailableError, TaskFailed

__all__ = ["PoisonGuard", "blame"]

log = logging.getLogger(__name__)

# Too large for the broker: the same bytes are refused every time.
_TOO_LARGE: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
)
_DATA: tuple[type[BaseException], ...] = (
    *_TOO_LARGE,
    CorruptRecordException,  # e.g. a record without key on a compacted topic
    OverflowError,  # Avro cannot encode a number that large
)
# Outages and producer state: retried, never the input's fault. Every other Kafka error
# (timeouts, leadership, coordinators, fencing, authorization) is on the cluster's side too.
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    KafkaError,
    RegistryUnavailableError,
    ClaimNotYetReadable,
    TimeoutError,
    OSError,  # ConnectionError and friends
    asyncio.CancelledError,  # a send cancelled because its producer is closing
)


def blame(error: BaseException) -> Literal["data", "infrastructure", "unknown"]:
    """Whose fault a failure after the handler ran is, as far as its type tells."""
    if isinstance(error, _DATA):
        return "data"
    if isinstance(error, _INFRASTRUCTURE):
        return "infrastructure"
    return "unknown"


@dataclass(slots=True)
class _Strikes:
    """Failures of the batch at one input's offset, blamed on that input."""

    count: int = 0
    error: BaseException | None = None
    doomed: bool = False  # dead-letter it on the next attempt
    letters_failed: int = 0  # its dead letter itself failed to go out this many times


@dataclass(slots=True)
class _Lettered:
    """A dead-lettered step in the open transaction, and what its commit makes true."""

    idempotency_key: str
    journal_keys: list[str] = field(default_factory=list)


class PoisonGuard:
    """Counts failures per input offset and writes the dead letter of an input given up on."""

    def __init__(
        self, processor: RecordProcessor, *, max_failures: int = 3, retry_backoff_s: float = 1.0
    ) -> None:
        self.processor = processor
        self.max_failures = max_failures
        self.retry_backoff_s = retry_backoff_s
        self._strikes: dict[int, dict[int, _Strikes]] = {}
        self._lettered: dict[int, list[_Lettered]] = {}
        # Per partition: inputs go one per transaction up to this offset, after a failure that
        # could not be pinned on one input (the next failure then names it).
        self._isolate: dict[int, int] = {}

    def isolated(self, partition: int) -> bool:
        """True while the partition's inputs go one per transaction."""
        return partition in self._isolate

    async def recover(
        self,
        tp: TopicPartition,
        take: Sequence[ConsumerRecord[bytes, bytes]],
        culprit: ConsumerRecord[bytes, bytes] | None,
        exc: BaseException,
        suspend: Callable[..., Awaitable[None]],
    ) -> None:
        """After an aborted batch of ``take``: retry it, or find the input at fault.

        ``culprit`` is the input being handled when it failed, if any; ``suspend(tp,
        after_s=)`` takes the partition anew (a fresh producer, from the committed offset).
        """
        error = exc.error if isinstance(exc, SendFailed) else exc
        kind = blame(error)
        if kind == "infrastructure":
            log.warning("batch on %s failed (%r); it will be retried", tp, error, exc_info=error)
            await asyncio.sleep(self.retry_backoff_s)
            return
        if isinstance(exc, SendFailed):
            # The broker refused a record. Records of several inputs share the producer's
            # batches, so only a transaction of one input pins it down; and the producer's
            # sequence numbers are now out of step with the broker: take the partition anew.
            culprit = exc.record if len(take) == 1 else None
            await suspend(tp, after_s=0.0)
        if culprit is None and len(take) > 1:
            # Failed at commit or in a shared batch: redo the inputs one per transaction.
            self._isolate[tp.partition] = take[-1].offset
            log.warning(
                "batch on %s failed (%r); redoing it one input at a time",
                tp,
                error,
                exc_info=error,
            )
            await asyncio.sleep(0.0 if kind == "data" else self.retry_backoff_s)
            return
        culprit = culprit or take[0]
        doomed, count = self.strike(tp.partition, culprit.offset, error)
        where = f"{culprit.topic}@{culprit.partition}:{culprit.offset}"
        if doomed:
            log.error(
                "input %s cannot be written (%r, failure %d); dead-lettering it",
                where,
                error,
                count,
                exc_info=error,
            )
            return
        log.warning(
            "input %s failed its batch (%r, failure %d of %d); it will be retried",
            where,
            error,
            count,
            self.max_failures,
            exc_info=error,
        )
        await asyncio.sleep(self.retry_backoff_s)

    def doomed(self, partition: int, offset: int) -> bool:
        """True when the input at ``offset`` is to be dead-lettered instead of processed."""
        strikes = self._strikes.get(partition, {}).get(offset)
        return strikes is not None and strikes.doomed

    def strike(self, partition: int, offset: int, error: BaseException) -> tuple[bool, int]:
        """Count a failure caused by the input at ``offset``: (dead-letter it now?, count).

        Infrastructure errors are not the input's fault: the caller never passes them.
        """
        strikes = self._strikes.setdefault(partition, {}).setdefault(offset, _Strikes())
        strikes.count += 1
        if strikes.doomed:
            strikes.letters_failed += 1  # the next dead letter goes without the original
        else:
            strikes.error = error
            strikes.doomed = blame(error) == "data" or strikes.count >= self.max_failures
        return strikes.doomed, strikes.count

    async def dead_letter(self, consumed: RawRecord, resolved: RawRecord) -> list[Emission]:
        """The records that replace a doomed input's step: dead letter, events, tombstones.

        ``consumed`` is the record as it came (a claim ticket stays a ticket, so the dead
        letter stays small and complete); ``resolved`` is what its step decoded.
        """
        strikes = self._strikes[consumed.partition][consumed.offset]
        error = strikes.error
        assert error is not None
        codecs = self.processor.codecs
        try:
            envelope = await codecs.inbox.decode(resolved.value or b"")
        except DecodeError:
            envelope = None
        stage = "oversize" if isinstance(error, _TOO_LARGE) else "handler"
        bare = strikes.letters_failed > 0  # its dead letter failed to go out before
        writes = self.processor.writes
        out = [writes.dead_letter(consumed, envelope, stage, error, strikes.count, bare=bare)]
        if envelope is None:
            return out
        env = self.processor.env_for(consumed.partition)
        journal_keys = env.journal.keys_of(envelope.handoff_id)
        out += self.processor.writes.journal_tombstones(env, envelope, consumed)
        outcome = StepOutcome(attempts=strikes.count, duration_ms=0.0)
        failed = TaskFailed(error_class=type(error).__name__, message=str(error)[:2000])
        for body in (finished(resolved, envelope, "dead_lettered", outcome), failed):
            event = self.processor.writes.event(envelope, body)
            out.append(
                Emission(codecs.topics.events, event.task_id.encode(), codecs.events.encode(event))
            )
        lettered = _Lettered(envelope.idempotency_key, journal_keys)
        self._lettered.setdefault(consumed.partition, []).append(lettered)
        return out

    def committed(self, partition: int, next_offset: int) -> None:
        """The partition committed up to ``next_offset``: its dead-lettered steps are done."""
        journal = self.processor.env_for(partition).journal
        for done in self._lettered.pop(partition, []):
            self.processor.remember(partition, done.idempotency_key)
            journal.forget(done.journal_keys)
        strikes = self._strikes.get(partition, {})
        for offset in [o for o in strikes if o < next_offset]:
            del strikes[offset]
        if next_offset > self._isolate.get(partition, next_offset):
            del self._isolate[partition]

    def rolled_back(self, partition: int) -> None:
        self._lettered.pop(partition, None)

    def forget_partition(self, partition: int) -> None:
        """The partition went to another owner: it counts its own failures."""
        self._strikes.pop(partition, None)
        self._lettered.pop(partition, None)
        self._isolate.pop(partition, None)
