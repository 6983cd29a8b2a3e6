"""Everything the supervisor writes, encoded with the mesh's contracts.

All of it goes through faust's producer, which faust flushes before it commits the input
offsets: whatever the supervisor decided about a record is on its way before the record
counts as done (at-least-once; every output is idempotent or deduplicated downstream).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import faust
import orjson

from agentmesh.contracts import (
    REVIEW_ID_HEADER,
    AgentEvent,
    AuditDecision,
    Codec,
    ControlCommand,
    DeadLetter,
    EventBody,
    Header,
    ReviewRequest,
    SchemaStore,
    Topics,
)
from agentmesh.core.metrics import DEAD_LETTERS
from agentmesh.supervisor._tracing import decision as trace_decision

__all__ = ["ACTOR", "Outputs", "stable_id"]

ACTOR = "supervisor"
_NS = uuid.UUID("6f1c9a52-8d9e-4c43-9a57-2f0e4d1b7a10")


def stable_id(*parts: object) -> str:
    """The same id for the same cause, however often the cause is processed."""
    return uuid.uuid5(_NS, "|".join(str(p) for p in parts)).hex


class Outputs:
    def __init__(
        self, app: faust.App, topics: Topics, registry: SchemaStore, instance: str
    ) -> None:
        self.app = app
        self.topics = topics
        self.instance = instance
        sub = Topics.subject
        self.control_codec = Codec(ControlCommand, sub(topics.control), registry)
        self.dlq_codec = Codec(DeadLetter, sub(topics.dlq), registry)
        self.event_codec = Codec(AgentEvent, sub(topics.events), registry)
        self.review_codec = Codec(ReviewRequest, sub(topics.review_requests), registry)
        self._topics: dict[str, Any] = {}
        self._seq = 0

    async def register(self) -> None:
        for codec in (self.control_codec, self.dlq_codec, self.event_codec, self.review_codec):
            await codec.register()

    def topic(self, name: str) -> Any:
        found = self._topics.get(name)
        if found is None:
            found = self.app.topic(name, key_serializer="raw", value_serializer="raw")
            self._topics[name] = found
        return found

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        await self.topic(topic).send(key=key, value=value, headers=headers, partition=partition)

    async def command(
        self,
        scope: str,
        target: str,
        action: str,
        reason: str,
        *,
        cause: str,
        review_kind: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Issue a control rule in the supervisor's name; the same cause gives the same id."""
        command = ControlCommand.model_validate(
            {
                "command_id": stable_id(action, scope, target, cause),
                "scope": scope,
                "target": target,
                "action": action,
                "reason": reason,
                "issued_by": ACTOR,
                "review_kind": review_kind,
                "expires_at": expires_at,
            }
        )
        await self.control(command)

    async def control(self, command: ControlCommand) -> None:
        await self.send(
            self.topics.control, command.key.encode(), self.control_codec.encode(command)
        )

    async def dead_letter(self, letter: DeadLetter) -> None:
        key = letter.task_id.encode() if letter.task_id else None
        await self.send(self.topics.dlq, key, self.dlq_codec.encode(letter))
        DEAD_LETTERS.labels(letter.agent or "supervisor", letter.stage).inc()

    async def review_request(self, request: ReviewRequest) -> None:
        await self.send(
            self.topics.review_requests, request.task_id.encode(), self.review_codec.encode(request)
        )

    async def event(self, task_id: str, tenant: str, body: EventBody, cause: str) -> None:
        self._seq += 1
        event = AgentEvent(
            event_id=stable_id("event", cause),
            task_id=task_id,
            agent=ACTOR,
            instance=self.instance,
            seq=self._seq,
            tenant=tenant,
            body=body,
        )
        await self.send(self.topics.events, task_id.encode(), self.event_codec.encode(event))

    async def audit(
        self,
        decision: AuditDecision,
        *,
        cause: str,
        subject: str,
        task_id: str | None,
        details: dict[str, Any],
        actor: str = ACTOR,
    ) -> None:
        """Ask the auditor to append a decision to the chain (one writer per partition)."""
        trace_decision(decision, subject=subject, task_id=task_id, cause=cause, details=details)
        intent = {
            "audit_id": stable_id("audit", decision, subject, cause),
            "decision": decision,
            "subject": subject,
            "task_id": task_id,
            "actor": actor,
            "at": datetime.now(UTC).isoformat(),
            "details": details,
        }
        key = (task_id or subject).encode()
        await self.send(self.topics_audit_intents, key, orjson.dumps(intent, default=str))

    @property
    def topics_audit_intents(self) -> str:
        return self.topics.audit_intents


def parked_dead_letter(request: ReviewRequest, reason: str, by: str) -> DeadLetter:
    """A parked message that will not run, kept whole so it can be redriven."""
    return DeadLetter(
        task_id=request.task_id,
        agent=request.agent,
        stage="policy",
        error_class="ReviewRejected",
        error_message=f"{reason} (review {request.review_id}, decided by {by})",
        attempts=0,
        original_topic=request.target_topic,
        original_partition=-1,
        original_offset=-1,
        original_key=request.parked_key,
        original_value=request.parked_value,
        original_headers=[Header(key=REVIEW_ID_HEADER, value=request.review_id.encode())],
    )
