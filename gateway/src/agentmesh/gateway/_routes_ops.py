"""Control (the kill switch), dead letters, the audit stream, and operations endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sse_starlette.sse import EventSourceResponse

from agentmesh.contracts import AuditRecord
from agentmesh.core.transport import KafkaConnection, make_admin
from agentmesh.gateway._auth import Identity
from agentmesh.gateway._dlq import dead_letter_json
from agentmesh.gateway._models import ControlIn, ErrorOut
from agentmesh.gateway._routes_tasks import issue_control
from agentmesh.gateway._state import GatewayState, state_of, who
from agentmesh.gateway._streams import audit_stream

__all__ = ["router"]

router = APIRouter()
State = Annotated[GatewayState, Depends(state_of)]


@router.post("/v1/control", status_code=202, tags=["control"])
async def kill_switch(
    body: ControlIn, gw: State, identity: Annotated[Identity, Depends(who("admin"))]
) -> dict[str, Any]:
    """Pause, resume or cancel a task, an agent, a tenant, or everything (`global`)."""
    if body.action == "cancel" and body.scope != "task":
        error = "cancel applies to a task; pause an agent, a tenant or everything"
        raise HTTPException(422, {"error": error, "field": "action"})
    target = "*" if body.scope == "global" else body.target
    command = await issue_control(gw, identity, body.scope, target, body.action, body.reason)
    data: dict[str, Any] = orjson.loads(command.model_dump_json())
    return data


@router.get("/v1/control", tags=["control"])
async def rules(
    gw: State, _: Annotated[Identity, Depends(who("admin", "auditor"))]
) -> list[dict[str, Any]]:
    """The rules in force: pauses, cancels, open breakers."""
    from agentmesh.core.views import live_rules

    found = await live_rules(gw.settings)
    return [orjson.loads(c.model_dump_json()) for c in found.values()]


@router.get("/v1/dlq", tags=["dead letters"])
async def dead_letters(
    gw: State,
    _: Annotated[Identity, Depends(who("auditor", "admin"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    task: str | None = None,
) -> list[dict[str, Any]]:
    """The newest dead letters (original bytes base64), with why and where they came from."""
    from agentmesh.gateway._dlq import recent_dead_letters

    letters = await recent_dead_letters(gw.settings, gw.dlq, limit=limit, task_id=task)
    return [dead_letter_json(d) for d in letters]


@router.get("/v1/audit/stream", tags=["streams"], response_class=EventSourceResponse)
async def audit(  # noqa: PLR0917 - one parameter per query filter
    gw: State,
    _: Annotated[Identity, Depends(who("auditor"))],
    task: str | None = None,
    agent: str | None = None,
    decision: str | None = None,
    from_beginning: bool = False,
    since: datetime | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: audit records as they are appended, filtered by task, agent or
    decision kind; live unless `from_beginning` or `since`; resumable with `Last-Event-ID`."""

    def keep(r: AuditRecord) -> bool:
        if task and r.task_id != task:
            return False
        if decision and r.decision != decision:
            return False
        return not agent or agent == r.subject or f'"{agent}"' in r.details_json

    stream = await audit_stream(
        gw.settings,
        gw.registry,
        last_event_id=last_event_id,
        from_beginning=from_beginning,
        since=since,
        keep=keep,
    )
    return EventSourceResponse(stream)


@router.get("/v1/me", tags=["operations"])
async def whoami(
    identity: Annotated[Identity, Depends(who("submitter", "reviewer", "auditor", "admin"))],
) -> dict[str, Any]:
    """Who the token belongs to and its roles (pages use it to show only what one may do)."""
    return {"name": identity.name, "roles": sorted(identity.roles)}


@router.get("/v1/keys", tags=["operations"])
async def signing_key(gw: State) -> dict[str, str]:
    """The public key review decisions are signed with (Ed25519, PEM)."""
    return {
        "key_id": gw.signer.key_id,
        "algorithm": "Ed25519",
        "public_key_pem": gw.signer.public_pem.decode(),
    }


@router.get("/healthz", tags=["operations"])
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"model": ErrorOut}})
async def ready(gw: State) -> JSONResponse:
    """Ready to serve: Kafka and the schema registry answer (503 names what does not)."""
    problems = [] if gw.up.is_set() else [f"starting: {gw.last_error or 'connecting'}"]
    admin = make_admin(KafkaConnection.from_settings(gw.settings))
    try:
        async with asyncio.timeout(3.0):
            await admin.start()
            await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        problems.append(f"kafka at {gw.settings.bootstrap}: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    problems += await _registry_problems(gw)
    if problems:
        return JSONResponse({"error": "not ready", "detail": problems}, 503)
    return JSONResponse({"status": "ready", "reviews_loaded": gw.view.caught_up.is_set()})


async def _registry_problems(gw: GatewayState) -> list[str]:
    import httpx

    url = gw.settings.registry_url
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            # Constant-size answer; listing subjects slows as the registry fills up.
            (await client.get(f"{url}/schemas/types")).raise_for_status()
    except httpx.HTTPError as exc:
        return [f"schema registry at {url}: {type(exc).__name__}: {exc}"]
    return []


@router.get("/metrics", tags=["operations"], response_class=Response)
async def prometheus(gw: State) -> Response:
    """Prometheus metrics (request latency by route, tasks, decisions)."""
    return Response(generate_latest(gw.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def reviewer_page() -> FileResponse:
    from agentmesh.gateway._app import STATIC

    return FileResponse(STATIC / "index.html")
