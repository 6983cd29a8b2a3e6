"""The topics an agent process needs, created if missing, with co-partitioned journal."""

from __future__ import annotations

import asyncio

from agentmesh import Settings
from agentmesh.transport import KafkaConnection, TopicSpec, ensure_topics, make_admin
from agents._mesh import Mesh
from contracts import Topics

__all__ = ["ensure_agent_topics"]

_COMPACT = {"cleanup.policy": "compact"}


async def ensure_agent_topics(
    conn: KafkaConnection,
    topics: Topics,
    mesh: Mesh,
    agent: str,
    *,
    settings: Settings,
    partitions: int,
) -> None:
    """Create every inbox of the mesh, the shared topics, and this agent's journal.

    The journal must have exactly as many partitions as the inbox: a step's journal entries
    are written to the partition number of its input.
    """
    rf = settings.replication_factor
    specs = [TopicSpec(topics.agent(name), partitions, rf) for name in mesh.agents]
    specs += [
        TopicSpec(topics.events, partitions, rf),
        TopicSpec(topics.dlq, partitions, rf),
        TopicSpec(topics.tasks, partitions, rf),
        TopicSpec(topics.control, 1, rf, _COMPACT),
    ]
    await ensure_topics(conn, specs)
    inbox_partitions = await _partition_count(conn, topics.agent(agent))
    journal = topics.agent_journal(agent)
    await ensure_topics(conn, [TopicSpec(journal, inbox_partitions, rf, _COMPACT)])
    journal_partitions = await _partition_count(conn, journal)
    if journal_partitions != inbox_partitions:
        raise RuntimeError(
            f"{journal} has {journal_partitions} partitions but {topics.agent(agent)} has "
            f"{inbox_partitions}; they must match (add partitions to the journal topic)"
        )


async def _partition_count(conn: KafkaConnection, topic: str, timeout_s: float = 10.0) -> int:
    # Metadata lags creation by a moment: a just-created topic may show no partitions yet.
    admin = make_admin(conn)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            (described,) = await admin.describe_topics([topic])
            count = len(described["partitions"])
            if count or asyncio.get_running_loop().time() > deadline:
                return count
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
