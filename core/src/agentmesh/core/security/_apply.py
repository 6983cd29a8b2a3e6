"""ACL rules as Kafka sees them: bindings to create through the admin API, and the
equivalent ``kafka-acls`` commands for people who apply them by hand."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

# These are re-exported by confluent_kafka.admin at runtime but not in its stubs.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from agentmesh.core.security._acl import AclRule
from agentmesh.core.security._admin import admin_client
from agentmesh.core.transport import KafkaConnection

__all__ = ["AclApplied", "apply_acls", "existing_acls", "kafka_acls_command"]

_TIMEOUT_S = 30.0
_FLAG = {"TOPIC": "--topic", "GROUP": "--group", "TRANSACTIONAL_ID": "--transactional-id"}
_OPERATION_NAME = {
    "READ": "Read",
    "WRITE": "Write",
    "CREATE": "Create",
    "DESCRIBE_CONFIGS": "DescribeConfigs",
}


@dataclass(frozen=True, slots=True)
class AclApplied:
    """What :func:`apply_acls` did: the rules it created and those already there."""

    created: list[AclRule]
    existing: list[AclRule]


def kafka_acls_command(rule: AclRule, bootstrap: str) -> str:
    """The ``kafka-acls.sh`` command that adds ``rule`` (run with an admin's config file)."""
    argv = [
        "kafka-acls.sh",
        "--bootstrap-server",
        bootstrap,
        "--command-config",
        "admin.properties",
        "--add",
        "--allow-principal",
        f"User:{rule.principal}",
        "--operation",
        _OPERATION_NAME[rule.operation],
    ]
    argv += (
        ["--cluster"]
        if rule.resource_type == "CLUSTER"
        else [_FLAG[rule.resource_type], rule.resource]
    )
    if rule.pattern == "PREFIXED":
        argv += ["--resource-pattern-type", "prefixed"]
    return shlex.join(argv)


def _binding(rule: AclRule) -> AclBinding:
    return AclBinding(
        ResourceType[rule.resource_type],
        rule.resource,
        ResourcePatternType[rule.pattern],
        f"User:{rule.principal}",
        "*",
        AclOperation[rule.operation],
        AclPermissionType.ALLOW,
    )


def _key(binding: AclBinding) -> tuple[str, str, str, str, str]:
    principal = binding.principal.removeprefix("User:")
    return (
        principal,
        _name(binding.restype),
        _name(binding.resource_pattern_type),
        binding.name,
        _name(binding.operation),
    )


def _name(value: object) -> str:
    # Described bindings carry enums; the stubs also allow the str/int they may be built from.
    return value.name if isinstance(value, Enum) else str(value)


def existing_acls(conn: KafkaConnection) -> set[tuple[str, str, str, str, str]]:
    """The keys (see :attr:`AclRule.key`) of every ALLOW binding from any host on the cluster."""
    client = admin_client(conn)  # kept alive until its future resolves
    # None matches any name, principal and host (the stubs say str).
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ALLOW,
    )
    found = client.describe_acls(everything, request_timeout=_TIMEOUT_S).result(timeout=_TIMEOUT_S)
    return {_key(b) for b in found if b.host == "*"}


def apply_acls(conn: KafkaConnection, rules: Sequence[AclRule]) -> AclApplied:
    """Create the rules the cluster does not have yet (idempotent: a second run creates none)."""
    have = existing_acls(conn)
    missing = [r for r in rules if r.key not in have]
    if missing:
        client = admin_client(conn)
        futures = client.create_acls([_binding(r) for r in missing], request_timeout=_TIMEOUT_S)
        for future in futures.values():
            future.result(timeout=_TIMEOUT_S)
    return AclApplied(created=missing, existing=[r for r in rules if r.key in have])
