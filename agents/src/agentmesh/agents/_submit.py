"""Putting one task into the mesh: its record and its first handoff, atomically."""

from __future__ import annotations

from typing import Any

from agentmesh.agents._mesh import Mesh
from agentmesh.agents._submitter import Submitter
from agentmesh.contracts import Budget, Contract, SchemaStore, TaskSubmitted
from agentmesh.core import Settings

__all__ = ["submit_task"]


async def submit_task(
    settings: Settings,
    mesh: Mesh,
    agent: str,
    payload: Contract | dict[str, Any],
    registry: SchemaStore,
    *,
    budget: Budget | None = None,
    task_id: str | None = None,
    tenant: str = "default",
    submitted_by: str = "cli",
    idempotency_key: str | None = None,
    partitions: int | None = None,
) -> TaskSubmitted:
    """Validate ``payload`` against ``agent``'s input and publish the task.

    The task record (``<ns>.tasks``) and the first handoff (``<ns>.agent.<agent>``) are
    written in one transaction: a reader never sees one without the other. The same
    ``idempotency_key`` always gives the same task id and first handoff, which agents drop
    as a repeat. Each call opens a producer of its own: to submit many tasks, keep one
    :class:`Submitter` open instead.
    """
    async with Submitter(
        settings, mesh, registry, submitted_by=submitted_by, partitions=partitions
    ) as submitter:
        return await submitter.submit(
            agent,
            payload,
            budget=budget,
            task_id=task_id,
            tenant=tenant,
            idempotency_key=idempotency_key,
        )
