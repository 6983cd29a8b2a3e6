"""One agent as a Kafka consumer: consume, process and produce inside one transaction.

Exactly-once: the handoffs, events, dead letters and journal tombstones a batch of steps
writes commit atomically with the batch's input offsets. Zombie fencing: one transactional
id per input partition, so whoever owns partition p next fences the previous owner (taking,
giving up and retaking partitions is :class:`~agentmesh.agents._ownership.PartitionOwner`'s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from agentmesh.agents._claims import CLAIM_HEADER, ClaimReader, write_claimed
from agentmesh.agents._codecs import Codecs
from agentmesh.agents._context import StepEnv
from agentmesh.agents._control import ControlState
from agentmesh.agents._control_listener import ControlListener
from agentmesh.agents._fetch import RecordFetcher
from agentmesh.agents._llm import ChatModel
from agentmesh.agents._mesh import Mesh
from agentmesh.agents._metrics import LagReporter
from agentmesh.agents._ownership import PartitionOwner
from agentmesh.agents._poison import PoisonGuard
from agentmesh.agents._processor import Halted, RecordProcessor
from agentmesh.agents._readiness import WorkerReadiness, warn_while_idle
from agentmesh.agents._recorder import Recorder
from agentmesh.agents._records import Emission, RawRecord
from agentmesh.agents._topology import ensure_agent_topics
from agentmesh.agents._transaction import UNUSABLE, settled
from agentmesh.agents._worker_options import WorkerOptions
from agentmesh.contracts import (
    HEADER_SIZE,
    DecodeError,
    EventBody,
    Handoff,
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
        self.halted_by: str | None = None
        self.committed_batches = 0
        self.ready = asyncio.Event()  # set once partitions are assigned and adopted
        self.registry: SchemaRegistry | None = None  # while running
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
        owner: PartitionOwner | None = getattr(self, "owner", None)
        inbox = self.topics.agent(self.agent.name)
        assigned = tuple(sorted(tp.partition for tp in consumer.assignment())) if consumer else ()
        known = consumer.partitions_for_topic(inbox) if consumer else None
        return WorkerReadiness(
            inbox=inbox,
            group=self.group_id,
            assigned_at=owner.assigned_at if owner else None,
            assigned=assigned,
            adopted=tuple(p for p in assigned if owner and p in owner.producers),
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
        self.poison = PoisonGuard(
            self.processor,
            max_failures=self.options.max_failures,
            retry_backoff_s=self.options.retry_backoff_s,
        )
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
        self.owner = self._owner(consumer)
        await consumer.start()
        consumer.subscribe([self.topics.agent(self.agent.name)], listener=self.owner.listener())
        idle = asyncio.create_task(
            warn_while_idle(self, self.options.idle_warning_after_s), name="idle-warning"
        )
        try:
            await self._loop(consumer)
        finally:
            idle.cancel()
            self._lag.lag.clear()
            await consumer.stop()  # leaves the group: partitions move at once, not after a timeout
            await self.owner.close()
            await self._side.stop()
            await self.fetcher.close()
            await listener.stop()
            await registry.close()
            self.registry = None

    def _owner(self, consumer: AIOKafkaConsumer) -> PartitionOwner:
        return PartitionOwner(
            consumer=consumer,
            conn=self.conn,
            topics=self.topics,
            agent=self.agent.name,
            codecs=self.codecs,
            side=self._side,
            processor=self.processor,
            options=self.options,
            batch_lock=self.batch_lock,
            ready=self.ready,
            on_release=self._released,
        )

    def _released(self, partition: int) -> None:
        self.poison.forget_partition(partition)

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        owner = self.owner
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
                    *(tp for tp in consumer.assignment() if tp.partition in owner.producers)
                )
            batch = await consumer.getmany(
                timeout_ms=self.options.poll_timeout_ms, max_records=self.options.max_batch
            )
            if batch:
                async with self.batch_lock:
                    await asyncio.gather(*(self._process(tp, r) for tp, r in batch.items()))
            await self._lag.report(consumer, owner.next_offset)

    async def _process(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        producer = self.owner.producers.get(tp.partition)
        if producer is None:
            return  # being re-adopted (paused) or revoked
        expected = self.owner.next_offset.get(tp.partition)
        # Later is fine (transaction markers take offsets too); earlier means stale.
        if expected is not None and records[0].offset < expected:
            # Fetched from a position set before this partition was adopted (possibly before
            # the previous owner's last commit became visible): read again from the stable
            # offset adopt() found, never from here.
            self._consumer.seek(tp, expected)
            return
        isolated = self.poison.isolated(tp.partition)
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
            await self._commit(producer, tp, sent, records[done - 1].offset + 1)
        except UNUSABLE as exc:
            # Fenced (another owner, or the broker timed the transaction out) or the producer
            # is in a fatal state: nothing of the batch committed.
            log.warning("producer for %s unusable (%s); re-adopting", tp, type(exc).__name__)
            self.processor.rolled_back(tp.partition)
            self.poison.rolled_back(tp.partition)
            await self.owner.suspend(tp)
            return
        except BaseException as exc:
            await self._abort(producer, tp, records[0].offset)
            if isinstance(exc, Halted):
                log.warning("kill switch: %s; input kept, consumption paused", exc)
                return
            if isinstance(exc, asyncio.CancelledError):
                raise
            await self.poison.recover(tp, take, culprit, exc, self.owner.suspend)
            return
        self._committed(tp, records, done)

    async def _commit(
        self,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        sent: list[tuple[asyncio.Future[Any], ConsumerRecord[bytes, bytes]]],
        next_offset: int,
    ) -> None:
        """Commit the batch's transaction, with the inputs' offsets up to ``next_offset``."""
        # The offsets join the transaction while the sends are acknowledged (one round trip
        # saved); every send is awaited before the commit, because a failed send fails only
        # its future and the commit would not notice. Any failure: the caller aborts.
        offsets = asyncio.ensure_future(
            producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
        )
        try:
            await settled(sent)
        finally:
            await asyncio.wait([offsets])
        offsets.result()
        await producer.commit_transaction()

    def _committed(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]], done: int
    ) -> None:
        """The first ``done`` of ``records`` committed: note it, and read on from there."""
        next_offset = records[done - 1].offset + 1
        self.processor.committed(tp.partition)
        self.poison.committed(tp.partition, next_offset)
        self.committed_batches += 1
        self.owner.next_offset[tp.partition] = next_offset
        if done < len(records):
            self._consumer.seek(tp, records[done].offset)

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
        self.owner.next_offset[tp.partition] = first

    def _env(self, partition: int) -> StepEnv:
        owner = self.owner
        return StepEnv(
            self.mesh,
            self.agent,
            self.control,
            owner.journals[partition],
            self._emit,
            self.model,
            owner.states[partition],
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
        event = self.processor.writes.event(envelope, body)
        await self._side.send_and_wait(
            self.topics.events, self.codecs.events.encode(event), key=envelope.task_id.encode()
        )


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
