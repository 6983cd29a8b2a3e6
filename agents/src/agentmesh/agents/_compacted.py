"""Reading a compacted, co-partitioned topic (journal, task state) back on assignment."""

from __future__ import annotations

import logging
from typing import TypeVar

from aiokafka import TopicPartition

from agentmesh.contracts import Codec, Contract, DecodeError
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer

__all__ = ["load_partition"]

M = TypeVar("M", bound=Contract)

log = logging.getLogger(__name__)


async def load_partition(
    conn: KafkaConnection, topic: str, partition: int, codec: Codec[M]
) -> dict[str, M]:
    """Every live record of one partition, by key (tombstones remove keys).

    Read committed only: writes of aborted steps never count. The journal stays small
    because committing a step tombstones its entries; task state because fan-ins clear it.
    """
    tp = TopicPartition(topic, partition)
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="journal"))
    await consumer.start()
    index: dict[str, M] = {}
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                key = record.key.decode() if record.key else ""
                if record.value is None:
                    index.pop(key, None)
                    continue
                try:
                    index[key] = await codec.decode(record.value)
                except DecodeError:
                    log.exception("skipping unreadable record %s@%d", tp, record.offset)
    finally:
        await consumer.stop()
    return index
