"""Who is who on the cluster: one Kafka principal per agent, the supervisor and the gateway.

Names carry the namespace, so several meshes can share one cluster without sharing
identities, and mirror the consumer groups (``<ns>.agent.<name>.workers``, ``<ns>.supervisor``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ADMIN",
    "agent_principal",
    "gateway_principal",
    "mesh_principals",
    "supervisor_principal",
]

ADMIN = "admin"
"""The local secure broker's super-user (``super.users=User:admin``)."""


def agent_principal(namespace: str, agent: str) -> str:
    """The user agent ``agent`` connects as."""
    return f"{namespace}.agent.{agent}"


def supervisor_principal(namespace: str) -> str:
    """The user the supervisor connects as."""
    return f"{namespace}.supervisor"


def gateway_principal(namespace: str) -> str:
    """The user the gateway (and people's CLI writes of tasks, decisions, control) connects as."""
    return f"{namespace}.gateway"


def mesh_principals(namespace: str, agents: Iterable[str]) -> dict[str, str]:
    """Role → principal for a mesh: ``agent:<name>`` for each agent, ``supervisor``, ``gateway``."""
    roles = {f"agent:{a}": agent_principal(namespace, a) for a in sorted(agents)}
    roles["supervisor"] = supervisor_principal(namespace)
    roles["gateway"] = gateway_principal(namespace)
    return roles
