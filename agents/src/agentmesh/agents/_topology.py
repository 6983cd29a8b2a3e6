"""The topics an agent process needs, created if missing, with co-partitioned journal."""

from __future__ import annotations

from agentmesh.agents._mesh import Mesh
from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics, partition_count

__all__ = ["ensure_agent_topics"]

_COMPACT = {"cleanup.policy": "compact"}
_WEEK_MS = str(7 * 24 * 3600 * 1000)


async def ensure_agent_topics(
    conn: KafkaConnection,
    topics: Topics,
    mesh: Mesh,
    agent: str,
    *,
    settings: Settings,
    partitions: int,
    recordings_retention_ms: int = 7 * 24 * 3600 * 1000,
) -> None:
    """Create every inbox of the mesh, the shared topics, and this agent's journal and state.

    Journal and state must have exactly as many partitions as the inbox: a step writes them
    to the partition number of its input, and a worker reads back only its partitions.
    """
    rf = settings.replication_factor
    kept = {"retention.ms": str(recordings_retention_ms)}
    specs = [TopicSpec(topics.agent(name), partitions, rf) for name in mesh.agents]
    specs += [
        TopicSpec(topics.events, partitions, rf),
        TopicSpec(topics.dlq, partitions, rf),
        TopicSpec(topics.tasks, partitions, rf),
        TopicSpec(topics.control, 1, rf, _COMPACT),
        TopicSpec(topics.claims, partitions, rf, _COMPACT),
        TopicSpec(topics.review_requests, partitions, rf),
        # Kept for replay as long as the policy's recording.retention_days says.
        TopicSpec(topics.recordings, partitions, rf, kept),
    ]
    created = await ensure_topics(conn, specs)
    inbox = topics.agent(agent)
    # Just created: we know its size; metadata can lag creation for seconds on a cold broker.
    inbox_partitions = partitions if inbox in created else await _visible(conn, inbox)
    sides = {
        topics.agent_journal(agent): _COMPACT,
        topics.agent_state(agent): _COMPACT,
        # Compacted to the newest marker per input, and forgotten after a week: the window in
        # which a repeat of an input is recognised across restarts.
        topics.agent_done(agent): {"cleanup.policy": "compact,delete", "retention.ms": _WEEK_MS},
    }
    for side, config in sides.items():
        made = await ensure_topics(conn, [TopicSpec(side, inbox_partitions, rf, config)])
        side_partitions = inbox_partitions if side in made else await _visible(conn, side)
        if side_partitions != inbox_partitions:
            raise RuntimeError(
                f"{side} has {side_partitions} partitions but {topics.agent(agent)} has "
                f"{inbox_partitions}; they must match (add partitions to {side})"
            )


async def _visible(conn: KafkaConnection, topic: str) -> int:
    count = await partition_count(conn, topic, timeout_s=60.0)
    if count <= 0:
        raise RuntimeError(f"{topic} exists but shows no partitions in the cluster's metadata")
    return count
