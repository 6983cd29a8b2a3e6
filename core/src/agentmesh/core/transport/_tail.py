"""Reading the records of every partition of a topic as it is now (all, or the newest), once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiokafka import TopicPartition

from agentmesh.core.transport._clients import make_consumer
from agentmesh.core.transport._connection import KafkaConnection
from agentmesh.core.transport._options import ConsumerOptions
from agentmesh.core.transport._topics import partition_count

__all__ = ["read_tail"]


async def read_tail(
    conn: KafkaConnection,
    topic: str,
    per_partition: int | None = None,
    *,
    client_suffix: str = "tail",
) -> AsyncIterator[Any]:
    """The last ``per_partition`` records of each partition (all of them when None) as it is
    now, partition by partition in offset order; tombstones included. Nothing if the topic
    does not exist. Read committed, never joining a group."""
    count = await partition_count(conn, topic, timeout_s=1.0)
    if count <= 0:
        return
    tps = [TopicPartition(topic, p) for p in range(count)]
    consumer = make_consumer(
        conn, options=ConsumerOptions(group_id=None, client_suffix=client_suffix)
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        for tp in tps:
            newest = begins[tp] if per_partition is None else ends[tp] - per_partition
            consumer.seek(tp, max(begins[tp], newest))
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    yield rec
    finally:
        await consumer.stop()
