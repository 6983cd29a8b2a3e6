"""The AsyncAPI document: every topic described, every reference resolvable, every schema Avro.

No AsyncAPI JSON-schema validator is installed, so these tests check the structure the 3.0.0
specification requires of what we emit, and that it says what the contracts say.
"""

import json
import re
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import fastavro
import pytest
import yaml

from agentmesh.contracts import (
    CATALOG,
    ClaimTicket,
    Contract,
    Handoff,
    JournalEntry,
    TaskStateRecord,
    Topics,
    avro_schema,
)
from agentmesh.contracts._asyncapi import asyncapi_document, dump_asyncapi

NS = "mesh-test"


class PlannerInput(Contract):
    """What the planner is asked."""

    question: str
    max_subquestions: int = 3


@pytest.fixture
def doc() -> dict[str, Any]:
    return asyncapi_document(Topics(NS), {"planner": PlannerInput})


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_top_level_info_and_server(doc: dict[str, Any]) -> None:
    assert list(doc) == ["asyncapi", "info", "servers", "channels", "operations", "components"]
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {
        "title": "agentmesh",
        "version": metadata.version("agentmesh-contracts"),
        "description": (
            f"The topics of the agentmesh namespace `{NS}`. Every value is an Avro record in "
            "Confluent's wire format (magic byte 0, 4-byte big-endian schema id, Avro binary) "
            "whose schema is registered under the subject `<topic>-value`."
        ),
    }
    assert doc["servers"] == {
        "kafka": {
            "host": "127.0.0.1:19092",
            "protocol": "kafka",
            "bindings": {"kafka": {"bindingVersion": "0.5.0"}},
        }
    }


def test_each_bootstrap_address_is_a_server_and_the_registry_is_declared() -> None:
    doc = asyncapi_document(
        Topics(NS), bootstrap="a:9092, b:9093", registry_url="http://r:8080/apis/ccompat/v7"
    )
    binding = {
        "kafka": {
            "schemaRegistryUrl": "http://r:8080/apis/ccompat/v7",
            "schemaRegistryVendor": "confluent",
            "bindingVersion": "0.5.0",
        }
    }
    assert doc["servers"] == {
        "kafka-1": {"host": "a:9092", "protocol": "kafka", "bindings": binding},
        "kafka-2": {"host": "b:9093", "protocol": "kafka", "bindings": binding},
    }


def test_an_empty_bootstrap_is_refused() -> None:
    with pytest.raises(ValueError, match="names no broker"):
        asyncapi_document(Topics(NS), bootstrap=" , ")


def test_channel_addresses_are_the_topic_names(doc: dict[str, Any]) -> None:
    t = Topics(NS)
    assert {cid: channel["address"] for cid, channel in doc["channels"].items()} == {
        "tasks": t.tasks,
        "events": t.events,
        "control": t.control,
        "review.requests": t.review_requests,
        "review.decisions": t.review_decisions,
        "dlq": t.dlq,
        "audit": t.audit,
        "claims": t.claims,
        "recordings": t.recordings,
        "agent-inbox": f"{NS}.agent.{{agent}}",
        "agent-journal": f"{NS}.agent.{{agent}}.journal",
        "agent-state": f"{NS}.agent.{{agent}}.state",
        "agent.planner": t.agent("planner"),
        "agent.planner.journal": t.agent_journal("planner"),
        "agent.planner.state": t.agent_state("planner"),
    }


def test_kafka_channel_bindings_name_the_topic_and_compaction(doc: dict[str, Any]) -> None:
    t = Topics(NS)

    def plain(topic: str) -> dict[str, Any]:
        return {"topic": topic, "bindingVersion": "0.5.0"}

    def compacted(topic: str) -> dict[str, Any]:
        return {
            "topic": topic,
            "topicConfiguration": {"cleanup.policy": ["compact"]},
            "bindingVersion": "0.5.0",
        }

    assert {cid: c["bindings"]["kafka"] for cid, c in doc["channels"].items()} == {
        "tasks": plain(t.tasks),
        "events": plain(t.events),
        "control": compacted(t.control),
        "review.requests": plain(t.review_requests),
        "review.decisions": plain(t.review_decisions),
        "dlq": plain(t.dlq),
        "audit": plain(t.audit),
        "claims": compacted(t.claims),
        "recordings": plain(t.recordings),
        "agent-inbox": {"bindingVersion": "0.5.0"},
        "agent-journal": {
            "topicConfiguration": {"cleanup.policy": ["compact"]},
            "bindingVersion": "0.5.0",
        },
        "agent-state": {
            "topicConfiguration": {"cleanup.policy": ["compact"]},
            "bindingVersion": "0.5.0",
        },
        "agent.planner": plain(t.agent("planner")),
        "agent.planner.journal": compacted(t.agent_journal("planner")),
        "agent.planner.state": compacted(t.agent_state("planner")),
    }


def test_every_reference_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    # Operations point at a channel's message, which points at the component: follow chains.
    def target(ref: str) -> dict[str, Any]:
        node = resolve(doc, ref)
        return target(node["$ref"]) if "$ref" in node else node

    kinds: dict[str, str] = {}
    for ref in refs(doc):
        node = target(ref)
        kinds[ref] = "channel" if "address" in node else "message" if "payload" in node else "?"
    assert kinds
    assert [ref for ref, kind in kinds.items() if kind == "?"] == []
    assert {ref for ref, kind in kinds.items() if kind == "channel"} == {
        f"#/channels/{cid}" for cid in doc["channels"]
    }


def test_every_channel_has_a_send_and_a_receive_operation(doc: dict[str, Any]) -> None:
    expected = {
        f"{cid}.{action}": {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channel["messages"]],
        }
        for cid, channel in doc["channels"].items()
        for action in ("send", "receive")
    }
    actual = {
        oid: {k: v for k, v in op.items() if k != "description"}
        for oid, op in doc["operations"].items()
    }
    assert expected == actual


def test_operations_say_who_writes_and_who_reads(doc: dict[str, Any]) -> None:
    ops = doc["operations"]
    assert (ops["control.send"]["description"], ops["control.receive"]["description"]) == (
        "Written by the supervisor and the gateway.",
        "Read by every agent instance (broadcast).",
    )
    assert (
        ops["agent.planner.send"]["description"],
        ops["agent.planner.receive"]["description"],
    ) == (
        "Written by agents (handoffs) and the supervisor (released reviews).",
        "Read by agent `planner` (its own consumer group).",
    )
    journal = (ops["agent.planner.journal.send"], ops["agent.planner.journal.receive"])
    assert (journal[0]["description"], journal[1]["description"]) == (
        "Written by agent `planner`'s runtime, as each LLM or tool call returns.",
        "Read by agent `planner`'s runtime on resume.",
    )


def test_catalog_messages_carry_their_models_schemas(doc: dict[str, Any]) -> None:
    messages = doc["components"]["messages"]
    expected = {spec.name: avro_schema(spec.model) for spec in CATALOG if spec.topic is not None}
    expected["handoff"] = avro_schema(Handoff)
    expected["journal-entry"] = avro_schema(JournalEntry)
    expected["task-state"] = avro_schema(TaskStateRecord)
    expected["claim-ticket"] = avro_schema(ClaimTicket)
    expected["handoff.planner"] = avro_schema(Handoff[PlannerInput])
    assert {m: msg["payload"]["schema"] for m, msg in messages.items()} == expected


def test_every_payload_is_an_avro_schema_fastavro_parses(doc: dict[str, Any]) -> None:
    for message in doc["components"]["messages"].values():
        assert (
            message["payload"]["schemaFormat"] == "application/vnd.apache.avro+json;version=1.9.0"
        )
        fastavro.parse_schema(message["payload"]["schema"])


def test_the_agent_inbox_payload_is_the_agents_input_record(doc: dict[str, Any]) -> None:
    channel = doc["channels"]["agent.planner"]
    assert channel["messages"] == {
        "handoff.planner": {"$ref": "#/components/messages/handoff.planner"},
        "claim-ticket": {"$ref": "#/components/messages/claim-ticket"},
    }
    schema = resolve(doc, channel["messages"]["handoff.planner"]["$ref"])["payload"]["schema"]
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    assert payload == {"name": "payload", "type": avro_schema(PlannerInput)}


def test_a_message_states_its_framing_and_key(doc: dict[str, Any]) -> None:
    message = doc["components"]["messages"]["control"]
    assert {k: v for k, v in message.items() if k != "payload"} == {
        "name": "dev.agentmesh.ControlCommand",
        "title": "ControlCommand",
        "description": "The current rule for one target (`<ns>.control`, compacted, keyed "
        "`scope:target`).",
        "contentType": "application/octet-stream",
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "scope:target (compacted)"},
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "confluent",
                "schemaLookupStrategy": "TopicNameStrategy",
                "bindingVersion": "0.5.0",
            }
        },
    }


def test_channel_descriptions_name_the_registry_subject(doc: dict[str, Any]) -> None:
    assert doc["channels"]["tasks"]["description"] == (
        "Written by the gateway and the CLI; read by entry agents. "
        f"Values are registered under the subject `{Topics.subject(Topics(NS).tasks)}`."
    )


def test_component_and_channel_keys_are_valid_asyncapi_names(doc: dict[str, Any]) -> None:
    # The 3.0.0 JSON schema's pattern for keys of components maps.
    name = re.compile(r"^[\w\d.\-_]+$")
    keys = [*doc["components"]["messages"], *doc["channels"], *doc["operations"]]
    assert [k for k in keys if not name.match(k)] == []


def test_templated_channels_stand_for_any_agents_topics(doc: dict[str, Any]) -> None:
    t = Topics(NS)
    templates = {cid: doc["channels"][cid] for cid in ("agent-inbox", "agent-journal")}
    assert {cid: c["parameters"] for cid, c in templates.items()} == {
        "agent-inbox": {"agent": {"description": "The agent's name."}},
        "agent-journal": {"agent": {"description": "The agent's name."}},
    }
    assert {cid: c["address"].format(agent="coder") for cid, c in templates.items()} == {
        "agent-inbox": t.agent("coder"),
        "agent-journal": t.agent_journal("coder"),
    }


def test_no_agents_means_only_the_templated_agent_channels() -> None:
    doc = asyncapi_document(Topics(NS))
    assert [cid for cid in doc["channels"] if cid.startswith("agent")] == [
        "agent-inbox",
        "agent-journal",
        "agent-state",
    ]


def test_an_invalid_agent_name_is_refused() -> None:
    with pytest.raises(ValueError, match="agent name 'Bad Name'"):
        asyncapi_document(Topics(NS), {"Bad Name": PlannerInput})


def test_an_explicit_version_is_used() -> None:
    assert asyncapi_document(Topics(NS), version="9.9.9")["info"]["version"] == "9.9.9"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dumps_load_back_to_the_same_document(doc: dict[str, Any], fmt: str) -> None:
    text = dump_asyncapi(doc, "yaml" if fmt == "yaml" else "json")
    loaded = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert loaded == doc


def test_yaml_keeps_document_order_and_writes_no_aliases() -> None:
    shared = {"type": "string"}
    text = dump_asyncapi({"b": shared, "a": shared}, "yaml")
    assert text == "b:\n  type: string\na:\n  type: string\n"
