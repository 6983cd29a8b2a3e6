"""Reading the audit topic back: every partition's chain, whole or for a time range."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentmesh.contracts import AuditRecord, Codec, DecodeError, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer
from agentmesh.supervisor._audit_check import Link, PartitionReport, check_partition

__all__ = ["StoredRecord", "check_topic", "read_chains", "scan_audit"]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record of the audit topic as stored: decoded, or the reason it could not be."""

    partition: int
    offset: int
    timestamp_ms: int
    record: AuditRecord | None
    raw: bytes | None = None  # kept when it could not be decoded
    error: str | None = None


async def scan_audit(
    conn: KafkaConnection,
    settings: Settings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    partitions: Callable[[list[int]], None] | None = None,
) -> AsyncIterator[StoredRecord]:
    """Every audit record, partition by partition in offset order, up to the current end.

    ``since``/``until`` select by the time Kafka stored each record (its timestamp, set when
    the supervisor wrote it). ``partitions`` is told which partitions the topic has.
    """
    topic = Topics(settings.namespace).audit
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AuditRecord, Topics.subject(topic), registry)
    consumer = make_consumer(
        conn, options=ConsumerOptions(group_id=None, client_suffix="audit-verify")
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if partitions is not None:
            partitions([tp.partition for tp in tps])
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        if since is not None:
            starts = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            for tp in tps:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
        until_ms = None if until is None else int(until.timestamp() * 1000)
        for tp in tps:
            done = False
            while not done and await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for rec in batch.get(tp, []):
                    late = until_ms is not None and rec.timestamp > until_ms
                    if rec.offset >= ends[tp] or late:
                        done = True
                        break
                    yield await _decoded(codec, rec)
    finally:
        await consumer.stop()
        await registry.close()


async def _decoded(codec: Codec[AuditRecord], rec: Any) -> StoredRecord:
    partition, offset, ts, value = rec.partition, rec.offset, rec.timestamp, rec.value
    if value is None:
        return StoredRecord(partition, offset, ts, None, None, "no value (a tombstone)")
    try:
        return StoredRecord(partition, offset, ts, await codec.decode(value))
    except DecodeError as exc:
        return StoredRecord(partition, offset, ts, None, value, str(exc))


async def read_chains(
    conn: KafkaConnection, settings: Settings
) -> dict[int, list[tuple[int, AuditRecord]]]:
    """Every audit record that can be decoded, by partition, with its offset."""
    chains: dict[int, list[tuple[int, AuditRecord]]] = {}
    async for stored in scan_audit(conn, settings):
        if stored.record is not None:
            chains.setdefault(stored.partition, []).append((stored.offset, stored.record))
    return chains


async def check_topic(
    conn: KafkaConnection, settings: Settings, keys: Mapping[str, Ed25519PublicKey] | None
) -> list[PartitionReport]:
    """Check every partition of ``<ns>.audit`` as it is now (see ``check_partition``)."""
    links: dict[int, list[Link]] = {}
    async for stored in scan_audit(conn, settings, partitions=lambda ps: None):
        part = links.setdefault(stored.partition, [])
        if stored.record is None:
            part.append(Link.unreadable(stored.offset, stored.error or "unreadable"))
        else:
            part.append(Link.of(stored.offset, stored.record))
    return [check_partition(p, chain, keys=keys) for p, chain in sorted(links.items())]
