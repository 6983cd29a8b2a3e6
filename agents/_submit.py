"""Putting a task into the mesh: its record and its first handoff, atomically."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from agentmesh import Settings
from agentmesh.transport import (
    KafkaConnection,
    ProducerOptions,
    TopicSpec,
    ensure_topics,
    make_producer,
)
from agents._mesh import Mesh
from agents._tracing import TRACER, inject_headers
from contracts import (
    Budget,
    Codec,
    Contract,
    SchemaStore,
    TaskSubmitted,
    Topics,
    new_id,
    validate_payload,
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
    topics = Topics(settings.namespace)
    entry = mesh.get(agent)
    typed = validate_payload(entry.input, payload)
    task = TaskSubmitted(
        task_id=task_id or new_id(),
        tenant=tenant,
        entry_agent=agent,
        input_json=typed.model_dump_json(),
        budget=budget or Budget(),
        submitted_by=submitted_by,
        idempotency_key=idempotency_key,
    )
    handoff = mesh.inbox_model(agent)(
        task_id=task.task_id,
        from_agent=submitted_by,
        to_agent=agent,
        tenant=tenant,
        budget=task.budget,
        payload=typed,
        idempotency_key=idempotency_key or task.task_id,
    )
    task_codec = Codec(TaskSubmitted, Topics.subject(topics.tasks), registry)
    inbox_codec = Codec(mesh.inbox_model(agent), Topics.subject(topics.agent(agent)), registry)
    await task_codec.register()
    await inbox_codec.register()
    conn = KafkaConnection.from_settings(settings)
    await ensure_topics(
        conn,
        [
            TopicSpec(topics.tasks, partitions, settings.replication_factor),
            TopicSpec(topics.agent(agent), partitions, settings.replication_factor),
        ],
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
    return task
