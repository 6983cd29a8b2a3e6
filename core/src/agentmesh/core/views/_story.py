"""The whole story of a task: its steps as a tree, what each was given, asked and answered,
what it handed on, and what the supervisor decided about the task.

Built from three topics: ``<ns>.events`` (every step's outcome and the handoffs it emitted,
every call's usage), ``<ns>.recordings`` (each step's input and each call's full request and
response) and ``<ns>.audit`` (budget stops, reviews, releases, dead letters, and the breaker
moves of what the task called while it ran). A step is one
input an agent handled (a handoff id); its children are the steps that handled the handoffs
it emitted, so a fan-out is a step with several children, and a fan-in shows as several
steps of the same agent each adding to the waiting state, the last one handing on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from agentmesh.contracts import (
    AgentEvent,
    AuditRecord,
    CallTally,
    Codec,
    DecodeError,
    LlmCall,
    Recording,
    SchemaRegistry,
    StepFinished,
    ToolCall,
    Topics,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import KafkaConnection, read_tail

__all__ = ["StepNode", "TaskStory", "build_story", "read_story"]


@dataclass
class StepNode:
    """One input an agent handled."""

    handoff_id: str
    agent: str | None = None
    hop: int | None = None
    outcome: str | None = None  # None: no step_finished seen (running, or lost)
    duration_ms: float | None = None
    input_json: str | None = None
    calls: list[Recording] = field(default_factory=list)
    usage: list[LlmCall | ToolCall] = field(default_factory=list)  # when not recorded
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    children: list[StepNode] = field(default_factory=list)
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    finished_at: datetime | None = None

    @property
    def started_at(self) -> datetime | None:
        if self.finished_at is None or self.duration_ms is None:
            return None
        return self.finished_at - timedelta(milliseconds=self.duration_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "handoff_id": self.handoff_id,
            "agent": self.agent,
            "hop": self.hop,
            "outcome": self.outcome,
            "duration_ms": self.duration_ms,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "input": _json(self.input_json),
            "tokens": self.tokens,
            "cost_usd": str(self.cost_usd),
            "calls": [_call_json(c) for c in self.calls],
            "unrecorded_calls": [u.model_dump(mode="json") for u in self.usage],
            "handoffs": self.handoffs,
            "children": [c.as_json() for c in self.children],
        }


@dataclass
class TaskStory:
    task_id: str
    roots: list[StepNode]
    decisions: list[AuditRecord]
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def as_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "tokens": self.tokens,
            "cost_usd": str(self.cost_usd),
            "steps": [r.as_json() for r in self.roots],
            "decisions": [
                {
                    "at": d.at.isoformat(),
                    "decision": d.decision,
                    "actor": d.actor,
                    "subject": d.subject,
                    "details": _json(d.details_json),
                    "audit": {"chain": d.chain, "seq": d.seq, "sha256": d.sha256},
                }
                for d in self.decisions
            ],
        }


def build_story(
    task_id: str,
    events: list[AgentEvent],
    recordings: list[Recording],
    decisions: list[AuditRecord],
) -> TaskStory:
    """Put the three sources together (each in the order it was read)."""
    nodes: dict[str, StepNode] = {}

    def node(handoff_id: str) -> StepNode:
        return nodes.setdefault(handoff_id, StepNode(handoff_id))

    for rec in recordings:
        step = node(rec.handoff_id)
        step.agent, step.hop = rec.agent, rec.hop
        if rec.kind == "step_input":
            step.input_json = rec.request_json
        elif not rec.replayed or not any(c.call_id == rec.call_id for c in step.calls):
            step.calls.append(rec)
    _fold_events(events, node)
    children = {c for n in nodes.values() for c in (h["handoff_id"] for h in n.handoffs)}
    for n in nodes.values():
        n.children = [nodes[h["handoff_id"]] for h in n.handoffs if h["handoff_id"] in nodes]
    roots = [n for n in nodes.values() if n.handoff_id not in children]
    about_task = [d for d in decisions if d.task_id == task_id]
    breakers = _breakers_met(decisions, nodes.values(), events)
    story = TaskStory(task_id, roots, sorted([*about_task, *breakers], key=lambda d: d.at))
    story.tokens = sum(n.tokens for n in nodes.values())
    story.cost_usd = sum((n.cost_usd for n in nodes.values()), Decimal(0))
    return story


BREAKER_GRACE = timedelta(seconds=60)
"""How long after a task's last event a breaker transition still counts as the task's: the
supervisor moves a breaker once it has folded the calls' events, a little after them."""


def _breakers_met(
    decisions: list[AuditRecord], steps: Iterable[StepNode], events: list[AgentEvent]
) -> list[AuditRecord]:
    """Breaker transitions of the tools and model providers the task's steps called, during
    the task's time: the last one before its first event when it left the breaker open or
    half-open (the task met it so), and every one up to ``BREAKER_GRACE`` after its end.

    The supervisor audits breakers per tool or provider, with no task (one breaker serves
    every task), so they are matched by what the task called and when."""
    if not events:
        return []
    targets = _called(steps)
    start, end = min(e.at for e in events), max(e.at for e in events) + BREAKER_GRACE
    moves = sorted(
        (d for d in decisions if d.decision == "breaker_transition" and d.subject in targets),
        key=lambda d: d.at,
    )
    before: dict[str, AuditRecord] = {}
    for d in moves:
        if d.at < start:
            before[d.subject] = d
    met = [d for d in before.values() if _json(d.details_json).get("to") != "closed"]
    return [*met, *(d for d in moves if start <= d.at <= end)]


def _called(steps: Iterable[StepNode]) -> set[str]:
    """Breaker keys (``tool:<name>``, ``model:<provider>``, ``agent:<name>``) of the task."""
    found: set[str] = set()
    for step in steps:
        if step.agent is not None:
            found.add(f"agent:{step.agent}")
        for rec in step.calls:
            found.add(f"{'model' if rec.kind == 'llm_call' else 'tool'}:{rec.target}")
        for usage in step.usage:
            found.add(
                f"model:{usage.provider}" if isinstance(usage, LlmCall) else f"tool:{usage.tool}"
            )
    return found


def _fold_events(events: list[AgentEvent], node: Any) -> None:
    tally = CallTally()
    for position, event in enumerate(events):
        body = event.body
        if isinstance(body, StepFinished):
            step = node(body.handoff_id)
            step.agent = step.agent or event.agent
            step.outcome, step.duration_ms = body.outcome, body.duration_ms
            step.finished_at = event.at
            step.handoffs = [h.model_dump(mode="json") for h in body.handoffs]
            tally.finished(body)
        elif isinstance(body, LlmCall | ToolCall) and tally.count(body, position):
            step = node(body.call_id.rpartition(":")[0])
            step.agent = step.agent or event.agent
            if isinstance(body, LlmCall):
                step.tokens += body.input_tokens + body.output_tokens
                step.cost_usd += body.cost_usd or 0
            if not any(c.call_id == body.call_id for c in step.calls):
                step.usage.append(body)


def _call_json(rec: Recording) -> dict[str, Any]:
    return {
        "call_id": rec.call_id,
        "kind": rec.kind,
        "target": rec.target,
        "model": rec.model,
        "prompt": None if rec.prompt_name is None else f"{rec.prompt_name}@{rec.prompt_version}",
        "status": rec.status,
        "error": rec.error,
        "tokens": (rec.input_tokens or 0) + (rec.output_tokens or 0),
        "cost_usd": None if rec.cost_usd is None else str(rec.cost_usd),
        "latency_ms": rec.latency_ms,
        "request": _json(rec.request_json),
        "response": _json(rec.response_json),
    }


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


async def read_story(settings: Settings, task_id: str) -> TaskStory:
    """The task's story from the mesh's topics as they are now."""
    from agentmesh.core.views._recordings import read_recordings
    from agentmesh.core.views._timeline import read_timeline

    timeline = await read_timeline(settings, task_id)
    recordings = await read_recordings(settings, task_id)
    return build_story(task_id, timeline.events, recordings, await _decisions(settings, task_id))


async def _decisions(settings: Settings, task_id: str) -> list[AuditRecord]:
    """The audit records about the task, in time order (every partition read to its end)."""
    topic = Topics(settings.namespace).audit
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AuditRecord, Topics.subject(topic), registry)
    found: list[AuditRecord] = []
    conn = KafkaConnection.from_settings(settings)
    try:
        async for rec in read_tail(conn, topic, client_suffix="story"):
            try:
                audit = await codec.decode(rec.value or b"")
            except DecodeError:
                continue
            # Breaker moves have no task: build_story keeps those of what the task called.
            if audit.task_id == task_id or audit.decision == "breaker_transition":
                found.append(audit)
    finally:
        await registry.close()
    return sorted(found, key=lambda a: a.at)
