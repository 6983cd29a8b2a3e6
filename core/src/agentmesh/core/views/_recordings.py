"""A task's recordings, read from ``<ns>.recordings``: its steps' inputs and calls.

Agents write a step's recordings in the step's transaction, keyed by task id, so reading the
task's partition to its end (read_committed) gives every committed recording of the task. A
recording too large for one message arrived as a claim ticket; it is reassembled from
``<ns>.claims`` here. A step parked for review and released later runs again and records
again under the same ids: the newest recording of an id is the one returned.
"""

from __future__ import annotations

import hashlib
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from agentmesh.contracts import (
    CLAIM_HEADER,
    ClaimChunk,
    ClaimTicket,
    Codec,
    DecodeError,
    Recording,
    SchemaRegistry,
    Topics,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
    partition_for,
)

__all__ = ["read_recordings"]


async def read_recordings(
    settings: Settings, task_id: str, *, timeout_s: float = 10.0
) -> list[Recording]:
    """Every committed recording of the task, in the order written (one per id)."""
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    count = await partition_count(conn, topics.recordings, timeout_s=2.0)
    if not count:
        return []
    registry = SchemaRegistry(settings.registry_url)
    codecs = _Codecs(topics, registry)
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="recs"))
    await consumer.start()
    try:
        tp = TopicPartition(topics.recordings, partition_for(task_id.encode(), count))
        raw = await _records_of(consumer, tp, task_id.encode(), timeout_s)
        found: dict[str, Recording] = {}
        for value, claimed in raw:
            whole = await _resolve(consumer, topics.claims, codecs, value) if claimed else value
            try:
                rec = await codecs.recording.decode(whole)
            except DecodeError:
                continue  # not ours to show; `agentmesh tail` shows raw records
            found.pop(rec.recording_id, None)
            found[rec.recording_id] = rec
        return list(found.values())
    finally:
        await consumer.stop()
        await registry.close()


class _Codecs:
    def __init__(self, topics: Topics, registry: SchemaRegistry) -> None:
        self.recording = Codec(Recording, Topics.subject(topics.recordings), registry)
        self.ticket = Codec(ClaimTicket, f"{topics.claims}.ticket-value", registry)
        self.chunk = Codec(ClaimChunk, Topics.subject(topics.claims), registry)


async def _records_of(
    consumer: AIOKafkaConsumer, tp: TopicPartition, key: bytes, timeout_s: float
) -> list[tuple[bytes, bool]]:
    """(value, claim-checked) of the partition's records with ``key``, up to its end now."""
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    end = (await consumer.end_offsets([tp]))[tp]
    deadline = time.monotonic() + timeout_s
    out: list[tuple[bytes, bool]] = []
    while await consumer.position(tp) < end and time.monotonic() < deadline:
        for record in (await consumer.getmany(tp, timeout_ms=200)).get(tp, []):
            if record.key == key and record.value is not None:
                claimed = any(k == CLAIM_HEADER for k, _ in record.headers or ())
                out.append((record.value, claimed))
    return out


async def _resolve(consumer: AIOKafkaConsumer, topic: str, codecs: _Codecs, value: bytes) -> bytes:
    """The bytes behind a claim ticket, checked against its hash (the task's records are
    read already: the consumer is free to move)."""
    ticket = await codecs.ticket.decode(value)
    parts = []
    for index, ref in enumerate(ticket.chunks):
        key = f"{ticket.sha256}/{index}".encode()
        parts.append(await _chunk(consumer, TopicPartition(topic, ref.partition), ref.offset, key))
    whole = b"".join([(await codecs.chunk.decode(p)).data for p in parts])
    if hashlib.sha256(whole).hexdigest() != ticket.sha256:
        raise DecodeError(f"claim {ticket.sha256[:12]}: chunks do not match the ticket")
    return whole


async def _chunk(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, key: bytes) -> bytes:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    # Compaction may have replaced the copy at this offset by a later one with the same key.
    while True:
        records = (await consumer.getmany(tp, timeout_ms=2000)).get(tp, [])
        if not records:
            raise DecodeError(f"claim chunk {key.decode()} is not in {tp.topic} after {offset}")
        for record in records:
            if record.key == key and record.value is not None:
                value: bytes = record.value
                return value
