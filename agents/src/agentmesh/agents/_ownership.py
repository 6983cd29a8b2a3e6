"""Which inbox partitions one agent replica owns, and how it takes, gives up and retakes them.

Owning partition p means three things: holding the transactional producer whose id is the
inbox's p (starting it fences the previous owner), knowing the offset the next batch must start
at, and holding p's journal, task state and done markers. The group hands partitions over
through :meth:`PartitionOwner.listener`; a partition whose producer becomes unusable, or that
could not be taken, is paused and taken again later if it is still ours by then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from agentmesh.agents._codecs import Codecs
from agentmesh.agents._compacted import load_partition
from agentmesh.agents._journal import JournalView
from agentmesh.agents._processor import RecordProcessor
from agentmesh.agents._state import StateView
from agentmesh.agents._worker_options import WorkerOptions
from agentmesh.contracts import JournalEntry, Topics
from agentmesh.core.transport import KafkaConnection, ProducerOptions, make_producer

__all__ = ["PartitionOwner"]

log = logging.getLogger(__name__)


class PartitionOwner:
    """The inbox partitions this replica owns, with each one's producer, offset and views.

    Every change of hands holds ``batch_lock`` (the worker's batch loop holds it too): a batch
    never runs while its partition changes hands.
    """

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        conn: KafkaConnection,
        topics: Topics,
        agent: str,
        codecs: Codecs,
        side: AIOKafkaProducer,
        processor: RecordProcessor,
        options: WorkerOptions,
        batch_lock: asyncio.Lock,
        ready: asyncio.Event,
        on_release: Callable[[int], None],
    ) -> None:
        self._consumer = consumer
        self.conn = conn
        self.topics = topics
        self.agent = agent
        self.codecs = codecs
        self._side = side  # journal entries go out at once, outside the batch's transaction
        self.processor = processor
        self.options = options
        self.batch_lock = batch_lock
        self.ready = ready  # set once partitions are assigned and adopted
        self._on_release = on_release  # what the worker keeps per partition besides these
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.journals: dict[int, JournalView] = {}
        self.states: dict[int, StateView] = {}
        # Per partition: the offset the next batch must start at (None: not known yet).
        self.next_offset: dict[int, int | None] = {}
        self.assigned_at: float | None = None  # when the group last gave us partitions
        self._readopting: dict[TopicPartition, asyncio.Task[None]] = {}

    def listener(self) -> ConsumerRebalanceListener:
        """The rebalance listener to subscribe with: partitions change hands through it."""
        return _Rebalance(self)

    async def close(self) -> None:
        """Stop every producer and every pending retake (after the consumer left the group)."""
        for producer in list(self.producers.values()):
            await producer.stop()
        for task in self._readopting.values():
            task.cancel()

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        # aiokafka logs and swallows what the listener raises, and would go on fetching a
        # partition that has no producer or journal: one that cannot be taken now waits,
        # paused, and is tried again with backoff.
        async with self.batch_lock:
            order = sorted(assigned)
            # All at once: with many partitions, one after another could outlast the session.
            adopted = await asyncio.gather(*(self._adopted(tp) for tp in order))
            taken = [tp for tp, ok in zip(order, adopted, strict=True) if ok]
            for tp in assigned.difference(taken):
                self._readopt_soon(tp, self.options.adopt_retry_s)
        self.assigned_at = time.monotonic()
        self.ready.set()
        log.info(
            "agent %s consuming partitions %s", self.agent, sorted(tp.partition for tp in taken)
        )

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.batch_lock:
            for tp in revoked:
                await self.release(tp)

    async def adopt(self, tp: TopicPartition) -> None:
        """Take partition ``tp``: fence the previous owner, then trust its committed offset."""
        txn_id = f"{self.topics.agent(self.agent)}.{tp.partition}"
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
        self.producers[tp.partition] = producer
        committed = await self._consumer.committed(tp)
        self.next_offset[tp.partition] = committed
        if committed is not None:
            self._consumer.seek(tp, committed)
        else:
            # Nothing committed yet: records fetched while the partition waited to be taken
            # were not processed, so start where the reset policy (earliest) would.
            await self._consumer.seek_to_beginning(tp)
        name, p = self.agent, tp.partition
        journal = await load_partition(
            self.conn, self.topics.agent_journal(name), p, self.codecs.journal
        )
        self.journals[p] = JournalView(journal, self._persister(p))
        states = await load_partition(
            self.conn, self.topics.agent_state(name), p, self.codecs.state
        )
        self.states[p] = StateView(states)
        done = await load_partition(self.conn, self.topics.agent_done(name), p, self.codecs.done)
        for marker in sorted(done.values(), key=lambda m: m.done_at):
            self.processor.remember(p, marker.idempotency_key)
        self._consumer.resume(tp)  # it may have been paused after a fence

    async def release(self, tp: TopicPartition) -> None:
        """Give partition ``tp`` up (the caller holds the batch lock)."""
        await self._drop(tp.partition)
        self._on_release(tp.partition)

    async def suspend(self, tp: TopicPartition, after_s: float | None = None) -> None:
        """Stop consuming ``tp`` and take it again later, if it is still ours by then."""
        self._consumer.pause(tp)
        await self._drop(tp.partition)
        self._readopt_soon(tp, self.options.readopt_after_s if after_s is None else after_s)

    async def _drop(self, partition: int) -> None:
        producer = self.producers.pop(partition, None)
        if producer is not None:
            await _stop_quietly(producer)
        self.journals.pop(partition, None)
        self.states.pop(partition, None)
        self.next_offset.pop(partition, None)
        self.processor.forget_partition(partition)

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
                if tp not in self._consumer.assignment() or tp.partition in self.producers:
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

    def _persister(self, partition: int) -> Any:
        topic = self.topics.agent_journal(self.agent)

        async def persist(entry: JournalEntry) -> None:
            key = f"{entry.handoff_id}/{entry.seq}".encode()
            value = self.codecs.journal.encode(entry)
            await self._side.send_and_wait(topic, value, key=key, partition=partition)

        return persist


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: PartitionOwner) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner.assigned(assigned)


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception:
        log.warning("stopping a transactional producer failed", exc_info=True)
