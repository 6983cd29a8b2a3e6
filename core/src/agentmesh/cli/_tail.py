"""``agentmesh tail events | audit | dlq | TOPIC``: records of a topic as they are, or as
they come (``--follow``), one line each, or one JSON object per line (``--json``)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from agentmesh.cli._output import JsonOption, err_console, out_console
from agentmesh.cli._remote import GatewayOpt, TokenOpt, run
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.cli._gateway_client import GatewayClient, SseEvent
    from agentmesh.core.views import Start, TailRecord, TailSpec

__all__ = ["describe_record", "tail"]

# Over the gateway without --follow: its streams never end, so reading stops once nothing
# new has come for this long (longer before the first record: the stream is starting).
FIRST_IDLE_S = 5.0
IDLE_S = 2.0


def tail(  # noqa: PLR0917 - each option is one CLI flag
    topic: Annotated[
        str,
        typer.Argument(
            metavar="events|audit|dlq|TOPIC",
            help="events, audit, dlq, control, tasks, review.requests, review.decisions, or "
            "any topic name (decoded with its registry schema, else shown as bytes).",
        ),
    ],
    task: Annotated[
        str | None, typer.Option("--task", help="Only records about this task.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new records (Ctrl-C to stop); live from now "
            "unless --from-beginning or --since.",
        ),
    ] = False,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record kept.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start at this time: 10m, 2h, 1h30m, 3d ago, or ISO 8601 (local time unless "
            "it has a zone).",
            show_default=False,
        ),
    ] = None,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Print a topic's records, one line or JSON object each (--follow: as they come).

    Without --follow: what is there now (from the beginning unless --since), then exit.

    Over --gateway: audit, and the events of one --task (resumed if the connection drops).
    """
    from agentmesh.core.views import resolve_topic

    if from_beginning and since:
        raise typer.BadParameter("give --from-beginning or --since, not both")
    try:
        start = _start(since, follow=follow, from_beginning=from_beginning)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    spec = resolve_topic(get_settings().namespace, topic)
    show = _printer(json_mode)
    if gateway:
        work = _over_gateway(gateway, token, spec, show, start=start, follow=follow, task=task)
    else:
        work = _from_kafka(spec, show, start=start, follow=follow, task=task)
    shown = run(work, json_mode=json_mode, doing=f"read {spec.topic}")
    if not shown:
        err_console.print(f"[dim]no records{f' about task {task}' if task else ''}[/]")


def _start(since: str | None, *, follow: bool, from_beginning: bool) -> Start:
    """Where reading starts: --since, --from-beginning, else now with --follow and the
    beginning without it."""
    from agentmesh.core.views import parse_since

    if since:
        return parse_since(since)
    return "end" if follow and not from_beginning else "beginning"


def _printer(json_mode: bool) -> Any:
    from agentmesh.core.views import dumps_line

    def show(record: TailRecord) -> None:
        if json_mode:
            sys.stdout.write(dumps_line(record.as_json()) + "\n")
            sys.stdout.flush()
        else:
            out_console.print(describe_record(record), soft_wrap=True, highlight=False)

    return show


def _where(start: Start) -> str:
    if isinstance(start, datetime):
        return f"from {start.astimezone():%Y-%m-%d %H:%M:%S}"
    return "from the beginning" if start == "beginning" else "from now"


async def _from_kafka(
    spec: TailSpec, show: Any, *, start: Start, follow: bool, task: str | None
) -> int:
    from agentmesh.core.views import tail_kafka

    def ready() -> None:
        if follow:
            err_console.print(
                f"[dim]following {spec.topic} {_where(start)}; Ctrl-C to stop[/]", highlight=False
            )

    return await tail_kafka(
        get_settings(), spec, show, start=start, follow=follow, task_id=task, on_ready=ready
    )


async def _over_gateway(
    url: str,
    token: str | None,
    spec: TailSpec,
    show: Any,
    *,
    start: Start,
    follow: bool,
    task: str | None,
) -> int:
    from agentmesh.cli._gateway_client import GatewayClient, GatewayError

    if spec.name not in ("event", "audit"):
        raise GatewayError(
            f"the gateway streams audit and one task's events, not {spec.topic}: leave out "
            "--gateway to read it from Kafka directly"
        )
    if spec.name == "event" and not task:
        raise GatewayError(
            "the gateway streams one task's events: give --task ID (or leave out --gateway "
            "to read every task's events from Kafka)"
        )
    async with GatewayClient(url, token) as gw:
        if spec.name == "audit":
            return await _gateway_audit(gw, show, start=start, follow=follow, task=task)
        assert task is not None
        return await _gateway_events(gw, show, start=start, follow=follow, task=task)


def _reconnecting(why: str, last_id: str | None) -> None:
    err_console.print(
        f"[yellow]connection lost ({why}); resuming from {last_id or 'the start'}[/]",
        highlight=False,
    )


async def _gateway_audit(
    gw: GatewayClient, show: Any, *, start: Start, follow: bool, task: str | None
) -> int:
    from agentmesh.contracts import AuditRecord
    from agentmesh.core.views import TailRecord

    params: dict[str, Any] = {}
    if task:
        params["task"] = task
    if isinstance(start, datetime):
        params["since"] = start.isoformat()
    elif start == "beginning":
        params["from_beginning"] = "true"

    def record(event: SseEvent) -> TailRecord:
        return TailRecord(
            topic=None,
            partition=None,
            offset=None,
            timestamp=None,
            key=None,
            value=_model(AuditRecord, event.data),
            stream_id=event.id,
        )

    path = "/v1/audit/stream"
    if follow:
        return await _follow(gw, path, params, show, record, f"audit {_where(start)}")
    return await _until_idle(gw, path, params, show, record)


async def _gateway_events(
    gw: GatewayClient, show: Any, *, start: Start, follow: bool, task: str
) -> int:
    from agentmesh.cli._gateway_client import GatewayError
    from agentmesh.contracts import AgentEvent

    path = f"/v1/tasks/{quote(task, safe='')}"
    since = start if isinstance(start, datetime) else None
    known: set[str] = set()
    shown = 0
    if not follow or start == "end":
        try:
            status: dict[str, Any] = await gw.call("GET", path)
        except GatewayError as exc:
            if exc.status != 404:
                raise
            status = {"events": []}
        events = [AgentEvent.model_validate(e) for e in status["events"]]
        known = {e.event_id for e in events}
        if not follow:
            for event in sorted(events, key=lambda e: (e.at, e.seq)):
                if since is None or event.at >= since:
                    show(_event_record(event, None))
                    shown += 1
            return shown

    def record(event: SseEvent) -> TailRecord | None:
        value = _model(AgentEvent, event.data)
        if isinstance(value, AgentEvent) and (
            value.event_id in known or (since is not None and value.at < since)
        ):
            return None
        return _event_record(value, event.id)

    return await _follow(gw, f"{path}/events", {}, show, record, f"task {task}'s events")


def _event_record(value: Any, stream_id: str | None) -> TailRecord:
    from agentmesh.core.views import TailRecord

    partition = offset = None
    if stream_id:  # a task event's id is "partition:next offset"
        p, _, o = stream_id.partition(":")
        if p.isdigit() and o.isdigit():
            partition, offset = int(p), int(o) - 1
    task = getattr(value, "task_id", None)
    return TailRecord(
        topic=None,
        partition=partition,
        offset=offset,
        timestamp=None,
        key=task if isinstance(task, str) else None,
        value=value,
        stream_id=stream_id,
    )


async def _follow(  # noqa: PLR0917 - one stream and what to do with it
    gw: GatewayClient,
    path: str,
    params: dict[str, Any],
    show: Any,
    record: Any,
    what: str,
) -> int:
    shown = 0
    err_console.print(f"[dim]following {what} from {gw.url}; Ctrl-C to stop[/]", highlight=False)
    async for event in gw.follow(path, params, on_reconnect=_reconnecting):
        made = record(event)
        if made is not None:
            show(made)
            shown += 1
    return shown


async def _until_idle(
    gw: GatewayClient, path: str, params: dict[str, Any], show: Any, record: Any
) -> int:
    shown = 0
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        async with (
            contextlib.aclosing(gw.events(path, params)) as stream,
            asyncio.timeout(FIRST_IDLE_S) as deadline,
        ):
            async for event in stream:
                made = record(event)
                if made is not None:
                    show(made)
                    shown += 1
                deadline.reschedule(loop.time() + IDLE_S)
    return shown


def _model(model: Any, data: str) -> Any:
    """The contract in an event's data; its plain JSON if it does not validate (another
    version of the gateway)."""
    import orjson
    from pydantic import ValidationError

    try:
        return model.model_validate_json(data)
    except ValidationError:
        return orjson.loads(data)


def describe_record(record: TailRecord) -> Text:
    """One line about a record: when, then what, by kind of record."""
    from agentmesh.core.views import dumps_line, record_time

    at = record_time(record)
    line = Text(f"{at.astimezone():%Y-%m-%d %H:%M:%S}  " if at else " " * 21, style="dim")
    what, style = _describe_value(record)
    line.append(what, style=style)
    if record.error and record.raw is None:
        line.append(f"  ({record.error})", style="yellow")
    if record.raw is not None:
        hex_ = record.raw[:32].hex() + ("…" if len(record.raw) > 32 else "")
        line.append(f"  {len(record.raw)} bytes {hex_}", style="yellow")
        if record.error:
            line.append(f" ({record.error})", style="dim")
    if record.value is not None and not hasattr(record.value, "model_dump"):
        line.append(" " + _cut(dumps_line(record.value), 400))
    return line


def _describe_value(record: TailRecord) -> tuple[str, str]:
    from agentmesh.cli._task import describe
    from agentmesh.contracts import (
        AgentEvent,
        AuditRecord,
        ControlCommand,
        DeadLetter,
        ReviewDecision,
        ReviewRequest,
        TaskSubmitted,
    )

    v = record.value
    if isinstance(v, AgentEvent):
        style = "red" if v.body.kind == "task_failed" else ""
        return f"{v.agent:<12} task {v.task_id}  {describe(v)}", style
    if isinstance(v, AuditRecord):
        return f"{v.decision:<18} task {v.task_id or '-'}  {_audit_details(v)}", "bold"
    if isinstance(v, DeadLetter):
        return (
            f"dead letter ({v.stage}) task {v.task_id or '-'} agent {v.agent or '-'}: "
            f"{v.error_class}: {_cut(v.error_message, 200)} (from {v.original_topic}"
            f"[{v.original_partition}]@{v.original_offset})",
            "red",
        )
    if isinstance(v, ReviewRequest):
        return (
            f"parked {v.kind} of {v.agent} task {v.task_id} review {v.review_id} "
            f"(needs {v.required_approvals}): {v.reason}",
            "yellow",
        )
    if isinstance(v, ReviewDecision):
        signed = "signed" if v.signature else "unsigned"
        return (
            f"{v.decision} by {v.reviewer} review {v.review_id} task {v.task_id or '-'} "
            f"({signed}): {v.reason}",
            "cyan",
        )
    if isinstance(v, ControlCommand):
        return f"{v.action} {v.scope}:{v.target} by {v.issued_by}: {v.reason}", "magenta"
    if isinstance(v, TaskSubmitted):
        return (
            f"task {v.task_id} to {v.entry_agent} by {v.submitted_by} (tenant {v.tenant}): "
            f"{_cut(v.input_json, 200)}",
            "",
        )
    where = f"[{record.partition}]@{record.offset}" if record.partition is not None else ""
    key = f" key={record.key}" if record.key is not None else ""
    return f"{record.topic or ''}{where}{key}", ""


def _audit_details(r: Any) -> str:
    import orjson

    from agentmesh.core.views import dumps_line

    try:
        details = orjson.loads(r.details_json)
    except orjson.JSONDecodeError:
        return f"{r.subject} by {r.actor}: {_cut(r.details_json, 300)}"
    if isinstance(details, dict):
        text = ", ".join(
            f"{k}={v if isinstance(v, str) else dumps_line(v)}" for k, v in details.items()
        )
    else:
        text = dumps_line(details)
    return f"{r.subject} by {r.actor}: {_cut(text, 300)}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
