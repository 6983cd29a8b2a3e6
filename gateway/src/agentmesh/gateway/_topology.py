"""The topics the gateway reads and writes, created if missing (co-partitioned by task)."""

from __future__ import annotations

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.policy import load_policy
from agentmesh.core.topics import SERVICE_CREATES, TopicCatalog, resolve_replication_factor
from agentmesh.core.transport import KafkaConnection, ensure_topics, partition_count

__all__ = ["ensure_gateway_topics"]


async def ensure_gateway_topics(settings: Settings) -> None:
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    rf = await resolve_replication_factor(conn, settings)
    found = await partition_count(conn, topics.events, timeout_s=0.5)
    n = found if found > 0 else settings.topic_partitions
    # The policy decides the audit topic's retention, should the gateway be first to make it.
    catalog = TopicCatalog(settings, load_policy(settings.policy), rf, n)
    await ensure_topics(conn, [m.spec() for m in catalog.of_kind(*SERVICE_CREATES)])
