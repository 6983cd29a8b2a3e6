"""``/v1/tasks``: publish a task, read its state, cancel it, follow its events."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from sse_starlette.sse import EventSourceResponse

from agentmesh.contracts import Budget, ControlCommand, utcnow
from agentmesh.core.submission import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    InputRejected,
)
from agentmesh.gateway._auth import Identity
from agentmesh.gateway._models import SubmitTask, TaskAccepted, TaskStatus
from agentmesh.gateway._state import GatewayState, state_of, who
from agentmesh.gateway._streams import task_stream
from agentmesh.gateway._submit import KeyReused, UnknownAgent

__all__ = ["issue_control", "router"]

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
State = Annotated[GatewayState, Depends(state_of)]


@router.post("", status_code=202, response_model=TaskAccepted)
async def submit_task(
    body: SubmitTask,
    gw: State,
    identity: Annotated[Identity, Depends(who("submitter"))],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="names this request: a retry with the same key is the same task; "
            "a key sent with a different agent, tenant or input is refused (422); no "
            "control characters",
        ),
    ] = None,
) -> TaskAccepted:
    """Publish a task to its entry agent. The input is checked as the agent checks it: by
    its input model when the gateway has the mesh (`AGENTMESH_APP`), else by its registered
    schema; a 422 names the field (`input.question`). A retry with the same
    `Idempotency-Key` is the same task; the same key with a different agent, tenant or input
    gets 422. The first handoff carries the effective budget: the tightest of `budget` and
    the governance policy's limits."""
    b = body.budget
    budget = Budget(
        max_tokens=b.max_tokens if b else None,
        max_cost_usd=b.max_cost_usd if b else None,
        max_steps=b.max_steps if b else None,
        max_hops=b.max_hops if b else None,
        deadline=utcnow() + timedelta(seconds=b.deadline_s) if b and b.deadline_s else None,
    )
    try:
        task, new = await gw.submitter.submit(
            body.agent,
            body.input,
            budget=budget,
            tenant=body.tenant,
            submitted_by=identity.name,
            idempotency_key=idempotency_key,
            labels=body.labels,
        )
    except UnknownAgent as exc:
        detail = {"error": str(exc), "field": "agent", "detail": {"known": exc.known}}
        raise HTTPException(404, detail) from None
    except InputRejected as exc:
        refused: dict[str, object] = {
            "error": str(exc),
            "field": exc.field,
            "detail": exc.as_dicts(),
        }
        raise HTTPException(422, refused) from None
    except KeyReused as exc:
        detail = {"error": str(exc), "field": "Idempotency-Key", "detail": {"task_id": exc.task_id}}
        raise HTTPException(422, detail) from None
    if new:
        gw.submitted.inc()
    return TaskAccepted(
        task_id=task.task_id,
        status_url=f"/v1/tasks/{task.task_id}",
        events_url=f"/v1/tasks/{task.task_id}/events",
        duplicate=not new,
    )


@router.get("/{task_id}", response_model=TaskStatus)
async def task_status(
    task_id: str, gw: State, _: Annotated[Identity, Depends(who("submitter", "auditor"))]
) -> TaskStatus:
    """The task's state and timeline, from `<ns>.events`, and the supervisor's ledger."""
    from agentmesh.core.views import read_ledger, read_timeline

    try:
        t = await read_timeline(gw.settings, task_id)
        ledger = await read_ledger(gw.settings, task_id)
    except LookupError:
        raise HTTPException(404, f"no events for task {task_id!r} (yet)") from None
    if not t.events:
        raise HTTPException(404, f"no events for task {task_id!r} (yet)")
    state = "completed" if t.output_json is not None else "failed" if t.failure else "running"
    return TaskStatus(
        task_id=task_id,
        state=state,
        hops=t.hops,
        steps=t.steps,
        llm_calls=t.llm_calls,
        tool_calls=t.tool_calls,
        agent_runs=t.agent_runs,
        tokens=t.tokens,
        cost_usd=str(t.cost_usd),
        budget=None if ledger is None else ledger.as_json(),
        output=orjson.loads(t.output_json) if t.output_json else None,
        failure=t.failure,
        events=[orjson.loads(e.model_dump_json()) for e in t.events],
    )


@router.post("/{task_id}/cancel", status_code=202)
async def cancel_task(
    task_id: str,
    gw: State,
    identity: Annotated[Identity, Depends(who("submitter"))],
    reason: Annotated[str, Query(min_length=1, max_length=2000)] = "cancelled via the gateway",
) -> dict[str, str]:
    """Stop the task before its next LLM or tool call; later inputs of it are dropped."""
    command = await issue_control(gw, identity, "task", task_id, "cancel", reason)
    return {"command_id": command.command_id}


@router.get("/{task_id}/events", tags=["streams"], response_class=EventSourceResponse)
async def task_events(
    task_id: str,
    gw: State,
    _: Annotated[Identity, Depends(who("submitter", "auditor"))],
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: the task's events from the start, then live (resumable with
    `Last-Event-ID`)."""
    return EventSourceResponse(task_stream(gw.settings, gw.registry, task_id, last_event_id))


async def issue_control(  # noqa: PLR0917 - the fields of one control record
    gw: GatewayState, identity: Identity, scope: str, target: str, action: str, reason: str
) -> ControlCommand:
    """Write one control record in the caller's name."""
    command = ControlCommand.model_validate(
        {
            "scope": scope,
            "target": target,
            "action": action,
            "reason": reason,
            "issued_by": identity.name,
        }
    )
    await gw.producer.send_and_wait(
        gw.topics.control, gw.control.encode(command), key=command.key.encode()
    )
    return command
