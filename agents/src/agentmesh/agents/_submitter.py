"""Many tasks through one producer: :class:`Submitter`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from opentelemetry.trace import SpanKind

from agentmesh.agents._build_task import build_task
from agentmesh.agents._mesh import Mesh
from agentmesh.agents._tracing import TRACER, inject_headers
from agentmesh.contracts import (
    Budget,
    Codec,
    Contract,
    SchemaRegistry,
    SchemaStore,
    TaskSubmitted,
    Topics,
    new_id,
)
from agentmesh.core import Settings
from agentmesh.core.policy import Policy, load_policy
from agentmesh.core.submission import GroupCommit, Headers, Record
from agentmesh.core.topics import TopicCatalog, resolve_replication_factor
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    ensure_topics,
    make_producer,
)

__all__ = ["Submission", "Submitter"]

_YIELD_EVERY = 200  # submissions prepared between yields, so writing overlaps preparing


@dataclass(frozen=True, slots=True)
class Submission:
    """One task for :meth:`Submitter.submit_many` (the arguments of :meth:`Submitter.submit`)."""

    agent: str
    payload: Contract | Mapping[str, Any]
    budget: Budget | None = None
    tenant: str = "default"
    idempotency_key: str | None = None
    task_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class Submitter:
    """Puts tasks into the mesh through one transactional producer, kept open.

    ::

        async with Submitter(settings, mesh) as submitter:
            task = await submitter.submit("planner", {"question": "Why is the sky blue?"})
            results = await submitter.submit_many(
                Submission("planner", {"question": q}) for q in questions
            )

    Each task's record (``<ns>.tasks``) and first handoff (``<ns>.agent.<agent>``) are
    written in one transaction, as :func:`submit_task` writes them; submissions in flight
    together share a transaction (group commit), so the cost of a commit is paid per batch,
    not per task. Input is checked by the entry agent's model first
    (:class:`~agentmesh.core.submission.InputRejected` names the field, e.g.
    ``input.question``); the same ``idempotency_key`` always gives the same task id and
    first handoff, which agents drop as a repeat. Topics and schemas are made ready once
    per agent, not per task.
    """

    def __init__(
        self,
        settings: Settings,
        mesh: Mesh,
        registry: SchemaStore | None = None,
        *,
        submitted_by: str = "cli",
        partitions: int | None = None,
        max_batch: int = 1000,
    ) -> None:
        self.settings = settings
        self.mesh = mesh
        self.submitted_by = submitted_by
        self.topics = Topics(settings.namespace)
        self._registry: SchemaStore = registry or SchemaRegistry(settings.registry_url)
        self._own_registry = registry is None
        self._policy = load_policy(settings.policy) if settings.policy else None
        self._conn = KafkaConnection.from_settings(settings)
        self._partitions = partitions or settings.topic_partitions  # of topics it creates
        self._tasks = Codec(TaskSubmitted, Topics.subject(self.topics.tasks), self._registry)
        self._inboxes: dict[str, Codec[Any]] = {}
        self._inbox_lock = asyncio.Lock()
        self._writer = GroupCommit(self._new_producer, max_batch=max_batch, name="submitter")

    def _new_producer(self) -> Any:
        txn = f"{self.topics.namespace}.submit.{new_id()}"
        return make_producer(self._conn, ProducerOptions(transactional_id=txn))

    async def start(self) -> None:
        """Register the task schema and start the producer (topics are made ready with the
        first task for each agent)."""
        await self._tasks.register()
        await self._writer.start()

    async def stop(self) -> None:
        """Write what is still queued, then close the producer."""
        try:
            await self._writer.stop()
        finally:
            if self._own_registry:
                await self._registry.close()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def submit(
        self,
        agent: str,
        payload: Contract | Mapping[str, Any],
        *,
        budget: Budget | None = None,
        tenant: str = "default",
        idempotency_key: str | None = None,
        task_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> TaskSubmitted:
        """Check and publish one task; returns it once its transaction committed.

        Calls awaited concurrently share transactions. ``budget``: what the task may
        spend (``AGENTMESH_POLICY``'s limits, when set, tighten what its first handoff
        carries); ``task_id``: defaults to one derived from ``idempotency_key``, else new.
        """
        submission = Submission(
            agent, payload, budget, tenant, idempotency_key, task_id, labels or {}
        )
        task, records, headers = await self._prepare(submission)
        await self._writer.write(records, headers)
        return task

    async def submit_many(
        self, submissions: Iterable[Submission]
    ) -> list[TaskSubmitted | Exception]:
        """Submit each, in order; returns, for each, its task or why it was not submitted.

        Like ``asyncio.gather(..., return_exceptions=True)``: a refused submission
        (``InputRejected``, ``UnknownAgentError``) or a failed write never stops the others.
        """
        results: list[TaskSubmitted | Exception] = []
        waiting: list[tuple[int, asyncio.Future[None]]] = []
        for n, submission in enumerate(submissions, 1):
            try:
                task, records, headers = await self._prepare(submission)
            except Exception as exc:  # noqa: BLE001 - returned, as the docstring says
                results.append(exc)
            else:
                waiting.append((len(results), self._writer.enqueue(records, headers)))
                results.append(task)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the writer start on what is queued
        for i, done in waiting:
            try:
                await done
            except Exception as exc:  # noqa: BLE001 - returned, as the docstring says
                results[i] = exc
        return results

    async def _prepare(self, s: Submission) -> tuple[TaskSubmitted, list[Record], Headers]:
        task, handoff = build_task(
            self.mesh,
            s.agent,
            s.payload,
            budget=s.budget or Budget(),
            policy=self._policy,
            task_id=s.task_id,
            tenant=s.tenant,
            submitted_by=self.submitted_by,
            idempotency_key=s.idempotency_key,
            labels=s.labels,
        )
        inbox = await self._inbox(s.agent)
        topic = self.topics.agent(s.agent)
        # The task's trace starts here: every agent's step span descends from this one (it
        # ends before the commit, which many tasks share).
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "agentmesh.task_id": task.task_id,
            "agentmesh.agent": s.agent,
            "agentmesh.tenant": s.tenant,
            "agentmesh.submitted_by": self.submitted_by,
        }
        with TRACER.start_as_current_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
        ):
            headers = inject_headers()
        key = task.task_id.encode()
        records = [
            (self.topics.tasks, key, self._tasks.encode(task)),
            (topic, key, inbox.encode(handoff)),
        ]
        return task, records, headers

    async def _inbox(self, agent: str) -> Codec[Any]:
        """The codec of ``agent``'s inbox, its schema registered and its topic made once."""
        found = self._inboxes.get(agent)
        if found is not None:
            return found
        async with self._inbox_lock:
            found = self._inboxes.get(agent)
            if found is None:
                topic = self.topics.agent(agent)
                found = Codec(self.mesh.inbox_model(agent), Topics.subject(topic), self._registry)
                await found.register()
                # <ns>.tasks with the first inbox: one admin round trip for a one-off task.
                rf = await resolve_replication_factor(self._conn, self.settings)
                policy = self._policy or Policy()
                catalog = TopicCatalog(self.settings, policy, rf, self._partitions)
                specs = [] if self._inboxes else catalog.of_kind("tasks")
                specs.append(catalog.inbox(agent))
                await ensure_topics(self._conn, [m.spec() for m in specs])
                self._inboxes[agent] = found
        return found
