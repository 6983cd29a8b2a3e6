"""``/v1/tasks/{id}/recordings`` and ``/story``: what a task's steps were given and their
calls asked and answered. Recordings can hold what the policy's redaction leaves of personal
data, so only auditors (and admins) may read them."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException

from agentmesh.contracts import Recording
from agentmesh.gateway._auth import Identity
from agentmesh.gateway._state import GatewayState, state_of, who

__all__ = ["router"]

router = APIRouter(prefix="/v1/tasks", tags=["recordings"])
State = Annotated[GatewayState, Depends(state_of)]


@router.get("/{task_id}/recordings")
async def task_recordings(
    task_id: str, gw: State, _: Annotated[Identity, Depends(who("auditor"))]
) -> dict[str, Any]:
    """Every committed recording of the task, in the order written: each step's input
    (`step_input`) and each model (`llm_call`) and tool (`tool_call`) call, with `request`
    and `response` as JSON (null in `metadata` mode). 404 when the task has none."""
    from agentmesh.core.views._recordings import read_recordings

    found = await read_recordings(gw.settings, task_id)
    if not found:
        raise HTTPException(404, f"no recordings for task {task_id!r}")
    return {"task_id": task_id, "recordings": [_jsonable(r) for r in found]}


@router.get("/{task_id}/story")
async def task_story(
    task_id: str, gw: State, _: Annotated[Identity, Depends(who("auditor"))]
) -> dict[str, Any]:
    """The task as a tree of steps (what `agentmesh replay show --json` prints): each step's
    input, every recorded model and tool exchange, the handoffs, tokens, cost and time, and
    every supervisor decision about the task. 404 when nothing of the task is recorded."""
    from agentmesh.core.views._story import read_story

    try:
        story = await read_story(gw.settings, task_id)
    except LookupError:
        story = None
    if story is None or not story.roots:
        raise HTTPException(404, f"nothing recorded for task {task_id!r}")
    return story.as_json()


def _jsonable(rec: Recording) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(
        rec.model_dump_json(exclude={"request_json", "response_json"})
    )
    data["request"] = None if rec.request_json is None else orjson.loads(rec.request_json)
    data["response"] = None if rec.response_json is None else orjson.loads(rec.response_json)
    return data
