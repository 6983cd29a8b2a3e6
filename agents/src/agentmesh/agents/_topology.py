"""The topics an agent process needs, created if missing, with co-partitioned journal."""

from __future__ import annotations

from agentmesh.agents._mesh import Mesh
from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.policy import Policy, RecordingPolicy
from agentmesh.core.topics import AGENT_CREATES, TopicCatalog, resolve_replication_factor
from agentmesh.core.transport import KafkaConnection, ensure_topics, partition_count

__all__ = ["ensure_agent_topics"]


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
    rf = await resolve_replication_factor(conn, settings)
    # Recordings are kept for replay as long as the policy's recording.retention_days says.
    days = recordings_retention_ms / 86_400_000
    policy = Policy(recording=RecordingPolicy(retention_days=days))
    catalog = TopicCatalog(settings, policy, rf, partitions)
    specs = [catalog.inbox(name).spec() for name in mesh.agents]
    specs += [m.spec() for m in catalog.of_kind(*AGENT_CREATES)]
    created = await ensure_topics(conn, specs)
    inbox = topics.agent(agent)
    # Just created: ensure_topics waited until the metadata shows it, at the size asked for.
    inbox_partitions = partitions if inbox in created else await _visible(conn, inbox)
    for spec in (m.spec() for m in catalog.agent_sides(agent, inbox_partitions)):
        side = spec.name
        made = await ensure_topics(conn, [spec])
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
