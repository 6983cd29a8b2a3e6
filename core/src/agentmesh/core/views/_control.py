"""Writing and reading ``<ns>.control``: the kill switch, pauses and breakers people see."""

from __future__ import annotations

from agentmesh.contracts import Codec, ControlCommand, SchemaRegistry, Topics
from agentmesh.core._settings import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.topics import TopicCatalog, resolve_replication_factor
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ensure_topics,
    make_consumer,
    make_producer,
)

__all__ = ["live_rules", "publish_control"]


async def publish_control(settings: Settings, command: ControlCommand) -> None:
    """Write one control record; every agent instance obeys it before its next call."""
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    rf = await resolve_replication_factor(conn, settings)
    # Control's configuration depends on no policy; the defaults stand in for the file.
    await ensure_topics(
        conn, [m.spec() for m in TopicCatalog(settings, Policy(), rf).of_kind("control")]
    )
    registry = SchemaRegistry(settings.registry_url)
    try:
        codec = Codec(ControlCommand, Topics.subject(topics.control), registry)
        await codec.register()
        producer = make_producer(conn)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.control, codec.encode(command), key=command.key.encode()
            )
        finally:
            await producer.stop()
    finally:
        await registry.close()


async def live_rules(settings: Settings) -> dict[str, ControlCommand]:
    """The rule in force for every target (last record per key; lifted ones left out)."""
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(ControlCommand, Topics.subject(topics.control), registry)
    consumer = make_consumer(conn, topics.control, options=ConsumerOptions(client_suffix="rules"))
    await consumer.start()
    rules: dict[str, ControlCommand] = {}
    try:
        partitions = consumer.assignment()
        for _ in range(50):
            if partitions:
                break
            await consumer.getmany(timeout_ms=100)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions)) if partitions else {}
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    key = rec.key.decode() if rec.key else ""
                    if rec.value is None:
                        rules.pop(key, None)
                        continue
                    command = await codec.decode(rec.value)
                    if command.action in ("resume", "breaker_closed"):
                        rules.pop(key, None)
                    else:
                        rules[key] = command
    finally:
        await consumer.stop()
        await registry.close()
    return rules
