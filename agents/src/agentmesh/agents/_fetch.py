"""Reading one record back by its coordinates (context references, claim-check chunks)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer

__all__ = ["NotYetStable", "RecordFetcher", "format_coordinates", "parse_coordinates"]


def format_coordinates(topic: str, partition: int, offset: int) -> str:
    """``topic@partition:offset``: how a context reference names a record."""
    return f"{topic}@{partition}:{offset}"


def parse_coordinates(ref: str) -> tuple[str, int, int]:
    """The inverse of :func:`format_coordinates` (ValueError on anything else)."""
    topic, _, rest = ref.rpartition("@")
    partition, _, offset = rest.partition(":")
    if not topic or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{ref!r} is not a record reference 'topic@partition:offset'")
    return topic, int(partition), int(offset)


class NotYetStable(RuntimeError):
    """The record asked for is at or past its partition's last stable offset: not readable yet.

    A transaction's commit returns once the coordinator decided it; the markers that make
    its records readable reach each partition after that, one partition at a time. A record
    referred to from another partition (a claim-check ticket's chunks, a context reference)
    can therefore be committed and still below no stable offset for a moment (longer on a
    loaded broker), or held back by another open transaction on the same partition. Worth
    trying again; never evidence that the record is missing.
    """


class RecordFetcher:
    """One consumer (no group, read_committed) that reads single records on demand."""

    def __init__(self, conn: KafkaConnection, client_suffix: str = "fetch") -> None:
        self.conn = conn
        self.client_suffix = client_suffix
        self._consumer: AIOKafkaConsumer | None = None
        # One consumer serves concurrent partitions' steps: assign/seek must not interleave.
        self._lock = asyncio.Lock()

    async def first_from(
        self, topic: str, partition: int, offset: int, key: bytes | None = None
    ) -> tuple[int, bytes | None] | None:
        """The first record at or after ``offset`` (with ``key``, when given): (offset, value).

        Scanning forward covers compaction having replaced a record by a later one with the
        same key, and transaction markers occupying offsets. None means the partition was read
        from ``offset`` to its stable end without finding it; :class:`NotYetStable` that the
        stable end has not reached ``offset`` yet.
        """
        async with self._lock:
            return await self._first_from(topic, partition, offset, key)

    async def _first_from(
        self, topic: str, partition: int, offset: int, key: bytes | None
    ) -> tuple[int, bytes | None] | None:
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        end = (await consumer.end_offsets([tp]))[tp]
        if offset >= end:
            # Decided from the same end the scan would stop at: asking for the stable offset
            # again later could find it moved past ``offset`` and call the record missing.
            raise NotYetStable(f"{topic}@{partition}:{offset} is not below its stable end {end}")
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.offset >= offset and (key is None or record.key == key):
                    return record.offset, record.value
        return None

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            options = ConsumerOptions(group_id=None, client_suffix=self.client_suffix)
            self._consumer = make_consumer(self.conn, options=options)
            await self._consumer.start()
        return self._consumer
