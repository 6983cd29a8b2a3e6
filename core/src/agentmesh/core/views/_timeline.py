"""A task's story, folded from ``<ns>.events``: for `task show`, the demo and the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aiokafka import TopicPartition

from agentmesh.contracts import (
    AgentEvent,
    CallTally,
    Codec,
    DecodeError,
    SchemaRegistry,
    Topics,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
    partition_for,
)

__all__ = ["TaskTimeline", "read_timeline"]


@dataclass
class TaskTimeline:
    """Everything the events say about one task, and a running summary."""

    task_id: str
    events: list[AgentEvent] = field(default_factory=list)
    hops: int = 0
    agent_runs: int = 0  # inputs an agent finished handling (``step_finished`` events)
    llm_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0
    output_json: str | None = None
    failure: str | None = None
    calls: CallTally = field(default_factory=CallTally)

    @property
    def steps(self) -> int:
        """LLM calls plus tool calls: what the budget's ``max_steps`` limits."""
        return self.llm_calls + self.tool_calls

    @property
    def finished(self) -> bool:
        return self.output_json is not None or self.failure is not None

    def add(self, event: AgentEvent, position: int | None = None) -> None:
        """Fold one event in; each call counts once (``agentmesh.contracts.CallTally``)."""
        self.events.append(event)
        body = event.body
        if body.kind == "handoff_emitted":  # written by runtimes before event v3
            self.hops = max(self.hops, body.hop)
        elif body.kind == "step_finished":
            self.agent_runs += 1
            self.hops = max([self.hops, *(h.hop for h in body.handoffs)])
            self.calls.finished(body)
        elif body.kind in ("llm_call", "tool_call") and self.calls.count(body, position):
            if body.kind == "tool_call":
                self.tool_calls += 1
            else:
                self.llm_calls += 1
                self.tokens += body.input_tokens + body.output_tokens
                if body.cost_usd is None:
                    self.unpriced_calls += 1
                else:
                    self.cost_usd += body.cost_usd
        elif body.kind == "task_completed" and self.output_json is None:
            self.output_json = body.output_json
        elif body.kind == "task_failed" and self.failure is None:
            self.failure = f"{body.error_class}: {body.message}"


async def read_timeline(
    settings: Settings,
    task_id: str,
    *,
    follow: bool = False,
    until_finished: bool = False,
    timeout_s: float | None = None,
    on_event: Callable[[TaskTimeline, AgentEvent], Awaitable[None] | None] | None = None,
) -> TaskTimeline:
    """Read the task's events from the beginning; keep following when ``follow``.

    Events are keyed by task id, so only the task's partition is read. Without ``follow``
    it stops at the end of the partition as it was when called.
    """
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AgentEvent, Topics.subject(topics.events), registry)
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="timeline"))
    timeline = TaskTimeline(task_id)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    await consumer.start()
    try:
        tp = TopicPartition(topics.events, await _partition_of(conn, topics.events, task_id))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while True:
            for record in (await consumer.getmany(tp, timeout_ms=200)).get(tp, []):
                if record.key != task_id.encode() or record.value is None:
                    continue
                try:
                    event = await codec.decode(record.value)
                except DecodeError:
                    continue
                timeline.add(event, record.offset)
                if on_event is not None:
                    result = on_event(timeline, event)
                    if asyncio.iscoroutine(result):
                        await result
            if until_finished and timeline.finished:
                break
            if not follow and not until_finished and await consumer.position(tp) >= end:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        await consumer.stop()
        await registry.close()
    return timeline


async def _partition_of(conn: KafkaConnection, topic: str, task_id: str) -> int:
    # The producers' default partitioner put the task's events here (keyed by task id).
    count = await partition_count(conn, topic, timeout_s=2.0)
    if not count:
        raise LookupError(f"topic {topic} does not exist (has any agent run in this namespace?)")
    return partition_for(task_id.encode(), count)
