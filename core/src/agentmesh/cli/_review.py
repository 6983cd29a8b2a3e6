"""``agentmesh review list | approve | reject``: decide work parked for people.

With ``--gateway URL`` the calls go to the gateway (which checks roles and signs every
decision with its key); without it the queue is read from Kafka and the decision written to
``<namespace>.review.decisions`` directly, with the same checks but no signature.
"""

from __future__ import annotations

import getpass
import hashlib
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json
from agentmesh.cli._remote import ByOpt, GatewayOpt, TokenOpt, no_by_with_gateway, run
from agentmesh.core import get_settings

__all__ = ["review_app"]

review_app = typer.Typer(
    help="Work parked for people: list it, approve or reject it (signed only via --gateway).",
    no_args_is_help=True,
)


class Status(StrEnum):
    pending = "pending"
    released = "released"
    rejected = "rejected"
    all = "all"


Decision = Literal["approve", "approve_edited", "reject"]
ReviewId = Annotated[str, typer.Argument(help="The review's id (from `agentmesh review list`).")]
ReasonOpt = Annotated[
    str, typer.Option("--reason", help="Why (required; kept with the decision and audited).")
]
ShownOpt = Annotated[
    str | None,
    typer.Option(
        "--shown-sha256",
        help="The shown_sha256 of the item as you reviewed it: refuse if what is parked changed.",
        show_default=False,
    ),
]


@review_app.command("list")
def list_reviews(
    status: Annotated[Status, typer.Option(help="Which items.")] = Status.pending,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Parked work, oldest first: task, agent, why, approvals so far.

    --json adds what a reviewer decides on: the payload and its shown_sha256.
    """

    async def go() -> list[dict[str, Any]]:
        if gateway:
            from agentmesh.cli._gateway_client import GatewayClient

            async with GatewayClient(gateway, token) as gw:
                found: list[dict[str, Any]] = await gw.call(
                    "GET", "/v1/reviews", params={"status": status.value}
                )
                return found
        from agentmesh.core.views import read_reviews

        entries = sorted(
            (await read_reviews(get_settings())).values(), key=lambda e: e.request.requested_at
        )
        return [e.as_json() for e in entries if status.value in ("all", e.status)]

    items = run(go(), json_mode=json_mode, doing="read the review queue")
    if json_mode:
        print_json(items)
        return
    if not items:
        out_console.print(f"no {'' if status is Status.all else status.value + ' '}reviews")
        return
    table = Table("review", "task", "agent", "kind", "status", "approvals", "parked", "why")
    for i in items:
        table.add_row(
            i["review_id"],
            i["task_id"],
            i["agent"],
            i["kind"],
            i["status"],
            f"{len(i['approvals'])}/{i['required_approvals']}",
            str(i["requested_at"])[:19].replace("T", " "),
            _why(i),
        )
    out_console.print(table)
    if len(items) == 1:
        out_console.print("payload:", _short(items[0]["payload_json"], 2000), highlight=False)


@review_app.command()
def approve(  # noqa: PLR0917 - each option is one CLI flag
    review_id: ReviewId,
    reason: ReasonOpt,
    edit: Annotated[
        str | None,
        typer.Option(
            "--edit",
            help="Release this payload (a JSON object) instead of the parked one.",
            show_default=False,
        ),
    ] = None,
    shown_sha256: ShownOpt = None,
    by: ByOpt = None,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Approve parked work (released once it has the approvals its rule needs).

    Approvals must come from different people. Without --gateway the decision is written to
    Kafka directly and is unsigned: only the gateway signs decisions.
    """
    edited: dict[str, Any] | None = None
    if edit is not None:
        try:
            parsed = orjson.loads(edit)
        except orjson.JSONDecodeError as exc:
            fail(f"--edit is not valid JSON: {exc}", json_mode=json_mode, code=2)
        if not isinstance(parsed, dict):
            fail(
                "--edit must be a JSON object (the payload to release)", json_mode=json_mode, code=2
            )
        edited = parsed
    choice: Literal["approve", "approve_edited"] = "approve" if edited is None else "approve_edited"
    _decide(review_id, choice, reason, edited, shown_sha256, by, gateway, token, json_mode)


@review_app.command()
def reject(  # noqa: PLR0917 - each option is one CLI flag
    review_id: ReviewId,
    reason: ReasonOpt,
    shown_sha256: ShownOpt = None,
    by: ByOpt = None,
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_mode: JsonOption = False,
) -> None:
    """Reject parked work: it is dead-lettered and the task fails (ReviewRejected).

    Without --gateway the decision is written to Kafka directly and is unsigned: only the
    gateway signs decisions.
    """
    _decide(review_id, "reject", reason, None, shown_sha256, by, gateway, token, json_mode)


def _decide(  # noqa: PLR0917 - one value per CLI flag
    review_id: str,
    decision: Decision,
    reason: str,
    edited: dict[str, Any] | None,
    shown_sha256: str | None,
    by: str | None,
    gateway: str | None,
    token: str | None,
    json_mode: bool,
) -> None:
    no_by_with_gateway(gateway, by)
    if not reason.strip():
        raise typer.BadParameter("say why", param_hint="--reason")
    body: dict[str, Any] = {"decision": decision, "reason": reason, "shown_sha256": shown_sha256}
    if edited is not None:
        body["edited_payload"] = edited
    if gateway:
        work = _decide_via_gateway(gateway, token, review_id, body)
    else:
        work = _decide_directly(review_id, body, by or getpass.getuser())
    out, item = run(work, json_mode=json_mode, doing=f"decide review {review_id}")
    blocked = item.get("approval_blocked") if decision != "reject" else None
    if json_mode:
        print_json({**out, "signed": out["signature_b64"] is not None, "likely_refused": blocked})
        return
    out_console.print(_decided(decision, out, item), highlight=False)
    if blocked:
        # The supervisor has the last word (its policy may have changed since): say what it
        # said when it parked the work instead of promising a release.
        err_console.print(
            f"[bold yellow]the supervisor will likely refuse it:[/] {escape(blocked)}"
        )
    if out["signature_b64"] is None:
        err_console.print("[dim]unsigned: written to Kafka directly (only the gateway signs)[/]")
    else:
        err_console.print(f"[dim]signed by the gateway's key {out['key_id']}[/]")


async def _decide_via_gateway(
    url: str, token: str | None, review_id: str, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST the decision; the item as shown is fetched first, for its shown_sha256."""
    from agentmesh.cli._gateway_client import GatewayClient

    async with GatewayClient(url, token) as gw:
        path = f"/v1/reviews/{quote(review_id, safe='')}"
        item: dict[str, Any] = await gw.call("GET", path)
        shown = hashlib.sha256(str(item["payload_json"]).encode()).hexdigest()
        body = {**body, "shown_sha256": body["shown_sha256"] or shown}
        out: dict[str, Any] = await gw.call("POST", f"{path}/decisions", json=body)
    return out, item


async def _decide_directly(
    review_id: str, body: dict[str, Any], reviewer: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the (unsigned) decision to Kafka; answers in the gateway's shape."""
    from agentmesh.core.views import decide

    edited = body.get("edited_payload")
    made, entry = await decide(
        get_settings(),
        review_id,
        decision=body["decision"],
        reviewer=reviewer,
        reason=body["reason"],
        edited_payload_json=None if edited is None else orjson.dumps(edited).decode(),
        expect_sha256=body["shown_sha256"],
    )
    out = {
        "decision_id": made.decision_id,
        "review_id": made.review_id,
        "task_id": made.task_id,
        "decision": made.decision,
        "reviewer": made.reviewer,
        "reason": made.reason,
        "decided_at": made.decided_at.isoformat(),
        "shown_sha256": made.shown_sha256,
        "edited_payload_json": made.edited_payload_json,
        "key_id": None,
        "signature_b64": None,
    }
    before = entry.as_json()
    before["approvals"] = [a for a in before["approvals"] if a != made.reviewer]
    return out, before


def _decided(decision: Decision, out: dict[str, Any], item: dict[str, Any]) -> str:
    """What was decided, and what happens next."""
    what = f"review {out['review_id']} (task {out['task_id']}, {item['kind']} of {item['agent']})"
    if decision == "reject":
        return (
            f"rejected {what} as {out['reviewer']}: the supervisor dead-letters the parked "
            "work and ends the task"
        )
    have = len(set(item["approvals"]) | {out["reviewer"]})
    need = int(item["required_approvals"])
    then = "the supervisor releases it" if have >= need else f"needs {need - have} more"
    edited_note = " with an edited payload" if decision == "approve_edited" else ""
    return f"approved {what}{edited_note} as {out['reviewer']}: {have} of {need} approvals, {then}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _why(item: dict[str, Any]) -> str:
    """Why it was parked (the task's totals first, for a budget item the supervisor recorded
    them for), why approving would be refused, and the decisions the supervisor refused."""
    parts = [escape(item["reason"])]
    if item.get("task_usage") and item["task_usage"] not in item["reason"]:
        parts.append(escape(f"task used {item['task_usage']}"))
    if item.get("approval_blocked"):
        parts.append(f"[bold]{escape(item['approval_blocked'])}[/bold]")
    for r in item.get("refusals") or []:
        refused = f"{r['decision']} by {r['reviewer']} refused: {r['why']}"
        parts.append(f"[bold red]{escape(refused)}[/bold red]")
    return "\n".join(parts)
