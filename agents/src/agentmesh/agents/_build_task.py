"""A submission's task record and first handoff, checked against the entry agent's model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmesh.agents._mesh import Mesh
from agentmesh.contracts import Budget, Contract, Handoff, TaskSubmitted, new_id, task_id_for
from agentmesh.core.policy import Policy, effective_budget
from agentmesh.core.submission import check_idempotency_key, check_input

__all__ = ["build_task"]


def build_task(
    mesh: Mesh,
    agent: str,
    payload: Contract | Mapping[str, Any],
    *,
    budget: Budget,
    policy: Policy | None = None,
    task_id: str | None,
    tenant: str,
    submitted_by: str,
    idempotency_key: str | None,
    labels: Mapping[str, str] | None = None,
) -> tuple[TaskSubmitted, Handoff[Any]]:
    """The task record and first handoff of a submission (:class:`~agentmesh.core.submission.
    InputRejected` when the input does not fit the agent's model)."""
    typed = check_input(mesh.get(agent).input, payload)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    if task_id is None:
        # A retried submission with the same key is the same task: same id, same first
        # handoff, which receivers drop as a repeat.
        task_id = task_id_for(idempotency_key) if idempotency_key else new_id()
    task = TaskSubmitted(
        task_id=task_id,
        tenant=tenant,
        entry_agent=agent,
        input_json=typed.model_dump_json(),
        budget=budget,
        submitted_by=submitted_by,
        idempotency_key=idempotency_key,
        labels=dict(labels or {}),
    )
    if policy is not None:
        # The task record keeps what was asked for; the work carries what the policy allows,
        # so agents enforce it themselves before every call instead of only stopping once
        # the supervisor has seen the overrun (the supervisor computes the same budget).
        limits = policy.limits_for(tenant, agent)
        budget = effective_budget(budget, limits, task.submitted_at)
    handoff = mesh.inbox_model(agent)(
        task_id=task_id,
        from_agent=submitted_by,
        to_agent=agent,
        tenant=tenant,
        budget=budget,
        payload=typed,
        idempotency_key=idempotency_key or task_id,
    )
    return task, handoff
