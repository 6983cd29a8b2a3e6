"""``agentmesh topics list | check | apply``: the mesh's topics as docs/topics.md says."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from agentmesh.cli._apps import AppOption, load_app
from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json
from agentmesh.core import Settings, get_settings

if TYPE_CHECKING:
    from agentmesh.core.policy import Policy
    from agentmesh.core.topics import Applied, Inspection, MeshTopic

__all__ = ["topics_app"]

topics_app = typer.Typer(
    help="The mesh's topics: list what they should be, check a cluster, apply the catalog.",
    no_args_is_help=True,
)

T = TypeVar("T")

_ERROR = 2  # could not check at all (1 means: checked, and something is off)


@topics_app.command("list")
def list_topics(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Print the catalog: every topic the mesh needs, its purpose, configs, writers and readers.

    Partition counts are those of a new mesh; `topics check` sizes them from the cluster.
    """
    from agentmesh.core.topics import TopicCatalog

    settings, policy, agents = _mesh(app, json_out)
    rf = settings.replication_factor or 3
    wanted = TopicCatalog(settings, policy, rf).everything(agents)
    if json_out:
        print_json({"ok": True, "topics": [_topic_dict(m) for m in wanted]})
        return
    table = Table("topic", "purpose", "partitions", "configs", "writers", "readers")
    for m in wanted:
        table.add_row(
            m.name,
            m.purpose,
            str(m.partitions),
            "\n".join(f"{k}={v}" for k, v in m.configs.items()),
            ", ".join(sorted(m.writers)),
            ", ".join(sorted(m.readers)),
        )
    out_console.print(table)
    if settings.replication_factor is None:
        err_console.print(
            "[dim]min.insync.replicas shown for 3 replicas; on a cluster of fewer brokers it is "
            "min(2, brokers)[/]"
        )


@topics_app.command()
def check(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Compare the cluster's mesh topics with the catalog; print each difference and its fix.

    Exit 0 when every topic matches, 1 when any is missing or differs (fix each with the
    printed kafka-configs.sh / kafka-topics.sh command, or all at once with
    `agentmesh topics apply`), 2 when the cluster could not be checked. Without --app (or
    AGENTMESH_APP) per-agent topics (inboxes, journals, state, done) are not checked.
    """
    settings, policy, agents = _mesh(app, json_out)
    inspection = _run(_inspect(settings, policy, agents), "describing topics", json_out)
    fix_all = _apply_command(app)
    rows = [
        {**d.as_dict(), "fix": fix_all if d.kind == "missing" else d.fix}
        for d in inspection.differences
    ]
    if json_out:
        print_json(
            {
                "ok": not rows,
                "namespace": settings.namespace,
                "checked": len(inspection.wanted),
                "differences": rows,
                "fix_all": fix_all,
            }
        )
    else:
        _print_differences(settings, inspection, rows, fix_all)
    raise typer.Exit(1 if rows else 0)


@topics_app.command()
def apply(
    app: AppOption = None,
    schemas: Annotated[
        bool,
        typer.Option(
            "--schemas/--no-schemas",
            help="Also register every topic's schema (as `agentmesh contracts register`).",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Create the missing mesh topics and set every config that differs from the catalog.

    Idempotent: run it on every deploy (the Helm chart's pre-install job does). Partition
    counts that fall short are raised; partitions are never reduced (Kafka cannot). Needs
    only the AGENTMESH_* connection settings, the policy (AGENTMESH_POLICY) for the audit
    retention, and --app to know the agents.
    """
    settings, policy, agents = _mesh(app, json_out)
    applied = _run(_apply(settings, policy, agents), "applying the topic catalog", json_out)
    registered: dict[str, int] = {}
    if schemas:
        from agentmesh.cli._contracts_ops import _register

        mesh = load_app(app or settings.app, json_mode=json_out)
        registered = _run(_register(mesh), "registering schemas", json_out)
    if json_out:
        print_json(
            {
                "ok": True,
                "created": applied.created,
                "altered": applied.altered,
                "partitions_added": applied.grown,
                "schemas": registered,
            }
        )
        return
    _print_applied(applied, registered)


def _mesh(app: str | None, json_out: bool) -> tuple[Settings, Policy, list[str]]:
    from agentmesh.core.policy import PolicyError, load_policy

    settings = get_settings()
    try:
        policy = load_policy(settings.policy)
    except PolicyError as exc:
        fail(str(exc), json_mode=json_out, code=_ERROR)
    spec = app or settings.app
    mesh = load_app(spec, json_mode=json_out)
    if mesh is None and not json_out:
        err_console.print(
            "[yellow]no --app (or AGENTMESH_APP): per-agent topics are left out[/]",
            highlight=False,
        )
    return settings, policy, sorted(mesh.agents) if mesh else []


async def _inspect(settings: Settings, policy: Policy, agents: list[str]) -> Inspection:
    from agentmesh.core.topics import inspect_topics
    from agentmesh.core.transport import KafkaConnection

    return await inspect_topics(KafkaConnection.from_settings(settings), settings, policy, agents)


async def _apply(settings: Settings, policy: Policy, agents: list[str]) -> Applied:
    from agentmesh.core.topics import apply_topics
    from agentmesh.core.transport import KafkaConnection

    conn = KafkaConnection.from_settings(settings)
    return await apply_topics(conn, await _inspect(settings, policy, agents))


def _run(work: Coroutine[Any, Any, T], doing: str, json_out: bool) -> T:
    try:
        with _progress(doing, enabled=not json_out):
            result: T = asyncio.run(work)
    except Exception as exc:  # noqa: BLE001 - shown to the user with its type
        fail(f"{doing}: {type(exc).__name__}: {exc}", json_mode=json_out, code=_ERROR)
    return result


@contextmanager
def _progress(doing: str, *, enabled: bool) -> Iterator[None]:
    if enabled and err_console.is_terminal:
        with err_console.status(f"{doing}..."):
            yield
    else:
        yield


def _apply_command(app: str | None) -> str:
    from agentmesh.core.topics import APPLY_COMMAND

    return f"{APPLY_COMMAND} --app {app}" if app else APPLY_COMMAND


def _print_differences(
    settings: Settings, inspection: Inspection, rows: list[dict[str, Any]], fix_all: str
) -> None:
    checked = len(inspection.wanted)
    if not rows:
        out_console.print(
            f"[green]all {checked} topics of namespace {settings.namespace} match the catalog[/]"
        )
        return
    table = Table("topic", "difference", "expected", "actual", "fix", show_lines=True)
    for row in rows:
        what = row["key"] or row["kind"]
        table.add_row(row["topic"], what, row["expected"], row["actual"] or "-", row["fix"])
    out_console.print(table)
    out_console.print(
        f"[red]{len(rows)} difference(s)[/] in {checked} topics of namespace "
        f"{settings.namespace}; fix them all with: [bold]{fix_all}[/]",
        highlight=False,
    )


def _print_applied(applied: Applied, registered: dict[str, int]) -> None:
    for name in applied.created:
        out_console.print(f"created {name}", highlight=False)
    for name, configs in applied.altered.items():
        shown = ", ".join(f"{k}={v}" for k, v in configs.items())
        out_console.print(f"set {shown} on {name}", highlight=False)
    for name, count in applied.grown.items():
        out_console.print(f"raised {name} to {count} partitions", highlight=False)
    for subject, schema_id in registered.items():
        out_console.print(f"registered {subject} (id {schema_id})", highlight=False)
    if not (applied.created or applied.altered or applied.grown):
        out_console.print("every mesh topic already matches the catalog")
    err_console.print("[dim]partitions are only ever added, never reduced[/]")


def _topic_dict(m: MeshTopic) -> dict[str, Any]:
    return {
        "name": m.name,
        "kind": m.kind,
        "purpose": m.purpose,
        "partitions": m.partitions,
        "replication_factor": m.replication_factor,
        "configs": dict(m.configs),
        "writers": sorted(m.writers),
        "readers": sorted(m.readers),
        "agent": m.agent,
    }
