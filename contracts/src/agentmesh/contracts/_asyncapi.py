"""An AsyncAPI 3.0 description of every agentmesh topic, generated from the contracts.

Channels are the topics of one namespace, messages are the catalog's models with their Avro
schemas, and the Kafka bindings say how a value is framed (Confluent wire format) and keyed.
Generated from the same models as the ``.avsc`` files, the document cannot describe a schema
the code does not write.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import yaml

from agentmesh.contracts._avro import avro_schema
from agentmesh.contracts._base import Contract
from agentmesh.contracts._catalog import CATALOG
from agentmesh.contracts._handoff import Handoff
from agentmesh.contracts._topics import Topics

__all__ = ["asyncapi_document", "dump_asyncapi"]

ASYNCAPI_VERSION = "3.0.0"
AVRO_SCHEMA_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
# A value is not a bare Avro datum: the Confluent header (magic byte, schema id) comes first,
# so an Avro media type would send readers to decode the header as data. The bytes are
# opaque at this level; the Kafka message binding states the framing.
CONTENT_TYPE = "application/octet-stream"
KAFKA_BINDING_VERSION = "0.5.0"

try:
    # Every agentmesh distribution carries the same version; contracts reads its own.
    _VERSION = metadata.version("agentmesh-contracts")
except metadata.PackageNotFoundError:  # pragma: no cover - only in an uninstalled checkout
    _VERSION = "0.0.0"


@dataclass(frozen=True, slots=True)
class _Roles:
    """Who writes and reads a topic (docs/architecture.md, "Topics"); is it compacted."""

    writers: str
    readers: str
    compacted: bool = False


_TOPIC_ROLES: tuple[tuple[Callable[[Topics], str], _Roles], ...] = (
    (lambda t: t.tasks, _Roles("the gateway and the CLI", "entry agents")),
    (lambda t: t.events, _Roles("every agent and the gateway", "supervisor, timelines, replay")),
    (
        lambda t: t.control,
        _Roles(
            "the supervisor and the gateway", "every agent instance (broadcast)", compacted=True
        ),
    ),
    (lambda t: t.review_requests, _Roles("the supervisor", "the gateway")),
    (lambda t: t.review_decisions, _Roles("the gateway", "the supervisor")),
    (lambda t: t.dlq, _Roles("the agent runtime and the supervisor", "CLI, gateway, redrive")),
    (lambda t: t.audit, _Roles("the supervisor", "auditors")),
    (
        lambda t: t.claims,
        _Roles("agents, for handoffs too large for one message", "the receiving agent", True),
    ),
    (lambda t: t.recordings, _Roles("every agent, in each step's transaction", "replay, audit")),
)
_SPECS = {spec.name: spec for spec in CATALOG}


@dataclass(frozen=True, slots=True)
class _Channel:
    """One channel to describe, with the messages (by id) it carries."""

    id: str
    address: str
    roles: _Roles
    messages: dict[str, dict[str, Any]]


def asyncapi_document(
    topics: Topics,
    agents: Mapping[str, type[Contract]] | None = None,
    *,
    bootstrap: str = "127.0.0.1:19092",
    registry_url: str | None = None,
    version: str = _VERSION,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic under ``topics.namespace``.

    ``agents`` maps an agent name to its input model; each gets an inbox channel
    ``agent.<name>``, whose payload is ``Handoff[Input]``, and a journal channel
    ``agent.<name>.journal``. The templated channels ``agent-inbox`` and ``agent-journal``
    (address parameter ``agent``) stand for any other agent, with the envelope's placeholder
    payload. ``bootstrap`` is a comma-separated broker list; each address becomes a server.
    ``registry_url``, when given, is declared on the servers as the schema registry.
    """
    channels = [*_topic_channels(topics), *_agent_channels(topics, agents or {})]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(topics, version),
        "servers": _servers(bootstrap, registry_url),
        "channels": {c.id: _channel(c) for c in channels},
        "operations": {k: v for c in channels for k, v in _operations(c)},
        "components": {"messages": {k: v for c in channels for k, v in c.messages.items()}},
    }


def dump_asyncapi(doc: Mapping[str, Any], fmt: Literal["yaml", "json"]) -> str:
    """``doc`` as YAML (keys in document order) or as indented JSON."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)


class _PlainDumper(yaml.SafeDumper):
    # Anchors and aliases are valid YAML, but AsyncAPI tools handle them poorly; a repeated
    # sub-object is written out in full instead.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _info(topics: Topics, version: str) -> dict[str, Any]:
    return {
        "title": "agentmesh",
        "version": version,
        "description": (
            f"The topics of the agentmesh namespace `{topics.namespace}`. Every value is an "
            "Avro record in Confluent's wire format (magic byte 0, 4-byte big-endian schema "
            "id, Avro binary) whose schema is registered under the subject `<topic>-value`."
        ),
    }


def _servers(bootstrap: str, registry_url: str | None) -> dict[str, Any]:
    hosts = [host.strip() for host in bootstrap.split(",") if host.strip()]
    if not hosts:
        raise ValueError(f"bootstrap {bootstrap!r} names no broker address")
    binding: dict[str, str] = {}
    if registry_url:
        # Apicurio serves the Confluent API, and values carry Confluent serdes framing.
        binding = {"schemaRegistryUrl": registry_url, "schemaRegistryVendor": "confluent"}
    names = ["kafka"] if len(hosts) == 1 else [f"kafka-{i}" for i in range(1, len(hosts) + 1)]
    return {
        name: {
            "host": host,
            "protocol": "kafka",
            "bindings": {"kafka": {**binding, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        for name, host in zip(names, hosts, strict=True)
    }


def _topic_channels(topics: Topics) -> Iterator[_Channel]:
    for topic_of, roles in _TOPIC_ROLES:
        topic = topic_of(topics)
        messages = {
            spec.name: _message(spec.model, spec.key)
            for spec in CATALOG
            if spec.topic is not None and spec.topic(topics) == topic
        }
        yield _Channel(topic.removeprefix(f"{topics.namespace}."), topic, roles, messages)


def _agent_channels(topics: Topics, agents: Mapping[str, type[Contract]]) -> Iterator[_Channel]:
    # The templated pair stands for the inbox and journal of any agent not named in `agents`.
    inbox = f"{topics.namespace}.agent.{{agent}}"
    yield _inbox("agent-inbox", inbox, "{agent}", "handoff", Handoff)
    yield _journal("agent-journal", f"{inbox}.journal", "{agent}")
    yield _state("agent-state", f"{inbox}.state", "{agent}")
    for name, model in agents.items():
        handoff: type[Contract] = Handoff[model]  # type: ignore[valid-type]
        yield _inbox(f"agent.{name}", topics.agent(name), name, f"handoff.{name}", handoff)
        yield _journal(f"agent.{name}.journal", topics.agent_journal(name), name)
        yield _state(f"agent.{name}.state", topics.agent_state(name), name)


def _inbox(
    channel_id: str, address: str, agent: str, message_id: str, handoff: type[Contract]
) -> _Channel:
    roles = _Roles(
        "agents (handoffs) and the supervisor (released reviews)",
        f"agent `{agent}` (its own consumer group)",
    )
    message = _message(handoff, _SPECS["handoff"].key)
    message["title"] = f"Handoff to {agent}"
    # A handoff too large for one Kafka message is replaced by a ticket (claim-check).
    ticket = _SPECS["claim-ticket"]
    messages = {message_id: message, ticket.name: _message(ticket.model, _SPECS["handoff"].key)}
    return _Channel(channel_id, address, roles, messages)


def _journal(channel_id: str, address: str, agent: str) -> _Channel:
    roles = _Roles(
        f"agent `{agent}`'s runtime, as each LLM or tool call returns",
        f"agent `{agent}`'s runtime on resume",
        compacted=True,
    )
    spec = _SPECS["journal-entry"]
    return _Channel(channel_id, address, roles, {spec.name: _message(spec.model, spec.key)})


def _state(channel_id: str, address: str, agent: str) -> _Channel:
    roles = _Roles(
        f"agent `{agent}`'s runtime, when a step changes ctx.state",
        f"agent `{agent}`'s runtime on (re)assignment",
        compacted=True,
    )
    spec = _SPECS["task-state"]
    return _Channel(channel_id, address, roles, {spec.name: _message(spec.model, spec.key)})


def _channel(channel: _Channel) -> dict[str, Any]:
    roles = channel.roles
    description = (
        f"Written by {roles.writers}; read by {roles.readers}. "
        f"Values are registered under the subject `{Topics.subject(channel.address)}`."
    )
    templated = "{agent}" in channel.address
    kafka: dict[str, Any] = {}
    if not templated:  # a templated address names no single topic
        kafka["topic"] = channel.address
    if roles.compacted:
        kafka["topicConfiguration"] = {"cleanup.policy": ["compact"]}
    out: dict[str, Any] = {
        "address": channel.address,
        "description": description,
        "messages": {m: {"$ref": _ref("components", "messages", m)} for m in channel.messages},
        "bindings": {"kafka": {**kafka, "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    if templated:
        out["parameters"] = {"agent": {"description": "The agent's name."}}
    return out


def _message(model: type[Contract], key: str) -> dict[str, Any]:
    first_paragraph = (inspect.getdoc(model) or "").split("\n\n", 1)[0]
    return {
        "name": model.avro_fullname(),
        "title": model.avro_record_name(),
        "description": " ".join(first_paragraph.replace("``", "`").split()),
        "contentType": CONTENT_TYPE,
        "payload": {"schemaFormat": AVRO_SCHEMA_FORMAT, "schema": avro_schema(model)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key},
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "confluent",
                "schemaLookupStrategy": "TopicNameStrategy",
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operations(channel: _Channel) -> Iterator[tuple[str, dict[str, Any]]]:
    for action, verb, who in (
        ("send", "Written", channel.roles.writers),
        ("receive", "Read", channel.roles.readers),
    ):
        yield (
            f"{channel.id}.{action}",
            {
                "action": action,
                "channel": {"$ref": _ref("channels", channel.id)},
                "description": f"{verb} by {who}.",
                "messages": [
                    {"$ref": _ref("channels", channel.id, "messages", m)} for m in channel.messages
                ],
            },
        )


def _ref(*parts: str) -> str:
    """A local JSON pointer (RFC 6901) to ``parts``."""
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
