"""Reading an agent's journal partition back after a (re)assignment."""

from __future__ import annotations

import logging

from aiokafka import TopicPartition

from agentmesh.transport import ConsumerOptions, KafkaConnection, make_consumer
from contracts import Codec, DecodeError, JournalEntry

__all__ = ["load_journal_partition"]

log = logging.getLogger(__name__)


async def load_journal_partition(
    conn: KafkaConnection, topic: str, partition: int, codec: Codec[JournalEntry]
) -> dict[str, JournalEntry]:
    """Every live entry of one journal partition, by key (tombstones remove keys).

    Only calls of steps that have not committed are live: committing a step tombstones
    its entries, so this stays small whatever the topic's age.
    """
    tp = TopicPartition(topic, partition)
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="journal"))
    await consumer.start()
    index: dict[str, JournalEntry] = {}
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
                    log.exception("skipping unreadable journal record %s@%d", tp, record.offset)
    finally:
        await consumer.stop()
    return index
