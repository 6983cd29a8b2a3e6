"""Reading the newest dead letters of a namespace."""

from __future__ import annotations

from aiokafka import TopicPartition

from agentmesh._settings import Settings
from agentmesh.transport import ConsumerOptions, KafkaConnection, make_consumer, partition_count
from contracts import Codec, DeadLetter, DecodeError, Topics

__all__ = ["recent_dead_letters"]


async def recent_dead_letters(
    settings: Settings, codec: Codec[DeadLetter], *, limit: int, task_id: str | None
) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, newest first (the last ``limit`` of each partition)."""
    topic = Topics(settings.namespace).dlq
    conn = KafkaConnection.from_settings(settings)
    count = await partition_count(conn, topic, timeout_s=2.0)
    if count <= 0:
        return []
    tps = [TopicPartition(topic, p) for p in range(count)]
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="dlq"))
    await consumer.start()
    out: list[DeadLetter] = []
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begins[tp], ends[tp] - limit))
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    if rec.value is None:
                        continue
                    try:
                        letter = await codec.decode(rec.value)
                    except DecodeError:
                        continue
                    if task_id is None or letter.task_id == task_id:
                        out.append(letter)
    finally:
        await consumer.stop()
    out.sort(key=lambda d: d.failed_at, reverse=True)
    return out[:limit]
