"""One agent as a Kafka consumer: consume, process and produce inside one transaction.

Exactly-once: the handoffs, events, dead letters and journal tombstones a batch of steps
writes commit atomically with the batch's input offsets. Zombie fencing: one transactional
id per input partition, so whoever owns partition p next fences the previous owner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    IllegalOperation,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from agentmesh.agents._claims import CLAIM_HEADER, ClaimReader, write_claimed
from agentmesh.agents._codecs import Codecs
from agentmesh.agents._compacted import load_partition
from agentmesh.agents._context import StepEnv
from agentmesh.agents._control import ControlState
from agentmesh.agents._control_listener import ControlListener
from agentmesh.agents._fetch import RecordFetcher
from agentmesh.agents._journal import JournalView
from agentmesh.agents._llm import ChatModel
from agentmesh.agents._mesh import Mesh
from agentmesh.agents._metrics import LagReporter
from agentmesh.agents._poison import PoisonGuard, blame
from agentmesh.agents._processor import Halted, RecordProcessor
from agentmesh.agents._readiness import WorkerReadiness, warn_while_idle
from agentmesh.agents._recorder import Recorder
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._state import StateView
from agentmesh.agents._topology import ensure_agent_topics
from agentmesh.contracts import (
    HEADER_SIZE,
    DecodeError,
    EventBody,
    Handoff,
    JournalEntry,
    SchemaRegistry,
    Topics,
    frame_header,
)
from agentmesh.core import Settings
from agentmesh.core.policy import Policy, load_policy
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    make_consumer,
    make_producer,
)

__all__ = ["AgentWorker", "WorkerOptions"]

log = logging.getLogger(__name__)

# The transactional producer cannot go on (fenced, fatal state, or its sequence numbers out of
# step with the broker after a refused send): nothing of the batch committed; take it anew.
_UNUSABLE: tuple[type[BaseException], ...] = (
    ProducerFenced,
    IllegalOperation,
    AssertionError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Tuning of one agent process."""

    max_batch: int = 500  # inputs per transaction at most
    poll_timeout_ms: int = 100
    partitions: int | None = None  # of topics this worker creates; None: the settings'

    halt_poll_s: float = 0.2  # how often a halted worker looks for the kill switch to lift
    readopt_after_s: float = 10.0  # after a fence: take the partition again if still ours
    adopt_retry_s: float = 1.0  # a failed adoption is tried again after this, doubling
    adopt_timeout_s: float = 7.0  # one partition's adoption at most (session timeout is 10 s)
    retry_backoff_s: float = 1.0  # before redoing a batch that failed
    max_failures: int = 3  # an input failing its batch this often is dead-lettered
    idle_warning_after_s: float = 5.0  # no partition this long after joining: say why
    instance: str = f"{socket.gethostname()}-{os.getpid()}"


class AgentWorker:
    """Runs agent ``name`` of ``mesh`` until :meth:`stop` (or SIGTERM via the CLI)."""

    def __init__(
        self,
        mesh: Mesh,
        name: str,
        settings: Settings,
        *,
        options: WorkerOptions | None = None,
        model: ChatModel | None = None,
    ) -> None:
        self.mesh = mesh
        self.agent = mesh.get(name)
        self.settings = settings
        self.options = options or WorkerOptions()
        self.model = model
        # Review rules (AGENTMESH_POLICY) are evaluated here, before a gated call runs.
        self.policy = load_policy(settings.policy) if settings.policy else None
        self.topics = Topics(settings.namespace)
        recording = (self.policy or Policy()).recording
        self.recording_retention_ms = int(recording.retention_days * 86_400_000)
        self.recorder = None if recording.mode == "off" else Recorder(recording, self.topics)
        self.conn = KafkaConnection.from_settings(settings)
        self.group_id = f"{self.topics.agent(name)}.workers"
        self.control = ControlState()
        self._stopping = asyncio.Event()
        self.batch_lock = asyncio.Lock()
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._journals: dict[int, JournalView] = {}
        self._states: dict[int, StateView] = {}
        self.halted_by: str | None = None
        self.committed_batches = 0
        self.ready = asyncio.Event()  # set once partitions are assigned and adopted
        self.registry: SchemaRegistry | None = None  # while running
        self._assigned_at: float | None = None  # when the group last gave us partitions
        # Per partition: the offset the next batch must start at (None: not known yet).
        self._next_offset: dict[int, int | None] = {}
        self._readopting: dict[TopicPartition, asyncio.Task[None]] = {}
        # Per partition: inputs go one per transaction up to this offset, after a failure that
        # could not be pinned on one input (the next failure then names it).
        self._isolate: dict[int, int] = {}
        # A batch commits before half the transaction timeout, whatever its length.
        self._batch_budget_s = ProducerOptions().transaction_timeout_ms / 2000
        self._lag = LagReporter(self.group_id)

    def stop(self) -> None:
        """Ask the worker to finish its current batch, leave the group and return.

        A batch in progress commits after the step in flight: a long batch does not hold
        the drain up (the CLI bounds the wait with ``drain_grace_s``, then cancels ``run``,
        which aborts the open transaction).
        """
        self._stopping.set()

    def readiness(self) -> WorkerReadiness:
        """Partitions assigned to this replica and those whose producer is initialised."""
        consumer: AIOKafkaConsumer | None = getattr(self, "_consumer", None)
        inbox = self.topics.agent(self.agent.name)
        assigned = tuple(sorted(tp.partition for tp in consumer.assignment())) if consumer else ()
        known = consumer.partitions_for_topic(inbox) if consumer else None
        return WorkerReadiness(
            inbox=inbox,
            group=self.group_id,
            assigned_at=self._assigned_at,
            assigned=assigned,
            adopted=tuple(p for p in assigned if p in self._producers),
            inbox_partitions=len(known) if known else None,
        )

    async def run(self) -> None:
        """Consume until stopped."""
        registry = SchemaRegistry(self.settings.registry_url)
        self.registry = registry
        self.codecs = Codecs(self.mesh, self.agent.name, self.topics, registry)
        await ensure_agent_topics(
            self.conn,
            self.topics,
            self.mesh,
            self.agent.name,
            settings=self.settings,
            partitions=self.options.partitions or self.settings.topic_partitions,
            recordings_retention_ms=self.recording_retention_ms,
        )
        await self.codecs.register()
        if self.recorder is not None:
            await self.recorder.register(registry)
        self._side = make_producer(self.conn, ProducerOptions(client_suffix="side", linger_ms=0))
        await self._side.start()
        listener = ControlListener(
            self.conn, self.topics.control, self.codecs.control, self.control
        )
        await listener.start()
        self.processor = RecordProcessor(self._env, self.codecs, self.options.instance)
        self.poison = PoisonGuard(self.processor, max_failures=self.options.max_failures)
        self.fetcher = RecordFetcher(self.conn)
        self.claims = ClaimReader(
            self.fetcher, self.topics.claims, self.codecs.claim_chunk, self.codecs.claim_ticket
        )
        consumer = make_consumer(
            self.conn,
            options=ConsumerOptions(
                group_id=self.group_id, max_poll_records=self.options.max_batch
            ),
        )
        self._consumer = consumer
        await consumer.start()
        consumer.subscribe([self.topics.agent(self.agent.name)], listener=_Rebalance(self))
        idle = asyncio.create_task(
            warn_while_idle(self, self.options.idle_warning_after_s), name="idle-warning"
        )
        try:
            await self._loop(consumer)
        finally:
            idle.cancel()
            self._lag.lag.clear()
            await consumer.stop()  # leaves the group: partitions move at once, not after a timeout
            for producer in list(self._producers.values()):
                await producer.stop()
            await self._side.stop()
            for task in self._readopting.values():
                task.cancel()
            await self.fetcher.close()
            await listener.stop()
            await registry.close()
            self.registry = None

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            rule = self.control.halting(self.agent.name)
            if rule is not None:
                self.halted_by = f"{rule.action} by {rule.issued_by}: {rule.reason}"
                consumer.pause(*consumer.assignment())
                await asyncio.sleep(self.options.halt_poll_s)
                continue
            if self.halted_by is not None:
                log.info("kill switch lifted; resuming %s", self.agent.name)
                self.halted_by = None
                consumer.resume(
                    *(tp for tp in consumer.assignment() if tp.partition in self._producers)
                )
            batch = await consumer.getmany(
                timeout_ms=self.options.poll_timeout_ms, max_records=self.options.max_batch
            )
            if batch:
                async with self.batch_lock:
                    await asyncio.gather(*(self._process(tp, r) for tp, r in batch.items()))
            await self._lag.report(consumer, self._next_offset)

    async def _process(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        producer = self._producers.get(tp.partition)
        if producer is None:
            return  # being re-adopted (paused) or revoked
        expected = self._next_offset.get(tp.partition)
        # Later is fine (transaction markers take offsets too); earlier means stale.
        if expected is not None and records[0].offset < expected:
            # Fetched from a position set before this partition was adopted (possibly before
            # the previous owner's last commit became visible): read again from the stable
            # offset adopt() found, never from here.
            self._consumer.seek(tp, expected)
            return
        isolated = tp.partition in self._isolate
        take = records[:1] if isolated else records
        deadline = time.monotonic() + self._batch_budget_s
        sent: list[tuple[asyncio.Future[Any], ConsumerRecord[bytes, bytes]]] = []
        done = 0
        culprit: ConsumerRecord[bytes, bytes] | None = None  # the input being handled
        try:
            await producer.begin_transaction()
            for record in take:
                culprit = record
                sent.extend(
                    [(await self._write(producer, e), record) for e in await self._handle(record)]
                )
                done += 1
                if time.monotonic() > deadline or self._stopping.is_set():
                    break  # commit what is done: within the transaction timeout, or to drain
            culprit = None
            last = records[done - 1].offset
            # The offsets join the transaction while the sends are acknowledged (one round
            # trip saved); every send is awaited before the commit, because a failed send
            # fails only its future and the commit would not notice. Any failure: abort.
            offsets = asyncio.ensure_future(
                producer.send_offsets_to_transaction({tp: last + 1}, self.group_id)
            )
            try:
                await _settled(sent)
            finally:
                await asyncio.wait([offsets])
            offsets.result()
            await producer.commit_transaction()
        except _UNUSABLE as exc:
            # Fenced (another owner, or the broker timed the transaction out) or the producer
            # is in a fatal state: nothing of the batch committed.
            log.warning("producer for %s unusable (%s); re-adopting", tp, type(exc).__name__)
            self.processor.rolled_back(tp.partition)
            self.poison.rolled_back(tp.partition)
            await self._suspend(tp)
            return
        except BaseException as exc:
            await self._abort(producer, tp, records[0].offset)
            if isinstance(exc, Halted):
                log.warning("kill switch: %s; input kept, consumption paused", exc)
                return
            if isinstance(exc, asyncio.CancelledError):
                raise
            await self._recover(tp, take, culprit, exc)
            return
        self.processor.committed(tp.partition)
        next_offset = records[done - 1].offset + 1
        self.poison.committed(tp.partition, next_offset)
        if isolated and next_offset > self._isolate[tp.partition]:
            del self._isolate[tp.partition]
        self.committed_batches += 1
        self._next_offset[tp.partition] = next_offset
        if done < len(records):
            self._consumer.seek(tp, records[done].offset)

    async def _recover(
        self,
        tp: TopicPartition,
        take: list[ConsumerRecord[bytes, bytes]],
        culprit: ConsumerRecord[bytes, bytes] | None,
        exc: BaseException,
    ) -> None:
        """After an aborted batch: retry it, or find the input at fault and dead-letter it."""
        error = exc.error if isinstance(exc, _SendFailed) else exc
        kind = blame(error)
        if kind == "infrastructure":
            log.warning("batch on %s failed (%r); it will be retried", tp, error, exc_info=error)
            await asyncio.sleep(self.options.retry_backoff_s)
            return
        if isinstance(exc, _SendFailed):
            # The broker refused a record. Records of several inputs share the producer's
            # batches, so only a transaction of one input pins it down; and the producer's
            # sequence numbers are now out of step with the broker: take the partition anew.
            culprit = exc.record if len(take) == 1 else None
            await self._suspend(tp, after_s=0.0)
        if culprit is None and len(take) > 1:
            # Failed at commit or in a shared batch: redo the inputs one per transaction.
            self._isolate[tp.partition] = take[-1].offset
            log.warning(
                "batch on %s failed (%r); redoing it one input at a time",
                tp,
                error,
                exc_info=error,
            )
            await asyncio.sleep(0.0 if kind == "data" else self.options.retry_backoff_s)
            return
        culprit = culprit or take[0]
        doomed, count = self.poison.strike(tp.partition, culprit.offset, error)
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
            self.options.max_failures,
            exc_info=error,
        )
        await asyncio.sleep(self.options.retry_backoff_s)

    async def _suspend(self, tp: TopicPartition, after_s: float | None = None) -> None:
        """Stop consuming ``tp`` and take it again later, if it is still ours by then."""
        self._consumer.pause(tp)
        await self._drop(tp.partition)
        self._readopt_soon(tp, self.options.readopt_after_s if after_s is None else after_s)

    def _readopt_soon(self, tp: TopicPartition, after_s: float) -> None:
        task = self._readopting.get(tp)
        if task is None or task.done():
            self._readopting[tp] = asyncio.create_task(
                self._readopt_later(tp, after_s), name=f"readopt-{tp.topic}-{tp.partition}"
            )

    async def _readopt_later(self, tp: TopicPartition, after_s: float) -> None:
        # If another instance owns it now, the group revokes it from us within a session.
        delay = after_s
        while True:
            await asyncio.sleep(delay)
            async with self.batch_lock:
                if tp not in self._consumer.assignment() or tp.partition in self._producers:
                    return
                if await self._adopted(tp):
                    log.info("partition %s taken again", tp)
                    return
            delay = min(max(2 * delay, self.options.adopt_retry_s), self.options.readopt_after_s)

    async def _adopted(self, tp: TopicPartition) -> bool:
        """Adopt ``tp``; on failure leave it paused, with nothing half set up, and say why."""
        try:
            # Bounded: adoption runs inside the group's rebalance; one slow partition (its
            # previous owner's transaction still open, a long journal) must not hold the
            # others or stall the rebalance past the session timeout. It is retried later.
            async with asyncio.timeout(self.options.adopt_timeout_s):
                await self.adopt(tp)
        except Exception as exc:
            # Consumed without its producer and journal, the partition would go nowhere.
            self._consumer.pause(tp)
            await self._drop(tp.partition)
            log.warning(
                "could not take partition %s (%r); paused, trying again with backoff",
                tp,
                exc,
                exc_info=True,
            )
            return False
        return True

    async def _write(self, producer: AIOKafkaProducer, e: Emission) -> asyncio.Future[Any]:
        if e.claim:
            return await write_claimed(
                producer,
                e,
                claims_topic=self.topics.claims,
                chunk_codec=self.codecs.claim_chunk,
                ticket_codec=self.codecs.claim_ticket,
            )
        future: asyncio.Future[Any] = await producer.send(
            e.topic, e.value, key=e.key, headers=e.headers, partition=e.partition
        )
        return future

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> list[Emission]:
        raw = resolved = _raw(record)
        if any(k == CLAIM_HEADER for k, _ in raw.headers):
            try:
                value = await self.claims.resolve(raw.value or b"")
            except DecodeError as exc:
                return await self.processor.reject(raw, exc)
            resolved = dataclasses.replace(raw, value=value, ticket=raw.value)
        if self.poison.doomed(record.partition, record.offset):
            return await self.poison.dead_letter(raw, resolved)
        return await self.processor.process(resolved)

    async def _abort(self, producer: AIOKafkaProducer, tp: TopicPartition, first: int) -> None:
        self.processor.rolled_back(tp.partition)
        self.poison.rolled_back(tp.partition)
        try:
            await producer.abort_transaction()
        except Exception:
            log.exception("abort on %s failed", tp)
        self._consumer.seek(tp, first)  # nothing of the batch committed: read it again
        self._next_offset[tp.partition] = first

    def _env(self, partition: int) -> StepEnv:
        return StepEnv(
            self.mesh,
            self.agent,
            self.control,
            self._journals[partition],
            self._emit,
            self.model,
            self._states[partition],
            self._fetch_handoff,
            self.policy,
            self.recorder,
        )

    async def _fetch_handoff(self, topic: str, partition: int, offset: int) -> Handoff[Any]:
        found = await self.fetcher.first_from(topic, partition, offset)
        if found is None or found[0] != offset or found[1] is None:
            raise LookupError(f"no committed record at {topic}@{partition}:{offset}")
        value = found[1]
        if value[:HEADER_SIZE] == frame_header(self.codecs.claim_ticket.schema_id):
            value = await self.claims.resolve(value)
        return await self.codecs.decode_handoff(topic, value)

    async def _emit(self, envelope: Handoff[Any], body: EventBody) -> None:
        # Usage events go out at once, outside the transaction: the supervisor must see
        # spend while a long step is still running. It dedups replays by call_id.
        event = self.processor.event(envelope, body)
        await self._side.send_and_wait(
            self.topics.events, self.codecs.events.encode(event), key=envelope.task_id.encode()
        )

    async def adopt(self, tp: TopicPartition) -> None:
        """Take partition ``tp``: fence the previous owner, then trust its committed offset."""
        txn_id = f"{self.topics.agent(self.agent.name)}.{tp.partition}"
        producer = make_producer(
            self.conn, ProducerOptions(transactional_id=txn_id, client_suffix=f"txn-{tp.partition}")
        )
        # InitProducerId fences a zombie and waits for its pending transaction to finish, so
        # the committed offset read below is stable (aiokafka's OffsetFetch cannot ask for it).
        try:
            await producer.start()
        except BaseException:
            await asyncio.shield(_stop_quietly(producer))
            raise
        self._producers[tp.partition] = producer
        committed = await self._consumer.committed(tp)
        self._next_offset[tp.partition] = committed
        if committed is not None:
            self._consumer.seek(tp, committed)
        else:
            # Nothing committed yet: records fetched while the partition waited to be taken
            # were not processed, so start where the reset policy (earliest) would.
            await self._consumer.seek_to_beginning(tp)
        name, p = self.agent.name, tp.partition
        journal = await load_partition(
            self.conn, self.topics.agent_journal(name), p, self.codecs.journal
        )
        self._journals[p] = JournalView(journal, self._persister(p))
        states = await load_partition(
            self.conn, self.topics.agent_state(name), p, self.codecs.state
        )
        self._states[p] = StateView(states)
        done = await load_partition(self.conn, self.topics.agent_done(name), p, self.codecs.done)
        for marker in sorted(done.values(), key=lambda m: m.done_at):
            self.processor.remember(p, marker.idempotency_key)
        self._consumer.resume(tp)  # it may have been paused after a fence

    async def release(self, tp: TopicPartition) -> None:
        """Give partition ``tp`` up (the caller holds the batch lock)."""
        await self._drop(tp.partition)
        self.poison.forget_partition(tp.partition)
        self._isolate.pop(tp.partition, None)

    async def _drop(self, partition: int) -> None:
        producer = self._producers.pop(partition, None)
        if producer is not None:
            await _stop_quietly(producer)
        self._journals.pop(partition, None)
        self._states.pop(partition, None)
        self._next_offset.pop(partition, None)
        self.processor.forget_partition(partition)

    def _persister(self, partition: int) -> Any:
        topic = self.topics.agent_journal(self.agent.name)

        async def persist(entry: JournalEntry) -> None:
            key = f"{entry.handoff_id}/{entry.seq}".encode()
            value = self.codecs.journal.encode(entry)
            await self._side.send_and_wait(topic, value, key=key, partition=partition)

        return persist


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: AgentWorker) -> None:
        self.worker = worker

    # Both hold the batch lock: a batch never runs while its partition changes hands.
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.worker.batch_lock:
            for tp in revoked:
                await self.worker.release(tp)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # aiokafka logs and swallows what this raises, and would go on fetching a partition
        # that has no producer or journal: one that cannot be taken now waits, paused, and is
        # tried again with backoff.
        worker = self.worker
        async with worker.batch_lock:
            order = sorted(assigned)
            # All at once: with many partitions, one after another could outlast the session.
            adopted = await asyncio.gather(*(worker._adopted(tp) for tp in order))
            taken = [tp for tp, ok in zip(order, adopted, strict=True) if ok]
            for tp in assigned.difference(taken):
                worker._readopt_soon(tp, worker.options.adopt_retry_s)
        worker._assigned_at = time.monotonic()
        worker.ready.set()
        log.info(
            "agent %s consuming partitions %s",
            worker.agent.name,
            sorted(tp.partition for tp in taken),
        )


class _SendFailed(Exception):
    """A send of ``record``'s step failed (seen when the batch's sends are awaited)."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], error: BaseException) -> None:
        super().__init__(f"send for offset {record.offset} failed: {error!r}")
        self.record = record
        self.error = error


async def _settled(sent: list[tuple[asyncio.Future[Any], ConsumerRecord[bytes, bytes]]]) -> None:
    """Wait for every send; raise the first failure, with the input it was for."""
    results = await asyncio.gather(*(f for f, _ in sent), return_exceptions=True)
    failures = [
        (r, e) for (_, r), e in zip(sent, results, strict=True) if isinstance(e, BaseException)
    ]
    for _, error in failures:
        if isinstance(error, _UNUSABLE):
            raise error
    if failures:
        raise _SendFailed(*failures[0])


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception:
        log.warning("stopping a transactional producer failed", exc_info=True)


def _raw(record: ConsumerRecord[bytes, bytes]) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
        timestamp_ms=record.timestamp,
    )
