"""``/v1/ops``: what the operations page shows (live tasks, breakers, spend by tenant)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from sse_starlette.sse import EventSourceResponse

from agentmesh.gateway._auth import Identity
from agentmesh.gateway._state import GatewayState, state_of, who

__all__ = ["router"]

router = APIRouter(prefix="/v1/ops", tags=["operations"])
State = Annotated[GatewayState, Depends(state_of)]
# Budgets, spend and breakers say nothing of a task's content: whoever reads the queue may.
Reader = Annotated[Identity, Depends(who("reviewer", "auditor"))]


@router.get("/overview")
async def overview(
    gw: State,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000, description="live tasks to list")] = 200,
) -> dict[str, Any]:
    """Tasks in flight with their budget use (most recently active first), how many ended,
    every breaker's state, and USD spent per tenant per minute over the last hour."""
    return gw.ops.snapshot(limit)


@router.get("/stream", tags=["streams"], response_class=EventSourceResponse)
async def overview_updates(gw: State, _: Reader) -> EventSourceResponse:
    """Server-Sent Events: the overview's changes, at most one event a second (`ops`)."""
    queue = gw.ops.subscribe()

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                change = await queue.get()
                yield {"event": "ops", "data": orjson.dumps(change).decode()}
        finally:
            gw.ops.unsubscribe(queue)

    return EventSourceResponse(events())
