"""The three forwarders ``bench.hop`` compares, each moving inputs from one topic to another.

(a) :class:`TxnForwarder`: a raw aiokafka transactional consume-process-produce loop with
agentmesh's guarantees and none of its work: the bytes are forwarded as they are.
(b) :class:`AgentmeshHop`: one agentmesh hop, an
:class:`~agentmesh.agents._worker.AgentWorker` whose handler hands its input on to ``sink`` at
once.
(c) :class:`PingPong`: a raw non-transactional forwarder, the floor of the Kafka round trip.

All clients come from :mod:`agentmesh.core.transport`: all three share its pinned settings
(``acks=all``, idempotence, manual commits, ``read_committed``) and the defaults of its
:class:`~agentmesh.core.transport.ConsumerOptions`, as the worker uses them. The producers take the
worker's ``ProducerOptions`` too, except that (c)'s does not linger (see :class:`PingPong`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from agentmesh.agents import Context, Mesh, Outgoing, agent
from agentmesh.agents._worker import AgentWorker, WorkerOptions
from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    TopicSpec,
    ensure_topics,
    make_consumer,
    make_producer,
)
from bench.codec import ResearchBrief

__all__ = [
    "MESH",
    "AgentmeshHop",
    "Forwarder",
    "PingPong",
    "StageTimes",
    "TxnForwarder",
    "ensure_pair",
]

_START_TIMEOUT_S = 60.0


@agent("hop")
async def hop(brief: ResearchBrief, ctx: Context) -> Outgoing:
    """The no-op step: hand the input on, unchanged (validated against sink's input)."""
    return ctx.handoff("sink", brief)


@agent("sink")
async def sink(brief: ResearchBrief, ctx: Context) -> None:
    """Never runs: the benchmark only reads its inbox."""


MESH = Mesh([hop, sink])


class Forwarder(Protocol):
    """One case: started once, then fed on ``input_topic`` and read on ``output_topic``."""

    input_topic: str
    output_topic: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def ensure_pair(settings: Settings, names: Sequence[str], partitions: int) -> None:
    """Create the raw cases' topics like agentmesh creates an inbox (same partitions, RF)."""
    conn = KafkaConnection.from_settings(settings)
    rf = settings.replication_factor
    await ensure_topics(conn, [TopicSpec(name, partitions, rf) for name in names])


async def _started(task: asyncio.Task[None], ready: asyncio.Event, what: str) -> None:
    """Wait until ``ready`` is set; raise the task's error if it dies first."""
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait(
        [task, waiter], timeout=_START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    if task in done:
        task.result()
        raise RuntimeError(f"{what} stopped before it was assigned its partitions")
    if not ready.is_set():
        raise TimeoutError(f"{what} was not assigned its partitions in {_START_TIMEOUT_S:.0f} s")


@dataclass
class StageTimes:
    """perf_counter stamps of the baseline's last batches: where one hop's time goes."""

    polled: list[float] = field(default_factory=list)  # getmany returned the batch
    offsets_sent: list[float] = field(default_factory=list)  # records sent + offsets added
    committed: list[float] = field(default_factory=list)  # commit_transaction returned

    def clear(self) -> None:
        self.polled.clear()
        self.offsets_sent.clear()
        self.committed.clear()


class TxnForwarder:
    """(a) The worker's loop without agentmesh: one transaction per partition batch.

    Same shape as :class:`~agentmesh.agents._worker.AgentWorker`: a ``read_committed`` consumer in a
    group, one transactional producer per assigned input partition (zombie fencing), the
    batch's offsets sent to its transaction, one commit per partition batch, partition
    batches of one poll committed concurrently.
    """

    def __init__(
        self, settings: Settings, input_topic: str, output_topic: str, *, max_batch: int
    ) -> None:
        self.conn = KafkaConnection.from_settings(settings)
        self.input_topic, self.output_topic = input_topic, output_topic
        self.group_id = f"{input_topic}.workers"
        self.max_batch = max_batch
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self.stages = StageTimes()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        options = ConsumerOptions(
            group_id=self.group_id, max_poll_records=max_batch, client_suffix="bench-a"
        )
        self.consumer = make_consumer(self.conn, options=options)

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.input_topic], listener=_Adopt(self))
        self._task = asyncio.create_task(self._loop(), name="bench-baseline")
        await _started(self._task, self.ready, "the baseline forwarder")

    async def stop(self) -> None:
        self._stopping.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            await self.consumer.stop()
            for producer in self.producers.values():
                await producer.stop()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            if batch:
                polled = time.perf_counter()
                async with self.lock:
                    await asyncio.gather(
                        *(self._forward(tp, rs, polled) for tp, rs in batch.items())
                    )

    async def _forward(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]], polled: float
    ) -> None:
        producer = self.producers[tp.partition]
        await producer.begin_transaction()
        try:
            for record in records:
                await producer.send(self.output_topic, record.value, key=record.key)
            await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, self.group_id)
            offsets_sent = time.perf_counter()
            await producer.commit_transaction()
        except BaseException:
            await producer.abort_transaction()
            raise  # a benchmark must not hide a failure behind a retry
        self.stages.polled.append(polled)
        self.stages.offsets_sent.append(offsets_sent)
        self.stages.committed.append(time.perf_counter())

    async def adopt(self, tp: TopicPartition) -> None:
        options = ProducerOptions(
            transactional_id=f"{self.input_topic}.{tp.partition}",
            client_suffix=f"bench-a-txn-{tp.partition}",
        )
        producer = make_producer(self.conn, options)
        await producer.start()  # fences a previous owner, as the worker does
        self.producers[tp.partition] = producer
        committed = await self.consumer.committed(tp)
        if committed is not None:
            self.consumer.seek(tp, committed)

    async def release(self, tp: TopicPartition) -> None:
        producer = self.producers.pop(tp.partition, None)
        if producer is not None:
            await producer.stop()


class _Adopt(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, forwarder: TxnForwarder) -> None:
        self.forwarder = forwarder

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.forwarder.lock:
            for tp in revoked:
                await self.forwarder.release(tp)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.forwarder.lock:
            for tp in assigned:
                await self.forwarder.adopt(tp)
        self.forwarder.ready.set()


class PingPong:
    """(c) Consume and produce back, no transaction, no group: the raw round trip.

    The producer is idempotent with ``acks=all`` (pinned by the seam); each poll's records
    are sent, then their acknowledgements awaited before the next poll. No offsets are
    committed: this is the floor under (a) and (b), not an alternative with their guarantees.
    """

    def __init__(
        self,
        settings: Settings,
        input_topic: str,
        output_topic: str,
        *,
        max_batch: int,
        partitions: int,
    ) -> None:
        conn = KafkaConnection.from_settings(settings)
        self.input_topic, self.output_topic = input_topic, output_topic
        self.max_batch = max_batch
        self.partitions = partitions
        options = ConsumerOptions(
            group_id=None, max_poll_records=max_batch, client_suffix="bench-c"
        )
        self.consumer = make_consumer(conn, options=options)
        # No linger: this loop awaits its acks, so lingering would only add dead time. The
        # transactional cases do not pay theirs either: commit_transaction flushes at once.
        self.producer = make_producer(conn, ProducerOptions(linger_ms=0, client_suffix="bench-c"))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await self.producer.start()
        tps = [TopicPartition(self.input_topic, p) for p in range(self.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve now: inputs sent later must be seen
        self._task = asyncio.create_task(self._loop(), name="bench-pingpong")

    async def stop(self) -> None:
        self._stopping.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            await self.consumer.stop()
            await self.producer.stop()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            sent = [
                await self.producer.send(self.output_topic, r.value, key=r.key)
                for records in batch.values()
                for r in records
            ]
            if sent:
                await asyncio.gather(*sent)


class AgentmeshHop:
    """(b) One agentmesh hop: :class:`AgentWorker` running ``hop`` in this event loop."""

    def __init__(self, settings: Settings, options: WorkerOptions) -> None:
        topics = Topics(settings.namespace)
        self.input_topic, self.output_topic = topics.agent("hop"), topics.agent("sink")
        self.worker = AgentWorker(MESH, "hop", settings, options=options)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.worker.run(), name="bench-agentmesh")
        await _started(self._task, self.worker.ready, "the agentmesh worker")

    async def stop(self) -> None:
        self.worker.stop()
        if self._task is not None:
            await self._task
