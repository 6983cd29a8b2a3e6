"""``agentmesh control``: the kill switch — pause, resume or cancel a task, an agent, a
tenant or everything — and the rules in force."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.table import Table

from agentmesh.cli._output import JsonOption, fail, out_console, print_json
from agentmesh.core import get_settings

__all__ = ["control_app"]

control_app = typer.Typer(
    help="The kill switch: stop or resume a task, an agent, a tenant or the whole mesh.",
    no_args_is_help=True,
)

TaskOpt = Annotated[str | None, typer.Option("--task", help="One task, by id.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Every instance of one agent.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Every task of one tenant.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Everything in the namespace.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who issues it (default: your login).")]


def _target(
    task: str | None, agent: str | None, tenant: str | None, everything: bool
) -> tuple[str, str]:
    chosen = [(s, t) for s, t in (("task", task), ("agent", agent), ("tenant", tenant)) if t]
    if everything:
        chosen.append(("global", "*"))
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --task, --agent, --tenant or --all")
    return chosen[0]


def _issue(  # noqa: PLR0917 - one value per CLI flag
    action: str, scope: str, target: str, reason: str, by: str | None, json_mode: bool
) -> None:
    from agentmesh.contracts import ControlCommand
    from agentmesh.core.views import publish_control

    command = ControlCommand(
        scope=scope,
        target=target,
        action=action,
        reason=reason,
        issued_by=by or getpass.getuser(),
    )
    try:
        asyncio.run(publish_control(get_settings(), command))
    except Exception as exc:  # noqa: BLE001 - say what failed and how to fix it, no traceback
        fail(
            f"could not write the control record: {exc} (is Kafka up? `agentmesh infra status`)",
            json_mode=json_mode,
        )
    if json_mode:
        print_json(command.model_dump(mode="json"))
    else:
        out_console.print(f"{action} {scope} {target!r}: issued ({command.command_id})")


@control_app.command()
def pause(  # noqa: PLR0917 - each option is one CLI flag
    reason: ReasonOpt,
    task: TaskOpt = None,
    agent: AgentOpt = None,
    tenant: TenantOpt = None,
    everything: AllOpt = False,
    by: ByOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Stop before the next LLM or tool call, losing nothing.

    A paused task's work is parked on review.requests; a paused agent (or --all) stops
    consuming and resumes where it was.
    """
    scope, target = _target(task, agent, tenant, everything)
    _issue("pause", scope, target, reason, by, json_mode)


@control_app.command()
def resume(  # noqa: PLR0917 - each option is one CLI flag
    reason: ReasonOpt,
    task: TaskOpt = None,
    agent: AgentOpt = None,
    tenant: TenantOpt = None,
    everything: AllOpt = False,
    by: ByOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Lift a pause (parked work of a task is released by deciding its review)."""
    scope, target = _target(task, agent, tenant, everything)
    _issue("resume", scope, target, reason, by, json_mode)


@control_app.command()
def cancel(
    reason: ReasonOpt,
    task: TaskOpt = None,
    by: ByOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """End one task: its next call and every later input of it are dropped, recorded as
    task_failed (Cancelled)."""
    if not task:
        raise typer.BadParameter("cancel needs --task (pause an agent or --all instead)")
    _issue("cancel", "task", task, reason, by, json_mode)


@control_app.command("list")
def list_rules(json_mode: JsonOption = False) -> None:
    """The rules in force: pauses, cancels and open breakers, newest first."""
    from agentmesh.core.views import live_rules

    try:
        rules = asyncio.run(live_rules(get_settings()))
    except Exception as exc:  # noqa: BLE001
        fail(f"could not read the control topic: {exc}", json_mode=json_mode)
    ordered = sorted(rules.values(), key=lambda c: c.issued_at, reverse=True)
    if json_mode:
        print_json([c.model_dump(mode="json") for c in ordered])
        return
    table = Table("scope", "target", "action", "by", "at", "reason")
    for c in ordered:
        table.add_row(
            c.scope,
            c.target,
            c.action,
            c.issued_by,
            c.issued_at.isoformat(timespec="seconds"),
            c.reason,
        )
    out_console.print(table if ordered else "no rules in force")
