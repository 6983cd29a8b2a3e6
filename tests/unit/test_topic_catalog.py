"""The topic catalog: what every mesh topic is configured as, and how a difference is fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmesh.core import Settings
from agentmesh.core.policy import AuditPolicy, Policy, PolicyError, load_policy
from agentmesh.core.topics import (
    AGENTS,
    OPERATOR,
    SUPERVISOR,
    Difference,
    Inspection,
    MeshTopic,
    TopicCatalog,
    TopicState,
    audit_expiry,
    compare,
)

DAY_MS = 86_400_000
BOOT = "broker:9092"


def _catalog(rf: int = 3, policy: Policy | None = None, **retention: int) -> TopicCatalog:
    settings = Settings.model_validate({"namespace": "ns", **retention})
    return TopicCatalog(settings, policy or Policy(), rf, 4)


def _by_name(topics: list[MeshTopic]) -> dict[str, MeshTopic]:
    return {m.name: m for m in topics}


@pytest.mark.parametrize(("rf", "isr"), [(1, "1"), (2, "2"), (3, "2"), (5, "2")])
def test_every_topic_asks_two_in_sync_replicas_when_it_can(rf: int, isr: str) -> None:
    everything = _catalog(rf).everything(["a", "b"])
    assert {m.name: m.configs["min.insync.replicas"] for m in everything} == {
        m.name: isr for m in everything
    }
    assert {m.spec().replication_factor for m in everything} == {rf}


def test_the_catalog_names_every_topic_of_a_mesh_once() -> None:
    names = [m.name for m in _catalog().everything(["a"])]
    assert sorted(names) == sorted(
        [
            "ns.tasks", "ns.events", "ns.recordings", "ns.control", "ns.claims",
            "ns.review.requests", "ns.review.decisions", "ns.dlq", "ns.audit",
            "ns.supervisor.audit-intents", "ns.agent.a", "ns.agent.a.journal",
            "ns.agent.a.state", "ns.agent.a.done", "ns.supervisor.ticks",
            "ns.supervisor.signals", "ns.supervisor-__assignor-__leader",
            "ns.supervisor-ledgers-changelog", "ns.supervisor-reviews-changelog",
            "ns.supervisor-breakers-changelog", "ns.supervisor-spend-changelog",
        ]
    )  # fmt: skip


def test_the_audit_topic_never_expires_unless_the_policy_says() -> None:
    forever = _catalog().audit()
    assert dict(forever.configs) == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "min.insync.replicas": "2",
    }
    assert forever.writers == {SUPERVISOR}
    kept = _catalog(policy=Policy(audit=AuditPolicy(retention_days=400))).audit()
    assert kept.configs["retention.ms"] == str(400 * DAY_MS)
    assert kept.configs["retention.bytes"] == "-1"


def test_retention_of_events_review_and_dead_letters_comes_from_settings() -> None:
    topics = _by_name(
        _catalog(events_retention_ms=1000, review_retention_ms=2000, dlq_retention_ms=-1).shared()
    )
    retention = {n: m.configs.get("retention.ms") for n, m in topics.items()}
    assert retention["ns.events"] == "1000"
    assert retention["ns.review.requests"] == retention["ns.review.decisions"] == "2000"
    assert retention["ns.dlq"] == "-1"
    assert retention["ns.recordings"] == str(7 * DAY_MS)  # the policy's recording default


def test_an_agents_own_topics_are_its_alone_and_sized_like_its_inbox() -> None:
    sides = _catalog().agent_sides("a", partitions=9)
    assert {(m.kind, m.partitions, m.configs["cleanup.policy"]) for m in sides} == {
        ("journal", 9, "compact"),
        ("state", 9, "compact"),
        ("done", 9, "compact,delete"),
    }
    assert {(frozenset(m.writers), frozenset(m.readers)) for m in sides} == {
        (frozenset({"agent:a"}), frozenset({"agent:a"}))
    }
    inbox = _catalog().inbox("a")
    assert inbox.readers == {"agent:a"}
    assert AGENTS in inbox.writers


def test_control_has_one_partition_and_keeps_the_newest_rule() -> None:
    (control,) = _catalog().of_kind("control")
    assert (control.partitions, control.configs["cleanup.policy"]) == (1, "compact")
    assert OPERATOR in control.writers
    assert AGENTS not in control.writers


def _state(m: MeshTopic, partitions: int | None = None, **configs: str) -> TopicState:
    found = {**m.configs, **{k.replace("_", "."): v for k, v in configs.items()}}
    return TopicState(m.name, partitions or m.partitions, found, found)


def test_a_week_long_audit_topic_differs_with_its_fix() -> None:
    audit = _catalog().audit()
    found = {audit.name: _state(audit, retention_ms=str(7 * DAY_MS))}
    assert compare([audit], found, BOOT) == [
        Difference(
            "ns.audit",
            "config",
            "retention.ms",
            "-1",
            str(7 * DAY_MS),
            "kafka-configs.sh --bootstrap-server broker:9092 --alter --entity-type topics "
            "--entity-name ns.audit --add-config retention.ms=-1",
        )
    ]


def test_an_audit_topic_kept_longer_than_the_policy_asks_is_fine() -> None:
    audit = _catalog(policy=Policy(audit=AuditPolicy(retention_days=500))).audit()
    assert compare([audit], {audit.name: _state(audit, retention_ms="-1")}, BOOT) == []
    longer = _state(audit, retention_ms=str(600 * DAY_MS))
    assert compare([audit], {audit.name: longer}, BOOT) == []
    shorter = _state(audit, retention_ms=str(450 * DAY_MS))
    assert [d.key for d in compare([audit], {audit.name: shorter}, BOOT)] == ["retention.ms"]


def test_missing_topics_too_few_partitions_and_list_values() -> None:
    catalog = _catalog()
    events, done = _by_name(catalog.shared())["ns.events"], catalog.agent_sides("a")[2]
    found = {done.name: _state(done, partitions=2, cleanup_policy="delete")}
    assert compare([events, done], found, BOOT) == [
        Difference("ns.events", "missing", None, "4 partitions", None, "agentmesh topics apply"),
        Difference(
            "ns.agent.a.done",
            "partitions",
            None,
            "4",
            "2",
            "kafka-topics.sh --bootstrap-server broker:9092 --alter --topic ns.agent.a.done "
            "--partitions 4",
        ),
        Difference(
            "ns.agent.a.done",
            "config",
            "cleanup.policy",
            "compact,delete",
            "delete",
            "kafka-configs.sh --bootstrap-server broker:9092 --alter --entity-type topics "
            "--entity-name ns.agent.a.done --add-config 'cleanup.policy=[compact,delete]'",
        ),
    ]


def test_a_matching_cluster_has_no_differences() -> None:
    everything = _catalog().everything(["a"])
    found = {m.name: _state(m) for m in everything}
    assert compare(everything, found, BOOT) == []


@pytest.mark.parametrize("days", [1, 180, 399.5])
def test_an_audit_retention_under_400_days_is_a_policy_error(tmp_path: Path, days: float) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"audit:\n  retention_days: {days}\n")
    with pytest.raises(PolicyError) as refused:
        load_policy(policy)
    assert "audit.retention_days" in str(refused.value)
    assert "at least 400" in str(refused.value)


def test_an_audit_retention_of_400_days_or_none_is_accepted(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("audit:\n  retention_days: 400\n")
    assert load_policy(policy).audit.retention_days == 400
    assert Policy().audit.retention_days is None


def test_a_size_limit_or_compaction_on_the_audit_topic_is_an_expiry() -> None:
    catalog = _catalog()
    audit = catalog.audit()
    found = {audit.name: _state(audit, retention_bytes="1073741824", cleanup_policy="compact")}
    wanted = [audit, *catalog.of_kind("events")]
    inspection = Inspection(wanted, found, compare([audit], found, BOOT))
    assert [(d.key, d.expected, d.actual) for d in audit_expiry(inspection)] == [
        ("cleanup.policy", "delete", "compact"),
        ("retention.bytes", "-1", "1073741824"),
    ]


def test_new_topics_get_the_settings_partition_count_unless_told_otherwise() -> None:
    settings = Settings(namespace="sized", topic_partitions=3)
    catalog = TopicCatalog(settings, Policy(), replication_factor=1)
    assert {m.partitions for m in catalog.everything(["a"]) if m.kind != "control"} >= {3}
    assert catalog.inbox("a").partitions == 3
    assert TopicCatalog(settings, Policy(), 1, partitions=12).inbox("a").partitions == 12
