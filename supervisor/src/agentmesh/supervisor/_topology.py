"""The supervisor's topics: the mesh's shared ones it reads, and its own internal ones."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.topics import (
    APPLY_COMMAND,
    SERVICE_CREATES,
    Inspection,
    TopicCatalog,
    audit_expiry,
    compare,
    describe_topics,
    resolve_replication_factor,
)
from agentmesh.core.transport import KafkaConnection, ensure_topics, partition_count

__all__ = [
    "DEFAULT_PARTITIONS",
    "AuditTopicExpires",
    "SupervisorTopics",
    "check_audit_topic",
    "ensure_supervisor_topics",
]

DEFAULT_PARTITIONS = 6


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
    conn: KafkaConnection,
    settings: Settings,
    *,
    partitions: int | None = None,
    policy: Policy | None = None,
) -> Layout:
    """Create what is missing; check that everything keyed by task id is co-partitioned.

    faust tables are partitioned like their source topics, so tasks, events, review
    requests and decisions, and the supervisor's ticks must all have the same count.
    ``policy`` sets the audit topic's retention when it is created here.
    """
    topics = Topics(settings.namespace)
    names = SupervisorTopics(topics)
    rf = await resolve_replication_factor(conn, settings)
    existing = await partition_count(conn, topics.events, timeout_s=0.5)
    n = existing if existing > 0 else partitions or settings.topic_partitions
    catalog = TopicCatalog(settings, policy or Policy(), rf, n)
    keyed = [
        topics.tasks,
        topics.events,
        topics.review_requests,
        topics.review_decisions,
        names.ticks,
    ]
    # The changelogs and faust's leader topic too, so they get the catalog's configs
    # (min.insync.replicas) rather than the ones faust would declare.
    specs = [m.spec() for m in catalog.of_kind(*SERVICE_CREATES, "supervisor_internal")]
    specs += [m.spec() for m in catalog.of_kind("supervisor_changelog")]
    await ensure_topics(conn, specs)
    for t in keyed:
        count = await partition_count(conn, t, timeout_s=60.0)
        if count != n:
            raise RuntimeError(
                f"{t} has {count} partitions but {topics.events} has {n}; the supervisor joins "
                f"them by task id, so they must match (add partitions to the smaller ones)"
            )
    audit_n = await partition_count(conn, topics.audit, timeout_s=60.0)
    sized = TopicCatalog(settings, policy or Policy(), rf, n, audit_n)
    await ensure_topics(conn, [m.spec() for m in sized.of_kind("audit_intents")])
    return Layout(n, audit_n, rf)


class AuditTopicExpires(RuntimeError):
    """The audit topic would delete records by time or size: the trail would lose its head."""


async def check_audit_topic(conn: KafkaConnection, settings: Settings, policy: Policy) -> None:
    """Refuse an audit topic that would expire (shorter retention than the policy's, any size
    limit, or compaction), naming the topic, what it keeps and the command that fixes it."""
    rf = await resolve_replication_factor(conn, settings)
    audit = TopicCatalog(settings, policy, rf).audit()
    found = await describe_topics(conn, [audit.name])
    for _ in range(20):  # another broker may learn of a topic just created a moment later
        if audit.name in found:
            break
        await asyncio.sleep(0.5)
        found = await describe_topics(conn, [audit.name])
    if audit.name not in found:
        raise AuditTopicExpires(f"{audit.name} does not exist; run `{APPLY_COMMAND}`")
    # Partition counts are not the question here: compare the configs alone.
    state = found[audit.name]
    differences = compare([replace(audit, partitions=state.partitions)], found, settings.bootstrap)
    problems = audit_expiry(Inspection([audit], found, differences))
    if not problems:
        return
    kept = state.configs
    raise AuditTopicExpires(
        f"refusing to start: the audit topic {audit.name} would lose records: it keeps them "
        f"{_for(kept.get('retention.ms'))} (retention.ms={kept.get('retention.ms')}, "
        f"retention.bytes={kept.get('retention.bytes')}, "
        f"cleanup.policy={kept.get('cleanup.policy')}) but must keep them "
        f"{_for(audit.configs['retention.ms'])} with no size limit and no compaction. "
        f"Fix: `{APPLY_COMMAND}`, or {' && '.join(p.fix for p in problems)}"
    )


def _for(retention_ms: str | None) -> str:
    if retention_ms is None or int(retention_ms) < 0:
        return "forever"
    return f"for {int(retention_ms) / 86_400_000:g} days"
