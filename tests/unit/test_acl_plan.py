"""`agentmesh acl plan`: least-privilege ACLs derived from the mesh, no broker."""

import json
from collections.abc import Collection

import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.core import Settings, get_settings
from agentmesh.core.security import AclRule, derive_acls, kafka_acls_command

EDGES: dict[str, Collection[str]] = {
    "planner": ["researcher"],
    "researcher": ["writer"],
    "writer": ["reviewer"],
    "reviewer": ["writer"],
}


def _rules(edges: dict[str, Collection[str]] = EDGES) -> list[AclRule]:
    return derive_acls(Settings(namespace="ns"), edges)


def _who(rules: list[AclRule], operation: str, resource: str) -> set[str]:
    return {r.principal for r in rules if r.operation == operation and r.resource == resource}


def test_an_agent_reads_its_inbox_and_control_and_writes_only_where_it_may() -> None:
    mine = {
        (r.resource_type, r.pattern, r.resource, r.operation)
        for r in _rules()
        if r.principal == "ns.agent.planner" and r.operation != "CREATE"
    }
    assert mine == {
        ("GROUP", "LITERAL", "ns.agent.planner.workers", "READ"),
        ("TOPIC", "LITERAL", "ns.agent.planner", "READ"),
        ("TOPIC", "LITERAL", "ns.control", "READ"),
        ("TOPIC", "LITERAL", "ns.claims", "READ"),
        ("TOPIC", "LITERAL", "ns.claims", "WRITE"),
        ("TOPIC", "LITERAL", "ns.agent.researcher", "WRITE"),
        ("TOPIC", "LITERAL", "ns.events", "WRITE"),
        ("TOPIC", "LITERAL", "ns.dlq", "WRITE"),
        ("TOPIC", "LITERAL", "ns.recordings", "WRITE"),
        ("TOPIC", "LITERAL", "ns.review.requests", "WRITE"),
        *(
            ("TOPIC", "LITERAL", f"ns.agent.planner.{side}", op)
            for side in ("journal", "state", "done")
            for op in ("READ", "WRITE")
        ),
        ("TRANSACTIONAL_ID", "PREFIXED", "ns.agent.planner.", "WRITE"),
    }


def test_only_the_supervisor_and_gateway_write_what_governs() -> None:
    rules = _rules()
    assert _who(rules, "WRITE", "ns.control") == {"ns.supervisor", "ns.gateway"}
    assert _who(rules, "WRITE", "ns.audit") == {"ns.supervisor"}
    assert _who(rules, "WRITE", "ns.review.decisions") == {"ns.gateway"}
    assert _who(rules, "WRITE", "ns.tasks") == {"ns.gateway"}
    assert _who(rules, "CREATE", "ns.audit") == {"ns.supervisor", "ns.gateway"}


def test_an_inbox_is_written_by_the_agents_that_declared_the_edge_and_the_releasers() -> None:
    rules = _rules()
    assert _who(rules, "WRITE", "ns.agent.writer") == {
        "ns.agent.researcher",
        "ns.agent.reviewer",
        "ns.supervisor",
        "ns.gateway",
    }
    assert _who(rules, "WRITE", "ns.agent.planner") == {"ns.supervisor", "ns.gateway"}
    assert _who(rules, "READ", "ns.agent.writer") == {"ns.agent.writer"}
    assert _who(rules, "READ", "ns.agent.writer.journal") == {"ns.agent.writer"}


def test_an_agent_without_declared_edges_may_write_every_inbox() -> None:
    everyone = ["a", "b", "c"]
    rules = _rules({"a": everyone, "b": ["c"], "c": []})
    written = {r.resource for r in rules if r.principal == "ns.agent.a" and r.operation == "WRITE"}
    assert {t for t in written if t.count(".") == 2 and ".agent." in t} == {
        "ns.agent.a",
        "ns.agent.b",
        "ns.agent.c",
    }
    assert _who(rules, "WRITE", "ns.agent.b") == {"ns.agent.a", "ns.supervisor", "ns.gateway"}


def test_the_plan_is_sorted_without_duplicates_and_stable() -> None:
    rules = _rules()
    assert rules == sorted(rules)
    assert len({r.key for r in rules}) == len(rules)
    assert rules == _rules()


def test_a_rule_as_a_kafka_acls_command() -> None:
    rule = AclRule("ns.agent.planner", "TRANSACTIONAL_ID", "PREFIXED", "ns.agent.planner.", "WRITE")
    assert kafka_acls_command(rule, "k:9092") == (
        "kafka-acls.sh --bootstrap-server k:9092 --command-config admin.properties --add "
        "--allow-principal User:ns.agent.planner --operation Write --transactional-id "
        "ns.agent.planner. --resource-pattern-type prefixed"
    )


def test_acl_plan_json_of_the_sample_mesh_names_each_rule_and_its_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTMESH_NAMESPACE", "ns")
    monkeypatch.setenv("AGENTMESH_KAFKA_BOOTSTRAP", "k:9092")
    get_settings.cache_clear()  # the CLI reads the settings once per process
    try:
        out = CliRunner().invoke(
            app, ["acl", "plan", "--app", "agentmesh_examples.research:mesh", "--json"]
        )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    acls = json.loads(out.stdout)["acls"]
    assert len(acls) == len(_rules())
    gateway_tasks = next(
        a
        for a in acls
        if a["principal"] == "User:ns.gateway"
        and a["resource"] == "ns.tasks"
        and a["operation"] == "WRITE"
    )
    assert gateway_tasks["command"] == (
        "kafka-acls.sh --bootstrap-server k:9092 --command-config admin.properties --add "
        "--allow-principal User:ns.gateway --operation Write --topic ns.tasks"
    )
