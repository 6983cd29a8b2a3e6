"""The topics the gateway reads and writes, created if missing (co-partitioned by task)."""

from __future__ import annotations

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics, partition_count

__all__ = ["ensure_gateway_topics"]

DEFAULT_PARTITIONS = 6


async def ensure_gateway_topics(settings: Settings) -> None:
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    rf = settings.replication_factor
    found = await partition_count(conn, topics.events, timeout_s=0.5)
    n = found if found > 0 else DEFAULT_PARTITIONS
    keyed = (topics.tasks, topics.events, topics.review_requests, topics.review_decisions)
    await ensure_topics(
        conn,
        [
            *(TopicSpec(t, n, rf) for t in keyed),
            TopicSpec(topics.dlq, n, rf),
            TopicSpec(topics.audit, n, rf),
            TopicSpec(topics.control, 1, rf, {"cleanup.policy": "compact"}),
        ],
    )
