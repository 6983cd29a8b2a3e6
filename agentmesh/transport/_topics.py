"""Idempotent topic creation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import NewTopic
from aiokafka.errors import for_code

from agentmesh.transport._clients import make_admin
from agentmesh.transport._connection import KafkaConnection

__all__ = ["TopicCreationError", "TopicSpec", "ensure_topics"]

_TOPIC_ALREADY_EXISTS = 36
_DEFAULT_RF = 3


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic agentmesh needs: name, partitioning and topic-level config."""

    name: str
    partitions: int = 6
    replication_factor: int | None = None  # None: 3, or every broker when there are fewer
    config: Mapping[str, str] = field(default_factory=dict)


class TopicCreationError(RuntimeError):
    """The broker refused to create a topic (not counting 'already exists')."""


async def ensure_topics(
    conn: KafkaConnection, specs: Iterable[TopicSpec], timeout_ms: int = 30_000
) -> list[str]:
    """Create the topics that do not exist yet; return the names actually created.

    Topics that already exist are left as they are, whatever their partition count, so
    calling this on every start is safe.
    """
    wanted = list(specs)
    if not wanted:
        return []
    admin = make_admin(conn)
    await admin.start()
    try:
        default_rf = min(_DEFAULT_RF, len((await admin.describe_cluster())["brokers"]))
        response = await admin.create_topics(
            [
                NewTopic(
                    s.name,
                    s.partitions,
                    s.replication_factor or default_rf,
                    topic_configs=dict(s.config),
                )
                for s in wanted
            ],
            timeout_ms=timeout_ms,
        )
    finally:
        await admin.close()
    created: list[str] = []
    problems: list[str] = []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            message = rest[0] if rest and rest[0] else for_code(code).__name__
            problems.append(f"{topic}: {message}")
    if problems:
        raise TopicCreationError("could not create topics: " + "; ".join(problems))
    return created
