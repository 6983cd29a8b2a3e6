"""Least-privilege ACLs derived from a mesh: who may read and write which topic.

:func:`derive_acls` is pure: the mesh's agents with whom each may hand off to, and the
settings (for the namespace), give the ALLOW bindings every principal needs and nothing
more. Topics and their readers and writers come from the topic catalog
(:class:`~agentmesh.core.topics.TopicCatalog`); inbox writers are narrowed to the agents
that declared the edge (``hands_off_to``). Reading or writing implies describing in Kafka,
so DESCRIBE is never granted on its own.

What each process creates at start (its ``ensure_*_topics``) it is granted CREATE on, so
a mesh still starts on an empty cluster; CREATE on a topic that exists changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from agentmesh.core._settings import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.security._principals import (
    agent_principal,
    gateway_principal,
    supervisor_principal,
)
from agentmesh.core.topics import (
    AGENT_CREATES,
    AGENTS,
    GATEWAY,
    SERVICE_CREATES,
    SUPERVISOR,
    MeshTopic,
    TopicCatalog,
    TopicKind,
    agent_role,
)

__all__ = ["AclRule", "Operation", "PatternType", "ResourceType", "derive_acls"]

ResourceType = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID", "CLUSTER"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE_CONFIGS"]

# What each process ensures at start (agents/_topology.py, supervisor/_topology.py,
# gateway/_topology.py, agents/_submitter.py): the topics it is granted CREATE on. Inboxes
# and an agent's own journal/state/done are added per agent.
_SUPERVISOR_CREATES: tuple[TopicKind, ...] = (
    *SERVICE_CREATES,
    "audit_intents",
    "supervisor_internal",
    "supervisor_changelog",
)


@dataclass(frozen=True, slots=True, order=True)
class AclRule:
    """One ALLOW binding, from any host (``kafka-acls --add --allow-principal ...``)."""

    principal: str  # the user name, without "User:"
    resource_type: ResourceType
    pattern: PatternType
    resource: str
    operation: Operation
    why: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two rules the same binding (``why`` is only for people)."""
        return (self.principal, self.resource_type, self.pattern, self.resource, self.operation)


def derive_acls(settings: Settings, edges: Mapping[str, Collection[str]]) -> list[AclRule]:
    """Every ACL the mesh needs: ``edges`` maps each agent to the agents it may hand off to.

    Sorted and without duplicates, so a plan compares and prints the same every time.
    """
    ns = settings.namespace
    catalog = TopicCatalog(settings, Policy(), replication_factor=1)
    principals = {SUPERVISOR: supervisor_principal(ns), GATEWAY: gateway_principal(ns)}
    principals |= {agent_role(a): agent_principal(ns, a) for a in edges}
    rules: list[AclRule] = []
    for topic in catalog.everything(edges):
        rules += _topic_rules(topic, edges, principals)
    rules += _creates(catalog, edges, principals)
    rules += _groups_and_transactions(ns, edges, principals)
    unique = {r.key: r for r in rules}
    return sorted(unique.values())


def _roles(roles: Iterable[str], agents: Collection[str]) -> set[str]:
    """Expand ``agent:*`` to every agent's role; roles without a principal (the operator,
    who is an admin) are dropped."""
    found: set[str] = set()
    for role in roles:
        found |= {agent_role(a) for a in agents} if role == AGENTS else {role}
    return found


def _topic_rules(
    topic: MeshTopic, edges: Mapping[str, Collection[str]], principals: Mapping[str, str]
) -> list[AclRule]:
    writers = _roles(topic.writers, edges)
    if topic.kind == "inbox":
        # Only agents that declared the edge write another agent's inbox.
        senders = {agent_role(a) for a, targets in edges.items() if topic.agent in targets}
        writers = {w for w in writers if not w.startswith("agent:")} | senders
    rules = [
        AclRule(principals[r], "TOPIC", "LITERAL", topic.name, "WRITE", f"writes {topic.kind}")
        for r in writers
        if r in principals
    ]
    rules += [
        AclRule(principals[r], "TOPIC", "LITERAL", topic.name, "READ", f"reads {topic.kind}")
        for r in _roles(topic.readers, edges)
        if r in principals
    ]
    if topic.kind == "audit":  # the supervisor refuses to start on an audit topic that expires
        rules.append(
            AclRule(
                principals[SUPERVISOR],
                "TOPIC",
                "LITERAL",
                topic.name,
                "DESCRIBE_CONFIGS",
                "checks the audit topic's retention",
            )
        )
    return rules


def _creates(
    catalog: TopicCatalog, edges: Mapping[str, Collection[str]], principals: Mapping[str, str]
) -> list[AclRule]:
    def create(role: str, names: Iterable[str]) -> list[AclRule]:
        why = "creates it if missing at start"
        return [AclRule(principals[role], "TOPIC", "LITERAL", n, "CREATE", why) for n in names]

    inboxes = [catalog.inbox(a).name for a in edges]
    rules = create(SUPERVISOR, (m.name for m in catalog.of_kind(*_SUPERVISOR_CREATES)))
    rules += create(GATEWAY, (m.name for m in catalog.of_kind(*SERVICE_CREATES)))
    # A submission creates the entry agent's inbox if missing (agents/_submitter.py).
    rules += create(GATEWAY, inboxes)
    for agent in edges:
        own = [m.name for m in catalog.agent_sides(agent)]
        shared = [m.name for m in catalog.of_kind(*AGENT_CREATES)]
        rules += create(agent_role(agent), [*inboxes, *shared, *own])
    return rules


def _groups_and_transactions(
    ns: str, edges: Mapping[str, Collection[str]], principals: Mapping[str, str]
) -> list[AclRule]:
    sup, gw = principals[SUPERVISOR], principals[GATEWAY]
    rules = [
        AclRule(sup, "GROUP", "LITERAL", f"{ns}.supervisor", "READ", "its consumer group"),
        # The gateway's submissions, its redrives of dead letters, and `agentmesh task
        # submit` run with the gateway's credentials: transactional ids under these prefixes.
        AclRule(gw, "TRANSACTIONAL_ID", "PREFIXED", f"{ns}.gateway.", "WRITE", "submissions"),
        AclRule(gw, "TRANSACTIONAL_ID", "PREFIXED", f"{ns}.submit.", "WRITE", "CLI submissions"),
        AclRule(gw, "TRANSACTIONAL_ID", "PREFIXED", f"{ns}.dlq-redrive.", "WRITE", "redrives"),
    ]
    for agent in edges:
        me, inbox = principals[agent_role(agent)], f"{ns}.agent.{agent}"
        rules += [
            AclRule(me, "GROUP", "LITERAL", f"{inbox}.workers", "READ", "its consumer group"),
            # One transactional id per input partition: <inbox>.<partition>. Agent names hold
            # no '.', so this prefix is this agent's alone.
            AclRule(
                me, "TRANSACTIONAL_ID", "PREFIXED", f"{inbox}.", "WRITE", "its step transactions"
            ),
        ]
    return rules
