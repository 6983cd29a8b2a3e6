"""Idempotent topic creation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import for_code

from agentmesh.core.transport._clients import make_admin
from agentmesh.core.transport._connection import KafkaConnection

__all__ = ["TopicCreationError", "TopicSpec", "ensure_topics", "partition_count"]

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
    calling this on every start is safe. Returns once the topics it created show in the
    cluster's metadata with all their partitions: a consumer that subscribes before that is
    assigned nothing until its next metadata refresh (minutes), and a producer's first send
    waits for the metadata too.
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
        created = _created(response.topic_errors)
        sizes = {s.name: s.partitions for s in wanted if s.name in created}
        await _until_visible(admin, sizes, timeout_s=timeout_ms / 1000)
    finally:
        await admin.close()
    return created


async def _until_visible(admin: Any, sizes: dict[str, int], timeout_s: float) -> None:
    """Wait until every topic of ``sizes`` shows that many partitions (bounded: a slow
    broker's metadata only delays the first subscriptions, it does not fail the start)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    waiting = dict(sizes)
    while waiting and asyncio.get_running_loop().time() < deadline:
        for described in await admin.describe_topics(list(waiting)):
            if len(described["partitions"]) >= waiting.get(described["topic"], 0):
                waiting.pop(described["topic"], None)
        if waiting:
            await asyncio.sleep(0.1)


def _created(topic_errors: Iterable[tuple[object, ...]]) -> list[str]:
    """The topics a create request made; raises for any refusal but 'already exists'."""
    created: list[str] = []
    problems: list[str] = []
    for topic, code, *rest in topic_errors:
        if code == 0:
            created.append(str(topic))
        elif code != _TOPIC_ALREADY_EXISTS:
            message = rest[0] if rest and rest[0] else for_code(code).__name__
            problems.append(f"{topic}: {message}")
    if problems:
        raise TopicCreationError("could not create topics: " + "; ".join(problems))
    return created


async def partition_count(conn: KafkaConnection, topic: str, timeout_s: float = 10.0) -> int:
    """How many partitions ``topic`` has (0 if it does not exist).

    Metadata lags creation by a moment, so a topic that shows no partitions is asked again
    until ``timeout_s``.
    """
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
