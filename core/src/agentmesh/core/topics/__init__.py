"""The mesh's topic catalog: every topic, its purpose, configuration and who may touch it.

Every place that creates a topic takes its spec from :class:`TopicCatalog`;
``agentmesh topics check`` compares a cluster with it and ``agentmesh topics apply`` brings
the cluster in line (docs/topics.md).
"""

from agentmesh.core.topics._catalog import (
    AGENT_CREATES,
    AGENTS,
    DEFAULT_PARTITIONS,
    GATEWAY,
    OPERATOR,
    SERVICE_CREATES,
    SUPERVISOR,
    SUPERVISOR_TABLES,
    MeshTopic,
    TopicCatalog,
    TopicKind,
    agent_role,
)
from agentmesh.core.topics._check import (
    APPLY_COMMAND,
    Applied,
    Difference,
    Inspection,
    apply_topics,
    audit_expiry,
    compare,
    inspect_topics,
)
from agentmesh.core.topics._cluster import (
    TopicState,
    add_partitions,
    alter_topic_configs,
    describe_topics,
    resolve_replication_factor,
)

__all__ = [
    "AGENTS",
    "AGENT_CREATES",
    "APPLY_COMMAND",
    "DEFAULT_PARTITIONS",
    "GATEWAY",
    "OPERATOR",
    "SERVICE_CREATES",
    "SUPERVISOR",
    "SUPERVISOR_TABLES",
    "Applied",
    "Difference",
    "Inspection",
    "MeshTopic",
    "TopicCatalog",
    "TopicKind",
    "TopicState",
    "add_partitions",
    "agent_role",
    "alter_topic_configs",
    "apply_topics",
    "audit_expiry",
    "compare",
    "describe_topics",
    "inspect_topics",
    "resolve_replication_factor",
]
