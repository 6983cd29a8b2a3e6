"""Reading the audit topic back and checking every partition's hash chain."""

from __future__ import annotations

from aiokafka import TopicPartition

from agentmesh.contracts import AuditRecord, Codec, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer

__all__ = ["read_chains"]


async def read_chains(
    conn: KafkaConnection, settings: Settings
) -> dict[int, list[tuple[int, AuditRecord]]]:
    """Every audit record, by partition, with its offset, up to the current end."""
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
        if not tps:
            return {}
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        chains: dict[int, list[tuple[int, AuditRecord]]] = {tp.partition: [] for tp in tps}
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for rec in batch.get(tp, []):
                    chains[tp.partition].append((rec.offset, await codec.decode(rec.value)))
        return {p: c for p, c in chains.items() if c}
    finally:
        await consumer.stop()
        await registry.close()
