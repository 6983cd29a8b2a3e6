"""Comparing a cluster's mesh topics with the catalog, and bringing them in line."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from agentmesh.core._settings import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.topics._catalog import MeshTopic, TopicCatalog
from agentmesh.core.topics._cluster import (
    TopicState,
    add_partitions,
    alter_topic_configs,
    describe_topics,
    resolve_replication_factor,
)
from agentmesh.core.transport import KafkaConnection, ensure_topics

__all__ = [
    "APPLY_COMMAND",
    "Applied",
    "Difference",
    "Inspection",
    "apply_topics",
    "audit_expiry",
    "compare",
    "inspect_topics",
]

APPLY_COMMAND = "agentmesh topics apply"


@dataclass(frozen=True, slots=True)
class Difference:
    """One way an existing (or missing) topic differs from the catalog, and the fix."""

    topic: str
    kind: Literal["missing", "config", "partitions"]
    key: str | None
    expected: str
    actual: str | None
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "kind": self.kind,
            "key": self.key,
            "expected": self.expected,
            "actual": self.actual,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Inspection:
    """The catalog of one mesh next to what its cluster holds."""

    wanted: list[MeshTopic]
    found: dict[str, TopicState]
    differences: list[Difference]


async def inspect_topics(
    conn: KafkaConnection, settings: Settings, policy: Policy, agents: Iterable[str]
) -> Inspection:
    """Describe the mesh's topics and compare them with the catalog."""
    agents = sorted(agents)
    rf = await resolve_replication_factor(conn, settings)
    names = TopicCatalog(settings, policy, rf).everything(agents)
    found = await describe_topics(conn, [m.name for m in names])
    catalog = _sized(settings, policy, rf, found)
    wanted = _sides_like_inboxes(catalog.everything(agents), found)
    return Inspection(wanted, found, compare(wanted, found, settings.bootstrap))


def _sized(
    settings: Settings, policy: Policy, rf: int, found: Mapping[str, TopicState]
) -> TopicCatalog:
    """The catalog with the partition counts the cluster already committed to."""
    base = TopicCatalog(settings, policy, rf)
    events = found.get(base.topics.events)
    n = events.partitions if events and events.partitions else settings.topic_partitions
    audit = found.get(base.topics.audit)
    return TopicCatalog(settings, policy, rf, n, audit.partitions if audit else None)


def _sides_like_inboxes(
    wanted: list[MeshTopic], found: Mapping[str, TopicState]
) -> list[MeshTopic]:
    """An inbox keeps the count it was made with; its journal, state and done must match it."""
    inbox_n = {
        m.agent: found[m.name].partitions if m.name in found else m.partitions
        for m in wanted
        if m.kind == "inbox"
    }
    return [
        replace(m, partitions=inbox_n[m.agent])
        if m.agent is not None and m.kind in ("inbox", "journal", "state", "done")
        else m
        for m in wanted
    ]


def compare(
    wanted: Iterable[MeshTopic], found: Mapping[str, TopicState], bootstrap: str
) -> list[Difference]:
    """Every difference between ``wanted`` and the topics ``found``, each with its fix."""
    differences: list[Difference] = []
    for topic in wanted:
        state = found.get(topic.name)
        if state is None:
            differences.append(
                Difference(
                    topic.name,
                    "missing",
                    None,
                    f"{topic.partitions} partitions",
                    None,
                    APPLY_COMMAND,
                )
            )
            continue
        if state.partitions < topic.partitions and topic.co_partitioned:
            differences.append(
                Difference(
                    topic.name,
                    "partitions",
                    None,
                    str(topic.partitions),
                    str(state.partitions),
                    _partitions_fix(bootstrap, topic),
                )
            )
        for key, expected in topic.configs.items():
            actual = state.configs.get(key)
            if not _satisfies(topic, key, expected, actual):
                differences.append(
                    Difference(
                        topic.name,
                        "config",
                        key,
                        expected,
                        actual,
                        _config_fix(bootstrap, topic.name, key, expected),
                    )
                )
    return differences


def _satisfies(topic: MeshTopic, key: str, expected: str, actual: str | None) -> bool:
    if actual is None:
        return False
    if key == "cleanup.policy":
        return set(expected.split(",")) == {p.strip() for p in actual.split(",")}
    if topic.kind == "audit" and key == "retention.ms":
        # Longer than the policy asks is fine; shorter (or "delete after N" when the policy
        # says forever) is not.
        return actual == "-1" or (expected != "-1" and int(actual) >= int(expected))
    return expected == actual


def audit_expiry(inspection: Inspection) -> list[Difference]:
    """Every way the audit topic would lose records by time, size or compaction."""
    audit = next(m for m in inspection.wanted if m.kind == "audit")
    keys = ("retention.ms", "retention.bytes", "cleanup.policy")
    return [d for d in inspection.differences if d.topic == audit.name and d.key in keys]


def _config_fix(bootstrap: str, topic: str, key: str, value: str) -> str:
    # kafka-configs reads commas as separators between configs: a list value goes in [].
    shown = f"[{value}]" if "," in value else value
    return shlex.join(
        [
            "kafka-configs.sh",
            "--bootstrap-server",
            bootstrap,
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            "--add-config",
            f"{key}={shown}",
        ]
    )


def _partitions_fix(bootstrap: str, topic: MeshTopic) -> str:
    return shlex.join(
        [
            "kafka-topics.sh",
            "--bootstrap-server",
            bootstrap,
            "--alter",
            "--topic",
            topic.name,
            "--partitions",
            str(topic.partitions),
        ]
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply_topics` changed."""

    created: list[str]
    altered: dict[str, dict[str, str]]
    grown: dict[str, int]


async def apply_topics(conn: KafkaConnection, inspection: Inspection) -> Applied:
    """Create the missing topics, set the configs that differ and grow the partition counts
    that fall short. Idempotent; never reduces partitions (Kafka cannot)."""
    by_name = {m.name: m for m in inspection.wanted}
    missing = [by_name[d.topic] for d in inspection.differences if d.kind == "missing"]
    created = await ensure_topics(conn, [m.spec() for m in missing])
    altered: dict[str, dict[str, str]] = {}
    grown: dict[str, int] = {}
    for d in inspection.differences:
        if d.kind == "config" and d.key is not None:
            altered.setdefault(d.topic, {})[d.key] = d.expected
        elif d.kind == "partitions":
            grown[d.topic] = by_name[d.topic].partitions
    await alter_topic_configs(conn, altered)
    await add_partitions(conn, grown)
    return Applied(created, altered, grown)
