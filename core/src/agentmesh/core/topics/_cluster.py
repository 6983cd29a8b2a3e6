"""What a cluster's topics look like: replication, partitions and topic-level configs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from agentmesh.core._settings import Settings
from agentmesh.core.transport import KafkaConnection, make_admin

__all__ = [
    "TopicState",
    "add_partitions",
    "alter_topic_configs",
    "describe_topics",
    "resolve_replication_factor",
]

_DEFAULT_RF = 3
_UNKNOWN_TOPIC = 3
# DescribeConfigs v1+: where a value comes from; 1 is a topic's own (dynamic) config.
_DYNAMIC_TOPIC_CONFIG = 1


@dataclass(frozen=True, slots=True)
class TopicState:
    """An existing topic: its partition count and its effective topic-level configs."""

    name: str
    partitions: int
    configs: Mapping[str, str]  # every config's value in effect (own or broker default)
    overrides: Mapping[str, str]  # the topic's own configs (what AlterConfigs replaces)


async def resolve_replication_factor(conn: KafkaConnection, settings: Settings) -> int:
    """The replication of new topics: the setting, else 3, or every broker when fewer."""
    if settings.replication_factor is not None:
        return settings.replication_factor
    admin = make_admin(conn)
    await admin.start()
    try:
        return min(_DEFAULT_RF, len((await admin.describe_cluster())["brokers"]))
    finally:
        await admin.close()


async def describe_topics(conn: KafkaConnection, names: Iterable[str]) -> dict[str, TopicState]:
    """The topics among ``names`` that exist, with their partitions and configs."""
    wanted = sorted(set(names))
    admin = make_admin(conn)
    await admin.start()
    try:
        existing = set(await admin.list_topics()) & set(wanted)
        if not existing:
            return {}
        described = await admin.describe_topics(sorted(existing))
        partitions = {d["topic"]: len(d["partitions"]) for d in described}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in sorted(existing)]
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()
    found: dict[str, TopicState] = {}
    for response in responses:
        for resource in response.resources:
            code, message, _type, name, entries = resource[:5]
            if code == _UNKNOWN_TOPIC:
                continue  # deleted between listing and describing
            if code:
                raise RuntimeError(f"cannot describe {name}'s configs: {message or for_code(code)}")
            configs, own = _entries(response, entries)
            found[name] = TopicState(name, partitions.get(name, 0), configs, own)
    return found


def _entries(response: Any, entries: Iterable[Any]) -> tuple[dict[str, str], dict[str, str]]:
    configs: dict[str, str] = {}
    own: dict[str, str] = {}
    for entry in entries:
        key, value, _read_only, source_or_default = entry[:4]
        if value is None:
            continue
        configs[key] = value
        # v0 says "is default"; later versions say where the value comes from.
        dynamic = (
            not source_or_default
            if response.API_VERSION == 0
            else source_or_default == _DYNAMIC_TOPIC_CONFIG
        )
        if dynamic:
            own[key] = value
    return configs, own


async def alter_topic_configs(
    conn: KafkaConnection, changes: Mapping[str, Mapping[str, str]]
) -> None:
    """Set configs of existing topics, keeping each topic's other own configs.

    The broker's AlterConfigs replaces a topic's whole set of own configs (aiokafka has no
    incremental variant), so each request carries the current overrides with the changes.
    """
    if not changes:
        return
    current = await describe_topics(conn, changes)
    resources = [
        ConfigResource(
            ConfigResourceType.TOPIC,
            name,
            configs={**(current[name].overrides if name in current else {}), **wanted},
        )
        for name, wanted in sorted(changes.items())
    ]
    admin = make_admin(conn)
    await admin.start()
    try:
        responses = await admin.alter_configs(resources)
    finally:
        await admin.close()
    problems = [
        f"{name}: {message or for_code(code).__name__}"
        for response in responses
        for code, message, _type, name in response.resources
        if code
    ]
    if problems:
        raise RuntimeError("could not alter topic configs: " + "; ".join(problems))


async def add_partitions(conn: KafkaConnection, counts: Mapping[str, int]) -> None:
    """Grow each topic to its new partition count (Kafka never shrinks a topic)."""
    if not counts:
        return
    admin = make_admin(conn)
    await admin.start()
    try:
        await admin.create_partitions({t: NewPartitions(n) for t, n in counts.items()})
    finally:
        await admin.close()
