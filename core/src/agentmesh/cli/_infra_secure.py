"""``agentmesh infra up --secure``: the mesh's principals on the local secure broker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from agentmesh.cli._apps import load_app
from agentmesh.cli._output import fail, out_console

if TYPE_CHECKING:
    from agentmesh.core import Settings
    from agentmesh.infra import LocalSecureKafka

__all__ = ["create_principals", "print_principals"]


def create_principals(
    kafka: LocalSecureKafka, settings: Settings, app: str | None, *, json_mode: bool
) -> dict[str, Path]:
    """SCRAM users for the admin and, with a mesh, each agent, the supervisor and the gateway.

    A principal keeps its password across runs (read back from its env file); creating a
    credential again with the same password changes nothing a client notices.
    """
    from agentmesh.core.security import ADMIN, mesh_principals, new_password, upsert_scram_users

    mesh = load_app(app or settings.app, json_mode=json_mode)
    users = mesh_principals(settings.namespace, mesh.agents) if mesh else {}
    passwords: dict[str, str] = {}
    for user in users.values():
        known = kafka.credentials(user)
        passwords[user] = known.password if known else new_password()
    try:
        upsert_scram_users(kafka.admin_connection(), passwords)
    except Exception as exc:  # noqa: BLE001 - a KafkaException; say what failed and stop
        fail(f"creating SCRAM users on {kafka.address} failed: {exc}", json_mode=json_mode)
    files = {"admin": kafka.credentials_dir / f"{ADMIN}.env"}
    for role, user in users.items():
        files[role] = kafka.save_credentials(user, passwords[user])
    return files


def print_principals(files: dict[str, Path], bootstrap: str) -> None:
    """The credential files and how a process uses one."""
    table = Table("role", "credentials file (mode 0600)")
    table.columns[1].overflow = "fold"
    for role, path in files.items():
        table.add_row(role, str(path))
    out_console.print(table)
    example = next((p for r, p in files.items() if r.startswith("agent:")), files["admin"])
    out_console.print(
        f"secure broker at {bootstrap} (SASL_PLAINTEXT, SCRAM-SHA-512, ACLs enforced).\n"
        "Run each process with its own identity, e.g.:\n"
        f"  (set -a; . {example}; set +a; agentmesh run agent ...)\n"
        "Nothing but the admin may do anything until the mesh's ACLs exist:\n"
        "  agentmesh acl apply --app <mod:mesh>   (with the admin's file loaded)",
        highlight=False,
        soft_wrap=True,  # the commands stay copyable, however narrow the terminal
    )
