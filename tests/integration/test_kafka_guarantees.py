"""aiokafka 0.14 against the local Kafka 4.1 broker, through agentmesh's client seam.

These are the guarantees everything else builds on: consumer groups with manual commits,
idempotent acks=all producers, consume-transform-produce transactions with
send_offsets_to_transaction, read_committed isolation and transactional-id fencing.
"""

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced

from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    TopicSpec,
    ensure_topics,
    make_consumer,
    make_producer,
)
from tests.kafka_helpers import drain, eventually, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("cluster")]


async def test_ensure_topics_is_idempotent(conn: KafkaConnection, namespace: str) -> None:
    specs = [TopicSpec(f"{namespace}.a", partitions=3), TopicSpec(f"{namespace}.b", partitions=1)]
    assert sorted(await ensure_topics(conn, specs)) == [f"{namespace}.a", f"{namespace}.b"]
    assert await ensure_topics(conn, specs) == []


async def test_group_consumer_resumes_from_its_manual_commit(
    conn: KafkaConnection, namespace: str
) -> None:
    topic = f"{namespace}.plain"
    await ensure_topics(conn, [TopicSpec(topic, partitions=3)])
    producer = make_producer(conn)
    await producer.start()
    try:
        for i in range(30):
            await producer.send(topic, f"m{i}".encode(), key=str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()

    options = ConsumerOptions(group_id=f"{namespace}-g")
    first = make_consumer(conn, topic, options=options)
    await first.start()
    try:
        got = await drain(first, 30)
        await first.commit()
    finally:
        await first.stop()
    assert sorted(r.value for r in got) == sorted(f"m{i}".encode() for i in range(30))

    second = make_consumer(conn, topic, options=options)
    await second.start()
    try:
        assert await drain(second, None, timeout=3) == []
    finally:
        await second.stop()


async def test_idempotent_producer_writes_each_record_once_in_order(
    conn: KafkaConnection, namespace: str
) -> None:
    topic = f"{namespace}.idem"
    await ensure_topics(conn, [TopicSpec(topic, partitions=1)])
    producer = make_producer(conn)
    await producer.start()
    try:
        offsets = [(await (await producer.send(topic, f"i{i}".encode()))).offset for i in range(50)]
    finally:
        await producer.stop()
    assert offsets == list(range(50))
    assert await read_all(conn, topic, 50) == [f"i{i}".encode() for i in range(50)]


async def test_consume_transform_produce_commits_offsets_with_output(
    conn: KafkaConnection, namespace: str
) -> None:
    src, dst, group = f"{namespace}.src", f"{namespace}.dst", f"{namespace}-worker"
    await ensure_topics(conn, [TopicSpec(src, partitions=1), TopicSpec(dst, partitions=1)])
    plain = make_producer(conn)
    await plain.start()
    for i in range(5):
        await plain.send(src, f"a{i}".encode())
    await plain.stop()

    consumer = make_consumer(conn, src, options=ConsumerOptions(group_id=group))
    txn = make_producer(conn, ProducerOptions(transactional_id=f"{namespace}-tx"))
    await consumer.start()
    await txn.start()
    try:
        inputs = await drain(consumer, 5)
        async with txn.transaction():
            for record in inputs:
                assert record.value is not None
                await txn.send(dst, record.value.upper())
            await txn.send_offsets_to_transaction(
                {TopicPartition(src, 0): inputs[-1].offset + 1}, group
            )
        # EndTxn returns before the coordinator writes the commit markers, and aiokafka's
        # OffsetFetch has no require_stable flag: the offset becomes visible a moment later.
        assert await eventually(lambda: consumer.committed(TopicPartition(src, 0)), 5)
    finally:
        await txn.stop()
        await consumer.stop()
    assert await read_all(conn, dst, 5) == [f"A{i}".encode() for i in range(5)]


async def test_read_committed_hides_aborted_and_open_transactions(
    conn: KafkaConnection, namespace: str
) -> None:
    topic = f"{namespace}.rc"
    await ensure_topics(conn, [TopicSpec(topic, partitions=1)])
    txn = make_producer(conn, ProducerOptions(transactional_id=f"{namespace}-rc"))
    await txn.start()
    try:
        await txn.begin_transaction()
        await txn.send(topic, b"aborted")
        await txn.abort_transaction()
        async with txn.transaction():
            await txn.send(topic, b"committed")
        await txn.begin_transaction()
        await (await txn.send(topic, b"still-open"))
        assert await read_all(conn, topic, None, timeout=3) == [b"committed"]
        await txn.commit_transaction()
    finally:
        await txn.stop()
    assert await read_all(conn, topic, 2) == [b"committed", b"still-open"]


async def test_a_second_producer_with_the_same_transactional_id_fences_the_first(
    conn: KafkaConnection, namespace: str
) -> None:
    topic = f"{namespace}.fence"
    await ensure_topics(conn, [TopicSpec(topic, partitions=1)])
    options = ProducerOptions(transactional_id=f"{namespace}-fence")
    zombie, successor = make_producer(conn, options), make_producer(conn, options)
    await zombie.start()
    try:
        await zombie.begin_transaction()
        await (await zombie.send(topic, b"from-zombie"))
        await successor.start()  # InitProducerId bumps the epoch and aborts the zombie's txn
        async with successor.transaction():
            await successor.send(topic, b"from-successor")
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()
    finally:
        await zombie.stop()
        await successor.stop()
    assert await read_all(conn, topic, 1) == [b"from-successor"]
