"""The supervisor's topics: the mesh's shared ones it reads, and its own internal ones."""

from __future__ import annotations

from dataclasses import dataclass

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    KafkaConnection,
    TopicSpec,
    ensure_topics,
    make_admin,
    partition_count,
)

__all__ = ["DEFAULT_PARTITIONS", "SupervisorTopics", "ensure_supervisor_topics"]

DEFAULT_PARTITIONS = 6
_COMPACT = {"cleanup.policy": "compact"}


@dataclass(frozen=True, slots=True)
class SupervisorTopics:
    topics: Topics

    @property
    def app_id(self) -> str:
        """faust's app id: the consumer group and the prefix of its changelog topics."""
        return f"{self.topics.namespace}.supervisor"

    @property
    def ticks(self) -> str:
        return f"{self.topics.namespace}.supervisor.ticks"

    @property
    def signals(self) -> str:
        return f"{self.topics.namespace}.supervisor.signals"

    @property
    def audit_intents(self) -> str:
        return self.topics.audit_intents


@dataclass(frozen=True, slots=True)
class Layout:
    partitions: int
    audit_partitions: int
    replication_factor: int


async def ensure_supervisor_topics(
    conn: KafkaConnection, settings: Settings, *, partitions: int = DEFAULT_PARTITIONS
) -> Layout:
    """Create what is missing; check that everything keyed by task id is co-partitioned.

    faust tables are partitioned like their source topics, so tasks, events, review
    requests and decisions, and the supervisor's ticks must all have the same count.
    """
    topics = Topics(settings.namespace)
    names = SupervisorTopics(topics)
    rf = settings.replication_factor
    existing = await partition_count(conn, topics.events, timeout_s=0.5)
    n = existing if existing > 0 else partitions
    keyed = [
        topics.tasks,
        topics.events,
        topics.review_requests,
        topics.review_decisions,
        names.ticks,
    ]
    await ensure_topics(
        conn,
        [
            *(TopicSpec(t, n, rf) for t in keyed),
            TopicSpec(topics.dlq, n, rf),
            TopicSpec(topics.audit, n, rf),
            TopicSpec(names.signals, n, rf),
            TopicSpec(topics.control, 1, rf, _COMPACT),
        ],
    )
    for t in keyed:
        count = await partition_count(conn, t, timeout_s=60.0)
        if count != n:
            raise RuntimeError(
                f"{t} has {count} partitions but {topics.events} has {n}; the supervisor joins "
                f"them by task id, so they must match (add partitions to the smaller ones)"
            )
    audit_n = await partition_count(conn, topics.audit, timeout_s=60.0)
    await ensure_topics(conn, [TopicSpec(names.audit_intents, audit_n, rf)])
    return Layout(n, audit_n, rf or await _brokers(conn))


async def _brokers(conn: KafkaConnection) -> int:
    admin = make_admin(conn)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        return min(3, len(cluster["brokers"]))
    finally:
        await admin.close()
