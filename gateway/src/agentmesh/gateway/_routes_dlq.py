"""Dead letters to act on: one in full, and redriving its work (``agentmesh dlq`` over HTTP).

The listing (``GET /v1/dlq``) is in ``_routes_ops``; this module adds what a person needs
to decide and act: the whole dead letter with the handoff it held, and the redrive, which
the gateway does exactly as ``agentmesh dlq redrive`` does (the same function), as the
calling admin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentmesh.core.views._dlq import (
    DeadLetterEntry,
    UnknownDeadLetter,
    find_dead_letter,
    original_handoff,
    read_dead_letters,
    why_not_redrivable,
)
from agentmesh.core.views._dlq_redrive import (
    RedriveRefused,
    RedriveSuperseded,
    redrive,
)
from agentmesh.gateway._auth import Identity
from agentmesh.gateway._json import unencodable
from agentmesh.gateway._models import Text
from agentmesh.gateway._state import GatewayState, state_of, who

__all__ = ["router"]

router = APIRouter()
State = Annotated[GatewayState, Depends(state_of)]
Stage = Literal["decode", "validate", "handler", "oversize", "unknown_agent", "policy"]


def _writable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    found = unencodable(value)
    if found is not None:
        raise ValueError(found[1])
    return value


class RedriveIn(BaseModel):
    """One dead letter's work back on its inbox."""

    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000, description="why; travels with the work")
    edited_payload: Annotated[dict[str, Any] | None, AfterValidator(_writable)] = Field(
        default=None,
        description="a fixed payload instead of the original, checked against the schema of "
        "the handoff the dead letter held",
    )


class RedriveManyIn(BaseModel):
    """Several dead letters' work: named ones, or every one (of a stage)."""

    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000, description="why; travels with the work")
    ids: list[Text] = Field(default_factory=list, max_length=1000)
    all: bool = Field(default=False, description="every dead letter (of `stage`, if given)")
    stage: Stage | None = None


async def _entries(gw: GatewayState) -> list[DeadLetterEntry]:
    return await read_dead_letters(gw.settings, gw.registry)


async def _entry(gw: GatewayState, ident: str) -> DeadLetterEntry:
    try:
        return find_dead_letter(await _entries(gw), ident)
    except UnknownDeadLetter as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/v1/dlq/{ident}", tags=["dead letters"])
async def dead_letter(
    ident: str, gw: State, _: Annotated[Identity, Depends(who("auditor", "admin"))]
) -> dict[str, Any]:
    """One dead letter by id or `<partition>:<offset>`: why, where from, original bytes
    (base64), the handoff it held (decoded), its redrive count and whether it can be
    redriven (`not_redrivable` says why not)."""
    entry = await _entry(gw, ident)
    data = entry.as_json()
    data["handoff"] = await original_handoff(gw.registry, entry.letter)
    data["not_redrivable"] = why_not_redrivable(entry, gw.settings.namespace)
    return data


async def _redrive_one(
    gw: GatewayState, entry: DeadLetterEntry, identity: Identity, body: RedriveIn
) -> dict[str, Any]:
    edited = None if body.edited_payload is None else orjson.dumps(body.edited_payload).decode()
    try:
        done = await redrive(
            gw.settings,
            gw.registry,
            entry,
            by=identity.name,
            reason=body.reason,
            payload_json=edited,
        )
    except RedriveRefused as exc:
        if exc.field:
            field = "edited_payload" + exc.field.removeprefix("payload")
            raise HTTPException(422, {"error": str(exc), "field": field}) from None
        raise HTTPException(409, str(exc)) from None
    except RedriveSuperseded as exc:
        raise HTTPException(409, str(exc)) from None
    return done.as_json()


@router.post("/v1/dlq/{ident}/redrive", tags=["dead letters"])
async def redrive_one(
    ident: str,
    body: RedriveIn,
    gw: State,
    identity: Annotated[Identity, Depends(who("admin"))],
) -> dict[str, Any]:
    """Put a dead letter's work back on its agent's inbox, once: redriving it again (or
    from two places at once) is dropped by the agent as a repeat. 409 when it cannot be
    redriven (not an agent's handoff, kept truncated, redriven 3 times already) or a
    concurrent redrive of it took over; 422 naming the field when `edited_payload` does
    not fit the handoff's schema."""
    return await _redrive_one(gw, await _entry(gw, ident), identity, body)


@router.post("/v1/dlq/redrive", tags=["dead letters"])
async def redrive_many(
    body: RedriveManyIn,
    gw: State,
    identity: Annotated[Identity, Depends(who("admin"))],
) -> list[dict[str, Any]]:
    """Redrive the named dead letters, or all (of a stage): one outcome per dead letter,
    in order (`ok`, or `error`); one refused never stops the others."""
    if bool(body.ids) == body.all:
        raise HTTPException(422, {"error": "give ids, or all: true", "field": "ids"})
    if body.stage is not None and not body.all:
        raise HTTPException(422, {"error": "stage selects with all: true", "field": "stage"})
    entries = await _entries(gw)
    chosen: list[DeadLetterEntry | str] = []
    if body.all:
        chosen.extend(e for e in entries if body.stage in (None, e.letter.stage))
    for ident in body.ids:
        try:
            chosen.append(find_dead_letter(entries, ident))
        except UnknownDeadLetter as exc:
            chosen.append(str(exc))
    one = RedriveIn(reason=body.reason)
    outcomes: list[dict[str, Any]] = []
    for entry in chosen:
        if isinstance(entry, str):
            outcomes.append({"ok": False, "error": entry})
            continue
        try:
            outcomes.append(await _redrive_one(gw, entry, identity, one))
        except HTTPException as exc:
            outcomes.append({"ok": False, "id": entry.id, "error": exc.detail})
    return outcomes
