"""``agentmesh infra``: the local Kafka broker and schema registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from agentmesh.cli._apps import AppOption
from agentmesh.cli._infra_secure import create_principals, print_principals
from agentmesh.cli._output import JsonOption, RichReporter, fail, out_console, print_json
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.core import Settings
    from agentmesh.infra import ServiceStatus

__all__ = ["infra_app"]

infra_app = typer.Typer(
    help=(
        "Run a real Apache Kafka broker (KRaft, single node) and a Confluent-compatible schema "
        "registry on this machine, from Maven Central jars (Java 17+ and Maven; no Docker).\n\n"
        "Ports come from AGENTMESH_KAFKA_PORT (19092), AGENTMESH_KAFKA_CONTROLLER_PORT (19093) and "
        "AGENTMESH_REGISTRY_PORT (18081); jars, data and logs live under AGENTMESH_HOME "
        "(~/.cache/agentmesh). When AGENTMESH_KAFKA_BOOTSTRAP or AGENTMESH_SCHEMA_REGISTRY_URL "
        "is set, that service is used as it is and nothing is started for it."
    ),
    no_args_is_help=True,
)


SecureOption = Annotated[
    bool,
    typer.Option(
        "--secure",
        help="The secure broker instead: SASL/SCRAM-SHA-512 and ACLs enforced, on its own "
        "ports (AGENTMESH_KAFKA_SECURE_PORT 19094, ..._CONTROLLER_PORT 19095) and data "
        "directory (<data dir>/kafka-secure), beside the plaintext one (docs/security.md).",
    ),
]


@infra_app.command()
def up(json_out: JsonOption = False, secure: SecureOption = False, app: AppOption = None) -> None:
    """Start the broker and registry if they are not running, and wait until both answer.

    Safe to run again: services already running are left alone. The first run downloads
    about 100 MB of jars from Maven Central into AGENTMESH_HOME.

    With --secure, the admin's credentials and, given --app (or AGENTMESH_APP), one
    principal per agent, the supervisor and the gateway are created, each written to
    <data dir>/kafka-secure/credentials/<user>.env (mode 0600).
    """
    from agentmesh.infra import InfraError, LocalInfra, LocalSecureKafka

    settings = get_settings()
    try:
        with RichReporter(enabled=not json_out) as reporter:
            infra = LocalInfra(settings, reporter, secure=secure)
            result = infra.up()
    except InfraError as exc:
        fail(str(exc), json_mode=json_out)
    audit_key = _audit_signing_key(settings)
    summary = {
        "ok": True,
        "bootstrap": result.bootstrap,
        "schema_registry_url": result.registry_url,
        "started": result.started,
    }
    if isinstance(infra.kafka, LocalSecureKafka):
        files = create_principals(infra.kafka, settings, app, json_mode=json_out)
        if json_out:
            print_json({**summary, "credentials": {r: str(path) for r, path in files.items()}})
        else:
            print_principals(files, result.bootstrap)
            if audit_key is not None:
                out_console.print(f"audit checkpoints signed with key {audit_key}", highlight=False)
        return
    if json_out:
        print_json({**summary, "services": [_status_dict(s) for s in result.services]})
        return
    started = ", ".join(result.started) if result.started else "nothing (already running)"
    out_console.print(f"started: {started}", highlight=False)
    out_console.print(f"AGENTMESH_KAFKA_BOOTSTRAP={result.bootstrap}", highlight=False)
    out_console.print(f"AGENTMESH_SCHEMA_REGISTRY_URL={result.registry_url}", highlight=False)
    if audit_key is not None:
        out_console.print(f"audit checkpoints signed with key {audit_key}", highlight=False)


def _audit_signing_key(settings: Settings) -> str | None:
    """The key the local supervisor signs audit checkpoints with, made on the first run
    (<home>/audit/signing-key.pem; docs/security.md). None when not on this machine."""
    from agentmesh.supervisor import signing_key

    signer = signing_key(settings, create_local=True)
    return None if signer is None else signer.key_id


@infra_app.command()
def down(json_out: JsonOption = False, secure: SecureOption = False) -> None:
    """Stop the local broker and registry (SIGTERM, then SIGKILL after 30 s). Data is kept.

    With --secure, only the secure broker: the registry is shared with the plaintext one.
    """
    from agentmesh.infra import InfraError, LocalInfra, LocalSecureKafka

    try:
        only = [LocalSecureKafka.name] if secure else None
        stopped = LocalInfra(get_settings(), secure=secure).down(only=only)
    except InfraError as exc:
        fail(str(exc), json_mode=json_out)
    if json_out:
        print_json({"ok": True, "stopped": stopped})
    else:
        out_console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@infra_app.command()
def status(json_out: JsonOption = False, secure: SecureOption = False) -> None:
    """Show each service's state. Exits 0 when all are healthy, 3 otherwise."""
    from agentmesh.infra import LocalInfra

    statuses = LocalInfra(get_settings(), secure=secure).status()
    healthy = all(s.ok for s in statuses)
    if json_out:
        print_json({"ok": healthy, "services": [_status_dict(s) for s in statuses]})
    else:
        table = Table("service", "state", "address", "pid", "log")
        for s in statuses:
            color = "green" if s.ok else "yellow" if s.state == "starting" else "red"
            table.add_row(
                s.name, f"[{color}]{s.state}[/]", s.address, str(s.pid or ""), s.log or ""
            )
        out_console.print(table)
    if not healthy:
        raise typer.Exit(3)


def _status_dict(s: ServiceStatus) -> dict[str, object]:
    return {"name": s.name, "state": s.state, "address": s.address, "pid": s.pid, "log": s.log}
