"""``agentmesh task submit | show | watch | cancel``: put work into the mesh, read its story,
stop it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json
from agentmesh.cli._remote import ByOpt, GatewayOpt, TokenOpt, no_by_with_gateway, run
from agentmesh.cli._submit import submit
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.contracts import AgentEvent
    from agentmesh.core.views import TaskTimeline

__all__ = ["describe", "task_app", "timeline_json"]

task_app = typer.Typer(help="Submit tasks and follow what happens to them.", no_args_is_help=True)
task_app.command("submit")(submit)


@task_app.command()
def show(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Print the task's timeline from <namespace>.events, with hops, tokens and cost, and the
    supervisor's ledger: the usage and limits its budget is enforced on."""
    if gateway:
        timeline, ledger = run(
            _remote_timeline(gateway, token, task_id), json_mode=json_out, doing="read the task"
        )
        _print_timeline(timeline, json_out, ledger)
        return
    try:
        timeline, ledger = asyncio.run(_local_task(task_id))
    except LookupError as exc:
        fail(str(exc), json_mode=json_out)
    if not timeline.events:
        fail(
            f"no events for task {task_id} in namespace {get_settings().namespace}",
            json_mode=json_out,
        )
    _print_timeline(timeline, json_out, ledger)


async def _local_task(task_id: str) -> tuple[TaskTimeline, dict[str, Any] | None]:
    from agentmesh.core.views import read_ledger, read_timeline

    settings = get_settings()
    ledger = await read_ledger(settings, task_id)
    return await read_timeline(settings, task_id), None if ledger is None else ledger.as_json()


@task_app.command()
def watch(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    timeout_s: Annotated[float, typer.Option(help="Give up after this long.")] = 600.0,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
) -> None:
    """Follow the task's events live until it completes or fails (exit 1 if it fails, or
    if it is still running after --timeout-s)."""
    from agentmesh.core.views import read_timeline

    def show_event(_t: TaskTimeline, event: AgentEvent) -> None:
        out_console.print(
            f"{event.at:%H:%M:%S}  {event.agent:<12} {describe(event)}", highlight=False
        )

    if gateway:
        timeline = run(
            _remote_watch(gateway, token, task_id, timeout_s, show_event),
            json_mode=False,
            doing="follow the task",
        )
    else:
        timeline = asyncio.run(
            read_timeline(
                get_settings(),
                task_id,
                until_finished=True,
                timeout_s=timeout_s,
                on_event=show_event,
            )
        )
    out_console.print(_summary(timeline), highlight=False)
    if not timeline.finished or timeline.failure:
        raise typer.Exit(1)


@task_app.command()
def cancel(  # noqa: PLR0917 - each option is one CLI flag
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    by: ByOpt = None,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Stop a task before its next LLM or tool call (it ends as task_failed, Cancelled).

    Writes the control record task:<id>, as `agentmesh control cancel --task` does.
    """
    from agentmesh.cli._control import _issue

    no_by_with_gateway(gateway, by)
    if not gateway:
        _issue("cancel", "task", task_id, reason, by, json_out)
        return
    from urllib.parse import quote

    from agentmesh.cli._gateway_client import GatewayClient

    async def go() -> dict[str, Any]:
        async with GatewayClient(gateway, token) as gw:
            found: dict[str, Any] = await gw.call(
                "POST", f"/v1/tasks/{quote(task_id, safe='')}/cancel", params={"reason": reason}
            )
            return found

    answer = run(go(), json_mode=json_out, doing=f"cancel task {task_id}")
    if json_out:
        print_json(
            {
                "command_id": answer.get("command_id"),
                "scope": "task",
                "target": task_id,
                "action": "cancel",
                "reason": reason,
            }
        )
    else:
        out_console.print(f"cancel task {task_id!r}: issued ({answer.get('command_id')})")


async def _remote_timeline(
    gateway: str, token: str | None, task_id: str
) -> tuple[TaskTimeline, dict[str, Any] | None]:
    """The task's timeline and ledger as the gateway reads them (``GET /v1/tasks/{id}``)."""
    from urllib.parse import quote

    from agentmesh.cli._gateway_client import GatewayClient
    from agentmesh.contracts import AgentEvent
    from agentmesh.core.views import TaskTimeline

    async with GatewayClient(gateway, token) as gw:
        status = await gw.call("GET", f"/v1/tasks/{quote(task_id, safe='')}")
    timeline = TaskTimeline(task_id)
    for event in status["events"]:
        timeline.add(AgentEvent.model_validate(event))
    return timeline, status.get("budget")


async def _remote_watch(
    gateway: str,
    token: str | None,
    task_id: str,
    timeout_s: float,
    on_event: Callable[[TaskTimeline, AgentEvent], None],
) -> TaskTimeline:
    """The task's event stream (from its first event, resumed if the connection drops)
    until it finishes or ``timeout_s`` passes."""
    from urllib.parse import quote

    from agentmesh.cli._gateway_client import GatewayClient
    from agentmesh.contracts import AgentEvent
    from agentmesh.core.views import TaskTimeline

    timeline = TaskTimeline(task_id)
    path = f"/v1/tasks/{quote(task_id, safe='')}/events"

    def reconnecting(why: str, _last: str | None) -> None:
        err_console.print(f"[dim]{why}; reconnecting ...[/]", highlight=False)

    async def follow() -> None:
        async with GatewayClient(gateway, token) as gw:
            async for sse in gw.follow(path, on_reconnect=reconnecting):
                event = AgentEvent.model_validate_json(sse.data)
                timeline.add(event)
                on_event(timeline, event)
                if timeline.finished:
                    return

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await follow()
    return timeline


def describe(event: AgentEvent) -> str:
    """One line about an event."""
    b = event.body
    if b.kind == "llm_call" and b.attempt_of is not None:
        return f"llm {b.provider} failed inside a fallback chain: {b.error}"
    if b.kind == "llm_call":
        cost = "price unknown" if b.cost_usd is None else f"${b.cost_usd:.6f}"
        again = " (replayed)" if b.replayed else ""
        return f"llm {b.model} {b.input_tokens}+{b.output_tokens} tokens {cost}{again}"
    if b.kind == "tool_call":
        return f"tool {b.tool} {b.status} in {b.latency_ms:.0f} ms ({b.attempts} attempts)"
    if b.kind == "handoff_emitted":
        return f"handoff -> {b.to_agent} (hop {b.hop}, {b.size_bytes} B)"
    if b.kind == "step_finished":
        sent = ", ".join(f"-> {h.to_agent}" for h in b.handoffs)
        return f"step {b.outcome} in {b.duration_ms:.0f} ms" + (f" ({sent})" if sent else "")
    if b.kind == "task_completed":
        return "task completed"
    if b.kind == "task_failed":
        return f"task failed: {b.error_class}: {b.message}"
    return b.kind.replace("_", " ")


def _summary(t: TaskTimeline) -> str:
    state = "completed" if t.output_json else f"failed ({t.failure})" if t.failure else "running"
    unpriced = f", {t.unpriced_calls} calls with unknown price" if t.unpriced_calls else ""
    return (
        f"task {t.task_id}: {state}; {t.hops} hops, {t.steps} steps ({t.llm_calls} LLM calls, "
        f"{t.tool_calls} tool calls), {t.tokens} tokens, ${t.cost_usd:.6f}{unpriced}; "
        f"{t.agent_runs} agent runs"
    )


def timeline_json(t: TaskTimeline, ledger: dict[str, Any] | None = None) -> dict[str, Any]:
    """The timeline as JSON for ``--json`` (the gateway's ``GET /v1/tasks/{id}`` shape)."""
    return {
        "task_id": t.task_id,
        "state": "completed" if t.output_json else "failed" if t.failure else "running",
        "hops": t.hops,
        "steps": t.steps,
        "llm_calls": t.llm_calls,
        "tool_calls": t.tool_calls,
        "agent_runs": t.agent_runs,
        "tokens": t.tokens,
        "cost_usd": str(t.cost_usd),
        "unpriced_calls": t.unpriced_calls,
        "budget": ledger,
        "output": orjson.loads(t.output_json) if t.output_json else None,
        "failure": t.failure,
        "events": [e.model_dump(mode="json") for e in t.events],
    }


def _print_timeline(t: TaskTimeline, json_out: bool, ledger: dict[str, Any] | None) -> None:
    if json_out:
        print_json(timeline_json(t, ledger))
        return
    table = Table("time", "agent", "what", show_edge=False)
    for event in sorted(t.events, key=lambda e: (e.at, e.seq)):
        table.add_row(f"{event.at:%H:%M:%S.%f}"[:-3], event.agent, describe(event))
    out_console.print(table)
    out_console.print(_summary(t), highlight=False)
    _print_budget(ledger)


def _print_budget(ledger: dict[str, Any] | None) -> None:
    """The supervisor's ledger: what the task's budget is enforced on."""
    if ledger is None:
        out_console.print(
            "budget: no ledger (no supervisor runs in this namespace, or it has not seen "
            "the task yet)",
            highlight=False,
        )
        return
    stopped = f" ({ledger['stopped_for']})" if ledger.get("stopped_for") else ""
    extended = f", extended {ledger['extensions']}x" if ledger.get("extensions") else ""
    table = Table("budget", "used", "limit", show_edge=False, title_justify="left")
    used, limits = ledger["used"], ledger["limits"]
    for name, limit in (
        ("steps", "max_steps"),
        ("tokens", "max_tokens"),
        ("cost_usd", "max_cost_usd"),
        ("hops", "max_hops"),
    ):
        table.add_row(name, str(used[name]), "-" if limits[limit] is None else str(limits[limit]))
    if limits.get("deadline"):
        table.add_row("deadline", "", str(limits["deadline"]))
    out_console.print(f"budget: {ledger['status']}{stopped}{extended}", highlight=False)
    out_console.print(table)
