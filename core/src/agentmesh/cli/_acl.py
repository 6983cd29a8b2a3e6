"""``agentmesh acl``: least-privilege Kafka ACLs derived from the mesh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from agentmesh.cli._apps import AppOption, load_app
from agentmesh.cli._output import JsonOption, fail, out_console, print_json
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.core.security import AclRule

__all__ = ["acl_app"]

acl_app = typer.Typer(
    help=(
        "Kafka ACLs for one principal per agent, the supervisor and the gateway, derived from "
        "the mesh: each agent reads its inbox and control and writes only the inboxes it may "
        "hand off to (hands_off_to), the shared events/DLQ/recordings topics and its own "
        "journal/state/done; only the supervisor writes audit; only the gateway writes tasks "
        "and review decisions (docs/security.md)."
    ),
    no_args_is_help=True,
)


def _rules(app: str | None, *, json_mode: bool) -> list[AclRule]:
    from agentmesh.core.security import derive_acls

    settings = get_settings()
    mesh = load_app(app or settings.app, json_mode=json_mode)
    if mesh is None:
        fail(
            "which mesh? give --app package.module:mesh (or set AGENTMESH_APP)", json_mode=json_mode
        )
    edges = {name: mesh.handoff_targets(name) for name in mesh.agents}
    return derive_acls(settings, edges)


def _as_dict(rule: AclRule) -> dict[str, Any]:
    return {
        "principal": f"User:{rule.principal}",
        "resource_type": rule.resource_type,
        "pattern": rule.pattern,
        "resource": rule.resource,
        "operation": rule.operation,
        "permission": "ALLOW",
        "host": "*",
        "why": rule.why,
    }


@acl_app.command()
def plan(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Show the ACLs the mesh needs, as a table and as kafka-acls commands. Changes nothing."""
    from agentmesh.core.security import kafka_acls_command

    rules = _rules(app, json_mode=json_out)
    bootstrap = get_settings().bootstrap
    if json_out:
        print_json(
            {
                "ok": True,
                "acls": [
                    {**_as_dict(r), "command": kafka_acls_command(r, bootstrap)} for r in rules
                ],
            }
        )
        return
    out_console.print(_table(rules))
    out_console.print(
        f"{len(rules)} ACLs ('name*': every name with that prefix). The same with kafka-acls "
        "(admin.properties: an admin's client config):",
        highlight=False,
    )
    for r in rules:
        out_console.print(kafka_acls_command(r, bootstrap), highlight=False, soft_wrap=True)


def _table(rules: list[AclRule]) -> Table:
    """One row per principal and resource, its operations together (the plan is long)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in rules:
        name = r.resource + ("*" if r.pattern == "PREFIXED" else "")
        grouped.setdefault((r.principal, f"{r.resource_type.lower()} {name}"), []).append(
            r.operation
        )
    table = Table("principal", "resource", "operations", title="ACLs (ALLOW, any host)")
    for col in table.columns:
        col.overflow = "fold"
    last = ""
    for (principal, resource), ops in grouped.items():
        table.add_row("" if principal == last else principal, resource, ", ".join(ops))
        last = principal
    return table


@acl_app.command()
def apply(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Create the ACLs the cluster does not have yet, as the admin (AGENTMESH_KAFKA_SASL_*).

    Idempotent: a second run creates nothing and says so. ACLs beyond the plan are left
    alone (see them with kafka-acls --list).
    """
    from confluent_kafka import KafkaException

    from agentmesh.core.security import apply_acls
    from agentmesh.core.transport import KafkaConnection

    rules = _rules(app, json_mode=json_out)
    settings = get_settings()
    try:
        done = apply_acls(KafkaConnection.from_settings(settings), rules)
    except KafkaException as exc:
        fail(_why_not(exc, settings.bootstrap), json_mode=json_out)
    if json_out:
        print_json(
            {
                "ok": True,
                "created": [_as_dict(r) for r in done.created],
                "already_present": len(done.existing),
            }
        )
        return
    if not done.created:
        out_console.print(f"nothing to do: all {len(rules)} ACLs are already in place")
        return
    for r in done.created:
        out_console.print(
            f"created: User:{r.principal} {r.operation} {r.resource_type.lower()} "
            f"{r.resource}{'*' if r.pattern == 'PREFIXED' else ''}",
            highlight=False,
        )
    out_console.print(f"{len(done.created)} created, {len(done.existing)} already present")


def _why_not(exc: Exception, bootstrap: str) -> str:
    from confluent_kafka import KafkaError

    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    if error is not None and error.code() == KafkaError.SECURITY_DISABLED:
        return (
            f"the cluster at {bootstrap} enforces no ACLs (it has no authorizer), so there is "
            "nothing to apply. For the local secure broker, load the admin's settings written "
            "by `agentmesh infra up --secure` (<data dir>/kafka-secure/credentials/admin.env)."
        )
    return (
        f"creating ACLs on {bootstrap} failed: {exc}. Run as an admin: set "
        "AGENTMESH_KAFKA_SASL_USERNAME/PASSWORD to a super-user's (for the local secure "
        "broker: load <data dir>/kafka-secure/credentials/admin.env)."
    )
