"""Putting a task into the mesh: its record and its first handoff, atomically."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from agentmesh.agents._mesh import Mesh
from agentmesh.agents._tracing import TRACER, inject_headers
from agentmesh.contracts import (
    Budget,
    Codec,
    Contract,
    Handoff,
    SchemaStore,
    TaskSubmitted,
    Topics,
    new_id,
    task_id_for,
    validate_payload,
)
from agentmesh.core import Settings
from agentmesh.core.policy import Policy, effective_budget, load_policy
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    TopicSpec,
    ensure_topics,
    make_producer,
)

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
    partitions: int = 6,
) -> TaskSubmitted:
    """Validate ``payload`` against ``agent``'s input and publish the task.

    The task record (``<ns>.tasks``) and the first handoff (``<ns>.agent.<agent>``) are
    written in one transaction: a reader never sees one without the other.
    """
    task, handoff = _build(
        mesh,
        agent,
        payload,
        budget=budget or Budget(),
        policy=load_policy(settings.policy) if settings.policy else None,
        task_id=task_id,
        tenant=tenant,
        submitted_by=submitted_by,
        idempotency_key=idempotency_key,
    )
    await _publish(settings, mesh, task, handoff, registry, partitions=partitions)
    return task


def _build(
    mesh: Mesh,
    agent: str,
    payload: Contract | dict[str, Any],
    *,
    budget: Budget,
    policy: Policy | None = None,
    task_id: str | None,
    tenant: str,
    submitted_by: str,
    idempotency_key: str | None,
) -> tuple[TaskSubmitted, Handoff[Any]]:
    typed = validate_payload(mesh.get(agent).input, payload)
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


async def _publish(
    settings: Settings,
    mesh: Mesh,
    task: TaskSubmitted,
    handoff: Handoff[Any],
    registry: SchemaStore,
    *,
    partitions: int,
) -> None:
    topics, agent = Topics(settings.namespace), task.entry_agent
    task_codec = Codec(TaskSubmitted, Topics.subject(topics.tasks), registry)
    inbox_codec = Codec(mesh.inbox_model(agent), Topics.subject(topics.agent(agent)), registry)
    await task_codec.register()
    await inbox_codec.register()
    conn = KafkaConnection.from_settings(settings)
    rf = settings.replication_factor
    await ensure_topics(
        conn,
        [TopicSpec(topics.tasks, partitions, rf), TopicSpec(topics.agent(agent), partitions, rf)],
    )
    producer = make_producer(conn, ProducerOptions(transactional_id=f"submit-{new_id()}"))
    await producer.start()
    try:
        key = task.task_id.encode()
        # The task's trace starts here: every agent's step span descends from this one.
        with TRACER.start_as_current_span(f"send {topics.agent(agent)}", kind=SpanKind.PRODUCER):
            headers = inject_headers()
            async with producer.transaction():
                await producer.send(topics.tasks, task_codec.encode(task), key=key, headers=headers)
                await producer.send(
                    topics.agent(agent), inbox_codec.encode(handoff), key=key, headers=headers
                )
    finally:
        await producer.stop()
