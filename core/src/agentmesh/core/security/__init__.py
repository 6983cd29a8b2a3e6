"""Who may do what on the cluster: principals, their credentials and least-privilege ACLs.

:func:`derive_acls` turns a mesh's shape (its agents and whom each may hand off to) into
the ACL bindings every process needs and no more; :func:`apply_acls` creates the missing
ones through the admin API. ``agentmesh acl plan|apply`` and ``agentmesh infra up --secure``
are built on this module (docs/security.md).
"""

from agentmesh.core.security._acl import AclRule, Operation, PatternType, ResourceType, derive_acls
from agentmesh.core.security._admin import admin_client, upsert_scram_users
from agentmesh.core.security._apply import (
    AclApplied,
    apply_acls,
    existing_acls,
    kafka_acls_command,
)
from agentmesh.core.security._credentials import (
    ProcessCredentials,
    credentials_from_env,
    new_password,
    read_env_file,
    write_env_file,
)
from agentmesh.core.security._principals import (
    ADMIN,
    agent_principal,
    gateway_principal,
    mesh_principals,
    supervisor_principal,
)

__all__ = [
    "ADMIN",
    "AclApplied",
    "AclRule",
    "Operation",
    "PatternType",
    "ProcessCredentials",
    "ResourceType",
    "admin_client",
    "agent_principal",
    "apply_acls",
    "credentials_from_env",
    "derive_acls",
    "existing_acls",
    "gateway_principal",
    "kafka_acls_command",
    "mesh_principals",
    "new_password",
    "read_env_file",
    "supervisor_principal",
    "upsert_scram_users",
    "write_env_file",
]
