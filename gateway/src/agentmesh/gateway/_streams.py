"""Kafka topics as Server-Sent Events, resumable from a Kafka position.

An event's id is the position to resume from: for a task's events the next offset in its
partition; for the audit stream the next offset of every partition (``p:o,p:o``), so a
client reconnecting with ``Last-Event-ID`` misses nothing and sees nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from agentmesh.contracts import AgentEvent, AuditRecord, Codec, DecodeError, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
    partition_for,
)

__all__ = ["audit_stream", "parse_positions", "task_stream"]


# Kafka's own bounds: a partition is an int32, an offset an int64. Past them a position is
# malformed, not merely far: aiokafka cannot encode the fetch and the stream would stall.
_MAX_PARTITION, _MAX_OFFSET = 2**31 - 1, 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")


def parse_positions(text: str | None) -> dict[int, int]:
    """``"0:12,3:40"`` → {0: 12, 3: 40}; anything malformed is ignored (start fresh),
    including partitions and offsets beyond what Kafka can hold."""
    out: dict[int, int] = {}
    for part in (text or "").split(","):
        p, _, o = part.partition(":")
        partition, offset = _number(p, _MAX_PARTITION), _number(o, _MAX_OFFSET)
        if partition is not None and offset is not None:
            out[partition] = offset
    return out


def _number(text: str, limit: int) -> int | None:
    """ASCII digits up to ``limit``, else None (``str.isdigit`` also takes "²", which
    ``int`` refuses, and ``int`` refuses over 4,300 digits)."""
    text = text.strip()
    if not _DIGITS.fullmatch(text) or len(text) > len(str(limit)):
        return None
    value = int(text)
    return value if value <= limit else None


async def task_stream(
    settings: Settings, registry: SchemaRegistry, task_id: str, last_event_id: str | None
) -> AsyncIterator[dict[str, Any]]:
    """The task's events from the start (or after ``last_event_id``), then live."""
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    codec = Codec(AgentEvent, Topics.subject(topics.events), registry)
    count = await partition_count(conn, topics.events, timeout_s=2.0)
    if count <= 0:
        return
    tp = TopicPartition(topics.events, partition_for(task_id.encode(), count))
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="sse-task"))
    await consumer.start()
    try:
        consumer.assign([tp])
        start = parse_positions(last_event_id).get(tp.partition)
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        key = task_id.encode()
        while True:
            for rec in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if rec.key != key or rec.value is None:
                    continue
                try:
                    event = await codec.decode(rec.value)
                except DecodeError:
                    continue
                yield {
                    "id": f"{tp.partition}:{rec.offset + 1}",
                    "event": event.body.kind,
                    "data": event.model_dump_json(),
                }
    finally:
        await consumer.stop()


async def audit_stream(
    settings: Settings,
    registry: SchemaRegistry,
    *,
    last_event_id: str | None,
    from_beginning: bool,
    since: datetime | None,
    keep: Callable[[AuditRecord], bool],
) -> AsyncIterator[dict[str, Any]]:
    """Audit records matching ``keep``; live from now unless told where to start.

    Where it starts is fixed before this returns (so before the response begins): a record
    appended after a client sees the response's headers is never missed.
    """
    topic = Topics(settings.namespace).audit
    conn = KafkaConnection.from_settings(settings)
    codec = Codec(AuditRecord, Topics.subject(topic), registry)
    count = await partition_count(conn, topic, timeout_s=2.0)
    tps = [TopicPartition(topic, p) for p in range(max(count, 0))]
    consumer = make_consumer(
        conn, options=ConsumerOptions(group_id=None, client_suffix="sse-audit")
    )
    positions: dict[int, int] = {}
    if tps:
        await consumer.start()
        consumer.assign(tps)
        await _seek_start(consumer, tps, parse_positions(last_event_id), since, from_beginning)
        positions = {tp.partition: await consumer.position(tp) for tp in tps}

    async def records() -> AsyncIterator[dict[str, Any]]:
        if not tps:
            return
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, found in batch.items():
                    for rec in found:
                        positions[tp.partition] = rec.offset + 1
                        if rec.value is None:
                            continue
                        try:
                            record = await codec.decode(rec.value)
                        except DecodeError:
                            continue
                        if keep(record):
                            yield {
                                "id": ",".join(f"{p}:{o}" for p, o in sorted(positions.items())),
                                "event": record.decision,
                                "data": record.model_dump_json(),
                            }
        finally:
            await consumer.stop()

    return records()


async def _seek_start(
    consumer: Any,
    tps: list[TopicPartition],
    resume: dict[int, int],
    since: datetime | None,
    from_beginning: bool,
) -> None:
    """Where a stream starts: a resumed position, a time, the beginning, or now."""
    if resume:
        for tp in tps:
            if tp.partition in resume:
                consumer.seek(tp, resume[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
    elif since is not None:
        stamp = int(since.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
    elif from_beginning:
        await consumer.seek_to_beginning(*tps)
    else:
        await consumer.seek_to_end(*tps)
