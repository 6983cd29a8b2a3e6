"""``agentmesh dlq list | show ID | redrive ID...``: dead letters you can act on."""

from __future__ import annotations

import asyncio
import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from agentmesh.cli._output import JsonOption, fail, out_console, print_json
from agentmesh.cli._remote import GatewayOpt, TokenOpt, no_by_with_gateway, run
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.core.views._dlq import DeadLetterEntry

__all__ = ["dlq_app"]

dlq_app = typer.Typer(
    help="Dead letters (<namespace>.dlq): list them, show one, redrive its work.",
    no_args_is_help=True,
)

StageOpt = Annotated[
    str | None,
    typer.Option(
        "--stage",
        help="Only dead letters of this stage: decode, validate, handler, oversize, "
        "unknown_agent, policy.",
    ),
]
_HINT = "(is Kafka up? `agentmesh infra status`)"


def _read(json_mode: bool) -> list[DeadLetterEntry]:
    from agentmesh.contracts import SchemaRegistry
    from agentmesh.core.views._dlq import read_dead_letters

    settings = get_settings()

    async def go() -> list[DeadLetterEntry]:
        registry = SchemaRegistry(settings.registry_url)
        try:
            return await read_dead_letters(settings, registry)
        finally:
            await registry.close()

    try:
        return asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - say what failed and how to fix it, no traceback
        fail(f"could not read {settings.namespace}.dlq: {exc} {_HINT}", json_mode=json_mode)


@dlq_app.command("list")
def list_letters(  # noqa: PLR0917 - one value per CLI flag
    stage: StageOpt = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """The newest dead letters first: id, position on the topic, task, agent, stage, why,
    and how many times their work was redriven."""
    if gateway:
        from agentmesh.cli._dlq_remote import remote_list

        # The gateway filters by task; by stage here, so ask for as many as it gives.
        ask = limit if stage is None else 1000
        found = remote_list(gateway, token, limit=ask, task=task)
        rows = run(found, json_mode=json_mode, doing="read the dead letters")
    else:
        rows = [e.summary_json() for e in _read(json_mode)]
    rows = [
        r
        for r in rows
        if (stage is None or r["stage"] == stage) and (task is None or r["task_id"] == task)
    ]
    rows.sort(key=lambda r: str(r["failed_at"]), reverse=True)
    rows = rows[:limit]
    if json_mode:
        print_json(rows)
        return
    if not rows:
        out_console.print("no dead letters")
        return
    table = Table("id", "at", "task", "agent", "stage", "redriven", "why")
    for r in rows:
        why = f"{r['error_class']}: {r['error_message']}"
        where = f"\n[dim]{r['position']}[/]" if r["position"] else ""
        table.add_row(
            f"{r['id']}{where}",
            str(r["failed_at"])[:19],
            r["task_id"] or "-",
            r["agent"] or "-",
            r["stage"],
            str(r["redrive_count"]),
            why[:160],
        )
    out_console.print(table)


@dlq_app.command()
def show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Its id, or <partition>:<offset>.")],
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """One dead letter whole: why, where it came from, its headers, the handoff it held
    (decoded with the schema it was written with) and whether it can be redriven."""
    if gateway:
        from agentmesh.cli._dlq_remote import remote_show

        shown = run(remote_show(gateway, token, ident), json_mode=json_mode, doing="read it")
        if json_mode:
            print_json(shown)
        else:
            _print_entry(shown)
        return
    from agentmesh.contracts import SchemaRegistry
    from agentmesh.core.views._dlq import (
        DeadLetterError,
        find_dead_letter,
        original_handoff,
        why_not_redrivable,
    )

    settings = get_settings()
    try:
        entry = find_dead_letter(_read(json_mode), ident)
    except DeadLetterError as exc:
        fail(str(exc), json_mode=json_mode)

    async def decoded() -> dict[str, Any] | None:
        registry = SchemaRegistry(settings.registry_url)
        try:
            return await original_handoff(registry, entry.letter)
        finally:
            await registry.close()

    data = entry.as_json()
    data["handoff"] = asyncio.run(decoded())
    data["not_redrivable"] = why_not_redrivable(entry, settings.namespace)
    if json_mode:
        print_json(data)
        return
    _print_entry(data)


def _print_entry(data: dict[str, Any]) -> None:
    import orjson

    rows = [
        ("id", data["id"]),
        ("position", f"{data['dlq_topic']}@{data['position']}"),
        ("task", data["task_id"]),
        ("agent", data["agent"]),
        ("stage", data["stage"]),
        ("error", f"{data['error_class']}: {data['error_message']}"),
        ("attempts", data["attempts"]),
        ("failed at", data["failed_at"]),
        (
            "original",
            f"{data['original_topic']}@{data['original_partition']}:{data['original_offset']}",
        ),
        ("redrive count", data["redrive_count"]),
        ("redriven from", data["redriven_from"]),
        ("headers", ", ".join(h["key"] for h in data["original_headers"]) or "-"),
        ("redrive", data["not_redrivable"] or "possible"),
    ]
    for name, value in rows:
        out_console.print(
            f"[bold]{name:>14}[/] {value if value is not None else '-'}", highlight=False
        )
    handoff = data["handoff"]
    if handoff is not None:
        text = orjson.dumps(handoff.get("payload"), option=orjson.OPT_INDENT_2).decode()
        out_console.print(f"[bold]{'payload':>14}[/]\n{text}", highlight=False)


@dlq_app.command()
def redrive(  # noqa: PLR0917 - one value per CLI flag
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID...", help="Dead letters by id or <partition>:<offset>."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (required; travels with the work, audited).")
    ] = "",
    edit: Annotated[
        str | None,
        typer.Option(
            "--edit",
            help="A fixed payload (JSON object) for ONE dead letter, checked against the "
            "schema of the handoff it held.",
        ),
    ] = None,
    stage: StageOpt = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every dead letter (of --stage, if given).")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who, without --gateway (default: your login).")
    ] = None,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Put dead letters' work back on its agent's inbox, once.

    The handoff goes back as it was (or with --edit's payload) with its lineage in headers
    (agentmesh-redrive-of, -from, -by, -reason, -count) and a key of its own, derived from
    the dead letter: redriving the same dead letter twice, or from two places at once, runs
    it once. Work that fails again becomes a new dead letter with its redrive count; past 3
    redrives it is refused. Each redrive is appended to the audit trail (decision
    dead_letter_redriven) when a supervisor runs in the namespace.

    Over --gateway (admin token) the gateway redrives them, as the token's name.

    Exit status: 0 all redriven, 2 some refused, 1 an error (Kafka, registry, gateway).
    """
    if not reason.strip():
        fail("--reason is required: say why (it travels with the work)", json_mode=json_mode)
    if bool(ids) == every:
        fail("give dead letter IDs, or --all (with --stage to narrow it)", json_mode=json_mode)
    if stage is not None and not every:
        fail("--stage selects with --all; with IDs, leave it out", json_mode=json_mode)
    if edit is not None and (every or len(ids or []) != 1):
        fail("--edit fixes one dead letter: give exactly one ID", json_mode=json_mode)
    if edit is not None:
        _check_edit(edit, json_mode)
    if gateway:
        from agentmesh.cli._dlq_remote import remote_redrive

        no_by_with_gateway(gateway, by)
        asked = remote_redrive(
            gateway, token, ids or [], every=every, stage=stage, reason=reason, edit=edit
        )
        _report(run(asked, json_mode=json_mode, doing="redrive"), json_mode)
        return
    entries = _read(json_mode)
    chosen = _choose(entries, ids or [], stage, json_mode)
    outcomes = asyncio.run(_redrive_all(chosen, by or getpass.getuser(), reason, edit))
    _report(outcomes, json_mode)


def _check_edit(edit: str, json_mode: bool) -> None:
    import orjson

    try:
        payload = orjson.loads(edit)
    except orjson.JSONDecodeError as exc:
        fail(f"--edit is not JSON ({exc}): give the payload as a JSON object", json_mode=json_mode)
    if not isinstance(payload, dict):
        fail("--edit must be a JSON object (the agent's input payload)", json_mode=json_mode)


def _choose(
    entries: list[DeadLetterEntry], ids: list[str], stage: str | None, json_mode: bool
) -> list[DeadLetterEntry | str]:
    """The entries to redrive; an id that names none stays as its error message."""
    from agentmesh.core.views._dlq import UnknownDeadLetter, find_dead_letter

    if not ids:
        chosen = [e for e in entries if stage is None or e.letter.stage == stage]
        if not chosen:
            fail(f"no dead letters{f' of stage {stage}' if stage else ''}", json_mode=json_mode)
        return list(chosen)
    out: list[DeadLetterEntry | str] = []
    for ident in ids:
        try:
            out.append(find_dead_letter(entries, ident))
        except UnknownDeadLetter as exc:
            out.append(str(exc))
    return out


async def _redrive_all(
    chosen: list[DeadLetterEntry | str], by: str, reason: str, edit: str | None
) -> list[dict[str, Any]]:
    from agentmesh.contracts import SchemaRegistry
    from agentmesh.core.views._dlq import DeadLetterError
    from agentmesh.core.views._dlq_redrive import redrive

    settings = get_settings()
    registry = SchemaRegistry(settings.registry_url)
    outcomes: list[dict[str, Any]] = []
    try:
        for entry in chosen:
            if isinstance(entry, str):
                outcomes.append({"ok": False, "error": entry, "refused": True})
                continue
            try:
                done = await redrive(
                    settings, registry, entry, by=by, reason=reason, payload_json=edit
                )
            except DeadLetterError as exc:
                outcomes.append({"ok": False, "id": entry.id, "error": str(exc), "refused": True})
            except Exception as exc:  # noqa: BLE001 - reported per dead letter, the rest go on
                error = f"could not write: {type(exc).__name__}: {exc} {_HINT}"
                outcomes.append({"ok": False, "id": entry.id, "error": error, "refused": False})
            else:
                outcomes.append(done.as_json())
    finally:
        await registry.close()
    return outcomes


def _report(outcomes: list[dict[str, Any]], json_mode: bool) -> None:
    if json_mode:
        print_json(outcomes)
    for o in outcomes:
        if json_mode:
            break
        if o["ok"]:
            audit = "audited" if o["audited"] else "NOT audited (no supervisor in this namespace)"
            out_console.print(
                f"{o['id']}: redriven to {o['topic']}@{o['partition']}:{o['offset']} "
                f"(redrive {o['redrive_count']}, key {o['idempotency_key']}; {audit})",
                highlight=False,
            )
        else:
            out_console.print(f"[bold red]refused:[/] {o['error']}", highlight=False)
    if any(not o["ok"] and not o["refused"] for o in outcomes):
        raise typer.Exit(1)
    if any(not o["ok"] for o in outcomes):
        raise typer.Exit(2)
