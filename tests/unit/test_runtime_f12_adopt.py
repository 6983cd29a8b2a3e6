"""F12: a partition the worker fails to take on assignment is paused and taken again with
backoff, not consumed without its producer and journal (aiokafka swallows listener errors)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from agentmesh.agents._ownership import PartitionOwner
from agentmesh.agents._processor import RecordProcessor
from agentmesh.agents._worker import WorkerOptions
from agentmesh.agents.testing import AgentHarness
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection
from tests.apps import pipeline


class Producer:
    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


class Consumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.paused: set[TopicPartition] = set()

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


def owner_of(
    consumer: Consumer, options: WorkerOptions, released: list[int] | None = None
) -> PartitionOwner:
    """The owner a worker of agent "worker" holds, over a fake consumer; tests replace adopt."""
    harness = AgentHarness(pipeline.mesh, "worker")
    return PartitionOwner(
        consumer=consumer,
        conn=KafkaConnection.from_settings(Settings(namespace="unit")),
        topics=harness.topics,
        agent="worker",
        codecs=harness.codecs,
        side=None,  # journals are written only by the real adopt
        processor=RecordProcessor(lambda _p: harness.env, harness.codecs, "unit"),
        options=options,
        batch_lock=asyncio.Lock(),
        ready=asyncio.Event(),
        on_release=(released if released is not None else []).append,
    )


async def test_a_failed_adoption_pauses_the_partition_and_retries_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = WorkerOptions(adopt_retry_s=0.05, readopt_after_s=0.2)
    bad, good = TopicPartition("in", 0), TopicPartition("in", 1)
    consumer = Consumer({bad, good})
    owner = owner_of(consumer, options)
    tries: list[float] = []
    half_made: list[Producer] = []

    async def adopt(tp: TopicPartition) -> None:
        producer = Producer()
        owner.producers[tp.partition] = producer
        if tp == bad:
            tries.append(time.monotonic())
            if len(tries) <= 3:  # e.g. the journal could not be read: half set up, then fails
                half_made.append(producer)
                raise KafkaConnectionError("journal partition unreachable")
        consumer.resume(tp)

    owner.adopt = adopt  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="agentmesh.agents")

    await owner.listener().on_partitions_assigned({bad, good})  # raises nothing

    # The partition that could not be taken is paused and holds nothing half set up; its
    # neighbour is taken as usual.
    assert bad in consumer.paused
    assert set(owner.producers) == {1}
    assert half_made[0].stopped
    assert owner.ready.is_set()
    assert "could not take partition" in caplog.text
    assert "KafkaConnectionError" in caplog.text
    assert "consuming partitions [1]" in caplog.text

    deadline = time.monotonic() + 5
    while 0 not in owner.producers and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert 0 in owner.producers
    assert bad not in consumer.paused
    assert len(tries) == 4
    assert all(p.stopped for p in half_made)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(tries)]
    assert gaps[0] >= 0.04  # adopt_retry_s, then doubling up to readopt_after_s
    assert gaps[1] >= 0.09
    assert gaps[2] >= 0.19
    assert "partition TopicPartition(topic='in', partition=0) taken again" in caplog.text


async def test_a_partition_revoked_while_waiting_is_not_taken_again() -> None:
    options = WorkerOptions(adopt_retry_s=0.01)
    tp = TopicPartition("in", 0)
    consumer = Consumer({tp})
    released: list[int] = []
    owner = owner_of(consumer, options, released)
    calls = 0

    async def adopt(tp: TopicPartition) -> None:
        nonlocal calls
        calls += 1
        raise KafkaConnectionError("down")

    owner.adopt = adopt  # type: ignore[method-assign]
    await owner.listener().on_partitions_assigned({tp})
    await owner.listener().on_partitions_revoked({tp})
    consumer.assigned = set()
    await asyncio.sleep(0.1)
    assert calls == 1
    assert owner.producers == {}
    assert released == [0]  # the worker forgets the partition's failures too


async def test_partitions_are_adopted_together_and_a_slow_one_does_not_hold_the_rest() -> None:
    """F13: adoption runs inside the rebalance; one after another, many partitions (or one
    stuck behind its previous owner's open transaction) could outlast the session."""
    options = WorkerOptions(adopt_timeout_s=0.3, adopt_retry_s=5.0)
    parts = {TopicPartition("in", p) for p in range(6)}
    stuck = TopicPartition("in", 5)
    consumer = Consumer(parts)
    owner = owner_of(consumer, options)

    running = 0
    most = 0

    async def adopt(tp: TopicPartition) -> None:
        nonlocal running, most
        owner.producers[tp.partition] = Producer()
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(60 if tp == stuck else 0.2)  # each takes a while; one never ends
        finally:
            running -= 1

    owner.adopt = adopt  # type: ignore[method-assign]
    await owner.listener().on_partitions_assigned(parts)
    # Together, not one after another (counted, not timed: the machine may be busy); the
    # stuck one gave up at its bound instead of holding the rebalance for a minute.
    assert most == 6
    assert set(owner.producers) == {0, 1, 2, 3, 4}
    assert stuck in consumer.paused
    await owner.close()
